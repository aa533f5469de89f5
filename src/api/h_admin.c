/*
 * h_admin.c — health, the program document, partners, API keys and the test clock.
 */
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "api/metrics.h"
#include "util/error.h"
#include "util/timeutil.h"

void h_health(struct request *req, struct response *res)
{
	(void)req;
	respond(res, 200, json_pack("{s:s}", "status", "ok"));
}

void h_program_put(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	int64_t version;
	/* Malformed JSON is a malformed request (400); a well-formed document that
	 * breaks the program's rules is an invalid program (422). */
	int rc = parse_json_body(req, &why);
	if (!rc)
		rc = kp_engine_program_put(req->engine, req->body, req->body_len, &version, &why);
	/* Audited after the version is stored (a separate writer job: an entry that
	 * fails to be written is reported, the version stands). */
	if (!rc)
		rc = kp_engine_audit(req->engine, req->who.key_id, "program.put", "program",
				     json_pack("{s:I}", "version", (json_int_t)version));
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 200, json_pack("{s:I}", "version", (json_int_t)version));
}

void h_program_get(struct request *req, struct response *res)
{
	int64_t version;
	char *doc = NULL;
	int rc = kp_engine_program_get(req->engine, &version, &doc);
	json_t *program = rc ? NULL : json_loads(doc, 0, NULL);
	free(doc);
	if (rc || !program) {
		respond_error(res, rc ? rc : KP_ESTORE, NULL);
		return;
	}
	respond(res, 200, json_pack("{s:I,s:o}", "version", (json_int_t)version, "program", program));
}

/* h_partner_create: api/h_coalition.c, with the other partner endpoints. */

void h_key_create(struct request *req, struct response *res)
{
	static const char *const fields[] = {"role", "partner", NULL};
	struct kp_why why = {""};
	const char *role, *partner;
	json_t *answer = NULL;
	struct kp_idem idem;
	struct idem_buf buf;
	int rc = v_keys(req->json, "", fields, &why);
	if (!rc)
		rc = v_string(req->json, "", "role", true, 1, 16, &role, &why);
	if (!rc)
		rc = v_string(req->json, "", "partner", false, 1, KP_PARTNER_MAX, &partner, &why);
	if (!rc)
		rc = read_idempotency(req, "keys", false, &idem, &buf, &why);
	if (!rc)
		rc = kp_engine_key_create(req->engine, role, partner, req->who.key_id,
					  idem.key ? &idem : NULL, &answer, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 201, answer);
}

void h_clock_set(struct request *req, struct response *res)
{
	static const char *const fields[] = {"now", NULL};
	struct kp_why why = {""};
	const char *now_text;
	int64_t now;
	int rc = v_keys(req->json, "", fields, &why);
	if (!rc)
		rc = v_string(req->json, "", "now", true, 1, 40, &now_text, &why);
	if (!rc && kp_time_parse(now_text, &now))
		rc = kp_why(&why, KP_EINVAL, "now: must be an RFC 3339 UTC time like "
					     "2027-01-01T00:00:00Z");
	if (rc) {
		respond_error(res, rc, &why);
		return;
	}
	kp_engine_set_clock(req->engine, now);
	char text[21];
	kp_time_format(now, text);
	respond(res, 200, json_pack("{s:s}", "now", text));
}

void h_jobs_run(struct request *req, struct response *res)
{
	static const char *const fields[] = {NULL};
	struct kp_why why = {""};
	struct kp_jobs_report r;
	int rc = req->body_len ? v_keys(req->json, "", fields, &why) : 0;
	if (!rc)
		rc = kp_engine_jobs_run(req->engine, &r, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 200, kp_jobs_report_json(&r));
}

void h_metrics(struct request *req, struct response *res)
{
	char *text = kp_metrics_render(req->metrics, req->engine);
	if (!text) {
		respond_error(res, KP_ENOMEM, NULL);
		return;
	}
	res->status = 200;
	res->text = text;
	res->content_type = "text/plain; version=0.0.4";
}

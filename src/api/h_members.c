/*
 * h_members.c — registering members, finding them, balance and history.
 */
#include <string.h>

#include "api/http.h"
#include "util/error.h"
#include "util/phone.h"
#include "util/timeutil.h"

static int read_consents(const json_t *body, unsigned *out, struct kp_why *why)
{
	static const char *const fields[] = {"personal_data", "email", "sms", "push", NULL};
	static const unsigned bits[] = {KP_CONSENT_PERSONAL_DATA, KP_CONSENT_EMAIL,
					KP_CONSENT_SMS, KP_CONSENT_PUSH};
	json_t *c = json_object_get(body, "consents");
	*out = 0;
	if (!c)
		return 0;
	int rc = v_object(c, "consents", why);
	if (!rc)
		rc = v_keys(c, "consents", fields, why);
	for (size_t i = 0; !rc && fields[i]; i++) {
		bool given = false;
		rc = v_bool(c, "consents", fields[i], &given, why);
		if (given)
			*out |= bits[i];
	}
	return rc;
}

/* A member's segments as stored text ("" when the body has none); *set (may be
 * NULL) tells whether the body has the key. */
static int read_segments(const json_t *b, bool *set, char text[KP_SEGMENTS_TEXT_MAX + 1],
			 struct kp_why *why)
{
	const json_t *v = json_object_get(b, "segments");
	if (set)
		*set = v != NULL;
	text[0] = '\0';
	if (v && kp_segments_from_json(v, "segments", text, why->text, sizeof why->text))
		return KP_EINVAL;
	return 0;
}

static int read_member(const json_t *b, struct kp_member_new *m, char phone[KP_PHONE_E164_MAX + 1],
		       char segments[KP_SEGMENTS_TEXT_MAX + 1], struct kp_why *why)
{
	static const char *const fields[] = {"phone", "email", "name", "birthday", "external_id",
					     "referral_code", "consents", "segments", NULL};
	int64_t day;
	int rc = v_keys(b, "", fields, why);
	if (!rc)
		rc = v_string(b, "", "phone", false, 1, 40, &m->phone, why);
	if (!rc && m->phone) {
		if (kp_phone_normalize(m->phone, phone))
			return kp_why(why, KP_EINVAL, "phone: %s is not a phone number", m->phone);
		m->phone = phone;
	}
	if (!rc)
		rc = v_string(b, "", "email", false, 3, KP_EMAIL_MAX, &m->email, why);
	if (!rc && m->email && !strchr(m->email, '@'))
		rc = kp_why(why, KP_EINVAL, "email: must contain @");
	if (!rc)
		rc = v_string(b, "", "name", false, 1, KP_PERSON_NAME_MAX, &m->name, why);
	if (!rc)
		rc = v_string(b, "", "birthday", false, 10, 10, &m->birthday, why);
	if (!rc && m->birthday && kp_date_parse(m->birthday, &day))
		rc = kp_why(why, KP_EINVAL, "birthday: must be a date like 1990-05-17");
	if (!rc)
		rc = v_string(b, "", "external_id", false, 1, KP_EXTERNAL_ID_MAX, &m->external_id,
			      why);
	if (!rc)
		rc = v_string(b, "", "referral_code", false, 1, KP_REFERRAL_MAX, &m->referral_code,
			      why);
	if (!rc)
		rc = read_consents(b, &m->consents, why);
	if (!rc)
		rc = read_segments(b, NULL, segments, why);
	m->segments = segments;
	return rc;
}

void h_member_create(struct request *req, struct response *res)
{
	struct kp_member_new m = {0};
	char phone[KP_PHONE_E164_MAX + 1], segments[KP_SEGMENTS_TEXT_MAX + 1];
	struct kp_why why = {""};
	json_t *answer = NULL;
	int status = 201;
	int rc = read_member(req->json, &m, phone, segments, &why);
	m.key_id = req->who.key_id;
	struct kp_idem idem;
	struct idem_buf buf;
	if (!rc)
		rc = read_idempotency(req, "members", false, &idem, &buf, &why);
	if (!rc)
		rc = kp_engine_member_create(req->engine, &m, idem.key ? &idem : NULL, &answer,
					     &status, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, status, answer);
}

void h_member_find(struct request *req, struct response *res)
{
	static const char *const keys[] = {"phone", "card", "external_id"};
	static const enum kp_member_key by[] = {KP_MEMBER_BY_PHONE, KP_MEMBER_BY_CARD,
						KP_MEMBER_BY_EXTERNAL};
	struct kp_why why = {""};
	for (size_t i = 0; i < 3; i++) {
		const char *v = query_arg(req, keys[i]);
		if (!v)
			continue;
		char phone[KP_PHONE_E164_MAX + 1];
		if (by[i] == KP_MEMBER_BY_PHONE) {
			if (kp_phone_normalize(v, phone)) {
				respond_errorf(res, KP_EINVAL, "phone: %.40s is not a phone number",
					       v);
				return;
			}
			v = phone;
		}
		json_t *answer = NULL;
		int rc = kp_engine_member_get(req->engine, by[i], v, &answer, &why);
		if (rc)
			respond_error(res, rc, &why);
		else
			respond(res, 200, answer);
		return;
	}
	respond_errorf(res, KP_EINVAL, "give one of ?phone=, ?card= or ?external_id=");
}

void h_member_get(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *answer = NULL;
	int rc = kp_engine_member_get(req->engine, KP_MEMBER_BY_ID, req->params[0], &answer, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 200, answer);
}

void h_member_balance(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *answer = NULL;
	int rc = kp_engine_member_balance(req->engine, req->params[0], &answer, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 200, answer);
}

void h_member_history(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *answer = NULL;
	size_t limit;
	int rc = query_limit(req, &limit, &why);
	if (!rc)
		rc = kp_engine_member_history(req->engine, req->params[0], query_arg(req, "cursor"),
					      limit, &answer, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 200, answer);
}

void h_card_replace(struct request *req, struct response *res)
{
	static const char *const fields[] = {"replace", NULL};
	struct kp_why why = {""};
	struct kp_idem idem;
	struct idem_buf buf;
	const char *old;
	json_t *answer = NULL;
	int status = 201;
	int rc = v_keys(req->json, "", fields, &why);
	if (!rc)
		rc = v_string(req->json, "", "replace", true, 1, KP_CARD_MAX, &old, &why);
	if (!rc)
		rc = read_idempotency(req, "cards", false, &idem, &buf, &why);
	if (!rc)
		rc = kp_engine_card_replace(req->engine, req->params[0], old,
					    idem.key ? &idem : NULL, &answer, &status, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, status, answer);
}

/* A string field PATCH may set or clear (null). */
static int patch_field(const json_t *b, const char *key, size_t min, size_t max, bool *set,
		       const char **out, struct kp_why *why)
{
	*set = json_object_get(b, key) != NULL;
	return *set ? v_string(b, "", key, false, min, max, out, why) : 0;
}

static int read_patch(const json_t *b, struct kp_member_patch *p, char phone[KP_PHONE_E164_MAX + 1],
		      char segments[KP_SEGMENTS_TEXT_MAX + 1], struct kp_why *why)
{
	static const char *const fields[] = {"phone", "email", "name", "birthday", "external_id",
					     "consents", "segments", NULL};
	static const char *const consents[] = {"personal_data", "email", "sms", "push", NULL};
	int64_t day;
	int rc = v_keys(b, "", fields, why);
	if (!rc)
		rc = patch_field(b, "phone", 1, 40, &p->set_phone, &p->phone, why);
	if (!rc && p->phone) {
		if (kp_phone_normalize(p->phone, phone))
			return kp_why(why, KP_EINVAL, "phone: %s is not a phone number", p->phone);
		p->phone = phone;
	}
	if (!rc)
		rc = patch_field(b, "email", 3, KP_EMAIL_MAX, &p->set_email, &p->email, why);
	if (!rc && p->email && !strchr(p->email, '@'))
		rc = kp_why(why, KP_EINVAL, "email: must contain @");
	if (!rc)
		rc = patch_field(b, "name", 1, KP_PERSON_NAME_MAX, &p->set_name, &p->name, why);
	if (!rc)
		rc = patch_field(b, "birthday", 10, 10, &p->set_birthday, &p->birthday, why);
	if (!rc && p->birthday && kp_date_parse(p->birthday, &day))
		rc = kp_why(why, KP_EINVAL, "birthday: must be a date like 1990-05-17");
	if (!rc)
		rc = patch_field(b, "external_id", 1, KP_EXTERNAL_ID_MAX, &p->set_external_id,
				 &p->external_id, why);
	json_t *c = json_object_get(b, "consents");
	if (!rc && c) {
		rc = v_object(c, "consents", why);
		if (!rc)
			rc = v_keys(c, "consents", consents, why);
		for (unsigned i = 0; !rc && consents[i]; i++) {
			bool given = false;
			if (!json_object_get(c, consents[i]))
				continue;
			rc = v_bool(c, "consents", consents[i], &given, why);
			p->consents_mask |= 1u << i;
			p->consents_value |= given ? 1u << i : 0;
		}
	}
	if (!rc)
		rc = read_segments(b, &p->set_segments, segments, why);
	p->segments = segments;
	return rc;
}

void h_member_update(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	struct kp_member_patch p = {.key_id = req->who.key_id};
	char phone[KP_PHONE_E164_MAX + 1], segments[KP_SEGMENTS_TEXT_MAX + 1];
	json_t *answer = NULL;
	int rc = read_patch(req->json, &p, phone, segments, &why);
	if (!rc)
		rc = kp_engine_member_update(req->engine, req->params[0], &p, &answer, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 200, answer);
}

void h_member_export(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *answer = NULL;
	int rc = kp_engine_member_export(req->engine, req->params[0], &answer, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 200, answer);
}

void h_member_erase(struct request *req, struct response *res)
{
	struct kp_why why = {""};
	json_t *answer = NULL;
	int rc = kp_engine_member_erase(req->engine, req->params[0], req->who.key_id, &answer, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, 200, answer);
}

void h_adjustment_create(struct request *req, struct response *res)
{
	static const char *const fields[] = {"points", "reason", NULL};
	struct kp_why why = {""};
	struct kp_idem idem;
	struct idem_buf buf;
	int64_t points = 0;
	const char *reason;
	json_t *answer = NULL;
	int status = 201;
	int rc = v_keys(req->json, "", fields, &why);
	if (!rc)
		rc = v_int(req->json, "", "points", true, -1000000000, 1000000000, &points, &why);
	if (!rc)
		rc = v_string(req->json, "", "reason", true, 1, KP_RECEIPT_MAX, &reason, &why);
	if (!rc)
		rc = read_idempotency(req, "adjustments", true, &idem, &buf, &why);
	if (!rc)
		rc = kp_engine_adjust(req->engine, req->params[0], points, reason, &idem,
				      req->who.key_id, &answer, &status, &why);
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, status, answer);
}

void h_event_create(struct request *req, struct response *res)
{
	static const char *const fields[] = {"event_id", "type", NULL};
	struct kp_why why = {""};
	const char *event_id, *type;
	char hash[65];
	json_t *answer = NULL;
	int status = 201;
	int rc = v_keys(req->json, "", fields, &why);
	if (!rc)
		rc = v_id(req->json, "", "event_id", true, KP_RECEIPT_MAX, &event_id, &why);
	if (!rc)
		rc = v_string(req->json, "", "type", true, 1, 32, &type, &why);
	if (!rc) {
		request_hash(req, req->params[0], hash);
		rc = kp_engine_event(req->engine, req->params[0], event_id, type, hash, &answer,
				     &status, &why);
	}
	if (rc)
		respond_error(res, rc, &why);
	else
		respond(res, status, answer);
}

/*
 * partners.c — a coalition's partners and the keys that act for them.
 *
 * A partner may have its own base earn rate (earn_percent_bp, standing in
 * for the program's earn.percent) and its own accrual cost (what it owes
 * per point issued at its tills, instead of point_value). A deactivated
 * partner takes no purchases and its pos keys are refused. Every change is
 * audited in the job that makes it. Changing a partner or revoking a key
 * empties the key cache, because cached principals carry both.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "util/error.h"
#include "util/strcopy.h"
#include "util/timeutil.h"

#define MAX_PARTNERS 10000 /* listed in one answer */
#define BP_PER_PERCENT 100

/* 300 → 3, 250 → 2.5: the way the documents write percentages. */
static json_t *percent_json(int64_t bp)
{
	assert(bp >= 0);
	if (bp % BP_PER_PERCENT == 0)
		return json_integer(bp / BP_PER_PERCENT);
	return json_real((double)bp / BP_PER_PERCENT);
}

static json_t *partner_json(const struct kp_partner_row *p)
{
	char at[21];
	kp_time_format(p->created_at, at);
	json_t *a = json_pack("{s:s,s:s,s:b,s:s}", "id", p->id, "name", p->name, "active",
			      p->active, "created_at", at);
	if (!a)
		return NULL;
	json_t *earn = p->earn_percent_bp < 0
			       ? json_null()
			       : json_pack("{s:o}", "percent", percent_json(p->earn_percent_bp));
	json_object_set_new(a, "earn", earn);
	json_object_set_new(a, "accrual_cost",
			    p->accrual_cost >= 0 ? json_integer(p->accrual_cost) : json_null());
	return a;
}

/* What changed, for the audit log: the fields the request set. */
static json_t *change_json(const struct kp_partner_change *ch)
{
	json_t *d = json_object();
	if (!d)
		return NULL;
	if (ch->name)
		json_object_set_new(d, "name", json_string(ch->name));
	if (ch->active >= 0)
		json_object_set_new(d, "active", json_boolean(ch->active));
	if (ch->set_earn)
		json_object_set_new(d, "earn_percent_bp",
				    ch->earn_percent_bp >= 0 ? json_integer(ch->earn_percent_bp)
							     : json_null());
	if (ch->set_accrual)
		json_object_set_new(d, "accrual_cost",
				    ch->accrual_cost >= 0 ? json_integer(ch->accrual_cost)
							  : json_null());
	return d;
}

static void apply_change(struct kp_partner_row *row, const struct kp_partner_change *ch)
{
	if (ch->name)
		kp_strcopy(row->name, sizeof row->name, ch->name);
	if (ch->active >= 0)
		row->active = ch->active != 0;
	if (ch->set_earn)
		row->earn_percent_bp = ch->earn_percent_bp;
	if (ch->set_accrual)
		row->accrual_cost = ch->accrual_cost;
	assert(row->earn_percent_bp >= -1 && row->earn_percent_bp <= 10000);
	assert(row->accrual_cost == -1 || row->accrual_cost >= 1);
}

struct partner_job {
	const struct kp_partner_change *ch;
	bool create;
	int64_t key_id, now;
	const struct kp_idem *idem; /* creation only; NULL = none */
	struct kp_partner_row row;
	json_t *answer;
	struct kp_why *why;
};

static int partner_run(struct kp_conn *c, void *arg)
{
	struct partner_job *j = arg;
	job_answer_drop(&j->answer);
	const struct kp_partner_change *ch = j->ch;
	int rc = 0;
	if (j->idem) {
		int status;
		rc = idem_replay(c, j->idem, &j->answer, &status, j->why);
		if (rc != KP_ENOTFOUND)
			return rc;
		rc = 0;
	}
	if (j->create) {
		rc = c->ops->partner_insert(c, ch->id, ch->name, j->now);
		if (rc == KP_ECONFLICT)
			return kp_why(j->why, rc, "partner %s already exists", ch->id);
	}
	if (!rc)
		rc = c->ops->partner_get(c, ch->id, &j->row);
	if (rc == KP_ENOTFOUND)
		return kp_why(j->why, rc, "no partner with id %s", ch->id);
	if (rc)
		return rc;
	apply_change(&j->row, ch);
	rc = c->ops->partner_update(c, &j->row);
	if (!rc)
		rc = audit_write(c, j->key_id, j->create ? "partner.create" : "partner.update",
				 ch->id, change_json(ch), j->now);
	if (!rc && !(j->answer = partner_json(&j->row)))
		rc = KP_ENOMEM;
	return rc || !j->idem ? rc : idem_keep(c, j->idem, 201, j->answer, j->now);
}

static int partner_write(struct kp_engine *e, const struct kp_partner_change *ch, bool create,
			 int64_t key_id, const struct kp_idem *idem, json_t **answer,
			 struct kp_why *why)
{
	assert(ch && ch->id && answer);
	assert(!create || ch->name);
	struct partner_job j = {.ch = ch, .create = create, .key_id = key_id,
				.now = kp_engine_now(e), .idem = idem, .why = why};
	int rc = kp_writer_submit(e->writer, partner_run, &j);
	if (rc) {
		json_decref(j.answer);
		return rc;
	}
	/* Cached pos keys carry their partner's state. */
	key_cache_clear(e->keys);
	*answer = j.answer;
	return 0;
}

int kp_engine_partner_add(struct kp_engine *e, const struct kp_partner_change *p,
			  int64_t key_id, const struct kp_idem *idem, json_t **answer,
			  struct kp_why *why)
{
	return partner_write(e, p, true, key_id, idem, answer, why);
}

int kp_engine_partner_update(struct kp_engine *e, const struct kp_partner_change *p,
			     int64_t key_id, json_t **answer, struct kp_why *why)
{
	return partner_write(e, p, false, key_id, NULL, answer, why);
}

int kp_engine_partners_list(struct kp_engine *e, json_t **answer, struct kp_why *why)
{
	(void)why;
	struct kp_partner_row *rows = calloc(MAX_PARTNERS, sizeof *rows);
	if (!rows)
		return KP_ENOMEM;
	struct kp_conn *c;
	size_t n = 0;
	int rc = reader_acquire(e, &c);
	if (!rc) {
		rc = c->ops->partners_list(c, rows, MAX_PARTNERS, &n);
		reader_release(e, c);
	}
	json_t *items = rc ? NULL : json_array();
	for (size_t i = 0; items && i < n; i++)
		json_array_append_new(items, partner_json(&rows[i]));
	free(rows);
	if (rc)
		return rc;
	*answer = json_pack("{s:o}", "items", items);
	return *answer ? 0 : KP_ENOMEM;
}

/* ---- keys ----------------------------------------------------------------- */

struct revoke_job {
	int64_t id, by_key_id, now;
	struct kp_key_row row;
	struct kp_why *why;
};

static int revoke_run(struct kp_conn *c, void *arg)
{
	struct revoke_job *j = arg;
	int rc = c->ops->key_get_id(c, j->id, &j->row);
	if (rc == KP_ENOTFOUND)
		return kp_why(j->why, rc, "no key with id %lld", (long long)j->id);
	if (rc || j->row.revoked_at)
		return rc; /* revoked before: the same answer, nothing to record */
	char target[24];
	snprintf(target, sizeof target, "%lld", (long long)j->id);
	rc = c->ops->key_revoke(c, j->id, j->now);
	j->row.revoked_at = j->now;
	if (!rc)
		rc = audit_write(c, j->by_key_id, "key.revoke", target,
				 json_pack("{s:s,s:s?}", "role", j->row.role, "partner",
					   j->row.partner[0] ? j->row.partner : NULL),
				 j->now);
	return rc;
}

int kp_engine_key_revoke(struct kp_engine *e, int64_t id, int64_t by_key_id, json_t **answer,
			 struct kp_why *why)
{
	assert(answer);
	struct revoke_job j = {.id = id, .by_key_id = by_key_id, .now = kp_engine_now(e),
			       .why = why};
	int rc = kp_writer_submit(e->writer, revoke_run, &j);
	if (rc)
		return rc;
	/* After the commit: no request of this process can pass with the key any more. */
	key_cache_clear(e->keys);
	char at[21];
	kp_time_format(j.row.revoked_at, at);
	*answer = json_pack("{s:I,s:s}", "id", (json_int_t)id, "revoked_at", at);
	return *answer ? 0 : KP_ENOMEM;
}

static json_t *key_json(const struct kp_key_row *k)
{
	char created[21], revoked[21];
	kp_time_format(k->created_at, created);
	kp_time_format(k->revoked_at, revoked);
	return json_pack("{s:I,s:s,s:s?,s:s,s:s?}", "id", (json_int_t)k->id, "role", k->role,
			 "partner", k->partner[0] ? k->partner : NULL, "created_at", created,
			 "revoked_at", k->revoked_at ? revoked : NULL);
}

int kp_engine_keys_list(struct kp_engine *e, const char *cursor, size_t limit, json_t **answer,
			struct kp_why *why)
{
	assert(answer && limit >= 1 && limit <= 1000);
	int64_t after;
	if (parse_cursor(cursor, &after, why))
		return KP_EINVAL;
	struct kp_key_row *rows = calloc(limit + 1, sizeof *rows);
	if (!rows)
		return KP_ENOMEM;
	struct kp_conn *c;
	size_t n = 0;
	int rc = reader_acquire(e, &c);
	if (!rc) {
		rc = c->ops->keys_list(c, after, rows, limit + 1, &n);
		reader_release(e, c);
	}
	json_t *items = rc ? NULL : json_array();
	for (size_t i = 0; items && i < n && i < limit; i++)
		json_array_append_new(items, key_json(&rows[i]));
	int64_t last = n > limit ? rows[limit - 1].id : 0;
	free(rows);
	if (rc)
		return rc;
	*answer = list_page(items, n > limit, last);
	return *answer ? 0 : KP_ENOMEM;
}

bool kp_engine_receipt_elsewhere(struct kp_engine *e, const char *partner,
				 const char *receipt_id)
{
	assert(partner && receipt_id);
	struct kp_conn *c;
	if (reader_acquire(e, &c))
		return false;
	int rc = c->ops->receipt_elsewhere(c, partner, receipt_id);
	reader_release(e, c);
	return rc == 0;
}

/*
 * customers.c — a member's cards, personal data, consents, export, erasure
 * and manual adjustments.
 *
 * Every change is one writer job; changes an admin makes are written to the
 * audit log in the same job.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/mechanics.h"
#include "util/error.h"
#include "util/strcopy.h"
#include "util/timeutil.h"

/* A member by their id, on the writer's connection, with a readable "not found". */
static int member_by_id(struct kp_conn *c, const char *id, struct kp_member_row *m,
			struct kp_why *why)
{
	int rc = c->ops->member_get(c, KP_MEMBER_BY_ID, id, m);
	if (rc == KP_ENOTFOUND)
		return kp_why(why, rc, "no member with id %s", id);
	return rc;
}

static int audit_json(struct kp_conn *c, int64_t key_id, const char *action, const char *target,
		      json_t *details, int64_t now)
{
	char *text = details ? json_text(details) : NULL;
	json_decref(details);
	int rc = text ? c->ops->audit(c, key_id, action, target, text, now) : KP_ENOMEM;
	free(text);
	return rc;
}

/* ---- cards ----------------------------------------------------------------- */

struct card_job {
	const char *id, *old;
	const struct kp_idem *idem;
	int64_t now;
	json_t *answer;
	int status;
	struct kp_why *why;
};

static int card_run(struct kp_conn *c, void *arg)
{
	struct card_job *j = arg;
	job_answer_drop(&j->answer);
	int rc = j->idem ? idem_replay(c, j->idem, &j->answer, &j->status, j->why) : KP_ENOTFOUND;
	if (rc != KP_ENOTFOUND)
		return rc;
	struct kp_member_row m;
	struct kp_card_row old;
	if ((rc = member_by_id(c, j->id, &m, j->why)))
		return rc;
	rc = c->ops->card_get(c, j->old, &old);
	if (rc == KP_ENOTFOUND || (!rc && old.member_id != m.id))
		return kp_why(j->why, KP_ENOTFOUND, "member %s has no card %s", j->id, j->old);
	if (!rc && old.status == KP_CARD_BLOCKED)
		return kp_why(j->why, KP_ECARDBLOCKED, "card %s is already blocked", j->old);
	for (int attempt = 0; !rc && attempt < 8; attempt++) {
		kp_card_new(m.card);
		rc = c->ops->card_insert(c, m.card, m.id, j->now);
		if (rc != KP_ECONFLICT)
			break;
		rc = 0;
	}
	if (!rc)
		rc = c->ops->card_block(c, j->old, j->now);
	if (!rc)
		rc = c->ops->member_set_card(c, m.id, m.card);
	if (rc)
		return rc;
	j->status = 201;
	j->answer = json_pack("{s:s,s:s,s:s}", "member", j->id, "card", m.card, "blocked",
			      j->old);
	if (!j->answer)
		return KP_ENOMEM;
	return j->idem ? idem_keep(c, j->idem, 201, j->answer, j->now) : 0;
}

int kp_engine_card_replace(struct kp_engine *e, const char *id, const char *old,
			   const struct kp_idem *idem, json_t **answer, int *status,
			   struct kp_why *why)
{
	assert(id && old && answer && status);
	if (!kp_card_is_valid(old))
		return kp_why(why, KP_EINVAL, "replace: %s is not a valid card number", old);
	struct card_job j = {.id = id, .old = old, .idem = idem, .now = kp_engine_now(e),
			     .why = why};
	int rc = kp_writer_submit(e->writer, card_run, &j);
	if (rc) {
		json_decref(j.answer);
		return rc;
	}
	*answer = j.answer;
	*status = j.status;
	return 0;
}

/* ---- personal data and consents ------------------------------------------- */

struct update_job {
	const char *id;
	const struct kp_member_patch *p;
	int64_t now;
	json_t *answer;
	struct kp_why *why;
};

static void apply_patch(const struct kp_member_patch *p, struct kp_member_row *m)
{
	if (p->set_phone)
		kp_strcopy(m->phone, sizeof m->phone, p->phone);
	if (p->set_email)
		kp_strcopy(m->email, sizeof m->email, p->email);
	if (p->set_name)
		kp_strcopy(m->name, sizeof m->name, p->name);
	if (p->set_birthday)
		kp_strcopy(m->birthday, sizeof m->birthday, p->birthday);
	if (p->set_external_id)
		kp_strcopy(m->external_id, sizeof m->external_id, p->external_id);
	if (p->set_segments)
		kp_strcopy(m->segments, sizeof m->segments, p->segments);
	m->consents = (m->consents & ~p->consents_mask) | (p->consents_value & p->consents_mask);
}

static int update_run(struct kp_conn *c, void *arg)
{
	struct update_job *j = arg;
	job_answer_drop(&j->answer);
	struct kp_member_row m;
	int rc = member_by_id(c, j->id, &m, j->why);
	if (rc)
		return rc;
	if (m.erased_at)
		return kp_why(j->why, KP_ECONFLICT, "member %s was erased", j->id);
	unsigned before = m.consents;
	apply_patch(j->p, &m);
	rc = c->ops->member_update(c, &m);
	if (rc == KP_ECONFLICT)
		return kp_why(j->why, rc, "that phone or external_id belongs to another member");
	if (!rc)
		rc = log_consents(c, m.id, before, m.consents, j->now, j->p->key_id, false);
	if (!rc && !(j->answer = member_json(&m)))
		rc = KP_ENOMEM;
	return rc;
}

int kp_engine_member_update(struct kp_engine *e, const char *id, const struct kp_member_patch *p,
			    json_t **answer, struct kp_why *why)
{
	assert(id && p && answer);
	if ((p->consents_mask & KP_CONSENT_PERSONAL_DATA) &&
	    !(p->consents_value & KP_CONSENT_PERSONAL_DATA))
		return kp_why(why, KP_ECONSENT, "consents.personal_data cannot be withdrawn here: "
						"erase the member (DELETE /v1/members/%s)", id);
	struct update_job j = {.id = id, .p = p, .now = kp_engine_now(e), .why = why};
	int rc = kp_writer_submit(e->writer, update_run, &j);
	if (rc) {
		json_decref(j.answer);
		return rc;
	}
	*answer = j.answer;
	return 0;
}

/* ---- export and erasure ----------------------------------------------------- */

static json_t *stored_array(struct kp_conn *c, int (*get)(struct kp_conn *, int64_t, char **),
			    int64_t id)
{
	char *text = NULL;
	json_t *v = get(c, id, &text) == 0 ? json_parse_stored(text) : NULL;
	free(text);
	return v;
}

int kp_engine_member_export(struct kp_engine *e, const char *id, json_t **answer,
			    struct kp_why *why)
{
	/* Everything as of one commit: the balance is what the history adds up to. */
	struct kp_conn *c;
	int rc = snapshot_acquire(e, &c);
	if (rc)
		return rc;
	json_t *member = NULL, *balance = NULL, *history = NULL;
	json_t *cards = NULL, *consents = NULL;
	rc = member_get_on(c, KP_MEMBER_BY_ID, id, &member, why);
	if (!rc)
		rc = member_balance_on(e, c, id, &balance, why);
	if (!rc)
		rc = member_history_on(c, id, NULL, 1000, &history, why);
	if (!rc) {
		int64_t mid = strtoll(json_string_value(json_object_get(member, "id")), NULL, 10);
		cards = stored_array(c, c->ops->member_cards_json, mid);
		consents = stored_array(c, c->ops->consent_history_json, mid);
		rc = cards && consents ? 0 : KP_ESTORE;
	}
	snapshot_release(e, c);
	if (rc) {
		json_decref(member), json_decref(balance), json_decref(history);
		json_decref(cards), json_decref(consents);
		return rc;
	}
	char at[21];
	kp_time_format(kp_engine_now(e), at);
	*answer = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o}", "exported_at", at, "member", member,
			    "cards", cards, "consent_history", consents, "balance", balance,
			    "history", history);
	return *answer ? 0 : KP_ENOMEM;
}

struct erase_job {
	const char *id;
	int64_t key_id, now;
	json_t *answer;
	struct kp_why *why;
};

static int erase_run(struct kp_conn *c, void *arg)
{
	struct erase_job *j = arg;
	job_answer_drop(&j->answer);
	struct kp_member_row m;
	int rc = member_by_id(c, j->id, &m, j->why);
	if (rc)
		return rc;
	char at[21];
	kp_time_format(m.erased_at ? m.erased_at : j->now, at);
	if (!m.erased_at) {
		/* every consent is withdrawn with the data it covered */
		rc = c->ops->member_erase(c, m.id, j->now);
		if (!rc)
			rc = log_consents(c, m.id, m.consents, 0, j->now, j->key_id, false);
		if (!rc)
			rc = audit_json(c, j->key_id, "member.erase", j->id,
					json_pack("{s:s}", "erased_at", at), j->now);
	}
	if (!rc && !(j->answer = json_pack("{s:s,s:s}", "id", j->id, "erased_at", at)))
		rc = KP_ENOMEM;
	return rc;
}

int kp_engine_member_erase(struct kp_engine *e, const char *id, int64_t key_id,
			   json_t **answer, struct kp_why *why)
{
	struct erase_job j = {.id = id, .key_id = key_id, .now = kp_engine_now(e), .why = why};
	int rc = kp_writer_submit(e->writer, erase_run, &j);
	if (rc) {
		json_decref(j.answer);
		return rc;
	}
	*answer = j.answer;
	return 0;
}

/* ---- manual adjustments ----------------------------------------------------- */

struct adjust_job {
	struct kp_engine *e;
	const char *id, *reason;
	int64_t points, key_id, now;
	const struct kp_idem *idem;
	json_t *answer;
	int status;
	struct kp_why *why;
};

static int adjust_points(struct kp_conn *c, struct adjust_job *j, const struct kp_program *p,
			 struct member_state *ms)
{
	struct kp_plan plan = {.cap = kp_ledger_plan_bound(&ms->points)};
	plan.postings = calloc(plan.cap, sizeof *plan.postings);
	if (!plan.postings)
		return KP_ENOMEM;
	int rc;
	if (j->points > 0) {
		struct kp_lot lot = {
			.expires_at = p->expiry_days > 0
					      ? j->now + p->expiry_days * KP_SECONDS_PER_DAY
					      : KP_NEVER,
			.available_at = j->now,
		};
		rc = c->ops->lot_next_id(c, &lot.id);
		if (!rc)
			rc = kp_ledger_credit(&ms->points, j->points, &lot, KP_ENTRY_ADJUST, &plan);
	} else {
		rc = kp_ledger_debit(&ms->points, -j->points, j->now, KP_ACC_ISSUANCE,
				     KP_ENTRY_ADJUST, &plan);
		if (rc == KP_EINSUFFICIENT)
			kp_why(j->why, rc, "member %s has only %lld spendable points", j->id,
			       (long long)kp_ledger_spendable(&ms->points, j->now));
	}
	struct posting_ctx ctx = {.member_id = ms->row.id, .now = j->now, .ref = j->reason};
	if (!rc)
		rc = persist_plan(c, &ctx, &ms->points, &plan);
	free(plan.postings);
	return rc;
}

static int adjust_run(struct kp_conn *c, void *arg)
{
	struct adjust_job *j = arg;
	job_answer_drop(&j->answer);
	int rc = idem_replay(c, j->idem, &j->answer, &j->status, j->why);
	if (rc != KP_ENOTFOUND)
		return rc;
	const struct kp_program *p;
	struct kp_member_row row;
	struct member_state ms = {0};
	if ((rc = kp_engine_program(j->e, 0, &p, NULL)) ||
	    (rc = member_by_id(c, j->id, &row, j->why)) ||
	    (rc = member_state_load(c, p, j->now, &row, 1, &ms)))
		return rc;
	rc = adjust_points(c, j, p, &ms);
	if (!rc)
		rc = apply_thresholds(c, p, &ms, j->now, NULL, NULL);
	if (!rc)
		rc = audit_json(c, j->key_id, "member.adjust", j->id,
				json_pack("{s:I,s:s}", "points", (json_int_t)j->points, "reason",
					  j->reason),
				j->now);
	j->status = 201;
	if (!rc && !(j->answer = json_pack("{s:s,s:I,s:s,s:o}", "member", j->id, "points",
					   (json_int_t)j->points, "reason", j->reason, "balance",
					   balance_json(ms.points.available, ms.points.pending,
							ms.points.debt))))
		rc = KP_ENOMEM;
	member_state_release(&ms);
	return rc ? rc : idem_keep(c, j->idem, 201, j->answer, j->now);
}

int kp_engine_adjust(struct kp_engine *e, const char *id, int64_t points, const char *reason,
		     const struct kp_idem *idem, int64_t key_id, json_t **answer, int *status,
		     struct kp_why *why)
{
	assert(id && reason && idem && answer && status);
	if (points == 0)
		return kp_why(why, KP_EINVAL, "points: must not be 0");
	struct adjust_job j = {.e = e, .id = id, .reason = reason, .points = points,
			       .key_id = key_id, .now = kp_engine_now(e), .idem = idem,
			       .why = why};
	int rc = kp_writer_submit(e->writer, adjust_run, &j);
	if (rc) {
		json_decref(j.answer);
		return rc;
	}
	*answer = j.answer;
	*status = j.status;
	return 0;
}

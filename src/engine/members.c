/*
 * members.c — registering members, finding them, their balance and history.
 *
 * A member gets a card number (13 digits, the last a Luhn check digit, so a
 * mistyped card is caught before any lookup) and a referral code of their
 * own; both are random and retried on the rare collision.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bonuses.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/strcopy.h"
#include "util/timeutil.h"

#define CARD_DIGITS 13
#define CREATE_ATTEMPTS 8

static int luhn_digit(const char *digits, size_t n)
{
	int sum = 0;
	for (size_t i = 0; i < n; i++) {
		int d = digits[n - 1 - i] - '0';
		if (i % 2 == 0) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return (10 - sum % 10) % 10;
}

bool kp_card_is_valid(const char *card)
{
	size_t n = strlen(card);
	if (n != CARD_DIGITS || strspn(card, "0123456789") != n)
		return false;
	return luhn_digit(card, n - 1) == card[n - 1] - '0';
}

void kp_card_new(char card[KP_CARD_MAX + 1])
{
	card[0] = '2'; /* in-store numbering range, as EAN-13 reserves 20–29 */
	for (int i = 1; i < CARD_DIGITS - 1; i++)
		card[i] = (char)('0' + kp_crypto_uniform(10));
	card[CARD_DIGITS - 1] = (char)('0' + luhn_digit(card, CARD_DIGITS - 1));
	card[CARD_DIGITS] = '\0';
	assert(kp_card_is_valid(card));
}

static void new_referral_code(char code[KP_REFERRAL_MAX + 1])
{
	/* No 0/O or 1/I: people read these aloud and type them. */
	static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	for (int i = 0; i < 8; i++)
		code[i] = alphabet[kp_crypto_uniform(sizeof alphabet - 1)];
	code[8] = '\0';
}

static json_t *consents_json(unsigned c)
{
	return json_pack("{sbsbsbsb}", "personal_data", (c & KP_CONSENT_PERSONAL_DATA) != 0,
			 "email", (c & KP_CONSENT_EMAIL) != 0, "sms", (c & KP_CONSENT_SMS) != 0,
			 "push", (c & KP_CONSENT_PUSH) != 0);
}

static json_t *opt_string(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

json_t *member_json(const struct kp_member_row *m)
{
	char id[24], at[21], erased[21];
	member_id_text(m->id, id);
	kp_time_format(m->created_at, at);
	kp_time_format(m->erased_at, erased);
	json_t *j = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:s,s:o}", "id", id,
			 "card", m->card, "phone", opt_string(m->phone), "email",
			 opt_string(m->email), "name", opt_string(m->name), "birthday",
			 opt_string(m->birthday), "external_id", opt_string(m->external_id),
			 "referral_code", m->referral_code, "consents", consents_json(m->consents),
			 "tier", m->tier[0] ? json_string(m->tier) : json_null(), "segments",
			 kp_segments_to_json(m->segments), "created_at", at, "balance",
			 balance_json(m->available, m->pending, m->debt));
	if (j && m->erased_at)
		json_object_set_new(j, "erased_at", json_string(erased));
	return j;
}

/* Record each consent that changed (or every one, at registration). */
int log_consents(struct kp_conn *c, int64_t member_id, unsigned before, unsigned after,
		 int64_t now, int64_t key_id, bool all)
{
	static const char *const names[] = {"personal_data", "email", "sms", "push"};
	for (unsigned i = 0; i < 4; i++) {
		unsigned bit = 1u << i;
		if (!all && (before & bit) == (after & bit))
			continue;
		int rc = c->ops->consent_log(c, member_id, names[i], (after & bit) != 0, now, key_id);
		if (rc)
			return rc;
	}
	return 0;
}

struct create_job {
	const struct kp_program *program; /* NULL before any program is loaded */
	const struct kp_member_new *in;
	const struct kp_idem *idem;
	int64_t now;
	json_t *answer;
	int status;
	struct kp_why *why;
};

static void copy_opt(char *dst, size_t cap, const char *src)
{
	kp_strcopy(dst, cap, src);
}

/* A unique value that is taken: say which one, so the caller can fix it. */
static int explain_conflict(struct kp_conn *c, const struct kp_member_new *in, struct kp_why *why)
{
	struct kp_member_row other;
	if (in->phone && c->ops->member_get(c, KP_MEMBER_BY_PHONE, in->phone, &other) == 0)
		return kp_why(why, KP_ECONFLICT, "phone %s is already registered", in->phone);
	if (in->external_id &&
	    c->ops->member_get(c, KP_MEMBER_BY_EXTERNAL, in->external_id, &other) == 0)
		return kp_why(why, KP_ECONFLICT, "external_id %s is already registered",
			      in->external_id);
	return 0; /* a random card or code collided: try again */
}

/* A new member starts at the tier no spend reaches: the program's first level. */
static int start_tier(struct kp_conn *c, const struct kp_program *p, struct kp_member_row *m,
		      int64_t now)
{
	int tier = p ? kp_rules_tier_for_spend(p, 0) : -1;
	if (tier < 0)
		return 0;
	kp_strcopy(m->tier, sizeof m->tier, p->tiers[tier].name);
	m->tier_since = now;
	return c->ops->member_set_tier(c, m->id, m->tier, now);
}

static int insert_member(struct kp_conn *c, struct create_job *j, struct kp_member_row *m)
{
	const struct kp_member_new *in = j->in;
	memset(m, 0, sizeof *m);
	copy_opt(m->phone, sizeof m->phone, in->phone);
	copy_opt(m->email, sizeof m->email, in->email);
	copy_opt(m->name, sizeof m->name, in->name);
	copy_opt(m->birthday, sizeof m->birthday, in->birthday);
	copy_opt(m->external_id, sizeof m->external_id, in->external_id);
	copy_opt(m->segments, sizeof m->segments, in->segments);
	m->consents = in->consents;
	m->created_at = j->now;
	if (in->referral_code) {
		struct kp_member_row referrer;
		int rc = c->ops->member_get(c, KP_MEMBER_BY_REFERRAL, in->referral_code, &referrer);
		if (rc == KP_ENOTFOUND)
			return kp_why(j->why, KP_EREFERRAL, "referral_code %s: no member has it",
				      in->referral_code);
		if (rc)
			return rc;
		m->referred_by = referrer.id;
	}
	int rc = KP_ECONFLICT;
	for (int attempt = 0; rc == KP_ECONFLICT && attempt < CREATE_ATTEMPTS; attempt++) {
		kp_card_new(m->card);
		new_referral_code(m->referral_code);
		rc = c->ops->member_insert(c, m);
		if (!rc)
			rc = c->ops->card_insert(c, m->card, m->id, j->now);
		if (rc != KP_ECONFLICT)
			break;
		/* a taken phone or external id is the caller's; a taken card or code, chance's */
		if ((rc = explain_conflict(c, in, j->why)))
			return rc;
		rc = KP_ECONFLICT;
	}
	if (!rc)
		rc = log_consents(c, m->id, 0, m->consents, j->now, in->key_id, true);
	if (!rc)
		rc = start_tier(c, j->program, m, j->now);
	if (!rc)
		rc = bonuses_on_registration(c, j->program, m, j->now);
	/* the answer shows the balance with the registration bonus */
	return rc ? rc : c->ops->member_get_id(c, m->id, m);
}

static int create_run(struct kp_conn *c, void *arg)
{
	struct create_job *j = arg;
	job_answer_drop(&j->answer);
	if (j->idem) {
		int rc = idem_replay(c, j->idem, &j->answer, &j->status, j->why);
		if (rc != KP_ENOTFOUND)
			return rc;
	}
	struct kp_member_row m;
	int rc = insert_member(c, j, &m);
	if (rc)
		return rc;
	j->status = 201;
	if (!(j->answer = member_json(&m)))
		return KP_ENOMEM;
	return j->idem ? idem_keep(c, j->idem, 201, j->answer, j->now) : 0;
}

int kp_engine_member_create(struct kp_engine *e, const struct kp_member_new *m,
			    const struct kp_idem *idem, json_t **answer, int *status,
			    struct kp_why *why)
{
	assert(m && answer && status);
	if (!(m->consents & KP_CONSENT_PERSONAL_DATA))
		return kp_why(why, KP_ECONSENT,
			      "consents.personal_data must be true to register a member");
	struct create_job j = {.in = m, .idem = idem, .now = kp_engine_now(e), .why = why};
	int rc = kp_engine_program(e, 0, &j.program, NULL);
	if (rc && rc != KP_ENOPROGRAM)
		return rc;
	rc = kp_writer_submit(e->writer, create_run, &j);
	if (rc) {
		json_decref(j.answer);
		return rc;
	}
	*answer = j.answer;
	*status = j.status;
	return 0;
}

static int lookup_on(struct kp_conn *c, enum kp_member_key by, const char *value,
		     struct kp_member_row *m, struct kp_why *why)
{
	static const char *const names[] = {"id", "phone", "card", "external_id", "referral_code"};
	if (by == KP_MEMBER_BY_CARD && !kp_card_is_valid(value))
		return kp_why(why, KP_EINVAL, "card %s: not a valid card number (check digit)",
			      value);
	if (by == KP_MEMBER_BY_CARD)
		return find_member(c, KP_REF_CARD, value, m, why);
	int rc = c->ops->member_get(c, by, value, m);
	if (rc == KP_ENOTFOUND)
		kp_why(why, rc, "no member with %s %s", names[by], value);
	return rc;
}

int member_get_on(struct kp_conn *c, enum kp_member_key by, const char *value, json_t **answer,
		  struct kp_why *why)
{
	struct kp_member_row m;
	int rc = lookup_on(c, by, value, &m, why);
	if (!rc && !(*answer = member_json(&m)))
		rc = KP_ENOMEM;
	return rc;
}

int kp_engine_member_get(struct kp_engine *e, enum kp_member_key by, const char *value,
			 json_t **answer, struct kp_why *why)
{
	struct kp_conn *c;
	int rc = reader_acquire(e, &c);
	if (rc)
		return rc;
	rc = member_get_on(c, by, value, answer, why);
	reader_release(e, c);
	return rc;
}

/* Upcoming expiries of a member's points, soonest first, same instants merged. */
static json_t *expiring_json(const struct kp_member_points *m, int64_t now)
{
	enum { MAX_SHOWN = 20 };
	int64_t at[MAX_SHOWN], points[MAX_SHOWN];
	size_t n = 0;
	for (size_t i = 0; i < m->n_lots; i++) {
		const struct kp_lot *l = &m->lots[i];
		if (l->remaining == 0 || l->expires_at == KP_NEVER || l->expires_at <= now)
			continue;
		size_t k = 0;
		while (k < n && at[k] < l->expires_at)
			k++;
		if (k < n && at[k] == l->expires_at) {
			points[k] += l->remaining;
			continue;
		}
		if (k == MAX_SHOWN)
			continue;
		size_t last = n < MAX_SHOWN ? n : MAX_SHOWN - 1;
		memmove(&at[k + 1], &at[k], (last - k) * sizeof at[0]);
		memmove(&points[k + 1], &points[k], (last - k) * sizeof points[0]);
		at[k] = l->expires_at;
		points[k] = l->remaining;
		if (n < MAX_SHOWN)
			n++;
	}
	json_t *list = json_array();
	for (size_t k = 0; list && k < n; k++) {
		char text[21];
		kp_time_format(at[k], text);
		json_array_append_new(list, json_pack("{sIss}", "points", (json_int_t)points[k],
						      "expires_at", text));
	}
	return list;
}

int member_balance_on(struct kp_engine *e, struct kp_conn *c, const char *id, json_t **answer,
		      struct kp_why *why)
{
	const struct kp_program *p;
	int rc = kp_engine_program(e, 0, &p, NULL);
	if (rc)
		return rc;
	struct kp_member_row m;
	struct member_state ms = {0};
	int64_t now = kp_engine_now(e);
	rc = c->ops->member_get(c, KP_MEMBER_BY_ID, id, &m);
	if (rc == KP_ENOTFOUND)
		kp_why(why, rc, "no member with id %s", id);
	if (!rc)
		rc = member_state_load(c, p, now, &m, 0, &ms);
	if (!rc && (rc = member_state_spend(c, p, &ms)))
		member_state_release(&ms);
	if (rc)
		return rc;
	json_t *a = balance_json(m.available, m.pending, m.debt);
	if (a) {
		const char *tier = tier_name(p, ms.tier);
		json_object_set_new(a, "spendable",
				    json_integer(kp_ledger_spendable(&ms.points, now)));
		json_object_set_new(a, "tier", tier ? json_string(tier) : json_null());
		json_object_set_new(a, "tier_progress",
				    tier_progress_json(p, ms.tier, ms.basis_spend));
		json_object_set_new(a, "expiring",
				    expiring_json(&ms.points, now));
	}
	member_state_release(&ms);
	*answer = a;
	return a ? 0 : KP_ENOMEM;
}

int kp_engine_member_balance(struct kp_engine *e, const char *id, json_t **answer,
			     struct kp_why *why)
{
	/* The balances (the member's row) and the lots behind spendable and
	 * expiring as of one commit: never more spendable than available. */
	struct kp_conn *c;
	int rc = snapshot_acquire(e, &c);
	if (rc)
		return rc;
	rc = member_balance_on(e, c, id, answer, why);
	snapshot_release(e, c);
	return rc;
}

/* A history row as the member sees it: points signed by their effect on the member. */
static json_t *history_row_json(const struct kp_history_row *r)
{
	static const char *const account_names[] = {
		[KP_ACC_AVAILABLE] = "available", [KP_ACC_PENDING] = "pending",
		[KP_ACC_DEBT] = "debt"};
	bool in = kp_ledger_is_member_account(r->to);
	bool out = kp_ledger_is_member_account(r->from);
	assert(in || out);
	int64_t points = in ? r->points : -r->points; /* member → member: shown as moved in */
	char at[21];
	kp_time_format(r->at, at);
	return json_pack("{s:s,s:s,s:I,s:s,s:s?}", "at", at, "kind",
			 kp_ledger_entry_name(r->entry), "points", (json_int_t)points, "account",
			 account_names[in ? r->to : r->from], "ref", r->ref[0] ? r->ref : NULL);
}

int member_history_on(struct kp_conn *c, const char *id, const char *cursor, size_t limit,
		      json_t **answer, struct kp_why *why)
{
	assert(limit >= 1 && limit <= 1000);
	int64_t before;
	if (parse_cursor(cursor, &before, why))
		return KP_EINVAL;
	struct kp_history_row *rows = calloc(limit + 1, sizeof *rows);
	if (!rows)
		return KP_ENOMEM;
	struct kp_member_row m;
	size_t n = 0;
	int rc = c->ops->member_get(c, KP_MEMBER_BY_ID, id, &m);
	if (rc == KP_ENOTFOUND)
		kp_why(why, rc, "no member with id %s", id);
	if (!rc)
		rc = c->ops->history(c, m.id, before, rows, limit + 1, &n);
	json_t *items = rc ? NULL : json_array();
	for (size_t i = 0; items && i < n && i < limit; i++)
		json_array_append_new(items, history_row_json(&rows[i]));
	int64_t last = n > limit ? rows[limit - 1].id : 0;
	free(rows);
	if (rc)
		return rc;
	*answer = list_page(items, n > limit, last);
	return *answer ? 0 : KP_ENOMEM;
}

int kp_engine_member_history(struct kp_engine *e, const char *id, const char *cursor,
			     size_t limit, json_t **answer, struct kp_why *why)
{
	struct kp_conn *c;
	int rc = reader_acquire(e, &c);
	if (rc)
		return rc;
	rc = member_history_on(c, id, cursor, limit, answer, why);
	reader_release(e, c);
	return rc;
}

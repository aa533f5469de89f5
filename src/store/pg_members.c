/*
 * pg_members.c — programs, partners, API keys and members on PostgreSQL.
 * The same contract and the same answers as sqlite_members.c.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_int.h"
#include "util/error.h"

#define CONN(base) ((struct pg_conn *)(base))

/* An INSERT … RETURNING id: the new row's id. */
static int insert_id(struct pg_conn *c, int rc, struct pg_res *res, int64_t *id)
{
	if (rc)
		return rc;
	rc = pg_next(res) ? 0 : KP_ESTORE;
	if (!rc)
		*id = pg_int(res, 0);
	pg_clear(res);
	(void)c;
	return rc;
}

int pg_program_insert(struct kp_conn *base, const char *doc, int64_t now, int64_t *version)
{
	struct pg_conn *c = CONN(base);
	assert(doc && version);
	struct pg_res res;
	int rc = pg_run(c, Q_PROGRAM_INSERT, &res, "si", doc, now);
	return insert_id(c, rc, &res, version);
}

int pg_program_get(struct kp_conn *base, int64_t version, int64_t *version_out, char **doc)
{
	struct pg_conn *c = CONN(base);
	assert(version_out && doc);
	struct pg_res res;
	int rc = version ? pg_one(c, Q_PROGRAM_GET, &res, "i", version)
			 : pg_one(c, Q_PROGRAM_LATEST, &res, "");
	if (rc)
		return rc;
	*version_out = pg_int(&res, 0);
	*doc = pg_dup(&res, 1);
	pg_clear(&res);
	return *doc ? 0 : KP_ENOMEM;
}

int pg_partner_insert(struct kp_conn *base, const char *id, const char *name, int64_t now)
{
	assert(id && name);
	return pg_run(CONN(base), Q_PARTNER_INSERT, NULL, "ssi", id, name, now);
}

int pg_partner_exists(struct kp_conn *base, const char *id)
{
	struct pg_res res;
	int rc = pg_one(CONN(base), Q_PARTNER_EXISTS, &res, "s", id);
	if (!rc)
		pg_clear(&res);
	return rc;
}

int pg_key_insert(struct kp_conn *base, struct kp_key_row *key)
{
	struct pg_conn *c = CONN(base);
	assert(key && key->hash[0] && key->role[0]);
	struct pg_res res;
	int rc = pg_run(c, Q_KEY_INSERT, &res, "sssi", key->hash, key->role,
			key->partner[0] ? key->partner : NULL, key->created_at);
	return insert_id(c, rc, &res, &key->id);
}

static void read_key(const struct pg_res *res, struct kp_key_row *out)
{
	out->id = pg_int(res, 0);
	pg_text(res, 1, out->hash, sizeof out->hash);
	pg_text(res, 2, out->role, sizeof out->role);
	pg_text(res, 3, out->partner, sizeof out->partner);
	out->created_at = pg_int(res, 4);
	out->revoked_at = pg_int(res, 5);
	assert(out->id > 0);
}

int pg_key_find(struct kp_conn *base, const char *hash, struct kp_key_row *out)
{
	assert(hash && out);
	struct pg_res res;
	int rc = pg_one(CONN(base), Q_KEY_FIND, &res, "s", hash);
	if (rc)
		return rc;
	read_key(&res, out);
	pg_clear(&res);
	return 0;
}

int pg_key_get_id(struct kp_conn *base, int64_t id, struct kp_key_row *out)
{
	assert(out);
	struct pg_res res;
	int rc = pg_one(CONN(base), Q_KEY_GET_ID, &res, "i", id);
	if (rc)
		return rc;
	read_key(&res, out);
	pg_clear(&res);
	return 0;
}

int pg_key_revoke(struct kp_conn *base, int64_t id, int64_t now)
{
	return pg_run(CONN(base), Q_KEY_REVOKE, NULL, "ii", now, id);
}

int pg_keys_list(struct kp_conn *base, int64_t after_id, struct kp_key_row *out, size_t cap,
		 size_t *n)
{
	assert(out && n && cap > 0);
	struct pg_res res;
	*n = 0;
	int rc = pg_run(CONN(base), Q_KEYS_LIST, &res, "ii", after_id, (int64_t)cap);
	if (rc)
		return rc;
	while (*n < cap && pg_next(&res))
		read_key(&res, &out[(*n)++]);
	pg_clear(&res);
	return 0;
}

int pg_member_insert(struct kp_conn *base, struct kp_member_row *m)
{
	struct pg_conn *c = CONN(base);
	assert(m && m->card[0] && m->referral_code[0]);
	struct pg_res res;
	int rc = pg_run(c, Q_MEMBER_INSERT, &res, "sssssssiiis", m->card, m->phone, m->email,
			m->name, m->birthday, m->external_id, m->referral_code, m->referred_by,
			(int64_t)m->consents, m->created_at, m->segments);
	return insert_id(c, rc, &res, &m->id);
}

static void read_member(const struct pg_res *res, struct kp_member_row *m)
{
	memset(m, 0, sizeof *m);
	m->id = pg_int(res, 0);
	pg_text(res, 1, m->card, sizeof m->card);
	pg_text(res, 2, m->phone, sizeof m->phone);
	pg_text(res, 3, m->email, sizeof m->email);
	pg_text(res, 4, m->name, sizeof m->name);
	pg_text(res, 5, m->birthday, sizeof m->birthday);
	pg_text(res, 6, m->external_id, sizeof m->external_id);
	pg_text(res, 7, m->referral_code, sizeof m->referral_code);
	m->referred_by = pg_int(res, 8);
	m->consents = (unsigned)pg_int(res, 9);
	m->created_at = pg_int(res, 10);
	m->available = pg_int(res, 11);
	m->pending = pg_int(res, 12);
	m->debt = pg_int(res, 13);
	pg_text(res, 14, m->tier, sizeof m->tier);
	m->tier_since = pg_int(res, 15);
	m->lifetime_spend = pg_int(res, 16);
	m->erased_at = pg_int(res, 17);
	pg_text(res, 18, m->segments, sizeof m->segments);
	assert(m->id > 0);
}

/*
 * Inside a write transaction the member's row is locked as it is read: it
 * is the first lock a business operation takes, so two operations on one
 * member run one after the other, and the second sees what the first wrote.
 */
int pg_member_get(struct kp_conn *base, enum kp_member_key by, const char *value,
		  struct kp_member_row *out)
{
	struct pg_conn *c = CONN(base);
	assert(value && out);
	static const enum kp_sql plain[] = {
		[KP_MEMBER_BY_ID] = Q_MEMBER_BY_ID,
		[KP_MEMBER_BY_PHONE] = Q_MEMBER_BY_PHONE,
		[KP_MEMBER_BY_CARD] = Q_MEMBER_BY_CARD,
		[KP_MEMBER_BY_EXTERNAL] = Q_MEMBER_BY_EXTERNAL,
		[KP_MEMBER_BY_REFERRAL] = Q_MEMBER_BY_REFERRAL,
	};
	static const enum kp_sql locking[] = {
		[KP_MEMBER_BY_ID] = Q_MEMBER_BY_ID_LOCK,
		[KP_MEMBER_BY_PHONE] = Q_MEMBER_BY_PHONE_LOCK,
		[KP_MEMBER_BY_CARD] = Q_MEMBER_BY_CARD_LOCK,
		[KP_MEMBER_BY_EXTERNAL] = Q_MEMBER_BY_EXTERNAL_LOCK,
		[KP_MEMBER_BY_REFERRAL] = Q_MEMBER_BY_REFERRAL_LOCK,
	};
	if (by == KP_MEMBER_BY_ID) {
		char *end;
		long long id = strtoll(value, &end, 10);
		if (!*value || *end || id <= 0)
			return KP_ENOTFOUND;
		return pg_member_get_id(base, id, out);
	}
	struct pg_res res;
	int rc = pg_one(c, c->in_write ? locking[by] : plain[by], &res, "s", value);
	if (rc)
		return rc;
	read_member(&res, out);
	pg_clear(&res);
	return 0;
}

int pg_member_get_id(struct kp_conn *base, int64_t id, struct kp_member_row *out)
{
	struct pg_conn *c = CONN(base);
	struct pg_res res;
	int rc = pg_one(c, c->in_write ? Q_MEMBER_BY_ID_LOCK : Q_MEMBER_BY_ID, &res, "i", id);
	if (rc)
		return rc;
	read_member(&res, out);
	pg_clear(&res);
	return 0;
}

int pg_member_ids(struct kp_conn *base, int64_t after_id, int64_t *ids, size_t cap, size_t *n)
{
	assert(ids && n && cap > 0);
	return pg_list_ids(CONN(base), Q_MEMBER_IDS, ids, cap, n, "ii", after_id, (int64_t)cap);
}

int pg_member_set_balances(struct kp_conn *base, int64_t id, int64_t available, int64_t pending,
			   int64_t debt)
{
	assert(id > 0 && available >= 0 && pending >= 0 && debt <= 0);
	return pg_run(CONN(base), Q_MEMBER_SET_BALANCES, NULL, "iiii", available, pending, debt,
		      id);
}

/* ---- partners ------------------------------------------------------------- */

static void read_partner(const struct pg_res *res, struct kp_partner_row *out)
{
	memset(out, 0, sizeof *out);
	pg_text(res, 0, out->id, sizeof out->id);
	pg_text(res, 1, out->name, sizeof out->name);
	out->active = pg_int(res, 2) != 0;
	out->earn_percent_bp = pg_int(res, 3);
	out->accrual_cost = pg_int(res, 4);
	out->created_at = pg_int(res, 5);
	assert(out->earn_percent_bp >= -1 && out->accrual_cost >= -1);
}

int pg_partner_get(struct kp_conn *base, const char *id, struct kp_partner_row *out)
{
	assert(id && out);
	struct pg_res res;
	int rc = pg_one(CONN(base), Q_PARTNER_GET, &res, "s", id);
	if (rc)
		return rc;
	read_partner(&res, out);
	pg_clear(&res);
	return 0;
}

int pg_partner_update(struct kp_conn *base, const struct kp_partner_row *p)
{
	assert(p && p->id[0] && p->name[0]);
	return pg_exec_one(CONN(base), Q_PARTNER_UPDATE, "siiis", p->name, (int64_t)p->active,
			   p->earn_percent_bp, p->accrual_cost, p->id);
}

int pg_partners_list(struct kp_conn *base, struct kp_partner_row *out, size_t cap, size_t *n)
{
	assert(out && n);
	struct pg_res res;
	*n = 0;
	int rc = pg_run(CONN(base), Q_PARTNERS_LIST, &res, "");
	if (rc)
		return rc;
	while (!rc && pg_next(&res)) {
		if (*n == cap)
			rc = KP_ETOOLARGE;
		else
			read_partner(&res, &out[(*n)++]);
	}
	pg_clear(&res);
	return rc;
}

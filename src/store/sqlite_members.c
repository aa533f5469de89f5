/*
 * sqlite_members.c — programs, partners, API keys and members on SQLite.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"
#include "util/error.h"

#define CONN(base) ((struct sqlite_conn *)(base))

int sqlite_program_insert(struct kp_conn *base, const char *doc, int64_t now, int64_t *version)
{
	struct sqlite_conn *c = CONN(base);
	assert(doc && version);
	int rc = sqlite_exec_stmt(c, sqlite_bind(c, Q_PROGRAM_INSERT, "si", doc, now));
	if (!rc)
		*version = sqlite3_last_insert_rowid(c->db);
	return rc;
}

int sqlite_program_get(struct kp_conn *base, int64_t version, int64_t *version_out, char **doc)
{
	struct sqlite_conn *c = CONN(base);
	assert(version_out && doc);
	sqlite3_stmt *st = version ? sqlite_bind(c, Q_PROGRAM_GET, "i", version)
				   : sqlite_bind(c, Q_PROGRAM_LATEST, "");
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	*version_out = sqlite3_column_int64(st, 0);
	*doc = sqlite_dup_text(st, 1);
	sqlite3_reset(st);
	return *doc ? 0 : KP_ENOMEM;
}

int sqlite_partner_insert(struct kp_conn *base, const char *id, const char *name, int64_t now)
{
	struct sqlite_conn *c = CONN(base);
	assert(id && name);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_PARTNER_INSERT, "ssi", id, name, now));
}

int sqlite_partner_exists(struct kp_conn *base, const char *id)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *st = sqlite_bind(c, Q_PARTNER_EXISTS, "s", id);
	int rc = sqlite_step_row(c, st);
	if (!rc)
		sqlite3_reset(st);
	return rc;
}

int sqlite_key_insert(struct kp_conn *base, struct kp_key_row *key)
{
	struct sqlite_conn *c = CONN(base);
	assert(key && key->hash[0] && key->role[0]);
	int rc = sqlite_exec_stmt(c, sqlite_bind(c, Q_KEY_INSERT, "sssi", key->hash, key->role,
						 key->partner[0] ? key->partner : NULL,
						 key->created_at));
	if (!rc)
		key->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

int sqlite_key_find(struct kp_conn *base, const char *hash, struct kp_key_row *out)
{
	struct sqlite_conn *c = CONN(base);
	assert(hash && out);
	sqlite3_stmt *st = sqlite_bind(c, Q_KEY_FIND, "s", hash);
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	out->id = sqlite3_column_int64(st, 0);
	sqlite_copy_text(st, 1, out->hash, sizeof out->hash);
	sqlite_copy_text(st, 2, out->role, sizeof out->role);
	sqlite_copy_text(st, 3, out->partner, sizeof out->partner);
	out->created_at = sqlite3_column_int64(st, 4);
	out->revoked_at = sqlite3_column_int64(st, 5);
	sqlite3_reset(st);
	return 0;
}

int sqlite_member_insert(struct kp_conn *base, struct kp_member_row *m)
{
	struct sqlite_conn *c = CONN(base);
	assert(m && m->card[0] && m->referral_code[0]);
	int rc = sqlite_exec_stmt(c, sqlite_bind(c, Q_MEMBER_INSERT, "sssssssiiis", m->card,
						 m->phone, m->email, m->name, m->birthday,
						 m->external_id, m->referral_code, m->referred_by,
						 (int64_t)m->consents, m->created_at, m->segments));
	if (!rc)
		m->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

static void read_member(sqlite3_stmt *st, struct kp_member_row *m)
{
	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(st, 0);
	sqlite_copy_text(st, 1, m->card, sizeof m->card);
	sqlite_copy_text(st, 2, m->phone, sizeof m->phone);
	sqlite_copy_text(st, 3, m->email, sizeof m->email);
	sqlite_copy_text(st, 4, m->name, sizeof m->name);
	sqlite_copy_text(st, 5, m->birthday, sizeof m->birthday);
	sqlite_copy_text(st, 6, m->external_id, sizeof m->external_id);
	sqlite_copy_text(st, 7, m->referral_code, sizeof m->referral_code);
	m->referred_by = sqlite3_column_int64(st, 8);
	m->consents = (unsigned)sqlite3_column_int64(st, 9);
	m->created_at = sqlite3_column_int64(st, 10);
	m->available = sqlite3_column_int64(st, 11);
	m->pending = sqlite3_column_int64(st, 12);
	m->debt = sqlite3_column_int64(st, 13);
	sqlite_copy_text(st, 14, m->tier, sizeof m->tier);
	m->tier_since = sqlite3_column_int64(st, 15);
	m->lifetime_spend = sqlite3_column_int64(st, 16);
	m->erased_at = sqlite3_column_int64(st, 17);
	sqlite_copy_text(st, 18, m->segments, sizeof m->segments);
	assert(m->id > 0);
}

static int get_member(struct sqlite_conn *c, sqlite3_stmt *st, struct kp_member_row *out)
{
	int rc = sqlite_step_row(c, st);
	if (rc)
		return rc;
	read_member(st, out);
	sqlite3_reset(st);
	return 0;
}

int sqlite_member_get(struct kp_conn *base, enum kp_member_key by, const char *value,
		      struct kp_member_row *out)
{
	struct sqlite_conn *c = CONN(base);
	assert(value && out);
	static const enum kp_sql by_stmt[] = {
		[KP_MEMBER_BY_ID] = Q_MEMBER_BY_ID,
		[KP_MEMBER_BY_PHONE] = Q_MEMBER_BY_PHONE,
		[KP_MEMBER_BY_CARD] = Q_MEMBER_BY_CARD,
		[KP_MEMBER_BY_EXTERNAL] = Q_MEMBER_BY_EXTERNAL,
		[KP_MEMBER_BY_REFERRAL] = Q_MEMBER_BY_REFERRAL,
	};
	if (by == KP_MEMBER_BY_ID) {
		char *end;
		long long id = strtoll(value, &end, 10);
		if (!*value || *end || id <= 0)
			return KP_ENOTFOUND;
		return sqlite_member_get_id(base, id, out);
	}
	return get_member(c, sqlite_bind(c, by_stmt[by], "s", value), out);
}

int sqlite_member_get_id(struct kp_conn *base, int64_t id, struct kp_member_row *out)
{
	struct sqlite_conn *c = CONN(base);
	return get_member(c, sqlite_bind(c, Q_MEMBER_BY_ID, "i", id), out);
}

int sqlite_member_ids(struct kp_conn *base, int64_t after_id, int64_t *ids, size_t cap, size_t *n)
{
	struct sqlite_conn *c = CONN(base);
	assert(ids && n && cap > 0);
	sqlite3_stmt *st = sqlite_bind(c, Q_MEMBER_IDS, "ii", after_id, (int64_t)cap);
	if (!st)
		return KP_ESTORE;
	*n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqlite_error(c, rc);
}

int sqlite_member_set_balances(struct kp_conn *base, int64_t id, int64_t available,
			       int64_t pending, int64_t debt)
{
	struct sqlite_conn *c = CONN(base);
	assert(id > 0 && available >= 0 && pending >= 0 && debt <= 0);
	return sqlite_exec_stmt(c, sqlite_bind(c, Q_MEMBER_SET_BALANCES, "iiii", available,
					       pending, debt, id));
}

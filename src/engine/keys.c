/*
 * keys.c — API keys: making them and authenticating (partners: partners.c).
 *
 * A key's secret is "kp_" and 32 hex digits (128 random bits). Only its
 * BLAKE2b-256 hash is stored; a presented secret is hashed and looked up by
 * that hash, so no stored secret is ever compared byte by byte (the lookup
 * compares hashes, which tell an attacker nothing about the secret).
 * Revoking a key and changing a partner empty the cache, so in this process
 * they count at once; other processes notice within KEY_CACHE_NS.
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine_int.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/strcopy.h"
#include "util/timeutil.h"

/*
 * Recently authenticated keys, so a busy till does not cost a database read
 * per request. An entry is trusted for KEY_CACHE_NS; a key revoked elsewhere
 * stops working within that time.
 */
#define KEY_CACHE_SLOTS 256
#define KEY_CACHE_NS 2000000000LL

struct key_slot {
	char hash[KP_HASH_HEX];
	struct kp_principal who;
	int64_t loaded_ns;
};

struct key_cache {
	pthread_mutex_t lock;
	struct key_slot slot[KEY_CACHE_SLOTS];
};

struct key_cache *key_cache_new(void)
{
	struct key_cache *k = calloc(1, sizeof *k);
	if (k)
		pthread_mutex_init(&k->lock, NULL);
	return k;
}

void key_cache_free(struct key_cache *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

void key_cache_clear(struct key_cache *k)
{
	assert(k);
	pthread_mutex_lock(&k->lock);
	memset(k->slot, 0, sizeof k->slot);
	pthread_mutex_unlock(&k->lock);
}

static struct key_slot *slot_of(struct key_cache *k, const char *hash)
{
	unsigned idx = (unsigned)strtoul((char[3]){hash[0], hash[1], 0}, NULL, 16);
	return &k->slot[idx % KEY_CACHE_SLOTS];
}

static bool cache_get(struct key_cache *k, const char *hash, struct kp_principal *out)
{
	pthread_mutex_lock(&k->lock);
	struct key_slot *s = slot_of(k, hash);
	bool hit = kp_crypto_equal(s->hash, hash, KP_HASH_HEX - 1) &&
		   kp_time_mono_ns() - s->loaded_ns < KEY_CACHE_NS;
	if (hit)
		*out = s->who;
	pthread_mutex_unlock(&k->lock);
	return hit;
}

static void cache_put(struct key_cache *k, const char *hash, const struct kp_principal *who)
{
	pthread_mutex_lock(&k->lock);
	struct key_slot *s = slot_of(k, hash);
	kp_strcopy(s->hash, sizeof s->hash, hash);
	s->who = *who;
	s->loaded_ns = kp_time_mono_ns();
	pthread_mutex_unlock(&k->lock);
}

static void new_secret(char secret[KP_KEY_SECRET_LEN + 1])
{
	unsigned char raw[16];
	static const char hex[] = "0123456789abcdef";
	kp_crypto_random(raw, sizeof raw);
	memcpy(secret, "kp_", 3);
	for (size_t i = 0; i < sizeof raw; i++) {
		secret[3 + 2 * i] = hex[raw[i] >> 4];
		secret[4 + 2 * i] = hex[raw[i] & 15];
	}
	secret[KP_KEY_SECRET_LEN] = '\0';
}

struct key_job {
	struct kp_key_row row;
	bool ensure; /* an existing key with this hash is fine */
	bool audit;  /* record "key.create" by by_key_id */
	int64_t by_key_id;
	const struct kp_idem *idem; /* NULL = none */
	json_t *replayed;           /* the kept answer of an earlier request with idem */
	struct kp_why *why;
};

/* The key as the API shows it; the secret only to the request that made it. */
static json_t *key_answer(const struct kp_key_row *row, const char *secret)
{
	return json_pack("{s:I,s:s?,s:s,s:s?}", "id", (json_int_t)row->id, "key", secret,
			 "role", row->role, "partner", row->partner[0] ? row->partner : NULL);
}

static int key_run(struct kp_conn *c, void *arg)
{
	struct key_job *j = arg;
	job_answer_drop(&j->replayed);
	if (j->idem) {
		int status, rc = idem_replay(c, j->idem, &j->replayed, &status, j->why);
		if (rc != KP_ENOTFOUND)
			return rc;
	}
	if (j->row.partner[0]) {
		int rc = c->ops->partner_exists(c, j->row.partner);
		if (rc == KP_ENOTFOUND)
			return kp_why(j->why, rc, "partner %s: no such partner", j->row.partner);
		if (rc)
			return rc;
	}
	if (j->ensure) {
		struct kp_key_row old;
		int rc = c->ops->key_find(c, j->row.hash, &old);
		if (rc == 0) {
			if (strcmp(old.role, "admin") != 0 || old.revoked_at)
				return kp_why(j->why, KP_ECONFLICT,
					      "the admin key secret belongs to a %s key",
					      old.revoked_at ? "revoked" : old.role);
			j->row = old;
			return 0;
		}
		if (rc != KP_ENOTFOUND)
			return rc;
	}
	int rc = c->ops->key_insert(c, &j->row);
	if (rc || !j->audit)
		return rc;
	char target[24];
	snprintf(target, sizeof target, "%lld", (long long)j->row.id);
	rc = audit_write(c, j->by_key_id, "key.create", target,
			 json_pack("{s:s,s:s?}", "role", j->row.role, "partner",
				   j->row.partner[0] ? j->row.partner : NULL),
			 j->row.created_at);
	if (rc || !j->idem)
		return rc;
	json_t *kept = key_answer(&j->row, NULL);
	rc = kept ? idem_keep(c, j->idem, 201, kept, j->row.created_at) : KP_ENOMEM;
	json_decref(kept);
	return rc;
}

static int save_key(struct kp_engine *e, const char *secret, const char *role,
		    const char *partner, bool ensure, struct key_job *j)
{
	memset(&j->row, 0, sizeof j->row);
	kp_crypto_hash_hex(secret, strlen(secret), j->row.hash);
	kp_strcopy(j->row.role, sizeof j->row.role, role);
	kp_strcopy(j->row.partner, sizeof j->row.partner, partner);
	j->row.created_at = kp_engine_now(e);
	j->ensure = ensure;
	return kp_writer_submit(e->writer, key_run, j);
}

int kp_engine_ensure_admin_key(struct kp_engine *e, const char *secret, struct kp_why *why)
{
	assert(secret);
	if (strlen(secret) < 16)
		return kp_why(why, KP_EINVAL, "the admin key must be at least 16 characters");
	struct key_job j = {.why = why};
	return save_key(e, secret, "admin", NULL, true, &j);
}

int kp_engine_key_create(struct kp_engine *e, const char *role, const char *partner,
			 int64_t by_key_id, const struct kp_idem *idem, json_t **answer,
			 struct kp_why *why)
{
	assert(role && answer);
	bool is_pos = strcmp(role, "pos") == 0;
	if (!is_pos && strcmp(role, "admin") != 0 && strcmp(role, "readonly") != 0)
		return kp_why(why, KP_EINVAL, "role: must be admin, pos or readonly");
	if (is_pos && !partner)
		return kp_why(why, KP_EINVAL, "partner: a pos key needs its partner");
	if (!is_pos && partner)
		return kp_why(why, KP_EINVAL, "partner: only pos keys belong to a partner");
	char secret[KP_KEY_SECRET_LEN + 1];
	new_secret(secret);
	struct key_job j = {.why = why, .audit = true, .by_key_id = by_key_id, .idem = idem};
	int rc = save_key(e, secret, role, partner, false, &j);
	if (rc) {
		json_decref(j.replayed);
		return rc;
	}
	*answer = j.replayed ? j.replayed : key_answer(&j.row, secret);
	return *answer ? 0 : KP_ENOMEM;
}

int kp_engine_authenticate(struct kp_engine *e, const char *secret, struct kp_principal *out)
{
	assert(secret && out);
	if (strlen(secret) > 256)
		return KP_EUNAUTHORIZED;
	char hash[KP_HASH_HEX];
	kp_crypto_hash_hex(secret, strlen(secret), hash);
	if (cache_get(e->keys, hash, out))
		return 0;
	struct kp_conn *c;
	int rc = reader_acquire(e, &c);
	if (rc)
		return rc;
	struct kp_key_row row;
	struct kp_partner_row partner = {.active = true};
	rc = c->ops->key_find(c, hash, &row);
	/* A pos key carries its partner's state, cached with it (deactivating clears the cache). */
	if (!rc && !row.revoked_at && row.partner[0])
		rc = c->ops->partner_get(c, row.partner, &partner);
	reader_release(e, c);
	if (rc == KP_ENOTFOUND || (!rc && row.revoked_at))
		return KP_EUNAUTHORIZED;
	if (rc)
		return rc;
	/* The index found it; compare in constant time anyway, as secrets deserve. */
	if (!kp_crypto_equal(row.hash, hash, KP_HASH_HEX - 1))
		return KP_EUNAUTHORIZED;
	memset(out, 0, sizeof *out);
	out->key_id = row.id;
	kp_strcopy(out->role, sizeof out->role, row.role);
	kp_strcopy(out->partner, sizeof out->partner, row.partner);
	out->partner_inactive = !partner.active;
	cache_put(e->keys, hash, out);
	return 0;
}

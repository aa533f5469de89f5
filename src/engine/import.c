/*
 * import.c — loading members from another system's CSV file (docs/import.md).
 *
 * All or nothing, in three steps:
 *   1. parse: every row is read and checked on its own (pure, no database);
 *      then rows of the file that repeat an external_id, a phone or a card;
 *   2. on the writer, inside one job: every row is checked against the
 *      database (taken phones and cards, external ids seen before);
 *   3. in the same job: every new member is written.
 * The first problem stops everything with "line N: <field>: <problem>";
 * since the whole import is one writer job, a failure in step 3 (a storage
 * error) is rolled back with the job's savepoint and leaves nothing either.
 *
 * Re-running is safe because each imported row leaves its fingerprint (the
 * BLAKE2b of its canonical values) in the idempotency table under scope
 * IMPORT_SCOPE and key external_id: the same row again is "unchanged",
 * another row with that external_id is refused. The fingerprint holds the
 * values as imported, so later purchases and changes do not make a re-run
 * of the same file fail.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/import_int.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/strcopy.h"
#include "util/timeutil.h"

#define IMPORT_SCOPE "import:members"
#define CREATE_ATTEMPTS 8

static void referral_code_new(char code[KP_REFERRAL_MAX + 1])
{
	/* As at registration: no 0/O or 1/I, people read these aloud. */
	static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	for (int i = 0; i < 8; i++)
		code[i] = alphabet[kp_crypto_uniform(sizeof alphabet - 1)];
	code[8] = '\0';
}

/* The row's canonical values, hashed: what "the same data" means on a re-run. */
static void row_hash(const struct kp_program *p, const struct import_row *r,
		     char out[KP_HASH_HEX])
{
	char text[2048];
	int n = snprintf(text, sizeof text, "v1\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%u\x1f%lld\x1f%lld"
			 "\x1f%s\x1f%lld\x1f%s",
			 r->external_id, r->phone, r->email ? r->email : "",
			 r->name ? r->name : "", r->birthday ? r->birthday : "", r->consents,
			 (long long)r->points, r->expires_given ? (long long)r->expires_at : -1LL,
			 r->tier >= 0 && r->tier_given ? p->tiers[r->tier].name : "",
			 (long long)r->lifetime_spend, r->card ? r->card : "");
	assert(n > 0 && (size_t)n < sizeof text); /* the fields' limits keep it short */
	kp_crypto_hash_hex(text, (size_t)n, out);
}

struct import_job {
	const struct kp_program *program;
	struct import_row *rows;
	size_t n_rows;
	int64_t now;
	struct kp_import_report *report;
	struct kp_why *why;
};

/* Step 2 for one row: may it be created, or is it already imported (r->unchanged)? */
static int check_row(struct kp_conn *c, struct import_job *j, struct import_row *r)
{
	char stored[KP_HASH_HEX], hash[KP_HASH_HEX], *answer = NULL;
	int status;
	row_hash(j->program, r, hash);
	int rc = c->ops->idem_find(c, IMPORT_SCOPE, r->external_id, stored, &status, &answer);
	free(answer);
	if (rc == 0 && strcmp(stored, hash) == 0) {
		r->unchanged = true;
		return 0;
	}
	long long line = (long long)r->line;
	if (rc == 0)
		return kp_why(j->why, KP_EINVAL, "line %lld: external_id %s: already imported "
			      "with other data", line, r->external_id);
	if (rc != KP_ENOTFOUND)
		return rc;
	struct kp_member_row m;
	if ((rc = c->ops->member_get(c, KP_MEMBER_BY_EXTERNAL, r->external_id, &m)) == 0)
		return kp_why(j->why, KP_EINVAL, "line %lld: external_id %s: already taken by "
			      "member %lld, who was not imported", line, r->external_id,
			      (long long)m.id);
	if (rc == KP_ENOTFOUND && r->phone[0] &&
	    (rc = c->ops->member_get(c, KP_MEMBER_BY_PHONE, r->phone, &m)) == 0)
		return kp_why(j->why, KP_EINVAL, "line %lld: phone %s: already registered to "
			      "member %lld", line, r->phone, (long long)m.id);
	struct kp_card_row card;
	if (rc == KP_ENOTFOUND && r->card && (rc = c->ops->card_get(c, r->card, &card)) == 0)
		return kp_why(j->why, KP_EINVAL, "line %lld: card %s: already issued to member "
			      "%lld", line, r->card, (long long)card.member_id);
	if (rc != KP_ENOTFOUND)
		return rc;
	if (r->points > 0 && r->expires_given && r->expires_at <= j->now)
		return kp_why(j->why, KP_EINVAL, "line %lld: points_expire_at: already past",
			      line);
	return 0;
}

/* The member row, with a card (theirs or a new one) and a referral code; sets m->id. */
static int insert_row(struct kp_conn *c, const struct import_job *j, const struct import_row *r,
		      struct kp_member_row *m)
{
	memset(m, 0, sizeof *m);
	kp_strcopy(m->phone, sizeof m->phone, r->phone);
	kp_strcopy(m->email, sizeof m->email, r->email);
	kp_strcopy(m->name, sizeof m->name, r->name);
	kp_strcopy(m->birthday, sizeof m->birthday, r->birthday);
	kp_strcopy(m->external_id, sizeof m->external_id, r->external_id);
	m->consents = r->consents;
	m->created_at = j->now;
	for (int attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
		if (r->card)
			kp_strcopy(m->card, sizeof m->card, r->card);
		else
			kp_card_new(m->card);
		referral_code_new(m->referral_code);
		int rc = c->ops->member_insert(c, m);
		if (rc != KP_ECONFLICT) /* step 2 checked the rest: only random values collide */
			return rc ? rc : c->ops->card_insert(c, m->card, m->id, j->now);
	}
	return kp_why(j->why, KP_ESTORE, "line %lld: no free card number or referral code",
		      (long long)r->line);
}

/* The balance as one lot from issuance, through the ledger, so verify holds. */
static int credit_points(struct kp_conn *c, const struct import_job *j, const struct import_row *r,
			 int64_t member_id)
{
	const struct kp_program *p = j->program;
	struct kp_lot lot = {
		.expires_at = r->expires_given ? r->expires_at
			      : p->expiry_days > 0 ? j->now + p->expiry_days * KP_SECONDS_PER_DAY
						   : KP_NEVER,
		.available_at = j->now,
	};
	struct kp_member_points mp = {.lots = (struct kp_lot[1]){{0}}, .cap_lots = 1};
	struct kp_posting postings[3];
	struct kp_plan plan = {.postings = postings, .cap = 3};
	assert(kp_ledger_plan_bound(&mp) <= plan.cap && r->points > 0);
	int rc = c->ops->lot_next_id(c, &lot.id);
	if (!rc)
		rc = kp_ledger_credit(&mp, r->points, &lot, KP_ENTRY_TRANSFER, &plan);
	struct posting_ctx ctx = {.member_id = member_id, .now = j->now, .ref = "import"};
	if (!rc)
		rc = persist_plan(c, &ctx, &mp, &plan);
	assert(rc || mp.available == r->points);
	return rc;
}

/* Step 3 for one row: the member, consents, tier, spend, points and the fingerprint. */
static int create_row(struct kp_conn *c, const struct import_job *j, const struct import_row *r)
{
	const struct kp_program *p = j->program;
	struct kp_member_row m;
	int rc = insert_row(c, j, r, &m);
	if (!rc)
		rc = log_consents(c, m.id, 0, m.consents, j->now, 0, true);
	if (!rc && r->tier >= 0)
		rc = c->ops->member_set_tier(c, m.id, p->tiers[r->tier].name, j->now);
	if (!rc && r->lifetime_spend > 0)
		rc = c->ops->member_add_spend(c, m.id, r->lifetime_spend);
	if (!rc && r->points > 0)
		rc = credit_points(c, j, r, m.id);
	if (rc)
		return rc;
	char hash[KP_HASH_HEX], id[24], answer[64];
	row_hash(p, r, hash);
	member_id_text(m.id, id);
	snprintf(answer, sizeof answer, "{\"member\":\"%s\"}", id);
	return c->ops->idem_insert(c, IMPORT_SCOPE, r->external_id, hash, 201, answer, j->now);
}

static int import_run(struct kp_conn *c, void *arg)
{
	struct import_job *j = arg;
	struct kp_import_report rep = {.rows = (int64_t)j->n_rows};
	for (size_t i = 0; i < j->n_rows; i++) {
		int rc = check_row(c, j, &j->rows[i]);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < j->n_rows; i++) {
		const struct import_row *r = &j->rows[i];
		if (r->unchanged) {
			rep.unchanged++;
			continue;
		}
		int rc = create_row(c, j, r);
		if (rc)
			return rc;
		rep.created++;
		rep.points_loaded += r->points; /* ≤ 10^6 rows × 10^12 points: no overflow */
	}
	assert(rep.created + rep.unchanged == rep.rows);
	*j->report = rep;
	return 0;
}

int kp_engine_import_members(struct kp_engine *e, const char *csv, size_t len,
			     struct kp_import_report *report, struct kp_why *why)
{
	assert(e && (csv || len == 0) && report);
	memset(report, 0, sizeof *report);
	if (len > KP_IMPORT_MAX_BYTES)
		return kp_why(why, KP_ETOOLARGE, "the file is over %d MiB",
			      KP_IMPORT_MAX_BYTES >> 20);
	struct import_job j = {.now = kp_engine_now(e), .report = report, .why = why};
	int rc = kp_engine_program(e, 0, &j.program, NULL);
	if (rc == KP_ENOPROGRAM)
		return kp_why(why, rc, "no program is loaded: load one first "
			      "(kopilka init --db FILE --program FILE)");
	if (rc)
		return rc;
	struct import_rows rows;
	rc = import_parse(j.program, csv, len, &rows, why);
	if (rc)
		return rc;
	j.rows = rows.rows;
	j.n_rows = rows.n;
	rc = j.n_rows ? kp_writer_submit(e->writer, import_run, &j) : 0;
	import_rows_release(&rows);
	return rc;
}

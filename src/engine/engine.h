/*
 * engine.h — Kopilka's business operations over a store.
 *
 * The engine owns the clock, the compiled program versions, the API keys and
 * every transaction. Each business operation that writes is one job for the
 * writer (engine/writer.h): the writer runs many jobs in one transaction,
 * each inside its own savepoint, and answers them only after the commit is
 * durable (group commit). A job that fails its own checks is rolled back to
 * its savepoint and does not disturb the others. Reads (quotes, balances,
 * history, lookups) use reader connections and never wait for the writer.
 *
 * Answers are jansson objects in the shape docs/api.md documents; the
 * caller owns (json_decref) what it receives. On an error, the function
 * returns a negative KP_E* code and may write a readable reason into *why
 * (why->text is "" when the code's default message says it all).
 *
 * The engine never parses HTTP and never trusts its caller about business
 * rules: amounts, members, receipts and programs are checked here again.
 */
#ifndef KP_ENGINE_ENGINE_H
#define KP_ENGINE_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/rules.h"
#include "store/store.h"

struct kp_engine;
struct kp_idem; /* an Idempotency-Key; defined below */

struct kp_why {
	char text[320];
};

struct kp_engine_config {
	const char *db;        /* SQLite file path */
	bool test_clock;       /* allow kp_engine_set_clock */
	bool test_retry;       /* tests: every batch runs twice (kp_writer_lose_first_attempts) */
	size_t queue_cap;      /* writer queue bound; 0 = default 4096 */
	size_t batch_max;      /* jobs per group commit; 0 = default 512 */
	size_t readers;        /* reader connections; 0 = default 8 */
};

/*
 * Open the database (creating it and migrating), load the current program,
 * start the writer. Returns 0 and *out, or an error with a message in why.
 */
int kp_engine_open(const struct kp_engine_config *cfg, struct kp_engine **out,
		   struct kp_why *why);

/* Finish queued writes, stop the writer, close every connection, free all. */
void kp_engine_close(struct kp_engine *e);

/* The engine's clock (seconds). The test clock, once set, stands still. */
int64_t kp_engine_now(struct kp_engine *e);
bool kp_engine_has_test_clock(const struct kp_engine *e);
void kp_engine_set_clock(struct kp_engine *e, int64_t now);

/* Figures for monitoring (GET /metrics). */
struct kp_engine_stats {
	uint64_t commits, jobs, batch_max, queue_depth, rejected;
	uint64_t log_syncs, log_sync_failures; /* the writer's sync thread (writer.h) */
	uint64_t points_issued, points_redeemed; /* by purchases committed in this process */
};

void kp_engine_stats(struct kp_engine *e, struct kp_engine_stats *out);

/* ---- program (engine/program.c) ---- */

/*
 * Compile, store as a new version and make current. Returns 0 and the new
 * version, or KP_EPROGRAM with the offending field's path in why.
 */
int kp_engine_program_put(struct kp_engine *e, const char *doc, size_t len, int64_t *version,
			  struct kp_why *why);

/* The current program document as stored: *doc malloc'ed, caller frees. */
int kp_engine_program_get(struct kp_engine *e, int64_t *version, char **doc);

/*
 * The compiled program of a version (0 = current), valid until
 * kp_engine_close. Returns 0, KP_ENOPROGRAM if none is loaded, KP_ENOTFOUND.
 */
int kp_engine_program(struct kp_engine *e, int64_t version, const struct kp_program **out,
		      int64_t *version_out);

/* ---- keys (engine/keys.c) ---- */

#define KP_KEY_SECRET_LEN 35 /* "kp_" + 32 hex digits (128 bits) */

struct kp_principal {
	int64_t key_id;
	char role[16];                    /* "admin", "pos", "readonly" */
	char partner[KP_PARTNER_MAX + 1]; /* the pos key's partner; "" otherwise */
	bool partner_inactive;            /* the pos key's partner was deactivated */
};

/* Make sure a key with this secret exists with role admin (idempotent). */
int kp_engine_ensure_admin_key(struct kp_engine *e, const char *secret, struct kp_why *why);

/*
 * Create a key: role "admin" | "pos" | "readonly"; pos keys need an existing
 * partner. The secret (shown once) is written to secret_out. Answer:
 * {"id":…,"key":"kp_…","role":…,"partner":…}. Audited ("key.create") as
 * done by key `by_key_id` (0 = the command line).
 */
int kp_engine_key_create(struct kp_engine *e, const char *role, const char *partner,
			 int64_t by_key_id, const struct kp_idem *idem, json_t **answer,
			 struct kp_why *why);

/* With idem, a repeat answers as the first time but with "key": null: the
 * secret is shown once and never stored. */

/* Find the key for a presented secret. Returns 0 or KP_EUNAUTHORIZED. */
int kp_engine_authenticate(struct kp_engine *e, const char *secret, struct kp_principal *out);

/* Partners: kp_engine_partner_add and the rest of "coalitions" below. */

/* ---- coalitions: partners, keys, audit (engine/partners.c, audit.c) ---- */

/*
 * A partner to create or change. Create: id and name required; absent
 * fields take their defaults (active, the program's earn rate, accrual at
 * point_value). Update: only the fields marked set change.
 */
struct kp_partner_change {
	const char *id;
	const char *name;            /* NULL = unchanged */
	int active;                  /* −1 = unchanged, else 0 or 1 */
	bool set_earn;
	int64_t earn_percent_bp;     /* 0..10000, −1 = the program's earn.percent */
	bool set_accrual;
	int64_t accrual_cost;        /* minor units per point ≥ 1, −1 = point_value */
};

/* Create (KP_ECONFLICT if the id is taken) or change (KP_ENOTFOUND) a partner,
 * audited as "partner.create" / "partner.update" by key_id. Answer: the partner
 * {"id","name","active","earn":{"percent":P}|null,"accrual_cost":N|null,"created_at"}. */
int kp_engine_partner_add(struct kp_engine *e, const struct kp_partner_change *p,
			  int64_t key_id, const struct kp_idem *idem, json_t **answer,
			  struct kp_why *why);
int kp_engine_partner_update(struct kp_engine *e, const struct kp_partner_change *p,
			     int64_t key_id, json_t **answer, struct kp_why *why);
/* {"items":[partner…]}: every partner, by id. */
int kp_engine_partners_list(struct kp_engine *e, json_t **answer, struct kp_why *why);

/*
 * Revoke key `id` (idempotent: a revoked key answers its first revocation
 * time). The key stops working at once in this process (the key cache is
 * emptied). Answer {"id","revoked_at"}; KP_ENOTFOUND for an unknown id.
 */
int kp_engine_key_revoke(struct kp_engine *e, int64_t id, int64_t by_key_id, json_t **answer,
			 struct kp_why *why);
/* Keys by id without their secrets or hashes: {"items":[{"id","role","partner",
 * "created_at","revoked_at"}],"next_cursor"}; cursor "" or the last answer's. */
int kp_engine_keys_list(struct kp_engine *e, const char *cursor, size_t limit, json_t **answer,
			struct kp_why *why);

/* Record an admin change made outside a writer job of its own (details: owned). */
int kp_engine_audit(struct kp_engine *e, int64_t key_id, const char *action, const char *target,
		    json_t *details);
/* The audit log newest first: {"items":[{"id","at","key_id","action","target",
 * "details"}],"next_cursor"}. */
int kp_engine_audit_list(struct kp_engine *e, const char *cursor, size_t limit, json_t **answer,
			 struct kp_why *why);

/* True when a purchase with this receipt id exists at a partner other than `partner`:
 * the API answers 403, not 404, to a pos key reaching for another partner's receipt. */
bool kp_engine_receipt_elsewhere(struct kp_engine *e, const char *partner,
				 const char *receipt_id);

/* ---- reports (engine/reports.c) ---- */

/*
 * The program's figures over [from, to) (instants; the API passes whole UTC
 * days): members, active members, purchases, revenue (paid money less money
 * refunded), average check, repeat-purchase rate, engagement (share of active
 * members who redeemed), points issued / taken back / redeemed / expired in the
 * period, points outstanding now and their value (the liability), breakage
 * (expired ÷ issued) and churn (members active in the period of the same
 * length before who bought nothing in this one). Answer: docs/api.md "Reports".
 */
int kp_engine_summary(struct kp_engine *e, int64_t from, int64_t to, json_t **answer,
		      struct kp_why *why);

/*
 * Settlement over [from, to) (instants; the API passes whole UTC days):
 * per partner the points issued and redeemed through its receipts, their
 * value, the net and the receipts (docs/api.md "Reports"). Every amount is
 * exact; the totals equal the ledger's purchase-linked movements.
 */
int kp_engine_settlement(struct kp_engine *e, int64_t from, int64_t to, json_t **answer,
			 struct kp_why *why);
/* Per fund over [from, to): donated_points, campaign_points, total, value. */
int kp_engine_charity_report(struct kp_engine *e, int64_t from, int64_t to, json_t **answer,
			     struct kp_why *why);

/* ---- charity (engine/charity.c) ---- */

struct kp_idem; /* below */

/* A member gives `points` to a fund of the current program (KP_EFUND if none,
 * KP_EINSUFFICIENT). Answer (201): {"member","fund","points","balance"}. */
int kp_engine_donate(struct kp_engine *e, const char *id, const char *fund, int64_t points,
		     const struct kp_idem *idem, json_t **answer, int *status,
		     struct kp_why *why);

/* ---- idempotent writes with an Idempotency-Key (engine/writes.c) ---- */

struct kp_idem {
	const char *scope;  /* whose keys: "<api key id>:<route>" */
	const char *key;    /* the header's value */
	const char *hash;   /* hash of the canonical request */
};

/* ---- members (engine/members.c) ---- */

struct kp_member_new {
	const char *phone;        /* normalised E.164 or NULL */
	const char *email;        /* or NULL */
	const char *name;         /* or NULL */
	const char *birthday;     /* "YYYY-MM-DD" or NULL */
	const char *external_id;  /* or NULL */
	const char *referral_code; /* the referrer's code or NULL */
	unsigned consents;        /* enum kp_consent bits */
	const char *segments;     /* stored text (rules/segments.h) or NULL = none */
	int64_t key_id;           /* the API key registering them, for the consent log */
};

/* Register a member. Answer: the member (201). idem may be NULL. */
int kp_engine_member_create(struct kp_engine *e, const struct kp_member_new *m,
			    const struct kp_idem *idem, json_t **answer, int *status,
			    struct kp_why *why);

/* True for a well-formed card number (13 digits, Luhn check digit). */
bool kp_card_is_valid(const char *card);

/* Find a member and answer it as JSON. */
int kp_engine_member_get(struct kp_engine *e, enum kp_member_key by, const char *value,
			 json_t **answer, struct kp_why *why);

int kp_engine_member_balance(struct kp_engine *e, const char *id, json_t **answer,
			     struct kp_why *why);

/* History newest first; cursor "" or the previous answer's next_cursor. */
int kp_engine_member_history(struct kp_engine *e, const char *id, const char *cursor,
			     size_t limit, json_t **answer, struct kp_why *why);

/* ---- the customer's side (engine/customers.c) ---- */

/* Block card `old` of member `id` and issue a new one; balance, tier and history stay. */
int kp_engine_card_replace(struct kp_engine *e, const char *id, const char *old,
			   const struct kp_idem *idem, json_t **answer, int *status,
			   struct kp_why *why);

/* What PATCH /v1/members/{id} changes: a field is changed when its set_ flag is
 * true (to NULL = cleared); consents named in consents_mask get consents_value;
 * segments (stored text, rules/segments.h) replace the member's whole set. */
struct kp_member_patch {
	bool set_phone, set_email, set_name, set_birthday, set_external_id, set_segments;
	const char *phone, *email, *name, *birthday, *external_id, *segments;
	unsigned consents_mask, consents_value;
	int64_t key_id;
};

int kp_engine_member_update(struct kp_engine *e, const char *id, const struct kp_member_patch *p,
			    json_t **answer, struct kp_why *why);

/* Everything held about a member: personal data, cards, consent history, balance,
 * ledger history, purchases and bonuses. */
int kp_engine_member_export(struct kp_engine *e, const char *id, json_t **answer,
			    struct kp_why *why);

/* Erase personal data (name, phone, email, birthday, external id); the ledger stays. */
int kp_engine_member_erase(struct kp_engine *e, const char *id, int64_t key_id,
			   json_t **answer, struct kp_why *why);

/*
 * An event a shop reports (POST /v1/members/{id}/events): the bonus of the
 * program's rule for `type`, within its once / per_month limits
 * (KP_ELIMIT), idempotent by event_id (KP_EIDEMPOTENCY if reused with
 * another type). registration, birthday and referral are paid by Kopilka.
 */
int kp_engine_event(struct kp_engine *e, const char *id, const char *event_id, const char *type,
		    const char *hash, json_t **answer, int *status, struct kp_why *why);

/* A manual adjustment by an admin (±points, with a reason), audited. */
int kp_engine_adjust(struct kp_engine *e, const char *id, int64_t points, const char *reason,
		     const struct kp_idem *idem, int64_t key_id, json_t **answer, int *status,
		     struct kp_why *why);

/* ---- coupons and gift certificates (engine/instruments.c) ---- */

#define KP_MAX_BATCH 100000 /* coupons made by one batch request */

/* Issue a certificate of `amount` minor units (expires_at KP_NEVER = never). */
int kp_engine_certificate_issue(struct kp_engine *e, int64_t amount, int64_t expires_at,
				const char *partner, const struct kp_idem *idem, json_t **answer,
				int *status, struct kp_why *why);
int kp_engine_certificate_get(struct kp_engine *e, const char *code, json_t **answer,
			      struct kp_why *why);

/* Create one coupon (coupon->code set) or `count` coupons with random codes
 * starting with `prefix` (coupon->code ignored). */
int kp_engine_coupon_create(struct kp_engine *e, const struct kp_coupon_row *coupon,
			    const struct kp_idem *idem, int64_t key_id, json_t **answer,
			    int *status, struct kp_why *why);
int kp_engine_coupon_batch(struct kp_engine *e, const struct kp_coupon_row *coupon,
			   const char *prefix, int64_t count, const struct kp_idem *idem,
			   int64_t key_id, json_t **answer, int *status, struct kp_why *why);
int kp_engine_coupon_get(struct kp_engine *e, const char *code, json_t **answer,
			 struct kp_why *why);

/* ---- importing members (engine/import.c) ---- */

#define KP_IMPORT_MAX_BYTES (64 << 20) /* 64 MiB of CSV */
#define KP_IMPORT_MAX_ROWS 1000000

struct kp_import_report {
	int64_t rows;          /* data rows in the file */
	int64_t created;       /* members made */
	int64_t unchanged;     /* imported before with the same data: left as they are */
	int64_t points_loaded; /* points credited to the members made */
};

/*
 * Load members from another system's CSV (the format is docs/import.md) in
 * one writer job: every row is checked first, and any bad row loads nothing
 * (KP_EINVAL, "line N: <field>: <problem>" in why; KP_ETOOLARGE past the
 * limits above). A row whose external_id was imported before with the same
 * data is counted unchanged, so running the same file again is safe. Each
 * new member gets a card, a referral code, consent log entries (key id 0),
 * a tier, and their points as one lot from issuance (entry transfer, ref
 * "import"). csv need not be NUL-terminated; report is set on success.
 */
int kp_engine_import_members(struct kp_engine *e, const char *csv, size_t len,
			     struct kp_import_report *report, struct kp_why *why);

/* ---- purchases and refunds (engine/purchase.c, engine/refund.c) ---- */

enum kp_member_ref { KP_REF_NONE, KP_REF_MEMBER, KP_REF_CARD, KP_REF_PHONE };

struct kp_purchase_req {
	const char *receipt_id;     /* required for commit; optional for quote */
	enum kp_member_ref who;
	const char *who_value;      /* member id, card or normalised phone */
	const char *partner;        /* resolved by the caller; never NULL */
	enum kp_channel channel;
	const struct kp_line_in *lines;
	size_t n_lines;
	int64_t redeem_points;
	const char *const *coupons;
	size_t n_coupons;
	const char *const *certificates;
	size_t n_certificates;
	const char *hash;           /* hash of the canonical request body */
	bool hold;                  /* two-phase: reserve now, confirm or cancel later */
};

/* The answer of a quote and of a commit is JSON text (malloc'ed, the caller
 * frees it): what the HTTP layer sends, byte for byte, and what a repeated
 * commit of the receipt answers again. */
int kp_engine_purchase_quote(struct kp_engine *e, const struct kp_purchase_req *req,
			     char **answer, struct kp_why *why);

/* Commit; *replay is true when this receipt was already committed with this body. */
int kp_engine_purchase_commit(struct kp_engine *e, const struct kp_purchase_req *req,
			      char **answer, bool *replay, struct kp_why *why);

/* Told the outcome of an asynchronous commit: rc as kp_engine_purchase_commit
 * returns it, and on success the answer (the callee's to free) and replay. */
typedef void (*kp_commit_done)(void *arg, int rc, char *answer, bool replay);

/*
 * Commit without waiting for the writer: done is called exactly once, on
 * the writer thread once the purchase is durable (or failed), or before
 * this returns if the writer refuses it (KP_EBUSY: the queue is full).
 * req and why must stay valid until done is called; why is filled before.
 */
void kp_engine_purchase_commit_async(struct kp_engine *e, const struct kp_purchase_req *req,
				     struct kp_why *why, kp_commit_done done, void *arg);

/*
 * Two-phase purchases (engine/holds.c). A hold reserved the points to spend,
 * the coupons, the certificates' amounts, campaign budgets and stamps.
 * Confirm earns the points and counts the spend and tier exactly as a
 * one-step purchase; cancel gives every reservation back. Both are
 * idempotent; confirming a cancelled hold (or cancelling a confirmed one)
 * is KP_ECONFLICT, and so is either on a purchase that was never held.
 */
int kp_engine_purchase_confirm(struct kp_engine *e, const char *partner, const char *receipt_id,
			       json_t **answer, struct kp_why *why);
int kp_engine_purchase_cancel(struct kp_engine *e, const char *partner, const char *receipt_id,
			      json_t **answer, struct kp_why *why);

/* The committed purchase with its refunds. */
int kp_engine_purchase_get(struct kp_engine *e, const char *partner, const char *receipt_id,
			   json_t **answer, struct kp_why *why);

struct kp_refund_line {
	const char *sku;
	int64_t qty;
};

struct kp_refund_req {
	const char *partner;
	const char *receipt_id;
	const char *refund_id;
	const struct kp_refund_line *lines; /* NULL and 0 = the whole rest of the receipt */
	size_t n_lines;
	const char *hash;
};

int kp_engine_refund(struct kp_engine *e, const struct kp_refund_req *req, json_t **answer,
		     bool *replay, struct kp_why *why);

/* ---- scheduled jobs (engine/jobs.c) ---- */

struct kp_jobs_report {
	int64_t expired_points;      /* burnt at their expiry */
	int64_t activated_points;    /* pending → available at the end of the hold */
	int64_t reminders;           /* "points_expiring" events recorded */
	int64_t certificates_issued; /* by thresholds reached through activation */
	int64_t tier_reviews;        /* members reviewed (0 unless a review was due) */
	int64_t tier_downgrades;
	int64_t holds_released;      /* two-phase holds not confirmed in time */
	int64_t referrals_paid;      /* friends whose first purchase outlived its hold */
	int64_t birthday_bonuses;
};

/*
 * Run every job that is due at the engine's clock: expiry, activation of
 * pending points, expiry reminders (remind_days_before), thresholds reached
 * by activated points, and the tier review once per review period (monthly
 * or yearly, in the program's local time; the first run only records the
 * period). Every job is idempotent: running twice at the same clock does
 * nothing the second time. Work is done in writer jobs of a few hundred
 * members each, so purchases keep flowing meanwhile.
 */
int kp_engine_jobs_run(struct kp_engine *e, struct kp_jobs_report *out, struct kp_why *why);

/* The report as {"expired_points":N,…}. */
json_t *kp_jobs_report_json(const struct kp_jobs_report *r);

/* ---- verification (engine/verify.c) ---- */

/* Every ledger invariant over the whole database; report->problems == 0 when all hold. */
int kp_engine_verify(struct kp_engine *e, struct kp_verify_report *report);

/* Set why->text with printf formatting; returns err, so `return kp_why(why, err, …)`. */
int kp_why(struct kp_why *why, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif

/*
 * store.h — persistence behind one function table.
 *
 * A store is a database (an SQLite file today; PostgreSQL behind the same
 * table later). Work happens on connections: the engine's writer owns one
 * write connection and runs every change inside kp_store_begin/commit;
 * readers take their own connections and see the last committed state,
 * never waiting for the writer. A connection is used by one thread at a time.
 *
 * Rows travel as the caller-allocated structs below; strings in them are
 * fixed-size buffers, so a read allocates nothing the caller must free.
 * Text that can be long (stored answers, program documents) comes back as
 * malloc'ed strings that the caller frees, as each function says.
 *
 * Every function returns 0, KP_ENOTFOUND where a lookup finds nothing,
 * KP_ECONFLICT where a unique value is taken, KP_EBUSY where the database is
 * locked or full (a retry later may succeed), or KP_ESTORE.
 * The store never decides business rules; it never formats JSON.
 */
#ifndef KP_STORE_STORE_H
#define KP_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger/ledger.h"
#include "rules/rules.h" /* enum kp_coupon_kind */
#include "rules/segments.h"
#include "store/sql.h"

struct kp_conn; /* one connection, opaque */

#define KP_PHONE_MAX 16
#define KP_CARD_MAX 20
#define KP_EMAIL_MAX 254
#define KP_PERSON_NAME_MAX 200
#define KP_EXTERNAL_ID_MAX 100
#define KP_REFERRAL_MAX 32
#define KP_RECEIPT_MAX 64
#define KP_PARTNER_MAX 64
#define KP_SKU_MAX 200
#define KP_HASH_HEX 65 /* 32 bytes as hex + NUL */

enum kp_consent {
	KP_CONSENT_PERSONAL_DATA = 1 << 0,
	KP_CONSENT_EMAIL = 1 << 1,
	KP_CONSENT_SMS = 1 << 2,
	KP_CONSENT_PUSH = 1 << 3,
};

struct kp_member_row {
	int64_t id;
	char card[KP_CARD_MAX + 1];
	char phone[KP_PHONE_MAX + 1];         /* "" = none (or erased) */
	char email[KP_EMAIL_MAX + 1];
	char name[KP_PERSON_NAME_MAX + 1];
	char birthday[11];                    /* "YYYY-MM-DD" or "" */
	char external_id[KP_EXTERNAL_ID_MAX + 1];
	char referral_code[KP_REFERRAL_MAX + 1];
	int64_t referred_by;                  /* member id, 0 = none */
	unsigned consents;                    /* enum kp_consent bits */
	int64_t created_at;
	int64_t available, pending, debt;     /* ledger balances */
	char tier[201];                       /* tier name; "" = none yet */
	int64_t tier_since;
	int64_t lifetime_spend;               /* after-discount spend less refunds */
	int64_t erased_at;                    /* 0 = personal data held */
	char segments[KP_SEGMENTS_TEXT_MAX + 1]; /* stored text, "" = none (rules/segments.h) */
};

enum kp_card_status { KP_CARD_ACTIVE = 0, KP_CARD_BLOCKED = 1 };

struct kp_card_row {
	char card[KP_CARD_MAX + 1];
	int64_t member_id;
	enum kp_card_status status;
	int64_t issued_at, blocked_at;
};


struct kp_coupon_row {
	char code[65];
	enum kp_coupon_kind kind;
	int64_t value;        /* basis points, minor units or points by kind */
	int64_t max_uses;     /* 0 = unlimited */
	int64_t per_member;   /* 0 = unlimited */
	int64_t valid_from;   /* INT64_MIN = always */
	int64_t valid_to;     /* INT64_MAX = never ends (exclusive) */
	int64_t min_subtotal;
	int64_t member_id;    /* personal code: only this member; 0 = anyone */
	int64_t uses;         /* counted uses (not released) */
	char batch[65];
	int64_t created_at;
};

struct kp_certificate_row {
	char code[65];
	int64_t amount, balance;
	int64_t member_id;  /* 0 = bearer */
	char source[16];    /* "issued", "threshold" */
	char partner[KP_PARTNER_MAX + 1];
	int64_t issued_at;
	int64_t expires_at; /* KP_NEVER = never */
};

/* One certificate's part in a purchase: what it paid less what refunds returned. */
struct kp_certificate_use {
	char code[65];
	int64_t paid;     /* > 0 */
	int64_t returned; /* ≥ 0 */
};

struct kp_referral_row {
	int64_t referee_id, referrer_id, purchase_id, due_at;
	char status[12]; /* "waiting", "due", "paid", "cancelled" */
};

enum kp_member_key {
	KP_MEMBER_BY_ID,
	KP_MEMBER_BY_PHONE,
	KP_MEMBER_BY_CARD,
	KP_MEMBER_BY_EXTERNAL,
	KP_MEMBER_BY_REFERRAL,
};

struct kp_key_row {
	int64_t id;
	char hash[KP_HASH_HEX];
	char role[16];
	char partner[KP_PARTNER_MAX + 1]; /* "" for admin and readonly keys */
	int64_t created_at;
	int64_t revoked_at; /* 0 = active */
};

struct kp_purchase_row {
	int64_t id;
	char partner[KP_PARTNER_MAX + 1];
	char receipt_id[KP_RECEIPT_MAX + 1];
	int64_t member_id; /* 0 = anonymous */
	int64_t program_version;
	int64_t at;
	char request_hash[KP_HASH_HEX];
	int64_t subtotal, discount, points_redeemed, certificates, to_pay, points_earned;
	int64_t earn_lot_id; /* 0 = none */
	int64_t spend;       /* after-discount total less refunds */
	char status[16];     /* on insert: "committed" ("" too) or "held" */
	int64_t hold_expires_at; /* held: when the hold lapses */
};

struct kp_purchase_line_row {
	int64_t line_no;
	char sku[KP_SKU_MAX + 1];
	char category[KP_SKU_MAX + 1];
	int64_t qty, price, amount, discount, points, certificates, paid, earned;
	int64_t refunded_qty;
	char stamp_card[65]; /* the stamp card its units counted on; "" = none */
	int64_t free_units;
};

struct kp_refund_row {
	int64_t id;
	char partner[KP_PARTNER_MAX + 1];
	char refund_id[KP_RECEIPT_MAX + 1];
	int64_t purchase_id;
	int64_t at;
	char request_hash[KP_HASH_HEX];
	int64_t money_refund, points_reversed, points_returned;
	int64_t spend; /* after-discount value refunded */
};

/* A partner of a coalition. */
struct kp_partner_row {
	char id[KP_PARTNER_MAX + 1];
	char name[201];
	bool active;
	int64_t earn_percent_bp; /* its own base earn rate; −1 = the program's earn.percent */
	int64_t accrual_cost;    /* minor units it owes per point issued; −1 = point_value */
	int64_t created_at;
};

/* One receipt's point movements in a settlement period (store op settlement). */
struct kp_settlement_row {
	char partner[KP_PARTNER_MAX + 1];
	char receipt_id[KP_RECEIPT_MAX + 1];
	int64_t at;       /* the purchase's time */
	int64_t issued;   /* issuance → member less member → issuance (may be < 0) */
	int64_t redeemed; /* member → redeemed less redeemed → member (may be < 0) */
};

/* What one fund got in a period (store op charity). */
struct kp_charity_row {
	char fund[KP_RECEIPT_MAX + 1]; /* the fund id (the transfers' ref without "fund:") */
	int64_t donated;               /* from members' accounts */
	int64_t campaigns;             /* from issuance, by charity campaigns */
};

/* One entry of the audit log; details is JSON text, valid during the callback. */
struct kp_audit_row {
	int64_t id, at, key_id; /* key_id 0 = none (the command line) */
	char action[64];
	char target[201];
	const char *details;
};

/* A posting as stored: the ledger posting plus what it belongs to. */
struct kp_transfer_row {
	int64_t id; /* assigned on insert */
	int64_t at;
	int64_t member_id;   /* 0 = program accounts only */
	struct kp_posting posting;
	int64_t purchase_id; /* 0 = none */
	int64_t refund_id;   /* 0 = none */
	char ref[KP_RECEIPT_MAX + 1];
};

/* One entry of a member's history (see docs/api.md). */
struct kp_history_row {
	int64_t id;
	int64_t at;
	enum kp_entry entry;
	enum kp_account from, to;
	int64_t points;
	char ref[KP_RECEIPT_MAX + 1];
};

/* A lot a purchase spent from, with what was spent and already given back. */
struct kp_spent_lot {
	int64_t lot_id;
	int64_t spent;
	int64_t returned;
	int64_t expires_at;
};

/* Findings of kp_store ops->verify; totals over the whole ledger. */
struct kp_verify_report {
	int64_t members, transfers, lots, purchases;
	int64_t problems;          /* how many invariants failed */
	char first_problem[512];   /* the first one, readable */
};

/* The write-ahead log's bound (bound_log), and its file's size once reset.
 * Each time it is reached the writer pauses to copy and sync what the
 * background checkpoint has not yet: 25–90 ms (measured) until the
 * checkpoint came to sync the database file itself near the bound
 * (checkpoint), 10–28 ms since at 4,500 purchases/s (up to 81 ms at the
 * maximum rate). 1 GiB makes that once in ~15 s at ~3,000
 * purchases/s of ~25 KB of log each, and every ~4 s at 4,500/s in small
 * batches (~70 KB each). */
#define KP_WAL_LIMIT_BYTES (1024 * 1024 * 1024)

struct kp_store_ops {
	const char *name; /* "sqlite" */

	/* Transactions. begin takes the write lock at once (SQLite: IMMEDIATE). */
	int (*begin)(struct kp_conn *c);
	int (*commit)(struct kp_conn *c);
	int (*rollback)(struct kp_conn *c);
	int (*savepoint)(struct kp_conn *c);    /* nested: one level is enough */
	int (*release)(struct kp_conn *c);
	int (*rollback_to)(struct kp_conn *c);
	/* Make this connection the engine's writer: commits no longer checkpoint
	 * (a commit must not wait for one); checkpoint() does it, from elsewhere.
	 * With sync_log (below) its commits are no longer durable by themselves. */
	int (*writer_mode)(struct kp_conn *c);
	/*
	 * Make every transaction committed on the writer connection so far
	 * durable (SQLite: fdatasync of the WAL). NULL when the store's commit is
	 * durable by itself (PostgreSQL). Called from another thread than the one
	 * running transactions on the connection, while it runs them: it touches
	 * no statement of the connection. So the writer computes its next batch
	 * while the last one reaches the disk, and answers a batch only after a
	 * sync_log that began after its commit (writer.h). 0, or KP_ESTORE.
	 */
	int (*sync_log)(struct kp_conn *c);
	/*
	 * Copy committed pages into the database file without blocking anyone,
	 * and start the kernel writing them to the disk (without waiting).
	 * limit_bytes is the writer's bound (bound_log): once the log is within a
	 * sixteenth of it, each call that found new pages also syncs the
	 * database file, so that the writer's own copy at the bound, which every
	 * purchase waits for, finds only the last few pages to copy and sync;
	 * past it (up to twice it) a few calls do nothing, leaving the copy to
	 * the writer. *again: call again at once (much was committed meanwhile,
	 * or the log is that close to its bound).
	 */
	int (*checkpoint)(struct kp_conn *c, int64_t limit_bytes, bool *again);
	/*
	 * The writer, between batches: if the log of committed pages not yet in
	 * the database file (SQLite's WAL) has grown past limit_bytes, copy it
	 * all so that the next commit starts it again (past twice the bound,
	 * waiting briefly for readers of old pages). Under a steady stream of
	 * commits the background checkpoint never catches up with the writer,
	 * and the log would grow until the disk is full (seen: 73 GB in 20
	 * minutes of bench/gen). 0, or the error.
	 */
	int (*bound_log)(struct kp_conn *c, int64_t limit_bytes);
	/* Whether a transaction is open: SQLite may roll one back by itself (a full
	 * disk, an I/O error), and a batch must not go on outside it. */
	bool (*in_transaction)(struct kp_conn *c);
	/* Rows written on this connection so far, a count that only grows; or
	 * -1 when the store cannot tell (the writer then gives every job a
	 * savepoint of its own). NULL = cannot tell. */
	int64_t (*changes)(struct kp_conn *c);
	/* A read-only transaction: every read until rollback sees one snapshot. */
	int (*read_begin)(struct kp_conn *c);

	/* Programs. *doc is malloc'ed; the caller frees it. version 0 = latest. */
	int (*program_insert)(struct kp_conn *c, const char *doc, int64_t now, int64_t *version);
	int (*program_get)(struct kp_conn *c, int64_t version, int64_t *version_out, char **doc);

	/* Partners and keys. */
	int (*partner_insert)(struct kp_conn *c, const char *id, const char *name, int64_t now);
	int (*partner_exists)(struct kp_conn *c, const char *id);  /* 0 or KP_ENOTFOUND */
	int (*key_insert)(struct kp_conn *c, struct kp_key_row *key); /* sets key->id */
	int (*key_find)(struct kp_conn *c, const char *hash, struct kp_key_row *out);

	/* Members. insert sets m->id. */
	int (*member_insert)(struct kp_conn *c, struct kp_member_row *m);
	int (*member_get)(struct kp_conn *c, enum kp_member_key by, const char *value,
			  struct kp_member_row *out);
	int (*member_get_id)(struct kp_conn *c, int64_t id, struct kp_member_row *out);
	/* Member ids greater than after_id, ascending, at most cap. */
	int (*member_ids)(struct kp_conn *c, int64_t after_id, int64_t *ids, size_t cap,
			  size_t *n);
	int (*member_set_balances)(struct kp_conn *c, int64_t id, int64_t available,
				   int64_t pending, int64_t debt);

	/*
	 * Lots. lots_open appends to the caller's array (*n ≤ cap) the member's
	 * lots with remaining > 0, and the lots named in extra[] whatever their
	 * remaining; KP_ETOOLARGE if they do not fit. lot_next_id gives an id
	 * for a new lot (unique for this database).
	 */
	int (*lots_load)(struct kp_conn *c, int64_t member_id, const int64_t *extra,
			 size_t n_extra, struct kp_lot *lots, size_t cap, size_t *n);
	int (*lots_count_open)(struct kp_conn *c, int64_t member_id, size_t *n);
	int (*lot_next_id)(struct kp_conn *c, int64_t *id);
	int (*lot_insert)(struct kp_conn *c, int64_t member_id, const struct kp_lot *lot,
			  int64_t now);
	int (*lot_update)(struct kp_conn *c, const struct kp_lot *lot);

	/* Ledger postings. insert sets t->id. */
	int (*transfer_insert)(struct kp_conn *c, struct kp_transfer_row *t);
	/* A member's history, newest first, ids < before_id (0 = from the newest). */
	int (*history)(struct kp_conn *c, int64_t member_id, int64_t before_id,
		       struct kp_history_row *rows, size_t cap, size_t *n);
	/* The lots a purchase spent from, in the order they were spent. */
	int (*purchase_spent_lots)(struct kp_conn *c, int64_t purchase_id,
				   struct kp_spent_lot *out, size_t cap, size_t *n);

	/* Purchases. *answer is malloc'ed; the caller frees it. insert keeps p->id
	 * when it is set (from purchase_next_id), so the rows that refer to a
	 * purchase can be written first; foreign keys are checked at commit.
	 * A purchase's lines live in its row (store/lines_json.h): insert writes
	 * them, purchase_lines reads them back (from purchase_lines rows for a
	 * purchase stored before migration 0011), and purchase_set_lines writes
	 * them into the row again, a refund's refunded_qty with them, deleting
	 * such rows. */
	int (*purchase_next_id)(struct kp_conn *c, int64_t *id);
	int (*purchase_find)(struct kp_conn *c, const char *partner, const char *receipt_id,
			     struct kp_purchase_row *out, char **answer);
	int (*purchase_insert)(struct kp_conn *c, struct kp_purchase_row *p,
			       const struct kp_purchase_line_row *lines, size_t n_lines,
			       const char *answer);
	int (*purchase_set_answer)(struct kp_conn *c, int64_t id, const char *answer);
	int (*purchase_lines)(struct kp_conn *c, int64_t purchase_id,
			      struct kp_purchase_line_row *out, size_t cap, size_t *n);
	int (*purchase_set_lines)(struct kp_conn *c, int64_t purchase_id,
				  const struct kp_purchase_line_row *lines, size_t n);
	/* The answers of a purchase's refunds, oldest first, as one JSON array text. */
	int (*purchase_refunds_json)(struct kp_conn *c, int64_t purchase_id, char **json);

	/* Refunds. *answer is malloc'ed; the caller frees it. */
	int (*refund_find)(struct kp_conn *c, const char *partner, const char *refund_id,
			   struct kp_refund_row *out, char **answer);
	int (*refund_insert)(struct kp_conn *c, struct kp_refund_row *r, const char *answer);

	/* Answers kept for the Idempotency-Key header. *answer is malloc'ed. */
	int (*idem_find)(struct kp_conn *c, const char *scope, const char *key,
			 char hash_out[KP_HASH_HEX], int *status, char **answer);
	int (*idem_insert)(struct kp_conn *c, const char *scope, const char *key,
			   const char *hash, int status, const char *answer, int64_t now);

	/* Tiers and spend. */
	int (*member_set_tier)(struct kp_conn *c, int64_t id, const char *tier, int64_t since);
	int (*member_add_spend)(struct kp_conn *c, int64_t id, int64_t delta);
	/* Σ spend of the member's purchases at or after `since`. */
	int (*member_spend_since)(struct kp_conn *c, int64_t id, int64_t since, int64_t *spend);
	int (*purchase_add_spend)(struct kp_conn *c, int64_t purchase_id, int64_t delta);

	/* Stamp cards: a missing row is a count of 0. */
	int (*stamp_get)(struct kp_conn *c, int64_t member_id, const char *card, int64_t *count);
	int (*stamp_set)(struct kp_conn *c, int64_t member_id, const char *card, int64_t count);

	/* Campaign budgets: points given out so far (0 if none). */
	int (*budget_spent)(struct kp_conn *c, const char *campaign, int64_t *spent);
	int (*budget_add)(struct kp_conn *c, const char *campaign, int64_t points);

	/* Gift certificates. */
	int (*certificate_insert)(struct kp_conn *c, const char *code, int64_t amount,
				  int64_t member_id, const char *source, int64_t now);

	/* Events: KP_ECONFLICT when (kind, ref) was recorded before. */
	int (*event_insert)(struct kp_conn *c, int64_t member_id, const char *kind,
			    const char *ref, const char *payload, int64_t now);

	/* Jobs. The members (id > after_id, ascending, at most cap) that have a
	 * lot with points left that expires by remind_until or is pending with
	 * available_at ≤ now. */
	int (*members_with_due_lots)(struct kp_conn *c, int64_t now, int64_t remind_until,
				     int64_t after_id, int64_t *ids, size_t cap, size_t *n);
	/* A job's recorded text ("" if none): the last period it ran for, or the
	 * tier review's progress (engine/jobs.c); and record one. On PostgreSQL
	 * both take the job's advisory lock in a write transaction, held to its
	 * end, so a read and the write after it are one step among processes. */
	int (*job_period_get)(struct kp_conn *c, const char *job, char *period, size_t cap);
	int (*job_period_set)(struct kp_conn *c, const char *job, const char *period);

	/* Cards. card_get: KP_ENOTFOUND for a card never issued. */
	int (*card_insert)(struct kp_conn *c, const char *card, int64_t member_id, int64_t now);
	int (*card_get)(struct kp_conn *c, const char *card, struct kp_card_row *out);
	int (*card_block)(struct kp_conn *c, const char *card, int64_t now);
	/* The member's current card (members.card). */
	int (*member_set_card)(struct kp_conn *c, int64_t member_id, const char *card);

	/* Personal data and consents. update writes phone, email, name, birthday,
	 * external_id and consents from m; erase clears the personal fields. */
	int (*member_update)(struct kp_conn *c, const struct kp_member_row *m);
	int (*member_erase)(struct kp_conn *c, int64_t member_id, int64_t now);
	int (*consent_log)(struct kp_conn *c, int64_t member_id, const char *consent, bool granted,
			   int64_t now, int64_t key_id);
	/* The consent history and a member's cards as JSON array texts (malloc'ed). */
	int (*consent_history_json)(struct kp_conn *c, int64_t member_id, char **json);
	int (*member_cards_json)(struct kp_conn *c, int64_t member_id, char **json);

	/* One-off bonuses. bonus_find: the stored answer of an event id (malloc'ed). */
	int (*bonus_find)(struct kp_conn *c, int64_t member_id, const char *event_id,
			  char hash_out[KP_HASH_HEX], char **answer);
	int (*bonus_insert)(struct kp_conn *c, int64_t member_id, const char *type,
			    const char *event_id, int64_t points, int64_t now, const char *hash,
			    const char *answer);
	/* How many bonuses of a type the member got at or after `since`. */
	int (*bonus_count)(struct kp_conn *c, int64_t member_id, const char *type, int64_t since,
			   int64_t *n);

	/* Referrals. */
	int (*referral_insert)(struct kp_conn *c, int64_t referee_id, int64_t referrer_id);
	int (*referral_get)(struct kp_conn *c, int64_t referee_id, struct kp_referral_row *out);
	int (*referral_update)(struct kp_conn *c, const struct kp_referral_row *r);
	/* Referees whose referral is due by `now`, id > after, ascending. */
	int (*referrals_due)(struct kp_conn *c, int64_t now, int64_t after, int64_t *ids,
			     size_t cap, size_t *n);

	/* Members (id > after, ascending) born on one of the "MM-DD" days given, not erased. */
	int (*members_born_on)(struct kp_conn *c, const char *mmdd1, const char *mmdd2,
			       int64_t after, int64_t *ids, size_t cap, size_t *n);

	/* Coupons. coupon_insert: KP_ECONFLICT for a code that exists. */
	int (*coupon_insert)(struct kp_conn *c, const struct kp_coupon_row *coupon);
	int (*coupon_get)(struct kp_conn *c, const char *code, struct kp_coupon_row *out);
	/* Uses of code by member that stand (not released). */
	int (*coupon_member_uses)(struct kp_conn *c, const char *code, int64_t member_id,
				  int64_t *n);
	int (*coupon_use)(struct kp_conn *c, const char *code, int64_t purchase_id,
			  int64_t member_id, int64_t now);
	/* Give back the uses of a purchase (a full refund, a cancelled hold). */
	int (*coupon_release_purchase)(struct kp_conn *c, int64_t purchase_id);

	/* Gift certificates. move: balance += amount (−: pays, +: returned). */
	int (*certificate_get)(struct kp_conn *c, const char *code,
			       struct kp_certificate_row *out);
	int (*certificate_issue)(struct kp_conn *c, const struct kp_certificate_row *cert);
	int (*certificate_move)(struct kp_conn *c, const char *code, int64_t purchase_id,
				int64_t refund_id, int64_t amount, int64_t now);
	/* The certificates a purchase used, in the order they paid. */
	int (*certificate_uses)(struct kp_conn *c, int64_t purchase_id,
				struct kp_certificate_use *out, size_t cap, size_t *n);

	/* Two-phase purchases. */
	int (*purchase_set_status)(struct kp_conn *c, int64_t purchase_id, const char *status);
	int (*purchase_status)(struct kp_conn *c, int64_t purchase_id, char status[16],
			       int64_t *hold_expires_at);
	int (*purchase_set_earn_lot)(struct kp_conn *c, int64_t purchase_id, int64_t lot_id);
	/* Held purchases whose hold expired by now: ids > after, ascending. */
	int (*holds_expired)(struct kp_conn *c, int64_t now, int64_t after, int64_t *ids,
			     size_t cap, size_t *n);
	int (*purchase_by_id)(struct kp_conn *c, int64_t id, struct kp_purchase_row *out,
			      char **answer);

	/* The audit log of admin changes. */
	int (*audit)(struct kp_conn *c, int64_t key_id, const char *action, const char *target,
		     const char *details, int64_t now);

	/* ---- coalitions and charity (sqlite_reports.c) ---- */
	int (*partner_get)(struct kp_conn *c, const char *id, struct kp_partner_row *out);
	/* Write name, active, earn_percent_bp and accrual_cost of an existing partner. */
	int (*partner_update)(struct kp_conn *c, const struct kp_partner_row *p);
	/* Every partner, by id, at most cap (KP_ETOOLARGE beyond). */
	int (*partners_list)(struct kp_conn *c, struct kp_partner_row *out, size_t cap, size_t *n);
	int (*key_get_id)(struct kp_conn *c, int64_t id, struct kp_key_row *out);
	/* Set revoked_at unless already set (then nothing changes). */
	int (*key_revoke)(struct kp_conn *c, int64_t id, int64_t now);
	/* Keys with id > after_id, ascending, at most cap. */
	int (*keys_list)(struct kp_conn *c, int64_t after_id, struct kp_key_row *out, size_t cap,
			 size_t *n);
	/* 0 when a purchase with this receipt id exists at a partner other than
	 * `partner`, KP_ENOTFOUND when not. */
	int (*receipt_elsewhere)(struct kp_conn *c, const char *partner, const char *receipt_id);
	/* Per receipt, the movements of its purchase-linked transfers with from ≤ at < to,
	 * ordered by partner and purchase; fn's non-zero return stops and is returned. */
	int (*settlement)(struct kp_conn *c, int64_t from, int64_t to,
			  int (*fn)(void *arg, const struct kp_settlement_row *row), void *arg);
	/* Per fund, the points it got with from ≤ at < to, by fund id. */
	int (*charity)(struct kp_conn *c, int64_t from, int64_t to,
		       int (*fn)(void *arg, const struct kp_charity_row *row), void *arg);
	/* Audit entries with id < before_id (0 = from the newest), newest first, at most limit. */
	int (*audit_list)(struct kp_conn *c, int64_t before_id, size_t limit,
			  int (*fn)(void *arg, const struct kp_audit_row *row), void *arg);

	/* Run statement id (store/sql.h) with n_params (≤ 4) integer parameters; it
	 * returns one row of n_out (≤ 8) integers (NULL = 0). For the reports. */
	int (*ints)(struct kp_conn *c, enum kp_sql id, const int64_t *params, size_t n_params,
		    int64_t *out, size_t n_out);

	/* Check every ledger invariant over the whole database (docs/architecture.md). */
	int (*verify)(struct kp_conn *c, struct kp_verify_report *report);

	void (*close)(struct kp_conn *c);
};

/* Every connection starts with a pointer to its implementation's table. */
struct kp_conn {
	const struct kp_store_ops *ops;
};

/*
 * Open a connection to the database at `uri` (a file path for SQLite),
 * creating it and applying every migration not applied yet when `create`
 * is true. Returns 0 and *out (free with (*out)->ops->close), or an error
 * with a message in err.
 */
int kp_store_open(const char *uri, bool create, struct kp_conn **out, char *err, size_t errlen);

/*
 * An online backup of the database at db into the file `to` (store/
 * sqlite_backup.c): a copy of one committed state, taken while a server
 * may be writing, which it does not stop. `to` is replaced only when the
 * copy is complete and on disk. Returns 0, KP_ENOTFOUND (no database),
 * KP_EINVAL (to is db itself), KP_EBUSY (disk full, I/O error) or
 * KP_ESTORE, with a message in err.
 */
int kp_store_backup(const char *db, const char *to, char *err, size_t errlen);

#endif

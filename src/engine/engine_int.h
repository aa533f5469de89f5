/*
 * engine_int.h — the engine's state and helpers shared by src/engine/ files.
 * Not for use outside src/engine/.
 */
#ifndef KP_ENGINE_ENGINE_INT_H
#define KP_ENGINE_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/engine.h"
#include "engine/ticker.h"
#include "engine/writer.h"

#define MAX_PROGRAM_VERSIONS 4096

/* A pool of reader connections; a reader is used by one thread at a time. */
struct reader_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct kp_conn **idle; /* stack of idle connections */
	size_t n_idle, n_open, max;
};

struct kp_engine {
	char *db;
	bool test_clock;
	_Atomic int64_t clock;       /* test clock; INT64_MIN = use the wall clock */
	struct kp_writer *writer;
	struct reader_pool readers;

	/* The checkpointer: copies the WAL into the database off the commit path,
	 * on a connection of its own (NULL: none could be opened). */
	struct kp_ticker checkpointer;
	struct kp_conn *checkpoint_conn;

	/* The program watcher: makes current a version another process stored. */
	struct kp_ticker program_watcher;
	int64_t program_refused; /* the newest version, when it did not compile (watcher only) */

	/* Points moved by purchases committed in this process, for /metrics. */
	_Atomic uint64_t points_issued, points_redeemed;

	/* Recently seen API keys: hash → principal, for a few seconds. */
	struct key_cache *keys;

	/* Compiled programs by version, loaded on first use, kept until close. */
	pthread_mutex_t programs_lock;
	struct kp_program *programs[MAX_PROGRAM_VERSIONS + 1];
	_Atomic int64_t current_version; /* 0 = no program */
};

/* The API key cache (keys.c). */
struct key_cache *key_cache_new(void);
void key_cache_free(struct key_cache *k);
/* Forget every cached key: a revoked key or a deactivated partner counts at once. */
void key_cache_clear(struct key_cache *k);

/* Record an admin change in the audit log, inside the caller's job (audit.c).
 * details (owned, may be NULL = {}) is stored as canonical JSON text. */
int audit_write(struct kp_conn *c, int64_t key_id, const char *action, const char *target,
		json_t *details, int64_t now);

/*
 * The charity campaigns of a purchase (charity.c): what each fund gets from
 * the charity_percent campaigns that match, as *funds = {"<fund>": points}
 * (NULL when nothing; the answer's "charity_points"), and unless the
 * purchase is a hold it is given at once (charity_give). result is the
 * purchase's evaluation; tier is the member's tier index or −1, segments
 * the member's stored segments (rules/segments.h) or NULL.
 */
int charity_on_purchase(struct kp_conn *c, const struct kp_program *p,
			const struct kp_purchase_req *req, int tier, const char *segments,
			const struct kp_result *result, int64_t purchase_id, int64_t now,
			json_t **funds);
/* Give what an answer's "charity_points" says (a confirmed hold): from issuance
 * to each fund, entry transfer, ref "fund:<id>", tied to purchase_id. */
int charity_give(struct kp_conn *c, const json_t *answer, int64_t purchase_id, int64_t now);

/* Borrow a reader connection (blocks while all are busy). */
int reader_acquire(struct kp_engine *e, struct kp_conn **out);
void reader_release(struct kp_engine *e, struct kp_conn *c);
/* The same in a read transaction: every read until the release sees one
 * commit, never part of the next (an answer built from several reads). */
int snapshot_acquire(struct kp_engine *e, struct kp_conn **out);
void snapshot_release(struct kp_engine *e, struct kp_conn *c);

/* A member, their balance, a page of their history, read on c (the public
 * kp_engine_member_* take a connection of their own; export reads all three
 * and more in one snapshot). */
int member_get_on(struct kp_conn *c, enum kp_member_key by, const char *value, json_t **answer,
		  struct kp_why *why);
int member_balance_on(struct kp_engine *e, struct kp_conn *c, const char *id, json_t **answer,
		      struct kp_why *why);
int member_history_on(struct kp_conn *c, const char *id, const char *cursor, size_t limit,
		      json_t **answer, struct kp_why *why);

/* The canonical JSON text of v, for hashing and storing; malloc'ed. */
char *json_text(const json_t *v);

/* Parse a stored answer; NULL only when out of memory or the text is corrupt. */
json_t *json_parse_stored(const char *text);

/* Log consents that differ between before and after (all of them when `all`). */
int log_consents(struct kp_conn *c, int64_t member_id, unsigned before, unsigned after,
		 int64_t now, int64_t key_id, bool all);

/* A new random card number (13 digits, Luhn check digit). */
void kp_card_new(char card[KP_CARD_MAX + 1]);

/* A list cursor from the API: NULL or "" = the start (0); else the id it names. */
int parse_cursor(const char *cursor, int64_t *id, struct kp_why *why);

/* A page of a list: {"items": items, "next_cursor": "<last_id>" if more, else null}.
 * Takes items (NULL: out of memory). */
json_t *list_page(json_t *items, bool more, int64_t last_id);

/* A member as the API shows it. */
json_t *member_json(const struct kp_member_row *m);

/* Member id as the API shows it. */
void member_id_text(int64_t id, char buf[24]);

/* {"available":…,"pending":…} of a member's balances (available + debt). */
json_t *balance_json(int64_t available, int64_t pending, int64_t debt);

/* Load a member's open lots (and the extra ones) into a malloc'ed array with
 * room for `spare` more; the caller frees m->lots. */
int load_member_points(struct kp_conn *c, const struct kp_member_row *row,
		       const int64_t *extra, size_t n_extra, size_t spare,
		       struct kp_member_points *m);

/*
 * Persist what the ledger planned for a member: postings as transfers
 * (tied to purchase_id/refund_id and labelled ref), new and changed lots,
 * and the member's balances. Clears the lots' created/changed flags and
 * empties the plan, so the member can be planned and persisted again.
 */
struct posting_ctx {
	int64_t member_id, purchase_id, refund_id, now;
	const char *ref;
};
int persist_plan(struct kp_conn *c, const struct posting_ctx *ctx, struct kp_member_points *m,
		 struct kp_plan *plan);

/*
 * The kept answer for idem: 0 and *answer and *status when this key was used
 * with this body, KP_EIDEMPOTENCY with another body, KP_ENOTFOUND if unused.
 */
int idem_replay(struct kp_conn *c, const struct kp_idem *idem, json_t **answer, int *status,
		struct kp_why *why);
/* Keep the answer for idem (in the same job as the work it answers). */
int idem_keep(struct kp_conn *c, const struct kp_idem *idem, int status, const json_t *answer,
	      int64_t now);

/* The lots a purchase spent from (malloc'ed into *out, which may grow). */
int load_spent(struct kp_conn *c, int64_t purchase_id, struct kp_spent_lot **out, size_t *n);
/* Returns of `points` to the lots spent from, latest-expiring first. */
size_t plan_returns(const struct kp_spent_lot *spent, size_t n_spent, int64_t points,
		    struct kp_lot_return *out);

/* Cancel every hold whose time ran out by now; adds how many to *count. */
int release_expired_holds(struct kp_engine *e, int64_t now, int64_t *count);

/* Resolve a member reference on connection c (a blocked card: KP_ECARDBLOCKED). */
int find_member(struct kp_conn *c, enum kp_member_ref who, const char *value,
		struct kp_member_row *out, struct kp_why *why);

/*
 * The writer may run a job again (writer.h; PostgreSQL: its batch lost a
 * race, and every job of it runs again): a job that answers with JSON starts
 * by dropping what an earlier run answered.
 */
static inline void job_answer_drop(json_t **answer)
{
	json_decref(*answer);
	*answer = NULL;
}

#endif

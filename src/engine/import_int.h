/*
 * import_int.h — the rows of a member import, between parsing (import_parse.c,
 * pure: no database, no clock) and writing (import.c, on the writer).
 * Not for use outside src/engine/.
 *
 * A parsed row has passed every check that needs only the file and the
 * program: known columns, the field count, each value's form and limits,
 * and no external_id, phone or card repeated in the file.
 */
#ifndef KP_ENGINE_IMPORT_INT_H
#define KP_ENGINE_IMPORT_INT_H

#include "engine/engine_int.h"
#include "util/phone.h"

struct import_row {
	int64_t line;            /* where the record starts in the file */
	/* Text fields point into the rows' arena; NULL = not given (empty). */
	const char *external_id; /* never NULL */
	const char *email, *name, *birthday, *card;
	char phone[KP_PHONE_E164_MAX + 1]; /* E.164, "" = none */
	unsigned consents;       /* enum kp_consent bits; personal data always set */
	int tier;                /* index of the program's tiers; −1 = none */
	bool tier_given;         /* from the tier column (else from lifetime_spend) */
	bool expires_given;      /* points_expire_at given (else the program's default) */
	bool unchanged;          /* set by the writer: imported before with the same data */
	int64_t points;          /* 0 … KP_IMPORT_MAX_POINTS */
	int64_t expires_at;      /* when expires_given */
	int64_t lifetime_spend;  /* 0 … KP_IMPORT_MAX_SPEND */
};

struct import_rows {
	struct import_row *rows; /* malloc'ed */
	size_t n;
	char *arena;             /* malloc'ed: every field's text, len + 1 bytes */
};

#define KP_IMPORT_MAX_POINTS 1000000000000LL   /* 10^12, as redeem_points */
#define KP_IMPORT_MAX_SPEND 1000000000000000LL /* 10^15 minor units */

/*
 * Parse and check a whole file. Returns 0 and *out (release it with
 * import_rows_release), or KP_EINVAL / KP_ETOOLARGE with "line N: <field>:
 * <problem>" in why for the first problem, or KP_ENOMEM.
 */
int import_parse(const struct kp_program *p, const char *csv, size_t len,
		 struct import_rows *out, struct kp_why *why);
void import_rows_release(struct import_rows *rows);

#endif

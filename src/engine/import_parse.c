/*
 * import_parse.c — step 1 of a member import: the CSV file into checked rows.
 *
 * Pure: it reads the buffer and the program, never the database or the
 * clock. Every message names the line and the column, as docs/import.md
 * promises: "line 7: phone: not a phone number". Text must be UTF-8 without
 * control characters, because it ends up in JSON answers and on receipts.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/import_int.h"
#include "util/csv.h"
#include "util/error.h"
#include "util/timeutil.h"

#define FIELD_MAX 1024 /* bytes of one field; longer is an error, whatever the column */

enum column {
	COL_EXTERNAL_ID, COL_PHONE, COL_EMAIL, COL_NAME, COL_BIRTHDAY, COL_CONSENT_PD,
	COL_CONSENT_EMAIL, COL_CONSENT_SMS, COL_CONSENT_PUSH, COL_POINTS, COL_EXPIRE_AT,
	COL_TIER, COL_LIFETIME_SPEND, COL_CARD, N_COLUMNS
};

static const char *const column_names[N_COLUMNS] = {
	"external_id", "phone", "email", "name", "birthday", "consent_personal_data",
	"consent_email", "consent_sms", "consent_push", "points", "points_expire_at", "tier",
	"lifetime_spend", "card",
};

/* The reading state: the header's order of columns and the field arrays. */
struct parser {
	const struct kp_program *p;
	struct kp_csv csv;
	struct kp_csv_record rec;
	const char *fields[N_COLUMNS];
	size_t lens[N_COLUMNS];
	int order[N_COLUMNS]; /* order[i]: the column of field i */
	size_t n_columns;
	struct kp_why *why;
};

/* Strict UTF-8 (no overlong forms, no surrogates, ≤ U+10FFFF) without control characters. */
static bool text_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) { /* bounded: every turn moves i forward */
		unsigned c = s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
		size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
			 : (c & 0xf8) == 0xf0 ? 3 : 4;
		if (k == 4 || (k > 0 && i + k >= n))
			return false;
		unsigned cp = k == 0 ? c : c & (0x3fu >> k);
		for (size_t m = 1; m <= k; m++) {
			if ((s[i + m] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + m] & 0x3fu);
		}
		static const unsigned min_cp[] = {0, 0x80, 0x800, 0x10000};
		if (cp < min_cp[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

static int bad(struct parser *ps, const char *column, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* KP_EINVAL with "line N: column: problem". */
static int bad(struct parser *ps, const char *column, const char *fmt, ...)
{
	char problem[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(problem, sizeof problem, fmt, ap);
	va_end(ap);
	return kp_why(ps->why, KP_EINVAL, "line %lld: %s: %s", (long long)ps->rec.line, column,
		      problem);
}

static int read_header(struct parser *ps)
{
	int rc = kp_csv_next(&ps->csv, &ps->rec);
	if (rc == 0)
		return kp_why(ps->why, KP_EINVAL, "line 1: header: the file is empty");
	if (rc < 0)
		return kp_why(ps->why, KP_EINVAL, "line %lld: header: %s",
			      (long long)ps->csv.err_line, ps->csv.err_msg);
	bool seen[N_COLUMNS] = {false};
	for (size_t i = 0; i < ps->rec.n; i++) {
		int col = 0;
		while (col < N_COLUMNS && strcmp(ps->fields[i], column_names[col]) != 0)
			col++;
		if (col == N_COLUMNS)
			return text_ok((const unsigned char *)ps->fields[i], ps->lens[i])
				       ? bad(ps, "header", "unknown column '%.100s'", ps->fields[i])
				       : bad(ps, "header", "unknown column (not UTF-8 text)");
		if (seen[col])
			return bad(ps, "header", "column '%s' appears twice", column_names[col]);
		seen[col] = true;
		ps->order[i] = col;
	}
	ps->n_columns = ps->rec.n;
	if (!seen[COL_EXTERNAL_ID] || !seen[COL_CONSENT_PD])
		return bad(ps, "header", "column '%s' is required",
			   column_names[seen[COL_EXTERNAL_ID] ? COL_CONSENT_PD : COL_EXTERNAL_ID]);
	return 0;
}

/* A whole number in 0 … max written in plain decimal digits. */
static bool parse_amount(const char *s, int64_t max, int64_t *out)
{
	int64_t v = 0;
	if (!*s || strlen(s) > 19)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10)
			return false;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return true;
}

/* 1/true (granted) or 0/false; true and false in any case, as spreadsheets write them. */
static int parse_flag(const char *s, bool *out)
{
	if (strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0)
		*out = true;
	else if (strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0)
		*out = false;
	else
		return KP_EINVAL;
	return 0;
}

/*
 * An RFC 3339 time with Z or an offset, or a date: a date means the points
 * can be spent through that whole day (UTC), so they expire at its end.
 */
static int parse_expiry(const char *s, int64_t *out)
{
	int64_t days;
	if (kp_date_parse(s, &days) == 0) {
		*out = (days + 1) * KP_SECONDS_PER_DAY;
		return 0;
	}
	size_t n = strlen(s);
	if (n < 25 || (s[n - 6] != '+' && s[n - 6] != '-') || s[n - 3] != ':')
		return kp_time_parse(s, out);
	char utc[64];
	unsigned hh, mm;
	if (n - 6 + 2 > sizeof utc || sscanf(s + n - 5, "%2u:%2u", &hh, &mm) != 2 || hh > 23 ||
	    mm > 59 || strspn(s + n - 5, "0123456789:") != 5)
		return KP_EINVAL;
	memcpy(utc, s, n - 6);
	memcpy(utc + (n - 6), "Z", 2); /* not utc + n: past the array */
	if (kp_time_parse(utc, out))
		return KP_EINVAL;
	int64_t offset = (int64_t)(hh * 3600 + mm * 60);
	*out += s[n - 6] == '+' ? -offset : offset; /* 10:00+03:00 is 07:00Z */
	return 0;
}

static int tier_index(const struct kp_program *p, const char *name)
{
	for (size_t i = 0; i < p->n_tiers; i++)
		if (strcmp(p->tiers[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* A tier name the program does not have: say which levels it has. */
static int unknown_tier(struct parser *ps, const char *v, size_t n)
{
	char levels[160] = "";
	size_t used = 0;
	for (size_t i = 0; i < ps->p->n_tiers && used < sizeof levels; i++)
		used += (size_t)snprintf(levels + used, sizeof levels - used, "%s%s",
					 i ? ", " : "", ps->p->tiers[i].name);
	if (!text_ok((const unsigned char *)v, n))
		return bad(ps, "tier", "not a level of the program's tiers (%s)", levels);
	return bad(ps, "tier", "'%.60s' is not a level of the program's tiers (%s)", v, levels);
}

/* A text column: UTF-8, in lo … hi bytes. */
static int text_field(struct parser *ps, const char *col, const char *v, size_t n, size_t lo,
		      size_t hi, const char **out)
{
	if (!text_ok((const unsigned char *)v, n))
		return bad(ps, col, "not UTF-8 text without control characters");
	if (n < lo || n > hi)
		return bad(ps, col, "must be %zu to %zu bytes", lo, hi);
	*out = v;
	return 0;
}

static int consent_field(struct parser *ps, enum column col, const char *v,
			 struct import_row *r)
{
	static const unsigned bits[] = {
		[COL_CONSENT_PD] = KP_CONSENT_PERSONAL_DATA, [COL_CONSENT_EMAIL] = KP_CONSENT_EMAIL,
		[COL_CONSENT_SMS] = KP_CONSENT_SMS, [COL_CONSENT_PUSH] = KP_CONSENT_PUSH};
	bool granted;
	if (parse_flag(v, &granted))
		return bad(ps, column_names[col], "must be 1, 0, true or false");
	if (col == COL_CONSENT_PD && !granted)
		return bad(ps, column_names[col], "must be 1 or true: a member needs consent "
			   "to the processing of personal data");
	r->consents |= granted ? bits[col] : 0;
	return 0;
}

/* One non-empty field of a row. */
static int parse_field(struct parser *ps, enum column col, const char *v, size_t n,
		       struct import_row *r)
{
	const char *name = column_names[col];
	int64_t days;
	switch (col) {
	case COL_EXTERNAL_ID: return text_field(ps, name, v, n, 1, KP_EXTERNAL_ID_MAX,
						&r->external_id);
	case COL_NAME: return text_field(ps, name, v, n, 1, KP_PERSON_NAME_MAX, &r->name);
	case COL_EMAIL:
		if (text_field(ps, name, v, n, 3, KP_EMAIL_MAX, &r->email))
			return KP_EINVAL;
		return strchr(v, '@') ? 0 : bad(ps, name, "not an email address (no @)");
	case COL_PHONE:
		if (n > 40 || kp_phone_normalize(v, r->phone))
			return bad(ps, name, "not a phone number");
		return 0;
	case COL_BIRTHDAY:
		if (kp_date_parse(v, &days))
			return bad(ps, name, "not a date YYYY-MM-DD");
		r->birthday = v;
		return 0;
	case COL_CONSENT_PD: case COL_CONSENT_EMAIL: case COL_CONSENT_SMS: case COL_CONSENT_PUSH:
		return consent_field(ps, col, v, r);
	case COL_POINTS:
		if (!parse_amount(v, KP_IMPORT_MAX_POINTS, &r->points))
			return bad(ps, name, "must be a whole number from 0 to 10^12");
		return 0;
	case COL_EXPIRE_AT:
		if (parse_expiry(v, &r->expires_at))
			return bad(ps, name, "not a date YYYY-MM-DD or an RFC 3339 time");
		r->expires_given = true;
		return 0;
	case COL_TIER:
		if (ps->p->n_tiers == 0)
			return bad(ps, name, "the program has no tiers");
		if ((r->tier = tier_index(ps->p, v)) < 0)
			return unknown_tier(ps, v, n);
		r->tier_given = true;
		return 0;
	case COL_LIFETIME_SPEND:
		if (!parse_amount(v, KP_IMPORT_MAX_SPEND, &r->lifetime_spend))
			return bad(ps, name, "must be a whole number of minor units from 0 to "
				   "10^15");
		return 0;
	case COL_CARD:
		if (!kp_card_is_valid(v))
			return bad(ps, name, "not a card number (13 digits with a check digit)");
		r->card = v;
		return 0;
	case N_COLUMNS: break;
	}
	assert(!"unknown column");
	return KP_EINTERNAL;
}

/* The record just read as a row: every field, then what the row needs as a whole. */
static int parse_row(struct parser *ps, struct import_row *r)
{
	memset(r, 0, sizeof *r);
	r->line = ps->rec.line;
	r->tier = -1;
	if (ps->rec.n != ps->n_columns) {
		return bad(ps, "row", "%zu fields, but the header has %zu", ps->rec.n,
			   ps->n_columns);
	}
	for (size_t i = 0; i < ps->rec.n; i++)
		if (ps->lens[i] > 0 &&
		    parse_field(ps, (enum column)ps->order[i], ps->fields[i], ps->lens[i], r))
			return KP_EINVAL;
	if (!r->external_id)
		return bad(ps, "external_id", "is required");
	if (!(r->consents & KP_CONSENT_PERSONAL_DATA))
		return bad(ps, "consent_personal_data", "is required: 1 or true");
	if (!r->tier_given && ps->p->n_tiers > 0) /* as at registration, by the spend we know */
		r->tier = kp_rules_tier_for_spend(
			ps->p, ps->p->tier_basis == KP_TIER_LIFETIME ? r->lifetime_spend : 0);
	return 0;
}

/* A problem the CSV reader found, named by line and column. */
static int csv_error(struct parser *ps, int rc)
{
	const struct kp_csv *r = &ps->csv;
	long long line = (long long)r->err_line;
	if (rc == KP_ETOOLARGE) /* cannot happen: the arena holds the whole file */
		return kp_why(ps->why, KP_EINTERNAL, "line %lld: no room to read the row", line);
	if (ps->n_columns && r->err_field > ps->n_columns)
		return kp_why(ps->why, KP_EINVAL,
			      "line %lld: row: more fields than the header's %zu", line,
			      ps->n_columns);
	const char *col = !ps->n_columns ? "header"
			  : column_names[ps->order[r->err_field - 1]];
	if (strcmp(r->err_msg, "field longer than the limit") == 0)
		return kp_why(ps->why, KP_EINVAL, "line %lld: %s: longer than %d bytes", line, col,
			      FIELD_MAX);
	return kp_why(ps->why, KP_EINVAL, "line %lld: %s: %s", line, col, r->err_msg);
}

static int read_rows(struct parser *ps, struct import_rows *out)
{
	size_t cap = 0;
	int64_t blank = 0; /* the first empty line: an error unless only empty lines follow */
	for (;;) { /* bounded: each turn consumes a record of the finite buffer */
		int rc = kp_csv_next(&ps->csv, &ps->rec);
		if (rc == 0)
			return 0;
		if (rc < 0)
			return csv_error(ps, rc);
		if (ps->rec.n == 1 && ps->lens[0] == 0) {
			blank = blank ? blank : ps->rec.line;
			continue;
		}
		if (blank)
			return kp_why(ps->why, KP_EINVAL, "line %lld: row: empty line",
				      (long long)blank);
		if (out->n == KP_IMPORT_MAX_ROWS)
			return kp_why(ps->why, KP_ETOOLARGE, "line %lld: row: more than %d rows",
				      (long long)ps->rec.line, KP_IMPORT_MAX_ROWS);
		if (out->n == cap) {
			size_t grown = cap ? cap * 2 : 1024;
			struct import_row *rows = realloc(out->rows, grown * sizeof *rows);
			if (!rows)
				return KP_ENOMEM;
			out->rows = rows;
			cap = grown;
		}
		if ((rc = parse_row(ps, &out->rows[out->n])))
			return rc;
		out->n++;
	}
}

/* ---- the same external_id, phone or card twice in the file ---- */

enum repeat_key { KEY_EXTERNAL_ID, KEY_PHONE, KEY_CARD, N_KEYS };

static const char *key_of(const struct import_row *r, enum repeat_key k)
{
	const char *v = k == KEY_EXTERNAL_ID ? r->external_id : k == KEY_PHONE ? r->phone : r->card;
	return v ? v : "";
}

struct key_order {
	const struct import_row *rows;
	enum repeat_key key;
};

static int by_key(const void *a, const void *b, void *arg)
{
	const struct key_order *o = arg;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	int c = strcmp(key_of(&o->rows[i], o->key), key_of(&o->rows[j], o->key));
	return c ? c : (i > j) - (i < j); /* equal keys in file order */
}

static bool same_key(const struct key_order *o, uint32_t i, uint32_t j)
{
	return strcmp(key_of(&o->rows[i], o->key), key_of(&o->rows[j], o->key)) == 0;
}

/* In idx sorted by o's key: the lowest row index that repeats an earlier row's key
 * (SIZE_MAX if none), and in *first the earliest row with that key. */
static size_t first_repeat(const struct key_order *o, const uint32_t *idx, size_t n,
			   size_t *first)
{
	size_t best = SIZE_MAX;
	for (size_t i = 1; i < n; i++) {
		if (!*key_of(&o->rows[idx[i]], o->key) || idx[i] >= best ||
		    !same_key(o, idx[i], idx[i - 1]))
			continue;
		best = idx[i];
		size_t f = i - 1; /* equal keys are in file order: walk back to the first */
		while (f > 0 && same_key(o, idx[i], idx[f - 1]))
			f--;
		*first = idx[f];
	}
	return best;
}

/* The earliest row (by line) that repeats a key of an earlier row, over every key. */
static int check_repeats(const struct import_rows *rows, struct kp_why *why)
{
	static const char *const names[N_KEYS] = {"external_id", "phone", "card"};
	uint32_t *idx = malloc((rows->n ? rows->n : 1) * sizeof *idx);
	if (!idx)
		return KP_ENOMEM;
	size_t worst = SIZE_MAX, first = 0;
	enum repeat_key worst_key = KEY_EXTERNAL_ID;
	for (int k = 0; k < N_KEYS; k++) {
		struct key_order o = {rows->rows, (enum repeat_key)k};
		for (size_t i = 0; i < rows->n; i++)
			idx[i] = (uint32_t)i;
		qsort_r(idx, rows->n, sizeof *idx, by_key, &o);
		size_t f = 0, r = first_repeat(&o, idx, rows->n, &f);
		if (r < worst) {
			worst = r;
			first = f;
			worst_key = o.key;
		}
	}
	free(idx);
	if (worst == SIZE_MAX)
		return 0;
	const struct import_row *r = &rows->rows[worst];
	assert(first < worst);
	return kp_why(why, KP_EINVAL, "line %lld: %s: %s is also on line %lld", (long long)r->line,
		      names[worst_key], key_of(r, worst_key), (long long)rows->rows[first].line);
}

void import_rows_release(struct import_rows *rows)
{
	free(rows->rows);
	free(rows->arena);
	memset(rows, 0, sizeof *rows);
}

int import_parse(const struct kp_program *p, const char *csv, size_t len,
		 struct import_rows *out, struct kp_why *why)
{
	assert(p && (csv || len == 0) && out && len <= KP_IMPORT_MAX_BYTES);
	memset(out, 0, sizeof *out);
	if (len >= 3 && memcmp(csv, "\xef\xbb\xbf", 3) == 0) { /* spreadsheets write a BOM */
		csv += 3;
		len -= 3;
	}
	struct parser ps = {.p = p, .why = why};
	if (!(out->arena = malloc(len + 1)))
		return KP_ENOMEM;
	kp_csv_init(&ps.csv, csv, len, FIELD_MAX);
	ps.rec = (struct kp_csv_record){.arena = out->arena, .arena_cap = len + 1,
					.fields = ps.fields, .lens = ps.lens,
					.cap_fields = N_COLUMNS};
	int rc = read_header(&ps);
	if (!rc)
		rc = read_rows(&ps, out);
	if (!rc && out->n == 0)
		rc = kp_why(why, KP_EINVAL, "line 2: row: the file has a header but no rows");
	if (!rc)
		rc = check_repeats(out, why);
	if (rc)
		import_rows_release(out);
	return rc;
}

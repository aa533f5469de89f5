/*
 * program.c — parse, validate and compile a program document.
 *
 * The document is walked key by key in document order, so the first error
 * reported is the first offending field, and every message starts with that
 * field's JSON path ("earn.check_steps[1].percent: ..."). Each object's keys
 * are checked against a table of known fields: an unknown key is an error,
 * and sections of later versions are refused by name rather than ignored, so
 * a program never silently loses a rule its author wrote.
 *
 * "campaigns" refer to tier levels and to the shop's utc_offset, so when they
 * come first in the document those two sections are parsed ahead of them
 * (and skipped when the walk reaches them). The sections of later versions
 * have their own files: program_tiers.c, program_campaigns.c and
 * program_rewards.c (stamp cards and thresholds); shared helpers are in
 * document.c.
 *
 * The compiled program owns every byte it points to (strings are copied out
 * of jansson before the document is released). While compiling, the program
 * is kept freeable at every step (arrays are counted as they fill), so each
 * error path simply frees it.
 */
#include "rules/rules.h"

#include <assert.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/document.h"
#include "util/checked.h"

#define MAX_POINT_VALUE 1000000
#define MAX_HOLD_DAYS 3650
#define MAX_EXPIRY_DAYS 36500
#define MAX_HOLD_MINUTES 10080 /* a week */
#define MAX_STEP_SUBTOTAL (KP_MAX_PRICE * KP_MAX_QTY)

typedef int (*field_fn)(struct kp_doc *ps, json_t *value, const char *path);

/* How a field is read: an integer or a percentage straight into the program, or by a parser. */
enum field_kind {
	FIELD_INTEGER, /* into the int64_t at offset, within [min, max] */
	FIELD_PERCENT, /* into the int64_t at offset, basis points, 0..max percent */
	FIELD_PARSER,  /* by parse() */
	FIELD_SECTION, /* an object whose keys are the fields of section[] */
};

struct field {
	const char *key;
	enum field_kind kind;
	size_t offset;
	int64_t min, max;
	field_fn parse;
	const struct field *section;
	size_t n_section;
};

#define INTEGER(key, member, min, max) \
	{key, FIELD_INTEGER, offsetof(struct kp_program, member), min, max, NULL, NULL, 0}
#define PERCENT(key, member) \
	{key, FIELD_PERCENT, offsetof(struct kp_program, member), 0, 100, NULL, NULL, 0}
#define PARSER(key, fn) {key, FIELD_PARSER, 0, 0, 0, fn, NULL, 0}
#define SECTION(key, fields) \
	{key, FIELD_SECTION, 0, 0, 0, NULL, fields, sizeof fields / sizeof fields[0]}

static const char *const unsupported_sections[] = {
	NULL,
};

static int parse_object(struct kp_doc *ps, json_t *obj, const char *path,
			const struct field *fields, size_t n_fields,
			const char *const *unsupported);

static int parse_field(struct kp_doc *ps, const struct field *f, json_t *v, const char *path)
{
	int64_t *slot = (int64_t *)(void *)((char *)ps->prog + f->offset);

	assert(f->kind == FIELD_PARSER || f->offset % sizeof(int64_t) == 0);
	switch (f->kind) {
	case FIELD_INTEGER:
		return kp_doc_integer(ps, v, path, f->min, f->max, slot);
	case FIELD_PERCENT:
		return kp_doc_percent(ps, v, path, f->max, slot);
	case FIELD_SECTION:
		assert(f->section != NULL && f->n_section > 0);
		return parse_object(ps, v, path, f->section, f->n_section, NULL);
	case FIELD_PARSER:
		break;
	}
	assert(f->parse != NULL);
	return f->parse(ps, v, path);
}

static bool listed(const char *const *names, const char *key)
{
	assert(key != NULL);
	for (size_t i = 0; names && names[i]; i++)
		if (strcmp(names[i], key) == 0)
			return true;
	return false;
}

/*
 * Dispatch each key of an object to its field's parser, in document order.
 * unsupported names sections that exist in later versions (root only).
 */
static int parse_object(struct kp_doc *ps, json_t *obj, const char *path,
			const struct field *fields, size_t n_fields,
			const char *const *unsupported)
{
	const char *key;
	json_t *value;
	char sub[KP_DOC_PATH_MAX];

	assert(fields != NULL && n_fields > 0);
	if (!json_is_object(obj))
		return kp_doc_fail(ps, path[0] ? path : "document", "must be an object");
	json_object_foreach(obj, key, value) {
		size_t i = 0;
		int err;

		kp_doc_child_path(sub, path, key);
		while (i < n_fields && strcmp(fields[i].key, key) != 0)
			i++;
		if (i == n_fields && listed(unsupported, key))
			return kp_doc_fail(ps, sub, "not supported by this version");
		if (i == n_fields)
			return kp_doc_fail(ps, sub, "unknown field");
		err = parse_field(ps, &fields[i], value, sub);
		if (err)
			return err;
	}
	return 0;
}

static int parse_percent_digits(const char **cursor, int64_t limit, int64_t *value)
{
	const char *c = *cursor;

	assert(limit >= 0);
	if (*c < '0' || *c > '9')
		return KP_EINVAL;
	for (*value = 0; *c >= '0' && *c <= '9'; c++) {
		*value = *value * 10 + (*c - '0');
		/* stop early: a value above the limit is refused anyway */
		if (*value > limit)
			return KP_EINVAL;
	}
	*cursor = c;
	assert(*value >= 0);
	return 0;
}

int kp_rules_parse_percent_text(const char *text, int64_t max_percent, int64_t *bp_out)
{
	const char *c = text;
	int64_t whole, hundredths = 0;

	assert(text != NULL && bp_out != NULL);
	assert(max_percent >= 0 && max_percent <= INT64_MAX / KP_BP_ONE);
	if (parse_percent_digits(&c, max_percent, &whole))
		return KP_EINVAL;
	if (*c == '.') {
		c++;
		if (*c < '0' || *c > '9')
			return KP_EINVAL;
		for (int place = 0; *c >= '0' && *c <= '9'; c++, place++) {
			/* "2.50" and "2.500" are exact; "2.555" is not */
			if (place < 2)
				hundredths += (*c - '0') * (place == 0 ? 10 : 1);
			else if (*c != '0')
				return KP_EINVAL;
		}
	}
	if (*c != '\0')
		return KP_EINVAL;
	whole = whole * 100 + hundredths;
	if (whole > max_percent * 100)
		return KP_EINVAL;
	*bp_out = whole;
	assert(*bp_out >= 0 && *bp_out <= max_percent * (KP_BP_ONE / 100));
	return 0;
}

static int parse_name(struct kp_doc *ps, json_t *v, const char *path)
{
	char *name;

	if (!json_is_string(v) || json_string_length(v) > KP_MAX_NAME)
		return kp_doc_fail(ps, path, "must be a string of at most %d bytes", KP_MAX_NAME);
	name = kp_doc_copy_string(v);
	if (!name)
		return kp_doc_out_of_memory(ps);
	free(ps->prog->name);
	ps->prog->name = name;
	assert(strlen(name) <= KP_MAX_NAME);
	return 0;
}

static int parse_currency(struct kp_doc *ps, json_t *v, const char *path)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	bool ok = json_string_length(v) == 3;

	for (size_t i = 0; ok && i < 3; i++)
		ok = s[i] >= 'A' && s[i] <= 'Z';
	if (!ok)
		return kp_doc_fail(ps, path, "must be three uppercase letters (ISO 4217)");
	memcpy(ps->prog->currency, s, 4);
	assert(ps->prog->currency[3] == '\0');
	return 0;
}

static int parse_rounding(struct kp_doc *ps, json_t *v, const char *path)
{
	static const char *const names[] = {"floor", "half_up", "ceil"};
	static const enum kp_rounding modes[] = {KP_ROUND_FLOOR, KP_ROUND_HALF_UP, KP_ROUND_CEIL};
	const char *s = json_string_value(v); /* NULL unless a string */

	for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(s, names[i]) == 0) {
			ps->prog->rounding = modes[i];
			assert(ps->prog->rounding <= KP_ROUND_CEIL);
			return 0;
		}
	}
	return kp_doc_fail(ps, path, "must be \"floor\", \"half_up\" or \"ceil\"");
}

/* Two decimal digits at s; -1 when they are not digits. */
static int two_digits(const char *s)
{
	assert(s != NULL);
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/*
 * "+03:00": the shop's local time for campaign dates, days and hours. Parsed
 * ahead of document order when "campaigns" come first (their dates need it).
 */
int kp_doc_parse_utc_offset(struct kp_doc *d, json_t *v, const char *path)
{
	const char *s = json_string_value(v); /* NULL unless a string */
	int hh, mm;
	int64_t offset_s;
	bool ok = s && json_string_length(v) == 6 && (s[0] == '+' || s[0] == '-') && s[3] == ':';

	if (d->offset_done)
		return 0;
	d->offset_done = true;
	hh = ok ? two_digits(s + 1) : -1;
	mm = ok ? two_digits(s + 4) : -1;
	offset_s = (int64_t)hh * 3600 + (int64_t)mm * 60;
	if (hh < 0 || mm < 0 || mm > 59 || offset_s > 14 * 3600)
		return kp_doc_fail(d, path, "must be \"+HH:MM\" or \"-HH:MM\" from "
					    "-14:00 to +14:00");
	d->prog->utc_offset_s = s[0] == '-' ? -offset_s : offset_s;
	assert(d->prog->utc_offset_s >= -14 * 3600 && d->prog->utc_offset_s <= 14 * 3600);
	return 0;
}

/* One check-size step: both fields are required. */
static int parse_step(struct kp_doc *ps, json_t *v, const char *path, struct kp_step *step)
{
	bool have_min = false, have_percent = false;
	const char *key;
	json_t *value;
	char sub[KP_DOC_PATH_MAX];
	int err = 0;

	if (!json_is_object(v))
		return kp_doc_fail(ps, path, "must be an object");
	json_object_foreach(v, key, value) {
		kp_doc_child_path(sub, path, key);
		if (strcmp(key, "min_subtotal") == 0) {
			err = kp_doc_integer(ps, value, sub, 0, MAX_STEP_SUBTOTAL,
					  &step->min_subtotal);
			have_min = true;
		} else if (strcmp(key, "percent") == 0) {
			err = kp_doc_percent(ps, value, sub, 100, &step->percent_bp);
			have_percent = true;
		} else {
			err = kp_doc_fail(ps, sub, "unknown field");
		}
		if (err)
			return err;
	}
	kp_doc_child_path(sub, path, have_min ? "percent" : "min_subtotal");
	if (!have_min || !have_percent)
		return kp_doc_fail(ps, sub, "is required");
	assert(step->percent_bp >= 0 && step->percent_bp <= KP_BP_ONE);
	return 0;
}

static int compare_steps(const void *a, const void *b)
{
	const struct kp_step *x = a, *y = b;

	assert(x->min_subtotal >= 0 && y->min_subtotal >= 0);
	return (x->min_subtotal > y->min_subtotal) - (x->min_subtotal < y->min_subtotal);
}

/*
 * A check_steps array. *steps and *n are written before the array fills and
 * *n counts the steps complete with their rule_id, so freeing the program
 * at any error frees exactly what was made.
 */
static int parse_steps(struct kp_doc *ps, json_t *v, const char *path, const char *kind,
		       struct kp_step **steps, size_t *n)
{
	char sub[KP_DOC_PATH_MAX], id[64];
	size_t count = json_array_size(v);

	assert(*steps == NULL && *n == 0);
	if (!json_is_array(v) || count > KP_MAX_STEPS)
		return kp_doc_fail(ps, path, "must be an array of at most %d steps", KP_MAX_STEPS);
	if (count == 0)
		return 0;
	*steps = calloc(count, sizeof **steps);
	if (!*steps)
		return kp_doc_out_of_memory(ps);
	for (size_t i = 0; i < count; i++) {
		struct kp_step *step = &(*steps)[i];
		int err;

		kp_doc_index_path(sub, path, i);
		err = parse_step(ps, json_array_get(v, i), sub, step);
		if (err)
			return err;
		snprintf(id, sizeof id, "%s:%lld", kind, (long long)step->min_subtotal);
		step->rule_id = strdup(id);
		if (!step->rule_id)
			return kp_doc_out_of_memory(ps);
		(*n)++;
	}
	qsort(*steps, count, sizeof **steps, compare_steps);
	for (size_t i = 1; i < count; i++)
		if ((*steps)[i - 1].min_subtotal == (*steps)[i].min_subtotal)
			return kp_doc_fail(ps, path, "min_subtotal values must be distinct");
	assert(*n == count);
	return 0;
}

static int parse_earn_steps(struct kp_doc *ps, json_t *v, const char *path)
{
	int err = parse_steps(ps, v, path, "earn_step", &ps->prog->earn_steps,
			      &ps->prog->n_earn_steps);

	assert(ps->prog->n_earn_steps <= KP_MAX_STEPS);
	return err;
}

static int parse_excluded_categories(struct kp_doc *ps, json_t *v, const char *path)
{
	int err = kp_doc_string_set(ps, v, path, 0, KP_MAX_EXCLUSIONS,
				    &ps->prog->excluded_categories,
				   &ps->prog->n_excluded_categories);

	assert(ps->prog->n_excluded_categories <= KP_MAX_EXCLUSIONS);
	return err;
}

static int parse_excluded_skus(struct kp_doc *ps, json_t *v, const char *path)
{
	int err = kp_doc_string_set(ps, v, path, 0, KP_MAX_EXCLUSIONS, &ps->prog->excluded_skus,
				   &ps->prog->n_excluded_skus);

	assert(ps->prog->n_excluded_skus <= KP_MAX_EXCLUSIONS);
	return err;
}

static int parse_discount_steps(struct kp_doc *ps, json_t *v, const char *path)
{
	int err = parse_steps(ps, v, path, "discount_step", &ps->prog->discount_steps,
			      &ps->prog->n_discount_steps);

	assert(ps->prog->n_discount_steps <= KP_MAX_STEPS);
	return err;
}

static const struct field earn_fields[] = {
	PERCENT("percent", earn_percent_bp),
	PARSER("check_steps", parse_earn_steps),
	INTEGER("hold_days", hold_days, 0, MAX_HOLD_DAYS),
};

static const struct field burn_fields[] = {
	PERCENT("max_percent", burn_max_percent_bp),
	PARSER("excluded_categories", parse_excluded_categories),
	PARSER("excluded_skus", parse_excluded_skus),
};

static const struct field expiry_fields[] = {
	INTEGER("days", expiry_days, 0, MAX_EXPIRY_DAYS),
	INTEGER("remind_days_before", remind_days_before, 0, MAX_HOLD_DAYS),
};

static const struct field discount_fields[] = {
	PERCENT("percent", discount_percent_bp),
	PARSER("check_steps", parse_discount_steps),
};

static const struct field root_fields[] = {
	PARSER("name", parse_name),
	PARSER("currency", parse_currency),
	INTEGER("point_value", point_value, 1, MAX_POINT_VALUE),
	PARSER("rounding", parse_rounding),
	SECTION("earn", earn_fields),
	SECTION("burn", burn_fields),
	SECTION("expiry", expiry_fields),
	SECTION("discount", discount_fields),
	INTEGER("hold_minutes", hold_minutes, 1, MAX_HOLD_MINUTES),
	PARSER("utc_offset", kp_doc_parse_utc_offset),
	PARSER("tiers", kp_doc_parse_tiers),
	PARSER("campaigns", kp_doc_parse_campaigns),
	PARSER("stamps", kp_doc_parse_stamps),
	PARSER("thresholds", kp_doc_parse_thresholds),
	PARSER("events", kp_doc_parse_events),
	PARSER("charity", kp_doc_parse_charity),
};
#define N_ROOT_FIELDS (sizeof root_fields / sizeof root_fields[0])

/* The defaults of rules.h: every section is optional. */
static struct kp_program *program_new(void)
{
	struct kp_program *p = calloc(1, sizeof *p);

	if (!p)
		return NULL;
	p->name = strdup("");
	if (!p->name) {
		free(p);
		return NULL;
	}
	memcpy(p->currency, "RUB", 4);
	p->point_value = 100;
	p->rounding = KP_ROUND_FLOOR;
	p->earn_percent_bp = 500;
	p->burn_max_percent_bp = 5000;
	p->hold_minutes = 30;
	assert(p->n_earn_steps == 0 && p->expiry_days == 0);
	return p;
}

int kp_rules_program_compile(const char *json, size_t len, struct kp_program **out,
			     char *errbuf, size_t errlen)
{
	struct kp_doc ps = {errbuf, errlen, NULL, NULL, false, false, false};
	json_error_t jerr;
	json_t *doc;
	int err;

	assert(json != NULL || len == 0);
	assert(out != NULL);
	assert(errbuf != NULL || errlen == 0);
	*out = NULL;
	if (errlen > 0)
		errbuf[0] = '\0';
	doc = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			return kp_doc_out_of_memory(&ps);
		return kp_doc_fail(&ps, "document", "%s at line %d column %d", jerr.text, jerr.line,
			    jerr.column);
	}
	ps.prog = program_new();
	ps.root = doc;
	if (ps.prog)
		err = parse_object(&ps, doc, "", root_fields, N_ROOT_FIELDS, unsupported_sections);
	else
		err = kp_doc_out_of_memory(&ps);
	json_decref(doc);
	if (err) {
		kp_rules_program_free(ps.prog);
		return err;
	}
	*out = ps.prog;
	assert((*out)->name != NULL && (*out)->point_value > 0);
	return 0;
}

static void free_steps(struct kp_step *steps, size_t n)
{
	assert(n == 0 || steps != NULL);
	for (size_t i = 0; i < n; i++)
		free((char *)steps[i].rule_id);
	free(steps);
}

void kp_rules_program_free(struct kp_program *program)
{
	if (!program)
		return;
	free(program->name);
	free_steps(program->earn_steps, program->n_earn_steps);
	free_steps(program->discount_steps, program->n_discount_steps);
	kp_doc_free_strings(program->excluded_categories, program->n_excluded_categories);
	kp_doc_free_strings(program->excluded_skus, program->n_excluded_skus);
	kp_doc_free_tiers(program);
	kp_doc_free_campaigns(program);
	kp_doc_free_stamps(program);
	kp_doc_free_events(program);
	kp_doc_free_charity(program);
	free(program);
}

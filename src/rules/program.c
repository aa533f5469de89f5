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
 * The compiled program owns every byte it points to (strings are copied out
 * of jansson before the document is released). While compiling, the program
 * is kept freeable at every step (arrays are counted as they fill), so each
 * error path simply frees it.
 */
#include "rules/rules.h"

#include <assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/checked.h"

#define PATH_MAX_LEN 256 /* longer paths (only from absurd unknown keys) are truncated */
#define MAX_POINT_VALUE 1000000
#define MAX_HOLD_DAYS 3650
#define MAX_EXPIRY_DAYS 36500
#define MAX_HOLD_MINUTES 10080 /* a week */
#define MAX_STEP_SUBTOTAL (KP_MAX_PRICE * KP_MAX_QTY)

struct parser {
	char *errbuf;
	size_t errlen;
	struct kp_program *prog;
};

typedef int (*field_fn)(struct parser *ps, json_t *value, const char *path);

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
	"tiers", "campaigns", "events", "thresholds", "stamps", NULL,
};

static void write_error(struct parser *ps, const char *path, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static int fail(struct parser *ps, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void write_error(struct parser *ps, const char *path, const char *fmt, va_list ap)
{
	int used;

	assert(path != NULL && fmt != NULL);
	if (ps->errlen == 0)
		return;
	assert(ps->errbuf != NULL);
	used = snprintf(ps->errbuf, ps->errlen, "%s: ", path);
	if (used >= 0 && (size_t)used < ps->errlen)
		vsnprintf(ps->errbuf + used, ps->errlen - (size_t)used, fmt, ap);
}

static int fail(struct parser *ps, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	write_error(ps, path, fmt, ap);
	va_end(ap);
	return KP_EPROGRAM;
}

static int out_of_memory(struct parser *ps)
{
	fail(ps, "document", "out of memory");
	return KP_ENOMEM;
}

/* Bounded append: only an absurdly long unknown key fills PATH_MAX_LEN. */
static void append(char *buf, size_t *used, const char *s)
{
	assert(*used < PATH_MAX_LEN);
	while (*s && *used + 1 < PATH_MAX_LEN)
		buf[(*used)++] = *s++;
	buf[*used] = '\0';
	assert(*used < PATH_MAX_LEN);
}

/* "earn" + "percent" → "earn.percent"; the root's children have no prefix. */
static void child_path(char *buf, const char *path, const char *key)
{
	size_t used = 0;

	assert(buf != NULL && path != NULL && key != NULL);
	buf[0] = '\0';
	if (path[0] != '\0') {
		append(buf, &used, path);
		append(buf, &used, ".");
	}
	append(buf, &used, key);
}

static void index_path(char *buf, const char *path, size_t index)
{
	char suffix[32];
	size_t used = 0;

	assert(buf != NULL && path != NULL);
	snprintf(suffix, sizeof suffix, "[%zu]", index);
	append(buf, &used, path);
	append(buf, &used, suffix);
}

/* An integer in [min, max]; reals and booleans are not integers here. */
static int get_integer(struct parser *ps, const json_t *v, const char *path, int64_t min,
		       int64_t max, int64_t *out)
{
	assert(min <= max);
	assert(out != NULL);
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return fail(ps, path, "must be an integer from %lld to %lld", (long long)min,
			    (long long)max);
	*out = json_integer_value(v);
	return 0;
}

static int percent_of(const json_t *v, int64_t max_percent, int64_t *bp)
{
	char text[64];

	assert(max_percent >= 0 && max_percent <= INT64_MAX / KP_BP_ONE);
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > max_percent)
			return KP_EINVAL;
		*bp = json_integer_value(v) * (KP_BP_ONE / 100);
		return 0;
	}
	if (json_is_string(v))
		return kp_rules_parse_percent_text(json_string_value(v), max_percent, bp);
	if (!json_is_real(v))
		return KP_EINVAL;
	/* ten significant digits turn 0.1 + 0.2 back into "0.3" but keep 2.555 as is */
	snprintf(text, sizeof text, "%.10g", json_real_value(v));
	return kp_rules_parse_percent_text(text, max_percent, bp);
}

static int get_percent(struct parser *ps, const json_t *v, const char *path, int64_t max_percent,
		       int64_t *bp)
{
	int64_t value = 0;

	assert(bp != NULL);
	if (percent_of(v, max_percent, &value))
		return fail(ps, path, "must be a number from 0 to %lld with at most two decimals",
			    (long long)max_percent);
	assert(value >= 0 && value <= max_percent * (KP_BP_ONE / 100));
	*bp = value;
	return 0;
}

static int parse_object(struct parser *ps, json_t *obj, const char *path,
			const struct field *fields, size_t n_fields,
			const char *const *unsupported);

static int parse_field(struct parser *ps, const struct field *f, json_t *v, const char *path)
{
	int64_t *slot = (int64_t *)(void *)((char *)ps->prog + f->offset);

	assert(f->kind == FIELD_PARSER || f->offset % sizeof(int64_t) == 0);
	switch (f->kind) {
	case FIELD_INTEGER:
		return get_integer(ps, v, path, f->min, f->max, slot);
	case FIELD_PERCENT:
		return get_percent(ps, v, path, f->max, slot);
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
static int parse_object(struct parser *ps, json_t *obj, const char *path,
			const struct field *fields, size_t n_fields,
			const char *const *unsupported)
{
	const char *key;
	json_t *value;
	char sub[PATH_MAX_LEN];

	assert(fields != NULL && n_fields > 0);
	if (!json_is_object(obj))
		return fail(ps, path[0] ? path : "document", "must be an object");
	json_object_foreach(obj, key, value) {
		size_t i = 0;
		int err;

		child_path(sub, path, key);
		while (i < n_fields && strcmp(fields[i].key, key) != 0)
			i++;
		if (i == n_fields && listed(unsupported, key))
			return fail(ps, sub, "not supported by this version");
		if (i == n_fields)
			return fail(ps, sub, "unknown field");
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

static char *copy_string(const json_t *v)
{
	size_t len = json_string_length(v);
	char *s = malloc(len + 1);

	assert(json_is_string(v));
	if (s) {
		memcpy(s, json_string_value(v), len);
		s[len] = '\0';
	}
	return s;
}

static int parse_name(struct parser *ps, json_t *v, const char *path)
{
	char *name;

	if (!json_is_string(v) || json_string_length(v) > KP_MAX_NAME)
		return fail(ps, path, "must be a string of at most %d bytes", KP_MAX_NAME);
	name = copy_string(v);
	if (!name)
		return out_of_memory(ps);
	free(ps->prog->name);
	ps->prog->name = name;
	assert(strlen(name) <= KP_MAX_NAME);
	return 0;
}

static int parse_currency(struct parser *ps, json_t *v, const char *path)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	bool ok = json_string_length(v) == 3;

	for (size_t i = 0; ok && i < 3; i++)
		ok = s[i] >= 'A' && s[i] <= 'Z';
	if (!ok)
		return fail(ps, path, "must be three uppercase letters (ISO 4217)");
	memcpy(ps->prog->currency, s, 4);
	assert(ps->prog->currency[3] == '\0');
	return 0;
}

static int parse_rounding(struct parser *ps, json_t *v, const char *path)
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
	return fail(ps, path, "must be \"floor\", \"half_up\" or \"ceil\"");
}

/* One check-size step: both fields are required. */
static int parse_step(struct parser *ps, json_t *v, const char *path, struct kp_step *step)
{
	bool have_min = false, have_percent = false;
	const char *key;
	json_t *value;
	char sub[PATH_MAX_LEN];
	int err = 0;

	if (!json_is_object(v))
		return fail(ps, path, "must be an object");
	json_object_foreach(v, key, value) {
		child_path(sub, path, key);
		if (strcmp(key, "min_subtotal") == 0) {
			err = get_integer(ps, value, sub, 0, MAX_STEP_SUBTOTAL,
					  &step->min_subtotal);
			have_min = true;
		} else if (strcmp(key, "percent") == 0) {
			err = get_percent(ps, value, sub, 100, &step->percent_bp);
			have_percent = true;
		} else {
			err = fail(ps, sub, "unknown field");
		}
		if (err)
			return err;
	}
	child_path(sub, path, have_min ? "percent" : "min_subtotal");
	if (!have_min || !have_percent)
		return fail(ps, sub, "is required");
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
static int parse_steps(struct parser *ps, json_t *v, const char *path, const char *kind,
		       struct kp_step **steps, size_t *n)
{
	char sub[PATH_MAX_LEN], id[64];
	size_t count = json_array_size(v);

	assert(*steps == NULL && *n == 0);
	if (!json_is_array(v) || count > KP_MAX_STEPS)
		return fail(ps, path, "must be an array of at most %d steps", KP_MAX_STEPS);
	if (count == 0)
		return 0;
	*steps = calloc(count, sizeof **steps);
	if (!*steps)
		return out_of_memory(ps);
	for (size_t i = 0; i < count; i++) {
		struct kp_step *step = &(*steps)[i];
		int err;

		index_path(sub, path, i);
		err = parse_step(ps, json_array_get(v, i), sub, step);
		if (err)
			return err;
		snprintf(id, sizeof id, "%s:%lld", kind, (long long)step->min_subtotal);
		step->rule_id = strdup(id);
		if (!step->rule_id)
			return out_of_memory(ps);
		(*n)++;
	}
	qsort(*steps, count, sizeof **steps, compare_steps);
	for (size_t i = 1; i < count; i++)
		if ((*steps)[i - 1].min_subtotal == (*steps)[i].min_subtotal)
			return fail(ps, path, "min_subtotal values must be distinct");
	assert(*n == count);
	return 0;
}

static int compare_strings(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;

	assert(*x != NULL && *y != NULL);
	return strcmp(*x, *y);
}

/* A list of SKUs or categories, stored sorted for bsearch; same ownership scheme as steps. */
static int parse_string_set(struct parser *ps, json_t *v, const char *path, char ***set,
			    size_t *n)
{
	char sub[PATH_MAX_LEN];
	size_t count = json_array_size(v);

	assert(*set == NULL && *n == 0);
	if (!json_is_array(v) || count > KP_MAX_EXCLUSIONS)
		return fail(ps, path, "must be an array of at most %d strings", KP_MAX_EXCLUSIONS);
	if (count == 0)
		return 0;
	*set = calloc(count, sizeof **set);
	if (!*set)
		return out_of_memory(ps);
	for (size_t i = 0; i < count; i++) {
		json_t *item = json_array_get(v, i);

		index_path(sub, path, i);
		if (!json_is_string(item))
			return fail(ps, sub, "must be a string");
		if (json_string_length(item) < 1 || json_string_length(item) > KP_MAX_NAME)
			return fail(ps, sub, "must be 1 to %d bytes", KP_MAX_NAME);
		(*set)[i] = copy_string(item);
		if (!(*set)[i])
			return out_of_memory(ps);
		(*n)++;
	}
	qsort(*set, count, sizeof **set, compare_strings);
	assert(*n == count);
	return 0;
}

static int parse_earn_steps(struct parser *ps, json_t *v, const char *path)
{
	int err = parse_steps(ps, v, path, "earn_step", &ps->prog->earn_steps,
			      &ps->prog->n_earn_steps);

	assert(ps->prog->n_earn_steps <= KP_MAX_STEPS);
	return err;
}

static int parse_excluded_categories(struct parser *ps, json_t *v, const char *path)
{
	int err = parse_string_set(ps, v, path, &ps->prog->excluded_categories,
				   &ps->prog->n_excluded_categories);

	assert(ps->prog->n_excluded_categories <= KP_MAX_EXCLUSIONS);
	return err;
}

static int parse_excluded_skus(struct parser *ps, json_t *v, const char *path)
{
	int err = parse_string_set(ps, v, path, &ps->prog->excluded_skus,
				   &ps->prog->n_excluded_skus);

	assert(ps->prog->n_excluded_skus <= KP_MAX_EXCLUSIONS);
	return err;
}

static int parse_discount_steps(struct parser *ps, json_t *v, const char *path)
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
	struct parser ps = {errbuf, errlen, NULL};
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
			return out_of_memory(&ps);
		return fail(&ps, "document", "%s at line %d column %d", jerr.text, jerr.line,
			    jerr.column);
	}
	ps.prog = program_new();
	if (ps.prog)
		err = parse_object(&ps, doc, "", root_fields, N_ROOT_FIELDS, unsupported_sections);
	else
		err = out_of_memory(&ps);
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

static void free_strings(char **set, size_t n)
{
	assert(n == 0 || set != NULL);
	for (size_t i = 0; i < n; i++)
		free(set[i]);
	free(set);
}

void kp_rules_program_free(struct kp_program *program)
{
	if (!program)
		return;
	free(program->name);
	free_steps(program->earn_steps, program->n_earn_steps);
	free_steps(program->discount_steps, program->n_discount_steps);
	free_strings(program->excluded_categories, program->n_excluded_categories);
	free_strings(program->excluded_skus, program->n_excluded_skus);
	free(program);
}

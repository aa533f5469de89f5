/*
 * program_tiers.c — the "tiers" section of a program document, and the two
 * lookups callers make with it (the tier a spend reaches, a tier by name).
 *
 * Levels are kept in document order, which must already be the order of
 * min_spend: the first level starts at 0 and each next one is strictly
 * higher, so "the highest level whose min_spend ≤ spend" is a scan from the
 * top and every spend ≥ 0 reaches some level.
 */
#include "rules/rules.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "rules/document.h"

#define MAX_TIER_SPEND 1000000000000000000LL /* 10^18 minor units */
#define MAX_WINDOW_DAYS 3650

static int parse_level_field(struct kp_doc *d, const char *key, json_t *v, const char *path,
			     struct kp_tier *t)
{
	assert(key != NULL && t != NULL);
	if (strcmp(key, "name") == 0) {
		if (!json_is_string(v) || json_string_length(v) < 1 ||
		    json_string_length(v) > KP_MAX_NAME)
			return kp_doc_fail(d, path, "must be a string of 1 to %d bytes",
					   KP_MAX_NAME);
		t->name = kp_doc_copy_string(v);
		return t->name ? 0 : kp_doc_out_of_memory(d);
	}
	if (strcmp(key, "min_spend") == 0)
		return kp_doc_integer(d, v, path, 0, MAX_TIER_SPEND, &t->min_spend);
	if (strcmp(key, "discount_percent") == 0)
		return kp_doc_percent(d, v, path, 100, &t->discount_bp);
	if (strcmp(key, "earn_percent") == 0)
		return kp_doc_percent(d, v, path, 100, &t->earn_bp);
	return kp_doc_fail(d, path, "unknown field");
}

/* One level: name and min_spend are required; earn_percent absent means "not set". */
static int parse_level(struct kp_doc *d, json_t *v, const char *path, struct kp_tier *t)
{
	const char *key;
	json_t *value;
	char sub[KP_DOC_PATH_MAX];
	bool have_spend = false;

	assert(t->name == NULL && t->rule_id == NULL);
	if (!json_is_object(v))
		return kp_doc_fail(d, path, "must be an object");
	t->earn_bp = -1;
	json_object_foreach(v, key, value)
	{
		int err;

		kp_doc_child_path(sub, path, key);
		err = parse_level_field(d, key, value, sub, t);
		if (err)
			return err;
		have_spend = have_spend || strcmp(key, "min_spend") == 0;
	}
	kp_doc_child_path(sub, path, t->name ? "min_spend" : "name");
	if (!t->name || !have_spend)
		return kp_doc_fail(d, sub, "is required");
	t->rule_id = kp_doc_rule_id("tier", t->name);
	if (!t->rule_id)
		return kp_doc_out_of_memory(d);
	assert(t->earn_bp >= -1 && t->earn_bp <= 10000);
	return 0;
}

/* A level against the ones before it: spends strictly increase from 0, names are unique. */
static int check_level(struct kp_doc *d, const char *path, const struct kp_tier *levels, size_t i)
{
	char sub[KP_DOC_PATH_MAX];

	assert(levels[i].name != NULL);
	kp_doc_child_path(sub, path, "min_spend");
	if (i == 0 && levels[0].min_spend != 0)
		return kp_doc_fail(d, sub, "must be 0 for the first level");
	if (i > 0 && levels[i].min_spend <= levels[i - 1].min_spend)
		return kp_doc_fail(d, sub, "must be greater than the level before");
	kp_doc_child_path(sub, path, "name");
	for (size_t j = 0; j < i; j++)
		if (strcmp(levels[j].name, levels[i].name) == 0)
			return kp_doc_fail(d, sub, "duplicate level name");
	return 0;
}

static int parse_levels(struct kp_doc *d, json_t *v, const char *path)
{
	struct kp_program *p = d->prog;
	size_t count = json_array_size(v);
	char sub[KP_DOC_PATH_MAX];

	assert(p->tiers == NULL && p->n_tiers == 0);
	if (!json_is_array(v) || count < 1 || count > KP_MAX_TIERS)
		return kp_doc_fail(d, path, "must be an array of 1 to %d levels", KP_MAX_TIERS);
	p->tiers = calloc(count, sizeof *p->tiers);
	if (!p->tiers)
		return kp_doc_out_of_memory(d);
	for (size_t i = 0; i < count; i++) {
		int err;

		kp_doc_index_path(sub, path, i);
		err = parse_level(d, json_array_get(v, i), sub, &p->tiers[i]);
		/* counted even when incomplete, so its name is freed with the program */
		p->n_tiers++;
		if (!err)
			err = check_level(d, sub, p->tiers, i);
		if (err)
			return err;
	}
	assert(p->n_tiers == count);
	return 0;
}

static int parse_choice(struct kp_doc *d, const json_t *v, const char *path, const char *a,
			const char *b, int *out)
{
	const char *s = json_string_value(v); /* NULL unless a string */

	assert(a != NULL && b != NULL);
	if (s && strcmp(s, a) == 0)
		*out = 0;
	else if (s && strcmp(s, b) == 0)
		*out = 1;
	else
		return kp_doc_fail(d, path, "must be \"%s\" or \"%s\"", a, b);
	return 0;
}

static int parse_tiers_field(struct kp_doc *d, const char *key, json_t *v, const char *path)
{
	struct kp_program *p = d->prog;
	int choice = 0, err;

	if (strcmp(key, "levels") == 0)
		return parse_levels(d, v, path);
	if (strcmp(key, "window_days") == 0)
		return kp_doc_integer(d, v, path, 1, MAX_WINDOW_DAYS, &p->tier_window_days);
	if (strcmp(key, "basis") == 0) {
		err = parse_choice(d, v, path, "lifetime", "rolling", &choice);
		p->tier_basis = choice ? KP_TIER_ROLLING : KP_TIER_LIFETIME;
		return err;
	}
	if (strcmp(key, "review") == 0) {
		err = parse_choice(d, v, path, "monthly", "yearly", &choice);
		p->tier_review = choice ? KP_REVIEW_YEARLY : KP_REVIEW_MONTHLY;
		return err;
	}
	return kp_doc_fail(d, path, "unknown field");
}

/*
 * The "tiers" section. Parsed at most once: campaigns parse it ahead of
 * document order when they come first, and the walk then skips it.
 */
int kp_doc_parse_tiers(struct kp_doc *d, json_t *v, const char *path)
{
	const char *key;
	json_t *value;
	char sub[KP_DOC_PATH_MAX];

	if (d->tiers_done)
		return 0;
	d->tiers_done = true;
	if (!json_is_object(v))
		return kp_doc_fail(d, path, "must be an object");
	json_object_foreach(v, key, value)
	{
		int err;

		kp_doc_child_path(sub, path, key);
		err = parse_tiers_field(d, key, value, sub);
		if (err)
			return err;
	}
	kp_doc_child_path(sub, path, "levels");
	if (d->prog->n_tiers == 0)
		return kp_doc_fail(d, sub, "is required");
	kp_doc_child_path(sub, path, "window_days");
	if (d->prog->tier_basis == KP_TIER_ROLLING && d->prog->tier_window_days == 0)
		return kp_doc_fail(d, sub, "is required when basis is \"rolling\"");
	if (d->prog->tier_basis == KP_TIER_LIFETIME && d->prog->tier_window_days != 0)
		return kp_doc_fail(d, sub, "only for basis \"rolling\"");
	assert(d->prog->tiers[0].min_spend == 0);
	return 0;
}

void kp_doc_free_tiers(struct kp_program *p)
{
	assert(p != NULL);
	assert(p->n_tiers == 0 || p->tiers != NULL);
	for (size_t i = 0; i < p->n_tiers; i++) {
		free(p->tiers[i].name);
		free((char *)p->tiers[i].rule_id);
	}
	free(p->tiers);
}

int kp_rules_tier_for_spend(const struct kp_program *program, int64_t spend)
{
	assert(program != NULL);
	assert(program->n_tiers <= KP_MAX_TIERS);
	/* levels ascend by min_spend, so the first from the top that fits is the highest */
	for (size_t i = program->n_tiers; i > 0; i--)
		if (program->tiers[i - 1].min_spend <= spend)
			return (int)(i - 1);
	return -1;
}

int kp_rules_tier_index(const struct kp_program *program, const char *name)
{
	assert(program != NULL && name != NULL);
	assert(program->n_tiers <= KP_MAX_TIERS);
	for (size_t i = 0; i < program->n_tiers; i++)
		if (strcmp(program->tiers[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * program_rewards.c — the "stamps" (stamp cards) and "thresholds" (points
 * that become a gift certificate) sections of a program document.
 *
 * Stamp cards keep document order: a SKU listed on several cards counts on
 * the first one only, so the order is meaning. Thresholds are stored sorted
 * by points, highest first, so a caller converting a balance tries the
 * largest reward first.
 */
#include "rules/rules.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "rules/document.h"

#define MAX_THRESHOLD 1000000000000LL /* 10^12 points or minor units */
#define MAX_STAMP_SKUS 256

static int parse_card_field(struct kp_doc *d, const char *key, json_t *v, const char *path,
			    struct kp_stamp_card *card)
{
	assert(key != NULL && card != NULL);
	if (strcmp(key, "id") == 0)
		return kp_doc_id(d, v, path, &card->id);
	if (strcmp(key, "skus") == 0)
		return kp_doc_string_set(d, v, path, 1, MAX_STAMP_SKUS, &card->skus, &card->n_skus);
	if (strcmp(key, "every") == 0)
		return kp_doc_integer(d, v, path, 2, 1000, &card->every);
	return kp_doc_fail(d, path, "unknown field");
}

/* One card: id, skus and every are all required; ids are unique among cards. */
static int parse_card(struct kp_doc *d, json_t *v, const char *path, struct kp_stamp_card *cards,
		      size_t index)
{
	struct kp_stamp_card *card = &cards[index];
	const char *key, *missing;
	json_t *value;
	char sub[KP_DOC_PATH_MAX];

	if (!json_is_object(v))
		return kp_doc_fail(d, path, "must be an object");
	json_object_foreach(v, key, value)
	{
		int err;

		kp_doc_child_path(sub, path, key);
		err = parse_card_field(d, key, value, sub, card);
		if (err)
			return err;
	}
	missing = !card->id ? "id" : card->n_skus == 0 ? "skus" : card->every == 0 ? "every" : NULL;
	kp_doc_child_path(sub, path, missing ? missing : "id");
	if (missing)
		return kp_doc_fail(d, sub, "is required");
	for (size_t j = 0; j < index; j++)
		if (strcmp(cards[j].id, card->id) == 0)
			return kp_doc_fail(d, sub, "duplicate stamp card id");
	card->rule_id = kp_doc_rule_id("stamp", card->id);
	if (!card->rule_id)
		return kp_doc_out_of_memory(d);
	assert(card->every >= 2 && card->every <= 1000);
	return 0;
}

int kp_doc_parse_stamps(struct kp_doc *d, json_t *v, const char *path)
{
	struct kp_program *p = d->prog;
	size_t count = json_array_size(v);
	char sub[KP_DOC_PATH_MAX];

	assert(p->stamps == NULL && p->n_stamps == 0);
	if (!json_is_array(v) || count > KP_MAX_STAMPS)
		return kp_doc_fail(d, path, "must be an array of at most %d stamp cards",
				   KP_MAX_STAMPS);
	if (count == 0)
		return 0;
	p->stamps = calloc(count, sizeof *p->stamps);
	if (!p->stamps)
		return kp_doc_out_of_memory(d);
	for (size_t i = 0; i < count; i++) {
		int err;

		kp_doc_index_path(sub, path, i);
		/* counted first, so a half-parsed card is freed with the program */
		p->n_stamps++;
		err = parse_card(d, json_array_get(v, i), sub, p->stamps, i);
		if (err)
			return err;
	}
	assert(p->n_stamps == count);
	return 0;
}

void kp_doc_free_stamps(struct kp_program *p)
{
	assert(p != NULL);
	assert(p->n_stamps == 0 || p->stamps != NULL);
	for (size_t i = 0; i < p->n_stamps; i++) {
		free(p->stamps[i].id);
		free((char *)p->stamps[i].rule_id);
		kp_doc_free_strings(p->stamps[i].skus, p->stamps[i].n_skus);
	}
	free(p->stamps);
	free(p->thresholds); /* thresholds own no strings */
}

static int parse_threshold(struct kp_doc *d, json_t *v, const char *path, struct kp_threshold *t)
{
	const char *key;
	json_t *value;
	char sub[KP_DOC_PATH_MAX];

	if (!json_is_object(v))
		return kp_doc_fail(d, path, "must be an object");
	json_object_foreach(v, key, value)
	{
		int err;

		kp_doc_child_path(sub, path, key);
		if (strcmp(key, "points") == 0)
			err = kp_doc_integer(d, value, sub, 1, MAX_THRESHOLD, &t->points);
		else if (strcmp(key, "gift_certificate") == 0)
			err = kp_doc_integer(d, value, sub, 1, MAX_THRESHOLD, &t->gift_certificate);
		else
			err = kp_doc_fail(d, sub, "unknown field");
		if (err)
			return err;
	}
	kp_doc_child_path(sub, path, t->points == 0 ? "points" : "gift_certificate");
	if (t->points == 0 || t->gift_certificate == 0)
		return kp_doc_fail(d, sub, "is required");
	assert(t->points > 0 && t->gift_certificate > 0);
	return 0;
}

static int compare_thresholds(const void *a, const void *b)
{
	const struct kp_threshold *x = a, *y = b;

	assert(x->points > 0 && y->points > 0);
	/* highest points first */
	return (x->points < y->points) - (x->points > y->points);
}

int kp_doc_parse_thresholds(struct kp_doc *d, json_t *v, const char *path)
{
	struct kp_program *p = d->prog;
	size_t count = json_array_size(v);
	char sub[KP_DOC_PATH_MAX];

	assert(p->thresholds == NULL && p->n_thresholds == 0);
	if (!json_is_array(v) || count > KP_MAX_THRESHOLDS)
		return kp_doc_fail(d, path, "must be an array of at most %d thresholds",
				   KP_MAX_THRESHOLDS);
	if (count == 0)
		return 0;
	p->thresholds = calloc(count, sizeof *p->thresholds);
	if (!p->thresholds)
		return kp_doc_out_of_memory(d);
	for (size_t i = 0; i < count; i++) {
		int err;

		kp_doc_index_path(sub, path, i);
		err = parse_threshold(d, json_array_get(v, i), sub, &p->thresholds[i]);
		if (err)
			return err;
		p->n_thresholds++;
	}
	qsort(p->thresholds, count, sizeof *p->thresholds, compare_thresholds);
	for (size_t i = 1; i < count; i++)
		if (p->thresholds[i - 1].points == p->thresholds[i].points)
			return kp_doc_fail(d, path, "points values must be distinct");
	assert(p->n_thresholds == count);
	return 0;
}

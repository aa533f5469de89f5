/*
 * program_charity.c — the "charity" section: the funds members can give to.
 *
 *   "charity": {"funds": [{"id": "children", "name": "Children's hospital"}]}
 *
 * Fund ids follow the campaign id alphabet and are unique. A fund is named
 * by the ref "fund:<id>" of the transfers that give it points, so an id is
 * at most KP_MAX_FUND_ID bytes. charity_percent campaigns name a fund, so
 * this section is parsed ahead of document order when "campaigns" come
 * first (see program_campaigns.c).
 */
#include "rules/rules.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "rules/document.h"

static int parse_fund(struct kp_doc *d, json_t *v, const char *path, struct kp_fund *f)
{
	char sub[KP_DOC_PATH_MAX];
	const char *key;
	json_t *value;
	if (!json_is_object(v))
		return kp_doc_fail(d, path, "must be an object");
	json_object_foreach(v, key, value) {
		kp_doc_child_path(sub, path, key);
		if (strcmp(key, "id") != 0 && strcmp(key, "name") != 0)
			return kp_doc_fail(d, sub, "unknown field");
	}
	kp_doc_child_path(sub, path, "id");
	json_t *id = json_object_get(v, "id");
	if (!id)
		return kp_doc_fail(d, sub, "is required");
	int err = kp_doc_id(d, id, sub, &f->id);
	if (err)
		return err;
	if (strlen(f->id) > KP_MAX_FUND_ID)
		return kp_doc_fail(d, sub, "at most %d characters", KP_MAX_FUND_ID);
	kp_doc_child_path(sub, path, "name");
	json_t *name = json_object_get(v, "name");
	if (!name)
		return kp_doc_fail(d, sub, "is required");
	if (!json_is_string(name) || json_string_length(name) < 1 ||
	    json_string_length(name) > KP_MAX_NAME)
		return kp_doc_fail(d, sub, "must be a string of 1 to %d bytes", KP_MAX_NAME);
	f->name = kp_doc_copy_string(name);
	return f->name ? 0 : kp_doc_out_of_memory(d);
}

static int parse_funds(struct kp_doc *d, json_t *v, const char *path)
{
	struct kp_program *p = d->prog;
	char sub[KP_DOC_PATH_MAX];
	size_t count = json_array_size(v);
	if (!json_is_array(v) || count > KP_MAX_FUNDS)
		return kp_doc_fail(d, path, "must be an array of at most %d funds", KP_MAX_FUNDS);
	if (count == 0)
		return 0;
	p->funds = calloc(count, sizeof *p->funds);
	if (!p->funds)
		return kp_doc_out_of_memory(d);
	for (size_t i = 0; i < count; i++) {
		kp_doc_index_path(sub, path, i);
		p->n_funds++; /* counted first, so a half-parsed fund is freed */
		int err = parse_fund(d, json_array_get(v, i), sub, &p->funds[i]);
		if (err)
			return err;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->funds[j].id, p->funds[i].id) == 0) {
				char id_path[KP_DOC_PATH_MAX];
				kp_doc_child_path(id_path, sub, "id");
				return kp_doc_fail(d, id_path, "duplicate fund id");
			}
	}
	assert(p->n_funds == count);
	return 0;
}

int kp_doc_parse_charity(struct kp_doc *d, json_t *v, const char *path)
{
	char sub[KP_DOC_PATH_MAX];
	const char *key;
	json_t *value;
	if (d->charity_done)
		return 0;
	d->charity_done = true;
	assert(d->prog->funds == NULL);
	if (!json_is_object(v))
		return kp_doc_fail(d, path, "must be an object");
	json_object_foreach(v, key, value) {
		kp_doc_child_path(sub, path, key);
		if (strcmp(key, "funds") != 0)
			return kp_doc_fail(d, sub, "unknown field");
		int err = parse_funds(d, value, sub);
		if (err)
			return err;
	}
	return 0;
}

void kp_doc_free_charity(struct kp_program *p)
{
	assert(p != NULL);
	for (size_t i = 0; i < p->n_funds; i++) {
		free(p->funds[i].id);
		free(p->funds[i].name);
	}
	free(p->funds);
}

const struct kp_fund *kp_rules_fund(const struct kp_program *program, const char *id)
{
	assert(program && id);
	for (size_t i = 0; i < program->n_funds; i++)
		if (strcmp(program->funds[i].id, id) == 0)
			return &program->funds[i];
	return NULL;
}

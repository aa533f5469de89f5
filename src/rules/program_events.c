/*
 * program_events.c — the "events" section: one-off bonuses.
 *
 *   "events": {"registration": {"points": 100},
 *              "birthday": {"points": 500, "days_before": 3},
 *              "referral": {"referrer_points": 300, "referee_points": 200},
 *              "review": {"points": 50, "per_month": 4},
 *              "subscription": {"points": 50, "once": true}, …}
 *
 * registration, birthday and referral are paid by the engine itself (at
 * sign-up, by the daily job, after the friend's first purchase); every other
 * key names a type the shop reports with POST /v1/members/{id}/events.
 */
#include "rules/rules.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "rules/document.h"

#define MAX_BONUS 1000000000LL

/* An object whose keys are all in `allowed`, each an integer in 0..MAX_BONUS unless listed. */
static int check_keys(struct kp_doc *d, json_t *v, const char *path, const char *const *allowed)
{
	const char *key;
	json_t *value;
	char sub[KP_DOC_PATH_MAX];
	if (!json_is_object(v))
		return kp_doc_fail(d, path, "must be an object");
	json_object_foreach(v, key, value) {
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = strcmp(*a, key) == 0;
		kp_doc_child_path(sub, path, key);
		if (!known)
			return kp_doc_fail(d, sub, "unknown field");
	}
	return 0;
}

static int bonus(struct kp_doc *d, json_t *obj, const char *path, const char *key, int64_t min,
		 int64_t max, bool required, int64_t *out)
{
	char sub[KP_DOC_PATH_MAX];
	json_t *v = json_object_get(obj, key);
	kp_doc_child_path(sub, path, key);
	if (!v)
		return required ? kp_doc_fail(d, sub, "is required") : 0;
	return kp_doc_integer(d, v, sub, min, max, out);
}

static int parse_special(struct kp_doc *d, const char *type, json_t *v, const char *path)
{
	struct kp_program *p = d->prog;
	if (strcmp(type, "registration") == 0) {
		static const char *const keys[] = {"points", NULL};
		int rc = check_keys(d, v, path, keys);
		return rc ? rc : bonus(d, v, path, "points", 1, MAX_BONUS, true,
				       &p->registration_points);
	}
	if (strcmp(type, "birthday") == 0) {
		static const char *const keys[] = {"points", "days_before", NULL};
		int rc = check_keys(d, v, path, keys);
		if (!rc)
			rc = bonus(d, v, path, "points", 1, MAX_BONUS, true, &p->birthday_points);
		return rc ? rc : bonus(d, v, path, "days_before", 0, 30, false,
				       &p->birthday_days_before);
	}
	assert(strcmp(type, "referral") == 0);
	static const char *const keys[] = {"referrer_points", "referee_points", NULL};
	int rc = check_keys(d, v, path, keys);
	if (!rc)
		rc = bonus(d, v, path, "referrer_points", 0, MAX_BONUS, false, &p->referrer_points);
	if (!rc)
		rc = bonus(d, v, path, "referee_points", 0, MAX_BONUS, false, &p->referee_points);
	if (!rc && p->referrer_points + p->referee_points == 0)
		rc = kp_doc_fail(d, path, "give referrer_points or referee_points");
	return rc;
}

static bool valid_type(const char *type)
{
	size_t n = strlen(type);
	return n >= 1 && n <= 32 && strspn(type, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static int parse_rule(struct kp_doc *d, const char *type, json_t *v, const char *path,
		      struct kp_event_rule *rule)
{
	static const char *const keys[] = {"points", "once", "per_month", NULL};
	char sub[KP_DOC_PATH_MAX];
	if (!valid_type(type))
		return kp_doc_fail(d, path, "an event type is 1 to 32 of a-z, 0-9 and _");
	int rc = check_keys(d, v, path, keys);
	if (!rc)
		rc = bonus(d, v, path, "points", 1, MAX_BONUS, true, &rule->points);
	if (!rc)
		rc = bonus(d, v, path, "per_month", 1, 1000, false, &rule->per_month);
	json_t *once = json_object_get(v, "once");
	kp_doc_child_path(sub, path, "once");
	if (!rc && once && !json_is_boolean(once))
		rc = kp_doc_fail(d, sub, "must be true or false");
	rule->once = once && json_is_true(once);
	if (!rc && !(rule->type = strdup(type)))
		rc = kp_doc_out_of_memory(d);
	return rc;
}

static int by_type(const void *a, const void *b)
{
	return strcmp(((const struct kp_event_rule *)a)->type,
		      ((const struct kp_event_rule *)b)->type);
}

int kp_doc_parse_events(struct kp_doc *d, json_t *v, const char *path)
{
	struct kp_program *p = d->prog;
	const char *type;
	json_t *value;
	char sub[KP_DOC_PATH_MAX];
	if (!json_is_object(v))
		return kp_doc_fail(d, path, "must be an object");
	if (json_object_size(v) > KP_MAX_EVENT_TYPES)
		return kp_doc_fail(d, path, "at most %d event types", KP_MAX_EVENT_TYPES);
	p->events = calloc(json_object_size(v) + 1, sizeof *p->events);
	if (!p->events)
		return kp_doc_out_of_memory(d);
	json_object_foreach(v, type, value) {
		int rc;
		kp_doc_child_path(sub, path, type);
		if (!strcmp(type, "registration") || !strcmp(type, "birthday") ||
		    !strcmp(type, "referral"))
			rc = parse_special(d, type, value, sub);
		else
			rc = parse_rule(d, type, value, sub, &p->events[p->n_events++]);
		if (rc)
			return rc;
	}
	qsort(p->events, p->n_events, sizeof *p->events, by_type);
	return 0;
}

void kp_doc_free_events(struct kp_program *p)
{
	for (size_t i = 0; p->events && i < p->n_events; i++)
		free(p->events[i].type);
	free(p->events);
	p->events = NULL;
	p->n_events = 0;
}

const struct kp_event_rule *kp_rules_event(const struct kp_program *program, const char *type)
{
	assert(program && type);
	struct kp_event_rule key = {.type = (char *)type};
	return program->n_events ? bsearch(&key, program->events, program->n_events,
					   sizeof key, by_type)
				 : NULL;
}

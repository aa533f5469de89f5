/*
 * audit.c — the audit log of admin changes: who (API key id), when, what
 * and to what. Entries are written in the same writer job as the change
 * they record, so a change and its entry commit together; the log is read
 * newest first with a cursor.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "util/error.h"
#include "util/timeutil.h"

int audit_write(struct kp_conn *c, int64_t key_id, const char *action, const char *target,
		json_t *details, int64_t now)
{
	assert(c && action && target);
	if (!details)
		details = json_object();
	char *text = details ? json_text(details) : NULL;
	json_decref(details);
	int rc = text ? c->ops->audit(c, key_id, action, target, text, now) : KP_ENOMEM;
	free(text);
	return rc;
}

struct audit_job {
	int64_t key_id, now;
	const char *action, *target;
	json_t *details;
};

static int audit_run(struct kp_conn *c, void *arg)
{
	struct audit_job *j = arg;
	json_incref(j->details); /* a retried job writes it again */
	return audit_write(c, j->key_id, j->action, j->target, j->details, j->now);
}

int kp_engine_audit(struct kp_engine *e, int64_t key_id, const char *action, const char *target,
		    json_t *details)
{
	assert(action && target);
	struct audit_job j = {.key_id = key_id, .now = kp_engine_now(e), .action = action,
			      .target = target, .details = details ? details : json_object()};
	int rc = j.details ? kp_writer_submit(e->writer, audit_run, &j) : KP_ENOMEM;
	json_decref(j.details);
	return rc;
}

struct audit_list {
	json_t *items;
	int64_t last_id; /* of the last item listed */
	size_t n, limit; /* rows seen; one beyond limit means there are more */
};

static int audit_item(void *arg, const struct kp_audit_row *r)
{
	struct audit_list *l = arg;
	if (l->n++ == l->limit)
		return 0;
	char at[21];
	kp_time_format(r->at, at);
	json_t *details = json_loads(r->details, 0, NULL);
	json_t *item = json_pack("{s:I,s:s,s:o,s:s,s:s,s:o}", "id", (json_int_t)r->id, "at", at,
				 "key_id", r->key_id ? json_integer(r->key_id) : json_null(),
				 "action", r->action, "target", r->target, "details",
				 details ? details : json_object());
	if (!item || json_array_append_new(l->items, item))
		return KP_ENOMEM;
	l->last_id = r->id;
	return 0;
}

int kp_engine_audit_list(struct kp_engine *e, const char *cursor, size_t limit, json_t **answer,
			 struct kp_why *why)
{
	assert(answer && limit >= 1 && limit <= 1000);
	int64_t before;
	if (parse_cursor(cursor, &before, why))
		return KP_EINVAL;
	struct audit_list l = {.items = json_array(), .limit = limit};
	if (!l.items)
		return KP_ENOMEM;
	struct kp_conn *c;
	int rc = reader_acquire(e, &c);
	if (!rc) {
		rc = c->ops->audit_list(c, before, limit + 1, audit_item, &l);
		reader_release(e, c);
	}
	if (rc) {
		json_decref(l.items);
		return rc;
	}
	*answer = list_page(l.items, l.n > limit, l.last_id);
	return *answer ? 0 : KP_ENOMEM;
}

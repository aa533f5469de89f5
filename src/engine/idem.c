/*
 * idem.c — answers kept for the Idempotency-Key header, inside the writer's
 * job so that the check, the work and the kept answer commit together.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "util/error.h"

int idem_replay(struct kp_conn *c, const struct kp_idem *idem, json_t **answer, int *status,
		struct kp_why *why)
{
	assert(idem && answer && status);
	char hash[KP_HASH_HEX], *stored = NULL;
	int rc = c->ops->idem_find(c, idem->scope, idem->key, hash, status, &stored);
	if (rc)
		return rc;
	if (strcmp(hash, idem->hash) != 0) {
		free(stored);
		return kp_why(why, KP_EIDEMPOTENCY, "Idempotency-Key %s was used with another body",
			      idem->key);
	}
	*answer = json_parse_stored(stored);
	free(stored);
	return *answer ? 0 : KP_ESTORE;
}

int idem_keep(struct kp_conn *c, const struct kp_idem *idem, int status, const json_t *answer,
	      int64_t now)
{
	char *text = json_text(answer);
	int rc = text ? c->ops->idem_insert(c, idem->scope, idem->key, idem->hash, status, text,
					    now)
		      : KP_ENOMEM;
	free(text);
	return rc;
}

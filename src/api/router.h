/*
 * router.h — from method and path to a handler, through authentication,
 * role checks and body parsing. The route table in router.c is the one
 * place that says which role may call what.
 */
#ifndef KP_API_ROUTER_H
#define KP_API_ROUTER_H

#include <stddef.h>

#include "api/http.h"

/* What the router learned about a request, for logs and metrics. */
struct route_outcome {
	size_t route;   /* index into kp_route_names(); n_routes when no route matched */
	int64_t key_id; /* the authenticated key, 0 if none */
};

/* Answer one request; res is always filled, unless a handler set res->deferred
 * (then `later` gets the answer; see answer_later in http.h). later may be NULL:
 * every answer at once. */
void kp_route(struct kp_engine *engine, struct kp_metrics *metrics, struct MHD_Connection *conn,
	      struct deferral *later, const char *url, const char *method, const char *body,
	      size_t body_len, struct response *res, struct route_outcome *outcome);

/* "GET /v1/members/{}", … for every route, in table order; *n is their number. */
const char *const *kp_route_names(size_t *n);

#endif

/*
 * router.h — from method and path to a handler, through authentication,
 * role checks and body parsing. The route table in router.c is the one
 * place that says which role may call what.
 */
#ifndef KP_API_ROUTER_H
#define KP_API_ROUTER_H

#include <stddef.h>

#include "api/http.h"

/* Answer one request; res is always filled. */
void kp_route(struct kp_engine *engine, struct MHD_Connection *conn, const char *url,
	      const char *method, const char *body, size_t body_len, struct response *res);

#endif

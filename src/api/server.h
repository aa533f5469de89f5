/*
 * server.h — the HTTP server: libmicrohttpd in front of the engine.
 *
 * One thread per connection (keep-alive connections stay with their
 * thread), so a request waiting for the writer's group commit blocks only
 * its own connection while the others fill the same batch. The server only
 * parses, authenticates, validates and maps errors; every decision is the
 * engine's.
 */
#ifndef KP_API_SERVER_H
#define KP_API_SERVER_H

#include <stdbool.h>

#include "engine/engine.h"

#define KP_MAX_BODY (1024 * 1024) /* bytes; larger bodies get 413 */
#define KP_MAX_CONNECTIONS 1024

struct kp_server;

struct kp_server_options {
	const char *listen;   /* "HOST:PORT", IPv4, e.g. "127.0.0.1:8080" */
	const char *tls_cert; /* PEM text of the certificate (chain), or NULL for plain HTTP */
	const char *tls_key;  /* PEM text of its private key */
	bool log_requests;    /* one JSON line per request on stderr */
};

/*
 * Serve. The engine must outlive the server. Returns 0, or an error with a
 * message in why.
 */
int kp_server_start(struct kp_engine *engine, const struct kp_server_options *options,
		    struct kp_server **out, struct kp_why *why);

/*
 * Stop accepting new connections, let the requests in flight finish (their
 * writes are committed and answered; at most KP_DRAIN_SECONDS), then close
 * everything and free the server.
 */
#define KP_DRAIN_SECONDS 10
void kp_server_stop(struct kp_server *s);

#endif

/*
 * server.h — the HTTP server: libmicrohttpd in front of the engine.
 *
 * A small pool of threads, each serving its share of the connections
 * with epoll; one listener thread deals new connections out to them in
 * turn (listener.h). A purchase is handed to the writer without waiting: its
 * connection is suspended until the group commit answers it, so a batch
 * can hold as many purchases as there are connections, whatever the number
 * of threads. Other requests run on their thread to the end; a slow one (a
 * large report or export) delays the other connections of its thread, not
 * the rest. The server only parses, authenticates, validates and maps
 * errors; every decision is the engine's.
 */
#ifndef KP_API_SERVER_H
#define KP_API_SERVER_H

#include <stdbool.h>

#include "engine/engine.h"

#define KP_MAX_BODY (1024 * 1024) /* bytes; larger bodies get 413 */
/*
 * libmicrohttpd's memory per connection: the request line and headers must fit
 * (about 15,000 bytes; more gets its 431). Small on purpose: it zeroes the part of
 * it a request used after every request, and 64 KiB a connection cost quotes ~10%.
 */
#define KP_CONNECTION_MEMORY (16 * 1024)
#define KP_MAX_CONNECTIONS 1024 /* default of --max-connections */
#define KP_MAX_CONNECTIONS_LIMIT 100000
#define KP_MAX_THREADS 256

struct kp_server;

struct kp_server_options {
	const char *listen;   /* "HOST:PORT", IPv4, e.g. "127.0.0.1:8080" */
	const char *tls_cert; /* PEM text of the certificate (chain), or NULL for plain HTTP */
	const char *tls_key;  /* PEM text of its private key */
	bool log_requests;    /* one JSON line per request on stderr */
	unsigned threads;     /* server threads; 0 = kp_server_default_threads() */
	unsigned max_connections; /* open at once; 0 = KP_MAX_CONNECTIONS; beyond: closed at once */
};

/* Two per core, at least 4, at most KP_MAX_THREADS. */
unsigned kp_server_default_threads(void);

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

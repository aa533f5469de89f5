/*
 * server.c — libmicrohttpd glue: collect the body within its limit, hand
 * the request to the router, send the JSON answer with a request id. A
 * handler may answer later (answer_later): its connection is suspended
 * until another thread has the answer, and no server thread waits for it.
 */
#include "api/server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/http.h"
#include "api/listener.h"
#include "api/reqlog.h"
#include "api/metrics.h"
#include "api/router.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/timeutil.h"

struct kp_server {
	struct kp_listener *listener;
	struct MHD_Daemon **daemons; /* one thread each; the listener deals connections out */
	unsigned n_daemons;
	struct kp_engine *engine;
	struct kp_metrics *metrics;
	struct kp_reqlog *log; /* the request log, or NULL (--quiet) */
	_Atomic uint64_t requests;
	_Atomic int64_t in_flight; /* requests being answered now */
	_Atomic int64_t deferred;  /* of those, waiting for another thread's answer */
	_Atomic int64_t arriving;  /* connections admitted, not yet started by their thread */
	uint32_t id_prefix;
	int64_t max_connections;
};

/* A request answered later: what the other thread answers, for which connection. */
struct deferral {
	struct kp_server *server;
	struct MHD_Connection *conn;
	struct response res;
	_Atomic bool answered;
};

/* Per request: the body as it arrives, when it began, and its answer to come. */
struct upload {
	char *body;
	size_t len, cap;
	bool too_large;
	int64_t started_ns;
	struct deferral later;
	bool waiting;                 /* suspended until later.res is answered */
	struct route_outcome outcome; /* of the request that waits */
};

struct response *answer_later(struct request *req, struct response *res)
{
	struct deferral *d = req->deferral;
	if (!d)
		return NULL;
	assert(!res->deferred);
	res->deferred = true;
	memset(&d->res, 0, sizeof d->res);
	atomic_store(&d->answered, false);
	atomic_fetch_add(&d->server->deferred, 1);
	/* before the work is handed over: a resume must never come first */
	MHD_suspend_connection(d->conn);
	return &d->res;
}

void answer_now(struct response *later)
{
	struct deferral *d = (struct deferral *)((char *)later - offsetof(struct deferral, res));
	struct MHD_Connection *conn = d->conn; /* d may be freed once resumed */
	struct kp_server *s = d->server;
	atomic_store(&d->answered, true);
	MHD_resume_connection(conn);
	atomic_fetch_sub(&s->deferred, 1); /* the server may stop now: nothing of d is used */
}

static int append_body(struct upload *u, const char *data, size_t n)
{
	if (u->too_large || u->len + n > KP_MAX_BODY) {
		u->too_large = true; /* keep reading to answer 413, but keep nothing */
		return 0;
	}
	if (u->len + n + 1 > u->cap) {
		size_t cap = u->cap ? u->cap : 4096;
		while (cap < u->len + n + 1)
			cap *= 2;
		char *b = realloc(u->body, cap);
		if (!b)
			return KP_ENOMEM;
		u->body = b;
		u->cap = cap;
	}
	memcpy(u->body + u->len, data, n);
	u->len += n;
	u->body[u->len] = '\0';
	return 0;
}

/*
 * One JSON line per request. It names the route's pattern, never the URL:
 * URLs can carry a phone number (?phone=) and the log must not.
 */
static void log_request(struct kp_reqlog *log, const char *id, const char *method,
			const char *route, int status, int64_t duration_ns, int64_t key_id)
{
	char ts[21], line[512];
	kp_time_format(kp_time_now_wall(), ts);
	int n = snprintf(line, sizeof line,
			 "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"request\",\"request_id\":"
			 "\"%s\",\"method\":\"%.16s\",\"route\":\"%s\",\"status\":%d,\"ms\":%.3f,"
			 "\"key_id\":%lld}\n",
			 ts, status >= 500 ? "error" : "info", id, method, route, status,
			 (double)duration_ns / 1e6, (long long)key_id);
	if (n > 0 && (size_t)n < sizeof line) /* routes and ids are short: always */
		kp_reqlog_line(log, line, (size_t)n, status >= 500);
}

static enum MHD_Result send_answer(struct MHD_Connection *conn, struct response *res,
				   const char *id)
{
	assert(res->status >= 200 && res->status < 600);
	/* Sorted keys: a replayed answer is byte for byte the first one. */
	char *text = res->text ? res->text
			       : res->body ? json_dumps(res->body, JSON_COMPACT | JSON_SORT_KEYS)
					   : NULL;
	json_decref(res->body);
	size_t len = text ? strlen(text) : 0;
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, text ? text : (char *)"",
						text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type",
				res->content_type ? res->content_type : "application/json");
	MHD_add_response_header(r, "X-Request-Id", id);
	if (res->status == 503)
		MHD_add_response_header(r, "Retry-After", "1");
	char retry[24];
	if (res->retry_after_s > 0) {
		snprintf(retry, sizeof retry, "%d", res->retry_after_s);
		MHD_add_response_header(r, "Retry-After", retry);
	}
	enum MHD_Result ok = MHD_queue_response(conn, (unsigned)res->status, r);
	MHD_destroy_response(r);
	return ok;
}

/* Send the answer, count it and log it: the request is over. */
static enum MHD_Result finish(struct kp_server *s, struct MHD_Connection *conn, struct upload *u,
			      const char *method, struct response *res,
			      const struct route_outcome *outcome)
{
	size_t n_routes;
	const char *const *names = kp_route_names(&n_routes);
	char id[40];
	snprintf(id, sizeof id, "%08x-%llu", s->id_prefix,
		 (unsigned long long)atomic_fetch_add(&s->requests, 1));
	int status = res->status;
	enum MHD_Result ok = send_answer(conn, res, id);
	int64_t took = kp_time_mono_ns() - u->started_ns;
	kp_metrics_record(s->metrics, outcome->route, status, took);
	if (s->log)
		log_request(s->log, id, method,
			    outcome->route < n_routes ? names[outcome->route] : "unmatched", status,
			    took, outcome->key_id);
	atomic_fetch_sub(&s->in_flight, 1);
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	struct kp_server *s = cls;
	struct upload *u = *con_cls;
	(void)version;
	if (!u) {
		u = calloc(1, sizeof *u);
		if (!u)
			return MHD_NO;
		u->started_ns = kp_time_mono_ns();
		u->later.conn = conn;
		u->later.server = s;
		*con_cls = u;
		return MHD_YES;
	}
	if (u->waiting) { /* resumed: the answer has come */
		assert(atomic_load(&u->later.answered));
		u->waiting = false;
		return finish(s, conn, u, method, &u->later.res, &u->outcome);
	}
	if (*data_size > 0) {
		if (append_body(u, data, *data_size))
			return MHD_NO;
		*data_size = 0;
		return MHD_YES;
	}
	struct response res = {0};
	struct route_outcome outcome = {0};
	size_t n_routes;
	kp_route_names(&n_routes);
	outcome.route = n_routes;
	atomic_fetch_add(&s->in_flight, 1);
	if (u->too_large)
		respond_errorf(&res, KP_ETOOLARGE, "body: larger than %d bytes", KP_MAX_BODY);
	else
		kp_route(s->engine, s->metrics, conn, &u->later, url, method,
			 u->body ? u->body : "", u->len, &res, &outcome);
	if (res.deferred) {
		u->waiting = true;
		u->outcome = outcome;
		return MHD_YES;
	}
	return finish(s, conn, u, method, &res, &outcome);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)conn, (void)toe;
	struct upload *u = *con_cls;
	if (u) {
		free(u->body);
		free(u);
		*con_cls = NULL;
	}
}

/*
 * The connection limit is ours, not libmicrohttpd's: its limit is per
 * daemon, and libmicrohttpd 0.9.75 leaves a thread that reaches its share
 * with connections accepted and never read (seen here with its thread pool:
 * bursts of 300 with 8 threads left 128 requests unanswered until the idle
 * timeout). So its own limit is set where no daemon reaches it, and the
 * listener closes a connection over ours as soon as it is accepted. A
 * connection counts from the moment it is admitted: the listener accepts a
 * burst faster than the server threads start its connections, and counting
 * only started ones let 100 of a burst of 300 in under a limit of 64.
 */
static bool admit(void *arg)
{
	struct kp_server *s = arg;
	if (kp_metrics_connections_open(s->metrics) + atomic_load(&s->arriving) <
	    s->max_connections) {
		atomic_fetch_add(&s->arriving, 1);
		return true;
	}
	kp_metrics_connection_refused(s->metrics);
	return false;
}

static void unadmit(void *arg)
{
	struct kp_server *s = arg;
	atomic_fetch_sub(&s->arriving, 1);
}

/* Which server thread (daemon) serves conn: an index into s->daemons. */
static unsigned thread_of(const struct kp_server *s, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
	for (unsigned i = 0; info && i < s->n_daemons; i++)
		if (s->daemons[i] == info->daemon)
			return i;
	return 0; /* not reached: every connection is one of ours */
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)socket_context;
	struct kp_server *s = cls;
	bool started = code == MHD_CONNECTION_NOTIFY_STARTED;
	kp_metrics_connection(s->metrics, thread_of(s, conn), started ? 1 : -1);
	if (started) /* counted as open now (for a moment twice: on the safe side) */
		atomic_fetch_sub(&s->arriving, 1);
}

unsigned kp_server_default_threads(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	long n = cores > 0 ? 2 * cores : 4;
	return (unsigned)(n < 4 ? 4 : n > KP_MAX_THREADS ? KP_MAX_THREADS : n);
}

static int parse_listen(const char *listen, struct sockaddr_in *addr, struct kp_why *why)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host)
		return kp_why(why, KP_EINVAL, "--listen %s: expected HOST:PORT", listen);
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_port = htons((uint16_t)port);
	if (*end || port < 1 || port > 65535 || inet_pton(AF_INET, host, &addr->sin_addr) != 1)
		return kp_why(why, KP_EINVAL, "--listen %s: expected an IPv4 HOST:PORT", listen);
	return 0;
}

/*
 * One server thread: a daemon with its own epoll set of connections, given
 * them by the listener. ITC: a connection added by the listener, or
 * resumed from the writer's sync thread, wakes it. Purchases wait for the
 * writer suspended, not in a thread (answer_later).
 */
static struct MHD_Daemon *start_daemon(struct kp_server *s, const struct kp_server_options *o)
{
	bool tls = o->tls_cert || o->tls_key;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_ITC |
			 (tls ? MHD_USE_TLS : 0);
	/* Its own limit holds all of ours (admit). */
	unsigned mhd_limit = (unsigned)s->max_connections + 16;
	/* the certificate options only with TLS: libmicrohttpd warns about them otherwise */
	struct MHD_OptionItem tls_options[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->tls_cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->tls_key},
		{MHD_OPTION_END, 0, NULL},
	};
	return MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_CONNECTION_LIMIT,
		mhd_limit, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)KP_CONNECTION_MEMORY, MHD_OPTION_ARRAY,
		tls ? tls_options : &tls_options[2], MHD_OPTION_END);
}

int kp_server_start(struct kp_engine *engine, const struct kp_server_options *o,
		    struct kp_server **out, struct kp_why *why)
{
	assert(engine && o && o->listen && out);
	struct sockaddr_in addr;
	int rc = parse_listen(o->listen, &addr, why);
	if (rc)
		return rc;
	bool tls = o->tls_cert || o->tls_key;
	if (tls && (!o->tls_cert || !o->tls_key))
		return kp_why(why, KP_EINVAL, "TLS needs both --tls-cert and --tls-key");
	if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return kp_why(why, KP_EINVAL, "this libmicrohttpd was built without TLS");
	size_t n_routes;
	const char *const *names = kp_route_names(&n_routes);
	unsigned threads = o->threads ? o->threads : kp_server_default_threads();
	assert(threads <= KP_METRICS_MAX_THREADS);
	struct kp_server *s = calloc(1, sizeof *s);
	if (!s || !(s->metrics = kp_metrics_new(names, n_routes, threads))) {
		free(s);
		return KP_ENOMEM;
	}
	s->engine = engine;
	if (o->log_requests && !(s->log = kp_reqlog_start(STDERR_FILENO))) {
		kp_metrics_free(s->metrics);
		free(s);
		return KP_ENOMEM;
	}
	kp_crypto_random(&s->id_prefix, sizeof s->id_prefix);
	s->max_connections = o->max_connections ? o->max_connections : KP_MAX_CONNECTIONS;
	int err = kp_listener_open(&addr, &s->listener);
	if (err) {
		kp_reqlog_stop(s->log);
		kp_metrics_free(s->metrics);
		free(s);
		return kp_why(why, KP_EINVAL, "cannot listen on %s: %s", o->listen,
			      err == EADDRINUSE ? "the address is in use" : strerror(err));
	}
	s->daemons = calloc(threads, sizeof *s->daemons);
	rc = s->daemons ? 0 : KP_ENOMEM;
	for (unsigned i = 0; !rc && i < threads; i++, s->n_daemons++) {
		s->daemons[i] = start_daemon(s, o);
		if (!s->daemons[i])
			rc = kp_why(why, KP_EINVAL, "cannot serve on %s%s", o->listen,
				    tls ? ": the TLS certificate or key is not valid" : "");
	}
	if (!rc &&
	    kp_listener_run(s->listener, s->daemons, s->n_daemons, admit, unadmit, s) != 0)
		rc = KP_ENOMEM;
	if (rc) {
		kp_listener_close(s->listener);
		for (unsigned i = 0; i < s->n_daemons; i++)
			if (s->daemons[i])
				MHD_stop_daemon(s->daemons[i]);
		free(s->daemons);
		kp_reqlog_stop(s->log);
		kp_metrics_free(s->metrics);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void kp_server_stop(struct kp_server *s)
{
	if (!s)
		return;
	/* Stop accepting (the kernel refuses new connections); connections
	 * open now get their requests answered. */
	kp_listener_close(s->listener);
	int64_t until = kp_time_mono_ns() + (int64_t)KP_DRAIN_SECONDS * 1000000000;
	struct timespec pause = {0, 5 * 1000 * 1000};
	while (atomic_load(&s->in_flight) > 0 && kp_time_mono_ns() < until)
		nanosleep(&pause, NULL);
	/* An answer still to come from the writer would touch its connection
	 * after the daemon freed it: wait for those whatever the time (the
	 * writer answers every job it took, within its store's timeouts). */
	while (atomic_load(&s->deferred) > 0)
		nanosleep(&pause, NULL);
	for (unsigned i = 0; i < s->n_daemons; i++)
		MHD_stop_daemon(s->daemons[i]);
	free(s->daemons);
	kp_reqlog_stop(s->log); /* after the daemons: no request is answered any more */
	kp_metrics_free(s->metrics);
	free(s);
}

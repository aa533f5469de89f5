/*
 * server.c — libmicrohttpd glue: collect the body within its limit, hand
 * the request to the router, send the JSON answer with a request id.
 */
#include "api/server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "api/router.h"
#include "util/crypto.h"
#include "util/error.h"

struct kp_server {
	struct MHD_Daemon *daemon;
	struct kp_engine *engine;
	_Atomic uint64_t requests;
	uint32_t id_prefix;
};

/* Per request: the body as it arrives. */
struct upload {
	char *body;
	size_t len, cap;
	bool too_large;
};

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

static enum MHD_Result send_answer(struct kp_server *s, struct MHD_Connection *conn,
				   struct response *res)
{
	assert(res->status >= 200 && res->status < 600);
	/* Sorted keys: a replayed answer is byte for byte the first one. */
	char *text = res->body ? json_dumps(res->body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(res->body);
	size_t len = text ? strlen(text) : 0;
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, text ? text : (char *)"",
						text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	char id[40];
	snprintf(id, sizeof id, "%08x-%llu", s->id_prefix,
		 (unsigned long long)atomic_fetch_add(&s->requests, 1));
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "X-Request-Id", id);
	if (res->status == 503)
		MHD_add_response_header(r, "Retry-After", "1");
	enum MHD_Result ok = MHD_queue_response(conn, (unsigned)res->status, r);
	MHD_destroy_response(r);
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
		*con_cls = u;
		return MHD_YES;
	}
	if (*data_size > 0) {
		if (append_body(u, data, *data_size))
			return MHD_NO;
		*data_size = 0;
		return MHD_YES;
	}
	struct response res = {0};
	if (u->too_large)
		respond_errorf(&res, KP_ETOOLARGE, "body: larger than %d bytes", KP_MAX_BODY);
	else
		kp_route(s->engine, conn, url, method, u->body ? u->body : "", u->len, &res);
	return send_answer(s, conn, &res);
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

int kp_server_start(struct kp_engine *engine, const char *listen, struct kp_server **out,
		    struct kp_why *why)
{
	assert(engine && listen && out);
	struct sockaddr_in addr;
	int rc = parse_listen(listen, &addr, why);
	if (rc)
		return rc;
	struct kp_server *s = calloc(1, sizeof *s);
	if (!s)
		return KP_ENOMEM;
	s->engine = engine;
	kp_crypto_random(&s->id_prefix, sizeof s->id_prefix);
	s->daemon = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &addr,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)KP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
	if (!s->daemon) {
		free(s);
		return kp_why(why, KP_EINVAL, "cannot listen on %s (in use, or not an address here)",
			      listen);
	}
	*out = s;
	return 0;
}

void kp_server_stop(struct kp_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	free(s);
}

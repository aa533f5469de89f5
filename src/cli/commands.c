/*
 * commands.c — `kopilka serve`, `init` and `verify`.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/ratelimit.h"
#include "api/server.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "engine/ticker.h"
#include "util/error.h"
#include "util/timeutil.h"

struct options {
	const char *db, *program, *listen, *admin_key;
	int test_clock;
	int test_retry;    /* serve --test-retry: every batch runs twice (writer.h) */
	long jobs_every_s; /* −1 = default: 60, or off with --test-clock */
	const char *now;   /* jobs run: the clock to run at, instead of the wall clock */
	const char *tls_cert, *tls_key; /* PEM files */
	int quiet;         /* no request log */
	long queue;        /* serve --queue: the writer queue's bound; 0 = default 4096 */
	long threads;      /* serve --threads: HTTP threads; 0 = default */
	long max_connections; /* serve --max-connections; 0 = default */
};

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},
		{"program", required_argument, NULL, 'p'},
		{"listen", required_argument, NULL, 'l'},
		{"admin-key", required_argument, NULL, 'k'},
		{"test-clock", no_argument, NULL, 't'},
		{"test-retry", no_argument, NULL, 'R'},
		{"jobs-every", required_argument, NULL, 'j'},
		{"now", required_argument, NULL, 'n'},
		{"tls-cert", required_argument, NULL, 'c'},
		{"tls-key", required_argument, NULL, 'K'},
		{"quiet", no_argument, NULL, 'q'},
		{"queue", required_argument, NULL, 'Q'},
		{"threads", required_argument, NULL, 'T'},
		{"max-connections", required_argument, NULL, 'M'},
		{"auth-failures", required_argument, NULL, 'A'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof *o);
	o->listen = "127.0.0.1:8080";
	o->admin_key = getenv("KOPILKA_ADMIN_KEY");
	o->jobs_every_s = -1;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->db = optarg; break;
		case 'p': o->program = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'k': o->admin_key = optarg; break;
		case 't': o->test_clock = 1; break;
		case 'R': o->test_retry = 1; break;
		case 'n': o->now = optarg; o->test_clock = 1; break;
		case 'c': o->tls_cert = optarg; break;
		case 'K': o->tls_key = optarg; break;
		case 'q': o->quiet = 1; break;
		case 'A': {
			/* Failed authentications per address before 429 (api/ratelimit.h). */
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 1000000) {
				fprintf(stderr, "kopilka: --auth-failures: from 1 to 1000000\n");
				return 2;
			}
			kp_ratelimit_configure((unsigned)n);
			break;
		}
		case 'Q': {
			char *end;
			o->queue = strtol(optarg, &end, 10);
			if (*end || o->queue < 1 || o->queue > 1000000) {
				fprintf(stderr, "kopilka: --queue: jobs from 1 to 1000000\n");
				return 2;
			}
			break;
		}
		case 'T': {
			char *end;
			o->threads = strtol(optarg, &end, 10);
			if (*end || o->threads < 1 || o->threads > KP_MAX_THREADS) {
				fprintf(stderr, "kopilka: --threads: from 1 to %d\n", KP_MAX_THREADS);
				return 2;
			}
			break;
		}
		case 'M': {
			char *end;
			o->max_connections = strtol(optarg, &end, 10);
			if (*end || o->max_connections < 1 ||
			    o->max_connections > KP_MAX_CONNECTIONS_LIMIT) {
				fprintf(stderr, "kopilka: --max-connections: from 1 to %d\n",
					KP_MAX_CONNECTIONS_LIMIT);
				return 2;
			}
			break;
		}
		case 'j': {
			char *end;
			o->jobs_every_s = strtol(optarg, &end, 10);
			if (*end || o->jobs_every_s < 0 || o->jobs_every_s > 86400) {
				fprintf(stderr, "kopilka: --jobs-every: seconds from 0 to 86400\n");
				return 2;
			}
			break;
		}
		default: return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kopilka: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!o->db) {
		fprintf(stderr, "kopilka: --db FILE is required\n");
		return 2;
	}
	return 0;
}

char *kp_read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(max + 1);
	size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
	int bad = ferror(f) || n > max;
	fclose(f);
	if (!buf || bad) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* A structured log line, like the request log: {"ts","level","msg",key:value}. */
static void log_event(const char *msg, const char *key, const char *value)
{
	char ts[21];
	kp_time_format(kp_time_now_wall(), ts);
	json_t *line = json_pack("{s:s,s:s,s:s,s:s}", "ts", ts, "level", "info", "msg", msg, key,
				 value);
	char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
	if (text)
		fprintf(stderr, "%s\n", text);
	free(text);
	json_decref(line);
}

/* Load the program file as a new version unless it is already the current one. */
static int load_program(struct kp_engine *e, const char *path)
{
	size_t len;
	char *doc = kp_read_file(path, 1024 * 1024, &len);
	if (!doc) {
		fprintf(stderr, "kopilka: cannot read program %s\n", path);
		return 1;
	}
	int64_t version;
	char *current = NULL;
	int same = kp_engine_program_get(e, &version, &current) == 0 && strcmp(current, doc) == 0;
	free(current);
	struct kp_why why = {""};
	int rc = same ? 0 : kp_engine_program_put(e, doc, len, &version, &why);
	free(doc);
	if (rc) {
		fprintf(stderr, "kopilka: program %s: %s\n", path,
			why.text[0] ? why.text : kp_strerror(rc));
		return 1;
	}
	char text[24];
	snprintf(text, sizeof text, "%lld", (long long)version);
	log_event(same ? "program unchanged" : "program loaded", "version", text);
	return 0;
}

static int open_engine(const struct options *o, struct kp_engine **e)
{
	struct kp_engine_config cfg = {.db = o->db, .test_clock = o->test_clock != 0,
				       .test_retry = o->test_retry != 0,
				       .queue_cap = (size_t)o->queue};
	struct kp_why why = {""};
	int rc = kp_engine_open(&cfg, e, &why);
	if (rc) {
		fprintf(stderr, "kopilka: %s: %s\n", o->db, why.text[0] ? why.text : kp_strerror(rc));
		return 1;
	}
	return 0;
}

/* The scheduler: runs the due jobs on a ticker every `--jobs-every` seconds. */
static bool run_due_jobs(void *arg)
{
	struct kp_engine *e = arg;
	struct kp_jobs_report r;
	struct kp_why why = {""};
	int rc = kp_engine_jobs_run(e, &r, &why);
	if (rc)
		fprintf(stderr, "kopilka: jobs: %s\n", why.text[0] ? why.text : kp_strerror(rc));
	return false;
}

static int wait_for_signal(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	int sig = 0;
	sigwait(&set, &sig);
	return sig;
}

int kp_cmd_serve(int argc, char **argv)
{
	struct options o;
	int rc = parse_options(argc, argv, &o);
	if (rc)
		return rc;
	/* Block the stop signals in every thread; the main thread waits for them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct kp_engine *e;
	if (open_engine(&o, &e))
		return 1;
	struct kp_why why = {""};
	struct kp_server *s = NULL;
	rc = o.admin_key ? kp_engine_ensure_admin_key(e, o.admin_key, &why) : 0;
	if (rc)
		fprintf(stderr, "kopilka: --admin-key: %s\n", why.text[0] ? why.text : kp_strerror(rc));
	if (!rc && o.program)
		rc = load_program(e, o.program);
	struct kp_server_options so = {.listen = o.listen, .log_requests = !o.quiet,
				       .threads = (unsigned)o.threads,
				       .max_connections = (unsigned)o.max_connections};
	size_t len;
	if (!rc && o.tls_cert && !(so.tls_cert = kp_read_file(o.tls_cert, 1 << 20, &len))) {
		fprintf(stderr, "kopilka: cannot read --tls-cert %s\n", o.tls_cert);
		rc = 1;
	}
	if (!rc && o.tls_key && !(so.tls_key = kp_read_file(o.tls_key, 1 << 20, &len))) {
		fprintf(stderr, "kopilka: cannot read --tls-key %s\n", o.tls_key);
		rc = 1;
	}
	if (!rc && (rc = kp_server_start(e, &so, &s, &why)))
		fprintf(stderr, "kopilka: %s\n", why.text);
	/* With a test clock, jobs run when the test asks, unless told otherwise. */
	long every_s = o.jobs_every_s >= 0 ? o.jobs_every_s : o.test_clock ? 0 : 60;
	struct kp_ticker sched = {0};
	if (!rc && every_s > 0 &&
	    (rc = kp_ticker_start(&sched, "kp-jobs", every_s * 1000, 0, run_due_jobs, e)))
		fprintf(stderr, "kopilka: cannot start the job scheduler\n");
	if (!rc) {
		log_event("serving", so.tls_cert ? "https" : "http", o.listen);
		int sig = wait_for_signal();
		log_event("stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
		kp_ticker_stop(&sched);
	}
	kp_server_stop(s);
	kp_engine_close(e);
	if (!rc)
		log_event("stopped", "db", o.db);
	free((char *)so.tls_cert);
	free((char *)so.tls_key);
	return rc ? 1 : 0;
}

int kp_cmd_init(int argc, char **argv)
{
	struct options o;
	int rc = parse_options(argc, argv, &o);
	if (rc)
		return rc;
	struct kp_engine *e;
	if (open_engine(&o, &e))
		return 1;
	rc = o.program ? load_program(e, o.program) : 0;
	kp_engine_close(e);
	if (!rc)
		printf("ok: %s is ready\n", o.db);
	return rc;
}

int kp_cmd_verify(int argc, char **argv)
{
	struct options o;
	int rc = parse_options(argc, argv, &o);
	if (rc)
		return rc;
	struct stat st;
	if (!strstr(o.db, "://") && stat(o.db, &st) != 0) { /* a file, not postgresql:// */
		fprintf(stderr, "kopilka: %s: no such database\n", o.db);
		return 1;
	}
	struct kp_engine *e;
	if (open_engine(&o, &e))
		return 1;
	struct kp_verify_report r;
	rc = kp_engine_verify(e, &r);
	kp_engine_close(e);
	if (rc) {
		fprintf(stderr, "kopilka: verify: %s\n", kp_strerror(rc));
		return 1;
	}
	if (r.problems) {
		printf("FAILED: %s (%lld problems)\n", r.first_problem, (long long)r.problems);
		return 1;
	}
	printf("ok: %lld members, %lld purchases, %lld lots, %lld transfers; "
	       "every invariant holds\n",
	       (long long)r.members, (long long)r.purchases, (long long)r.lots,
	       (long long)r.transfers);
	return 0;
}

int kp_cmd_jobs(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "run") != 0) {
		fprintf(stderr, "usage: kopilka jobs run --db FILE\n");
		return 2;
	}
	struct options o;
	int rc = parse_options(argc - 1, argv + 1, &o);
	if (rc)
		return rc;
	int64_t now = 0;
	if (o.now && kp_time_parse(o.now, &now)) {
		fprintf(stderr, "kopilka: --now: an RFC 3339 UTC time like 2027-01-01T00:00:00Z\n");
		return 2;
	}
	struct kp_engine *e;
	if (open_engine(&o, &e))
		return 1;
	if (o.now)
		kp_engine_set_clock(e, now);
	struct kp_jobs_report r;
	struct kp_why why = {""};
	rc = kp_engine_jobs_run(e, &r, &why);
	json_t *report = rc ? NULL : kp_jobs_report_json(&r);
	char *text = report ? json_dumps(report, JSON_COMPACT) : NULL;
	if (text)
		printf("%s\n", text);
	else
		fprintf(stderr, "kopilka: jobs: %s\n", why.text[0] ? why.text : kp_strerror(rc));
	free(text);
	json_decref(report);
	kp_engine_close(e);
	return text ? 0 : 1;
}

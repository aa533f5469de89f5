/*
 * report.c — `kopilka report settlement --db FILE --from DATE --to DATE
 * [--format csv|json]`: the settlement report of GET /v1/reports/settlement
 * on a database file (dates inclusive, UTC days). json prints the API's
 * answer; csv prints a header and one row per partner. Partner ids are
 * a-z 0-9 - _ . only, so no field needs quoting.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "util/error.h"
#include "util/timeutil.h"

static const char usage[] =
	"usage: kopilka report settlement --db FILE --from YYYY-MM-DD --to YYYY-MM-DD "
	"[--format csv|json]\n";

struct report_options {
	const char *db, *from, *to, *format;
};

static int parse(int argc, char **argv, struct report_options *o)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"format", required_argument, NULL, 'F'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof *o);
	o->format = "json";
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->db = optarg; break;
		case 'f': o->from = optarg; break;
		case 't': o->to = optarg; break;
		case 'F': o->format = optarg; break;
		default: return 2;
		}
	}
	if (optind != argc || !o->db || !o->from || !o->to ||
	    (strcmp(o->format, "csv") != 0 && strcmp(o->format, "json") != 0)) {
		fputs(usage, stderr);
		return 2;
	}
	return 0;
}

static void print_csv(const json_t *report)
{
	static const char *const cols[] = {"points_issued", "points_redeemed", "issued_value",
					   "redeemed_value", "net"};
	printf("partner");
	for (size_t k = 0; k < 5; k++)
		printf(",%s", cols[k]);
	printf("\n");
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(report, "partners"), i, p) {
		printf("%s", json_string_value(json_object_get(p, "partner")));
		for (size_t k = 0; k < 5; k++)
			printf(",%lld", (long long)json_integer_value(json_object_get(p, cols[k])));
		printf("\n");
	}
}

int kp_cmd_report(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "settlement") != 0) {
		fputs(usage, stderr);
		return 2;
	}
	struct report_options o;
	int rc = parse(argc - 1, argv + 1, &o);
	if (rc)
		return rc;
	int64_t d1, d2;
	if (kp_date_parse(o.from, &d1) || kp_date_parse(o.to, &d2) || d2 < d1) {
		fprintf(stderr, "kopilka: --from and --to: dates like 2027-01-31, from ≤ to\n");
		return 2;
	}
	struct stat st;
	if (!strstr(o.db, "://") && stat(o.db, &st) != 0) { /* a file, not postgresql:// */
		fprintf(stderr, "kopilka: %s: no such database\n", o.db);
		return 1;
	}
	struct kp_engine_config cfg = {.db = o.db};
	struct kp_engine *e;
	struct kp_why why = {""};
	if ((rc = kp_engine_open(&cfg, &e, &why))) {
		fprintf(stderr, "kopilka: %s: %s\n", o.db,
			why.text[0] ? why.text : kp_strerror(rc));
		return 1;
	}
	json_t *report = NULL;
	rc = kp_engine_settlement(e, d1 * KP_SECONDS_PER_DAY, (d2 + 1) * KP_SECONDS_PER_DAY,
				  &report, &why);
	kp_engine_close(e);
	if (rc) {
		fprintf(stderr, "kopilka: report: %s\n", why.text[0] ? why.text : kp_strerror(rc));
		return 1;
	}
	if (strcmp(o.format, "csv") == 0) {
		print_csv(report);
	} else {
		char *text = json_dumps(report, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (text)
			printf("%s\n", text);
		free(text);
	}
	json_decref(report);
	return 0;
}

/*
 * import.c — `kopilka import members --db FILE FILE.csv`: load members from
 * another system (docs/import.md). Prints a one-line JSON report and exits 0,
 * or prints "kopilka: import: line N: <field>: <problem>" and exits 1 having
 * loaded nothing; 2 for a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "util/error.h"

static const char usage[] = "usage: kopilka import members --db FILE FILE.csv\n";

/* argv after "import": "members", --db FILE and the file; 0, or 2 on a usage error. */
static int parse_args(int argc, char **argv, const char **db, const char **file)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	if (argc < 2 || strcmp(argv[1], "members") != 0) {
		fputs(usage, stderr);
		return 2;
	}
	*db = *file = NULL;
	optind = 1;
	int c;
	while ((c = getopt_long(argc - 1, argv + 1, "", longopts, NULL)) != -1) {
		if (c != 'd') {
			fputs(usage, stderr);
			return 2;
		}
		*db = optarg;
	}
	if (!*db || optind != argc - 2) {
		fputs(usage, stderr);
		return 2;
	}
	*file = argv[1 + optind];
	return 0;
}

static int report(const struct kp_import_report *r)
{
	json_t *j = json_pack("{s:I,s:I,s:I,s:I}", "rows", (json_int_t)r->rows, "created",
			      (json_int_t)r->created, "unchanged", (json_int_t)r->unchanged,
			      "points_loaded", (json_int_t)r->points_loaded);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (text)
		printf("%s\n", text);
	free(text);
	json_decref(j);
	return text ? 0 : 1;
}

int kp_cmd_import(int argc, char **argv)
{
	const char *db, *file;
	int rc = parse_args(argc, argv, &db, &file);
	if (rc)
		return rc;
	struct stat st;
	if (!strstr(db, "://") && stat(db, &st) != 0) { /* a file, not postgresql:// */
		fprintf(stderr, "kopilka: %s: no such database (make one with kopilka init)\n", db);
		return 1;
	}
	size_t len;
	char *csv = kp_read_file(file, KP_IMPORT_MAX_BYTES, &len);
	if (!csv) {
		fprintf(stderr, "kopilka: import: cannot read %s (or it is over %d MiB)\n", file,
			KP_IMPORT_MAX_BYTES >> 20);
		return 1;
	}
	struct kp_engine_config cfg = {.db = db};
	struct kp_why why = {""};
	struct kp_engine *e;
	if ((rc = kp_engine_open(&cfg, &e, &why))) {
		fprintf(stderr, "kopilka: %s: %s\n", db, why.text[0] ? why.text : kp_strerror(rc));
		free(csv);
		return 1;
	}
	struct kp_import_report r;
	rc = kp_engine_import_members(e, csv, len, &r, &why);
	kp_engine_close(e);
	free(csv);
	if (rc) {
		fprintf(stderr, "kopilka: import: %s\n", why.text[0] ? why.text : kp_strerror(rc));
		return 1;
	}
	return report(&r);
}

/*
 * backup.c — `kopilka backup --db FILE --to FILE`: an online backup.
 *
 * It may run while `kopilka serve` uses the database: the copy is one
 * committed state (store/sqlite_backup.c) and the server keeps serving.
 * To restore: stop the server, copy the backup over the database file
 * (removing FILE-wal and FILE-shm), start the server (docs/api.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/engine.h" /* store/store.h: kp_store_backup */
#include "util/error.h"

int kp_cmd_backup(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},
		{"to", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0},
	};
	const char *db = NULL, *to = NULL;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'o': to = optarg; break;
		default: return 2;
		}
	}
	if (optind != argc || !db || !to) {
		fprintf(stderr, "usage: kopilka backup --db FILE --to FILE\n");
		return 2;
	}
	char err[512] = "";
	int rc = kp_store_backup(db, to, err, sizeof err);
	if (rc) {
		fprintf(stderr, "kopilka: %s\n", err[0] ? err : kp_strerror(rc));
		return 1;
	}
	printf("ok: %s backed up to %s\n", db, to);
	return 0;
}

/*
 * main.c — the kopilka binary: one program, several subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/crypto.h"

static const char usage[] =
	"usage: kopilka <command> [options]\n"
	"\n"
	"  serve   --db FILE --program FILE --listen HOST:PORT --admin-key KEY [--test-clock]\n"
	"          serve the HTTP API (docs/api.md); KOPILKA_ADMIN_KEY may give the key\n"
	"          [--jobs-every SECONDS]  run due jobs this often (default 60; 0 = never)\n"
	"  init    --db FILE [--program FILE]   create a database (and load a program)\n"
	"  jobs run --db FILE [--now TIME]      run every job due now (or at TIME), print counts\n"
	"  verify  --db FILE                    check every ledger invariant\n"
	"  help                                 this text\n";

int main(int argc, char **argv)
{
	if (kp_crypto_init() != 0) {
		fprintf(stderr, "kopilka: cannot initialise libsodium\n");
		return 1;
	}
	if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "serve") == 0)
		return kp_cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "init") == 0)
		return kp_cmd_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "jobs") == 0)
		return kp_cmd_jobs(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return kp_cmd_verify(argc - 1, argv + 1);
	fprintf(stderr, "kopilka: unknown command '%s'\n\n%s", argv[1], usage);
	return 2;
}

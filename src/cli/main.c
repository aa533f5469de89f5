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
	"          [--tls-cert FILE --tls-key FILE]  serve HTTPS; [--quiet] no request log\n"
	"          [--queue N]  bound of the write queue (default 4096; full: 503)\n"
	"          [--threads N]  HTTP threads (default two per core, at least 4)\n"
	"          [--max-connections N]  open at once (default 1024; beyond: closed)\n"
	"          [--auth-failures N]  failed key checks per address in 60 s before 429\n"
	"                               (default 10)\n"
	"          [--test-retry]  tests: every write batch is rolled back once and rerun\n"
	"  init    --db FILE [--program FILE]   create a database (and load a program)\n"
	"  jobs run --db FILE [--now TIME]      run every job due now (or at TIME), print counts\n"
	"  import members --db FILE FILE.csv    load members from another system (docs/import.md)\n"
	"  verify  --db FILE                    check every ledger invariant\n"
	"  report settlement --db FILE --from DATE --to DATE [--format csv|json]\n"
	"                                       who owes whom in a coalition (docs/api.md)\n"
	"  backup  --db FILE --to FILE          an online backup, also while serving\n"
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
	if (strcmp(argv[1], "import") == 0)
		return kp_cmd_import(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return kp_cmd_verify(argc - 1, argv + 1);
	if (strcmp(argv[1], "report") == 0)
		return kp_cmd_report(argc - 1, argv + 1);
	if (strcmp(argv[1], "backup") == 0)
		return kp_cmd_backup(argc - 1, argv + 1);
	fprintf(stderr, "kopilka: unknown command '%s'\n\n%s", argv[1], usage);
	return 2;
}

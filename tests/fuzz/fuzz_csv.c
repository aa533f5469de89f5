/*
 * fuzz_csv.c — libFuzzer target: the CSV importer (kopilka import members).
 *
 * The input is a member file (docs/import.md). It goes first through the
 * bare CSV reader (util/csv.h), record by record, checking its promises:
 * it never reads or writes outside its buffers and each call consumes input
 * or ends. Then the whole file goes through the importer's parser and
 * checker (import_parse), with the tiers of examples/cosmetics-chain.json
 * (KP_FUZZ_PROGRAM names another), which must accept it or name the line
 * and field that is wrong, and never crash or leak.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/import_int.h"
#include "util/csv.h"
#include "util/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kp_program *program;

static void free_program(void)
{
	kp_rules_program_free(program);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *path = getenv("KP_FUZZ_PROGRAM");
	size_t len;
	char err[256];
	char *doc = kp_read_file(path ? path : "examples/cosmetics-chain.json", 1 << 20, &len);
	if (!doc || kp_rules_program_compile(doc, len, &program, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_csv: cannot load the program (run from the repository root)\n");
		abort();
	}
	free(doc);
	atexit(free_program);
	return 0;
}

/* The bare reader with a small arena, reset per record. */
static void read_records(const char *buf, size_t len)
{
	char arena[512];
	const char *fields[16];
	size_t lens[16];
	struct kp_csv r;
	kp_csv_init(&r, buf, len, 64);
	for (size_t records = 0; records <= len; records++) {
		struct kp_csv_record rec = {.arena = arena, .arena_cap = sizeof arena,
					    .fields = fields, .lens = lens, .cap_fields = 16};
		size_t before = r.pos;
		int rc = kp_csv_next(&r, &rec);
		if (rc != 1) {
			assert(rc == 0 || rc == KP_EINVAL || rc == KP_ETOOLARGE);
			if (rc == KP_EINVAL)
				assert(r.err_msg != NULL);
			return;
		}
		assert(r.pos > before && r.pos <= len);
		assert(rec.n >= 1 && rec.n <= 16 && rec.arena_used <= sizeof arena);
		for (size_t i = 0; i < rec.n; i++)
			assert(lens[i] <= 64 && fields[i][lens[i]] == '\0');
	}
	assert(!"the reader did not end");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *csv = (const char *)data;
	read_records(csv, size);
	struct import_rows rows = {0};
	struct kp_why why = {""};
	int rc = import_parse(program, csv, size, &rows, &why);
	assert(rc == 0 || rc == KP_EINVAL || rc == KP_ETOOLARGE || rc == KP_ENOMEM);
	assert(memchr(why.text, '\0', sizeof why.text) != NULL);
	if (rc == 0) {
		for (size_t i = 0; i < rows.n; i++)
			assert(rows.rows[i].external_id != NULL && rows.rows[i].points >= 0);
		import_rows_release(&rows);
	}
	return 0;
}

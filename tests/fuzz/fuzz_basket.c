/*
 * fuzz_basket.c — libFuzzer target: request JSON → validation → quote.
 *
 * The input is a request body, as POST /v1/purchases/quote receives it. It
 * is parsed as the router parses it (json_loadb, duplicate keys refused),
 * read by the server's own basket reader (api/basket.h) as an admin key and
 * as a pos key, and, when valid, quoted by the engine on a real SQLite
 * database that holds a program from examples/ and one member with points.
 * Every body's canonical text (the idempotency hash's) is also compared with
 * jansson's dump.
 *
 * KP_FUZZ_PROGRAM names the program document (default
 * examples/toy-store.json, read relative to the working directory: run from
 * the repository root, as `make fuzz` does).
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/basket.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "util/crypto.h"
#include "util/json_canonical.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kp_engine *engine;
static bool verbose; /* KP_FUZZ_VERBOSE=1: say what became of each input */
static char db_dir[] = "/tmp/kp-fuzz-XXXXXX";
static char db_path[sizeof db_dir + 8];

static void die(const char *what, int rc, const struct kp_why *why)
{
	fprintf(stderr, "fuzz_basket: %s: %d %s\n", what, rc, why ? why->text : "");
	abort();
}

static void cleanup(void)
{
	kp_engine_close(engine);
	engine = NULL;
	char p[sizeof db_path + 8];
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", db_path, suffixes[i]);
		unlink(p);
	}
	rmdir(db_dir);
}

/* Member 1 with 100 points from one purchase, so redemption has something to spend. */
static void add_member(void)
{
	struct kp_member_new m = {.phone = "+79001234567", .name = "Fuzz",
				  .consents = KP_CONSENT_PERSONAL_DATA};
	struct kp_why why = {""};
	json_t *answer = NULL;
	int status = 0;
	int rc = kp_engine_member_create(engine, &m, NULL, &answer, &status, &why);
	if (rc)
		die("member", rc, &why);
	json_decref(answer);
	struct kp_line_in line = {.sku = "lego-1", .category = "toys", .qty = 1, .price = 200000};
	struct kp_purchase_req req = {.receipt_id = "seed-1", .who = KP_REF_MEMBER,
				      .who_value = "1", .partner = "main", .lines = &line,
				      .n_lines = 1, .hash = "seed"};
	bool replay = false;
	char *text = NULL;
	rc = kp_engine_purchase_commit(engine, &req, &text, &replay, &why);
	if (rc)
		die("seed purchase", rc, &why);
	free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (kp_crypto_init() != 0 || !mkdtemp(db_dir))
		die("init", -1, NULL);
	snprintf(db_path, sizeof db_path, "%s/k.db", db_dir);
	const char *program = getenv("KP_FUZZ_PROGRAM");
	size_t len;
	char *doc = kp_read_file(program ? program : "examples/toy-store.json", 1 << 20, &len);
	if (!doc)
		die("cannot read the program (run from the repository root)", -1, NULL);
	struct kp_engine_config cfg = {.db = db_path, .test_clock = true};
	struct kp_why why = {""};
	int rc = kp_engine_open(&cfg, &engine, &why);
	if (rc)
		die("engine", rc, &why);
	kp_engine_set_clock(engine, 1780308000); /* 2026-06-01T10:00:00Z */
	int64_t version;
	rc = kp_engine_program_put(engine, doc, len, &version, &why);
	free(doc);
	if (rc)
		die("program", rc, &why);
	add_member();
	verbose = getenv("KP_FUZZ_VERBOSE") != NULL;
	atexit(cleanup);
	return 0;
}

/* The answer is JSON, printed exactly as jansson prints it with sorted keys
 * (util/jsonw.h): so a stored answer replays as the same bytes. */
static void assert_canonical(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, 0, &err);
	assert(v);
	char *again = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert(again && strcmp(again, text) == 0);
	free(again);
	json_decref(v);
}

/* The text under every idempotency hash (util/json_canonical.h) is jansson's
 * dump, byte for byte: otherwise stored hashes would stop matching. */
static void assert_same_as_jansson(const json_t *body)
{
	char *want = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	size_t len = 0;
	char *got = kp_json_canonical(body, &len);
	assert(want && got && len == strlen(want) && memcmp(got, want, len + 1) == 0);
	free(got);
	free(want);
}

static void read_and_quote(const json_t *body, const struct kp_principal *who, bool commit)
{
	struct basket_in b = {0};
	struct kp_why why = {""};
	int rc = api_read_basket(body, who, commit, &b, &why);
	/* What the HTTP layer sends back must be a string it can put in JSON. */
	assert(memchr(why.text, '\0', sizeof why.text));
	if (!rc) {
		assert(b.req.partner && (b.req.hash != NULL) == commit && b.req.n_lines >= 1);
		char *answer = NULL;
		rc = kp_engine_purchase_quote(engine, &b.req, &answer, &why);
		assert(rc ? answer == NULL : answer != NULL);
		if (answer)
			assert_canonical(answer);
		if (verbose)
			fprintf(stderr, "quote: %d %s\n", rc, why.text);
		free(answer);
	} else if (verbose) {
		fprintf(stderr, "basket: %d %s\n", rc, why.text);
	}
	api_basket_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct kp_principal admin = {.key_id = 1, .role = "admin"};
	static const struct kp_principal pos = {.key_id = 2, .role = "pos", .partner = "main"};
	if (size > 1 << 20)
		return 0; /* the server answers 413 before parsing */
	json_error_t err;
	json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
	if (!body)
		return 0;
	assert_same_as_jansson(body); /* an object or an array: no JSON_DECODE_ANY */
	read_and_quote(body, &admin, false);
	read_and_quote(body, &pos, true);
	json_decref(body);
	return 0;
}

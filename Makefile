# Kopilka — one plain Makefile.
#
#   make            build ./kopilka
#   make run        install what is missing, build, serve the sample program on 127.0.0.1:8080
#   make test       install what is missing, build, run every test (also under ASan+UBSan)
#   make bench      the benchmarks of bench/ (not part of make test)
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (default 300)
#   make soak       the crash-safety test with 1,000 SIGKILL cycles
#
# SAN=1 builds everything under build/san with AddressSanitizer and
# UndefinedBehaviorSanitizer (LeakSanitizer included).

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 libsodium libpq
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wpointer-arith -Wvla -Wundef
CFLAGS  ?= -O2 -g
CPPFLAGS += -std=c11 -D_GNU_SOURCE -Isrc -I$(B)/gen $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

ifeq ($(SAN),1)
B       := build/san
CFLAGS  += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
B       := build/rel
# The release build allocates with jemalloc: quotes/s +3.5 to +8% over glibc's
# malloc (docs/performance.md, fifth session). The sanitizers bring their own
# allocator, so SAN=1 and the fuzz targets keep theirs.
ALLOC_LIBS := -ljemalloc
endif

LIB_SRC  := $(wildcard src/util/*.c src/rules/*.c src/ledger/*.c src/store/*.c \
                       src/engine/*.c src/api/*.c) $(filter-out src/cli/main.c,$(wildcard src/cli/*.c))
MIGRATIONS := $(sort $(wildcard src/store/migrations/*.sql))
# the same list in PostgreSQL's dialect (src/store/pg.c checks they match)
PG_MIGRATIONS := $(sort $(wildcard src/store/migrations/pg/*.sql))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o) $(B)/gen/migrations.o $(B)/gen/migrations_pg.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

.PHONY: all deps deps-test run test unit api-test bench bench-bin clean fmt
all: kopilka

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test

kopilka: $(B)/kopilka
	cp $< $@.tmp && mv -f $@.tmp $@ # a running server keeps its old file

$(B)/kopilka: $(B)/src/cli/main.o $(B)/libkopilka.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(ALLOC_LIBS)

$(B)/libkopilka.a: $(LIB_OBJ)
	rm -f $@; ar rcs $@ $^

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -MMD -MP -c -o $@ $<

# The directories too: removing or renaming a migration changes no file left in the list.
$(B)/gen/migrations.c: scripts/embed-sql.sh $(MIGRATIONS) src/store/migrations
	@mkdir -p $(dir $@)
	scripts/embed-sql.sh $@ $(MIGRATIONS)

$(B)/gen/migrations.o: $(B)/gen/migrations.c
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c -o $@ $<

$(B)/gen/migrations_pg.c: scripts/embed-sql.sh $(PG_MIGRATIONS) src/store/migrations/pg
	@mkdir -p $(dir $@)
	KP_SQL_ARRAY=kp_pg_migrations scripts/embed-sql.sh $@ $(PG_MIGRATIONS)

$(B)/gen/migrations_pg.o: $(B)/gen/migrations_pg.c
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(B)/libkopilka.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libkopilka.a $(LDLIBS) -lcmocka \
		$(ALLOC_LIBS)

unit: $(UNIT_BIN)

run: deps
	$(MAKE) kopilka
	scripts/run-sample.sh

# The whole suite: a release build and a sanitized build, unit and API tests on both.
test: deps deps-test
	$(MAKE) kopilka unit
	$(MAKE) SAN=1 build/san/kopilka unit
	$(MAKE) fuzz-bin
	tests/run.sh

# The benchmarks: bench/run.sh builds nothing itself; these rules build its programs.
BENCH_BIN := build/rel/bench/gen build/rel/bench/engine build/rel/bench/load

bench: deps
	@scripts/deps.sh bench
	$(MAKE) kopilka bench-bin
	bench/run.sh

bench-bin: $(BENCH_BIN)

build/rel/bench/gen build/rel/bench/engine: build/rel/bench/%: bench/%.c bench/workload.c \
		bench/workload.h build/rel/libkopilka.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ $< bench/workload.c build/rel/libkopilka.a \
		$(LDLIBS) -ldl $(ALLOC_LIBS)

build/rel/bench/load: bench/load.c bench/workload.c bench/workload.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ bench/load.c bench/workload.c -lm

# libFuzzer targets (tests/fuzz/): clang with ASan and UBSan. The library is
# compiled again under build/fuzz with -fsanitize=fuzzer-no-link so the fuzzer
# sees its coverage. `make fuzz` runs each target FUZZ_SECONDS (default 300)
# from its seed corpus; new inputs go to build/fuzz/corpus/, crashes to
# build/fuzz/crash-*. `make test` runs each briefly and replays every
# input of tests/fuzz/regressions/ (tests/run.sh).
FUZZ_CC      := clang
FUZZ_SECONDS ?= 300
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g $(FUZZ_SAN)
FUZZ_CPPFLAGS = $(filter-out -I$(B)/gen,$(CPPFLAGS))
FUZZ_TARGETS := basket program csv
FUZZ_BIN     := $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
FUZZ_OBJ     := $(LIB_SRC:%.c=build/fuzz/%.o) build/fuzz/gen/migrations.o \
                build/fuzz/gen/migrations_pg.o

.PHONY: fuzz fuzz-bin soak
fuzz-bin: $(FUZZ_BIN)

build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(WARN) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

build/fuzz/gen/migrations.c: scripts/embed-sql.sh $(MIGRATIONS) src/store/migrations
	@mkdir -p $(dir $@)
	scripts/embed-sql.sh $@ $(MIGRATIONS)

build/fuzz/gen/migrations.o: build/fuzz/gen/migrations.c
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(WARN) $(FUZZ_CFLAGS) -c -o $@ $<

build/fuzz/gen/migrations_pg.c: scripts/embed-sql.sh $(PG_MIGRATIONS) src/store/migrations/pg
	@mkdir -p $(dir $@)
	KP_SQL_ARRAY=kp_pg_migrations scripts/embed-sql.sh $@ $(PG_MIGRATIONS)

build/fuzz/gen/migrations_pg.o: build/fuzz/gen/migrations_pg.c
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(WARN) $(FUZZ_CFLAGS) -c -o $@ $<

build/fuzz/libkopilka.a: $(FUZZ_OBJ)
	rm -f $@; ar rcs $@ $^

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/libkopilka.a
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(WARN) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
		build/fuzz/libkopilka.a $(LDLIBS)

fuzz: deps deps-test
	$(MAKE) fuzz-bin
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus/$$t && \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s" && \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=65536 \
			-artifact_prefix=build/fuzz/crash-$$t- build/fuzz/corpus/$$t \
			tests/fuzz/corpus/$$t || exit 1; \
	done

# The crash-safety test for long: 1,000 SIGKILL cycles (make test runs 50).
soak: deps deps-test
	$(MAKE) kopilka
	KP_CRASH_CYCLES=1000 python3 tests/api/test_crash.py

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build kopilka

-include $(shell find build -name '*.d' 2>/dev/null)

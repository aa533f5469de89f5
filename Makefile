# Kopilka — one plain Makefile.
#
#   make            build ./kopilka
#   make run        install what is missing, build, serve the sample program on 127.0.0.1:8080
#   make test       install what is missing, build, run every test (also under ASan+UBSan)
#   make bench      the benchmarks of bench/ (not part of make test)
#
# SAN=1 builds everything under build/san with AddressSanitizer and
# UndefinedBehaviorSanitizer (LeakSanitizer included).

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 libsodium
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
endif

LIB_SRC  := $(wildcard src/util/*.c src/rules/*.c src/ledger/*.c src/store/*.c \
                       src/engine/*.c src/api/*.c) $(filter-out src/cli/main.c,$(wildcard src/cli/*.c))
MIGRATIONS := $(sort $(wildcard src/store/migrations/*.sql))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o) $(B)/gen/migrations.o
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
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/libkopilka.a: $(LIB_OBJ)
	rm -f $@; ar rcs $@ $^

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/gen/migrations.c: scripts/embed-sql.sh $(MIGRATIONS)
	@mkdir -p $(dir $@)
	scripts/embed-sql.sh $@ $(MIGRATIONS)

$(B)/gen/migrations.o: $(B)/gen/migrations.c
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(B)/libkopilka.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libkopilka.a $(LDLIBS) -lcmocka

unit: $(UNIT_BIN)

run: deps
	$(MAKE) kopilka
	scripts/run-sample.sh

# The whole suite: a release build and a sanitized build, unit and API tests on both.
test: deps deps-test
	$(MAKE) kopilka unit
	$(MAKE) SAN=1 build/san/kopilka unit
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
		$(LDLIBS) -ldl

build/rel/bench/load: bench/load.c bench/workload.c bench/workload.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ bench/load.c bench/workload.c -lm

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build kopilka

-include $(shell find build -name '*.d' 2>/dev/null)

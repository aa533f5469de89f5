/*
 * test_allocator.c — which allocator the process runs on. The release build
 * links jemalloc (Makefile, ALLOC_LIBS), and every allocation of the process
 * must reach it: Kopilka's own, and those of the libraries it calls
 * (SQLite, jansson, libmicrohttpd), which find malloc by the dynamic linker's
 * order. The sanitized build must not link it: AddressSanitizer brings its
 * own allocator, and LeakSanitizer sees only what that one hands out.
 * The unit tests link as `kopilka` does, so this checks that link too.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

typedef int (*mallctl_fn)(const char *name, void *old, size_t *oldlen, void *new,
			  size_t newlen);

/* jemalloc's control entry point, or NULL when jemalloc is not in the process. */
static mallctl_fn find_mallctl(void)
{
	mallctl_fn f;
	void *sym = dlsym(RTLD_DEFAULT, "mallctl");
	memcpy(&f, &sym, sizeof f); /* a data pointer to a function pointer, as POSIX allows */
	return f;
}

#ifndef SANITIZED

/* Bytes jemalloc has handed this thread so far. */
static uint64_t allocated_here(mallctl_fn mallctl)
{
	uint64_t n = 0;
	size_t len = sizeof n;
	assert_int_equal(mallctl("thread.allocated", &n, &len, NULL, 0), 0);
	return n;
}

static void test_jemalloc_serves_malloc(void **state)
{
	(void)state;
	mallctl_fn mallctl = find_mallctl();
	assert_non_null(mallctl);
	const char *version = NULL;
	size_t len = sizeof version;
	assert_int_equal(mallctl("version", &version, &len, NULL, 0), 0);
	assert_int_equal(version[0], '5');
	/* Loaded is not enough: malloc itself must be jemalloc's. */
	uint64_t before = allocated_here(mallctl);
	void *p = malloc(1 << 20);
	assert_non_null(p);
	assert_true(allocated_here(mallctl) - before >= 1 << 20);
	free(p);
}

static void test_libraries_allocate_with_it(void **state)
{
	(void)state;
	mallctl_fn mallctl = find_mallctl();
	assert_non_null(mallctl);
	uint64_t before = allocated_here(mallctl);
	void *p = sqlite3_malloc(1 << 20); /* SQLite calls the malloc it was linked against */
	assert_non_null(p);
	assert_true(allocated_here(mallctl) - before >= 1 << 20);
	sqlite3_free(p);
}

#else

static void test_sanitized_build_has_no_jemalloc(void **state)
{
	(void)state;
	assert_null(find_mallctl());
}

#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
#ifndef SANITIZED
		cmocka_unit_test(test_jemalloc_serves_malloc),
		cmocka_unit_test(test_libraries_allocate_with_it),
#else
		cmocka_unit_test(test_sanitized_build_has_no_jemalloc),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

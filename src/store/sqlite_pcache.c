#include "store/sqlite_pcache.h"

#include <assert.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>

/* SQLite's lock-byte offset: its default, changed only by a test control. */
#define PENDING_BYTE 0x40000000u

/* A number SQLite never gives a page (they start at 1). */
#define STAND_IN_KEY 0u

static sqlite3_pcache_methods2 inner; /* the default cache, set by install */
static bool installed;
static atomic_uint_fast64_t renumbered;

struct cache {
	sqlite3_pcache *inner;
	unsigned temporary; /* the lock-byte page's number at this page size */
};

/* SQLite asks for no page 0 (the pager refuses that number as corrupt first). */
static unsigned inner_key(const struct cache *c, unsigned key)
{
	return key == c->temporary ? STAND_IN_KEY : key;
}

static int w_init(void *arg)
{
	return inner.xInit(arg);
}

static void w_shutdown(void *arg)
{
	inner.xShutdown(arg);
}

static sqlite3_pcache *w_create(int page_size, int extra, int purgeable)
{
	assert(page_size > 0);
	struct cache *c = sqlite3_malloc(sizeof *c);
	if (!c)
		return NULL;
	c->inner = inner.xCreate(page_size, extra, purgeable);
	if (!c->inner) {
		sqlite3_free(c);
		return NULL;
	}
	c->temporary = PENDING_BYTE / (unsigned)page_size + 1;
	return (sqlite3_pcache *)c;
}

static void w_cachesize(sqlite3_pcache *p, int pages)
{
	inner.xCachesize(((struct cache *)p)->inner, pages);
}

static int w_pagecount(sqlite3_pcache *p)
{
	return inner.xPagecount(((struct cache *)p)->inner);
}

static sqlite3_pcache_page *w_fetch(sqlite3_pcache *p, unsigned key, int create)
{
	struct cache *c = (struct cache *)p;
	return inner.xFetch(c->inner, inner_key(c, key), create);
}

static void w_unpin(sqlite3_pcache *p, sqlite3_pcache_page *page, int discard)
{
	inner.xUnpin(((struct cache *)p)->inner, page, discard);
}

static void w_rekey(sqlite3_pcache *p, sqlite3_pcache_page *page, unsigned from, unsigned to)
{
	struct cache *c = (struct cache *)p;
	if (to == c->temporary)
		atomic_fetch_add_explicit(&renumbered, 1, memory_order_relaxed);
	inner.xRekey(c->inner, page, inner_key(c, from), inner_key(c, to));
}

/* The limit is a bound, not a page: pages at the temporary number exist only
 * within a swap, never at a truncation. */
static void w_truncate(sqlite3_pcache *p, unsigned limit)
{
	inner.xTruncate(((struct cache *)p)->inner, limit);
}

static void w_destroy(sqlite3_pcache *p)
{
	struct cache *c = (struct cache *)p;
	inner.xDestroy(c->inner);
	sqlite3_free(c);
}

static void w_shrink(sqlite3_pcache *p)
{
	inner.xShrink(((struct cache *)p)->inner);
}

int kp_sqlite_pcache_install(void)
{
	sqlite3_pcache_methods2 found;
	int rc = sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &found);
	if (rc != SQLITE_OK)
		return rc;
	if (found.xCreate == w_create)
		return SQLITE_OK; /* installed already */
	inner = found;
	sqlite3_pcache_methods2 wrapper = {
		.iVersion = 1, .pArg = inner.pArg, .xInit = inner.xInit ? w_init : NULL,
		.xShutdown = inner.xShutdown ? w_shutdown : NULL, .xCreate = w_create,
		.xCachesize = w_cachesize, .xPagecount = w_pagecount, .xFetch = w_fetch,
		.xUnpin = w_unpin, .xRekey = w_rekey, .xTruncate = w_truncate,
		.xDestroy = w_destroy, .xShrink = w_shrink,
	};
	rc = sqlite3_config(SQLITE_CONFIG_PCACHE2, &wrapper); /* SQLite keeps a copy */
	installed = rc == SQLITE_OK;
	return rc;
}

bool kp_sqlite_pcache_installed(void)
{
	return installed;
}

uint64_t kp_sqlite_pcache_renumbered(void)
{
	return atomic_load_explicit(&renumbered, memory_order_relaxed);
}

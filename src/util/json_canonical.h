/*
 * json_canonical.h — the canonical text of a JSON value, as the idempotency
 * hashes read it.
 *
 * A request's hash (api/router.c, request_hash) is taken over
 * json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS), and every stored purchase,
 * refund and idempotent answer keeps such a hash, so the text must stay
 * those bytes exactly: keys in jansson's order (bytes compared with memcmp,
 * the shorter first on a tie), jansson's escapes (\" \\ \b \f \n \r \t, other
 * control characters and NUL as \u00XX in capitals), raw UTF-8, integers in
 * decimal, and reals as jansson prints them (it prints them itself here).
 * jansson's own dump sorts through qsort, prints numbers with snprintf and
 * calls back for every piece; this writes into one growing buffer, about a
 * third of a commit's instructions in the server threads before.
 */
#ifndef KP_UTIL_JSON_CANONICAL_H
#define KP_UTIL_JSON_CANONICAL_H

#include <jansson.h>
#include <stddef.h>

/*
 * The canonical text of v (an object or an array), malloc'ed and
 * NUL-terminated, its length in *len; NULL when out of memory. v's strings
 * and keys must be UTF-8, as jansson's parser and json_string() make them
 * (json_dumps would fail on one that is not; this would copy it).
 */
char *kp_json_canonical(const json_t *v, size_t *len);

#endif

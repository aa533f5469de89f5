/*
 * basket.h — the strict reader of a purchase basket (the body of
 * POST /v1/purchases and POST /v1/purchases/quote).
 *
 * It needs no HTTP connection: a parsed JSON body and the principal of the
 * key that sent it are enough, so the fuzzer (tests/fuzz/fuzz_basket.c)
 * drives exactly the code the server runs. Every field's type and range is
 * checked here (docs/api.md, "Limits") so that the engine only ever sees a
 * basket it can compute exactly.
 *
 * The strings of b->req point into body (and b->phone, b->hash, and the
 * principal for a pos key's partner): body and who must outlive b.
 */
#ifndef KP_API_BASKET_H
#define KP_API_BASKET_H

#include <jansson.h>
#include <stdbool.h>

#include "engine/engine.h"
#include "util/phone.h"

#define API_MAX_CODES 20 /* coupons, and gift certificates, per basket */

struct basket_in {
	struct kp_purchase_req req;
	struct kp_line_in *lines; /* malloc'ed; api_basket_release frees it */
	const char *codes[2][API_MAX_CODES];
	char phone[KP_PHONE_E164_MAX + 1];
	char hash[65];
};

/*
 * Read body into *b (zeroed by the caller: struct basket_in b = {0}).
 * commit: receipt_id is required. Returns 0, KP_EINVAL with the field's path
 * in why, KP_EFORBIDDEN (a pos key naming another partner) or KP_ENOMEM.
 * On every return the caller calls api_basket_release(b).
 */
int api_read_basket(const json_t *body, const struct kp_principal *who, bool commit,
		    struct basket_in *b, struct kp_why *why);

/* Free what api_read_basket allocated; b may be read again after it. */
void api_basket_release(struct basket_in *b);

#endif

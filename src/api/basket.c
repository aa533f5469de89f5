/*
 * basket.c — the strict reader of a purchase basket (see basket.h).
 * Moved out of h_purchases.c so that it runs without a connection.
 */
#include "api/basket.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "util/error.h"
#include "util/phone.h"

#define MAX_REDEEM 1000000000000LL

/* "lines[i]" for the messages, without snprintf: it ran for every line of every basket. */
static void line_path(char path[32], size_t i)
{
	char digits[24], *d = digits + sizeof digits;
	do
		*--d = (char)('0' + i % 10);
	while ((i /= 10) != 0);
	size_t n = (size_t)(digits + sizeof digits - d);
	memcpy(path, "lines[", 6);
	memcpy(path + 6, d, n);
	path[6 + n] = ']';
	path[7 + n] = '\0';
}

static int read_line(const json_t *l, size_t i, struct kp_line_in *out, struct kp_why *why)
{
	static const char *const fields[] = {"sku", "category", "qty", "price", NULL};
	char path[32];
	line_path(path, i);
	int rc = v_object(l, path, why);
	if (!rc)
		rc = v_keys(l, path, fields, why);
	if (!rc)
		rc = v_string(l, path, "sku", true, 1, KP_MAX_NAME, &out->sku, why);
	if (!rc)
		rc = v_string(l, path, "category", false, 1, KP_MAX_NAME, &out->category, why);
	if (!rc)
		rc = v_int(l, path, "qty", true, 1, KP_MAX_QTY, &out->qty, why);
	if (!rc)
		rc = v_int(l, path, "price", true, 0, KP_MAX_PRICE, &out->price, why);
	return rc;
}

static int read_lines(const json_t *body, struct basket_in *b, struct kp_why *why)
{
	json_t *lines;
	int rc = v_array(body, "", "lines", KP_MAX_LINES, &lines, why);
	if (rc)
		return rc;
	if (!lines || json_array_size(lines) == 0)
		return kp_why(why, KP_EINVAL, "lines: at least one line is required");
	b->req.n_lines = json_array_size(lines);
	b->lines = calloc(b->req.n_lines, sizeof *b->lines);
	if (!b->lines)
		return KP_ENOMEM;
	b->req.lines = b->lines;
	for (size_t i = 0; !rc && i < b->req.n_lines; i++)
		rc = read_line(json_array_get(lines, i), i, &b->lines[i], why);
	return rc;
}

static int read_codes(const json_t *body, const char *key, const char **out, size_t *n,
		      struct kp_why *why)
{
	json_t *arr;
	int rc = v_array(body, "", key, API_MAX_CODES, &arr, why);
	*n = arr ? json_array_size(arr) : 0;
	for (size_t i = 0; !rc && i < *n; i++) {
		json_t *v = json_array_get(arr, i);
		if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > 64)
			return kp_why(why, KP_EINVAL, "%s[%zu]: must be a string of 1 to 64 bytes",
				      key, i);
		out[i] = json_string_value(v);
	}
	return rc;
}

/* Who the purchase is for: at most one of member, card and phone. */
static int read_member_ref(const json_t *body, struct basket_in *b, struct kp_why *why)
{
	static const char *const keys[] = {"member", "card", "phone"};
	static const enum kp_member_ref refs[] = {KP_REF_MEMBER, KP_REF_CARD, KP_REF_PHONE};
	b->req.who = KP_REF_NONE;
	for (size_t i = 0; i < 3; i++) {
		const char *v;
		int rc = v_string(body, "", keys[i], false, 1, 40, &v, why);
		if (rc)
			return rc;
		if (!v)
			continue;
		if (b->req.who != KP_REF_NONE)
			return kp_why(why, KP_EINVAL, "%s: give only one of member, card, phone",
				      keys[i]);
		b->req.who = refs[i];
		b->req.who_value = v;
	}
	if (b->req.who == KP_REF_CARD && !kp_card_is_valid(b->req.who_value))
		return kp_why(why, KP_EINVAL, "card: %s is not a valid card number (check digit)",
			      b->req.who_value);
	if (b->req.who == KP_REF_PHONE) {
		if (kp_phone_normalize(b->req.who_value, b->phone))
			return kp_why(why, KP_EINVAL, "phone: %s is not a phone number",
				      b->req.who_value);
		b->req.who_value = b->phone;
	}
	return 0;
}

static int read_channel(const json_t *body, enum kp_channel *out, struct kp_why *why)
{
	const char *ch;
	int rc = v_string(body, "", "channel", false, 1, 16, &ch, why);
	*out = KP_CHANNEL_STORE;
	if (rc || !ch || strcmp(ch, "store") == 0)
		return rc;
	if (strcmp(ch, "online") == 0)
		*out = KP_CHANNEL_ONLINE;
	else if (strcmp(ch, "app") == 0)
		*out = KP_CHANNEL_APP;
	else
		return kp_why(why, KP_EINVAL, "channel: must be store, online or app");
	return 0;
}

int api_read_basket(const json_t *body, const struct kp_principal *who, bool commit,
		    struct basket_in *b, struct kp_why *why)
{
	static const char *const fields[] = {"receipt_id", "member", "card", "phone", "partner",
					     "channel", "lines", "redeem_points", "coupons",
					     "gift_certificates", "hold", NULL};
	/* request_hash reads only the body */
	const struct request hashed = {.json = (json_t *)body};
	const char *partner;
	bool hold = false;
	assert(who && b && why && !b->lines);
	int rc = v_object(body, "", why);
	if (!rc)
		rc = v_keys(body, "", fields, why);
	if (!rc)
		rc = v_id(body, "", "receipt_id", commit, KP_RECEIPT_MAX, &b->req.receipt_id, why);
	if (!rc)
		rc = read_member_ref(body, b, why);
	if (!rc)
		rc = v_string(body, "", "partner", false, 1, KP_PARTNER_MAX, &partner, why);
	if (!rc)
		rc = acting_partner_for(who, partner, &b->req.partner, why);
	if (!rc)
		rc = read_channel(body, &b->req.channel, why);
	if (!rc)
		rc = v_int(body, "", "redeem_points", false, 0, MAX_REDEEM, &b->req.redeem_points,
			   why);
	if (!rc)
		rc = v_bool(body, "", "hold", &hold, why);
	b->req.hold = hold;
	if (!rc)
		rc = read_codes(body, "coupons", b->codes[0], &b->req.n_coupons, why);
	if (!rc)
		rc = read_codes(body, "gift_certificates", b->codes[1], &b->req.n_certificates,
				why);
	b->req.coupons = b->codes[0];
	b->req.certificates = b->codes[1];
	if (!rc)
		rc = read_lines(body, b, why);
	if (!rc && commit) { /* a quote stores nothing, so nothing to compare a repeat with */
		request_hash(&hashed, "purchase", b->hash);
		b->req.hash = b->hash;
	}
	return rc;
}

void api_basket_release(struct basket_in *b)
{
	assert(b);
	free(b->lines);
	b->lines = NULL;
	b->req.lines = NULL;
}

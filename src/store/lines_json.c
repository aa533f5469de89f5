#include "store/lines_json.h"

#include <assert.h>
#include <jansson.h>
#include <string.h>

#include "util/error.h"
#include "util/jsonw.h"

/* A line's fields in their stored order (lines_json.h). */
enum {
	F_SKU, F_CATEGORY, F_QTY, F_PRICE, F_AMOUNT, F_DISCOUNT, F_POINTS, F_CERTIFICATES,
	F_PAID, F_EARNED, F_REFUNDED_QTY, F_STAMP_CARD, F_FREE_UNITS, F_COUNT
};

char *kp_lines_json(const struct kp_purchase_line_row *lines, size_t n)
{
	assert(lines || n == 0);
	struct jw w;
	jw_init(&w);
	jw_array_begin(&w);
	for (size_t i = 0; i < n; i++) {
		/* no assertion on the values: a refund writes back lines read from
		 * rows of before 0011 as they are, and line_no is the line's place */
		const struct kp_purchase_line_row *l = &lines[i];
		jw_array_begin(&w);
		jw_string(&w, l->sku);
		jw_string(&w, l->category[0] ? l->category : NULL);
		const int64_t amounts[] = {l->qty, l->price, l->amount, l->discount, l->points,
					   l->certificates, l->paid, l->earned, l->refunded_qty};
		for (size_t k = 0; k < sizeof amounts / sizeof amounts[0]; k++)
			jw_int(&w, amounts[k]);
		jw_string(&w, l->stamp_card);
		jw_int(&w, l->free_units);
		jw_array_end(&w);
	}
	jw_array_end(&w);
	return jw_finish(&w);
}

/* A string field into dst; false when it is neither a string nor (if allowed) null, or
 * does not fit. */
static bool copy_text(const json_t *v, bool null_ok, char *dst, size_t size)
{
	if (null_ok && json_is_null(v)) {
		dst[0] = '\0';
		return true;
	}
	if (!json_is_string(v) || json_string_length(v) >= size)
		return false;
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return true;
}

static bool parse_line(const json_t *a, struct kp_purchase_line_row *l)
{
	if (!json_is_array(a) || json_array_size(a) != F_COUNT)
		return false;
	int64_t *const ints[F_COUNT] = {
		[F_QTY] = &l->qty, [F_PRICE] = &l->price, [F_AMOUNT] = &l->amount,
		[F_DISCOUNT] = &l->discount, [F_POINTS] = &l->points,
		[F_CERTIFICATES] = &l->certificates, [F_PAID] = &l->paid,
		[F_EARNED] = &l->earned, [F_REFUNDED_QTY] = &l->refunded_qty,
		[F_FREE_UNITS] = &l->free_units,
	};
	for (size_t f = 0; f < F_COUNT; f++) {
		const json_t *v = json_array_get(a, f);
		if (!ints[f])
			continue;
		if (!json_is_integer(v))
			return false;
		*ints[f] = json_integer_value(v);
	}
	return copy_text(json_array_get(a, F_SKU), false, l->sku, sizeof l->sku) &&
	       copy_text(json_array_get(a, F_CATEGORY), true, l->category, sizeof l->category) &&
	       copy_text(json_array_get(a, F_STAMP_CARD), false, l->stamp_card,
			 sizeof l->stamp_card) &&
	       l->qty > 0 && l->refunded_qty >= 0 && l->refunded_qty <= l->qty;
}

int kp_lines_parse(const char *text, struct kp_purchase_line_row *out, size_t cap, size_t *n)
{
	assert(text && out && n);
	*n = 0;
	json_t *root = json_loads(text, 0, NULL);
	if (!json_is_array(root)) {
		json_decref(root);
		return KP_ESTORE;
	}
	int rc = json_array_size(root) > cap ? KP_ETOOLARGE : 0;
	for (size_t i = 0; !rc && i < json_array_size(root); i++) {
		struct kp_purchase_line_row *l = &out[i];
		memset(l, 0, sizeof *l);
		l->line_no = (int64_t)i;
		rc = parse_line(json_array_get(root, i), l) ? 0 : KP_ESTORE;
	}
	if (!rc)
		*n = json_array_size(root);
	json_decref(root);
	return rc;
}

/*
 * lines_json.h — a purchase's lines as both stores keep them: one JSON text
 * in the purchase's own row (purchases.lines), not a row per line.
 *
 * A line row with its two primary-key entries cost the writer about a sixth
 * of a purchase (docs/performance.md, eleventh session); the lines are only
 * ever read whole, by their purchase. The text is an array with one array
 * per line, in line order (a line's number is its place), each holding
 *
 *   [sku, category, qty, price, amount, discount, points, certificates,
 *    paid, earned, refunded_qty, stamp_card, free_units]
 *
 * category is null when the line has none; stamp_card is "" when none.
 * Migration 0011 wrote the earlier purchase_lines rows in this form, and
 * `kopilka verify` sums the lines from it in SQL (store/verify_sql.c), so
 * the positions are part of the schema: append, never reorder.
 */
#ifndef KP_STORE_LINES_JSON_H
#define KP_STORE_LINES_JSON_H

#include <stddef.h>

#include "store/store.h"

/* The lines' text, malloc'ed (the caller frees it); NULL when out of memory.
 * A line's number is its place in the array: line_no is not written. */
char *kp_lines_json(const struct kp_purchase_line_row *lines, size_t n);

/*
 * The lines of a stored text into out[0..*n), line_no set to each one's
 * place. KP_ETOOLARGE if there are more than cap; KP_ESTORE if the text is
 * not lines in the form above (a damaged row: nothing else writes it).
 */
int kp_lines_parse(const char *text, struct kp_purchase_line_row *out, size_t cap, size_t *n);

#endif

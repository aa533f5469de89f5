/*
 * phone.h — phone numbers to E.164, so one person is one member however the
 * till typed the number.
 *
 * Separators (spaces, dashes, dots, parentheses) are dropped. Russian
 * national forms become +7: "8 900 123-45-67", "7 900…", "900 123 45 67"
 * (ten digits starting with 9). Anything else must be international: "+" and
 * 8 to 15 digits. A '+' that a URL query turned into a space is tolerated:
 * 11 to 15 digits without a '+' that are not a Russian form are read as
 * international.
 */
#ifndef KP_UTIL_PHONE_H
#define KP_UTIL_PHONE_H

#include <stddef.h>

#define KP_PHONE_E164_MAX 16 /* "+" and at most 15 digits */

/* Returns 0 and out ("+79001234567"), or KP_EINVAL. out holds 17 bytes. */
int kp_phone_normalize(const char *in, char out[KP_PHONE_E164_MAX + 1]);

#endif

#include "util/phone.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include "util/error.h"

int kp_phone_normalize(const char *in, char out[KP_PHONE_E164_MAX + 1])
{
	assert(in && out);
	char digits[32];
	size_t n = 0;
	bool plus = false;
	for (const char *p = in; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			if (n == sizeof digits - 1)
				return KP_EINVAL;
			digits[n++] = *p;
		} else if (*p == '+' && n == 0 && !plus) {
			plus = true;
		} else if (!strchr(" -.()", *p)) {
			return KP_EINVAL;
		}
	}
	digits[n] = '\0';
	const char *national = NULL;
	if (!plus && n == 11 && (digits[0] == '8' || digits[0] == '7'))
		national = digits + 1;
	else if (!plus && n == 10 && digits[0] == '9')
		national = digits;
	if (national) {
		out[0] = '+';
		out[1] = '7';
		memcpy(out + 2, national, 11);
		return 0;
	}
	if (n < (plus ? 8u : 11u) || n > 15 || digits[0] == '0')
		return KP_EINVAL;
	out[0] = '+';
	memcpy(out + 1, digits, n + 1);
	return 0;
}

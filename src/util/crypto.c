#include "util/crypto.h"

#include <assert.h>
#include <sodium.h>

int kp_crypto_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

void kp_crypto_hash_hex(const void *data, size_t len, char out[KP_HASH_HEX_LEN + 1])
{
	unsigned char h[32];
	assert(data || len == 0);
	crypto_generichash(h, sizeof h, data, len, NULL, 0);
	sodium_bin2hex(out, KP_HASH_HEX_LEN + 1, h, sizeof h);
}

void kp_crypto_random(void *buf, size_t n)
{
	randombytes_buf(buf, n);
}

uint32_t kp_crypto_uniform(uint32_t upper)
{
	assert(upper > 0);
	return randombytes_uniform(upper);
}

int kp_crypto_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

/*
 * crypto.h — hashing and randomness, from libsodium (never hand-written).
 *
 * kp_crypto_init must run once before any other call (kopilka's main does).
 * Hashes are BLAKE2b-256 as 64 lower-case hex digits. Random values come
 * from the operating system's CSPRNG.
 */
#ifndef KP_UTIL_CRYPTO_H
#define KP_UTIL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define KP_HASH_HEX_LEN 64

/* Returns 0, or -1 if libsodium cannot initialise (then nothing is safe). */
int kp_crypto_init(void);

/* out = hex(BLAKE2b-256(data)); out holds KP_HASH_HEX_LEN + 1 bytes. */
void kp_crypto_hash_hex(const void *data, size_t len, char out[KP_HASH_HEX_LEN + 1]);

/* n random bytes. */
void kp_crypto_random(void *buf, size_t n);

/* A uniformly random integer in [0, upper). upper > 0. */
uint32_t kp_crypto_uniform(uint32_t upper);

/* Constant-time equality of two buffers of n bytes: 1 if equal. */
int kp_crypto_equal(const void *a, const void *b, size_t n);

#endif

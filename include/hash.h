/* The hashing the daemon's tables share: FNV-1a over bytes, and murmur3's
 * finaliser after it, because FNV alone leaves the low bits poorly mixed
 * for keys that differ only in their last characters (sample_0000001,
 * ids from one counter). */
#ifndef LIGHTLYFS_HASH_H
#define LIGHTLYFS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define HASH_FNV_PRIME UINT64_C(0x100000001b3)

static inline uint64_t hash_fnv1a(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= HASH_FNV_PRIME;
	}
	return h;
}

static inline uint64_t hash_mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

/* One account on one server: names its files in the state directory
 * (the journal, the offline snapshot) without the token ever showing. */
static inline uint64_t hash_account(const char *server, size_t server_len,
				    const char *account, size_t account_len)
{
	uint64_t h = hash_fnv1a(HASH_FNV_OFFSET, server, server_len);

	h = hash_fnv1a(h, "\n", 1);
	return hash_fnv1a(h, account, account_len);
}

#endif

/* A tag's sample set as a bit set: bit k is the sample with index k
 * (API-NOTES: least significant bit first).  Converts to and from the
 * API's "0x…" lower-case hex form and does the tag arithmetic. */
#ifndef LIGHTLYFS_BITMASK_H
#define LIGHTLYFS_BITMASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caller-owned; init/dispose.  Bits at or beyond nbits read as 0. */
struct bitmask {
	uint64_t *words;
	size_t nbits; /* logical size: highest settable bit + 1 */
};

/* An empty set able to hold nbits bits.  0 or -ENOMEM. */
int bitmask_init(struct bitmask *bm, size_t nbits);
void bitmask_dispose(struct bitmask *bm);
/* Grows (never shrinks) the logical size, new bits clear.  0 or -ENOMEM. */
int bitmask_resize(struct bitmask *bm, size_t nbits);
/* dst (initialised) becomes a copy of src, nbits included.  0 or -ENOMEM
 * (dst unchanged). */
int bitmask_copy(struct bitmask *dst, const struct bitmask *src);

/* Parses "0x…" (lower-case, no leading zeros except "0x0").  Like
 * bitmask_init, bm need not be initialised on entry (an initialised one would
 * leak); dispose it afterwards whatever the result.  The result has
 * nbits = max_bits.  -EINVAL for a malformed string or a set bit at index
 * >= max_bits, -ENOMEM.  On error bm is left initialised and empty
 * (nbits 0). */
int bitmask_from_hex(struct bitmask *bm, const char *hex, size_t len,
		     size_t max_bits);
/* Canonical hex form, malloc'd NUL-terminated string in *out (caller frees).
 * 0 or -ENOMEM. */
int bitmask_to_hex(const struct bitmask *bm, char **out);

bool bitmask_test(const struct bitmask *bm, size_t bit);
/* Setting a bit beyond nbits is a programmer error (assert). */
void bitmask_set(struct bitmask *bm, size_t bit);
void bitmask_clear(struct bitmask *bm, size_t bit);
/* Sets (on) or clears bit, growing bm first when needed (to nbits, or
 * past bit).  0 or -ENOMEM. */
int bitmask_put(struct bitmask *bm, size_t bit, bool on, size_t nbits);
size_t bitmask_count(const struct bitmask *bm);
/* How many bits below bit are set: bit's place in the set's order. */
size_t bitmask_rank(const struct bitmask *bm, size_t bit);
bool bitmask_is_empty(const struct bitmask *bm);
/* Same set of bits; nbits may differ (bits beyond it read as 0). */
bool bitmask_equal(const struct bitmask *a, const struct bitmask *b);
/* The first set bit >= from, or SIZE_MAX when there is none. */
size_t bitmask_next(const struct bitmask *bm, size_t from);

/* dst = a op b; dst (initialised) gets max(a.nbits, b.nbits).  dst may
 * alias a or b.  0 or -ENOMEM (dst unchanged). */
int bitmask_union(struct bitmask *dst, const struct bitmask *a,
		  const struct bitmask *b);
int bitmask_intersection(struct bitmask *dst, const struct bitmask *a,
			 const struct bitmask *b);
/* a & ~b: "a without b". */
int bitmask_difference(struct bitmask *dst, const struct bitmask *a,
		       const struct bitmask *b);

#endif

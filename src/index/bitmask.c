/* Tag sample sets as bit sets: the API's "0x…" hex form (API-NOTES, bitmask
 * semantics: bit k is sample k, least significant bit first) parsed and
 * printed a 64-bit word at a time, and the UNION / INTERSECTION / DIFFERENCE
 * arithmetic the tag operations need.
 *
 * Invariant: bits at or beyond nbits in the last word are always zero, so
 * counting, comparing and printing never need to mask. */
#include "bitmask.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BITMASK_WORD_BITS 64u
#define BITMASK_WORD_DIGITS 16u /* hex digits per 64-bit word */
#define BITMASK_BAD_DIGIT 0x10u

/* Hex digit values with BITMASK_BAD_DIGIT set for [0-9a-f]; a lookup xor
 * BITMASK_BAD_DIGIT is the digit value, or BITMASK_BAD_DIGIT for any other
 * byte (the zero-initialised entries).  That lets the whole string be
 * checked with one or'ed accumulator, without a branch per digit.  Upper
 * case is rejected: the API only produces lower case and the canonical form
 * is what we compare against. */
static const uint8_t bitmask_digit[256] = {
    ['0'] = 0x10, ['1'] = 0x11, ['2'] = 0x12, ['3'] = 0x13,
    ['4'] = 0x14, ['5'] = 0x15, ['6'] = 0x16, ['7'] = 0x17,
    ['8'] = 0x18, ['9'] = 0x19, ['a'] = 0x1a, ['b'] = 0x1b,
    ['c'] = 0x1c, ['d'] = 0x1d, ['e'] = 0x1e, ['f'] = 0x1f,
};

static unsigned bitmask_digit_value(char c)
{
	return bitmask_digit[(unsigned char)c] ^ BITMASK_BAD_DIGIT;
}

static const char bitmask_hexchars[16] = "0123456789abcdef";

/* Words needed for nbits bits; SIZE_MAX when that cannot be represented. */
static size_t bitmask_words_for(size_t nbits)
{
	if (nbits > SIZE_MAX - (BITMASK_WORD_BITS - 1))
		return SIZE_MAX;
	return (nbits + BITMASK_WORD_BITS - 1) / BITMASK_WORD_BITS;
}

static size_t bitmask_nwords(const struct bitmask *bm)
{
	return bitmask_words_for(bm->nbits);
}

/* Reallocates bm->words to hold nbits, zeroing any new words; does not touch
 * bm->nbits.  Never shrinks the allocation (callers only ever grow). */
static int bitmask_grow_words(struct bitmask *bm, size_t nbits)
{
	size_t old_words = bitmask_nwords(bm);
	size_t new_words = bitmask_words_for(nbits);
	uint64_t *words;

	if (new_words == SIZE_MAX || new_words > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	if (new_words <= old_words)
		return 0;
	words = realloc(bm->words, new_words * sizeof(uint64_t));
	if (!words)
		return -ENOMEM;
	memset(words + old_words, 0,
	       (new_words - old_words) * sizeof(uint64_t));
	bm->words = words;
	return 0;
}

int bitmask_init(struct bitmask *bm, size_t nbits)
{
	size_t nwords = bitmask_words_for(nbits);

	bm->words = NULL;
	bm->nbits = 0;
	if (nwords == SIZE_MAX)
		return -ENOMEM;
	if (nwords) {
		/* calloc checks nwords * 8 for overflow itself */
		bm->words = calloc(nwords, sizeof(uint64_t));
		if (!bm->words)
			return -ENOMEM;
	}
	bm->nbits = nbits;
	return 0;
}

void bitmask_dispose(struct bitmask *bm)
{
	if (!bm)
		return;
	free(bm->words);
	bm->words = NULL;
	bm->nbits = 0;
}

int bitmask_resize(struct bitmask *bm, size_t nbits)
{
	int rc;

	if (nbits <= bm->nbits)
		return 0;
	rc = bitmask_grow_words(bm, nbits);
	if (rc)
		return rc;
	/* Bits between the old and new nbits in the old last word are already
	 * zero by the invariant. */
	bm->nbits = nbits;
	return 0;
}

int bitmask_copy(struct bitmask *dst, const struct bitmask *src)
{
	size_t nwords = bitmask_nwords(src);
	int rc;

	if (dst == src)
		return 0;
	rc = bitmask_grow_words(dst, src->nbits);
	if (rc)
		return rc;
	if (nwords)
		memcpy(dst->words, src->words, nwords * sizeof(uint64_t));
	dst->nbits = src->nbits;
	return 0;
}

/* Parses ndigits (1..16) hex digits at start, most significant first, and
 * returns the value.  The digits were checked already. */
static uint64_t bitmask_parse_word(const char *start, size_t ndigits)
{
	uint64_t word = 0;
	size_t i;

	for (i = 0; i < ndigits; i++)
		word = (word << 4) | (bitmask_digit_value(start[i]) & 0xfu);
	return word;
}

int bitmask_from_hex(struct bitmask *bm, const char *hex, size_t len,
		     size_t max_bits)
{
	const char *digits;
	size_t ndigits, nwords, top_bit, i;
	unsigned top, bad = 0;
	int rc;

	bm->words = NULL;
	bm->nbits = 0;
	if (!hex || len < 3 || hex[0] != '0' || hex[1] != 'x')
		return -EINVAL;
	digits = hex + 2;
	ndigits = len - 2;
	top = bitmask_digit_value(digits[0]);
	if (top & BITMASK_BAD_DIGIT)
		return -EINVAL;
	if (top == 0) {
		/* "0x0" is the empty set; any other leading zero is not
		 * canonical and the API never sends one. */
		if (ndigits != 1)
			return -EINVAL;
		return bitmask_init(bm, max_bits);
	}

	/* Reject an out-of-range top bit before allocating: the string
	 * length alone must not decide how much memory we take. */
	if (ndigits - 1 > (SIZE_MAX - 3) / 4)
		return -EINVAL;
	top_bit = 4 * (ndigits - 1) + (unsigned)(31 - __builtin_clz(top));
	if (top_bit >= max_bits)
		return -EINVAL;
	/* Every digit is checked before max_bits is allocated: a malformed
	 * string is -EINVAL whatever max_bits is (not -ENOMEM), and garbage
	 * never costs an allocation of the dataset's size. */
	for (i = 1; i < ndigits; i++)
		bad |= bitmask_digit_value(digits[i]);
	if (bad & BITMASK_BAD_DIGIT)
		return -EINVAL;

	rc = bitmask_init(bm, max_bits);
	if (rc)
		return rc;

	/* Each word is the 16 digits counted from the end of the string; the
	 * last (most significant) word takes whatever is left over. */
	nwords = (ndigits + BITMASK_WORD_DIGITS - 1) / BITMASK_WORD_DIGITS;
	for (i = 0; i < nwords; i++) {
		size_t end = ndigits - i * BITMASK_WORD_DIGITS;
		size_t n =
		    end < BITMASK_WORD_DIGITS ? end : BITMASK_WORD_DIGITS;

		bm->words[i] = bitmask_parse_word(digits + end - n, n);
	}
	return 0;
}

int bitmask_to_hex(const struct bitmask *bm, char **out)
{
	size_t nwords = bitmask_nwords(bm);
	size_t top, len, i;
	uint64_t w;
	char *s, *p;
	int d;

	*out = NULL;
	top = nwords;
	while (top > 0 && bm->words[top - 1] == 0)
		top--;
	if (top == 0) {
		*out = strdup("0x0");
		return *out ? 0 : -ENOMEM;
	}
	top--;

	/* "0x" + top word's significant digits + 16 per lower word + NUL;
	 * top < SIZE_MAX / 64 so the product cannot overflow, but keep the
	 * check next to the arithmetic. */
	if (top > (SIZE_MAX - 3 - BITMASK_WORD_DIGITS) / BITMASK_WORD_DIGITS)
		return -ENOMEM;
	w = bm->words[top];
	d = (63 - __builtin_clzll(w)) / 4 + 1;
	len = 2 + (size_t)d + top * BITMASK_WORD_DIGITS;
	s = malloc(len + 1);
	if (!s)
		return -ENOMEM;

	p = s;
	*p++ = '0';
	*p++ = 'x';
	while (d-- > 0)
		*p++ = bitmask_hexchars[(w >> (4 * d)) & 0xf];
	for (i = top; i-- > 0;) {
		w = bm->words[i];
		for (d = BITMASK_WORD_DIGITS; d-- > 0;)
			*p++ = bitmask_hexchars[(w >> (4 * d)) & 0xf];
	}
	*p = '\0';
	*out = s;
	return 0;
}

bool bitmask_test(const struct bitmask *bm, size_t bit)
{
	uint64_t w;

	if (bit >= bm->nbits)
		return false;
	w = bm->words[bit / BITMASK_WORD_BITS];
	return (w >> (bit % BITMASK_WORD_BITS)) & 1;
}

void bitmask_set(struct bitmask *bm, size_t bit)
{
	assert(bit < bm->nbits);
	bm->words[bit / BITMASK_WORD_BITS] |= UINT64_C(1)
					      << (bit % BITMASK_WORD_BITS);
}

void bitmask_clear(struct bitmask *bm, size_t bit)
{
	/* Bits beyond nbits are already clear. */
	if (bit >= bm->nbits)
		return;
	bm->words[bit / BITMASK_WORD_BITS] &=
	    ~(UINT64_C(1) << (bit % BITMASK_WORD_BITS));
}

size_t bitmask_count(const struct bitmask *bm)
{
	size_t nwords = bitmask_nwords(bm);
	size_t count = 0, i;

	for (i = 0; i < nwords; i++)
		count += (size_t)__builtin_popcountll(bm->words[i]);
	return count;
}

size_t bitmask_rank(const struct bitmask *bm, size_t bit)
{
	size_t nwords = bitmask_nwords(bm);
	size_t w = bit / BITMASK_WORD_BITS, count = 0, i;

	for (i = 0; i < w && i < nwords; i++)
		count += (size_t)__builtin_popcountll(bm->words[i]);
	if (w < nwords && bit % BITMASK_WORD_BITS)
		count += (size_t)__builtin_popcountll(
		    bm->words[w] &
		    ((UINT64_C(1) << (bit % BITMASK_WORD_BITS)) - 1));
	return count;
}

bool bitmask_is_empty(const struct bitmask *bm)
{
	size_t nwords = bitmask_nwords(bm);
	size_t i;

	for (i = 0; i < nwords; i++)
		if (bm->words[i])
			return false;
	return true;
}

bool bitmask_equal(const struct bitmask *a, const struct bitmask *b)
{
	size_t na = bitmask_nwords(a), nb = bitmask_nwords(b);
	size_t n = na > nb ? na : nb;
	size_t i;

	/* Compares the sets, not the sizes: bits beyond nbits read as 0, so a
	 * mask parsed for a grown dataset equals the same mask unresized. */
	for (i = 0; i < n; i++) {
		uint64_t wa = i < na ? a->words[i] : 0;
		uint64_t wb = i < nb ? b->words[i] : 0;

		if (wa != wb)
			return false;
	}
	return true;
}

size_t bitmask_next(const struct bitmask *bm, size_t from)
{
	size_t nwords, i;
	uint64_t w;

	if (from >= bm->nbits)
		return SIZE_MAX;
	nwords = bitmask_nwords(bm);
	i = from / BITMASK_WORD_BITS;
	w = bm->words[i] & (~UINT64_C(0) << (from % BITMASK_WORD_BITS));
	while (w == 0) {
		if (++i == nwords)
			return SIZE_MAX;
		w = bm->words[i];
	}
	return i * BITMASK_WORD_BITS + (size_t)__builtin_ctzll(w);
}

enum bitmask_op {
	BITMASK_OR,
	BITMASK_AND,
	BITMASK_ANDNOT,
};

/* dst = a op b, word by word.  Each output word depends only on the input
 * words at the same position, so writing dst in place is safe even when it
 * is a or b; growing dst first keeps an aliased operand's words valid (the
 * new words are zero, which is what bits beyond nbits read as). */
static int bitmask_apply(struct bitmask *dst, const struct bitmask *a,
			 const struct bitmask *b, enum bitmask_op op)
{
	size_t abits = a->nbits, bbits = b->nbits;
	size_t nbits = abits > bbits ? abits : bbits;
	size_t na = bitmask_words_for(abits), nb = bitmask_words_for(bbits);
	size_t n = bitmask_words_for(nbits);
	size_t i;
	int rc;

	rc = bitmask_grow_words(dst, nbits);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		uint64_t wa = i < na ? a->words[i] : 0;
		uint64_t wb = i < nb ? b->words[i] : 0;

		switch (op) {
		case BITMASK_OR:
			dst->words[i] = wa | wb;
			break;
		case BITMASK_AND:
			dst->words[i] = wa & wb;
			break;
		case BITMASK_ANDNOT:
			dst->words[i] = wa & ~wb;
			break;
		}
	}
	/* A larger dst keeps its allocation; words past n are ignored and
	 * re-zeroed by bitmask_grow_words if it grows again. */
	dst->nbits = nbits;
	return 0;
}

int bitmask_union(struct bitmask *dst, const struct bitmask *a,
		  const struct bitmask *b)
{
	return bitmask_apply(dst, a, b, BITMASK_OR);
}

int bitmask_intersection(struct bitmask *dst, const struct bitmask *a,
			 const struct bitmask *b)
{
	return bitmask_apply(dst, a, b, BITMASK_AND);
}

int bitmask_difference(struct bitmask *dst, const struct bitmask *a,
		       const struct bitmask *b)
{
	return bitmask_apply(dst, a, b, BITMASK_ANDNOT);
}

int bitmask_put(struct bitmask *bm, size_t bit, bool on, size_t nbits)
{
	int ret;

	if (!on) {
		if (bit < bm->nbits)
			bitmask_clear(bm, bit);
		return 0;
	}
	if (bit >= bm->nbits) {
		ret = bitmask_resize(bm, nbits > bit ? nbits : bit + 1);
		if (ret)
			return ret;
	}
	bitmask_set(bm, bit);
	return 0;
}

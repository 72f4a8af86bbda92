/* libFuzzer target for bitmask.c.  The input is a mode byte, three bytes of
 * max_bits and the hex string (handed over without a NUL, so reading past
 * len is caught).  Checked: a string is accepted exactly when it is
 * canonical and its top bit fits (a reference written here, the slow way);
 * an accepted one prints back byte for byte; the set arithmetic against a
 * second set made from the raw input obeys the algebra; parse(print(x)) is
 * x.  Any violation aborts. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitmask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__,     \
				#cond);                                        \
			abort();                                               \
		}                                                              \
	} while (0)

/* The reference: ^0x(0|[1-9a-f][0-9a-f]*)$, and the index of the top set
 * bit (SIZE_MAX for the empty set). */
static int ref_canonical(const char *s, size_t len, size_t *top_bit)
{
	size_t i;
	unsigned d;

	if (len < 3 || s[0] != '0' || s[1] != 'x')
		return 0;
	for (i = 2; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	if (s[2] == '0') {
		*top_bit = SIZE_MAX;
		return len == 3;
	}
	d = s[2] <= '9' ? (unsigned)(s[2] - '0') : (unsigned)(s[2] - 'a' + 10);
	*top_bit = 4 * (len - 3) + (d >= 8 ? 3 : d >= 4 ? 2 : d >= 2 ? 1 : 0);
	return 1;
}

static size_t count_by_next(const struct bitmask *bm)
{
	size_t n = 0, b;

	for (b = bitmask_next(bm, 0); b != SIZE_MAX;
	     b = bitmask_next(bm, b + 1)) {
		FUZZ_CHECK(b < bm->nbits);
		FUZZ_CHECK(bitmask_test(bm, b));
		n++;
	}
	return n;
}

/* A set from raw bytes: bit k of the input is bit k of the set. */
static int from_bytes(struct bitmask *bm, const uint8_t *p, size_t n)
{
	size_t i;
	int rc = bitmask_init(bm, n * 8);

	if (rc)
		return rc;
	for (i = 0; i < n * 8; i++)
		if (p[i / 8] >> (i % 8) & 1)
			bitmask_set(bm, i);
	return 0;
}

static void check_roundtrip(const struct bitmask *bm)
{
	struct bitmask back;
	char *hex = NULL, *again = NULL;

	FUZZ_CHECK(bitmask_to_hex(bm, &hex) == 0);
	FUZZ_CHECK(bitmask_from_hex(&back, hex, strlen(hex), bm->nbits) == 0);
	FUZZ_CHECK(bitmask_equal(&back, bm));
	FUZZ_CHECK(back.nbits == bm->nbits);
	FUZZ_CHECK(bitmask_to_hex(&back, &again) == 0);
	FUZZ_CHECK(!strcmp(hex, again));
	free(hex);
	free(again);
	bitmask_dispose(&back);
}

static void check_algebra(const struct bitmask *a, const struct bitmask *b)
{
	struct bitmask u, i, d, t, alias;
	size_t ca = bitmask_count(a), cb = bitmask_count(b);

	FUZZ_CHECK(bitmask_init(&u, 0) == 0);
	FUZZ_CHECK(bitmask_init(&i, 0) == 0);
	FUZZ_CHECK(bitmask_init(&d, 0) == 0);
	FUZZ_CHECK(bitmask_init(&t, 0) == 0);
	FUZZ_CHECK(bitmask_init(&alias, 0) == 0);

	FUZZ_CHECK(bitmask_union(&u, a, b) == 0);
	FUZZ_CHECK(bitmask_intersection(&i, a, b) == 0);
	FUZZ_CHECK(bitmask_difference(&d, a, b) == 0);
	FUZZ_CHECK(u.nbits == (a->nbits > b->nbits ? a->nbits : b->nbits));
	/* |a u b| + |a n b| = |a| + |b| */
	FUZZ_CHECK(bitmask_count(&u) + bitmask_count(&i) == ca + cb);
	FUZZ_CHECK(count_by_next(&u) == bitmask_count(&u));
	/* (a \ b) n b = 0 and (a \ b) u (a n b) = a */
	FUZZ_CHECK(bitmask_intersection(&t, &d, b) == 0);
	FUZZ_CHECK(bitmask_is_empty(&t));
	FUZZ_CHECK(bitmask_union(&t, &d, &i) == 0);
	FUZZ_CHECK(bitmask_equal(&t, a));
	/* dst may alias an operand */
	FUZZ_CHECK(bitmask_copy(&alias, a) == 0);
	FUZZ_CHECK(bitmask_equal(&alias, a));
	FUZZ_CHECK(bitmask_union(&alias, &alias, b) == 0);
	FUZZ_CHECK(bitmask_equal(&alias, &u));
	FUZZ_CHECK(bitmask_copy(&alias, b) == 0);
	FUZZ_CHECK(bitmask_difference(&alias, a, &alias) == 0);
	FUZZ_CHECK(bitmask_equal(&alias, &d));
	check_roundtrip(&u);
	check_roundtrip(&d);

	bitmask_dispose(&u);
	bitmask_dispose(&i);
	bitmask_dispose(&d);
	bitmask_dispose(&t);
	bitmask_dispose(&alias);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bitmask a, b;
	size_t len, max_bits, top_bit = 0, c;
	char *hex, *out = NULL;
	int canonical, rc;
	uint8_t mode;

	if (size < 4)
		return 0;
	mode = data[0];
	/* Up to 2^18 bits: room for every string libFuzzer makes (4096
	 * bytes), small enough to keep thousands of runs a second. */
	max_bits =
	    ((size_t)data[1] | (size_t)data[2] << 8 | (size_t)data[3] << 16) &
	    0x3ffff;
	switch (mode & 7) {
	case 0: /* exactly what the string needs */
		max_bits = 4 * (size - 4);
		break;
	case 1:
		max_bits = SIZE_MAX; /* cannot be allocated: -ENOMEM */
		break;
	case 2:
		max_bits = SIZE_MAX - 63;
		break;
	default:
		break;
	}
	len = size - 4;
	hex = malloc(len ? len : 1); /* exactly len bytes: no NUL after */
	if (!hex)
		return 0;
	memcpy(hex, data + 4, len);

	canonical = ref_canonical(hex, len, &top_bit);
	rc = bitmask_from_hex(&a, hex, len, max_bits);
	if (!canonical || (top_bit != SIZE_MAX && top_bit >= max_bits)) {
		FUZZ_CHECK(rc == -EINVAL);
	} else {
		FUZZ_CHECK(rc == 0 || (rc == -ENOMEM && max_bits > 0x3ffff));
	}
	if (rc) {
		/* left initialised and empty */
		FUZZ_CHECK(a.nbits == 0);
		bitmask_dispose(&a);
		free(hex);
		return 0;
	}
	FUZZ_CHECK(a.nbits == max_bits);
	c = bitmask_count(&a);
	FUZZ_CHECK(count_by_next(&a) == c);
	FUZZ_CHECK(bitmask_is_empty(&a) == (c == 0));
	if (top_bit != SIZE_MAX) {
		FUZZ_CHECK(bitmask_test(&a, top_bit));
		FUZZ_CHECK(bitmask_next(&a, top_bit + 1) == SIZE_MAX);
	}
	/* canonical in, the same bytes out */
	FUZZ_CHECK(bitmask_to_hex(&a, &out) == 0);
	FUZZ_CHECK(strlen(out) == len && !memcmp(out, hex, len));
	free(out);

	FUZZ_CHECK(from_bytes(&b, data + 4, len) == 0);
	check_roundtrip(&b);
	check_algebra(&a, &b);
	check_algebra(&b, &a);

	/* growing keeps the set; set and clear beyond the old size */
	FUZZ_CHECK(bitmask_resize(&a, a.nbits + (mode >> 3) + 1) == 0);
	FUZZ_CHECK(bitmask_count(&a) == c);
	bitmask_set(&a, a.nbits - 1);
	FUZZ_CHECK(bitmask_test(&a, a.nbits - 1));
	bitmask_clear(&a, a.nbits - 1);
	bitmask_clear(&a, a.nbits + 100); /* beyond nbits: nothing */
	FUZZ_CHECK(bitmask_count(&a) == c);
	check_roundtrip(&a);

	bitmask_dispose(&a);
	bitmask_dispose(&b);
	free(hex);
	return 0;
}

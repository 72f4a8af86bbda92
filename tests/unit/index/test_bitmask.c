/* Unit tests for bitmask.c: hex parsing and printing against hand-computed
 * masks (API-NOTES: bit k is sample k, LSB first), every rejection, the
 * set queries and the three tag operations. */
#include "bitmask.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define END SIZE_MAX /* terminates a bit list */
#define MAX_LIST 10

struct hex_case {
	const char *name;
	const char *hex;
	size_t max_bits;
	size_t bits[MAX_LIST]; /* ascending, END-terminated */
};

static const struct hex_case hex_cases[] = {
    {"empty set is 0x0", "0x0", 8, {END}},
    {"empty set with no room", "0x0", 0, {END}},
    {"0x1 is sample 0", "0x1", 1, {0, END}},
    {"0x59 is samples 0 3 4 6", "0x59", 7, {0, 3, 4, 6, END}},
    {"0x59 in a larger dataset", "0x59", 1000, {0, 3, 4, 6, END}},
    {"0xff is the low byte", "0xff", 8, {0, 1, 2, 3, 4, 5, 6, 7, END}},
    {"bit 63 is the top of word 0", "0x8000000000000000", 64, {63, END}},
    {"bit 64 is the bottom of word 1", "0x10000000000000000", 65, {64, END}},
    {"word boundary on both sides",
     "0x18000000000000001",
     65,
     {0, 63, 64, END}},
    {"bit 127 is the top of word 1",
     "0x80000000000000000000000000000000",
     128,
     {127, END}},
    {"bit 128 starts word 2",
     "0x100000000000000000000000000000000",
     129,
     {128, END}},
    {"sparse bits across three words",
     "0x100000000000000020000000000000004",
     200,
     {2, 65, 128, END}},
};

static size_t list_len(const size_t *bits)
{
	size_t n = 0;

	while (n < MAX_LIST && bits[n] != END)
		n++;
	return n;
}

static void test_parse_hand_computed(void)
{
	size_t i, k;

	for (i = 0; i < sizeof(hex_cases) / sizeof(hex_cases[0]); i++) {
		const struct hex_case *c = &hex_cases[i];
		struct bitmask bm;
		size_t n = list_len(c->bits), bit;
		char *out = NULL;
		int rc;

		rc = bitmask_from_hex(&bm, c->hex, strlen(c->hex), c->max_bits);
		if (rc) {
			fprintf(stderr, "case: %s\n", c->name);
			CHECK_INT(rc, 0);
			continue;
		}
		CHECK_INT(bm.nbits, c->max_bits);
		/* Walking with bitmask_next gives exactly the listed bits. */
		bit = bitmask_next(&bm, 0);
		for (k = 0; k < n; k++) {
			if (bit != c->bits[k])
				fprintf(stderr, "case: %s\n", c->name);
			CHECK_INT(bit, c->bits[k]);
			CHECK(bitmask_test(&bm, c->bits[k]));
			bit = bitmask_next(&bm, bit + 1);
		}
		CHECK_INT(bit, END);
		CHECK_INT(bitmask_count(&bm), n);
		/* the k-th listed bit has rank k; past the end, the count */
		for (k = 0; k < n; k++)
			CHECK_INT(bitmask_rank(&bm, c->bits[k]), k);
		CHECK_INT(bitmask_rank(&bm, c->max_bits + 200), n);
		CHECK(bitmask_is_empty(&bm) == (n == 0));
		/* Round trip gives back the canonical string. */
		CHECK_INT(bitmask_to_hex(&bm, &out), 0);
		CHECK_STR(out, c->hex);
		free(out);
		bitmask_dispose(&bm);
	}
}

static void test_build_then_print(void)
{
	/* The inverse direction: setting the bits by hand prints the mask. */
	for (size_t i = 0; i < sizeof(hex_cases) / sizeof(hex_cases[0]); i++) {
		const struct hex_case *c = &hex_cases[i];
		struct bitmask bm;
		char *out = NULL;

		CHECK_INT(bitmask_init(&bm, c->max_bits), 0);
		for (size_t k = 0; k < list_len(c->bits); k++)
			bitmask_set(&bm, c->bits[k]);
		CHECK_INT(bitmask_to_hex(&bm, &out), 0);
		CHECK_STR(out, c->hex);
		free(out);
		bitmask_dispose(&bm);
	}
}

struct reject_case {
	const char *name;
	const char *hex;
	size_t len; /* 0: strlen */
	size_t max_bits;
};

static const struct reject_case reject_cases[] = {
    {"empty string", "", 0, 64},
    {"prefix only", "0x", 0, 64},
    {"missing 0x", "59", 0, 64},
    {"missing x", "059", 0, 64},
    {"upper-case X", "0X59", 0, 64},
    {"upper-case digit", "0x5A", 0, 64},
    {"upper-case digit in a low word", "0x1000000000000000A", 0, 128},
    {"leading zero", "0x01", 0, 64},
    {"leading zeros on zero", "0x00", 0, 64},
    {"non-hex letter", "0x5g", 0, 64},
    {"space", "0x5 9", 0, 64},
    {"sign", "0x-1", 0, 64},
    {"trailing newline", "0x59\n", 0, 64},
    {"embedded NUL",
     "0x5\0"
     "9",
     5, 64},
    {"bit at max_bits", "0x80", 0, 7},
    {"bit beyond max_bits", "0x59", 0, 6},
    {"any bit with max_bits 0", "0x1", 0, 0},
    {"bit 64 in a 64-bit set", "0x10000000000000000", 0, 64},
    {"invalid char deep in a long string",
     "0x1000000000000000000000z0000000000", 0, 1000},
    /* found by fuzz_bitmask: malformed is -EINVAL, checked before the
     * set is allocated, even when max_bits cannot be */
    {"malformed with an unallocatable max_bits", "0x1x1", 0, SIZE_MAX},
};

static void test_reject(void)
{
	for (size_t i = 0; i < sizeof(reject_cases) / sizeof(reject_cases[0]);
	     i++) {
		const struct reject_case *c = &reject_cases[i];
		size_t len = c->len ? c->len : strlen(c->hex);
		struct bitmask bm;
		int rc;

		memset(&bm, 0xa5, sizeof(bm)); /* need not be initialised */
		rc = bitmask_from_hex(&bm, c->hex, len, c->max_bits);
		if (rc != -EINVAL)
			fprintf(stderr, "case: %s\n", c->name);
		CHECK_INT(rc, -EINVAL);
		/* Left initialised and empty: safe to query and dispose. */
		CHECK(bitmask_is_empty(&bm));
		CHECK_INT(bitmask_next(&bm, 0), END);
		bitmask_dispose(&bm);
	}
}

/* A random-ish mask with the given density, deterministic. */
static void fill_pattern(struct bitmask *bm, uint64_t seed, unsigned every)
{
	uint64_t x = seed;

	for (size_t k = 0; k < bm->nbits; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (x % every == 0)
			bitmask_set(bm, k);
	}
}

static void test_round_trip_sizes(void)
{
	/* Every size around the word boundaries, with the top bit set so the
	 * printed length is exact, and with random fill. */
	static const size_t sizes[] = {1,   2,	 3,   4,    5,	  15,  16,
				       17,  63,	 64,  65,   127,  128, 129,
				       191, 192, 193, 1000, 4096, 4097};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct bitmask bm, back;
		char *out = NULL;

		CHECK_INT(bitmask_init(&bm, sizes[i]), 0);
		fill_pattern(&bm, 0x9e3779b97f4a7c15u + i, 3);
		bitmask_set(&bm, sizes[i] - 1);
		CHECK_INT(bitmask_to_hex(&bm, &out), 0);
		CHECK_INT(strlen(out), 2 + (sizes[i] + 3) / 4);
		CHECK_INT(bitmask_from_hex(&back, out, strlen(out), sizes[i]),
			  0);
		CHECK(bitmask_equal(&bm, &back));
		CHECK_INT(bitmask_count(&back), bitmask_count(&bm));
		/* One bit fewer of room must be refused. */
		bitmask_dispose(&back);
		CHECK_INT(
		    bitmask_from_hex(&back, out, strlen(out), sizes[i] - 1),
		    -EINVAL);
		bitmask_dispose(&back);
		free(out);
		bitmask_dispose(&bm);
	}
}

static void test_set_clear_test(void)
{
	struct bitmask bm;

	CHECK_INT(bitmask_init(&bm, 130), 0);
	CHECK(bitmask_is_empty(&bm));
	bitmask_set(&bm, 0);
	bitmask_set(&bm, 64);
	bitmask_set(&bm, 129);
	CHECK(bitmask_test(&bm, 0));
	CHECK(bitmask_test(&bm, 64));
	CHECK(bitmask_test(&bm, 129));
	CHECK(!bitmask_test(&bm, 1));
	CHECK(!bitmask_test(&bm, 130)); /* beyond nbits reads as 0 */
	CHECK(!bitmask_test(&bm, SIZE_MAX));
	CHECK_INT(bitmask_count(&bm), 3);
	bitmask_clear(&bm, 64);
	bitmask_clear(&bm, 5000); /* beyond nbits: nothing to clear */
	CHECK(!bitmask_test(&bm, 64));
	CHECK_INT(bitmask_count(&bm), 2);
	bitmask_dispose(&bm);
	bitmask_dispose(&bm); /* idempotent */
	bitmask_dispose(NULL);
}

struct next_case {
	size_t from;
	size_t expect;
};

static void test_next_skips_zero_words(void)
{
	static const struct next_case cases[] = {
	    {0, 3},	  {3, 3},	{4, 700},
	    {700, 700},	  {701, 9999},	{9999, 9999},
	    {10000, END}, {10001, END}, {SIZE_MAX, END},
	};
	struct bitmask bm;

	CHECK_INT(bitmask_init(&bm, 10000), 0);
	bitmask_set(&bm, 3);
	bitmask_set(&bm, 700);
	bitmask_set(&bm, 9999);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_INT(bitmask_next(&bm, cases[i].from), cases[i].expect);
	bitmask_dispose(&bm);

	/* An empty mask of size 0 has no words at all. */
	CHECK_INT(bitmask_init(&bm, 0), 0);
	CHECK_INT(bitmask_next(&bm, 0), END);
	CHECK_INT(bitmask_count(&bm), 0);
	CHECK(bitmask_is_empty(&bm));
	bitmask_dispose(&bm);
}

static void test_equal_ignores_size(void)
{
	struct bitmask a, b;

	CHECK_INT(bitmask_from_hex(&a, "0x59", 4, 7), 0);
	CHECK_INT(bitmask_from_hex(&b, "0x59", 4, 700), 0);
	CHECK(bitmask_equal(&a, &b));
	CHECK(bitmask_equal(&b, &a));
	bitmask_set(&b, 650);
	CHECK(!bitmask_equal(&a, &b));
	CHECK(!bitmask_equal(&b, &a));
	bitmask_clear(&b, 650);
	bitmask_clear(&b, 0);
	CHECK(!bitmask_equal(&a, &b));
	bitmask_dispose(&a);
	bitmask_dispose(&b);
}

enum op {
	OP_UNION,
	OP_INTERSECTION,
	OP_DIFFERENCE,
};

struct op_case {
	const char *name;
	enum op op;
	const char *a;
	size_t abits;
	const char *b;
	size_t bbits;
	const char *expect;
};

static const struct op_case op_cases[] = {
    {"union adds", OP_UNION, "0x59", 8, "0x6", 8, "0x5f"},
    {"intersection keeps common", OP_INTERSECTION, "0x59", 8, "0x18", 8,
     "0x18"},
    {"difference removes", OP_DIFFERENCE, "0x59", 8, "0x18", 8, "0x41"},
    {"union with empty", OP_UNION, "0x59", 8, "0x0", 8, "0x59"},
    {"intersection with empty", OP_INTERSECTION, "0x59", 8, "0x0", 8, "0x0"},
    {"difference of disjoint", OP_DIFFERENCE, "0x59", 8, "0x6", 8, "0x59"},
    {"difference of itself", OP_DIFFERENCE, "0x59", 8, "0x59", 8, "0x0"},
    {"union across sizes", OP_UNION, "0x1", 1, "0x10000000000000000", 65,
     "0x10000000000000001"},
    {"union across sizes, long first", OP_UNION, "0x10000000000000000", 65,
     "0x1", 1, "0x10000000000000001"},
    {"intersection drops the longer tail", OP_INTERSECTION,
     "0x30000000000000001", 66, "0x3", 2, "0x1"},
    {"difference keeps a's tail beyond b", OP_DIFFERENCE, "0x30000000000000003",
     66, "0x1", 1, "0x30000000000000002"},
    {"difference with a shorter a", OP_DIFFERENCE, "0x3", 2,
     "0x30000000000000001", 66, "0x2"},
};

static int run_op(enum op op, struct bitmask *dst, const struct bitmask *a,
		  const struct bitmask *b)
{
	switch (op) {
	case OP_UNION:
		return bitmask_union(dst, a, b);
	case OP_INTERSECTION:
		return bitmask_intersection(dst, a, b);
	case OP_DIFFERENCE:
		return bitmask_difference(dst, a, b);
	}
	return -EINVAL;
}

static void check_hex(const struct bitmask *bm, const char *expect,
		      const char *name)
{
	char *out = NULL;

	CHECK_INT(bitmask_to_hex(bm, &out), 0);
	if (!out || strcmp(out, expect))
		fprintf(stderr, "case: %s\n", name);
	CHECK_STR(out, expect);
	free(out);
}

static void test_operations(void)
{
	for (size_t i = 0; i < sizeof(op_cases) / sizeof(op_cases[0]); i++) {
		const struct op_case *c = &op_cases[i];
		size_t nbits = c->abits > c->bbits ? c->abits : c->bbits;
		struct bitmask a, b, dst;

		CHECK_INT(bitmask_from_hex(&a, c->a, strlen(c->a), c->abits),
			  0);
		CHECK_INT(bitmask_from_hex(&b, c->b, strlen(c->b), c->bbits),
			  0);

		/* Separate destination, bigger than needed and dirty. */
		CHECK_INT(bitmask_init(&dst, 300), 0);
		fill_pattern(&dst, 42, 2);
		CHECK_INT(run_op(c->op, &dst, &a, &b), 0);
		check_hex(&dst, c->expect, c->name);
		CHECK_INT(dst.nbits, nbits);
		/* Growing again must not resurrect the old dirty bits. */
		CHECK_INT(bitmask_resize(&dst, 300), 0);
		check_hex(&dst, c->expect, c->name);
		bitmask_dispose(&dst);

		/* dst aliases a. */
		CHECK_INT(bitmask_init(&dst, 0), 0);
		CHECK_INT(bitmask_copy(&dst, &a), 0);
		CHECK_INT(run_op(c->op, &dst, &dst, &b), 0);
		check_hex(&dst, c->expect, c->name);
		CHECK_INT(dst.nbits, nbits);
		bitmask_dispose(&dst);

		/* dst aliases b. */
		CHECK_INT(bitmask_init(&dst, 0), 0);
		CHECK_INT(bitmask_copy(&dst, &b), 0);
		CHECK_INT(run_op(c->op, &dst, &a, &dst), 0);
		check_hex(&dst, c->expect, c->name);
		CHECK_INT(dst.nbits, nbits);
		bitmask_dispose(&dst);

		/* The operands are left alone. */
		check_hex(&a, c->a, c->name);
		check_hex(&b, c->b, c->name);
		bitmask_dispose(&a);
		bitmask_dispose(&b);
	}
}

static void test_operations_with_self(void)
{
	struct bitmask a;

	CHECK_INT(bitmask_from_hex(&a, "0x59", 4, 8), 0);
	CHECK_INT(bitmask_union(&a, &a, &a), 0);
	check_hex(&a, "0x59", "self union");
	CHECK_INT(bitmask_intersection(&a, &a, &a), 0);
	check_hex(&a, "0x59", "self intersection");
	CHECK_INT(bitmask_difference(&a, &a, &a), 0);
	check_hex(&a, "0x0", "self difference");
	bitmask_dispose(&a);
}

static void test_resize(void)
{
	struct bitmask bm;

	CHECK_INT(bitmask_from_hex(&bm, "0x59", 4, 7), 0);
	CHECK_INT(bitmask_resize(&bm, 200), 0);
	CHECK_INT(bm.nbits, 200);
	check_hex(&bm, "0x59", "grow keeps bits");
	CHECK(!bitmask_test(&bm, 199));
	CHECK_INT(bitmask_next(&bm, 7), END);
	bitmask_set(&bm, 199);
	check_hex(&bm, "0x80000000000000000000000000000000000000000000000059",
		  "new bits settable");
	CHECK_INT(bitmask_resize(&bm, 10), 0); /* never shrinks */
	CHECK_INT(bm.nbits, 200);
	CHECK(bitmask_test(&bm, 199));
	bitmask_dispose(&bm);

	/* Growing from nothing. */
	CHECK_INT(bitmask_init(&bm, 0), 0);
	CHECK_INT(bitmask_resize(&bm, 65), 0);
	CHECK(bitmask_is_empty(&bm));
	bitmask_set(&bm, 64);
	check_hex(&bm, "0x10000000000000000", "grow from empty");
	bitmask_dispose(&bm);

	/* Impossible sizes fail cleanly and leave the mask as it was. */
	CHECK_INT(bitmask_init(&bm, 8), 0);
	bitmask_set(&bm, 3);
	CHECK_INT(bitmask_resize(&bm, SIZE_MAX), -ENOMEM);
	CHECK_INT(bm.nbits, 8);
	check_hex(&bm, "0x8", "failed resize");
	bitmask_dispose(&bm);
	CHECK_INT(bitmask_init(&bm, SIZE_MAX), -ENOMEM);
	CHECK_INT(bm.nbits, 0);
	bitmask_dispose(&bm);
}

static void test_copy(void)
{
	struct bitmask a, b;

	CHECK_INT(bitmask_from_hex(&a, "0x10000000000000059", 19, 100), 0);
	CHECK_INT(bitmask_init(&b, 1000), 0);
	bitmask_set(&b, 999);
	CHECK_INT(bitmask_copy(&b, &a), 0);
	CHECK_INT(b.nbits, 100);
	CHECK(bitmask_equal(&a, &b));
	check_hex(&b, "0x10000000000000059", "copy");
	/* Independent storage. */
	bitmask_set(&b, 1);
	CHECK(!bitmask_test(&a, 1));
	/* Copy onto itself is a no-op. */
	CHECK_INT(bitmask_copy(&a, &a), 0);
	check_hex(&a, "0x10000000000000059", "self copy");
	/* Copy of an empty, zero-sized mask. */
	bitmask_dispose(&a);
	CHECK_INT(bitmask_init(&a, 0), 0);
	CHECK_INT(bitmask_copy(&b, &a), 0);
	CHECK_INT(b.nbits, 0);
	CHECK(bitmask_is_empty(&b));
	bitmask_dispose(&a);
	bitmask_dispose(&b);
}

static void test_large_parse_is_fast(void)
{
	/* A million-sample tag: 250,000 hex digits.  Parsing a word at a time
	 * from the end must take well under a millisecond; the bound here is
	 * loose so that valgrind and sanitizer runs pass too. */
	const size_t nbits = 1000000, ndigits = nbits / 4;
	char *hex = malloc(ndigits + 3);
	char *out = NULL;
	struct bitmask bm;
	struct timespec t0, t1;
	double ms;

	CHECK(hex != NULL);
	if (!hex)
		return;
	hex[0] = '0';
	hex[1] = 'x';
	for (size_t i = 0; i < ndigits; i++)
		hex[2 + i] = "0123456789abcdef"[(i * 7 + 1) % 16];
	hex[2 + ndigits] = '\0';

	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(bitmask_from_hex(&bm, hex, ndigits + 2, nbits), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	fprintf(stderr, "parse of %zu hex digits: %.3f ms\n", ndigits, ms);
	CHECK(ms < 200.0);

	CHECK_INT(bitmask_to_hex(&bm, &out), 0);
	CHECK_STR(out, hex);
	free(out);
	bitmask_dispose(&bm);
	free(hex);
}

int main(void)
{
	test_parse_hand_computed();
	test_build_then_print();
	test_reject();
	test_round_trip_sizes();
	test_set_clear_test();
	test_next_skips_zero_words();
	test_equal_ignores_size();
	test_operations();
	test_operations_with_self();
	test_resize();
	test_copy();
	test_large_parse_is_fast();
	return CHECK_DONE();
}

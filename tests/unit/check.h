/* A minimal table-friendly test harness: CHECK records a failure and goes
 * on, so one run reports every broken case; main() returns the count. */
#ifndef LIGHTLYFS_CHECK_H
#define LIGHTLYFS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_cases;

#define CHECK(cond)                                                            \
	do {                                                                   \
		check_cases++;                                                 \
		if (!(cond)) {                                                 \
			check_failures++;                                      \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
		}                                                              \
	} while (0)

#define CHECK_INT(a, b)                                                        \
	do {                                                                   \
		long long check_a_ = (long long)(a);                           \
		long long check_b_ = (long long)(b);                           \
		check_cases++;                                                 \
		if (check_a_ != check_b_) {                                    \
			check_failures++;                                      \
			fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n",  \
				__FILE__, __LINE__, #a, check_a_, check_b_);   \
		}                                                              \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *check_a_ = (a);                                    \
		const char *check_b_ = (b);                                    \
		check_cases++;                                                 \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_)) {    \
			check_failures++;                                      \
			fprintf(stderr,                                        \
				"%s:%d: %s == \"%s\", expected \"%s\"\n",      \
				__FILE__, __LINE__, #a,                        \
				check_a_ ? check_a_ : "(null)",                \
				check_b_ ? check_b_ : "(null)");               \
		}                                                              \
	} while (0)

#define CHECK_DONE()                                                           \
	(fprintf(stderr, "%d checks, %d failed\n", check_cases,                \
		 check_failures),                                              \
	 check_failures ? 1 : 0)

#endif

/* The one retry policy (retry.c) of the API's requests (http_retry.c) and
 * storage's (blob.c).  Not part of the interface. */
#ifndef LIGHTLYFS_RETRY_H
#define LIGHTLYFS_RETRY_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

/* How an attempt ended, as the attempt function says it. */
struct retry_step {
	int err;	     /* 0: done; else a negative errno */
	bool again;	     /* the failure is worth another attempt */
	bool down;	     /* ... and no answer came: the server is down
				or restarting, tried until the deadline */
	long retry_after_ms; /* the answer's Retry-After, or -1 */
	const char *reason;  /* for the debug line, or NULL */
};

/* Runs attempt number attempt (1, 2...) with left_ms of the deadline, and
 * fills *st.  Before attempt 2 and on it may decide without sending (then
 * again false). */
typedef void (*retry_attempt_fn)(void *arg, unsigned attempt, long left_ms,
				 struct retry_step *st);

/* Calls attempt until it succeeds, fails in a way another attempt cannot
 * mend, has failed max_attempts times with an answer (a server that does
 * not answer is tried until the deadline), or the next attempt could not
 * start before deadline (CLOCK_MONOTONIC ms).  Between attempts a
 * full-jitter exponential backoff (Retry-After when longer).  what names
 * the request in debug lines.  Returns the last attempt's err, or
 * -ETIMEDOUT when the deadline had passed before the first (*attempts 0).
 * *attempts: how many were made. */
int retry_run(int64_t deadline, unsigned max_attempts, retry_attempt_fn attempt,
	      void *arg, const char *what, unsigned *attempts);

/* Transport failures worth another attempt: refused or reset connections,
 * an attempt that timed out (the connect timeout is shorter than the
 * deadline), an empty or cut answer, a broken HTTP/2 stream. */
bool retry_curl_code(CURLcode code);

/* Statuses that say "try again": 408, 429, 500, 502, 503, 504. */
bool retry_status(long status);

/* Retry-After of the answer c received, in ms, or -1. */
long retry_after_ms(CURL *c);

/* CLOCK_MONOTONIC in ms. */
int64_t retry_now_ms(void);

#endif

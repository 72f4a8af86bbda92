/* The one retry policy (retry.h): which failures are worth another
 * attempt, the full-jitter backoff between attempts, Retry-After, and a
 * server that does not answer tried until the deadline.  The API's
 * requests (http_retry.c) and storage's (blob.c) say per attempt what
 * happened; this decides whether and when to go again. */
#include "retry.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

/* A retry is not started with less than this left before the deadline: it
 * could only time out, and the earlier, more telling error would be lost. */
#define RETRY_MIN_LEFT_MS 50L

int64_t retry_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool retry_curl_code(CURLcode code)
{
	switch (code) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* The request timed out on the server (408), was rate limited (429, with
 * Retry-After), or met a server or gateway in trouble (500, 502, 503,
 * 504).  The official client retries the same set (API-NOTES, Transport),
 * less 400 and 409, which a retry cannot mend. */
bool retry_status(long status)
{
	switch (status) {
	case 408:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return true;
	default:
		return false;
	}
}

long retry_after_ms(CURL *c)
{
	curl_off_t s = 0;

	if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &s) != CURLE_OK ||
	    s <= 0)
		return -1;
	return s > LONG_MAX / 1000 ? LONG_MAX : (long)s * 1000;
}

/* Uniform in [0, n]: xorshift64, one state per thread, so that many
 * threads backing off at once neither share a lock nor come back in
 * step. */
static long retry_jitter(long n)
{
	static __thread uint64_t x;

	if (!x) {
		x = ((uint64_t)retry_now_ms() << 20) ^ (uint64_t)(uintptr_t)&x ^
		    (uint64_t)getpid();
		if (!x)
			x = 0x9e3779b97f4a7c15ULL;
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (long)(x % (uint64_t)(n + 1));
}

/* Full jitter (a uniform wait in [0, min(cap, base * 2^(retry-1))]).  An
 * unanswered request backs off to at most HTTP_RETRY_DOWN_CAP_MS: probing
 * a server that is down costs it nothing, and the request goes through
 * soon after it is back. */
static long retry_backoff_ms(unsigned retry, bool down)
{
	long cap_ms = down ? HTTP_RETRY_DOWN_CAP_MS : HTTP_RETRY_CAP_MS;
	long ceil_ms = HTTP_RETRY_BASE_MS;
	unsigned i;

	for (i = 1; i < retry && ceil_ms < cap_ms; i++)
		ceil_ms *= 2;
	if (ceil_ms > cap_ms)
		ceil_ms = cap_ms;
	return retry_jitter(ceil_ms);
}

static void retry_sleep_until(int64_t when_ms)
{
	struct timespec ts = {
	    .tv_sec = (time_t)(when_ms / 1000),
	    .tv_nsec = (long)(when_ms % 1000) * 1000000L,
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/* Sleeps the backoff after attempt st.  False, at once, when the next
 * attempt could not start RETRY_MIN_LEFT_MS before the deadline.  An
 * unanswered request whose backoff would pass the deadline makes its last
 * attempt just before it instead: the server may be back by then. */
static bool retry_wait(const struct retry_step *st, unsigned attempt,
		       int64_t deadline, const char *what)
{
	long wait_ms = retry_backoff_ms(attempt, st->down);
	const char *why = st->reason ? st->reason : "failed";
	int64_t now;

	/* Retry-After (RFC 9110 10.2.3) is the server's own estimate:
	 * waiting less only earns another 429 or 503. */
	if (st->retry_after_ms > wait_ms)
		wait_ms = st->retry_after_ms;
	now = retry_now_ms();
	if (st->down && now + wait_ms + RETRY_MIN_LEFT_MS >= deadline)
		wait_ms = (long)(deadline - now) - 2 * RETRY_MIN_LEFT_MS;
	if (wait_ms < 0 || now + wait_ms + RETRY_MIN_LEFT_MS >= deadline) {
		log_debug("%s: %s, no time left for attempt %u", what, why,
			  attempt + 1);
		return false;
	}
	log_debug("%s: %s, attempt %u in %ld ms", what, why, attempt + 1,
		  wait_ms);
	retry_sleep_until(now + wait_ms);
	return true;
}

int retry_run(int64_t deadline, unsigned max_attempts, retry_attempt_fn attempt,
	      void *arg, const char *what, unsigned *attempts)
{
	struct retry_step st = {.err = -ETIMEDOUT};
	unsigned n;

	*attempts = 0;
	for (n = 1;; n++) {
		long left_ms = (long)(deadline - retry_now_ms());

		/* only a caller-given deadline can be gone before the first
		 * attempt; later ones start with time left (retry_wait) */
		if (left_ms <= 0)
			break;
		st = (struct retry_step){.retry_after_ms = -1};
		attempt(arg, n, left_ms, &st);
		*attempts = n;
		if (!st.err || !st.again || (n >= max_attempts && !st.down) ||
		    !retry_wait(&st, n, deadline, what))
			break;
	}
	return st.err;
}

/* One logical request (http_send): attempts under one deadline, which
 * failures are worth another attempt, the full-jitter backoff between them,
 * the verify callback of a request that is not idempotent, and the counters
 * at the end.  One attempt on one handle is http.c's (http_attempt). */
#include "http_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* A retry is not started with less than this left before the deadline: it
 * could only time out, and the earlier, more telling error would be lost. */
#define HTTP_RETRY_MIN_LEFT_MS 50L

/* Statuses that say "try again": the request timed out on the server (408),
 * was rate limited (429, with Retry-After), or met a server or gateway in
 * trouble (500, 502, 503, 504).  The official client retries the same set
 * (API-NOTES, Transport), less 400 and 409, which a retry cannot mend. */
static bool http_status_retryable(long status)
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

/* Transport failures worth another attempt: refused or reset connections,
 * an attempt that timed out (the connect timeout is shorter than the
 * deadline), an empty or cut answer.  Not retried: a host name that does
 * not resolve (a typo far more often than a passing resolver failure, and
 * the mount must fail at once), TLS and certificate errors, a body over
 * the cap, out of memory. */
static bool http_curl_retryable(CURLcode code)
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

/* Whether an attempt that failed may have been acted on by the server: it
 * got (part of) the request and did not say it refused it.  408 and 429 are
 * answers that the request was not processed. */
static bool http_maybe_applied(const struct http_outcome *o)
{
	if (o->status != 0)
		return o->status >= 500;
	return o->sent;
}

/* A failure without an answer (refused, reset, timed out, nothing back):
 * the server is down or restarting, which takes seconds, not the second
 * or two the attempts last; such a request keeps trying until its
 * deadline.  An answer (a status) is the server's word, and its retries
 * stay bounded by HTTP_RETRY_MAX_ATTEMPTS. */
static bool http_unanswered(const struct http_outcome *o)
{
	return o->status == 0;
}

/* Full jitter (a uniform wait in [0, min(cap, base * 2^n)]): spreads the
 * retries of many clients instead of having them come back in step.  An
 * unanswered request backs off to at most HTTP_RETRY_DOWN_CAP_MS: probing
 * a server that is down costs it nothing, and the request goes through
 * soon after it is back. */
static long http_backoff_ms(struct http *h, unsigned retry, long cap_ms)
{
	long ceil_ms = HTTP_RETRY_BASE_MS;
	uint64_t x;
	unsigned i;

	for (i = 1; i < retry && ceil_ms < cap_ms; i++)
		ceil_ms *= 2;
	if (ceil_ms > cap_ms)
		ceil_ms = cap_ms;
	pthread_mutex_lock(&h->stats_lock);
	x = h->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	h->rng = x;
	pthread_mutex_unlock(&h->stats_lock);
	return (long)(x % (uint64_t)(ceil_ms + 1));
}

static void http_sleep_until(int64_t when_ms)
{
	struct timespec ts = {
	    .tv_sec = (time_t)(when_ms / 1000),
	    .tv_nsec = (long)(when_ms % 1000) * 1000000L,
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/* Counts the end of one logical request. */
static void http_count_end(struct http *h, const struct http_req *req, int rc,
			   const struct http_outcome *o)
{
	pthread_mutex_lock(&h->stats_lock);
	h->stats.requests++;
	if (rc) {
		h->stats.failures++;
		/* The path carries ids and paging, never the token. */
		snprintf(h->stats.last_error, sizeof(h->stats.last_error),
			 "%s %s: %s", req->method, req->path_query,
			 o->err && o->reason[0] ? o->reason : strerror(-rc));
	}
	pthread_mutex_unlock(&h->stats_lock);
}

/* Starts attempt number attempt of req on a handle from the pool with what
 * is left of the deadline.  False (o says why, when it is the first) when
 * the deadline has passed or no handle could be had. */
static bool http_try(struct http *h, const struct http_req *req,
		     const char *url, int64_t deadline, unsigned attempt,
		     bool reached, struct http_response *resp,
		     struct http_outcome *o)
{
	long left_ms = (long)(deadline - http_now_ms());
	CURL *c;

	if (left_ms <= 0) {
		/* Only a caller-given deadline can be gone before the first
		 * attempt. */
		if (attempt == 1) {
			snprintf(o->reason, sizeof(o->reason),
				 "deadline passed before sending");
			o->err = -ETIMEDOUT;
		}
		return false;
	}
	c = http_take(h);
	if (!c) {
		o->err = -ENOMEM;
		snprintf(o->reason, sizeof(o->reason), "out of memory");
		return false;
	}
	if (attempt > 1) {
		if (reached)
			resp->resent = true;
		pthread_mutex_lock(&h->stats_lock);
		h->stats.retries++;
		pthread_mutex_unlock(&h->stats_lock);
	}
	resp->attempts = attempt;
	http_attempt(h, c, req, url, left_ms, resp, o);
	http_put(h, c);
	return true;
}

/* Whether the failure o of attempt is worth another one at all. */
static bool http_retry_allowed(const struct http_req *req,
			       const struct http_outcome *o, unsigned attempt)
{
	/* Anything else is an answer a retry would only repeat. */
	if (o->status ? !http_status_retryable(o->status)
		      : !http_curl_retryable(o->code))
		return false;
	if (attempt >= HTTP_RETRY_MAX_ATTEMPTS && !http_unanswered(o))
		return false;
	if (!req->idempotent && http_maybe_applied(o) && !req->verify_cb)
		return false;
	return true;
}

/* Sleeps the backoff before attempt + 1.  False, at once, when that attempt
 * could not start HTTP_RETRY_MIN_LEFT_MS before the deadline.  An
 * unanswered request whose backoff would pass the deadline makes its last
 * attempt just before it instead: the server may be back by then. */
static bool http_retry_wait(struct http *h, const struct http_req *req,
			    const struct http_outcome *o, unsigned attempt,
			    int64_t deadline)
{
	bool down = http_unanswered(o);
	long wait_ms = http_backoff_ms(
	    h, attempt, down ? HTTP_RETRY_DOWN_CAP_MS : HTTP_RETRY_CAP_MS);
	int64_t now;

	/* Retry-After (RFC 9110 10.2.3) is the server's own estimate:
	 * waiting less only earns another 429 or 503. */
	if (o->retry_after_ms > wait_ms)
		wait_ms = o->retry_after_ms;
	now = http_now_ms();
	if (down && now + wait_ms + HTTP_RETRY_MIN_LEFT_MS >= deadline)
		wait_ms = (long)(deadline - now) - 2 * HTTP_RETRY_MIN_LEFT_MS;
	if (wait_ms < 0 || now + wait_ms + HTTP_RETRY_MIN_LEFT_MS >= deadline) {
		log_debug("%s %s: %s, no time left for attempt %u", req->method,
			  req->path_query, o->reason, attempt + 1);
		return false;
	}
	log_debug("%s %s: %s, attempt %u in %ld ms", req->method,
		  req->path_query, o->reason, attempt + 1, wait_ms);
	http_sleep_until(now + wait_ms);
	return true;
}

/* Before a request that is not idempotent is sent again after a failure
 * that may have reached the server: asks its verify_cb.  Returns 1 when
 * the failed attempt took effect after all (resp is emptied, o->err 0), -1
 * when that cannot be told (the failure stands), 0 to send it again. */
static int http_retry_verify(const struct http_req *req,
			     struct http_response *resp, struct http_outcome *o,
			     unsigned attempt)
{
	int v;

	if (req->idempotent || !http_maybe_applied(o))
		return 0;
	v = req->verify_cb(resp, req->verify_arg);
	if (v == 1) {
		log_debug("%s %s: attempt %u took effect after all",
			  req->method, req->path_query, attempt);
		free(resp->body);
		resp->body = NULL;
		resp->len = 0;
		resp->status = 0;
		o->err = 0;
		return 1;
	}
	if (v < 0) {
		log_debug("%s %s: cannot tell whether attempt %u took effect: "
			  "not sent again",
			  req->method, req->path_query, attempt);
		return -1;
	}
	return 0;
}

int http_send(struct http *h, const struct http_req *req,
	      struct http_response *resp)
{
	struct http_outcome o = {.err = -EIO};
	bool reached = false; /* an attempt may have reached the server */
	int64_t start, deadline;
	char *url = NULL;
	size_t url_len = 0;
	unsigned attempt;
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (!h || !req || !req->method || !req->path_query ||
	    req->path_query[0] != '/')
		return -EINVAL;
	start = http_now_ms();
	deadline =
	    req->deadline_ms > 0 ? req->deadline_ms : start + h->timeout_ms;
	rc = http_url(h, req->path_query, &url, &url_len);
	if (rc)
		goto out;

	for (attempt = 1;; attempt++) {
		if (!http_try(h, req, url, deadline, attempt, reached, resp,
			      &o))
			break;
		if (o.err == 0)
			break;
		if (http_maybe_applied(&o))
			reached = true;
		if (!http_retry_allowed(req, &o, attempt) ||
		    !http_retry_wait(h, req, &o, attempt, deadline) ||
		    http_retry_verify(req, resp, &o, attempt) != 0)
			break;
	}
	/* The last failure's errno, whatever stopped the loop: -ETIMEDOUT
	 * when the deadline cut an attempt short, -EAGAIN when a 429's
	 * Retry-After reached beyond it, -EIO after 5xx... */
	rc = o.err;
	resp->elapsed_ms = (long)(http_now_ms() - start);
	if (rc && o.status == 0)
		http_log_failed(req, resp, NULL, o.reason);
out:
	http_count_end(h, req, rc, &o);
	http_url_free(url, url_len);
	return rc;
}

void http_log_failed(const struct http_req *req,
		     const struct http_response *resp, const char *code,
		     const char *detail)
{
	int route = (int)strcspn(req->path_query, "?");
	char status[24] = "-";

	if (resp->status)
		snprintf(status, sizeof(status), "%ld", resp->status);
	log_warn("%s %.*s failed: status=%s code=%s request_id=%s ms=%ld "
		 "attempts=%u: %s",
		 req->method, route, req->path_query, status,
		 code && code[0] ? code : "-",
		 resp->request_id[0] ? resp->request_id : "-", resp->elapsed_ms,
		 resp->attempts, detail && detail[0] ? detail : "-");
}

int http_request_simple(struct http *h, const char *method,
			const char *path_query, const char *body,
			size_t body_len, struct http_response *resp)
{
	struct http_req req = {
	    .method = method,
	    .path_query = path_query,
	    .body = body,
	    .body_len = body_len,
	    .idempotent = method && strcmp(method, "POST") != 0,
	};

	return http_send(h, &req, resp);
}

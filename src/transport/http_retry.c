/* One logical request (http_send): what each attempt's failure means for
 * the next (whether and when to go again is the one policy of retry.c),
 * the verify callback of a request that is not idempotent, and the
 * counters at the end.  One attempt on one handle is http.c's
 * (http_attempt). */
#include "http_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "retry.h"

/* Whether an attempt that failed may have been acted on by the server: it
 * got (part of) the request and did not say it refused it.  408 and 429 are
 * answers that the request was not processed. */
static bool http_maybe_applied(const struct http_outcome *o)
{
	if (o->status != 0)
		return o->status >= 500;
	return o->sent;
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

/* What the attempts of one http_send share. */
struct http_run {
	struct http *h;
	const struct http_req *req;
	const char *url;
	struct http_response *resp;
	struct http_outcome o;
	bool reached; /* an attempt may have reached the server */
};

/* Whether the failure o is worth another attempt at all: a failure
 * without an answer (refused, reset, timed out, nothing back) is the
 * server down or restarting, which retry_run tries until the deadline; an
 * answer is the server's word, retried HTTP_RETRY_MAX_ATTEMPTS times. */
static void http_judge(const struct http_req *req, const struct http_outcome *o,
		       struct retry_step *st)
{
	st->err = o->err;
	st->reason = o->reason;
	st->retry_after_ms = o->retry_after_ms;
	st->down = o->status == 0;
	/* anything else is an answer a retry would only repeat */
	st->again =
	    o->status ? retry_status(o->status) : retry_curl_code(o->code);
	if (!req->idempotent && http_maybe_applied(o) && !req->verify_cb)
		st->again = false;
}

/* Attempt number attempt of the request, after the verify callback of one
 * that is not idempotent had its say about the attempt before. */
static void http_step(void *arg, unsigned attempt, long left_ms,
		      struct retry_step *st)
{
	struct http_run *run = arg;
	struct http *h = run->h;
	CURL *c;

	if (attempt > 1) {
		int v = http_retry_verify(run->req, run->resp, &run->o,
					  attempt - 1);

		if (v) {
			st->err = run->o.err; /* 0, or the failure stands */
			return;
		}
		if (run->reached)
			run->resp->resent = true;
		pthread_mutex_lock(&h->stats_lock);
		h->stats.retries++;
		pthread_mutex_unlock(&h->stats_lock);
	}
	c = http_take(h);
	if (!c) {
		run->o.err = st->err = -ENOMEM;
		snprintf(run->o.reason, sizeof(run->o.reason), "out of memory");
		return;
	}
	run->resp->attempts = attempt;
	http_attempt(h, c, run->req, run->url, left_ms, run->resp, &run->o);
	http_put(h, c);
	if (http_maybe_applied(&run->o))
		run->reached = true;
	http_judge(run->req, &run->o, st);
}

int http_send(struct http *h, const struct http_req *req,
	      struct http_response *resp)
{
	struct http_run run = {.h = h, .req = req, .resp = resp};
	int64_t start, deadline;
	char *url = NULL, what[96];
	size_t url_len = 0;
	unsigned attempts;
	int rc;

	memset(resp, 0, sizeof(*resp));
	run.o.err = -EIO;
	if (!h || !req || !req->method || !req->path_query ||
	    req->path_query[0] != '/')
		return -EINVAL;
	start = http_now_ms();
	deadline =
	    req->deadline_ms > 0 ? req->deadline_ms : start + h->timeout_ms;
	rc = http_url(h, req->path_query, &url, &url_len);
	if (rc)
		goto out;
	run.url = url;
	snprintf(what, sizeof(what), "%s %.*s", req->method,
		 (int)strcspn(req->path_query, "?"), req->path_query);
	/* The last failure's errno, whatever stopped the loop: -ETIMEDOUT
	 * when the deadline cut an attempt short, -EAGAIN when a 429's
	 * Retry-After reached beyond it, -EIO after 5xx... */
	rc = retry_run(deadline, HTTP_RETRY_MAX_ATTEMPTS, http_step, &run, what,
		       &attempts);
	if (!attempts) {
		snprintf(run.o.reason, sizeof(run.o.reason),
			 "deadline passed before sending");
		run.o.err = rc;
	}
	resp->elapsed_ms = (long)(http_now_ms() - start);
	if (rc && run.o.status == 0)
		http_log_failed(req, resp, NULL, run.o.reason);
out:
	http_count_end(h, req, rc, &run.o);
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

/* The API's requests: one deadline per logical request, bounded retries
 * with backoff, the token as the last query parameter, counters, and the one
 * table that turns HTTP statuses and Lightly error codes into errno values.
 * They run on the shared transport (transport.h).  Knows nothing of JSON. */
#ifndef LIGHTLYFS_HTTP_H
#define LIGHTLYFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_TIMEOUT_MS_DEFAULT 30000L
#define HTTP_CONNECT_TIMEOUT_MS 10000L
#define HTTP_MAX_BODY_DEFAULT ((size_t)1024 * 1024 * 1024)
/* Retry policy (http.c has the reasons): attempts per logical request, and
 * the full-jitter exponential backoff between them. */
#define HTTP_RETRY_MAX_ATTEMPTS 6
#define HTTP_RETRY_BASE_MS 100L
#define HTTP_RETRY_CAP_MS 5000L
/* the cap for a server that does not answer (refused, reset, timed out),
 * which is retried until the deadline */
#define HTTP_RETRY_DOWN_CAP_MS 1000L

struct transport;

struct http_config {
	/* the shared transport; NULL: one of its own, freed with it */
	struct transport *transport;
	const char *base_url; /* e.g. https://api.lightly.ai, no trailing '/' */
	const char *token;    /* API token, sent as ?token=; never logged */
	const char *ca_certs; /* CA bundle path or NULL */
	long timeout_ms;      /* deadline of one logical request, retries
				 included; <= 0 means HTTP_TIMEOUT_MS_DEFAULT */
	size_t max_body;      /* bytes; a longer body fails with -EIO */
};

struct http_response {
	long status; /* 0 when no HTTP answer arrived */
	char *body;  /* malloc'd, NUL-terminated (not counted in len) */
	size_t len;
	char request_id[64]; /* from X-Request-Id, if any */
	unsigned attempts;   /* times the request was sent (or tried to be) */
	long elapsed_ms;     /* from the first attempt to the end, retries in */
	/* The request was sent again after an attempt that may have reached
	 * the server: an answer such as 404 may be the earlier attempt's
	 * doing (api.c: a resent DELETE). */
	bool resent;
};

/* Asked before a request that is not idempotent is sent again after a
 * failure that may have reached the server (a transport error once bytes of
 * the request went out, or a 5xx).  failed is that attempt's answer.  Returns
 * 1 when the earlier attempt did take effect (http_send stops and returns
 * 0; the callback keeps what the caller needs in arg), 0 when it did not
 * (the request is sent again), or a negative errno when it cannot tell
 * (http_send stops with the earlier failure).  It may make requests of its
 * own with the same deadline. */
typedef int (*http_verify_cb)(const struct http_response *failed, void *arg);

/* Takes a 2xx answer's body as it arrives, instead of resp->body and
 * without the max_body cap: for a body too big to hold (a tag's zip).  off
 * is where data starts in the body; an attempt that is retried starts
 * again at 0, so the sink must drop what it had.  0, or a negative errno
 * that ends the request with it (not retried).  An answer that is not 2xx
 * still fills resp->body, for its error. */
typedef int (*http_body_cb)(const char *data, size_t len, uint64_t off,
			    void *arg);

/* One logical request for http_send.  Zero-initialise, then fill. */
struct http_req {
	const char *method;
	const char *path_query; /* starts with '/'; may carry a query string */
	const char *body;	/* NULL: none (body_len ignored) */
	size_t body_len;
	/* Safe to send twice (GET, PUT of a whole value, DELETE).  When false
	 * the request is sent again only after failures that cannot have
	 * reached the server (refused connection, 408, 429), or after
	 * verify_cb said the failed attempt took no effect. */
	bool idempotent;
	http_verify_cb verify_cb; /* NULL: ambiguous failures are final */
	void *verify_arg;
	/* Absolute CLOCK_MONOTONIC time in ms (see http_deadline); 0 means
	 * timeout_ms from now.  Lets a caller share one budget between
	 * requests that form one logical operation. */
	int64_t deadline_ms;
	http_body_cb body_cb; /* NULL: the body goes to resp->body */
	void *body_arg;
};

/* Counters since http_new, for .lightly/stats. */
struct http_stats {
	uint64_t requests;	 /* logical requests (http_send calls) */
	uint64_t retries;	 /* attempts beyond the first */
	uint64_t failures;	 /* logical requests that did not end in 2xx */
	uint64_t bytes_received; /* response bodies, every attempt */
	char last_error[256];	 /* "GET /v1/...: HTTP 503", "" if none; never
				    holds the token or the query's token */
};

struct http;

/* Copies the config strings.  Call curl_global_init first.  NULL on ENOMEM. */
struct http *http_new(const struct http_config *cfg);
void http_free(struct http *h);

/* For tests and simple callers; api.c uses http_send.  http_send with
 * idempotent = (method is not POST), no verify_cb and the default deadline:
 * one logical request, retried as http_send says (a POST only where it
 * cannot have reached the server).  path_query starts with '/' and may
 * carry a query string; the token is appended last.  body may be NULL (then
 * body_len is ignored); it is sent as application/json.  Fills *resp (the
 * caller disposes it with http_response_dispose) whatever the outcome.
 * Returns 0 for a 2xx answer; for any other status the errno of
 * http_errno(status, NULL); -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH or
 * -EIO for transport failures; -ENOMEM. */
int http_request_simple(struct http *h, const char *method,
			const char *path_query, const char *body,
			size_t body_len, struct http_response *resp);
void http_response_dispose(struct http_response *resp);

/* Sends req until it succeeds, fails in a way a retry cannot mend, runs out
 * of attempts (HTTP_RETRY_MAX_ATTEMPTS, for answers only: a server that
 * does not answer is tried until the deadline) or would pass its deadline.
 * Retried:
 * refused or reset connections, an attempt that timed out before the
 * deadline, an empty reply, and HTTP 408, 429, 500, 502, 503, 504 (honouring
 * Retry-After), each after a full-jitter exponential backoff.  Every attempt
 * gets what is left of the deadline.  Fills *resp (the caller disposes it)
 * with the last attempt's answer, attempts and resent.
 * Returns 0 for a 2xx answer (or when verify_cb reported that an earlier
 * attempt took effect: then resp->status is 0 and resp->body NULL); the
 * status's errno (http_errno(status, NULL)); -ETIMEDOUT when the deadline
 * passed and the last failure was a timeout; -ECONNREFUSED, -EHOSTUNREACH
 * or -EIO for other transport failures; -EINVAL, -ENOMEM.  A final
 * transport failure is logged once here (WARN); a final HTTP status is left
 * to the caller, which can read the error body. */
int http_send(struct http *h, const struct http_req *req,
	      struct http_response *resp);

/* The one line a failed request gets (WARN):
 *   GET /v1/datasets/ID/tags failed: status=503 code=INJECTED_FAULT
 *   request_id=R ms=812 attempts=3: detail
 * The route is the path without its query; the token rides only in the URL
 * http.c builds, never in req->path_query, and log.c redacts it anyway.
 * status is "-" when no answer came, code and request_id "-" when the
 * server sent none.  code and detail may be NULL. */
void http_log_failed(const struct http_req *req,
		     const struct http_response *resp, const char *code,
		     const char *detail);

/* Now on the clock deadlines use (CLOCK_MONOTONIC, ms). */
int64_t http_now_ms(void);
/* The deadline of a logical request starting now: now + timeout_ms. */
int64_t http_deadline(const struct http *h);

/* A consistent copy of the counters.  Thread safe. */
void http_get_stats(struct http *h, struct http_stats *out);

/* The one status / Lightly error code → errno table (a negative errno).
 * code may be NULL.  A 2xx status gives 0. */
int http_errno(long status, const char *code);

/* Whether a failure err (an errno of http_errno or http_send) is worth
 * trying again later: connection failures, deadlines, 408, 429, 5xx, out of
 * memory.  False for 0, for every 4xx (a 4xx this table does not know is
 * -EPROTO, 413 -EFBIG) and for the Lightly error codes: the server would
 * refuse the same request again. */
bool http_errno_transient(int err);

/* Appends s percent-encoded for a query or path component into out (size
 * outsz, NUL-terminated).  0 or -ENAMETOOLONG. */
int http_escape(const char *s, char *out, size_t outsz);

#endif

/* libcurl transport: a pool of easy handles (connection reuse, never shared
 * by two threads at once), timeouts, the token as the last query parameter,
 * and the one table that turns HTTP statuses and Lightly error codes into
 * errno values.  Knows nothing of JSON. */
#ifndef LIGHTLYFS_HTTP_H
#define LIGHTLYFS_HTTP_H

#include <stddef.h>

#define HTTP_TIMEOUT_MS_DEFAULT 30000L
#define HTTP_CONNECT_TIMEOUT_MS 10000L
#define HTTP_MAX_BODY_DEFAULT ((size_t)1024 * 1024 * 1024)

struct http_config {
	const char *base_url; /* e.g. https://api.lightly.ai, no trailing '/' */
	const char *token;    /* API token, sent as ?token=; never logged */
	const char *ca_certs; /* CA bundle path or NULL */
	long timeout_ms;      /* whole request deadline */
	size_t max_body;      /* bytes; a longer body fails with -EIO */
};

struct http_response {
	long status;  /* 0 when no HTTP answer arrived */
	char *body;   /* malloc'd, NUL-terminated (not counted in len) */
	size_t len;
	char request_id[64]; /* from X-Request-Id, if any */
};

struct http;

/* Copies the config strings.  Call curl_global_init first.  NULL on ENOMEM. */
struct http *http_new(const struct http_config *cfg);
void http_free(struct http *h);

/* One request.  path_query starts with '/' and may carry a query string;
 * the token is appended last.  body may be NULL (then body_len is ignored);
 * it is sent as application/json.  Fills *resp (the caller disposes it with
 * http_response_dispose) whatever the outcome.
 * Returns 0 for a 2xx answer; for any other status the errno of
 * http_errno(status, NULL); -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH or
 * -EIO for transport failures; -ENOMEM. */
int http_request(struct http *h, const char *method, const char *path_query,
		 const char *body, size_t body_len, struct http_response *resp);
void http_response_dispose(struct http_response *resp);

/* The one status / Lightly error code → errno table (a negative errno).
 * code may be NULL.  A 2xx status gives 0. */
int http_errno(long status, const char *code);

/* Appends s percent-encoded for a query or path component into out (size
 * outsz, NUL-terminated).  0 or -ENAMETOOLONG. */
int http_escape(const char *s, char *out, size_t outsz);

#endif

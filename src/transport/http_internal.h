/* What http.c (handles, one attempt, the status table) and http_retry.c
 * (the attempts of one logical request: retries, backoff, deadline) share.
 * Not part of the interface. */
#ifndef LIGHTLYFS_HTTP_INTERNAL_H
#define LIGHTLYFS_HTTP_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* Idle easy handles kept for reuse (the connections are the transport's);
 * FUSE runs about ten worker threads, and an extra handle beyond this is
 * simply cleaned up after its request. */
#define HTTP_POOL_MAX 32
#define HTTP_REASON_MAX 160

struct http {
	char *base_url;
	char *token_param; /* "token=<escaped>", or NULL without a token */
	char *token;	   /* raw, only to keep it out of curl's error text */
	char *ca_certs;
	char *proxy; /* from HTTP_PROXY (see http_new), or NULL */
	long timeout_ms;
	size_t max_body;
	struct curl_slist *headers; /* shared read-only by every handle */
	struct curl_slist *resolve; /* LIGHTLYFS_RESOLVE, or NULL */

	pthread_mutex_t lock; /* guards pool and npool only */
	CURL *pool[HTTP_POOL_MAX];
	size_t npool;

	struct transport *transport; /* where the requests run */
	bool own_transport;	     /* made by http_new, freed with it */

	pthread_mutex_t stats_lock; /* guards stats */
	struct http_stats stats;
};

/* How one attempt ended, for the retry decision. */
struct http_outcome {
	int err;	     /* 0 for 2xx, else a negative errno */
	CURLcode code;	     /* CURLE_OK when an HTTP answer arrived */
	long status;	     /* 0 without an answer */
	bool sent;	     /* bytes of the request went out: it may have
				reached the server */
	long retry_after_ms; /* Retry-After, or -1 */
	char reason[HTTP_REASON_MAX]; /* for logs and last_error */
};

/* A handle from the pool (or a new one), NULL on ENOMEM; give it back with
 * http_put, which keeps up to HTTP_POOL_MAX. */
CURL *http_take(struct http *h);
void http_put(struct http *h, CURL *c);

/* One attempt of req on c with left_ms of the deadline: fills *resp and *o.
 * Logs nothing above DEBUG: only the loop knows whether a failure is
 * final. */
void http_attempt(struct http *h, CURL *c, const struct http_req *req,
		  const char *url, long left_ms, struct http_response *resp,
		  struct http_outcome *o);

/* The URL: base, path and query, then the token as the last parameter.
 * Malloc'd in *url (wipe and free it with http_url_free).  0, -ENAMETOOLONG,
 * -ENOMEM. */
int http_url(const struct http *h, const char *path_query, char **url,
	     size_t *len);
void http_url_free(char *url, size_t len);

#endif

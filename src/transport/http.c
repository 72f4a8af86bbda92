/* The API's requests.  Owns a pool of easy handles (taken under a mutex,
 * run on the shared transport, whose cache keeps the connections), the URL
 * with the token as the last query parameter, a capped response buffer,
 * one attempt of a request (http_retry.c loops over them), the counters
 * behind .lightly/stats, and the one table from HTTP status and Lightly
 * error code to errno. */
#include "http_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "resolve.h"
#include "retry.h"

#define HTTP_BODY_INITIAL ((size_t)16 * 1024)
#define HTTP_KEEPIDLE_S 60L
#define HTTP_KEEPINTVL_S 30L

#ifndef LIGHTLYFS_VERSION
#define LIGHTLYFS_VERSION "0"
#endif

/* "Expect:" turns off 100-continue: a round trip per POST for nothing, since
 * the server answers small JSON bodies at once. */
static const char *const http_headers[] = {
    "Content-Type: application/json",
    "Accept: application/json",
    "Expect:",
};

/* What the write and header callbacks of one attempt fill. */
struct http_sink {
	struct http_response *resp;
	size_t cap; /* bytes allocated for resp->body */
	size_t max_body;
	size_t received; /* body bytes seen, kept or not */
	int too_large;
	int no_mem;
	/* a request with a body_cb: whether the answer is 2xx (0 not yet
	 * known, 1 yes, -1 no), the bytes given to it, its error */
	const struct http_req *req;
	CURL *c;
	int stream;
	uint64_t streamed;
	int sink_err;
};

static void http_wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void http_free(struct http *h)
{
	size_t i;

	if (!h)
		return;
	for (i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]);
	if (h->own_transport)
		transport_free(h->transport);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->stats_lock);
	curl_slist_free_all(h->headers);
	curl_slist_free_all(h->resolve);
	free(h->base_url);
	http_wipe_free(h->token_param);
	http_wipe_free(h->token);
	free(h->ca_certs);
	http_wipe_free(h->proxy); /* may carry proxy credentials */
	free(h);
}

static int http_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* RFC 3986 unreserved characters pass, every other byte becomes %XX, so the
 * result is safe in a path segment and in a query value alike. */
int http_escape(const char *s, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start, pos;

	start = strnlen(out, outsz);
	if (start >= outsz)
		return -ENAMETOOLONG;
	pos = start;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		size_t need = http_unreserved(c) ? 1 : 3;

		/* need bytes plus the final NUL */
		if (outsz - pos <= need) {
			out[start] = '\0';
			return -ENAMETOOLONG;
		}
		if (need == 1) {
			out[pos++] = (char)c;
		} else {
			out[pos++] = '%';
			out[pos++] = hex[c >> 4];
			out[pos++] = hex[c & 0x0f];
		}
	}
	out[pos] = '\0';
	return 0;
}

/* The struct with its locks; NULL on failure. */
static struct http *http_alloc(void)
{
	struct http *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if (pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h);
		return NULL;
	}
	if (pthread_mutex_init(&h->stats_lock, NULL) != 0) {
		pthread_mutex_destroy(&h->lock);
		free(h);
		return NULL;
	}
	return h;
}

/* The raw token and "token=<escaped>".  0 or -1. */
static int http_set_token(struct http *h, const char *token)
{
	const char *prefix = "token=";
	size_t tlen = strlen(token), cap;

	if (tlen > (SIZE_MAX - strlen(prefix) - 1) / 3)
		return -1;
	cap = strlen(prefix) + tlen * 3 + 1;
	h->token_param = calloc(1, cap); /* http_free reads it */
	h->token = strdup(token);
	if (!h->token_param || !h->token)
		return -1;
	strcpy(h->token_param, prefix);
	return http_escape(token, h->token_param, cap) != 0 ? -1 : 0;
}

/* libcurl reads only the lower-case http_proxy for http:// URLs (the
 * upper-case one can be set by a CGI client, "httpoxy"), but users of the
 * Lightly tools expect HTTP_PROXY to work too (API-NOTES, Transport).  A
 * daemon is no CGI script, so it is honoured here when http_proxy is unset;
 * no_proxy still applies (curl checks it).  0 or -1. */
static int http_set_proxy(struct http *h)
{
	const char *proxy = getenv("HTTP_PROXY");

	if (!strncasecmp(h->base_url, "http://", 7) && !getenv("http_proxy") &&
	    proxy && proxy[0]) {
		h->proxy = strdup(proxy);
		if (!h->proxy)
			return -1;
	}
	return 0;
}

static int http_set_headers(struct http *h)
{
	size_t i;

	for (i = 0; i < sizeof(http_headers) / sizeof(http_headers[0]); i++) {
		struct curl_slist *l;

		l = curl_slist_append(h->headers, http_headers[i]);
		if (!l)
			return -1;
		h->headers = l;
	}
	return 0;
}

struct http *http_new(const struct http_config *cfg)
{
	struct http *h = NULL;
	size_t blen;
	int ok = 0;

	if (!cfg || !cfg->base_url)
		return NULL;
	h = http_alloc();
	if (!h)
		return NULL;

	blen = strlen(cfg->base_url);
	while (blen > 0 && cfg->base_url[blen - 1] == '/')
		blen--;
	h->base_url = strndup(cfg->base_url, blen);
	if (!h->base_url)
		goto out;
	if (cfg->token && cfg->token[0] && http_set_token(h, cfg->token))
		goto out;
	if (cfg->ca_certs) {
		h->ca_certs = strdup(cfg->ca_certs);
		if (!h->ca_certs)
			goto out;
	}
	if (http_set_proxy(h) || transport_resolve_list(&h->resolve))
		goto out;
	h->timeout_ms =
	    cfg->timeout_ms > 0 ? cfg->timeout_ms : HTTP_TIMEOUT_MS_DEFAULT;
	h->max_body = cfg->max_body > 0 ? cfg->max_body : HTTP_MAX_BODY_DEFAULT;
	if (h->max_body == SIZE_MAX)
		h->max_body--; /* room for the NUL */
	if (http_set_headers(h))
		goto out;
	h->transport = cfg->transport;
	if (!h->transport) {
		h->transport = transport_new(NULL);
		h->own_transport = true;
		if (!h->transport)
			goto out;
	}
	ok = 1;
out:
	if (!ok) {
		http_free(h);
		h = NULL;
	}
	return h;
}

void http_response_dispose(struct http_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

CURL *http_take(struct http *h)
{
	CURL *c = NULL;

	pthread_mutex_lock(&h->lock);
	if (h->npool > 0)
		c = h->pool[--h->npool];
	pthread_mutex_unlock(&h->lock);
	if (!c)
		c = curl_easy_init();
	return c;
}

void http_put(struct http *h, CURL *c)
{
	pthread_mutex_lock(&h->lock);
	if (h->npool < HTTP_POOL_MAX) {
		h->pool[h->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	if (c)
		curl_easy_cleanup(c);
}

/* 1: data went to req->body_cb; 0: the answer is not 2xx, its body is
 * kept as any other; -1: the sink refused it.  The status is known by the
 * first body byte. */
static int http_write_stream(struct http_sink *s, const char *data, size_t n)
{
	long status = 0;
	int rc;

	if (!s->stream) {
		curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &status);
		s->stream = status >= 200 && status <= 299 ? 1 : -1;
	}
	if (s->stream < 0)
		return 0;
	rc = s->req->body_cb(data, n, s->streamed, s->req->body_arg);
	if (rc) {
		s->sink_err = rc;
		return -1;
	}
	s->streamed += n;
	return 1;
}

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_sink *s = arg;
	struct http_response *resp = s->resp;
	size_t n = nmemb; /* size is always 1 for libcurl write callbacks */
	int streamed;

	(void)size;
	s->received += n;
	if (s->req && s->req->body_cb) {
		streamed = http_write_stream(s, data, n);
		if (streamed)
			return streamed > 0 ? n : 0;
	}
	if (n > s->max_body - resp->len) {
		s->too_large = 1;
		return 0;
	}
	if (resp->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : HTTP_BODY_INITIAL;
		curl_off_t declared = -1;
		char *p;

		/* a declared length: the whole body in one allocation, not a
		 * growing one copied at each doubling */
		if (!s->cap && s->c &&
		    curl_easy_getinfo(s->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
				      &declared) == CURLE_OK &&
		    declared > 0 && (uint64_t)declared < s->max_body &&
		    (size_t)declared + 1 > cap)
			cap = (size_t)declared + 1;

		while (cap < resp->len + n + 1)
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		if (cap > s->max_body + 1)
			cap = s->max_body + 1;
		p = realloc(resp->body, cap);
		if (!p) {
			s->no_mem = 1;
			return 0;
		}
		resp->body = p;
		s->cap = cap;
	}
	memcpy(resp->body + resp->len, data, n);
	resp->len += n;
	resp->body[resp->len] = '\0';
	return n;
}

/* Keeps the last X-Request-Id seen (any case), printable bytes only. */
static size_t http_header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "x-request-id:";
	struct http_sink *s = arg;
	size_t n = nmemb, i, o = 0;

	(void)size;
	if (n < sizeof(name) - 1 || strncasecmp(data, name, sizeof(name) - 1))
		return n;
	for (i = sizeof(name) - 1; i < n && (data[i] == ' ' || data[i] == '\t');
	     i++)
		;
	for (; i < n && o + 1 < sizeof(s->resp->request_id); i++) {
		unsigned char c = (unsigned char)data[i];

		if (c <= 0x20 || c >= 0x7f)
			break;
		s->resp->request_id[o++] = (char)c;
	}
	s->resp->request_id[o] = '\0';
	return n;
}

int64_t http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t http_deadline(const struct http *h)
{
	return http_now_ms() + h->timeout_ms;
}

#define HTTP_SET(opt, val)                                                     \
	do {                                                                   \
		if ((rc = curl_easy_setopt(c, opt, val)) != CURLE_OK)          \
			return rc;                                             \
	} while (0)

/* What every request gets: the URL, timeouts, TLS checks, headers and the
 * callbacks that fill sink.  left_ms is what remains of the deadline: the
 * whole of it is this attempt's timeout. */
static CURLcode http_setup_transport(struct http *h, CURL *c, const char *url,
				     long left_ms, struct http_sink *sink,
				     char *errbuf)
{
	curl_off_t max_file = h->max_body > (size_t)INT64_MAX
				  ? (curl_off_t)INT64_MAX
				  : (curl_off_t)h->max_body;
	CURLcode rc = CURLE_OK;

	HTTP_SET(CURLOPT_URL, url);
	HTTP_SET(CURLOPT_PROTOCOLS_STR, "http,https");
	HTTP_SET(CURLOPT_NOSIGNAL, 1L);
	HTTP_SET(CURLOPT_TIMEOUT_MS, left_ms);
	HTTP_SET(CURLOPT_CONNECTTIMEOUT_MS, left_ms < HTTP_CONNECT_TIMEOUT_MS
						? left_ms
						: HTTP_CONNECT_TIMEOUT_MS);
	HTTP_SET(CURLOPT_TCP_KEEPALIVE, 1L);
	HTTP_SET(CURLOPT_TCP_KEEPIDLE, HTTP_KEEPIDLE_S);
	HTTP_SET(CURLOPT_TCP_KEEPINTVL, HTTP_KEEPINTVL_S);
	HTTP_SET(CURLOPT_ACCEPT_ENCODING, "");
	HTTP_SET(CURLOPT_FOLLOWLOCATION, 0L);
	HTTP_SET(CURLOPT_SSL_VERIFYPEER, 1L);
	HTTP_SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_certs)
		HTTP_SET(CURLOPT_CAINFO, h->ca_certs);
	if (h->proxy)
		HTTP_SET(CURLOPT_PROXY, h->proxy);
	if (h->resolve)
		HTTP_SET(CURLOPT_RESOLVE, h->resolve);
	HTTP_SET(CURLOPT_HTTPHEADER, h->headers);
	HTTP_SET(CURLOPT_USERAGENT, "lightlyfs/" LIGHTLYFS_VERSION);
	/* Refuses a declared Content-Length over the cap before any byte. */
	HTTP_SET(CURLOPT_MAXFILESIZE_LARGE, max_file);
	HTTP_SET(CURLOPT_WRITEFUNCTION, http_write_cb);
	HTTP_SET(CURLOPT_WRITEDATA, sink);
	HTTP_SET(CURLOPT_HEADERFUNCTION, http_header_cb);
	HTTP_SET(CURLOPT_HEADERDATA, sink);
	HTTP_SET(CURLOPT_ERRORBUFFER, errbuf);
	return CURLE_OK;
}

/* The method and body of req, and a connection of its own for a request
 * that is not idempotent. */
static CURLcode http_setup_method(CURL *c, const struct http_req *req)
{
	const char *method = req->method;
	CURLcode rc = CURLE_OK;

	/* libcurl silently sends a request again, once, when a reused
	 * connection turns out dead before any answer byte, and the server may
	 * have acted on the first copy.  Harmless for an idempotent request;
	 * a request that is not gets a connection of its own, which curl
	 * never retries that way, so every re-send is decided by http_send
	 * (and its verify_cb).  The price is one handshake per tag creation,
	 * a rare call. */
	if (!req->idempotent)
		HTTP_SET(CURLOPT_FRESH_CONNECT, 1L);

	if (req->body || !strcmp(method, "POST") || !strcmp(method, "PUT")) {
		/* POSTFIELDS with an explicit size: no copy, may hold NULs, and
		 * a body-less PUT still sends Content-Length: 0. */
		HTTP_SET(CURLOPT_POST, 1L);
		HTTP_SET(CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)(req->body ? req->body_len : 0));
		HTTP_SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
		if (strcmp(method, "POST"))
			HTTP_SET(CURLOPT_CUSTOMREQUEST, method);
	} else if (!strcmp(method, "HEAD")) {
		HTTP_SET(CURLOPT_NOBODY, 1L);
	} else {
		HTTP_SET(CURLOPT_HTTPGET, 1L);
		if (strcmp(method, "GET"))
			HTTP_SET(CURLOPT_CUSTOMREQUEST, method);
	}
	/* a streamed body is not held, so max_body does not bound it */
	if (req->body_cb)
		HTTP_SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)0);
	return CURLE_OK;
}

#undef HTTP_SET

/* Every option is set again after curl_easy_reset(), which keeps the live
 * connection and the DNS and TLS session caches but forgets the previous
 * request's method, body and callbacks. */
static CURLcode http_setup(struct http *h, CURL *c, const struct http_req *req,
			   const char *url, long left_ms,
			   struct http_sink *sink, char *errbuf)
{
	CURLcode rc;

	curl_easy_reset(c);
	rc = http_setup_transport(h, c, url, left_ms, sink, errbuf);
	if (rc == CURLE_OK)
		rc = http_setup_method(c, req);
	if (rc == CURLE_OK)
		rc = transport_setup(h->transport, c, url);
	return rc;
}

static int http_curl_errno(CURLcode code, const struct http_sink *sink)
{
	if (sink->no_mem || code == CURLE_OUT_OF_MEMORY)
		return -ENOMEM;
	switch (code) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		/* not EHOSTUNREACH: a name that does not resolve is told
		 * apart at start ("cannot resolve host") */
		return -ENXIO;
	default:
		return -EIO;
	}
}

/* curl's error text names host and port, but never print it if it could
 * hold the query string. */
static const char *http_safe_error(const struct http *h, CURLcode code,
				   const char *errbuf)
{
	if (!errbuf[0] || strstr(errbuf, "token=") ||
	    (h->token && strstr(errbuf, h->token)) ||
	    (h->proxy && strstr(errbuf, h->proxy)))
		return curl_easy_strerror(code);
	return errbuf;
}

/* What the handle knows after its transfer ended with code: whether
 * the request went out, and with a complete exchange the status (*status)
 * and Retry-After. */
static void http_read_info(CURL *c, CURLcode code, struct http_outcome *o,
			   long *status)
{
	long request_size = 0;

	/* Counts the bytes of the request that were written to the socket,
	 * so 0 means the server cannot have seen it (a refused connection, a
	 * connect timeout). */
	if (curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &request_size) !=
		CURLE_OK ||
	    request_size > 0)
		o->sent = true;
	/* A connection that died after the headers still has a status; what
	 * matters is whether the exchange completed. */
	if (code == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		o->retry_after_ms = retry_after_ms(c);
	}
}

/* An attempt without a complete exchange: drops what arrived and says why
 * in o. */
static void http_transport_failed(const struct http *h, CURLcode code,
				  const struct http_sink *sink,
				  const char *errbuf,
				  struct http_response *resp,
				  struct http_outcome *o)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
	if (sink->too_large || code == CURLE_FILESIZE_EXCEEDED) {
		snprintf(o->reason, sizeof(o->reason),
			 "response too large (limit %zu bytes)", h->max_body);
		o->err = -EIO;
	} else if (sink->sink_err) {
		snprintf(o->reason, sizeof(o->reason), "body not taken: %s",
			 strerror(-sink->sink_err));
		o->err = sink->sink_err;
	} else {
		snprintf(o->reason, sizeof(o->reason), "%s",
			 http_safe_error(h, code, errbuf));
		o->err = http_curl_errno(code, sink);
		/* no retry mends it, and at start only errors are shown:
		 * without this the mount fails with a bare EIO */
		if (code == CURLE_PEER_FAILED_VERIFICATION ||
		    code == CURLE_SSL_CACERT_BADFILE)
			log_error("%s: %s (-o ca_certs names the CA bundle)",
				  h->base_url, o->reason);
	}
}

/* One attempt on one handle, the unit the retry loop of http_send
 * (http_retry.c) wraps. */
void http_attempt(struct http *h, CURL *c, const struct http_req *req,
		  const char *url, long left_ms, struct http_response *resp,
		  struct http_outcome *o)
{
	struct http_sink sink = {
	    .resp = resp,
	    .max_body = h->max_body,
	    .req = req,
	    .c = c,
	};
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode code;
	long status = 0;

	memset(o, 0, sizeof(*o));
	o->retry_after_ms = -1;
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
	resp->status = 0;
	resp->request_id[0] = '\0';
	code = http_setup(h, c, req, url, left_ms, &sink, errbuf);
	/* the callbacks run on the transport's thread meanwhile, on sink
	 * and errbuf only, which this frame owns until it returns */
	if (code == CURLE_OK)
		code = transport_perform(h->transport, c);
	/* errbuf and sink die with this frame; the pooled handle must not
	 * point at them (curl_easy_cleanup may still report errors). */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	http_read_info(c, code, o, &status);
	pthread_mutex_lock(&h->stats_lock);
	h->stats.bytes_received += sink.received;
	pthread_mutex_unlock(&h->stats_lock);

	o->code = code;
	if (code != CURLE_OK) {
		http_transport_failed(h, code, &sink, errbuf, resp, o);
		return;
	}
	if (!resp->body) {
		resp->body = calloc(1, 1);
		if (!resp->body) {
			snprintf(o->reason, sizeof(o->reason), "out of memory");
			o->err = -ENOMEM;
			return;
		}
	}
	resp->status = status;
	o->status = status;
	if (status == 0) {
		snprintf(o->reason, sizeof(o->reason),
			 "no HTTP status in the answer");
		o->err = -EIO;
		return;
	}
	snprintf(o->reason, sizeof(o->reason), "HTTP %ld", status);
	o->err = http_errno(status, NULL);
	log_debug("%s %s: HTTP %ld, %zu bytes", req->method, req->path_query,
		  status, resp->len);
}

int http_url(const struct http *h, const char *path_query, char **url,
	     size_t *len)
{
	size_t blen, plen, tlen, n;
	char *u;

	blen = strlen(h->base_url);
	plen = strlen(path_query);
	tlen = h->token_param ? strlen(h->token_param) : 0;
	if (plen >= SIZE_MAX - blen || tlen >= SIZE_MAX - blen - plen - 1)
		return -ENAMETOOLONG;
	n = blen + plen + (tlen ? 1 + tlen : 0);
	u = malloc(n + 1);
	if (!u)
		return -ENOMEM;
	memcpy(u, h->base_url, blen);
	memcpy(u + blen, path_query, plen);
	if (tlen) {
		u[blen + plen] = strchr(path_query, '?') ? '&' : '?';
		memcpy(u + blen + plen + 1, h->token_param, tlen);
	}
	u[n] = '\0';
	*url = u;
	*len = n;
	return 0;
}

void http_url_free(char *url, size_t len)
{
	if (url) {
		explicit_bzero(url, len);
		free(url);
	}
}

void http_get_stats(struct http *h, struct http_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	pthread_mutex_lock(&h->stats_lock);
	*out = h->stats;
	pthread_mutex_unlock(&h->stats_lock);
}

/* The one table (STYLE.md, Errors).  The Lightly code is more specific than
 * the status, whose use for a given rule is unconfirmed (API-NOTES, Server
 * rules: TAG_NAME_EXISTS may come as 409 or 400), so it is looked at first. */
static const struct {
	const char *code;
	int err;
} http_code_table[] = {
    {"TAG_NAME_EXISTS", -EEXIST},
    {"TAG_INITIAL_EXISTS", -EEXIST},
    {"SAMPLE_FILENAME_EXISTS", -EEXIST},
    {"TAG_UNDELETABLE_NOT_A_LEAF", -EBUSY},
    {"TAG_UNDELETABLE_IS_INITIAL", -EBUSY},
    {"DATASET_UNKNOWN", -ENOENT},
    {"TAG_UNKNOWN", -ENOENT},
    {"UNAUTHORIZED", -EACCES},
    {"JWT_INVALID", -EACCES},
    {"MALFORMED_REQUEST", -EINVAL},
    {"BAD_REQUEST", -EINVAL},
    {"TAG_NO_TAG_IN_DATASET", -EINVAL},
    {"TAG_PREVTAG_NOT_IN_DATASET", -EINVAL},
};

int http_errno(long status, const char *code)
{
	size_t i;

	/* http.h: a 2xx status gives 0, whatever a body might say. */
	if (status >= 200 && status <= 299)
		return 0;
	if (code) {
		for (i = 0;
		     i < sizeof(http_code_table) / sizeof(http_code_table[0]);
		     i++) {
			if (!strcmp(code, http_code_table[i].code))
				return http_code_table[i].err;
		}
	}
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 408:
		return -ETIMEDOUT;
	case 409:
		return -EEXIST;
	case 429:
		return -EAGAIN;
	case 413:
		/* Payload Too Large: the request body (a tag's bitmask) is
		 * over the server's limit; sending it again cannot help. */
		return -EFBIG;
	default:
		break;
	}
	/* Any other 4xx is a refusal of this request that this table does
	 * not know: the server understood it and will answer the same again.
	 * -EPROTO says the two sides disagree about the protocol, and keeps
	 * it apart from -EIO, which http_errno_transient counts as passing. */
	if (status >= 400 && status <= 499)
		return -EPROTO;
	return -EIO; /* 5xx, and no or an unexpected (1xx, 3xx) status */
}

/* The errno values of passing failures, as http_errno and http_send produce
 * them: a connection that failed or broke, a deadline (or 408), a rate
 * limit (429), a server in trouble (5xx, transport errors and bodies that
 * could not be read give -EIO too), and local memory pressure.  Everything
 * else is an answer about the request itself (every 4xx, a Lightly error
 * code), which stays the same however often it is sent. */
bool http_errno_transient(int err)
{
	switch (err) {
	case -EIO:
	case -ETIMEDOUT:
	case -EAGAIN:
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -EHOSTUNREACH:
	case -ENXIO:
	case -ENOMEM:
		return true;
	default:
		return false;
	}
}

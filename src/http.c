/* libcurl transport.  Owns a pool of easy handles (taken under a mutex, used
 * without it, so connections are kept alive between requests), the URL with
 * the token as the last query parameter, a capped response buffer, and the
 * one table from HTTP status and Lightly error code to errno. */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* Idle handles kept for reuse; FUSE runs about ten worker threads, and an
 * extra handle beyond this is simply cleaned up after its request. */
#define HTTP_POOL_MAX 32
#define HTTP_BODY_INITIAL ((size_t)16 * 1024)
#define HTTP_KEEPIDLE_S 60L
#define HTTP_KEEPINTVL_S 30L

#ifndef LIGHTLYFS_VERSION
#define LIGHTLYFS_VERSION "0"
#endif

struct http {
	char *base_url;
	char *token_param; /* "token=<escaped>", or NULL without a token */
	char *token;       /* raw, only to keep it out of curl's error text */
	char *ca_certs;
	long timeout_ms;
	size_t max_body;
	struct curl_slist *headers; /* shared read-only by every handle */

	pthread_mutex_t lock; /* guards pool and npool only */
	CURL *pool[HTTP_POOL_MAX];
	size_t npool;
};

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
	size_t cap;      /* bytes allocated for resp->body */
	size_t max_body;
	int too_large;
	int no_mem;
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
	pthread_mutex_destroy(&h->lock);
	curl_slist_free_all(h->headers);
	free(h->base_url);
	http_wipe_free(h->token_param);
	http_wipe_free(h->token);
	free(h->ca_certs);
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

struct http *http_new(const struct http_config *cfg)
{
	struct http *h = NULL;
	const char *prefix = "token=";
	size_t blen, tlen, cap, i;
	int ok = 0;

	if (!cfg || !cfg->base_url)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	if (pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h);
		return NULL;
	}

	blen = strlen(cfg->base_url);
	while (blen > 0 && cfg->base_url[blen - 1] == '/')
		blen--;
	h->base_url = strndup(cfg->base_url, blen);
	if (!h->base_url)
		goto out;

	if (cfg->token && cfg->token[0]) {
		tlen = strlen(cfg->token);
		if (tlen > (SIZE_MAX - strlen(prefix) - 1) / 3)
			goto out;
		cap = strlen(prefix) + tlen * 3 + 1;
		h->token_param = calloc(1, cap); /* http_free reads it */
		h->token = strdup(cfg->token);
		if (!h->token_param || !h->token)
			goto out;
		strcpy(h->token_param, prefix);
		if (http_escape(cfg->token, h->token_param, cap) != 0)
			goto out;
	}
	if (cfg->ca_certs) {
		h->ca_certs = strdup(cfg->ca_certs);
		if (!h->ca_certs)
			goto out;
	}
	h->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms
					    : HTTP_TIMEOUT_MS_DEFAULT;
	h->max_body = cfg->max_body > 0 ? cfg->max_body : HTTP_MAX_BODY_DEFAULT;
	if (h->max_body == SIZE_MAX)
		h->max_body--; /* room for the NUL */

	for (i = 0; i < sizeof(http_headers) / sizeof(http_headers[0]); i++) {
		struct curl_slist *l;

		l = curl_slist_append(h->headers, http_headers[i]);
		if (!l)
			goto out;
		h->headers = l;
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

static CURL *http_take(struct http *h)
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

static void http_put(struct http *h, CURL *c)
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

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_sink *s = arg;
	struct http_response *resp = s->resp;
	size_t n = nmemb; /* size is always 1 for libcurl write callbacks */

	(void)size;
	if (n > s->max_body - resp->len) {
		s->too_large = 1;
		return 0;
	}
	if (resp->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : HTTP_BODY_INITIAL;
		char *p;

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
static size_t http_header_cb(char *data, size_t size, size_t nmemb,
			     void *arg)
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

/* Every option is set again after curl_easy_reset(), which keeps the live
 * connection and the DNS and TLS session caches but forgets the previous
 * request's method, body and callbacks. */
static CURLcode http_setup(struct http *h, CURL *c, const char *method,
			   const char *url, const char *body, size_t body_len,
			   struct http_sink *sink, char *errbuf)
{
	curl_off_t max_file = h->max_body > (size_t)INT64_MAX
				      ? (curl_off_t)INT64_MAX
				      : (curl_off_t)h->max_body;
	CURLcode rc = CURLE_OK;

#define HTTP_SET(opt, val)                                                   \
	do {                                                                 \
		if ((rc = curl_easy_setopt(c, opt, val)) != CURLE_OK)        \
			return rc;                                           \
	} while (0)

	curl_easy_reset(c);
	HTTP_SET(CURLOPT_URL, url);
	HTTP_SET(CURLOPT_PROTOCOLS_STR, "http,https");
	HTTP_SET(CURLOPT_NOSIGNAL, 1L);
	HTTP_SET(CURLOPT_TIMEOUT_MS, h->timeout_ms);
	HTTP_SET(CURLOPT_CONNECTTIMEOUT_MS,
		 h->timeout_ms < HTTP_CONNECT_TIMEOUT_MS
			 ? h->timeout_ms
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
	HTTP_SET(CURLOPT_HTTPHEADER, h->headers);
	HTTP_SET(CURLOPT_USERAGENT, "lightlyfs/" LIGHTLYFS_VERSION);
	/* Refuses a declared Content-Length over the cap before any byte. */
	HTTP_SET(CURLOPT_MAXFILESIZE_LARGE, max_file);
	HTTP_SET(CURLOPT_WRITEFUNCTION, http_write_cb);
	HTTP_SET(CURLOPT_WRITEDATA, sink);
	HTTP_SET(CURLOPT_HEADERFUNCTION, http_header_cb);
	HTTP_SET(CURLOPT_HEADERDATA, sink);
	HTTP_SET(CURLOPT_ERRORBUFFER, errbuf);

	if (body || !strcmp(method, "POST") || !strcmp(method, "PUT")) {
		/* POSTFIELDS with an explicit size: no copy, may hold NULs, and
		 * a body-less PUT still sends Content-Length: 0. */
		HTTP_SET(CURLOPT_POST, 1L);
		HTTP_SET(CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)(body ? body_len : 0));
		HTTP_SET(CURLOPT_POSTFIELDS, body ? body : "");
		if (strcmp(method, "POST"))
			HTTP_SET(CURLOPT_CUSTOMREQUEST, method);
	} else if (!strcmp(method, "HEAD")) {
		HTTP_SET(CURLOPT_NOBODY, 1L);
	} else {
		HTTP_SET(CURLOPT_HTTPGET, 1L);
		if (strcmp(method, "GET"))
			HTTP_SET(CURLOPT_CUSTOMREQUEST, method);
	}
#undef HTTP_SET
	return CURLE_OK;
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
		return -EHOSTUNREACH;
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
	    (h->token && strstr(errbuf, h->token)))
		return curl_easy_strerror(code);
	return errbuf;
}

/* One attempt on one handle, the unit a retry loop wraps: fills *resp and
 * returns 0 for 2xx, the status's errno, or a transport errno.  Logs
 * transport failures (only this module knows curl's reason); statuses are
 * logged by the caller, which can read the error body. */
static int http_attempt(struct http *h, CURL *c, const char *method,
			const char *path_query, const char *url,
			const char *body, size_t body_len,
			struct http_response *resp)
{
	struct http_sink sink = {
		.resp = resp,
		.max_body = h->max_body,
	};
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode code;
	long status = 0;
	int rc;

	http_response_dispose(resp);
	code = http_setup(h, c, method, url, body, body_len, &sink, errbuf);
	if (code == CURLE_OK)
		code = curl_easy_perform(c);
	/* errbuf and sink die with this frame; the pooled handle must not
	 * point at them (curl_easy_cleanup may still report errors). */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	/* A connection that died after the headers still has a status; what
	 * matters is whether the exchange completed. */
	if (code == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);

	if (code != CURLE_OK) {
		free(resp->body);
		resp->body = NULL;
		resp->len = 0;
		if (sink.too_large || code == CURLE_FILESIZE_EXCEEDED) {
			log_warn("%s %s: response too large (limit %zu bytes)",
				 method, path_query, h->max_body);
			rc = -EIO;
		} else {
			rc = http_curl_errno(code, &sink);
			log_warn("%s %s: %s", method, path_query,
				 http_safe_error(h, code, errbuf));
		}
		goto out;
	}

	if (!resp->body) {
		resp->body = calloc(1, 1);
		if (!resp->body) {
			rc = -ENOMEM;
			goto out;
		}
	}
	resp->status = status;
	if (status == 0) {
		log_warn("%s %s: no HTTP status in the answer", method,
			 path_query);
		rc = -EIO;
		goto out;
	}
	rc = http_errno(status, NULL);
	log_debug("%s %s: HTTP %ld, %zu bytes", method, path_query, status,
		  resp->len);
out:
	return rc;
}

int http_request(struct http *h, const char *method, const char *path_query,
		 const char *body, size_t body_len, struct http_response *resp)
{
	char *url = NULL;
	CURL *c = NULL;
	size_t blen, plen, tlen, len;
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (!h || !method || !path_query || path_query[0] != '/')
		return -EINVAL;

	blen = strlen(h->base_url);
	plen = strlen(path_query);
	tlen = h->token_param ? strlen(h->token_param) : 0;
	if (plen >= SIZE_MAX - blen || tlen >= SIZE_MAX - blen - plen - 1)
		return -ENAMETOOLONG;
	len = blen + plen + (tlen ? 1 + tlen : 0);
	url = malloc(len + 1);
	if (!url) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(url, h->base_url, blen);
	memcpy(url + blen, path_query, plen);
	if (tlen) {
		url[blen + plen] = strchr(path_query, '?') ? '&' : '?';
		memcpy(url + blen + plen + 1, h->token_param, tlen);
	}
	url[len] = '\0';

	c = http_take(h);
	if (!c) {
		rc = -ENOMEM;
		goto out;
	}
	rc = http_attempt(h, c, method, path_query, url, body, body_len, resp);
	http_put(h, c);
out:
	if (url) {
		explicit_bzero(url, len);
		free(url);
	}
	return rc;
}

/* The one table (STYLE.md, Errors).  The Lightly code is more specific than
 * the status, whose use for a given rule is unconfirmed (API-NOTES, Server
 * rules: TAG_NAME_EXISTS may come as 409 or 400), so it is looked at first. */
static const struct {
	const char *code;
	int err;
} http_code_table[] = {
	{ "TAG_NAME_EXISTS", -EEXIST },
	{ "TAG_INITIAL_EXISTS", -EEXIST },
	{ "SAMPLE_FILENAME_EXISTS", -EEXIST },
	{ "TAG_UNDELETABLE_NOT_A_LEAF", -EBUSY },
	{ "TAG_UNDELETABLE_IS_INITIAL", -EBUSY },
	{ "DATASET_UNKNOWN", -ENOENT },
	{ "TAG_UNKNOWN", -ENOENT },
	{ "UNAUTHORIZED", -EACCES },
	{ "JWT_INVALID", -EACCES },
	{ "MALFORMED_REQUEST", -EINVAL },
	{ "BAD_REQUEST", -EINVAL },
	{ "TAG_NO_TAG_IN_DATASET", -EINVAL },
	{ "TAG_PREVTAG_NOT_IN_DATASET", -EINVAL },
};

int http_errno(long status, const char *code)
{
	size_t i;

	/* http.h: a 2xx status gives 0, whatever a body might say. */
	if (status >= 200 && status <= 299)
		return 0;
	if (code) {
		for (i = 0; i < sizeof(http_code_table) /
					sizeof(http_code_table[0]);
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
	default:
		return -EIO; /* 5xx and anything unexpected */
	}
}

/* Storage reads (blob.h): ranged GETs of signed URLs on a pool of curl
 * handles of its own (run on the shared transport), with no token and no
 * header beyond Range; what each attempt's failure means for the next (the
 * policy is retry.c's), asking for the rest after a cut body; expiry
 * answers told apart from other refusals; the counters. */

/* CURLOPT_PROTOCOLS (a bit mask) is the fallback for a libcurl older than
 * 7.85, which has no CURLOPT_PROTOCOLS_STR; newer headers mark it
 * deprecated, and the warning would stop a -Werror build. */
#define CURL_DISABLE_DEPRECATION 1

#include "blob.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "blob_internal.h"
#include "log.h"
#include "loop.h"
#include "resolve.h"
#include "retry.h"

/* Idle easy handles kept for reuse (the connections are the transport's);
 * FUSE runs about ten workers, and a handle beyond this is cleaned up
 * after use. */
#define BLOB_POOL_MAX 32
#define BLOB_TIMEOUT_MS_DEFAULT 60000L
#define BLOB_ATTEMPTS_DEFAULT 4U
#define BLOB_CONNECT_TIMEOUT_MS 10000L
#define BLOB_MAX_REDIRS 5L
/* A body slower than 1 KiB/s for 10 s is stalled: the attempt fails and
 * the rest is asked for on a new connection. */
#define BLOB_LOW_SPEED_BYTES 1024L
#define BLOB_LOW_SPEED_S 10L
#define BLOB_KEEPIDLE_S 60L
#define BLOB_KEEPINTVL_S 30L
/* Error answers are small XML documents; this is enough to classify one. */
#define BLOB_ERR_BODY_MAX 4096
#define BLOB_REASON_MAX 128
#define BLOB_HEADER_MAX 256
#define BLOB_NO_END UINT64_MAX

struct blob {
	char *ca_certs;
	char *http_proxy; /* HTTP_PROXY for http:// URLs (blob_new), or NULL */
	struct curl_slist *resolve; /* LIGHTLYFS_RESOLVE, or NULL */
	long timeout_ms;
	unsigned max_attempts;
	bool protocols_str; /* the running libcurl has CURLOPT_*PROTOCOLS_STR */

	pthread_mutex_t lock; /* guards pool and npool only */
	CURL *pool[BLOB_POOL_MAX];
	size_t npool;

	struct transport *transport; /* where the GETs run */
	bool own_transport;	     /* made by blob_new, freed with it */

	pthread_mutex_t stats_lock; /* guards stats */
	struct blob_stats stats;
};

/* One attempt: what the header and write callbacks learn and do. */
struct blob_xfer {
	struct blob_range *r;
	blob_sink_fn sink;
	void *arg;
	uint64_t want; /* the offset this attempt asked for */
	uint64_t end;  /* one past the last byte wanted, or BLOB_NO_END */

	/* the current answer (reset at each status line: redirects) */
	long status;
	bool have_range; /* Content-Range: bytes S-E/... */
	uint64_t cr_start, cr_end;
	bool have_total; /* Content-Range: .../TOTAL (or bytes * /TOTAL) */
	uint64_t cr_total;
	bool have_length;
	uint64_t length; /* Content-Length */

	bool checked;	   /* the answer's head was validated */
	uint64_t pos;	   /* object offset of the next body byte */
	uint64_t resp_end; /* one past the answer's last byte, or NO_END */
	bool done;	   /* all wanted bytes delivered, the rest dropped */
	bool sized;	   /* this answer told the object's size */
	uint64_t received; /* body bytes, kept or not */

	int err;       /* set by a callback: stops the transfer */
	bool retry;    /* ... and the rest is worth asking for again */
	bool down;     /* ... and no answer came: retried to the deadline */
	bool sink_err; /* err is the sink's own */
	long retry_after_ms; /* an error answer's Retry-After, or -1 */
	char reason[BLOB_REASON_MAX];
	size_t errlen;
	bool errfull;
	char errbody[BLOB_ERR_BODY_MAX + 1];
};

/* --- the object and its pool --- */

void blob_free(struct blob *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->npool; i++)
		curl_easy_cleanup(b->pool[i]);
	if (b->own_transport)
		transport_free(b->transport);
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->stats_lock);
	free(b->ca_certs);
	curl_slist_free_all(b->resolve);
	if (b->http_proxy) {
		/* may carry proxy credentials */
		explicit_bzero(b->http_proxy, strlen(b->http_proxy));
		free(b->http_proxy);
	}
	free(b);
}

/* curl reads https_proxy, HTTPS_PROXY and http_proxy by itself, but not the
 * upper-case HTTP_PROXY (a CGI client can set it: "httpoxy").  A daemon is
 * no CGI script and users of the Lightly tools expect it to work, as
 * http.c does; no_proxy still applies (curl checks it).  0 or -1. */
static int blob_set_proxy(struct blob *b)
{
	const char *proxy = getenv("HTTP_PROXY");

	if (!getenv("http_proxy") && proxy && proxy[0]) {
		b->http_proxy = strdup(proxy);
		if (!b->http_proxy)
			return -1;
	}
	return 0;
}

struct blob *blob_new(const struct blob_config *cfg)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	struct blob *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	if (pthread_mutex_init(&b->lock, NULL) != 0) {
		free(b);
		return NULL;
	}
	if (pthread_mutex_init(&b->stats_lock, NULL) != 0) {
		pthread_mutex_destroy(&b->lock);
		free(b);
		return NULL;
	}
	b->timeout_ms = cfg && cfg->timeout_ms > 0 ? cfg->timeout_ms
						   : BLOB_TIMEOUT_MS_DEFAULT;
	b->max_attempts = cfg && cfg->max_attempts ? cfg->max_attempts
						   : BLOB_ATTEMPTS_DEFAULT;
	/* CURLOPT_PROTOCOLS_STR and REDIR_PROTOCOLS_STR came in 7.85.0. */
	b->protocols_str = v && v->version_num >= 0x075500;
	b->transport = cfg ? cfg->transport : NULL;
	if (!b->transport) {
		b->transport = transport_new(NULL);
		b->own_transport = true;
	}
	if (!b->transport ||
	    (cfg && cfg->ca_certs && !(b->ca_certs = strdup(cfg->ca_certs))) ||
	    blob_set_proxy(b) || transport_resolve_list(&b->resolve)) {
		blob_free(b);
		return NULL;
	}
	return b;
}

static CURL *blob_take(struct blob *b)
{
	CURL *c = NULL;

	pthread_mutex_lock(&b->lock);
	if (b->npool > 0)
		c = b->pool[--b->npool];
	pthread_mutex_unlock(&b->lock);
	return c ? c : curl_easy_init();
}

static void blob_put(struct blob *b, CURL *c)
{
	pthread_mutex_lock(&b->lock);
	if (b->npool < BLOB_POOL_MAX) {
		b->pool[b->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&b->lock);
	if (c)
		curl_easy_cleanup(c);
}

void blob_get_stats(struct blob *b, struct blob_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!b)
		return;
	pthread_mutex_lock(&b->stats_lock);
	*out = b->stats;
	pthread_mutex_unlock(&b->stats_lock);
}

/* --- parsing the answer's head --- */

/* "bytes S-E/TOTAL", with an asterisk for a TOTAL not known, or in place
 * of S-E in a 416 (RFC 9110 14.4). */
static void blob_parse_content_range(struct blob_xfer *x, const char *v)
{
	uint64_t s, e, t;

	if (strncasecmp(v, "bytes", 5) || (v[5] != ' ' && v[5] != '\t'))
		return;
	v += 6;
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '*') {
		v++;
	} else {
		if (!blob_parse_u64(&v, &s) || *v++ != '-' ||
		    !blob_parse_u64(&v, &e) || e < s)
			return;
		x->have_range = true;
		x->cr_start = s;
		x->cr_end = e;
	}
	if (*v++ != '/')
		return;
	if (blob_parse_u64(&v, &t) && (!x->have_range || x->cr_end < t)) {
		x->have_total = true;
		x->cr_total = t;
	}
}

/* A new answer (the first, or the target of a redirect) starts. */
static void blob_head_reset(struct blob_xfer *x, const char *line, size_t n)
{
	const char *sp = memchr(line, ' ', n);

	x->status = 0;
	x->have_range = false;
	x->have_total = false;
	x->have_length = false;
	if (sp && (size_t)(sp - line) + 4 <= n && sp[1] >= '1' &&
	    sp[1] <= '5' && sp[2] >= '0' && sp[2] <= '9' && sp[3] >= '0' &&
	    sp[3] <= '9')
		x->status =
		    (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
}

/* The value of header line data if its name is name, trimmed, in buf.
 * A value longer than buf is no value: it cannot be one we understand. */
static bool blob_header_value(const char *data, size_t n, const char *name,
			      char *buf, size_t bufsz)
{
	size_t len = strlen(name), i, j;

	if (n <= len || strncasecmp(data, name, len) || data[len] != ':')
		return false;
	for (i = len + 1; i < n && (data[i] == ' ' || data[i] == '\t'); i++)
		;
	for (j = n; j > i && (unsigned char)data[j - 1] <= ' '; j--)
		;
	if (j - i >= bufsz)
		return false;
	memcpy(buf, data + i, j - i);
	buf[j - i] = '\0';
	return true;
}

static size_t blob_header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct blob_xfer *x = arg;
	size_t n = size * nmemb;
	char v[BLOB_HEADER_MAX];
	const char *p = v;

	if (n >= 5 && !strncmp(data, "HTTP/", 5))
		blob_head_reset(x, data, n);
	else if (blob_header_value(data, n, "content-range", v, sizeof(v)))
		blob_parse_content_range(x, v);
	else if (blob_header_value(data, n, "content-length", v, sizeof(v)))
		x->have_length = blob_parse_u64(&p, &x->length) && !*p;
	return n;
}

/* --- the body --- */

static void blob_fail(struct blob_xfer *x, int err, bool retry,
		      const char *reason)
{
	x->err = err;
	x->retry = retry;
	snprintf(x->reason, sizeof(x->reason), "%s", reason);
}

/* Where the 2xx answer's body sits in the object, decided before its first
 * byte is delivered.  False (x says why) when it is not what was asked. */
static bool blob_check_head(struct blob_xfer *x)
{
	x->checked = true;
	if (x->status == 206) {
		/* A 206 without a usable Content-Range, or one starting
		 * elsewhere (a cache or proxy confused about ranges), cannot
		 * be placed: the rest is asked for again. */
		if (!x->have_range || x->cr_start != x->want) {
			blob_fail(x, -EIO, true,
				  "206 not starting at the offset asked");
			return false;
		}
		x->pos = x->cr_start;
		x->resp_end = x->cr_end + 1;
		if (x->have_total) {
			x->r->total = x->cr_total;
			x->sized = true;
		}
		return true;
	}
	/* 200 (or another 2xx) to a ranged request: the whole object, from
	 * byte 0 (RFC 9110 14.2: a server may ignore Range). */
	if (x->r->expect_total && x->have_length &&
	    x->length != x->r->expect_total) {
		blob_fail(x, -EIO, true,
			  "200 whose length is not the object's size");
		return false;
	}
	x->pos = 0;
	x->resp_end = x->have_length ? x->length : BLOB_NO_END;
	if (x->have_length) {
		x->r->total = x->length;
		x->sized = true;
	}
	return true;
}

/* Keeps the start of an error answer for blob_classify; never the sink's. */
static size_t blob_keep_error(struct blob_xfer *x, const char *data, size_t n)
{
	size_t room = BLOB_ERR_BODY_MAX - x->errlen;

	if (n > room) {
		memcpy(x->errbody + x->errlen, data, room);
		x->errlen += room;
		x->errbody[x->errlen] = '\0';
		x->errfull = true;
		return 0; /* enough to classify: stop reading */
	}
	memcpy(x->errbody + x->errlen, data, n);
	x->errlen += n;
	x->errbody[x->errlen] = '\0';
	return n;
}

/* The part of data (at object offset x->pos) inside [next, end) goes to
 * the sink; what comes before is skipped (a 200 answer), what comes after
 * is dropped, and the transfer stops once nothing wanted is left. */
static size_t blob_deliver(struct blob_xfer *x, const char *data, size_t n)
{
	struct blob_range *r = x->r;
	uint64_t pos = x->pos, next = r->off + r->got, skip, take;
	int rc;

	x->pos += n;
	if (pos > next) {
		blob_fail(x, -EIO, true, "body does not start where asked");
		return 0;
	}
	skip = next - pos;
	if (skip >= n)
		return n;
	take = n - skip;
	if (x->end != BLOB_NO_END && take > x->end - next)
		take = x->end - next;
	if (take) {
		rc = x->sink(data + skip, (size_t)take, x->arg);
		if (rc) {
			blob_fail(x, rc < 0 ? rc : -EIO, false,
				  "the sink refused the data");
			x->sink_err = true;
			return 0;
		}
		r->got += take;
	}
	if (x->end != BLOB_NO_END && r->off + r->got >= x->end) {
		x->done = true;
		/* A 200 for a small range of a large object: stop rather
		 * than read the rest.  An answer that ends here keeps its
		 * connection alive. */
		if (skip + take < n || x->resp_end == BLOB_NO_END ||
		    x->resp_end > x->pos)
			return 0;
	}
	return n;
}

static size_t blob_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct blob_xfer *x = arg;
	size_t n = size * nmemb;

	x->received += n;
	if (x->status >= 300 && x->status <= 399)
		return n; /* the body of a redirect curl follows */
	if (x->status < 200 || x->status > 299)
		return blob_keep_error(x, data, n);
	if (x->done)
		return 0;
	if (!x->checked && !blob_check_head(x))
		return 0;
	return blob_deliver(x, data, n);
}

/* --- one attempt --- */

#define BLOB_SET(opt, val)                                                     \
	do {                                                                   \
		if ((rc = curl_easy_setopt(c, opt, val)) != CURLE_OK)          \
			return rc;                                             \
	} while (0)

/* Every option again after curl_easy_reset, which keeps the connection and
 * the DNS and TLS caches.  No CURLOPT_HTTPHEADER: the signature covers the
 * host only (API-NOTES, Signed URLs), so Range is all that is added, and
 * no Accept-Encoding either, since byte ranges of an encoded body are not
 * the object's bytes. */
static CURLcode blob_setup(struct blob *b, CURL *c, const char *url,
			   const char *range, long left_ms, struct blob_xfer *x)
{
	CURLcode rc = CURLE_OK;

	curl_easy_reset(c);
	BLOB_SET(CURLOPT_URL, url);
	if (b->protocols_str) {
		BLOB_SET(CURLOPT_PROTOCOLS_STR, "http,https");
		BLOB_SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	} else {
		BLOB_SET(CURLOPT_PROTOCOLS,
			 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
		BLOB_SET(CURLOPT_REDIR_PROTOCOLS,
			 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	}
	BLOB_SET(CURLOPT_FOLLOWLOCATION, 1L);
	BLOB_SET(CURLOPT_MAXREDIRS, BLOB_MAX_REDIRS);
	BLOB_SET(CURLOPT_HTTPGET, 1L);
	BLOB_SET(CURLOPT_RANGE, range);
	BLOB_SET(CURLOPT_NOSIGNAL, 1L);
	BLOB_SET(CURLOPT_TIMEOUT_MS, left_ms);
	BLOB_SET(CURLOPT_CONNECTTIMEOUT_MS, left_ms < BLOB_CONNECT_TIMEOUT_MS
						? left_ms
						: BLOB_CONNECT_TIMEOUT_MS);
	BLOB_SET(CURLOPT_LOW_SPEED_LIMIT, BLOB_LOW_SPEED_BYTES);
	BLOB_SET(CURLOPT_LOW_SPEED_TIME, BLOB_LOW_SPEED_S);
	/* Fewer, larger pieces for the sink: one pwrite each.  libcurl
	 * refuses a new size while the handle still holds its receive buffer
	 * (7.88, after an HTTP/2 transfer on the multi), and that buffer has
	 * this size already: every handle of the pool is set up alike. */
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
	BLOB_SET(CURLOPT_TCP_KEEPALIVE, 1L);
	BLOB_SET(CURLOPT_TCP_KEEPIDLE, BLOB_KEEPIDLE_S);
	BLOB_SET(CURLOPT_TCP_KEEPINTVL, BLOB_KEEPINTVL_S);
	BLOB_SET(CURLOPT_SSL_VERIFYPEER, 1L);
	BLOB_SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (b->ca_certs)
		BLOB_SET(CURLOPT_CAINFO, b->ca_certs);
	if (b->http_proxy && !strncasecmp(url, "http://", 7))
		BLOB_SET(CURLOPT_PROXY, b->http_proxy);
	if (b->resolve)
		BLOB_SET(CURLOPT_RESOLVE, b->resolve);
	BLOB_SET(CURLOPT_HEADERFUNCTION, blob_header_cb);
	BLOB_SET(CURLOPT_HEADERDATA, x);
	BLOB_SET(CURLOPT_WRITEFUNCTION, blob_write_cb);
	BLOB_SET(CURLOPT_WRITEDATA, x);
	return CURLE_OK;
}

#undef BLOB_SET

static int blob_curl_errno(CURLcode code)
{
	switch (code) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* Whether an error answer says the signature has expired (blob.h), from
 * the providers' XML error documents. */
static bool blob_is_expiry(long status, const char *body)
{
	if (status == 403 && strstr(body, "Request has expired"))
		return true; /* S3 */
	if (status == 403 && strstr(body, "<Code>AccessDenied</Code>") &&
	    strstr(body, "<Expires>"))
		return true; /* S3: the expiry time comes with the denial */
	if (status == 400 && strstr(body, "<Code>ExpiredToken</Code>"))
		return true; /* GCS */
	/* Azure: "Signed expiry time [...]" or "Signature not valid in the
	 * specified time frame: Start [...] - Expiry [...]". */
	if (status == 403 &&
	    strstr(body, "<Code>AuthenticationFailed</Code>") &&
	    strcasestr(body, "expir"))
		return true;
	return false;
}

/* A complete non-2xx answer: the errno, and whether it is worth another
 * attempt (408, 429, 5xx). */
static void blob_classify(struct blob_xfer *x)
{
	long s = x->status;

	snprintf(x->reason, sizeof(x->reason), "HTTP %ld", s);
	x->retry = retry_status(s);
	if (blob_is_expiry(s, x->errbody)) {
		x->err = -BLOB_EXPIRED;
		snprintf(x->reason, sizeof(x->reason), "HTTP %ld: expired", s);
	} else if (s == 401 || s == 403) {
		x->err = -EACCES;
	} else if (s == 404) {
		x->err = -ENOENT;
	} else if (s == 408) {
		x->err = -ETIMEDOUT;
	} else {
		x->err = -EIO; /* 5xx, other 4xx, 3xx not followed */
	}
}

/* A complete 2xx answer: done, or short of what was asked (the rest is
 * asked for again). */
static void blob_complete(struct blob_xfer *x)
{
	struct blob_range *r = x->r;
	uint64_t target = x->end;

	if (!x->checked && !blob_check_head(x))
		return;
	/* A 200 without Content-Length (chunked) tells its size at the end. */
	if (x->status != 206 && !x->sized && !x->done) {
		r->total = x->pos;
		x->sized = true;
	}
	/* An empty object has a size too: total 0 is "not learnt" only when
	 * no answer told it. */
	if ((x->sized || r->total) &&
	    (target == BLOB_NO_END || target > r->total))
		target = r->total;
	if (target != BLOB_NO_END && r->off + r->got < target)
		blob_fail(x, -EIO, true, "answer shorter than the range asked");
}

/* Reads how the perform that returned code ended into x->err and
 * x->retry. */
static void blob_outcome(struct blob_xfer *x, CURLcode code)
{
	struct blob_range *r = x->r;

	r->status = x->status;
	if (x->err)
		return; /* a callback stopped it and said why */
	if (code == CURLE_WRITE_ERROR && (x->done || x->errfull))
		code = CURLE_OK;
	if (code != CURLE_OK) {
		blob_fail(x, blob_curl_errno(code), retry_curl_code(code),
			  curl_easy_strerror(code));
		x->down = x->retry && !x->status;
		return;
	}
	if (x->status == 416) {
		/* off at or past the end: nothing to deliver (blob.h) */
		if (x->have_total)
			r->total = x->cr_total;
		return;
	}
	if (x->status >= 200 && x->status <= 299)
		blob_complete(x);
	else
		blob_classify(x);
}

/* Past the handshakes (their time is in PRETRANSFER): what the request
 * itself waited, which is what a window of requests in flight must
 * cover. */
static void blob_ttfb(CURL *c, struct blob_range *r)
{
	curl_off_t pre = 0, start = 0;

	r->ttfb_us = -1;
	if (curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pre) ==
		CURLE_OK &&
	    curl_easy_getinfo(c, CURLINFO_STARTTRANSFER_TIME_T, &start) ==
		CURLE_OK &&
	    start > 0 && start >= pre)
		r->ttfb_us = (int64_t)(start - pre);
}

static void blob_attempt(struct blob *b, CURL *c, const char *url, long left_ms,
			 struct blob_xfer *x)
{
	char range[48];
	CURLcode code;

	if (x->end == BLOB_NO_END)
		snprintf(range, sizeof(range), "%" PRIu64 "-", x->want);
	else
		snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, x->want,
			 x->end - 1);
	code = blob_setup(b, c, url, range, left_ms, x);
	if (code == CURLE_OK)
		code = transport_setup(b->transport, c, url);
	/* the callbacks run on the transport's thread meanwhile, on x and
	 * the caller's sink only */
	if (code == CURLE_OK)
		code = transport_perform(b->transport, c);
	/* x dies with the caller's frame: the pooled handle must not point at
	 * it. */
	curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
	x->retry_after_ms = code == CURLE_OK ? retry_after_ms(c) : -1;
	blob_ttfb(c, x->r);
	blob_outcome(x, code);

	pthread_mutex_lock(&b->stats_lock);
	b->stats.requests++;
	b->stats.bytes += x->received;
	if (x->err == -BLOB_EXPIRED)
		b->stats.expired++;
	pthread_mutex_unlock(&b->stats_lock);
}

/* --- the attempts --- */

/* Logs the end of a blob_get that failed: once, here, with the host and
 * path only.  An expired URL is routine (the caller gets a new one), and a
 * sink's error is the caller's own. */
static void blob_log_failure(const char *url, const struct blob_range *r,
			     const struct blob_xfer *x, int rc)
{
	char where[512];

	blob_log_url(url, where, sizeof(where));
	if (rc == -BLOB_EXPIRED || (rc == x->err && x->sink_err)) {
		log_debug("GET %s: %s", where, x->reason);
		return;
	}
	log_warn("GET %s failed: status=%ld attempts=%u off=%" PRIu64
		 " got=%" PRIu64 ": %s",
		 where, r->status, r->attempts, r->off, r->got,
		 x->reason[0] ? x->reason : strerror(-rc));
}

/* One attempt on a pooled handle, asking for what is still missing. */
static int blob_try(struct blob *b, const char *url, struct blob_range *r,
		    uint64_t end, blob_sink_fn sink, void *arg, long left_ms,
		    struct blob_xfer *x)
{
	CURL *c = blob_take(b);

	memset(x, 0, sizeof(*x));
	x->r = r;
	x->sink = sink;
	x->arg = arg;
	x->want = r->off + r->got;
	x->end = end;
	if (!c) {
		blob_fail(x, -ENOMEM, false, "out of memory");
		return x->err;
	}
	r->attempts++;
	blob_attempt(b, c, url, left_ms, x);
	blob_put(b, c);
	return x->err;
}

/* What the attempts of one blob_get share. */
struct blob_run {
	struct blob *b;
	const char *url;
	struct blob_range *r;
	uint64_t end;
	blob_sink_fn sink;
	void *arg;
	struct blob_xfer *x;
};

/* One attempt for retry_run, asking for what is still missing: a cut body
 * is worth asking the rest of, and storage that does not answer (down,
 * restarting) is tried until the deadline. */
static void blob_step(void *arg, unsigned attempt, long left_ms,
		      struct retry_step *st)
{
	struct blob_run *run = arg;
	struct blob_xfer *x = run->x;

	(void)attempt;
	st->err = blob_try(run->b, run->url, run->r, run->end, run->sink,
			   run->arg, left_ms, x);
	st->again = x->retry;
	st->down = x->down;
	st->retry_after_ms = x->retry_after_ms;
	st->reason = x->reason;
}

int blob_get(struct blob *b, const char *url, struct blob_range *r,
	     blob_sink_fn sink, void *arg)
{
	struct blob_xfer x;
	struct blob_run run = {
	    .b = b, .url = url, .r = r, .sink = sink, .arg = arg, .x = &x};
	char what[160] = "GET ";
	unsigned n;
	int rc = 0;

	if (!b || !url || !r || !sink)
		return -EINVAL;
	r->total = 0;
	r->got = 0;
	r->status = 0;
	r->attempts = 0;
	r->ttfb_us = -1;
	memset(&x, 0, sizeof(x));
	/* curl would turn user:password@ into an Authorization header */
	if (blob_has_userinfo(url)) {
		blob_fail(&x, -EINVAL, false, "credentials in the URL");
		rc = x.err;
		goto out;
	}
	if (r->len == 0)
		return 0;
	/* a length reaching past 2^64 - 1 means "to the end" too */
	run.end = r->len > BLOB_NO_END - r->off ? BLOB_NO_END : r->off + r->len;
	blob_log_url(url, what + 4, sizeof(what) - 4);
	rc = retry_run(retry_now_ms() + b->timeout_ms, b->max_attempts,
		       blob_step, &run, what, &n);
out:
	if (rc) {
		blob_log_failure(url, r, &x, rc);
		pthread_mutex_lock(&b->stats_lock);
		b->stats.failures++;
		pthread_mutex_unlock(&b->stats_lock);
	}
	return rc;
}

/* Storage reads: ranged GETs of signed URLs (S3, GCS, Azure or the
 * emulator's /blobs/), through curl handles of their own on the shared
 * transport (transport.h).
 *
 * A signed URL is fetched exactly as given: no token, no Authorization, no
 * header the signature does not cover.  Redirects are followed only to
 * http and https.  Nothing here knows the Lightly API or its token, so the
 * token cannot reach a storage host by mistake.  URLs carry their signature
 * in the query: they are never logged whole (blob_log_url keeps the host
 * and path). */
#ifndef LIGHTLYFS_BLOB_H
#define LIGHTLYFS_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A URL that answered "expired": S3 403 with "Request has expired" (or
 * <Code>AccessDenied</Code> with an <Expires> element), GCS 400
 * ExpiredToken, Azure 403 AuthenticationFailed mentioning expiry.  The
 * caller gets a new URL and tries once more. */
#define BLOB_EXPIRED EKEYEXPIRED

struct transport;

struct blob_config {
	/* the shared transport; NULL: one of its own, freed with it */
	struct transport *transport;
	const char *ca_certs;  /* CA bundle path or NULL */
	long timeout_ms;       /* deadline of one blob_get, retries included;
				  <= 0 means 60 s */
	unsigned max_attempts; /* 0: 4 */
};

struct blob;

/* Where blob_get puts the body: called with consecutive pieces, starting at
 * the first byte asked for.  Returns 0 or a negative errno (then the
 * transfer stops with it).  A retried attempt starts again at the byte
 * after the last one delivered: pieces are never repeated.  It runs on the
 * transport's thread while blob_get waits, so it may touch what arg points
 * to and take short locks, but never wait for another request: every
 * transfer would wait with it. */
typedef int (*blob_sink_fn)(const char *data, size_t len, void *arg);

struct blob_range {
	uint64_t off; /* first byte */
	uint64_t len; /* bytes wanted; UINT64_MAX: to the end */
	/* The object's size as the caller knows it, 0 if not.  A 200 answer
	 * (the whole object, a server that ignored Range) of another length
	 * is not the object: an error page of a proxy, say.  It is asked
	 * again and never delivered.  A 206's Content-Range is the storage's
	 * own word and wins. */
	uint64_t expect_total;
	/* out */
	uint64_t total; /* the object's size (Content-Range, or the length of
			   a 200 answer); 0 when not learnt */
	uint64_t got;	/* bytes delivered to the sink */
	long status;	/* last HTTP status, 0 when none */
	unsigned attempts;
	/* the last attempt's wait from its request sent to the first byte of
	 * the answer (a round trip and the server's time), microseconds; -1
	 * when none came */
	int64_t ttfb_us;
};

struct blob *blob_new(const struct blob_config *cfg);
void blob_free(struct blob *b);

/* GET url with Range: bytes=off-(off+len-1).  Delivers exactly the bytes
 * [off, min(off+len, total)) to sink, in order, or fails:
 *  - a 206 whose Content-Range does not start at the asked offset, or a
 *    body shorter than its Content-Length, is not served: the rest is asked
 *    for again (bounded attempts, full-jitter backoff), as are resets,
 *    timeouts, 408, 429, 500, 502, 503 and 504 (Retry-After honoured);
 *    storage that does not answer is tried until the deadline;
 *  - a 200 to a ranged request is the whole object: the bytes before off
 *    are skipped, so the sink still sees only what was asked;
 *  - 416 (off at or past the end): returns 0 with got 0 and total set when
 *    the answer's Content-Range says "* /TOTAL";
 *  - expiry answers: -BLOB_EXPIRED, at once (no retry with the same URL);
 *  - other 4xx: -EACCES (401/403), -ENOENT (404), else -EIO;
 *  - a redirect to a scheme other than http or https, or more than 5: -EIO;
 *  - a URL with user:password@ (curl would send it as Authorization), or a
 *    NULL argument: -EINVAL, with no request.
 * Returns 0, a negative errno of the list above, -ETIMEDOUT, -EIO or
 * -ENOMEM (or the sink's own error).  len 0 returns 0 at once.  Thread
 * safe; blocking; logs a final failure once (host and path only). */
int blob_get(struct blob *b, const char *url, struct blob_range *r,
	     blob_sink_fn sink, void *arg);

/* The wall-clock time (seconds since the epoch) after which url will not
 * work, read from its query: X-Amz-Date + X-Amz-Expires (S3 SigV4),
 * Expires= seconds since the epoch (S3 SigV2, GCS V2), X-Goog-Date +
 * X-Goog-Expires (GCS V4), se= as ISO 8601 UTC time, colons possibly
 * percent-encoded (Azure SAS), or exp= (the emulator).  The earliest when
 * several are there; 0 when the URL does not say. */
int64_t blob_url_expiry(const char *url);

/* host and path of url, without the query (the signature), for logs. */
void blob_log_url(const char *url, char *out, size_t outsz);

/* Counters since blob_new. */
struct blob_stats {
	uint64_t requests; /* attempts sent */
	uint64_t bytes;	   /* body bytes received, every attempt */
	uint64_t failures; /* blob_get calls that did not return 0 */
	uint64_t expired;  /* expiry answers seen */
};
void blob_get_stats(struct blob *b, struct blob_stats *out);

#endif

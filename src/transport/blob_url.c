/* What a signed URL says without being fetched: the host and path that
 * may be logged (never the query, which holds the signature), whether it
 * carries credentials, and when it expires (blob.h). */
#include "blob.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "blob_internal.h"

/* Decimal digits at *p into *out, *p moved past them.  False without a
 * digit or on overflow. */
bool blob_parse_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	*p = s;
	return true;
}

/* Splits url into the length of its "scheme://" (0 without one), its
 * authority [*host, *path) and the rest from *path. */
static void blob_split_url(const char *url, int *slen, const char **host,
			   const char **path)
{
	const char *sep = strstr(url, "://");

	/* "://" counts only before the first '/', '?' or '#' */
	if (sep && sep < url + strcspn(url, "/?#")) {
		*slen = (int)(sep - url) + 3;
		*host = sep + 3;
	} else {
		*slen = 0;
		*host = url;
	}
	*path = *host + strcspn(*host, "/?#");
}

bool blob_has_userinfo(const char *url)
{
	const char *host, *path;
	int slen;

	blob_split_url(url, &slen, &host, &path);
	return memchr(host, '@', (size_t)(path - host)) != NULL;
}

void blob_log_url(const char *url, char *out, size_t outsz)
{
	const char *host, *path, *at;
	int slen;

	if (!outsz)
		return;
	out[0] = '\0';
	if (!url)
		return;
	blob_split_url(url, &slen, &host, &path);
	/* user:password@ is a secret too */
	at = memrchr(host, '@', (size_t)(path - host));
	if (at)
		host = at + 1;
	snprintf(out, outsz, "%.*s%.*s%.*s", slen, url, (int)(path - host),
		 host, (int)strcspn(path, "?#"), path);
}

static int blob_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The percent-decoded [s, end) in buf; false when it does not fit or is
 * malformed. */
static bool blob_unescape(const char *s, const char *end, char *buf,
			  size_t bufsz)
{
	size_t o = 0;

	while (s < end) {
		int c = (unsigned char)*s;

		if (c == '%') {
			int hi, lo;

			if (end - s < 3 || (hi = blob_hexval(s[1])) < 0 ||
			    (lo = blob_hexval(s[2])) < 0)
				return false;
			c = hi * 16 + lo;
			s += 3;
		} else {
			s++;
		}
		if (c == 0 || o + 1 >= bufsz)
			return false;
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return true;
}

/* The decoded value of the query parameter name (any case) in buf. */
static bool blob_query_param(const char *url, const char *name, char *buf,
			     size_t bufsz)
{
	const char *q = strchr(url, '?'), *p, *end;
	size_t nlen = strlen(name);

	if (!q)
		return false;
	p = q + 1;
	end = p + strcspn(p, "#");
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;

		if ((size_t)(pe - p) > nlen && p[nlen] == '=' &&
		    !strncasecmp(p, name, nlen))
			return blob_unescape(p + nlen + 1, pe, buf, bufsz);
		p = amp ? amp + 1 : end;
	}
	return false;
}

/* A whole string of digits as a positive int64. */
static int64_t blob_parse_seconds(const char *s)
{
	uint64_t v;

	if (!blob_parse_u64(&s, &v) || *s || v > INT64_MAX)
		return 0;
	return (int64_t)v;
}

/* Exactly n digits at *s into *out, *s moved past them. */
static bool blob_digits(const char **s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		char c = (*s)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*s += n;
	*out = v;
	return true;
}

static int64_t blob_timegm(struct tm *tm)
{
	time_t t;

	if (tm->tm_mon < 1 || tm->tm_mon > 12 || tm->tm_mday < 1 ||
	    tm->tm_mday > 31 || tm->tm_hour > 23 || tm->tm_min > 59 ||
	    tm->tm_sec > 60)
		return 0;
	tm->tm_year -= 1900;
	tm->tm_mon -= 1;
	t = timegm(tm);
	return t > 0 ? (int64_t)t : 0;
}

/* SigV4's and GCS's X-*-Date: YYYYMMDDTHHMMSSZ, UTC. */
static int64_t blob_parse_basic_time(const char *s)
{
	struct tm tm = {0};

	if (!blob_digits(&s, 4, &tm.tm_year) ||
	    !blob_digits(&s, 2, &tm.tm_mon) ||
	    !blob_digits(&s, 2, &tm.tm_mday) || *s++ != 'T' ||
	    !blob_digits(&s, 2, &tm.tm_hour) ||
	    !blob_digits(&s, 2, &tm.tm_min) ||
	    !blob_digits(&s, 2, &tm.tm_sec) || strcmp(s, "Z"))
		return 0;
	return blob_timegm(&tm);
}

/* Azure's se=: the ISO 8601 forms its SAS accepts, in UTC: YYYY-MM-DD,
 * YYYY-MM-DDThh:mmZ, YYYY-MM-DDThh:mm:ssZ (with a fraction or not). */
static int64_t blob_parse_iso_time(const char *s)
{
	struct tm tm = {0};

	if (!blob_digits(&s, 4, &tm.tm_year) || *s++ != '-' ||
	    !blob_digits(&s, 2, &tm.tm_mon) || *s++ != '-' ||
	    !blob_digits(&s, 2, &tm.tm_mday))
		return 0;
	if (*s) {
		if (*s++ != 'T' || !blob_digits(&s, 2, &tm.tm_hour) ||
		    *s++ != ':' || !blob_digits(&s, 2, &tm.tm_min))
			return 0;
		if (*s == ':') {
			s++;
			if (!blob_digits(&s, 2, &tm.tm_sec))
				return 0;
			if (*s == '.')
				for (s++; *s >= '0' && *s <= '9'; s++)
					;
		}
		if (strcmp(s, "Z"))
			return 0;
	}
	return blob_timegm(&tm);
}

/* A signing time plus a lifetime in seconds (SigV4, GCS V4). */
static int64_t blob_signed_plus(const char *url, const char *date_name,
				const char *expires_name)
{
	char date[32], secs[32];
	int64_t start, life;

	if (!blob_query_param(url, date_name, date, sizeof(date)) ||
	    !blob_query_param(url, expires_name, secs, sizeof(secs)))
		return 0;
	start = blob_parse_basic_time(date);
	life = blob_parse_seconds(secs);
	if (!start || !life || life > INT64_MAX - start)
		return 0;
	return start + life;
}

static void blob_keep_earliest(int64_t *best, int64_t t)
{
	if (t > 0 && (!*best || t < *best))
		*best = t;
}

int64_t blob_url_expiry(const char *url)
{
	char v[64];
	int64_t best = 0;

	if (!url)
		return 0;
	if (blob_query_param(url, "exp", v, sizeof(v)))
		blob_keep_earliest(&best, blob_parse_seconds(v));
	if (blob_query_param(url, "Expires", v, sizeof(v)))
		blob_keep_earliest(&best, blob_parse_seconds(v));
	if (blob_query_param(url, "se", v, sizeof(v)))
		blob_keep_earliest(&best, blob_parse_iso_time(v));
	blob_keep_earliest(
	    &best, blob_signed_plus(url, "X-Amz-Date", "X-Amz-Expires"));
	blob_keep_earliest(
	    &best, blob_signed_plus(url, "X-Goog-Date", "X-Goog-Expires"));
	return best;
}

/* Names and ids as the server spells them: the checks of an id and of a
 * tag name (api.h), and the scanner of JSON string arrays (mappings, tag
 * filenames) with api_decode_names on top.  The bottom of the api module:
 * the decoders and the endpoints call it, it calls none of them. */
#include "api_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* --- ids and tag names --- */

static int api_hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int api_id_valid(const char *s)
{
	size_t i;

	if (!s)
		return 0;
	for (i = 0; i < API_ID_LEN; i++) {
		if (!api_hex_lower(s[i]))
			return 0;
	}
	return s[API_ID_LEN] == '\0';
}

static int api_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static int api_tag_char(char c)
{
	return api_alnum(c) || c == ' ' || c == '.' || c == ':' || c == ';' ||
	       c == '=' || c == '@' || c == '_' || c == '-';
}

/* ^[a-zA-Z0-9][a-zA-Z0-9 .:;=@_-]+$ and at least 3 characters (API-NOTES,
 * Value formats), spelled out in ASCII so the locale cannot widen it. */
int api_tag_name_valid(const char *s, size_t len)
{
	size_t i;

	if (!s || len < 3 || !api_alnum(s[0]))
		return 0;
	for (i = 1; i < len; i++) {
		if (!api_tag_char(s[i]))
			return 0;
	}
	return 1;
}

/* --- name arrays --- */

/* Name arrays are the bulk of what the server sends (a million names per
 * dataset), so they are read by a small scanner of their own instead of a
 * cJSON tree: no allocation per name, one pass to check the whole array and
 * one to deliver it.  The whole array is checked before the first callback,
 * so a bad page delivers nothing.  \u0000 is delivered as a NUL byte (the
 * index hides such names). */

#define API_NAME_BUF_MIN 256

static const char *api_skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int api_hex4(const char *p, const char *end, unsigned *out)
{
	unsigned v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t api_put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A \u escape (p at the 'u'), with the \u escape of a low surrogate after
 * a high one.  *cp gets the code point.  Returns the position after the
 * escape(s), or NULL if malformed. */
static const char *api_scan_unicode(const char *p, const char *end,
				    unsigned *cp)
{
	unsigned lo;

	if (api_hex4(p + 1, end, cp))
		return NULL;
	p += 5;
	if (*cp >= 0xd800 && *cp <= 0xdbff) {
		if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
		    api_hex4(p + 2, end, &lo) || lo < 0xdc00 || lo > 0xdfff)
			return NULL;
		*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
		p += 6;
	} else if (*cp >= 0xdc00 && *cp <= 0xdfff) {
		return NULL;
	}
	return p;
}

/* One escape, p at the character after the backslash.  With out, writes the
 * decoded bytes at out + *n; either way adds their count to *n.  Returns the
 * position after the escape, or NULL if malformed. */
static const char *api_scan_escape(const char *p, const char *end, char *out,
				   size_t *n)
{
	static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
	unsigned cp;
	char tmp[4];
	size_t w;

	switch (*p) {
	case '"':
	case '\\':
	case '/':
		if (out)
			out[*n] = *p;
		(*n)++;
		return p + 1;
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't':
		if (out)
			out[*n] = to[strchr(from, *p) - from];
		(*n)++;
		return p + 1;
	case 'u':
		p = api_scan_unicode(p, end, &cp);
		if (!p)
			return NULL;
		/* at most 4 bytes for 6 or 12 raw ones */
		w = api_put_utf8(tmp, cp);
		if (out)
			memcpy(out + *n, tmp, w);
		*n += w;
		return p;
	default:
		return NULL;
	}
}

/* Reads one JSON string starting at its opening quote.  With out, writes
 * its decoded bytes there (the caller gives at least as many bytes as the
 * raw string has: decoding never lengthens it) and their count to *olen.
 * Returns the position after the closing quote, or NULL if malformed. */
static const char *api_scan_string(const char *p, const char *end, char *out,
				   size_t *olen)
{
	size_t n = 0;

	p++; /* the opening quote */
	while (p < end) {
		const char *run = p;

		/* plain bytes in bulk: the common case */
		while (p < end && *p != '"' && *p != '\\' &&
		       (unsigned char)*p >= 0x20)
			p++;
		if (out && p > run)
			memcpy(out + n, run, (size_t)(p - run));
		n += (size_t)(p - run);
		if (p >= end || (unsigned char)*p < 0x20)
			return NULL;
		if (*p == '"') {
			if (olen)
				*olen = n;
			return p + 1;
		}
		/* an escape */
		if (++p >= end)
			return NULL;
		p = api_scan_escape(p, end, out, &n);
		if (!p)
			return NULL;
	}
	return NULL;
}

/* One pass over a string array: counts and checks it (out == NULL) or
 * delivers it.  Returns 0, -EIO (malformed; *bad_at is the element), or
 * the callback's non-zero value. */
static int api_scan_names(const char *body, size_t len, char *buf,
			  api_name_cb cb, void *arg, size_t *count,
			  size_t *bad_at, size_t *longest)
{
	const char *start;
	const char *p = body, *end = body + len;
	size_t i = 0;

	*bad_at = 0;
	p = api_skip_ws(p, end);
	if (p >= end || *p != '[')
		return -EIO;
	p = api_skip_ws(p + 1, end);
	if (p < end && *p == ']') {
		p++;
	} else {
		for (;;) {
			size_t n = 0;

			*bad_at = i;
			if (p >= end || *p != '"')
				return -EIO;
			start = p;
			p = api_scan_string(p, end, buf, &n);
			if (!p)
				return -EIO;
			if ((size_t)(p - start) > *longest)
				*longest = (size_t)(p - start);
			if (buf && cb) {
				int rc = cb(buf, n, arg);

				if (rc)
					return rc;
			}
			i++;
			p = api_skip_ws(p, end);
			if (p < end && *p == ',') {
				p = api_skip_ws(p + 1, end);
				continue;
			}
			if (p < end && *p == ']') {
				p++;
				break;
			}
			return -EIO;
		}
	}
	p = api_skip_ws(p, end);
	if (p != end && !(p + 1 == end && *p == '\0'))
		return -EIO; /* trailing garbage */
	*count = i;
	return 0;
}

int api_names_from(const char *what, const char *body, size_t len,
		   api_name_cb cb, void *arg, size_t *count)
{
	size_t n = 0, bad_at = 0, longest = 0;
	char *buf = NULL;
	int rc;

	if (count)
		*count = 0;
	if (!body)
		len = 0;
	rc = api_scan_names(body, len, NULL, NULL, NULL, &n, &bad_at, &longest);
	if (rc) {
		log_warn("%s: malformed response: expected an array of strings "
			 "(element %zu)",
			 what, bad_at);
		return -EIO;
	}
	if (cb && n) {
		/* a decoded name is never longer than its raw form */
		if (longest < API_NAME_BUF_MIN)
			longest = API_NAME_BUF_MIN;
		buf = malloc(longest);
		if (!buf)
			return -ENOMEM;
		rc = api_scan_names(body, len, buf, cb, arg, &n, &bad_at,
				    &longest);
		free(buf);
		if (rc)
			return rc;
	}
	if (count)
		*count = n;
	return 0;
}

int api_decode_names(const char *body, size_t len, api_name_cb cb, void *arg,
		     size_t *count)
{
	return api_names_from("names", body, len, cb, arg, count);
}

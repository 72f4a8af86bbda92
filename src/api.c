/* One function per Lightly endpoint, and the JSON decoders behind them.  The
 * only file that includes cJSON: bodies are parsed here, checked field by
 * field and copied into the structs of api.h.  A malformed answer is logged
 * once, here, with what was wrong and at most a short excerpt of the body. */
#include "api.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* GET /v1/datasets pages: small objects, a page of 1000 is ~1 MB. */
#define API_DATASETS_PAGE 1000
#define API_PATH_MAX 512
#define API_CODE_MAX 64
#define API_MSG_MAX 256
#define API_RID_MAX 64
/* cJSON numbers are doubles: integers are exact up to 2^53. */
#define API_JSON_INT_MAX ((int64_t)1 << 53)
/* Bytes of a malformed body quoted in the log. */
#define API_EXCERPT_MAX 60

/* The endpoints counted in .lightly/stats, one counter each.  The names
 * are those of api.h's functions, which are what a reader of the stats
 * knows. */
enum api_ep {
	API_EP_LIST_DATASETS,
	API_EP_GET_DATASET,
	API_EP_LIST_TAGS,
	API_EP_GET_TAG,
	API_EP_GET_MAPPINGS,
	API_EP_GET_TAG_FILENAMES,
	API_EP_CREATE_TAG,
	API_EP_CREATE_INITIAL_TAG,
	API_EP_UPDATE_TAG,
	API_EP_DELETE_TAG,
	API_EP_COUNT
};

static const char *const api_ep_names[API_EP_COUNT] = {
	[API_EP_LIST_DATASETS] = "list_datasets",
	[API_EP_GET_DATASET] = "get_dataset",
	[API_EP_LIST_TAGS] = "list_tags",
	[API_EP_GET_TAG] = "get_tag",
	[API_EP_GET_MAPPINGS] = "get_mappings",
	[API_EP_GET_TAG_FILENAMES] = "get_tag_filenames",
	[API_EP_CREATE_TAG] = "create_tag",
	[API_EP_CREATE_INITIAL_TAG] = "create_initial_tag",
	[API_EP_UPDATE_TAG] = "update_tag",
	[API_EP_DELETE_TAG] = "delete_tag",
};

struct api {
	struct http *h;
	/* HTTP requests (pages, not retries) per endpoint; atomics because
	 * every FUSE worker thread calls in. */
	atomic_uint_least64_t requests[API_EP_COUNT];
};

/* --- small helpers --- */

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

/* Copies at most API_EXCERPT_MAX bytes of s, with control and non-ASCII
 * bytes as \xNN, so a log line stays short and printable. */
static void api_excerpt(const char *s, size_t len, char *out, size_t outsz)
{
	size_t i, o = 0;

	for (i = 0; i < len && i < API_EXCERPT_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 2 > outsz)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 5 > outsz)
				break;
			snprintf(out + o, outsz - o, "\\x%02x", c);
			o += 4;
		}
	}
	if (i < len && o + 4 <= outsz) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Parses a whole body.  return_parse_end rather than cJSON_GetErrorPtr,
 * which is process-global.  Trailing bytes other than white space are an
 * error, as is an empty body.  what == NULL parses quietly.  Pass a body
 * with a NUL at body[len] (http.c bodies have one): cJSON without the
 * CVE-2023-53154 fix (upstream 1.7.18; Debian 12 backports it) reads past
 * a trailing backslash. */
static int api_parse(const char *what, const char *body, size_t len,
		     cJSON **out)
{
	const char *end = NULL;
	cJSON *root = NULL;
	char ex[API_EXCERPT_MAX * 4 + 8];
	size_t pos;

	*out = NULL;
	if (body && len > 0)
		root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root) {
		pos = (size_t)(end - body);
		while (pos < len && strchr(" \t\r\n", body[pos]) && body[pos])
			pos++;
		if (pos == len) {
			*out = root;
			return 0;
		}
		cJSON_Delete(root);
		if (what) {
			api_excerpt(body + pos, len - pos, ex, sizeof(ex));
			log_warn("%s: trailing data after JSON at byte %zu: "
				 "\"%s\"", what, pos, ex);
		}
		return -EIO;
	}
	if (what) {
		if (!body || len == 0) {
			log_warn("%s: empty answer where JSON was expected",
				 what);
		} else {
			pos = end && end >= body ? (size_t)(end - body) : 0;
			if (pos > len)
				pos = len;
			api_excerpt(body + pos, len - pos, ex, sizeof(ex));
			log_warn("%s: malformed JSON at byte %zu of %zu: "
				 "\"%s\"", what, pos, len, ex);
		}
	}
	return -EIO;
}

static const char *api_type_name(const cJSON *j)
{
	if (!j)
		return "missing";
	if (cJSON_IsNull(j))
		return "null";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsArray(j))
		return "an array";
	if (cJSON_IsObject(j))
		return "an object";
	return "invalid";
}

/* The context of one decode, for its single log line. */
struct api_dec {
	const char *what; /* "GET /v1/datasets/…" or the decoder's name */
	size_t index;     /* element of an array, or SIZE_MAX */
};

static int api_bad(const struct api_dec *d, const char *key,
		   const cJSON *j, const char *expected)
{
	if (d->index != SIZE_MAX)
		log_warn("%s: element %zu: \"%s\" is %s, expected %s", d->what,
			 d->index, key, api_type_name(j), expected);
	else
		log_warn("%s: \"%s\" is %s, expected %s", d->what, key,
			 api_type_name(j), expected);
	return -EIO;
}

static int api_bad_top(const char *what, const cJSON *j,
		       const char *expected)
{
	log_warn("%s: the answer is %s, expected %s", what, api_type_name(j),
		 expected);
	return -EIO;
}

/* A string field; absent or null gives *out NULL unless required. */
static int api_get_str(const struct api_dec *d, const cJSON *obj,
		       const char *key, int required, char **out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = NULL;
	if (!required && (!j || cJSON_IsNull(j)))
		return 0;
	if (!cJSON_IsString(j) || !j->valuestring)
		return api_bad(d, key, j, "a string");
	*out = strdup(j->valuestring);
	return *out ? 0 : -ENOMEM;
}

/* An object id; absent or null gives "" when nullable. */
static int api_get_id(const struct api_dec *d, const cJSON *obj,
		      const char *key, int nullable, char out[API_ID_LEN + 1])
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);

	out[0] = '\0';
	if (nullable && (!j || cJSON_IsNull(j)))
		return 0;
	if (!cJSON_IsString(j) || !api_id_valid(j->valuestring))
		return api_bad(d, key, j, "a 24 hex digit id");
	memcpy(out, j->valuestring, API_ID_LEN + 1);
	return 0;
}

/* An integer field.  cJSON's valueint saturates at INT_MAX, so the double is
 * read and must be a whole number in int64_t range (timestamps in ms exceed
 * 2^31).  Absent or null keeps *out unless required. */
static int api_get_int(const struct api_dec *d, const cJSON *obj,
		       const char *key, int required, int64_t min,
		       int64_t *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
	double v;
	int64_t i;

	if (!required && (!j || cJSON_IsNull(j)))
		return 0;
	if (!cJSON_IsNumber(j))
		return api_bad(d, key, j, "a number");
	v = j->valuedouble;
	/* Written so NaN fails too. */
	if (!(v >= -0x1p63 && v < 0x1p63))
		return api_bad(d, key, j, "an integer in range");
	i = (int64_t)v;
	if ((double)i != v || i < min)
		return api_bad(d, key, j, "an integer in range");
	*out = i;
	return 0;
}

/* --- datasets --- */

void api_dataset_dispose(struct api_dataset *d)
{
	if (!d)
		return;
	free(d->name);
	free(d->img_type);
	free(d->json);
	memset(d, 0, sizeof(*d));
}

void api_datasets_free(struct api_dataset *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		api_dataset_dispose(&v[i]);
	free(v);
}

static int api_dataset_from(const struct api_dec *d, const cJSON *obj,
			    struct api_dataset *out)
{
	char *text = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(obj)) {
		rc = api_bad(d, "(dataset)", obj, "an object");
		goto out;
	}
	rc = api_get_id(d, obj, "id", 0, out->id);
	if (!rc)
		rc = api_get_str(d, obj, "name", 1, &out->name);
	if (!rc)
		rc = api_get_str(d, obj, "imgType", 0, &out->img_type);
	if (!rc)
		rc = api_get_int(d, obj, "nSamples", 0, 0, &out->n_samples);
	if (!rc)
		rc = api_get_int(d, obj, "createdAt", 0, INT64_MIN,
				 &out->created_at);
	if (!rc)
		rc = api_get_int(d, obj, "lastModifiedAt", 0, INT64_MIN,
				 &out->last_modified_at);
	if (rc)
		goto out;

	/* Re-printed, not the original bytes: cJSON keeps no offsets.  Copied
	 * so that callers free it with free() whatever cJSON's hooks are. */
	text = cJSON_PrintUnformatted(obj);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	out->json = strdup(text);
	if (!out->json)
		rc = -ENOMEM;
out:
	cJSON_free(text);
	if (rc)
		api_dataset_dispose(out);
	return rc;
}

static int api_datasets_from(const char *what, const char *body, size_t len,
			     struct api_dataset **out, size_t *n)
{
	struct api_dec d = { .what = what, .index = 0 };
	struct api_dataset *v = NULL;
	cJSON *root = NULL;
	const cJSON *it;
	size_t count = 0, i = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = api_parse(what, body, len, &root);
	if (rc)
		goto out;
	if (!cJSON_IsArray(root)) {
		rc = api_bad_top(what, root, "an array of datasets");
		goto out;
	}
	cJSON_ArrayForEach(it, root)
		count++;
	v = calloc(count ? count : 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(it, root) {
		d.index = i;
		rc = api_dataset_from(&d, it, &v[i]);
		if (rc)
			goto out;
		i++;
	}
	*out = v;
	*n = count;
	v = NULL;
out:
	api_datasets_free(v, i);
	cJSON_Delete(root);
	return rc;
}

int api_decode_datasets(const char *body, size_t len,
			struct api_dataset **out, size_t *n)
{
	return api_datasets_from("datasets", body, len, out, n);
}

static int api_dataset_one(const char *what, const char *body, size_t len,
			   struct api_dataset *out)
{
	struct api_dec d = { .what = what, .index = SIZE_MAX };
	cJSON *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = api_parse(what, body, len, &root);
	if (rc)
		goto out;
	if (!cJSON_IsObject(root)) {
		rc = api_bad_top(what, root, "a dataset object");
		goto out;
	}
	rc = api_dataset_from(&d, root, out);
out:
	cJSON_Delete(root);
	return rc;
}

int api_decode_dataset(const char *body, size_t len, struct api_dataset *out)
{
	return api_dataset_one("dataset", body, len, out);
}

/* --- tags --- */

void api_tag_dispose(struct api_tag *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->bitmask);
	memset(t, 0, sizeof(*t));
}

void api_tags_free(struct api_tag *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		api_tag_dispose(&v[i]);
	free(v);
}

/* TagData (API-NOTES, Models): prevTagId is always sent but may be null;
 * a missing one is read as null too.  The bitmask is only checked to be a
 * string here: bitmask.c owns its syntax. */
static int api_tag_from(const struct api_dec *d, const cJSON *obj,
			struct api_tag *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(obj))
		return api_bad(d, "(tag)", obj, "an object");
	rc = api_get_id(d, obj, "id", 0, out->id);
	if (!rc)
		rc = api_get_id(d, obj, "prevTagId", 1, out->prev_tag_id);
	if (!rc)
		rc = api_get_str(d, obj, "name", 1, &out->name);
	if (!rc)
		rc = api_get_str(d, obj, "bitMaskData", 1, &out->bitmask);
	if (!rc)
		rc = api_get_int(d, obj, "totSize", 1, 0, &out->tot_size);
	if (!rc)
		rc = api_get_int(d, obj, "createdAt", 0, INT64_MIN,
				 &out->created_at);
	out->last_modified_at = out->created_at;
	if (!rc)
		rc = api_get_int(d, obj, "lastModifiedAt", 0, INT64_MIN,
				 &out->last_modified_at);
	if (rc)
		api_tag_dispose(out);
	return rc;
}

static int api_tags_from(const char *what, const char *body, size_t len,
			 struct api_tag **out, size_t *n)
{
	struct api_dec d = { .what = what, .index = 0 };
	struct api_tag *v = NULL;
	cJSON *root = NULL;
	const cJSON *it;
	size_t count = 0, i = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = api_parse(what, body, len, &root);
	if (rc)
		goto out;
	if (!cJSON_IsArray(root)) {
		rc = api_bad_top(what, root, "an array of tags");
		goto out;
	}
	cJSON_ArrayForEach(it, root)
		count++;
	v = calloc(count ? count : 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(it, root) {
		d.index = i;
		rc = api_tag_from(&d, it, &v[i]);
		if (rc)
			goto out;
		i++;
	}
	*out = v;
	*n = count;
	v = NULL;
out:
	api_tags_free(v, i);
	cJSON_Delete(root);
	return rc;
}

int api_decode_tags(const char *body, size_t len, struct api_tag **out,
		    size_t *n)
{
	return api_tags_from("tags", body, len, out, n);
}

static int api_tag_one(const char *what, const char *body, size_t len,
		       struct api_tag *out)
{
	struct api_dec d = { .what = what, .index = SIZE_MAX };
	cJSON *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = api_parse(what, body, len, &root);
	if (rc)
		goto out;
	if (!cJSON_IsObject(root)) {
		rc = api_bad_top(what, root, "a tag object");
		goto out;
	}
	rc = api_tag_from(&d, root, out);
out:
	cJSON_Delete(root);
	return rc;
}

int api_decode_tag(const char *body, size_t len, struct api_tag *out)
{
	return api_tag_one("tag", body, len, out);
}

/* --- string arrays (mappings, filenames) --- */

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
		switch (*p) {
		case '"': case '\\': case '/':
			if (out)
				out[n] = *p;
			n++;
			p++;
			break;
		case 'b': case 'f': case 'n': case 'r': case 't': {
			static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";

			if (out)
				out[n] = to[strchr(from, *p) - from];
			n++;
			p++;
			break;
		}
		case 'u': {
			unsigned cp, lo;
			char tmp[4];
			size_t w;

			if (api_hex4(p + 1, end, &cp))
				return NULL;
			p += 5;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
				    api_hex4(p + 2, end, &lo) || lo < 0xdc00 ||
				    lo > 0xdfff)
					return NULL;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				return NULL;
			}
			/* at most 4 bytes for 6 or 12 raw ones */
			w = api_put_utf8(tmp, cp);
			if (out)
				memcpy(out + n, tmp, w);
			n += w;
			break;
		}
		default:
			return NULL;
		}
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

static int api_names_from(const char *what, const char *body, size_t len,
			  api_name_cb cb, void *arg, size_t *count)
{
	size_t n = 0, bad_at = 0, longest = 0;
	char *buf = NULL;
	int rc;

	if (count)
		*count = 0;
	if (!body)
		len = 0;
	rc = api_scan_names(body, len, NULL, NULL, NULL, &n, &bad_at,
			    &longest);
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

/* --- create and error bodies --- */

static int api_create_from(const char *what, const char *body, size_t len,
			   char id[API_ID_LEN + 1])
{
	struct api_dec d = { .what = what, .index = SIZE_MAX };
	cJSON *root = NULL;
	int rc;

	id[0] = '\0';
	rc = api_parse(what, body, len, &root);
	if (rc)
		goto out;
	if (!cJSON_IsObject(root)) {
		rc = api_bad_top(what, root, "an object with an id");
		goto out;
	}
	rc = api_get_id(&d, root, "id", 0, id);
out:
	cJSON_Delete(root);
	return rc;
}

int api_decode_create(const char *body, size_t len, char id[API_ID_LEN + 1])
{
	return api_create_from("create", body, len, id);
}

static void api_copy_field(const cJSON *obj, const char *key, char *buf,
			   size_t bufsz)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!buf || bufsz == 0)
		return;
	if (cJSON_IsString(j) && j->valuestring && !buf[0])
		snprintf(buf, bufsz, "%s", j->valuestring);
}

/* {code, error, requestId} from current servers, {code, message} from 1.2.x
 * ones (API-NOTES, Transport).  rid may be NULL. */
static void api_error_from(const char *body, size_t len, char *code,
			   size_t codesz, char *msg, size_t msgsz, char *rid,
			   size_t ridsz)
{
	cJSON *root = NULL;

	if (code && codesz)
		code[0] = '\0';
	if (msg && msgsz)
		msg[0] = '\0';
	if (rid && ridsz)
		rid[0] = '\0';
	if (api_parse(NULL, body, len, &root) || !cJSON_IsObject(root))
		goto out;
	api_copy_field(root, "code", code, codesz);
	api_copy_field(root, "error", msg, msgsz);
	api_copy_field(root, "message", msg, msgsz);
	api_copy_field(root, "requestId", rid, ridsz);
out:
	cJSON_Delete(root);
}

void api_decode_error(const char *body, size_t len, char *code, size_t codesz,
		      char *msg, size_t msgsz)
{
	api_error_from(body, len, code, codesz, msg, msgsz, NULL, 0);
}

/* --- endpoints --- */

struct api *api_new(struct http *h)
{
	struct api *a;
	size_t i;

	if (!h)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->h = h;
	for (i = 0; i < API_EP_COUNT; i++)
		atomic_init(&a->requests[i], 0);
	return a;
}

void api_free(struct api *a)
{
	free(a);
}

static int api_path(char *buf, size_t sz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int api_path(char *buf, size_t sz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= sz ? -ENAMETOOLONG : 0;
}

/* "METHOD path" for decoder log lines; the path never holds the token. */
static const char *api_what(char *buf, size_t sz, const char *method,
			    const char *path)
{
	snprintf(buf, sz, "%s %s", method, path);
	return buf;
}

/* One logical request (http.c retries it as req says).  On a non-2xx
 * answer the error body's code refines the status through http_errno() and
 * the failure is logged once, here; transport failures were logged by
 * http.c.  resent_ok_code: a Lightly error code that means success when the
 * request had to be sent again after an attempt that may have taken effect
 * (a DELETE answered TAG_UNKNOWN: the first copy deleted it).  *resp is
 * always filled. */
static int api_send(struct api *a, enum api_ep ep, const struct http_req *req,
		    const char *resent_ok_code, struct http_response *resp)
{
	char code[API_CODE_MAX], msg[API_MSG_MAX], rid[API_RID_MAX];
	int rc;

	atomic_fetch_add(&a->requests[ep], 1);
	rc = http_send(a->h, req, resp);
	if (rc == 0 || resp->status == 0 ||
	    (resp->status >= 200 && resp->status <= 299))
		return rc;

	api_error_from(resp->body, resp->len, code, sizeof(code), msg,
		       sizeof(msg), rid, sizeof(rid));
	if (!rid[0])
		snprintf(rid, sizeof(rid), "%s", resp->request_id);
	if (resent_ok_code && resp->resent && !strcmp(code, resent_ok_code)) {
		log_info("%s %s: %s after a resend: the earlier attempt took "
			 "effect",
			 req->method, req->path_query, code);
		return 0;
	}
	rc = http_errno(resp->status, code[0] ? code : NULL);
	log_warn("%s %s: HTTP %ld %s \"%s\" (request %s, %u attempt%s)",
		 req->method, req->path_query, resp->status,
		 code[0] ? code : "-", msg, rid[0] ? rid : "-", resp->attempts,
		 resp->attempts == 1 ? "" : "s");
	return rc;
}

/* A request that is safe to send twice unless it is a POST (the creating
 * calls), with the default deadline. */
static int api_call(struct api *a, enum api_ep ep, const char *method,
		    const char *path, const char *body, size_t body_len,
		    struct http_response *resp)
{
	struct http_req req = {
		.method = method,
		.path_query = path,
		.body = body,
		.body_len = body_len,
		.idempotent = strcmp(method, "POST") != 0,
	};

	return api_send(a, ep, &req, NULL, resp);
}

/* Serializes a request body built with cJSON.  *out is freed with
 * cJSON_free. */
static int api_print(cJSON *obj, char **out)
{
	*out = cJSON_PrintUnformatted(obj);
	return *out ? 0 : -ENOMEM;
}

static int api_append_datasets(struct api_dataset **all, size_t *n,
			       struct api_dataset *page, size_t pn)
{
	struct api_dataset *v;

	if (pn == 0)
		return 0;
	if (*n > SIZE_MAX / sizeof(**all) - pn)
		return -ENOMEM;
	v = realloc(*all, (*n + pn) * sizeof(**all));
	if (!v)
		return -ENOMEM;
	memcpy(v + *n, page, pn * sizeof(*page));
	*all = v;
	*n += pn;
	return 0;
}

/* Pages of API_DATASETS_PAGE until a short page.  A page longer than asked
 * means the server ignores paging and sent everything; a page starting
 * with the first page's first id means it ignores the offset. */
int api_list_datasets(struct api *a, struct api_dataset **out, size_t *n)
{
	struct http_response resp = { 0 };
	struct api_dataset *all = NULL, *page = NULL;
	size_t nall = 0, npage = 0, offset = 0;
	char path[API_PATH_MAX], what[API_PATH_MAX + 16];
	int rc;

	*out = NULL;
	*n = 0;
	for (;;) {
		rc = api_path(path, sizeof(path),
			      "/v1/datasets?pageSize=%d&pageOffset=%zu",
			      API_DATASETS_PAGE, offset);
		if (rc)
			goto out;
		rc = api_call(a, API_EP_LIST_DATASETS, "GET", path, NULL, 0,
			      &resp);
		if (rc)
			goto out;
		rc = api_datasets_from(api_what(what, sizeof(what), "GET",
						path),
				       resp.body, resp.len, &page, &npage);
		http_response_dispose(&resp);
		if (rc)
			goto out;
		if (offset > 0 && npage > 0 && nall > 0 &&
		    !strcmp(page[0].id, all[0].id)) {
			log_warn("GET %s: the server repeats the first page "
				 "(pageOffset ignored)", path);
			rc = -EIO;
			goto out;
		}
		rc = api_append_datasets(&all, &nall, page, npage);
		if (rc)
			goto out;
		free(page); /* its members now belong to all */
		page = NULL;
		if (npage != API_DATASETS_PAGE)
			break;
		offset += npage;
		npage = 0;
	}
	*out = all;
	*n = nall;
	all = NULL;
	nall = 0;
out:
	http_response_dispose(&resp);
	api_datasets_free(page, npage);
	api_datasets_free(all, nall);
	return rc;
}

int api_get_dataset(struct api *a, const char *ds, struct api_dataset *out)
{
	struct http_response resp = { 0 };
	char path[API_PATH_MAX], what[API_PATH_MAX + 16];
	int rc;

	memset(out, 0, sizeof(*out));
	if (!api_id_valid(ds))
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s", ds);
	if (rc)
		goto out;
	rc = api_call(a, API_EP_GET_DATASET, "GET", path, NULL, 0, &resp);
	if (rc)
		goto out;
	rc = api_dataset_one(api_what(what, sizeof(what), "GET", path),
			     resp.body, resp.len, out);
out:
	http_response_dispose(&resp);
	return rc;
}

/* deadline_ms 0: the default one. */
static int api_list_tags_until(struct api *a, const char *ds,
			       int64_t deadline_ms, struct api_tag **out,
			       size_t *n)
{
	struct http_response resp = { 0 };
	struct http_req req = { .method = "GET", .idempotent = true };
	char path[API_PATH_MAX], what[API_PATH_MAX + 16];
	int rc;

	*out = NULL;
	*n = 0;
	if (!api_id_valid(ds))
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags", ds);
	if (rc)
		goto out;
	req.path_query = path;
	req.deadline_ms = deadline_ms;
	rc = api_send(a, API_EP_LIST_TAGS, &req, NULL, &resp);
	if (rc)
		goto out;
	rc = api_tags_from(api_what(what, sizeof(what), "GET", path),
			   resp.body, resp.len, out, n);
out:
	http_response_dispose(&resp);
	return rc;
}

int api_list_tags(struct api *a, const char *ds, struct api_tag **out,
		  size_t *n)
{
	return api_list_tags_until(a, ds, 0, out, n);
}

/* The body is checked to be a valid tag before it is handed out verbatim. */
int api_get_tag_json(struct api *a, const char *ds, const char *tag,
		     char **json, size_t *len)
{
	struct http_response resp = { 0 };
	struct api_tag t = { 0 };
	char path[API_PATH_MAX], what[API_PATH_MAX + 16];
	int rc;

	*json = NULL;
	*len = 0;
	if (!api_id_valid(ds) || !api_id_valid(tag))
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags/%s", ds, tag);
	if (rc)
		goto out;
	rc = api_call(a, API_EP_GET_TAG, "GET", path, NULL, 0, &resp);
	if (rc)
		goto out;
	rc = api_tag_one(api_what(what, sizeof(what), "GET", path), resp.body,
			 resp.len, &t);
	if (rc)
		goto out;
	*json = resp.body;
	*len = resp.len;
	resp.body = NULL;
out:
	api_tag_dispose(&t);
	http_response_dispose(&resp);
	return rc;
}

/* Wraps the caller's callback for one mappings page: counts names and
 * checks that a later page does not start again with the first name. */
struct api_map_page {
	api_name_cb cb;
	void *arg;
	size_t index; /* within the current page */
	int first_page;
	char *first; /* first name of the first page, malloc'd */
	size_t first_len;
	int repeated;
};

static int api_map_name_cb(const char *name, size_t len, void *arg)
{
	struct api_map_page *m = arg;

	if (m->index++ == 0) {
		if (m->first_page) {
			m->first = malloc(len + 1);
			if (!m->first)
				return -ENOMEM;
			memcpy(m->first, name, len);
			m->first[len] = '\0';
			m->first_len = len;
		} else if (m->first && len == m->first_len &&
			   !memcmp(name, m->first, len)) {
			m->repeated = 1;
			return -EIO;
		}
	}
	return m->cb(name, len, m->arg);
}

/* Sample names in index order (API-NOTES, Bitmask semantics), decoded page
 * by page so that only one page is in memory at a time. */
int api_get_mappings(struct api *a, const char *ds, size_t offset,
		     size_t page_size, api_name_cb cb, void *arg)
{
	return api_get_mappings_to(a, ds, offset, page_size, 0, cb, arg);
}

int api_get_mappings_to(struct api *a, const char *ds, size_t offset,
			size_t page_size, size_t total, api_name_cb cb,
			void *arg)
{
	struct http_response resp = { 0 };
	struct api_map_page m = { .cb = cb, .arg = arg, .first_page = 1 };
	char path[API_PATH_MAX], what[API_PATH_MAX + 16];
	size_t count = 0;
	int rc;

	if (!api_id_valid(ds) || !cb)
		return -EINVAL;
	if (page_size == 0)
		page_size = API_MAPPINGS_PAGE;
	for (;;) {
		rc = api_path(path, sizeof(path),
			      "/v1/datasets/%s/mappings?field=fileName"
			      "&pageSize=%zu&pageOffset=%zu",
			      ds, page_size, offset);
		if (rc)
			goto out;
		rc = api_call(a, API_EP_GET_MAPPINGS, "GET", path, NULL, 0,
			      &resp);
		if (rc)
			goto out;
		m.index = 0;
		rc = api_names_from(api_what(what, sizeof(what), "GET", path),
				    resp.body, resp.len, api_map_name_cb, &m,
				    &count);
		http_response_dispose(&resp);
		if (m.repeated) {
			log_warn("GET %s: the server repeats the first page "
				 "(pageOffset ignored)", path);
			rc = -EIO;
		}
		if (rc)
			goto out;
		/* Longer than asked: the server sent everything at once. */
		if (count != page_size)
			break;
		if (offset > SIZE_MAX - count) {
			rc = -EOVERFLOW;
			goto out;
		}
		offset += count;
		m.first_page = 0;
		/* the dataset's size says where the names end: no empty page
		 * past it (a grown dataset is caught up on later) */
		if (total && offset >= total)
			break;
	}
out:
	free(m.first);
	http_response_dispose(&resp);
	return rc;
}

int api_get_tag_filenames(struct api *a, const char *ds, const char *tag,
			  api_name_cb cb, void *arg)
{
	struct http_response resp = { 0 };
	char path[API_PATH_MAX], what[API_PATH_MAX + 16];
	int rc;

	if (!api_id_valid(ds) || !api_id_valid(tag) || !cb)
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags/%s/filenames",
		      ds, tag);
	if (rc)
		goto out;
	rc = api_call(a, API_EP_GET_TAG_FILENAMES, "GET", path, NULL, 0,
		      &resp);
	if (rc)
		goto out;
	rc = api_names_from(api_what(what, sizeof(what), "GET", path),
			    resp.body, resp.len, cb, arg, NULL);
out:
	http_response_dispose(&resp);
	return rc;
}

/* What a creating POST was to make, to recognise it among the dataset's
 * tags after an attempt that failed but may have taken effect. */
struct api_created {
	struct api *a;
	const char *ds;
	const char *name;        /* NULL: any name (an unnamed initial tag) */
	const char *prev_tag_id; /* "": none, the initial tag */
	const char *bitmask;     /* NULL: not compared (the initial tag) */
	int64_t deadline_ms;     /* the POST's: one budget for both */
	char id[API_ID_LEN + 1]; /* out: the tag found */
};

/* http_verify_cb for the creating POSTs: GET the tags and look for the one
 * the failed attempt would have made.  Names are unique in a dataset, so a
 * tag of that name with other contents is someone else's: the POST is sent
 * again and the server's TAG_NAME_EXISTS tells the caller. */
static int api_created_cb(const struct http_response *failed, void *arg)
{
	struct api_created *c = arg;
	struct api_tag *v = NULL;
	size_t n = 0, i;
	int rc;

	(void)failed;
	rc = api_list_tags_until(c->a, c->ds, c->deadline_ms, &v, &n);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		if (c->name ? strcmp(v[i].name, c->name) != 0
			    : v[i].prev_tag_id[0] != '\0')
			continue;
		if (!strcmp(v[i].prev_tag_id, c->prev_tag_id) &&
		    (!c->bitmask || !strcmp(v[i].bitmask, c->bitmask))) {
			memcpy(c->id, v[i].id, sizeof(c->id));
			rc = 1;
		}
		break;
	}
	api_tags_free(v, n);
	return rc;
}

/* POST a body and read the {"id"} of the 201 answer.  Not idempotent: an
 * attempt that failed after it may have reached the server (a transport
 * error once the request went out, a 5xx) is sent again only when the tags
 * show it did not create the tag; when they show it did, that tag's id is
 * the answer. */
static int api_post_create(struct api *a, enum api_ep ep, const char *path,
			   cJSON *json, struct api_created *check,
			   char id_out[API_ID_LEN + 1])
{
	struct http_response resp = { 0 };
	struct http_req req = {
		.method = "POST",
		.path_query = path,
		.idempotent = false,
		.verify_cb = api_created_cb,
		.verify_arg = check,
	};
	char what[API_PATH_MAX + 16];
	char *body = NULL;
	int rc;

	rc = api_print(json, &body);
	if (rc)
		goto out;
	req.body = body;
	req.body_len = strlen(body);
	req.deadline_ms = http_deadline(a->h);
	check->a = a;
	check->deadline_ms = req.deadline_ms;
	check->id[0] = '\0';
	rc = api_send(a, ep, &req, NULL, &resp);
	if (rc)
		goto out;
	if (check->id[0]) {
		memcpy(id_out, check->id, API_ID_LEN + 1);
		goto out;
	}
	rc = api_create_from(api_what(what, sizeof(what), "POST", path),
			     resp.body, resp.len, id_out);
out:
	cJSON_free(body);
	http_response_dispose(&resp);
	return rc;
}

/* TagCreateRequest (API-NOTES, Models): name, prevTagId, bitMaskData and
 * totSize are required. */
int api_create_tag(struct api *a, const char *ds, const char *name,
		   const char *prev_tag_id, const char *bitmask,
		   int64_t tot_size, char id_out[API_ID_LEN + 1])
{
	struct api_created check = {
		.ds = ds,
		.name = name,
		.prev_tag_id = prev_tag_id,
		.bitmask = bitmask,
	};
	cJSON *req = NULL;
	char path[API_PATH_MAX];
	int rc;

	id_out[0] = '\0';
	if (!api_id_valid(ds) || !api_id_valid(prev_tag_id) || !name ||
	    !api_tag_name_valid(name, strlen(name)) || !bitmask ||
	    tot_size < 0 || tot_size > API_JSON_INT_MAX)
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags", ds);
	if (rc)
		goto out;
	rc = -ENOMEM;
	req = cJSON_CreateObject();
	if (!req || !cJSON_AddStringToObject(req, "name", name) ||
	    !cJSON_AddStringToObject(req, "prevTagId", prev_tag_id) ||
	    !cJSON_AddStringToObject(req, "bitMaskData", bitmask) ||
	    !cJSON_AddNumberToObject(req, "totSize", (double)tot_size) ||
	    !cJSON_AddStringToObject(req, "creator", "USER_PIP"))
		goto out;
	rc = api_post_create(a, API_EP_CREATE_TAG, path, req, &check, id_out);
out:
	cJSON_Delete(req);
	return rc;
}

/* InitialTagCreateRequest: imgType is the only required field. */
int api_create_initial_tag(struct api *a, const char *ds, const char *name,
			   const char *img_type, char id_out[API_ID_LEN + 1])
{
	struct api_created check = {
		.ds = ds,
		.name = name,
		.prev_tag_id = "",
	};
	cJSON *req = NULL;
	char path[API_PATH_MAX];
	int rc;

	id_out[0] = '\0';
	if (!img_type)
		img_type = "full";
	if (!api_id_valid(ds) ||
	    (name && !api_tag_name_valid(name, strlen(name))) ||
	    (strcmp(img_type, "full") && strcmp(img_type, "thumbnail") &&
	     strcmp(img_type, "meta")))
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags/initial", ds);
	if (rc)
		goto out;
	rc = -ENOMEM;
	req = cJSON_CreateObject();
	if (!req || (name && !cJSON_AddStringToObject(req, "name", name)) ||
	    !cJSON_AddStringToObject(req, "imgType", img_type) ||
	    !cJSON_AddStringToObject(req, "creator", "USER_PIP"))
		goto out;
	rc = api_post_create(a, API_EP_CREATE_INITIAL_TAG, path, req, &check,
			     id_out);
out:
	cJSON_Delete(req);
	return rc;
}

/* TagUpdateRequest: the name is required even when only the mask changes;
 * 1.2.x servers accept only the name.  The answer may be any 2xx, with or
 * without a body, which is not read. */
int api_update_tag(struct api *a, const char *ds, const char *tag,
		   const char *name, const char *bitmask)
{
	struct http_response resp = { 0 };
	cJSON *req = NULL;
	char path[API_PATH_MAX];
	char *body = NULL;
	int rc;

	if (!api_id_valid(ds) || !api_id_valid(tag) || !name ||
	    !api_tag_name_valid(name, strlen(name)))
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags/%s", ds, tag);
	if (rc)
		goto out;
	rc = -ENOMEM;
	req = cJSON_CreateObject();
	if (!req || !cJSON_AddStringToObject(req, "name", name) ||
	    (bitmask && !cJSON_AddStringToObject(req, "bitMaskData", bitmask)))
		goto out;
	rc = api_print(req, &body);
	if (rc)
		goto out;
	rc = api_call(a, API_EP_UPDATE_TAG, "PUT", path, body, strlen(body),
		      &resp);
out:
	cJSON_free(body);
	cJSON_Delete(req);
	http_response_dispose(&resp);
	return rc;
}

/* Idempotent: when an attempt may have deleted the tag before failing, the
 * next one's TAG_UNKNOWN is that attempt's success (api_send). */
int api_delete_tag(struct api *a, const char *ds, const char *tag)
{
	struct http_response resp = { 0 };
	struct http_req req = { .method = "DELETE", .idempotent = true };
	char path[API_PATH_MAX];
	int rc;

	if (!api_id_valid(ds) || !api_id_valid(tag))
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags/%s", ds, tag);
	if (rc)
		goto out;
	req.path_query = path;
	rc = api_send(a, API_EP_DELETE_TAG, &req, "TAG_UNKNOWN", &resp);
out:
	http_response_dispose(&resp);
	return rc;
}

/* --- counters --- */

int api_stats_json(struct api *a, char **json, size_t *len)
{
	struct http_stats hs;
	cJSON *root = NULL, *req;
	char *text = NULL;
	size_t i;
	int rc = -ENOMEM;

	*json = NULL;
	if (len)
		*len = 0;
	if (!a)
		return -EINVAL;
	http_get_stats(a->h, &hs);
	root = cJSON_CreateObject();
	req = root ? cJSON_AddObjectToObject(root, "requests") : NULL;
	if (!req)
		goto out;
	/* Numbers are doubles in cJSON: exact up to 2^53 requests. */
	for (i = 0; i < API_EP_COUNT; i++) {
		if (!cJSON_AddNumberToObject(
			    req, api_ep_names[i],
			    (double)atomic_load(&a->requests[i])))
			goto out;
	}
	if (!cJSON_AddNumberToObject(root, "retries", (double)hs.retries) ||
	    !cJSON_AddNumberToObject(root, "failures", (double)hs.failures) ||
	    !cJSON_AddNumberToObject(root, "bytesReceived",
				     (double)hs.bytes_received) ||
	    !cJSON_AddStringToObject(root, "lastError", hs.last_error))
		goto out;
	text = cJSON_PrintUnformatted(root);
	if (!text)
		goto out;
	/* Copied so the caller frees it with free() whatever cJSON's hooks. */
	*json = strdup(text);
	if (!*json)
		goto out;
	if (len)
		*len = strlen(*json);
	rc = 0;
out:
	cJSON_free(text);
	cJSON_Delete(root);
	return rc;
}

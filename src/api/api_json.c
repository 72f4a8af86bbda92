/* The API decoding module: every use of cJSON is in this file,
 * api_json_samples.c (the answers about samples and their content) and
 * api_encode.c, which builds the request bodies.  Bodies are parsed here,
 * checked field by field and copied into the structs of api.h.  A malformed
 * answer is logged once, here, with what was wrong and at most a short
 * excerpt of the body. */
#include "api_json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Bytes of a malformed body quoted in the log. */
#define API_EXCERPT_MAX 60

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
int api_parse(const char *what, const char *body, size_t len, cJSON **out)
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
				 "\"%s\"",
				 what, pos, ex);
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
				 "\"%s\"",
				 what, pos, len, ex);
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

int api_bad(const struct api_dec *d, const char *key, const cJSON *j,
	    const char *expected)
{
	if (d->index != SIZE_MAX)
		log_warn("%s: element %zu: \"%s\" is %s, expected %s", d->what,
			 d->index, key, api_type_name(j), expected);
	else
		log_warn("%s: \"%s\" is %s, expected %s", d->what, key,
			 api_type_name(j), expected);
	return -EIO;
}

int api_bad_top(const char *what, const cJSON *j, const char *expected)
{
	log_warn("%s: the answer is %s, expected %s", what, api_type_name(j),
		 expected);
	return -EIO;
}

/* A string field; absent or null gives *out NULL unless required. */
int api_get_str(const struct api_dec *d, const cJSON *obj, const char *key,
		int required, char **out)
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
int api_get_id(const struct api_dec *d, const cJSON *obj, const char *key,
	       int nullable, char out[API_ID_LEN + 1])
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
int api_get_int(const struct api_dec *d, const cJSON *obj, const char *key,
		int required, int64_t min, int64_t *out)
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

int api_datasets_from(const char *what, const char *body, size_t len,
		      struct api_dataset **out, size_t *n)
{
	struct api_dec d = {.what = what, .index = 0};
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
	cJSON_ArrayForEach(it, root) count++;
	v = calloc(count ? count : 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(it, root)
	{
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

int api_decode_datasets(const char *body, size_t len, struct api_dataset **out,
			size_t *n)
{
	return api_datasets_from("datasets", body, len, out, n);
}

int api_dataset_one(const char *what, const char *body, size_t len,
		    struct api_dataset *out)
{
	struct api_dec d = {.what = what, .index = SIZE_MAX};
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

int api_tags_from(const char *what, const char *body, size_t len,
		  struct api_tag **out, size_t *n)
{
	struct api_dec d = {.what = what, .index = 0};
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
	cJSON_ArrayForEach(it, root) count++;
	v = calloc(count ? count : 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(it, root)
	{
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

int api_tag_one(const char *what, const char *body, size_t len,
		struct api_tag *out)
{
	struct api_dec d = {.what = what, .index = SIZE_MAX};
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

/* --- a tag's history --- */

void api_stamp_dispose(struct api_stamp *s)
{
	free(s->add_idx);
	free(s->rem_idx);
	s->add_idx = s->rem_idx = NULL;
}

void api_history_free(struct api_change *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		api_stamp_dispose(&v[i].stamp);
	free(v);
}

/* A stamp's list of sample indices: false when it is not one. */
static bool api_indices_from(const cJSON *lf, const char *key, uint32_t **out,
			     size_t *n)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(lf, key), *x;
	size_t i = 0;

	*out = NULL;
	*n = 0;
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > API_STAMP_LIST_MAX)
		return false;
	*out = malloc(((size_t)cJSON_GetArraySize(a) + 1) * sizeof(**out));
	if (!*out)
		return false;
	cJSON_ArrayForEach(x, a)
	{
		if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0) ||
		    x->valuedouble > (double)UINT32_MAX)
			return false; /* freed with the stamp */
		(*out)[i++] = (uint32_t)x->valuedouble;
	}
	*n = i;
	return true;
}

/* changes[i].changes.lightlyfs of a mount's write, or false; with list,
 * the samples it flipped where it lists them. */
static bool api_stamp_from(const cJSON *entry, bool list, struct api_stamp *s)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(entry, "changes");
	const cJSON *lf, *w, *seq, *base;

	lf = cJSON_IsObject(c)
		 ? cJSON_GetObjectItemCaseSensitive(c, "lightlyfs")
		 : NULL;
	if (!cJSON_IsObject(lf))
		return false;
	w = cJSON_GetObjectItemCaseSensitive(lf, "writer");
	seq = cJSON_GetObjectItemCaseSensitive(lf, "seq");
	base = cJSON_GetObjectItemCaseSensitive(lf, "base");
	/* whole numbers a double holds exactly, as this side wrote them */
	if (!cJSON_IsString(w) || strlen(w->valuestring) != API_WRITER_LEN ||
	    !cJSON_IsNumber(seq) || !cJSON_IsNumber(base) ||
	    !(seq->valuedouble >= 0 && seq->valuedouble < 9007199254740992.0) ||
	    !(base->valuedouble >= 0 && base->valuedouble < 9007199254740992.0))
		return false;
	memcpy(s->writer, w->valuestring, API_WRITER_LEN + 1);
	s->seq = (uint64_t)seq->valuedouble;
	s->base = (uint64_t)base->valuedouble;
	s->listed = list &&
		    api_indices_from(lf, "added", &s->add_idx, &s->added) &&
		    api_indices_from(lf, "removed", &s->rem_idx, &s->removed);
	return true;
}

int api_decode_tag_history(const char *body, size_t len, size_t from,
			   struct api_tag *tag, struct api_change **out,
			   size_t *n)
{
	struct api_dec d = {.what = "tag", .index = SIZE_MAX};
	struct api_change *v = NULL;
	const cJSON *ch, *e;
	cJSON *root = NULL;
	size_t i = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (tag)
		memset(tag, 0, sizeof(*tag));
	rc = api_parse("tag", body, len, &root);
	if (!rc && tag && !cJSON_IsObject(root))
		rc = api_bad_top("tag", root, "a tag object");
	if (!rc && tag)
		rc = api_tag_from(&d, root, tag);
	if (rc)
		goto out;
	ch = cJSON_IsObject(root)
		 ? cJSON_GetObjectItemCaseSensitive(root, "changes")
		 : NULL;
	if (!cJSON_IsArray(ch)) {
		rc = -ENODATA;
		goto out;
	}
	v = calloc((size_t)cJSON_GetArraySize(ch) + 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(e, ch)
	{
		v[i].stamped = cJSON_IsObject(e) &&
			       api_stamp_from(e, i >= from, &v[i].stamp);
		i++;
	}
	*out = v;
	*n = i;
	v = NULL;
out:
	api_history_free(v, i);
	cJSON_Delete(root);
	return rc;
}

/* --- create and error bodies --- */

int api_create_from(const char *what, const char *body, size_t len,
		    char id[API_ID_LEN + 1])
{
	struct api_dec d = {.what = what, .index = SIZE_MAX};
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

int api_bitmask_from(const char *what, const char *body, size_t len, char **hex)
{
	struct api_dec d = {.what = what, .index = SIZE_MAX};
	cJSON *root = NULL;
	int rc;

	*hex = NULL;
	rc = api_parse(what, body, len, &root);
	if (rc)
		goto out;
	if (!cJSON_IsObject(root)) {
		rc = api_bad_top(what, root, "an object with a bitMaskData");
		goto out;
	}
	rc = api_get_str(&d, root, "bitMaskData", 1, hex);
out:
	cJSON_Delete(root);
	return rc;
}

int api_array_len(const char *what, const char *body, size_t len, size_t *n)
{
	cJSON *root = NULL;
	int rc = api_parse(what, body, len, &root);

	*n = 0;
	if (!rc && !cJSON_IsArray(root))
		rc = api_bad_top(what, root, "an array");
	if (!rc)
		*n = (size_t)cJSON_GetArraySize(root);
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
void api_error_from(const char *body, size_t len, char *code, size_t codesz,
		    char *msg, size_t msgsz, char *rid, size_t ridsz)
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

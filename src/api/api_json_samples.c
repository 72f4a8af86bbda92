/* Decoders of the answers about samples and their content (the sample
 * list, read URLs one by one and by page), with api_json.c's readers. */
#include "api_json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* --- samples --- */

/* SampleData: only what the content layer needs.  metaData.sizeInBytes is
 * optional (API-NOTES): a sample without it has its size learnt at open. */
static int api_sample_from(const struct api_dec *d, const cJSON *obj,
			   struct api_sample *out)
{
	const cJSON *meta;
	int64_t created = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->size = -1;
	if (!cJSON_IsObject(obj))
		return api_bad(d, "(sample)", obj, "an object");
	rc = api_get_id(d, obj, "id", 0, out->id);
	if (!rc)
		rc = api_get_int(d, obj, "createdAt", 0, 0, &created);
	out->last_modified_at = created;
	if (!rc)
		rc = api_get_int(d, obj, "lastModifiedAt", 0, 0,
				 &out->last_modified_at);
	meta = cJSON_GetObjectItemCaseSensitive(obj, "metaData");
	if (!rc && cJSON_IsObject(meta)) {
		const cJSON *sz =
		    cJSON_GetObjectItemCaseSensitive(meta, "sizeInBytes");

		/* a size that is not a whole number >= 0 is as good as none */
		if (cJSON_IsNumber(sz) && sz->valuedouble >= 0 &&
		    sz->valuedouble < 0x1p53 &&
		    (double)(int64_t)sz->valuedouble == sz->valuedouble)
			out->size = (int64_t)sz->valuedouble;
	}
	return rc;
}

int api_decode_samples(const char *body, size_t len, struct api_sample **out,
		       size_t *n)
{
	struct api_dec d = {.what = "GET samples", .index = 0};
	cJSON *root = NULL;
	const cJSON *it;
	size_t count, i = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = api_parse(d.what, body, len, &root);
	if (rc)
		return rc;
	if (!cJSON_IsArray(root)) {
		rc = api_bad_top(d.what, root, "an array of samples");
		goto out;
	}
	count = (size_t)cJSON_GetArraySize(root);
	*out = calloc(count ? count : 1, sizeof(**out));
	if (!*out) {
		rc = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(it, root)
	{
		d.index = i;
		rc = api_sample_from(&d, it, &(*out)[i]);
		if (rc)
			break;
		i++;
	}
	if (rc) {
		free(*out);
		*out = NULL;
	} else {
		*n = i;
	}
out:
	cJSON_Delete(root);
	return rc;
}

int api_decode_readurl(const char *body, size_t len, char **url)
{
	cJSON *root = NULL;
	const char *s = NULL;
	size_t slen = 0;

	*url = NULL;
	/* a JSON string, or the URL as plain text */
	if (len && body[0] == '"' && !api_parse(NULL, body, len, &root) &&
	    cJSON_IsString(root) && root->valuestring) {
		s = root->valuestring;
		slen = strlen(s);
	} else if (len && body[0] != '"') {
		s = body;
		slen = len;
		while (slen && strchr(" \t\r\n", s[slen - 1]))
			slen--;
	}
	if (!s || slen < 8 || memchr(s, '\0', slen) ||
	    (strncmp(s, "http://", 7) && strncmp(s, "https://", 8))) {
		cJSON_Delete(root);
		log_warn("GET readurl: the answer is not an http(s) URL");
		return -EIO;
	}
	*url = strndup(s, slen);
	cJSON_Delete(root);
	return *url ? 0 : -ENOMEM;
}

/* --- filenamesAndReadUrls --- */

void api_read_urls_free(struct api_read_url *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		free(v[i].url);
	}
	free(v);
}

static bool api_http_url(const char *s)
{
	return s && (!strncmp(s, "http://", 7) || !strncmp(s, "https://", 8));
}

int api_decode_read_urls(const char *body, size_t len,
			 struct api_read_url **out, size_t *n)
{
	struct api_dec d = {.what = "GET filenamesAndReadUrls", .index = 0};
	cJSON *root = NULL;
	const cJSON *it;
	size_t count, i = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = api_parse(d.what, body, len, &root);
	if (rc)
		return rc;
	if (!cJSON_IsArray(root)) {
		rc = api_bad_top(d.what, root, "an array of files");
		goto out;
	}
	count = (size_t)cJSON_GetArraySize(root);
	*out = calloc(count ? count : 1, sizeof(**out));
	if (!*out) {
		rc = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(it, root)
	{
		struct api_read_url *r = &(*out)[i];

		d.index = i;
		if (!cJSON_IsObject(it)) {
			rc = api_bad(&d, "(file)", it, "an object");
			break;
		}
		rc = api_get_str(&d, it, "fileName", 1, &r->name);
		if (!rc)
			rc = api_get_str(&d, it, "readUrl", 1, &r->url);
		i++;
		if (!rc && !api_http_url(r->url))
			rc = api_bad(&d, "readUrl",
				     cJSON_GetObjectItem(it, "readUrl"),
				     "an http(s) URL");
		if (rc)
			break;
	}
	if (rc) {
		api_read_urls_free(*out, i);
		*out = NULL;
	} else {
		*n = i;
	}
out:
	cJSON_Delete(root);
	return rc;
}

/* Request bodies of the API, built with cJSON: the other half of the API
 * decoding module (api_json.c), the one other file that includes it. */
#include "api_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Serializes obj into a malloc'd copy, so callers free it with free()
 * whatever cJSON's hooks are. */
static int api_print(const cJSON *obj, char **out)
{
	char *text = cJSON_PrintUnformatted(obj);

	*out = NULL;
	if (!text)
		return -ENOMEM;
	*out = strdup(text);
	cJSON_free(text);
	return *out ? 0 : -ENOMEM;
}

/* TagCreateRequest (API-NOTES, Models): name, prevTagId, bitMaskData and
 * totSize are required. */
int api_encode_create_tag(const char *name, const char *prev_tag_id,
			  const char *bitmask, int64_t tot_size, char **body)
{
	cJSON *req;
	int rc = -ENOMEM;

	*body = NULL;
	req = cJSON_CreateObject();
	if (!req || !cJSON_AddStringToObject(req, "name", name) ||
	    !cJSON_AddStringToObject(req, "prevTagId", prev_tag_id) ||
	    !cJSON_AddStringToObject(req, "bitMaskData", bitmask) ||
	    !cJSON_AddNumberToObject(req, "totSize", (double)tot_size) ||
	    !cJSON_AddStringToObject(req, "creator", "USER_PIP"))
		goto out;
	rc = api_print(req, body);
out:
	cJSON_Delete(req);
	return rc;
}

/* InitialTagCreateRequest: imgType is the only required field. */
int api_encode_create_initial_tag(const char *name, const char *img_type,
				  char **body)
{
	cJSON *req;
	int rc = -ENOMEM;

	*body = NULL;
	req = cJSON_CreateObject();
	if (!req || (name && !cJSON_AddStringToObject(req, "name", name)) ||
	    !cJSON_AddStringToObject(req, "imgType", img_type) ||
	    !cJSON_AddStringToObject(req, "creator", "USER_PIP"))
		goto out;
	rc = api_print(req, body);
out:
	cJSON_Delete(req);
	return rc;
}

static int api_add_indices(cJSON *obj, const char *key, const uint32_t *v,
			   size_t n)
{
	cJSON *a = cJSON_AddArrayToObject(obj, key);

	for (size_t i = 0; a && i < n; i++) {
		cJSON *x = cJSON_CreateNumber((double)v[i]);

		if (!x || !cJSON_AddItemToArray(a, x)) {
			cJSON_Delete(x);
			return -ENOMEM;
		}
	}
	return a ? 0 : -ENOMEM;
}

/* The changes object a stamped write leaves in the tag's history: the
 * counts the server records for an unstamped one, and the stamp. */
static int api_encode_stamp(cJSON *req, const struct api_stamp *s)
{
	cJSON *ch = cJSON_AddObjectToObject(req, "changes");
	cJSON *bm = ch ? cJSON_AddObjectToObject(ch, "bitMaskData") : NULL;
	cJSON *lf = ch ? cJSON_AddObjectToObject(ch, "lightlyfs") : NULL;

	if (!bm || !lf || !cJSON_AddNumberToObject(bm, "added", s->added) ||
	    !cJSON_AddNumberToObject(bm, "removed", s->removed) ||
	    !cJSON_AddStringToObject(lf, "writer", s->writer) ||
	    !cJSON_AddNumberToObject(lf, "seq", (double)s->seq) ||
	    !cJSON_AddNumberToObject(lf, "base", (double)s->base))
		return -ENOMEM;
	if (s->listed &&
	    (api_add_indices(lf, "added", s->add_idx, s->added) ||
	     api_add_indices(lf, "removed", s->rem_idx, s->removed)))
		return -ENOMEM;
	return 0;
}

/* TagUpdateRequest: the name is required even when only the mask changes;
 * 1.2.x servers accept only the name.  updateCreator tells the Lightly app
 * that the change came from this tool (API-NOTES, Models). */
int api_encode_update_tag(const char *name, const char *bitmask,
			  const struct api_stamp *stamp, char **body)
{
	cJSON *req;
	int rc = -ENOMEM;

	*body = NULL;
	req = cJSON_CreateObject();
	if (!req || !cJSON_AddStringToObject(req, "name", name) ||
	    (bitmask &&
	     !cJSON_AddStringToObject(req, "bitMaskData", bitmask)) ||
	    !cJSON_AddStringToObject(req, "updateCreator", "USER_PIP") ||
	    (stamp && api_encode_stamp(req, stamp)))
		goto out;
	rc = api_print(req, body);
out:
	cJSON_Delete(req);
	return rc;
}

int api_encode_arithmetics(const char *t1, const char *t2, const char *op,
			   const char *new_name, char **body)
{
	cJSON *req = cJSON_CreateObject();
	int rc = -ENOMEM;

	*body = NULL;
	if (!req || !cJSON_AddStringToObject(req, "tagId1", t1) ||
	    !cJSON_AddStringToObject(req, "tagId2", t2) ||
	    !cJSON_AddStringToObject(req, "operation", op) ||
	    (new_name &&
	     (!cJSON_AddStringToObject(req, "newTagName", new_name) ||
	      !cJSON_AddStringToObject(req, "creator", "USER_PIP"))))
		goto out;
	rc = api_print(req, body);
out:
	cJSON_Delete(req);
	return rc;
}

int api_encode_upsize(const char *name, char **body)
{
	cJSON *req = cJSON_CreateObject();
	int rc = -ENOMEM;

	*body = NULL;
	if (!req || !cJSON_AddStringToObject(req, "upsizeTagName", name) ||
	    !cJSON_AddStringToObject(req, "upsizeTagCreator", "USER_PIP"))
		goto out;
	rc = api_print(req, body);
out:
	cJSON_Delete(req);
	return rc;
}

/* --- counters --- */

int api_encode_stats(const char *const names[], const uint64_t counts[],
		     size_t n, const struct http_stats *hs, char **json,
		     size_t *len)
{
	cJSON *root = NULL, *req;
	size_t i;
	int rc = -ENOMEM;

	*json = NULL;
	if (len)
		*len = 0;
	root = cJSON_CreateObject();
	req = root ? cJSON_AddObjectToObject(root, "requests") : NULL;
	if (!req)
		goto out;
	/* Numbers are doubles in cJSON: exact up to 2^53 requests. */
	for (i = 0; i < n; i++) {
		if (!cJSON_AddNumberToObject(req, names[i], (double)counts[i]))
			goto out;
	}
	if (!cJSON_AddNumberToObject(root, "retries", (double)hs->retries) ||
	    !cJSON_AddNumberToObject(root, "failures", (double)hs->failures) ||
	    !cJSON_AddNumberToObject(root, "bytesReceived",
				     (double)hs->bytes_received) ||
	    !cJSON_AddStringToObject(root, "lastError", hs->last_error))
		goto out;
	rc = api_print(root, json);
	if (!rc && len)
		*len = strlen(*json);
out:
	cJSON_Delete(root);
	return rc;
}

/* What the cJSON readers of the api module share (api_json.c's):
 * parsing a whole body, reading typed fields, and the one log line of a
 * malformed answer.  Only api_json.c and api_json_samples.c include it. */
#ifndef LIGHTLYFS_API_JSON_H
#define LIGHTLYFS_API_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "api_internal.h"

/* The context of one decode, for its single log line. */
struct api_dec {
	const char *what; /* "GET /v1/datasets/…" or the decoder's name */
	size_t index;	  /* element of an array, or SIZE_MAX */
};

/* Parses a whole body (with a NUL at body[len]): 0 and *out, or -EIO;
 * what == NULL parses quietly. */
int api_parse(const char *what, const char *body, size_t len, cJSON **out);
/* Log lines of a wrong field or a wrong answer: -EIO. */
int api_bad(const struct api_dec *d, const char *key, const cJSON *j,
	    const char *expected);
int api_bad_top(const char *what, const cJSON *j, const char *expected);
/* A string field; absent or null gives *out NULL unless required. */
int api_get_str(const struct api_dec *d, const cJSON *obj, const char *key,
		int required, char **out);
/* An object id; absent or null gives "" when nullable. */
int api_get_id(const struct api_dec *d, const cJSON *obj, const char *key,
	       int nullable, char out[API_ID_LEN + 1]);
/* A whole number >= min; absent or null keeps *out unless required. */
int api_get_int(const struct api_dec *d, const cJSON *obj, const char *key,
		int required, int64_t min, int64_t *out);

#endif

/* What the three files of the api module share, none of it public:
 * api.c (one function per endpoint), api_json.c (every cJSON use: the
 * decoders and the request bodies) and api_names.c (the scanner of name
 * arrays).  The decoders here name the request in their one log line. */
#ifndef LIGHTLYFS_API_INTERNAL_H
#define LIGHTLYFS_API_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "http.h"

/* cJSON numbers are doubles: integers are exact up to 2^53. */
#define API_JSON_INT_MAX ((int64_t)1 << 53)

/* The api.h decoders with what ("GET /v1/datasets/…") for the log line.
 * Same returns as api.h's api_decode_*. */
int api_datasets_from(const char *what, const char *body, size_t len,
		      struct api_dataset **out, size_t *n);
int api_dataset_one(const char *what, const char *body, size_t len,
		    struct api_dataset *out);
int api_tags_from(const char *what, const char *body, size_t len,
		  struct api_tag **out, size_t *n);
int api_tag_one(const char *what, const char *body, size_t len,
		struct api_tag *out);
int api_create_from(const char *what, const char *body, size_t len,
		    char id[API_ID_LEN + 1]);
/* api_decode_error, and the requestId into rid (may be NULL). */
void api_error_from(const char *body, size_t len, char *code, size_t codesz,
		    char *msg, size_t msgsz, char *rid, size_t ridsz);
/* api_names.c */
int api_names_from(const char *what, const char *body, size_t len,
		   api_name_cb cb, void *arg, size_t *count);

/* Request bodies as JSON text: *body is malloc'd and NUL-terminated (free()
 * it).  The caller has validated the arguments.  0 or -ENOMEM. */
/* TagCreateRequest */
int api_encode_create_tag(const char *name, const char *prev_tag_id,
			  const char *bitmask, int64_t tot_size, char **body);
/* InitialTagCreateRequest; name may be NULL */
int api_encode_create_initial_tag(const char *name, const char *img_type,
				  char **body);
/* TagUpdateRequest; bitmask may be NULL */
int api_encode_update_tag(const char *name, const char *bitmask, char **body);
/* The .lightly/stats object of api_stats_json (api.h): counts[i] requests
 * for endpoint names[i], then the transport counters hs.  *json is malloc'd
 * (free() it), *len (if not NULL) its length.  0 or -ENOMEM. */
int api_encode_stats(const char *const names[], const uint64_t counts[],
		     size_t n, const struct http_stats *hs, char **json,
		     size_t *len);

#endif

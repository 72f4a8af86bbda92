/* What the files of the api module share, none of it public: api.c (the
 * core call, the counters and the dataset, tag and sample endpoints),
 * api_tags.c and api_pages.c (more endpoints), api_json.c,
 * api_json_samples.c and api_encode.c (every cJSON use: decoders, request
 * bodies) and api_names.c (ids, tag
 * names, the name-array scanner).  Decoders name the request they log. */
#ifndef LIGHTLYFS_API_INTERNAL_H
#define LIGHTLYFS_API_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "http.h"

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
	API_EP_TAG_ARITHMETICS,
	API_EP_UPSIZE_TAGS,
	API_EP_EXPORT_TAG,
	API_EP_LIST_SAMPLES,
	API_EP_GET_READURL,
	API_EP_GET_READ_URLS,
	API_EP_COUNT
};

/* api.c's core, which api_tags.c and api_pages.c call: the request path
 * (printf; -ENAMETOOLONG past sz), "METHOD path" for log lines, one logical
 * request (logged once on failure), and a request with the default
 * deadline that is resent only when it is not a POST. */
int api_path(char *buf, size_t sz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *api_what(char *buf, size_t sz, const char *method,
		     const char *path);
int api_send(struct api *a, enum api_ep ep, const struct http_req *req,
	     const char *resent_ok_code, struct http_response *resp);
int api_call(struct api *a, enum api_ep ep, const char *method,
	     const char *path, const char *body, size_t body_len,
	     struct http_response *resp);
/* api_set_page_streams's value, for api_pages.c: struct api stays api.c's
 * alone. */
unsigned api_page_streams(const struct api *a);

#define API_PATH_MAX 512

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
int api_encode_update_tag(const char *name, const char *bitmask,
			  const struct api_stamp *stamp, char **body);
/* TagArithmeticsRequest (new_name may be NULL; creator USER_PIP). */
int api_encode_arithmetics(const char *t1, const char *t2, const char *op,
			   const char *new_name, char **body);
/* TagUpsizeRequest (upsizeTagCreator USER_PIP). */
int api_encode_upsize(const char *name, char **body);
/* {"bitMaskData": "0x…"}: *hex malloc'd.  0, -EIO (logged), -ENOMEM. */
int api_bitmask_from(const char *what, const char *body, size_t len,
		     char **hex);
/* The number of items of a JSON array body.  0, -EIO (logged). */
int api_array_len(const char *what, const char *body, size_t len, size_t *n);

/* The .lightly/stats object of api_stats_json (api.h): counts[i] requests
 * for endpoint names[i], then the transport counters hs.  *json is malloc'd
 * (free() it), *len (if not NULL) its length.  0 or -ENOMEM. */
int api_encode_stats(const char *const names[], const uint64_t counts[],
		     size_t n, const struct http_stats *hs, char **json,
		     size_t *len);

#endif

/* One function per Lightly endpoint the filesystem uses, and the decoders of
 * their JSON.  This is the only module that sees cJSON (src/api/api_json.c,
 * the decoders, and src/api/api_encode.c, the request bodies, are its files
 * that include it): everything else gets the structs below.
 * Wire facts: shared/API-NOTES.md. */
#ifndef LIGHTLYFS_API_H
#define LIGHTLYFS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

#define API_ID_LEN 24
#define API_MAPPINGS_PAGE 100000

struct api_dataset {
	char id[API_ID_LEN + 1];
	char *name;	/* malloc'd */
	char *img_type; /* malloc'd, NULL when absent */
	int64_t n_samples;
	int64_t created_at;	  /* ms since epoch, 0 when absent */
	int64_t last_modified_at; /* ms since epoch, 0 when absent */
	char *json; /* the object as the server sent it, malloc'd */
};

struct api_tag {
	char id[API_ID_LEN + 1];
	char prev_tag_id[API_ID_LEN + 1]; /* "" when null */
	char *name;			  /* malloc'd */
	char *bitmask; /* malloc'd "0x…" as sent (validated by bitmask.c) */
	int64_t tot_size;
	int64_t created_at;
	int64_t last_modified_at; /* createdAt when absent */
};

/* A mount's stamp on its own write of a tag, kept in the tag's history
 * (TagUpdateRequest changes.lightlyfs, TagData changes[i].changes): which
 * mount wrote (a random id per mount), the number of its write, how many
 * history entries the tag had when the mount read the mask it changed (an
 * entry whose base is not past another's index was written without having
 * seen it), and the samples it flipped, by index, so that a writer that
 * undid it unseen can do it again; a delta over API_STAMP_LIST_MAX samples
 * is not listed (listed false).  added/removed count them, for the
 * history's human readers (the Lightly app shows them). */
#define API_WRITER_LEN 16
#define API_STAMP_LIST_MAX 4096
struct api_stamp {
	char writer[API_WRITER_LEN + 1];
	uint64_t seq;
	uint64_t base;
	size_t added, removed;
	bool listed;
	uint32_t *add_idx, *rem_idx; /* added and removed of them */
};
void api_stamp_dispose(struct api_stamp *s);
/* One entry of a tag's history: stamped by a mount, or written by anyone
 * else (the app, a script, a 1.x client). */
struct api_change {
	bool stamped;
	struct api_stamp stamp;
};

void api_dataset_dispose(struct api_dataset *d);
void api_tag_dispose(struct api_tag *t);
void api_datasets_free(struct api_dataset *v, size_t n);
void api_tags_free(struct api_tag *v, size_t n);

/* Called once per string of a JSON string array, in order.  name is
 * len bytes (may contain NUL), valid only during the call.  A non-zero
 * return stops the decoding and is returned. */
typedef int (*api_name_cb)(const char *name, size_t len, void *arg);

/* --- decoders: pure, for the endpoints below and for tests and fuzzers.
 * Each returns 0, -EIO for malformed or wrong-typed JSON (logged), or
 * -ENOMEM.  Arrays are malloc'd; free with api_*_free. */
int api_decode_datasets(const char *body, size_t len, struct api_dataset **out,
			size_t *n);
int api_decode_dataset(const char *body, size_t len, struct api_dataset *out);
int api_decode_tags(const char *body, size_t len, struct api_tag **out,
		    size_t *n);
int api_decode_tag(const char *body, size_t len, struct api_tag *out);
/* A tag's history (TagData.changes), oldest first: *n entries in *out;
 * the samples a stamp lists only from entry from on.  Free with
 * api_history_free.  With tag, the tag itself too, from the same parse
 * (api_decode_tag's; dispose it whatever the result).  -ENODATA when the
 * server keeps no history as an array (1.2.x keeps an object): the tag
 * is decoded all the same. */
int api_decode_tag_history(const char *body, size_t len, size_t from,
			   struct api_tag *tag, struct api_change **out,
			   size_t *n);
void api_history_free(struct api_change *v, size_t n);
/* *count gets the number of strings (a short page ends paging). */
int api_decode_names(const char *body, size_t len, api_name_cb cb, void *arg,
		     size_t *count);
/* {"id": "<24 hex>"} */
int api_decode_create(const char *body, size_t len, char id[API_ID_LEN + 1]);
/* An error body {code, error|message, requestId}: copies what is there into
 * the buffers (empty strings otherwise).  Never fails. */
void api_decode_error(const char *body, size_t len, char *code, size_t codesz,
		      char *msg, size_t msgsz);

/* --- endpoints.  Each returns 0 or a negative errno from http_errno() (with
 * the Lightly error code of the body taken into account) or the decoder's.
 * A failure is logged here once with status, error code and request id. */
struct api;

struct api *api_new(struct http *h);
void api_free(struct api *a);

/* An offline mount: every request below fails with -ENETDOWN unsent
 * (its resp zeroed), except api_probe's.  Thread safe. */
void api_set_offline(struct api *a, bool offline);
/* Whether the server answers and takes the token, whatever
 * api_set_offline said: one GET of the dataset ds (NULL: of the first
 * page of one dataset), ending by deadline_ms (http_deadline's clock; 0:
 * the default).  0 or the request's errno. */
int api_probe(struct api *a, const char *ds, int64_t deadline_ms);

/* GET /v1/datasets, all pages. */
int api_list_datasets(struct api *a, struct api_dataset **out, size_t *n);
int api_get_dataset(struct api *a, const char *ds, struct api_dataset *out);
int api_list_tags(struct api *a, const char *ds, struct api_tag **out,
		  size_t *n);
/* GET a tag as raw JSON text (malloc'd, *len bytes). */
int api_get_tag_json(struct api *a, const char *ds, const char *tag,
		     char **json, size_t *len);
/* Mapping pages api_get_mappings_to keeps in flight at once (each on its
 * own pooled connection), decoding them in order while the later ones
 * arrive; 1 (the default) fetches them one by one.  Clamped to
 * 1 .. API_PAGE_STREAMS_MAX.  Call before the first request. */
#define API_PAGE_STREAMS_MAX 16
void api_set_page_streams(struct api *a, unsigned n);
/* GET /mappings?field=fileName from offset on, in pages of page_size (0:
 * API_MAPPINGS_PAGE), until a short page or, when total (the dataset's
 * nSamples) is not 0, until total names have been read, instead of asking
 * for a page past the end.  cb gets each name.  -ENOENT when the server has
 * no mappings. */
int api_get_mappings_to(struct api *a, const char *ds, size_t offset,
			size_t page_size, size_t total, api_name_cb cb,
			void *arg);
/* GET .../tags/{tag}/filenames. */
int api_get_tag_filenames(struct api *a, const char *ds, const char *tag,
			  api_name_cb cb, void *arg);
/* POST .../tags (creator USER_PIP). */
int api_create_tag(struct api *a, const char *ds, const char *name,
		   const char *prev_tag_id, const char *bitmask,
		   int64_t tot_size, char id_out[API_ID_LEN + 1]);
/* POST .../tags/initial. img_type NULL means "full". */
int api_create_initial_tag(struct api *a, const char *ds, const char *name,
			   const char *img_type, char id_out[API_ID_LEN + 1]);
/* PUT .../tags/{tag}: name required; bitmask NULL keeps the mask. */
/* stamp: this mount's mark in the tag's history, or NULL (a rename). */
int api_update_tag(struct api *a, const char *ds, const char *tag,
		   const char *name, const char *bitmask,
		   const struct api_stamp *stamp);
int api_delete_tag(struct api *a, const char *ds, const char *tag);

enum api_arith {
	API_ARITH_UNION,
	API_ARITH_INTERSECTION,
	API_ARITH_DIFFERENCE
};
/* POST .../tags/arithmetics/bitmask: the result mask ("0x…", malloc'd). */
int api_tag_arithmetics(struct api *a, const char *ds, const char *t1,
			const char *t2, enum api_arith op, char **hex);
/* POST .../tags/arithmetics with newTagName (creator USER_PIP): the
 * result saved as a new tag, its id in id_out. */
int api_tag_arithmetics_save(struct api *a, const char *ds, const char *t1,
			     const char *t2, enum api_arith op,
			     const char *new_name, char id_out[API_ID_LEN + 1]);
/* POST .../tags/upsize (upsizeTagCreator USER_PIP): the new tag's id. */
int api_upsize_tags(struct api *a, const char *ds, const char *name,
		    char id_out[API_ID_LEN + 1]);
enum api_export {
	API_EXPORT_LABELSTUDIO,	    /* export/LabelStudio/tasks */
	API_EXPORT_LABELBOX,	    /* export/LabelBox/datarows */
	API_EXPORT_LABELBOX_V4,	    /* export/LabelBoxV4/datarows */
	API_EXPORT_SAMA,	    /* export/Sama/tasks */
	API_EXPORT_NAMES,	    /* export/basic/filenames, NAME */
	API_EXPORT_READ_URLS,	    /* ... REDIRECTED_READ_URL */
	API_EXPORT_DATASOURCE_URLS, /* ... DATASOURCE_FULL */
	API_EXPORT_COUNT
};
/* The tag's export as served: one JSON array (the pages of the paged
 * paths joined, the old path on 404, where there is one), or for the basic
 * filenames one entry a line, each ending in '\n'.  expires < 0 and access NULL
 * leave expiresIn and accessControl out.  *doc malloc'd, *len bytes. */
int api_export_tag(struct api *a, const char *ds, const char *tag,
		   enum api_export fmt, long expires, const char *access,
		   char **doc, size_t *len);
/* GET .../tags/{tag}/export/zip: the tag's images in one zip, handed to
 * sink as it arrives (http.h's http_body_cb: a retry starts again at off
 * 0), never held whole.  0, the sink's error, or the request's (-EFBIG:
 * the server's 413, a tag too large to zip). */
int api_export_zip(struct api *a, const char *ds, const char *tag,
		   http_body_cb sink, void *arg);

/* One sample of GET /v1/datasets/{ds}/samples (SampleData). */
struct api_sample {
	char id[API_ID_LEN + 1];
	int64_t size; /* metaData.sizeInBytes, -1 when absent */
	int64_t
	    last_modified_at; /* ms, createdAt when absent, 0 when neither */
};
int api_decode_samples(const char *body, size_t len, struct api_sample **out,
		       size_t *n);
/* GET .../samples?sortBy=index&pageSize=count&pageOffset=offset: at most
 * count samples in index order (fewer at the end).  *out malloc'd. */
int api_list_samples(struct api *a, const char *ds, size_t offset, size_t count,
		     struct api_sample **out, size_t *n);
/* The body of .../readurl: a JSON string or plain text, an http(s) URL.
 * *url malloc'd. */
int api_decode_readurl(const char *body, size_t len, char **url);
/* GET .../samples/{id}/readurl?type=full|thumbnail. */
int api_get_readurl(struct api *a, const char *ds, const char *sample,
		    int thumbnail, char **url);

/* One file of GET .../tags/{tag}/export/basic/filenamesAndReadUrls. */
struct api_read_url {
	char *name; /* fileName */
	char *url;  /* readUrl: a signed http(s) URL of the full image */
};
int api_decode_read_urls(const char *body, size_t len,
			 struct api_read_url **out, size_t *n);
/* GET .../tags/{tag}/export/basic/filenamesAndReadUrls?pageSize=count&
 * pageOffset=offset: the tag's files from its offset-th on, in index
 * order, each with its read URL; at most count (fewer at the end).  API-NOTES
 * calls the route unreliable: a caller checks each name and falls back to
 * api_get_readurl.  *out malloc'd, api_read_urls_free it. */
int api_tag_read_urls(struct api *a, const char *ds, const char *tag,
		      size_t offset, size_t count, struct api_read_url **out,
		      size_t *n);
void api_read_urls_free(struct api_read_url *v, size_t n);

/* Retries (http.c) and what the endpoints do about them:
 * - GET, PUT and DELETE are sent again after any retryable failure.  A
 *   DELETE answered TAG_UNKNOWN after an attempt that may have reached the
 *   server counts as done: that attempt deleted the tag.
 * - The creating POSTs are sent again at once only after failures that
 *   cannot have reached the server (refused connection, 408, 429).  After
 *   one that may have (a transport error once the request went out, a 5xx)
 *   the dataset's tags are fetched first: a tag of that name with the same
 *   prevTagId (and bitmask) is the earlier attempt's, and its id is the
 *   answer; otherwise the POST is sent again.  The check shares the POST's
 *   deadline. */

/* The counters for .lightly/stats as a JSON object:
 * {"requests": {"list_datasets": N, "get_dataset": N, "list_tags": N,
 *   "get_tag": N, "get_mappings": N, "get_tag_filenames": N,
 *   "create_tag": N, "create_initial_tag": N, "update_tag": N,
 *   "delete_tag": N, "tag_arithmetics": N, "upsize_tags": N,
 *   "export_tag": N, "list_samples": N, "get_readurl": N,
 *   "get_read_urls": N},
 *  "retries": N, "failures": N, "bytesReceived": N, "lastError": "..."}
 * requests counts HTTP requests (each page, each check) by endpoint, not
 * their retries; the rest is http_get_stats().  *json is malloc'd and
 * NUL-terminated (free() it); *len (if len is not NULL) its length.  Thread
 * safe.  0, -EINVAL, -ENOMEM. */
int api_stats_json(struct api *a, char **json, size_t *len);

/* True for a 24 lower-case hex id. */
int api_id_valid(const char *s);
/* True for a name the server accepts as a tag name (API-NOTES pattern). */
int api_tag_name_valid(const char *s, size_t len);

#endif

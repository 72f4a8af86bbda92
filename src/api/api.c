/* The core of every request (api_send, api_call: retry and resend rules,
 * the error body turned into an errno and logged once, the per-endpoint
 * counters) and the dataset, tag and sample endpoints on it; api_tags.c
 * and api_pages.c add theirs on top.  JSON is read by api_json.c and
 * api_names.c and written by api_encode.c: this file never sees cJSON. */
#include "api_internal.h"

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
#define API_CODE_MAX 64
#define API_MSG_MAX 256
#define API_RID_MAX 64

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
    [API_EP_TAG_ARITHMETICS] = "tag_arithmetics",
    [API_EP_UPSIZE_TAGS] = "upsize_tags",
    [API_EP_EXPORT_TAG] = "export_tag",
    [API_EP_LIST_SAMPLES] = "list_samples",
    [API_EP_GET_READURL] = "get_readurl",
    [API_EP_GET_READ_URLS] = "get_read_urls",
};

struct api {
	struct http *h;
	/* HTTP requests (pages, not retries) per endpoint; atomics because
	 * every FUSE worker thread calls in. */
	atomic_uint_least64_t requests[API_EP_COUNT];
	unsigned page_streams; /* mapping pages in flight; 1: one by one */
	/* an offline mount: nothing is sent but api_probe */
	atomic_bool offline;
};

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
	a->page_streams = 1;
	atomic_init(&a->offline, false);
	for (i = 0; i < API_EP_COUNT; i++)
		atomic_init(&a->requests[i], 0);
	return a;
}

void api_free(struct api *a)
{
	free(a);
}

void api_set_page_streams(struct api *a, unsigned n)
{
	a->page_streams = n < 1			     ? 1
			  : n > API_PAGE_STREAMS_MAX ? API_PAGE_STREAMS_MAX
						     : n;
}

unsigned api_page_streams(const struct api *a)
{
	return a->page_streams;
}

int api_path(char *buf, size_t sz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= sz ? -ENAMETOOLONG : 0;
}

/* "METHOD path" for decoder log lines; the path never holds the token. */
const char *api_what(char *buf, size_t sz, const char *method, const char *path)
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
static int send_online(struct api *a, enum api_ep ep,
		       const struct http_req *req, const char *resent_ok_code,
		       struct http_response *resp)
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
	/* the body's requestId when the header had none */
	snprintf(resp->request_id, sizeof(resp->request_id), "%s", rid);
	http_log_failed(req, resp, code, msg);
	return rc;
}

int api_send(struct api *a, enum api_ep ep, const struct http_req *req,
	     const char *resent_ok_code, struct http_response *resp)
{
	/* one place that every endpoint passes: an offline mount makes no
	 * request, whichever layer asks (a read URL, a journal's edit) */
	if (atomic_load(&a->offline)) {
		memset(resp, 0, sizeof(*resp));
		return -ENETDOWN;
	}
	return send_online(a, ep, req, resent_ok_code, resp);
}

void api_set_offline(struct api *a, bool offline)
{
	atomic_store(&a->offline, offline);
}

int api_probe(struct api *a, const char *ds, int64_t deadline_ms)
{
	struct http_response resp = {0};
	char path[API_PATH_MAX];
	struct http_req req = {
	    .method = "GET", .idempotent = true, .deadline_ms = deadline_ms};
	enum api_ep ep = ds ? API_EP_GET_DATASET : API_EP_LIST_DATASETS;
	int rc = ds ? api_path(path, sizeof(path), "/v1/datasets/%s", ds)
		    : api_path(path, sizeof(path),
			       "/v1/datasets?pageSize=1&pageOffset=0");

	if (rc)
		return rc;
	req.path_query = path;
	rc = send_online(a, ep, &req, NULL, &resp);
	http_response_dispose(&resp);
	return rc;
}

/* A request that is safe to send twice unless it is a POST (the creating
 * calls), with the default deadline. */
int api_call(struct api *a, enum api_ep ep, const char *method,
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
	struct http_response resp = {0};
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
		rc =
		    api_datasets_from(api_what(what, sizeof(what), "GET", path),
				      resp.body, resp.len, &page, &npage);
		http_response_dispose(&resp);
		if (rc)
			goto out;
		if (offset > 0 && npage > 0 && nall > 0 &&
		    !strcmp(page[0].id, all[0].id)) {
			log_warn("GET %s: the server repeats the first page "
				 "(pageOffset ignored)",
				 path);
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
	struct http_response resp = {0};
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
	struct http_response resp = {0};
	struct http_req req = {.method = "GET", .idempotent = true};
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
	rc = api_tags_from(api_what(what, sizeof(what), "GET", path), resp.body,
			   resp.len, out, n);
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
	struct http_response resp = {0};
	struct api_tag t = {0};
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

int api_get_tag_filenames(struct api *a, const char *ds, const char *tag,
			  api_name_cb cb, void *arg)
{
	struct http_response resp = {0};
	char path[API_PATH_MAX], what[API_PATH_MAX + 16];
	int rc;

	if (!api_id_valid(ds) || !api_id_valid(tag) || !cb)
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags/%s/filenames",
		      ds, tag);
	if (rc)
		goto out;
	rc = api_call(a, API_EP_GET_TAG_FILENAMES, "GET", path, NULL, 0, &resp);
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
	const char *name;	 /* NULL: any name (an unnamed initial tag) */
	const char *prev_tag_id; /* "": none, the initial tag */
	const char *bitmask;	 /* NULL: not compared (the initial tag) */
	int64_t deadline_ms;	 /* the POST's: one budget for both */
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
			   const char *body, struct api_created *check,
			   char id_out[API_ID_LEN + 1])
{
	struct http_response resp = {0};
	struct http_req req = {
	    .method = "POST",
	    .path_query = path,
	    .idempotent = false,
	    .verify_cb = api_created_cb,
	    .verify_arg = check,
	};
	char what[API_PATH_MAX + 16];
	int rc;

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
	http_response_dispose(&resp);
	return rc;
}

/* TagCreateRequest (api_encode.c); totSize must be exact as a JSON number. */
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
	char path[API_PATH_MAX];
	char *body = NULL;
	int rc;

	id_out[0] = '\0';
	if (!api_id_valid(ds) || !api_id_valid(prev_tag_id) || !name ||
	    !api_tag_name_valid(name, strlen(name)) || !bitmask ||
	    tot_size < 0 || tot_size > API_JSON_INT_MAX)
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags", ds);
	if (rc)
		goto out;
	rc = api_encode_create_tag(name, prev_tag_id, bitmask, tot_size, &body);
	if (rc)
		goto out;
	rc = api_post_create(a, API_EP_CREATE_TAG, path, body, &check, id_out);
out:
	free(body);
	return rc;
}

/* InitialTagCreateRequest (api_encode.c). */
int api_create_initial_tag(struct api *a, const char *ds, const char *name,
			   const char *img_type, char id_out[API_ID_LEN + 1])
{
	struct api_created check = {
	    .ds = ds,
	    .name = name,
	    .prev_tag_id = "",
	};
	char path[API_PATH_MAX];
	char *body = NULL;
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
	rc = api_encode_create_initial_tag(name, img_type, &body);
	if (rc)
		goto out;
	rc = api_post_create(a, API_EP_CREATE_INITIAL_TAG, path, body, &check,
			     id_out);
out:
	free(body);
	return rc;
}

/* TagUpdateRequest: the name is required even when only the mask changes;
 * 1.2.x servers accept only the name.  The answer may be any 2xx, with or
 * without a body, which is not read. */
int api_update_tag(struct api *a, const char *ds, const char *tag,
		   const char *name, const char *bitmask,
		   const struct api_stamp *stamp)
{
	struct http_response resp = {0};
	char path[API_PATH_MAX];
	char *body = NULL;
	int rc;

	if (!api_id_valid(ds) || !api_id_valid(tag) || !name ||
	    !api_tag_name_valid(name, strlen(name)))
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags/%s", ds, tag);
	if (rc)
		goto out;
	rc = api_encode_update_tag(name, bitmask, stamp, &body);
	if (rc)
		goto out;
	rc = api_call(a, API_EP_UPDATE_TAG, "PUT", path, body, strlen(body),
		      &resp);
out:
	free(body);
	http_response_dispose(&resp);
	return rc;
}

/* Idempotent: when an attempt may have deleted the tag before failing, the
 * next one's TAG_UNKNOWN is that attempt's success (api_send). */
int api_delete_tag(struct api *a, const char *ds, const char *tag)
{
	struct http_response resp = {0};
	struct http_req req = {.method = "DELETE", .idempotent = true};
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
	uint64_t counts[API_EP_COUNT];
	struct http_stats hs;
	size_t i;

	*json = NULL;
	if (len)
		*len = 0;
	if (!a)
		return -EINVAL;
	http_get_stats(a->h, &hs);
	for (i = 0; i < API_EP_COUNT; i++)
		counts[i] = atomic_load(&a->requests[i]);
	return api_encode_stats(api_ep_names, counts, API_EP_COUNT, &hs, json,
				len);
}

int api_list_samples(struct api *a, const char *ds, size_t offset, size_t count,
		     struct api_sample **out, size_t *n)
{
	struct http_response resp = {0};
	char path[API_PATH_MAX];
	int rc;

	*out = NULL;
	*n = 0;
	if (!api_id_valid(ds) || !count)
		return -EINVAL;
	rc = api_path(path, sizeof(path),
		      "/v1/datasets/%s/samples?sortBy=index&pageSize=%zu"
		      "&pageOffset=%zu",
		      ds, count, offset);
	if (!rc)
		rc = api_call(a, API_EP_LIST_SAMPLES, "GET", path, NULL, 0,
			      &resp);
	if (!rc)
		rc = api_decode_samples(resp.body, resp.len, out, n);
	if (!rc && *n > count) {
		/* a server that ignores pageSize: keep what was asked for */
		*n = count;
	}
	http_response_dispose(&resp);
	return rc;
}

int api_get_readurl(struct api *a, const char *ds, const char *sample,
		    int thumbnail, char **url)
{
	struct http_response resp = {0};
	char path[API_PATH_MAX];
	int rc;

	*url = NULL;
	if (!api_id_valid(ds) || !api_id_valid(sample))
		return -EINVAL;
	rc = api_path(path, sizeof(path),
		      "/v1/datasets/%s/samples/%s/readurl?type=%s", ds, sample,
		      thumbnail ? "thumbnail" : "full");
	if (!rc)
		rc = api_call(a, API_EP_GET_READURL, "GET", path, NULL, 0,
			      &resp);
	if (!rc)
		rc = api_decode_readurl(resp.body, resp.len, url);
	http_response_dispose(&resp);
	return rc;
}

int api_tag_read_urls(struct api *a, const char *ds, const char *tag,
		      size_t offset, size_t count, struct api_read_url **out,
		      size_t *n)
{
	struct http_response resp = {0};
	char path[API_PATH_MAX];
	int rc;

	*out = NULL;
	*n = 0;
	if (!api_id_valid(ds) || !api_id_valid(tag) || !count)
		return -EINVAL;
	rc = api_path(path, sizeof(path),
		      "/v1/datasets/%s/tags/%s/export/basic/"
		      "filenamesAndReadUrls?pageSize=%zu&pageOffset=%zu",
		      ds, tag, count, offset);
	if (!rc)
		rc = api_call(a, API_EP_GET_READ_URLS, "GET", path, NULL, 0,
			      &resp);
	if (!rc)
		rc = api_decode_read_urls(resp.body, resp.len, out, n);
	if (!rc && *n > count) {
		/* a server that ignores pageSize: what was asked for */
		for (size_t i = count; i < *n; i++) {
			free((*out)[i].name);
			free((*out)[i].url);
		}
		*n = count;
	}
	http_response_dispose(&resp);
	return rc;
}

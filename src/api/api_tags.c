/* The tag endpoints beyond reading and editing one tag: arithmetics (a
 * result mask, or saved as a new tag), upsize, the exports (the paged
 * paths of newer servers, the old ones on 404) and the zip, streamed.  The
 * requests; their JSON is api_encode.c's and api_json.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

#define API_EXPORT_PAGE 5000

static const char *const api_ops[] = {
    [API_ARITH_UNION] = "UNION",
    [API_ARITH_INTERSECTION] = "INTERSECTION",
    [API_ARITH_DIFFERENCE] = "DIFFERENCE",
};

/* POST body to path; a bitmask answer or an id answer. */
static int api_arith_post(struct api *a, const char *ds, const char *t1,
			  const char *t2, enum api_arith op,
			  const char *new_name, char **hex, char *id_out)
{
	struct http_response resp = {0};
	char path[API_PATH_MAX], what[API_PATH_MAX + 16], *body = NULL;
	struct http_req req = {.method = "POST", .path_query = path};
	int rc;

	if (!api_id_valid(ds) || !api_id_valid(t1) || !api_id_valid(t2) ||
	    (unsigned)op > API_ARITH_DIFFERENCE)
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags/arithmetics%s",
		      ds, new_name ? "" : "/bitmask");
	if (!rc)
		rc = api_encode_arithmetics(t1, t2, api_ops[op], new_name,
					    &body);
	if (rc)
		goto out;
	req.body = body;
	req.body_len = strlen(body);
	/* a result mask changes nothing on the server: safe to resend */
	req.idempotent = new_name == NULL;
	rc = api_send(a, API_EP_TAG_ARITHMETICS, &req, NULL, &resp);
	api_what(what, sizeof(what), "POST", path);
	if (!rc && new_name)
		rc = api_create_from(what, resp.body, resp.len, id_out);
	else if (!rc)
		rc = api_bitmask_from(what, resp.body, resp.len, hex);
out:
	free(body);
	http_response_dispose(&resp);
	return rc;
}

int api_tag_arithmetics(struct api *a, const char *ds, const char *t1,
			const char *t2, enum api_arith op, char **hex)
{
	*hex = NULL;
	return api_arith_post(a, ds, t1, t2, op, NULL, hex, NULL);
}

int api_tag_arithmetics_save(struct api *a, const char *ds, const char *t1,
			     const char *t2, enum api_arith op,
			     const char *new_name, char id_out[API_ID_LEN + 1])
{
	if (!api_tag_name_valid(new_name, strlen(new_name)))
		return -EINVAL;
	return api_arith_post(a, ds, t1, t2, op, new_name, NULL, id_out);
}

int api_upsize_tags(struct api *a, const char *ds, const char *name,
		    char id_out[API_ID_LEN + 1])
{
	struct http_response resp = {0};
	char path[API_PATH_MAX], what[API_PATH_MAX + 16], *body = NULL;
	int rc;

	if (!api_id_valid(ds) || !api_tag_name_valid(name, strlen(name)))
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags/upsize", ds);
	if (!rc)
		rc = api_encode_upsize(name, &body);
	if (!rc)
		rc = api_call(a, API_EP_UPSIZE_TAGS, "POST", path, body,
			      strlen(body), &resp);
	if (!rc)
		rc = api_create_from(api_what(what, sizeof(what), "POST", path),
				     resp.body, resp.len, id_out);
	free(body);
	http_response_dispose(&resp);
	return rc;
}

/* ---- exports ---- */

struct api_doc {
	char *buf;
	size_t len, cap;
	size_t items;
};

/* Appends the items of one page (a JSON array) to the document. */
static int doc_append(struct api_doc *d, const char *body, size_t len)
{
	const char *s = body, *e = body + len;
	size_t n;

	while (s < e && *s != '[')
		s++;
	while (e > s && e[-1] != ']')
		e--;
	if (e - s < 2)
		return -EIO;
	s++, e--; /* the items between the brackets */
	n = (size_t)(e - s);
	if (d->len + n + 4 > d->cap) {
		size_t cap = (d->len + n + 4) * 2;
		char *p = realloc(d->buf, cap);

		if (!p)
			return -ENOMEM;
		d->buf = p;
		d->cap = cap;
	}
	if (d->len == 0)
		d->buf[d->len++] = '[';
	else if (n && strspn(s, " \t\r\n") < n && d->items)
		d->buf[d->len++] = ',';
	memcpy(d->buf + d->len, s, n);
	d->len += n;
	d->buf[d->len] = '\0';
	return 0;
}

static int export_query(char *q, size_t qsz, long expires, const char *access)
{
	int n = 0;

	q[0] = '\0';
	if (expires >= 0)
		n = snprintf(q, qsz, "&expiresIn=%ld", expires);
	if (access && n >= 0 && (size_t)n < qsz)
		n += snprintf(q + n, qsz - (size_t)n, "&accessControl=%s",
			      access);
	return n < 0 || (size_t)n >= qsz ? -ENAMETOOLONG : 0;
}

/* Appends one page of a text export (one entry a line, none ending the
 * last): *items is its line count, 0 for an empty page. */
static int text_append(struct api_doc *d, const char *body, size_t len,
		       size_t *items)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += body[i] == '\n';
	*items = len ? n + 1 : 0;
	if (!len)
		return 0;
	if (d->len + len + 3 > d->cap) {
		size_t cap = (d->len + len + 3) * 2;
		char *p = realloc(d->buf, cap);

		if (!p)
			return -ENOMEM;
		d->buf = p;
		d->cap = cap;
	}
	memcpy(d->buf + d->len, body, len);
	d->len += len;
	d->buf[d->len++] = '\n';
	d->buf[d->len] = '\0';
	return 0;
}

/* One GET of path; on success the page's items are in d. */
static int export_get(struct api *a, const char *path, bool text,
		      struct api_doc *d, size_t *items)
{
	struct http_response resp = {0};
	char what[API_PATH_MAX + 16];
	int rc = api_call(a, API_EP_EXPORT_TAG, "GET", path, NULL, 0, &resp);

	api_what(what, sizeof(what), "GET", path);
	if (!rc && text)
		rc = text_append(d, resp.body, resp.len, items);
	else if (!rc)
		rc = api_array_len(what, resp.body, resp.len, items);
	if (!rc && !text)
		rc = doc_append(d, resp.body, resp.len);
	d->items += *items;
	http_response_dispose(&resp);
	return rc;
}

/* Where each format is served: paged, and (JSON formats of servers before
 * paging) unpaged; the basic filenames are text, one entry a line. */
static const struct export_route {
	const char *paged, *old;
	bool text;
} export_routes[API_EXPORT_COUNT] = {
    [API_EXPORT_LABELSTUDIO] = {"LabelStudio/tasks?", "LabelStudioTasks",
				false},
    [API_EXPORT_LABELBOX] = {"LabelBox/datarows?", "LabelBoxDataRows", false},
    [API_EXPORT_LABELBOX_V4] = {"LabelBoxV4/datarows?", NULL, false},
    [API_EXPORT_SAMA] = {"Sama/tasks?", NULL, false},
    [API_EXPORT_NAMES] = {"basic/filenames?fileNameFormat=NAME&format=PLAIN&",
			  NULL, true},
    [API_EXPORT_READ_URLS] = {"basic/filenames?fileNameFormat="
			      "REDIRECTED_READ_URL&format=PLAIN&",
			      NULL, true},
    [API_EXPORT_DATASOURCE_URLS] = {"basic/filenames?fileNameFormat="
				    "DATASOURCE_FULL&format=PLAIN&",
				    NULL, true},
};

/* The pages of route->paged into d, until one is short. */
static int export_pages(struct api *a, const char *ds, const char *tag,
			const struct export_route *route, const char *q,
			struct api_doc *d)
{
	char path[API_PATH_MAX];
	size_t items = API_EXPORT_PAGE;
	int rc = 0;

	for (size_t off = 0; !rc && items == API_EXPORT_PAGE;
	     off += API_EXPORT_PAGE) {
		rc = api_path(path, sizeof(path),
			      "/v1/datasets/%s/tags/%s/export/%spageSize=%d"
			      "&pageOffset=%zu%s",
			      ds, tag, route->paged, API_EXPORT_PAGE, off, q);
		if (!rc)
			rc = export_get(a, path, route->text, d, &items);
	}
	return rc;
}

int api_export_tag(struct api *a, const char *ds, const char *tag,
		   enum api_export fmt, long expires, const char *access,
		   char **doc, size_t *len)
{
	const struct export_route *route;
	struct api_doc d = {0};
	char path[API_PATH_MAX], q[API_PATH_MAX / 2];
	size_t items = 0;
	int rc;

	*doc = NULL;
	*len = 0;
	if (!api_id_valid(ds) || !api_id_valid(tag) ||
	    (unsigned)fmt >= API_EXPORT_COUNT ||
	    (access && !api_tag_name_valid(access, strlen(access))))
		return -EINVAL;
	route = &export_routes[fmt];
	rc = export_query(q, sizeof(q), expires, access);
	if (!rc)
		rc = export_pages(a, ds, tag, route, q, &d);
	if (rc == -ENOENT && d.len == 0 && route->old) {
		/* an older server: one document, no paging */
		rc = api_path(path, sizeof(path),
			      "/v1/datasets/%s/tags/%s/export/%s%s%s", ds, tag,
			      route->old, q[0] ? "?" : "", q[0] ? q + 1 : "");
		if (!rc)
			rc = export_get(a, path, false, &d, &items);
	}
	if (!rc && route->text && !d.buf)
		d.buf = strdup(""); /* an empty tag: an empty file */
	else if (!rc && !route->text && d.len < d.cap)
		d.buf[d.len++] = ']';
	if (!rc && !d.buf)
		rc = -ENOMEM;
	if (rc) {
		free(d.buf);
		return rc;
	}
	*doc = d.buf;
	*len = d.len;
	return 0;
}

int api_export_zip(struct api *a, const char *ds, const char *tag,
		   http_body_cb sink, void *arg)
{
	struct http_response resp = {0};
	char path[API_PATH_MAX];
	struct http_req req = {
	    .method = "GET",
	    .path_query = path,
	    .idempotent = true,
	    .body_cb = sink,
	    .body_arg = arg,
	};
	int rc;

	if (!api_id_valid(ds) || !api_id_valid(tag) || !sink)
		return -EINVAL;
	rc = api_path(path, sizeof(path), "/v1/datasets/%s/tags/%s/export/zip",
		      ds, tag);
	if (!rc)
		rc = api_send(a, API_EP_EXPORT_TAG, &req, NULL, &resp);
	http_response_dispose(&resp);
	return rc;
}

/* The mappings endpoint, api_get_mappings_to: sample names in index order,
 * page by page in the caller's thread or, with -o page_streams, a few pages
 * in flight on pooled easy handles (so on reused connections) while the
 * caller's thread decodes them in order.  Sits on api.c's core call. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "log.h"

/* The pages fetched side by side are exactly those of the serial walk: the
 * dataset's nSamples says how many, so concurrency costs no extra request.
 *
 * Entries do not stream to the kernel before the last page is in, for three
 * reasons.  Offsets: a listing's snapshot puts a folder's subfolders before
 * its samples, and any later page may hold the first name with a '/', which
 * makes a subfolder and would shift every sample's offset already handed
 * out.  Lookups: the index is installed whole under the fs lock (cache_load
 * is all or nothing), so a name from page 9 is never ENOENT while page 3 is
 * being read, and a failed page leaves the old names, not half a listing
 * the kernel would cache.  Gain: what follows the last page (building the
 * snapshot, READDIR, the kernel's copy) is what a warm listing also costs,
 * about a third of a cold one at a million samples (bench/RESULTS.md). */

struct api_page {
	struct http_response resp;
	int rc;
	bool done;
};

struct api_pages {
	struct api *a;
	const char *ds;
	size_t offset, page_size, npages;
	unsigned window; /* pages fetched ahead of the one being decoded */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t next_fetch; /* next page a worker takes */
	size_t decoding;   /* page the caller waits for or decodes */
	bool stop;
	struct api_page *pages;
};

static int api_page_path(const struct api_pages *p, size_t i, char *path,
			 size_t sz)
{
	return api_path(path, sz,
			"/v1/datasets/%s/mappings?field=fileName"
			"&pageSize=%zu&pageOffset=%zu",
			p->ds, p->page_size, p->offset + i * p->page_size);
}

static void *api_pages_worker(void *arg)
{
	struct api_pages *p = arg;
	char path[API_PATH_MAX];

	pthread_mutex_lock(&p->lock);
	for (;;) {
		size_t i;
		struct http_response resp = {0};
		int rc;

		while (!p->stop && p->next_fetch < p->npages &&
		       p->next_fetch >= p->decoding + p->window)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop || p->next_fetch >= p->npages)
			break;
		i = p->next_fetch++;
		pthread_mutex_unlock(&p->lock);
		rc = api_page_path(p, i, path, sizeof(path));
		if (!rc)
			rc = api_call(p->a, API_EP_GET_MAPPINGS, "GET", path,
				      NULL, 0, &resp);
		pthread_mutex_lock(&p->lock);
		p->pages[i].resp = resp;
		p->pages[i].rc = rc;
		p->pages[i].done = true;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Checks page i's first name against page 0's: a server that ignores
 * pageOffset would send the first page again and again. */
struct api_pages_first {
	api_name_cb cb;
	void *arg;
	size_t n; /* names of the current page so far */
	char *first;
	size_t first_len;
	bool first_page, repeated;
};

static int api_pages_name_cb(const char *name, size_t len, void *arg)
{
	struct api_pages_first *f = arg;

	if (f->n++ == 0) {
		if (f->first_page) {
			f->first = malloc(len + 1);
			if (!f->first)
				return -ENOMEM;
			memcpy(f->first, name, len);
			f->first_len = len;
		} else if (f->first && len == f->first_len &&
			   !memcmp(name, f->first, len)) {
			f->repeated = true;
			return -EIO;
		}
	}
	return f->cb(name, len, f->arg);
}

/* Decodes page i once it is in.  *last: no page after it is wanted. */
static int api_pages_decode(struct api_pages *p, size_t i,
			    struct api_pages_first *f, bool *last)
{
	struct api_page *pg = &p->pages[i];
	char path[API_PATH_MAX], what[API_PATH_MAX + 16];
	size_t count = 0;
	int rc;

	pthread_mutex_lock(&p->lock);
	p->decoding = i;
	pthread_cond_broadcast(&p->cond);
	while (!pg->done)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
	if (pg->rc)
		return pg->rc;
	rc = api_page_path(p, i, path, sizeof(path));
	if (rc)
		return rc;
	f->n = 0;
	f->first_page = i == 0;
	rc = api_names_from(api_what(what, sizeof(what), "GET", path),
			    pg->resp.body, pg->resp.len, api_pages_name_cb, f,
			    &count);
	http_response_dispose(&pg->resp);
	if (f->repeated) {
		log_warn("GET %s: the server repeats the first page "
			 "(pageOffset ignored)",
			 path);
		return -EIO;
	}
	/* a short page ends the names, whatever nSamples said */
	*last = count != p->page_size;
	return rc;
}

/* The pages from offset up to total (> offset + page_size), streams of them
 * in flight (at most API_PAGE_STREAMS_MAX), cb called in index order from
 * the caller's thread.  Same returns as api_get_mappings_to. */
static int api_pages_fetch(struct api *a, const char *ds, size_t offset,
			   size_t page_size, size_t total, unsigned streams,
			   api_name_cb cb, void *arg)
{
	struct api_pages p = {.a = a,
			      .ds = ds,
			      .offset = offset,
			      .page_size = page_size,
			      .window = streams};
	struct api_pages_first f = {.cb = cb, .arg = arg};
	pthread_t th[API_PAGE_STREAMS_MAX];
	unsigned nth = 0;
	bool last = false;
	int rc = 0;

	if (streams > API_PAGE_STREAMS_MAX)
		streams = p.window = API_PAGE_STREAMS_MAX;
	p.npages = (total - offset + page_size - 1) / page_size;
	p.pages = calloc(p.npages, sizeof(*p.pages));
	if (!p.pages)
		return -ENOMEM;
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	for (; nth < streams && nth < p.npages; nth++)
		if (pthread_create(&th[nth], NULL, api_pages_worker, &p))
			break;
	if (nth == 0)
		rc = -EAGAIN;
	for (size_t i = 0; !rc && !last && i < p.npages; i++)
		rc = api_pages_decode(&p, i, &f, &last);
	pthread_mutex_lock(&p.lock);
	p.stop = true;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	for (unsigned t = 0; t < nth; t++)
		pthread_join(th[t], NULL);
	for (size_t i = 0; i < p.npages; i++)
		http_response_dispose(&p.pages[i].resp);
	free(p.pages);
	free(f.first);
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
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
int api_get_mappings_to(struct api *a, const char *ds, size_t offset,
			size_t page_size, size_t total, api_name_cb cb,
			void *arg)
{
	struct http_response resp = {0};
	struct api_map_page m = {.cb = cb, .arg = arg, .first_page = 1};
	char path[API_PATH_MAX], what[API_PATH_MAX + 16];
	size_t count = 0;
	unsigned streams;
	int rc;

	if (!api_id_valid(ds) || !cb)
		return -EINVAL;
	if (page_size == 0)
		page_size = API_MAPPINGS_PAGE;
	streams = api_page_streams(a);
	/* more than one page known to come: fetch them side by side */
	if (streams > 1 && total > offset && total - offset > page_size)
		return api_pages_fetch(a, ds, offset, page_size, total, streams,
				       cb, arg);
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
				 "(pageOffset ignored)",
				 path);
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

/* Read URLs.  An object keeps the URL its fetches use until it nears
 * expiry.  Where one comes from: the book, filled ahead of the opens by
 * pages of a tag's filenamesAndReadUrls export (many files' URLs for one
 * request, while the files before them download), else a readurl request
 * of its own, which is also the fallback whenever a page fails, a name in
 * it is not the one expected, or the mount shows thumbnails (the export
 * has full images only).  API-NOTES calls the export unreliable: a page
 * is only ever believed file by file, by name.
 *
 * The book is a hash of samples (by dataset and sample id) to a URL, or
 * to a page on its way (pending): a fetch that needs a pending URL waits
 * for the page rather than asking for it again.  Entries go when taken,
 * when expired, and never exceed CONTENT_URL_BOOK_MAX. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blob.h"
#include "content_internal.h"
#include "log.h"

/* After this many pages in a row failed, the book rests (readurl only)
 * for CONTENT_URL_REST_S: a server without the route costs one failed
 * request now and then, not one per page. */
#define URL_FAILS_REST 3
#define CONTENT_URL_REST_S 60

struct urlent {
	struct urlent *next;
	char ds_id[API_ID_LEN + 1];
	char sample_id[API_ID_LEN + 1];
	char *url; /* NULL while pending */
	int64_t expiry;
	bool pending;
};

/* A page to ask for: keys[i] is the file at ranks[i] of tag's export. */
struct urljob {
	struct urljob *next;
	char ds_id[API_ID_LEN + 1];
	char tag_id[API_ID_LEN + 1];
	size_t n;
	struct content_key *keys;
	char **names;
	uint32_t *ranks;
};

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

/* When url stops being usable, from its query or the default. */
static int64_t url_expiry_of(const char *url)
{
	int64_t e = blob_url_expiry(url);

	if (!e)
		return wall_s() + CONTENT_URL_DEFAULT_TTL_S;
	/* a short-lived URL: use it at once rather than never */
	if (e - CONTENT_URL_MARGIN_S <= wall_s())
		return wall_s() + CONTENT_URL_MARGIN_S + 1;
	return e;
}

static bool fresh(int64_t expiry)
{
	return expiry - CONTENT_URL_MARGIN_S > wall_s();
}

static size_t book_hash(const struct content *c, const char *ds,
			const char *sample)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = sample; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (const char *p = ds; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return (size_t)(h % c->url_nbuckets);
}

/* The entry's link in its chain, or the chain's end (lock held). */
static struct urlent **book_slot(struct content *c, const char *ds,
				 const char *sample)
{
	struct urlent **e = &c->url_book[book_hash(c, ds, sample)];

	while (*e &&
	       (strcmp((*e)->sample_id, sample) || strcmp((*e)->ds_id, ds)))
		e = &(*e)->next;
	return e;
}

static void book_unlink(struct content *c, struct urlent **slot)
{
	struct urlent *e = *slot;

	*slot = e->next;
	free(e->url);
	free(e);
	c->url_count--;
}

/* Expired URLs out, to make room (lock held). */
static void book_sweep(struct content *c)
{
	for (size_t b = 0; b < c->url_nbuckets; b++) {
		struct urlent **e = &c->url_book[b];

		while (*e)
			if (!(*e)->pending && !fresh((*e)->expiry))
				book_unlink(c, e);
			else
				e = &(*e)->next;
	}
}

int content_urls_init(struct content *c)
{
	c->url_nbuckets = 1024;
	c->url_book = calloc(c->url_nbuckets, sizeof(*c->url_book));
	return c->url_book ? 0 : -ENOMEM;
}

static void urljob_free(struct urljob *j)
{
	if (!j)
		return;
	for (size_t i = 0; j->names && i < j->n; i++)
		free(j->names[i]);
	free(j->names);
	free(j->keys);
	free(j->ranks);
	free(j);
}

void content_urls_fini(struct content *c)
{
	struct urljob *j;

	while ((j = c->url_head)) {
		c->url_head = j->next;
		urljob_free(j);
	}
	c->url_tail = NULL;
	for (size_t b = 0; c->url_book && b < c->url_nbuckets; b++)
		while (c->url_book[b])
			book_unlink(c, &c->url_book[b]);
	free(c->url_book);
	c->url_book = NULL;
}

/* Whether key's object has a URL good for a while, or the book has one
 * or is getting one (lock held). */
static bool url_known(struct content *c, const struct content_key *k)
{
	struct cobj *o = content_obj_peek(c, k);
	struct urlent *e;

	/* a file in the cache needs none */
	if (o && (o->complete || (o->url && fresh(o->url_expiry))))
		return true;
	e = *book_slot(c, k->ds_id, k->sample_id);
	return e && (e->pending || fresh(e->expiry));
}

void content_urls_ahead(struct content *c, const char *tag_id,
			const struct content_key *keys,
			const char *const *names, const uint32_t *ranks,
			size_t n)
{
	struct urljob *j = NULL;
	size_t first = n, last, k;

	if (!n || !c->cfg.api || c->cfg.thumbnails)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->stopping || c->url_rest_until > wall_s())
		goto out;
	/* from the first file that has no URL on its way */
	for (size_t i = 0; i < n && first == n; i++)
		if (!url_known(c, &keys[i]))
			first = i;
	if (first == n)
		goto out;
	/* a page spans the ranks from first's; a folder's files are spread
	 * over its tag: at most 4 entries of the page per file of ours */
	for (last = first;
	     last + 1 < n && last + 1 - first < CONTENT_URL_PAGE_MAX &&
	     ranks[last + 1] > ranks[last] &&
	     ranks[last + 1] - ranks[first] < 4 * n;
	     last++)
		;
	if (c->url_count + (last - first + 1) > CONTENT_URL_BOOK_MAX)
		book_sweep(c);
	if (c->url_count + (last - first + 1) > CONTENT_URL_BOOK_MAX)
		goto out;
	j = calloc(1, sizeof(*j));
	if (j) {
		j->keys = calloc(last - first + 1, sizeof(*j->keys));
		j->names = calloc(last - first + 1, sizeof(*j->names));
		j->ranks = calloc(last - first + 1, sizeof(*j->ranks));
	}
	if (!j || !j->keys || !j->names || !j->ranks)
		goto out;
	memcpy(j->ds_id, keys[first].ds_id, sizeof(j->ds_id));
	snprintf(j->tag_id, sizeof(j->tag_id), "%s", tag_id);
	for (k = first; k <= last; k++) {
		struct urlent **slot;
		struct urlent *e;

		if (url_known(c, &keys[k]))
			continue;
		slot = book_slot(c, keys[k].ds_id, keys[k].sample_id);
		if (*slot) /* an expired one */
			book_unlink(c, slot);
		e = calloc(1, sizeof(*e));
		j->names[j->n] = strdup(names[k]);
		if (!e || !j->names[j->n]) {
			free(e);
			free(j->names[j->n]);
			j->names[j->n] = NULL;
			break;
		}
		memcpy(e->ds_id, keys[k].ds_id, sizeof(e->ds_id));
		memcpy(e->sample_id, keys[k].sample_id, sizeof(e->sample_id));
		e->pending = true;
		e->next = c->url_book[book_hash(c, e->ds_id, e->sample_id)];
		c->url_book[book_hash(c, e->ds_id, e->sample_id)] = e;
		c->url_count++;
		j->keys[j->n] = keys[k];
		j->ranks[j->n] = ranks[k];
		j->n++;
	}
	if (!j->n)
		goto out;
	j->next = NULL;
	if (c->url_tail)
		c->url_tail->next = j;
	else
		c->url_head = j;
	c->url_tail = j;
	j = NULL;
	pthread_cond_signal(&c->work);
out:
	pthread_mutex_unlock(&c->lock);
	urljob_free(j);
}

/* The page's answer for j's files (lock held): each file whose name is
 * where its rank says gets its URL; the others are no longer pending and
 * go to readurl. */
static void urljob_settle(struct content *c, struct urljob *j,
			  const struct api_read_url *v, size_t nv, int ret)
{
	size_t used = 0;

	for (size_t i = 0; i < j->n; i++) {
		struct urlent **slot =
		    book_slot(c, j->keys[i].ds_id, j->keys[i].sample_id);
		size_t at = j->ranks[i] - j->ranks[0];

		if (!*slot || !(*slot)->pending)
			continue;
		if (!ret && at < nv && !strcmp(v[at].name, j->names[i]) &&
		    ((*slot)->url = strdup(v[at].url))) {
			(*slot)->pending = false;
			(*slot)->expiry = url_expiry_of((*slot)->url);
			used++;
		} else {
			book_unlink(c, slot);
		}
	}
	c->st.url_pages++;
	c->st.url_paged += used;
	if (ret || (j->n && !used)) {
		if (++c->url_fails >= URL_FAILS_REST) {
			c->url_rest_until = wall_s() + CONTENT_URL_REST_S;
			log_warn("read URLs by page: %d pages in a row failed "
				 "(last: %s); one readurl per file for %d s",
				 c->url_fails,
				 ret ? strerror(-ret) : "names not as listed",
				 CONTENT_URL_REST_S);
			c->url_fails = 0;
		}
	} else {
		c->url_fails = 0;
	}
	pthread_cond_broadcast(&c->cond);
}

bool content_urls_run(struct content *c)
{
	struct urljob *j = c->url_head;
	struct api_read_url *v = NULL;
	size_t nv = 0;
	int ret;

	if (!j)
		return false;
	c->url_head = j->next;
	if (!c->url_head)
		c->url_tail = NULL;
	pthread_mutex_unlock(&c->lock);
	ret = api_tag_read_urls(c->cfg.api, j->ds_id, j->tag_id, j->ranks[0],
				j->ranks[j->n - 1] - j->ranks[0] + 1, &v, &nv);
	pthread_mutex_lock(&c->lock);
	urljob_settle(c, j, v, nv, ret);
	api_read_urls_free(v, nv);
	urljob_free(j);
	return true;
}

/* A URL of the book for o, taken out of it, waiting for its page if it
 * is on its way; NULL when the book has none (lock held, dropped while
 * waiting).  A page still queued is fetched here: were every worker
 * waiting for pages, none would be left to fetch them. */
static char *book_take(struct content *c, struct cobj *o, int64_t *expiry)
{
	struct urlent **slot;
	char *url = NULL;

	for (;;) {
		slot = book_slot(c, o->k.ds_id, o->k.sample_id);
		if (!*slot || !(*slot)->pending)
			break;
		if (!content_urls_run(c))
			pthread_cond_wait(&c->cond, &c->lock);
	}
	if (!*slot)
		return NULL;
	if (fresh((*slot)->expiry)) {
		url = (*slot)->url;
		(*slot)->url = NULL;
		*expiry = (*slot)->expiry;
	}
	book_unlink(c, slot);
	return url;
}

int content_obj_url(struct content *c, struct cobj *o, const char *stale,
		    char **url)
{
	char *got = NULL;
	int64_t expiry = 0;
	int ret;

	*url = NULL;
	while (o->url_busy)
		pthread_cond_wait(&c->cond, &c->lock);
	if (o->url && stale && !strcmp(o->url, stale)) {
		free(o->url);
		o->url = NULL;
	}
	if (o->url && fresh(o->url_expiry)) {
		*url = strdup(o->url);
		return *url ? 0 : -ENOMEM;
	}
	o->url_busy = true;
	/* a URL that just answered expired is not asked of the book again */
	if (!stale)
		got = book_take(c, o, &expiry);
	if (!got) {
		c->st.urls++;
		pthread_mutex_unlock(&c->lock);
		ret = api_get_readurl(c->cfg.api, o->k.ds_id, o->k.sample_id,
				      c->cfg.thumbnails, &got);
		pthread_mutex_lock(&c->lock);
		if (!ret)
			expiry = url_expiry_of(got);
	} else {
		ret = 0;
	}
	o->url_busy = false;
	pthread_cond_broadcast(&c->cond);
	if (ret)
		return ret;
	free(o->url);
	o->url = got;
	o->url_expiry = expiry;
	*url = strdup(got);
	return *url ? 0 : -ENOMEM;
}

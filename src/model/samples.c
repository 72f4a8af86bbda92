/* The sample listing, a page at a time (samples.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_ctx.h"
#include "log.h"
#include "samples.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void samples_hex_id(const struct sample_info *i, char out[API_ID_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t k = 0; k < sizeof(i->id); k++) {
		out[2 * k] = digits[i->id[k] >> 4];
		out[2 * k + 1] = digits[i->id[k] & 15];
	}
	out[API_ID_LEN] = '\0';
}

struct page_job {
	struct fs *fs;
	struct dataset *d;
	struct sample_page *p;
	uint32_t first; /* sample index of the page's first entry */
	char ds_id[API_ID_LEN + 1];
	struct api_sample *v;
	size_t n;
};

/* Samples never change their index, and their info changes only when the
 * image is replaced: a page once loaded stays. */
static bool page_fresh(const struct cache *c, const struct load *l, void *arg)
{
	(void)c, (void)arg;
	return l->good_at > 0;
}

static int page_prepare(void *arg)
{
	struct page_job *j = arg;

	memcpy(j->ds_id, j->d->id, sizeof(j->ds_id));
	return 0;
}

static int page_fetch(void *arg)
{
	struct page_job *j = arg;

	return api_list_samples(j->fs->api, j->ds_id, j->first, SAMPLES_PAGE,
				&j->v, &j->n);
}

static int page_install(void *arg, int err)
{
	struct page_job *j = arg;
	struct sample_page *p = j->p;

	if (!err && !p->v) {
		p->v = calloc(SAMPLES_PAGE, sizeof(*p->v));
		if (!p->v)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < j->n; i++) {
		struct sample_info *s = &p->v[i];
		const struct api_sample *a = &j->v[i];

		for (size_t k = 0; k < sizeof(s->id); k++)
			s->id[k] = (uint8_t)(hexval(a->id[2 * k]) << 4 |
					     hexval(a->id[2 * k + 1]));
		/* a size an open learnt wins over the listing's */
		if (i >= p->n || s->size == SAMPLES_SIZE_UNKNOWN)
			s->size = a->size >= 0 && a->size < UINT32_MAX &&
					  !j->d->spages.ignore_sizes
				      ? (uint32_t)a->size
				      : SAMPLES_SIZE_UNKNOWN;
		s->modified_ms = a->last_modified_at;
	}
	if (!err && j->n > p->n)
		p->n = (uint32_t)j->n;
	free(j->v);
	return err;
}

static const struct cache_loader page_loader = {
    .fresh = page_fresh,
    .usable = page_fresh,
    .prepare = page_prepare,
    .fetch = page_fetch,
    .install = page_install,
};

static struct sample_page *page_at(struct sample_pages *sp, size_t k)
{
	if (k >= sp->npages) {
		size_t n = k + 1 > 2 * sp->npages ? k + 1 : 2 * sp->npages;
		struct sample_page **v = realloc(sp->pages, n * sizeof(*v));

		if (!v)
			return NULL;
		memset(v + sp->npages, 0, (n - sp->npages) * sizeof(*v));
		sp->pages = v;
		sp->npages = n;
	}
	if (!sp->pages[k])
		sp->pages[k] = calloc(1, sizeof(*sp->pages[k]));
	return sp->pages[k];
}

int samples_ensure(struct fs *fs, struct dataset *d, uint32_t first,
		   uint32_t last)
{
	int ret = 0;

	if (!fs->api)
		return -ENOTCONN; /* a model without a server (unit tests) */
	for (uint32_t k = first / SAMPLES_PAGE; k <= last / SAMPLES_PAGE; k++) {
		struct sample_page *p = page_at(&d->spages, k);
		struct page_job j = {
		    .fs = fs, .d = d, .p = p, .first = k * SAMPLES_PAGE};
		int r;

		if (!p)
			return -ENOMEM;
		if (p->load.good_at > 0 &&
		    (p->n == SAMPLES_PAGE || last < j.first + p->n))
			continue;
		/* a short page: samples were added since; read it again */
		if (p->load.good_at > 0)
			cache_expire(&p->load), p->load.good_at = 0;
		r = cache_load(&fs->cache, &p->load, &page_loader, &j);
		if (r && !ret)
			ret = r;
	}
	return ret;
}

int samples_adopt_page(struct dataset *d, uint32_t k, struct sample_info *v,
		       uint32_t n)
{
	struct sample_page *p = page_at(&d->spages, k);

	if (!p)
		return -ENOMEM;
	free(p->v);
	p->v = v;
	p->n = n;
	p->load.fetched_at = p->load.good_at = cache_now();
	return 0;
}

bool samples_page_wanted(const struct dataset *d, uint32_t k)
{
	const struct sample_pages *sp = &d->spages;
	const struct sample_page *p = k < sp->npages ? sp->pages[k] : NULL;

	return !p || (!p->load.busy && !p->load.good_at);
}

struct page_thread {
	pthread_t th;
	struct fs *fs;
	struct dataset *d;
	uint32_t page;
	bool started;
};

static void *page_thread_run(void *arg)
{
	struct page_thread *t = arg;

	pthread_mutex_lock(&t->fs->lock);
	/* a failed page is asked for again by the batch that needs it */
	(void)samples_ensure(t->fs, t->d, t->page * SAMPLES_PAGE,
			     t->page * SAMPLES_PAGE);
	pthread_mutex_unlock(&t->fs->lock);
	return NULL;
}

void samples_load_pages(struct fs *fs, struct dataset *d, const uint32_t *page,
			unsigned n)
{
	struct page_thread t[FS_DIR_AHEAD_PAGES];

	if (n > FS_DIR_AHEAD_PAGES)
		n = FS_DIR_AHEAD_PAGES;
	for (unsigned i = 0; i < n; i++) {
		t[i] = (struct page_thread){.fs = fs, .d = d, .page = page[i]};
		/* the first on this thread, and any a thread cannot be had for
		 */
		t[i].started = i > 0 && !pthread_create(&t[i].th, NULL,
							page_thread_run, &t[i]);
	}
	for (unsigned i = 0; i < n; i++)
		if (!t[i].started)
			page_thread_run(&t[i]);
	for (unsigned i = 0; i < n; i++)
		if (t[i].started)
			pthread_join(t[i].th, NULL);
}

bool samples_get(const struct dataset *d, uint32_t s, struct sample_info *out)
{
	const struct sample_pages *sp = &d->spages;
	size_t k = s / SAMPLES_PAGE;
	const struct sample_page *p = k < sp->npages ? sp->pages[k] : NULL;

	if (!p || !p->v || s % SAMPLES_PAGE >= p->n)
		return false;
	*out = p->v[s % SAMPLES_PAGE];
	return true;
}

bool samples_learn_size(struct dataset *d, uint32_t s, uint64_t size)
{
	struct sample_pages *sp = &d->spages;
	size_t k = s / SAMPLES_PAGE;
	struct sample_page *p = k < sp->npages ? sp->pages[k] : NULL;

	if (!p || !p->v || s % SAMPLES_PAGE >= p->n)
		return false;
	p->v[s % SAMPLES_PAGE].size =
	    size < UINT32_MAX ? (uint32_t)size : SAMPLES_SIZE_UNKNOWN;
	return true;
}

void samples_free(struct sample_pages *sp)
{
	for (size_t k = 0; k < sp->npages; k++) {
		if (sp->pages[k])
			free(sp->pages[k]->v);
		free(sp->pages[k]);
	}
	free(sp->pages);
	sp->pages = NULL;
	sp->npages = 0;
}

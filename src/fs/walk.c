/* Directory walks (cp -r, rsync, tar, a data loader): the files of a tag
 * folder's listing opened in its order; and shuffled readers (a data
 * loader with shuffle=True): its files opened out of order, WALK_JUMPS
 * times in a row.  Only notices them and names the files to fetch (those
 * after a walk's file; a shuffled listing's from its cursor on, once its
 * tag fits the content cache); nodes/sample.c has them fetched. */
#include <string.h>

#include "fs_ctx.h"
#include "index.h"
#include "inode.h"
#include "log.h"
#include "samples.h"
#include "walk.h"

void walk_note(struct fs_walks *ws, const struct inode_ref *dir)
{
	struct fs_walk *w = NULL;

	for (size_t i = 0; i < FS_WALKS; i++)
		if (ws->w[i].used && ws->w[i].ds == dir->ds &&
		    ws->w[i].tag == dir->tag && ws->w[i].folder == dir->folder)
			w = &ws->w[i];
	if (!w) {
		w = &ws->w[ws->next++ % FS_WALKS];
		memset(w, 0, sizeof(*w));
		w->cursor = UINT32_MAX;
		w->url_last = w->url_due = UINT32_MAX;
	}
	w->used = true;
	w->ds = dir->ds;
	w->tag = dir->tag;
	w->folder = dir->folder;
	w->last = UINT32_MAX;
}

/* Files fetched after the first open of a listing's first file: a copy
 * of the folder, or someone reading one file; the second open in order
 * says which. */
#define WALK_FIRST 32

/* Files of a listing a walk in order may step over (walked_to). */
#define WALK_SLACK 3

/* A folder's samples in listing order: v[0, n), or, where the index keeps
 * no list (the root of a flat dataset, index_folder_all), every sample id
 * in order, a hidden one (not in the folder) included. */
struct walk_list {
	const struct name_index *idx;
	const uint32_t *v; /* NULL: position k is sample k */
	size_t n;
	uint32_t folder;
};

static void walk_list_of(const struct name_index *idx, uint32_t folder,
			 struct walk_list *l)
{
	l->idx = idx;
	l->folder = folder;
	if (index_folder_all(idx, folder)) {
		l->v = NULL;
		l->n = index_count(idx);
	} else {
		l->v = index_folder_samples(idx, folder, &l->n);
	}
}

/* The sample at position k, false when it is not in the folder. */
static bool walk_at(const struct walk_list *l, size_t k, uint32_t *s)
{
	if (l->v) {
		*s = l->v[k];
		return true;
	}
	*s = (uint32_t)k;
	return index_parent(l->idx, *s) == l->folder;
}

/* The first position holding a sample after s. */
static size_t walk_after(const struct walk_list *l, uint32_t s)
{
	size_t lo = 0, hi = l->n;

	if (!l->v)
		return (size_t)s + 1 < l->n ? (size_t)s + 1 : l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid] <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The next position from k holding a sample of t in the folder, or l->n.
 * Where position is sample id the mask finds it at once, so a small tag
 * of a big flat dataset is not scanned sample by sample. */
static size_t walk_next_in(const struct walk_list *l, const struct tag *t,
			   size_t k, uint32_t *s)
{
	for (; k < l->n; k++) {
		if (!l->v) {
			k = bitmask_next(&t->mask, k);
			if (k >= l->n)
				break;
		}
		if (walk_at(l, k, s) && bitmask_test(&t->mask, *s))
			return k;
	}
	return l->n;
}

/* Whether the walk came to s from prev in order: fewer than WALK_SLACK
 * files of the listing between them (a file it skipped, one it failed to
 * read, allowed); anything else is someone reading here and there. */
static bool walked_to(const struct tag *t, const struct walk_list *l,
		      uint32_t prev, uint32_t s)
{
	unsigned seen = 0;
	uint32_t x;
	size_t k = walk_next_in(l, t, walk_after(l, prev), &x);

	for (; k < l->n && x < s; k = walk_next_in(l, t, k + 1, &x))
		if (++seen >= WALK_SLACK)
			return false;
	return true;
}

/* ---- shuffled readers ---- */

/* Opens out of a listing's order in a row that make a shuffled reader: a
 * walk's own skips (WALK_SLACK) and a second pass are fewer. */
#define WALK_JUMPS 3

/* t's bytes, those the listing has not sized counted at the mean of the
 * rest: ample to tell whether it fits the cache. */
static uint64_t tag_bytes(const struct dataset *d, const struct tag *t)
{
	uint64_t known = 0, nknown = 0, n = 0;
	uint32_t count = index_count(d->index);
	struct sample_info info;

	for (size_t s = bitmask_next(&t->mask, 0); s < count;
	     s = bitmask_next(&t->mask, s + 1)) {
		n++;
		if (samples_get(d, (uint32_t)s, &info) &&
		    info.size != SAMPLES_SIZE_UNKNOWN) {
			known += info.size;
			nknown++;
		}
	}
	return nknown ? known + (n - nknown) * (known / nknown) : 0;
}

/* A listing just found read out of order: its tag is fetched in the
 * background if it fits the cache, and said once if not. */
static void became_shuffled(struct fs_walks *ws, struct fs_walk *w,
			    const struct dataset *d, struct tag *t)
{
	uint64_t bytes = tag_bytes(d, t);

	w->shuffled = true;
	ws->shuffled++;
	if (bytes <= ws->cache_bytes && ws->cache_bytes)
		return;
	ws->too_big++;
	if (!t->too_big)
		log_warn("tag %s: read in shuffled order, and its %.1f MiB are "
			 "more than the content cache (-o content_cache_mb="
			 "%.0f): every epoch fetches it again; raise "
			 "content_cache_mb to fetch it ahead",
			 t->name, (double)bytes / (1024.0 * 1024.0),
			 (double)ws->cache_bytes / (1024.0 * 1024.0));
	t->too_big = true;
}

/* The next samples of a shuffled listing after its cursor, for the
 * content cache. */
static size_t shuffled_next(const struct fs_walk *w, const struct dataset *d,
			    const struct tag *t, const struct walk_list *l,
			    uint32_t *next, size_t max)
{
	struct sample_info info;
	size_t k = 0, at;
	uint32_t x;

	if (t->too_big)
		return 0;
	at = walk_next_in(
	    l, t, w->cursor == UINT32_MAX ? 0 : walk_after(l, w->cursor), &x);
	for (; at < l->n && k < max; at = walk_next_in(l, t, at + 1, &x)) {
		if (!samples_get(d, x, &info))
			break;
		next[k++] = x;
	}
	return k;
}

/* The files after s in the listing, for a walk that came to s in order. */
static size_t walked_next(const struct dataset *d, const struct tag *t,
			  const struct walk_list *l, uint32_t s, uint32_t *next,
			  size_t max)
{
	struct sample_info info;
	size_t k = 0, at;
	uint32_t x;

	for (at = walk_next_in(l, t, walk_after(l, s), &x);
	     at < l->n && k < max; at = walk_next_in(l, t, at + 1, &x)) {
		if (!samples_get(d, x, &info))
			break;
		next[k++] = x;
	}
	return k;
}

/* The walk of the listing that holds s, with its tag. */
static struct fs_walk *walk_of(struct fs_walks *ws, struct dataset *d,
			       uint32_t s, struct tag **t)
{
	uint32_t parent = index_parent(d->index, s);

	for (size_t i = 0; i < FS_WALKS; i++) {
		struct fs_walk *w = &ws->w[i];

		*t = w->used && w->ds == d->slot && w->folder == parent &&
			     w->tag < d->ntags
			 ? d->tags[w->tag]
			 : NULL;
		if (*t && (*t)->live && bitmask_test(&(*t)->mask, s))
			return w;
	}
	return NULL;
}

size_t walk_next(struct fs_walks *ws, struct dataset *d, uint32_t s,
		 uint32_t *next, size_t max, bool *shuffled, bool *first)
{
	struct walk_list l;
	struct fs_walk *w;
	struct tag *t;
	uint32_t prev;

	*shuffled = *first = false;
	if (!d->index || s >= index_count(d->index) ||
	    !(w = walk_of(ws, d, s, &t)))
		return 0;
	prev = w->last;
	w->last = s;
	walk_list_of(d->index, index_parent(d->index, s), &l);
	if (prev != UINT32_MAX && prev < s && walked_to(t, &l, prev, s))
		w->jumps = 0;
	else if (prev != UINT32_MAX && ++w->jumps >= WALK_JUMPS && !w->shuffled)
		became_shuffled(ws, w, d, t);
	if (w->shuffled) {
		*shuffled = true;
		return shuffled_next(w, d, t, &l, next, max);
	}
	if (prev == UINT32_MAX) {
		uint32_t x0;

		/* a walk from the listing's first file (cp -r) is one from
		 * its first open */
		*first = walk_next_in(&l, t, 0, &x0) < l.n && x0 == s;
		if (!*first)
			return 0;
		return walked_next(d, t, &l, s, next,
				   max < WALK_FIRST ? max : WALK_FIRST);
	}
	return w->jumps || prev >= s ? 0 : walked_next(d, t, &l, s, next, max);
}

void walk_advance(struct fs_walks *ws, struct dataset *d, uint32_t last)
{
	struct tag *t;
	struct fs_walk *w = d->index && last < index_count(d->index)
				? walk_of(ws, d, last, &t)
				: NULL;

	if (w && w->shuffled && (w->cursor == UINT32_MAX || w->cursor < last))
		w->cursor = last;
}

/* ---- read URLs by page ---- */

size_t walk_urls(struct fs_walks *ws, struct dataset *d, const uint32_t *next,
		 size_t n, uint32_t *urls, size_t max, const struct tag **tag)
{
	struct walk_list l;
	struct fs_walk *w;
	struct tag *t;
	size_t k = 0, at;
	uint32_t x;
	bool cont;

	if (!n || !max || !d->index || next[0] >= index_count(d->index) ||
	    !(w = walk_of(ws, d, next[0], &t)))
		return 0;
	/* asked for already, and not half way through them yet */
	if (w->url_last != UINT32_MAX && next[0] <= w->url_last &&
	    next[n - 1] < w->url_due)
		return 0;
	walk_list_of(d->index, index_parent(d->index, next[0]), &l);
	/* on from the last page, or afresh from next[0] once past it */
	cont = w->url_last != UINT32_MAX && next[0] <= w->url_last;
	at = walk_next_in(&l, t,
			  cont ? walk_after(&l, w->url_last)
			       : walk_after(&l, next[0]) - 1,
			  &x);
	if (!cont && at < l.n && x != next[0])
		return 0; /* next[0] is not where the listing says */
	for (; at < l.n && k < max; at = walk_next_in(&l, t, at + 1, &x)) {
		urls[k] = x;
		k++;
	}
	if (!k)
		return 0;
	w->url_last = urls[k - 1];
	w->url_due = urls[k / 2];
	*tag = t;
	return k;
}

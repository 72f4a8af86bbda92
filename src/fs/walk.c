/* Directory walks (cp -r, rsync, tar, a data loader): the files of a tag
 * folder's listing opened in its order.  Only notices them and names the
 * files that come next; nodes/sample.c has those fetched ahead. */
#include <string.h>

#include "fs_ctx.h"
#include "index.h"
#include "inode.h"
#include "samples.h"
#include "walk.h"

void walk_note(struct fs_walks *ws, const struct inode_ref *dir)
{
	struct fs_walk *w = NULL;

	for (size_t i = 0; i < FS_WALKS; i++)
		if (ws->w[i].used && ws->w[i].ds == dir->ds &&
		    ws->w[i].tag == dir->tag && ws->w[i].folder == dir->folder)
			w = &ws->w[i];
	if (!w)
		w = &ws->w[ws->next++ % FS_WALKS];
	w->used = true;
	w->ds = dir->ds;
	w->tag = dir->tag;
	w->folder = dir->folder;
	w->last = UINT32_MAX;
}

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

size_t walk_next(struct fs_walks *ws, struct dataset *d, uint32_t s,
		 uint32_t *next, size_t max)
{
	struct walk_list l;
	uint32_t parent;
	size_t k = 0;

	if (!d->index || s >= index_count(d->index))
		return 0;
	parent = index_parent(d->index, s);
	for (size_t i = 0; i < FS_WALKS; i++) {
		struct fs_walk *w = &ws->w[i];
		struct tag *t = w->used && w->ds == d->slot &&
					w->folder == parent && w->tag < d->ntags
				    ? d->tags[w->tag]
				    : NULL;
		uint32_t prev, x;
		size_t at;

		if (!t || !t->live || !bitmask_test(&t->mask, s))
			continue;
		prev = w->last;
		w->last = s;
		if (prev == UINT32_MAX || prev >= s)
			return 0;
		walk_list_of(d->index, parent, &l);
		if (!walked_to(t, &l, prev, s))
			return 0;
		for (at = walk_next_in(&l, t, walk_after(&l, s), &x);
		     at < l.n && k < max;
		     at = walk_next_in(&l, t, at + 1, &x)) {
			struct sample_info info;

			if (!samples_get(d, x, &info))
				break;
			next[k++] = x;
		}
		return k;
	}
	return 0;
}

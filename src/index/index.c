/* A dataset's sample names in index order and the folder tree they imply.
 * Names live in a chunked store that never moves (index_store.c), so an
 * index_name pointer stays valid until index_free and there is no per-name
 * malloc.  Records follow each other in index order and one pointer per
 * INDEX_ANCHOR_EVERY samples finds them (a few records are skipped), so a
 * flat dataset costs per sample its record, an eighth of a pointer and one
 * hash slot (bench/RESULTS.md: 10 million samples in under 48 bytes each).
 * A parent array and the root folder's sample list exist only once a name
 * makes a folder: until then every visible sample is in the root.
 * Two open-addressing tables key children by (parent folder, component),
 * one for samples, one for folders; a full-name lookup walks the components
 * through them, so no third table keyed by the full name is needed. */
#include "index.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "index_internal.h"

/* The capacity an array of cap elements grows to so it holds need: half as
 * much again (at most a third wasted, few reallocs), at least min and need.
 * -ENOMEM when the bytes would overflow. */
static int index_grow_cap(size_t cap, size_t need, size_t min, size_t elem,
			  size_t *ncap)
{
	size_t c;

	if (cap < min)
		c = min;
	else if (cap > SIZE_MAX - cap / 2)
		c = SIZE_MAX;
	else
		c = cap + cap / 2;
	if (c < need)
		c = need;
	if (c > SIZE_MAX / elem)
		return -ENOMEM;
	*ncap = c;
	return 0;
}

/* Room for one more element; the only index_vec step that can fail. */
static int index_vec_reserve(struct name_index *idx, struct index_vec *v)
{
	size_t ncap;
	uint32_t *nv;

	if (v->cap ? v->n < v->cap : v->n == 0)
		return 0;
	if (index_grow_cap(v->cap, (size_t)v->n + 1, INDEX_VEC_MIN_CAP,
			   sizeof(uint32_t), &ncap))
		return -ENOMEM;
	if (ncap > UINT32_MAX)
		ncap = UINT32_MAX;
	if (ncap <= v->n)
		return -EOVERFLOW;
	nv = realloc(v->v, ncap * sizeof(uint32_t));
	if (!nv)
		return -ENOMEM;
	if (v->cap == 0)
		nv[0] = v->one;
	idx->vec_bytes += (ncap - v->cap) * sizeof(uint32_t);
	v->v = nv;
	v->cap = (uint32_t)ncap;
	return 0;
}

static void index_vec_push(struct index_vec *v, uint32_t x)
{
	if (v->cap == 0) {
		assert(v->n == 0);
		v->one = x;
		v->n = 1;
		return;
	}
	assert(v->n < v->cap);
	v->v[v->n++] = x;
}

/* Entries a table of cap slots takes. */
static size_t index_table_room(size_t cap)
{
	return cap / INDEX_TABLE_LOAD_DEN * INDEX_TABLE_LOAD_NUM;
}

/* Inserts a key known to be absent into a table with room reserved. */
static void index_table_put(struct index_table *t, uint64_t h, uint32_t id)
{
	size_t i = index_slot(h, t->cap);

	assert(t->cap && t->n < index_table_room(t->cap));
	while (t->tags[i])
		i = i + 1 == t->cap ? 0 : i + 1;
	t->tags[i] = index_tag(h);
	t->ids[i] = id;
	t->n++;
}

static uint64_t index_folder_hash(const struct name_index *idx, uint32_t id)
{
	const struct index_folder *d = &idx->folders[id];

	return index_hash(d->parent, d->name, d->name_len);
}

/* The record's last component, for a visible sample. */
static uint64_t index_record_hash(const char *rec, uint32_t parent)
{
	size_t len;
	const char *name = index_store_record(rec, &len);
	const char *slash = memrchr(name, '/', len);
	const char *base = slash ? slash + 1 : name;

	return index_hash(parent, base, len - (size_t)(base - name));
}

/* Re-inserts the visible samples walking the records in index order: names
 * are then read sequentially instead of one cache miss each. */
static void index_rehash_files(const struct name_index *idx,
			       struct index_table *nt)
{
	const char *rec = idx->count ? idx->anchors[0] : NULL;

	for (uint32_t i = 0; i < idx->count; i++) {
		uint32_t p = index_parent_of(idx, i);

		if (p != INDEX_NONE)
			index_table_put(nt, index_record_hash(rec, p), i);
		if (i + 1 < idx->count)
			rec = index_store_next(rec);
	}
}

/* Room for extra more entries; rehashes into a table at least twice as
 * large, or, when exact (index_reserve: the final count is known), just as
 * large as the load limit wants. */
static int index_table_reserve(struct name_index *idx, struct index_table *t,
			       bool dirs, size_t extra, bool exact)
{
	struct index_table nt = {NULL, NULL, 0, 0};
	size_t need, i;

	if (extra > SIZE_MAX - t->n)
		return -ENOMEM;
	need = t->n + extra;
	if (need <= index_table_room(t->cap))
		return 0;
	if (need > SIZE_MAX / 2 / sizeof(uint32_t))
		return -ENOMEM;
	nt.cap = need / INDEX_TABLE_LOAD_NUM * INDEX_TABLE_LOAD_DEN +
		 INDEX_TABLE_LOAD_DEN * 2;
	if (!exact && nt.cap < t->cap * 2)
		nt.cap = t->cap * 2;
	if (nt.cap < INDEX_TABLE_MIN_CAP)
		nt.cap = INDEX_TABLE_MIN_CAP;
	assert(need <= index_table_room(nt.cap));
	nt.tags = calloc(nt.cap, sizeof(uint8_t));
	nt.ids = malloc(nt.cap * sizeof(uint32_t));
	if (!nt.tags || !nt.ids) {
		free(nt.tags);
		free(nt.ids);
		return -ENOMEM;
	}
	/* Re-insert in id order rather than slot order.  The root folder
	 * is in no table; hidden samples neither. */
	if (dirs) {
		for (i = 1; i < idx->nfolders; i++)
			index_table_put(&nt,
					index_folder_hash(idx, (uint32_t)i),
					(uint32_t)i);
	} else {
		index_rehash_files(idx, &nt);
	}
	assert(nt.n == t->n);
	free(t->tags);
	free(t->ids);
	*t = nt;
	return 0;
}

static void index_table_dispose(struct index_table *t)
{
	free(t->tags);
	free(t->ids);
}

struct name_index *index_new(void)
{
	struct name_index *idx = calloc(1, sizeof(*idx));
	struct index_folder *root;

	if (!idx)
		return NULL;
	index_store_init(&idx->store);
	index_store_init(&idx->fstore);
	idx->folders = calloc(INDEX_VEC_MIN_CAP, sizeof(*idx->folders));
	if (!idx->folders || index_store_reserve(&idx->fstore, 1)) {
		index_free(idx);
		return NULL;
	}
	idx->folders_cap = INDEX_VEC_MIN_CAP;
	root = &idx->folders[INDEX_ROOT_FOLDER];
	root->name = index_store_take(&idx->fstore, 1);
	*(char *)root->name = '\0';
	root->name_len = 0;
	root->parent = INDEX_NONE;
	idx->nfolders = 1;
	return idx;
}

void index_free(struct name_index *idx)
{
	uint32_t f;

	if (!idx)
		return;
	index_store_dispose(&idx->store);
	index_store_dispose(&idx->fstore);
	for (f = 0; f < idx->nfolders; f++) {
		free(idx->folders[f].samples.v);
		free(idx->folders[f].subs.v);
	}
	free(idx->folders);
	free(idx->anchors);
	free(idx->parent);
	free(idx->flat_hidden);
	index_table_dispose(&idx->files);
	index_table_dispose(&idx->dirs);
	free(idx);
}

/* A component that can be a directory entry: not empty, not "." or "..",
 * within NAME_MAX.  NUL bytes are ruled out for the whole name earlier. */
static bool index_component_ok(const char *c, size_t n)
{
	if (n == 0 || n > INDEX_NAME_MAX)
		return false;
	if (c[0] == '.' && (n == 1 || (n == 2 && c[1] == '.')))
		return false;
	return true;
}

/* Decides whether name is visible and, if so, what it needs.  Visibility
 * depends only on the name and the tree of earlier visible samples, which
 * appends only ever extend; so a later name never hides an earlier one. */
static bool index_plan(const struct name_index *idx, const char *name,
		       size_t len, struct index_plan *plan)
{
	uint32_t cur = INDEX_ROOT_FOLDER;
	bool creating = false;
	size_t pos = 0;

	memset(plan, 0, sizeof(*plan));
	if (len == 0 || memchr(name, '\0', len))
		return false;
	for (;;) {
		const char *comp = name + pos;
		const char *slash = memchr(comp, '/', len - pos);
		size_t clen = slash ? (size_t)(slash - comp) : len - pos;
		uint64_t h;

		if (!index_component_ok(comp, clen))
			return false;
		if (!slash) {
			plan->folder = cur;
			plan->base = pos;
			if (creating)
				return true;
			h = index_hash(cur, comp, clen);
			/* A duplicate, or a file where a folder of the same
			 * path already is. */
			if (index_table_find(idx, &idx->dirs, true, h, cur,
					     comp, clen) != INDEX_NONE ||
			    index_table_find(idx, &idx->files, false, h, cur,
					     comp, clen) != INDEX_NONE)
				return false;
			plan->hash = h;
			return true;
		}
		if (creating) {
			plan->new_folders++;
			plan->new_bytes += clen + 1;
		} else {
			uint32_t f;

			h = index_hash(cur, comp, clen);
			f = index_table_find(idx, &idx->dirs, true, h, cur,
					     comp, clen);
			if (f != INDEX_NONE) {
				cur = f;
			} else if (index_table_find(idx, &idx->files, false, h,
						    cur, comp,
						    clen) != INDEX_NONE) {
				/* An earlier file has this folder's path: the
				 * later name is the one to hide. */
				return false;
			} else {
				creating = true;
				plan->new_at = pos;
				plan->new_folders = 1;
				plan->new_bytes = clen + 1;
			}
		}
		pos += clen + 1;
	}
}

/* Everything a visible append allocates, before anything changes. */
static int index_reserve_plan(struct name_index *idx,
			      const struct index_plan *plan)
{
	int rc;

	rc = index_table_reserve(idx, &idx->files, false, 1, false);
	if (rc)
		return rc;
	if (plan->new_folders == 0)
		return index_flat(idx)
			   ? 0
			   : index_vec_reserve(
				 idx, &idx->folders[plan->folder].samples);

	if (plan->new_folders > INDEX_MAX_FOLDERS - idx->nfolders)
		return -EOVERFLOW;
	if (idx->nfolders + plan->new_folders > idx->folders_cap) {
		size_t ncap;
		struct index_folder *nf;

		rc = index_grow_cap(idx->folders_cap,
				    idx->nfolders + plan->new_folders,
				    INDEX_VEC_MIN_CAP, sizeof(*nf), &ncap);
		if (rc)
			return rc;
		nf = realloc(idx->folders, ncap * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		idx->folders = nf;
		idx->folders_cap = ncap;
	}
	rc = index_table_reserve(idx, &idx->dirs, true, plan->new_folders,
				 false);
	if (rc)
		return rc;
	/* Only the existing folder gains a subfolder through its array; the
	 * new ones take their single child inline. */
	return index_vec_reserve(idx, &idx->folders[plan->folder].subs);
}

/* Creates the planned folders and files the sample; cannot fail. */
static void index_commit_plan(struct name_index *idx, uint32_t s,
			      const char *name, size_t len,
			      const struct index_plan *plan)
{
	uint32_t cur = plan->folder;
	uint64_t h = plan->hash;
	size_t pos = plan->new_at;
	size_t i;

	for (i = 0; i < plan->new_folders; i++) {
		const char *comp = name + pos;
		size_t clen =
		    (size_t)((const char *)memchr(comp, '/', len - pos) - comp);
		uint32_t f = idx->nfolders++;
		struct index_folder *d = &idx->folders[f];
		char *p = index_store_take(&idx->fstore, clen + 1);

		memcpy(p, comp, clen);
		p[clen] = '\0';
		memset(d, 0, sizeof(*d));
		d->name = p;
		d->name_len = (uint32_t)clen;
		d->parent = cur;
		index_vec_push(&idx->folders[cur].subs, f);
		index_table_put(&idx->dirs, index_hash(cur, comp, clen), f);
		cur = f;
		pos += clen + 1;
	}
	if (plan->new_folders)
		h = index_hash(cur, name + plan->base, len - plan->base);
	index_table_put(&idx->files, h, s);
	if (index_flat(idx))
		return;
	idx->parent[s] = cur;
	index_vec_push(&idx->folders[cur].samples, s);
}

/* The first name with a folder: from now on parents and the root's sample
 * list are kept.  -ENOMEM leaves the index flat and as it was. */
static int index_unflatten(struct name_index *idx)
{
	struct index_vec *root = &idx->folders[INDEX_ROOT_FOLDER].samples;
	size_t pcap = (size_t)idx->count + INDEX_ARRAY_MIN_CAP;
	size_t nvis = (size_t)idx->count - idx->hidden, h = 0;
	uint32_t *parent = malloc(pcap * sizeof(uint32_t));
	uint32_t *v = malloc((nvis + INDEX_VEC_MIN_CAP) * sizeof(uint32_t));

	if (!parent || !v || nvis + INDEX_VEC_MIN_CAP > UINT32_MAX) {
		free(parent);
		free(v);
		return -ENOMEM;
	}
	for (uint32_t s = 0, n = 0; s < idx->count; s++) {
		if (h < idx->hidden && idx->flat_hidden[h] == s) {
			parent[s] = INDEX_NONE;
			h++;
			continue;
		}
		parent[s] = INDEX_ROOT_FOLDER;
		v[n++] = s;
	}
	free(root->v);
	root->v = v;
	root->n = (uint32_t)nvis;
	root->cap = (uint32_t)(nvis + INDEX_VEC_MIN_CAP);
	idx->vec_bytes += (size_t)root->cap * sizeof(uint32_t);
	idx->parent = parent;
	idx->parent_cap = pcap;
	free(idx->flat_hidden);
	idx->flat_hidden = NULL;
	idx->flat_hidden_cap = 0;
	return 0;
}

/* Room to note one more hidden sample while flat. */
static int index_hidden_reserve(struct name_index *idx)
{
	size_t ncap;
	uint32_t *nv;

	if (!index_flat(idx) || idx->hidden < idx->flat_hidden_cap)
		return 0;
	if (index_grow_cap(idx->flat_hidden_cap, (size_t)idx->hidden + 1,
			   INDEX_VEC_MIN_CAP, sizeof(uint32_t), &ncap))
		return -ENOMEM;
	nv = realloc(idx->flat_hidden, ncap * sizeof(uint32_t));
	if (!nv)
		return -ENOMEM;
	idx->flat_hidden = nv;
	idx->flat_hidden_cap = ncap;
	return 0;
}

/* Makes anchors (and parent, unless flat) hold need samples: exactly need
 * when exact (index_reserve is told the final count), else grown by half. */
static int index_samples_reserve(struct name_index *idx, size_t need,
				 bool exact)
{
	size_t ncap, na = (need + INDEX_ANCHOR_EVERY - 1) / INDEX_ANCHOR_EVERY;
	int rc;

	if (na > idx->anchors_cap) {
		const char **nn;

		ncap = na;
		if (!exact) {
			rc = index_grow_cap(idx->anchors_cap, na,
					    INDEX_ARRAY_MIN_CAP, sizeof(*nn),
					    &ncap);
			if (rc)
				return rc;
		}
		nn = realloc(idx->anchors, ncap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		idx->anchors = nn;
		idx->anchors_cap = ncap;
	}
	if (!index_flat(idx) && need > idx->parent_cap) {
		uint32_t *np;

		ncap = need;
		if (!exact) {
			rc = index_grow_cap(idx->parent_cap, need,
					    INDEX_ARRAY_MIN_CAP, sizeof(*np),
					    &ncap);
			if (rc)
				return rc;
		}
		np = realloc(idx->parent, ncap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		idx->parent = np;
		idx->parent_cap = ncap;
	}
	return 0;
}

int index_reserve(struct name_index *idx, uint32_t more)
{
	size_t need = (size_t)idx->count + more;
	int rc;

	if (need > INDEX_MAX_SAMPLES)
		return -EOVERFLOW;
	rc = index_samples_reserve(idx, need, true);
	if (rc)
		return rc;
	return index_table_reserve(idx, &idx->files, false, more, true);
}

void index_prefetch(const struct name_index *idx, const char *name, size_t len)
{
	const struct index_table *t = &idx->files;
	size_t i;

	if (!t->cap || !len || memchr(name, '/', len))
		return;
	i = index_slot(index_hash(INDEX_ROOT_FOLDER, name, len), t->cap);
	__builtin_prefetch(&t->tags[i], 1);
	__builtin_prefetch(&t->ids[i], 1);
}

int index_append(struct name_index *idx, const char *name, size_t len)
{
	struct index_plan plan;
	uint32_t s = idx->count;
	bool visible;
	int rc;

	if (idx->count >= INDEX_MAX_SAMPLES)
		return -EOVERFLOW;
	if (len > SIZE_MAX / 2)
		return -ENOMEM;
	visible = index_plan(idx, name, len, &plan);
	if (visible && plan.new_folders && index_flat(idx)) {
		rc = index_unflatten(idx);
		if (rc)
			return rc;
	}
	rc = index_samples_reserve(idx, (size_t)s + 1, false);
	if (!rc)
		rc = visible ? index_reserve_plan(idx, &plan)
			     : index_hidden_reserve(idx);
	if (!rc)
		rc = index_store_reserve(&idx->fstore, plan.new_bytes);
	if (!rc)
		rc = index_store_reserve(&idx->store,
					 index_store_record_len(len));
	if (rc)
		return rc;

	/* Nothing below fails. */
	if (s % INDEX_ANCHOR_EVERY == 0)
		idx->anchors[s / INDEX_ANCHOR_EVERY] =
		    index_store_put_record(&idx->store, name, len);
	else
		index_store_put_record(&idx->store, name, len);
	idx->count++;
	if (!visible) {
		if (index_flat(idx))
			idx->flat_hidden[idx->hidden] = s;
		else
			idx->parent[s] = INDEX_NONE;
		idx->hidden++;
		return 0;
	}
	index_commit_plan(idx, s, name, len, &plan);
	return 0;
}

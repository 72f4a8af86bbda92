/* A dataset's sample names in index order and the folder tree they imply.
 * Names live in a chunked store that never moves (index_store.c), so an
 * index_name pointer stays valid until index_free and there is no per-name
 * malloc; per sample there is a pointer, a parent folder and one hash slot.
 * Two open-addressing tables key children by (parent folder, component),
 * one for samples, one for folders; a full-name lookup walks the components
 * through them, so no third table keyed by the full name is needed. */
#include "index.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "index_store.h"

/* Smallest capacity an array grows to; after that it grows by half. */
#define INDEX_ARRAY_MIN_CAP 16u
#define INDEX_VEC_MIN_CAP 4u
#define INDEX_TABLE_MIN_CAP 16u
/* Tables stay at most 3/4 full: with 8-bit tags a miss scans a few bytes of
 * the tag array and almost never touches a name. */
#define INDEX_TABLE_LOAD_NUM 3u
#define INDEX_TABLE_LOAD_DEN 4u
#define INDEX_VARINT_MAX 10u /* LEB128 bytes for a 64-bit length */
#define INDEX_MAX_SAMPLES (UINT32_MAX - 1u)
#define INDEX_MAX_FOLDERS (UINT32_MAX - 1u)

#define INDEX_FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define INDEX_FNV_PRIME UINT64_C(0x100000001b3)

/* A growable uint32 array whose first element lives inline: most folders
 * hold one subfolder or a few samples, and a new folder can then take its
 * first child without an allocation that could fail mid-append. */
struct index_vec {
	uint32_t *v; /* valid when cap > 0 */
	uint32_t n;
	uint32_t cap; /* 0: at most one element, in one */
	uint32_t one;
};

struct index_folder {
	const char *name; /* NUL-terminated, in the name store */
	uint32_t name_len;
	uint32_t parent;
	struct index_vec samples;
	struct index_vec subs;
};

struct index_table {
	uint8_t *tags; /* 0: empty slot, else 8 bits of the hash */
	uint32_t *ids;
	size_t cap; /* power of two, or 0 before the first insert */
	size_t n;
};

struct name_index {
	struct index_store store; /* sample records and folder names */

	const char **names; /* sample → its stored record */
	size_t names_cap;
	uint32_t *parent; /* sample → folder, INDEX_NONE when hidden */
	size_t parent_cap;
	uint32_t count;
	uint32_t hidden;

	struct index_folder *folders;
	size_t folders_cap;
	uint32_t nfolders;

	struct index_table files; /* (parent, basename) → sample */
	struct index_table dirs;  /* (parent, name) → folder */

	size_t vec_bytes; /* heap bytes of all folders' index_vec arrays */
};

/* What appending a visible name needs, worked out before anything changes so
 * that -ENOMEM leaves the index as it was. */
struct index_plan {
	uint32_t folder;    /* deepest existing folder on the path */
	size_t new_at;	    /* offset of the first component to create */
	size_t new_folders; /* folders to create below folder */
	size_t new_bytes;   /* their names, NULs included */
	size_t base;	    /* offset of the last component */
	uint64_t hash;	    /* of (folder, last component) if no new folders */
};

/* FNV-1a over the component, seeded with the parent, then a murmur3
 * finaliser: FNV alone leaves the low bits (the table index) poorly mixed
 * for names that differ only in their last digits, like sample_0000001. */
static uint64_t index_hash(uint32_t parent, const char *comp, size_t len)
{
	uint64_t h = (INDEX_FNV_OFFSET ^ parent) * INDEX_FNV_PRIME;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)comp[i];
		h *= INDEX_FNV_PRIME;
	}
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

static uint8_t index_tag(uint64_t h)
{
	uint8_t tag = (uint8_t)(h >> 56);

	return tag ? tag : 1;
}

static const char *index_sample_name(const struct name_index *idx, uint32_t s,
				     size_t *len)
{
	return index_store_record(idx->names[s], len);
}

/* The last component of a visible sample's name (at most
 * INDEX_NAME_MAX bytes back from the end, so the scan is bounded). */
static const char *index_sample_base(const struct name_index *idx, uint32_t s,
				     size_t *blen)
{
	size_t len;
	const char *name = index_sample_name(idx, s, &len);
	const char *slash = memrchr(name, '/', len);
	const char *base = slash ? slash + 1 : name;

	*blen = len - (size_t)(base - name);
	return base;
}

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

static uint32_t *index_vec_data(struct index_vec *v)
{
	return v->cap ? v->v : &v->one;
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

static bool index_file_is(const struct name_index *idx, uint32_t s,
			  uint32_t parent, const char *comp, size_t len)
{
	size_t nlen;
	const char *name;

	if (idx->parent[s] != parent)
		return false;
	name = index_sample_name(idx, s, &nlen);
	if (nlen < len)
		return false;
	/* comp must be the whole last component, not just its tail. */
	if (nlen > len && name[nlen - len - 1] != '/')
		return false;
	return memcmp(name + nlen - len, comp, len) == 0;
}

static bool index_dir_is(const struct name_index *idx, uint32_t f,
			 uint32_t parent, const char *comp, size_t len)
{
	const struct index_folder *d = &idx->folders[f];

	return d->parent == parent && d->name_len == len &&
	       memcmp(d->name, comp, len) == 0;
}

static uint32_t index_table_find(const struct name_index *idx,
				 const struct index_table *t, bool dirs,
				 uint64_t h, uint32_t parent, const char *comp,
				 size_t len)
{
	uint8_t tag = index_tag(h);
	size_t mask, i;

	if (!t->cap)
		return INDEX_NONE;
	mask = t->cap - 1;
	/* Terminates: the load limit keeps at least a quarter empty. */
	for (i = (size_t)h & mask; t->tags[i]; i = (i + 1) & mask) {
		uint32_t id;

		if (t->tags[i] != tag)
			continue;
		id = t->ids[i];
		if (dirs ? index_dir_is(idx, id, parent, comp, len)
			 : index_file_is(idx, id, parent, comp, len))
			return id;
	}
	return INDEX_NONE;
}

/* Inserts a key known to be absent into a table with room reserved. */
static void index_table_put(struct index_table *t, uint64_t h, uint32_t id)
{
	size_t mask = t->cap - 1;
	size_t i = (size_t)h & mask;

	assert(t->cap &&
	       t->n < t->cap / INDEX_TABLE_LOAD_DEN * INDEX_TABLE_LOAD_NUM);
	while (t->tags[i])
		i = (i + 1) & mask;
	t->tags[i] = index_tag(h);
	t->ids[i] = id;
	t->n++;
}

static uint64_t index_entry_hash(const struct name_index *idx, bool dirs,
				 uint32_t id)
{
	const char *base;
	size_t blen;

	if (dirs) {
		const struct index_folder *d = &idx->folders[id];

		return index_hash(d->parent, d->name, d->name_len);
	}
	base = index_sample_base(idx, id, &blen);
	return index_hash(idx->parent[id], base, blen);
}

/* Room for extra more entries; rehashes into a table twice as large. */
static int index_table_reserve(struct name_index *idx, struct index_table *t,
			       bool dirs, size_t extra)
{
	struct index_table nt = {NULL, NULL, 0, 0};
	size_t need, i;

	if (extra > SIZE_MAX - t->n)
		return -ENOMEM;
	need = t->n + extra;
	if (need <= t->cap / INDEX_TABLE_LOAD_DEN * INDEX_TABLE_LOAD_NUM)
		return 0;
	nt.cap = t->cap ? t->cap : INDEX_TABLE_MIN_CAP;
	while (need > nt.cap / INDEX_TABLE_LOAD_DEN * INDEX_TABLE_LOAD_NUM) {
		if (nt.cap > SIZE_MAX / 2 / sizeof(uint32_t))
			return -ENOMEM;
		nt.cap *= 2;
	}
	nt.tags = calloc(nt.cap, sizeof(uint8_t));
	nt.ids = malloc(nt.cap * sizeof(uint32_t));
	if (!nt.tags || !nt.ids) {
		free(nt.tags);
		free(nt.ids);
		return -ENOMEM;
	}
	/* Re-insert in id order rather than slot order: names and parents
	 * are then read sequentially instead of one cache miss each.  The
	 * root folder is in no table; hidden samples neither. */
	if (dirs) {
		for (i = 1; i < idx->nfolders; i++)
			index_table_put(
			    &nt, index_entry_hash(idx, true, (uint32_t)i),
			    (uint32_t)i);
	} else {
		for (i = 0; i < idx->count; i++)
			if (idx->parent[i] != INDEX_NONE)
				index_table_put(
				    &nt,
				    index_entry_hash(idx, false, (uint32_t)i),
				    (uint32_t)i);
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
	idx->folders = calloc(INDEX_VEC_MIN_CAP, sizeof(*idx->folders));
	if (!idx->folders || index_store_reserve(&idx->store, 1)) {
		index_free(idx);
		return NULL;
	}
	idx->folders_cap = INDEX_VEC_MIN_CAP;
	root = &idx->folders[INDEX_ROOT_FOLDER];
	root->name = index_store_take(&idx->store, 1);
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
	for (f = 0; f < idx->nfolders; f++) {
		free(idx->folders[f].samples.v);
		free(idx->folders[f].subs.v);
	}
	free(idx->folders);
	free(idx->names);
	free(idx->parent);
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

	rc = index_table_reserve(idx, &idx->files, false, 1);
	if (rc)
		return rc;
	if (plan->new_folders == 0)
		return index_vec_reserve(idx,
					 &idx->folders[plan->folder].samples);

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
	rc = index_table_reserve(idx, &idx->dirs, true, plan->new_folders);
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
		char *p = index_store_take(&idx->store, clen + 1);

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
	idx->parent[s] = cur;
	index_table_put(&idx->files, h, s);
	index_vec_push(&idx->folders[cur].samples, s);
}

/* Makes names and parent hold need samples: exactly need when exact
 * (index_reserve is told the final count), else grown by half. */
static int index_samples_reserve(struct name_index *idx, size_t need,
				 bool exact)
{
	size_t ncap;
	int rc;

	if (need > idx->names_cap) {
		const char **nn;

		ncap = need;
		if (!exact) {
			rc = index_grow_cap(idx->names_cap, need,
					    INDEX_ARRAY_MIN_CAP, sizeof(*nn),
					    &ncap);
			if (rc)
				return rc;
		}
		nn = realloc(idx->names, ncap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		idx->names = nn;
		idx->names_cap = ncap;
	}
	if (need > idx->parent_cap) {
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
	return index_table_reserve(idx, &idx->files, false, more);
}

int index_append(struct name_index *idx, const char *name, size_t len)
{
	struct index_plan plan;
	size_t need, vlen;
	uint32_t s = idx->count;
	bool visible;
	int rc;

	if (idx->count >= INDEX_MAX_SAMPLES)
		return -EOVERFLOW;
	/* Record plus, at worst, every component again as a folder name. */
	vlen = index_store_varint_len(len);
	if (len > (SIZE_MAX - INDEX_VARINT_MAX - 2) / 2)
		return -ENOMEM;
	need = vlen + len + 1;
	rc = index_samples_reserve(idx, (size_t)s + 1, false);
	if (rc)
		return rc;

	visible = index_plan(idx, name, len, &plan);
	if (visible) {
		rc = index_reserve_plan(idx, &plan);
		if (rc)
			return rc;
		need += plan.new_bytes;
	}
	rc = index_store_reserve(&idx->store, need);
	if (rc)
		return rc;

	/* Nothing below fails. */
	idx->names[s] = index_store_put_record(&idx->store, name, len);
	idx->count++;
	if (!visible) {
		idx->parent[s] = INDEX_NONE;
		idx->hidden++;
		return 0;
	}
	index_commit_plan(idx, s, name, len, &plan);
	return 0;
}

uint32_t index_count(const struct name_index *idx)
{
	return idx->count;
}

uint32_t index_hidden_count(const struct name_index *idx)
{
	return idx->hidden;
}

size_t index_memory(const struct name_index *idx)
{
	return sizeof(*idx) + idx->store.bytes +
	       idx->names_cap * sizeof(*idx->names) +
	       idx->parent_cap * sizeof(*idx->parent) +
	       idx->folders_cap * sizeof(*idx->folders) + idx->vec_bytes +
	       idx->files.cap * (sizeof(uint8_t) + sizeof(uint32_t)) +
	       idx->dirs.cap * (sizeof(uint8_t) + sizeof(uint32_t));
}

const char *index_name(const struct name_index *idx, uint32_t sample,
		       size_t *len)
{
	if (sample >= idx->count) {
		*len = 0;
		return NULL;
	}
	return index_sample_name(idx, sample, len);
}

const char *index_basename(const struct name_index *idx, uint32_t sample)
{
	size_t blen;

	if (sample >= idx->count || idx->parent[sample] == INDEX_NONE)
		return NULL;
	return index_sample_base(idx, sample, &blen);
}

uint32_t index_parent(const struct name_index *idx, uint32_t sample)
{
	if (sample >= idx->count)
		return INDEX_NONE;
	return idx->parent[sample];
}

int index_lookup(const struct name_index *idx, const char *name, size_t len,
		 uint32_t *sample)
{
	uint32_t cur = INDEX_ROOT_FOLDER;
	size_t pos = 0;

	/* Walk the components: only visible names are in the tables, so
	 * malformed and hidden names simply are not found. */
	if (len == 0)
		return -ENOENT;
	for (;;) {
		const char *comp = name + pos;
		const char *slash = memchr(comp, '/', len - pos);
		size_t clen = slash ? (size_t)(slash - comp) : len - pos;
		uint64_t h = index_hash(cur, comp, clen);

		if (!slash) {
			uint32_t s = index_table_find(idx, &idx->files, false,
						      h, cur, comp, clen);

			if (s == INDEX_NONE)
				return -ENOENT;
			*sample = s;
			return 0;
		}
		cur =
		    index_table_find(idx, &idx->dirs, true, h, cur, comp, clen);
		if (cur == INDEX_NONE)
			return -ENOENT;
		pos += clen + 1;
	}
}

uint32_t index_folder_count(const struct name_index *idx)
{
	return idx->nfolders;
}

const char *index_folder_name(const struct name_index *idx, uint32_t folder)
{
	if (folder >= idx->nfolders)
		return NULL;
	return idx->folders[folder].name;
}

uint32_t index_folder_parent(const struct name_index *idx, uint32_t folder)
{
	if (folder >= idx->nfolders)
		return INDEX_NONE;
	return idx->folders[folder].parent;
}

int index_child_lookup(const struct name_index *idx, uint32_t folder,
		       const char *comp, size_t len, char *kind, uint32_t *id)
{
	uint64_t h;
	uint32_t found;

	if (folder >= idx->nfolders || len == 0 || len > INDEX_NAME_MAX)
		return -ENOENT;
	h = index_hash(folder, comp, len);
	found = index_table_find(idx, &idx->dirs, true, h, folder, comp, len);
	if (found != INDEX_NONE) {
		*kind = 'd';
		*id = found;
		return 0;
	}
	found = index_table_find(idx, &idx->files, false, h, folder, comp, len);
	if (found != INDEX_NONE) {
		*kind = 'f';
		*id = found;
		return 0;
	}
	return -ENOENT;
}

const uint32_t *index_folder_samples(const struct name_index *idx,
				     uint32_t folder, size_t *n)
{
	struct index_vec *v;

	if (folder >= idx->nfolders) {
		*n = 0;
		return NULL;
	}
	/* The inline element lives in the (mutable) folder array; the
	 * caller only reads through the const pointer. */
	v = &idx->folders[folder].samples;
	*n = v->n;
	return index_vec_data(v);
}

const uint32_t *index_folder_subfolders(const struct name_index *idx,
					uint32_t folder, size_t *n)
{
	struct index_vec *v;

	if (folder >= idx->nfolders) {
		*n = 0;
		return NULL;
	}
	v = &idx->folders[folder].subs;
	*n = v->n;
	return index_vec_data(v);
}

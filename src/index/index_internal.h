/* The index module's own structs and the helpers every lookup inlines,
 * shared by index.c (building) and index_query.c (reading).  Private to
 * the index module. */
#ifndef LIGHTLYFS_INDEX_INTERNAL_H
#define LIGHTLYFS_INDEX_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "index_store.h"

/* Smallest capacity an array grows to; after that it grows by half. */
#define INDEX_ARRAY_MIN_CAP 16u
#define INDEX_VEC_MIN_CAP 4u
#define INDEX_TABLE_MIN_CAP 16u
/* Tables stay at most 4/5 full: with 8-bit tags a miss scans a dozen bytes
 * of the tag array and almost never touches a name.  Capacities need not be
 * powers of two (the slot is the hash scaled to the capacity), so a table
 * reserved for a known count is 1.25 slots a sample, not up to 2.7. */
#define INDEX_TABLE_LOAD_NUM 4u
#define INDEX_TABLE_LOAD_DEN 5u
/* One stored pointer per this many samples; a name is found by skipping at
 * most this many - 1 records from it. */
#define INDEX_ANCHOR_EVERY 8u
#define INDEX_MAX_SAMPLES (UINT32_MAX - 1u)
#define INDEX_MAX_FOLDERS (UINT32_MAX - 1u)

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
	struct index_store store;  /* sample records, in index order */
	struct index_store fstore; /* folder names */

	/* sample k * INDEX_ANCHOR_EVERY → its record */
	const char **anchors;
	size_t anchors_cap;
	/* sample → folder, INDEX_NONE when hidden; NULL while flat: then a
	 * sample is hidden iff it is in flat_hidden, else in the root, and
	 * the root's samples list is not kept */
	uint32_t *parent;
	size_t parent_cap;
	uint32_t *flat_hidden; /* ascending */
	size_t flat_hidden_cap;
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
static inline uint64_t index_hash(uint32_t parent, const char *comp, size_t len)
{
	return hash_mix64(
	    hash_fnv1a((HASH_FNV_OFFSET ^ parent) * HASH_FNV_PRIME, comp, len));
}

/* The low byte: the slot comes from the high bits (index_slot). */
static inline uint8_t index_tag(uint64_t h)
{
	uint8_t tag = (uint8_t)h;

	return tag ? tag : 1;
}

static inline size_t index_slot(uint64_t h, size_t cap)
{
	return (size_t)(((unsigned __int128)h * cap) >> 64);
}

static inline const char *index_record_of(const struct name_index *idx,
					  uint32_t s)
{
	const char *rec = idx->anchors[s / INDEX_ANCHOR_EVERY];

	for (uint32_t k = s % INDEX_ANCHOR_EVERY; k > 0; k--)
		rec = index_store_next(rec);
	return rec;
}

static inline const char *index_sample_name(const struct name_index *idx,
					    uint32_t s, size_t *len)
{
	return index_store_record(index_record_of(idx, s), len);
}

static inline bool index_flat(const struct name_index *idx)
{
	return idx->parent == NULL;
}

static inline uint32_t index_parent_of(const struct name_index *idx, uint32_t s)
{
	size_t lo = 0, hi;

	if (idx->parent)
		return idx->parent[s];
	if (idx->hidden == 0)
		return INDEX_ROOT_FOLDER;
	hi = idx->hidden;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (idx->flat_hidden[mid] < s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < idx->hidden && idx->flat_hidden[lo] == s
		   ? INDEX_NONE
		   : INDEX_ROOT_FOLDER;
}

/* The last component of a visible sample's name (at most
 * INDEX_NAME_MAX bytes back from the end, so the scan is bounded). */
static inline const char *index_sample_base(const struct name_index *idx,
					    uint32_t s, size_t *blen)
{
	size_t len;
	const char *name = index_sample_name(idx, s, &len);
	const char *slash = memrchr(name, '/', len);
	const char *base = slash ? slash + 1 : name;

	*blen = len - (size_t)(base - name);
	return base;
}

static inline uint32_t *index_vec_data(struct index_vec *v)
{
	return v->cap ? v->v : &v->one;
}

static inline bool index_file_is(const struct name_index *idx, uint32_t s,
				 uint32_t parent, const char *comp, size_t len)
{
	size_t nlen;
	const char *name;

	if (index_parent_of(idx, s) != parent)
		return false;
	name = index_sample_name(idx, s, &nlen);
	if (nlen < len)
		return false;
	/* comp must be the whole last component, not just its tail. */
	if (nlen > len && name[nlen - len - 1] != '/')
		return false;
	return memcmp(name + nlen - len, comp, len) == 0;
}

static inline bool index_dir_is(const struct name_index *idx, uint32_t f,
				uint32_t parent, const char *comp, size_t len)
{
	const struct index_folder *d = &idx->folders[f];

	return d->parent == parent && d->name_len == len &&
	       memcmp(d->name, comp, len) == 0;
}

static inline uint32_t index_table_find(const struct name_index *idx,
					const struct index_table *t, bool dirs,
					uint64_t h, uint32_t parent,
					const char *comp, size_t len)
{
	uint8_t tag = index_tag(h);
	size_t i;

	if (!t->cap)
		return INDEX_NONE;
	/* Terminates: the load limit keeps at least a fifth empty. */
	for (i = index_slot(h, t->cap); t->tags[i];
	     i = i + 1 == t->cap ? 0 : i + 1) {
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

#endif

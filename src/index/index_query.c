/* Reading the index: names, parents and lookups (built by index.c). */
#include "index.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "index_internal.h"

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
	return sizeof(*idx) + idx->store.bytes + idx->fstore.bytes +
	       idx->anchors_cap * sizeof(*idx->anchors) +
	       idx->parent_cap * sizeof(*idx->parent) +
	       idx->flat_hidden_cap * sizeof(*idx->flat_hidden) +
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

	if (sample >= idx->count || index_parent_of(idx, sample) == INDEX_NONE)
		return NULL;
	return index_sample_base(idx, sample, &blen);
}

uint32_t index_parent(const struct name_index *idx, uint32_t sample)
{
	if (sample >= idx->count)
		return INDEX_NONE;
	return index_parent_of(idx, sample);
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

bool index_folder_all(const struct name_index *idx, uint32_t folder)
{
	return folder == INDEX_ROOT_FOLDER && index_flat(idx);
}

const uint32_t *index_folder_samples(const struct name_index *idx,
				     uint32_t folder, size_t *n)
{
	struct index_vec *v;

	if (folder >= idx->nfolders || index_folder_all(idx, folder)) {
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

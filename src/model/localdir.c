/* mkdir-only folders of a tag (see localdir.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bitmask.h"
#include "index.h"
#include "localdir.h"

void localdir_dispose(struct localdirs *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].path);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

const struct local_folder *localdir_by_id(const struct localdirs *l,
					  uint32_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].id == id)
			return &l->v[i];
	return NULL;
}

uint32_t localdir_lookup(const struct localdirs *l, uint32_t parent,
			 const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].parent == parent && !strcmp(l->v[i].name, name))
			return l->v[i].id;
	return INDEX_NONE;
}

int localdir_add(struct localdirs *l, uint32_t id, uint32_t parent,
		 const char *name, const char *path)
{
	struct local_folder *v, *lf;

	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	lf = &l->v[l->n];
	lf->name = strdup(name);
	lf->path = strdup(path);
	if (!lf->name || !lf->path) {
		free(lf->name);
		free(lf->path);
		return -ENOMEM;
	}
	lf->id = id;
	lf->parent = parent;
	l->n++;
	return 0;
}

int localdir_remove(struct localdirs *l, uint32_t id)
{
	size_t i;

	for (i = 0; i < l->n && l->v[i].id != id; i++)
		;
	if (i == l->n)
		return -ENOENT;
	for (size_t j = 0; j < l->n; j++)
		if (l->v[j].parent == id)
			return -ENOTEMPTY;
	free(l->v[i].name);
	free(l->v[i].path);
	l->v[i] = l->v[--l->n];
	return 0;
}

int localdir_keep_path(struct localdirs *l, const struct name_index *idx,
		       uint32_t f)
{
	for (; f != INDEX_NONE && f != INDEX_ROOT_FOLDER;
	     f = index_folder_parent(idx, f)) {
		int ret;

		if (localdir_by_id(l, f))
			return 0;
		ret = localdir_add(l, f, index_folder_parent(idx, f),
				   index_folder_name(idx, f), "");
		if (ret)
			return ret;
	}
	return 0;
}

int localdir_list(const struct localdirs *l, uint32_t parent,
		  const struct bitmask *shown,
		  int (*add)(const char *name, uint32_t id, void *arg),
		  void *arg)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct local_folder *lf = &l->v[i];
		int ret;

		if (lf->parent != parent ||
		    (lf->id < shown->nbits && bitmask_test(shown, lf->id)))
			continue;
		ret = add(lf->name, lf->id, arg);
		if (ret)
			return ret;
	}
	return 0;
}

/* Directory snapshots (dir.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "index.h"
#include "model.h"

int dir_add(struct fs_dir *d, const char *name, const struct inode_ref *ref)
{
	size_t len = strlen(name) + 1;

	if (d->nsmall == d->small_cap) {
		size_t cap = d->small_cap ? d->small_cap * 2 : 16;
		struct dir_entry *v = realloc(d->small, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->small = v;
		d->small_cap = cap;
	}
	if (d->names_len + len > d->names_cap) {
		size_t cap = d->names_cap ? d->names_cap : 1024;
		char *p;

		while (cap < d->names_len + len)
			cap *= 2;
		p = realloc(d->names, cap);
		if (!p)
			return -ENOMEM;
		d->names = p;
		d->names_cap = cap;
	}
	memcpy(d->names + d->names_len, name, len);
	d->small[d->nsmall].name_off = d->names_len;
	d->small[d->nsmall].ref = *ref;
	d->nsmall++;
	d->names_len += len;
	return 0;
}

void dir_pin(struct fs_dir *dir, struct dataset *d)
{
	dir->pinned = d;
	dir->index = d->index;
	d->index_users++;
}

void dir_reset(struct fs_dir *dir)
{
	if (dir->pinned && dir->pinned->index_users)
		dir->pinned->index_users--;
	dir->pinned = NULL;
	dir->index = NULL;
	free(dir->folders);
	free(dir->samples);
	free(dir->small);
	free(dir->names);
	dir->folders = dir->samples = NULL;
	dir->small = NULL;
	dir->names = NULL;
	dir->nfolders = dir->nsamples = dir->nsmall = dir->small_cap = 0;
	dir->names_len = dir->names_cap = 0;
	dir->ahead_pos = 0;
}

const char *dir_entry_at(const struct fs_dir *dir, size_t i,
			 struct inode_ref *ref)
{
	if (i < dir->nsmall) {
		*ref = dir->small[i].ref;
		return dir->names + dir->small[i].name_off;
	}
	i -= dir->nsmall;
	if (i < dir->nfolders) {
		*ref = dir->ref;
		ref->folder = dir->folders[i];
		return index_folder_name(dir->index, ref->folder);
	}
	i -= dir->nfolders;
	memset(ref, 0, sizeof(*ref));
	ref->kind = INODE_KIND_FILE;
	ref->ds = dir->ref.ds;
	ref->sample = dir->samples[i];
	return index_basename(dir->index, dir->samples[i]);
}

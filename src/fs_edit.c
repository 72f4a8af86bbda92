/* Tag management and bitmask edits made through the mount.  (Read-only for
 * now: every change answers EROFS.) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_internal.h"
#include "index.h"

int fs_edit_start(struct fs *fs)
{
	(void)fs;
	return 0;
}

void fs_edit_stop(struct fs *fs)
{
	(void)fs;
}

bool fs_tag_busy(const struct tag *t)
{
	return t->dirty || t->flushing;
}

bool fs_tag_recently_deleted(const struct dataset *d, const char *id)
{
	for (size_t i = 0; i < 4; i++)
		if (!strcmp(d->recently_deleted[i], id))
			return true;
	return false;
}

bool fs_local_folder_find(const struct tag *t, uint32_t folder)
{
	for (size_t i = 0; i < t->nlocal; i++)
		if (t->local[i].id == folder)
			return true;
	return false;
}

uint32_t fs_local_folder_lookup(const struct tag *t, uint32_t parent,
				const char *name)
{
	for (size_t i = 0; i < t->nlocal; i++)
		if (t->local[i].parent == parent &&
		    !strcmp(t->local[i].name, name))
			return t->local[i].id;
	return INDEX_NONE;
}

int fs_local_folders_snapshot(const struct tag *t, uint32_t parent,
			      fs_dir_add_cb add, struct fs_dir *dir,
			      const struct inode_ref *dir_ref)
{
	for (size_t i = 0; i < t->nlocal; i++) {
		struct inode_ref r = *dir_ref;
		int ret;

		if (t->local[i].parent != parent)
			continue;
		r.folder = t->local[i].id;
		ret = add(dir, t->local[i].name, &r);
		if (ret)
			return ret;
	}
	return 0;
}

int fs_mkdir(struct fs *fs, uint64_t parent, const char *name,
	     struct stat *st)
{
	(void)fs, (void)parent, (void)name, (void)st;
	return -EROFS;
}

int fs_rmdir(struct fs *fs, uint64_t parent, const char *name)
{
	(void)fs, (void)parent, (void)name;
	return -EROFS;
}

int fs_rename(struct fs *fs, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags)
{
	(void)fs, (void)parent, (void)name, (void)newparent, (void)newname;
	(void)flags;
	return -EROFS;
}

int fs_unlink(struct fs *fs, uint64_t parent, const char *name)
{
	(void)fs, (void)parent, (void)name;
	return -EROFS;
}

int fs_link(struct fs *fs, uint64_t ino, uint64_t newparent,
	    const char *newname, struct stat *st)
{
	(void)fs, (void)ino, (void)newparent, (void)newname, (void)st;
	return -EROFS;
}

int fs_create(struct fs *fs, uint64_t parent, const char *name,
	      struct stat *st)
{
	(void)fs, (void)parent, (void)name, (void)st;
	return -EROFS;
}

int fs_fsync(struct fs *fs, uint64_t ino)
{
	(void)fs, (void)ino;
	return 0;
}

int fs_stats_json(struct fs *fs, char **data, size_t *len)
{
	int n = asprintf(data, "{\"datasets\":%zu}\n", fs->nds);

	if (n < 0) {
		*data = NULL;
		return -ENOMEM;
	}
	*len = (size_t)n;
	return 0;
}

/* A directory listing's snapshot, taken when the kernel reads offset 0
 * and streamed by offset from it: a few copied names (datasets, tags,
 * .lightly entries), then a tag folder's subfolders and samples as index
 * numbers into the dataset's name index, which the snapshot keeps from
 * eviction.  No allocation per entry.  Lock held for all of it. */
#ifndef LIGHTLYFS_DIR_H
#define LIGHTLYFS_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inode.h"

struct dataset;
struct name_index;

struct dir_entry {
	size_t name_off;
	struct inode_ref ref;
};

struct fs_dir {
	struct inode_ref ref;
	bool built;
	struct dir_entry *small;
	size_t nsmall, small_cap;
	char *names;
	size_t names_len, names_cap;
	/* a tag folder: indices into index, which d's index_users pins */
	struct dataset *pinned;
	const struct name_index *index;
	uint32_t *folders;
	size_t nfolders;
	uint32_t *samples;
	size_t nsamples;
	/* samples before it have their listing pages loaded or asked for */
	size_t ahead_pos;
};

/* Adds one named entry: 0 or -ENOMEM. */
int dir_add(struct fs_dir *dir, const char *name, const struct inode_ref *ref);
/* Keeps d's index for the listing's life (no eviction under it). */
void dir_pin(struct fs_dir *dir, struct dataset *d);
/* Empties the snapshot and unpins the index. */
void dir_reset(struct fs_dir *dir);
/* Entries after "." and "..": small, then folders, then samples. */
static inline size_t dir_count(const struct fs_dir *dir)
{
	return dir->nsmall + dir->nfolders + dir->nsamples;
}
/* Entry i's name and ref. */
const char *dir_entry_at(const struct fs_dir *dir, size_t i,
			 struct inode_ref *ref);

#endif

/* Folders made with mkdir inside a tag that hold no sample yet, and folders
 * an rm emptied: they live only in the mount (the server has no empty
 * folders) until rmdir.  Pure data over one tag's list, no lock, no I/O. */
#ifndef LIGHTLYFS_LOCALDIR_H
#define LIGHTLYFS_LOCALDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct name_index;
struct bitmask;

struct local_folder {
	uint32_t id;	 /* folder id: an index folder, or above every one */
	uint32_t parent; /* folder id */
	char *name;	 /* last component */
	char *path;	 /* full path inside the tag, no trailing '/' */
};

struct localdirs {
	struct local_folder *v;
	size_t n;
};

void localdir_dispose(struct localdirs *l);
const struct local_folder *localdir_by_id(const struct localdirs *l,
					  uint32_t id);
/* The id of parent's child name, or INDEX_NONE. */
uint32_t localdir_lookup(const struct localdirs *l, uint32_t parent,
			 const char *name);
/* 0 or -ENOMEM.  name and path are copied. */
int localdir_add(struct localdirs *l, uint32_t id, uint32_t parent,
		 const char *name, const char *path);
/* Removes folder id: 0, -ENOENT, or -ENOTEMPTY when a local folder lives
 * below it. */
int localdir_remove(struct localdirs *l, uint32_t id);
/* Keeps the index folders on f's path (up to the tag) as local folders:
 * a folder emptied by rm stays until rmdir, as on any filesystem. */
int localdir_keep_path(struct localdirs *l, const struct name_index *idx,
		       uint32_t f);
/* Calls add for each local folder under parent that shows folders (the
 * tag's folders holding samples) does not list already. */
int localdir_list(const struct localdirs *l, uint32_t parent,
		  const struct bitmask *shown,
		  int (*add)(const char *name, uint32_t id, void *arg),
		  void *arg);

#endif

/* A tag's mask seen through its dataset's name index: which samples it
 * needs the index to hold, which folders hold any of its samples, and the
 * kernel invalidations a changed sample implies.  Lock held throughout;
 * tagview_ensure() may drop it (inside cache_load) to load the index. */
#ifndef LIGHTLYFS_TAGVIEW_H
#define LIGHTLYFS_TAGVIEW_H

#include <stdbool.h>
#include <stdint.h>

struct fs;
struct dataset;
struct tag;

/* Everything a listing of t needs: an index covering its mask and which
 * folders hold its samples.  0, -ENOENT (t went away), -EIO, ... */
int tagview_ensure(struct fs *fs, struct dataset *d, struct tag *t);
/* Whether folder shows in t (holds a sample, or was made with mkdir). */
bool tagview_has_folder(const struct tag *t, uint32_t folder);
/* The mask changed: derived data is recomputed on the next listing. */
void tagview_invalidate(struct tag *t);
/* sample joined or left t: every folder on its path may have appeared or
 * vanished, and their listings changed. */
void tagview_notify_sample(struct fs *fs, struct dataset *d, struct tag *t,
			   uint32_t sample);

#endif

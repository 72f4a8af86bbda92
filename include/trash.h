/* Tags deleted through the mount, kept for -o trash_days in the state
 * directory beside the journal: listed read-only in DS/.lightly/trash/,
 * and made again (samples and parent) by mv back into the dataset.  Lock
 * held throughout; trash_restore drops it for its request. */
#ifndef LIGHTLYFS_TRASH_H
#define LIGHTLYFS_TRASH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct fs;
struct dataset;
struct tag;

/* Reads d's trash once (dropping what is older than trash_days). */
int trash_load(struct fs *fs, struct dataset *d);
/* t is about to be deleted on the server: keeps what it held. */
int trash_save(struct fs *fs, struct dataset *d, const struct tag *t);
/* The delete of tag_id did not happen: its trash entry goes. */
void trash_drop(struct fs *fs, struct dataset *d, const char *tag_id);
/* Makes the trashed t a tag of d again, named newname.  0, -EEXIST,
 * -EINVAL for a bad name, or the server's refusal. */
int trash_restore(struct fs *fs, struct dataset *d, struct tag *t,
		  const char *newname);
/* What .lightly/trash/<name>.json shows: malloc'd in *out. */
int trash_json(const struct fs *fs, const struct dataset *d,
	       const struct tag *t, char **out, size_t *len);

#endif

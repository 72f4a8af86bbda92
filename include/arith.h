/* Tag arithmetic as paths: DS/A+B (union), DS/A&B (intersection), DS/A~B
 * (difference).  No tag name can hold + & or ~, so such a name is never a
 * tag's.  Results come from the server's bitmask endpoint (after our own
 * pending edits of the operands are sent), are cached like a tag and
 * dropped when either operand changes.  Lock held; may drop it. */
#ifndef LIGHTLYFS_ARITH_H
#define LIGHTLYFS_ARITH_H

#include <stdbool.h>

struct fs;
struct dataset;
struct tag;
struct inode_ref;

/* Whether name has the shape of an arithmetic name (one operator). */
bool arith_name(const char *name);
/* DS/<name> for an arithmetic name: the result's tag slot in out->tag.
 * -ENOENT for an unknown operand or more than one operator. */
int arith_lookup(struct fs *fs, struct dataset *d, const char *name,
		 struct inode_ref *out);
/* t's result is fresh: computed from the operands as they are now. */
int arith_ensure(struct fs *fs, struct dataset *d, struct tag *t);
/* mv DS/<name> DS/<newname>: the result saved as a new tag. */
int arith_save(struct fs *fs, struct dataset *d, const char *name,
	       const char *newname);

#endif

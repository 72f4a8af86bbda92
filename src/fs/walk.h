/* Directory walks: a tag folder's files opened in its listing's order
 * (walk.c).  The state is struct fs's walks; fs->lock guards it. */
#ifndef LIGHTLYFS_WALK_H
#define LIGHTLYFS_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs_walks;
struct dataset;
struct inode_ref;

/* A tag folder was listed: its files opened in order from now on are a
 * walk. */
void walk_note(struct fs_walks *ws, const struct inode_ref *dir);
/* When sample s is the next file of a walk of a listing it is in, up to
 * max samples after it in that listing whose info is loaded, in order,
 * into next; 0 otherwise.  The first open of a listed folder's first file
 * starts a walk (*first), with a few files after it only.  When the listing is
 * read in shuffled order
 * (*shuffled), up to max of its samples after its cursor instead, to fetch
 * into the content cache (none when its tag does not fit it).  Lock
 * held. */
size_t walk_next(struct fs_walks *ws, struct dataset *d, uint32_t s,
		 uint32_t *next, size_t max, bool *shuffled, bool *first);
/* After walk_next named next[0, n): when the files fetched ahead reach
 * half way through those whose read URLs were asked for, up to max files
 * of the listing after those (from next[0] when it is past them) into
 * urls, in order, and their tag into *tag; 0 when no page is due.  Lock
 * held. */
size_t walk_urls(struct fs_walks *ws, struct dataset *d, const uint32_t *next,
		 size_t n, uint32_t *urls, size_t max, const struct tag **tag);
/* A shuffled listing's samples up to last are cached or on their way. */
void walk_advance(struct fs_walks *ws, struct dataset *d, uint32_t last);

#endif

/* Sending one tag's delta and what its answer does (edits_send.c); shared
 * by edits.c only.  edits_settled, defined there too, is declared in
 * edits.h. */
#ifndef LIGHTLYFS_EDITS_SEND_H
#define LIGHTLYFS_EDITS_SEND_H

#include <stdbool.h>
#include <stddef.h>

struct fs;
struct dataset;
struct tag;
struct bitmask;

/* Sends t's delta rebased on the server's mask.  Lock held on entry and
 * exit, dropped for the requests.  Returns 0 or the failure, which is
 * already handled (kept for a retry, rolled back, or the tag dropped);
 * with force, a passing failure is rolled back too (sync_edits). */
int edits_flush(struct fs *fs, struct dataset *d, struct tag *t, bool force);
/* Shows base with t's unsent delta applied, telling the kernel about each
 * sample whose membership changed. */
int edits_show(struct fs *fs, struct dataset *d, struct tag *t,
	       const struct bitmask *base);

#endif

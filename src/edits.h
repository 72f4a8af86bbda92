/* Sample edits made through the mount (ln, touch, rm, mv of a file):
 * they change the tag's mask in memory at once and are sent as the tag's
 * whole new bitMaskData, so a burst of edits becomes a handful of PUTs.  A
 * flusher thread sends a tag after a quiet period; fsync, unmount and
 * SIGTERM send at once.  A flush that fails for a passing reason is
 * retried; one the server refuses for good is rolled back in the mount and
 * reported by the next fsync of that tag.
 *
 * Tag calls of one request (create, rename, delete) bracket the request
 * with edits_wire_begin/end, so no flush of the same tag overlaps them. */
#ifndef LIGHTLYFS_EDITS_H
#define LIGHTLYFS_EDITS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct fs;
struct dataset;
struct tag;

struct edits {
	bool sync;            /* -o sync_edits: send each edit at once */
	unsigned delay_ms;    /* quiet period before a flush */
	pthread_t flusher;
	pthread_cond_t cond;  /* wakes the flusher */
	bool running, stopping;
	uint64_t flushes;
};

void edits_init(struct edits *e, bool sync, unsigned delay_ms);
/* Starts the flusher thread: 0 or -EAGAIN. */
int edits_start(struct fs *fs);
/* Sends what is pending (a few rounds), then stops the flusher. */
void edits_stop(struct fs *fs);

/* Adds (on) or removes sample from t.  Lock held; with sync_edits the lock
 * is dropped for the PUT.  0, -ENOMEM, or with sync_edits -EIO. */
int edits_set_sample(struct fs *fs, struct dataset *d, struct tag *t,
		     uint32_t sample, bool on);

/* Waits until no request of t is on the wire, then marks one as being
 * there.  Lock held.  False when t went away meanwhile. */
bool edits_wire_begin(struct fs *fs, struct tag *t);
void edits_wire_end(struct fs *fs, struct tag *t);

/* Sends the pending edits of tag slot (all of d's when slot is UINT32_MAX,
 * of every dataset when d is NULL) and reports a refused earlier flush
 * once.  Lock held, dropped for the requests. */
int edits_fsync(struct fs *fs, struct dataset *d, uint32_t slot);

/* Tags with edits waiting, for .lightly/stats.  Lock held. */
size_t edits_pending(const struct fs *fs);

#endif

/* Sample edits made through the mount (ln, touch, rm, mv of a file).  An
 * edit changes the tag's mask in memory at once and joins the tag's delta
 * (samples added and removed since the server's mask was read).  A flusher
 * thread sends a tag after a quiet period; fsync, unmount and SIGTERM send
 * at once.  To send, the tag is read as the server holds it now, the delta
 * applied and the result PUT with the server's current name and a stamp
 * in the tag's history (which mount, and how much history it had read);
 * then the tag is read back.  The API has no conditional PUT, so two
 * writers can both read before either writes, and the second PUT undoes
 * the first's delta.  The first one's read-back sees that (a stamp after
 * its own whose writer had not seen it) and writes its delta again, until
 * it holds (edits_verify.c): per sample, the last writer wins, and no
 * write undoes another mount's edit of another sample.  A flush that fails for
 * a passing reason is retried; one the server refuses is rolled back in the
 * mount and reported by the next fsync of that tag; a tag the server no longer
 * has leaves the mount.
 *
 * A sample moved between tags is added to the target before it is removed
 * from the source: the removal waits until the add is on the server, and is
 * dropped (the sample stays where it was) when the add is refused.
 *
 * Tag calls of one request (create, rename, delete) bracket the request
 * with edits_wire_begin/end, so no flush of the same tag overlaps them. */
#ifndef LIGHTLYFS_EDITS_H
#define LIGHTLYFS_EDITS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

struct fs;
struct dataset;
struct tag;

/* A removal that waits for an add: sample left src for dst. */
struct edit_move {
	uint32_t ds, src, dst; /* dataset and tag slots */
	uint32_t sample;
	uint64_t dst_seq; /* dst's edit number of the add */
};

struct edits {
	bool sync;	   /* -o sync_edits: send each edit at once */
	unsigned delay_ms; /* quiet period before a flush */
	double grace_s;	   /* a tag emptied by rm waits this for its rmdir */
	pthread_t flusher;
	pthread_cond_t cond; /* wakes the flusher */
	bool running, stopping;
	uint64_t flushes;
	/* this mount in the tags' histories, and its writes' numbers */
	char writer[API_WRITER_LEN + 1];
	uint64_t writes;
	/* read-backs that found another mount's write undoing this one's */
	uint64_t redone;
	struct edit_move *moves;
	size_t nmoves, moves_cap;
};

void edits_init(struct edits *e, bool sync, unsigned delay_ms);
void edits_dispose(struct edits *e);
/* Starts the flusher thread: 0 or -EAGAIN. */
int edits_start(struct fs *fs);
/* Stops the flusher (fs_stop sends what is pending first). */
void edits_stop(struct fs *fs);

/* Adds (on) or removes sample from t.  Lock held; with sync_edits the lock
 * is dropped for the send, and a send that fails undoes the edit and
 * returns its error.  0, -ENOMEM, or with sync_edits the send's error. */
int edits_set_sample(struct fs *fs, struct dataset *d, struct tag *t,
		     uint32_t sample, bool on);
/* Moves sample from src to dst: the add first (see above). */
int edits_move_sample(struct fs *fs, struct dataset *d, struct tag *src,
		      struct tag *dst, uint32_t sample);
/* Whether a pending move names tag slot of dataset slot ds. */
bool edits_names_tag(const struct edits *e, uint32_t ds, uint32_t slot);
/* Drops t's unsent edits and shows what the server had (an rmdir that
 * followed rm -r was refused: the tag keeps its samples). */
void edits_drop_pending(struct fs *fs, struct dataset *d, struct tag *t);

/* Waits until no request of t is on the wire, then marks one as being
 * there.  Lock held.  False when t went away meanwhile. */
bool edits_wire_begin(struct fs *fs, struct tag *t);
void edits_wire_end(struct fs *fs, struct tag *t);

/* Sends the pending edits of tag slot (all of d's when slot is UINT32_MAX,
 * of every dataset when d is NULL) and reports a refused earlier flush
 * once.  Lock held, dropped for the requests. */
int edits_fsync(struct fs *fs, struct dataset *d, uint32_t slot);

/* t's edits up to seq are settled (sent, refused or dropped): the journal
 * forgets them. */
void edits_settled(struct fs *fs, struct dataset *d, struct tag *t,
		   uint64_t seq);

/* For .lightly/stats.  Lock held. */
struct edits_counts {
	size_t pending;	  /* tags with edits not yet on the server */
	size_t in_flight; /* tags whose delta is on the wire */
	size_t retrying;  /* tags waiting to retry a failed send */
	size_t moves;	  /* removals waiting for their add */
};
void edits_count(const struct fs *fs, struct edits_counts *out);

#endif

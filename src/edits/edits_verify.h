/* One flush of a tag on the wire (edits_send.c sends it) and the tag as
 * the server holds it, read before the write and back after it
 * (edits_verify.c, below edits_send.c).  Shared by the two only. */
#ifndef LIGHTLYFS_EDITS_VERIFY_H
#define LIGHTLYFS_EDITS_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "bitmask.h"

struct flush_job {
	struct api *api;
	char ds_id[API_ID_LEN + 1], tag_id[API_ID_LEN + 1];
	struct bitmask add, rem; /* the delta on the wire */
	struct bitmask srv;	 /* the server's mask, read first */
	bool have_srv;
	char *hex; /* what was PUT; NULL when nothing had to be */
	uint64_t seq;
	bool held; /* removals stayed behind, waiting for their adds */
	/* the history: whether the server keeps one, its length when read,
	 * and this flush's last stamp in it */
	bool history;
	size_t hist_len;
	struct api_stamp stamp;
	const char *writer; /* this mount's id (fs->edits.writer) */
	uint64_t *writes;   /* the mount's counter of stamps (atomic) */
	/* what the read-back found: writes of others this one overwrote
	 * (unstamped: not to be redone from here), times the delta was
	 * written again, samples of it that did not hold */
	size_t overwrote, redone, unheld;
};

/* A random id for this mount in the tags' histories. */
void edits_writer_id(char out[API_WRITER_LEN + 1]);
/* Reads the tag as the server holds it: j->srv, its history's length;
 * *name (malloc'd) the tag's current name when name is not NULL. */
int edits_read_server(struct flush_job *j, char **name);
/* The next stamp of this mount, for a write over j->srv's history. */
void edits_stamp(struct flush_job *j, const struct bitmask *sent);
/* After j's stamped write: reads the tag back and, while a mount that had
 * not seen the write wrote after it, writes j's delta again over what
 * the server holds, up to EDITS_VERIFY_ROUNDS times.  j->srv ends as what
 * the server holds.  0; -EBUSY when the delta did not hold (j->unheld
 * samples); or a request's error. */
int edits_verify(struct flush_job *j, const char *name);

#endif

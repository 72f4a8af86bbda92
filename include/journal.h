/* An append-only log of tag edits not yet on the server, one file per
 * server and account, so a crash or kill -9 loses no edit.
 *
 * File format (text, one record per line, each ending in '\n'):
 *
 *   lightlyfs-journal 1                       header, first line only
 *   E <seq> <ds> <tag> <sample> <+|->         an edit: add or remove
 *   D <seq> <ds> <tag>                        settles that tag's earlier
 *                                             edits with a number <= seq
 *
 * Numbers are decimal, ids 24 lower-case hex characters.  Every strict
 * prefix of a record is itself malformed (an E ends in its sign, a D in a
 * fixed-length id), so a line torn by a crash can never be misread as a
 * shorter valid one.  A D settles only records above it in the file: that
 * is what "later" means in journal_replay.
 *
 * The file is held with flock(LOCK_EX) while open: a second mount of the
 * same account gets -EBUSY instead of interleaving (and compacting away)
 * the other's records. */
#ifndef LIGHTLYFS_JOURNAL_H
#define LIGHTLYFS_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#define JOURNAL_ID_LEN 24 /* ds and tag ids: lower-case hex */

struct journal;

/* Opens (creating dir with mode 0700 and file 0600) the journal of
 * (server, account) under dir: the file is dir/journal-<16 hex>.log where
 * the hex is a 64-bit FNV-1a hash of server "\n" account (account is a
 * secret such as an API token: only its hash may appear anywhere, never the
 * value; never write it into the file).  Missing parents of dir are made
 * 0700 too; an existing dir or file keeps its mode.  Reads the file to
 * rebuild what is pending.  0 and *out (free with journal_free), -EPROTO
 * for a file with another header (left untouched), -EBUSY when another
 * process has it open, -ENAMETOOLONG, -ENOMEM, -errno. */
int journal_open(const char *dir, const char *server, const char *account,
		 struct journal **out);
/* Whether the journal of (server, account) exists under dir (not made). */
bool journal_exists(const char *dir, const char *server, const char *account);
/* NULL ok; closes the fd (and so releases the lock). */
void journal_free(struct journal *j);
/* The file's path; owned by j, valid until journal_free. */
const char *journal_path(const struct journal *j);

/* Records one sample edit of a tag: add (true) or remove.  Written with one
 * write(2) (O_APPEND) before it returns, not yet fdatasync'd.  seq is the
 * caller's increasing edit number for that tag: -EINVAL when it is below
 * one of the tag's unsettled edits (a done settles by number, so such an
 * edit could outlive a later one and be replayed over it), or for ids
 * that are not 24 lower-case hex.  A failed or short write is cut off
 * again, so the file never keeps half a record.  0, -errno (-ENOSPC...). */
int journal_edit(struct journal *j, const char *ds_id, const char *tag_id,
		 uint64_t seq, uint32_t sample, bool add);
/* Records that every edit of that tag with a number <= seq is settled (sent,
 * or dropped because the server refused it or the tag is gone).  Writes
 * nothing when the tag has no unsettled edit.  0, -EINVAL, -errno. */
int journal_done(struct journal *j, const char *ds_id, const char *tag_id,
		 uint64_t seq);
/* fdatasync when anything was written since the last sync; 0 or -errno.
 * Thread safe with the appenders, which are not held up by the sync (it
 * runs on a dup of the fd, outside the lock). */
int journal_sync(struct journal *j);
/* Records written and not yet settled, for .lightly/stats.  After a
 * journal_compact this counts the records it kept (one per sample). */
uint64_t journal_pending(const struct journal *j);
/* Tags the journal keeps an entry for: those with edits not settled
 * (an entry goes once its edits are). */
size_t journal_tags_held(struct journal *j);
/* The largest edit number in the file when it was opened or recorded
 * since.  Numbers restart with a process, but a done settles by number:
 * start a new process's numbers above this one, or its dones would leave
 * the edits of the crashed run unsettled (and journal_edit refuse new
 * edits of those tags with -EINVAL). */
uint64_t journal_max_seq(const struct journal *j);

/* Calls cb once per unsettled edit, in the order written, with the last
 * state per (ds, tag, sample) only (an add then a remove of the same sample
 * is reported as the remove, at the place of the remove; edits settled by
 * a later journal_done are not reported).  A torn last line (no newline:
 * the crash happened mid-write) or any malformed line is skipped and
 * counted in *skipped (may be NULL).  cb runs without the journal's lock
 * held, so it may record edits; the strings are valid during the call.
 * Costs memory for the whole file (about 32 bytes a record) while it runs.
 * 0, the first non-zero cb return, or -errno. */
int journal_replay(struct journal *j,
		   int (*cb)(const char *ds_id, const char *tag_id,
			     uint32_t sample, bool add, void *arg),
		   void *arg, unsigned *skipped);
/* When nothing is pending: truncates the file to its header (cheap
 * compaction); else rewrites it atomically (write a temp file, fdatasync,
 * rename, fsync the dir) holding only the unsettled edits, the last one
 * per sample.  The rewrite reads the whole file with the lock held, so
 * appenders wait for it: call it when little is pending.  0, -errno. */
int journal_compact(struct journal *j);

#endif

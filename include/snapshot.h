/* The last listing of each dataset, kept on disk so that a mount whose
 * server cannot be reached can still show it (an offline mount).
 *
 * In the state directory, one folder per server and account (named by
 * the hash the journal uses, so two accounts never share one and the
 * token never shows): snapshot-<hash>/datasets holds the datasets (id,
 * name, sample count, times, the server's JSON), snapshot-<hash>/<id>
 * one dataset's tags (id, name, parent, times, bitmask hex), its sample
 * names in index order and the pages of sample info loaded (id, size,
 * time: what names a sample's cached content).  A binary format of our
 * own, lengths before bytes, names as a varint and their bytes: a
 * million names of 30 bytes is ~31 MB.  Numbers are in this machine's
 * byte order: a snapshot is read by the machine that wrote it.  Files
 * are written whole to a temporary name and renamed, so a crash leaves
 * the old or the new.
 *
 * Locking: the encode and install functions run with fs->lock held and
 * do no I/O; the read and write functions do the I/O and never take it. */
#ifndef LIGHTLYFS_SNAPSHOT_H
#define LIGHTLYFS_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct model;
struct dataset;

/* Bytes to be written as one file. */
struct snapshot_buf {
	char *p;
	size_t len, cap;
	int err; /* the first failure of an append */
};
void snapshot_buf_dispose(struct snapshot_buf *b);

/* <state_dir>/snapshot-<hash of server and account>, malloc'd, or NULL. */
char *snapshot_dir(const char *state_dir, const char *server,
		   const char *account);

/* What decides whether a file must be written again: changes with the
 * listing it holds (names, tags, masks, loaded sizes). */
uint64_t snapshot_sig_datasets(const struct model *m);
uint64_t snapshot_sig_dataset(const struct dataset *d);

/* The file's bytes, from the model (lock held).  0 or -ENOMEM. */
int snapshot_encode_datasets(const struct model *m, struct snapshot_buf *out);
int snapshot_encode_dataset(const struct dataset *d, struct snapshot_buf *out);

/* dir/name from b: a temporary file, fsync, rename.  0 or -errno. */
int snapshot_write(const char *dir, const char *name,
		   const struct snapshot_buf *b);

/* A snapshot read back, its names already indexed. */
struct snapshot;

/* Reads dir (without the lock).  single: the ID or name of -o dataset,
 * the one dataset kept (NULL: all).  0, -ENOENT when there is no snapshot
 * (or single is not in it), -EIO for a damaged one, -ENOMEM. */
int snapshot_read(const char *dir, const char *single, struct snapshot **out);
/* Its datasets, each dataset's tags, names and sample pages into m (lock
 * held), marked loaded now.  Takes what it installs from s.  0 or
 * -ENOMEM. */
int snapshot_install(struct model *m, struct snapshot *s);
/* Datasets in s and when it was written (seconds since the epoch). */
size_t snapshot_datasets(const struct snapshot *s);
int64_t snapshot_time(const struct snapshot *s);
void snapshot_free(struct snapshot *s);

#endif

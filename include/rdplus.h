/* Directories whose listing the kernel caches without attributes, and the
 * first LOOKUP in one that drops that cache so the kernel reads on with
 * READDIRPLUS.  Why: with readdirplus_auto the kernel asks READDIRPLUS for
 * a listing's first chunk and plain READDIR for the rest unless a LOOKUP
 * or a first stat of a READDIRPLUS entry came in between (fs/fuse/readdir.c
 * fuse_use_readdirplus, dir.c fuse_dentry_revalidate).  So `ls -f` caches
 * a listing of names only (cache_readdir), and an `ls -l` after it would
 * cost one LOOKUP round trip per entry.  Dropping the cached listing at the
 * first LOOKUP makes the kernel fetch the rest again, from where ls is, as
 * READDIRPLUS (that LOOKUP advised it), which makes every dentry at once.
 * Its own mutex, a leaf; pushes through fs->notify. */
#ifndef LIGHTLYFS_RDPLUS_H
#define LIGHTLYFS_RDPLUS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* directories remembered at once; an older one is forgotten (its ls -l
 * then costs the LOOKUPs, nothing worse) */
#define RDPLUS_SLOTS 64

struct fs;

struct rdplus {
	pthread_mutex_t lock;
	uint64_t ino[RDPLUS_SLOTS]; /* 0: free */
	unsigned next;		    /* slot replaced next */
	atomic_uint n; /* slots in use: LOOKUPs skip the lock at 0 */
};

void rdplus_init(struct rdplus *r);
void rdplus_dispose(struct rdplus *r);
/* Plain READDIR entries of dir went to the kernel. */
void rdplus_served_plain(struct fs *fs, uint64_t dir);
/* A LOOKUP in dir: drops the kernel's cached listing of dir if it holds
 * plain entries (once). */
void rdplus_lookup(struct fs *fs, uint64_t dir);
/* Whether dir is remembered (for tests). */
bool rdplus_marked(struct rdplus *r, uint64_t dir);

#endif

/* struct fs: the one pointer every module of the filesystem layer gets.
 * It only composes the modules' own state; each part is documented (and
 * written) by its owner.  The locking contract is in node.h. */
#ifndef LIGHTLYFS_FS_CTX_H
#define LIGHTLYFS_FS_CTX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache.h"
#include "edits.h"
#include "fs.h"
#include "model.h"
#include "notify.h"
#include "rdplus.h"

struct api;
struct blob;
struct content;
struct journal;
struct inode_ref;
struct offline;

/* The tag folders listed lately, and the last of each one's files
 * opened: files opened in its order are a walk, files opened out of it
 * a shuffled reader (src/fs/walk.c).  A data loader's class folders are
 * listings of their own. */
#define FS_WALKS 64
struct fs_walks {
	struct fs_walk {
		bool used;
		uint32_t ds, tag, folder;
		uint32_t last;	 /* UINT32_MAX: none yet */
		unsigned jumps;	 /* opens out of order since the last in it */
		bool shuffled;	 /* fetched in the background */
		uint32_t cursor; /* the last sample queued; UINT32_MAX: none */
		/* read URLs asked for up to url_last; the next page is due
		 * once the files fetched ahead reach url_due */
		uint32_t url_last, url_due;
	} w[FS_WALKS];
	unsigned next;
	uint64_t shuffled;    /* listings found read out of order */
	uint64_t too_big;     /* of them, tags bigger than the content cache */
	uint64_t cache_bytes; /* -o content_cache_mb */
};

struct fs {
	/* guards model, cache and edits; order: lock, then notify.lock,
	 * then the logger's and http's own locks */
	pthread_mutex_t lock;
	struct api *api; /* borrowed */
	const char *server_name;
	uid_t uid;
	gid_t gid;
	mode_t umask;		/* node_stat_dir / node_stat_file apply it */
	size_t cache_max_bytes; /* 0: unbounded */
	double flush_timeout_s;
	char *state_dir; /* journal and trash; NULL: neither */
	double trash_days;
	long export_expires_s;
	char *access_control;
	struct journal *journal; /* edits not yet on the server; owned */
	struct model model;
	struct cache cache;
	struct edits edits;
	struct notify notify;
	/* sample content (fs/nodes/sample.c); NULL without cache_dir */
	struct blob *blob; /* borrowed */
	struct content *content;
	/* the kernel page cache's way in; store_lock (a leaf) held for
	 * reading across a call, so unmount waits for the calls running */
	pthread_rwlock_t store_lock;
	fs_store_cb store;
	void *store_arg;
	char *cache_dir;
	uint64_t content_cache_bytes, prefetch_bytes;
	unsigned prefetch_files;
	bool thumbnails;
	double reap_at; /* cache_now() s: the next look for dead tags */
	struct fs_walks walks;
	struct rdplus rdplus;
	/* the snapshot and the way back online (fs/offline.c, its owner);
	 * offline is read without the lock by every FUSE thread */
	struct offline *off;
	atomic_bool offline;
};

#endif

/* struct fs: the one pointer every module of the filesystem layer gets.
 * It only composes the modules' own state; each part is documented (and
 * written) by its owner.  The locking contract is in node.h. */
#ifndef LIGHTLYFS_FS_CTX_H
#define LIGHTLYFS_FS_CTX_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cache.h"
#include "edits.h"
#include "fs.h"
#include "model.h"
#include "notify.h"

struct api;
struct journal;

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
};

#endif

/* The model shared by fs.c (reading) and fs_edit.c (tag management and
 * bitmask edits).  Everything here is guarded by fs->lock. */
#ifndef LIGHTLYFS_FS_INTERNAL_H
#define LIGHTLYFS_FS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "api.h"
#include "bitmask.h"
#include "fs.h"
#include "inode.h"

#define FS_META_DIR ".lightly"
#define FS_RECENTLY_DELETED 8

/* Freshness and single-flight state of one loadable thing. */
struct load {
	double fetched_at; /* monotonic s; 0 = never; counts as fresh for TTL */
	double good_at;    /* monotonic s of the last successful load */
	bool busy;
	int err; /* of the last attempt */
};

/* A folder made with mkdir inside a tag that holds no sample yet: it lives
 * only in the mount (the server has no empty folders). */
struct local_folder {
	uint32_t id;     /* folder id, above every index folder id */
	uint32_t parent; /* folder id */
	char *name;      /* last component */
	char *path;      /* full path inside the tag, no trailing '/' */
};

struct tag {
	uint32_t slot;
	bool live;
	bool seen;
	bool created_locally;
	char id[API_ID_LEN + 1];
	char prev[API_ID_LEN + 1];
	char *name;
	struct bitmask mask; /* what the mount shows: server + pending edits */
	bool mask_loaded;
	int mask_err;
	uint64_t hex_hash; /* of the last bitMaskData the server sent */
	uint64_t gen;      /* bumps whenever mask changes */
	struct timespec mtime;
	int64_t created_ms, modified_ms, tot_size;
	/* folders holding any sample of the tag, valid when
	 * folders_gen == gen + 1 */
	struct bitmask folders;
	uint64_t folders_gen;
	/* samples the index must hold for this mask, valid when
	 * need_gen == gen + 1 */
	size_t need;
	uint64_t need_gen;
	/* fallback listing (server without mappings) */
	bool fallback_busy;
	uint64_t fallback_gen;
	/* edits */
	struct bitmask server_mask; /* last mask the server holds */
	bool dirty;                 /* mask differs from the server's */
	bool flushing;              /* a PUT is on the wire */
	bool renaming;              /* a rename or delete is on the wire */
	double last_edit;           /* monotonic s */
	uint64_t edit_seq;          /* d->edit_seq at our last change */
	double retry_at, retry_delay;
	int flush_err;              /* refused flush, told by next fsync */
	struct local_folder *local;
	size_t nlocal;
};

struct dataset {
	uint32_t slot;
	bool live;
	bool seen;
	char id[API_ID_LEN + 1];
	char *name;
	char *display; /* name, or name@id when two share it; NULL hidden */
	char *json;
	char *img_type;
	int64_t created_ms, modified_ms, n_samples;
	struct timespec mtime; /* changes when the tag list changes */
	struct tag **tags;     /* by slot */
	size_t ntags, tags_cap;
	struct load tags_load;
	struct name_index *index;
	struct load index_load;
	bool fallback;
	double last_used;      /* monotonic s, for eviction */
	unsigned index_users;  /* open listings that read the index */
	char recently_deleted[FS_RECENTLY_DELETED][API_ID_LEN + 1];
	unsigned deleted_next;
	/* counts our changes, so a listing requested before one of them
	 * cannot undo it when it arrives after */
	uint64_t edit_seq;
};

struct fs {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct api *api;
	const char *server_name;
	double ttl_s;
	double max_stale_s;
	double down_until; /* monotonic s: a load failed; serve stale until */
	uid_t uid;
	gid_t gid;
	bool sync_edits;
	unsigned flush_delay_ms;
	size_t mappings_page;
	char single_id[API_ID_LEN + 1];
	struct timespec mount_time;
	struct timespec root_mtime;
	struct timespec last_stamp;
	struct dataset **ds; /* by slot */
	size_t nds, ds_cap;
	struct load ds_load;
	/* cache accounting, for the size bound and .lightly/stats */
	size_t cache_max_bytes; /* 0: unbounded */
	uint64_t hits, misses, evictions, stale_served;
	/* edits */
	pthread_t flusher, notifier;
	bool threads_running;
	bool stopping;
	pthread_cond_t flush_cond;
	uint32_t next_local_folder;
	uint64_t flushes;
	/* kernel invalidations waiting for the notifier thread */
	pthread_cond_t notify_cond;
	struct notify_item *notify;
	size_t nnotify, notify_cap;
	fs_notify_cb notify_cb;
	void *notify_arg;
};

double fs_now(void);
/* FNV-1a of a string: tells a bitMaskData we already hold from a new one. */
uint64_t fs_hash_str(const char *s);
struct timespec fs_change_stamp(struct fs *fs);
struct dataset *fs_dataset(struct fs *fs, uint32_t slot);
struct tag *fs_tag(struct dataset *d, uint32_t slot);
struct tag *fs_tag_by_name(struct dataset *d, const char *name);
int fs_ensure_datasets(struct fs *fs);
int fs_ensure_tags(struct fs *fs, struct dataset *d);
int fs_ensure_index(struct fs *fs, struct dataset *d, size_t need);
int fs_ensure_tag_listing(struct fs *fs, struct dataset *d, struct tag *t);
bool fs_tag_has_folder(const struct tag *t, uint32_t folder);
int fs_resolve(struct fs *fs, uint64_t ino, struct inode_ref *r);
int fs_check_ref(struct fs *fs, struct inode_ref *r);
int fs_lookup_locked(struct fs *fs, const struct inode_ref *p,
		     const char *name, struct inode_ref *out);
void fs_stat_ref(struct fs *fs, const struct inode_ref *r, struct stat *st);
int fs_stats_json(struct fs *fs, char **data, size_t *len);

void fs_notify_push(struct fs *fs, uint64_t parent, uint64_t ino,
		    const char *name);
uint64_t fs_tag_ino(const struct dataset *d, const struct tag *t,
		    uint32_t folder);

/* fs_edit.c */
int fs_edit_start(struct fs *fs);
void fs_edit_stop(struct fs *fs);
bool fs_tag_busy(const struct tag *t);
void fs_tag_edit_dispose(struct tag *t);
bool fs_tag_recently_deleted(const struct dataset *d, const char *id);
bool fs_local_folder_find(const struct tag *t, uint32_t folder);
uint32_t fs_local_folder_lookup(const struct tag *t, uint32_t parent,
				const char *name);
typedef int (*fs_dir_add_cb)(struct fs_dir *dir, const char *name,
			     const struct inode_ref *ref);
int fs_local_folders_snapshot(const struct tag *t, uint32_t parent,
			      fs_dir_add_cb add, struct fs_dir *dir,
			      const struct inode_ref *dir_ref);

#endif

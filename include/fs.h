/* The filesystem's model of the account: datasets, their tags (with
 * bitmasks) and name indexes, kept fresh for ttl seconds with single-flight
 * loading, and the tag edits made through the mount.  Answers in terms of
 * inode numbers and struct stat; knows nothing of FUSE requests (fsops.c
 * adapts).  One mutex guards the model; it is never held across a request
 * to the server. */
#ifndef LIGHTLYFS_FS_H
#define LIGHTLYFS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct api;
struct blob;

struct fs_config {
	struct api *api;	/* borrowed; outlives the fs */
	const char *server;	/* for error messages; borrowed */
	double ttl_s;		/* freshness of everything read */
	double max_stale_s;	/* how long data may outlive failed refreshes */
	const char *dataset;	/* ID or name to mount as the root, or NULL */
	bool sync_edits;	/* send each edit at once */
	size_t cache_max_bytes; /* bound on cached names and masks; 0: none */
	unsigned flush_delay_ms;
	double flush_timeout_s;	    /* fs_stop's bound on sending edits */
	const char *state_dir;	    /* where the journal and the trash live */
	double trash_days;	    /* how long deleted tags stay restorable */
	long export_expires_s;	    /* -o export_expires; < 0: not sent */
	const char *access_control; /* -o access_control or NULL */
	const char *account;	    /* secret naming the journal; only hashed */
	uid_t uid;
	gid_t gid;
	mode_t umask; /* taken off the mode of every entry (-o umask=) */
	/* sample content: NULL cache_dir or blob leaves sample files empty */
	struct blob *blob; /* borrowed; outlives the fs */
	const char *cache_dir;
	uint64_t content_cache_bytes; /* 0: kept only while open */
	unsigned prefetch_files;      /* files fetched ahead of a walk */
	uint64_t prefetch_bytes;      /* bytes in flight for them */
	bool thumbnails;	      /* files hold the thumbnails */
	bool offline;		      /* -o offline: from the snapshot only */
	double offline_retry_s;	      /* offline, the server asked again */
};

struct fs;

/* Validates the token and the server with one request (and resolves
 * cfg->dataset).  On failure writes a one-line reason into err.
 * 0, -EACCES, -ECONNREFUSED, -ENOENT, -ENOMEM, ... */
int fs_new(const struct fs_config *cfg, struct fs **out, char *err,
	   size_t errsz);
/* Opens the journal of unsent edits (cfg->state_dir) and sends what an
 * earlier run left in it, before the mount answers anything.  On failure
 * writes a one-line reason into err. */
int fs_open_journal(struct fs *fs, const struct fs_config *cfg, char *err,
		    size_t errsz);
/* Starts fs's own threads (edit flushing, kernel notifications): after
 * fuse_daemonize, whose fork would leave them behind.  0 or -EAGAIN. */
int fs_start(struct fs *fs);
/* Sends pending edits for up to flush_timeout seconds.  Returns how many
 * tags still have edits waiting (kept in the journal for the next mount);
 * 0 when everything is on the server. */
size_t fs_stop(struct fs *fs);
/* fs_free(NULL) does nothing. */
void fs_free(struct fs *fs);

/* Serving the snapshot of the listings, read-only (fs/offline.c): every
 * edit gives -EROFS, what needs the server -ENETDOWN.  Thread safe. */
bool fs_offline(const struct fs *fs);

/* Timeouts the kernel may cache entries and attributes for. */
double fs_entry_timeout(const struct fs *fs);

/* The kernel forgot nlookup references to ino (its FORGET). */
void fs_forget(struct fs *fs, uint64_t ino, uint64_t nlookup);
int fs_lookup(struct fs *fs, uint64_t parent, const char *name,
	      struct stat *st);
int fs_getattr(struct fs *fs, uint64_t ino, struct stat *st);

/* A directory listing, taken when read from offset 0 and streamed by
 * offset from that snapshot. */
struct fs_dir;
/* Called per entry; next_off is the offset of the entry after it.  Return
 * non-zero to stop (the reply buffer is full). */
typedef int (*fs_fill_cb)(const char *name, const struct stat *st,
			  off_t next_off, void *arg);
int fs_opendir(struct fs *fs, uint64_t ino, struct fs_dir **out);
/* plus: the kernel takes attributes with the entries (readdirplus). */
int fs_readdir(struct fs *fs, struct fs_dir *d, off_t off, bool plus,
	       fs_fill_cb cb, void *arg);
void fs_releasedir(struct fs *fs, struct fs_dir *d);
/* The pages of the sample listing (sizes) the next readdirplus batches of
 * a listing reach: picked by fs_readdir_ahead before a batch is answered,
 * loaded together by fs_readdir_ahead_run after, while the kernel copies
 * the batch and asks for the next. */
#define FS_DIR_AHEAD_PAGES 4
struct fs_dir_ahead {
	struct dataset *d;
	uint32_t page[FS_DIR_AHEAD_PAGES];
	unsigned n;
};
/* next: the offset after the batch's last entry. */
void fs_readdir_ahead(struct fs *fs, struct fs_dir *d, off_t next,
		      struct fs_dir_ahead *a);
void fs_readdir_ahead_run(struct fs *fs, struct fs_dir_ahead *a);

/* An open file (node.h's struct node_file), of any kind: its kind's
 * content ops answer, without fs's lock.  fs_open: 0, -ENOENT, -EISDIR,
 * -EACCES (written where its kind takes no writes), -EIO, -ENOMEM. */
struct node_file;
struct content_read;
int fs_open(struct fs *fs, uint64_t ino, int flags, struct node_file **out);
/* A file create just made (a sample added to a tag): its content is
 * opened at its first write. */
int fs_open_created(struct fs *fs, uint64_t ino, struct node_file **out);
/* The kernel must not keep f's pages: the size stat gave is not its
 * true one (the kernel has been told), or it is made at open. */
bool fs_file_direct(const struct node_file *f);
/* 0 and where the bytes at off are (struct content_read: r->got of them,
 * short only at the end; a cache file or memory), or -EIO: the next read
 * tries again.  r is held until fs_read_done. */
int fs_read(struct node_file *f, size_t len, off_t off, char *scratch,
	    struct content_read *r);
void fs_read_done(struct node_file *f, struct content_read *r);
/* Bytes written: the count taken, or -EPERM (a sample's file takes only
 * its own bytes, a copy onto it; DS/.lightly/upsize takes a name). */
int fs_write(struct fs *fs, struct node_file *f, const char *buf, size_t len,
	     off_t off);
/* fs_release(NULL) does nothing. */
void fs_release(struct node_file *f);

/* st_size of an entry in a listing whose document is not fetched yet: a
 * readdirplus sends no attributes for it, so the kernel asks (and the
 * lookup fetches) before anyone reads a size. */
#define FS_SIZE_UNKNOWN ((off_t)-1)

/* Tag management and bitmask edits (see README "Managing tags").  Each
 * fills *st for the new entry where there is one. */
int fs_mkdir(struct fs *fs, uint64_t parent, const char *name, struct stat *st);
int fs_rmdir(struct fs *fs, uint64_t parent, const char *name);
int fs_rename(struct fs *fs, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags);
int fs_unlink(struct fs *fs, uint64_t parent, const char *name);
/* Takes back what a create added, whose entry the kernel was given. */
int fs_uncreate(struct fs *fs, uint64_t parent, const char *name);
int fs_link(struct fs *fs, uint64_t ino, uint64_t newparent,
	    const char *newname, struct stat *st);
/* *added: the sample joined the tag (it was not there before). */
int fs_create(struct fs *fs, uint64_t parent, const char *name, struct stat *st,
	      bool *added);
/* Sends the pending edits of the tag that holds ino (all tags for the root
 * or when ino is 0) and reports a refused earlier flush once. */
int fs_fsync(struct fs *fs, uint64_t ino);
/* How fs tells the kernel that cached entries changed: parent != 0
 * invalidates the entry name in directory parent, else the attributes and
 * listing of ino.  Called from a thread of fs's own, never while serving a
 * request. */
typedef void (*fs_notify_cb)(uint64_t parent, uint64_t ino, const char *name,
			     void *arg);
void fs_set_notify(struct fs *fs, fs_notify_cb cb, void *arg);
/* How fs hands a sample's bytes to the kernel's page cache: size bytes
 * of ino read from fd at 0.  Called from content workers, no lock held;
 * fs_set_store(fs, NULL, NULL) returns once no call is running. */
typedef void (*fs_store_cb)(uint64_t ino, int fd, uint64_t size, void *arg);
void fs_set_store(struct fs *fs, fs_store_cb cb, void *arg);

/* Drops every cached thing (SIGHUP). */
void fs_drop_caches(struct fs *fs);

#endif

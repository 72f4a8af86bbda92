/* What each kind of entry does: one struct node_ops per kind, one table
 * (nodes/table.c), each family of kinds in its own file under nodes/, and
 * what the kinds share (node.c).  Adding a kind is one ops struct and one
 * row.  Every request reaches a kind through the table, a file's bytes
 * too: fs.c -> the table -> nodes/<kind>.c, and nothing below fs.c calls
 * up into it.
 *
 * The locking contract.  fs->lock guards the model, the cache and the
 * edits.  Every op runs with it held (fs.c takes it, resolves, calls
 * check, then the op).  An op may drop it only inside cache_load(),
 * cache_unlocked() and the functions documented to call them (refresh_*,
 * tagview_ensure, edits_set_sample with sync_edits, edits_fsync), and
 * never across anything but the request itself.  Model pointers stay valid
 * across a drop (slots live until fs_free) but may stop being live: after
 * any of those calls re-check t->live or look the entry up again.  The
 * notify queue has its own lock, taken after fs->lock; the logger's and
 * http's locks come last.  The content ops (open, read, write, release)
 * are the exception: they stream and may wait for the network, so they
 * run without fs->lock and take it with node_enter where they need the
 * model.
 *
 * A NULL op is refused: lookup and list with -ENOTDIR, open with -EISDIR
 * (a directory), write and the edits with -EPERM. */
#ifndef LIGHTLYFS_NODE_H
#define LIGHTLYFS_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "inode.h"

struct fs;
struct fs_dir;
struct dataset;
struct content_read;

/* An open file: made by fs_open (or fs_open_created), handed back to its
 * kind's read, write and release.  A generated file keeps its bytes,
 * made at open, in data; a streaming kind keeps what it needs in priv. */
struct node_file {
	uint64_t ino;
	struct inode_ref ref;
	const struct node_ops *ops;
	/* the kernel must not keep its pages: their size is not the one
	 * stat gave */
	bool direct;
	char *data;
	size_t len;
	void *priv; /* the kind's own; set at most once (atomically) */
};

struct node_ops {
	bool dir;
	/* r still exists; refreshes what went stale on the way */
	int (*check)(struct fs *fs, struct inode_ref *r);
	void (*stat)(struct fs *fs, const struct inode_ref *r, struct stat *st);
	int (*lookup)(struct fs *fs, const struct inode_ref *dir,
		      const char *name, struct inode_ref *out);
	/* name is known not to be in dir from what is in memory, without a
	 * request: the probes of file managers (.hidden, .Trash-1000, ...).
	 * No lock is dropped; NULL: never known. */
	bool (*absent)(struct fs *fs, const struct inode_ref *dir,
		       const char *name);
	/* fills the snapshot (dir->ref is the directory) */
	int (*list)(struct fs *fs, struct fs_dir *dir);
	/* The content ops: without fs->lock (see above).  open fills f (its
	 * ino, ref and ops are set); read says where len bytes
	 * at off are (struct content_read: a file or memory, short only at
	 * the end), held until read_done; write takes bytes (the count taken
	 * or -errno); release frees what open made.  A generated file's kind
	 * uses the node_buffer_* ops below with its fill. */
	int (*open)(struct fs *fs, struct node_file *f, int flags);
	int (*read)(struct node_file *f, size_t len, off_t off, char *scratch,
		    struct content_read *rd);
	void (*read_done)(struct node_file *f, struct content_read *rd);
	int (*write)(struct fs *fs, struct node_file *f, const char *buf,
		     size_t len, off_t off);
	void (*release)(struct node_file *f);
	/* a generated file's whole content at open (lock held): malloc'd
	 * into *data, freed at release */
	int (*fill)(struct fs *fs, const struct inode_ref *r, char **data,
		    size_t *len);
	/* mkdir, create and link give the new entry (fs.c stats it) */
	int (*mkdir)(struct fs *fs, const struct inode_ref *dir,
		     const char *name, struct inode_ref *out);
	int (*rmdir)(struct fs *fs, const struct inode_ref *dir,
		     const char *name);
	int (*unlink)(struct fs *fs, const struct inode_ref *dir,
		      const char *name);
	/* *added: the sample was not in the tag before */
	int (*create)(struct fs *fs, const struct inode_ref *dir,
		      const char *name, struct inode_ref *out, bool *added);
	/* a new name in dir for src */
	int (*link)(struct fs *fs, const struct inode_ref *src,
		    const struct inode_ref *dir, const char *name,
		    struct inode_ref *out);
	int (*rename)(struct fs *fs, const struct inode_ref *dir,
		      const char *name, const struct inode_ref *newdir,
		      const char *newname);
};

/* The ops of r's kind (never NULL: unknown kinds get an all-NULL row). */
const struct node_ops *node_ops_of(const struct inode_ref *r);

/* Resolves ino, takes fs->lock and checks the entry: on success the lock
 * is held, on failure not.  node_leave unlocks and turns ret into what a
 * caller is told (node_errno: a server out of reach is -EIO; the log has
 * the cause).  node_file_enter is the same for an open file's own entry
 * (its content ops: *r is f's ref, checked by its kind). */
int node_enter(struct fs *fs, uint64_t ino, struct inode_ref *r);
int node_file_enter(struct fs *fs, const struct node_file *f,
		    struct inode_ref *r);
int node_leave(struct fs *fs, int ret);
/* The kernel was given an entry numbered ino (lock held); it forgot
 * nlookup of them (takes the lock).  Numbers naming a tag slot keep the
 * slot from reuse while the kernel holds them. */
void node_entry_given(struct fs *fs, uint64_t ino);
void node_forget(struct fs *fs, uint64_t ino, uint64_t nlookup);
int node_errno(int ret);

/* A generated file's content ops: fill's bytes, made at open. */
int node_buffer_open(struct fs *fs, struct node_file *f, int flags);
int node_buffer_read(struct node_file *f, size_t len, off_t off, char *scratch,
		     struct content_read *rd);
void node_buffer_release(struct node_file *f);

/* The content layer that sample files read through (nodes/sample.c):
 * started with fs's threads, after the fork.  0 without a cache_dir. */
int node_sample_start(struct fs *fs);
/* The content layer's key for sample s (its info loaded). */
struct sample_info;
struct content_key;
void node_sample_key(const struct dataset *d, uint32_t s,
		     const struct sample_info *i, struct content_key *k);
/* What a page of read URLs (content_urls_ahead) needs of n samples of a
 * tag: their names (in buf) and places among the tag's samples in index
 * order (the export's order). */
struct node_url_page {
	char tag_id[API_ID_LEN + 1];
	const char **names;
	uint32_t *ranks;
	char *buf;
};
struct tag;
/* v[0, n): samples of t, ascending.  0, or -ENOMEM with u empty.  Lock
 * held: the names are copied. */
int node_url_page(const struct dataset *d, const struct tag *t,
		  const uint32_t *v, size_t n, struct node_url_page *u);
void node_url_page_dispose(struct node_url_page *u);
/* The samples of tag folder r (kind INODE_KIND_TAG) at any depth, by index
 * number in *out (malloc'ed, *n of them); *d is their dataset.  May drop
 * the lock (the tag's listing is made ready). */
int node_tag_samples(struct fs *fs, const struct inode_ref *r,
		     struct dataset **d, uint32_t **out, size_t *n);

/* ino to ref; in single-dataset mode the root is that dataset.  -ESTALE
 * for a number no entry of this mount can have. */
int node_resolve(const struct fs *fs, uint64_t ino, struct inode_ref *r);
int node_check(struct fs *fs, struct inode_ref *r);
void node_stat(struct fs *fs, const struct inode_ref *r, struct stat *st);
/* One component below dir into *out (may drop the lock, see above). */
int node_lookup(struct fs *fs, const struct inode_ref *dir, const char *name,
		struct inode_ref *out);

/* An absent op for the root and a dataset: no dataset or tag name starts
 * with '.' (model_component_ok), so every such name but .lightly is. */
bool node_dot_absent(struct fs *fs, const struct inode_ref *dir,
		     const char *name);

/* Shared by the kinds below a dataset: datasets are fresh and r's is
 * shown; *d is it. */
int node_check_dataset(struct fs *fs, const struct inode_ref *r,
		       struct dataset **d);
/* A rename from dir into newdir stays within one dataset's tags: 0,
 * -EXDEV (another dataset, or the root) or -EPERM. */
int node_rename_target(const struct inode_ref *dir,
		       const struct inode_ref *newdir);
void node_stat_dir(struct fs *fs, struct stat *st, const struct inode_ref *r,
		   struct timespec mtime, struct timespec atime);
void node_stat_file(struct fs *fs, struct stat *st, const struct inode_ref *r,
		    mode_t mode, size_t size, struct timespec mtime);

/* The kinds' ops, defined in nodes/; the table (nodes/table.c) names
 * them. */
extern const struct node_ops node_root_ops, node_root_meta_ops, node_stats_ops,
    node_dataset_ops, node_tag_ops, node_sample_ops, node_meta_ops,
    node_meta_dataset_ops, node_meta_tags_ops, node_meta_tag_ops,
    node_meta_trash_ops, node_meta_trash_json_ops, node_meta_exports_ops,
    node_meta_export_ops, node_meta_export_zip_ops, node_meta_upsize_ops,
    node_meta_warmup_ops, node_readme_ops;

#endif

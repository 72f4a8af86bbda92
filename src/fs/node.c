/* What every kind of entry shares (node.h): resolving a number, entering
 * and leaving the lock, the dataset check, the shape of a directory's or
 * a file's stat, and the content ops of generated files.  The kinds use
 * it; it knows none of them (the table is nodes/table.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "content.h"
#include "edits.h"
#include "inode.h"
#include "fs_ctx.h"
#include "node.h"
#include "refresh.h"

#define NODE_DIR_BLKSIZE (1u << 17)

/* A server that cannot be reached is an I/O error to the caller (the
 * cause is in the log), not a refused connection of its own. */
int node_errno(int ret)
{
	switch (ret) {
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -EHOSTUNREACH:
	case -ENXIO:
	case -ENETUNREACH:
	case -EHOSTDOWN:
		return -EIO;
	default:
		return ret;
	}
}

int node_file_enter(struct fs *fs, const struct node_file *f,
		    struct inode_ref *r)
{
	int ret;

	*r = f->ref;
	pthread_mutex_lock(&fs->lock);
	ret = f->ops->check ? f->ops->check(fs, r) : -ESTALE;
	if (ret)
		pthread_mutex_unlock(&fs->lock);
	return node_errno(ret);
}

/* ---- the kernel's references to tag slots (model.h) ---- */

#define NODE_REAP_EVERY_S 1.0

static struct tag *slot_tag(struct fs *fs, uint64_t ino)
{
	struct inode_ref r;
	struct dataset *d;

	if (inode_decode(ino, &r) || !inode_kind_has_tag(r.kind) ||
	    r.ds >= fs->model.nds)
		return NULL;
	d = fs->model.ds[r.ds];
	return r.tag < d->ntags ? d->tags[r.tag] : NULL;
}

void node_entry_given(struct fs *fs, uint64_t ino)
{
	struct tag *t = slot_tag(fs, ino);

	if (t)
		t->kernel_refs++;
}

void node_forget(struct fs *fs, uint64_t ino, uint64_t nlookup)
{
	struct inode_ref r;
	struct tag *t;

	if (inode_decode(ino, &r) || !inode_kind_has_tag(r.kind))
		return;
	pthread_mutex_lock(&fs->lock);
	t = slot_tag(fs, ino);
	if (t)
		t->kernel_refs -=
		    nlookup < t->kernel_refs ? nlookup : t->kernel_refs;
	pthread_mutex_unlock(&fs->lock);
}

/* At the end of an operation, with the lock: while no other thread is
 * away from it (cache.h), none holds a pointer to a tag, and the slots
 * of dead tags that neither the kernel nor a pending move names can go. */
static void reap_tags(struct fs *fs)
{
	struct model *m = &fs->model;
	double now;

	if (fs->cache.away)
		return;
	now = cache_now();
	if (now < fs->reap_at)
		return;
	fs->reap_at = now + NODE_REAP_EVERY_S;
	for (size_t i = 0; i < m->nds; i++) {
		struct dataset *d = m->ds[i];

		for (size_t j = 0; j < d->ntags; j++)
			if (model_tag_reapable(d->tags[j]) &&
			    !edits_names_tag(&fs->edits, d->slot, (uint32_t)j))
				model_tag_reap(d, d->tags[j]);
	}
}

int node_leave(struct fs *fs, int ret)
{
	reap_tags(fs);
	pthread_mutex_unlock(&fs->lock);
	return node_errno(ret);
}

int node_resolve(const struct fs *fs, uint64_t ino, struct inode_ref *r)
{
	int ret = inode_decode(ino, r);
	bool single = fs->model.single_id[0];

	if (ret)
		return ret;
	if (!single)
		return 0;
	if (r->kind == INODE_KIND_ROOT) {
		r->kind = INODE_KIND_DATASET;
		r->ds = 0;
	}
	if (r->kind == INODE_KIND_ROOT_META || r->kind == INODE_KIND_STATS ||
	    r->kind == INODE_KIND_ROOT_README)
		return -ESTALE;
	return 0;
}

/* Generated content is made whole at open and fixed until release: what
 * a reader gets is one document, whatever changes meanwhile. */
int node_buffer_open(struct fs *fs, struct node_file *f, int flags)
{
	struct inode_ref r;
	int ret = node_file_enter(fs, f, &r);

	(void)flags;
	if (ret)
		return ret;
	/* its size is not known to stat */
	f->direct = true;
	return node_leave(fs, f->ops->fill(fs, &r, &f->data, &f->len));
}

int node_buffer_read(struct node_file *f, size_t len, off_t off, char *scratch,
		     struct content_read *rd)
{
	(void)scratch;
	memset(rd, 0, sizeof(*rd));
	rd->fd = -1;
	if (off < 0 || (size_t)off >= f->len)
		return 0;
	rd->got = len < f->len - (size_t)off ? len : f->len - (size_t)off;
	rd->iov[0].iov_base = f->data + off;
	rd->iov[0].iov_len = rd->got;
	rd->niov = 1;
	return 0;
}

void node_buffer_release(struct node_file *f)
{
	free(f->data);
	f->data = NULL;
}

bool node_dot_absent(struct fs *fs, const struct inode_ref *dir,
		     const char *name)
{
	(void)fs, (void)dir;
	return name[0] == '.' && strcmp(name, MODEL_META_DIR);
}

int node_check_dataset(struct fs *fs, const struct inode_ref *r,
		       struct dataset **d)
{
	int ret = refresh_datasets(fs);

	if (ret)
		return ret;
	*d = model_dataset(&fs->model, r->ds);
	if (!*d || (!(*d)->display && !fs->model.single_id[0]))
		return -ENOENT;
	return 0;
}

int node_rename_target(const struct inode_ref *dir,
		       const struct inode_ref *newdir)
{
	if (newdir->kind != INODE_KIND_DATASET &&
	    newdir->kind != INODE_KIND_TAG)
		return newdir->kind == INODE_KIND_ROOT ? -EXDEV : -EPERM;
	return newdir->ds != dir->ds ? -EXDEV : 0;
}

void node_stat_dir(struct fs *fs, struct stat *st, const struct inode_ref *r,
		   struct timespec mtime, struct timespec atime)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = inode_encode(r);
	st->st_mode = S_IFDIR | (0755 & ~fs->umask);
	st->st_nlink = 2;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = NODE_DIR_BLKSIZE;
	st->st_mtim = mtime;
	st->st_ctim = mtime;
	st->st_atim = atime;
}

void node_stat_file(struct fs *fs, struct stat *st, const struct inode_ref *r,
		    mode_t mode, size_t size, struct timespec mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = inode_encode(r);
	st->st_mode = S_IFREG | (mode & 07777 & ~fs->umask);
	st->st_nlink = 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)size;
	st->st_blksize = 4096;
	st->st_mtim = mtime;
	st->st_ctim = mtime;
	st->st_atim = mtime;
}

/* fuse_lowlevel_ops: thin adapters from kernel requests to fs.c.  Each
 * handler decodes its arguments, calls one fs_* function and replies with
 * its result; errors go straight to fuse_reply_err. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "content.h"
#include "fs.h"
#include "fsops.h"
#include "log.h"
#include "rdplus.h"

/* An open file: fs's handle of it.  Counted: a READ whose caller was
 * killed can still be replying when the kernel already sends RELEASE. */
struct open_file {
	atomic_int refs;
	struct node_file *file;
	/* made by this create: a refused write takes the sample out again,
	 * so a command that fails changes nothing */
	fuse_ino_t created_in;
	char *created_name;
};

static void open_file_put(struct open_file *f)
{
	if (f && atomic_fetch_sub(&f->refs, 1) == 1) {
		free(f->created_name);
		fs_release(f->file);
		free(f);
	}
}

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void fill_entry(struct fs *fs, struct fuse_entry_param *e,
		       const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	e->ino = st->st_ino;
	e->attr = *st;
	if (e->attr.st_size < 0)
		e->attr.st_size = 0; /* FS_SIZE_UNKNOWN: not learnt yet */
	e->attr_timeout = fs_entry_timeout(fs);
	e->entry_timeout = fs_entry_timeout(fs);
}

static void reply_entry_or_err(fuse_req_t req, int ret, const struct stat *st)
{
	struct fuse_entry_param e;

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fill_entry(fs_of(req), &e, st);
	fuse_reply_entry(req, &e);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* The kernel keeps listings between opens and asks for attributes
	 * with readdirplus; both are what makes a warm `ls` cheap. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* sample bytes go from the cache file to the kernel without a copy
	 * through the daemon */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct stat st;
	int ret;

	rdplus_lookup(fs, parent);
	ret = fs_lookup(fs, parent, name, &st);
	if (ret == -ENOENT) {
		/* a negative entry the kernel may cache for the TTL */
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs_entry_timeout(fs);
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry_or_err(req, ret, &st);
}

/* Numbers are computed; only a tag slot's count of them is kept. */
static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_forget(fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		fs_forget(fs_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct stat st;
	int ret = fs_getattr(fs, ino, &st);

	(void)fi;
	if (!ret && st.st_size < 0)
		st.st_size = 0;
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs_entry_timeout(fs));
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* What cp -p, cp -a, rsync -a, install and mv set after a copy is taken
 * when it is already so, and refused (EPERM) when it would change: mode,
 * owner and times come from the dataset.  A file's mode is accepted, and
 * the sample stays 0444, when it lets the owner read and adds no execute
 * or special bit: write bits mean nothing where writing is refused, and
 * group and other bits nothing where only the owner reaches the mount, so
 * cp -p of a local 0644 file and install's interim 0600 work.  Times
 * set to "now" (touch) are accepted and left, and so are a directory's:
 * its mtime is the mount's clock of its listing (cp -a and rsync -a of a
 * folder set it last).  Truncating a sample to 0 (cp onto it, O_TRUNC)
 * or to its size (rsync --inplace) is accepted and changes nothing: what
 * is written must be the sample's own bytes (nodes/sample.c). */
static int setattr_check(const struct stat *cur, const struct stat *attr,
			 int to_set)
{
	if ((to_set & FUSE_SET_ATTR_MODE) && S_ISREG(cur->st_mode) &&
	    (!(attr->st_mode & S_IRUSR) || (attr->st_mode & 07111)))
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_MODE) && !S_ISREG(cur->st_mode) &&
	    (attr->st_mode & 07777) != (cur->st_mode & 07777))
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != cur->st_uid)
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != cur->st_gid)
		return -EPERM;
	/* 0 (O_TRUNC before a copy) and the size it has (rsync --inplace
	 * after one) leave the bytes as they are */
	if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != 0 &&
	    attr->st_size != cur->st_size)
		return -EPERM;
	if (S_ISDIR(cur->st_mode))
		return 0;
	if ((to_set & FUSE_SET_ATTR_ATIME) &&
	    !(to_set & FUSE_SET_ATTR_ATIME_NOW) &&
	    !same_time(&attr->st_atim, &cur->st_atim))
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_MTIME) &&
	    !(to_set & FUSE_SET_ATTR_MTIME_NOW) &&
	    !same_time(&attr->st_mtim, &cur->st_mtim))
		return -EPERM;
	return 0;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct stat st;
	int ret;

	(void)fi;
	ret = fs_getattr(fs, ino, &st);
	if (!ret && fs_offline(fs))
		ret = -EROFS;
	if (!ret)
		ret = setattr_check(&st, attr, to_set);
	if (ret == -EPERM)
		log_debug("setattr of inode %llu refused: only what it is "
			  "already can be set",
			  (unsigned long long)ino);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs_entry_timeout(fs));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_dir *d = NULL;
	int ret = fs_opendir(fs_of(req), ino, &d);

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	/* Let the kernel keep the listing; it drops it when the directory's
	 * mtime changes, which fs.c bumps exactly when the listing does. */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

struct fill_ctx {
	fuse_req_t req;
	struct fs *fs;
	char *buf;
	size_t size, used;
	off_t next; /* after the last entry added */
	bool plus;
};

static int fill_cb(const char *name, const struct stat *st, off_t next_off,
		   void *arg)
{
	struct fill_ctx *c = arg;
	size_t left = c->size - c->used;
	size_t n;

	if (c->plus) {
		struct fuse_entry_param e;

		fill_entry(c->fs, &e, st);
		if (name[0] == '.' &&
		    (!name[1] || (name[1] == '.' && !name[2])))
			e.ino = 0; /* the kernel takes no reference on these */
		/* no size yet: the kernel looks it up before trusting one */
		if (st->st_size == FS_SIZE_UNKNOWN)
			e.ino = 0;
		n = fuse_add_direntry_plus(c->req, c->buf + c->used, left, name,
					   &e, next_off);
	} else {
		n = fuse_add_direntry(c->req, c->buf + c->used, left, name, st,
				      next_off);
	}
	if (n > left)
		return 1;
	c->used += n;
	c->next = next_off;
	return 0;
}

static void do_readdir(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct fill_ctx c = {
	    .req = req, .fs = fs_of(req), .size = size, .plus = plus};
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	struct fs_dir_ahead ahead = {0};
	int ret;

	c.buf = malloc(size ? size : 1);
	if (!c.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = fs_readdir(c.fs, d, off, plus, fill_cb, &c);
	/* a reader that stats (not the first batch: ls -f reads that one
	 * with attributes too); d may be released once the reply is out */
	if (!ret && plus && off > 0 && c.used)
		fs_readdir_ahead(c.fs, d, c.next, &ahead);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, c.buf, c.used);
	free(c.buf);
	fs_readdir_ahead_run(c.fs, &ahead);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	/* before the reply: it frees req */
	rdplus_served_plain(fs_of(req), ino);
	do_readdir(req, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	fs_releasedir(fs_of(req), (struct fs_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_file *f = calloc(1, sizeof(*f));
	struct fs *fs = fs_of(req);
	int ret;

	if (!f) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	atomic_init(&f->refs, 1);
	ret = fs_open(fs, ino, fi->flags, &f->file);
	if (ret) {
		free(f);
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)f;
	/* a sample's bytes do not change while its listing entry does not:
	 * the kernel's page cache may keep them between opens */
	fi->direct_io = fs_file_direct(f->file);
	fi->keep_cache = !fi->direct_io;
	fuse_reply_open(req, fi);
}

/* A thread's buffer for big replies, kept for the thread's life. */
static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;

struct read_buf {
	size_t cap;
	char data[];
};

static void read_buf_make_key(void)
{
	(void)pthread_key_create(&read_buf_key, free);
}

static char *read_buf_get(size_t len)
{
	struct read_buf *b;

	pthread_once(&read_buf_once, read_buf_make_key);
	b = pthread_getspecific(read_buf_key);
	if (b && b->cap >= len)
		return b->data;
	free(b);
	b = malloc(sizeof(*b) + len);
	(void)pthread_setspecific(read_buf_key, b);
	if (!b)
		return NULL;
	b->cap = len;
	return b->data;
}

/* got bytes at off of the cache file fd as the reply.  Small ones are a
 * splice.  A big one would not fit libfuse's pipe, and its fallback reads
 * into a fresh malloc each time, so the pages of a 1 MiB buffer are
 * faulted in and zeroed for every READ (a third of the daemon's time on a
 * 50 MiB cat): big ones are read into a buffer the thread keeps. */
#define READ_SPLICE_MAX ((size_t)256 * 1024)

static void reply_from_fd(fuse_req_t req, int fd, off_t off, size_t got)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(got);
	char *buf;
	ssize_t n;

	if (got <= READ_SPLICE_MAX || !(buf = read_buf_get(got))) {
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, 0);
		return;
	}
	n = pread(fd, buf, got, off);
	if (n < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	fuse_reply_buf(req, buf, (size_t)n);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct open_file *f = (struct open_file *)(uintptr_t)fi->fh;
	char *scratch = read_buf_get(size);
	struct content_read r;
	int ret;

	(void)ino;
	atomic_fetch_add(&f->refs, 1);
	ret = scratch ? fs_read(f->file, size, off, scratch, &r) : -ENOMEM;
	if (ret)
		fuse_reply_err(req, -ret);
	else if (!r.got)
		fuse_reply_buf(req, NULL, 0);
	else if (r.fd >= 0)
		reply_from_fd(req, r.fd, off, r.got);
	else /* bytes in memory: arrived, or made at open */
		fuse_reply_iov(req, r.iov, r.niov);
	if (!ret)
		fs_read_done(f->file, &r);
	open_file_put(f);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct open_file *f = (struct open_file *)(uintptr_t)fi->fh;
	char *undo = NULL;
	int ret;

	if (!size) {
		fuse_reply_write(req, 0);
		return;
	}
	(void)ino;
	ret = fs_write(fs_of(req), f->file, buf, size, off);
	if (ret >= 0) {
		fuse_reply_write(req, (size_t)ret);
		return;
	}
	/* a sample's content comes from the dataset, not from the mount */
	undo = __atomic_exchange_n(&f->created_name, NULL, __ATOMIC_SEQ_CST);
	if (undo)
		fs_uncreate(fs_of(req), f->created_in, undo);
	free(undo);
	fuse_reply_err(req, -ret);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	open_file_put((struct open_file *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct stat st;
	int ret = fs_mkdir(fs_of(req), parent, name, &st);

	(void)mode;
	reply_entry_or_err(req, ret, &st);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -fs_rmdir(fs_of(req), parent, name));
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -fs_unlink(fs_of(req), parent, name));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	fuse_reply_err(req, -fs_rename(fs_of(req), parent, name, newparent,
				       newname, flags));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct stat st;
	int ret = fs_link(fs_of(req), ino, newparent, newname, &st);

	reply_entry_or_err(req, ret, &st);
}

/* Tags hold samples, not paths: a symlink has nothing to point at on the
 * server.  The log says what does the job. */
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link, (void)parent;
	log_warn("symlink %s refused: symbolic links cannot be tagged; to "
		 "add a sample to a tag use a hard link (ln, without -s)",
		 name);
	fuse_reply_err(req, EPERM);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct stat st;
	bool added;
	int ret;

	(void)rdev;
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = fs_create(fs_of(req), parent, name, &st, &added);
	reply_entry_or_err(req, ret, &st);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct open_file *f;
	struct stat st;
	bool added;
	int ret;

	(void)mode;
	ret = fs_create(fs, parent, name, &st, &added);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f || (added && !(f->created_name = strdup(name))) ||
	    fs_open_created(fs, st.st_ino, &f->file)) {
		if (f)
			free(f->created_name);
		free(f);
		if (added)
			fs_unlink(fs, parent, name);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	f->created_in = parent;
	atomic_init(&f->refs, 1);
	fill_entry(fs, &e, &st);
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->direct_io = 1;
	fuse_reply_create(req, &e, fi);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -fs_fsync(fs_of(req), ino));
}

static void op_destroy(void *userdata)
{
	/* fs_stop sends what is pending after the session, bounded by
	 * -o flush_timeout; a second round here would only wait longer */
	(void)userdata;
}

void fsops_notify(uint64_t parent, uint64_t ino, const char *name, void *arg)
{
	struct fuse_session *se = arg;
	int ret;

	if (parent)
		ret = fuse_lowlevel_notify_inval_entry(se, parent, name,
						       strlen(name));
	else
		ret = fuse_lowlevel_notify_inval_inode(se, ino, 0, 0);
	/* ENOENT: the kernel holds nothing to drop */
	if (ret && ret != -ENOENT)
		log_debug("invalidation failed: %s", strerror(-ret));
}

void fsops_store(uint64_t ino, int fd, uint64_t size, void *arg)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT((size_t)size);
	int ret;

	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = 0;
	ret = fuse_lowlevel_notify_store(arg, ino, 0, &bv, 0);
	/* ENOENT: the kernel has no inode for it (a listing without
	 * attributes); its reads then go the usual way */
	if (ret && ret != -ENOENT)
		log_debug("page cache store failed: %s", strerror(-ret));
}

const struct fuse_lowlevel_ops fsops_ops = {
    .init = op_init,
    .destroy = op_destroy,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsync,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .release = op_release,
    /* no flush: nothing is buffered per descriptor, and the ENOSYS of a
     * missing one makes the kernel stop sending FLUSH at every close (a
     * round trip per file of a cp -r) */
    .fsync = op_fsync,
    .statfs = op_statfs,
    .mkdir = op_mkdir,
    .rmdir = op_rmdir,
    .unlink = op_unlink,
    .rename = op_rename,
    .link = op_link,
    .symlink = op_symlink,
    .mknod = op_mknod,
    .create = op_create,
};

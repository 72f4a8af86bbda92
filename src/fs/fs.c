/* The filesystem's entry points (fs.h) and the life cycle of struct fs.
 * Each entry point is the same few steps: resolve the inode number, take
 * the lock, check that the entry still exists (refreshing what went
 * stale), call its kind's op from the node table, unlock.  What each kind
 * does is in nodes/; the locking contract is in node.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "content.h"
#include "dir.h"
#include "fs_ctx.h"
#include "index.h"
#include "log.h"
#include "node.h"
#include "offline.h"
#include "journal.h"
#include "refresh.h"
#include "walk.h"
#include "replay.h"

double fs_entry_timeout(const struct fs *fs)
{
	return fs->cache.ttl_s;
}

int fs_getattr(struct fs *fs, uint64_t ino, struct stat *st)
{
	struct inode_ref r;
	int ret = node_enter(fs, ino, &r);

	if (ret)
		return ret;
	node_stat(fs, &r, st);
	st->st_ino = ino;
	return node_leave(fs, 0);
}

/* -ENOENT when the name is known to be absent without checking the parent
 * (which may cost a request once the TTL is over): a file manager probes
 * every directory it shows for a handful of names no dataset has. */
static int lookup_absent(struct fs *fs, uint64_t parent, const char *name)
{
	const struct node_ops *ops;
	struct inode_ref p;
	bool absent;

	if (name[0] != '.' || node_resolve(fs, parent, &p))
		return 0;
	ops = node_ops_of(&p);
	if (!ops->absent)
		return 0;
	pthread_mutex_lock(&fs->lock);
	absent = ops->absent(fs, &p, name);
	pthread_mutex_unlock(&fs->lock);
	return absent ? -ENOENT : 0;
}

int fs_lookup(struct fs *fs, uint64_t parent, const char *name, struct stat *st)
{
	struct inode_ref p, r;
	int ret;

	if (strlen(name) > INDEX_NAME_MAX)
		return node_resolve(fs, parent, &p) ?: -ENAMETOOLONG;
	ret = lookup_absent(fs, parent, name);
	if (ret)
		return ret;
	ret = node_enter(fs, parent, &p);
	if (ret)
		return ret;
	ret = node_lookup(fs, &p, name, &r);
	/* attributes as fresh as what they describe: a directory's mtime
	 * keys the kernel's cached listing, a document's size is its length */
	if (!ret)
		ret = node_check(fs, &r);
	if (!ret) {
		node_stat(fs, &r, st);
		node_entry_given(fs, st->st_ino);
	}
	return node_leave(fs, ret);
}

void fs_forget(struct fs *fs, uint64_t ino, uint64_t nlookup)
{
	node_forget(fs, ino, nlookup);
}

/* ---- directories ---- */

int fs_opendir(struct fs *fs, uint64_t ino, struct fs_dir **out)
{
	struct fs_dir *dir = calloc(1, sizeof(*dir));
	struct inode_ref r;
	int ret;

	if (!dir)
		return -ENOMEM;
	ret = node_resolve(fs, ino, &dir->ref);
	if (!ret && !node_ops_of(&dir->ref)->dir)
		ret = -ENOTDIR;
	if (!ret)
		ret = node_enter(fs, ino, &r);
	if (ret) {
		free(dir);
		return ret;
	}
	*out = dir;
	return node_leave(fs, 0);
}

/* Takes the listing's snapshot.  Done when the kernel reads from offset
 * 0, not at opendir: the kernel caches a listing under the directory mtime
 * it knew when it started reading, so the snapshot must be at least as new
 * as that mtime, or an edit made between opendir and the first read would
 * be missing from a cache that claims to be current. */
static int dir_build(struct fs *fs, struct fs_dir *dir)
{
	struct inode_ref r = dir->ref;
	const struct node_ops *ops = node_ops_of(&r);
	int ret;

	dir_reset(dir);
	ret = node_check(fs, &r);
	if (ret)
		return ret;
	return ops->list ? ops->list(fs, dir) : -ENOTDIR;
}

/* "." and ".."; glibc hides entries whose d_ino is 0, and the parent's
 * real number is not needed by anyone. */
static int fill_dots(const struct fs_dir *dir, size_t pos, fs_fill_cb cb,
		     void *arg)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFDIR;
	st.st_ino = pos ? INODE_ROOT : inode_encode(&dir->ref);
	return cb(pos ? ".." : ".", &st, (off_t)(pos + 1), arg);
}

/* The sizes of the samples a readdirplus batch from entry pos shows: their
 * pages of the sample listing (may drop the lock; the snapshot is the
 * listing's own and its index pinned). */
#define PRIME_ENTRIES 512

static void prime_sizes(struct fs *fs, struct fs_dir *dir, size_t pos)
{
	size_t first = 2 + dir->nsmall + dir->nfolders, j, end;
	uint32_t page = UINT32_MAX;

	if (!dir->nsamples || !dir->pinned || pos + PRIME_ENTRIES <= first)
		return;
	j = pos > first ? pos - first : 0;
	end = j + PRIME_ENTRIES < dir->nsamples ? j + PRIME_ENTRIES
						: dir->nsamples;
	for (; j < end; j++) {
		uint32_t s = dir->samples[j];

		if (s / SAMPLES_PAGE == page)
			continue;
		page = s / SAMPLES_PAGE;
		/* a page that cannot be had leaves sizes unknown: the kernel
		 * asks for each of them again (fsops) */
		if (samples_ensure(fs, dir->pinned, s, s))
			break;
	}
}

/* Picks the pages of the next few thousand entries that nobody loads yet;
 * ahead_pos makes each entry looked at once per listing, not once per
 * batch. */
void fs_readdir_ahead(struct fs *fs, struct fs_dir *dir, off_t next,
		      struct fs_dir_ahead *a)
{
	size_t first = 2 + dir->nsmall + dir->nfolders, j, end;
	uint32_t page = UINT32_MAX;

	a->n = 0;
	pthread_mutex_lock(&fs->lock);
	a->d = dir->pinned;
	if (!dir->pinned || !dir->nsamples || (size_t)next < first) {
		pthread_mutex_unlock(&fs->lock);
		return;
	}
	j = (size_t)next - first;
	end = j + FS_DIR_AHEAD_PAGES * SAMPLES_PAGE;
	if (end > dir->nsamples)
		end = dir->nsamples;
	if (j < dir->ahead_pos)
		j = dir->ahead_pos;
	for (; j < end && a->n < FS_DIR_AHEAD_PAGES; j++) {
		uint32_t s = dir->samples[j];

		if (s / SAMPLES_PAGE == page)
			continue;
		page = s / SAMPLES_PAGE;
		if (samples_page_wanted(dir->pinned, page))
			a->page[a->n++] = page;
	}
	if (j > dir->ahead_pos)
		dir->ahead_pos = j;
	pthread_mutex_unlock(&fs->lock);
}

void fs_readdir_ahead_run(struct fs *fs, struct fs_dir_ahead *a)
{
	if (a->n)
		samples_load_pages(fs, a->d, a->page, a->n);
}

int fs_readdir(struct fs *fs, struct fs_dir *dir, off_t off, bool plus,
	       fs_fill_cb cb, void *arg)
{
	struct stat st;
	struct inode_ref c;
	size_t total;
	int ret = 0;

	if (off < 0)
		return -EINVAL;
	pthread_mutex_lock(&fs->lock);
	if (off == 0 || !dir->built) {
		ret = dir_build(fs, dir);
		if (ret)
			return node_leave(fs, ret);
		dir->built = true;
		if (dir->ref.kind == INODE_KIND_TAG)
			walk_note(&fs->walks, &dir->ref);
	}
	/* not the first batch, which the kernel reads with attributes
	 * whatever the reader (ls -f): only a reader that stats gets here */
	if (plus && off > 0)
		prime_sizes(fs, dir, (size_t)off);
	total = 2 + dir_count(dir);
	for (size_t pos = (size_t)off; pos < total; pos++) {
		const char *name;

		if (pos < 2) {
			if (fill_dots(dir, pos, cb, arg))
				break;
			continue;
		}
		name = dir_entry_at(dir, pos - 2, &c);
		if (!plus && pos - 2 >= dir->nsmall) {
			/* a plain READDIR passes on the number and the type
			 * alone: the sizes and times of a million samples are
			 * not worth looking up for it */
			st.st_ino = inode_encode(&c);
			st.st_mode =
			    c.kind == INODE_KIND_FILE ? S_IFREG : S_IFDIR;
			if (cb(name, &st, (off_t)(pos + 1), arg))
				break;
			continue;
		}
		if (c.kind == INODE_KIND_DATASET &&
		    !model_dataset(&fs->model, c.ds))
			continue;
		node_stat(fs, &c, &st);
		if (cb(name, &st, (off_t)(pos + 1), arg))
			break;
		/* as the kernel counts: an entry with attributes, whose
		 * number the reply carries (fsops) */
		if (plus && st.st_size != FS_SIZE_UNKNOWN)
			node_entry_given(fs, st.st_ino);
	}
	return node_leave(fs, 0);
}

void fs_releasedir(struct fs *fs, struct fs_dir *dir)
{
	if (!dir)
		return;
	pthread_mutex_lock(&fs->lock);
	dir_reset(dir);
	pthread_mutex_unlock(&fs->lock);
	free(dir);
}

/* ---- files ---- */

/* A file of any kind: its kind's content ops, through the table like
 * every other request (node.h).  They run without the lock. */
static int file_new(struct fs *fs, uint64_t ino, struct node_file **out)
{
	struct node_file *f = calloc(1, sizeof(*f));
	int ret;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	ret = node_resolve(fs, ino, &f->ref);
	if (ret) {
		free(f);
		return ret;
	}
	f->ino = ino;
	f->ops = node_ops_of(&f->ref);
	f->direct = true;
	*out = f;
	return 0;
}

int fs_open(struct fs *fs, uint64_t ino, int flags, struct node_file **out)
{
	struct node_file *f;
	int ret = file_new(fs, ino, &f);

	*out = NULL;
	if (ret)
		return ret;
	if (!f->ops->open)
		ret = f->ops->dir ? -EISDIR : -ESTALE;
	else if ((flags & O_ACCMODE) != O_RDONLY && fs_offline(fs))
		ret = -EROFS;
	/* a sample may be opened for writing (a copy onto it writes its own
	 * bytes); other files only where their kind takes writes */
	else if ((flags & O_ACCMODE) != O_RDONLY && !f->ops->write)
		ret = -EACCES;
	else
		ret = f->ops->open(fs, f, flags);
	if (ret) {
		free(f);
		return ret;
	}
	*out = f;
	return 0;
}

int fs_open_created(struct fs *fs, uint64_t ino, struct node_file **out)
{
	return file_new(fs, ino, out);
}

bool fs_file_direct(const struct node_file *f)
{
	return f->direct;
}

int fs_read(struct node_file *f, size_t len, off_t off, char *scratch,
	    struct content_read *r)
{
	if (!f->ops->read)
		return -EISDIR;
	return f->ops->read(f, len, off, scratch, r);
}

void fs_read_done(struct node_file *f, struct content_read *r)
{
	if (f->ops->read_done)
		f->ops->read_done(f, r);
}

int fs_write(struct fs *fs, struct node_file *f, const char *buf, size_t len,
	     off_t off)
{
	if (!f->ops->write)
		return -EPERM;
	return f->ops->write(fs, f, buf, len, off);
}

void fs_release(struct node_file *f)
{
	if (!f)
		return;
	if (f->ops->release)
		f->ops->release(f);
	free(f);
}

/* ---- edits ---- */

/* The entry a mkdir, create or link made, as the kernel is told of it. */
static int made(struct fs *fs, int ret, const struct inode_ref *r,
		struct stat *st)
{
	if (!ret) {
		node_stat(fs, r, st);
		node_entry_given(fs, st->st_ino);
	}
	return node_leave(fs, ret);
}

int fs_mkdir(struct fs *fs, uint64_t parent, const char *name, struct stat *st)
{
	struct inode_ref p, c;
	int ret = node_enter(fs, parent, &p);
	const struct node_ops *ops = node_ops_of(&p);

	if (ret)
		return ret;
	if (fs_offline(fs))
		return node_leave(fs, -EROFS);
	return made(fs, ops->mkdir ? ops->mkdir(fs, &p, name, &c) : -EPERM, &c,
		    st);
}

int fs_rmdir(struct fs *fs, uint64_t parent, const char *name)
{
	struct inode_ref p;
	int ret = node_enter(fs, parent, &p);
	const struct node_ops *ops = node_ops_of(&p);

	if (ret)
		return ret;
	if (fs_offline(fs))
		return node_leave(fs, -EROFS);
	return node_leave(fs, ops->rmdir ? ops->rmdir(fs, &p, name) : -EPERM);
}

int fs_unlink(struct fs *fs, uint64_t parent, const char *name)
{
	struct inode_ref p;
	int ret = node_enter(fs, parent, &p);
	const struct node_ops *ops = node_ops_of(&p);

	if (ret)
		return ret;
	if (fs_offline(fs))
		return node_leave(fs, -EROFS);
	return node_leave(fs, ops->unlink ? ops->unlink(fs, &p, name) : -EPERM);
}

/* The kernel keeps the entry the create replied with for the TTL and
 * knows nothing of this unlink: stat and test -e would find the file ls
 * no longer shows.  Its entry is dropped before the caller replies, so
 * the refusal and the file's absence reach the user together; the wait
 * is on the notify thread (the kernel is not told from this handler),
 * and bounded, since the kernel may itself wait on another handler. */
#define UNCREATE_WAIT_S 2.0

int fs_uncreate(struct fs *fs, uint64_t parent, const char *name)
{
	int ret = fs_unlink(fs, parent, name);

	notify_push(&fs->notify, parent, 0, name);
	if (notify_wait(&fs->notify, UNCREATE_WAIT_S))
		log_debug("%s: its entry may stay in the kernel's cache", name);
	return ret;
}

int fs_create(struct fs *fs, uint64_t parent, const char *name, struct stat *st,
	      bool *added)
{
	struct inode_ref p, c;
	int ret = node_enter(fs, parent, &p);
	const struct node_ops *ops = node_ops_of(&p);

	*added = false;
	if (ret)
		return ret;
	if (fs_offline(fs))
		return node_leave(fs, -EROFS);
	return made(fs,
		    ops->create ? ops->create(fs, &p, name, &c, added) : -EPERM,
		    &c, st);
}

int fs_link(struct fs *fs, uint64_t ino, uint64_t newparent,
	    const char *newname, struct stat *st)
{
	const struct node_ops *ops;
	struct inode_ref src, p, c;
	int ret = node_resolve(fs, ino, &src);

	if (fs_offline(fs))
		return -EROFS;
	if (!ret)
		ret = node_enter(fs, newparent, &p);
	if (ret)
		return ret;
	ops = node_ops_of(&p);
	return made(fs,
		    ops->link ? ops->link(fs, &src, &p, newname, &c) : -EPERM,
		    &c, st);
}

int fs_rename(struct fs *fs, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags)
{
	const struct node_ops *ops;
	struct inode_ref p, np;
	int ret;

	if (fs_offline(fs))
		return -EROFS;
	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	ret = node_resolve(fs, newparent, &np);
	if (!ret)
		ret = node_enter(fs, parent, &p);
	if (ret)
		return ret;
	ops = node_ops_of(&p);
	return node_leave(
	    fs, ops->rename ? ops->rename(fs, &p, name, &np, newname) : -EPERM);
}

int fs_fsync(struct fs *fs, uint64_t ino)
{
	struct dataset *d = NULL;
	uint32_t slot = UINT32_MAX;
	struct inode_ref r;
	int ret;

	if (ino && node_resolve(fs, ino, &r))
		return 0;
	pthread_mutex_lock(&fs->lock);
	/* a file belongs to no one tag: sync its dataset */
	if (ino && r.kind != INODE_KIND_ROOT &&
	    r.kind != INODE_KIND_ROOT_META && r.kind != INODE_KIND_STATS) {
		if (r.ds >= fs->model.nds)
			return node_leave(fs, 0);
		d = fs->model.ds[r.ds];
		if (r.kind == INODE_KIND_TAG)
			slot = r.tag;
	}
	ret = edits_fsync(fs, d, slot);
	return node_leave(fs, ret);
}

/* ---- life cycle ---- */

/* The host part of a URL, for a message. */
static void url_host(const char *url, char *out, size_t outsz)
{
	const char *h = strstr(url, "://");
	size_t n;

	h = h ? h + 3 : url;
	n = strcspn(h, ":/?#");
	snprintf(out, outsz, "%.*s", (int)(n < 256 ? n : 256), h);
}

static void describe_start_error(int ret, const char *server, char *err,
				 size_t errsz)
{
	char host[260];

	if (err[0])
		return;
	switch (ret) {
	case -ENXIO:
		url_host(server, host, sizeof(host));
		snprintf(err, errsz, "cannot resolve host %s (of %s)", host,
			 server);
		break;
	case -ENOENT:
		/* the first request lists datasets: every Lightly API has it */
		snprintf(err, errsz, "no Lightly API at %s (HTTP 404)", server);
		break;
	case -EACCES:
		snprintf(err, errsz, "the server %s rejected the API token",
			 server);
		break;
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
	case -ETIMEDOUT:
		snprintf(err, errsz, "cannot reach %s: %s", server,
			 strerror(-ret));
		break;
	default:
		snprintf(err, errsz, "%s: %s", server, strerror(-ret));
		break;
	}
}

int fs_new(const struct fs_config *cfg, struct fs **out, char *err,
	   size_t errsz)
{
	struct fs *fs;
	int ret;

	err[0] = '\0';
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	pthread_mutex_init(&fs->lock, NULL);
	cache_init(&fs->cache, &fs->lock, cfg->ttl_s, cfg->max_stale_s);
	notify_init(&fs->notify);
	pthread_rwlock_init(&fs->store_lock, NULL);
	rdplus_init(&fs->rdplus);
	model_init(&fs->model, &fs->notify);
	edits_init(&fs->edits, cfg->sync_edits, cfg->flush_delay_ms);
	fs->api = cfg->api;
	fs->server_name = cfg->server;
	fs->uid = cfg->uid;
	fs->gid = cfg->gid;
	fs->umask = cfg->umask;
	fs->cache_max_bytes = cfg->cache_max_bytes;
	fs->flush_timeout_s = cfg->flush_timeout_s;
	fs->trash_days = cfg->trash_days;
	fs->export_expires_s = cfg->export_expires_s;
	fs->blob = cfg->blob;
	fs->content_cache_bytes = cfg->content_cache_bytes;
	fs->prefetch_files = cfg->prefetch_files;
	fs->walks.cache_bytes = cfg->content_cache_bytes;
	fs->prefetch_bytes = cfg->prefetch_bytes;
	fs->thumbnails = cfg->thumbnails;
	if (cfg->cache_dir && !(fs->cache_dir = strdup(cfg->cache_dir))) {
		fs_free(fs);
		return -ENOMEM;
	}
	if (cfg->access_control &&
	    !(fs->access_control = strdup(cfg->access_control))) {
		fs_free(fs);
		return -ENOMEM;
	}
	if (cfg->state_dir && !(fs->state_dir = strdup(cfg->state_dir))) {
		fs_free(fs);
		return -ENOMEM;
	}

	if ((ret = offline_init(fs, cfg))) {
		fs_free(fs);
		return ret;
	}
	/* one request proves the server answers and takes the token */
	if (cfg->offline) {
		ret = -ENETDOWN;
	} else if (cfg->dataset) {
		ret = refresh_single(fs, cfg->dataset, err, errsz);
	} else {
		pthread_mutex_lock(&fs->lock);
		ret = refresh_datasets(fs);
		pthread_mutex_unlock(&fs->lock);
	}
	if (ret && (cfg->offline || offline_passing(ret)))
		ret = offline_begin(fs, cfg, ret, err, errsz);
	if (ret) {
		describe_start_error(ret, fs->server_name, err, errsz);
		fs_free(fs);
		return ret;
	}
	*out = fs;
	return 0;
}

int fs_open_journal(struct fs *fs, const struct fs_config *cfg, char *err,
		    size_t errsz)
{
	err[0] = '\0';
	if (!cfg->state_dir)
		return 0;
	return replay_open(fs, cfg->state_dir, cfg->server,
			   cfg->account ? cfg->account : "", err, errsz);
}

int fs_start(struct fs *fs)
{
	int ret = notify_start(&fs->notify);

	if (!ret)
		ret = node_sample_start(fs);
	if (!ret)
		ret = offline_start(fs);
	return ret ? ret : edits_start(fs);
}

void fs_set_notify(struct fs *fs, fs_notify_cb cb, void *arg)
{
	notify_set_cb(&fs->notify, cb, arg);
}

void fs_set_store(struct fs *fs, fs_store_cb cb, void *arg)
{
	pthread_rwlock_wrlock(&fs->store_lock);
	fs->store = cb;
	fs->store_arg = arg;
	pthread_rwlock_unlock(&fs->store_lock);
}

void fs_drop_caches(struct fs *fs)
{
	struct model *m = &fs->model;

	pthread_mutex_lock(&fs->lock);
	model_expire_all(m);
	/* a bound of one byte drops every index no listing holds; offline
	 * they could not be loaded again */
	if (!fs->cache.offline)
		fs->cache.evictions += model_evict(m, 1, NULL);
	pthread_mutex_unlock(&fs->lock);
	log_info("caches dropped");
}

/* Rounds of sending until everything is on the server or the time is
 * up; a server that is down costs a deadline a round. */
static size_t send_all(struct fs *fs, double until)
{
	struct edits_counts c;

	pthread_mutex_lock(&fs->lock);
	for (;;) {
		edits_fsync(fs, NULL, UINT32_MAX);
		edits_count(fs, &c);
		if (!c.pending || cache_now() >= until)
			break;
		pthread_mutex_unlock(&fs->lock);
		usleep(200000);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return c.pending;
}

size_t fs_stop(struct fs *fs)
{
	/* offline, no send can succeed: the journal keeps them */
	size_t left = send_all(
	    fs, cache_now() + (fs_offline(fs) ? 0 : fs->flush_timeout_s));

	edits_stop(fs);
	offline_stop(fs);
	log_info("stopping: %llu tag writes sent while mounted, %zu tags "
		 "with edits left",
		 (unsigned long long)fs->edits.writes, left);
	if (!fs->journal)
		return left;
	if (left) {
		journal_sync(fs->journal);
		log_error("%llu edits of %zu tags are not on the server; they "
			  "wait in %s and the next mount of this server and "
			  "account sends them",
			  (unsigned long long)journal_pending(fs->journal),
			  left, journal_path(fs->journal));
	} else {
		journal_compact(fs->journal);
	}
	return left;
}

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	edits_stop(fs);
	offline_free(fs);
	content_free(fs->content);
	free(fs->cache_dir);
	journal_free(fs->journal);
	free(fs->state_dir);
	free(fs->access_control);
	notify_dispose(&fs->notify);
	pthread_rwlock_destroy(&fs->store_lock);
	rdplus_dispose(&fs->rdplus);
	model_dispose(&fs->model);
	edits_dispose(&fs->edits);
	cache_dispose(&fs->cache);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

/* Sample files' bytes (fs.h fs_*_sample): the glue between the model,
 * which knows a sample's id and size, and content.c, which fetches and
 * caches its bytes.  Also notices directory walks (cp -r, rsync, tar, a
 * data loader: files of one listing opened in its order) and has the next
 * files fetched ahead of their opens. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "blob.h"
#include "content.h"
#include "fs_ctx.h"
#include "index.h"
#include "log.h"
#include "node.h"
#include "samples.h"

static void key_of(const struct dataset *d, uint32_t s,
		   const struct sample_info *i, struct content_key *k)
{
	memset(k, 0, sizeof(*k));
	k->ds_slot = d->slot;
	k->sample = s;
	memcpy(k->ds_id, d->id, sizeof(k->ds_id));
	samples_hex_id(i, k->sample_id);
	k->modified_ms = i->modified_ms;
	k->size = i->size == SAMPLES_SIZE_UNKNOWN ? -1 : (int64_t)i->size;
}

/* content.c learnt a size the listing did not have right: later stats
 * say it, and the kernel drops what it cached. */
static void size_learnt(void *arg, uint32_t ds, uint32_t s, uint64_t size)
{
	struct fs *fs = arg;
	struct inode_ref r = {.kind = INODE_KIND_FILE, .ds = ds, .sample = s};
	struct dataset *d;

	pthread_mutex_lock(&fs->lock);
	d = model_dataset(&fs->model, ds);
	if (d)
		samples_learn_size(d, s, size);
	notify_push(&fs->notify, 0, inode_encode(&r), NULL);
	pthread_mutex_unlock(&fs->lock);
}

/* content.c has a file a walk opens next, whole on disk: its bytes go to
 * the kernel's page cache now, so cp's reads of it are no round trip. */
static void push(void *arg, uint32_t ds, uint32_t s, int fd, uint64_t size)
{
	struct fs *fs = arg;
	struct inode_ref r = {.kind = INODE_KIND_FILE, .ds = ds, .sample = s};

	pthread_rwlock_rdlock(&fs->store_lock);
	if (fs->store)
		fs->store(inode_encode(&r), fd, size, fs->store_arg);
	pthread_rwlock_unlock(&fs->store_lock);
}

/* The cache directory and its parents ($XDG_CACHE_HOME may not exist on
 * a fresh account), 0700 where made. */
static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int fs_content_start(struct fs *fs)
{
	struct content_config cc = {
	    .api = fs->api,
	    .blob = fs->blob,
	    .cache_dir = fs->cache_dir,
	    .cache_bytes = fs->content_cache_bytes,
	    .thumbnails = fs->thumbnails,
	    .prefetch_requests = fs->prefetch_files,
	    .prefetch_bytes = fs->prefetch_bytes,
	    .size_learnt = size_learnt,
	    .push = push,
	    .arg = fs,
	};

	char dir[4096];
	uint64_t h = model_hash_str(fs->server_name ? fs->server_name : "");
	int n;

	if (!fs->cache_dir || !fs->blob)
		return 0;
	n = mkdir_p(fs->cache_dir);
	if (n) {
		log_error("cache_dir %s: %s", fs->cache_dir, strerror(-n));
		return n;
	}
	/* ids are unique per server, not across servers (an emulator's) */
	n = snprintf(dir, sizeof(dir), "%s/%016llx", fs->cache_dir,
		     (unsigned long long)h);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	cc.cache_dir = dir;
	return content_new(&cc, &fs->content);
}

void fs_walk_note(struct fs *fs, const struct inode_ref *dir)
{
	struct fs_walk *w = NULL;

	for (size_t i = 0; i < FS_WALKS; i++)
		if (fs->walks[i].used && fs->walks[i].ds == dir->ds &&
		    fs->walks[i].tag == dir->tag &&
		    fs->walks[i].folder == dir->folder)
			w = &fs->walks[i];
	if (!w)
		w = &fs->walks[fs->walk_next++ % FS_WALKS];
	w->used = true;
	w->ds = dir->ds;
	w->tag = dir->tag;
	w->folder = dir->folder;
	w->last = UINT32_MAX;
}

/* Files of a listing a walk in order may step over (walked_to). */
#define WALK_SLACK 3

/* A folder's samples in listing order: v[0, n), or, where the index keeps
 * no list (the root of a flat dataset, index_folder_all), every sample id
 * in order, a hidden one (not in the folder) included. */
struct walk_list {
	const struct name_index *idx;
	const uint32_t *v; /* NULL: position k is sample k */
	size_t n;
	uint32_t folder;
};

static void walk_list_of(const struct name_index *idx, uint32_t folder,
			 struct walk_list *l)
{
	l->idx = idx;
	l->folder = folder;
	if (index_folder_all(idx, folder)) {
		l->v = NULL;
		l->n = index_count(idx);
	} else {
		l->v = index_folder_samples(idx, folder, &l->n);
	}
}

/* The sample at position k, false when it is not in the folder. */
static bool walk_at(const struct walk_list *l, size_t k, uint32_t *s)
{
	if (l->v) {
		*s = l->v[k];
		return true;
	}
	*s = (uint32_t)k;
	return index_parent(l->idx, *s) == l->folder;
}

/* The first position holding a sample after s. */
static size_t walk_after(const struct walk_list *l, uint32_t s)
{
	size_t lo = 0, hi = l->n;

	if (!l->v)
		return (size_t)s + 1 < l->n ? (size_t)s + 1 : l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid] <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The next position from k holding a sample of t in the folder, or l->n.
 * Where position is sample id the mask finds it at once, so a small tag
 * of a big flat dataset is not scanned sample by sample. */
static size_t walk_next_in(const struct walk_list *l, const struct tag *t,
			   size_t k, uint32_t *s)
{
	for (; k < l->n; k++) {
		if (!l->v) {
			k = bitmask_next(&t->mask, k);
			if (k >= l->n)
				break;
		}
		if (walk_at(l, k, s) && bitmask_test(&t->mask, *s))
			return k;
	}
	return l->n;
}

/* Whether the walk came to s from prev in order: fewer than WALK_SLACK
 * files of the listing between them (a file it skipped, one it failed to
 * read, allowed); anything else is someone reading here and there. */
static bool walked_to(const struct tag *t, const struct walk_list *l,
		      uint32_t prev, uint32_t s)
{
	unsigned seen = 0;
	uint32_t x;
	size_t k = walk_next_in(l, t, walk_after(l, prev), &x);

	for (; k < l->n && x < s; k = walk_next_in(l, t, k + 1, &x))
		if (++seen >= WALK_SLACK)
			return false;
	return true;
}

/* When s is the next file of a walk of a listing it is in, the files
 * after it in that listing whose info is loaded.  Lock held. */
static size_t walk_next(struct fs *fs, struct dataset *d, uint32_t s,
			struct content_key *keys, size_t max)
{
	struct walk_list l;
	uint32_t parent;
	size_t k = 0;

	if (!d->index || s >= index_count(d->index))
		return 0;
	parent = index_parent(d->index, s);
	for (size_t i = 0; i < FS_WALKS; i++) {
		struct fs_walk *w = &fs->walks[i];
		struct tag *t = w->used && w->ds == d->slot &&
					w->folder == parent && w->tag < d->ntags
				    ? d->tags[w->tag]
				    : NULL;
		uint32_t prev, x;
		size_t at;

		if (!t || !t->live || !bitmask_test(&t->mask, s))
			continue;
		prev = w->last;
		w->last = s;
		if (prev == UINT32_MAX || prev >= s)
			return 0;
		walk_list_of(d->index, parent, &l);
		if (!walked_to(t, &l, prev, s))
			return 0;
		for (at = walk_next_in(&l, t, walk_after(&l, s), &x);
		     at < l.n && k < max;
		     at = walk_next_in(&l, t, at + 1, &x)) {
			struct sample_info info;

			if (!samples_get(d, x, &info))
				break;
			key_of(d, x, &info, &keys[k++]);
		}
		return k;
	}
	return 0;
}

#define WALK_AHEAD 32

void fs_ahead_run(struct fs *fs, struct fs_ahead *ahead)
{
	if (ahead->n && fs->content)
		content_prefetch(fs->content, ahead->keys, ahead->n);
	free(ahead->keys);
	ahead->keys = NULL;
	ahead->n = 0;
}

int fs_open_sample(struct fs *fs, uint64_t ino, int flags,
		   struct content_file **out, bool *direct,
		   struct fs_ahead *ahead)
{
	struct content_key key, next[WALK_AHEAD];
	struct sample_info info;
	struct inode_ref r;
	struct dataset *d;
	size_t nahead = 0;
	uint64_t size = 0;
	bool complete = false;
	int ret = node_resolve(fs, ino, &r);

	(void)flags;
	*out = NULL;
	*direct = true;
	if (ret)
		return ret;
	if (r.kind != INODE_KIND_FILE)
		return 1;
	if (!fs->content)
		return 1; /* no content layer (unit tests): empty files */
	ret = fs_enter(fs, ino, &r);
	if (ret)
		return ret;
	d = model_dataset(&fs->model, r.ds);
	ret = d ? samples_ensure(fs, d, (uint32_t)r.sample, (uint32_t)r.sample)
		: -ENOENT;
	if (!ret && !samples_get(d, (uint32_t)r.sample, &info))
		ret = -EIO;
	if (!ret) {
		key_of(d, (uint32_t)r.sample, &info, &key);
		nahead = walk_next(fs, d, (uint32_t)r.sample, next,
				   fs->prefetch_files * 2 < WALK_AHEAD
				       ? fs->prefetch_files * 2
				       : WALK_AHEAD);
	}
	ret = fs_leave(fs, ret);
	if (ret)
		return ret == -ENOENT ? -ENOENT : -EIO;
	ret = content_open(fs->content, &key, out, &complete);
	if (!ret)
		ret = content_size(*out, &size);
	if (ret) {
		content_close(*out);
		*out = NULL;
		return -EIO;
	}
	/* the kernel caches pages up to the size stat gave: only a size it
	 * had right may be served through its cache */
	*direct = key.size < 0 || (uint64_t)key.size != size;
	if (nahead && ahead &&
	    (ahead->keys = malloc(nahead * sizeof(*ahead->keys)))) {
		memcpy(ahead->keys, next, nahead * sizeof(*ahead->keys));
		ahead->n = nahead;
	}
	return 0;
}

int fs_read_sample(struct content_file *f, size_t len, off_t off, char *scratch,
		   struct content_read *r)
{
	if (!f) {
		memset(r, 0, sizeof(*r));
		r->fd = -1;
		return 0;
	}
	return content_read_begin(f, len, off, scratch, r);
}

void fs_read_done(struct content_file *f, struct content_read *r)
{
	if (f)
		content_read_end(f, r);
}

int fs_write_sample(struct fs *fs, uint64_t ino, struct content_file **f,
		    const char *buf, size_t len, off_t off)
{
	struct content_file *mine = NULL, *none = NULL;
	struct inode_ref r;
	bool direct;
	int ret = node_resolve(fs, ino, &r);

	if (ret)
		return ret;
	if (r.kind != INODE_KIND_FILE)
		return 1;
	if (!__atomic_load_n(f, __ATOMIC_ACQUIRE)) {
		ret = fs_open_sample(fs, ino, O_RDONLY, &mine, &direct, NULL);
		if (ret)
			return ret < 0 ? ret : -EPERM;
		if (!mine)
			return -EPERM;
		if (!__atomic_compare_exchange_n(f, &none, mine, false,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			content_close(mine);
	}
	/* a copy of the sample writes its own bytes: taken, and nothing
	 * changes; any other byte is not the sample */
	ret = content_same(*f, buf, len, off);
	if (ret == -EPERM)
		log_info("write into a sample file refused: the bytes are not "
			 "the sample's (inode %llu, offset %lld)",
			 (unsigned long long)ino, (long long)off);
	return ret;
}

void fs_close_sample(struct content_file *f)
{
	content_close(f);
}

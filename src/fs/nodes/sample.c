/* A sample's file: one inode whatever tag shows it, with a link per tag
 * that holds the sample.  Its size comes from the sample listing
 * (samples.c), its bytes from the content subsystem (src/content), which
 * fetches and caches them: the kind's content ops hand reads to it, and
 * files that a walk (walk.c) opens next are fetched ahead. */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bitmask.h"
#include "content.h"
#include "fs_ctx.h"
#include "index.h"
#include "log.h"
#include "node.h"
#include "samples.h"
#include "walk.h"

/* Files never change; only the sample must be known (an evicted index
 * cannot say, and indices are never reused). */
static int sample_check(struct fs *fs, struct inode_ref *r)
{
	struct dataset *d;
	int ret = node_check_dataset(fs, r, &d);

	if (ret)
		return ret;
	if (d->index && r->sample >= index_count(d->index))
		return -ENOENT;
	/* for its size; without the page (server away) stat says 0 */
	samples_ensure(fs, d, (uint32_t)r->sample, (uint32_t)r->sample);
	return 0;
}

static void sample_stat(struct fs *fs, const struct inode_ref *r,
			struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);
	struct sample_info info;

	node_stat_file(fs, st, r, 0444, 0,
		       d ? model_ms_to_ts(d->created_ms)
			 : fs->model.mount_time);
	if (!d || !samples_get(d, (uint32_t)r->sample, &info))
		st->st_size = FS_SIZE_UNKNOWN;
	else if (info.size != SAMPLES_SIZE_UNKNOWN)
		st->st_size = (off_t)info.size;
	st->st_blocks = st->st_size > 0 ? (st->st_size + 511) / 512 : 0;
	st->st_nlink = 0;
	for (size_t i = 0; d && i < d->ntags; i++)
		if (d->tags[i]->live &&
		    bitmask_test(&d->tags[i]->mask, r->sample))
			st->st_nlink++;
}

void node_sample_key(const struct dataset *d, uint32_t s,
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

/* The content layer learnt a size the listing did not have right: later stats
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

/* The content layer has a file a walk opens next, whole on disk: its bytes go
 * to the kernel's page cache now, so cp's reads of it are no round trip. */
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

int node_sample_start(struct fs *fs)
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

/* A walk's page of read URLs to ask for: the files, and what the page
 * needs of them. */
struct sample_urls {
	size_t n;
	struct content_key *keys;
	struct node_url_page page;
};

/* An open sample: its content. */
struct sample_file {
	struct content_file *content;
};

/* What an open asks for ahead: the files a walk opens next, and the page
 * of read URLs due for them. */
struct sample_next {
	struct content_key *ahead; /* malloc'd, or NULL */
	size_t nahead;
	bool shuffled; /* ahead: a shuffled listing's, for the cache only */
	bool first;    /* ahead: after a listing's first file */
	struct sample_urls *urls; /* malloc'd, or NULL */
};

/* Files whose URLs one page asks for: many more than are fetched at once,
 * so that a page costs one round trip per that many files. */
#define SAMPLE_URL_PAGE 256

int node_url_page(const struct dataset *d, const struct tag *t,
		  const uint32_t *v, size_t n, struct node_url_page *u)
{
	size_t total = 0, at = 0, len;

	memset(u, 0, sizeof(*u));
	if (!n)
		return 0;
	u->ranks = calloc(n, sizeof(*u->ranks));
	u->names = calloc(n, sizeof(*u->names));
	if (!u->ranks || !u->names)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		index_name(d->index, v[i], &len);
		total += len + 1;
		/* the rank of the one before, plus the tag's samples between
		 * (another folder's) */
		if (i == 0) {
			u->ranks[0] = (uint32_t)bitmask_rank(&t->mask, v[0]);
			continue;
		}
		u->ranks[i] = u->ranks[i - 1] + 1;
		for (size_t y = bitmask_next(&t->mask, v[i - 1] + 1); y < v[i];
		     y = bitmask_next(&t->mask, y + 1))
			u->ranks[i]++;
	}
	if (!(u->buf = malloc(total)))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const char *name = index_name(d->index, v[i], &len);

		memcpy(u->buf + at, name, len);
		u->buf[at + len] = '\0';
		u->names[i] = u->buf + at;
		at += len + 1;
	}
	memcpy(u->tag_id, t->id, sizeof(u->tag_id));
	return 0;
fail:
	node_url_page_dispose(u);
	return -ENOMEM;
}

void node_url_page_dispose(struct node_url_page *u)
{
	free(u->names);
	free(u->ranks);
	free(u->buf);
	memset(u, 0, sizeof(*u));
}

static void sample_urls_free(struct sample_urls *u)
{
	if (!u)
		return;
	free(u->keys);
	node_url_page_dispose(&u->page);
	free(u);
}

/* The URL page walk_urls says is due after next (lock held). */
static struct sample_urls *sample_urls(struct fs *fs, struct dataset *d,
				       const uint32_t *next, size_t n,
				       size_t max)
{
	struct sample_urls *u = calloc(1, sizeof(*u));
	uint32_t *ids = calloc(max ? max : 1, sizeof(*ids));
	const struct tag *t = NULL;
	struct sample_info info;
	size_t k;

	if (u)
		u->keys = calloc(max ? max : 1, sizeof(*u->keys));
	if (!u || !ids || !u->keys)
		goto fail;
	k = walk_urls(&fs->walks, d, next, n, ids, max, &t);
	/* the listing's info is loaded page by page: up to the first file
	 * whose is not */
	for (u->n = 0; u->n < k && samples_get(d, ids[u->n], &info); u->n++)
		node_sample_key(d, ids[u->n], &info, &u->keys[u->n]);
	if (!u->n || node_url_page(d, t, ids, u->n, &u->page))
		goto fail;
	free(ids);
	return u;
fail:
	free(ids);
	sample_urls_free(u);
	return NULL;
}

/* The sample's key, and (ahead) the files a walk opens after it, from
 * the model, with the URL page due for them.  Lock taken and left here. */
static int sample_keys(struct fs *fs, struct node_file *f,
		       struct content_key *key, struct sample_next *nx,
		       size_t max)
{
	uint32_t *ids = max ? calloc(max, sizeof(*ids)) : NULL;
	struct sample_info info;
	struct inode_ref r;
	struct dataset *d;
	int ret = max && !ids ? -ENOMEM : node_file_enter(fs, f, &r);

	nx->nahead = 0;
	if (ret) {
		free(ids);
		return ret;
	}
	d = model_dataset(&fs->model, r.ds);
	ret = d ? samples_ensure(fs, d, (uint32_t)r.sample, (uint32_t)r.sample)
		: -ENOENT;
	if (!ret && !samples_get(d, (uint32_t)r.sample, &info))
		ret = -EIO;
	if (!ret) {
		node_sample_key(d, (uint32_t)r.sample, &info, key);
		if (max)
			max = walk_next(&fs->walks, d, (uint32_t)r.sample, ids,
					max, &nx->shuffled, &nx->first);
		if (max)
			nx->ahead = malloc(max * sizeof(*nx->ahead));
		for (size_t i = 0; nx->ahead && i < max; i++)
			if (samples_get(d, ids[i], &info))
				node_sample_key(d, ids[i], &info,
						&nx->ahead[nx->nahead++]);
		if (max)
			nx->urls = sample_urls(
			    fs, d, ids, max,
			    max > SAMPLE_URL_PAGE ? 2 * max : SAMPLE_URL_PAGE);
	}
	ret = node_leave(fs, ret);
	free(ids);
	return ret && ret != -ENOENT ? -EIO : ret;
}

static void sample_next_free(struct sample_next *nx)
{
	free(nx->ahead);
	sample_urls_free(nx->urls);
	memset(nx, 0, sizeof(*nx));
}

/* The read URLs and the files a walk opens next, asked for. */
static void sample_ahead(struct fs *fs, const struct sample_next *nx)
{
	const struct sample_urls *u = nx->urls;
	struct dataset *d;
	size_t n;

	if (u)
		content_urls_ahead(fs->content, u->page.tag_id, u->keys,
				   u->page.names, u->page.ranks, u->n);
	if (!nx->nahead)
		return;
	if (nx->shuffled) {
		/* the listing's cursor moves past what is on its way */
		n = content_warm(fs->content, nx->ahead, nx->nahead);
		pthread_mutex_lock(&fs->lock);
		d = model_dataset(&fs->model, nx->ahead[0].ds_slot);
		if (n && d)
			walk_advance(&fs->walks, d, nx->ahead[n - 1].sample);
		pthread_mutex_unlock(&fs->lock);
	} else {
		content_prefetch(fs->content, nx->ahead, nx->nahead);
	}
}

/* The content of f's sample, opened; direct: the size stat gave was not
 * the true one (the kernel must not cache by it). */
static int sample_content(struct fs *fs, struct node_file *f,
			  struct sample_file *sf, size_t max_ahead)
{
	struct sample_next nx = {0};
	struct content_key key;
	uint64_t size = 0;
	bool complete = false;
	int ret = sample_keys(fs, f, &key, &nx, max_ahead);

	if (ret) {
		sample_next_free(&nx);
		return ret;
	}
	ret = content_open(fs->content, &key, &sf->content, &complete);
	/* a cached first file is no sign of a copy to come: someone looks
	 * at it again.  content_size may fetch (a size the listing did not
	 * give, or gave wrong): the next files need not wait for it */
	if (!ret && !(nx.first && complete))
		sample_ahead(fs, &nx);
	sample_next_free(&nx);
	if (!ret)
		ret = content_size(sf->content, &size);
	if (ret) {
		content_close(sf->content);
		sf->content = NULL;
		/* offline, a file not in the cache has no server to come
		 * from: said apart from a failed read */
		return ret == -ENETDOWN ? ret : -EIO;
	}
	/* the kernel caches pages up to the size stat gave: only a size it
	 * had right may be served through its cache */
	f->direct = key.size < 0 || (uint64_t)key.size != size;
	return 0;
}

/* Without a content layer (unit tests) a sample is empty. */
static int sample_open(struct fs *fs, struct node_file *f, int flags)
{
	struct sample_file *sf;
	struct inode_ref r;
	size_t ahead;
	int ret;

	(void)flags;
	f->direct = true;
	if (!fs->content) {
		ret = node_file_enter(fs, f, &r);
		return ret ? ret : node_leave(fs, 0);
	}
	sf = calloc(1, sizeof(*sf));
	if (!sf)
		return -ENOMEM;
	/* four times the link's window (at most twice the most in flight):
	 * a reader held up by a big file opens nothing, and the files after
	 * it, done meanwhile, must not leave the window dry; on a near link
	 * the window and this stay small, and an open costs little */
	ahead = 4 * (size_t)content_window(fs->content);
	if (ahead > 2 * (size_t)fs->prefetch_files)
		ahead = 2 * (size_t)fs->prefetch_files;
	ret = sample_content(fs, f, sf, ahead);
	if (ret) {
		content_close(sf->content);
		free(sf);
		return ret;
	}
	f->priv = sf;
	return 0;
}

static int sample_read(struct node_file *f, size_t len, off_t off,
		       char *scratch, struct content_read *rd)
{
	struct sample_file *sf = f->priv;

	if (!sf || !sf->content) {
		memset(rd, 0, sizeof(*rd));
		rd->fd = -1;
		return 0;
	}
	return content_read_begin(sf->content, len, off, scratch, rd);
}

static void sample_read_done(struct node_file *f, struct content_read *rd)
{
	struct sample_file *sf = f->priv;

	if (sf && sf->content)
		content_read_end(sf->content, rd);
}

static void sample_release(struct node_file *f)
{
	struct sample_file *sf = f->priv;

	if (!sf)
		return;
	content_close(sf->content);
	free(sf);
	f->priv = NULL;
}

/* A file create made has no content until its first write (a create
 * reads nothing): opened here, once, by whichever write comes first. */
static struct sample_file *sample_writing(struct fs *fs, struct node_file *f,
					  int *ret)
{
	struct sample_file *sf = __atomic_load_n(&f->priv, __ATOMIC_ACQUIRE);
	void *none = NULL;

	*ret = 0;
	if (sf || !fs->content)
		return sf;
	sf = calloc(1, sizeof(*sf));
	if (!sf) {
		*ret = -ENOMEM;
		return NULL;
	}
	*ret = sample_content(fs, f, sf, 0);
	if (*ret) {
		free(sf);
		return NULL;
	}
	if (__atomic_compare_exchange_n(&f->priv, &none, sf, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return sf;
	content_close(sf->content);
	free(sf);
	return none;
}

/* A copy of the sample writes its own bytes: taken, and nothing changes;
 * any other byte is not the sample. */
static int sample_write(struct fs *fs, struct node_file *f, const char *buf,
			size_t len, off_t off)
{
	int ret;
	struct sample_file *sf = sample_writing(fs, f, &ret);

	if (!sf)
		return ret ? ret : -EPERM;
	ret = content_same(sf->content, buf, len, off);
	if (ret == -EPERM)
		log_info("write into a sample file refused: the bytes are not "
			 "the sample's (inode %llu, offset %lld)",
			 (unsigned long long)f->ino, (long long)off);
	return ret ? ret : (int)len;
}

const struct node_ops node_sample_ops = {
    .check = sample_check,
    .stat = sample_stat,
    .open = sample_open,
    .read = sample_read,
    .read_done = sample_read_done,
    .write = sample_write,
    .release = sample_release,
};

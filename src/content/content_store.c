/* The object store, what the rest of the content layer stands on: the
 * table of objects and their references, the LRU of idle complete files
 * and eviction, an object's blocks (held, on disk, in memory) and its
 * cache file, and the cache directory an earlier mount left.  Calls only
 * the block buffers (content_mem.c) in src/content. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "content_internal.h"
#include "log.h"

/* ---- objects ---- */

static uint64_t key_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static void make_key(const struct content *c, const struct content_key *k,
		     char out[KEY_MAX])
{
	snprintf(out, KEY_MAX, "%s/%s-%lld-%s", k->ds_id, k->sample_id,
		 (long long)k->modified_ms,
		 c->cfg.thumbnails ? "thumb" : "full");
}

static int obj_path(const struct content *c, const struct cobj *o, bool part,
		    char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s/%s%s", c->dir, o->key,
			 part ? ".part" : "");

	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

static void lru_unlink(struct cobj *o)
{
	if (!o->on_lru)
		return;
	o->lru_prev->lru_next = o->lru_next;
	o->lru_next->lru_prev = o->lru_prev;
	o->on_lru = false;
}

void content_lru_push(struct content *c, struct cobj *o)
{
	o->lru_next = c->lru.lru_next;
	o->lru_prev = &c->lru;
	c->lru.lru_next->lru_prev = o;
	c->lru.lru_next = o;
	o->on_lru = true;
}

static void table_remove(struct content *c, struct cobj *o)
{
	struct cobj **p = &c->table[key_hash(o->key) % c->nbuckets];

	while (*p && *p != o)
		p = &(*p)->hnext;
	if (*p) {
		*p = o->hnext;
		c->nobjs--;
	}
}

/* ---- an object's blocks and file ---- */

void content_mem_drop(struct content *c, struct cobj *o, uint64_t b)
{
	content_mem_free(c, o->mem[b]);
	o->mem[b] = NULL;
	o->nmem--;
}

void content_mem_trim(struct content *c, struct cobj *o, bool all)
{
	for (uint64_t b = 0; o->nmem && !o->pins && b < o->nblocks; b++) {
		/* a block not held yet is a fetch's, filling it; one not
		 * read yet is kept for its reader while it has the file */
		if (!o->mem[b] || !bit(o->have, b) || bit(o->dirty, b) ||
		    (!all && !bit(o->sent, b)))
			continue;
		if (!bit(o->ondisk, b)) {
			/* its write failed: fetched again when read */
			set_bit(o->have, b, false);
			o->nhave--;
		}
		content_mem_drop(c, o, b);
	}
}

/* Everything o holds in memory (lock held). */
static void obj_free(struct content *c, struct cobj *o)
{
	if (o->fd >= 0)
		close(o->fd);
	for (uint64_t b = 0; o->mem && o->nmem && b < o->nblocks; b++)
		if (o->mem[b])
			content_mem_drop(c, o, b);
	free(o->mem);
	free(o->have);
	free(o->busy);
	free(o->ondisk);
	free(o->dirty);
	free(o->sent);
	free(o->url);
	free(o);
}

/* Out of the table and off the disk (lock held, no references left). */
static void obj_destroy(struct content *c, struct cobj *o)
{
	char path[4096];

	lru_unlink(o);
	table_remove(c, o);
	if (!obj_path(c, o, !o->complete, path, sizeof(path)))
		unlink(path);
	c->disk_bytes -= o->disk;
	if (o->complete)
		c->disk_files--;
	obj_free(c, o);
}

void content_evict(struct content *c)
{
	while (c->disk_bytes > c->cfg.cache_bytes && c->lru.lru_prev != &c->lru)
		obj_destroy(c, c->lru.lru_prev);
}

static struct cobj *obj_find(struct content *c, const char *key)
{
	struct cobj *o = c->table[key_hash(key) % c->nbuckets];

	while (o && strcmp(o->key, key))
		o = o->hnext;
	return o;
}

struct cobj *content_obj_insert(struct content *c, const char *key)
{
	struct cobj *o = calloc(1, sizeof(*o));
	size_t b;

	if (!o)
		return NULL;
	snprintf(o->key, sizeof(o->key), "%s", key);
	o->fd = -1;
	b = key_hash(key) % c->nbuckets;
	o->hnext = c->table[b];
	c->table[b] = o;
	c->nobjs++;
	return o;
}

struct cobj *content_obj_peek(struct content *c, const struct content_key *k)
{
	char key[KEY_MAX];

	make_key(c, k, key);
	return obj_find(c, key);
}

void content_census(struct content *c, const struct content_key *keys, size_t n,
		    struct content_census *out)
{
	memset(out, 0, sizeof(*out));
	out->files = n;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		struct cobj *o = content_obj_peek(c, &keys[i]);
		uint64_t size = o && o->sized	    ? o->size
				: keys[i].size >= 0 ? (uint64_t)keys[i].size
						    : 0;

		out->bytes += size;
		if (o && o->complete) {
			out->cached++;
			out->cached_bytes += size;
		} else if (o) {
			out->fetching++;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

size_t content_drop(struct content *c, const struct content_key *keys, size_t n)
{
	size_t dropped = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		struct cobj *o = content_obj_peek(c, &keys[i]);

		/* an idle file is complete and on the LRU; an open or
		 * fetching one has references and stays */
		if (o && !o->refs) {
			obj_destroy(c, o);
			dropped++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return dropped;
}

/* A reference to key's object, made if need be (lock held). */
struct cobj *content_obj_get(struct content *c, const struct content_key *k)
{
	char key[KEY_MAX];
	struct cobj *o;

	make_key(c, k, key);
	o = obj_find(c, key);
	if (!o)
		o = content_obj_insert(c, key);
	if (!o)
		return NULL;
	o->k = *k;
	o->refs++;
	lru_unlink(o);
	return o;
}

void content_obj_put(struct content *c, struct cobj *o)
{
	if (--o->refs)
		return;
	content_mem_trim(c, o, true);
	if (o->complete && c->cfg.cache_bytes) {
		/* idle files keep no descriptor: the cache may hold many */
		if (o->fd >= 0)
			close(o->fd);
		o->fd = -1;
		content_lru_push(c, o);
		content_evict(c);
	} else {
		obj_destroy(c, o);
	}
}

int content_obj_reopen(struct content *c, const struct cobj *o)
{
	char path[4096];

	if (!o->complete || obj_path(c, o, false, path, sizeof(path)))
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* The object's file, made or opened (lock held: local disk only). */
int content_obj_file(struct content *c, struct cobj *o)
{
	char path[4096];
	int ret;

	if (o->fd >= 0)
		return 0;
	ret = obj_path(c, o, !o->complete, path, sizeof(path));
	if (ret)
		return ret;
	if (!o->complete) {
		char *slash = strrchr(path, '/');

		*slash = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return -errno;
		*slash = '/';
		o->fd =
		    open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	} else {
		o->fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (o->fd < 0) {
		ret = -errno;
		log_warn("content cache: %s: %s", path, strerror(-ret));
		return ret;
	}
	return 0;
}

static void obj_completed(struct content *c, struct cobj *o)
{
	char from[4096], to[4096];

	o->complete = true;
	c->disk_files++;
	if (!obj_path(c, o, true, from, sizeof(from)) &&
	    !obj_path(c, o, false, to, sizeof(to)) && rename(from, to))
		log_warn("content cache: rename %s: %s", from, strerror(errno));
}

/* The size is known: the bitmaps and the sparse file follow it. */
int content_obj_set_size(struct content *c, struct cobj *o, uint64_t size)
{
	uint64_t n = (size + CONTENT_BLOCK - 1) / CONTENT_BLOCK;

	o->have = calloc(n / 8 + 1, 1);
	o->busy = calloc(n / 8 + 1, 1);
	o->ondisk = calloc(n / 8 + 1, 1);
	o->dirty = calloc(n / 8 + 1, 1);
	o->sent = calloc(n / 8 + 1, 1);
	o->mem = calloc(n + 1, sizeof(*o->mem));
	if (!o->have || !o->busy || !o->ondisk || !o->dirty || !o->sent ||
	    !o->mem) {
		free(o->have);
		free(o->busy);
		free(o->ondisk);
		free(o->dirty);
		free(o->sent);
		free(o->mem);
		o->have = o->busy = o->ondisk = o->dirty = o->sent = NULL;
		o->mem = NULL;
		return -ENOMEM;
	}
	if (ftruncate(o->fd, (off_t)size))
		log_warn("content cache: ftruncate: %s", strerror(errno));
	o->size = size;
	o->nblocks = n;
	o->sized = true;
	o->disk = size;
	c->disk_bytes += size;
	if (!n)
		obj_completed(c, o);
	return 0;
}

void content_block_on_disk(struct content *c, struct cobj *o, uint64_t b)
{
	set_bit(o->ondisk, b, true);
	if (++o->ndisk == o->nblocks && !o->wb_failed)
		obj_completed(c, o);
}

/* A complete object found on disk: its size is its file's. */
int content_obj_open_complete(struct content *c, struct cobj *o)
{
	struct stat st;
	int ret = content_obj_file(c, o);

	if (ret)
		return ret;
	if (fstat(o->fd, &st))
		return -errno;
	o->size = (uint64_t)st.st_size;
	o->sized = true;
	return 0;
}

/* At the end, no references left. */
void content_obj_free_all(struct content *c)
{
	for (size_t b = 0; b < c->nbuckets; b++) {
		while (c->table[b]) {
			struct cobj *o = c->table[b];

			/* a complete file stays for the next mount */
			if (o->complete) {
				table_remove(c, o);
				obj_free(c, o);
			} else {
				obj_destroy(c, o);
			}
		}
	}
}

/* ---- the cache directory ---- */

struct found {
	char key[KEY_MAX];
	uint64_t size;
	time_t atime;
};

static int found_cmp(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	return (x->atime > y->atime) - (x->atime < y->atime);
}

/* Room in *v for one more beside the n there, or false. */
static bool found_room(struct found **v, size_t n, size_t *cap)
{
	size_t want = *cap ? 2 * *cap : 256;
	struct found *nv;

	if (n < *cap)
		return true;
	nv = realloc(*v, want * sizeof(**v));
	if (!nv)
		return false;
	/* only now: a failed realloc leaves room for cap, not want, and the
	 * next folder would write past it */
	*v = nv;
	*cap = want;
	return true;
}

static bool hex_id(const char *s, size_t n)
{
	if (n != API_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

/* What an earlier mount left: complete files stay, oldest used first
 * out; partial ones go. */
void content_scan_dir(struct content *c)
{
	struct found *v = NULL;
	size_t n = 0, cap = 0;
	DIR *top = opendir(c->dir);
	struct dirent *e;

	while (top && (e = readdir(top))) {
		char sub[4096];
		DIR *d;
		struct dirent *f;

		if (!hex_id(e->d_name, strlen(e->d_name)))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", c->dir, e->d_name);
		d = opendir(sub);
		while (d && (f = readdir(d))) {
			char path[4096 + 256];
			size_t len = strlen(f->d_name);
			struct stat st;

			if (f->d_name[0] == '.' || len < API_ID_LEN + 4)
				continue;
			snprintf(path, sizeof(path), "%s/%s", sub, f->d_name);
			if (len > 5 && !strcmp(f->d_name + len - 5, ".part")) {
				unlink(path);
				continue;
			}
			if (stat(path, &st) || !S_ISREG(st.st_mode))
				continue;
			if (!found_room(&v, n, &cap))
				break;
			snprintf(v[n].key, KEY_MAX, "%s/%s", e->d_name,
				 f->d_name);
			v[n].size = (uint64_t)st.st_size;
			v[n].atime = st.st_atime;
			n++;
		}
		if (d)
			closedir(d);
	}
	if (top)
		closedir(top);
	if (n)
		qsort(v, n, sizeof(*v), found_cmp);
	for (size_t i = 0; i < n; i++) {
		struct cobj *o = content_obj_insert(c, v[i].key);

		if (!o)
			break;
		o->complete = o->sized = true;
		o->size = o->disk = v[i].size;
		c->disk_bytes += o->disk;
		c->disk_files++;
		content_lru_push(c, o);
	}
	free(v);
	content_evict(c);
}

/* Sample content through the cache directory (content.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
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

/* ---- block buffers ---- */

/* Buffers are carved from 2 MiB arenas the kernel may back with huge
 * pages: a 50 MiB cold read spent a quarter of the daemon's time in the
 * page faults of buffers of its own pages.  Arenas go back to the system
 * when no buffer is in use, but for the first few. */
#define ARENA ((uint64_t)2 * 1024 * 1024)
#define ARENAS_KEPT 2

static bool arena_add(struct content *c)
{
	char *raw, *a;
	uintptr_t lead;

	if (c->narenas >= c->max_arenas)
		return false;
	raw = mmap(NULL, 2 * ARENA, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return false;
	/* aligned, so that the arena is one huge page */
	lead = (ARENA - (uintptr_t)raw % ARENA) % ARENA;
	a = raw + lead;
	if (lead)
		munmap(raw, lead);
	munmap(a + ARENA, ARENA - lead);
	(void)madvise(a, ARENA, MADV_HUGEPAGE);
	c->arenas[c->narenas++] = a;
	for (uint64_t x = 0; x < ARENA / CONTENT_BLOCK; x++)
		c->spare[c->nspare++] = a + x * CONTENT_BLOCK;
	return true;
}

/* All buffers are free: the arenas but the first few go. */
static void arenas_trim(struct content *c)
{
	while (c->narenas > ARENAS_KEPT)
		munmap(c->arenas[--c->narenas], ARENA);
	c->nspare = 0;
	for (size_t i = 0; i < c->narenas; i++)
		for (uint64_t x = 0; x < ARENA / CONTENT_BLOCK; x++)
			c->spare[c->nspare++] =
			    c->arenas[i] + x * CONTENT_BLOCK;
}

int content_mem_init(struct content *c, uint64_t max)
{
	c->mem_max = max / ARENA * ARENA;
	c->max_arenas = (size_t)(c->mem_max / ARENA);
	c->arenas = calloc(c->max_arenas + 1, sizeof(*c->arenas));
	c->spare = calloc(c->max_arenas * (ARENA / CONTENT_BLOCK) + 1,
			  sizeof(*c->spare));
	return c->arenas && c->spare ? 0 : -ENOMEM;
}

void content_mem_fini(struct content *c)
{
	while (c->arenas && c->narenas)
		munmap(c->arenas[--c->narenas], ARENA);
	free(c->arenas);
	free(c->spare);
}

static char *mem_alloc(struct content *c)
{
	if (c->mem_bytes + CONTENT_BLOCK > c->mem_max ||
	    (!c->nspare && !arena_add(c)))
		return NULL;
	c->mem_bytes += CONTENT_BLOCK;
	if (c->mem_bytes * 2 >= c->mem_max)
		pthread_cond_signal(&c->wb_cond); /* time to write */
	return c->spare[--c->nspare];
}

void content_mem_free(struct content *c, char *buf)
{
	c->spare[c->nspare++] = buf;
	c->mem_bytes -= CONTENT_BLOCK;
	if (!c->mem_bytes)
		arenas_trim(c);
}

static void mem_drop(struct content *c, struct cobj *o, uint64_t b)
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
		mem_drop(c, o, b);
	}
}

/* Everything o holds in memory (lock held). */
static void obj_free(struct content *c, struct cobj *o)
{
	if (o->fd >= 0)
		close(o->fd);
	for (uint64_t b = 0; o->mem && o->nmem && b < o->nblocks; b++)
		if (o->mem[b])
			mem_drop(c, o, b);
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
static int obj_set_size(struct content *c, struct cobj *o, uint64_t size)
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

void content_mark_have(struct content *c, struct cobj *o, uint64_t b)
{
	if (bit(o->have, b))
		return;
	set_bit(o->have, b, true);
	set_bit(o->busy, b, false);
	o->nhave++;
	if (o->mem[b]) {
		set_bit(o->dirty, b, true);
		o->ndirty++;
		content_writer_queue(c, o);
	} else {
		content_block_on_disk(c, o, b);
	}
}

/* ---- fetching ---- */

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

/* A copy of a read URL good for a while (lock held; dropped for the
 * request).  stale: the URL that just answered expired. */
static int obj_url(struct content *c, struct cobj *o, const char *stale,
		   char **url)
{
	char *fresh = NULL;
	int ret;

	*url = NULL;
	while (o->url_busy)
		pthread_cond_wait(&c->cond, &c->lock);
	if (o->url && stale && !strcmp(o->url, stale)) {
		free(o->url);
		o->url = NULL;
	}
	if (o->url && o->url_expiry - CONTENT_URL_MARGIN_S > wall_s()) {
		*url = strdup(o->url);
		return *url ? 0 : -ENOMEM;
	}
	o->url_busy = true;
	c->st.urls++;
	pthread_mutex_unlock(&c->lock);
	ret = api_get_readurl(c->cfg.api, o->k.ds_id, o->k.sample_id,
			      c->cfg.thumbnails, &fresh);
	pthread_mutex_lock(&c->lock);
	o->url_busy = false;
	pthread_cond_broadcast(&c->cond);
	if (ret)
		return ret;
	free(o->url);
	o->url = fresh;
	o->url_expiry = blob_url_expiry(fresh);
	if (!o->url_expiry)
		o->url_expiry = wall_s() + CONTENT_URL_DEFAULT_TTL_S;
	else if (o->url_expiry - CONTENT_URL_MARGIN_S <= wall_s())
		/* a short-lived URL: use it at once rather than never */
		o->url_expiry = wall_s() + CONTENT_URL_MARGIN_S + 1;
	*url = strdup(fresh);
	return *url ? 0 : -ENOMEM;
}

struct sink {
	struct content *c;
	struct cobj *o;
	uint64_t pos;	 /* file offset of the next byte */
	uint64_t marked; /* blocks below this one are marked */
	bool stage;	 /* a reader waits: keep the bytes in memory */
	int err;
};

/* Where the next bytes go: the block buffer they belong in (made when a
 * reader waits for them and the bound allows), else NULL (the file);
 * *n is cut to the block's end. */
static char *sink_buf(struct sink *s, size_t *n)
{
	struct cobj *o = s->o;
	uint64_t b, end;
	char *m;

	if (!o->sized || s->pos >= o->size)
		return NULL;
	b = s->pos / CONTENT_BLOCK;
	end = (b + 1) * CONTENT_BLOCK < o->size ? (b + 1) * CONTENT_BLOCK
						: o->size;
	if (*n > end - s->pos)
		*n = (size_t)(end - s->pos);
	/* the block is this fetch's (busy): nobody else sets mem[b] */
	m = o->mem[b];
	if (!m && s->stage && s->pos % CONTENT_BLOCK == 0) {
		pthread_mutex_lock(&s->c->lock);
		m = o->mem[b] = mem_alloc(s->c);
		o->nmem += m != NULL;
		pthread_mutex_unlock(&s->c->lock);
	}
	return m ? m + s->pos % CONTENT_BLOCK : NULL;
}

static int sink_write(const char *data, size_t len, void *arg)
{
	struct sink *s = arg;
	struct cobj *o = s->o;

	while (len) {
		size_t want = len;
		char *m = sink_buf(s, &want);
		ssize_t n = (ssize_t)want;

		if (m)
			memcpy(m, data, want);
		else
			n = pwrite(o->fd, data, want, (off_t)s->pos);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			s->err = -errno;
			return s->err;
		}
		data += n;
		len -= (size_t)n;
		s->pos += (uint64_t)n;
	}
	if (o->sized) {
		uint64_t upto =
		    s->pos >= o->size ? o->nblocks : s->pos / CONTENT_BLOCK;

		if (upto > s->marked) {
			pthread_mutex_lock(&s->c->lock);
			for (uint64_t b = s->marked; b < upto; b++)
				content_mark_have(s->c, o, b);
			pthread_cond_broadcast(&s->c->cond);
			pthread_mutex_unlock(&s->c->lock);
			s->marked = upto;
		}
	}
	return 0;
}

/* Fetches [off, off + len) of o into its file (lock held, dropped for the
 * requests).  The blocks in it are busy (o sized) or o->sizing is ours.
 * Blocks that did not arrive are no longer busy afterwards. */
int content_fetch(struct content *c, struct cobj *o, uint64_t off, uint64_t len,
		  bool stage)
{
	struct sink s = {.c = c,
			 .o = o,
			 .pos = off,
			 .marked = off / CONTENT_BLOCK,
			 .stage = stage};
	struct blob_range r;
	char *url = NULL, *stale = NULL;
	int ret = content_obj_file(c, o);

	for (int round = 0; !ret && round < 2; round++) {
		ret = obj_url(c, o, stale, &url);
		free(stale);
		stale = NULL;
		if (ret)
			break;
		memset(&r, 0, sizeof(r));
		r.off = s.pos;
		r.len = len == UINT64_MAX ? UINT64_MAX : off + len - s.pos;
		r.expect_total = o->sized	 ? o->size
				 : o->k.size > 0 ? (uint64_t)o->k.size
						 : 0;
		pthread_mutex_unlock(&c->lock);
		log_debug("content: GET %s bytes %llu+%llu", o->key,
			  (unsigned long long)r.off, (unsigned long long)r.len);
		ret = blob_get(c->cfg.blob, url, &r, sink_write, &s);
		log_debug("content: got %s bytes %llu+%llu: %d", o->key,
			  (unsigned long long)r.off, (unsigned long long)r.got,
			  ret);
		pthread_mutex_lock(&c->lock);
		c->st.fetches += r.attempts;
		c->st.bytes += r.got;
		if (ret == -BLOB_EXPIRED) {
			c->st.expired++;
			stale = url;
			url = NULL;
			continue;
		}
		break;
	}
	free(url);
	free(stale);
	if (ret == -BLOB_EXPIRED)
		ret = -EIO;
	if (s.err)
		ret = s.err;
	if (!o->sized && !ret) {
		uint64_t total = r.total ? r.total : s.pos;

		ret = obj_set_size(c, o, total);
		if (!ret) {
			uint64_t upto =
			    s.pos >= total ? o->nblocks : s.pos / CONTENT_BLOCK;

			for (uint64_t b = off / CONTENT_BLOCK; b < upto; b++)
				content_mark_have(c, o, b);
		}
	}
	if (o->sized && len) {
		uint64_t b1 =
		    len == UINT64_MAX
			? o->nblocks
			: (off + len + CONTENT_BLOCK - 1) / CONTENT_BLOCK;

		for (uint64_t b = off / CONTENT_BLOCK; b < b1 && b < o->nblocks;
		     b++) {
			if (bit(o->have, b))
				continue;
			set_bit(o->busy, b, false);
			if (o->mem[b])
				mem_drop(c, o, b);
		}
	}
	o->last_err = ret;
	pthread_cond_broadcast(&c->cond);
	return ret;
}

/* o's size, fetching its first bytes to learn it (lock held). */
int content_obj_sized(struct content *c, struct cobj *o)
{
	uint64_t first;
	int ret;

	while (o->sizing)
		pthread_cond_wait(&c->cond, &c->lock);
	if (o->sized || o->complete)
		return 0;
	o->sizing = true;
	/* a small file whole at once; of a big one what a first read needs */
	first = o->k.size >= 0 && (uint64_t)o->k.size <= CONTENT_SMALL
		    ? (uint64_t)o->k.size + CONTENT_BLOCK
		    : CONTENT_SMALL;
	ret = content_fetch(c, o, 0, first, false);
	o->sizing = false;
	pthread_cond_broadcast(&c->cond);
	if (!ret && o->sized && c->cfg.size_learnt &&
	    (o->k.size < 0 || (uint64_t)o->k.size != o->size)) {
		struct content_key k = o->k;
		uint64_t size = o->size;

		o->k.size = (int64_t)size;
		pthread_mutex_unlock(&c->lock);
		c->cfg.size_learnt(c->cfg.arg, k.ds_slot, k.sample, size);
		pthread_mutex_lock(&c->lock);
	}
	return ret;
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

/* ---- the interface ---- */

int content_new(const struct content_config *cfg, struct content **out)
{
	struct content *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->dir = strdup(cfg->cache_dir);
	c->nbuckets = 4096;
	c->table = calloc(c->nbuckets, sizeof(*c->table));
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	/* bytes a reader's fetches hold in memory: the prefetch bound's */
	if (!c->dir || !c->table || content_mem_init(c, cfg->prefetch_bytes)) {
		content_mem_fini(c);
		free(c->dir);
		free(c->table);
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	pthread_cond_init(&c->work, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wb_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (mkdir(c->dir, 0700) && errno != EEXIST) {
		int ret = -errno;

		log_error("cache_dir %s: %s", c->dir, strerror(-ret));
		content_free(c);
		return ret;
	}
	content_scan_dir(c);
	if (!c->cfg.cache_bytes)
		c->cfg.prefetch_requests = 0;
	/* readahead gets two threads of its own beside the prefetchers */
	c->threads = calloc(c->cfg.prefetch_requests + 2, sizeof(pthread_t));
	for (unsigned i = 0; c->threads && i < c->cfg.prefetch_requests + 2;
	     i++) {
		if (pthread_create(&c->threads[i], NULL, content_worker, c))
			break;
		c->nthreads++;
	}
	content_writer_start(c);
	if (!c->nthreads) {
		content_free(c);
		return -ENOMEM;
	}
	log_debug("content cache %s: %llu files, %llu bytes", c->dir,
		  (unsigned long long)c->disk_files,
		  (unsigned long long)c->disk_bytes);
	*out = c;
	return 0;
}

void content_free(struct content *c)
{
	struct job *j;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	/* queued work is dropped; what runs finishes its request */
	while ((j = content_dequeue(&c->pf_head, &c->pf_tail)) ||
	       (j = content_dequeue(&c->ra_head, &c->ra_tail)) ||
	       (j = content_dequeue(&c->push_head, &c->push_tail))) {
		if (!j->whole)
			for (uint64_t b = j->b0; b < j->b1; b++)
				set_bit(j->o->busy, b, false);
		j->o->pf_queued = false;
		content_obj_put(c, j->o);
		free(j);
	}
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	for (unsigned i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i], NULL);
	free(c->threads);
	/* what readers received goes to the cache before the end */
	content_writer_stop(c);
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
	content_mem_fini(c);
	free(c->table);
	free(c->dir);
	pthread_cond_destroy(&c->wb_cond);
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void content_get_stats(struct content *c, struct content_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	out->disk_bytes = c->disk_bytes;
	out->disk_files = c->disk_files;
	pthread_mutex_unlock(&c->lock);
}

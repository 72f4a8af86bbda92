/* The content layer's background: worker threads (read-ahead and
 * prefetch jobs), content_prefetch, and the cache directory an earlier
 * mount left (content.h). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "content_internal.h"
#include "log.h"

/* ---- workers ---- */

void content_queue(struct job **head, struct job **tail, struct job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

struct job *content_dequeue(struct job **head, struct job **tail)
{
	struct job *j = *head;

	if (j) {
		*head = j->next;
		if (!*head)
			*tail = NULL;
	}
	return j;
}

static void run_whole(struct content *c, struct cobj *o)
{
	uint64_t b = 0, e;

	if (content_obj_sized(c, o) || o->complete)
		return;
	/* the rest of it, in the runs no reader is fetching */
	while (b < o->nblocks) {
		while (b < o->nblocks && (bit(o->have, b) || bit(o->busy, b)))
			b++;
		for (e = b;
		     e < o->nblocks && !bit(o->have, e) && !bit(o->busy, e);
		     e++)
			set_bit(o->busy, e, true);
		if (e > b && content_fetch(c, o, b * CONTENT_BLOCK,
					   (e - b) * CONTENT_BLOCK, false))
			return;
		b = e;
	}
}

/* Whether o is a file to hand to the kernel: complete, of the size stat
 * showed (the kernel caches pages only up to it), not handed yet. */
static bool pushable(const struct content *c, const struct cobj *o)
{
	return c->cfg.push && o->complete && !o->pushed && o->k.size >= 0 &&
	       (uint64_t)o->k.size == o->size && o->size > 0 &&
	       o->size <= c->cfg.prefetch_bytes / 4;
}

/* Hands a complete file the walk opens soon to the kernel's page cache
 * (lock held; dropped for the copy, which only touches local files). */
static void push(struct content *c, struct cobj *o)
{
	struct content_key k = o->k;
	uint64_t size = o->size;
	int fd;

	if (!pushable(c, o))
		return;
	o->pushed = true;
	fd = content_obj_reopen(c, o);
	if (fd < 0)
		return;
	pthread_mutex_unlock(&c->lock);
	c->cfg.push(c->cfg.arg, k.ds_slot, k.sample, fd, size);
	close(fd);
	pthread_mutex_lock(&c->lock);
	c->st.pushed++;
}

void *content_worker(void *arg)
{
	struct content *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct job *j = content_dequeue(&c->ra_head, &c->ra_tail);

		if (!j && !c->pushing) {
			j = content_dequeue(&c->push_head, &c->push_tail);
			c->pushing = j != NULL;
		}

		if (!j && c->pf_running < c->cfg.prefetch_requests) {
			j = content_dequeue(&c->pf_head, &c->pf_tail);
			if (j) {
				c->pf_queued--;
				c->pf_running++;
			}
		}
		if (!j) {
			if (c->stopping)
				break;
			pthread_cond_wait(&c->work, &c->lock);
			continue;
		}
		if (j->push) {
			push(c, j->o);
			c->pushing = false;
		} else if (j->whole) {
			j->o->pf_queued = false;
			if (!j->o->complete) {
				run_whole(c, j->o);
				if (j->o->complete)
					c->st.prefetched++;
			}
			c->pf_running--;
			c->pf_bytes -= j->bytes;
			push(c, j->o);
		} else {
			content_fetch(c, j->o, j->b0 * CONTENT_BLOCK,
				      (j->b1 - j->b0) * CONTENT_BLOCK, true);
		}
		content_obj_put(c, j->o);
		free(j);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- the writer ---- */

/* blocks written at once: few, so a reader's block is not kept waiting */
#define WB_RUN 8
/* a file still open is written this long after its last new block */
#define WB_IDLE_MS 500

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void content_writer_queue(struct content *c, struct cobj *o)
{
	o->wb_touched = mono_ms();
	if (o->wb_queued)
		return;
	o->wb_queued = true;
	o->refs++; /* the object stays until its bytes are in the file */
	o->wb_next = NULL;
	if (c->wb_tail)
		c->wb_tail->wb_next = o;
	else
		c->wb_head = o;
	c->wb_tail = o;
	pthread_cond_signal(&c->wb_cond);
}

static size_t block_len(const struct cobj *o, uint64_t b)
{
	uint64_t end = (b + 1) * CONTENT_BLOCK;

	return (size_t)((end < o->size ? end : o->size) - b * CONTENT_BLOCK);
}

static int write_run(int fd, struct iovec *iov, int n, off_t off)
{
	while (n) {
		ssize_t w = pwritev(fd, iov, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w ? -errno : -EIO;
		off += w;
		while (n && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* The first run of o's dirty blocks into its file (lock held, dropped
 * for the write).  The blocks stay in memory, and so readable, until
 * they are marked. */
static void write_some(struct content *c, struct cobj *o)
{
	struct iovec iov[WB_RUN];
	uint64_t b = 0, e;
	int n = 0, ret;

	while (b < o->nblocks && !bit(o->dirty, b))
		b++;
	for (e = b; e < o->nblocks && n < WB_RUN && bit(o->dirty, e); e++) {
		iov[n].iov_base = o->mem[e];
		iov[n++].iov_len = block_len(o, e);
	}
	if (n) {
		int fd = o->fd;

		pthread_mutex_unlock(&c->lock);
		ret = write_run(fd, iov, n, (off_t)(b * CONTENT_BLOCK));
		pthread_mutex_lock(&c->lock);
		if (ret && !o->wb_failed)
			log_warn("content cache: write: %s (the file is "
				 "read from storage again)",
				 strerror(-ret));
		o->wb_failed |= ret != 0;
		for (uint64_t x = b; x < e; x++) {
			set_bit(o->dirty, x, false);
			o->ndirty--;
			if (!ret)
				content_block_on_disk(c, o, x);
		}
		content_mem_trim(c, o, false);
	}
	if (o->ndirty)
		return;
	struct cobj **p = &c->wb_head, *prev = NULL;

	while (*p != o) {
		prev = *p;
		p = &(*p)->wb_next;
	}
	*p = o->wb_next;
	if (c->wb_tail == o)
		c->wb_tail = prev;
	o->wb_queued = false;
	content_obj_put(c, o);
}

/* Whether o's blocks go to the file now.  While its reader goes on they
 * wait: the write's CPU is taken from the read (a 50 MiB cat, 57 ms with
 * the write beside it, 47 ms without), and a read of them is served from
 * memory all the same.  They go when nobody has the file open, when the
 * reader has stopped for WB_IDLE_MS, when memory is half used, and at
 * the end.  *wake: when to look again. */
static bool writable(const struct content *c, const struct cobj *o, int64_t now,
		     int64_t *wake)
{
	int64_t due = o->wb_touched + WB_IDLE_MS;

	if (c->wb_stop || o->refs == 1 || c->mem_bytes * 2 >= c->mem_max ||
	    now >= due)
		return true;
	if (!*wake || due < *wake)
		*wake = due;
	return false;
}

static void *writer_main(void *arg)
{
	struct content *c = arg;
	struct sched_param sp = {0};

	/* the cache is written with what CPU the readers leave: a cold read
	 * is served from memory, and its bytes are not worth its time */
	(void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		int64_t now = mono_ms(), wake = 0;
		struct cobj *o = c->wb_head;

		while (o && !writable(c, o, now, &wake))
			o = o->wb_next;
		if (o) {
			write_some(c, o);
			continue;
		}
		if (c->wb_stop)
			break;
		if (wake) {
			struct timespec ts = {.tv_sec = wake / 1000,
					      .tv_nsec = wake % 1000 * 1000000};

			pthread_cond_timedwait(&c->wb_cond, &c->lock, &ts);
		} else {
			pthread_cond_wait(&c->wb_cond, &c->lock);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void content_writer_start(struct content *c)
{
	c->has_writer = !pthread_create(&c->writer, NULL, writer_main, c);
	/* without a writer nothing may wait in memory for one */
	if (!c->has_writer)
		c->mem_max = 0;
}

void content_writer_stop(struct content *c)
{
	if (!c->has_writer)
		return;
	pthread_mutex_lock(&c->lock);
	c->wb_stop = true;
	pthread_cond_signal(&c->wb_cond);
	pthread_mutex_unlock(&c->lock);
	/* at normal priority: nothing else runs now, and the unmount waits */
	(void)pthread_setschedparam(c->writer, SCHED_OTHER,
				    &(struct sched_param){0});
	pthread_join(c->writer, NULL);
	c->has_writer = false;
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
			if (n == cap) {
				struct found *nv;

				cap = cap ? 2 * cap : 256;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv)
					break;
				v = nv;
			}
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

void content_prefetch(struct content *c, const struct content_key *keys,
		      size_t n)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < n && !c->stopping; i++) {
		uint64_t bytes =
		    keys[i].size >= 0 ? (uint64_t)keys[i].size : CONTENT_SMALL;
		struct cobj *o;
		struct job *j;

		if (!c->cfg.prefetch_requests ||
		    c->pf_queued >= 2 * c->cfg.prefetch_requests)
			break;
		/* a big file is not taken whole on a guess */
		if (bytes > c->cfg.prefetch_bytes / 4)
			continue;
		if (c->pf_bytes + bytes > c->cfg.prefetch_bytes)
			break;
		o = content_obj_get(c, &keys[i]);
		if (!o)
			break;
		if (pushable(c, o) && o->refs == 1 &&
		    (j = calloc(1, sizeof(*j)))) {
			/* on disk already: only the kernel's copy is made */
			j->o = o;
			j->push = true;
			content_queue(&c->push_head, &c->push_tail, j);
			pthread_cond_signal(&c->work);
			continue;
		}
		if (o->complete || o->pf_queued || o->refs > 1 ||
		    !(j = calloc(1, sizeof(*j)))) {
			content_obj_put(c, o);
			continue;
		}
		o->pf_queued = true;
		j->o = o;
		j->whole = true;
		j->bytes = bytes;
		c->pf_bytes += bytes;
		c->pf_queued++;
		content_queue(&c->pf_head, &c->pf_tail, j);
		pthread_cond_signal(&c->work);
	}
	pthread_mutex_unlock(&c->lock);
}

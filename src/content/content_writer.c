/* The cache-file writer: a thread at idle priority that puts the blocks
 * readers received in memory (dirty) into their objects' files, and its
 * queue of objects with dirty blocks.  Calls only the object store. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "content_internal.h"
#include "log.h"

/* blocks written at once: few, so a reader's block is not kept waiting */
#define WB_RUN 8
/* a file still open is written this long after its last new block */
#define WB_IDLE_MS 500

void content_writer_queue(struct content *c, struct cobj *o)
{
	o->wb_touched = content_mono_ms();
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
		int64_t now = content_mono_ms(), wake = 0;
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

/* The worker threads: the read-ahead jobs readers queue, the whole-file
 * prefetch jobs content_prefetch queues (content.h), and the hand-over
 * of complete files to the kernel's page cache.  Calls the fetching and
 * the object store; content.c starts and stops the threads. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "content_internal.h"

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

	/* unsized: the whole of it on the request that sizes it */
	while (o->sizing && !o->sized)
		pthread_cond_wait(&c->cond, &c->lock);
	if (!o->sized && !o->complete) {
		o->sizing = true;
		if (content_obj_size_fetch(c, o, UINT64_MAX, 0, false))
			return;
	}
	if (o->complete)
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

/* A big file's first window, which sizes it, then on the connection it
 * opened (kept alive, its congestion window open: a second request at
 * once would take another, cold) the rest of the claim, when the file is
 * still open and a reader got half way through it: it reads on.  One
 * that stopped (head, file(1)) cost the first window only. */
static void run_first(struct content *c, struct job *j)
{
	struct cobj *o = j->o;
	uint64_t claim, b1;
	int ret = content_obj_size_fetch(c, o, j->size, j->claim, true);

	if (!o->sized)
		return;
	claim = j->claim < o->size ? j->claim : o->size;
	b1 = (claim + CONTENT_BLOCK - 1) / CONTENT_BLOCK;
	if (!ret && o->refs > 1 && o->read_to >= j->size / 2 &&
	    claim > j->size) {
		content_fetch(c, o, j->size, claim - j->size, true);
		return;
	}
	for (uint64_t b = j->size / CONTENT_BLOCK; b < b1 && b < o->nblocks;
	     b++)
		if (!bit(o->have, b))
			set_bit(o->busy, b, false);
	pthread_cond_broadcast(&c->cond);
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
		struct job *j;

		/* pages of URLs first: fetches wait for them */
		if (content_urls_run(c))
			continue;
		j = content_dequeue(&c->ra_head, &c->ra_tail);

		if (!j && !c->pushing) {
			j = content_dequeue(&c->push_head, &c->push_tail);
			c->pushing = j != NULL;
		}

		if (!j && c->pf_running < c->link.window) {
			j = content_dequeue(&c->pf_head, &c->pf_tail);
			if (j) {
				c->pf_queued--;
				c->pf_running++;
			}
		}
		if (!j) {
			if (c->stopping)
				break;
			c->idle++;
			pthread_cond_wait(&c->work, &c->lock);
			c->idle--;
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
			if (!j->warm)
				push(c, j->o);
		} else if (j->sizing) {
			run_first(c, j);
		} else {
			content_fetch(c, j->o, j->b0 * CONTENT_BLOCK,
				      (j->b1 - j->b0) * CONTENT_BLOCK, true);
		}
		content_obj_put(c, j->o);
		free(j);
		/* a fetch may have widened the window: more may run */
		if (c->pf_head && c->pf_running < c->link.window) {
			content_workers_grow(c);
			pthread_cond_broadcast(&c->work);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void content_workers_grow(struct content *c)
{
	unsigned want = c->pf_running + c->pf_queued;

	if (want > c->link.window)
		want = c->link.window;
	/* two beside the prefetchers: readers' read-ahead */
	want += 2;
	if (want > c->cfg.prefetch_requests + 2)
		want = c->cfg.prefetch_requests + 2;
	while (
	    c->threads && !c->stopping && c->nthreads < want &&
	    !pthread_create(&c->threads[c->nthreads], NULL, content_worker, c))
		c->nthreads++;
}

/* Whole-file jobs for keys, up to the prefetch bounds.  A walk's
 * (warm false) skips big files, taken whole on a guess, and queues
 * complete ones for the kernel's page cache; a warm-up asked for every
 * byte, big files included (one at a time when bigger than the bound),
 * and only for the content cache. */
static size_t queue_whole(struct content *c, const struct content_key *keys,
			  size_t n, bool warm)
{
	size_t handled = 0; /* keys[0, handled) are cached or on their way */

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < n && !c->stopping; i++) {
		uint64_t bytes =
		    keys[i].size >= 0 ? (uint64_t)keys[i].size : CONTENT_SMALL;
		struct cobj *o;
		struct job *j;

		/* the queue holds what the window will want while the reader
		 * is held up by a file: new jobs come only with its opens */
		if (!c->cfg.prefetch_requests ||
		    c->pf_queued >= 2 * c->cfg.prefetch_requests)
			break;
		if (!warm && bytes > c->cfg.prefetch_bytes / 4)
			continue;
		if (c->pf_bytes + bytes > c->cfg.prefetch_bytes &&
		    (!warm || c->pf_bytes))
			break;
		o = content_obj_get(c, &keys[i]);
		if (!o)
			break;
		if (!warm && pushable(c, o) && o->refs == 1 &&
		    (j = calloc(1, sizeof(*j)))) {
			/* on disk already: only the kernel's copy is made */
			j->o = o;
			j->push = true;
			content_queue(&c->push_head, &c->push_tail, j);
			pthread_cond_signal(&c->work);
			continue;
		}
		if (o->complete || o->pf_queued || o->refs > 1) {
			handled += handled == i;
			content_obj_put(c, o);
			continue;
		}
		if (!(j = calloc(1, sizeof(*j)))) {
			content_obj_put(c, o);
			break;
		}
		handled += handled == i;
		o->pf_queued = true;
		j->o = o;
		j->whole = true;
		j->warm = warm;
		j->bytes = bytes;
		c->pf_bytes += bytes;
		c->pf_queued++;
		content_queue(&c->pf_head, &c->pf_tail, j);
		content_workers_grow(c);
		pthread_cond_signal(&c->work);
	}
	pthread_mutex_unlock(&c->lock);
	return handled;
}

void content_prefetch(struct content *c, const struct content_key *keys,
		      size_t n)
{
	queue_whole(c, keys, n, false);
}

size_t content_warm(struct content *c, const struct content_key *keys, size_t n)
{
	return queue_whole(c, keys, n, true);
}

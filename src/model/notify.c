/* Kernel invalidations, queued under their own mutex and sent by one
 * thread with no lock held (fuse_lowlevel_notify_* may block on the
 * kernel, which may be waiting on one of our handlers). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index.h"
#include "notify.h"

#define NOTIFY_QUEUE_MAX 65536

struct notify_item {
	uint64_t parent; /* 0: invalidate the inode ino only */
	uint64_t ino;
	char name[INDEX_NAME_MAX + 1];
};

void notify_init(struct notify *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
}

static bool repeats_last(const struct notify *q, uint64_t parent, uint64_t ino,
			 const char *name)
{
	const struct notify_item *it;

	if (!q->n)
		return false;
	it = &q->items[q->n - 1];
	return it->parent == parent && it->ino == ino &&
	       (!name || !strcmp(it->name, name));
}

void notify_push(struct notify *q, uint64_t parent, uint64_t ino,
		 const char *name)
{
	struct notify_item *it;

	pthread_mutex_lock(&q->lock);
	/* a burst of edits in one folder repeats the same item */
	if (!q->cb || repeats_last(q, parent, ino, name))
		goto out;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		struct notify_item *v;

		if (cap > NOTIFY_QUEUE_MAX)
			goto out;
		v = realloc(q->items, cap * sizeof(*v));
		if (!v)
			goto out;
		q->items = v;
		q->cap = cap;
	}
	it = &q->items[q->n++];
	q->queued++;
	it->parent = parent;
	it->ino = ino;
	it->name[0] = '\0';
	if (name)
		snprintf(it->name, sizeof(it->name), "%s", name);
	/* a notify_wait may wait on the same condition */
	pthread_cond_broadcast(&q->cond);
out:
	pthread_mutex_unlock(&q->lock);
}

static void *notify_main(void *arg)
{
	struct notify *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct notify_item *items;
		uint64_t upto;
		size_t n;
		fs_notify_cb cb = q->cb;
		void *cb_arg = q->arg;

		while (!q->n && !q->stopping)
			pthread_cond_wait(&q->cond, &q->lock);
		if (!q->n && q->stopping)
			break;
		items = q->items;
		n = q->n;
		cb = q->cb;
		cb_arg = q->arg;
		upto = q->queued;
		q->items = NULL;
		q->n = q->cap = 0;
		q->calling = cb != NULL;
		pthread_mutex_unlock(&q->lock);
		for (size_t i = 0; cb && i < n; i++)
			cb(items[i].parent, items[i].ino, items[i].name,
			   cb_arg);
		free(items);
		pthread_mutex_lock(&q->lock);
		q->calling = false;
		q->sent = upto;
		pthread_cond_broadcast(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int notify_wait(struct notify *q, double timeout_s)
{
	struct timespec end;
	uint64_t target;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += (time_t)timeout_s;
	end.tv_nsec += (long)((timeout_s - (double)(time_t)timeout_s) * 1e9);
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->lock);
	target = q->queued;
	while (q->sent < target && q->running && !q->stopping && !ret)
		if (pthread_cond_timedwait(&q->cond, &q->lock, &end) ==
		    ETIMEDOUT)
			ret = -ETIMEDOUT;
	pthread_mutex_unlock(&q->lock);
	return ret;
}

int notify_start(struct notify *q)
{
	if (pthread_create(&q->thread, NULL, notify_main, q))
		return -EAGAIN;
	q->running = true;
	return 0;
}

void notify_set_cb(struct notify *q, fs_notify_cb cb, void *arg)
{
	pthread_mutex_lock(&q->lock);
	q->cb = cb;
	q->arg = arg;
	/* once the session is unmounted a notification fails at once, so
	 * this wait is short */
	while (q->calling)
		pthread_cond_wait(&q->cond, &q->lock);
	pthread_mutex_unlock(&q->lock);
}

void notify_dispose(struct notify *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	q->cb = NULL;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (q->running)
		pthread_join(q->thread, NULL);
	q->running = false;
	free(q->items);
	q->items = NULL;
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
}

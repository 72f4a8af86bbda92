/* The queue of kernel cache invalidations and the thread that sends them.
 * Edits and refreshes push items under the model lock; the thread sends
 * them with no lock held, so it never waits on a request a handler is
 * serving.  Its own mutex is a leaf: taken after fs->lock, never before. */
#ifndef LIGHTLYFS_NOTIFY_H
#define LIGHTLYFS_NOTIFY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs.h"

struct notify_item;

struct notify {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct notify_item *items;
	size_t n, cap;
	fs_notify_cb cb;
	void *arg;
	pthread_t thread;
	bool running, stopping;
	bool calling; /* the thread is in a callback, without the lock */
	uint64_t queued, sent; /* items queued and sent, ever */
};

void notify_init(struct notify *q);
/* Stops the thread (after sending what is queued) and frees the queue. */
void notify_dispose(struct notify *q);
/* 0 or -EAGAIN. */
int notify_start(struct notify *q);
/* Returns once no callback set before runs any more: the session the old
 * one sends to may be destroyed then. */
void notify_set_cb(struct notify *q, fs_notify_cb cb, void *arg);
/* parent != 0: the entry name in parent; else the attributes and listing
 * of ino.  Dropped silently when no callback is set or the queue is full
 * (the TTL still bounds how stale the kernel can be). */
void notify_push(struct notify *q, uint64_t parent, uint64_t ino,
		 const char *name);
/* Waits until what was pushed before the call has been sent, at most
 * timeout_s; 0 or -ETIMEDOUT.  Only for a handler that must not reply
 * before the kernel forgot something: the bound keeps it from waiting on
 * a kernel that waits on the handler. */
int notify_wait(struct notify *q, double timeout_s);

#endif

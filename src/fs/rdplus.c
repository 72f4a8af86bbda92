/* Cached plain listings and the LOOKUP that drops them (rdplus.h). */
#include "rdplus.h"

#include <string.h>

#include "fs_ctx.h"

void rdplus_init(struct rdplus *r)
{
	memset(r->ino, 0, sizeof(r->ino));
	r->next = 0;
	atomic_init(&r->n, 0);
	pthread_mutex_init(&r->lock, NULL);
}

void rdplus_dispose(struct rdplus *r)
{
	pthread_mutex_destroy(&r->lock);
}

static int rdplus_find(const struct rdplus *r, uint64_t dir)
{
	for (int i = 0; i < RDPLUS_SLOTS; i++)
		if (r->ino[i] == dir)
			return i;
	return -1;
}

void rdplus_served_plain(struct fs *fs, uint64_t dir)
{
	struct rdplus *r = &fs->rdplus;

	pthread_mutex_lock(&r->lock);
	if (rdplus_find(r, dir) < 0) {
		if (r->ino[r->next] == 0)
			atomic_fetch_add(&r->n, 1);
		r->ino[r->next] = dir;
		r->next = (r->next + 1) % RDPLUS_SLOTS;
	}
	pthread_mutex_unlock(&r->lock);
}

static bool rdplus_take(struct rdplus *r, uint64_t dir)
{
	int i;

	if (atomic_load(&r->n) == 0)
		return false;
	pthread_mutex_lock(&r->lock);
	i = rdplus_find(r, dir);
	if (i >= 0) {
		r->ino[i] = 0;
		atomic_fetch_sub(&r->n, 1);
	}
	pthread_mutex_unlock(&r->lock);
	return i >= 0;
}

void rdplus_lookup(struct fs *fs, uint64_t dir)
{
	/* through the queue: never from inside the request being served */
	if (rdplus_take(&fs->rdplus, dir))
		notify_push(&fs->notify, 0, dir, NULL);
}

bool rdplus_marked(struct rdplus *r, uint64_t dir)
{
	bool found;

	pthread_mutex_lock(&r->lock);
	found = rdplus_find(r, dir) >= 0;
	pthread_mutex_unlock(&r->lock);
	return found;
}

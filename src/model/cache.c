/* Freshness, single flight and stale-if-error for every loaded thing (the
 * sshfs cache.c rule: a load installs only what is newer than the edits
 * made meanwhile, which the install callbacks check with edit sequence
 * numbers).  No I/O of its own: the requests are the loaders'. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "log.h"

double cache_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cache_init(struct cache *c, pthread_mutex_t *lock, double ttl_s,
		double max_stale_s)
{
	memset(c, 0, sizeof(*c));
	c->lock = lock;
	pthread_cond_init(&c->cond, NULL);
	c->ttl_s = ttl_s;
	c->max_stale_s = max_stale_s;
}

void cache_dispose(struct cache *c)
{
	pthread_cond_destroy(&c->cond);
}

bool cache_fresh(const struct cache *c, const struct load *l)
{
	return l->fetched_at > 0 && cache_now() - l->fetched_at < c->ttl_s;
}

bool cache_usable(const struct cache *c, const struct load *l)
{
	return l->good_at > 0 && cache_now() - l->good_at <= c->max_stale_s;
}

static bool usable(const struct cache *c, const struct load *l,
		   const struct cache_loader *ld, void *arg)
{
	return ld->usable ? ld->usable(c, l, arg) : cache_usable(c, l);
}

/* Waits while another thread loads l, unless there is usable data: a
 * request stuck on the server must not hold up what the cache can answer.
 * True when the caller should load l itself (then marked busy). */
static bool load_begin(struct cache *c, struct load *l,
		       const struct cache_loader *ld, void *arg)
{
	for (;;) {
		if (ld->fresh ? ld->fresh(c, l, arg) : cache_fresh(c, l)) {
			c->hits++;
			return false;
		}
		/* the server failed a moment ago: every stale layer of a path
		 * would otherwise wait out one more deadline in turn */
		if (usable(c, l, ld, arg) &&
		    (l->busy || cache_now() < c->down_until)) {
			c->stale_served++;
			return false;
		}
		if (!l->busy)
			break;
		cache_wait(c);
	}
	c->misses++;
	l->busy = true;
	return true;
}

static void load_end(struct cache *c, struct load *l, int err)
{
	double now = cache_now();

	l->busy = false;
	l->err = err;
	if (!err) {
		l->fetched_at = l->good_at = now;
		c->down_until = 0;
	} else if (cache_usable(c, l)) {
		/* serve what we have for a while instead of making every
		 * access wait out the deadline of a server that is away */
		double wait = c->ttl_s < CACHE_RETRY_AFTER_FAILURE_S
				  ? c->ttl_s
				  : CACHE_RETRY_AFTER_FAILURE_S;

		c->down_until = now + CACHE_RETRY_AFTER_FAILURE_S;
		l->fetched_at = now - c->ttl_s + wait;
		log_warn("refresh failed (%s); serving what was loaded %.0f s "
			 "ago",
			 strerror(-err), now - l->good_at);
	}
	pthread_cond_broadcast(&c->cond);
}

/* After a failed refresh what we had stays in use (a mount that empties
 * when the network blinks is worse than one a minute old), up to
 * max_stale; a first load that fails is an error. */
static int load_result(struct cache *c, const struct load *l,
		       const struct cache_loader *ld, void *arg)
{
	if (!l->err)
		return 0;
	if (usable(c, l, ld, arg)) {
		c->stale_served++;
		return 0;
	}
	return l->err;
}

/* Offline, a refresh could only fail: what is held (the snapshot's) is
 * served as it is, without the warning of a failed refresh each time. */
static int offline_result(struct cache *c, const struct load *l,
			  const struct cache_loader *ld, void *arg)
{
	if (ld->usable ? ld->usable(c, l, arg) : l->good_at > 0) {
		c->hits++;
		return 0;
	}
	return -ENETDOWN;
}

int cache_load(struct cache *c, struct load *l, const struct cache_loader *ld,
	       void *arg)
{
	int ret;

	if (c->offline)
		return offline_result(c, l, ld, arg);
	if (!load_begin(c, l, ld, arg))
		return load_result(c, l, ld, arg);
	ret = ld->prepare ? ld->prepare(arg) : 0;
	if (!ret)
		ret = cache_unlocked(c, ld->fetch, arg);
	ret = ld->install(arg, ret);
	load_end(c, l, ret);
	return load_result(c, l, ld, arg);
}

int cache_unlocked(struct cache *c, int (*fn)(void *arg), void *arg)
{
	int ret;

	c->away++;
	pthread_mutex_unlock(c->lock);
	ret = fn(arg);
	pthread_mutex_lock(c->lock);
	c->away--;
	return ret;
}

void cache_wait(struct cache *c)
{
	c->away++;
	pthread_cond_wait(&c->cond, c->lock);
	c->away--;
}

void cache_wake(struct cache *c)
{
	pthread_cond_broadcast(&c->cond);
}

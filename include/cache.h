/* The cache mechanism every loaded thing shares: freshness within a TTL,
 * single flight (one request however many want the same thing),
 * stale-if-error up to max_stale, and a short pause after a failure so a
 * server that is away costs one deadline, not one per access.
 *
 * Locking: every function here is called with *lock held.  cache_load()
 * and cache_unlocked() drop it around the request and take it again; the
 * caller re-checks what it holds afterwards (see node.h). */
#ifndef LIGHTLYFS_CACHE_H
#define LIGHTLYFS_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CACHE_RETRY_AFTER_FAILURE_S 5.0

/* Freshness and single-flight state of one loadable thing. */
struct load {
	double fetched_at; /* monotonic s; 0 = never; fresh for the TTL */
	double good_at;	   /* monotonic s of the last successful load */
	bool busy;
	int err; /* of the last attempt */
};

struct cache {
	pthread_mutex_t *lock; /* the model's; borrowed */
	pthread_cond_t cond;   /* loads and wire requests ending */
	double ttl_s;
	double max_stale_s;
	double down_until; /* monotonic s: a load failed; serve stale until */
	uint64_t hits, misses, evictions, stale_served;
	/* threads in the middle of an operation that dropped the lock (a
	 * fetch, a wait): while none is, no thread but the lock's holder
	 * holds a pointer into the model (a dead tag's slot may go) */
	unsigned away;
	/* no server (an offline mount): what was loaded is fresh, and the
	 * rest fails with -ENETDOWN without a request */
	bool offline;
};

/* One load: prepare (optional) runs with the lock once the load is ours,
 * to copy what the request needs; fetch runs without the lock (skipped when
 * prepare failed); install runs with it and gets their result (it may turn
 * an error into success, e.g. a fallback).  fresh and
 * usable, when set, replace the TTL and max_stale tests (both run with the
 * lock held). */
struct cache_loader {
	bool (*fresh)(const struct cache *c, const struct load *l, void *arg);
	bool (*usable)(const struct cache *c, const struct load *l, void *arg);
	int (*prepare)(void *arg);
	int (*fetch)(void *arg);
	int (*install)(void *arg, int err);
};

double cache_now(void);
void cache_init(struct cache *c, pthread_mutex_t *lock, double ttl_s,
		double max_stale_s);
void cache_dispose(struct cache *c);

bool cache_fresh(const struct cache *c, const struct load *l);
/* What l loaded last may still be shown after failed refreshes. */
bool cache_usable(const struct cache *c, const struct load *l);

/* Loads l through ld unless it is fresh, someone else is loading it while
 * usable data exists, or the server failed a moment ago.  Waits for a
 * concurrent load otherwise.  0, or the error of a load that left nothing
 * usable. */
int cache_load(struct cache *c, struct load *l, const struct cache_loader *ld,
	       void *arg);

/* Runs fn(arg) with the lock dropped: the one way a request is made from
 * under the model lock outside cache_load.  Returns fn's result. */
int cache_unlocked(struct cache *c, int (*fn)(void *arg), void *arg);

/* Condition waits for "something on the wire ended" (lock held). */
void cache_wait(struct cache *c);
void cache_wake(struct cache *c);

/* Forgets l's data so the next access loads it again. */
static inline void cache_expire(struct load *l)
{
	l->fetched_at = 0;
}

#endif

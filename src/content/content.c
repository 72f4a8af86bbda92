/* Sample content through the cache directory (content.h): the top of the
 * content layer, which makes and ends it (the store, the buffers, the
 * worker and writer threads) and reports its counters.  Reading is
 * content_read.c's, prefetch content_bg.c's. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "content_internal.h"
#include "log.h"

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
	if (!c->dir || !c->table || content_mem_init(c, cfg->prefetch_bytes) ||
	    content_urls_init(c)) {
		content_urls_fini(c);
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
	content_link_init(c);
	/* readahead gets two threads of its own beside the prefetchers, who
	 * start as many as the first window needs; more come as it grows
	 * (content_workers_grow) */
	c->threads = calloc(c->cfg.prefetch_requests + 2, sizeof(pthread_t));
	for (unsigned i = 0; c->threads && i < c->link.window + 2; i++) {
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
		if (j->sizing)
			j->o->sizing = false;
		j->o->pf_queued = false;
		content_obj_put(c, j->o);
		free(j);
	}
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	/* no thread starts once stopping is set: nthreads is final */
	for (unsigned i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i], NULL);
	free(c->threads);
	/* what readers received goes to the cache before the end */
	content_writer_stop(c);
	content_obj_free_all(c);
	content_urls_fini(c);
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

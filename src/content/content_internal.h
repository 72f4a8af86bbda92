/* What the files of the content layer share; not for anyone else:
 * content.h is the interface.  The files, lowest first; each calls only
 * those below it:
 * - content_mem.c: block buffers;
 * - content_store.c: objects, the LRU, eviction, blocks, cache files,
 *   the cache directory at start;
 * - content_writer.c: the thread that writes dirty blocks to the files;
 * - content_urls.c: read URLs, one per object, and the book of those
 *   fetched ahead by pages;
 * - content_link.c: the link's round trip and rate, and the window;
 * - content_fetch.c: the GETs into an object, its size;
 * - content_bg.c: the worker threads (read-ahead, prefetch, push);
 * - content.c (content_new, _free, stats) and content_read.c (open,
 *   read, close): the interface.
 * Every function here but those content_new and content_free call is
 * called with c->lock held; content_fetch and content_obj_sized drop it
 * for their requests.
 *
 * A block of an object is one of:
 * - missing (have 0), perhaps busy: a fetch is filling it;
 * - held (have 1): on disk (disk 1), or in mem[b] (the bytes a reader's
 *   fetch received, served from there), or both.  A block in memory and
 *   not on disk is dirty until the writer has put it in the cache file;
 *   a block in memory is freed once it is on disk, has been read (or the
 *   file is closed) and no read has it pinned (pins 0). */
#ifndef LIGHTLYFS_CONTENT_INTERNAL_H
#define LIGHTLYFS_CONTENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "content.h"

#define KEY_MAX 96

struct cobj {
	struct cobj *hnext;
	struct cobj *lru_prev, *lru_next;
	char key[KEY_MAX]; /* "DSID/SAMPLEID-MODIFIED-full": its file name */
	struct content_key k;
	unsigned refs;
	int fd;
	bool sized, sizing, complete, on_lru, pf_queued;
	bool pushed; /* handed to the kernel once: its pages stay */
	uint64_t size, nblocks, nhave;
	uint8_t *have, *busy;		/* bitmaps of nblocks */
	uint8_t *ondisk, *dirty, *sent; /* sent: read from mem */
	char **mem; /* per block a buffer of CONTENT_BLOCK, or NULL */
	uint64_t ndisk, ndirty, nmem; /* blocks on disk, dirty, in memory */
	unsigned pins;		      /* reads serving from mem */
	struct cobj *wb_next;	      /* in the writer's queue */
	bool wb_queued;		      /* (and holding a reference for it) */
	bool wb_failed;		      /* a cache write failed: never complete */
	int64_t wb_touched;	      /* monotonic ms of its last dirty block */
	uint64_t disk;		      /* bytes counted in disk_bytes */
	char *url;
	int64_t url_expiry; /* wall-clock s */
	uint64_t claim;	    /* a sizing fetch's blocks busy up to here */
	uint64_t read_to;   /* the furthest byte a reader asked for */
	bool url_busy;
	int last_err;
};

struct job {
	struct job *next;
	struct cobj *o;	 /* a reference of the job's */
	uint64_t b0, b1; /* blocks, marked busy; whole: b1 0 */
	bool whole;
	bool push;   /* a complete file to hand to the kernel, nothing more */
	bool warm;   /* whole, for a warm-up: the cache only */
	bool sizing; /* o's first size bytes, which size it (o->sizing),
		      * then up to claim when a reader is still there */
	uint64_t size, claim;
	uint64_t bytes; /* counted in pf_bytes */
};

struct content {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* blocks, sizes and URLs arriving */
	pthread_cond_t work; /* jobs queued, or stopping */
	struct content_config cfg;
	char *dir;
	struct cobj **table;
	size_t nbuckets, nobjs;
	struct cobj lru; /* sentinel: next is the most recently used */
	uint64_t disk_bytes, disk_files;
	pthread_t *threads;
	unsigned nthreads;
	bool stopping;
	struct job *ra_head, *ra_tail, *pf_head, *pf_tail;
	/* files to hand to the kernel: one at a time, so the copies do not
	 * crowd out the threads serving the reader */
	struct job *push_head, *push_tail;
	bool pushing;
	unsigned pf_running, pf_queued;
	uint64_t pf_bytes;
	/* objects with dirty blocks, oldest first; the writer thread */
	struct cobj *wb_head, *wb_tail;
	pthread_t writer;
	pthread_cond_t wb_cond; /* dirty blocks, a close, memory, stopping */
	bool has_writer, wb_stop;
	uint64_t mem_bytes; /* block buffers allocated, at most mem_max */
	uint64_t mem_max;
	char **arenas, **spare; /* where buffers come from; free ones */
	size_t narenas, max_arenas, nspare;
	struct content_stats st;
	/* content_urls.c's book and its queue of pages to ask for */
	struct urlent **url_book;
	size_t url_nbuckets, url_count;
	struct urljob *url_head, *url_tail;
	struct content_link link; /* content_link.c's */
	unsigned idle;		  /* workers waiting for work */
	int url_fails;		  /* pages in a row that gave nothing */
	int64_t url_rest_until;	  /* wall-clock s: readurl only till then */
};

struct content_file {
	struct content *c;
	struct cobj *o;
	uint64_t next, window; /* next: the furthest end read */
};

/* Monotonic microseconds, for the writer's idle time and the link's
 * samples (a fetch on a near link takes a few milliseconds). */
static inline int64_t content_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t content_mono_ms(void)
{
	return content_mono_us() / 1000;
}

static inline bool bit(const uint8_t *m, uint64_t b)
{
	return m[b / 8] & (1u << (b % 8));
}

static inline void set_bit(uint8_t *m, uint64_t b, bool on)
{
	if (on)
		m[b / 8] |= (uint8_t)(1u << (b % 8));
	else
		m[b / 8] &= (uint8_t) ~(1u << (b % 8));
}

/* ---- content_mem.c ---- */

int content_mem_init(struct content *c, uint64_t max);
void content_mem_fini(struct content *c);
/* A block buffer, or NULL past mem_max. */
char *content_mem_alloc(struct content *c);
void content_mem_free(struct content *c, char *buf);

/* ---- content_store.c ---- */

struct cobj *content_obj_insert(struct content *c, const char *key);
/* A reference to key's object, made if need be. */
struct cobj *content_obj_get(struct content *c, const struct content_key *k);
/* key's object if there is one, without a reference (lock held) */
struct cobj *content_obj_peek(struct content *c, const struct content_key *k);
void content_obj_put(struct content *c, struct cobj *o);
void content_lru_push(struct content *c, struct cobj *o);
/* Idle complete files out, least recently used first, to the bound. */
void content_evict(struct content *c);
/* o's file, opened or made. */
int content_obj_file(struct content *c, struct cobj *o);
/* A complete object found on disk: its size is its file's. */
int content_obj_open_complete(struct content *c, struct cobj *o);
/* A new descriptor of a complete o's file, or -1. */
int content_obj_reopen(struct content *c, const struct cobj *o);
/* The size is known: the bitmaps and the sparse file follow it. */
int content_obj_set_size(struct content *c, struct cobj *o, uint64_t size);
/* Block b is in the cache file. */
void content_block_on_disk(struct content *c, struct cobj *o, uint64_t b);
/* Block b's buffer back to the free ones. */
void content_mem_drop(struct content *c, struct cobj *o, uint64_t b);
/* The blocks in memory that are on disk and were read (all: read or
 * not), or whose write failed, out of memory, when no read has them
 * pinned. */
void content_mem_trim(struct content *c, struct cobj *o, bool all);
/* Every object out of memory at the end; complete files stay on disk. */
void content_obj_free_all(struct content *c);
void content_scan_dir(struct content *c);

/* ---- content_writer.c ---- */

/* Starts the writer; content_writer_stop writes what is dirty first. */
void content_writer_start(struct content *c);
void content_writer_stop(struct content *c);
/* An object got dirty blocks: it goes in the writer's queue. */
void content_writer_queue(struct content *c, struct cobj *o);

/* ---- content_urls.c ---- */

#define CONTENT_URL_BOOK_MAX 4096
/* the most files one page of read URLs asks for */
#define CONTENT_URL_PAGE_MAX 1024
int content_urls_init(struct content *c);
void content_urls_fini(struct content *c);
/* Asks for the first queued page, if any (lock held, dropped for the
 * request): whether there was one. */
bool content_urls_run(struct content *c);
/* A copy of a read URL for o good for a while (lock held; dropped for
 * the request).  stale: the URL that just answered expired. */
int content_obj_url(struct content *c, struct cobj *o, const char *stale,
		    char **url);

/* ---- content_link.c ---- */

void content_link_init(struct content *c);
/* A fetch ended: its time to first byte (-1: none), bytes, and how long
 * it took. */
void content_link_sample(struct content *c, int64_t ttfb_us, uint64_t bytes,
			 double secs);

/* ---- content_fetch.c ---- */

/* o's size, fetching its first bytes to learn it. */
int content_obj_sized(struct content *c, struct cobj *o);
/* The fetch of o's first len bytes that sizes it (o->sizing set by the
 * caller, cleared here once it ends); o is sized as soon as the answer
 * says its size, while the bytes still come, and the blocks up to claim
 * (when more than len) are busy then too: the caller fetches them next,
 * or unbusies them. */
int content_obj_size_fetch(struct content *c, struct cobj *o, uint64_t len,
			   uint64_t claim, bool stage);
/* [off, off + len) of o; its blocks are marked busy.  stage: a reader
 * waits for them, so they are kept in memory (within mem_max) and
 * written to the file behind it; else they go to the file at once. */
int content_fetch(struct content *c, struct cobj *o, uint64_t off, uint64_t len,
		  bool stage);

/* ---- content_bg.c ---- */

/* Workers for the jobs the window lets run, up to its bound (lock
 * held). */
void content_workers_grow(struct content *c);
void content_queue(struct job **head, struct job **tail, struct job *j);
struct job *content_dequeue(struct job **head, struct job **tail);
void *content_worker(void *arg);

#endif

/* Sample content: a sample's bytes, read from its signed URL by ranged GETs
 * into a file of the content cache, and served from there.
 *
 * - Each sample being read or cached is one object, backed by one file
 *   under cache_dir (sparse while partial), with a bitmap of the blocks it
 *   holds.  Bytes a reader waits for stay in memory as they arrive and
 *   are served from there, and a writer thread, at idle priority, puts
 *   them in the file behind the reader: a cold read does not wait for the
 *   cache's disk.  At most prefetch_bytes wait so; past that, and for
 *   prefetched files, bytes go straight to the file.  Memory does not
 *   grow with file sizes or the number of files in flight.
 * - The first read (or the open of a sample whose size the listing did not
 *   give) learns the true size from Content-Range.
 * - A reader that goes on where it stopped is sequential: the window of
 *   bytes fetched ahead of it starts at CONTENT_WINDOW_MIN and grows
 *   fourfold up to CONTENT_WINDOW_MAX, fetched by the worker threads while
 *   it reads (few GETs: on real storage each costs a round trip).  Any
 *   other read fetches its blocks only.
 * - content_prefetch fetches whole files the caller expects to be opened
 *   next (a directory walk): as many at once as the link's round trip
 *   and rate call for (content_window), at most prefetch_requests, and
 *   prefetch_bytes bytes in flight.
 * - Complete files stay on disk under cache_bytes, least recently used
 *   first out; with cache_bytes 0 a file lives only while it is open.
 * - Read URLs are kept until CONTENT_URL_MARGIN_S before they expire; a URL
 *   that answers expired is fetched anew once and the read retried.
 *
 * Has its own lock; never called with fs->lock held, never takes it. */
#ifndef LIGHTLYFS_CONTENT_H
#define LIGHTLYFS_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "api.h"

#define CONTENT_BLOCK ((uint64_t)128 * 1024)
#define CONTENT_WINDOW_MIN ((uint64_t)1024 * 1024)
#define CONTENT_WINDOW_MAX ((uint64_t)32 * 1024 * 1024)
#define CONTENT_WINDOW_GROWTH 4
/* a big file's first request, opened from its start: it sizes the file,
 * and streams what a reader from the start wants first on one request */
#define CONTENT_FIRST_WINDOW ((uint64_t)4 * 1024 * 1024)
/* how far from the furthest read a read still counts as sequential */
#define CONTENT_SEQ_BEHIND ((uint64_t)4 * 1024 * 1024)
/* a file up to this size is fetched whole by its first read */
#define CONTENT_SMALL ((uint64_t)1024 * 1024)
#define CONTENT_URL_MARGIN_S 60
/* a read URL whose expiry its query does not say is kept this long */
#define CONTENT_URL_DEFAULT_TTL_S 300

struct blob;

struct content_config {
	struct api *api;   /* borrowed: readurl */
	struct blob *blob; /* borrowed: storage */
	const char *cache_dir;
	uint64_t cache_bytes;	    /* 0: no cache beyond open files */
	bool thumbnails;	    /* type=thumbnail instead of full */
	unsigned prefetch_requests; /* whole files in flight at most */
	uint64_t prefetch_bytes;
	/* called (no lock held) when a sample's true size is learnt and it
	 * differs from the key's */
	void (*size_learnt)(void *arg, uint32_t ds_slot, uint32_t sample,
			    uint64_t size);
	/* called (no lock held) with a file whose every byte is on disk,
	 * of the size the listing gave, that a walk will open next: it may
	 * hand the bytes to the kernel's page cache, so the reads of it
	 * cost no round trip.  fd is valid during the call. */
	void (*push)(void *arg, uint32_t ds_slot, uint32_t sample, int fd,
		     uint64_t size);
	void *arg;
};

/* Which bytes: a sample as the listing described it. */
struct content_key {
	uint32_t ds_slot, sample;
	char ds_id[API_ID_LEN + 1];
	char sample_id[API_ID_LEN + 1];
	int64_t modified_ms;
	int64_t size; /* from the listing; -1 unknown */
};

struct content;
struct content_file;

/* The window of whole files in flight never goes under this (nor over
 * prefetch_requests): what the fetch threads need on a fast link. */
#define CONTENT_WINDOW_FILES 8

/* The link to storage as the fetches measured it (content_link.c). */
struct content_link {
	int64_t rtt_us;	   /* least time to first byte lately; 0: none */
	int64_t rtt_at_ms; /* monotonic */
	double rate;	   /* most bytes a second delivered lately */
	int64_t rate_at_ms;
	double mean_size; /* bytes of a fetch, lately */
	double fetch_s;	  /* seconds a fetch takes, lately */
	uint64_t bytes;	  /* delivered since mark_ms */
	int64_t mark_ms;
	int64_t last_ms; /* the last fetch's end */
	bool starting;	 /* the rate still grows: the window opens by
			    one a fetch */
	unsigned start_window, flat;
	double start_rate;
	unsigned window; /* whole files in flight it calls for */
};

struct content_stats {
	uint64_t hits;	     /* reads served without a request */
	uint64_t fetches;    /* storage GETs made */
	uint64_t bytes;	     /* bytes fetched from storage */
	uint64_t urls;	     /* readurl calls */
	uint64_t url_pages;  /* pages of read URLs asked for */
	uint64_t url_paged;  /* URLs they gave */
	uint64_t expired;    /* URLs that answered expired */
	uint64_t pushed;     /* files handed to the kernel's page cache */
	uint64_t prefetched; /* files fetched ahead of their open */
	uint64_t disk_bytes; /* bytes of files in cache_dir */
	uint64_t disk_files;
};

/* Creates cache_dir (0700) and takes over the complete files an earlier
 * mount left there; partial ones are removed.  Starts the workers. */
int content_new(const struct content_config *cfg, struct content **out);
void content_free(struct content *c);

/* An open file of key's sample.  Does not fetch.  *complete: every byte is
 * already on disk (a read costs no request).  0 or -ENOMEM, -EIO. */
int content_open(struct content *c, const struct content_key *key,
		 struct content_file **out, bool *complete);
/* The true size, learning it with a request when not known yet. */
int content_size(struct content_file *f, uint64_t *size);
/* Up to len bytes at off into buf: *got is short only at the end of the
 * file.  0, or -EIO (the next read tries again), -ENOMEM. */
int content_read(struct content_file *f, char *buf, size_t len, off_t off,
		 size_t *got);
/* The same without a copy, for a reply: where the bytes are, either the
 * cache file (fd, valid until content_close: got bytes of it from off) or
 * iov, pieces of memory or of scratch (len bytes of the caller's), held
 * until content_read_end.  got is 0 at the end of the file. */
#define CONTENT_IOV_MAX 16
struct content_read {
	int fd;
	size_t got;
	int niov;
	struct iovec iov[CONTENT_IOV_MAX];
	bool pinned;
};
int content_read_begin(struct content_file *f, size_t len, off_t off,
		       char *scratch, struct content_read *r);
void content_read_end(struct content_file *f, struct content_read *r);
/* Whether buf is exactly the sample's bytes at off (what a copy writes):
 * 0 yes, -EPERM no, or the read's error. */
int content_same(struct content_file *f, const char *buf, size_t len,
		 off_t off);
void content_close(struct content_file *f);

/* Fetches these whole into the cache, in order, in the background,
 * skipping what is there or on its way. */
void content_prefetch(struct content *c, const struct content_key *keys,
		      size_t n);

/* Read URLs of files opened soon, asked for by pages of their tag's
 * export (API-NOTES: filenamesAndReadUrls) in the background: keys[i] is
 * the file at place ranks[i] (increasing) of tag_id's files in index
 * order, names[i] its full name.  Asks for a page from the first that
 * has no URL on its way, as far as keys go.  A fetch that needs one waits
 * for its page; a file the page does not name as expected gets its own
 * readurl. */
void content_urls_ahead(struct content *c, const char *tag_id,
			const struct content_key *keys,
			const char *const *names, const uint32_t *ranks,
			size_t n);

/* A warm-up (lightlyfs warmup, a shuffled reader): whole files of keys,
 * big ones included, queued as content_prefetch does, up to its bounds;
 * called again as they finish, it queues the next.  Readers' fetches go
 * first.  Returns how many keys from the first are cached or on their
 * way. */
size_t content_warm(struct content *c, const struct content_key *keys,
		    size_t n);
/* How much of keys is in the cache: complete files, and files on their
 * way (fetching); sizes are the true ones where known. */
struct content_census {
	size_t files, cached, fetching;
	uint64_t bytes, cached_bytes;
};
void content_census(struct content *c, const struct content_key *keys, size_t n,
		    struct content_census *out);
/* Drops keys' cached files, but for open ones; how many went. */
size_t content_drop(struct content *c, const struct content_key *keys,
		    size_t n);

void content_get_stats(struct content *c, struct content_stats *out);
/* Whole files a walk may have in flight now, from the link's round trip
 * and rate (Little's law), within CONTENT_WINDOW_FILES and
 * prefetch_requests. */
unsigned content_window(struct content *c);
void content_link_get(struct content *c, struct content_link *out);

#endif

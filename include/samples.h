/* What the content layer needs of each sample, from the dataset's sample
 * listing (GET /v1/datasets/{id}/samples, paged in index order): its id
 * (for its read URL), its size (metaData.sizeInBytes) and when it last
 * changed (which names its cached content).  Loaded a page at a time, only
 * where asked: `ls -l` of a small tag reads the pages its samples fall in,
 * `ls -f` and `find` read none.  24 bytes per loaded sample.
 *
 * Locking: fs->lock held; samples_ensure may drop it for its requests
 * (through cache_load), like refresh_*. */
#ifndef LIGHTLYFS_SAMPLES_H
#define LIGHTLYFS_SAMPLES_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "cache.h"

#define SAMPLES_PAGE 2000u
#define SAMPLES_SIZE_UNKNOWN UINT32_MAX

struct fs;
struct dataset;

struct sample_info {
	uint8_t id[API_ID_LEN / 2]; /* the 24 hex digits, as bytes */
	/* bytes; SAMPLES_SIZE_UNKNOWN when neither the listing nor an open
	 * told (4 GiB and more: also unknown, learnt at open) */
	uint32_t size;
	int64_t modified_ms;
};

struct sample_page {
	struct load load;
	struct sample_info *v; /* SAMPLES_PAGE of them once loaded */
	uint32_t n;	       /* loaded; a short last page has fewer */
};

struct sample_pages {
	struct sample_page **pages; /* by page number, NULL: never asked */
	size_t npages;
	/* -o thumbnails: the listing's sizes are the full images', not what
	 * the files hold */
	bool ignore_sizes;
};

/* Loads the pages samples first..last fall in.  0, or the error of a page
 * that could not be loaded (the others stay loaded). */
int samples_ensure(struct fs *fs, struct dataset *d, uint32_t first,
		   uint32_t last);
/* Page k from elsewhere (an offline snapshot): v, SAMPLES_PAGE entries of
 * which n are filled, is taken; the page counts as loaded now.  0 or
 * -ENOMEM (v is then still the caller's). */
int samples_adopt_page(struct dataset *d, uint32_t k, struct sample_info *v,
		       uint32_t n);
/* True when page k is neither loaded nor being loaded. */
bool samples_page_wanted(const struct dataset *d, uint32_t k);
/* Loads the n pages, each on a thread of its own (one request in flight
 * per page); called without the lock. */
void samples_load_pages(struct fs *fs, struct dataset *d, const uint32_t *page,
			unsigned n);
/* The loaded info of sample s, or false. */
bool samples_get(const struct dataset *d, uint32_t s, struct sample_info *out);
/* The size an open learnt (Content-Range); false when s is not loaded. */
bool samples_learn_size(struct dataset *d, uint32_t s, uint64_t size);
void samples_hex_id(const struct sample_info *i, char out[API_ID_LEN + 1]);
void samples_free(struct sample_pages *p);

#endif

/* Fetching: the ranged GETs that bring an object's bytes into block
 * buffers or its cache file, marking blocks held as they arrive; learning
 * an object's size.  Calls the object store and the read URLs, and hands
 * dirty blocks to the writer. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blob.h"
#include "content_internal.h"
#include "log.h"

/* Block b is held (its bytes arrived, in mem[b] or on disk). */
static void mark_have(struct content *c, struct cobj *o, uint64_t b)
{
	if (bit(o->have, b))
		return;
	set_bit(o->have, b, true);
	set_bit(o->busy, b, false);
	o->nhave++;
	if (o->mem[b]) {
		set_bit(o->dirty, b, true);
		o->ndirty++;
		content_writer_queue(c, o);
	} else {
		content_block_on_disk(c, o, b);
	}
}

struct sink {
	struct content *c;
	struct cobj *o;
	const struct blob_range *r;
	uint64_t pos;	 /* file offset of the next byte */
	uint64_t end;	 /* where the fetch stops; UINT64_MAX: the end */
	uint64_t marked; /* blocks below this one are marked */
	bool stage;	 /* a reader waits: keep the bytes in memory */
	int err;
};

/* The answer's head told the object's size before its first byte (o
 * unsized, the fetch o's sizing): the size is set at once, so that
 * whoever waits for it goes on while the bytes stream, and the blocks
 * this fetch brings are busy, so that readers wait for them rather than
 * ask for them again. */
static int sink_size(struct sink *s)
{
	struct content *c = s->c;
	struct cobj *o = s->o;
	uint64_t b1;
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = o->sized ? 0 : content_obj_set_size(c, o, s->r->total);
	if (!ret) {
		uint64_t end = o->claim > s->end ? o->claim : s->end;

		b1 = end == UINT64_MAX
			 ? o->nblocks
			 : (end + CONTENT_BLOCK - 1) / CONTENT_BLOCK;
		for (uint64_t b = s->pos / CONTENT_BLOCK;
		     b < b1 && b < o->nblocks; b++)
			if (!bit(o->have, b))
				set_bit(o->busy, b, true);
		s->marked = s->pos / CONTENT_BLOCK;
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* Where the next bytes go: the block buffer they belong in (made when a
 * reader waits for them and the bound allows), else NULL (the file);
 * *n is cut to the block's end. */
static char *sink_buf(struct sink *s, size_t *n)
{
	struct cobj *o = s->o;
	uint64_t b, end;
	char *m;

	if (!o->sized || s->pos >= o->size)
		return NULL;
	b = s->pos / CONTENT_BLOCK;
	end = (b + 1) * CONTENT_BLOCK < o->size ? (b + 1) * CONTENT_BLOCK
						: o->size;
	if (*n > end - s->pos)
		*n = (size_t)(end - s->pos);
	/* the block is this fetch's (busy): nobody else sets mem[b] */
	m = o->mem[b];
	if (!m && s->stage && s->pos % CONTENT_BLOCK == 0) {
		pthread_mutex_lock(&s->c->lock);
		m = o->mem[b] = content_mem_alloc(s->c);
		o->nmem += m != NULL;
		pthread_mutex_unlock(&s->c->lock);
	}
	return m ? m + s->pos % CONTENT_BLOCK : NULL;
}

static int sink_write(const char *data, size_t len, void *arg)
{
	struct sink *s = arg;
	struct cobj *o = s->o;

	/* o->sized is only ever set under the lock, and by this fetch while
	 * it sizes o */
	if (!o->sized && s->r->total && s->pos % CONTENT_BLOCK == 0 &&
	    (s->err = sink_size(s)))
		return s->err;

	while (len) {
		size_t want = len;
		char *m = sink_buf(s, &want);
		ssize_t n = (ssize_t)want;

		if (m)
			memcpy(m, data, want);
		else
			n = pwrite(o->fd, data, want, (off_t)s->pos);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			s->err = -errno;
			return s->err;
		}
		data += n;
		len -= (size_t)n;
		s->pos += (uint64_t)n;
	}
	if (o->sized) {
		uint64_t upto =
		    s->pos >= o->size ? o->nblocks : s->pos / CONTENT_BLOCK;

		if (upto > s->marked) {
			pthread_mutex_lock(&s->c->lock);
			for (uint64_t b = s->marked; b < upto; b++)
				mark_have(s->c, o, b);
			pthread_cond_broadcast(&s->c->cond);
			pthread_mutex_unlock(&s->c->lock);
			s->marked = upto;
		}
	}
	return 0;
}

/* The answer told o's size (total): its blocks from off up to pos, which
 * arrived before o had bitmaps, are held now. */
static int fetched_size(struct content *c, struct cobj *o, uint64_t off,
			uint64_t pos, uint64_t total)
{
	int ret = content_obj_set_size(c, o, total);

	if (!ret) {
		uint64_t upto = pos >= total ? o->nblocks : pos / CONTENT_BLOCK;

		for (uint64_t b = off / CONTENT_BLOCK; b < upto; b++)
			mark_have(c, o, b);
	}
	return ret;
}

/* The blocks of [off, off + len) that did not arrive: another fetch may
 * take them. */
static void unbusy(struct content *c, struct cobj *o, uint64_t off,
		   uint64_t len)
{
	uint64_t b1 = len == UINT64_MAX
			  ? o->nblocks
			  : (off + len + CONTENT_BLOCK - 1) / CONTENT_BLOCK;

	for (uint64_t b = off / CONTENT_BLOCK; b < b1 && b < o->nblocks; b++) {
		if (bit(o->have, b))
			continue;
		set_bit(o->busy, b, false);
		if (o->mem[b])
			content_mem_drop(c, o, b);
	}
}

/* Fetches [off, off + len) of o into its file (lock held, dropped for the
 * requests).  The blocks in it are busy (o sized) or o->sizing is ours.
 * Blocks that did not arrive are no longer busy afterwards. */
int content_fetch(struct content *c, struct cobj *o, uint64_t off, uint64_t len,
		  bool stage)
{
	struct blob_range r;
	struct sink s = {.c = c,
			 .o = o,
			 .r = &r,
			 .pos = off,
			 .end = len == UINT64_MAX ? UINT64_MAX : off + len,
			 .marked = off / CONTENT_BLOCK,
			 .stage = stage};
	int64_t t0;
	char *url = NULL, *stale = NULL;
	int ret = content_obj_file(c, o);

	for (int round = 0; !ret && round < 2; round++) {
		ret = content_obj_url(c, o, stale, &url);
		free(stale);
		stale = NULL;
		if (ret)
			break;
		memset(&r, 0, sizeof(r));
		r.off = s.pos;
		r.len = len == UINT64_MAX ? UINT64_MAX : off + len - s.pos;
		r.expect_total = o->sized	 ? o->size
				 : o->k.size > 0 ? (uint64_t)o->k.size
						 : 0;
		pthread_mutex_unlock(&c->lock);
		log_debug("content: GET %s bytes %llu+%llu", o->key,
			  (unsigned long long)r.off, (unsigned long long)r.len);
		t0 = content_mono_us();
		ret = blob_get(c->cfg.blob, url, &r, sink_write, &s);
		log_debug("content: got %s bytes %llu+%llu: %d", o->key,
			  (unsigned long long)r.off, (unsigned long long)r.got,
			  ret);
		pthread_mutex_lock(&c->lock);
		c->st.fetches += r.attempts;
		c->st.bytes += r.got;
		content_link_sample(c, r.ttfb_us, r.got,
				    (double)(content_mono_us() - t0) / 1e6);
		if (ret == -BLOB_EXPIRED) {
			c->st.expired++;
			stale = url;
			url = NULL;
			continue;
		}
		break;
	}
	free(url);
	free(stale);
	if (ret == -BLOB_EXPIRED)
		ret = -EIO;
	if (s.err)
		ret = s.err;
	if (!o->sized && !ret)
		ret = fetched_size(c, o, off, s.pos, r.total ? r.total : s.pos);
	if (o->sized && len)
		unbusy(c, o, off, len);
	o->last_err = ret;
	pthread_cond_broadcast(&c->cond);
	return ret;
}

int content_obj_size_fetch(struct content *c, struct cobj *o, uint64_t len,
			   uint64_t claim, bool stage)
{
	int ret;

	o->claim = claim;
	ret = content_fetch(c, o, 0, len, stage);
	o->claim = 0;
	o->sizing = false;
	pthread_cond_broadcast(&c->cond);
	if (!ret && o->sized && c->cfg.size_learnt &&
	    (o->k.size < 0 || (uint64_t)o->k.size != o->size)) {
		struct content_key k = o->k;
		uint64_t size = o->size;

		o->k.size = (int64_t)size;
		pthread_mutex_unlock(&c->lock);
		c->cfg.size_learnt(c->cfg.arg, k.ds_slot, k.sample, size);
		pthread_mutex_lock(&c->lock);
	}
	return ret;
}

/* o's size, fetching its first bytes to learn it (lock held). */
int content_obj_sized(struct content *c, struct cobj *o)
{
	/* a sizing fetch sizes o as its answer begins (sink_size) */
	while (o->sizing && !o->sized)
		pthread_cond_wait(&c->cond, &c->lock);
	if (o->sized || o->complete)
		return 0;
	o->sizing = true;
	/* a small file whole at once; of a big one what a first read needs */
	return content_obj_size_fetch(c, o,
				      o->k.size >= 0 && (uint64_t)o->k.size <=
							    CONTENT_SMALL
					  ? (uint64_t)o->k.size + CONTENT_BLOCK
					  : CONTENT_SMALL,
				      0, false);
}

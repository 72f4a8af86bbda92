/* Reading sample content: open, the reader's window, and the bytes of
 * a read from the cache file or from the memory a fetch received them
 * in (content.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "content_internal.h"
#include "log.h"

int content_open(struct content *c, const struct content_key *key,
		 struct content_file **out, bool *complete)
{
	struct content_file *f = calloc(1, sizeof(*f));
	int ret = 0;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	f->o = content_obj_get(c, key);
	if (!f->o)
		ret = -ENOMEM;
	else if (f->o->complete)
		ret = content_obj_open_complete(c, f->o);
	if (ret && f->o)
		content_obj_put(c, f->o);
	*complete = !ret && f->o->complete;
	pthread_mutex_unlock(&c->lock);
	if (ret) {
		free(f);
		return ret;
	}
	f->c = c;
	f->window = CONTENT_WINDOW_MIN;
	*out = f;
	return 0;
}

/* A big file not sized yet: its first window (a reader reads a file
 * from its start) comes on one request, by a worker, so that the open
 * waits for its size only and the read-ahead that follows streams on the
 * connection it already has, with no second request to wait for (lock
 * held). */
static bool size_streamed(struct content *c, struct cobj *o)
{
	struct job *j;

	if (o->sized || o->complete || o->sizing || c->stopping ||
	    !c->nthreads || o->k.size <= (int64_t)CONTENT_SMALL ||
	    !(j = calloc(1, sizeof(*j))))
		return false;
	o->sizing = true;
	o->refs++;
	j->o = o;
	j->sizing = true;
	j->size = (uint64_t)o->k.size < CONTENT_FIRST_WINDOW
		      ? (uint64_t)o->k.size
		      : CONTENT_FIRST_WINDOW;
	j->claim = (uint64_t)o->k.size < CONTENT_WINDOW_MAX
		       ? (uint64_t)o->k.size
		       : CONTENT_WINDOW_MAX;
	content_queue(&c->ra_head, &c->ra_tail, j);
	pthread_cond_signal(&c->work);
	return true;
}

int content_size(struct content_file *f, uint64_t *size)
{
	struct content *c = f->c;
	int ret;

	pthread_mutex_lock(&c->lock);
	/* past the claim, a reader reads on at the widest window */
	if (size_streamed(c, f->o))
		f->window = CONTENT_WINDOW_MAX;
	ret = content_obj_sized(c, f->o);
	*size = f->o->size;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* The next run of blocks from b that nobody has or fetches, up to lim,
 * marked busy: [b, *e). */
static void claim(struct cobj *o, uint64_t b, uint64_t lim, uint64_t *e)
{
	uint64_t x = b;

	while (x < lim && !bit(o->have, x) && !bit(o->busy, x))
		set_bit(o->busy, x++, true);
	*e = x;
}

/* Sequential: fetch ahead of the reader, in the background. */
static void read_ahead(struct content *c, struct content_file *f, uint64_t end)
{
	struct cobj *o = f->o;
	uint64_t b = end / CONTENT_BLOCK, lim, e;
	struct job *j;

	/* a reader that stops within its first window (head, file(1))
	 * costs that window only */
	if (o->complete || end < CONTENT_FIRST_WINDOW / 2)
		return;
	lim = (end + f->window + CONTENT_BLOCK - 1) / CONTENT_BLOCK;
	if (lim > o->nblocks)
		lim = o->nblocks;
	while (b < lim && (bit(o->have, b) || bit(o->busy, b)))
		b++;
	if (b >= lim)
		return;
	/* ask for a window's worth from the first hole */
	lim = b + f->window / CONTENT_BLOCK;
	if (lim > o->nblocks)
		lim = o->nblocks;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	claim(o, b, lim, &e);
	j->o = o;
	j->b0 = b;
	j->b1 = e;
	o->refs++;
	content_queue(&c->ra_head, &c->ra_tail, j);
	pthread_cond_signal(&c->work);
	f->window = f->window * CONTENT_WINDOW_GROWTH < CONTENT_WINDOW_MAX
			? f->window * CONTENT_WINDOW_GROWTH
			: CONTENT_WINDOW_MAX;
}

/* One piece of a read: bytes of one block, from memory or the file. */
struct piece {
	uint64_t off, len;
	const char *mem; /* NULL: in the file */
};

/* Makes [off, off + len) present (lock held): *end is where the bytes
 * stop, at the file's end; *seq whether the read is sequential. */
static int make_present(struct content *c, struct content_file *f, off_t off,
			size_t len, uint64_t *end, bool *seq)
{
	struct cobj *o = f->o;
	uint64_t b0, b1;
	bool fetched = false;
	int ret = content_obj_sized(c, o);

	*end = 0;
	if (ret || (uint64_t)off >= o->size || !len)
		return ret;
	*end = (uint64_t)off + len < o->size ? (uint64_t)off + len : o->size;
	/* where the reader got to, or a little behind it: the kernel sends
	 * a readahead's READs from several threads, so they come out of
	 * order, and a window reset by each would stay at its minimum (a
	 * 50 MiB cat made 41 GETs of 1-2 MiB instead of 7) */
	*seq = (uint64_t)off <= f->next + CONTENT_SEQ_BEHIND &&
	       (uint64_t)off + CONTENT_SEQ_BEHIND >= f->next;
	b0 = (uint64_t)off / CONTENT_BLOCK;
	b1 = (*end + CONTENT_BLOCK - 1) / CONTENT_BLOCK;
	while (!o->complete) {
		uint64_t b = b0, e, lim;

		while (b < b1 && bit(o->have, b))
			b++;
		if (b == b1)
			break;
		if (bit(o->busy, b)) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		if (fetched) /* ours failed, or someone else's did twice */
			return o->last_err ? o->last_err : -EIO;
		/* a small file whole, else what is asked (and, when
		 * sequential, the start of the window) */
		lim = o->size <= CONTENT_SMALL ? o->nblocks : b1;
		if (*seq) {
			uint64_t w =
			    (*end + CONTENT_WINDOW_MIN) / CONTENT_BLOCK;

			if (w > lim)
				lim = w < o->nblocks ? w : o->nblocks;
		}
		claim(o, b, lim, &e);
		ret = content_fetch(c, o, b * CONTENT_BLOCK,
				    (e - b) * CONTENT_BLOCK, true);
		if (ret)
			return ret;
		fetched = true;
	}
	if (!fetched)
		c->st.hits++;
	return 0;
}

/* The byte at x of [x, end) in memory, or NULL; *e: where its block's
 * part of the range ends. */
static const char *in_mem(const struct cobj *o, uint64_t x, uint64_t end,
			  uint64_t *e)
{
	uint64_t b = x / CONTENT_BLOCK;

	*e = (b + 1) * CONTENT_BLOCK < end ? (b + 1) * CONTENT_BLOCK : end;
	return o->mem[b] ? o->mem[b] + (x - b * CONTENT_BLOCK) : NULL;
}

/* The pieces of [off, end) into p, those in the file one after another
 * merged (lock held): how many, 0 when all are in the file, or max + 1
 * when there are more. */
static size_t pieces(struct cobj *o, uint64_t off, uint64_t end,
		     struct piece *p, size_t max)
{
	size_t n = 0;
	bool any_mem = false;

	if (!o->mem)
		return 0;
	for (uint64_t x = off, e; x < end; x = e) {
		uint64_t b = x / CONTENT_BLOCK;
		const char *m = in_mem(o, x, end, &e);

		any_mem |= m != NULL;
		if (m)
			set_bit(o->sent, b, true);
		if (n && !m && !p[n - 1].mem)
			p[n - 1].len += e - x;
		else if (n == max)
			return max + 1;
		else
			p[n++] = (struct piece){x, e - x, m};
	}
	return any_mem ? n : 0;
}

static int pread_all(int fd, char *buf, uint64_t len, off_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, (size_t)len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("content cache: read: %s",
				 n ? strerror(errno) : "short file");
			return -EIO;
		}
		buf += n;
		len -= (uint64_t)n;
		off += n;
	}
	return 0;
}

/* Every byte of [off, end) into buf, from memory or the file: a read of
 * more pieces than a reply may have (o pinned, its blocks held). */
static int read_flat(const struct cobj *o, char *buf, uint64_t off,
		     uint64_t end)
{
	for (uint64_t x = off, e; x < end; x = e) {
		/* a pinned block's buffer is neither freed nor replaced */
		const char *m = in_mem(o, x, end, &e);

		if (m)
			memcpy(buf + (x - off), m, (size_t)(e - x));
		else if (pread_all(o->fd, buf + (x - off), e - x, (off_t)x))
			return -EIO;
	}
	return 0;
}

/* r's iov from the n pieces of [off, end) (o pinned): the bytes in
 * memory where they are, those in the file read into scratch; all into
 * scratch when there are more pieces than a reply may have. */
static int fill_iov(const struct cobj *o, const struct piece *p, size_t n,
		    uint64_t off, uint64_t end, char *scratch,
		    struct content_read *r)
{
	int ret = 0;

	if (n > CONTENT_IOV_MAX) {
		ret = read_flat(o, scratch, off, end);
		r->iov[0].iov_base = scratch;
		r->iov[0].iov_len = r->got;
		r->niov = 1;
	}
	for (size_t i = 0; !ret && n <= CONTENT_IOV_MAX && i < n; i++) {
		char *to = scratch + (p[i].off - off);

		if (!p[i].mem)
			ret = pread_all(o->fd, to, p[i].len, (off_t)p[i].off);
		r->iov[i].iov_base = p[i].mem ? (char *)p[i].mem : to;
		r->iov[i].iov_len = (size_t)p[i].len;
		r->niov++;
	}
	return ret;
}

int content_read_begin(struct content_file *f, size_t len, off_t off,
		       char *scratch, struct content_read *r)
{
	struct content *c = f->c;
	struct cobj *o = f->o;
	struct piece p[CONTENT_IOV_MAX];
	uint64_t end = 0;
	size_t n = 0;
	bool seq = false;
	int ret;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (off < 0)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	ret = make_present(c, f, off, len, &end, &seq);
	if (ret || !end)
		goto out;
	if (o->fd < 0 && (ret = content_obj_file(c, o)))
		goto out;
	r->got = (size_t)(end - (uint64_t)off);
	n = pieces(o, (uint64_t)off, end, p, CONTENT_IOV_MAX);
	if (n) {
		/* what is in memory is read from there until _end */
		o->pins++;
		r->pinned = true;
	} else {
		/* the descriptor lives while f holds its object */
		r->fd = o->fd;
	}
	if (!seq) {
		f->window = CONTENT_WINDOW_MIN;
		f->next = end;
	} else if (end > f->next) {
		f->next = end;
	}
	if (end > o->read_to)
		o->read_to = end;
	if (seq)
		read_ahead(c, f, f->next);
out:
	if (ret && ret != -ENOMEM)
		ret = -EIO;
	pthread_mutex_unlock(&c->lock);
	if (ret || !n)
		return ret;
	ret = fill_iov(o, p, n, (uint64_t)off, end, scratch, r);
	if (ret) {
		content_read_end(f, r);
		r->got = 0;
	}
	return ret;
}

void content_read_end(struct content_file *f, struct content_read *r)
{
	struct content *c = f->c;

	if (!r->pinned)
		return;
	pthread_mutex_lock(&c->lock);
	r->pinned = false;
	if (!--f->o->pins)
		content_mem_trim(c, f->o, false);
	pthread_mutex_unlock(&c->lock);
}

int content_read(struct content_file *f, char *buf, size_t len, off_t off,
		 size_t *got)
{
	struct content_read r;
	int ret = content_read_begin(f, len, off, buf, &r);

	*got = 0;
	if (ret || !r.got)
		return ret;
	if (r.fd >= 0) {
		ret = pread_all(r.fd, buf, r.got, off);
	} else {
		/* what came from the file is in buf already */
		for (int i = 0, at = 0; i < r.niov; i++) {
			if (r.iov[i].iov_base != buf + at)
				memcpy(buf + at, r.iov[i].iov_base,
				       r.iov[i].iov_len);
			at += (int)r.iov[i].iov_len;
		}
	}
	content_read_end(f, &r);
	if (!ret)
		*got = r.got;
	return ret;
}

int content_same(struct content_file *f, const char *buf, size_t len, off_t off)
{
	char *mine = malloc(len ? len : 1);
	size_t got;
	int ret;

	if (!mine)
		return -ENOMEM;
	ret = content_read(f, mine, len, off, &got);
	if (!ret && (got != len || memcmp(mine, buf, len)))
		ret = -EPERM;
	free(mine);
	return ret;
}

void content_close(struct content_file *f)
{
	struct content *c;

	if (!f)
		return;
	c = f->c;
	pthread_mutex_lock(&c->lock);
	/* what was not read stays in memory no longer than its file */
	if (f->o->refs == 2 && f->o->wb_queued)
		pthread_cond_signal(&c->wb_cond);
	content_obj_put(c, f->o);
	pthread_mutex_unlock(&c->lock);
	free(f);
}

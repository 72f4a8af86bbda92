/* The offline snapshot's files (snapshot.h): encoding the model's
 * listings, writing and reading the files, installing them. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "index.h"
#include "model.h"
#include "snapshot.h"

#define MAGIC_DATASETS "LFSDS001"
#define MAGIC_DATASET "LFSTG001"
#define MAGIC_LEN 8
#define NO_STR UINT32_MAX
/* a file bigger than this is not ours (names of 2^32 samples would be) */
#define SNAPSHOT_FILE_MAX ((size_t)1 << 36)

/* ---- writing bytes ---- */

void snapshot_buf_dispose(struct snapshot_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void put(struct snapshot_buf *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *q;

		while (cap < b->len + n)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q) {
			b->err = -ENOMEM;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_u32(struct snapshot_buf *b, uint32_t v)
{
	put(b, &v, sizeof(v));
}

static void put_i64(struct snapshot_buf *b, int64_t v)
{
	put(b, &v, sizeof(v));
}

static void put_str(struct snapshot_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	put_u32(b, s ? (uint32_t)n : NO_STR);
	put(b, s, n);
}

/* Names are most of a big snapshot: a byte of length for most. */
static void put_name(struct snapshot_buf *b, const char *s, size_t n)
{
	unsigned char v[10];
	size_t k = 0, x = n;

	do {
		v[k] = (unsigned char)(x & 0x7f);
		x >>= 7;
		if (x)
			v[k] |= 0x80;
		k++;
	} while (x);
	put(b, v, k);
	put(b, s, n);
}

static void put_header(struct snapshot_buf *b, const char *magic)
{
	put(b, magic, MAGIC_LEN);
	put_i64(b, (int64_t)time(NULL));
}

/* ---- reading bytes ---- */

struct rd {
	const char *p;
	size_t len, pos;
	int err; /* -EIO once anything was out of bounds */
};

static const void *take(struct rd *r, size_t n)
{
	const void *p;

	if (r->err || n > r->len - r->pos) {
		r->err = -EIO;
		return NULL;
	}
	p = r->p + r->pos;
	r->pos += n;
	return p;
}

static uint32_t get_u32(struct rd *r)
{
	const void *p = take(r, sizeof(uint32_t));
	uint32_t v = 0;

	if (p)
		memcpy(&v, p, sizeof(v));
	return v;
}

static int64_t get_i64(struct rd *r)
{
	const void *p = take(r, sizeof(int64_t));
	int64_t v = 0;

	if (p)
		memcpy(&v, p, sizeof(v));
	return v;
}

/* A malloc'd copy, NULL for a stored NULL (or on error: r->err). */
static char *get_str(struct rd *r)
{
	uint32_t n = get_u32(r);
	const char *p;
	char *s;

	if (r->err || n == NO_STR)
		return NULL;
	p = take(r, n);
	if (!p)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s) {
		r->err = -ENOMEM;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void get_id(struct rd *r, char id[API_ID_LEN + 1])
{
	const char *p = take(r, API_ID_LEN);

	memset(id, 0, API_ID_LEN + 1);
	if (p)
		memcpy(id, p, API_ID_LEN);
}

static const char *get_name(struct rd *r, size_t *n)
{
	size_t x = 0;
	unsigned shift = 0;
	const unsigned char *c;

	do {
		c = take(r, 1);
		if (!c || shift > 56) {
			r->err = -EIO;
			return NULL;
		}
		x |= (size_t)(*c & 0x7f) << shift;
		shift += 7;
	} while (*c & 0x80);
	*n = x;
	return take(r, x);
}

static bool get_header(struct rd *r, const char *magic, int64_t *when)
{
	const char *m = take(r, MAGIC_LEN);

	if (!m || memcmp(m, magic, MAGIC_LEN)) {
		r->err = -EIO;
		return false;
	}
	*when = get_i64(r);
	return !r->err;
}

/* ---- the files' names and I/O ---- */

char *snapshot_dir(const char *state_dir, const char *server,
		   const char *account)
{
	uint64_t h =
	    hash_account(server, strlen(server), account, strlen(account));
	char *out;

	if (asprintf(&out, "%s/snapshot-%016" PRIx64, state_dir, h) < 0)
		return NULL;
	return out;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int snapshot_write(const char *dir, const char *name,
		   const struct snapshot_buf *b)
{
	char *path = NULL, *tmp = NULL;
	int fd, ret = 0;

	if (b->err)
		return b->err;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	if (asprintf(&tmp, "%s/.%s.tmp", dir, name) < 0) {
		free(path);
		return -ENOMEM;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		ret = -errno;
	if (!ret)
		ret = write_all(fd, b->p, b->len);
	/* the rename must not land before the bytes: a crash would leave
	 * an empty file where the last good one was */
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (fd >= 0 && close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	free(tmp);
	free(path);
	return ret;
}

/* The whole file, malloc'd.  0, -ENOENT, -EIO, -ENOMEM. */
static int read_file(const char *dir, const char *name, char **out, size_t *len)
{
	char *path;
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, ret = 0;

	*out = NULL;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -EIO;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > SNAPSHOT_FILE_MAX)
		ret = -EIO;
	else if (!(*out = malloc((size_t)st.st_size + 1)))
		ret = -ENOMEM;
	while (!ret && got < (size_t)st.st_size) {
		n = read(fd, *out + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			ret = -EIO;
		else
			got += (size_t)n;
	}
	close(fd);
	if (ret) {
		free(*out);
		*out = NULL;
	}
	*len = got;
	return ret;
}

/* ---- what decides a write ---- */

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	return hash_fnv1a(h, p, n);
}

static uint64_t mix_str(uint64_t h, const char *s)
{
	return s ? mix(h, s, strlen(s) + 1) : mix(h, "", 0);
}

uint64_t snapshot_sig_datasets(const struct model *m)
{
	uint64_t h = HASH_FNV_OFFSET;

	for (size_t i = 0; i < m->nds; i++) {
		const struct dataset *d = m->ds[i];

		if (!d->live)
			continue;
		h = mix_str(mix_str(h, d->id), d->name);
		h = mix(h, &d->n_samples, sizeof(d->n_samples));
		h = mix(h, &d->modified_ms, sizeof(d->modified_ms));
	}
	return h;
}

uint64_t snapshot_sig_dataset(const struct dataset *d)
{
	uint64_t h = HASH_FNV_OFFSET;
	uint32_t n = d->index ? index_count(d->index) : 0;

	h = mix(h, &n, sizeof(n));
	for (size_t i = 0; i < d->ntags; i++) {
		const struct tag *t = d->tags[i];

		if (!t->live || !model_tag_of_server(t) || !t->mask_loaded)
			continue;
		h = mix_str(mix_str(h, t->id), t->name);
		h = mix(h, &t->gen, sizeof(t->gen));
		h = mix(h, &t->hex_hash, sizeof(t->hex_hash));
		h = mix(h, &t->modified_ms, sizeof(t->modified_ms));
	}
	for (size_t k = 0; k < d->spages.npages; k++) {
		const struct sample_page *p = d->spages.pages[k];

		if (p && p->v && p->load.good_at > 0) {
			h = mix(h, &k, sizeof(k));
			h = mix(h, &p->n, sizeof(p->n));
		}
	}
	return h;
}

/* ---- encoding (lock held) ---- */

int snapshot_encode_datasets(const struct model *m, struct snapshot_buf *out)
{
	uint32_t n = 0;

	for (size_t i = 0; i < m->nds; i++)
		n += m->ds[i]->live;
	put_header(out, MAGIC_DATASETS);
	put_u32(out, n);
	for (size_t i = 0; i < m->nds; i++) {
		const struct dataset *d = m->ds[i];

		if (!d->live)
			continue;
		put(out, d->id, API_ID_LEN);
		put_str(out, d->name);
		put_str(out, d->img_type);
		put_str(out, d->json);
		put_i64(out, d->n_samples);
		put_i64(out, d->created_ms);
		put_i64(out, d->modified_ms);
	}
	return out->err;
}

static void encode_tags(const struct dataset *d, struct snapshot_buf *out)
{
	uint32_t n = 0;

	for (size_t i = 0; i < d->ntags; i++) {
		const struct tag *t = d->tags[i];

		n += t->live && model_tag_of_server(t) && t->mask_loaded;
	}
	put_u32(out, n);
	for (size_t i = 0; i < d->ntags && !out->err; i++) {
		const struct tag *t = d->tags[i];
		char *hex = NULL;

		if (!t->live || !model_tag_of_server(t) || !t->mask_loaded)
			continue;
		if (bitmask_to_hex(&t->mask, &hex)) {
			out->err = -ENOMEM;
			break;
		}
		put(out, t->id, API_ID_LEN);
		put_str(out, t->prev);
		put_str(out, t->name);
		put_str(out, hex);
		put_i64(out, t->tot_size);
		put_i64(out, t->created_ms);
		put_i64(out, t->modified_ms);
		free(hex);
	}
}

int snapshot_encode_dataset(const struct dataset *d, struct snapshot_buf *out)
{
	/* names a server without mappings gave are in our order, not the
	 * server's: not kept */
	uint32_t n = d->index && !d->fallback ? index_count(d->index) : 0;
	uint32_t npages = 0;

	put_header(out, MAGIC_DATASET);
	put(out, d->id, API_ID_LEN);
	encode_tags(d, out);
	put_u32(out, n);
	for (uint32_t s = 0; s < n; s++) {
		size_t len;
		const char *name = index_name(d->index, s, &len);

		put_name(out, name, len);
	}
	for (size_t k = 0; k < d->spages.npages; k++) {
		const struct sample_page *p = d->spages.pages[k];

		npages += p && p->v && p->load.good_at > 0;
	}
	put_u32(out, npages);
	for (size_t k = 0; k < d->spages.npages; k++) {
		const struct sample_page *p = d->spages.pages[k];

		if (!p || !p->v || !(p->load.good_at > 0))
			continue;
		put_u32(out, (uint32_t)k);
		put_u32(out, p->n);
		put(out, p->v, (size_t)p->n * sizeof(*p->v));
	}
	return out->err;
}

/* ---- reading back ---- */

struct snap_page {
	uint32_t k, n;
	struct sample_info *v;
};

struct snap_ds {
	bool have; /* its file was read */
	struct api_tag *tags;
	size_t ntags;
	struct name_index *idx;
	struct snap_page *pages;
	size_t npages;
};

struct snapshot {
	int64_t when;
	bool single; /* of -o dataset: its one dataset is the root */
	struct api_dataset *ds;
	size_t nds;
	struct snap_ds *per; /* by ds */
};

static int decode_datasets(struct rd *r, struct snapshot *s, const char *single)
{
	uint32_t n;

	if (!get_header(r, MAGIC_DATASETS, &s->when))
		return r->err;
	n = get_u32(r);
	if (r->err || n > (r->len - r->pos) / API_ID_LEN)
		return -EIO;
	s->ds = calloc(n ? n : 1, sizeof(*s->ds));
	s->per = calloc(n ? n : 1, sizeof(*s->per));
	if (!s->ds || !s->per)
		return -ENOMEM;
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct api_dataset *d = &s->ds[s->nds];

		get_id(r, d->id);
		d->name = get_str(r);
		d->img_type = get_str(r);
		d->json = get_str(r);
		d->n_samples = get_i64(r);
		d->created_at = get_i64(r);
		d->last_modified_at = get_i64(r);
		if (r->err || !d->name) {
			api_dataset_dispose(d);
			return r->err ? r->err : -EIO;
		}
		if (single && strcmp(single, d->id) &&
		    strcmp(single, d->name)) {
			api_dataset_dispose(d);
			memset(d, 0, sizeof(*d));
		} else
			s->nds++;
	}
	return r->err;
}

static int decode_tags(struct rd *r, struct snap_ds *x)
{
	uint32_t n = get_u32(r);

	if (r->err || n > (r->len - r->pos) / API_ID_LEN)
		return -EIO;
	x->tags = calloc(n ? n : 1, sizeof(*x->tags));
	if (!x->tags)
		return -ENOMEM;
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct api_tag *t = &x->tags[i];
		char *prev;

		x->ntags++;
		get_id(r, t->id);
		prev = get_str(r);
		snprintf(t->prev_tag_id, sizeof(t->prev_tag_id), "%s",
			 prev ? prev : "");
		free(prev);
		t->name = get_str(r);
		t->bitmask = get_str(r);
		t->tot_size = get_i64(r);
		t->created_at = get_i64(r);
		t->last_modified_at = get_i64(r);
		if (!r->err && (!t->name || !t->bitmask))
			r->err = -EIO;
	}
	return r->err;
}

static int decode_names(struct rd *r, struct snap_ds *x)
{
	uint32_t n = get_u32(r);
	int ret;

	if (r->err || n > r->len - r->pos)
		return -EIO;
	if (!n)
		return 0;
	x->idx = index_new();
	if (!x->idx)
		return -ENOMEM;
	ret = index_reserve(x->idx, n);
	for (uint32_t i = 0; i < n && !ret; i++) {
		size_t len;
		const char *name = get_name(r, &len);

		ret = name ? index_append(x->idx, name, len) : r->err;
	}
	return ret;
}

static int decode_pages(struct rd *r, struct snap_ds *x)
{
	uint32_t n = get_u32(r);

	if (r->err || n > (r->len - r->pos) / (2 * sizeof(uint32_t)))
		return -EIO;
	x->pages = calloc(n ? n : 1, sizeof(*x->pages));
	if (!x->pages)
		return -ENOMEM;
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct snap_page *p = &x->pages[x->npages];
		const void *v;

		p->k = get_u32(r);
		p->n = get_u32(r);
		if (r->err || p->n > SAMPLES_PAGE)
			return -EIO;
		v = take(r, (size_t)p->n * sizeof(*p->v));
		if (!v)
			return -EIO;
		p->v = calloc(SAMPLES_PAGE, sizeof(*p->v));
		if (!p->v)
			return -ENOMEM;
		memcpy(p->v, v, (size_t)p->n * sizeof(*p->v));
		x->npages++;
	}
	return r->err;
}

static int decode_dataset(struct rd *r, const char *id, struct snap_ds *x)
{
	char got[API_ID_LEN + 1];
	int64_t when;
	int ret;

	if (!get_header(r, MAGIC_DATASET, &when))
		return r->err;
	get_id(r, got);
	if (r->err || strcmp(got, id))
		return -EIO;
	ret = decode_tags(r, x);
	if (!ret)
		ret = decode_names(r, x);
	if (!ret)
		ret = decode_pages(r, x);
	return ret;
}

static void snap_ds_dispose(struct snap_ds *x)
{
	api_tags_free(x->tags, x->ntags);
	index_free(x->idx);
	for (size_t k = 0; k < x->npages; k++)
		free(x->pages[k].v);
	free(x->pages);
	memset(x, 0, sizeof(*x));
}

/* One dataset's file; a missing or damaged one leaves the dataset listed
 * without tags (ENETDOWN when opened): the others are still worth
 * serving. */
static int read_dataset(const char *dir, const char *id, struct snap_ds *x)
{
	struct rd r = {0};
	char *buf;
	int ret = read_file(dir, id, &buf, &r.len);

	if (ret == -ENOENT || ret == -EIO)
		return 0;
	if (ret)
		return ret;
	r.p = buf;
	ret = decode_dataset(&r, id, x);
	free(buf);
	x->have = !ret;
	if (ret)
		snap_ds_dispose(x);
	return ret == -EIO ? 0 : ret;
}

int snapshot_read(const char *dir, const char *single, struct snapshot **out)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct rd r = {0};
	char *buf = NULL;
	int ret;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	ret = read_file(dir, "datasets", &buf, &r.len);
	if (!ret) {
		r.p = buf;
		ret = decode_datasets(&r, s, single);
	}
	free(buf);
	/* -o dataset names one, and a name two share names none */
	if (!ret && single && s->nds != 1)
		ret = -ENOENT;
	s->single = single != NULL;
	for (size_t i = 0; !ret && i < s->nds; i++)
		ret = read_dataset(dir, s->ds[i].id, &s->per[i]);
	if (ret) {
		snapshot_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

size_t snapshot_datasets(const struct snapshot *s)
{
	return s->nds;
}

int64_t snapshot_time(const struct snapshot *s)
{
	return s->when;
}

void snapshot_free(struct snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->per && i < s->nds; i++)
		snap_ds_dispose(&s->per[i]);
	free(s->per);
	api_datasets_free(s->ds, s->nds);
	free(s);
}

/* ---- into the model (lock held) ---- */

static void loaded_now(struct load *l, double now)
{
	l->fetched_at = l->good_at = now;
	l->err = 0;
}

static struct dataset *dataset_by_id(const struct model *m, const char *id)
{
	for (size_t i = 0; i < m->nds; i++)
		if (m->ds[i]->live && !strcmp(m->ds[i]->id, id))
			return m->ds[i];
	return NULL;
}

static int install_dataset(struct model *m, struct dataset *d,
			   struct snap_ds *x, double now)
{
	int ret = model_apply_tags(m, d, x->tags, x->ntags, 0);

	if (ret)
		return ret;
	loaded_now(&d->tags_load, now);
	if (x->idx && !d->index) {
		d->index = x->idx;
		x->idx = NULL;
		loaded_now(&d->index_load, now);
	}
	for (size_t k = 0; k < x->npages && !ret; k++) {
		ret = samples_adopt_page(d, x->pages[k].k, x->pages[k].v,
					 x->pages[k].n);
		if (!ret)
			x->pages[k].v = NULL;
	}
	return ret;
}

int snapshot_install(struct model *m, struct snapshot *s)
{
	double now = cache_now();
	int ret;

	if (s->single)
		memcpy(m->single_id, s->ds[0].id, sizeof(m->single_id));
	ret = model_apply_datasets(m, s->ds, s->nds);
	if (ret)
		return ret;
	loaded_now(&m->ds_load, now);
	for (size_t i = 0; i < s->nds && !ret; i++) {
		struct dataset *d = dataset_by_id(m, s->ds[i].id);

		if (d && s->per[i].have)
			ret = install_dataset(m, d, &s->per[i], now);
	}
	return ret;
}

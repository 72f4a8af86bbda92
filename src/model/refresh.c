/* The server's data, loaded through cache_load: datasets, a dataset's
 * tags, its name index (mapping pages, or tag by tag on servers without
 * mappings), and the single dataset of -o dataset. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_ctx.h"
#include "index.h"
#include "log.h"
#include "refresh.h"

/* a server's nSamples is a hint, never a reason to allocate without bound */
#define REFRESH_RESERVE_MAX ((size_t)1 << 25)

/* ---- datasets ---- */

struct datasets_job {
	struct fs *fs;
	char single[API_ID_LEN + 1];
	struct api_dataset *v;
	size_t n;
};

static int datasets_prepare(void *arg)
{
	struct datasets_job *j = arg;

	memcpy(j->single, j->fs->model.single_id, sizeof(j->single));
	return 0;
}

static int datasets_fetch(void *arg)
{
	struct datasets_job *j = arg;
	int ret;

	if (!j->single[0])
		return api_list_datasets(j->fs->api, &j->v, &j->n);
	j->v = calloc(1, sizeof(*j->v));
	if (!j->v)
		return -ENOMEM;
	ret = api_get_dataset(j->fs->api, j->single, j->v);
	j->n = ret ? 0 : 1;
	return ret;
}

static int datasets_install(void *arg, int err)
{
	struct datasets_job *j = arg;

	if (!err)
		err = model_apply_datasets(&j->fs->model, j->v, j->n);
	api_datasets_free(j->v, j->n);
	return err;
}

static const struct cache_loader datasets_loader = {
    .prepare = datasets_prepare,
    .fetch = datasets_fetch,
    .install = datasets_install,
};

int refresh_datasets(struct fs *fs)
{
	struct datasets_job j = {.fs = fs};

	return cache_load(&fs->cache, &fs->model.ds_load, &datasets_loader, &j);
}

/* ---- tags ---- */

struct tags_job {
	struct fs *fs;
	struct dataset *d;
	char id[API_ID_LEN + 1];
	uint64_t since;
	struct api_tag *v;
	size_t n;
};

static int tags_prepare(void *arg)
{
	struct tags_job *j = arg;

	memcpy(j->id, j->d->id, sizeof(j->id));
	j->since = j->d->edit_seq;
	return 0;
}

static int tags_fetch(void *arg)
{
	struct tags_job *j = arg;

	return api_list_tags(j->fs->api, j->id, &j->v, &j->n);
}

static int tags_install(void *arg, int err)
{
	struct tags_job *j = arg;

	if (!err)
		err =
		    model_apply_tags(&j->fs->model, j->d, j->v, j->n, j->since);
	api_tags_free(j->v, j->n);
	return err;
}

static const struct cache_loader tags_loader = {
    .prepare = tags_prepare,
    .fetch = tags_fetch,
    .install = tags_install,
};

int refresh_tags(struct fs *fs, struct dataset *d)
{
	struct tags_job j = {.fs = fs, .d = d};

	return cache_load(&fs->cache, &d->tags_load, &tags_loader, &j);
}

int refresh_tags_now(struct fs *fs, struct dataset *d)
{
	cache_expire(&d->tags_load);
	return refresh_tags(fs, d);
}

/* ---- name index ---- */

/* Names appended straight into a new index wait this many names behind
 * the stream, so that each one's table slot is on its way from memory
 * (index_prefetch) when it is appended: a cold listing of a million names
 * spends most of its decoding on those misses. */
#define BLOB_AHEAD 8
#define BLOB_AHEAD_NAME 256 /* longer names skip the wait */

struct blob_name {
	size_t len;
	char name[BLOB_AHEAD_NAME];
};

/* Names as they arrive: straight into a new index, or kept aside for an
 * index that others read while the request runs. */
struct names_blob {
	char *buf;
	size_t len, cap;
	size_t count;
	struct name_index *idx;		    /* append straight here when set */
	struct blob_name ahead[BLOB_AHEAD]; /* ring, oldest at head */
	unsigned head, n;
};

/* Appends the oldest held-back name. */
static int blob_append_oldest(struct names_blob *b)
{
	const struct blob_name *x = &b->ahead[b->head];

	b->head = (b->head + 1) % BLOB_AHEAD;
	b->n--;
	return index_append(b->idx, x->name, x->len);
}

/* Appends every held-back name, in order. */
static int blob_flush(struct names_blob *b)
{
	int ret = 0;

	while (!ret && b->n)
		ret = blob_append_oldest(b);
	return ret;
}

static int blob_append(struct names_blob *b, const char *name, size_t len)
{
	struct blob_name *x;
	int ret;

	if (len > BLOB_AHEAD_NAME) {
		ret = blob_flush(b);
		return ret ? ret : index_append(b->idx, name, len);
	}
	if (b->n == BLOB_AHEAD && (ret = blob_append_oldest(b)))
		return ret;
	x = &b->ahead[(b->head + b->n) % BLOB_AHEAD];
	memcpy(x->name, name, len);
	x->len = len;
	b->n++;
	index_prefetch(b->idx, name, len);
	return 0;
}

static int blob_add_cb(const char *name, size_t len, void *arg)
{
	struct names_blob *b = arg;

	if (b->idx)
		return blob_append(b, name, len);
	if (len > SIZE_MAX - sizeof(size_t) - b->len)
		return -ENOMEM;
	if (b->len + sizeof(size_t) + len > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *p;

		while (cap < b->len + sizeof(size_t) + len)
			cap *= 2;
		p = realloc(b->buf, cap);
		if (!p)
			return -ENOMEM;
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, &len, sizeof(size_t));
	memcpy(b->buf + b->len + sizeof(size_t), name, len);
	b->len += sizeof(size_t) + len;
	b->count++;
	return 0;
}

/* The next name of b at *pos, advancing it. */
static const char *blob_next(const struct names_blob *b, size_t *pos,
			     size_t *len)
{
	const char *name;

	memcpy(len, b->buf + *pos, sizeof(size_t));
	name = b->buf + *pos + sizeof(size_t);
	*pos += sizeof(size_t) + *len;
	return name;
}

static int blob_drain(const struct names_blob *b, struct name_index *idx)
{
	size_t pos = 0, len;

	while (pos < b->len) {
		const char *name = blob_next(b, &pos, &len);
		int ret = index_append(idx, name, len);

		if (ret)
			return ret;
	}
	return 0;
}

static void log_hidden(const struct dataset *d, uint32_t before)
{
	uint32_t hidden = index_hidden_count(d->index);

	if (hidden > before)
		log_warn("dataset %s: %" PRIu32 " sample names cannot be "
			 "shown as paths (empty, '.', '..', duplicate, NUL, "
			 "component over 255 bytes); left out",
			 d->id, hidden - before);
}

struct index_job {
	struct fs *fs;
	struct dataset *d;
	size_t need, have, total;
	char id[API_ID_LEN + 1];
	struct name_index *fresh;
	struct names_blob blob;
};

/* The name index grows only at its end on the server (new samples take new
 * indices), so a refresh asks for the pages past what we hold.  It is
 * needed when a tag names a sample beyond it, or when the dataset says it
 * has more samples and what we know is older than the TTL. */
static bool index_fresh(const struct cache *c, const struct load *l, void *arg)
{
	struct index_job *j = arg;
	struct dataset *d = j->d;
	size_t have = d->index ? index_count(d->index) : 0;

	return d->index && (d->fallback ||
			    (have >= j->need && (have >= (size_t)d->n_samples ||
						 cache_fresh(c, l))));
}

static bool index_usable(const struct cache *c, const struct load *l, void *arg)
{
	struct index_job *j = arg;

	(void)c, (void)l;
	return j->d->index && index_count(j->d->index) >= j->need;
}

static int index_prepare(void *arg)
{
	struct index_job *j = arg;
	struct dataset *d = j->d;

	j->have = d->index ? index_count(d->index) : 0;
	j->total = d->n_samples > 0 && (size_t)d->n_samples > j->need
		       ? (size_t)d->n_samples
		       : j->need;
	memcpy(j->id, d->id, sizeof(j->id));
	if (d->index)
		return 0;
	j->fresh = index_new();
	if (!j->fresh)
		return -ENOMEM;
	/* the dataset says how many names come: no rehash on the way (a
	 * wrong count only costs the growth it would have) */
	if (j->total)
		index_reserve(j->fresh,
			      (uint32_t)(j->total < REFRESH_RESERVE_MAX
					     ? j->total
					     : REFRESH_RESERVE_MAX));
	j->blob.idx = j->fresh;
	return 0;
}

static int index_fetch(void *arg)
{
	struct index_job *j = arg;
	int ret =
	    api_get_mappings_to(j->fs->api, j->id, j->have, API_MAPPINGS_PAGE,
				j->total, blob_add_cb, &j->blob);

	if (!ret && j->blob.idx)
		ret = blob_flush(&j->blob);
	return ret;
}

static int index_install(void *arg, int err)
{
	struct index_job *j = arg;
	struct dataset *d = j->d;
	uint32_t hidden_before = 0;

	if (err == -ENOENT && j->fresh) {
		/* a server without mappings: tags list their own names */
		log_info("dataset %s: no mappings endpoint; listing each tag "
			 "by its file names",
			 j->id);
		d->fallback = true;
		err = 0;
	}
	if (err)
		return err;
	if (j->fresh) {
		d->index = j->fresh;
		j->fresh = NULL;
		d->last_used = cache_now();
		refresh_evict(j->fs, d);
	} else {
		hidden_before = index_hidden_count(d->index);
		err = blob_drain(&j->blob, d->index);
	}
	log_hidden(d, hidden_before);
	if (!err && index_count(d->index) > j->have)
		log_debug("dataset %s: %" PRIu32 " names indexed", j->id,
			  index_count(d->index));
	return err;
}

static const struct cache_loader index_loader = {
    .fresh = index_fresh,
    .usable = index_usable,
    .prepare = index_prepare,
    .fetch = index_fetch,
    .install = index_install,
};

int refresh_index(struct fs *fs, struct dataset *d, size_t need)
{
	struct index_job j = {.fs = fs, .d = d, .need = need};
	int ret;

	d->last_used = cache_now();
	ret = cache_load(&fs->cache, &d->index_load, &index_loader, &j);
	index_free(j.fresh);
	free(j.blob.buf);
	return ret;
}

/* ---- tag by tag, for servers without mappings ---- */

struct fallback_job {
	struct fs *fs;
	struct dataset *d;
	struct tag *t;
	uint64_t gen;
	char ds_id[API_ID_LEN + 1], tag_id[API_ID_LEN + 1];
	struct names_blob blob;
};

/* The index order is then ours, not the server's, so such tags cannot be
 * edited. */
static int fallback_merge(struct dataset *d, struct tag *t,
			  const struct names_blob *b)
{
	size_t pos = 0, len;
	struct bitmask m;
	int ret;

	ret = bitmask_init(&m, index_count(d->index) + b->count);
	while (!ret && pos < b->len) {
		const char *name = blob_next(b, &pos, &len);
		uint32_t s;

		if (index_lookup(d->index, name, len, &s)) {
			ret = index_append(d->index, name, len);
			if (ret || index_lookup(d->index, name, len, &s))
				continue;
		}
		if (s >= m.nbits)
			ret = bitmask_resize(&m, s + 1);
		if (!ret)
			bitmask_set(&m, s);
	}
	if (!ret) {
		bitmask_dispose(&t->mask);
		t->mask = m;
		m.words = NULL;
	}
	bitmask_dispose(&m);
	return ret;
}

static bool fallback_fresh(const struct cache *c, const struct load *l,
			   void *arg)
{
	struct fallback_job *j = arg;

	(void)c, (void)l;
	return j->t->view.fallback_gen == j->t->gen + 1;
}

static int fallback_prepare(void *arg)
{
	struct fallback_job *j = arg;

	j->gen = j->t->gen;
	memcpy(j->ds_id, j->d->id, sizeof(j->ds_id));
	memcpy(j->tag_id, j->t->id, sizeof(j->tag_id));
	return 0;
}

static int fallback_fetch(void *arg)
{
	struct fallback_job *j = arg;

	return api_get_tag_filenames(j->fs->api, j->ds_id, j->tag_id,
				     blob_add_cb, &j->blob);
}

static int fallback_install(void *arg, int err)
{
	struct fallback_job *j = arg;
	struct tag *t = j->t;
	bool current = t->gen == j->gen;

	if (err || !t->live)
		return err;
	err = fallback_merge(j->d, t, &j->blob);
	if (err)
		return err;
	/* the mask changed: derived caches follow gen */
	t->gen++;
	if (current)
		t->view.fallback_gen = t->gen + 1;
	return 0;
}

static const struct cache_loader fallback_loader = {
    .fresh = fallback_fresh,
    .prepare = fallback_prepare,
    .fetch = fallback_fetch,
    .install = fallback_install,
};

int refresh_fallback(struct fs *fs, struct dataset *d, struct tag *t)
{
	struct fallback_job j = {.fs = fs, .d = d, .t = t};
	int ret;

	ret = cache_load(&fs->cache, &t->view.fallback, &fallback_loader, &j);
	free(j.blob.buf);
	return ret;
}

/* ---- the rest ---- */

static int single_by_name(struct fs *fs, const char *want, char *err,
			  size_t errsz)
{
	struct api_dataset *v = NULL;
	size_t n = 0;
	int ret = api_list_datasets(fs->api, &v, &n);

	for (size_t i = 0; !ret && i < n; i++) {
		if (strcmp(v[i].name, want))
			continue;
		if (fs->model.single_id[0]) {
			snprintf(err, errsz,
				 "two datasets are named %s; give its id",
				 want);
			ret = -EINVAL;
			break;
		}
		memcpy(fs->model.single_id, v[i].id,
		       sizeof(fs->model.single_id));
	}
	if (!ret && !fs->model.single_id[0]) {
		snprintf(err, errsz, "no dataset named %s", want);
		ret = -ENOENT;
	}
	api_datasets_free(v, n);
	return ret;
}

int refresh_single(struct fs *fs, const char *want, char *err, size_t errsz)
{
	struct api_dataset one;
	int ret;

	if (!api_id_valid(want))
		return single_by_name(fs, want, err, errsz);
	memset(&one, 0, sizeof(one));
	ret = api_get_dataset(fs->api, want, &one);
	if (!ret)
		memcpy(fs->model.single_id, one.id,
		       sizeof(fs->model.single_id));
	api_dataset_dispose(&one);
	if (ret == -ENOENT)
		snprintf(err, errsz, "no dataset with id %s", want);
	return ret;
}

void refresh_evict(struct fs *fs, const struct dataset *keep)
{
	if (fs->cache_max_bytes)
		fs->cache.evictions +=
		    model_evict(&fs->model, fs->cache_max_bytes, keep);
}

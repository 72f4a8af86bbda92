/* The account model behind the mount: datasets, tags and name indexes with
 * their freshness, single-flight loading, path resolution over computed
 * inode numbers, directory snapshots, and the tag edits of fs_edit.c.
 *
 * Locking: fs->lock guards everything here.  A load marks its slot busy,
 * drops the lock for the request, then takes it again to install what came
 * back; others wanting the same thing wait on fs->cond instead of asking
 * the server again. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "bitmask.h"
#include "fs_internal.h"
#include "index.h"
#include "inode.h"
#include "log.h"

#define FS_DIR_BLKSIZE (1u << 20)
#define FS_RETRY_AFTER_FAILURE_S 5.0
/* a server's nSamples is a hint, never a reason to allocate without bound */
#define FS_RESERVE_MAX ((size_t)1 << 25)

double fs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A wall-clock stamp that strictly increases across calls, so a directory
 * whose listing changed twice within one clock tick still gets a new mtime
 * (the kernel's readdir cache is keyed on it). */
struct timespec fs_change_stamp(struct fs *fs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec < fs->last_stamp.tv_sec ||
	    (ts.tv_sec == fs->last_stamp.tv_sec &&
	     ts.tv_nsec <= fs->last_stamp.tv_nsec)) {
		ts = fs->last_stamp;
		if (++ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec = 0;
		}
	}
	fs->last_stamp = ts;
	return ts;
}

static struct timespec ms_to_ts(int64_t ms)
{
	struct timespec ts;

	if (ms < 0)
		ms = 0;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	return ts;
}

static bool load_fresh(const struct fs *fs, const struct load *l)
{
	return l->fetched_at > 0 && fs_now() - l->fetched_at < fs->ttl_s;
}

/* A dataset or tag name that can be shown as a directory: one path
 * component, and not hidden (no valid dataset or tag name starts with '.',
 * so a server sending one could only collide with .lightly). */
static bool component_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= INDEX_NAME_MAX && s[0] != '.' && !strchr(s, '/');
}

/* ---- datasets ---- */

static void tag_free(struct tag *t)
{
	if (!t)
		return;
	fs_tag_edit_dispose(t);
	free(t->name);
	bitmask_dispose(&t->mask);
	bitmask_dispose(&t->server_mask);
	bitmask_dispose(&t->folders);
	free(t);
}

static void dataset_free(struct dataset *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->ntags; i++)
		tag_free(d->tags[i]);
	free(d->tags);
	free(d->name);
	free(d->display);
	free(d->json);
	free(d->img_type);
	index_free(d->index);
	free(d);
}

struct dataset *fs_dataset(struct fs *fs, uint32_t slot)
{
	if (slot >= fs->nds || !fs->ds[slot] || !fs->ds[slot]->live)
		return NULL;
	return fs->ds[slot];
}

struct tag *fs_tag(struct dataset *d, uint32_t slot)
{
	if (!d || slot >= d->ntags || !d->tags[slot] || !d->tags[slot]->live)
		return NULL;
	return d->tags[slot];
}

static int dataset_fill(struct dataset *d, struct api_dataset *a)
{
	free(d->name);
	free(d->json);
	free(d->img_type);
	d->name = a->name;
	d->json = a->json;
	d->img_type = a->img_type;
	a->name = a->json = a->img_type = NULL;
	d->created_ms = a->created_at;
	d->modified_ms = a->last_modified_at ? a->last_modified_at
					     : a->created_at;
	d->n_samples = a->n_samples;
	return 0;
}

static int add_dataset(struct fs *fs, struct api_dataset *a,
		       struct dataset **out)
{
	struct dataset *d;

	if (fs->nds >= INODE_MAX_DATASETS)
		return -ENOSPC;
	if (fs->nds == fs->ds_cap) {
		size_t cap = fs->ds_cap ? fs->ds_cap * 2 : 16;
		struct dataset **v = realloc(fs->ds, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		fs->ds = v;
		fs->ds_cap = cap;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->slot = (uint32_t)fs->nds;
	d->live = true;
	memcpy(d->id, a->id, sizeof(d->id));
	dataset_fill(d, a);
	d->mtime = ms_to_ts(d->modified_ms);
	fs->ds[fs->nds++] = d;
	*out = d;
	return 0;
}

/* Two datasets may share a name; both then show as name@id so that neither
 * hides the other.  Names that cannot be a path component are not shown. */
static int assign_display_names(struct fs *fs)
{
	for (size_t i = 0; i < fs->nds; i++) {
		struct dataset *d = fs->ds[i];
		bool dup = false;
		char *disp;

		if (!d->live)
			continue;
		for (size_t j = 0; j < fs->nds && !dup; j++)
			dup = j != i && fs->ds[j]->live &&
			      !strcmp(fs->ds[j]->name, d->name);
		if (dup) {
			if (asprintf(&disp, "%s@%s", d->name, d->id) < 0)
				return -ENOMEM;
		} else {
			disp = strdup(d->name);
			if (!disp)
				return -ENOMEM;
		}
		if (!component_ok(disp)) {
			log_warn("dataset %s: name cannot be a file name; "
				 "not shown", d->id);
			free(disp);
			disp = NULL;
		}
		free(d->display);
		d->display = disp;
	}
	return 0;
}

static int apply_datasets(struct fs *fs, struct api_dataset *v, size_t n)
{
	bool changed = false;
	int ret;

	for (size_t i = 0; i < fs->nds; i++)
		fs->ds[i]->seen = false;
	for (size_t i = 0; i < n; i++) {
		struct dataset *d = NULL;

		for (size_t j = 0; j < fs->nds && !d; j++)
			if (!strcmp(fs->ds[j]->id, v[i].id))
				d = fs->ds[j];
		if (d) {
			if (!d->live || strcmp(d->name, v[i].name))
				changed = true;
			d->live = true;
			dataset_fill(d, &v[i]);
		} else {
			ret = add_dataset(fs, &v[i], &d);
			if (ret)
				return ret;
			changed = true;
		}
		d->seen = true;
	}
	for (size_t i = 0; i < fs->nds; i++) {
		if (fs->ds[i]->live && !fs->ds[i]->seen) {
			fs->ds[i]->live = false;
			changed = true;
		}
	}
	if (!changed)
		return assign_display_names(fs);
	fs->root_mtime = fs_change_stamp(fs);
	/* entries the kernel holds under old names go; new names may have
	 * negative entries cached */
	for (size_t i = 0; i < fs->nds; i++)
		if (fs->ds[i]->display)
			fs_notify_push(fs, INODE_ROOT, 0, fs->ds[i]->display);
	ret = assign_display_names(fs);
	for (size_t i = 0; i < fs->nds; i++)
		if (fs->ds[i]->display)
			fs_notify_push(fs, INODE_ROOT, 0, fs->ds[i]->display);
	fs_notify_push(fs, 0, INODE_ROOT, NULL);
	return ret;
}

/* Whether what l loaded last may still be shown after a failed refresh:
 * stale-if-error, up to max_stale seconds past its last good load. */
static bool load_usable(const struct fs *fs, const struct load *l)
{
	return l->good_at > 0 && fs_now() - l->good_at <= fs->max_stale_s;
}

/* Waits while another thread loads l, unless there is usable data: a
 * request stuck on the server must not hold up what the cache can answer.
 * Returns true when the caller should load l itself (marked busy). */
static bool load_begin(struct fs *fs, struct load *l)
{
	for (;;) {
		if (load_fresh(fs, l)) {
			fs->hits++;
			return false;
		}
		/* the server failed a moment ago: every stale layer of a path
		 * would otherwise wait out one more deadline in turn */
		if (load_usable(fs, l) && (l->busy || fs_now() < fs->down_until)) {
			fs->stale_served++;
			return false;
		}
		if (!l->busy)
			break;
		pthread_cond_wait(&fs->cond, &fs->lock);
	}
	fs->misses++;
	l->busy = true;
	return true;
}

static void load_end(struct fs *fs, struct load *l, int err)
{
	double now = fs_now();

	l->busy = false;
	l->err = err;
	if (!err) {
		l->fetched_at = l->good_at = now;
		fs->down_until = 0;
	} else if (load_usable(fs, l)) {
		fs->down_until = now + FS_RETRY_AFTER_FAILURE_S;
		/* serve what we have for a while instead of making every
		 * access wait out the deadline of a server that is away */
		double wait = fs->ttl_s < FS_RETRY_AFTER_FAILURE_S
				      ? fs->ttl_s
				      : FS_RETRY_AFTER_FAILURE_S;

		l->fetched_at = now - fs->ttl_s + wait;
		log_warn("refresh failed (%s); serving what was loaded %.0f s "
			 "ago",
			 strerror(-err), now - l->good_at);
	}
	pthread_cond_broadcast(&fs->cond);
}

/* After a failed refresh what we had stays in use (a mount that empties
 * when the network blinks is worse than one a minute old), up to
 * max_stale; a first load that fails is an error. */
static int load_result(struct fs *fs, const struct load *l)
{
	if (!l->err)
		return 0;
	if (load_usable(fs, l)) {
		fs->stale_served++;
		return 0;
	}
	return l->err;
}

int fs_ensure_datasets(struct fs *fs)
{
	struct api_dataset *v = NULL;
	size_t n = 0;
	int ret;

	if (!load_begin(fs, &fs->ds_load))
		return load_result(fs, &fs->ds_load);
	pthread_mutex_unlock(&fs->lock);
	if (fs->single_id[0]) {
		v = calloc(1, sizeof(*v));
		ret = v ? api_get_dataset(fs->api, fs->single_id, v) : -ENOMEM;
		n = ret ? 0 : 1;
	} else {
		ret = api_list_datasets(fs->api, &v, &n);
	}
	pthread_mutex_lock(&fs->lock);
	if (!ret)
		ret = apply_datasets(fs, v, n);
	load_end(fs, &fs->ds_load, ret);
	api_datasets_free(v, n);
	return load_result(fs, &fs->ds_load);
}

/* ---- tags ---- */

static uint64_t dataset_ino(const struct dataset *d)
{
	struct inode_ref r = { INODE_KIND_DATASET, d->slot, 0, 0, 0 };

	return inode_encode(&r);
}

uint64_t fs_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int add_tag(struct fs *fs, struct dataset *d, struct tag **out)
{
	struct tag *t;

	if (d->ntags >= INODE_MAX_TAGS)
		return -ENOSPC;
	if (d->ntags == d->tags_cap) {
		size_t cap = d->tags_cap ? d->tags_cap * 2 : 16;
		struct tag **v = realloc(d->tags, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->tags = v;
		d->tags_cap = cap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->slot = (uint32_t)d->ntags;
	t->live = true;
	t->mtime = fs_change_stamp(fs);
	d->tags[d->ntags++] = t;
	*out = t;
	return 0;
}

/* Takes the server's view of one tag.  A tag with edits not yet on the
 * server keeps its local mask: the server's is older than what the user
 * sees, and the flush will make them equal. */
/* The server changed a tag's samples: every listing of it the kernel
 * holds is stale (its files' own entries expire with the TTL). */
static void notify_tag_listing(struct fs *fs, struct dataset *d,
			       struct tag *t)
{
	fs_notify_push(fs, 0, fs_tag_ino(d, t, INDEX_ROOT_FOLDER), NULL);
	if (t->folders_gen != t->gen + 1)
		return;
	for (size_t f = bitmask_next(&t->folders, 1); f != SIZE_MAX;
	     f = bitmask_next(&t->folders, f + 1))
		fs_notify_push(fs, 0, fs_tag_ino(d, t, (uint32_t)f), NULL);
}

static int tag_fill(struct fs *fs, struct dataset *d, struct tag *t,
		    struct api_tag *a, uint64_t since)
{
	uint64_t h = fs_hash_str(a->bitmask);
	bool mine = t->edit_seq > since; /* changed by us after the request */
	bool mask_changed = !t->mask_loaded ||
			    (h != t->hex_hash && !mine);

	if (t->name && strcmp(t->name, a->name) && !mine)
		fs_notify_push(fs, dataset_ino(d), 0, t->name);
	if (!t->name || (strcmp(t->name, a->name) && !mine)) {
		free(t->name);
		t->name = a->name;
		a->name = NULL;
	}
	memcpy(t->id, a->id, sizeof(t->id));
	memcpy(t->prev, a->prev_tag_id, sizeof(t->prev));
	t->created_ms = a->created_at;
	t->modified_ms = a->last_modified_at;
	t->tot_size = a->tot_size;
	if (mask_changed && !fs_tag_busy(t)) {
		struct bitmask m;
		size_t len = strlen(a->bitmask);
		size_t max_bits = len > 2 ? (len - 2) * 4 : 0;
		int ret = bitmask_from_hex(&m, a->bitmask, len, max_bits);

		if (ret == -ENOMEM)
			return ret;
		if (ret) {
			log_warn("tag %s: invalid bitMaskData; its listing "
				 "fails with EIO",
				 t->id);
			t->mask_err = -EIO;
			bitmask_dispose(&m);
			bitmask_dispose(&t->mask);
			bitmask_init(&t->mask, 0);
		} else {
			t->mask_err = 0;
			bitmask_dispose(&t->mask);
			t->mask = m;
		}
		struct timespec srv = ms_to_ts(a->last_modified_at
						       ? a->last_modified_at
						       : a->created_at);

		if (t->mask_loaded)
			notify_tag_listing(fs, d, t);
		/* the server's time when it tells something new; the
		 * kernel only needs the mtime to differ from before */
		if (!t->mask_loaded || srv.tv_sec != t->mtime.tv_sec ||
		    srv.tv_nsec != t->mtime.tv_nsec)
			t->mtime = srv;
		else
			t->mtime = fs_change_stamp(fs);
		t->hex_hash = h;
		t->mask_loaded = true;
		t->gen++;
	}
	return 0;
}

static int apply_tags(struct fs *fs, struct dataset *d, struct api_tag *v,
		      size_t n, uint64_t since)
{
	bool changed = false;
	int ret;

	for (size_t i = 0; i < d->ntags; i++)
		d->tags[i]->seen = false;
	for (size_t i = 0; i < n; i++) {
		struct tag *t = NULL;

		for (size_t j = 0; j < d->ntags && !t; j++)
			if (!strcmp(d->tags[j]->id, v[i].id))
				t = d->tags[j];
		if (!t) {
			/* A tag we deleted may still be listed by a reply
			 * that raced with the delete; keep it gone. */
			if (fs_tag_recently_deleted(d, v[i].id))
				continue;
			ret = add_tag(fs, d, &t);
			if (ret)
				return ret;
			changed = true;
		} else if (!t->live) {
			continue;
		} else if (strcmp(t->name, v[i].name) && t->edit_seq <= since) {
			changed = true;
		}
		ret = tag_fill(fs, d, t, &v[i], since);
		if (ret)
			return ret;
		t->seen = true;
	}
	for (size_t i = 0; i < d->ntags; i++) {
		struct tag *t = d->tags[i];

		/* a tag we just created may be missing from a listing that
		 * was answered before the create */
		if (t->live && !t->seen && !t->created_locally) {
			t->live = false;
			changed = true;
			fs_notify_push(fs, dataset_ino(d), 0, t->name);
		}
		t->created_locally = false;
	}
	if (changed) {
		d->mtime = fs_change_stamp(fs);
		/* a new tag may have a negative entry cached */
		for (size_t i = 0; i < d->ntags; i++)
			if (d->tags[i]->live)
				fs_notify_push(fs, dataset_ino(d), 0,
					       d->tags[i]->name);
		fs_notify_push(fs, 0, dataset_ino(d), NULL);
	}
	return 0;
}

int fs_ensure_tags(struct fs *fs, struct dataset *d)
{
	struct api_tag *v = NULL;
	size_t n = 0;
	char id[API_ID_LEN + 1];
	uint64_t since;
	int ret;

	if (!load_begin(fs, &d->tags_load))
		return load_result(fs, &d->tags_load);
	memcpy(id, d->id, sizeof(id));
	since = d->edit_seq;
	pthread_mutex_unlock(&fs->lock);
	ret = api_list_tags(fs->api, id, &v, &n);
	pthread_mutex_lock(&fs->lock);
	if (!ret)
		ret = apply_tags(fs, d, v, n, since);
	load_end(fs, &d->tags_load, ret);
	api_tags_free(v, n);
	return load_result(fs, &d->tags_load);
}

/* Whether the tag in slot i gets a directory: a name the server sent twice
 * is shown once, for the tag that lookup finds. */
static bool tag_shown(struct dataset *d, size_t i)
{
	struct tag *t = d->tags[i];

	return t->live && component_ok(t->name) &&
	       fs_tag_by_name(d, t->name) == t;
}

struct tag *fs_tag_by_name(struct dataset *d, const char *name)
{
	for (size_t i = 0; i < d->ntags; i++) {
		struct tag *t = d->tags[i];

		if (t->live && !strcmp(t->name, name) && component_ok(name))
			return t;
	}
	return NULL;
}

/* ---- name index ---- */

struct names_blob {
	char *buf;
	size_t len, cap;
	size_t count;
	struct name_index *idx; /* append straight here when set */
};

static int blob_add_cb(const char *name, size_t len, void *arg)
{
	struct names_blob *b = arg;

	if (b->idx)
		return index_append(b->idx, name, len);
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

static int blob_drain(struct names_blob *b, struct name_index *idx)
{
	size_t pos = 0;

	while (pos < b->len) {
		size_t len;
		int ret;

		memcpy(&len, b->buf + pos, sizeof(size_t));
		ret = index_append(idx, b->buf + pos + sizeof(size_t), len);
		if (ret)
			return ret;
		pos += sizeof(size_t) + len;
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

/* Bytes the cache holds: name indexes and tag masks. */
static size_t cache_bytes(const struct fs *fs)
{
	size_t total = 0;

	for (size_t i = 0; i < fs->nds; i++) {
		const struct dataset *d = fs->ds[i];

		if (d->index)
			total += index_memory(d->index);
		for (size_t j = 0; j < d->ntags; j++)
			total += (d->tags[j]->mask.nbits + 7) / 8 +
				 (d->tags[j]->server_mask.nbits + 7) / 8 +
				 (d->tags[j]->folders.nbits + 7) / 8;
	}
	return total;
}

/* Keeps the cache under its bound by dropping the least recently used
 * name indexes (the bulk of it); one that an open listing reads, or keep,
 * stays.  A dropped index is fetched again when next needed. */
static void evict(struct fs *fs, const struct dataset *keep)
{
	if (!fs->cache_max_bytes)
		return;
	while (cache_bytes(fs) > fs->cache_max_bytes) {
		struct dataset *victim = NULL;

		for (size_t i = 0; i < fs->nds; i++) {
			struct dataset *d = fs->ds[i];

			if (d == keep || !d->index || d->index_users ||
			    d->index_load.busy)
				continue;
			if (!victim || d->last_used < victim->last_used)
				victim = d;
		}
		if (!victim)
			return;
		log_debug("dataset %s: name index evicted (cache bound)",
			  victim->id);
		index_free(victim->index);
		victim->index = NULL;
		victim->index_load.fetched_at = 0;
		victim->index_load.good_at = 0;
		victim->fallback = false;
		for (size_t j = 0; j < victim->ntags; j++) {
			victim->tags[j]->folders_gen = 0;
			victim->tags[j]->fallback_gen = 0;
		}
		fs->evictions++;
	}
}

/* The name index grows only at its end on the server (new samples take new
 * indices), so a refresh asks for the pages past what we hold.  It is
 * needed when a tag names a sample beyond it, or when the dataset says it
 * has more samples and what we know is older than the TTL. */
int fs_ensure_index(struct fs *fs, struct dataset *d, size_t need)
{
	struct names_blob blob = { 0 };
	struct name_index *fresh = NULL;
	char id[API_ID_LEN + 1];
	size_t have, total;
	uint32_t hidden_before = 0;
	int ret;

	d->last_used = fs_now();
	for (;;) {
		have = d->index ? index_count(d->index) : 0;
		if (d->index && (d->fallback ||
				 (have >= need &&
				  (have >= (size_t)d->n_samples ||
				   load_fresh(fs, &d->index_load))))) {
			fs->hits++;
			return 0;
		}
		if (!d->index_load.busy)
			break;
		if (d->index && have >= need) {
			fs->stale_served++;
			return 0;
		}
		pthread_cond_wait(&fs->cond, &fs->lock);
	}
	d->index_load.busy = true;
	fs->misses++;
	memcpy(id, d->id, sizeof(id));
	total = d->n_samples > 0 && (size_t)d->n_samples > need
			? (size_t)d->n_samples
			: need;
	if (!d->index) {
		fresh = index_new();
		if (!fresh) {
			ret = -ENOMEM;
			goto out_locked;
		}
		/* the dataset says how many names come: no rehash on the way
		 * (a wrong count only costs the growth it would have) */
		if (total)
			index_reserve(fresh, (uint32_t)(total < FS_RESERVE_MAX
								 ? total
								 : FS_RESERVE_MAX));
		blob.idx = fresh;
	}
	pthread_mutex_unlock(&fs->lock);
	ret = api_get_mappings_to(fs->api, id, have, fs->mappings_page,
				  total, blob_add_cb, &blob);
	pthread_mutex_lock(&fs->lock);
	if (ret == -ENOENT && fresh) {
		/* a server without mappings: tags list their own names */
		log_info("dataset %s: no mappings endpoint; listing each tag "
			 "by its file names",
			 id);
		d->fallback = true;
		ret = 0;
	}
	if (ret)
		goto out_locked;
	if (fresh) {
		d->index = fresh;
		fresh = NULL;
		d->last_used = fs_now();
		evict(fs, d);
	} else {
		hidden_before = index_hidden_count(d->index);
		ret = blob_drain(&blob, d->index);
	}
	log_hidden(d, hidden_before);
	if (!ret && index_count(d->index) > have)
		log_debug("dataset %s: %" PRIu32 " names indexed", id,
			  index_count(d->index));
out_locked:
	load_end(fs, &d->index_load, ret);
	index_free(fresh);
	free(blob.buf);
	if (ret && d->index && index_count(d->index) >= need)
		return 0;
	return ret;
}

/* Fallback for servers without mappings: one request per tag, its names
 * merged into the dataset's index (whose order is then ours, not the
 * server's, so such tags cannot be edited). */
static int fallback_merge(struct dataset *d, struct tag *t,
			  struct names_blob *b)
{
	size_t pos = 0;
	struct bitmask m;
	int ret;

	ret = bitmask_init(&m, index_count(d->index) + b->count);
	if (ret)
		return ret;
	while (pos < b->len) {
		size_t len;
		const char *name;
		uint32_t s;

		memcpy(&len, b->buf + pos, sizeof(size_t));
		name = b->buf + pos + sizeof(size_t);
		pos += sizeof(size_t) + len;
		if (index_lookup(d->index, name, len, &s)) {
			s = index_count(d->index);
			ret = index_append(d->index, name, len);
			if (ret)
				goto out;
			if (index_lookup(d->index, name, len, &s))
				continue;
		}
		if (s >= m.nbits && (ret = bitmask_resize(&m, s + 1)))
			goto out;
		bitmask_set(&m, s);
	}
	bitmask_dispose(&t->mask);
	t->mask = m;
	m.words = NULL;
out:
	bitmask_dispose(&m);
	return ret;
}

static int ensure_fallback_names(struct fs *fs, struct dataset *d,
				 struct tag *t)
{
	struct names_blob blob = { 0 };
	char ds_id[API_ID_LEN + 1], tag_id[API_ID_LEN + 1];
	uint64_t gen;
	int ret;

	while (t->fallback_busy)
		pthread_cond_wait(&fs->cond, &fs->lock);
	if (t->fallback_gen == t->gen + 1)
		return 0;
	t->fallback_busy = true;
	gen = t->gen;
	memcpy(ds_id, d->id, sizeof(ds_id));
	memcpy(tag_id, t->id, sizeof(tag_id));
	pthread_mutex_unlock(&fs->lock);
	ret = api_get_tag_filenames(fs->api, ds_id, tag_id, blob_add_cb,
				    &blob);
	pthread_mutex_lock(&fs->lock);
	t->fallback_busy = false;
	pthread_cond_broadcast(&fs->cond);
	if (!ret && t->live) {
		bool current = t->gen == gen;

		ret = fallback_merge(d, t, &blob);
		if (!ret) {
			/* the mask changed: derived caches follow gen */
			t->gen++;
			if (current)
				t->fallback_gen = t->gen + 1;
		}
	}
	free(blob.buf);
	return ret;
}

/* Everything a tag's listing needs: fresh tags, an index covering its
 * mask, and (for folders) which folders hold any of its samples. */
int fs_ensure_tag_listing(struct fs *fs, struct dataset *d, struct tag *t)
{
	size_t need;
	int ret;

	if (t->mask_err)
		return t->mask_err;
	/* the highest set bit decides what the index must cover; found once
	 * per change of the mask, not on every lookup */
	if (t->need_gen != t->gen + 1) {
		need = 0;
		for (size_t w = (t->mask.nbits + 63) / 64; w-- > 0;) {
			if (t->mask.words[w]) {
				need = w * 64 + 64 -
				       (size_t)__builtin_clzll(t->mask.words[w]);
				break;
			}
		}
		t->need = need;
		t->need_gen = t->gen + 1;
	}
	need = t->need;
	ret = fs_ensure_index(fs, d, need);
	if (ret)
		return ret;
	if (!t->live)
		return -ENOENT;
	if (d->fallback) {
		ret = ensure_fallback_names(fs, d, t);
		if (ret)
			return ret;
	} else if (need > index_count(d->index)) {
		log_warn("tag %s: bitMaskData names samples the dataset does "
			 "not have",
			 t->id);
		return -EIO;
	}
	if (t->folders_gen != t->gen + 1) {
		uint32_t nf = index_folder_count(d->index);

		bitmask_dispose(&t->folders);
		ret = bitmask_init(&t->folders, nf);
		if (ret)
			return ret;
		if (nf > 1) {
			for (size_t s = bitmask_next(&t->mask, 0);
			     s != SIZE_MAX; s = bitmask_next(&t->mask, s + 1)) {
				uint32_t f = index_parent(d->index,
							  (uint32_t)s);

				while (f != INDEX_NONE &&
				       !bitmask_test(&t->folders, f)) {
					bitmask_set(&t->folders, f);
					f = index_folder_parent(d->index, f);
				}
			}
		}
		bitmask_set(&t->folders, INDEX_ROOT_FOLDER);
		t->folders_gen = t->gen + 1;
	}
	return 0;
}

bool fs_tag_has_folder(const struct tag *t, uint32_t folder)
{
	return bitmask_test(&t->folders, folder) ||
	       fs_local_folder_find(t, folder);
}

/* ---- attributes ---- */

static void stat_dir(struct fs *fs, struct stat *st, uint64_t ino,
		     struct timespec mtime, struct timespec ctime_)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = FS_DIR_BLKSIZE;
	st->st_mtim = mtime;
	st->st_ctim = mtime;
	st->st_atim = ctime_;
}

static void stat_file(struct fs *fs, struct stat *st, uint64_t ino,
		      mode_t mode, size_t size, struct timespec mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFREG | mode;
	st->st_nlink = 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)size;
	st->st_blksize = 4096;
	st->st_mtim = mtime;
	st->st_ctim = mtime;
	st->st_atim = mtime;
}

void fs_stat_ref(struct fs *fs, const struct inode_ref *r, struct stat *st)
{
	uint64_t ino = inode_encode(r);
	struct dataset *d = r->kind == INODE_KIND_ROOT ? NULL
						       : fs_dataset(fs, r->ds);
	struct timespec ds_created = d ? ms_to_ts(d->created_ms)
				       : fs->mount_time;
	struct tag *t = d ? fs_tag(d, r->tag) : NULL;

	switch (r->kind) {
	case INODE_KIND_ROOT:
		stat_dir(fs, st, ino, fs->root_mtime, fs->mount_time);
		break;
	case INODE_KIND_ROOT_META:
		stat_dir(fs, st, ino, fs->mount_time, fs->mount_time);
		break;
	case INODE_KIND_STATS:
		stat_file(fs, st, ino, 0444, 0, fs->mount_time);
		break;
	case INODE_KIND_DATASET:
		stat_dir(fs, st, ino, d->mtime, ds_created);
		break;
	case INODE_KIND_META:
	case INODE_KIND_META_TAGS:
		stat_dir(fs, st, ino, d->mtime, ds_created);
		break;
	case INODE_KIND_META_DATASET:
		stat_file(fs, st, ino, 0444, d->json ? strlen(d->json) : 0,
			  ms_to_ts(d->modified_ms));
		break;
	case INODE_KIND_META_TAG:
		stat_file(fs, st, ino, 0444, 0,
			  ms_to_ts(t ? t->modified_ms : 0));
		break;
	case INODE_KIND_TAG:
		stat_dir(fs, st, ino, t ? t->mtime : d->mtime,
			 ms_to_ts(t ? t->created_ms : d->created_ms));
		break;
	case INODE_KIND_FILE:
		stat_file(fs, st, ino, 0444, 0, ds_created);
		/* one link per tag that holds the sample */
		st->st_nlink = 0;
		for (size_t i = 0; d && i < d->ntags; i++)
			if (d->tags[i]->live &&
			    bitmask_test(&d->tags[i]->mask, r->sample))
				st->st_nlink++;
		break;
	default:
		memset(st, 0, sizeof(*st));
		break;
	}
	if (r->kind == INODE_KIND_ROOT && fs->single_id[0])
		st->st_ino = INODE_ROOT;
}

/* In single-dataset mode the root is that dataset's directory. */
static void ref_of_root(const struct fs *fs, struct inode_ref *r)
{
	if (r->kind == INODE_KIND_ROOT && fs->single_id[0]) {
		r->kind = INODE_KIND_DATASET;
		r->ds = 0;
	}
}

int fs_resolve(struct fs *fs, uint64_t ino, struct inode_ref *r)
{
	int ret = inode_decode(ino, r);

	if (ret)
		return ret;
	ref_of_root(fs, r);
	if (fs->single_id[0] && (r->kind == INODE_KIND_ROOT_META ||
				 r->kind == INODE_KIND_STATS))
		return -ESTALE;
	return 0;
}

/* Checks that what r names still exists, refreshing what has gone stale on
 * the way.  Called with the lock held. */
int fs_check_ref(struct fs *fs, struct inode_ref *r)
{
	struct dataset *d;
	struct tag *t;
	int ret;

	switch (r->kind) {
	case INODE_KIND_ROOT:
		return fs_ensure_datasets(fs);
	case INODE_KIND_ROOT_META:
	case INODE_KIND_STATS:
		return 0;
	default:
		break;
	}
	ret = fs_ensure_datasets(fs);
	if (ret)
		return ret;
	d = fs_dataset(fs, r->ds);
	if (!d || (!d->display && !fs->single_id[0]))
		return -ENOENT;
	switch (r->kind) {
	case INODE_KIND_DATASET:
		return fs_ensure_tags(fs, d);
	case INODE_KIND_META:
	case INODE_KIND_META_DATASET:
	case INODE_KIND_META_TAGS:
		return 0;
	case INODE_KIND_FILE:
		/* files never change; only the sample must be known (an
		 * evicted index cannot say, and indices are never reused) */
		if (d->index && r->sample >= index_count(d->index))
			return -ENOENT;
		return 0;
	case INODE_KIND_META_TAG:
	case INODE_KIND_TAG:
		ret = fs_ensure_tags(fs, d);
		if (ret)
			return ret;
		t = fs_tag(d, r->tag);
		if (!t)
			return -ENOENT;
		if (r->kind == INODE_KIND_META_TAG || !r->folder)
			return 0;
		ret = fs_ensure_tag_listing(fs, d, t);
		if (ret)
			return ret;
		return fs_tag_has_folder(t, r->folder) ? 0 : -ENOENT;
	default:
		return -ESTALE;
	}
}

int fs_getattr(struct fs *fs, uint64_t ino, struct stat *st)
{
	struct inode_ref r;
	int ret = fs_resolve(fs, ino, &r);

	if (ret)
		return ret;
	pthread_mutex_lock(&fs->lock);
	ret = fs_check_ref(fs, &r);
	if (!ret)
		fs_stat_ref(fs, &r, st);
	pthread_mutex_unlock(&fs->lock);
	if (!ret)
		st->st_ino = ino;
	return ret;
}

/* ---- lookup ---- */

static struct dataset *dataset_by_display(struct fs *fs, const char *name)
{
	for (size_t i = 0; i < fs->nds; i++) {
		struct dataset *d = fs->ds[i];

		if (d->live && d->display && !strcmp(d->display, name))
			return d;
	}
	return NULL;
}

/* Resolves one component below parent into *out.  Lock held. */
int fs_lookup_locked(struct fs *fs, const struct inode_ref *p,
		     const char *name, struct inode_ref *out)
{
	struct dataset *d;
	struct tag *t;
	size_t len = strlen(name);
	int ret;

	memset(out, 0, sizeof(*out));
	out->ds = p->ds;
	switch (p->kind) {
	case INODE_KIND_ROOT:
		if (!strcmp(name, FS_META_DIR)) {
			out->kind = INODE_KIND_ROOT_META;
			return 0;
		}
		ret = fs_ensure_datasets(fs);
		if (ret)
			return ret;
		d = dataset_by_display(fs, name);
		if (!d)
			return -ENOENT;
		out->kind = INODE_KIND_DATASET;
		out->ds = d->slot;
		return 0;
	case INODE_KIND_ROOT_META:
		if (strcmp(name, "stats"))
			return -ENOENT;
		out->kind = INODE_KIND_STATS;
		out->ds = 0;
		return 0;
	case INODE_KIND_DATASET:
		d = fs_dataset(fs, p->ds);
		if (!d)
			return -ENOENT;
		if (!strcmp(name, FS_META_DIR)) {
			out->kind = INODE_KIND_META;
			return 0;
		}
		ret = fs_ensure_tags(fs, d);
		if (ret)
			return ret;
		t = fs_tag_by_name(d, name);
		if (!t)
			return -ENOENT;
		out->kind = INODE_KIND_TAG;
		out->tag = t->slot;
		return 0;
	case INODE_KIND_META:
		if (!strcmp(name, "dataset.json"))
			out->kind = INODE_KIND_META_DATASET;
		else if (!strcmp(name, "tags"))
			out->kind = INODE_KIND_META_TAGS;
		else
			return -ENOENT;
		return 0;
	case INODE_KIND_META_TAGS:
		d = fs_dataset(fs, p->ds);
		if (!d)
			return -ENOENT;
		if (len <= 5 || strcmp(name + len - 5, ".json"))
			return -ENOENT;
		ret = fs_ensure_tags(fs, d);
		if (ret)
			return ret;
		{
			char base[INDEX_NAME_MAX + 1];

			memcpy(base, name, len - 5);
			base[len - 5] = '\0';
			t = fs_tag_by_name(d, base);
		}
		if (!t)
			return -ENOENT;
		out->kind = INODE_KIND_META_TAG;
		out->tag = t->slot;
		return 0;
	case INODE_KIND_TAG: {
		char kind;
		uint32_t id;

		d = fs_dataset(fs, p->ds);
		t = fs_tag(d, p->tag);
		if (!t)
			return -ENOENT;
		ret = fs_ensure_tag_listing(fs, d, t);
		if (ret)
			return ret;
		out->tag = p->tag;
		ret = index_child_lookup(d->index, p->folder, name, len,
					 &kind, &id);
		if (!ret && kind == 'f' && bitmask_test(&t->mask, id)) {
			out->kind = INODE_KIND_FILE;
			out->sample = id;
			return 0;
		}
		if (!ret && kind == 'd' && fs_tag_has_folder(t, id)) {
			out->kind = INODE_KIND_TAG;
			out->folder = id;
			return 0;
		}
		id = fs_local_folder_lookup(t, p->folder, name);
		if (id != INDEX_NONE) {
			out->kind = INODE_KIND_TAG;
			out->folder = id;
			return 0;
		}
		return -ENOENT;
	}
	default:
		return -ENOTDIR;
	}
}

int fs_lookup(struct fs *fs, uint64_t parent, const char *name,
	      struct stat *st)
{
	struct inode_ref p, r;
	int ret = fs_resolve(fs, parent, &p);

	if (ret)
		return ret;
	if (strlen(name) > INDEX_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&fs->lock);
	ret = fs_check_ref(fs, &p);
	if (!ret)
		ret = fs_lookup_locked(fs, &p, name, &r);
	/* a directory's attributes must be as fresh as its listing: the
	 * kernel keeps a cached listing while the mtime it gets here is the
	 * one the listing was cached under */
	if (!ret && (r.kind == INODE_KIND_DATASET || r.kind == INODE_KIND_TAG))
		ret = fs_check_ref(fs, &r);
	if (!ret)
		fs_stat_ref(fs, &r, st);
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

double fs_entry_timeout(const struct fs *fs)
{
	return fs->ttl_s;
}

/* ---- directories ---- */

struct small_entry {
	size_t name_off;
	struct inode_ref ref;
};

struct fs_dir {
	struct inode_ref ref;
	bool built;
	/* tag folders: indices into the dataset's index */
	uint32_t *folders;
	size_t nfolders;
	uint32_t *samples;
	size_t nsamples;
	struct name_index *index;
	/* everything else: a few names copied */
	struct small_entry *small;
	size_t nsmall, small_cap;
	char *names;
	size_t names_len, names_cap;
};

static int dir_add(struct fs_dir *d, const char *name,
		   const struct inode_ref *ref)
{
	size_t len = strlen(name) + 1;

	if (d->nsmall == d->small_cap) {
		size_t cap = d->small_cap ? d->small_cap * 2 : 16;
		struct small_entry *v = realloc(d->small, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->small = v;
		d->small_cap = cap;
	}
	if (d->names_len + len > d->names_cap) {
		size_t cap = d->names_cap ? d->names_cap : 1024;
		char *p;

		while (cap < d->names_len + len)
			cap *= 2;
		p = realloc(d->names, cap);
		if (!p)
			return -ENOMEM;
		d->names = p;
		d->names_cap = cap;
	}
	memcpy(d->names + d->names_len, name, len);
	d->small[d->nsmall].name_off = d->names_len;
	d->small[d->nsmall].ref = *ref;
	d->nsmall++;
	d->names_len += len;
	return 0;
}

static int snapshot_tag_folder(struct fs *fs, struct fs_dir *dir,
			       struct dataset *d, struct tag *t)
{
	const uint32_t *subs, *samples;
	size_t nsubs, nsamples;
	int ret;

	ret = fs_ensure_tag_listing(fs, d, t);
	if (ret)
		return ret;
	dir->index = d->index;
	d->index_users++;
	subs = index_folder_subfolders(d->index, dir->ref.folder, &nsubs);
	samples = index_folder_samples(d->index, dir->ref.folder, &nsamples);
	if (nsubs) {
		dir->folders = malloc(nsubs * sizeof(uint32_t));
		if (!dir->folders)
			return -ENOMEM;
		for (size_t i = 0; i < nsubs; i++)
			if (bitmask_test(&t->folders, subs[i]))
				dir->folders[dir->nfolders++] = subs[i];
	}
	if (nsamples) {
		size_t cap = bitmask_count(&t->mask);

		if (cap > nsamples)
			cap = nsamples;
		dir->samples = malloc((cap ? cap : 1) * sizeof(uint32_t));
		if (!dir->samples)
			return -ENOMEM;
		for (size_t i = 0; i < nsamples && dir->nsamples < cap; i++)
			if (bitmask_test(&t->mask, samples[i]))
				dir->samples[dir->nsamples++] = samples[i];
	}
	return fs_local_folders_snapshot(t, dir->ref.folder, dir_add, dir,
					 &dir->ref);
}

/* Drops a listing's snapshot.  Lock held. */
static void dir_reset(struct fs *fs, struct fs_dir *dir)
{
	if (dir->index && dir->ref.ds < fs->nds &&
	    fs->ds[dir->ref.ds]->index_users)
		fs->ds[dir->ref.ds]->index_users--;
	dir->index = NULL;
	free(dir->folders);
	free(dir->samples);
	free(dir->small);
	free(dir->names);
	dir->folders = dir->samples = NULL;
	dir->small = NULL;
	dir->names = NULL;
	dir->nfolders = dir->nsamples = dir->nsmall = dir->small_cap = 0;
	dir->names_len = dir->names_cap = 0;
}

/* Takes the listing's snapshot.  Lock held.  Done when the kernel reads
 * from offset 0, not at opendir: the kernel caches a listing under the
 * directory mtime it knew when it started reading, so the snapshot must be
 * at least as new as that mtime, or an edit made between opendir and the
 * first read would be missing from a cache that claims to be current. */
static int dir_build(struct fs *fs, struct fs_dir *dir)
{
	struct inode_ref r = dir->ref, c;
	struct dataset *d;
	struct tag *t;
	int ret;

	dir_reset(fs, dir);
	ret = fs_check_ref(fs, &r);
	if (ret)
		return ret;
	memset(&c, 0, sizeof(c));
	c.ds = r.ds;
	switch (r.kind) {
	case INODE_KIND_ROOT:
		c.kind = INODE_KIND_ROOT_META;
		ret = dir_add(dir, FS_META_DIR, &c);
		c.kind = INODE_KIND_DATASET;
		for (size_t i = 0; i < fs->nds && !ret; i++) {
			if (!fs->ds[i]->live || !fs->ds[i]->display)
				continue;
			c.ds = fs->ds[i]->slot;
			ret = dir_add(dir, fs->ds[i]->display, &c);
		}
		break;
	case INODE_KIND_ROOT_META:
		c.kind = INODE_KIND_STATS;
		ret = dir_add(dir, "stats", &c);
		break;
	case INODE_KIND_DATASET:
		d = fs_dataset(fs, r.ds);
		c.kind = INODE_KIND_META;
		ret = dir_add(dir, FS_META_DIR, &c);
		c.kind = INODE_KIND_TAG;
		for (size_t i = 0; i < d->ntags && !ret; i++) {
			if (!tag_shown(d, i))
				continue;
			c.tag = d->tags[i]->slot;
			ret = dir_add(dir, d->tags[i]->name, &c);
		}
		break;
	case INODE_KIND_META:
		c.kind = INODE_KIND_META_DATASET;
		ret = dir_add(dir, "dataset.json", &c);
		c.kind = INODE_KIND_META_TAGS;
		if (!ret)
			ret = dir_add(dir, "tags", &c);
		break;
	case INODE_KIND_META_TAGS:
		d = fs_dataset(fs, r.ds);
		ret = fs_ensure_tags(fs, d);
		c.kind = INODE_KIND_META_TAG;
		for (size_t i = 0; i < d->ntags && !ret; i++) {
			char name[INDEX_NAME_MAX + 6];

			if (!tag_shown(d, i))
				continue;
			if (snprintf(name, sizeof(name), "%s.json",
				     d->tags[i]->name) > INDEX_NAME_MAX)
				continue;
			c.tag = d->tags[i]->slot;
			ret = dir_add(dir, name, &c);
		}
		break;
	case INODE_KIND_TAG:
		d = fs_dataset(fs, r.ds);
		t = fs_tag(d, r.tag);
		ret = snapshot_tag_folder(fs, dir, d, t);
		break;
	default:
		ret = -ENOTDIR;
		break;
	}
	return ret;
}

static bool is_dir_kind(enum inode_kind k)
{
	return k == INODE_KIND_ROOT || k == INODE_KIND_ROOT_META ||
	       k == INODE_KIND_DATASET || k == INODE_KIND_META ||
	       k == INODE_KIND_META_TAGS || k == INODE_KIND_TAG;
}

int fs_opendir(struct fs *fs, uint64_t ino, struct fs_dir **out)
{
	struct fs_dir *dir;
	struct inode_ref r;
	int ret;

	dir = calloc(1, sizeof(*dir));
	if (!dir)
		return -ENOMEM;
	ret = fs_resolve(fs, ino, &dir->ref);
	if (!ret && !is_dir_kind(dir->ref.kind))
		ret = -ENOTDIR;
	if (!ret) {
		r = dir->ref;
		pthread_mutex_lock(&fs->lock);
		ret = fs_check_ref(fs, &r);
		pthread_mutex_unlock(&fs->lock);
	}
	if (ret) {
		free(dir);
		return ret;
	}
	*out = dir;
	return 0;
}

int fs_readdir(struct fs *fs, struct fs_dir *dir, off_t off, fs_fill_cb cb,
	       void *arg)
{
	struct stat st;
	struct inode_ref c;
	size_t pos, total;
	int ret = 0;

	if (off < 0)
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	pthread_mutex_lock(&fs->lock);
	if (off == 0 || !dir->built) {
		ret = dir_build(fs, dir);
		if (ret) {
			pthread_mutex_unlock(&fs->lock);
			return ret;
		}
		dir->built = true;
	}
	total = 2 + dir->nsmall + dir->nfolders + dir->nsamples;
	for (pos = (size_t)off; pos < total; pos++) {
		const char *name;
		size_t i = pos;

		if (i < 2) {
			name = i ? ".." : ".";
			memset(&st, 0, sizeof(st));
			st.st_mode = S_IFDIR;
			/* glibc hides entries whose d_ino is 0; the parent's
			 * real number is not needed by anyone */
			st.st_ino = i ? INODE_ROOT : inode_encode(&dir->ref);
			if (cb(name, &st, (off_t)(pos + 1), arg))
				break;
			continue;
		}
		i -= 2;
		if (i < dir->nsmall) {
			c = dir->small[i].ref;
			name = dir->names + dir->small[i].name_off;
		} else if ((i -= dir->nsmall) < dir->nfolders) {
			c = dir->ref;
			c.folder = dir->folders[i];
			name = index_folder_name(dir->index, c.folder);
		} else {
			i -= dir->nfolders;
			c.kind = INODE_KIND_FILE;
			c.ds = dir->ref.ds;
			c.sample = dir->samples[i];
			name = index_basename(dir->index, dir->samples[i]);
		}
		if (c.kind == INODE_KIND_DATASET && !fs_dataset(fs, c.ds))
			continue;
		fs_stat_ref(fs, &c, &st);
		if (cb(name, &st, (off_t)(pos + 1), arg))
			break;
	}
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

void fs_releasedir(struct fs *fs, struct fs_dir *dir)
{
	if (!dir)
		return;
	pthread_mutex_lock(&fs->lock);
	dir_reset(fs, dir);
	pthread_mutex_unlock(&fs->lock);
	free(dir);
}

/* ---- files ---- */

int fs_open_file(struct fs *fs, uint64_t ino, int flags, char **data,
		 size_t *len)
{
	struct inode_ref r;
	struct dataset *d;
	struct tag *t;
	char ds_id[API_ID_LEN + 1], tag_id[API_ID_LEN + 1];
	int ret = fs_resolve(fs, ino, &r);

	*data = NULL;
	*len = 0;
	if (ret)
		return ret;
	/* a sample may be opened for writing (cp onto it writes nothing: it
	 * is empty), but bytes written are refused in fsops */
	if ((flags & O_ACCMODE) != O_RDONLY && r.kind != INODE_KIND_FILE)
		return -EACCES;
	pthread_mutex_lock(&fs->lock);
	ret = fs_check_ref(fs, &r);
	if (ret)
		goto out;
	d = fs_dataset(fs, r.ds);
	switch (r.kind) {
	case INODE_KIND_FILE:
		break;
	case INODE_KIND_META_DATASET:
		if (d->json) {
			*data = strdup(d->json);
			if (!*data)
				ret = -ENOMEM;
			else
				*len = strlen(*data);
		}
		break;
	case INODE_KIND_META_TAG:
		t = fs_tag(d, r.tag);
		memcpy(ds_id, d->id, sizeof(ds_id));
		memcpy(tag_id, t->id, sizeof(tag_id));
		pthread_mutex_unlock(&fs->lock);
		return api_get_tag_json(fs->api, ds_id, tag_id, data, len);
	case INODE_KIND_STATS:
		ret = fs_stats_json(fs, data, len);
		break;
	default:
		ret = -EISDIR;
		break;
	}
out:
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

/* ---- life cycle ---- */

static int resolve_single(struct fs *fs, const char *want, char *err,
			  size_t errsz)
{
	struct api_dataset *v = NULL;
	size_t n = 0;
	int ret;

	if (api_id_valid(want)) {
		struct api_dataset one;

		memset(&one, 0, sizeof(one));
		ret = api_get_dataset(fs->api, want, &one);
		if (!ret)
			memcpy(fs->single_id, one.id, sizeof(fs->single_id));
		api_dataset_dispose(&one);
		if (ret == -ENOENT)
			snprintf(err, errsz, "no dataset with id %s", want);
		return ret;
	}
	ret = api_list_datasets(fs->api, &v, &n);
	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, want))
			continue;
		if (fs->single_id[0]) {
			snprintf(err, errsz,
				 "two datasets are named %s; give its id", want);
			ret = -EINVAL;
			break;
		}
		memcpy(fs->single_id, v[i].id, sizeof(fs->single_id));
	}
	if (!ret && !fs->single_id[0]) {
		snprintf(err, errsz, "no dataset named %s", want);
		ret = -ENOENT;
	}
	api_datasets_free(v, n);
	return ret;
}

static void describe_start_error(int ret, const char *server, char *err,
				 size_t errsz)
{
	if (err[0])
		return;
	switch (ret) {
	case -EACCES:
		snprintf(err, errsz, "the server %s rejected the API token",
			 server);
		break;
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
	case -ETIMEDOUT:
		snprintf(err, errsz, "cannot reach %s: %s", server,
			 strerror(-ret));
		break;
	default:
		snprintf(err, errsz, "%s: %s", server, strerror(-ret));
		break;
	}
}

int fs_new(const struct fs_config *cfg, struct fs **out, char *err,
	   size_t errsz)
{
	struct fs *fs;
	int ret;

	err[0] = '\0';
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->cond, NULL);
	fs->api = cfg->api;
	fs->server_name = cfg->server;
	fs->ttl_s = cfg->ttl_s;
	fs->uid = cfg->uid;
	fs->gid = cfg->gid;
	fs->sync_edits = cfg->sync_edits;
	fs->flush_delay_ms = cfg->flush_delay_ms;
	fs->mappings_page = API_MAPPINGS_PAGE;
	fs->cache_max_bytes = cfg->cache_max_bytes;
	fs->max_stale_s = cfg->max_stale_s;
	clock_gettime(CLOCK_REALTIME, &fs->mount_time);
	fs->root_mtime = fs->mount_time;
	fs->last_stamp = fs->mount_time;

	/* one request proves the server answers and takes the token */
	if (cfg->dataset) {
		ret = resolve_single(fs, cfg->dataset, err, errsz);
	} else {
		pthread_mutex_lock(&fs->lock);
		ret = fs_ensure_datasets(fs);
		pthread_mutex_unlock(&fs->lock);
	}
	if (ret) {
		describe_start_error(ret, fs->server_name, err, errsz);
		fs_free(fs);
		return ret;
	}
	*out = fs;
	return 0;
}

int fs_start(struct fs *fs)
{
	return fs_edit_start(fs);
}

void fs_drop_caches(struct fs *fs)
{
	size_t bound;

	pthread_mutex_lock(&fs->lock);
	fs->ds_load.fetched_at = 0;
	for (size_t i = 0; i < fs->nds; i++) {
		struct dataset *d = fs->ds[i];

		d->tags_load.fetched_at = 0;
		d->index_load.fetched_at = 0;
		fs_notify_push(fs, 0, dataset_ino(d), NULL);
		for (size_t j = 0; j < d->ntags; j++)
			if (d->tags[j]->live)
				fs_notify_push(fs, 0,
					       fs_tag_ino(d, d->tags[j], 0),
					       NULL);
	}
	fs_notify_push(fs, 0, INODE_ROOT, NULL);
	/* a bound of one byte evicts every index no listing holds */
	bound = fs->cache_max_bytes;
	fs->cache_max_bytes = 1;
	evict(fs, NULL);
	fs->cache_max_bytes = bound;
	pthread_mutex_unlock(&fs->lock);
	log_info("caches dropped");
}

int fs_stats_json(struct fs *fs, char **data, size_t *len)
{
	char *api_json = NULL;
	size_t api_len = 0, ntags = 0, nsamples = 0, flushes_pending = 0;
	int n, ret;

	ret = api_stats_json(fs->api, &api_json, &api_len);
	if (ret)
		return ret;
	for (size_t i = 0; i < fs->nds; i++) {
		struct dataset *d = fs->ds[i];

		if (d->index)
			nsamples += index_count(d->index);
		for (size_t j = 0; j < d->ntags; j++) {
			ntags += d->tags[j]->live;
			flushes_pending += d->tags[j]->dirty;
		}
	}
	n = asprintf(data,
		     "{\"api\":%s,\"cache\":{\"hits\":%llu,\"misses\":%llu,"
		     "\"staleServed\":%llu,\"evictions\":%llu,"
		     "\"datasets\":%zu,\"tags\":%zu,\"samplesIndexed\":%zu,"
		     "\"memoryBytes\":%zu,\"memoryBoundBytes\":%zu},"
		     "\"edits\":{\"flushes\":%llu,\"tagsPending\":%zu}}\n",
		     api_json, (unsigned long long)fs->hits,
		     (unsigned long long)fs->misses,
		     (unsigned long long)fs->stale_served,
		     (unsigned long long)fs->evictions, fs->nds, ntags,
		     nsamples, cache_bytes(fs), fs->cache_max_bytes,
		     (unsigned long long)fs->flushes, flushes_pending);
	free(api_json);
	if (n < 0) {
		*data = NULL;
		return -ENOMEM;
	}
	*len = (size_t)n;
	return 0;
}

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	fs_edit_stop(fs);
	for (size_t i = 0; i < fs->nds; i++)
		dataset_free(fs->ds[i]);
	free(fs->ds);
	pthread_cond_destroy(&fs->cond);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

/* Datasets in never-reused slots, tags in slots reused once dead and
 * forgotten (tagslot.c), and the merges of the server's
 * lists into them (see model.h).  Caller holds fs->lock; nothing here
 * makes a request. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index.h"
#include "inode.h"
#include "log.h"
#include "model.h"
#include "notify.h"

void model_init(struct model *m, struct notify *notify)
{
	memset(m, 0, sizeof(*m));
	m->notify = notify;
	clock_gettime(CLOCK_REALTIME, &m->mount_time);
	m->root_mtime = m->mount_time;
	m->last_stamp = m->mount_time;
}

static void dataset_free(struct dataset *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->ntags; i++)
		model_tag_free(d->tags[i]);
	free(d->tags);
	free(d->name);
	free(d->display);
	free(d->json);
	free(d->img_type);
	index_free(d->index);
	samples_free(&d->spages);
	free(d);
}

void model_dispose(struct model *m)
{
	for (size_t i = 0; i < m->nds; i++)
		dataset_free(m->ds[i]);
	free(m->ds);
	m->ds = NULL;
	m->nds = m->ds_cap = 0;
}

/* Strictly increasing, so a directory whose listing changed twice within
 * one clock tick still gets a new mtime (the kernel's readdir cache is
 * keyed on it). */
struct timespec model_stamp(struct model *m)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec < m->last_stamp.tv_sec ||
	    (ts.tv_sec == m->last_stamp.tv_sec &&
	     ts.tv_nsec <= m->last_stamp.tv_nsec)) {
		ts = m->last_stamp;
		if (++ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec = 0;
		}
	}
	m->last_stamp = ts;
	return ts;
}

struct timespec model_ms_to_ts(int64_t ms)
{
	struct timespec ts;

	if (ms < 0)
		ms = 0;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	return ts;
}

uint64_t model_hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* No valid dataset or tag name starts with '.', so a server sending one
 * could only collide with .lightly. */
bool model_component_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= INDEX_NAME_MAX && s[0] != '.' && !strchr(s, '/');
}

struct dataset *model_dataset(const struct model *m, uint32_t slot)
{
	if (slot >= m->nds || !m->ds[slot] || !m->ds[slot]->live)
		return NULL;
	return m->ds[slot];
}

struct dataset *model_dataset_by_display(const struct model *m,
					 const char *name)
{
	for (size_t i = 0; i < m->nds; i++) {
		struct dataset *d = m->ds[i];

		if (d->live && d->display && !strcmp(d->display, name))
			return d;
	}
	return NULL;
}

struct tag *model_tag(const struct dataset *d, uint32_t slot)
{
	if (!d || slot >= d->ntags || !d->tags[slot] || !d->tags[slot]->live)
		return NULL;
	return d->tags[slot];
}

struct tag *model_tag_by_name(const struct dataset *d, const char *name)
{
	for (size_t i = 0; i < d->ntags; i++) {
		struct tag *t = d->tags[i];

		if (t->live && model_tag_of_server(t) &&
		    !strcmp(t->name, name) && model_component_ok(name))
			return t;
	}
	return NULL;
}

struct tag *model_trash_by_name(const struct dataset *d, const char *name)
{
	for (size_t i = 0; i < d->ntags; i++) {
		struct tag *t = d->tags[i];

		if (t->live && t->trashed && !strcmp(t->name, name))
			return t;
	}
	return NULL;
}

/* A name the server sent twice is shown once, for the tag lookup finds. */
bool model_tag_shown(const struct dataset *d, size_t i)
{
	struct tag *t = d->tags[i];

	return t->live && model_tag_of_server(t) &&
	       model_component_ok(t->name) &&
	       model_tag_by_name(d, t->name) == t;
}

struct tag *model_initial_tag(const struct dataset *d)
{
	for (size_t i = 0; i < d->ntags; i++)
		if (d->tags[i]->live && model_tag_of_server(d->tags[i]) &&
		    !d->tags[i]->prev[0])
			return d->tags[i];
	return NULL;
}

uint64_t model_dataset_ino(const struct dataset *d)
{
	struct inode_ref r = {INODE_KIND_DATASET, d->slot, 0, 0, 0};

	return inode_encode(&r);
}

uint64_t model_trash_ino(const struct dataset *d)
{
	struct inode_ref r = {INODE_KIND_META_TRASH, d->slot, 0, 0, 0};

	return inode_encode(&r);
}

uint64_t model_tag_ino(const struct dataset *d, const struct tag *t,
		       uint32_t folder)
{
	struct inode_ref r = {INODE_KIND_TAG, d->slot, t->slot, folder, 0};

	return inode_encode(&r);
}

/* ---- datasets ---- */

static void dataset_fill(struct dataset *d, struct api_dataset *a)
{
	free(d->name);
	free(d->json);
	free(d->img_type);
	d->name = a->name;
	d->json = a->json;
	d->img_type = a->img_type;
	a->name = a->json = a->img_type = NULL;
	d->created_ms = a->created_at;
	d->modified_ms =
	    a->last_modified_at ? a->last_modified_at : a->created_at;
	d->n_samples = a->n_samples;
}

static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
	size_t c;
	void *p;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 16;
	p = realloc(*v, c * elem);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

static int add_dataset(struct model *m, struct api_dataset *a,
		       struct dataset **out)
{
	struct dataset *d;

	if (m->nds > INODE_MAX_DATASETS)
		return -ENOSPC;
	if (grow((void **)&m->ds, &m->ds_cap, m->nds, sizeof(*m->ds)))
		return -ENOMEM;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->slot = (uint32_t)m->nds;
	d->live = true;
	d->edit_seq = m->seq_base;
	memcpy(d->id, a->id, sizeof(d->id));
	dataset_fill(d, a);
	d->mtime = model_ms_to_ts(d->modified_ms);
	m->ds[m->nds++] = d;
	*out = d;
	return 0;
}

/* Two datasets may share a name; both then show as name@id so that neither
 * hides the other.  Names that cannot be a path component are not shown. */
static int assign_display_names(struct model *m)
{
	for (size_t i = 0; i < m->nds; i++) {
		struct dataset *d = m->ds[i];
		bool dup = false;
		char *disp;

		if (!d->live)
			continue;
		for (size_t j = 0; j < m->nds && !dup; j++)
			dup = j != i && m->ds[j]->live &&
			      !strcmp(m->ds[j]->name, d->name);
		if (dup) {
			if (asprintf(&disp, "%s@%s", d->name, d->id) < 0)
				return -ENOMEM;
		} else if (!(disp = strdup(d->name))) {
			return -ENOMEM;
		}
		if (!model_component_ok(disp)) {
			log_warn("dataset %s: name cannot be a file name; "
				 "not shown",
				 d->id);
			free(disp);
			disp = NULL;
		}
		free(d->display);
		d->display = disp;
	}
	return 0;
}

static void notify_root_names(struct model *m)
{
	for (size_t i = 0; i < m->nds; i++)
		if (m->ds[i]->display)
			notify_push(m->notify, INODE_ROOT, 0,
				    m->ds[i]->display);
}

int model_apply_datasets(struct model *m, struct api_dataset *v, size_t n)
{
	bool changed = false, first = !m->datasets_listed;
	int ret;

	m->datasets_listed = true;
	for (size_t i = 0; i < m->nds; i++)
		m->ds[i]->seen = false;
	for (size_t i = 0; i < n; i++) {
		struct dataset *d = NULL;

		for (size_t j = 0; j < m->nds && !d; j++)
			if (!strcmp(m->ds[j]->id, v[i].id))
				d = m->ds[j];
		if (d) {
			changed |= !d->live || strcmp(d->name, v[i].name);
			d->live = true;
			dataset_fill(d, &v[i]);
		} else {
			ret = add_dataset(m, &v[i], &d);
			if (ret)
				return ret;
			changed = true;
		}
		d->seen = true;
	}
	for (size_t i = 0; i < m->nds; i++) {
		if (m->ds[i]->live && !m->ds[i]->seen) {
			m->ds[i]->live = false;
			changed = true;
		}
	}
	if (!changed)
		return assign_display_names(m);
	m->root_mtime = model_stamp(m);
	/* entries the kernel holds under old names go; new names may have
	 * negative entries cached, from an earlier listing's ENOENT.  Before
	 * the first listing no name was answered either way, and telling the
	 * kernel then would only race with the LOOKUPs this listing answers:
	 * a dentry they just made would be dropped, and with it the listing
	 * the kernel caches under it (sent by another thread, the
	 * invalidation can come after them). */
	notify_root_names(m);
	ret = assign_display_names(m);
	if (!first)
		notify_root_names(m);
	notify_push(m->notify, 0, INODE_ROOT, NULL);
	return ret;
}

/* ---- tags ---- */

static int add_tag(struct model *m, struct dataset *d, struct tag **out)
{
	struct tag *t = model_tag_reuse(d);

	if (t) {
		t->live = true;
		t->mtime = model_stamp(m);
		*out = t;
		return 0;
	}
	if (d->ntags > INODE_MAX_TAGS)
		return -ENOSPC;
	if (grow((void **)&d->tags, &d->tags_cap, d->ntags, sizeof(*d->tags)))
		return -ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->slot = (uint32_t)d->ntags;
	t->live = true;
	t->mtime = model_stamp(m);
	d->tags[d->ntags++] = t;
	*out = t;
	return 0;
}

/* A tag of the mount's own (not in the server's list), named name. */
static int add_local_tag(struct model *m, struct dataset *d, const char *name,
			 struct tag **out)
{
	char *copy = strdup(name);
	int ret = copy ? add_tag(m, d, out) : -ENOMEM;

	if (ret)
		free(copy);
	else
		(*out)->name = copy;
	return ret;
}

int model_add_trash(struct model *m, struct dataset *d, const char *name,
		    struct tag **out)
{
	int ret = add_local_tag(m, d, name, out);

	if (!ret) {
		(*out)->trashed = true;
		(*out)->mask_loaded = true;
	}
	return ret;
}

int model_add_derived(struct model *m, struct dataset *d, const char *name,
		      struct tag **out)
{
	int ret = add_local_tag(m, d, name, out);

	if (!ret)
		(*out)->derived = true;
	return ret;
}

struct tag *model_derived_by_name(const struct dataset *d, const char *name)
{
	for (size_t i = 0; i < d->ntags; i++) {
		struct tag *t = d->tags[i];

		if (t->live && t->derived && !strcmp(t->name, name))
			return t;
	}
	return NULL;
}

void model_notify_derived(struct model *m, struct dataset *d,
			  const struct tag *t)
{
	for (size_t i = 0; i < d->ntags; i++) {
		struct tag *r = d->tags[i];

		if (r->live && r->derived &&
		    (r->arith.a == t->slot || r->arith.b == t->slot))
			notify_push(m->notify, 0, model_tag_ino(d, r, 0), NULL);
	}
}

/* The server changed a tag's samples: every listing of it the kernel
 * holds is stale (its files' own entries expire with the TTL). */
static void notify_tag_listing(struct model *m, struct dataset *d,
			       struct tag *t)
{
	const struct bitmask *f = &t->view.folders;

	notify_push(m->notify, 0, model_tag_ino(d, t, INDEX_ROOT_FOLDER), NULL);
	if (t->view.folders_gen != t->gen + 1)
		return;
	for (size_t i = bitmask_next(f, 1); i != SIZE_MAX;
	     i = bitmask_next(f, i + 1))
		notify_push(m->notify, 0, model_tag_ino(d, t, (uint32_t)i),
			    NULL);
}

static int take_mask(struct tag *t, const char *hex)
{
	struct bitmask b;
	size_t len = strlen(hex);
	size_t max_bits = len > 2 ? (len - 2) * 4 : 0;
	int ret = bitmask_from_hex(&b, hex, len, max_bits);

	if (ret == -ENOMEM)
		return ret;
	bitmask_dispose(&t->mask);
	if (ret) {
		log_warn("tag %s: invalid bitMaskData; its listing fails "
			 "with EIO",
			 t->id);
		bitmask_dispose(&b);
		bitmask_init(&t->mask, 0);
		t->mask_err = -EIO;
	} else {
		t->mask = b;
		t->mask_err = 0;
	}
	return 0;
}

/* A new mask from the server.  The directory gets the server's time when
 * it tells something new; the kernel only needs the mtime to differ. */
static int tag_new_mask(struct model *m, struct dataset *d, struct tag *t,
			const struct api_tag *a, uint64_t hash)
{
	struct timespec srv = model_ms_to_ts(
	    a->last_modified_at ? a->last_modified_at : a->created_at);
	int ret = take_mask(t, a->bitmask);

	if (ret)
		return ret;
	if (t->mask_loaded) {
		notify_tag_listing(m, d, t);
		model_notify_derived(m, d, t);
	}
	if (!t->mask_loaded || srv.tv_sec != t->mtime.tv_sec ||
	    srv.tv_nsec != t->mtime.tv_nsec)
		t->mtime = srv;
	else
		t->mtime = model_stamp(m);
	t->hex_hash = hash;
	t->mask_loaded = true;
	t->gen++;
	return 0;
}

/* Takes the server's view of one tag.  A tag with edits not yet on the
 * server keeps its local mask and name: the server's are older than what
 * the user sees, and the flush will make them equal. */
static int tag_fill(struct model *m, struct dataset *d, struct tag *t,
		    struct api_tag *a, uint64_t since)
{
	uint64_t h = model_hash_str(a->bitmask);
	/* changed by us (an edit, or a send that landed) after the request */
	bool mine = t->edit.seq > since || t->edit.landed_seq > since;
	bool renamed = t->name && strcmp(t->name, a->name) && !mine;

	if (renamed)
		notify_push(m->notify, model_dataset_ino(d), 0, t->name);
	if (!t->name || renamed) {
		free(t->name);
		t->name = a->name;
		a->name = NULL;
	}
	memcpy(t->id, a->id, sizeof(t->id));
	memcpy(t->prev, a->prev_tag_id, sizeof(t->prev));
	t->created_ms = a->created_at;
	t->modified_ms = a->last_modified_at;
	t->tot_size = a->tot_size;
	if ((!t->mask_loaded || (h != t->hex_hash && !mine)) &&
	    !model_tag_busy(t))
		return tag_new_mask(m, d, t, a, h);
	return 0;
}

static bool recently_deleted(const struct dataset *d, const char *id)
{
	for (size_t i = 0; i < MODEL_RECENTLY_DELETED; i++)
		if (!strcmp(d->recently_deleted[i], id))
			return true;
	return false;
}

static struct tag *tag_by_id(const struct dataset *d, const char *id)
{
	for (size_t j = 0; j < d->ntags; j++)
		if (model_tag_of_server(d->tags[j]) &&
		    !strcmp(d->tags[j]->id, id))
			return d->tags[j];
	return NULL;
}

/* Tags the listing no longer has are gone, but one we created may be
 * missing from a listing asked for before the create landed (since: the
 * listing's d->edit_seq); one asked for after is the truth. */
static bool drop_unseen(struct model *m, struct dataset *d, uint64_t since)
{
	bool changed = false;

	for (size_t i = 0; i < d->ntags; i++) {
		struct tag *t = d->tags[i];

		if (t->live && !t->seen && t->created_seq <= since &&
		    !t->trashed) {
			t->live = false;
			changed = true;
			notify_push(m->notify, model_dataset_ino(d), 0,
				    t->name);
		}
	}
	return changed;
}

int model_apply_tags(struct model *m, struct dataset *d, struct api_tag *v,
		     size_t n, uint64_t since)
{
	bool changed = false, first = !d->tags_listed;
	int ret;

	d->tags_listed = true;
	for (size_t i = 0; i < d->ntags; i++)
		d->tags[i]->seen = false;
	for (size_t i = 0; i < n; i++) {
		struct tag *t = tag_by_id(d, v[i].id);

		if (!t) {
			/* a tag we deleted may still be listed by a reply
			 * that raced with the delete; keep it gone */
			if (recently_deleted(d, v[i].id))
				continue;
			ret = add_tag(m, d, &t);
			if (ret)
				return ret;
			changed = true;
		} else if (!t->live) {
			continue;
		} else if (strcmp(t->name, v[i].name) && t->edit.seq <= since &&
			   t->edit.landed_seq <= since) {
			changed = true;
		}
		ret = tag_fill(m, d, t, &v[i], since);
		if (ret)
			return ret;
		t->seen = true;
	}
	changed |= drop_unseen(m, d, since);
	if (!changed)
		return 0;
	d->mtime = model_stamp(m);
	/* a new tag may have a negative entry cached, from an earlier
	 * listing's ENOENT; not before the first (model_apply_datasets) */
	for (size_t i = 0; !first && i < d->ntags; i++)
		if (d->tags[i]->live)
			notify_push(m->notify, model_dataset_ino(d), 0,
				    d->tags[i]->name);
	notify_push(m->notify, 0, model_dataset_ino(d), NULL);
	return 0;
}

void model_expire_all(struct model *m)
{
	cache_expire(&m->ds_load);
	for (size_t i = 0; i < m->nds; i++) {
		struct dataset *d = m->ds[i];

		cache_expire(&d->tags_load);
		cache_expire(&d->index_load);
		notify_push(m->notify, 0, model_dataset_ino(d), NULL);
		for (size_t j = 0; j < d->ntags; j++)
			if (d->tags[j]->live)
				notify_push(m->notify, 0,
					    model_tag_ino(d, d->tags[j], 0),
					    NULL);
	}
	notify_push(m->notify, 0, INODE_ROOT, NULL);
}

void model_forget_tag(struct model *m, struct dataset *d, struct tag *t)
{
	t->live = false;
	t->edit.dirty = false; /* its pending edits go with it */
	memcpy(d->recently_deleted[d->deleted_next], t->id, sizeof(t->id));
	d->deleted_next = (d->deleted_next + 1) % MODEL_RECENTLY_DELETED;
	d->mtime = model_stamp(m);
}

/* ---- cache bound ---- */

size_t model_cache_bytes(const struct model *m)
{
	size_t total = 0;

	for (size_t i = 0; i < m->nds; i++) {
		const struct dataset *d = m->ds[i];

		if (d->index)
			total += index_memory(d->index);
		for (size_t j = 0; j < d->ntags; j++) {
			const struct tag *t = d->tags[j];

			total += (t->mask.nbits + 7) / 8 +
				 (t->edit.server_mask.nbits + 7) / 8 +
				 (t->edit.added.nbits + 7) / 8 +
				 (t->edit.removed.nbits + 7) / 8 +
				 (t->view.folders.nbits + 7) / 8;
		}
	}
	return total;
}

static void drop_index(struct dataset *d)
{
	log_debug("dataset %s: name index evicted (cache bound)", d->id);
	index_free(d->index);
	d->index = NULL;
	d->index_load.fetched_at = 0;
	d->index_load.good_at = 0;
	d->fallback = false;
	for (size_t j = 0; j < d->ntags; j++) {
		d->tags[j]->view.folders_gen = 0;
		d->tags[j]->view.fallback_gen = 0;
	}
}

unsigned model_evict(struct model *m, size_t bound, const struct dataset *keep)
{
	unsigned dropped = 0;

	while (model_cache_bytes(m) > bound) {
		struct dataset *victim = NULL;

		for (size_t i = 0; i < m->nds; i++) {
			struct dataset *d = m->ds[i];

			if (d == keep || !d->index || d->index_users ||
			    d->index_load.busy)
				continue;
			if (!victim || d->last_used < victim->last_used)
				victim = d;
		}
		if (!victim)
			break;
		drop_index(victim);
		dropped++;
	}
	return dropped;
}

/* Tag management and bitmask edits made through the mount.
 *
 * Tags are created, renamed and deleted with one request each, answered
 * only once the server has agreed.  Sample edits (ln, touch, rm, mv of a
 * file) change the tag's mask in memory at once and are sent as the tag's
 * whole new bitMaskData: a burst of edits becomes a handful of PUTs.  A
 * flusher thread sends a tag after a quiet period; fsync, unmount and
 * SIGTERM send at once.  A flush that fails for a passing reason is
 * retried; one the server refuses for good is rolled back in the mount and
 * reported by the next fsync of that tag.
 *
 * Kernel caches learn of our changes through a second thread that only
 * sends invalidations, so that it never waits on a request a handler is
 * serving. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "fs_internal.h"
#include "index.h"
#include "log.h"

/* Synthetic folder ids (mkdir of a path no sample has) sit above any id
 * the index can give out within the inode's 28-bit folder field. */
#define FS_LOCAL_FOLDER_BASE 0x08000000u
#define FS_FLUSH_RETRY_MAX_S 30.0
#define FS_NOTIFY_QUEUE_MAX 65536

/* ---- kernel invalidations ---- */

struct notify_item {
	uint64_t parent; /* 0: invalidate the inode ino only */
	uint64_t ino;
	char name[INDEX_NAME_MAX + 1];
};

void fs_notify_push(struct fs *fs, uint64_t parent, uint64_t ino,
		    const char *name)
{
	struct notify_item *it;

	if (!fs->notify_cb)
		return;
	/* a burst of edits in one folder repeats the same item */
	if (fs->nnotify) {
		it = &fs->notify[fs->nnotify - 1];
		if (it->parent == parent && it->ino == ino &&
		    (!name || !strcmp(it->name, name)))
			return;
	}
	if (fs->nnotify == fs->notify_cap) {
		size_t cap = fs->notify_cap ? fs->notify_cap * 2 : 64;
		struct notify_item *v;

		if (cap > FS_NOTIFY_QUEUE_MAX)
			return; /* the TTL still bounds staleness */
		v = realloc(fs->notify, cap * sizeof(*v));
		if (!v)
			return;
		fs->notify = v;
		fs->notify_cap = cap;
	}
	it = &fs->notify[fs->nnotify++];
	it->parent = parent;
	it->ino = ino;
	it->name[0] = '\0';
	if (name)
		snprintf(it->name, sizeof(it->name), "%s", name);
	pthread_cond_signal(&fs->notify_cond);
}

static void *notify_main(void *arg)
{
	struct fs *fs = arg;

	pthread_mutex_lock(&fs->lock);
	for (;;) {
		struct notify_item *items;
		size_t n;

		while (!fs->nnotify && !fs->stopping)
			pthread_cond_wait(&fs->notify_cond, &fs->lock);
		if (!fs->nnotify && fs->stopping)
			break;
		items = fs->notify;
		n = fs->nnotify;
		fs->notify = NULL;
		fs->nnotify = fs->notify_cap = 0;
		pthread_mutex_unlock(&fs->lock);
		for (size_t i = 0; i < n; i++)
			fs->notify_cb(items[i].parent, items[i].ino,
				      items[i].name, fs->notify_arg);
		free(items);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

void fs_set_notify(struct fs *fs, fs_notify_cb cb, void *arg)
{
	pthread_mutex_lock(&fs->lock);
	fs->notify_cb = cb;
	fs->notify_arg = arg;
	pthread_mutex_unlock(&fs->lock);
}

uint64_t fs_tag_ino(const struct dataset *d, const struct tag *t,
		    uint32_t folder)
{
	struct inode_ref r = { INODE_KIND_TAG, d->slot, t->slot, folder, 0 };

	return inode_encode(&r);
}

/* A sample joined or left t: every folder on its path may have appeared
 * or vanished in t, and their listings changed. */
static void notify_sample(struct fs *fs, struct dataset *d, struct tag *t,
			  uint32_t sample)
{
	uint32_t f = index_parent(d->index, sample);

	while (f != INDEX_NONE && f != INDEX_ROOT_FOLDER) {
		uint32_t p = index_folder_parent(d->index, f);

		fs_notify_push(fs, fs_tag_ino(d, t, p), 0,
			    index_folder_name(d->index, f));
		fs_notify_push(fs, 0, fs_tag_ino(d, t, f), NULL);
		f = p;
	}
	fs_notify_push(fs, 0, fs_tag_ino(d, t, INDEX_ROOT_FOLDER), NULL);
}

/* ---- small helpers ---- */

bool fs_tag_busy(const struct tag *t)
{
	return t->dirty || t->flushing || t->renaming;
}

bool fs_tag_recently_deleted(const struct dataset *d, const char *id)
{
	for (size_t i = 0; i < FS_RECENTLY_DELETED; i++)
		if (!strcmp(d->recently_deleted[i], id))
			return true;
	return false;
}

static const struct local_folder *local_by_id(const struct tag *t,
					      uint32_t folder)
{
	for (size_t i = 0; i < t->nlocal; i++)
		if (t->local[i].id == folder)
			return &t->local[i];
	return NULL;
}

bool fs_local_folder_find(const struct tag *t, uint32_t folder)
{
	return local_by_id(t, folder) != NULL;
}

uint32_t fs_local_folder_lookup(const struct tag *t, uint32_t parent,
				const char *name)
{
	for (size_t i = 0; i < t->nlocal; i++)
		if (t->local[i].parent == parent &&
		    !strcmp(t->local[i].name, name))
			return t->local[i].id;
	return INDEX_NONE;
}

int fs_local_folders_snapshot(const struct tag *t, uint32_t parent,
			      fs_dir_add_cb add, struct fs_dir *dir,
			      const struct inode_ref *dir_ref)
{
	for (size_t i = 0; i < t->nlocal; i++) {
		struct inode_ref r = *dir_ref;
		int ret;

		/* index folders that hold samples are listed already */
		if (t->local[i].parent != parent ||
		    (t->local[i].id < FS_LOCAL_FOLDER_BASE &&
		     bitmask_test(&t->folders, t->local[i].id)))
			continue;
		r.folder = t->local[i].id;
		ret = add(dir, t->local[i].name, &r);
		if (ret)
			return ret;
	}
	return 0;
}

static void local_folders_free(struct tag *t)
{
	for (size_t i = 0; i < t->nlocal; i++) {
		free(t->local[i].name);
		free(t->local[i].path);
	}
	free(t->local);
	t->local = NULL;
	t->nlocal = 0;
}

void fs_tag_edit_dispose(struct tag *t)
{
	local_folders_free(t);
}

/* Resolves parent for a change and takes the lock; on success the lock is
 * held and *d (and *t for tag folders) are set. */
static int begin_change(struct fs *fs, uint64_t parent, struct inode_ref *p,
			struct dataset **d, struct tag **t)
{
	int ret = fs_resolve(fs, parent, p);

	if (ret)
		return ret;
	pthread_mutex_lock(&fs->lock);
	ret = fs_check_ref(fs, p);
	if (ret)
		goto fail;
	*d = NULL;
	*t = NULL;
	switch (p->kind) {
	case INODE_KIND_DATASET:
		*d = fs_dataset(fs, p->ds);
		return 0;
	case INODE_KIND_TAG:
		*d = fs_dataset(fs, p->ds);
		*t = fs_tag(*d, p->tag);
		ret = fs_ensure_tag_listing(fs, *d, *t);
		if (ret)
			goto fail;
		if ((*d)->fallback) {
			/* without the server's index order no mask can be
			 * written */
			ret = -EROFS;
			goto fail;
		}
		return 0;
	default:
		/* datasets and .lightly are not made or changed here */
		ret = -EPERM;
		goto fail;
	}
fail:
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

/* ---- flushing ---- */

static bool transient(int err)
{
	return err == -EIO || err == -ETIMEDOUT || err == -EAGAIN ||
	       err == -ECONNREFUSED || err == -EHOSTUNREACH ||
	       err == -ECONNRESET || err == -ENOMEM;
}

/* Shows the server's mask again.  Entries the kernel cached for samples
 * whose membership flips back are dropped, so a removed file reappears
 * and an added one goes. */
static void roll_back(struct fs *fs, struct dataset *d, struct tag *t)
{
	struct bitmask back, both, gone;

	if (bitmask_init(&back, 0) || bitmask_copy(&back, &t->server_mask)) {
		bitmask_dispose(&back);
		return;
	}
	if (!bitmask_init(&both, 0) && !bitmask_init(&gone, 0) &&
	    !bitmask_difference(&both, &t->mask, &back) &&
	    !bitmask_difference(&gone, &back, &t->mask) &&
	    !bitmask_union(&both, &both, &gone)) {
		for (size_t s = bitmask_next(&both, 0); s != SIZE_MAX;
		     s = bitmask_next(&both, s + 1)) {
			uint32_t f = index_parent(d->index, (uint32_t)s);

			if (f == INDEX_NONE)
				continue;
			fs_notify_push(fs, fs_tag_ino(d, t, f), 0,
				    index_basename(d->index, (uint32_t)s));
			notify_sample(fs, d, t, (uint32_t)s);
		}
	}
	bitmask_dispose(&both);
	bitmask_dispose(&gone);
	bitmask_dispose(&t->mask);
	t->mask = back;
	t->folders_gen = 0;
	t->gen++;
	t->mtime = fs_change_stamp(fs);
}

/* Sends t's mask.  Lock held on entry and exit; dropped for the request. */
static int flush_tag(struct fs *fs, struct dataset *d, struct tag *t)
{
	char ds_id[API_ID_LEN + 1], tag_id[API_ID_LEN + 1];
	struct bitmask sent = { 0 };
	char *hex = NULL, *name = NULL;
	uint64_t gen;
	int ret;

	while (t->flushing || t->renaming)
		pthread_cond_wait(&fs->cond, &fs->lock);
	if (!t->dirty || !t->live)
		return 0;
	ret = bitmask_init(&sent, 0);
	if (!ret)
		ret = bitmask_copy(&sent, &t->mask);
	if (!ret)
		ret = bitmask_to_hex(&t->mask, &hex);
	name = strdup(t->name);
	if (ret || !name) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(ds_id, d->id, sizeof(ds_id));
	memcpy(tag_id, t->id, sizeof(tag_id));
	gen = t->edit_seq;
	t->dirty = false;
	t->flushing = true;
	pthread_mutex_unlock(&fs->lock);
	ret = api_update_tag(fs->api, ds_id, tag_id, name, hex);
	pthread_mutex_lock(&fs->lock);
	t->flushing = false;
	if (!ret) {
		bitmask_dispose(&t->server_mask);
		t->server_mask = sent;
		sent.words = NULL;
		t->hex_hash = fs_hash_str(hex);
		t->retry_delay = 0;
		fs->flushes++;
	} else if (transient(ret) && t->live) {
		t->dirty = true;
		t->retry_delay = t->retry_delay ? t->retry_delay * 2 : 0.5;
		if (t->retry_delay > FS_FLUSH_RETRY_MAX_S)
			t->retry_delay = FS_FLUSH_RETRY_MAX_S;
		t->retry_at = fs_now() + t->retry_delay;
		log_warn("tag %s: edits not sent (%s); retrying in %.1f s",
			 name, strerror(-ret), t->retry_delay);
	} else if (t->live) {
		/* refused for good: show what the server holds */
		log_error("tag %s: the server refused its edits (%s); they "
			  "are rolled back",
			  name, strerror(-ret));
		if (t->edit_seq == gen)
			roll_back(fs, d, t);
		t->dirty = false;
		t->flush_err = -EIO;
		/* whatever made it refuse (a deleted tag?) shows on reload */
		d->tags_load.fetched_at = 0;
	}
	pthread_cond_broadcast(&fs->cond);
out:
	bitmask_dispose(&sent);
	free(hex);
	free(name);
	return ret;
}

static void *flusher_main(void *arg)
{
	struct fs *fs = arg;
	double delay = fs->flush_delay_ms / 1000.0;

	pthread_mutex_lock(&fs->lock);
	while (!fs->stopping) {
		double now = fs_now(), next = now + 1.0;
		struct timespec until;

		for (size_t i = 0; i < fs->nds; i++) {
			struct dataset *d = fs->ds[i];

			for (size_t j = 0; j < d->ntags; j++) {
				struct tag *t = d->tags[j];
				double due;

				if (!t->dirty || t->flushing || !t->live)
					continue;
				due = t->last_edit + delay;
				if (t->retry_at > due)
					due = t->retry_at;
				if (due <= now) {
					flush_tag(fs, d, t);
					/* the lock was dropped: rescan */
					i = fs->nds;
					next = now;
					break;
				}
				if (due < next)
					next = due;
			}
		}
		if (next <= now)
			continue;
		clock_gettime(CLOCK_REALTIME, &until);
		{
			double wait = next - now;
			long ns = until.tv_nsec +
				  (long)((wait - (long)wait) * 1e9);

			until.tv_sec += (time_t)wait + ns / 1000000000L;
			until.tv_nsec = ns % 1000000000L;
		}
		pthread_cond_timedwait(&fs->flush_cond, &fs->lock, &until);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/* Records an edit of t's mask.  Lock held.  With sync_edits the mask is
 * sent before the edit returns. */
static int edited(struct fs *fs, struct dataset *d, struct tag *t,
		  uint32_t sample)
{
	if (!t->dirty && !t->flushing) {
		struct bitmask copy;

		/* the server's state, to roll back to if it refuses */
		if (bitmask_init(&copy, 0) || bitmask_copy(&copy, &t->mask)) {
			bitmask_dispose(&copy);
			return -ENOMEM;
		}
		/* the edit is already applied; undo it in the copy */
		if (bitmask_test(&copy, sample))
			bitmask_clear(&copy, sample);
		else
			bitmask_set(&copy, sample);
		bitmask_dispose(&t->server_mask);
		t->server_mask = copy;
	}
	t->dirty = true;
	t->last_edit = fs_now();
	t->edit_seq = ++d->edit_seq;
	t->gen++;
	t->mtime = fs_change_stamp(fs);
	notify_sample(fs, d, t, sample);
	if (fs->sync_edits) {
		int ret = flush_tag(fs, d, t);

		return ret && !t->dirty ? -EIO : 0;
	}
	pthread_cond_signal(&fs->flush_cond);
	return 0;
}

static int add_local(struct tag *t, uint32_t id, uint32_t parent,
		     const char *name, const char *path)
{
	struct local_folder *v, *lf;

	v = realloc(t->local, (t->nlocal + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->local = v;
	lf = &t->local[t->nlocal];
	lf->name = strdup(name);
	lf->path = strdup(path);
	if (!lf->name || !lf->path) {
		free(lf->name);
		free(lf->path);
		return -ENOMEM;
	}
	lf->id = id;
	lf->parent = parent;
	t->nlocal++;
	return 0;
}

/* A folder emptied by rm stays until rmdir, as on any filesystem (rm -r
 * removes the files first, then the folders). */
static int keep_folders(struct tag *t, struct dataset *d, uint32_t f)
{
	for (; f != INDEX_NONE && f != INDEX_ROOT_FOLDER;
	     f = index_folder_parent(d->index, f)) {
		int ret;

		if (local_by_id(t, f))
			return 0;
		ret = add_local(t, f, index_folder_parent(d->index, f),
				index_folder_name(d->index, f), "");
		if (ret)
			return ret;
	}
	return 0;
}

static int set_sample(struct fs *fs, struct dataset *d, struct tag *t,
		      uint32_t sample, bool on)
{
	int ret;

	if (bitmask_test(&t->mask, sample) == on)
		return 0;
	if (sample >= t->mask.nbits) {
		ret = bitmask_resize(&t->mask, index_count(d->index));
		if (ret)
			return ret;
	}
	if (on) {
		bitmask_set(&t->mask, sample);
	} else {
		bitmask_clear(&t->mask, sample);
		ret = keep_folders(t, d, index_parent(d->index, sample));
		if (ret)
			return ret;
	}
	/* folder membership is recomputed on the next listing */
	t->folders_gen = 0;
	return edited(fs, d, t, sample);
}

int fs_fsync(struct fs *fs, uint64_t ino)
{
	struct inode_ref r;
	int ret = 0, err;

	memset(&r, 0, sizeof(r));
	if (ino && fs_resolve(fs, ino, &r))
		return 0;
	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < fs->nds; i++) {
		struct dataset *d = fs->ds[i];
		bool all = !ino || r.kind == INODE_KIND_ROOT ||
			   r.kind == INODE_KIND_ROOT_META ||
			   r.kind == INODE_KIND_STATS;

		if (!all && d->slot != r.ds)
			continue;
		for (size_t j = 0; j < d->ntags; j++) {
			struct tag *t = d->tags[j];

			/* a file belongs to no one tag: sync the dataset */
			if (r.kind == INODE_KIND_TAG && t->slot != r.tag)
				continue;
			while (t->dirty || t->flushing) {
				err = flush_tag(fs, d, t);
				if (err && t->dirty) {
					/* passing failure: tell the caller */
					ret = ret ? ret : -EIO;
					break;
				}
			}
			if (t->flush_err) {
				ret = ret ? ret : t->flush_err;
				t->flush_err = 0;
			}
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

int fs_edit_start(struct fs *fs)
{
	pthread_cond_init(&fs->flush_cond, NULL);
	pthread_cond_init(&fs->notify_cond, NULL);
	if (pthread_create(&fs->flusher, NULL, flusher_main, fs))
		return -EAGAIN;
	if (pthread_create(&fs->notifier, NULL, notify_main, fs)) {
		pthread_mutex_lock(&fs->lock);
		fs->stopping = true;
		pthread_cond_broadcast(&fs->flush_cond);
		pthread_mutex_unlock(&fs->lock);
		pthread_join(fs->flusher, NULL);
		return -EAGAIN;
	}
	fs->threads_running = true;
	return 0;
}

void fs_edit_stop(struct fs *fs)
{
	if (!fs->threads_running)
		return;
	/* everything edited goes out before the daemon ends; a tag whose
	 * server keeps failing is given up after a few rounds */
	for (int round = 0; round < 3; round++)
		if (!fs_fsync(fs, 0))
			break;
	pthread_mutex_lock(&fs->lock);
	fs->stopping = true;
	fs->notify_cb = NULL;
	pthread_cond_broadcast(&fs->flush_cond);
	pthread_cond_broadcast(&fs->notify_cond);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->flusher, NULL);
	pthread_join(fs->notifier, NULL);
	free(fs->notify);
	fs->notify = NULL;
	fs->threads_running = false;
	for (size_t i = 0; i < fs->nds; i++)
		for (size_t j = 0; j < fs->ds[i]->ntags; j++)
			if (fs->ds[i]->tags[j]->dirty)
				log_error("tag %s: edits could not be sent "
					  "before exit",
					  fs->ds[i]->tags[j]->name);
}

/* ---- tags ---- */

static struct tag *initial_tag(struct dataset *d)
{
	for (size_t i = 0; i < d->ntags; i++)
		if (d->tags[i]->live && !d->tags[i]->prev[0])
			return d->tags[i];
	return NULL;
}

static int check_tag_name(const char *name)
{
	return api_tag_name_valid(name, strlen(name)) ? 0 : -EINVAL;
}

/* Reloads d's tags now (after a change the server made an id for). */
static int reload_tags(struct fs *fs, struct dataset *d)
{
	d->tags_load.fetched_at = 0;
	return fs_ensure_tags(fs, d);
}

static int make_tag(struct fs *fs, struct dataset *d, const char *name,
		    struct stat *st)
{
	char ds_id[API_ID_LEN + 1], id[API_ID_LEN + 1], prev[API_ID_LEN + 1];
	char *img = NULL;
	struct tag *init = initial_tag(d);
	int64_t tot = d->n_samples;
	bool first = !init;
	struct inode_ref r;
	struct tag *t;
	int ret;

	memcpy(ds_id, d->id, sizeof(ds_id));
	if (init)
		memcpy(prev, init->id, sizeof(prev));
	if (!init && d->img_type && !(img = strdup(d->img_type)))
		return -ENOMEM;
	if (init && d->index && index_count(d->index) > tot)
		tot = index_count(d->index);
	if (init && init->tot_size > tot)
		tot = init->tot_size;
	pthread_mutex_unlock(&fs->lock);
	if (first)
		ret = api_create_initial_tag(fs->api, ds_id, name, img, id);
	else
		ret = api_create_tag(fs->api, ds_id, name, prev, "0x0", tot,
				     id);
	pthread_mutex_lock(&fs->lock);
	free(img);
	if (ret)
		return ret;
	d = fs_dataset(fs, r.ds = d->slot);
	if (!d)
		return -ENOENT;
	ret = reload_tags(fs, d);
	t = fs_tag_by_name(d, name);
	if (ret || !t || strcmp(t->id, id))
		return ret ? ret : -EIO;
	t->created_locally = true;
	d->mtime = fs_change_stamp(fs);
	memset(&r, 0, sizeof(r));
	r.kind = INODE_KIND_TAG;
	r.ds = d->slot;
	r.tag = t->slot;
	fs_stat_ref(fs, &r, st);
	return 0;
}

/* The path of a folder inside a tag ("" for the tag itself). */
static int folder_path(struct dataset *d, struct tag *t, uint32_t folder,
		       char *out, size_t outsz)
{
	const struct local_folder *lf = local_by_id(t, folder);
	uint32_t chain[64];
	size_t n = 0, len = 0;

	if (folder >= FS_LOCAL_FOLDER_BASE)
		return lf ? (snprintf(out, outsz, "%s", lf->path) <
					     (int)outsz
				     ? 0
				     : -ENAMETOOLONG)
			  : -ENOENT;
	for (uint32_t f = folder; f != INDEX_ROOT_FOLDER && f != INDEX_NONE;
	     f = index_folder_parent(d->index, f)) {
		if (n == 64)
			return -ENAMETOOLONG;
		chain[n++] = f;
	}
	out[0] = '\0';
	while (n-- > 0) {
		int w = snprintf(out + len, outsz - len, "%s%s",
				 len ? "/" : "",
				 index_folder_name(d->index, chain[n]));

		if (w < 0 || (size_t)w >= outsz - len)
			return -ENAMETOOLONG;
		len += (size_t)w;
	}
	return 0;
}

static int make_local_folder(struct fs *fs, struct dataset *d, struct tag *t,
			     uint32_t parent, const char *name,
			     struct stat *st)
{
	char path[4096], full[4096 + INDEX_NAME_MAX + 2];
	struct inode_ref r;
	uint32_t id;
	char kind;
	int ret;

	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EEXIST;
	ret = folder_path(d, t, parent, path, sizeof(path));
	if (ret)
		return ret;
	if (index_child_lookup(d->index, parent, name, strlen(name), &kind,
			       &id) == 0) {
		if (kind == 'f')
			return -EEXIST; /* a sample has that path */
	} else {
		if (fs->next_local_folder >= INODE_MAX_FOLDERS -
						     FS_LOCAL_FOLDER_BASE)
			return -ENOSPC;
		id = FS_LOCAL_FOLDER_BASE + fs->next_local_folder++;
	}
	snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "/" : "", name);
	ret = add_local(t, id, parent, name, full);
	if (ret)
		return ret;
	t->gen++;
	t->mtime = fs_change_stamp(fs);
	memset(&r, 0, sizeof(r));
	r.kind = INODE_KIND_TAG;
	r.ds = d->slot;
	r.tag = t->slot;
	r.folder = id;
	fs_stat_ref(fs, &r, st);
	return 0;
}

int fs_mkdir(struct fs *fs, uint64_t parent, const char *name,
	     struct stat *st)
{
	struct inode_ref p, c;
	struct dataset *d;
	struct tag *t;
	int ret = begin_change(fs, parent, &p, &d, &t);

	if (ret)
		return ret;
	if (fs_lookup_locked(fs, &p, name, &c) == 0) {
		ret = -EEXIST;
		goto out;
	}
	if (p.kind == INODE_KIND_DATASET) {
		ret = check_tag_name(name);
		if (!ret)
			ret = make_tag(fs, d, name, st);
	} else {
		ret = make_local_folder(fs, d, t, p.folder, name, st);
	}
out:
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

static void forget_tag(struct fs *fs, struct dataset *d, struct tag *t)
{
	t->live = false;
	t->dirty = false; /* its pending edits go with it */
	memcpy(d->recently_deleted[d->deleted_next], t->id, sizeof(t->id));
	d->deleted_next = (d->deleted_next + 1) % FS_RECENTLY_DELETED;
	d->mtime = fs_change_stamp(fs);
	pthread_cond_broadcast(&fs->cond);
}

static int remove_tag(struct fs *fs, struct dataset *d, const char *name)
{
	char ds_id[API_ID_LEN + 1], tag_id[API_ID_LEN + 1];
	struct tag *t = fs_tag_by_name(d, name);
	uint32_t slot;
	int ret;

	if (!t)
		return -ENOENT;
	if (!bitmask_is_empty(&t->mask))
		return -ENOTEMPTY; /* a tag is a curator's work: rm -r first */
	while (t->flushing || t->renaming)
		pthread_cond_wait(&fs->cond, &fs->lock);
	if (!t->live)
		return -ENOENT;
	slot = t->slot;
	memcpy(ds_id, d->id, sizeof(ds_id));
	memcpy(tag_id, t->id, sizeof(tag_id));
	t->renaming = true; /* keeps the flusher off it */
	pthread_mutex_unlock(&fs->lock);
	ret = api_delete_tag(fs->api, ds_id, tag_id);
	pthread_mutex_lock(&fs->lock);
	t = d->tags[slot];
	t->renaming = false;
	pthread_cond_broadcast(&fs->cond);
	if (ret == -ENOENT)
		ret = 0; /* gone already: what rmdir wanted */
	if (ret)
		return ret;
	forget_tag(fs, d, t);
	return 0;
}

static int remove_local_folder(struct fs *fs, struct dataset *d,
			       struct tag *t, uint32_t parent,
			       const char *name)
{
	char kind;
	uint32_t id;
	size_t i;

	if (index_child_lookup(d->index, parent, name, strlen(name), &kind,
			       &id) == 0) {
		if (kind == 'f')
			return bitmask_test(&t->mask, id) ? -ENOTDIR : -ENOENT;
		if (bitmask_test(&t->folders, id))
			return -ENOTEMPTY;
	} else {
		id = fs_local_folder_lookup(t, parent, name);
	}
	for (i = 0; i < t->nlocal && t->local[i].id != id; i++)
		;
	if (i == t->nlocal)
		return -ENOENT;
	if (id < FS_LOCAL_FOLDER_BASE)
		for (size_t j = 0; j < t->nlocal; j++)
			if (t->local[j].parent == id)
				return -ENOTEMPTY;
	for (size_t j = 0; j < t->nlocal; j++)
		if (t->local[j].parent == id)
			return -ENOTEMPTY;
	free(t->local[i].name);
	free(t->local[i].path);
	t->local[i] = t->local[--t->nlocal];
	t->gen++;
	t->mtime = fs_change_stamp(fs);
	(void)d;
	return 0;
}

int fs_rmdir(struct fs *fs, uint64_t parent, const char *name)
{
	struct inode_ref p;
	struct dataset *d;
	struct tag *t;
	int ret = begin_change(fs, parent, &p, &d, &t);

	if (ret)
		return ret;
	if (p.kind == INODE_KIND_DATASET)
		ret = !strcmp(name, FS_META_DIR) ? -EPERM
						  : remove_tag(fs, d, name);
	else
		ret = remove_local_folder(fs, d, t, p.folder, name);
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

static int rename_tag(struct fs *fs, struct dataset *d, const char *name,
		      const char *newname)
{
	char ds_id[API_ID_LEN + 1], tag_id[API_ID_LEN + 1];
	struct tag *t = fs_tag_by_name(d, name);
	char *nn;
	int ret;

	if (!t)
		return -ENOENT;
	if (!strcmp(name, newname))
		return 0;
	ret = check_tag_name(newname);
	if (ret)
		return ret;
	if (fs_tag_by_name(d, newname) || !strcmp(newname, FS_META_DIR))
		return -EEXIST; /* a tag is never replaced */
	nn = strdup(newname);
	if (!nn)
		return -ENOMEM;
	while (t->flushing || t->renaming)
		pthread_cond_wait(&fs->cond, &fs->lock);
	memcpy(ds_id, d->id, sizeof(ds_id));
	memcpy(tag_id, t->id, sizeof(tag_id));
	t->renaming = true;
	pthread_mutex_unlock(&fs->lock);
	/* name only: pending mask edits follow in their own flush */
	ret = api_update_tag(fs->api, ds_id, tag_id, nn, NULL);
	pthread_mutex_lock(&fs->lock);
	t->renaming = false;
	pthread_cond_broadcast(&fs->cond);
	if (ret) {
		free(nn);
		return ret;
	}
	free(t->name);
	t->name = nn;
	t->edit_seq = ++d->edit_seq;
	d->mtime = fs_change_stamp(fs);
	return 0;
}

/* The sample a file name in a tag folder names, if that is its own path.
 * -ENOENT when no sample of the dataset has it. */
static int sample_at(struct dataset *d, uint32_t folder, const char *name,
		     uint32_t *sample)
{
	char kind;
	uint32_t id;

	if (folder >= FS_LOCAL_FOLDER_BASE)
		return -ENOENT;
	if (index_child_lookup(d->index, folder, name, strlen(name), &kind,
			       &id))
		return -ENOENT;
	if (kind != 'f')
		return -EISDIR;
	*sample = id;
	return 0;
}

int fs_rename(struct fs *fs, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags)
{
	struct inode_ref p, np;
	struct dataset *d;
	struct tag *t, *nt;
	uint32_t s, ns;
	int ret;

	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	ret = fs_resolve(fs, newparent, &np);
	if (ret)
		return ret;
	ret = begin_change(fs, parent, &p, &d, &t);
	if (ret)
		return ret;
	if (np.kind != INODE_KIND_DATASET && np.kind != INODE_KIND_TAG) {
		ret = np.kind == INODE_KIND_ROOT ? -EXDEV : -EPERM;
		goto out;
	}
	if (np.ds != p.ds) {
		ret = -EXDEV;
		goto out;
	}
	if (p.kind == INODE_KIND_DATASET) {
		/* a tag moves only within its dataset, under a new name */
		ret = np.kind == INODE_KIND_DATASET
			      ? rename_tag(fs, d, name, newname)
			      : -EINVAL;
		goto out;
	}
	if (np.kind != INODE_KIND_TAG) {
		ret = -EINVAL;
		goto out;
	}
	nt = fs_tag(d, np.tag);
	if (!nt) {
		ret = -ENOENT;
		goto out;
	}
	ret = fs_ensure_tag_listing(fs, d, nt);
	if (ret)
		goto out;
	t = fs_tag(d, p.tag);
	if (!t) {
		ret = -ENOENT;
		goto out;
	}
	ret = sample_at(d, p.folder, name, &s);
	if (ret == -EISDIR) {
		ret = -EINVAL; /* moving folders between tags: not yet */
		goto out;
	}
	if (ret || !bitmask_test(&t->mask, s)) {
		ret = -ENOENT;
		goto out;
	}
	/* a file keeps its path: the sample's name is not ours to change */
	if (sample_at(d, np.folder, newname, &ns) || ns != s) {
		ret = -EINVAL;
		goto out;
	}
	if (nt == t)
		goto out;
	ret = set_sample(fs, d, nt, s, true);
	if (!ret)
		ret = set_sample(fs, d, t, s, false);
out:
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

int fs_unlink(struct fs *fs, uint64_t parent, const char *name)
{
	struct inode_ref p;
	struct dataset *d;
	struct tag *t;
	uint32_t s;
	int ret = begin_change(fs, parent, &p, &d, &t);

	if (ret)
		return ret;
	if (p.kind != INODE_KIND_TAG) {
		ret = -EPERM;
		goto out;
	}
	ret = sample_at(d, p.folder, name, &s);
	if (!ret && !bitmask_test(&t->mask, s))
		ret = -ENOENT;
	if (!ret)
		ret = set_sample(fs, d, t, s, false);
out:
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

static void stat_sample(struct fs *fs, struct dataset *d, uint32_t s,
			struct stat *st)
{
	struct inode_ref r;

	memset(&r, 0, sizeof(r));
	r.kind = INODE_KIND_FILE;
	r.ds = d->slot;
	r.sample = s;
	fs_stat_ref(fs, &r, st);
}

int fs_link(struct fs *fs, uint64_t ino, uint64_t newparent,
	    const char *newname, struct stat *st)
{
	struct inode_ref src, p;
	struct dataset *d;
	struct tag *t;
	uint32_t s;
	int ret = fs_resolve(fs, ino, &src);

	if (ret)
		return ret;
	ret = begin_change(fs, newparent, &p, &d, &t);
	if (ret)
		return ret;
	if (src.kind != INODE_KIND_FILE || p.kind != INODE_KIND_TAG) {
		ret = -EPERM;
		goto out;
	}
	if (src.ds != p.ds) {
		ret = -EXDEV;
		goto out;
	}
	/* the link must be the sample's own path in the new tag */
	if (sample_at(d, p.folder, newname, &s) || s != src.sample) {
		ret = -EINVAL;
		goto out;
	}
	if (bitmask_test(&t->mask, s)) {
		ret = -EEXIST;
		goto out;
	}
	ret = set_sample(fs, d, t, s, true);
	if (!ret)
		stat_sample(fs, d, s, st);
out:
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

int fs_create(struct fs *fs, uint64_t parent, const char *name,
	      struct stat *st)
{
	struct inode_ref p;
	struct dataset *d;
	struct tag *t;
	uint32_t s;
	int ret = begin_change(fs, parent, &p, &d, &t);

	if (ret)
		return ret;
	if (p.kind != INODE_KIND_TAG) {
		ret = -EPERM;
		goto out;
	}
	ret = sample_at(d, p.folder, name, &s);
	if (ret == -EISDIR)
		ret = -EEXIST;
	if (!ret)
		ret = set_sample(fs, d, t, s, true);
	if (!ret)
		stat_sample(fs, d, s, st);
out:
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

/* Pending masks, the flusher thread, the PUT and its rollback (edits.h).
 * Lock held on entry and exit of everything here; flush_tag drops it for
 * the request through cache_unlocked. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "fs_ctx.h"
#include "http.h"
#include "index.h"
#include "log.h"
#include "tagview.h"

#define EDITS_RETRY_MAX_S 30.0
#define EDITS_STOP_ROUNDS 3

void edits_init(struct edits *e, bool sync, unsigned delay_ms)
{
	memset(e, 0, sizeof(*e));
	e->sync = sync;
	e->delay_ms = delay_ms;
	pthread_cond_init(&e->cond, NULL);
}

bool edits_wire_begin(struct fs *fs, struct tag *t)
{
	while (t->edit.flushing || t->edit.on_wire)
		cache_wait(&fs->cache);
	if (!t->live)
		return false;
	t->edit.on_wire = true;
	return true;
}

void edits_wire_end(struct fs *fs, struct tag *t)
{
	t->edit.on_wire = false;
	cache_wake(&fs->cache);
}

/* Shows the server's mask again.  Entries the kernel cached for samples
 * whose membership flips back are dropped, so a removed file reappears
 * and an added one goes. */
static void roll_back(struct fs *fs, struct dataset *d, struct tag *t)
{
	struct bitmask back, both, gone;

	if (bitmask_init(&back, 0) ||
	    bitmask_copy(&back, &t->edit.server_mask)) {
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
			notify_push(&fs->notify, model_tag_ino(d, t, f), 0,
				    index_basename(d->index, (uint32_t)s));
			tagview_notify_sample(fs, d, t, (uint32_t)s);
		}
	}
	bitmask_dispose(&both);
	bitmask_dispose(&gone);
	bitmask_dispose(&t->mask);
	t->mask = back;
	tagview_invalidate(t);
	t->gen++;
	t->mtime = model_stamp(&fs->model);
}

struct put {
	struct api *api;
	char ds_id[API_ID_LEN + 1], tag_id[API_ID_LEN + 1];
	char *name, *hex;
};

static int put_fetch(void *arg)
{
	struct put *p = arg;

	return api_update_tag(p->api, p->ds_id, p->tag_id, p->name, p->hex);
}

static void flush_failed(struct fs *fs, struct dataset *d, struct tag *t,
			 int err, uint64_t seq, const char *name)
{
	if (!t->live)
		return;
	if (http_errno_transient(err)) {
		struct tag_edit *e = &t->edit;

		e->dirty = true;
		e->retry_delay = e->retry_delay ? e->retry_delay * 2 : 0.5;
		if (e->retry_delay > EDITS_RETRY_MAX_S)
			e->retry_delay = EDITS_RETRY_MAX_S;
		e->retry_at = cache_now() + e->retry_delay;
		log_warn("tag %s: edits not sent (%s); retrying in %.1f s",
			 name, strerror(-err), e->retry_delay);
		return;
	}
	/* refused for good: show what the server holds */
	log_error("tag %s: the server refused its edits (%s); they are "
		  "rolled back",
		  name, strerror(-err));
	if (t->edit.seq == seq)
		roll_back(fs, d, t);
	t->edit.dirty = false;
	t->edit.flush_err = -EIO;
	/* whatever made it refuse (a deleted tag?) shows on reload */
	cache_expire(&d->tags_load);
}

/* Sends t's mask.  Lock held on entry and exit; dropped for the request. */
static int flush_tag(struct fs *fs, struct dataset *d, struct tag *t)
{
	struct put p = { .api = fs->api };
	struct bitmask sent = { 0 };
	uint64_t seq;
	int ret;

	while (t->edit.flushing || t->edit.on_wire)
		cache_wait(&fs->cache);
	if (!t->edit.dirty || !t->live)
		return 0;
	ret = bitmask_init(&sent, 0);
	if (!ret)
		ret = bitmask_copy(&sent, &t->mask);
	if (!ret)
		ret = bitmask_to_hex(&t->mask, &p.hex);
	p.name = strdup(t->name);
	if (ret || !p.name) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(p.ds_id, d->id, sizeof(p.ds_id));
	memcpy(p.tag_id, t->id, sizeof(p.tag_id));
	seq = t->edit.seq;
	t->edit.dirty = false;
	t->edit.flushing = true;
	ret = cache_unlocked(&fs->cache, put_fetch, &p);
	t->edit.flushing = false;
	if (!ret) {
		bitmask_dispose(&t->edit.server_mask);
		t->edit.server_mask = sent;
		sent.words = NULL;
		t->hex_hash = model_hash_str(p.hex);
		t->edit.retry_delay = 0;
		fs->edits.flushes++;
	} else {
		flush_failed(fs, d, t, ret, seq, p.name);
	}
	cache_wake(&fs->cache);
out:
	bitmask_dispose(&sent);
	free(p.hex);
	free(p.name);
	return ret;
}

/* When t is due, or 0 when nothing of it waits. */
static double due_at(const struct fs *fs, const struct tag *t)
{
	double due;

	if (!t->edit.dirty || t->edit.flushing || !t->live)
		return 0;
	due = t->edit.last_edit + fs->edits.delay_ms / 1000.0;
	return t->edit.retry_at > due ? t->edit.retry_at : due;
}

/* Flushes the first due tag.  True when it did (the lock was dropped, so
 * the caller scans again); else *next is the earliest due time. */
static bool flush_one_due(struct fs *fs, double now, double *next)
{
	for (size_t i = 0; i < fs->model.nds; i++) {
		struct dataset *d = fs->model.ds[i];

		for (size_t j = 0; j < d->ntags; j++) {
			double due = due_at(fs, d->tags[j]);

			if (!due)
				continue;
			if (due <= now) {
				flush_tag(fs, d, d->tags[j]);
				return true;
			}
			if (due < *next)
				*next = due;
		}
	}
	return false;
}

static void wait_until(struct fs *fs, double wait)
{
	struct timespec until;
	long ns;

	clock_gettime(CLOCK_REALTIME, &until);
	ns = until.tv_nsec + (long)((wait - (long)wait) * 1e9);
	until.tv_sec += (time_t)wait + ns / 1000000000L;
	until.tv_nsec = ns % 1000000000L;
	pthread_cond_timedwait(&fs->edits.cond, &fs->lock, &until);
}

static void *flusher_main(void *arg)
{
	struct fs *fs = arg;

	pthread_mutex_lock(&fs->lock);
	while (!fs->edits.stopping) {
		double now = cache_now(), next = now + 1.0;

		if (flush_one_due(fs, now, &next))
			continue;
		wait_until(fs, next - now);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/* Records an edit of t's mask, already applied.  With sync_edits the mask
 * is sent before the edit returns. */
static int record_edit(struct fs *fs, struct dataset *d, struct tag *t,
		       uint32_t sample)
{
	if (!t->edit.dirty && !t->edit.flushing) {
		struct bitmask copy;

		/* the server's state, to roll back to if it refuses */
		if (bitmask_init(&copy, 0) || bitmask_copy(&copy, &t->mask)) {
			bitmask_dispose(&copy);
			return -ENOMEM;
		}
		if (bitmask_test(&copy, sample))
			bitmask_clear(&copy, sample);
		else
			bitmask_set(&copy, sample);
		bitmask_dispose(&t->edit.server_mask);
		t->edit.server_mask = copy;
	}
	t->edit.dirty = true;
	t->edit.last_edit = cache_now();
	t->edit.seq = ++d->edit_seq;
	t->gen++;
	t->mtime = model_stamp(&fs->model);
	tagview_notify_sample(fs, d, t, sample);
	if (fs->edits.sync) {
		int ret = flush_tag(fs, d, t);

		return ret && !t->edit.dirty ? -EIO : 0;
	}
	pthread_cond_signal(&fs->edits.cond);
	return 0;
}

int edits_set_sample(struct fs *fs, struct dataset *d, struct tag *t,
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
		ret = localdir_keep_path(&t->local, d->index,
					 index_parent(d->index, sample));
		if (ret)
			return ret;
	}
	tagview_invalidate(t);
	return record_edit(fs, d, t, sample);
}

/* Sends t until nothing of it waits; a passing failure is told as EIO, a
 * refused earlier flush as what it was, once. */
static int fsync_tag(struct fs *fs, struct dataset *d, struct tag *t)
{
	int ret = 0;

	while (t->edit.dirty || t->edit.flushing) {
		if (flush_tag(fs, d, t) && t->edit.dirty) {
			ret = -EIO;
			break;
		}
	}
	if (t->edit.flush_err) {
		ret = ret ? ret : t->edit.flush_err;
		t->edit.flush_err = 0;
	}
	return ret;
}

int edits_fsync(struct fs *fs, struct dataset *only, uint32_t slot)
{
	int ret = 0, err;

	for (size_t i = 0; i < fs->model.nds; i++) {
		struct dataset *d = fs->model.ds[i];

		if (only && d != only)
			continue;
		for (size_t j = 0; j < d->ntags; j++) {
			if (slot != UINT32_MAX && d->tags[j]->slot != slot)
				continue;
			err = fsync_tag(fs, d, d->tags[j]);
			ret = ret ? ret : err;
		}
	}
	return ret;
}

size_t edits_pending(const struct fs *fs)
{
	size_t n = 0;

	for (size_t i = 0; i < fs->model.nds; i++)
		for (size_t j = 0; j < fs->model.ds[i]->ntags; j++)
			n += fs->model.ds[i]->tags[j]->edit.dirty;
	return n;
}

int edits_start(struct fs *fs)
{
	if (pthread_create(&fs->edits.flusher, NULL, flusher_main, fs))
		return -EAGAIN;
	fs->edits.running = true;
	return 0;
}

void edits_stop(struct fs *fs)
{
	if (!fs->edits.running)
		return;
	pthread_mutex_lock(&fs->lock);
	/* everything edited goes out before the daemon ends; a tag whose
	 * server keeps failing is given up after a few rounds */
	for (int round = 0; round < EDITS_STOP_ROUNDS; round++)
		if (!edits_fsync(fs, NULL, UINT32_MAX))
			break;
	fs->edits.stopping = true;
	pthread_cond_broadcast(&fs->edits.cond);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->edits.flusher, NULL);
	fs->edits.running = false;
	for (size_t i = 0; i < fs->model.nds; i++)
		for (size_t j = 0; j < fs->model.ds[i]->ntags; j++)
			if (fs->model.ds[i]->tags[j]->edit.dirty)
				log_error("tag %s: edits could not be sent "
					  "before exit",
					  fs->model.ds[i]->tags[j]->name);
}

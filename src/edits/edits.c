/* Recording edits, the flusher thread, fsync and shutdown (edits.h).  The
 * send, the settling of its outcomes (edits_settled among them) and the
 * mask helpers are edits_send.c's, which never calls back here.  Lock held
 * on entry and exit of everything here; flushes drop it for their requests
 * through cache_unlocked. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edits_send.h"
#include "edits_verify.h"
#include "fs_ctx.h"
#include "index.h"
#include "journal.h"
#include "log.h"
#include "tagview.h"

/* rm -r removes the files, then the directory: a tag emptied by removals
 * waits this long for the rmdir, which may be refused (another tag's
 * parent), so that a refused rm -r leaves the tag as the server had it */
#define EDITS_EMPTIED_GRACE_S 3.0

void edits_init(struct edits *e, bool sync, unsigned delay_ms)
{
	memset(e, 0, sizeof(*e));
	e->sync = sync;
	e->delay_ms = delay_ms;
	e->grace_s = EDITS_EMPTIED_GRACE_S;
	edits_writer_id(e->writer);
	pthread_cond_init(&e->cond, NULL);
}

void edits_dispose(struct edits *e)
{
	free(e->moves);
	e->moves = NULL;
	e->nmoves = e->moves_cap = 0;
	pthread_cond_destroy(&e->cond);
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

/* ---- recording ---- */

/* sample must be in t (on) or out of it: the delta holds the wanted state
 * of every sample touched, never a toggle that cancels out, since a send
 * that failed may still have reached the server (a cut answer, a
 * deadline): the next send then makes the server agree either way. */
static int delta_put(struct dataset *d, struct tag *t, uint32_t sample, bool on)
{
	struct tag_edit *e = &t->edit;
	struct bitmask *undo = on ? &e->removed : &e->added;
	struct bitmask *todo = on ? &e->added : &e->removed;
	int ret;

	if (bitmask_test(undo, sample))
		bitmask_clear(undo, sample);
	ret = bitmask_put(todo, sample, true, index_count(d->index));
	e->dirty =
	    !bitmask_is_empty(&e->added) || !bitmask_is_empty(&e->removed);
	return ret;
}

static int record_edit(struct fs *fs, struct dataset *d, struct tag *t,
		       uint32_t sample, bool on)
{
	struct tag_edit *e = &t->edit;
	int ret;

	if (!e->dirty && !e->flushing) {
		/* what the server held, to show again if it refuses */
		ret = bitmask_copy(&e->server_mask, &t->mask);
		if (ret)
			return ret;
		bitmask_put(&e->server_mask, sample, !on,
			    index_count(d->index));
	}
	ret = delta_put(d, t, sample, on);
	if (ret)
		return ret;
	e->last_edit = cache_now();
	e->emptied_at = !on && bitmask_is_empty(&t->mask) ? e->last_edit : 0;
	e->seq = ++d->edit_seq;
	t->gen++;
	t->mtime = model_stamp(&fs->model);
	tagview_notify_sample(fs, d, t, sample);
	model_notify_derived(&fs->model, d, t);
	if (fs->edits.sync)
		return edits_flush(fs, d, t, true);
	pthread_cond_signal(&fs->edits.cond);
	return 0;
}

int edits_set_sample(struct fs *fs, struct dataset *d, struct tag *t,
		     uint32_t sample, bool on)
{
	int ret;

	if (bitmask_test(&t->mask, sample) == on)
		return 0;
	/* on disk before the syscall returns: kill -9 loses nothing */
	ret = fs->journal ? journal_edit(fs->journal, d->id, t->id,
					 d->edit_seq + 1, sample, on)
			  : 0;
	if (ret) {
		log_error("tag %s: edit not recorded in the journal (%s)",
			  t->name, strerror(-ret));
		return ret == -EINVAL ? -EIO : ret;
	}
	ret = bitmask_put(&t->mask, sample, on, index_count(d->index));
	if (!ret && !on)
		ret = localdir_keep_path(&t->local, d->index,
					 index_parent(d->index, sample));
	if (ret)
		return ret;
	tagview_invalidate(t);
	return record_edit(fs, d, t, sample, on);
}

static int add_move(struct edits *e, const struct dataset *d,
		    const struct tag *src, const struct tag *dst,
		    uint32_t sample)
{
	struct edit_move *m;

	if (e->nmoves == e->moves_cap) {
		size_t cap = e->moves_cap ? e->moves_cap * 2 : 64;
		struct edit_move *v = realloc(e->moves, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		e->moves = v;
		e->moves_cap = cap;
	}
	m = &e->moves[e->nmoves++];
	m->ds = d->slot;
	m->src = src->slot;
	m->dst = dst->slot;
	m->sample = sample;
	m->dst_seq = dst->edit.seq;
	return 0;
}

bool edits_names_tag(const struct edits *e, uint32_t ds, uint32_t slot)
{
	for (size_t i = 0; i < e->nmoves; i++)
		if (e->moves[i].ds == ds &&
		    (e->moves[i].src == slot || e->moves[i].dst == slot))
			return true;
	return false;
}

int edits_move_sample(struct fs *fs, struct dataset *d, struct tag *src,
		      struct tag *dst, uint32_t sample)
{
	int ret = edits_set_sample(fs, d, dst, sample, true);

	/* with sync_edits the add is on the server already */
	if (!ret && !fs->edits.sync && dst->edit.seq > dst->edit.sent_seq)
		ret = add_move(&fs->edits, d, src, dst, sample);
	if (ret)
		return ret;
	return edits_set_sample(fs, d, src, sample, false);
}

void edits_drop_pending(struct fs *fs, struct dataset *d, struct tag *t)
{
	struct edits *e = &fs->edits;

	if (!t->edit.dirty)
		return;
	bitmask_dispose(&t->edit.added);
	bitmask_dispose(&t->edit.removed);
	t->edit.dirty = false;
	t->edit.emptied_at = 0;
	t->edit.sent_seq = t->edit.seq;
	edits_settled(fs, d, t, t->edit.seq);
	edits_show(fs, d, t, &t->edit.server_mask);
	for (size_t i = 0; i < e->nmoves; i++)
		if (e->moves[i].ds == d->slot && e->moves[i].src == t->slot)
			e->moves[i--] = e->moves[--e->nmoves];
	log_info("tag %s: its unsent removals are dropped; it keeps its "
		 "samples",
		 t->name);
}

/* ---- the flusher ---- */

/* When t is due, or 0 when nothing of it waits. */
static double due_at(const struct fs *fs, const struct tag *t)
{
	const struct tag_edit *e = &t->edit;
	double due;

	if (!e->dirty || e->flushing || !t->live)
		return 0;
	due = e->last_edit + fs->edits.delay_ms / 1000.0;
	if (e->retry_at > due)
		due = e->retry_at;
	if (e->emptied_at && bitmask_is_empty(&t->mask) &&
	    e->emptied_at + fs->edits.grace_s > due)
		due = e->emptied_at + fs->edits.grace_s;
	return due;
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
				edits_flush(fs, d, d->tags[j], false);
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

/* At least once a second: a power cut loses at most that second. */
static void sync_journal(struct fs *fs)
{
	int ret;

	if (!fs->journal)
		return;
	pthread_mutex_unlock(&fs->lock);
	ret = journal_sync(fs->journal);
	pthread_mutex_lock(&fs->lock);
	if (ret)
		log_error("journal %s: %s", journal_path(fs->journal),
			  strerror(-ret));
}

static void *flusher_main(void *arg)
{
	struct fs *fs = arg;

	double synced = 0;

	pthread_mutex_lock(&fs->lock);
	while (!fs->edits.stopping) {
		double now = cache_now(), next = now + 1.0;

		/* even while flushes keep it busy */
		if (now - synced >= 1.0) {
			sync_journal(fs);
			synced = now;
		}
		if (flush_one_due(fs, now, &next))
			continue;
		wait_until(fs, next - now);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/* ---- fsync and shutdown ---- */

/* Sends t until nothing of it waits; a passing failure is told as EIO, a
 * refused earlier flush as what it was, once. */
static int fsync_tag(struct fs *fs, struct dataset *d, struct tag *t)
{
	int ret = 0;

	while (t->live && (t->edit.dirty || t->edit.flushing)) {
		if (edits_flush(fs, d, t, false) && t->edit.dirty) {
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

	sync_journal(fs);
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

void edits_count(const struct fs *fs, struct edits_counts *out)
{
	double now = cache_now();

	memset(out, 0, sizeof(*out));
	out->moves = fs->edits.nmoves;
	for (size_t i = 0; i < fs->model.nds; i++) {
		const struct dataset *d = fs->model.ds[i];

		for (size_t j = 0; j < d->ntags; j++) {
			const struct tag_edit *e = &d->tags[j]->edit;

			out->pending += e->dirty || e->flushing;
			out->in_flight += e->flushing;
			out->retrying += e->dirty && e->retry_at > now;
		}
	}
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
	fs->edits.stopping = true;
	pthread_cond_broadcast(&fs->edits.cond);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->edits.flusher, NULL);
	fs->edits.running = false;
}

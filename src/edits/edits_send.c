/* One tag's delta on the wire: read the tag as the server holds it, apply
 * the delta, PUT the result under the server's current name, and settle
 * the answer (edits.h says what each outcome does), down to the journal
 * forgetting the settled edits (edits_settled).  Also edits_show, which
 * edits.c records with. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "edits_send.h"
#include "edits_verify.h"
#include "fs_ctx.h"
#include "http.h"
#include "index.h"
#include "journal.h"
#include "log.h"
#include "tagview.h"

#define EDITS_RETRY_MAX_S 30.0
#define EDITS_HELD_RETRY_S 0.2
#define EDITS_OFFLINE_RETRY_S 1.0

/* One sample's membership changed in what the kernel may have cached. */
static void notify_flip(struct fs *fs, struct dataset *d, struct tag *t,
			uint32_t s)
{
	uint32_t f = index_parent(d->index, s);

	if (f == INDEX_NONE)
		return;
	notify_push(&fs->notify, model_tag_ino(d, t, f), 0,
		    index_basename(d->index, s));
	tagview_notify_sample(fs, d, t, s);
}

int edits_show(struct fs *fs, struct dataset *d, struct tag *t,
	       const struct bitmask *base)
{
	struct bitmask next = {0}, flips = {0}, tmp = {0};
	int ret;

	ret = bitmask_difference(&next, base, &t->edit.removed);
	if (!ret)
		ret = bitmask_union(&next, &next, &t->edit.added);
	if (!ret && bitmask_equal(&next, &t->mask))
		goto out;
	if (!ret)
		ret = bitmask_difference(&flips, &next, &t->mask);
	if (!ret)
		ret = bitmask_difference(&tmp, &t->mask, &next);
	if (!ret)
		ret = bitmask_union(&flips, &flips, &tmp);
	if (ret)
		goto out;
	for (size_t s = bitmask_next(&flips, 0); s != SIZE_MAX;
	     s = bitmask_next(&flips, s + 1))
		notify_flip(fs, d, t, (uint32_t)s);
	bitmask_dispose(&t->mask);
	t->mask = next;
	next.words = NULL;
	tagview_invalidate(t);
	t->gen++;
	t->mtime = model_stamp(&fs->model);
out:
	bitmask_dispose(&next);
	bitmask_dispose(&flips);
	bitmask_dispose(&tmp);
	return ret;
}

/* ---- the request ---- */

static int flush_fetch(void *arg)
{
	struct flush_job *j = arg;
	struct bitmask sent = {0};
	char *name = NULL;
	int ret = edits_read_server(j, &name);

	if (!ret)
		ret = bitmask_union(&sent, &j->srv, &j->add);
	if (!ret)
		ret = bitmask_difference(&sent, &sent, &j->rem);
	if (!ret && !bitmask_equal(&sent, &j->srv)) {
		ret = bitmask_to_hex(&sent, &j->hex);
		if (!ret && j->history)
			edits_stamp(j, &sent);
		if (!ret)
			ret = api_update_tag(j->api, j->ds_id, j->tag_id, name,
					     j->hex,
					     j->history ? &j->stamp : NULL);
		if (!ret) {
			bitmask_dispose(&j->srv);
			j->srv = sent;
			sent.words = NULL;
		}
		if (!ret && j->history)
			ret = edits_verify(j, name);
	}
	bitmask_dispose(&sent);
	free(name);
	return ret;
}

/* ---- moves: a removal waits for its add ---- */

static bool move_confirmed(const struct dataset *d, const struct edit_move *m)
{
	const struct tag *dst = d->tags[m->dst];

	return dst->live && dst->edit.sent_seq >= m->dst_seq;
}

static void drop_move(struct edits *e, size_t i)
{
	e->moves[i] = e->moves[--e->nmoves];
}

/* Flushes the targets of t's moves first; true once none is pending. */
static void flush_move_targets(struct fs *fs, struct dataset *d, struct tag *t,
			       bool force)
{
	struct edits *e = &fs->edits;
	struct bitmask tried = {0};

	/* each target once: one that fails now is retried with t later */
	for (size_t i = 0; i < e->nmoves; i++) {
		struct edit_move *m = &e->moves[i];
		struct tag *dst;

		if (m->ds != d->slot || m->src != t->slot ||
		    move_confirmed(d, m) || bitmask_test(&tried, m->dst))
			continue;
		dst = d->tags[m->dst];
		/* one waiting out its backoff is left to its own retry */
		if (!dst->live || dst->edit.visiting ||
		    !(dst->edit.dirty || dst->edit.flushing) ||
		    (!force && dst->edit.retry_at > cache_now()))
			continue;
		if (bitmask_put(&tried, m->dst, true, d->ntags))
			break;
		edits_flush(fs, d, dst, false);
		i = (size_t)-1; /* the lock was dropped: scan again */
	}
	bitmask_dispose(&tried);
}

/* Samples whose removal from t must wait; settled moves go. */
static int held_removals(struct fs *fs, struct dataset *d, struct tag *t,
			 struct bitmask *held)
{
	struct edits *e = &fs->edits;
	int ret = bitmask_init(held, 0);

	for (size_t i = 0; !ret && i < e->nmoves; i++) {
		struct edit_move *m = &e->moves[i];

		if (m->ds != d->slot || m->src != t->slot)
			continue;
		if (move_confirmed(d, m)) {
			drop_move(e, i--);
			continue;
		}
		if (bitmask_test(&t->edit.removed, m->sample))
			ret = bitmask_put(held, m->sample, true,
					  t->edit.removed.nbits);
	}
	return ret;
}

/* The add of a move into t was refused or t is gone: the sample stays in
 * its source, whose removal was never sent. */
static void cancel_moves_into(struct fs *fs, struct dataset *d, struct tag *t,
			      uint64_t upto)
{
	struct edits *e = &fs->edits;

	for (size_t i = 0; i < e->nmoves; i++) {
		struct edit_move *m = &e->moves[i];
		struct tag *src;

		if (m->ds != d->slot || m->dst != t->slot || m->dst_seq > upto)
			continue;
		src = d->tags[m->src];
		if (src->live && bitmask_test(&src->edit.removed, m->sample)) {
			bitmask_clear(&src->edit.removed, m->sample);
			src->edit.dirty = !bitmask_is_empty(&src->edit.added) ||
					  !bitmask_is_empty(&src->edit.removed);
			edits_show(fs, d, src, &src->edit.server_mask);
		}
		drop_move(e, i--);
	}
}

/* ---- outcomes ---- */

void edits_settled(struct fs *fs, struct dataset *d, struct tag *t,
		   uint64_t seq)
{
	int ret =
	    fs->journal ? journal_done(fs->journal, d->id, t->id, seq) : 0;

	if (ret)
		log_error("tag %s: journal: %s", t->name, strerror(-ret));
}

static void flush_done(struct fs *fs, struct dataset *d, struct tag *t,
		       struct flush_job *j)
{
	bitmask_dispose(&t->edit.server_mask);
	t->edit.server_mask = j->srv;
	j->srv.words = NULL;
	t->edit.sent_seq = j->seq;
	t->edit.retry_delay = 0;
	/* a removal still waiting for its add keeps its journal record */
	if (!j->held)
		edits_settled(fs, d, t, j->seq);
	if (j->hex) {
		t->hex_hash = model_hash_str(j->hex);
		fs->edits.flushes++;
	}
	/* what others changed meanwhile shows at once */
	edits_show(fs, d, t, &t->edit.server_mask);
}

/* Puts the delta that was on the wire back under the one made since. */
static int merge_back(struct tag *t, struct flush_job *j)
{
	struct tag_edit *e = &t->edit;
	int ret = bitmask_difference(&j->add, &j->add, &e->removed);

	if (!ret)
		ret = bitmask_union(&e->added, &e->added, &j->add);
	if (!ret)
		ret = bitmask_difference(&j->rem, &j->rem, &e->added);
	if (!ret)
		ret = bitmask_union(&e->removed, &e->removed, &j->rem);
	e->dirty = true;
	return ret;
}

static void flush_retry(struct tag *t, struct flush_job *j, int err)
{
	struct tag_edit *e = &t->edit;

	if (merge_back(t, j))
		log_error("tag %s: out of memory keeping its edits", t->name);
	e->retry_delay = e->retry_delay ? e->retry_delay * 2 : 0.5;
	if (e->retry_delay > EDITS_RETRY_MAX_S)
		e->retry_delay = EDITS_RETRY_MAX_S;
	e->retry_at = cache_now() + e->retry_delay;
	log_warn("tag %s: edits not sent (%s); retrying in %.1f s", t->name,
		 strerror(-err), e->retry_delay);
}

static void flush_refused(struct fs *fs, struct dataset *d, struct tag *t,
			  struct flush_job *j, int err)
{
	log_error("tag %s: the server refused its edits (%s); they are "
		  "rolled back",
		  t->name, strerror(-err));
	if (j->have_srv) {
		bitmask_dispose(&t->edit.server_mask);
		t->edit.server_mask = j->srv;
		j->srv.words = NULL;
	}
	t->edit.sent_seq = j->seq;
	t->edit.flush_err = -EIO;
	edits_settled(fs, d, t, j->seq);
	edits_show(fs, d, t, &t->edit.server_mask);
	cancel_moves_into(fs, d, t, j->seq);
	/* whatever made it refuse shows on reload */
	cache_expire(&d->tags_load);
}

/* Deleted elsewhere: nothing is recreated; the tag leaves the mount. */
static void flush_gone(struct fs *fs, struct dataset *d, struct tag *t,
		       struct flush_job *j)
{
	log_warn("tag %s: deleted on the server; its unsent edits are "
		 "dropped",
		 t->name);
	t->edit.sent_seq = j->seq;
	t->edit.flush_err = -EIO;
	edits_settled(fs, d, t, t->edit.seq);
	cancel_moves_into(fs, d, t, UINT64_MAX);
	t->live = false;
	bitmask_dispose(&t->edit.added);
	bitmask_dispose(&t->edit.removed);
	t->edit.dirty = false;
	d->mtime = model_stamp(&fs->model);
	notify_push(&fs->notify, model_dataset_ino(d), 0, t->name);
	notify_push(&fs->notify, 0, model_dataset_ino(d), NULL);
	cache_expire(&d->tags_load);
}

/* Another mount kept undoing the delta as often as it was written again:
 * what the server holds shows, and fsync of the tag says EIO. */
static void flush_contended(struct fs *fs, struct dataset *d, struct tag *t,
			    struct flush_job *j)
{
	log_error("tag %s: %zu samples' edits did not hold: the tag kept "
		  "being rewritten by other writers",
		  t->name, j->unheld);
	bitmask_dispose(&t->edit.server_mask);
	t->edit.server_mask = j->srv;
	j->srv.words = NULL;
	t->edit.sent_seq = j->seq;
	t->edit.flush_err = -EIO;
	edits_settled(fs, d, t, j->seq);
	edits_show(fs, d, t, &t->edit.server_mask);
}

/* What the read-back found, once per flush. */
static void report_race(struct fs *fs, struct tag *t, struct flush_job *j)
{
	fs->edits.redone += j->redone;
	if (j->redone)
		log_info("tag %s: this mount's write and another writer's "
			 "crossed; written again so that both hold (%zu more "
			 "PUTs)",
			 t->name, j->redone);
	if (j->overwrote)
		log_warn("tag %s: %zu changes by another client landed "
			 "between this mount's read and write and were "
			 "overwritten (unstamped: what they changed is not "
			 "known here)",
			 t->name, j->overwrote);
}

static void settle(struct fs *fs, struct dataset *d, struct tag *t,
		   struct flush_job *j, int err, bool force)
{
	report_race(fs, t, j);
	if (err == -EBUSY && t->live) {
		t->edit.landed_seq = ++d->edit_seq;
		flush_contended(fs, d, t, j);
		return;
	}
	/* what the server holds now is what this send made it, not what a
	 * listing asked for before it says */
	if (!err || !http_errno_transient(err) || force)
		t->edit.landed_seq = ++d->edit_seq;
	if (!err)
		flush_done(fs, d, t, j);
	else if (!t->live)
		return;
	else if (err == -ENOENT)
		flush_gone(fs, d, t, j);
	else if (http_errno_transient(err) && !force)
		flush_retry(t, j, err);
	else
		flush_refused(fs, d, t, j, err);
}

/* Takes t's delta (less the held removals) onto the job. */
static int take_delta(struct fs *fs, struct dataset *d, struct tag *t,
		      struct flush_job *j)
{
	struct bitmask held = {0};
	struct tag_edit *e = &t->edit;
	int ret = held_removals(fs, d, t, &held);

	if (!ret)
		ret = bitmask_difference(&j->rem, &e->removed, &held);
	if (!ret)
		ret = bitmask_copy(&j->add, &e->added);
	if (!ret) {
		bitmask_dispose(&e->removed);
		e->removed = held;
		held.words = NULL;
		bitmask_dispose(&e->added);
		bitmask_init(&e->added, 0);
		e->dirty = !bitmask_is_empty(&e->removed);
		j->held = e->dirty;
	}
	bitmask_dispose(&held);
	return ret;
}

int edits_flush(struct fs *fs, struct dataset *d, struct tag *t, bool force)
{
	struct flush_job j = {.api = fs->api,
			      .writer = fs->edits.writer,
			      .writes = &fs->edits.writes};
	int ret;

	while (t->edit.flushing || t->edit.on_wire)
		cache_wait(&fs->cache);
	if (!t->edit.dirty || !t->live)
		return 0;
	/* an offline mount: the edits (the journal's) wait for the server;
	 * a send would fail, and a failure would count as a refusal */
	if (fs->cache.offline) {
		t->edit.retry_at = cache_now() + EDITS_OFFLINE_RETRY_S;
		return -ENETDOWN;
	}
	t->edit.visiting = true;
	flush_move_targets(fs, d, t, force);
	ret = t->live && t->edit.dirty ? take_delta(fs, d, t, &j) : 0;
	if (!ret && bitmask_is_empty(&j.add) && bitmask_is_empty(&j.rem)) {
		/* nothing left, or only removals whose adds are not on the
		 * server yet */
		if (t->edit.dirty) {
			t->edit.retry_at = cache_now() + EDITS_HELD_RETRY_S;
			ret = -EAGAIN;
		}
		goto out;
	}
	if (ret)
		goto out;
	memcpy(j.ds_id, d->id, sizeof(j.ds_id));
	memcpy(j.tag_id, t->id, sizeof(j.tag_id));
	j.seq = t->edit.seq;
	t->edit.flushing = true;
	ret = cache_unlocked(&fs->cache, flush_fetch, &j);
	t->edit.flushing = false;
	settle(fs, d, t, &j, ret, force);
	cache_wake(&fs->cache);
out:
	t->edit.visiting = false;
	bitmask_dispose(&j.add);
	bitmask_dispose(&j.rem);
	bitmask_dispose(&j.srv);
	free(j.hex);
	api_stamp_dispose(&j.stamp);
	return ret;
}

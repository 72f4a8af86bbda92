/* The journal at mount time: which file is this mount's, and sending what
 * an earlier run left in it (a crash, kill -9, a server down at unmount)
 * before the mount answers anything.  Replayed edits are applied like new
 * ones, so they are rebased on what the server holds now. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_ctx.h"
#include "index.h"
#include "journal.h"
#include "log.h"
#include "refresh.h"
#include "replay.h"
#include "tagview.h"

/* Two mounts of one account on one machine get a journal each. */
#define REPLAY_SLOTS 8

struct replay {
	struct fs *fs;
	struct journal *from;
	size_t applied, dropped;
	struct {
		uint32_t ds, tag;
	} * tags; /* touched, to settle after */
	size_t ntags, cap;
};

static struct tag *tag_by_id(struct dataset *d, const char *id)
{
	for (size_t i = 0; i < d->ntags; i++)
		if (d->tags[i]->live && !strcmp(d->tags[i]->id, id))
			return d->tags[i];
	return NULL;
}

static struct dataset *dataset_by_id(struct model *m, const char *id)
{
	for (size_t i = 0; i < m->nds; i++)
		if (m->ds[i]->live && !strcmp(m->ds[i]->id, id))
			return m->ds[i];
	return NULL;
}

static int remember(struct replay *r, const struct dataset *d,
		    const struct tag *t)
{
	for (size_t i = 0; i < r->ntags; i++)
		if (r->tags[i].ds == d->slot && r->tags[i].tag == t->slot)
			return 0;
	if (r->ntags == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		void *v = realloc(r->tags, cap * sizeof(*r->tags));

		if (!v)
			return -ENOMEM;
		r->tags = v;
		r->cap = cap;
	}
	r->tags[r->ntags].ds = d->slot;
	r->tags[r->ntags++].tag = t->slot;
	return 0;
}

/* One journalled edit: applied to the tag if the server still has it. */
static int replay_cb(const char *ds_id, const char *tag_id, uint32_t sample,
		     bool add, void *arg)
{
	struct replay *r = arg;
	struct fs *fs = r->fs;
	struct dataset *d = dataset_by_id(&fs->model, ds_id);
	struct tag *t = NULL;
	int ret = d ? refresh_tags(fs, d) : -ENOENT;

	if (!ret && !(t = tag_by_id(d, tag_id)))
		ret = -ENOENT;
	if (!ret)
		ret = tagview_ensure(fs, d, t);
	if (!ret && (d->fallback || sample >= index_count(d->index)))
		ret = -ENOENT;
	if (!ret)
		ret = remember(r, d, t);
	if (!ret)
		ret = edits_set_sample(fs, d, t, sample, add);
	if (ret == -ENOMEM)
		return ret;
	if (ret) {
		/* the dataset, tag or sample is gone: nothing to send */
		r->dropped++;
		if (r->dropped == 1)
			log_warn("journal: edits of tag %s of dataset %s "
				 "dropped (%s)",
				 tag_id, ds_id, strerror(-ret));
		return 0;
	}
	r->applied++;
	return 0;
}

/* The old records are applied (as new records of their own) or dropped:
 * settle them, then send. */
static void settle_and_send(struct replay *r, uint64_t upto)
{
	struct fs *fs = r->fs;
	int ret;

	for (size_t i = 0; i < r->ntags; i++) {
		struct dataset *d = fs->model.ds[r->tags[i].ds];
		struct tag *t = d->tags[r->tags[i].tag];

		journal_done(r->from, d->id, t->id, upto);
	}
	ret = edits_fsync(fs, NULL, UINT32_MAX);
	log_info("journal: %zu edits of %zu tags from an earlier run %s%s",
		 r->applied, r->ntags,
		 ret ? "kept for later (the server did not take them yet)"
		     : "sent",
		 r->dropped ? "; some were dropped (see above)" : "");
}

static int replay_one(struct fs *fs, struct journal *from)
{
	struct replay r = {.fs = fs, .from = from};
	unsigned skipped = 0;
	uint64_t upto = journal_max_seq(from);
	int ret;

	if (!journal_pending(from))
		return 0;
	pthread_mutex_lock(&fs->lock);
	ret = journal_replay(from, replay_cb, &r, &skipped);
	if (!ret)
		settle_and_send(&r, upto);
	pthread_mutex_unlock(&fs->lock);
	if (skipped)
		log_warn("journal %s: %u damaged records skipped",
			 journal_path(from), skipped);
	free(r.tags);
	if (!ret)
		journal_compact(from);
	return ret;
}

static void slot_account(const char *account, int slot, char *buf, size_t size)
{
	if (slot)
		snprintf(buf, size, "%s#%d", account, slot + 1);
	else
		snprintf(buf, size, "%s", account);
}

/* Journals of this server and account that no running mount holds (a
 * second mount that crashed): their edits are sent too. */
static void replay_orphans(struct fs *fs, const char *dir, const char *server,
			   const char *account, int mine)
{
	char acc[4200];

	for (int s = 0; s < REPLAY_SLOTS; s++) {
		struct journal *j = NULL;

		slot_account(account, s, acc, sizeof(acc));
		if (s == mine || !journal_exists(dir, server, acc) ||
		    journal_open(dir, server, acc, &j))
			continue;
		replay_one(fs, j);
		journal_free(j);
	}
}

int replay_open(struct fs *fs, const char *dir, const char *server,
		const char *account, char *err, size_t errsz)
{
	char acc[4200];
	int ret = -EBUSY, s;

	if (strlen(account) > sizeof(acc) - 8)
		return -ENAMETOOLONG;
	for (s = 0; s < REPLAY_SLOTS && ret == -EBUSY; s++) {
		slot_account(account, s, acc, sizeof(acc));
		ret = journal_open(dir, server, acc, &fs->journal);
	}
	explicit_bzero(acc, sizeof(acc));
	if (ret) {
		snprintf(err, errsz,
			 "cannot open the journal of edits in %s: %s", dir,
			 strerror(-ret));
		return ret;
	}
	/* numbers of this run start above the last run's (journal.h) */
	fs->model.seq_base = journal_max_seq(fs->journal);
	for (size_t i = 0; i < fs->model.nds; i++)
		fs->model.ds[i]->edit_seq = fs->model.seq_base;
	ret = replay_one(fs, fs->journal);
	replay_orphans(fs, dir, server, account, s - 1);
	return ret;
}

/* The offline mount (offline.h).  Online, a thread writes each dataset's
 * listing to the snapshot once it changed and then stayed the same for a
 * round (so a listing still arriving, page after page, is written once,
 * and a refresh that changed nothing never), copying it under fs->lock
 * and writing it without.  Offline, the same thread asks the server every
 * offline_retry seconds and, once it answers, turns the mount online. */
#include "offline.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "edits.h"
#include "fs_ctx.h"
#include "http.h"
#include "inode.h"
#include "log.h"
#include "snapshot.h"

#define OFFLINE_ROUND_S 1.0
/* a probe that hangs must not hold up the unmount for long */
#define OFFLINE_PROBE_MAX_MS 5000
#define OFFLINE_NOTE_MAX 512

struct written {
	char id[API_ID_LEN + 1];
	uint64_t written, seen;
	bool had_names; /* the file written holds its names */
};

struct offline {
	char *dir;   /* the snapshot's folder; NULL: no state dir */
	bool forced; /* -o offline: never asks the server */
	double retry_s;
	double next_probe;
	bool refused_said;
	char note[OFFLINE_NOTE_MAX]; /* the line logged once logging is up */
	pthread_t th;
	bool running, stop;
	pthread_mutex_t mu; /* stop and the thread's sleep; a leaf */
	pthread_cond_t cond;
	uint64_t ds_written, ds_seen;
	struct written *w;
	size_t nw;
};

bool fs_offline(const struct fs *fs)
{
	return atomic_load(&fs->offline);
}

int offline_init(struct fs *fs, const struct fs_config *cfg)
{
	struct offline *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cond, NULL);
	o->forced = cfg->offline;
	o->retry_s = cfg->offline_retry_s > 0 ? cfg->offline_retry_s : 30;
	fs->off = o;
	/* no token, no folder: the hash would name every tokenless mount's
	 * snapshot alike (unit tests have neither) */
	if (!cfg->state_dir || !cfg->account || !cfg->server)
		return 0;
	o->dir = snapshot_dir(cfg->state_dir, cfg->server, cfg->account);
	return o->dir ? 0 : -ENOMEM;
}

bool offline_passing(int err)
{
	return err != -ENOMEM && http_errno_transient(err);
}

static void note_time(int64_t when, char *out, size_t outsz)
{
	time_t t = (time_t)when;
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(out, outsz, "%F %T", &tm))
		snprintf(out, outsz, "@%" PRId64, when);
}

static void enter_offline(struct fs *fs, struct snapshot *s, int why)
{
	struct offline *o = fs->off;
	char when[64];

	note_time(snapshot_time(s), when, sizeof(when));
	if (o->forced)
		snprintf(o->note, sizeof(o->note),
			 "offline (-o offline): serving the listing of %zu "
			 "datasets saved %s and the cached content, "
			 "read-only; no request is made",
			 snapshot_datasets(s), when);
	else
		snprintf(o->note, sizeof(o->note),
			 "offline: the server cannot be reached (%s); serving "
			 "the listing of %zu datasets saved %s and the cached "
			 "content, read-only; asking the server again every "
			 "%g s",
			 strerror(-why), snapshot_datasets(s), when,
			 o->retry_s);
	o->next_probe = cache_now() + o->retry_s;
}

int offline_begin(struct fs *fs, const struct fs_config *cfg, int why,
		  char *err, size_t errsz)
{
	struct offline *o = fs->off;
	struct snapshot *s = NULL;
	int ret = o->dir ? snapshot_read(o->dir, cfg->dataset, &s) : -ENOENT;

	if (ret && !o->forced)
		return why;
	if (ret == -ENOENT) {
		snprintf(err, errsz,
			 "-o offline: no listing of this account%s%s was "
			 "saved in %s (mount once with the server up)",
			 cfg->dataset ? " and dataset " : "",
			 cfg->dataset ? cfg->dataset : "",
			 cfg->state_dir ? cfg->state_dir : "the state dir");
		return ret;
	}
	if (ret) {
		snprintf(err, errsz, "-o offline: the saved listing in %s: %s",
			 o->dir, strerror(-ret));
		return ret;
	}
	api_set_offline(fs->api, true);
	pthread_mutex_lock(&fs->lock);
	fs->cache.offline = true;
	ret = snapshot_install(&fs->model, s);
	pthread_mutex_unlock(&fs->lock);
	atomic_store(&fs->offline, true);
	if (!ret)
		enter_offline(fs, s, why);
	else
		snprintf(err, errsz, "the saved listing: %s", strerror(-ret));
	snapshot_free(s);
	return ret;
}

/* ---- back online ---- */

static void go_online(struct fs *fs)
{
	struct edits_counts c;

	api_set_offline(fs->api, false);
	pthread_mutex_lock(&fs->lock);
	fs->cache.offline = false;
	/* what the snapshot showed gives way to the server's */
	model_expire_all(&fs->model);
	atomic_store(&fs->offline, false);
	edits_count(fs, &c);
	pthread_mutex_unlock(&fs->lock);
	log_info("online: the server answers again; listings are loaded "
		 "from it and edits are allowed%s",
		 c.pending ? " (the journal's edits are being sent)" : "");
	if (!c.pending)
		return;
	/* the journal's edits waited for the server: sent now, not at the
	 * flusher's next try */
	pthread_mutex_lock(&fs->lock);
	(void)edits_fsync(fs, NULL, UINT32_MAX);
	pthread_mutex_unlock(&fs->lock);
}

static void probe(struct fs *fs)
{
	struct offline *o = fs->off;
	char single[API_ID_LEN + 1];
	int ret;

	pthread_mutex_lock(&fs->lock);
	memcpy(single, fs->model.single_id, sizeof(single));
	pthread_mutex_unlock(&fs->lock);
	ret =
	    api_probe(fs->api, single[0] ? single : NULL,
		      http_now_ms() + (o->retry_s * 1000 < OFFLINE_PROBE_MAX_MS
					   ? (int64_t)(o->retry_s * 1000)
					   : OFFLINE_PROBE_MAX_MS));
	o->next_probe = cache_now() + o->retry_s;
	if (!ret) {
		go_online(fs);
	} else if (!offline_passing(ret) && !o->refused_said) {
		o->refused_said = true;
		log_warn("offline: the server answers but refuses (%s); "
			 "staying offline",
			 strerror(-ret));
	} else {
		log_debug("offline: the server still cannot be reached (%s)",
			  strerror(-ret));
	}
}

/* ---- the snapshot's writes ---- */

/* One file to write, encoded under the lock. */
struct pending {
	char name[API_ID_LEN + 1];
	uint64_t sig;
	size_t w; /* in o->w; SIZE_MAX: the datasets file */
	bool names;
	struct snapshot_buf buf;
};

/* id's entry in o->w (made when new), or SIZE_MAX (ENOMEM). */
static size_t written_of(struct offline *o, const char *id)
{
	struct written *v;

	for (size_t i = 0; i < o->nw; i++)
		if (!strcmp(o->w[i].id, id))
			return i;
	v = realloc(o->w, (o->nw + 1) * sizeof(*v));
	if (!v)
		return SIZE_MAX;
	o->w = v;
	v = &o->w[o->nw];
	memset(v, 0, sizeof(*v));
	snprintf(v->id, sizeof(v->id), "%s", id);
	return o->nw++;
}

/* Written when it changed, and was the same a round ago (or at the
 * end): a listing that is still growing waits. */
static bool due(uint64_t sig, uint64_t written, uint64_t *seen, bool final)
{
	bool settled = final || sig == *seen;

	*seen = sig;
	return sig != written && settled;
}

/* The files due, encoded (lock held).  *n of them in v (room for
 * fs->model.nds + 1). */
static void collect(struct fs *fs, struct pending *v, size_t *n, bool final)
{
	struct offline *o = fs->off;
	const struct model *m = &fs->model;
	uint64_t sig = snapshot_sig_datasets(m);

	*n = 0;
	if (m->datasets_listed && due(sig, o->ds_written, &o->ds_seen, final) &&
	    !snapshot_encode_datasets(m, &v[*n].buf)) {
		snprintf(v[*n].name, sizeof(v[*n].name), "datasets");
		v[*n].w = SIZE_MAX;
		v[(*n)++].sig = sig;
	}
	for (size_t i = 0; i < m->nds; i++) {
		const struct dataset *d = m->ds[i];
		size_t w;

		if (!d->live || !d->tags_listed ||
		    (w = written_of(o, d->id)) == SIZE_MAX)
			continue;
		/* names the memory bound dropped are not gone from the
		 * server: the file keeps them */
		if (!d->index && o->w[w].had_names)
			continue;
		sig = snapshot_sig_dataset(d);
		if (!due(sig, o->w[w].written, &o->w[w].seen, final))
			continue;
		if (snapshot_encode_dataset(d, &v[*n].buf)) {
			snapshot_buf_dispose(&v[*n].buf);
			continue;
		}
		memcpy(v[*n].name, d->id, sizeof(v[*n].name));
		v[*n].w = w;
		v[*n].names = d->index != NULL;
		v[(*n)++].sig = sig;
	}
}

static void snapshot_round(struct fs *fs, bool final)
{
	struct offline *o = fs->off;
	struct pending *v;
	size_t n = 0;

	pthread_mutex_lock(&fs->lock);
	v = calloc(fs->model.nds + 1, sizeof(*v));
	if (v)
		collect(fs, v, &n, final);
	pthread_mutex_unlock(&fs->lock);
	for (size_t i = 0; i < n; i++) {
		int ret = snapshot_write(o->dir, v[i].name, &v[i].buf);

		if (ret) {
			log_warn("offline snapshot: cannot write %s/%s: %s",
				 o->dir, v[i].name, strerror(-ret));
		} else if (v[i].w == SIZE_MAX) {
			o->ds_written = v[i].sig;
		} else {
			o->w[v[i].w].written = v[i].sig;
			o->w[v[i].w].had_names = v[i].names;
		}
		if (!ret)
			log_debug("offline snapshot: %s/%s written (%zu bytes)",
				  o->dir, v[i].name, v[i].buf.len);
		snapshot_buf_dispose(&v[i].buf);
	}
	free(v);
}

/* ---- the thread ---- */

static void *offline_main(void *arg)
{
	struct fs *fs = arg;
	struct offline *o = fs->off;

	if (o->note[0])
		log_info("%s", o->note);
	pthread_mutex_lock(&o->mu);
	while (!o->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&o->mu);
		if (!fs_offline(fs))
			snapshot_round(fs, false);
		else if (!o->forced && cache_now() >= o->next_probe)
			probe(fs);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)OFFLINE_ROUND_S;
		pthread_mutex_lock(&o->mu);
		if (!o->stop)
			pthread_cond_timedwait(&o->cond, &o->mu, &ts);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

int offline_start(struct fs *fs)
{
	struct offline *o = fs->off;

	/* with no folder there is nothing to write, and no way offline */
	if (!o || (!o->dir && !o->note[0]))
		return 0;
	if (pthread_create(&o->th, NULL, offline_main, fs))
		return -EAGAIN;
	o->running = true;
	return 0;
}

void offline_stop(struct fs *fs)
{
	struct offline *o = fs->off;

	if (!o || !o->running)
		return;
	pthread_mutex_lock(&o->mu);
	o->stop = true;
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->mu);
	pthread_join(o->th, NULL);
	o->running = false;
	if (o->dir && !fs_offline(fs))
		snapshot_round(fs, true);
}

void offline_free(struct fs *fs)
{
	struct offline *o = fs->off;

	if (!o)
		return;
	offline_stop(fs);
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cond);
	free(o->w);
	free(o->dir);
	free(o);
	fs->off = NULL;
}

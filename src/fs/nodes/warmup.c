/* DS/.lightly/warmup: the control file behind `lightlyfs warmup`
 * (src/warmup.c).  A write of "VERB INO" (VERB warm, check or evict; INO
 * the inode number of a tag, a folder of a tag or a file of the dataset,
 * as stat gives it: the kernel resolved the path) acts on its samples in
 * the content cache, and a read from offset 0 after it
 * gives one line of counts (warmup_reply).  The command opens the file
 * once and writes and reads it as long as it runs; a warm write queues as
 * many whole files as the prefetch bounds take, so the command writes it
 * again as they finish.  A plain read gives the usage. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content.h"
#include "fs_ctx.h"
#include "node.h"
#include "samples.h"

static const char warmup_usage[] =
    "lightlyfs warmup PATH... fetches PATH (a tag, a folder or files) into "
    "the content cache; see lightlyfs warmup --help\n";

/* The reply a read gives: a write replaces it, maybe while a read of the
 * same descriptor is being answered (the kernel may send both at once),
 * so a read copies it under the lock, never pointing into it. */
struct warmup_file {
	pthread_mutex_t mu;
	char *reply;
	size_t len;
};

enum warmup_verb { WARMUP_WARM, WARMUP_CHECK, WARMUP_EVICT };

/* "VERB INO": the command stat()s PATH; the kernel resolved its names */
static int parse(const char *buf, size_t len, enum warmup_verb *verb,
		 uint64_t *ino)
{
	static const char *const verbs[] = {"warm ", "check ", "evict "};
	char line[64], *end;
	size_t n;

	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\0'))
		len--;
	if (len >= sizeof(line))
		return -EINVAL;
	memcpy(line, buf, len);
	line[len] = '\0';
	for (int v = 0; v < 3; v++) {
		n = strlen(verbs[v]);
		if (strncmp(line, verbs[v], n) || !line[n])
			continue;
		errno = 0;
		*ino = strtoull(line + n, &end, 10);
		if (errno || *end)
			return -EINVAL;
		*verb = (enum warmup_verb)v;
		return 0;
	}
	return -EINVAL;
}

/* The content keys of ino's samples (a tag, a folder of one or a file of
 * the dataset ds), sizes from the sample listing, and for a tag's what
 * its pages of read URLs need (lock held; may drop it). */
static int keys_of(struct fs *fs, uint32_t ds, uint64_t ino,
		   struct content_key **keys, size_t *n,
		   struct node_url_page *u)
{
	struct sample_info info;
	struct inode_ref r;
	struct dataset *d = NULL;
	uint32_t *v = NULL, one = 0;
	int ret = node_resolve(fs, ino, &r);

	*keys = NULL;
	*n = 0;
	if (ret)
		return ret;
	if (r.ds != ds)
		return -EXDEV;
	if (r.kind == INODE_KIND_FILE) {
		d = model_dataset(&fs->model, r.ds);
		one = (uint32_t)r.sample;
		*n = d ? 1 : 0;
	} else if (r.kind == INODE_KIND_TAG) {
		ret = node_tag_samples(fs, &r, &d, &v, n);
	} else {
		return -EINVAL; /* not a tag's */
	}
	if (!ret && *n && !(*keys = calloc(*n, sizeof(**keys))))
		ret = -ENOMEM;
	/* samples ascend: one request per page of the listing */
	for (size_t i = 0; !ret && i < *n; i++) {
		uint32_t s = v ? v[i] : one;

		if (!samples_get(d, s, &info))
			ret = samples_ensure(fs, d, s, s);
		if (!ret && !samples_get(d, s, &info))
			ret = -EIO;
		if (!ret)
			node_sample_key(d, s, &info, &(*keys)[i]);
	}
	/* the listing may have changed while samples_ensure let go of the
	 * lock: names and places are taken now, with the keys' */
	if (!ret && v && u && model_tag(d, r.tag))
		(void)node_url_page(d, model_tag(d, r.tag), v, *n, u);
	free(v);
	if (ret) {
		free(*keys);
		*keys = NULL;
		*n = 0;
	}
	return ret;
}

/* files, cached files, bytes, cached bytes, files on their way, and the
 * content cache's size: what the command shows and checks against */
static int warmup_reply(struct fs *fs, const struct content_census *c,
			size_t dropped, char **out, size_t *len)
{
	int n = asprintf(out,
			 "files %zu cached %zu bytes %" PRIu64
			 " cached_bytes %" PRIu64 " fetching %zu dropped %zu"
			 " cache_bytes %" PRIu64 "\n",
			 c->files, c->cached, c->bytes, c->cached_bytes,
			 c->fetching, dropped, fs->content_cache_bytes);

	if (n < 0)
		return -ENOMEM;
	*len = (size_t)n;
	return 0;
}

static int warmup_write(struct fs *fs, struct node_file *f, const char *buf,
			size_t len, off_t off)
{
	struct warmup_file *wf = f->priv;
	struct content_census census;
	struct node_url_page urls = {0};
	struct content_key *keys;
	enum warmup_verb verb;
	struct inode_ref r;
	size_t n, dropped = 0;
	uint64_t ino;
	char *reply;
	size_t rlen;
	int ret;

	(void)off;
	if (!fs->content)
		return -EOPNOTSUPP; /* no cache_dir */
	ret = parse(buf, len, &verb, &ino);
	if (ret)
		return ret;
	if (verb == WARMUP_WARM && !fs->prefetch_files)
		return -ENOSTR; /* nothing is fetched ahead: the command says */
	ret = node_file_enter(fs, f, &r);
	if (ret)
		return ret;
	ret = node_leave(fs, keys_of(fs, r.ds, ino, &keys, &n,
				     verb == WARMUP_WARM ? &urls : NULL));
	if (ret)
		return ret;
	/* the content layer is never called with fs->lock held; the URLs
	 * first, so that the files queued next find theirs on the way */
	if (urls.names)
		content_urls_ahead(fs->content, urls.tag_id, keys, urls.names,
				   urls.ranks, n);
	node_url_page_dispose(&urls);
	if (verb == WARMUP_WARM)
		content_warm(fs->content, keys, n);
	else if (verb == WARMUP_EVICT)
		dropped = content_drop(fs->content, keys, n);
	content_census(fs->content, keys, n, &census);
	free(keys);
	ret = warmup_reply(fs, &census, dropped, &reply, &rlen);
	if (ret)
		return ret;
	pthread_mutex_lock(&wf->mu);
	free(wf->reply);
	wf->reply = reply;
	wf->len = rlen;
	pthread_mutex_unlock(&wf->mu);
	return (int)len;
}

static int warmup_check(struct fs *fs, struct inode_ref *r)
{
	struct dataset *d;

	return node_check_dataset(fs, r, &d);
}

static void warmup_stat(struct fs *fs, const struct inode_ref *r,
			struct stat *st)
{
	node_stat_file(fs, st, r, 0644, strlen(warmup_usage),
		       fs->model.mount_time);
}

static int warmup_open(struct fs *fs, struct node_file *f, int flags)
{
	struct warmup_file *wf = calloc(1, sizeof(*wf));
	struct inode_ref r;
	int ret;

	(void)flags;
	if (!wf || !(wf->reply = strdup(warmup_usage))) {
		free(wf);
		return -ENOMEM;
	}
	wf->len = strlen(warmup_usage);
	ret = node_file_enter(fs, f, &r);
	if (ret) {
		free(wf->reply);
		free(wf);
		return ret;
	}
	pthread_mutex_init(&wf->mu, NULL);
	f->priv = wf;
	f->direct = true; /* the size stat gives is the usage's */
	return node_leave(fs, 0);
}

static int warmup_read(struct node_file *f, size_t len, off_t off,
		       char *scratch, struct content_read *rd)
{
	struct warmup_file *wf = f->priv;

	memset(rd, 0, sizeof(*rd));
	rd->fd = -1;
	pthread_mutex_lock(&wf->mu);
	if (off >= 0 && (size_t)off < wf->len) {
		rd->got =
		    len < wf->len - (size_t)off ? len : wf->len - (size_t)off;
		memcpy(scratch, wf->reply + off, rd->got);
	}
	pthread_mutex_unlock(&wf->mu);
	rd->iov[0].iov_base = scratch;
	rd->iov[0].iov_len = rd->got;
	rd->niov = rd->got > 0;
	return 0;
}

static void warmup_release(struct node_file *f)
{
	struct warmup_file *wf = f->priv;

	if (!wf)
		return;
	pthread_mutex_destroy(&wf->mu);
	free(wf->reply);
	free(wf);
	f->priv = NULL;
}

const struct node_ops node_meta_warmup_ops = {
    .check = warmup_check,
    .stat = warmup_stat,
    .open = warmup_open,
    .read = warmup_read,
    .release = warmup_release,
    .write = warmup_write,
};

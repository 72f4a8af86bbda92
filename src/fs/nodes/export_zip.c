/* DS/.lightly/exports/<tag>.zip: the tag's images in one zip, as the
 * server makes it.  A tag's zip can be gigabytes, so it is never held in
 * memory: the download streams into an unlinked file of the cache dir.
 * It is fetched when the name is looked up or stat'ed (the directory lists
 * it not, so a walk never does), because unzip finds the central
 * directory by seeking to the end, and the kernel's end is the size stat
 * gave.  Kept while it is open (each open reads a dup of it) and, unopened,
 * for the TTL; its last close drops it, so the disk is not held for
 * nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "content.h"
#include "fs_ctx.h"
#include "node.h"
#include "refresh.h"

struct zip_job {
	struct fs *fs;
	struct tag_zip *z;
	char ds_id[API_ID_LEN + 1], tag_id[API_ID_LEN + 1];
	const char *dir;
	int fd; /* the download, until install takes it; -1 */
	uint64_t len;
};

/* Unlinked from the start: nothing is left behind by a crash. */
static int zip_tmpfile(const char *dir, int *fd)
{
	char path[4096];
	int n;

	*fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*fd >= 0)
		return 0;
	/* a file system without O_TMPFILE: made, then unlinked at once */
	n = snprintf(path, sizeof(path), "%s/.zip.XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	*fd = mkostemp(path, O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	unlink(path);
	return 0;
}

/* A retried request starts again at 0: what an earlier attempt wrote
 * goes. */
static int zip_sink(const char *data, size_t len, uint64_t off, void *arg)
{
	struct zip_job *j = arg;

	if (off == 0 && j->len && ftruncate(j->fd, 0))
		return -errno;
	while (len) {
		ssize_t n = pwrite(j->fd, data, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	j->len = off;
	return 0;
}

static int zip_fetch(void *arg)
{
	struct zip_job *j = arg;
	int ret = zip_tmpfile(j->dir, &j->fd);

	if (!ret)
		ret = api_export_zip(j->fs->api, j->ds_id, j->tag_id, zip_sink,
				     j);
	return ret;
}

static int zip_install(void *arg, int err)
{
	struct zip_job *j = arg;
	struct tag_zip *z = j->z;

	if (err)
		return err;
	if (z->have)
		close(z->fd); /* the opens read dups of it */
	z->fd = j->fd;
	z->len = j->len;
	z->have = true;
	j->fd = -1;
	return 0;
}

/* An open zip stays what stat says until its last close: a new fetch in
 * the middle would give the kernel another size for the same reads. */
static bool zip_fresh(const struct cache *c, const struct load *l, void *arg)
{
	const struct zip_job *j = arg;

	return j->z->have && (j->z->opens || cache_fresh(c, l));
}

static bool zip_usable(const struct cache *c, const struct load *l, void *arg)
{
	const struct zip_job *j = arg;

	return j->z->have && cache_usable(c, l);
}

static const struct cache_loader zip_loader = {
    .fresh = zip_fresh,
    .usable = zip_usable,
    .fetch = zip_fetch,
    .install = zip_install,
};

static struct tag_zip *zip_of(struct fs *fs, const struct inode_ref *r)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);
	struct tag *t = d ? model_tag(d, r->tag) : NULL;

	return t ? &t->zip : NULL;
}

static int zip_check(struct fs *fs, struct inode_ref *r)
{
	struct zip_job j = {.fs = fs, .fd = -1};
	struct dataset *d;
	struct tag *t;
	int ret = node_check_dataset(fs, r, &d);

	if (!ret)
		ret = refresh_tags(fs, d);
	if (ret)
		return ret;
	d = model_dataset(&fs->model, r->ds);
	t = d ? model_tag(d, r->tag) : NULL;
	if (!t || !model_tag_of_server(t))
		return -ENOENT;
	j.z = &t->zip;
	j.dir = fs->cache_dir ? fs->cache_dir : P_tmpdir;
	memcpy(j.ds_id, d->id, sizeof(j.ds_id));
	memcpy(j.tag_id, t->id, sizeof(j.tag_id));
	ret = cache_load(&fs->cache, &j.z->load, &zip_loader, &j);
	if (j.fd >= 0)
		close(j.fd);
	return ret ? ret : j.z->have ? 0 : -EIO;
}

static void zip_stat(struct fs *fs, const struct inode_ref *r, struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);
	struct tag *t = d ? model_tag(d, r->tag) : NULL;
	const struct tag_zip *z = t ? &t->zip : NULL;

	node_stat_file(fs, st, r, 0444, z && z->have ? (size_t)z->len : 0,
		       model_ms_to_ts(t ? t->modified_ms : 0));
	if (!z || !z->have)
		st->st_size = FS_SIZE_UNKNOWN;
}

/* An open zip: its own fd on the download, and fs for the last close. */
struct zip_file {
	struct fs *fs;
	int fd;
};

static int zip_open(struct fs *fs, struct node_file *f, int flags)
{
	struct zip_file *zf = calloc(1, sizeof(*zf));
	struct tag_zip *z;
	struct inode_ref r;
	int ret;

	(void)flags;
	if (!zf)
		return -ENOMEM;
	ret = node_file_enter(fs, f, &r);
	if (ret) {
		free(zf);
		return ret;
	}
	z = zip_of(fs, &r);
	if (!z || !z->have)
		ret = -EIO;
	else if ((zf->fd = fcntl(z->fd, F_DUPFD_CLOEXEC, 0)) < 0)
		ret = -errno;
	if (!ret) {
		z->opens++;
		zf->fs = fs;
		f->priv = zf;
		/* a stat before this open may have had another fetch's size */
		f->direct = true;
	} else {
		free(zf);
	}
	return node_leave(fs, ret);
}

static int zip_read(struct node_file *f, size_t len, off_t off, char *scratch,
		    struct content_read *rd)
{
	struct zip_file *zf = f->priv;
	ssize_t n;

	memset(rd, 0, sizeof(*rd));
	rd->fd = -1;
	do
		n = pread(zf->fd, scratch, len, off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	rd->got = (size_t)n;
	rd->iov[0].iov_base = scratch;
	rd->iov[0].iov_len = rd->got;
	rd->niov = n > 0;
	return 0;
}

static void zip_release(struct node_file *f)
{
	struct zip_file *zf = f->priv;
	struct tag_zip *z;

	if (!zf)
		return;
	close(zf->fd);
	pthread_mutex_lock(&zf->fs->lock);
	z = zip_of(zf->fs, &f->ref);
	if (z && z->opens && !--z->opens && z->have) {
		close(z->fd);
		z->have = false;
		z->len = 0;
		cache_expire(&z->load);
	}
	pthread_mutex_unlock(&zf->fs->lock);
	free(zf);
	f->priv = NULL;
}

const struct node_ops node_meta_export_zip_ops = {
    .check = zip_check,
    .stat = zip_stat,
    .open = zip_open,
    .read = zip_read,
    .release = zip_release,
};

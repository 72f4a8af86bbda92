/* A sample's file: one inode whatever tag shows it, with a link per tag
 * that holds the sample.  Its size comes from the sample listing
 * (samples.c), its bytes from content.c through fs_open_sample. */
#include <errno.h>

#include "fs_ctx.h"
#include "index.h"
#include "node.h"

/* Files never change; only the sample must be known (an evicted index
 * cannot say, and indices are never reused). */
static int sample_check(struct fs *fs, struct inode_ref *r)
{
	struct dataset *d;
	int ret = node_check_dataset(fs, r, &d);

	if (ret)
		return ret;
	if (d->index && r->sample >= index_count(d->index))
		return -ENOENT;
	/* for its size; without the page (server away) stat says 0 */
	samples_ensure(fs, d, (uint32_t)r->sample, (uint32_t)r->sample);
	return 0;
}

static void sample_stat(struct fs *fs, const struct inode_ref *r,
			struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);
	struct sample_info info;

	node_stat_file(fs, st, r, 0444, 0,
		       d ? model_ms_to_ts(d->created_ms)
			 : fs->model.mount_time);
	if (!d || !samples_get(d, (uint32_t)r->sample, &info))
		st->st_size = FS_SIZE_UNKNOWN;
	else if (info.size != SAMPLES_SIZE_UNKNOWN)
		st->st_size = (off_t)info.size;
	st->st_blocks = st->st_size > 0 ? (st->st_size + 511) / 512 : 0;
	st->st_nlink = 0;
	for (size_t i = 0; d && i < d->ntags; i++)
		if (d->tags[i]->live &&
		    bitmask_test(&d->tags[i]->mask, r->sample))
			st->st_nlink++;
}

/* Without a content layer (fs_open_sample says so) a sample is empty. */
static int sample_open(struct fs *fs, const struct inode_ref *r, char **data,
		       size_t *len)
{
	(void)fs, (void)r;
	*data = NULL;
	*len = 0;
	return 0;
}

const struct node_ops node_sample_ops = {
    .check = sample_check,
    .stat = sample_stat,
    .open = sample_open,
};

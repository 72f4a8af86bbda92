/* A sample's file: one inode whatever tag shows it, with a link per tag
 * that holds the sample.  Empty for now; its content comes later. */
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
	return 0;
}

static void sample_stat(struct fs *fs, const struct inode_ref *r,
			struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);

	node_stat_file(fs, st, r, 0444, 0,
		       d ? model_ms_to_ts(d->created_ms)
			 : fs->model.mount_time);
	st->st_nlink = 0;
	for (size_t i = 0; d && i < d->ntags; i++)
		if (d->tags[i]->live &&
		    bitmask_test(&d->tags[i]->mask, r->sample))
			st->st_nlink++;
}

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

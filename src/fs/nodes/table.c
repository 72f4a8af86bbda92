/* The kind -> ops table, and the dispatch through it that fs.c uses:
 * the one place that names every kind.  The kinds never call back into
 * it (a mutation gives fs.c the new entry's ref to stat). */
#include <errno.h>
#include <string.h>

#include "fs_ctx.h"
#include "node.h"

static const struct node_ops node_none_ops;

static const struct node_ops *const node_table[INODE_KIND_MAX_] = {
    [INODE_KIND_ROOT] = &node_root_ops,
    [INODE_KIND_ROOT_META] = &node_root_meta_ops,
    [INODE_KIND_STATS] = &node_stats_ops,
    [INODE_KIND_DATASET] = &node_dataset_ops,
    [INODE_KIND_TAG] = &node_tag_ops,
    [INODE_KIND_FILE] = &node_sample_ops,
    [INODE_KIND_META] = &node_meta_ops,
    [INODE_KIND_META_DATASET] = &node_meta_dataset_ops,
    [INODE_KIND_META_TAGS] = &node_meta_tags_ops,
    [INODE_KIND_META_TAG] = &node_meta_tag_ops,
    [INODE_KIND_META_TRASH] = &node_meta_trash_ops,
    [INODE_KIND_META_TRASH_JSON] = &node_meta_trash_json_ops,
    [INODE_KIND_META_EXPORTS] = &node_meta_exports_ops,
    [INODE_KIND_META_EXPORT_LS] = &node_meta_export_ops,
    [INODE_KIND_META_EXPORT_LB] = &node_meta_export_ops,
    [INODE_KIND_META_EXPORT_LB4] = &node_meta_export_ops,
    [INODE_KIND_META_EXPORT_SAMA] = &node_meta_export_ops,
    [INODE_KIND_META_EXPORT_NAMES] = &node_meta_export_ops,
    [INODE_KIND_META_EXPORT_READ_URLS] = &node_meta_export_ops,
    [INODE_KIND_META_EXPORT_DS_URLS] = &node_meta_export_ops,
    [INODE_KIND_META_EXPORT_ZIP] = &node_meta_export_zip_ops,
    [INODE_KIND_META_UPSIZE] = &node_meta_upsize_ops,
    [INODE_KIND_META_WARMUP] = &node_meta_warmup_ops,
    [INODE_KIND_META_README] = &node_readme_ops,
    [INODE_KIND_ROOT_README] = &node_readme_ops,
};

const struct node_ops *node_ops_of(const struct inode_ref *r)
{
	if ((unsigned)r->kind >= INODE_KIND_MAX_ || !node_table[r->kind])
		return &node_none_ops;
	return node_table[r->kind];
}

int node_check(struct fs *fs, struct inode_ref *r)
{
	const struct node_ops *ops = node_ops_of(r);

	return ops->check ? ops->check(fs, r) : -ESTALE;
}

void node_stat(struct fs *fs, const struct inode_ref *r, struct stat *st)
{
	const struct node_ops *ops = node_ops_of(r);

	memset(st, 0, sizeof(*st));
	if (ops->stat)
		ops->stat(fs, r, st);
}

int node_lookup(struct fs *fs, const struct inode_ref *dir, const char *name,
		struct inode_ref *out)
{
	const struct node_ops *ops = node_ops_of(dir);

	memset(out, 0, sizeof(*out));
	out->ds = dir->ds;
	return ops->lookup ? ops->lookup(fs, dir, name, out) : -ENOTDIR;
}

int node_enter(struct fs *fs, uint64_t ino, struct inode_ref *r)
{
	int ret = node_resolve(fs, ino, r);

	if (ret)
		return ret;
	pthread_mutex_lock(&fs->lock);
	ret = node_check(fs, r);
	if (ret)
		pthread_mutex_unlock(&fs->lock);
	return node_errno(ret);
}

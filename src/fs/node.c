/* The kind -> ops table and what every kind shares: resolving a number,
 * the dataset check, and the shape of a directory's or a file's stat. */
#include <errno.h>
#include <string.h>

#include "fs_ctx.h"
#include "node.h"
#include "refresh.h"

#define NODE_DIR_BLKSIZE (1u << 17)

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
    [INODE_KIND_META_UPSIZE] = &node_meta_upsize_ops,
    [INODE_KIND_META_README] = &node_readme_ops,
    [INODE_KIND_ROOT_README] = &node_readme_ops,
};

const struct node_ops *node_ops_of(const struct inode_ref *r)
{
	if ((unsigned)r->kind >= INODE_KIND_MAX_ || !node_table[r->kind])
		return &node_none_ops;
	return node_table[r->kind];
}

int node_resolve(const struct fs *fs, uint64_t ino, struct inode_ref *r)
{
	int ret = inode_decode(ino, r);
	bool single = fs->model.single_id[0];

	if (ret)
		return ret;
	if (!single)
		return 0;
	if (r->kind == INODE_KIND_ROOT) {
		r->kind = INODE_KIND_DATASET;
		r->ds = 0;
	}
	if (r->kind == INODE_KIND_ROOT_META || r->kind == INODE_KIND_STATS ||
	    r->kind == INODE_KIND_ROOT_README)
		return -ESTALE;
	return 0;
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

bool node_dot_absent(struct fs *fs, const struct inode_ref *dir,
		     const char *name)
{
	(void)fs, (void)dir;
	return name[0] == '.' && strcmp(name, MODEL_META_DIR);
}

int node_check_dataset(struct fs *fs, const struct inode_ref *r,
		       struct dataset **d)
{
	int ret = refresh_datasets(fs);

	if (ret)
		return ret;
	*d = model_dataset(&fs->model, r->ds);
	if (!*d || (!(*d)->display && !fs->model.single_id[0]))
		return -ENOENT;
	return 0;
}

int node_rename_target(const struct inode_ref *dir,
		       const struct inode_ref *newdir)
{
	if (newdir->kind != INODE_KIND_DATASET &&
	    newdir->kind != INODE_KIND_TAG)
		return newdir->kind == INODE_KIND_ROOT ? -EXDEV : -EPERM;
	return newdir->ds != dir->ds ? -EXDEV : 0;
}

void node_stat_dir(struct fs *fs, struct stat *st, const struct inode_ref *r,
		   struct timespec mtime, struct timespec atime)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = inode_encode(r);
	st->st_mode = S_IFDIR | (0755 & ~fs->umask);
	st->st_nlink = 2;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = NODE_DIR_BLKSIZE;
	st->st_mtim = mtime;
	st->st_ctim = mtime;
	st->st_atim = atime;
}

void node_stat_file(struct fs *fs, struct stat *st, const struct inode_ref *r,
		    mode_t mode, size_t size, struct timespec mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = inode_encode(r);
	st->st_mode = S_IFREG | (mode & 07777 & ~fs->umask);
	st->st_nlink = 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)size;
	st->st_blksize = 4096;
	st->st_mtim = mtime;
	st->st_ctim = mtime;
	st->st_atim = mtime;
}

/* DS/.lightly/trash/: tags deleted through the mount, each as a read-only
 * directory of its samples (a tag directory whose tag is trashed) and a
 * NAME.json saying what was deleted when; mv NAME back into DS restores. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "fs_ctx.h"
#include "index.h"
#include "node.h"
#include "refresh.h"
#include "trash.h"

#define TRASH_JSON ".json"
#define TRASH_JSON_LEN 5

static int trash_check(struct fs *fs, struct inode_ref *r)
{
	struct dataset *d;
	int ret = node_check_dataset(fs, r, &d);

	if (!ret)
		ret = refresh_tags(fs, d);
	return ret ? ret : trash_load(fs, d);
}

static void trash_stat(struct fs *fs, const struct inode_ref *r,
		       struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);

	if (d)
		node_stat_dir(fs, st, r, d->mtime,
			      model_ms_to_ts(d->created_ms));
}

static int trash_lookup(struct fs *fs, const struct inode_ref *dir,
			const char *name, struct inode_ref *out)
{
	struct dataset *d = model_dataset(&fs->model, dir->ds);
	char base[INDEX_NAME_MAX + 1];
	size_t len = strlen(name);
	struct tag *t;

	if (!d)
		return -ENOENT;
	t = model_trash_by_name(d, name);
	if (t) {
		out->kind = INODE_KIND_TAG;
		out->tag = t->slot;
		return 0;
	}
	if (len <= TRASH_JSON_LEN ||
	    strcmp(name + len - TRASH_JSON_LEN, TRASH_JSON))
		return -ENOENT;
	memcpy(base, name, len - TRASH_JSON_LEN);
	base[len - TRASH_JSON_LEN] = '\0';
	t = model_trash_by_name(d, base);
	if (!t)
		return -ENOENT;
	out->kind = INODE_KIND_META_TRASH_JSON;
	out->tag = t->slot;
	return 0;
}

static int trash_list(struct fs *fs, struct fs_dir *dir)
{
	struct dataset *d = model_dataset(&fs->model, dir->ref.ds);
	struct inode_ref c = {.ds = dir->ref.ds};
	int ret = 0;

	for (size_t i = 0; i < d->ntags && !ret; i++) {
		struct tag *t = d->tags[i];
		char name[INDEX_NAME_MAX + TRASH_JSON_LEN + 1];

		if (!t->live || !t->trashed)
			continue;
		c.kind = INODE_KIND_TAG;
		c.tag = t->slot;
		ret = dir_add(dir, t->name, &c);
		if (ret || snprintf(name, sizeof(name), "%s" TRASH_JSON,
				    t->name) > INDEX_NAME_MAX)
			continue;
		c.kind = INODE_KIND_META_TRASH_JSON;
		ret = dir_add(dir, name, &c);
	}
	return ret;
}

/* mv DS/.lightly/trash/NAME DS/NEW makes the tag again. */
static int trash_rename(struct fs *fs, const struct inode_ref *dir,
			const char *name, const struct inode_ref *newdir,
			const char *newname)
{
	struct dataset *d = model_dataset(&fs->model, dir->ds);
	struct tag *t = d ? model_trash_by_name(d, name) : NULL;

	if (!t)
		return -ENOENT;
	if (newdir->kind != INODE_KIND_DATASET)
		return -EPERM;
	if (newdir->ds != dir->ds)
		return -EXDEV;
	return trash_restore(fs, d, t, newname);
}

const struct node_ops node_meta_trash_ops = {
    .dir = true,
    .check = trash_check,
    .stat = trash_stat,
    .lookup = trash_lookup,
    .list = trash_list,
    .rename = trash_rename,
};

static int trash_json_check(struct fs *fs, struct inode_ref *r)
{
	struct dataset *d;
	int ret = trash_check(fs, r);

	if (!ret && !(d = model_dataset(&fs->model, r->ds)))
		ret = -ENOENT;
	if (!ret && (!model_tag(d, r->tag) || !model_tag(d, r->tag)->trashed))
		ret = -ENOENT;
	return ret;
}

static int trash_json_fill(struct fs *fs, const struct inode_ref *r,
			   char **data, size_t *len)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);

	return trash_json(fs, d, model_tag(d, r->tag), data, len);
}

/* Its size is the document's: tar and cp trust stat. */
static void trash_json_stat(struct fs *fs, const struct inode_ref *r,
			    struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);
	struct tag *t = model_tag(d, r->tag);
	char *doc = NULL;
	size_t len = 0;

	if (t && !trash_json(fs, d, t, &doc, &len))
		free(doc);
	node_stat_file(fs, st, r, 0444, len,
		       model_ms_to_ts(t ? t->deleted_ms : 0));
}

const struct node_ops node_meta_trash_json_ops = {
    .check = trash_json_check,
    .stat = trash_json_stat,
    .open = node_buffer_open,
    .read = node_buffer_read,
    .release = node_buffer_release,
    .fill = trash_json_fill,
};

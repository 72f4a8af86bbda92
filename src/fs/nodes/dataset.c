/* DS/: a dataset's tags as directories, and the tag calls of one request
 * each: mkdir makes a tag, rmdir deletes an empty one, mv renames one.
 * Each is answered only once the server has agreed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith.h"
#include "dir.h"
#include "fs_ctx.h"
#include "index.h"
#include "log.h"
#include "node.h"
#include "refresh.h"
#include "trash.h"

static int dataset_check(struct fs *fs, struct inode_ref *r)
{
	struct dataset *d;
	int ret = node_check_dataset(fs, r, &d);

	return ret ? ret : refresh_tags(fs, d);
}

static void dataset_stat(struct fs *fs, const struct inode_ref *r,
			 struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);

	if (d)
		node_stat_dir(fs, st, r, d->mtime,
			      model_ms_to_ts(d->created_ms));
}

static int dataset_lookup(struct fs *fs, const struct inode_ref *dir,
			  const char *name, struct inode_ref *out)
{
	struct dataset *d = model_dataset(&fs->model, dir->ds);
	struct tag *t;
	int ret;

	if (!d)
		return -ENOENT;
	if (!strcmp(name, MODEL_META_DIR)) {
		out->kind = INODE_KIND_META;
		return 0;
	}
	/* resolved on lookup only, never listed: find walks no pairs */
	if (arith_name(name))
		return arith_lookup(fs, d, name, out);
	ret = refresh_tags(fs, d);
	if (ret)
		return ret;
	t = model_tag_by_name(d, name);
	if (!t)
		return -ENOENT;
	out->kind = INODE_KIND_TAG;
	out->tag = t->slot;
	return 0;
}

static int dataset_list(struct fs *fs, struct fs_dir *dir)
{
	struct dataset *d = model_dataset(&fs->model, dir->ref.ds);
	struct inode_ref c = {.kind = INODE_KIND_META, .ds = dir->ref.ds};
	int ret = dir_add(dir, MODEL_META_DIR, &c);

	c.kind = INODE_KIND_TAG;
	for (size_t i = 0; i < d->ntags && !ret; i++) {
		if (!model_tag_shown(d, i))
			continue;
		c.tag = d->tags[i]->slot;
		ret = dir_add(dir, d->tags[i]->name, &c);
	}
	return ret;
}

static int check_tag_name(const char *name)
{
	return api_tag_name_valid(name, strlen(name)) ? 0 : -EINVAL;
}

/* ---- mkdir ---- */

struct create_job {
	struct api *api;
	char ds_id[API_ID_LEN + 1], prev[API_ID_LEN + 1];
	char id[API_ID_LEN + 1];
	const char *name;
	char *img; /* set: the dataset's first tag */
	bool first;
	int64_t tot;
};

static int create_fetch(void *arg)
{
	struct create_job *j = arg;

	if (j->first)
		return api_create_initial_tag(j->api, j->ds_id, j->name, j->img,
					      j->id);
	return api_create_tag(j->api, j->ds_id, j->name, j->prev, "0x0", j->tot,
			      j->id);
}

/* A new tag's parent is the initial tag; a dataset without tags gets its
 * initial tag.  Its size is the dataset's, as the web app makes it. */
static int create_prepare(struct create_job *j, struct dataset *d)
{
	struct tag *init = model_initial_tag(d);

	j->tot = d->n_samples;
	j->first = !init;
	memcpy(j->ds_id, d->id, sizeof(j->ds_id));
	if (!init)
		return d->img_type && !(j->img = strdup(d->img_type)) ? -ENOMEM
								      : 0;
	memcpy(j->prev, init->id, sizeof(j->prev));
	if (d->index && index_count(d->index) > j->tot)
		j->tot = index_count(d->index);
	if (init->tot_size > j->tot)
		j->tot = init->tot_size;
	return 0;
}

static int make_tag(struct fs *fs, struct dataset *d, const char *name,
		    struct inode_ref *out)
{
	struct create_job j = {.api = fs->api, .name = name};
	struct inode_ref r = {.kind = INODE_KIND_TAG, .ds = d->slot};
	struct tag *t;
	int ret = create_prepare(&j, d);

	if (!ret)
		ret = cache_unlocked(&fs->cache, create_fetch, &j);
	free(j.img);
	/* someone else just made it: show it at once */
	if (ret == -EEXIST && d->live)
		refresh_tags_now(fs, d);
	if (ret)
		return ret;
	if (!d->live)
		return -ENOENT;
	ret = refresh_tags_now(fs, d);
	t = model_tag_by_name(d, name);
	if (ret || !t || strcmp(t->id, j.id))
		return ret ? ret : -EIO;
	t->created_seq = ++d->edit_seq;
	d->mtime = model_stamp(&fs->model);
	r.tag = t->slot;
	*out = r;
	return 0;
}

/* mv DS/T OTHER/T gets EXDEV (a tag belongs to its dataset), and mv(1)
 * then copies: mkdir OTHER/T, copy the files (refused: they are no samples
 * of OTHER), and remove DS/T when the copy went through; an empty T would
 * be moved that way, and a T with samples would leave an empty tag behind
 * in OTHER.  So the refused rename is remembered in the target dataset
 * for XDEV_MEMORY_S, and the mkdir of that name there that follows is
 * refused once, with EXDEV too: mv stops before it changed anything. */
#define XDEV_MEMORY_S 5.0

static void xdev_remember(struct fs *fs, const struct inode_ref *newdir,
			  const char *newname)
{
	struct dataset *nd = model_dataset(&fs->model, newdir->ds);

	if (!nd || strlen(newname) >= sizeof(nd->xdev_name))
		return;
	snprintf(nd->xdev_name, sizeof(nd->xdev_name), "%s", newname);
	nd->xdev_until = cache_now() + XDEV_MEMORY_S;
}

static bool xdev_refused(struct dataset *d, const char *name)
{
	if (!d || cache_now() > d->xdev_until || strcmp(d->xdev_name, name))
		return false;
	d->xdev_until = 0;
	log_warn("mkdir %s/%s: refused, as mv's copy of a tag from another "
		 "dataset: tags do not move between datasets",
		 d->display ? d->display : d->name, name);
	return true;
}

static int dataset_mkdir(struct fs *fs, const struct inode_ref *dir,
			 const char *name, struct inode_ref *out)
{
	struct inode_ref c = {.ds = dir->ds};
	int ret;

	if (xdev_refused(model_dataset(&fs->model, dir->ds), name))
		return -EXDEV;
	if (arith_name(name))
		return -EINVAL; /* the name of a result, never of a tag */
	if (dataset_lookup(fs, dir, name, &c) == 0)
		return -EEXIST;
	ret = check_tag_name(name);
	if (ret)
		return ret;
	return make_tag(fs, model_dataset(&fs->model, dir->ds), name, out);
}

/* ---- rmdir and mv ---- */

struct tag_call {
	struct api *api;
	char ds_id[API_ID_LEN + 1], tag_id[API_ID_LEN + 1];
	const char *newname; /* NULL: delete */
};

static int tag_call_fetch(void *arg)
{
	struct tag_call *c = arg;

	if (!c->newname)
		return api_delete_tag(c->api, c->ds_id, c->tag_id);
	/* name only: pending mask edits follow in their own flush */
	return api_update_tag(c->api, c->ds_id, c->tag_id, c->newname, NULL,
			      NULL);
}

/* One request about t, with no flush of t overlapping it. */
static int tag_call(struct fs *fs, struct dataset *d, struct tag *t,
		    const char *newname)
{
	struct tag_call c = {.api = fs->api, .newname = newname};
	int ret;

	if (!edits_wire_begin(fs, t))
		return -ENOENT;
	memcpy(c.ds_id, d->id, sizeof(c.ds_id));
	memcpy(c.tag_id, t->id, sizeof(c.tag_id));
	ret = cache_unlocked(&fs->cache, tag_call_fetch, &c);
	edits_wire_end(fs, t);
	return ret;
}

/* rmdir says ENOTEMPTY of a tag whose every sample has a name that cannot
 * be shown: ls finds nothing, so say why. */
static void log_hidden_only(const struct dataset *d, const struct tag *t)
{
	size_t n = 0;

	if (!d->index)
		return;
	for (size_t s = bitmask_next(&t->mask, 0); s != SIZE_MAX;
	     s = bitmask_next(&t->mask, s + 1)) {
		if (index_parent(d->index, (uint32_t)s) != INDEX_NONE)
			return;
		n++;
	}
	log_warn("tag %s: not deleted: it holds %zu samples whose names "
		 "cannot be shown as paths",
		 t->name, n);
}

static int dataset_rmdir(struct fs *fs, const struct inode_ref *dir,
			 const char *name)
{
	struct dataset *d = model_dataset(&fs->model, dir->ds);
	struct tag *t;
	int ret;

	if (!strcmp(name, MODEL_META_DIR))
		return -EPERM;
	t = model_tag_by_name(d, name);
	if (!t)
		return -ENOENT;
	if (!bitmask_is_empty(&t->mask)) {
		log_hidden_only(d, t);
		return -ENOTEMPTY; /* a tag is a curator's work: rm -r first */
	}
	/* kept before the delete is sent: a crash after it loses nothing */
	trash_save(fs, d, t);
	ret = tag_call(fs, d, t, NULL);
	if (ret == -ENOENT && t->live)
		ret = 0; /* the server had it gone already: what rmdir wanted */
	if (ret) {
		trash_drop(fs, d, t->id);
		/* rm -r emptied it first: the tag stays as the server has it */
		if (t->live)
			edits_drop_pending(fs, d, t);
		return ret;
	}
	edits_settled(fs, d, t, t->edit.seq); /* its edits went with it */
	model_forget_tag(&fs->model, d, t);
	cache_wake(&fs->cache);
	return 0;
}

static int rename_tag(struct fs *fs, struct dataset *d, const char *name,
		      const char *newname)
{
	struct tag *t = model_tag_by_name(d, name);
	char *nn;
	int ret;

	if (!t)
		return -ENOENT;
	if (!strcmp(name, newname))
		return 0;
	/* EINVAL would make mv say "to a subdirectory of itself" */
	if (check_tag_name(newname)) {
		log_info("mv: %s is not a tag name: 3 or more of letters, "
			 "digits and \" .:;=@_-\", starting with a letter or "
			 "digit",
			 newname);
		return -EPERM;
	}
	if (model_tag_by_name(d, newname) || !strcmp(newname, MODEL_META_DIR))
		return -EEXIST; /* a tag is never replaced */
	nn = strdup(newname);
	if (!nn)
		return -ENOMEM;
	ret = tag_call(fs, d, t, nn);
	if (ret) {
		free(nn);
		return ret;
	}
	free(t->name);
	t->name = nn;
	t->edit.seq = ++d->edit_seq;
	d->mtime = model_stamp(&fs->model);
	return 0;
}

/* A tag moves only within its dataset, under a new name. */
static int dataset_rename(struct fs *fs, const struct inode_ref *dir,
			  const char *name, const struct inode_ref *newdir,
			  const char *newname)
{
	int ret = node_rename_target(dir, newdir);

	if (ret == -EXDEV && newdir->kind == INODE_KIND_DATASET)
		xdev_remember(fs, newdir, newname);
	if (ret)
		return ret;
	if (newdir->kind != INODE_KIND_DATASET)
		return -EPERM; /* tags do not nest */
	if (arith_name(name))
		return arith_save(fs, model_dataset(&fs->model, dir->ds), name,
				  newname);
	return rename_tag(fs, model_dataset(&fs->model, dir->ds), name,
			  newname);
}

const struct node_ops node_dataset_ops = {
    .dir = true,
    .check = dataset_check,
    .stat = dataset_stat,
    .lookup = dataset_lookup,
    .absent = node_dot_absent,
    .list = dataset_list,
    .mkdir = dataset_mkdir,
    .rmdir = dataset_rmdir,
    .rename = dataset_rename,
};

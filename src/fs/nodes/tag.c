/* DS/T/...: a tag's folders and samples, and the edits of its samples
 * (ln, cp, touch add one; rm removes one; mv moves one between tags) and
 * of its mkdir-only folders.  Sample edits go through edits.c. */
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
#include "tagview.h"

/* Folder ids of mkdir-made paths no sample has sit above any id the index
 * gives out within the inode's folder field. */
#define TAG_LOCAL_FOLDER_BASE ((INODE_MAX_FOLDERS + 1u) / 2u)
#define TAG_FOLDER_DEPTH_MAX 64 /* deeper mkdir-made folders: ENAMETOOLONG */
#define TAG_PATH_MAX 4096

static int tag_check(struct fs *fs, struct inode_ref *r)
{
	struct dataset *d;
	struct tag *t;
	int ret = node_check_dataset(fs, r, &d);

	if (!ret)
		ret = refresh_tags(fs, d);
	if (ret)
		return ret;
	t = model_tag(d, r->tag);
	if (!t)
		return -ENOENT;
	if (t->derived && (ret = arith_ensure(fs, d, t)))
		return ret;
	if (!r->folder)
		return 0;
	ret = tagview_ensure(fs, d, t);
	if (ret)
		return ret;
	return tagview_has_folder(t, r->folder) ? 0 : -ENOENT;
}

static void tag_stat(struct fs *fs, const struct inode_ref *r, struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);
	struct tag *t = model_tag(d, r->tag);

	if (d)
		node_stat_dir(
		    fs, st, r, t ? t->mtime : d->mtime,
		    model_ms_to_ts(t ? t->created_ms : d->created_ms));
	if (t && !model_tag_of_server(t))
		st->st_mode = S_IFDIR | 0555;
}

/* The live dataset and tag of r, with t's listing ready. */
static int tag_open_view(struct fs *fs, const struct inode_ref *r,
			 struct dataset **d, struct tag **t)
{
	int ret;

	*d = model_dataset(&fs->model, r->ds);
	*t = model_tag(*d, r->tag);
	if (!*t)
		return -ENOENT;
	ret = (*t)->derived ? arith_ensure(fs, *d, *t) : 0;
	if (!ret)
		ret = tagview_ensure(fs, *d, *t);
	if (!ret && !(*t)->live)
		ret = -ENOENT;
	return ret;
}

/* name in the folder dir of t, from what is in memory. */
static int tag_find(struct dataset *d, struct tag *t,
		    const struct inode_ref *dir, const char *name,
		    struct inode_ref *out)
{
	char kind;
	uint32_t id;
	int ret = index_child_lookup(d->index, dir->folder, name, strlen(name),
				     &kind, &id);

	out->tag = dir->tag;
	if (!ret && kind == 'f' && bitmask_test(&t->mask, id)) {
		out->kind = INODE_KIND_FILE;
		out->sample = id;
		return 0;
	}
	if (ret || kind != 'd' || !tagview_has_folder(t, id))
		id = localdir_lookup(&t->local, dir->folder, name);
	if (id == INDEX_NONE)
		return -ENOENT;
	out->kind = INODE_KIND_TAG;
	out->folder = id;
	return 0;
}

static int tag_lookup(struct fs *fs, const struct inode_ref *dir,
		      const char *name, struct inode_ref *out)
{
	struct dataset *d;
	struct tag *t;
	int ret = tag_open_view(fs, dir, &d, &t);

	return ret ? ret : tag_find(d, t, dir, name, out);
}

/* A sample's name may start with '.', so a probe (.hidden, .directory,
 * .Trash-1000) is known to be absent only when t's listing is in memory:
 * then it is answered from there, stale or not, without a request. */
static bool tag_absent(struct fs *fs, const struct inode_ref *dir,
		       const char *name)
{
	struct dataset *d = model_dataset(&fs->model, dir->ds);
	struct tag *t = model_tag(d, dir->tag);
	struct inode_ref out;

	if (name[0] != '.' || !t || !t->live || !d->index || d->fallback ||
	    t->view.need_gen != t->gen + 1 ||
	    t->view.folders_gen != t->gen + 1 ||
	    t->view.need > index_count(d->index))
		return false;
	return tag_find(d, t, dir, name, &out) == -ENOENT;
}

static int add_local_cb(const char *name, uint32_t id, void *arg)
{
	struct fs_dir *dir = arg;
	struct inode_ref r = dir->ref;

	r.folder = id;
	return dir_add(dir, name, &r);
}

/* A flat dataset's root: t's visible samples, straight from its mask. */
static void list_all(struct dataset *d, struct tag *t, struct fs_dir *dir)
{
	uint32_t n = index_count(d->index);

	for (size_t s = bitmask_next(&t->mask, 0); s < n;
	     s = bitmask_next(&t->mask, s + 1))
		if (index_parent(d->index, (uint32_t)s) != INDEX_NONE)
			dir->samples[dir->nsamples++] = (uint32_t)s;
}

/* The folder's subfolders and samples in t, as index numbers. */
static int tag_list(struct fs *fs, struct fs_dir *dir)
{
	const uint32_t *subs, *samples;
	size_t nsubs, nsamples, cap;
	struct dataset *d;
	struct tag *t;
	bool all;
	int ret = tag_open_view(fs, &dir->ref, &d, &t);

	if (ret)
		return ret;
	dir_pin(dir, d);
	subs = index_folder_subfolders(d->index, dir->ref.folder, &nsubs);
	samples = index_folder_samples(d->index, dir->ref.folder, &nsamples);
	if (nsubs && !(dir->folders = malloc(nsubs * sizeof(uint32_t))))
		return -ENOMEM;
	for (size_t i = 0; i < nsubs; i++)
		if (bitmask_test(&t->view.folders, subs[i]))
			dir->folders[dir->nfolders++] = subs[i];
	all = index_folder_all(d->index, dir->ref.folder);
	if (all)
		nsamples = index_count(d->index);
	cap = bitmask_count(&t->mask);
	if (cap > nsamples)
		cap = nsamples;
	if (nsamples &&
	    !(dir->samples = malloc((cap ? cap : 1) * sizeof(uint32_t))))
		return -ENOMEM;
	if (all && nsamples)
		list_all(d, t, dir);
	for (size_t i = 0; !all && i < nsamples && dir->nsamples < cap; i++)
		if (bitmask_test(&t->mask, samples[i]))
			dir->samples[dir->nsamples++] = samples[i];
	return localdir_list(&t->local, dir->ref.folder, &t->view.folders,
			     add_local_cb, dir);
}

/* Whether sample s of d lies in folder (at any depth). */
static bool in_folder(const struct dataset *d, uint32_t s, uint32_t folder)
{
	uint32_t f = index_parent(d->index, s);

	while (f != INDEX_NONE && f != folder)
		f = index_folder_parent(d->index, f);
	return f != INDEX_NONE;
}

int node_tag_samples(struct fs *fs, const struct inode_ref *r,
		     struct dataset **d, uint32_t **out, size_t *n)
{
	size_t cap, k = 0;
	struct tag *t;
	uint32_t nidx;
	int ret = tag_open_view(fs, r, d, &t);

	*out = NULL;
	*n = 0;
	if (ret)
		return ret;
	nidx = index_count((*d)->index);
	cap = bitmask_count(&t->mask);
	if (!(*out = malloc((cap ? cap : 1) * sizeof(uint32_t))))
		return -ENOMEM;
	for (size_t s = bitmask_next(&t->mask, 0); s < nidx && k < cap;
	     s = bitmask_next(&t->mask, s + 1))
		if (in_folder(*d, (uint32_t)s, r->folder))
			(*out)[k++] = (uint32_t)s;
	*n = k;
	return 0;
}

/* Every edit starts here: t's listing is ready and its mask writable. */
static int begin_edit(struct fs *fs, const struct inode_ref *r,
		      struct dataset **d, struct tag **t)
{
	int ret = tag_open_view(fs, r, d, t);

	/* without the server's index order no mask can be written */
	if (!ret && (*d)->fallback)
		ret = -EROFS;
	/* the trash and arithmetic results are read-only: mv one into
	 * the dataset to make it a tag */
	if (!ret && !model_tag_of_server(*t))
		ret = -EPERM;
	return ret;
}

/* The initial tag stands for the whole dataset: no sample leaves it (so
 * rm -rf DS keeps every sample). */
static int may_remove_from(const struct tag *t)
{
	return t->prev[0] ? 0 : -EPERM;
}

/* The sample a file name in a tag folder names, if that is its own path.
 * -ENOENT when no sample of the dataset has it, -EISDIR for a folder. */
static int sample_at(struct dataset *d, uint32_t folder, const char *name,
		     uint32_t *sample)
{
	char kind;
	uint32_t id;

	if (folder >= TAG_LOCAL_FOLDER_BASE)
		return -ENOENT;
	if (index_child_lookup(d->index, folder, name, strlen(name), &kind,
			       &id))
		return -ENOENT;
	if (kind != 'f')
		return -EISDIR;
	*sample = id;
	return 0;
}

static void sample_ref(struct dataset *d, uint32_t s, struct inode_ref *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = INODE_KIND_FILE;
	out->ds = d->slot;
	out->sample = s;
}

/* ---- folders ---- */

/* The path of a folder inside a tag ("" for the tag itself). */
static int folder_path(struct dataset *d, struct tag *t, uint32_t folder,
		       char *out, size_t outsz)
{
	const struct local_folder *lf = localdir_by_id(&t->local, folder);
	uint32_t chain[TAG_FOLDER_DEPTH_MAX];
	size_t n = 0, len = 0;

	if (folder >= TAG_LOCAL_FOLDER_BASE) {
		if (!lf)
			return -ENOENT;
		return snprintf(out, outsz, "%s", lf->path) < (int)outsz
			   ? 0
			   : -ENAMETOOLONG;
	}
	for (uint32_t f = folder; f != INDEX_ROOT_FOLDER && f != INDEX_NONE;
	     f = index_folder_parent(d->index, f)) {
		if (n == TAG_FOLDER_DEPTH_MAX)
			return -ENAMETOOLONG;
		chain[n++] = f;
	}
	out[0] = '\0';
	while (n-- > 0) {
		int w = snprintf(out + len, outsz - len, "%s%s", len ? "/" : "",
				 index_folder_name(d->index, chain[n]));

		if (w < 0 || (size_t)w >= outsz - len)
			return -ENAMETOOLONG;
		len += (size_t)w;
	}
	return 0;
}

static int make_local_folder(struct fs *fs, struct dataset *d, struct tag *t,
			     const struct inode_ref *dir, const char *name,
			     struct inode_ref *out)
{
	char path[TAG_PATH_MAX], full[TAG_PATH_MAX + INDEX_NAME_MAX + 2];
	struct inode_ref r = *dir;
	uint32_t id;
	char kind;
	int ret;

	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EEXIST;
	ret = folder_path(d, t, dir->folder, path, sizeof(path));
	if (ret)
		return ret;
	if (!index_child_lookup(d->index, dir->folder, name, strlen(name),
				&kind, &id)) {
		if (kind == 'f')
			return -EEXIST; /* a sample has that path */
	} else {
		if (fs->model.next_local_folder >=
		    INODE_MAX_FOLDERS - TAG_LOCAL_FOLDER_BASE)
			return -ENOSPC;
		id = TAG_LOCAL_FOLDER_BASE + fs->model.next_local_folder++;
	}
	snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "/" : "", name);
	ret = localdir_add(&t->local, id, dir->folder, name, full);
	if (ret)
		return ret;
	t->gen++;
	t->mtime = model_stamp(&fs->model);
	r.folder = id;
	*out = r;
	return 0;
}

static int tag_mkdir(struct fs *fs, const struct inode_ref *dir,
		     const char *name, struct inode_ref *out)
{
	struct inode_ref c = {.ds = dir->ds};
	struct dataset *d;
	struct tag *t;
	int ret = begin_edit(fs, dir, &d, &t);

	if (ret)
		return ret;
	if (tag_lookup(fs, dir, name, &c) == 0)
		return -EEXIST;
	return make_local_folder(fs, d, t, dir, name, out);
}

static int tag_rmdir(struct fs *fs, const struct inode_ref *dir,
		     const char *name)
{
	struct dataset *d;
	struct tag *t;
	char kind;
	uint32_t id;
	int ret = begin_edit(fs, dir, &d, &t);

	if (ret)
		return ret;
	if (!index_child_lookup(d->index, dir->folder, name, strlen(name),
				&kind, &id)) {
		if (kind == 'f')
			return bitmask_test(&t->mask, id) ? -ENOTDIR : -ENOENT;
		if (bitmask_test(&t->view.folders, id))
			return -ENOTEMPTY;
	} else {
		id = localdir_lookup(&t->local, dir->folder, name);
	}
	ret = localdir_remove(&t->local, id);
	if (ret)
		return ret;
	t->gen++;
	t->mtime = model_stamp(&fs->model);
	return 0;
}

/* ---- samples ---- */

static int tag_unlink(struct fs *fs, const struct inode_ref *dir,
		      const char *name)
{
	struct dataset *d;
	struct tag *t;
	uint32_t s;
	int ret = begin_edit(fs, dir, &d, &t);

	if (!ret)
		ret = sample_at(d, dir->folder, name, &s);
	if (!ret && !bitmask_test(&t->mask, s))
		ret = -ENOENT;
	if (!ret)
		ret = may_remove_from(t);
	return ret ? ret : edits_set_sample(fs, d, t, s, false);
}

/* rsync writes ".NAME.XXXXXX" and renames it onto NAME; a tag has no
 * room for a file that is no sample, so that create is refused (EPERM,
 * nothing changes) and the log names the flag that makes rsync work. */
static int refuse_rsync_temp(struct dataset *d, uint32_t folder,
			     const char *name)
{
	char base[INDEX_NAME_MAX + 1];
	size_t len = strlen(name);
	uint32_t s;

	if (len < 9 || name[0] != '.' || name[len - 7] != '.')
		return -ENOENT;
	memcpy(base, name + 1, len - 8);
	base[len - 8] = '\0';
	if (sample_at(d, folder, base, &s))
		return -ENOENT;
	log_warn("%s: not a sample (a temporary file of rsync?); rsync into "
		 "a tag needs --inplace",
		 name);
	return -EPERM;
}

static int tag_create(struct fs *fs, const struct inode_ref *dir,
		      const char *name, struct inode_ref *out, bool *added)
{
	struct dataset *d;
	struct tag *t;
	uint32_t s = 0;
	int ret = begin_edit(fs, dir, &d, &t);

	if (!ret)
		ret = sample_at(d, dir->folder, name, &s);
	if (ret == -EISDIR)
		ret = -EEXIST;
	if (ret == -ENOENT)
		ret = refuse_rsync_temp(d, dir->folder, name);
	if (!ret)
		*added = !bitmask_test(&t->mask, s);
	if (!ret)
		ret = edits_set_sample(fs, d, t, s, true);
	if (!ret)
		sample_ref(d, s, out);
	return ret;
}

/* The link must be the sample's own path in the new tag. */
/* ln of a sample under any path but its own gives a bare EINVAL, and a
 * sample in a folder is easily linked into the tag's top level: say which
 * path it must have. */
static void log_link_path(const struct dataset *d, const struct tag *t,
			  uint64_t sample)
{
	const char *full = NULL;
	size_t len = 0;

	if (d->index && sample < index_count(d->index))
		full = index_name(d->index, (uint32_t)sample, &len);
	if (!full || index_parent(d->index, (uint32_t)sample) == INDEX_NONE)
		return;
	log_info("ln: %s is %.*s in dataset %s: link it as %s/%.*s",
		 index_basename(d->index, (uint32_t)sample), (int)len, full,
		 d->display ? d->display : d->name, t->name, (int)len, full);
}

static int tag_link(struct fs *fs, const struct inode_ref *src,
		    const struct inode_ref *dir, const char *name,
		    struct inode_ref *out)
{
	struct dataset *d;
	struct tag *t;
	uint32_t s;
	int ret = begin_edit(fs, dir, &d, &t);

	if (ret)
		return ret;
	if (src->kind != INODE_KIND_FILE)
		return -EPERM;
	if (src->ds != dir->ds)
		return -EXDEV;
	if (sample_at(d, dir->folder, name, &s) || s != src->sample) {
		log_link_path(d, t, src->sample);
		return -EINVAL;
	}
	if (bitmask_test(&t->mask, s))
		return -EEXIST;
	ret = edits_set_sample(fs, d, t, s, true);
	if (!ret)
		sample_ref(d, s, out);
	return ret;
}

/* mv of a sample between tags; a file keeps its path (the sample's name
 * is not ours to change). */
static int tag_rename(struct fs *fs, const struct inode_ref *dir,
		      const char *name, const struct inode_ref *newdir,
		      const char *newname)
{
	struct dataset *d;
	struct tag *t, *nt;
	uint32_t s, ns;
	int ret = begin_edit(fs, dir, &d, &t);

	if (!ret)
		ret = node_rename_target(dir, newdir);
	if (!ret && newdir->kind != INODE_KIND_TAG)
		ret = -EPERM; /* a sample lives in tags, not beside them */
	if (ret)
		return ret;
	nt = model_tag(d, newdir->tag);
	if (!nt)
		return -ENOENT;
	ret = tagview_ensure(fs, d, nt);
	if (ret)
		return ret;
	t = model_tag(d, dir->tag);
	if (!t)
		return -ENOENT;
	ret = sample_at(d, dir->folder, name, &s);
	/* a folder moves as its files: EXDEV makes mv copy (which adds
	 * each sample to the target) before it removes */
	if (ret == -EISDIR)
		return nt == t ? -EPERM : -EXDEV;
	if (ret || !bitmask_test(&t->mask, s))
		return -ENOENT;
	if (sample_at(d, newdir->folder, newname, &ns) || ns != s)
		return -EPERM; /* a sample's name is the dataset's */
	if (nt == t)
		return 0;
	ret = may_remove_from(t);
	return ret ? ret : edits_move_sample(fs, d, t, nt, s);
}

const struct node_ops node_tag_ops = {
    .dir = true,
    .check = tag_check,
    .stat = tag_stat,
    .lookup = tag_lookup,
    .absent = tag_absent,
    .list = tag_list,
    .mkdir = tag_mkdir,
    .rmdir = tag_rmdir,
    .unlink = tag_unlink,
    .create = tag_create,
    .link = tag_link,
    .rename = tag_rename,
};

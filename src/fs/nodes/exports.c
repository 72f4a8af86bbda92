/* DS/.lightly/exports/<tag>.<format>: the tag's exports (LabelStudio
 * tasks, LabelBox and LabelBox v4 data rows, Sama tasks, the basic
 * filenames in three forms) as the server serves them, fetched when looked
 * up by name or opened and kept for the TTL, so a stat already has the
 * document's true size (tar and rsync trust it).  The directory lists none
 * of them (exports_list says why). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "fs_ctx.h"
#include "index.h"
#include "node.h"
#include "refresh.h"

/* Each format's file name after the tag's, and its kind. */
static const struct export_file {
	const char *suffix;
	enum inode_kind kind;
} export_files[API_EXPORT_COUNT] = {
    [API_EXPORT_LABELSTUDIO] = {".labelstudio.json", INODE_KIND_META_EXPORT_LS},
    [API_EXPORT_LABELBOX] = {".labelbox.json", INODE_KIND_META_EXPORT_LB},
    [API_EXPORT_LABELBOX_V4] = {".labelboxv4.json", INODE_KIND_META_EXPORT_LB4},
    [API_EXPORT_SAMA] = {".sama.json", INODE_KIND_META_EXPORT_SAMA},
    [API_EXPORT_NAMES] = {".filenames.txt", INODE_KIND_META_EXPORT_NAMES},
    [API_EXPORT_READ_URLS] = {".readurls.txt",
			      INODE_KIND_META_EXPORT_READ_URLS},
    [API_EXPORT_DATASOURCE_URLS] = {".datasource-urls.txt",
				    INODE_KIND_META_EXPORT_DS_URLS},
};

static enum api_export format_of(const struct inode_ref *r)
{
	for (int f = 0; f < API_EXPORT_COUNT; f++)
		if (export_files[f].kind == r->kind)
			return (enum api_export)f;
	return API_EXPORT_LABELSTUDIO; /* the table names every kind here */
}

static int exports_check(struct fs *fs, struct inode_ref *r)
{
	struct dataset *d;
	int ret = node_check_dataset(fs, r, &d);

	return ret ? ret : refresh_tags(fs, d);
}

static void exports_stat(struct fs *fs, const struct inode_ref *r,
			 struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);

	if (d)
		node_stat_dir(fs, st, r, d->mtime,
			      model_ms_to_ts(d->created_ms));
}

/* The tag whose name is name less suffix: 1 found, 0 name does not end in
 * suffix, -ENOENT no such tag. */
static int tag_named(struct dataset *d, const char *name, const char *suffix,
		     struct tag **t)
{
	char base[INDEX_NAME_MAX + 1];
	size_t len = strlen(name), n = strlen(suffix);

	if (len <= n || len - n > INDEX_NAME_MAX ||
	    strcmp(name + len - n, suffix))
		return 0;
	memcpy(base, name, len - n);
	base[len - n] = '\0';
	*t = model_tag_by_name(d, base);
	return *t ? 1 : -ENOENT;
}

static int exports_lookup(struct fs *fs, const struct inode_ref *dir,
			  const char *name, struct inode_ref *out)
{
	struct dataset *d = model_dataset(&fs->model, dir->ds);
	struct tag *t = NULL;
	int found = 0;

	if (!d)
		return -ENOENT;
	for (int f = 0; !found && f < API_EXPORT_COUNT; f++) {
		found = tag_named(d, name, export_files[f].suffix, &t);
		out->kind = export_files[f].kind;
	}
	/* the tag's images, streamed (nodes/export_zip.c) */
	if (!found) {
		found = tag_named(d, name, ".zip", &t);
		out->kind = INODE_KIND_META_EXPORT_ZIP;
	}
	if (found <= 0)
		return -ENOENT;
	out->tag = t->slot;
	return 0;
}

/* Lists none of the documents.  A walk (du, find, ls -lR, tar, rsync -a, a
 * file manager) looks up all it lists, and a listed export would be fetched
 * for its size: every export of every tag, for a du.  Listed with an
 * unknown size instead, tar and rsync would store what that size says
 * (empty files).  So the documents are resolved by name only, as tag
 * arithmetic is, and a walk makes no export request. */
static int exports_list(struct fs *fs, struct fs_dir *dir)
{
	(void)fs, (void)dir;
	return 0;
}

const struct node_ops node_meta_exports_ops = {
    .dir = true,
    .check = exports_check,
    .stat = exports_stat,
    .lookup = exports_lookup,
    .list = exports_list,
};

struct export_job {
	struct fs *fs;
	struct tag_export *x;
	enum api_export fmt;
	char ds_id[API_ID_LEN + 1], tag_id[API_ID_LEN + 1];
	char *doc;
	size_t len;
};

static int export_fetch(void *arg)
{
	struct export_job *j = arg;

	return api_export_tag(j->fs->api, j->ds_id, j->tag_id, j->fmt,
			      j->fs->export_expires_s, j->fs->access_control,
			      &j->doc, &j->len);
}

static int export_install(void *arg, int err)
{
	struct export_job *j = arg;

	if (!err)
		model_tag_doc_set(j->x, &j->doc, j->len);
	return err;
}

static const struct cache_loader export_loader = {
    .fetch = export_fetch,
    .install = export_install,
};

/* The export is what the server says now, for the TTL. */
static int export_check(struct fs *fs, struct inode_ref *r)
{
	struct export_job j = {.fs = fs, .fmt = format_of(r)};
	struct dataset *d;
	struct tag *t;
	int ret = exports_check(fs, r);

	if (ret)
		return ret;
	d = model_dataset(&fs->model, r->ds);
	t = model_tag(d, r->tag);
	if (!t || !model_tag_of_server(t))
		return -ENOENT;
	j.x = &t->exports[j.fmt];
	memcpy(j.ds_id, d->id, sizeof(j.ds_id));
	memcpy(j.tag_id, t->id, sizeof(j.tag_id));
	ret = cache_load(&fs->cache, &j.x->load, &export_loader, &j);
	free(j.doc);
	return ret;
}

static void export_stat(struct fs *fs, const struct inode_ref *r,
			struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);
	struct tag *t = model_tag(d, r->tag);
	const struct tag_export *x = t ? &t->exports[format_of(r)] : NULL;

	node_stat_file(fs, st, r, 0444, x ? x->len : 0,
		       model_ms_to_ts(t ? t->modified_ms : 0));
	if (!x || !x->doc)
		st->st_size = FS_SIZE_UNKNOWN;
}

static int export_fill(struct fs *fs, const struct inode_ref *r, char **data,
		       size_t *len)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);
	struct tag *t = model_tag(d, r->tag);
	const struct tag_export *x = &t->exports[format_of(r)];

	*data = malloc(x->len ? x->len : 1);
	if (!*data)
		return -ENOMEM;
	memcpy(*data, x->doc, x->len);
	*len = x->len;
	return 0;
}

const struct node_ops node_meta_export_ops = {
    .check = export_check,
    .stat = export_stat,
    .open = node_buffer_open,
    .read = node_buffer_read,
    .release = node_buffer_release,
    .fill = export_fill,
};

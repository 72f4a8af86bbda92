/* DS/.lightly/: dataset.json and tags/<tag>.json, the dataset and its tags
 * as the API returns them.  A tag name of 251-255 bytes plus ".json" is
 * longer than a path component may be: such a tag's file is its first
 * META_LONG_PREFIX bytes, '~', the name's FNV-1a hash in 16 hex digits and
 * ".json" (255 bytes; no tag name has a '~', so no clash). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "fs_ctx.h"
#include "index.h"
#include "node.h"
#include "refresh.h"

#define META_JSON ".json"
#define META_JSON_LEN 5
#define META_LONG_PREFIX (INDEX_NAME_MAX - 1 - 16 - META_JSON_LEN)

static int meta_check(struct fs *fs, struct inode_ref *r)
{
	struct dataset *d;

	return node_check_dataset(fs, r, &d);
}

static void meta_dir_stat(struct fs *fs, const struct inode_ref *r,
			  struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);

	if (d)
		node_stat_dir(fs, st, r, d->mtime,
			      model_ms_to_ts(d->created_ms));
}

static int meta_lookup(struct fs *fs, const struct inode_ref *dir,
		       const char *name, struct inode_ref *out)
{
	(void)fs, (void)dir;
	if (!strcmp(name, "dataset.json"))
		out->kind = INODE_KIND_META_DATASET;
	else if (!strcmp(name, "tags"))
		out->kind = INODE_KIND_META_TAGS;
	else if (!strcmp(name, "trash"))
		out->kind = INODE_KIND_META_TRASH;
	else if (!strcmp(name, "exports"))
		out->kind = INODE_KIND_META_EXPORTS;
	else if (!strcmp(name, "upsize"))
		out->kind = INODE_KIND_META_UPSIZE;
	else if (!strcmp(name, "warmup"))
		out->kind = INODE_KIND_META_WARMUP;
	else if (!strcmp(name, "README"))
		out->kind = INODE_KIND_META_README;
	else
		return -ENOENT;
	return 0;
}

static int meta_list(struct fs *fs, struct fs_dir *dir)
{
	struct inode_ref c = {.kind = INODE_KIND_META_DATASET,
			      .ds = dir->ref.ds};
	int ret = dir_add(dir, "dataset.json", &c);

	(void)fs;
	c.kind = INODE_KIND_META_TAGS;
	if (!ret)
		ret = dir_add(dir, "tags", &c);
	c.kind = INODE_KIND_META_TRASH;
	if (!ret)
		ret = dir_add(dir, "trash", &c);
	c.kind = INODE_KIND_META_EXPORTS;
	if (!ret)
		ret = dir_add(dir, "exports", &c);
	c.kind = INODE_KIND_META_UPSIZE;
	if (!ret)
		ret = dir_add(dir, "upsize", &c);
	c.kind = INODE_KIND_META_WARMUP;
	if (!ret)
		ret = dir_add(dir, "warmup", &c);
	c.kind = INODE_KIND_META_README;
	return ret ? ret : dir_add(dir, "README", &c);
}

const struct node_ops node_meta_ops = {
    .dir = true,
    .check = meta_check,
    .stat = meta_dir_stat,
    .lookup = meta_lookup,
    .list = meta_list,
};

static void meta_dataset_stat(struct fs *fs, const struct inode_ref *r,
			      struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);

	if (d)
		node_stat_file(fs, st, r, 0444, d->json ? strlen(d->json) : 0,
			       model_ms_to_ts(d->modified_ms));
}

static int meta_dataset_fill(struct fs *fs, const struct inode_ref *r,
			     char **data, size_t *len)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);

	*data = NULL;
	*len = 0;
	if (!d->json)
		return 0;
	*data = strdup(d->json);
	if (!*data)
		return -ENOMEM;
	*len = strlen(*data);
	return 0;
}

const struct node_ops node_meta_dataset_ops = {
    .check = meta_check,
    .stat = meta_dataset_stat,
    .open = node_buffer_open,
    .read = node_buffer_read,
    .release = node_buffer_release,
    .fill = meta_dataset_fill,
};

/* The name of t's file in tags/ (out holds INDEX_NAME_MAX + 1 bytes). */
static void meta_tag_file_name(const char *tag, char *out)
{
	size_t len = strlen(tag);

	if (len + META_JSON_LEN <= INDEX_NAME_MAX)
		snprintf(out, INDEX_NAME_MAX + 1, "%s" META_JSON, tag);
	else
		snprintf(out, INDEX_NAME_MAX + 1, "%.*s~%016llx" META_JSON,
			 (int)META_LONG_PREFIX, tag,
			 (unsigned long long)model_hash_str(tag));
}

/* A long name's file: the shown tag whose file name it is. */
static struct tag *meta_long_tag(const struct dataset *d, const char *name)
{
	char file[INDEX_NAME_MAX + 1];

	for (size_t i = 0; i < d->ntags; i++) {
		if (!model_tag_shown(d, i) ||
		    strlen(d->tags[i]->name) + META_JSON_LEN <= INDEX_NAME_MAX)
			continue;
		meta_tag_file_name(d->tags[i]->name, file);
		if (!strcmp(file, name))
			return d->tags[i];
	}
	return NULL;
}

static int meta_tags_lookup(struct fs *fs, const struct inode_ref *dir,
			    const char *name, struct inode_ref *out)
{
	struct dataset *d = model_dataset(&fs->model, dir->ds);
	char base[INDEX_NAME_MAX + 1];
	size_t len = strlen(name);
	struct tag *t;
	int ret;

	if (!d)
		return -ENOENT;
	if (len <= META_JSON_LEN ||
	    strcmp(name + len - META_JSON_LEN, META_JSON))
		return -ENOENT;
	ret = refresh_tags(fs, d);
	if (ret)
		return ret;
	memcpy(base, name, len - META_JSON_LEN);
	base[len - META_JSON_LEN] = '\0';
	t = model_tag_by_name(d, base);
	if (!t && len == INDEX_NAME_MAX && name[META_LONG_PREFIX] == '~')
		t = meta_long_tag(d, name);
	if (!t)
		return -ENOENT;
	out->kind = INODE_KIND_META_TAG;
	out->tag = t->slot;
	return 0;
}

static int meta_tags_list(struct fs *fs, struct fs_dir *dir)
{
	struct dataset *d = model_dataset(&fs->model, dir->ref.ds);
	struct inode_ref c = {.kind = INODE_KIND_META_TAG, .ds = d->slot};
	int ret = refresh_tags(fs, d);

	for (size_t i = 0; i < d->ntags && !ret; i++) {
		char name[INDEX_NAME_MAX + 1];

		if (!model_tag_shown(d, i))
			continue;
		meta_tag_file_name(d->tags[i]->name, name);
		c.tag = d->tags[i]->slot;
		ret = dir_add(dir, name, &c);
	}
	return ret;
}

const struct node_ops node_meta_tags_ops = {
    .dir = true,
    .check = meta_check,
    .stat = meta_dir_stat,
    .lookup = meta_tags_lookup,
    .list = meta_tags_list,
};

struct tag_json_job {
	struct api *api;
	struct tag_export *x;
	char ds_id[API_ID_LEN + 1], tag_id[API_ID_LEN + 1];
	char *doc;
	size_t len;
};

static int tag_json_fetch(void *arg)
{
	struct tag_json_job *j = arg;

	return api_get_tag_json(j->api, j->ds_id, j->tag_id, &j->doc, &j->len);
}

static int tag_json_install(void *arg, int err)
{
	struct tag_json_job *j = arg;

	if (!err)
		model_tag_doc_set(j->x, &j->doc, j->len);
	return err;
}

static const struct cache_loader tag_json_loader = {
    .fetch = tag_json_fetch,
    .install = tag_json_install,
};

/* The document is loaded with the entry, for the TTL, so that stat has
 * its length (tar and rsync read st_size bytes). */
static int meta_tag_check(struct fs *fs, struct inode_ref *r)
{
	struct tag_json_job j = {.api = fs->api};
	struct dataset *d;
	struct tag *t;
	int ret = node_check_dataset(fs, r, &d);

	if (!ret)
		ret = refresh_tags(fs, d);
	t = ret ? NULL : model_tag(d, r->tag);
	if (!ret && !t)
		ret = -ENOENT;
	if (ret || !model_tag_of_server(t))
		return ret;
	j.x = &t->json;
	memcpy(j.ds_id, d->id, sizeof(j.ds_id));
	memcpy(j.tag_id, t->id, sizeof(j.tag_id));
	ret = cache_load(&fs->cache, &j.x->load, &tag_json_loader, &j);
	free(j.doc);
	return ret;
}

static void meta_tag_stat(struct fs *fs, const struct inode_ref *r,
			  struct stat *st)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);
	struct tag *t = model_tag(d, r->tag);

	node_stat_file(fs, st, r, 0444, t ? t->json.len : 0,
		       model_ms_to_ts(t ? t->modified_ms : 0));
	if (!t || !t->json.doc)
		st->st_size = FS_SIZE_UNKNOWN;
}

/* Fetched again at every open: it is what the server holds now (stat
 * gave what it held within the TTL). */
static int meta_tag_fill(struct fs *fs, const struct inode_ref *r, char **data,
			 size_t *len)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);
	struct tag *t = model_tag(d, r->tag);
	struct tag_json_job j = {.api = fs->api};
	int ret;

	*data = NULL;
	*len = 0;
	if (!t || !model_tag_of_server(t))
		return -ENOENT;
	memcpy(j.ds_id, d->id, sizeof(j.ds_id));
	memcpy(j.tag_id, t->id, sizeof(j.tag_id));
	ret = cache_unlocked(&fs->cache, tag_json_fetch, &j);
	if (ret)
		return ret;
	/* t is a slot: it outlives the dropped lock; the caller gets a copy */
	*data = malloc(j.len ? j.len : 1);
	if (!*data) {
		free(j.doc);
		return -ENOMEM;
	}
	memcpy(*data, j.doc, j.len);
	*len = j.len;
	model_tag_doc_set(&t->json, &j.doc, j.len);
	return 0;
}

const struct node_ops node_meta_tag_ops = {
    .check = meta_tag_check,
    .stat = meta_tag_stat,
    .open = node_buffer_open,
    .read = node_buffer_read,
    .release = node_buffer_release,
    .fill = meta_tag_fill,
};

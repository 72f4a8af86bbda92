/* The node table over an in-memory model whose loads are all fresh: the
 * lookups and listings a shell makes, answered with no server at all (the
 * api pointer is NULL, so any request would crash the test). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dir.h"
#include "fs_ctx.h"
#include "index.h"
#include "log.h"
#include "node.h"

int main(void);

#define ID(c) c c c c c c c c c c c c c c c c c c c c c c c c

static const char *const names[] = {"a/x.png", "a/y.png", "b/z.png", "top.jpg"};

static void fresh(struct load *l)
{
	l->fetched_at = l->good_at = cache_now();
}

static struct api_tag mk_tag(const char *id, const char *prev, const char *name,
			     const char *mask)
{
	struct api_tag t;

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.prev_tag_id, sizeof(t.prev_tag_id), "%s", prev);
	t.name = strdup(name);
	t.bitmask = strdup(mask);
	return t;
}

static void setup(struct fs *fs)
{
	struct api_dataset ds = {.id = ID("d"), .n_samples = 4};
	struct api_tag v[] = {mk_tag(ID("1"), "", "all", "0xf"),
			      mk_tag(ID("2"), ID("1"), "cats", "0x3")};
	struct dataset *d;

	memset(fs, 0, sizeof(*fs));
	pthread_mutex_init(&fs->lock, NULL);
	cache_init(&fs->cache, &fs->lock, 3600, 3600);
	notify_init(&fs->notify);
	model_init(&fs->model, &fs->notify);
	edits_init(&fs->edits, false, 300);
	ds.name = strdup("ds");
	CHECK_INT(model_apply_datasets(&fs->model, &ds, 1), 0);
	api_dataset_dispose(&ds);
	d = model_dataset(&fs->model, 0);
	CHECK_INT(model_apply_tags(&fs->model, d, v, 2, 0), 0);
	api_tag_dispose(&v[0]);
	api_tag_dispose(&v[1]);
	d->index = index_new();
	for (size_t i = 0; i < 4; i++)
		index_append(d->index, names[i], strlen(names[i]));
	fresh(&fs->model.ds_load);
	fresh(&d->tags_load);
	fresh(&d->index_load);
}

static void teardown(struct fs *fs)
{
	notify_dispose(&fs->notify);
	model_dispose(&fs->model);
	edits_dispose(&fs->edits);
	cache_dispose(&fs->cache);
	pthread_mutex_destroy(&fs->lock);
}

static void every_kind_has_a_row(void)
{
	for (int k = INODE_KIND_ROOT; k < INODE_KIND_MAX_; k++) {
		struct inode_ref r = {.kind = (enum inode_kind)k};
		const struct node_ops *ops = node_ops_of(&r);

		CHECK(ops->check && ops->stat);
		/* a directory lists and looks up; a file opens */
		CHECK(ops->dir ? ops->lookup && ops->list && !ops->open
			       : !ops->lookup && !ops->list && ops->open);
	}
}

static void only_tags_and_datasets_take_edits(void)
{
	struct inode_ref root = {.kind = INODE_KIND_ROOT};
	struct inode_ref ds = {.kind = INODE_KIND_DATASET};
	struct inode_ref tag = {.kind = INODE_KIND_TAG};
	struct inode_ref meta = {.kind = INODE_KIND_META_TAGS};

	CHECK(!node_ops_of(&root)->mkdir && !node_ops_of(&root)->rename);
	CHECK(!node_ops_of(&meta)->mkdir && !node_ops_of(&meta)->unlink);
	CHECK(node_ops_of(&ds)->mkdir && node_ops_of(&ds)->rmdir &&
	      node_ops_of(&ds)->rename && !node_ops_of(&ds)->link);
	CHECK(node_ops_of(&tag)->link && node_ops_of(&tag)->unlink &&
	      node_ops_of(&tag)->create && node_ops_of(&tag)->rename);
}

/* Looks name up below dir under the lock, as fs.c does. */
static int lookup(struct fs *fs, const struct inode_ref *dir, const char *name,
		  struct inode_ref *out)
{
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = node_lookup(fs, dir, name, out);
	if (!ret)
		ret = node_check(fs, out);
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

static void a_path_resolves_kind_by_kind(void)
{
	struct fs fs;
	struct inode_ref root = {.kind = INODE_KIND_ROOT}, ds, tag, dir, f;
	struct stat st;

	setup(&fs);
	CHECK_INT(lookup(&fs, &root, "ds", &ds), 0);
	CHECK_INT(ds.kind, INODE_KIND_DATASET);
	CHECK_INT(lookup(&fs, &ds, "cats", &tag), 0);
	CHECK_INT(tag.kind, INODE_KIND_TAG);
	CHECK_INT(lookup(&fs, &tag, "a", &dir), 0);
	CHECK_INT(dir.kind, INODE_KIND_TAG);
	CHECK(dir.folder != 0);
	CHECK_INT(lookup(&fs, &dir, "y.png", &f), 0);
	CHECK_INT(f.kind, INODE_KIND_FILE);
	CHECK_INT(f.sample, 1);
	/* not in cats: b/ and top.jpg */
	CHECK_INT(lookup(&fs, &tag, "b", &dir), -ENOENT);
	CHECK_INT(lookup(&fs, &tag, "top.jpg", &dir), -ENOENT);
	CHECK_INT(lookup(&fs, &f, "x", &dir), -ENOTDIR);
	CHECK_INT(lookup(&fs, &ds, ".lightly", &dir), 0);
	CHECK_INT(dir.kind, INODE_KIND_META);
	pthread_mutex_lock(&fs.lock);
	node_stat(&fs, &f, &st);
	pthread_mutex_unlock(&fs.lock);
	CHECK_INT(st.st_nlink, 2); /* in "all" and in "cats" */
	CHECK_INT(st.st_ino, inode_encode(&f));
	teardown(&fs);
}

static void a_tag_lists_its_folders_and_samples(void)
{
	struct fs fs;
	struct fs_dir dir;
	struct inode_ref c;
	const char *got[8];
	size_t n;

	setup(&fs);
	memset(&dir, 0, sizeof(dir));
	dir.ref = (struct inode_ref){.kind = INODE_KIND_TAG, .tag = 0};
	pthread_mutex_lock(&fs.lock);
	CHECK_INT(node_ops_of(&dir.ref)->list(&fs, &dir), 0);
	n = dir_count(&dir);
	for (size_t i = 0; i < n && i < 8; i++)
		got[i] = dir_entry_at(&dir, i, &c);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_STR(got[0], "a");
		CHECK_STR(got[1], "b");
		CHECK_STR(got[2], "top.jpg");
	}
	CHECK_INT(fs.model.ds[0]->index_users, 1); /* pinned while listed */
	dir_reset(&dir);
	CHECK_INT(fs.model.ds[0]->index_users, 0);
	pthread_mutex_unlock(&fs.lock);
	teardown(&fs);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	every_kind_has_a_row();
	only_tags_and_datasets_take_edits();
	a_path_resolves_kind_by_kind();
	a_tag_lists_its_folders_and_samples();
	return CHECK_DONE();
}

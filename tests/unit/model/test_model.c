/* The model without a server: feeding it the lists the API would send and
 * checking what the mount would show, including against our own edits. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "index.h"
#include "log.h"
#include "model.h"
#include "notify.h"

int main(void);

#define ID(c) c c c c c c c c c c c c c c c c c c c c c c c c

static struct api_tag mk_tag(const char *id, const char *prev, const char *name,
			     const char *mask)
{
	struct api_tag t;

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.prev_tag_id, sizeof(t.prev_tag_id), "%s", prev);
	t.name = strdup(name);
	t.bitmask = strdup(mask);
	t.created_at = 1000;
	t.last_modified_at = 2000;
	return t;
}

static struct api_dataset mk_ds(const char *id, const char *name)
{
	struct api_dataset d;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	d.name = strdup(name);
	d.json = strdup("{}");
	return d;
}

/* One dataset "ds" with the given tags applied at since = 0. */
static struct dataset *setup(struct model *m, struct notify *q)
{
	struct api_dataset v[1] = {mk_ds(ID("a"), "ds")};

	notify_init(q);
	model_init(m, q);
	CHECK_INT(model_apply_datasets(m, v, 1), 0);
	api_datasets_free(NULL, 0);
	api_dataset_dispose(&v[0]);
	return model_dataset(m, 0);
}

static int apply(struct model *m, struct dataset *d, struct api_tag *v,
		 size_t n, uint64_t since)
{
	int ret = model_apply_tags(m, d, v, n, since);

	for (size_t i = 0; i < n; i++)
		api_tag_dispose(&v[i]);
	return ret;
}

static void server_adds_removes_and_renames_tags(void)
{
	struct model m;
	struct notify q;
	struct dataset *d = setup(&m, &q);
	struct api_tag v1[] = {mk_tag(ID("1"), "", "initial", "0x7"),
			       mk_tag(ID("2"), ID("1"), "cats", "0x1")};
	struct api_tag v2[] = {mk_tag(ID("1"), "", "initial", "0x7"),
			       mk_tag(ID("2"), ID("1"), "felines", "0x3"),
			       mk_tag(ID("3"), ID("1"), "dogs", "0x4")};
	struct api_tag v3[] = {mk_tag(ID("1"), "", "initial", "0x7")};
	struct tag *cats;

	CHECK_INT(apply(&m, d, v1, 2, 0), 0);
	cats = model_tag_by_name(d, "cats");
	CHECK(cats && cats->slot == 1 && bitmask_count(&cats->mask) == 1);
	CHECK(model_initial_tag(d) == model_tag_by_name(d, "initial"));

	CHECK_INT(apply(&m, d, v2, 3, 0), 0);
	CHECK(!model_tag_by_name(d, "cats"));
	CHECK(model_tag_by_name(d, "felines") == cats); /* same slot */
	CHECK_INT(bitmask_count(&cats->mask), 2);
	CHECK(model_tag_by_name(d, "dogs") &&
	      model_tag_by_name(d, "dogs")->slot == 2);

	CHECK_INT(apply(&m, d, v3, 1, 0), 0);
	CHECK(!model_tag_by_name(d, "felines") &&
	      !model_tag_by_name(d, "dogs"));
	CHECK(!model_tag(d, 1) && !model_tag(d, 2)); /* slots stay dead */
	model_dispose(&m);
	notify_dispose(&q);
}

static void our_edits_after_the_request_win(void)
{
	struct model m;
	struct notify q;
	struct dataset *d = setup(&m, &q);
	struct api_tag v1[] = {mk_tag(ID("1"), "", "t", "0x1")};
	struct api_tag v2[] = {mk_tag(ID("1"), "", "old", "0x0")};
	struct api_tag v3[] = {mk_tag(ID("1"), "", "t", "0x0")};
	struct tag *t;

	CHECK_INT(apply(&m, d, v1, 1, 0), 0);
	t = model_tag_by_name(d, "t");
	/* a rename and an edit made after the listing was asked for */
	t->edit.seq = ++d->edit_seq;
	CHECK_INT(apply(&m, d, v2, 1, 0), 0);
	CHECK_STR(t->name, "t");
	CHECK_INT(bitmask_count(&t->mask), 1);
	/* pending edits keep the local mask even for a newer listing */
	t->edit.dirty = true;
	CHECK_INT(apply(&m, d, v3, 1, d->edit_seq), 0);
	CHECK_INT(bitmask_count(&t->mask), 1);
	model_dispose(&m);
	notify_dispose(&q);
}

static void deleted_and_created_tags_race_with_listings(void)
{
	struct model m;
	struct notify q;
	struct dataset *d = setup(&m, &q);
	struct api_tag v1[] = {mk_tag(ID("1"), "", "t", "0x1"),
			       mk_tag(ID("2"), ID("1"), "gone", "0x0")};
	struct api_tag v2[] = {mk_tag(ID("1"), "", "t", "0x1"),
			       mk_tag(ID("2"), ID("1"), "gone", "0x0")};
	struct tag *gone, *t;

	CHECK_INT(apply(&m, d, v1, 2, 0), 0);
	gone = model_tag_by_name(d, "gone");
	model_forget_tag(&m, d, gone);
	/* a listing answered before the delete must not bring it back */
	CHECK_INT(apply(&m, d, v2, 2, 0), 0);
	CHECK(!model_tag_by_name(d, "gone"));
	/* a tag just created survives the listings asked for before its
	 * create landed, however many, and not one asked for after */
	t = model_tag_by_name(d, "t");
	t->created_seq = ++d->edit_seq;
	CHECK_INT(apply(&m, d, NULL, 0, t->created_seq - 1), 0);
	CHECK(model_tag_by_name(d, "t") == t);
	CHECK_INT(apply(&m, d, NULL, 0, t->created_seq - 1), 0);
	CHECK(model_tag_by_name(d, "t") == t);
	CHECK_INT(apply(&m, d, NULL, 0, t->created_seq), 0);
	CHECK(!model_tag_by_name(d, "t"));
	model_dispose(&m);
	notify_dispose(&q);
}

static void odd_names_are_hidden_or_shown_once(void)
{
	struct model m;
	struct notify q;
	struct dataset *d = setup(&m, &q);
	struct api_tag v[] = {mk_tag(ID("1"), "", "twice", "0x1"),
			      mk_tag(ID("2"), ID("1"), "twice", "0x0"),
			      mk_tag(ID("3"), ID("1"), ".lightly", "0x0"),
			      mk_tag(ID("4"), ID("1"), "bad", "0xzz")};
	size_t shown = 0;

	CHECK_INT(apply(&m, d, v, 4, 0), 0);
	for (size_t i = 0; i < d->ntags; i++)
		shown += model_tag_shown(d, i);
	CHECK_INT(shown, 2); /* one "twice", "bad"; never ".lightly" */
	CHECK(model_tag_by_name(d, "twice")->slot == 0);
	CHECK_INT(model_tag_by_name(d, "bad")->mask_err, -EIO);
	model_dispose(&m);
	notify_dispose(&q);
}

static void datasets_sharing_a_name_show_with_their_ids(void)
{
	struct model m;
	struct notify q;
	struct api_dataset v[] = {mk_ds(ID("a"), "same"),
				  mk_ds(ID("b"), "same"),
				  mk_ds(ID("c"), "other")};

	notify_init(&q);
	model_init(&m, &q);
	CHECK_INT(model_apply_datasets(&m, v, 3), 0);
	CHECK(model_dataset_by_display(&m, "same@" ID("a")));
	CHECK(model_dataset_by_display(&m, "same@" ID("b")));
	CHECK(!model_dataset_by_display(&m, "same"));
	CHECK(model_dataset_by_display(&m, "other"));
	for (int i = 0; i < 3; i++)
		api_dataset_dispose(&v[i]);
	model_dispose(&m);
	notify_dispose(&q);
}

static void eviction_drops_the_least_recently_used_index(void)
{
	struct model m;
	struct notify q;
	struct api_dataset v[] = {mk_ds(ID("a"), "x"), mk_ds(ID("b"), "y"),
				  mk_ds(ID("c"), "z")};

	notify_init(&q);
	model_init(&m, &q);
	CHECK_INT(model_apply_datasets(&m, v, 3), 0);
	for (int i = 0; i < 3; i++) {
		m.ds[i]->index = index_new();
		for (int s = 0; s < 1000; s++) {
			char name[32];

			snprintf(name, sizeof(name), "f%d.png", s);
			index_append(m.ds[i]->index, name, strlen(name));
		}
		m.ds[i]->last_used = i;
		api_dataset_dispose(&v[i]);
	}
	m.ds[0]->index_users = 1; /* an open listing reads it */
	CHECK_INT(model_evict(&m, model_cache_bytes(&m) - 1, NULL), 1);
	CHECK(m.ds[0]->index && !m.ds[1]->index && m.ds[2]->index);
	CHECK_INT(model_evict(&m, 1, m.ds[2]), 0);
	CHECK(m.ds[0]->index && m.ds[2]->index);
	m.ds[0]->index_users = 0;
	CHECK_INT(model_evict(&m, 1, NULL), 2);
	CHECK_INT(model_cache_bytes(&m), 0);
	model_dispose(&m);
	notify_dispose(&q);
}

static void count_cb(uint64_t parent, uint64_t ino, const char *name, void *arg)
{
	(void)parent, (void)ino, (void)name, (void)arg;
}

/* The first listing of datasets, and of a dataset's tags, tells the kernel
 * nothing of their names: it cannot hold an entry under one yet, and an
 * invalidation sent after the LOOKUPs this listing answered would drop the
 * dentries they made (and the listing the kernel caches under a tag's).
 * Later listings still clear the negative entries new names may have. */
static void first_listings_invalidate_no_names(void)
{
	struct model m;
	struct notify q;
	struct api_dataset v1[1] = {mk_ds(ID("a"), "ds")};
	struct api_dataset v2[2] = {mk_ds(ID("a"), "ds"),
				    mk_ds(ID("b"), "ds2")};
	struct api_tag t1[] = {mk_tag(ID("1"), "", "initial", "0x7"),
			       mk_tag(ID("2"), ID("1"), "cats", "0x1")};
	struct api_tag t2[] = {mk_tag(ID("1"), "", "initial", "0x7"),
			       mk_tag(ID("2"), ID("1"), "cats", "0x1"),
			       mk_tag(ID("3"), ID("1"), "dogs", "0x4")};
	struct dataset *d;
	size_t n0;

	notify_init(&q);
	notify_set_cb(&q, count_cb, NULL); /* queued, never sent: counted */
	model_init(&m, &q);
	CHECK_INT(model_apply_datasets(&m, v1, 1), 0);
	CHECK_INT(q.n, 1); /* the root's own inode, no name */
	n0 = q.n;
	CHECK_INT(model_apply_datasets(&m, v2, 2), 0);
	/* "ds" (old and new, queued once), "ds2", the root */
	CHECK_INT(q.n - n0, 3);
	d = model_dataset_by_display(&m, "ds");
	CHECK(d != NULL);
	n0 = q.n;
	CHECK_INT(apply(&m, d, t1, 2, 0), 0);
	CHECK_INT(q.n - n0, 1); /* the dataset's own inode */
	n0 = q.n;
	CHECK_INT(apply(&m, d, t2, 3, 0), 0);
	CHECK_INT(q.n - n0, 4); /* three tag names and the dataset */
	api_dataset_dispose(&v1[0]);
	api_dataset_dispose(&v2[0]);
	api_dataset_dispose(&v2[1]);
	model_dispose(&m);
	notify_set_cb(&q, NULL, NULL);
	notify_dispose(&q);
}

/* Unmounting clears the callback and then destroys the FUSE session it
 * calls into: notify_set_cb must not return while a callback runs. */
static atomic_int cb_entered, cb_left;

static void slow_cb(uint64_t parent, uint64_t ino, const char *name, void *arg)
{
	(void)parent, (void)ino, (void)name, (void)arg;
	atomic_store(&cb_entered, 1);
	usleep(300 * 1000);
	atomic_store(&cb_left, 1);
}

static void clearing_the_callback_waits_for_one_running(void)
{
	struct notify q;

	notify_init(&q);
	notify_set_cb(&q, slow_cb, NULL);
	CHECK(notify_start(&q) == 0);
	notify_push(&q, 1, 2, "x");
	while (!atomic_load(&cb_entered))
		usleep(1000);
	notify_set_cb(&q, NULL, NULL);
	CHECK(atomic_load(&cb_left) == 1);
	notify_dispose(&q);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	server_adds_removes_and_renames_tags();
	our_edits_after_the_request_win();
	deleted_and_created_tags_race_with_listings();
	odd_names_are_hidden_or_shown_once();
	datasets_sharing_a_name_show_with_their_ids();
	clearing_the_callback_waits_for_one_running();
	first_listings_invalidate_no_names();
	eviction_drops_the_least_recently_used_index();
	return CHECK_DONE();
}

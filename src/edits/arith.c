/* Tag arithmetic results (arith.h): a derived tag in the model's table,
 * so a result lists, looks up and stats like a tag, nested folders
 * included, and its number fits the tag layout of inode.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "arith.h"
#include "fs_ctx.h"
#include "index.h"
#include "inode.h"
#include "log.h"
#include "refresh.h"

static const char arith_ops[] = "+&~";

bool arith_name(const char *name)
{
	return strpbrk(name, arith_ops) != NULL;
}

/* "A+B": the operator and both operands, which must be tags of d. */
static int parse(const struct dataset *d, const char *name, enum api_arith *op,
		 struct tag **a, struct tag **b)
{
	size_t at = strcspn(name, arith_ops);
	char left[256];

	if (!name[at] || strpbrk(name + at + 1, arith_ops) || at == 0 ||
	    at >= sizeof(left))
		return -ENOENT;
	*op = name[at] == '+'	? API_ARITH_UNION
	      : name[at] == '&' ? API_ARITH_INTERSECTION
				: API_ARITH_DIFFERENCE;
	memcpy(left, name, at);
	left[at] = '\0';
	*a = model_tag_by_name(d, left);
	*b = model_tag_by_name(d, name + at + 1);
	return *a && *b ? 0 : -ENOENT;
}

int arith_lookup(struct fs *fs, struct dataset *d, const char *name,
		 struct inode_ref *out)
{
	struct tag *a, *b, *t;
	enum api_arith op;
	int ret = refresh_tags(fs, d);

	if (!ret)
		ret = parse(d, name, &op, &a, &b);
	if (ret)
		return ret;
	t = model_derived_by_name(d, name);
	if (!t || t->arith.a != a->slot || t->arith.b != b->slot) {
		if (t)
			t->live =
			    false; /* an operand was renamed or made anew */
		ret = model_add_derived(&fs->model, d, name, &t);
		if (ret)
			return ret;
		t->arith.op = op;
		t->arith.a = a->slot;
		t->arith.b = b->slot;
	}
	out->kind = INODE_KIND_TAG;
	out->tag = t->slot;
	return 0;
}

struct arith_job {
	struct fs *fs;
	struct dataset *d;
	struct tag *t;
	char ds_id[API_ID_LEN + 1], a_id[API_ID_LEN + 1], b_id[API_ID_LEN + 1];
	uint64_t a_gen, b_gen;
	char *hex;
};

static bool operands_live(const struct dataset *d, const struct tag *t)
{
	return d->tags[t->arith.a]->live && d->tags[t->arith.b]->live;
}

static bool arith_fresh(const struct cache *c, const struct load *l, void *arg)
{
	struct arith_job *j = arg;
	const struct tag *t = j->t;

	return cache_fresh(c, l) && t->mask_loaded &&
	       t->arith.a_gen == j->d->tags[t->arith.a]->gen &&
	       t->arith.b_gen == j->d->tags[t->arith.b]->gen;
}

/* A stale result is never shown: it would not be what the name says. */
static bool arith_usable(const struct cache *c, const struct load *l, void *arg)
{
	(void)c, (void)l, (void)arg;
	return false;
}

static int arith_prepare(void *arg)
{
	struct arith_job *j = arg;
	struct tag *a = j->d->tags[j->t->arith.a];
	struct tag *b = j->d->tags[j->t->arith.b];

	memcpy(j->ds_id, j->d->id, sizeof(j->ds_id));
	memcpy(j->a_id, a->id, sizeof(j->a_id));
	memcpy(j->b_id, b->id, sizeof(j->b_id));
	j->a_gen = a->gen;
	j->b_gen = b->gen;
	return 0;
}

static int arith_fetch(void *arg)
{
	struct arith_job *j = arg;

	return api_tag_arithmetics(j->fs->api, j->ds_id, j->a_id, j->b_id,
				   j->t->arith.op, &j->hex);
}

static int arith_install(void *arg, int err)
{
	struct arith_job *j = arg;
	struct tag *t = j->t;
	struct bitmask m;
	size_t n;

	if (err)
		return err;
	n = strlen(j->hex);
	if (bitmask_from_hex(&m, j->hex, n, n > 2 ? (n - 2) * 4 : 0)) {
		log_warn("%s: the server's result is not a bitmask", t->name);
		return -EIO;
	}
	if (!t->mask_loaded || !bitmask_equal(&m, &t->mask)) {
		t->mtime = model_stamp(&j->fs->model);
		t->gen++;
		t->view.folders_gen = 0;
	}
	bitmask_dispose(&t->mask);
	t->mask = m;
	t->mask_loaded = true;
	t->arith.a_gen = j->a_gen;
	t->arith.b_gen = j->b_gen;
	return 0;
}

static const struct cache_loader arith_loader = {
    .fresh = arith_fresh,
    .usable = arith_usable,
    .prepare = arith_prepare,
    .fetch = arith_fetch,
    .install = arith_install,
};

static int send_operand(struct fs *fs, struct dataset *d, struct tag *t)
{
	if (!t->edit.dirty && !t->edit.flushing)
		return 0;
	return edits_fsync(fs, d, t->slot);
}

int arith_ensure(struct fs *fs, struct dataset *d, struct tag *t)
{
	struct arith_job j = {.fs = fs, .d = d, .t = t};
	int ret;

	if (!operands_live(d, t))
		return -ENOENT;
	/* the server computes it: it must hold our edits of the operands */
	ret = send_operand(fs, d, d->tags[t->arith.a]);
	if (!ret)
		ret = send_operand(fs, d, d->tags[t->arith.b]);
	if (!ret)
		ret = cache_load(&fs->cache, &t->arith.load, &arith_loader, &j);
	free(j.hex);
	if (!ret && !operands_live(d, t))
		ret = -ENOENT;
	return ret;
}

struct save_job {
	struct api *api;
	char ds_id[API_ID_LEN + 1], a_id[API_ID_LEN + 1], b_id[API_ID_LEN + 1];
	enum api_arith op;
	const char *newname;
	char id[API_ID_LEN + 1];
};

static int save_fetch(void *arg)
{
	struct save_job *j = arg;

	return api_tag_arithmetics_save(j->api, j->ds_id, j->a_id, j->b_id,
					j->op, j->newname, j->id);
}

int arith_save(struct fs *fs, struct dataset *d, const char *name,
	       const char *newname)
{
	struct save_job j = {.api = fs->api, .newname = newname};
	struct tag *a, *b;
	int ret = parse(d, name, &j.op, &a, &b);

	if (ret)
		return ret;
	if (!api_tag_name_valid(newname, strlen(newname)))
		return -EPERM; /* as for any rename: EINVAL reads wrong in mv */
	if (model_tag_by_name(d, newname))
		return -EEXIST;
	ret = send_operand(fs, d, a);
	if (!ret)
		ret = send_operand(fs, d, b);
	memcpy(j.ds_id, d->id, sizeof(j.ds_id));
	memcpy(j.a_id, a->id, sizeof(j.a_id));
	memcpy(j.b_id, b->id, sizeof(j.b_id));
	if (!ret)
		ret = cache_unlocked(&fs->cache, save_fetch, &j);
	if (ret)
		return ret;
	log_info("%s saved as tag %s", name, newname);
	d->mtime = model_stamp(&fs->model);
	return d->live ? refresh_tags_now(fs, d) : 0;
}

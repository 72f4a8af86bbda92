/* A tag's mask over its dataset's name index (tagview.h). */
#include <errno.h>

#include "fs_ctx.h"
#include "index.h"
#include "log.h"
#include "refresh.h"
#include "tagview.h"

/* The highest set bit decides what the index must cover; found once per
 * change of the mask, not on every lookup. */
static size_t tag_need(struct tag *t)
{
	size_t need = 0;

	if (t->view.need_gen == t->gen + 1)
		return t->view.need;
	for (size_t w = (t->mask.nbits + 63) / 64; w-- > 0;) {
		if (t->mask.words[w]) {
			need = w * 64 + 64 -
			       (size_t)__builtin_clzll(t->mask.words[w]);
			break;
		}
	}
	t->view.need = need;
	t->view.need_gen = t->gen + 1;
	return need;
}

static int compute_folders(struct dataset *d, struct tag *t)
{
	struct bitmask *fm = &t->view.folders;
	uint32_t nf = index_folder_count(d->index);
	int ret;

	bitmask_dispose(fm);
	ret = bitmask_init(fm, nf);
	if (ret)
		return ret;
	for (size_t s = nf > 1 ? bitmask_next(&t->mask, 0) : SIZE_MAX;
	     s != SIZE_MAX; s = bitmask_next(&t->mask, s + 1)) {
		uint32_t f = index_parent(d->index, (uint32_t)s);

		while (f != INDEX_NONE && !bitmask_test(fm, f)) {
			bitmask_set(fm, f);
			f = index_folder_parent(d->index, f);
		}
	}
	bitmask_set(fm, INDEX_ROOT_FOLDER);
	t->view.folders_gen = t->gen + 1;
	return 0;
}

int tagview_ensure(struct fs *fs, struct dataset *d, struct tag *t)
{
	size_t need;
	int ret;

	if (t->mask_err)
		return t->mask_err;
	need = tag_need(t);
	ret = refresh_index(fs, d, need);
	if (ret)
		return ret;
	if (!t->live)
		return -ENOENT;
	if (d->fallback) {
		ret = refresh_fallback(fs, d, t);
		if (ret)
			return ret;
	} else if (need > index_count(d->index)) {
		log_warn("tag %s: bitMaskData names samples the dataset does "
			 "not have",
			 t->id);
		return -EIO;
	}
	if (t->view.folders_gen != t->gen + 1)
		return compute_folders(d, t);
	return 0;
}

bool tagview_has_folder(const struct tag *t, uint32_t folder)
{
	return bitmask_test(&t->view.folders, folder) ||
	       localdir_by_id(&t->local, folder);
}

void tagview_invalidate(struct tag *t)
{
	t->view.folders_gen = 0;
}

void tagview_notify_sample(struct fs *fs, struct dataset *d, struct tag *t,
			   uint32_t sample)
{
	uint32_t f = index_parent(d->index, sample);

	while (f != INDEX_NONE && f != INDEX_ROOT_FOLDER) {
		uint32_t p = index_folder_parent(d->index, f);

		notify_push(&fs->notify, model_tag_ino(d, t, p), 0,
			    index_folder_name(d->index, f));
		notify_push(&fs->notify, 0, model_tag_ino(d, t, f), NULL);
		f = p;
	}
	notify_push(&fs->notify, 0, model_tag_ino(d, t, INDEX_ROOT_FOLDER),
		    NULL);
}

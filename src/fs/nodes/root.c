/* MOUNT/ (every dataset), MOUNT/.lightly/ and MOUNT/.lightly/stats. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>

#include "dir.h"
#include "content.h"
#include "fs_ctx.h"
#include "index.h"
#include "journal.h"
#include "node.h"
#include "refresh.h"

static int root_check(struct fs *fs, struct inode_ref *r)
{
	(void)r;
	return refresh_datasets(fs);
}

static int always_there(struct fs *fs, struct inode_ref *r)
{
	(void)fs, (void)r;
	return 0;
}

static void root_stat(struct fs *fs, const struct inode_ref *r, struct stat *st)
{
	node_stat_dir(fs, st, r, fs->model.root_mtime, fs->model.mount_time);
}

static int root_lookup(struct fs *fs, const struct inode_ref *dir,
		       const char *name, struct inode_ref *out)
{
	struct dataset *d;
	int ret;

	(void)dir;
	if (!strcmp(name, MODEL_META_DIR)) {
		out->kind = INODE_KIND_ROOT_META;
		return 0;
	}
	ret = refresh_datasets(fs);
	if (ret)
		return ret;
	d = model_dataset_by_display(&fs->model, name);
	if (!d)
		return -ENOENT;
	out->kind = INODE_KIND_DATASET;
	out->ds = d->slot;
	return 0;
}

static int root_list(struct fs *fs, struct fs_dir *dir)
{
	struct inode_ref c = {.kind = INODE_KIND_ROOT_META};
	int ret = dir_add(dir, MODEL_META_DIR, &c);

	c.kind = INODE_KIND_DATASET;
	for (size_t i = 0; i < fs->model.nds && !ret; i++) {
		struct dataset *d = fs->model.ds[i];

		if (!d->live || !d->display)
			continue;
		c.ds = d->slot;
		ret = dir_add(dir, d->display, &c);
	}
	return ret;
}

const struct node_ops node_root_ops = {
    .dir = true,
    .check = root_check,
    .stat = root_stat,
    .lookup = root_lookup,
    .absent = node_dot_absent,
    .list = root_list,
};

static void root_meta_stat(struct fs *fs, const struct inode_ref *r,
			   struct stat *st)
{
	node_stat_dir(fs, st, r, fs->model.mount_time, fs->model.mount_time);
}

static int root_meta_lookup(struct fs *fs, const struct inode_ref *dir,
			    const char *name, struct inode_ref *out)
{
	(void)fs, (void)dir;
	out->ds = 0;
	if (!strcmp(name, "stats"))
		out->kind = INODE_KIND_STATS;
	else if (!strcmp(name, "README"))
		out->kind = INODE_KIND_ROOT_README;
	else
		return -ENOENT;
	return 0;
}

static int root_meta_list(struct fs *fs, struct fs_dir *dir)
{
	struct inode_ref c = {.kind = INODE_KIND_STATS};
	int ret = dir_add(dir, "stats", &c);

	(void)fs;
	c.kind = INODE_KIND_ROOT_README;
	return ret ? ret : dir_add(dir, "README", &c);
}

const struct node_ops node_root_meta_ops = {
    .dir = true,
    .check = always_there,
    .stat = root_meta_stat,
    .lookup = root_meta_lookup,
    .list = root_meta_list,
};

struct model_counts {
	size_t tags, samples;
	size_t slots, dead, free; /* tag slots: all, dead tags', reusable */
};

static void count_model(const struct model *m, struct model_counts *n)
{
	memset(n, 0, sizeof(*n));
	for (size_t i = 0; i < m->nds; i++) {
		const struct dataset *d = m->ds[i];

		if (d->index)
			n->samples += index_count(d->index);
		n->slots += d->ntags;
		n->free += d->reaped_tags;
		for (size_t j = 0; j < d->ntags; j++) {
			n->tags += d->tags[j]->live;
			n->dead += !d->tags[j]->live && !d->tags[j]->reaped;
		}
	}
}

static int stats_fill(struct fs *fs, const struct inode_ref *r, char **data,
		      size_t *len)
{
	const struct cache *c = &fs->cache;
	struct content_stats cs = {0};
	struct edits_counts e;
	char *api_json = NULL;
	/* what malloc holds for the daemon, apart from what RSS adds
	 * (freed memory not given back, thread stacks): a soak tells a leak
	 * from fragmentation by it */
	struct mallinfo2 mi = mallinfo2();
	struct content_link link = {0};
	struct model_counts mc;
	size_t api_len = 0;
	int n, ret;

	(void)r;
	ret = api_stats_json(fs->api, &api_json, &api_len);
	if (ret)
		return ret;
	count_model(&fs->model, &mc);
	edits_count(fs, &e);
	if (fs->content) {
		content_get_stats(fs->content, &cs);
		content_link_get(fs->content, &link);
	}
	n = asprintf(
	    data,
	    "{\"offline\":%s,\"heapInUseBytes\":%zu,\"api\":%s,"
	    "\"cache\":{\"hits\":%llu,\"misses\":%llu,"
	    "\"staleServed\":%llu,\"evictions\":%llu,"
	    "\"datasets\":%zu,\"tags\":%zu,\"samplesIndexed\":%zu,"
	    "\"tagSlots\":%zu,\"tagSlotsDead\":%zu,\"tagSlotsFree\":%zu,"
	    "\"memoryBytes\":%zu,\"memoryBoundBytes\":%zu},"
	    "\"edits\":{\"flushes\":%llu,\"tagsPending\":%zu,"
	    "\"tagsInFlight\":%zu,\"tagsRetrying\":%zu,"
	    "\"movesWaiting\":%zu,\"journalPending\":%llu,"
	    "\"journalTags\":%zu},"
	    "\"content\":{\"hits\":%llu,\"fetches\":%llu,\"bytes\":%llu,"
	    "\"readUrls\":%llu,\"expiredUrls\":%llu,"
	    "\"urlPages\":%llu,\"urlsPaged\":%llu,\"prefetched\":%llu,"
	    "\"pushed\":%llu,\"linkRttUs\":%lld,\"linkBytesPerS\":%.0f,"
	    "\"window\":%u,"
	    "\"shuffledListings\":%llu,\"shuffledTooBig\":%llu,"
	    "\"diskBytes\":%llu,\"diskFiles\":%llu}}\n",
	    fs_offline(fs) ? "true" : "false", mi.uordblks + mi.hblkhd,
	    api_json, (unsigned long long)c->hits,
	    (unsigned long long)c->misses, (unsigned long long)c->stale_served,
	    (unsigned long long)c->evictions, fs->model.nds, mc.tags,
	    mc.samples, mc.slots, mc.dead, mc.free,
	    model_cache_bytes(&fs->model), fs->cache_max_bytes,
	    (unsigned long long)fs->edits.flushes, e.pending, e.in_flight,
	    e.retrying, e.moves,
	    (unsigned long long)(fs->journal ? journal_pending(fs->journal)
					     : 0),
	    fs->journal ? journal_tags_held(fs->journal) : 0,
	    (unsigned long long)cs.hits, (unsigned long long)cs.fetches,
	    (unsigned long long)cs.bytes, (unsigned long long)cs.urls,
	    (unsigned long long)cs.expired, (unsigned long long)cs.url_pages,
	    (unsigned long long)cs.url_paged, (unsigned long long)cs.prefetched,
	    (unsigned long long)cs.pushed, (long long)link.rtt_us, link.rate,
	    link.window, (unsigned long long)fs->walks.shuffled,
	    (unsigned long long)fs->walks.too_big,
	    (unsigned long long)cs.disk_bytes,
	    (unsigned long long)cs.disk_files);
	free(api_json);
	if (n < 0) {
		*data = NULL;
		return -ENOMEM;
	}
	*len = (size_t)n;
	return 0;
}

/* Its length is that of what an open would give now (tar and rsync read
 * st_size bytes); the counters may move on before the open. */
static void stats_stat(struct fs *fs, const struct inode_ref *r,
		       struct stat *st)
{
	char *doc = NULL;
	size_t len = 0;

	if (stats_fill(fs, r, &doc, &len))
		len = 0;
	free(doc);
	node_stat_file(fs, st, r, 0444, len, fs->model.mount_time);
}

const struct node_ops node_stats_ops = {
    .check = always_there,
    .stat = stats_stat,
    .open = node_buffer_open,
    .read = node_buffer_read,
    .release = node_buffer_release,
    .fill = stats_fill,
};

/* The account as the mount knows it: datasets and their tags in slots,
 * and the merging of the server's lists into them.  A dataset's slot is
 * never reused; a dead tag's is, once the kernel holds no number naming it
 * and no thread is away from the lock (tagslot.c, fs/node.c), so inode
 * numbers and pointers held across a dropped lock keep naming one thing.
 * No I/O and no lock of its own: the caller holds fs->lock, and tests
 * drive it directly (tests/unit/test_model.c).
 *
 * Owners of the parts of struct tag: the server's view and mask are
 * model.c's (merges) and edits.c's (our edits); view is tagview.c's and
 * refresh.c's; edit is edits.c's; local is localdir.c's. */
#ifndef LIGHTLYFS_MODEL_H
#define LIGHTLYFS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "api.h"
#include "bitmask.h"
#include "cache.h"
#include "localdir.h"
#include "samples.h"

#define MODEL_META_DIR ".lightly"
#define MODEL_RECENTLY_DELETED 8

struct notify;
struct name_index;

/* Derived from the mask, each valid while its *_gen == gen + 1. */
struct tag_view {
	struct bitmask folders; /* folders holding any sample of the tag */
	uint64_t folders_gen;
	size_t need; /* samples the index must hold: highest set bit + 1 */
	uint64_t need_gen;
	struct load fallback; /* names of a server without mappings */
	uint64_t fallback_gen;
};

/* Edits made through the mount and not yet on the server, kept as a delta
 * (edits.c): a flush reads the tag as the server holds it now, applies the
 * delta and sends the result, so other writers' changes are kept. */
struct tag_edit {
	struct bitmask server_mask;    /* the server's mask as last read */
	struct bitmask added, removed; /* our changes not yet on the wire */
	bool dirty;		       /* added or removed holds something */
	bool flushing;		       /* a delta is on the wire */
	bool on_wire;		       /* a rename or delete is on the wire */
	bool visiting;		       /* being flushed (moves flush targets) */
	double last_edit;	       /* monotonic s */
	double emptied_at; /* removals emptied it: rmdir may follow */
	uint64_t seq;	   /* d->edit_seq at our last change */
	uint64_t sent_seq; /* our changes up to this are settled */
	/* d->edit_seq when a send of ours last changed the server: a listing
	 * asked for before that shows the tag as it was, and must not win */
	uint64_t landed_seq;
	double retry_at, retry_delay;
	int flush_err; /* refused flush, told by the next fsync */
};

/* DS/A+B/ and friends: a result of the server's tag arithmetic. */
struct tag_arith {
	enum api_arith op;
	uint32_t a, b;	       /* operand slots */
	uint64_t a_gen, b_gen; /* their gens the result was computed at */
	struct load load;
};

/* DS/.lightly/exports/<tag>.<format>.json, as the server served it. */
struct tag_export {
	struct load load;
	char *doc;
	size_t len;
};

/* Takes *doc (len bytes) as x's document, freeing the one it replaces;
 * *doc is NULL afterwards. */
static inline void model_tag_doc_set(struct tag_export *x, char **doc,
				     size_t len)
{
	free(x->doc);
	x->doc = *doc;
	x->len = len;
	*doc = NULL;
}

/* DS/.lightly/exports/<tag>.zip: an unlinked file of the cache dir (a
 * tag's zip is not held in memory), kept from a fetch until its last open
 * closes or the TTL passes; each open reads a dup of fd (opens of them). */
struct tag_zip {
	struct load load;
	bool have; /* fd is the zip */
	int fd;
	uint64_t len;
	uint32_t opens;
};

struct tag {
	uint32_t slot;
	bool live;
	bool reaped; /* dead and forgotten: the slot waits for a new tag */
	/* the kernel's lookups of numbers naming the slot, less its forgets */
	uint64_t kernel_refs;
	/* read by a shuffled reader, bigger than the content cache: said
	 * once (fs/walk.c) */
	bool too_big;
	bool trashed; /* deleted through the mount, kept in .lightly/trash */
	bool derived; /* a tag arithmetic result (arith) */
	struct tag_arith arith;
	/* by enum api_export */
	struct tag_export exports[API_EXPORT_COUNT];
	struct tag_export json; /* .lightly/tags/<tag>.json */
	struct tag_zip zip;
	int64_t deleted_ms;
	bool seen;
	/* d->edit_seq once a create of ours landed: a listing asked for
	 * before may not have it yet (0: not made here) */
	uint64_t created_seq;
	char id[API_ID_LEN + 1];
	char prev[API_ID_LEN + 1];
	char *name;
	struct bitmask mask; /* what the mount shows: server + pending edits */
	bool mask_loaded;
	int mask_err;
	uint64_t hex_hash; /* of the last bitMaskData the server sent */
	uint64_t gen;	   /* bumps whenever mask changes */
	struct timespec mtime;
	int64_t created_ms, modified_ms, tot_size;
	struct tag_view view;
	struct tag_edit edit;
	struct localdirs local;
};

struct dataset {
	uint32_t slot;
	bool live;
	bool seen;
	char id[API_ID_LEN + 1];
	char *name;
	char *display; /* name, or name@id when two share it; NULL hidden */
	char *json;
	char *img_type;
	int64_t created_ms, modified_ms, n_samples;
	struct timespec mtime; /* changes when the tag list changes */
	struct tag **tags;     /* by slot */
	size_t ntags, tags_cap;
	size_t reaped_tags; /* slots a new tag may take */
	struct load tags_load;
	struct name_index *index;
	struct load index_load;
	bool fallback;	      /* no mappings: names come tag by tag */
	bool tags_listed;     /* a tags listing was applied */
	bool trash_loaded;    /* .lightly/trash read from the state dir */
	double last_used;     /* monotonic s, for eviction */
	unsigned index_users; /* open listings that read the index */
	char recently_deleted[MODEL_RECENTLY_DELETED][API_ID_LEN + 1];
	unsigned deleted_next;
	/* counts our changes, so a listing requested before one of them
	 * cannot undo it when it arrives after */
	uint64_t edit_seq;
	/* ids, sizes and times of samples, paged in as asked */
	struct sample_pages spages;
	/* a tag whose mv into this dataset was refused (fs/nodes/dataset.c),
	 * until when (cache_now() seconds) */
	char xdev_name[256];
	double xdev_until;
};

struct model {
	struct dataset **ds; /* by slot */
	size_t nds, ds_cap;
	struct load ds_load;
	char single_id[API_ID_LEN + 1]; /* -o dataset: the root is it */
	struct timespec mount_time, root_mtime, last_stamp;
	uint32_t next_local_folder;
	uint64_t seq_base;     /* edit numbers start above an earlier run's */
	struct notify *notify; /* borrowed; where merges report changes */
	bool datasets_listed;  /* a datasets listing was applied */
};

void model_init(struct model *m, struct notify *notify);
void model_dispose(struct model *m);

/* A wall-clock stamp that strictly increases across calls. */
struct timespec model_stamp(struct model *m);
struct timespec model_ms_to_ts(int64_t ms);
/* FNV-1a of a string: tells a bitMaskData we already hold from a new one. */
uint64_t model_hash_str(const char *s);
/* A dataset or tag name that can be a directory of its own. */
bool model_component_ok(const char *s);

/* Live entries by slot or name; NULL when there is none. */
struct dataset *model_dataset(const struct model *m, uint32_t slot);
struct dataset *model_dataset_by_display(const struct model *m,
					 const char *name);
struct tag *model_tag(const struct dataset *d, uint32_t slot);
struct tag *model_tag_by_name(const struct dataset *d, const char *name);
/* Whether the tag in slot i gets a directory (one per shown name). */
bool model_tag_shown(const struct dataset *d, size_t i);
/* The tag every other descends from (no previous tag). */
struct tag *model_initial_tag(const struct dataset *d);

uint64_t model_dataset_ino(const struct dataset *d);
/* DS/.lightly/trash */
uint64_t model_trash_ino(const struct dataset *d);
uint64_t model_tag_ino(const struct dataset *d, const struct tag *t,
		       uint32_t folder);

/* One of the server's tags (not a trash entry or an arithmetic result). */
static inline bool model_tag_of_server(const struct tag *t)
{
	return !t->trashed && !t->derived;
}

/* The arithmetic result for name, made on first use; name is copied. */
int model_add_derived(struct model *m, struct dataset *d, const char *name,
		      struct tag **out);
struct tag *model_derived_by_name(const struct dataset *d, const char *name);
/* t's mask changed: results computed from it are stale in the kernel. */
void model_notify_derived(struct model *m, struct dataset *d,
			  const struct tag *t);

/* A tag whose local state must not be replaced by the server's. */
static inline bool model_tag_busy(const struct tag *t)
{
	return t->edit.dirty || t->edit.flushing || t->edit.on_wire;
}

/* Merges the server's lists.  since: d->edit_seq when the request was
 * made; our changes after it win.  0 or -ENOMEM (-ENOSPC past the slots
 * an inode number has room for). */
int model_apply_datasets(struct model *m, struct api_dataset *v, size_t n);
int model_apply_tags(struct model *m, struct dataset *d, struct api_tag *v,
		     size_t n, uint64_t since);

/* A tag of the trash (not the server's): never listed, merged or found by
 * model_tag_by_name.  name is copied. */
int model_add_trash(struct model *m, struct dataset *d, const char *name,
		    struct tag **out);
struct tag *model_trash_by_name(const struct dataset *d, const char *name);

/* Slot reuse (tagslot.c).  Whether dead t may give up its slot as far as
 * the model knows (the caller checks what else may hold it); reaping frees
 * its memory and leaves the slot to model_tag_reuse, which new tags take
 * first. */
bool model_tag_reapable(const struct tag *t);
void model_tag_reap(struct dataset *d, struct tag *t);
struct tag *model_tag_reuse(struct dataset *d);
void model_tag_free(struct tag *t);

/* Marks t deleted through the mount; a listing that raced with the delete
 * cannot bring it back. */
void model_forget_tag(struct model *m, struct dataset *d, struct tag *t);
/* Every listing loads again at its next use, and the kernel is told to
 * forget the root, each dataset and each tag directory it holds. */
void model_expire_all(struct model *m);

/* Bytes held by name indexes and masks, for the cache bound. */
size_t model_cache_bytes(const struct model *m);
/* Drops least recently used name indexes until the model holds at most
 * bound bytes; one an open listing reads, a busy one, or keep stays.
 * Returns how many were dropped. */
unsigned model_evict(struct model *m, size_t bound, const struct dataset *keep);

#endif

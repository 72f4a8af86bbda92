/* A tag's slot from its first listing to its reuse (model.h).  A slot
 * names the tag in inode numbers the kernel holds, so a dead tag's slot
 * waits until the kernel has forgotten every number that names it; then
 * its memory goes and the next new tag of the dataset takes the slot.
 * Without this a mount whose tags are made and deleted by a script grows
 * by a tag's masks and names for each, and stops showing new tags once
 * INODE_MAX_TAGS were ever made.  Caller holds fs->lock. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"

static void tag_members_free(struct tag *t)
{
	localdir_dispose(&t->local);
	free(t->name);
	bitmask_dispose(&t->mask);
	bitmask_dispose(&t->edit.server_mask);
	bitmask_dispose(&t->edit.added);
	bitmask_dispose(&t->edit.removed);
	bitmask_dispose(&t->view.folders);
	for (int i = 0; i < API_EXPORT_COUNT; i++)
		free(t->exports[i].doc);
	free(t->json.doc);
	if (t->zip.have)
		close(t->zip.fd);
}

void model_tag_free(struct tag *t)
{
	if (!t)
		return;
	tag_members_free(t);
	free(t);
}

bool model_tag_reapable(const struct tag *t)
{
	return !t->live && !t->reaped && !t->kernel_refs && !t->zip.opens &&
	       !t->edit.flushing && !t->edit.on_wire;
}

/* The slot's gen goes on from the dead tag's: a result computed from the
 * slot's old tag is never taken for one of the new one. */
void model_tag_reap(struct dataset *d, struct tag *t)
{
	uint32_t slot = t->slot;
	uint64_t gen = t->gen;

	tag_members_free(t);
	memset(t, 0, sizeof(*t));
	t->slot = slot;
	t->gen = gen + 1;
	t->reaped = true;
	/* arithmetic results of the dead tag would read the slot's next
	 * one as their operand: they go too (asked for again by name) */
	for (size_t i = 0; i < d->ntags; i++) {
		struct tag *r = d->tags[i];

		if (r->live && r->derived &&
		    (r->arith.a == slot || r->arith.b == slot))
			r->live = false;
	}
	d->reaped_tags++;
}

struct tag *model_tag_reuse(struct dataset *d)
{
	if (!d->reaped_tags)
		return NULL;
	for (size_t i = 0; i < d->ntags; i++) {
		struct tag *t = d->tags[i];

		if (t->reaped) {
			t->reaped = false;
			d->reaped_tags--;
			return t;
		}
	}
	return NULL;
}

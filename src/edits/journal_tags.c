/* The journal's tag table: the entry of a (dataset, tag) pair, found by
 * hash in an open-addressed table or made, for journal.c's writers and
 * journal_scan.c's reader alike.  Knows tags by their ids only.  An entry
 * whose edits are all settled is dropped (journal_tag_drop): a mount whose
 * tags come and go (a script's, a soak's) would otherwise hold one for
 * every tag it ever edited until it is unmounted. */
#include "journal_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

static uint64_t tag_hash(const char *ds, const char *tag)
{
	return hash_mix64(
	    hash_fnv1a(hash_fnv1a(HASH_FNV_OFFSET, ds, JOURNAL_ID_LEN), tag,
		       JOURNAL_ID_LEN));
}

static int table_grow(struct journal *j)
{
	uint32_t cap = j->table_cap ? j->table_cap * 2 : 64;
	uint32_t *t;

	if (cap < j->table_cap)
		return -ENOMEM;
	t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < j->ntags; i++) {
		uint32_t s = (uint32_t)j->tags[i]->hash & (cap - 1);

		while (t[s])
			s = (s + 1) & (cap - 1);
		t[s] = i + 1;
	}
	free(j->table);
	j->table = t;
	j->table_cap = cap;
	return 0;
}

/* The tag entry of (ds, tag), both JOURNAL_ID_LEN bytes; created when
 * create is set.  0 and *out (NULL when absent), -ENOMEM, -EOVERFLOW. */
int journal_tag_get(struct journal *j, const char *ds, const char *tag,
		    bool create, struct jtag **out)
{
	struct jtag *t;
	uint64_t h;
	uint32_t s;

	*out = NULL;
	if (j->last && !memcmp(j->last->tag, tag, JOURNAL_ID_LEN) &&
	    !memcmp(j->last->ds, ds, JOURNAL_ID_LEN)) {
		*out = j->last;
		return 0;
	}
	h = tag_hash(ds, tag);
	for (s = (uint32_t)h & (j->table_cap - 1); j->table_cap && j->table[s];
	     s = (s + 1) & (j->table_cap - 1)) {
		t = j->tags[j->table[s] - 1];
		if (t->hash == h && !memcmp(t->tag, tag, JOURNAL_ID_LEN) &&
		    !memcmp(t->ds, ds, JOURNAL_ID_LEN)) {
			*out = j->last = t;
			return 0;
		}
	}
	if (!create)
		return 0;
	if (j->ntags >= JREC_TAG_MASK)
		return -EOVERFLOW;
	if ((uint64_t)(j->ntags + 1) * 2 > j->table_cap && table_grow(j))
		return -ENOMEM;
	if (j->ntags == j->tags_cap) {
		uint32_t cap = j->tags_cap ? j->tags_cap * 2 : 16;
		struct jtag **v = realloc(j->tags, (size_t)cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		j->tags = v;
		j->tags_cap = cap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	memcpy(t->ds, ds, JOURNAL_ID_LEN);
	memcpy(t->tag, tag, JOURNAL_ID_LEN);
	t->hash = h;
	t->idx = j->ntags;
	for (s = (uint32_t)h & (j->table_cap - 1); j->table[s];
	     s = (s + 1) & (j->table_cap - 1))
		;
	j->tags[j->ntags++] = t;
	j->table[s] = j->ntags;
	*out = j->last = t;
	return 0;
}

/* Empties table slot s and moves the entries of its probe run that may
 * move into the hole (linear probing's backward shift), so every entry
 * stays reachable from its hash. */
static void table_remove(struct journal *j, uint32_t s)
{
	uint32_t mask = j->table_cap - 1, hole = s, k = s;

	for (;;) {
		uint32_t home;

		k = (k + 1) & mask;
		if (!j->table[k])
			break;
		home = (uint32_t)j->tags[j->table[k] - 1]->hash & mask;
		if (((k - home) & mask) >= ((k - hole) & mask)) {
			j->table[hole] = j->table[k];
			hole = k;
		}
	}
	j->table[hole] = 0;
}

static uint32_t slot_of(const struct journal *j, const struct jtag *t)
{
	uint32_t mask = j->table_cap - 1, s = (uint32_t)t->hash & mask;

	while (j->table[s] != t->idx + 1)
		s = (s + 1) & mask;
	return s;
}

void journal_tag_drop(struct journal *j, struct jtag *t)
{
	struct jtag *last = j->tags[j->ntags - 1];

	table_remove(j, slot_of(j, t));
	if (last != t) {
		/* the last entry takes t's index, in the table too */
		j->table[slot_of(j, last)] = t->idx + 1;
		last->idx = t->idx;
		j->tags[t->idx] = last;
	}
	j->ntags--;
	if (j->last == t)
		j->last = NULL;
	free(t->seqs);
	free(t->staged);
	free(t);
}

void journal_tags_prune(struct journal *j)
{
	/* downwards: a drop moves the last entry, already looked at, into
	 * the hole */
	for (uint32_t i = j->ntags; i-- > 0;)
		if (j->tags[i]->head == j->tags[i]->n)
			journal_tag_drop(j, j->tags[i]);
}

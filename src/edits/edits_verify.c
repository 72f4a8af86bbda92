/* The tag as the server holds it, around a mount's write of it: read
 * before (the mask and how long its history is), and read back after.
 * The API has no conditional PUT: two writers that read before either
 * writes both PUT a whole mask, and the second undoes the first's delta.
 * Each write is stamped in the tag's history with its writer, how much
 * history it had read and the samples it flipped.  So the second writer's
 * read-back finds the first one's stamp between its read and its write,
 * and does the first one's flips again (those of samples it did not flip
 * itself: on those it is the last writer); and the first writer's
 * read-back, if it comes after, finds a later stamp whose writer had not
 * seen its own, and writes its own delta again.  Either alone repairs the
 * race; both are idempotent.  An unstamped write (the app, a script) that
 * the read-back finds after ours was made from a read of its own, most
 * likely from before ours landed (it came within the round trip between
 * our write and our read-back): so ours is written again over what it
 * wrote, and on the samples both changed ours is the last.  One that
 * landed between our read and our write cannot be redone: its history
 * entry says how many samples it flipped, not which. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "edits_verify.h"
#include "log.h"

/* Two writers racing again at once is rare; a tag that keeps being
 * rewritten faster than this is reported instead (fsync says EIO). */
#define EDITS_VERIFY_ROUNDS 4

void edits_writer_id(char out[API_WRITER_LEN + 1])
{
	uint64_t r = 0;

	/* only distinct across mounts, never secret: a clock will do */
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)clock();
	snprintf(out, API_WRITER_LEN + 1, "%016llx", (unsigned long long)r);
}

/* from: the first history entry whose listed samples are wanted. */
static int read_tag(struct flush_job *j, char **name, size_t from,
		    struct api_change **h, size_t *n)
{
	struct api_tag at = {0};
	char *json = NULL;
	size_t len = 0, hexlen, max_bits;
	int ret = api_get_tag_json(j->api, j->ds_id, j->tag_id, &json, &len);

	*h = NULL;
	*n = 0;
	/* one parse for the tag and its history: the body is the size of
	 * the mask, and a flush reads it twice */
	if (!ret)
		ret = api_decode_tag_history(json, len, from, &at, h, n);
	j->history = !ret;
	if (ret == -ENODATA)
		ret = 0;
	if (ret)
		goto out;
	hexlen = strlen(at.bitmask);
	max_bits = hexlen > 2 ? (hexlen - 2) * 4 : 0;
	bitmask_dispose(&j->srv);
	if (bitmask_from_hex(&j->srv, at.bitmask, hexlen, max_bits)) {
		log_warn("tag %s: the server holds an invalid bitMaskData; "
			 "edits not sent",
			 j->tag_id);
		ret = -EIO;
		goto out;
	}
	j->have_srv = true;
	j->hist_len = *n;
	if (name) {
		*name = at.name;
		at.name = NULL;
	}
out:
	free(json);
	api_tag_dispose(&at);
	return ret;
}

int edits_read_server(struct flush_job *j, char **name)
{
	struct api_change *h;
	size_t n;
	int ret = read_tag(j, name, SIZE_MAX, &h, &n);

	api_history_free(h, n);
	return ret;
}

/* How many of b's bits a's do not have. */
static size_t count_flips(const struct bitmask *a, const struct bitmask *b)
{
	struct bitmask d = {0};
	size_t n = bitmask_difference(&d, b, a) ? 0 : bitmask_count(&d);

	bitmask_dispose(&d);
	return n;
}

/* b's bits that a does not have, by index, into *out (n of them). */
static int list_flips(const struct bitmask *a, const struct bitmask *b,
		      uint32_t **out, size_t n)
{
	size_t k = 0;

	*out = malloc((n ? n : 1) * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = bitmask_next(b, 0); i != SIZE_MAX && k < n;
	     i = bitmask_next(b, i + 1))
		if (!bitmask_test(a, i))
			(*out)[k++] = (uint32_t)i;
	return 0;
}

void edits_stamp(struct flush_job *j, const struct bitmask *sent)
{
	api_stamp_dispose(&j->stamp);
	memset(&j->stamp, 0, sizeof(j->stamp));
	memcpy(j->stamp.writer, j->writer, API_WRITER_LEN + 1);
	j->stamp.seq = __atomic_add_fetch(j->writes, 1, __ATOMIC_RELAXED);
	j->stamp.base = j->hist_len;
	j->stamp.added = count_flips(&j->srv, sent);
	j->stamp.removed = count_flips(sent, &j->srv);
	/* a big delta goes unlisted (the history is read whole at every
	 * read-back): only its writer can do it again */
	j->stamp.listed =
	    j->stamp.added + j->stamp.removed <= API_STAMP_LIST_MAX &&
	    !list_flips(&j->srv, sent, &j->stamp.add_idx, j->stamp.added) &&
	    !list_flips(sent, &j->srv, &j->stamp.rem_idx, j->stamp.removed);
}

/* Where j's last stamp is in h: its index, or SIZE_MAX. */
static size_t find_own(const struct flush_job *j, const struct api_change *h,
		       size_t n)
{
	for (size_t i = n; i-- > j->stamp.base;)
		if (h[i].stamped && h[i].stamp.seq == j->stamp.seq &&
		    !strcmp(h[i].stamp.writer, j->stamp.writer))
			return i;
	return SIZE_MAX;
}

/* The samples some write flipped, into m (grown as needed). */
static int mark_stamp(struct bitmask *m, const struct api_stamp *st)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < st->added; i++)
		ret = bitmask_put(m, st->add_idx[i], true, 0);
	for (size_t i = 0; !ret && i < st->removed; i++)
		ret = bitmask_put(m, st->rem_idx[i], true, 0);
	return ret;
}

/* Sample i of a stamp redone in want, unless kept (flipped by ours, or
 * by a write that saw ours: those are later). */
static int redo_one(struct bitmask *want, const struct bitmask *kept,
		    uint32_t i, bool on)
{
	if (bitmask_test(kept, i))
		return 0;
	return bitmask_put(want, i, on, 0);
}

/* The stamped writes between our read and our write (at k), which ours
 * overwrote, done again in want, in their order; unstamped ones and
 * unlisted ones cannot be, and are counted. */
static int redo_overwritten(struct flush_job *j, const struct api_change *h,
			    size_t k, const struct bitmask *kept,
			    struct bitmask *want)
{
	int ret = 0;

	for (size_t i = j->stamp.base; !ret && i < k; i++) {
		const struct api_stamp *st = &h[i].stamp;

		if (!h[i].stamped || !st->listed) {
			j->overwrote++;
			continue;
		}
		for (size_t a = 0; !ret && a < st->added; a++)
			ret = redo_one(want, kept, st->add_idx[a], true);
		for (size_t r = 0; !ret && r < st->removed; r++)
			ret = redo_one(want, kept, st->rem_idx[r], false);
	}
	return ret;
}

/* What the server should hold after ours (at k), in want: ours again if a
 * write after it had not seen it (a stamped one whose read came before
 * ours, or an unstamped one), and the overwritten stamped writes again. */
static int repaired(struct flush_job *j, const struct api_change *h, size_t n,
		    size_t k, struct bitmask *want)
{
	struct bitmask later = {0}, kept = {0}, own = {0};
	bool unseen = false;
	int ret = bitmask_copy(want, &j->srv);

	for (size_t i = k + 1; !ret && i < n; i++) {
		if (!h[i].stamped || h[i].stamp.base <= k)
			unseen = true;
		else if (h[i].stamp.listed)
			ret = mark_stamp(&later, &h[i].stamp);
	}
	if (!ret)
		ret = bitmask_union(&kept, &later, &j->add);
	if (!ret)
		ret = bitmask_union(&kept, &kept, &j->rem);
	if (!ret)
		ret = redo_overwritten(j, h, k, &kept, want);
	/* ours again, but not on a sample that a write which had seen ours
	 * changed after it: that one is the last writer there */
	if (!ret && unseen)
		ret = bitmask_difference(&own, &j->add, &later);
	if (!ret && unseen)
		ret = bitmask_union(want, want, &own);
	if (!ret && unseen)
		ret = bitmask_difference(&own, &j->rem, &later);
	if (!ret && unseen)
		ret = bitmask_difference(want, want, &own);
	bitmask_dispose(&later);
	bitmask_dispose(&kept);
	bitmask_dispose(&own);
	return ret;
}

static int write_again(struct flush_job *j, const char *name,
		       struct bitmask *want)
{
	char *hex = NULL;
	int ret = bitmask_to_hex(want, &hex);

	if (ret)
		return ret;
	edits_stamp(j, want);
	ret = api_update_tag(j->api, j->ds_id, j->tag_id, name, hex, &j->stamp);
	if (!ret) {
		free(j->hex);
		j->hex = hex;
		hex = NULL;
		j->redone++;
	}
	free(hex);
	return ret;
}

int edits_verify(struct flush_job *j, const char *name)
{
	struct bitmask want = {0};
	struct api_change *h = NULL;
	size_t n = 0, k;
	int ret = 0;

	for (int round = 0; !ret; round++) {
		api_history_free(h, n);
		ret = read_tag(j, NULL, j->stamp.base, &h, &n);
		k = ret || !j->history ? SIZE_MAX : find_own(j, h, n);
		/* a server that keeps no history, or lost ours: nothing to tell
		 * a race by */
		if (ret || k == SIZE_MAX)
			break;
		ret = repaired(j, h, n, k, &want);
		if (ret || bitmask_equal(&want, &j->srv))
			break;
		if (round == EDITS_VERIFY_ROUNDS) {
			j->unheld = count_flips(&j->srv, &want) +
				    count_flips(&want, &j->srv);
			ret = -EBUSY;
			break;
		}
		ret = write_again(j, name, &want);
		if (!ret) {
			bitmask_dispose(&j->srv);
			j->srv = want;
			want.words = NULL;
			want.nbits = 0;
		}
	}
	api_history_free(h, n);
	bitmask_dispose(&want);
	return ret;
}

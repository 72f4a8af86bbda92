/* The reading of the journal file back: the buffered line reader, the
 * record parser, the scan of a whole file into compact records, the
 * settling of those records (which are still unsettled, which to report)
 * and the staging of the per-tag numbers rebuilt from them. */
#include "journal_internal.h"

#include <errno.h>
#include <stdlib.h>

#include "hash.h"
#include <string.h>
#include <unistd.h>

/* The shortest valid record, "D 0 <24> <24>\n": bounds the records a file
 * of a given size can hold, so a scan allocates once. */
#define JOURNAL_REC_MIN 54

struct reader {
	int fd;
	uint64_t next, end; /* file offset to read next, and where to stop */
	size_t pos, len;
	char buf[JOURNAL_IO_BUF];
};

struct parsed {
	bool done;
	uint64_t seq;
	const char *ds, *tag; /* JOURNAL_ID_LEN bytes, not terminated */
	uint32_t sample;
	bool add;
};

bool journal_id_valid(const char *s, size_t n)
{
	if (n != JOURNAL_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= '0' && s[i] <= '9') &&
		    !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

int journal_pread_full(int fd, char *buf, size_t len, uint64_t off, size_t *got)
{
	size_t n = 0;

	while (n < len) {
		ssize_t r = pread(fd, buf + n, len - n, (off_t)(off + n));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*got = n;
	return 0;
}

/* The next line, without its newline, into line[JOURNAL_LINE_MAX] (*cut
 * when it was longer).  1: a line, 2: a last line with no newline, 0: the
 * end, -errno. */
static int reader_line(struct reader *r, char *line, size_t *len, bool *cut)
{
	*len = 0;
	*cut = false;
	for (;;) {
		const char *nl;
		size_t take, chunk;

		if (r->pos == r->len) {
			size_t want = sizeof(r->buf);
			int ret;

			if (r->end - r->next < want)
				want = (size_t)(r->end - r->next);
			ret = want ? journal_pread_full(r->fd, r->buf, want,
							r->next, &r->len)
				   : 0;
			if (ret)
				return ret;
			if (!want)
				r->len = 0;
			r->next += r->len;
			r->pos = 0;
			if (!r->len)
				return *len || *cut ? 2 : 0;
		}
		nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		chunk = nl ? (size_t)(nl - (r->buf + r->pos)) : r->len - r->pos;
		take = chunk;
		if (take > JOURNAL_LINE_MAX - *len) {
			take = JOURNAL_LINE_MAX - *len;
			*cut = true;
		}
		memcpy(line + *len, r->buf + r->pos, take);
		*len += take;
		r->pos += chunk;
		if (nl) {
			r->pos++;
			return 1;
		}
	}
}

static bool parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* A record line, exactly as format_rec writes it (one space between
 * fields); anything else is malformed. */
static bool parse_line(const char *line, size_t len, struct parsed *p)
{
	const char *tok[7];
	size_t tlen[7], ntok = 0, start = 0;
	uint64_t v;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (ntok == 7 || i == start)
			return false;
		tok[ntok] = line + start;
		tlen[ntok++] = i - start;
		start = i + 1;
	}
	if (tlen[0] != 1 || (tok[0][0] != 'E' && tok[0][0] != 'D'))
		return false;
	*p = (struct parsed){.done = tok[0][0] == 'D'};
	if (ntok != (p->done ? 4u : 6u))
		return false;
	if (!parse_u64(tok[1], tlen[1], UINT64_MAX, &p->seq) ||
	    !journal_id_valid(tok[2], tlen[2]) ||
	    !journal_id_valid(tok[3], tlen[3]))
		return false;
	p->ds = tok[2];
	p->tag = tok[3];
	if (p->done)
		return true;
	if (!parse_u64(tok[4], tlen[4], UINT32_MAX, &v) || tlen[5] != 1 ||
	    (tok[5][0] != '+' && tok[5][0] != '-'))
		return false;
	p->sample = (uint32_t)v;
	p->add = tok[5][0] == '+';
	return true;
}

void journal_scan_dispose(struct scan *s)
{
	free(s->recs);
}

/* The records array, sized once for the most records j->size bytes can
 * hold.  0, -EFBIG, -ENOMEM. */
static int scan_alloc(const struct journal *j, struct scan *s)
{
	uint64_t body = j->size - JOURNAL_HEADER_LEN;

	memset(s, 0, sizeof(*s));
	if (body / JOURNAL_REC_MIN + 1 > SIZE_MAX / sizeof(*s->recs))
		return -EFBIG;
	s->cap = (size_t)(body / JOURNAL_REC_MIN + 1);
	s->recs = malloc(s->cap * sizeof(*s->recs));
	return s->recs ? 0 : -ENOMEM;
}

/* Adds a parsed record to s.  0, -ENOMEM, -EOVERFLOW, -EFBIG. */
static int scan_add(struct journal *j, struct scan *s, const struct parsed *p)
{
	struct jtag *t;
	int ret;

	/* a done of a tag with no edit above it settles nothing */
	ret = journal_tag_get(j, p->ds, p->tag, !p->done, &t);
	if (ret)
		return ret;
	if (p->seq > s->max_seq)
		s->max_seq = p->seq;
	if (!t)
		return 0;
	if (s->n == s->cap) /* cannot happen: cap bounds the lines */
		return -EFBIG;
	s->recs[s->n++] = (struct jrec){
	    .seq = p->seq,
	    .sample = p->sample,
	    .bits = t->idx | (p->done ? JREC_DONE : 0) |
		    (!p->done && p->add ? JREC_ADD : 0),
	};
	return 0;
}

/* Adds each of r's lines to s; a cut, malformed or unterminated last line
 * is counted skipped.  0, -errno. */
static int scan_lines(struct journal *j, struct scan *s, struct reader *r)
{
	char line[JOURNAL_LINE_MAX];

	for (;;) {
		struct parsed p;
		size_t len;
		bool cut;
		int ret = reader_line(r, line, &len, &cut);

		if (ret <= 0)
			return ret;
		if (ret == 2) {
			s->torn_end = true;
			s->skipped++;
			return 0;
		}
		if (cut || !parse_line(line, len, &p)) {
			s->skipped++;
			continue;
		}
		ret = scan_add(j, s, &p);
		if (ret)
			return ret;
	}
}

/* Reads the records after the header into s.  Lock held. */
int journal_scan_file(struct journal *j, struct scan *s)
{
	struct reader *r;
	int ret = scan_alloc(j, s);

	if (ret)
		return ret;
	r = malloc(sizeof(*r));
	if (!r) {
		journal_scan_dispose(s);
		return -ENOMEM;
	}
	r->fd = j->fd;
	r->next = JOURNAL_HEADER_LEN;
	r->end = j->size;
	r->pos = r->len = 0;
	ret = scan_lines(j, s, r);
	free(r);
	if (ret)
		journal_scan_dispose(s);
	return ret;
}

struct horizon {
	uint64_t seq; /* the largest done of the tag below this point */
	bool has;
};

static bool set_insert(uint64_t *keys, size_t cap, uint64_t key)
{
	size_t s = (size_t)hash_mix64(key) & (cap - 1);

	while (keys[s]) {
		if (keys[s] == key)
			return false;
		s = (s + 1) & (cap - 1);
	}
	keys[s] = key;
	return true;
}

/* Marks the records no later done settles (JREC_PENDING) and, with
 * dedupe, the last of those per (tag, sample) (JREC_REPORT).  Walks the
 * records backwards, so a done is seen before the edits it settles and
 * the last edit of a sample before its earlier ones.  *npending and
 * *nreport count them.  0, -ENOMEM. */
int journal_scan_settle(const struct journal *j, struct scan *s, bool dedupe,
			size_t *npending, size_t *nreport)
{
	struct horizon *hz = calloc(j->ntags ? j->ntags : 1, sizeof(*hz));
	uint64_t *keys = NULL;
	size_t cap = 1;
	int ret = 0;

	*npending = *nreport = 0;
	if (!hz)
		return -ENOMEM;
	for (size_t i = s->n; i-- > 0;) {
		struct jrec *r = &s->recs[i];
		struct horizon *h = &hz[r->bits & JREC_TAG_MASK];

		if (r->bits & JREC_DONE) {
			if (!h->has || r->seq > h->seq)
				*h = (struct horizon){r->seq, true};
		} else if (!h->has || r->seq > h->seq) {
			r->bits |= JREC_PENDING;
			(*npending)++;
		}
	}
	if (!dedupe || !*npending)
		goto out;
	while (cap < *npending * 2)
		cap *= 2;
	keys = calloc(cap, sizeof(*keys));
	if (!keys) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = s->n; i-- > 0;) {
		struct jrec *r = &s->recs[i];
		uint64_t key =
		    (uint64_t)((r->bits & JREC_TAG_MASK) + 1) << 32 | r->sample;

		if ((r->bits & JREC_PENDING) && set_insert(keys, cap, key)) {
			r->bits |= JREC_REPORT;
			(*nreport)++;
		}
	}
out:
	free(keys);
	free(hz);
	return ret;
}

void journal_pending_unstage(struct journal *j)
{
	for (uint32_t i = 0; i < j->ntags; i++) {
		free(j->tags[i]->staged);
		j->tags[i]->staged = NULL;
		j->tags[i]->staged_n = 0;
	}
}

/* Builds each tag's next seqs from the records marked flag, without
 * touching the live ones, so a failure leaves them as they were.  0,
 * -ENOMEM. */
int journal_pending_stage(struct journal *j, const struct scan *s,
			  uint32_t flag)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->recs[i].bits & flag)
			j->tags[s->recs[i].bits & JREC_TAG_MASK]->staged_n++;
	for (uint32_t i = 0; i < j->ntags; i++) {
		struct jtag *t = j->tags[i];

		if (!t->staged_n)
			continue;
		t->staged = malloc(t->staged_n * sizeof(*t->staged));
		if (!t->staged) {
			journal_pending_unstage(j);
			return -ENOMEM;
		}
		t->staged_n = 0;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct jrec *r = &s->recs[i];
		struct jtag *t = j->tags[r->bits & JREC_TAG_MASK];

		if (r->bits & flag)
			t->staged[t->staged_n++] = r->seq;
	}
	return 0;
}

void journal_pending_commit(struct journal *j)
{
	j->pending = 0;
	for (uint32_t i = 0; i < j->ntags; i++) {
		struct jtag *t = j->tags[i];

		free(t->seqs);
		t->seqs = t->staged;
		t->head = 0;
		t->n = t->cap = t->staged_n;
		j->pending += t->n;
		t->staged = NULL;
		t->staged_n = 0;
	}
}

/* What the three files of the edit journal share, none of it public:
 * journal.c (the API: open, edit, done, sync, replay, compact, and the
 * writing of records), journal_scan.c (the reading of the file: line
 * reader, record parser, scan, settle, pending staging) and journal_tags.c
 * (the tag table both of them go through). */
#ifndef LIGHTLYFS_JOURNAL_INTERNAL_H
#define LIGHTLYFS_JOURNAL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"

#define JOURNAL_HEADER "lightlyfs-journal 1\n"
#define JOURNAL_HEADER_LEN (sizeof(JOURNAL_HEADER) - 1)
/* The longest record, "E <20> <24> <24> <10> +\n", is 86 bytes. */
#define JOURNAL_LINE_MAX 128
#define JOURNAL_IO_BUF 65536

/* A scanned record: 16 bytes, so a replay of a million lines stays small. */
#define JREC_DONE (1u << 31)
#define JREC_ADD (1u << 30)
#define JREC_PENDING (1u << 29)
#define JREC_REPORT (1u << 28)
#define JREC_TAG_MASK (JREC_REPORT - 1)

struct jtag {
	char ds[JOURNAL_ID_LEN + 1];
	char tag[JOURNAL_ID_LEN + 1];
	uint64_t hash;
	uint32_t idx; /* in journal.tags */
	/* unsettled edit numbers in file order (non-decreasing: journal_edit
	 * refuses a lower one), live in [head, n) */
	uint64_t *seqs;
	size_t head, n, cap;
	uint64_t *staged; /* the next seqs, built before a compaction commits */
	size_t staged_n;
};

struct journal {
	pthread_mutex_t lock;
	int fd;
	char *path, *tmp_path, *dir;
	uint64_t size;	  /* bytes in the file: a short write is cut back */
	bool torn;	  /* ends mid-line: the next record starts a line */
	uint64_t pending; /* edits written and not settled */
	uint64_t max_seq;
	uint64_t wgen, sgen; /* writes made, and made when last synced */
	struct jtag **tags;  /* creation order: a scanned record's tag index */
	uint32_t ntags, tags_cap;
	uint32_t *table; /* open addressing: tag index + 1, 0 is empty */
	uint32_t table_cap;
	struct jtag *last; /* an edit burst hits one tag: skip the hash */
};

struct jrec {
	uint64_t seq;
	uint32_t sample;
	uint32_t bits; /* tag index | JREC_* */
};

struct scan {
	struct jrec *recs;
	size_t n, cap;
	unsigned skipped;
	bool torn_end; /* the last line has no newline */
	uint64_t max_seq;
};

/* journal_tags.c */

/* The tag entry of (ds, tag), both JOURNAL_ID_LEN bytes; created when
 * create is set.  0 and *out (NULL when absent), -ENOMEM, -EOVERFLOW. */
int journal_tag_get(struct journal *j, const char *ds, const char *tag,
		    bool create, struct jtag **out);
/* Forgets t, whose edits are all settled (lock held); t is freed. */
void journal_tag_drop(struct journal *j, struct jtag *t);
/* Drops every entry with no unsettled edit (lock held, nothing staged).
 * A scan makes an entry for each tag the file has an edit of, settled or
 * not: a load, a compaction or a replay calls this once it no longer
 * needs the scan's tag indexes. */
void journal_tags_prune(struct journal *j);

/* journal_scan.c */

/* Whether s[0..n) is an id: JOURNAL_ID_LEN lower-case hex digits. */
bool journal_id_valid(const char *s, size_t n);
/* pread(2) of len bytes at off, retried until the end of the file: *got
 * the bytes read.  0, -errno. */
int journal_pread_full(int fd, char *buf, size_t len, uint64_t off,
		       size_t *got);
/* Reads the records after the header into s (journal_scan_dispose it),
 * creating the tag entries edits name.  Lock held.  0, -EFBIG, -ENOMEM,
 * -EOVERFLOW, -errno (s then holds nothing). */
int journal_scan_file(struct journal *j, struct scan *s);
void journal_scan_dispose(struct scan *s);
/* Marks s's unsettled records JREC_PENDING and, with dedupe, the last of
 * those per (tag, sample) JREC_REPORT, counting them.  0, -ENOMEM. */
int journal_scan_settle(const struct journal *j, struct scan *s, bool dedupe,
			size_t *npending, size_t *nreport);
/* Builds each tag's staged seqs from s's records marked flag, the live
 * ones untouched.  0, -ENOMEM (nothing staged). */
int journal_pending_stage(struct journal *j, const struct scan *s,
			  uint32_t flag);
/* Drops the staged seqs. */
void journal_pending_unstage(struct journal *j);
/* Makes the staged seqs the live ones and recounts j->pending. */
void journal_pending_commit(struct journal *j);

#endif

/* The journal must give back, after a close (or a crash), exactly the edits
 * not yet settled, never hold the account secret, and keep a burst of a
 * million edits cheap. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "journal.h"

int main(void);

#define DS "0123456789abcdef01234567"
#define TAG "aaaaaaaaaaaaaaaaaaaaaaaa"
#define TAG2 "bbbbbbbbbbbbbbbbbbbbbbbb"
#define SERVER "https://api.lightly.ai"
#define TOKEN "secret-token-123"
#define HEADER "lightlyfs-journal 1\n"
#define MAXREC 64

struct rec {
	char tag[JOURNAL_ID_LEN + 1];
	uint32_t sample;
	bool add;
};

struct got {
	struct rec r[MAXREC];
	size_t n;
};

static char root[64];

static int collect_cb(const char *ds_id, const char *tag_id, uint32_t sample,
		      bool add, void *arg)
{
	struct got *g = arg;

	CHECK_STR(ds_id, DS);
	if (g->n < MAXREC) {
		snprintf(g->r[g->n].tag, sizeof(g->r[g->n].tag), "%s", tag_id);
		g->r[g->n].sample = sample;
		g->r[g->n].add = add;
	}
	g->n++;
	return 0;
}

static int count_cb(const char *ds_id, const char *tag_id, uint32_t sample,
		    bool add, void *arg)
{
	(void)ds_id;
	(void)tag_id;
	(void)sample;
	(void)add;
	(*(size_t *)arg)++;
	return 0;
}

static struct journal *jopen(const char *account)
{
	struct journal *j = NULL;

	CHECK_INT(journal_open(root, SERVER, account, &j), 0);
	return j;
}

static void replay(struct journal *j, struct got *g, unsigned *skipped)
{
	memset(g, 0, sizeof(*g));
	CHECK_INT(journal_replay(j, collect_cb, g, skipped), 0);
}

static void check_rec(const struct got *g, size_t i, const char *tag,
		      uint32_t sample, bool add)
{
	CHECK(i < g->n);
	if (i >= g->n)
		return;
	CHECK_STR(g->r[i].tag, tag);
	CHECK_INT(g->r[i].sample, sample);
	CHECK_INT(g->r[i].add, add);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	*len = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

static void append_raw(const char *path, const char *s)
{
	FILE *f = fopen(path, "ab");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(s, f);
	fclose(f);
}

static void remove_journal(const char *account)
{
	struct journal *j = jopen(account);
	char path[256];

	snprintf(path, sizeof(path), "%s", j ? journal_path(j) : "");
	journal_free(j);
	unlink(path);
}

static void test_replay_after_reopen(void)
{
	struct journal *j = jopen("acct-reopen");
	struct got g;

	CHECK_INT(journal_pending(j), 0);
	CHECK_INT(journal_edit(j, DS, TAG, 1, 10, true), 0);
	CHECK_INT(journal_edit(j, DS, TAG, 2, 11, false), 0);
	CHECK_INT(journal_edit(j, DS, TAG2, 3, 12, true), 0);
	CHECK_INT(journal_done(j, DS, TAG2, 3), 0);
	CHECK_INT(journal_edit(j, DS, TAG, 4, 13, true), 0);
	CHECK_INT(journal_pending(j), 3);
	CHECK_INT(journal_sync(j), 0);
	CHECK_INT(journal_sync(j), 0); /* nothing new: no fdatasync */
	journal_free(j);

	j = jopen("acct-reopen");
	CHECK_INT(journal_pending(j), 3);
	CHECK_INT(journal_max_seq(j), 4);
	replay(j, &g, NULL);
	CHECK_INT(g.n, 3);
	check_rec(&g, 0, TAG, 10, true);
	check_rec(&g, 1, TAG, 11, false);
	check_rec(&g, 2, TAG, 13, true);
	journal_free(j);
	remove_journal("acct-reopen");
}

static void test_done_settles_up_to_seq(void)
{
	struct journal *j = jopen("acct-done");
	struct got g;

	for (uint32_t i = 1; i <= 5; i++)
		CHECK_INT(journal_edit(j, DS, TAG, i * 10, i, true), 0);
	CHECK_INT(journal_edit(j, DS, TAG2, 25, 99, true), 0);
	CHECK_INT(journal_done(j, DS, TAG, 30), 0); /* 10, 20, 30 */
	CHECK_INT(journal_pending(j), 3);
	CHECK_INT(journal_done(j, DS, TAG, 35), 0); /* settles nothing more */
	CHECK_INT(journal_pending(j), 3);
	/* a done of an unknown tag settles and writes nothing */
	CHECK_INT(journal_done(j, DS, "cccccccccccccccccccccccc", 99), 0);
	journal_free(j);
	j = jopen("acct-done");
	CHECK_INT(journal_pending(j), 3);
	replay(j, &g, NULL);
	CHECK_INT(g.n, 3);
	check_rec(&g, 0, TAG, 4, true);
	check_rec(&g, 1, TAG, 5, true);
	check_rec(&g, 2, TAG2, 99, true);
	/* an edit numbered below an unsettled one would outlive it */
	CHECK_INT(journal_edit(j, DS, TAG, 45, 7, false), -EINVAL);
	CHECK_INT(journal_edit(j, DS, TAG, 50, 7, false), 0);
	CHECK_INT(journal_done(j, DS, TAG, 50), 0);
	CHECK_INT(journal_pending(j), 1);
	/* numbers may start again once a tag has nothing unsettled */
	CHECK_INT(journal_edit(j, DS, TAG, 1, 8, true), 0);
	journal_free(j);
	j = jopen("acct-done");
	CHECK_INT(journal_pending(j), 2);
	replay(j, &g, NULL);
	CHECK_INT(g.n, 2);
	check_rec(&g, 0, TAG2, 99, true);
	check_rec(&g, 1, TAG, 8, true);
	journal_free(j);
	remove_journal("acct-done");
}

static void test_last_state_wins(void)
{
	struct journal *j = jopen("acct-last");
	struct got g;

	CHECK_INT(journal_edit(j, DS, TAG, 1, 5, true), 0);
	CHECK_INT(journal_edit(j, DS, TAG, 2, 6, true), 0);
	CHECK_INT(journal_edit(j, DS, TAG, 3, 5, false), 0);
	CHECK_INT(journal_edit(j, DS, TAG2, 4, 5, true), 0); /* other tag */
	CHECK_INT(journal_pending(j), 4);
	replay(j, &g, NULL);
	CHECK_INT(g.n, 3);
	check_rec(&g, 0, TAG, 6, true);
	check_rec(&g, 1, TAG, 5, false); /* at the place of the remove */
	check_rec(&g, 2, TAG2, 5, true);
	/* settling the add leaves the remove */
	CHECK_INT(journal_done(j, DS, TAG, 1), 0);
	replay(j, &g, NULL);
	CHECK_INT(g.n, 3);
	check_rec(&g, 1, TAG, 5, false);
	journal_free(j);
	remove_journal("acct-last");
}

static void test_torn_and_malformed_lines(void)
{
	struct journal *j = jopen("acct-torn");
	char path[256];
	unsigned skipped = 99;
	struct got g;

	CHECK_INT(journal_edit(j, DS, TAG, 1, 1, true), 0);
	snprintf(path, sizeof(path), "%s", journal_path(j));
	journal_free(j);
	append_raw(path, "E 2 " DS " " TAG " 2 x\n");  /* bad sign */
	append_raw(path, "E 3 " DS " " TAG "  3 +\n"); /* two spaces */
	append_raw(path, "E 4 " DS " AAAAAAAAAAAAAAAAAAAAAAAA 4 +\n");
	append_raw(path, "E 5 " DS " " TAG " 4294967296 +\n"); /* > u32 */
	append_raw(path, "garbage\n");
	append_raw(path, "E 6 " DS " " TAG " 6 +\n"); /* good */
	append_raw(path, "E 7 " DS " " TAG " 7");     /* torn: no newline */
	j = jopen("acct-torn");
	replay(j, &g, &skipped);
	CHECK_INT(skipped, 6);
	CHECK_INT(g.n, 2);
	check_rec(&g, 0, TAG, 1, true);
	check_rec(&g, 1, TAG, 6, true);
	/* the next record is not glued to the torn one */
	CHECK_INT(journal_edit(j, DS, TAG, 8, 8, false), 0);
	replay(j, &g, &skipped);
	CHECK_INT(skipped, 6);
	CHECK_INT(g.n, 3);
	check_rec(&g, 2, TAG, 8, false);
	journal_free(j);
	remove_journal("acct-torn");
}

static void test_secret_never_stored(void)
{
	struct journal *j = jopen(TOKEN);
	size_t len;
	char *buf;
	char path[256];

	CHECK_INT(journal_edit(j, DS, TAG, 1, 1, true), 0);
	CHECK(strstr(journal_path(j), TOKEN) == NULL);
	/* FNV-1a 64 of SERVER "\n" TOKEN, computed independently */
	CHECK(strstr(journal_path(j), "/journal-18461b15f4520cd4.log") != NULL);
	snprintf(path, sizeof(path), "%s", journal_path(j));
	CHECK_INT(journal_compact(j), 0);
	journal_free(j);
	buf = slurp(path, &len);
	CHECK(buf != NULL);
	CHECK(buf && memmem(buf, len, TOKEN, strlen(TOKEN)) == NULL);
	CHECK(buf && memmem(buf, len, SERVER, strlen(SERVER)) == NULL);
	free(buf);
	unlink(path);
}

static void test_modes(void)
{
	char dir[128];
	struct journal *j = NULL, *j2 = NULL;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/a/b", root);
	CHECK_INT(journal_open(dir, SERVER, "acct-modes", &j), 0);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	snprintf(dir, sizeof(dir), "%s/a", root);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(stat(journal_path(j), &st) == 0 && (st.st_mode & 0777) == 0600);
	/* a second mount of the same account must not share the file */
	CHECK_INT(journal_open(root, SERVER, "x", &j2), 0);
	journal_free(j2);
	snprintf(dir, sizeof(dir), "%s/a/b", root);
	CHECK_INT(journal_open(dir, SERVER, "acct-modes", &j2), -EBUSY);
	CHECK(j2 == NULL);
	/* compaction keeps the mode */
	CHECK_INT(journal_edit(j, DS, TAG, 1, 1, true), 0);
	CHECK_INT(journal_compact(j), 0);
	CHECK(stat(journal_path(j), &st) == 0 && (st.st_mode & 0777) == 0600);
	/* bad ids */
	CHECK_INT(journal_edit(j, "0123456789ABCDEF01234567", TAG, 2, 1, true),
		  -EINVAL);
	CHECK_INT(journal_edit(j, DS, TAG "0", 2, 1, true), -EINVAL);
	CHECK_INT(journal_edit(j, DS, "abc", 2, 1, true), -EINVAL);
	CHECK_INT(journal_done(j, DS, "g23456789abcdef012345678", 2), -EINVAL);
	journal_free(j);
	journal_free(NULL);
	remove_journal("x");
}

static void test_foreign_header_refused(void)
{
	struct journal *j = jopen("acct-foreign");
	char path[256];
	const char *other = "lightlyfs-journal 2\nE 1 whatever\n";
	struct stat before, after;
	size_t len;
	char *buf;
	FILE *f;

	snprintf(path, sizeof(path), "%s", journal_path(j));
	journal_free(j);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f) {
		fputs(other, f);
		fclose(f);
	}
	stat(path, &before);
	CHECK_INT(journal_open(root, SERVER, "acct-foreign", &j), -EPROTO);
	CHECK(j == NULL);
	stat(path, &after);
	buf = slurp(path, &len);
	CHECK(buf && len == strlen(other) && !memcmp(buf, other, len));
	CHECK(before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
	      before.st_mtim.tv_sec == after.st_mtim.tv_sec);
	free(buf);
	/* a header cut short by a crash at creation is ours to redo */
	f = fopen(path, "wb");
	if (f) {
		fputs("lightlyfs-jou", f);
		fclose(f);
	}
	CHECK_INT(journal_open(root, SERVER, "acct-foreign", &j), 0);
	journal_free(j);
	buf = slurp(path, &len);
	CHECK(buf && !strcmp(buf, HEADER));
	free(buf);
	unlink(path);
}

static void test_compact(void)
{
	struct journal *j = jopen("acct-compact");
	char path[256];
	struct got g;
	struct stat st;
	size_t len;
	char *buf;

	snprintf(path, sizeof(path), "%s", journal_path(j));
	for (uint32_t i = 1; i <= 10; i++)
		CHECK_INT(journal_edit(j, DS, TAG, i, i, true), 0);
	CHECK_INT(journal_done(j, DS, TAG, 10), 0);
	CHECK_INT(journal_pending(j), 0);
	CHECK_INT(journal_compact(j), 0);
	CHECK(stat(path, &st) == 0 && st.st_size == (off_t)strlen(HEADER));
	/* appends after the truncation land after the header */
	CHECK_INT(journal_edit(j, DS, TAG, 11, 1, true), 0);
	CHECK_INT(journal_edit(j, DS, TAG, 12, 2, true), 0);
	CHECK_INT(journal_edit(j, DS, TAG, 13, 1, false), 0);
	CHECK_INT(journal_edit(j, DS, TAG2, 14, 3, true), 0);
	CHECK_INT(journal_done(j, DS, TAG2, 14), 0);
	CHECK_INT(journal_edit(j, DS, TAG2, 15, 4, false), 0);
	CHECK_INT(journal_pending(j), 4);
	CHECK_INT(journal_compact(j), 0);
	CHECK_INT(journal_pending(j), 3); /* one record per sample */
	buf = slurp(path, &len);
	CHECK_STR(buf, HEADER "E 12 " DS " " TAG " 2 +\n"
			      "E 13 " DS " " TAG " 1 -\n"
			      "E 15 " DS " " TAG2 " 4 -\n");
	free(buf);
	/* the swapped fd is the one appended to, and dones still apply */
	CHECK_INT(journal_done(j, DS, TAG, 12), 0);
	CHECK_INT(journal_pending(j), 2);
	CHECK_INT(journal_sync(j), 0);
	journal_free(j);
	j = jopen("acct-compact");
	CHECK_INT(journal_pending(j), 2);
	replay(j, &g, NULL);
	CHECK_INT(g.n, 2);
	check_rec(&g, 0, TAG, 1, false);
	check_rec(&g, 1, TAG2, 4, false);
	journal_free(j);
	unlink(path);
}

#define THREADS 4
#define PER_THREAD 5000

struct worker {
	struct journal *j;
	char tag[JOURNAL_ID_LEN + 1];
	int failed;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	for (uint32_t i = 0; i < PER_THREAD; i++) {
		if (journal_edit(w->j, DS, w->tag, i + 1, i, i % 2))
			w->failed++;
		if (i % 1000 == 999 && journal_sync(w->j))
			w->failed++;
	}
	return NULL;
}

static void test_concurrent_appends(void)
{
	struct journal *j = jopen("acct-threads");
	struct worker w[THREADS];
	pthread_t th[THREADS];
	size_t n = 0;
	unsigned skipped = 0;

	for (int i = 0; i < THREADS; i++) {
		w[i].j = j;
		w[i].failed = 0;
		memset(w[i].tag, 'a' + i, JOURNAL_ID_LEN);
		w[i].tag[JOURNAL_ID_LEN] = '\0';
		CHECK_INT(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(w[i].failed, 0);
	}
	CHECK_INT(journal_pending(j), THREADS * PER_THREAD);
	journal_free(j);
	j = jopen("acct-threads");
	CHECK_INT(journal_pending(j), THREADS * PER_THREAD);
	CHECK_INT(journal_replay(j, count_cb, &n, &skipped), 0);
	CHECK_INT(n, THREADS * PER_THREAD);
	CHECK_INT(skipped, 0);
	journal_free(j);
	remove_journal("acct-threads");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

#define BURST 1000000u

/* A million removals (rm -r of a big tag): the time is printed, not
 * asserted, since this machine is shared. */
static void test_burst(void)
{
	struct journal *j = jopen("acct-burst");
	long rss0 = maxrss_kb(), rss1;
	double t0 = now_s(), t1, t2, t3;
	unsigned skipped = 0;
	struct stat st;
	size_t n = 0;
	int fails = 0;

	for (uint32_t i = 0; i < BURST; i++)
		fails += journal_edit(j, DS, TAG, i + 1, i, false) != 0;
	t1 = now_s();
	rss1 = maxrss_kb();
	CHECK_INT(fails, 0);
	CHECK_INT(journal_pending(j), BURST);
	CHECK_INT(journal_sync(j), 0);
	stat(journal_path(j), &st);
	fprintf(stderr,
		"burst: %u edits in %.3f s (%.2f us each), file %.1f MB, "
		"peak rss +%.1f MB\n",
		BURST, t1 - t0, (t1 - t0) * 1e6 / BURST,
		(double)st.st_size / 1e6, (double)(rss1 - rss0) / 1024);
	t1 = now_s();
	CHECK_INT(journal_replay(j, count_cb, &n, &skipped), 0);
	t2 = now_s();
	CHECK_INT(n, BURST);
	CHECK_INT(skipped, 0);
	CHECK_INT(journal_done(j, DS, TAG, BURST), 0);
	CHECK_INT(journal_pending(j), 0);
	CHECK_INT(journal_compact(j), 0);
	t3 = now_s();
	stat(journal_path(j), &st);
	CHECK_INT(st.st_size, strlen(HEADER));
	fprintf(stderr,
		"burst: replay %.3f s, done + compact %.3f s, peak rss +%.1f "
		"MB over the start\n",
		t2 - t1, t3 - t2, (double)(maxrss_kb() - rss0) / 1024);
	journal_free(j);
	remove_journal("acct-burst");
}

/* A mount whose tags come and go holds an entry only for tags with edits
 * not settled, and the others stay findable after entries around them go. */
static void test_settled_tags_forgotten(void)
{
	struct journal *j = jopen("acct-churn");
	char tag[JOURNAL_ID_LEN + 1];
	uint64_t seq = 0;
	size_t n = 0;
	unsigned skipped = 0;

	for (int i = 0; i < 3000; i++) {
		snprintf(tag, sizeof(tag), "%024x", 0x100000 + i);
		CHECK_INT(journal_edit(j, DS, tag, ++seq, 1, true), 0);
		/* every third stays pending */
		if (i % 3)
			CHECK_INT(journal_done(j, DS, tag, seq), 0);
	}
	CHECK_INT(journal_tags_held(j), 1000);
	CHECK_INT(journal_pending(j), 1000);
	/* the held ones settle by their own numbers: each is still found */
	for (int i = 0; i < 3000; i += 3) {
		snprintf(tag, sizeof(tag), "%024x", 0x100000 + i);
		CHECK_INT(journal_done(j, DS, tag, (uint64_t)i + 1), 0);
	}
	CHECK_INT(journal_pending(j), 0);
	CHECK_INT(journal_tags_held(j), 0);
	CHECK_INT(journal_replay(j, count_cb, &n, &skipped), 0);
	CHECK_INT(n, 0);
	journal_free(j);
	remove_journal("acct-churn");
}

#define TAG3 "cccccccccccccccccccccccc"

/* A scan reads every tag the file has an edit of, settled or not: after a
 * compaction, a reopen or a replay the journal still holds entries only
 * for tags with edits waiting, and the ones it dropped can be edited and
 * settled again. */
static void test_scan_forgets_settled_tags(void)
{
	struct journal *j = jopen("acct-rescan");
	struct got g;

	for (uint32_t i = 1; i <= 3; i++) {
		CHECK_INT(journal_edit(j, DS, TAG, i, i, true), 0);
		CHECK_INT(journal_edit(j, DS, TAG2, 10 + i, i, true), 0);
		CHECK_INT(journal_edit(j, DS, TAG3, 20 + i, i, true), 0);
	}
	CHECK_INT(journal_done(j, DS, TAG, 3), 0);
	CHECK_INT(journal_done(j, DS, TAG2, 13), 0);
	CHECK_INT(journal_tags_held(j), 1);
	/* something pending: the rewrite, which scans the file */
	CHECK_INT(journal_compact(j), 0);
	CHECK_INT(journal_pending(j), 3);
	CHECK_INT(journal_tags_held(j), 1);
	/* settled again after the rewrite: its table still finds them */
	CHECK_INT(journal_edit(j, DS, TAG, 30, 7, true), 0);
	CHECK_INT(journal_edit(j, DS, TAG2, 31, 7, true), 0);
	CHECK_INT(journal_tags_held(j), 3);
	CHECK_INT(journal_done(j, DS, TAG, 30), 0);
	CHECK_INT(journal_tags_held(j), 2);
	journal_free(j);
	/* the file names TAG (settled) and TAG2, TAG3 (waiting) */
	j = jopen("acct-rescan");
	CHECK_INT(journal_pending(j), 4);
	CHECK_INT(journal_tags_held(j), 2);
	CHECK_INT(journal_done(j, DS, TAG2, 31), 0);
	CHECK_INT(journal_tags_held(j), 1);
	replay(j, &g, NULL);
	CHECK_INT(g.n, 3);
	check_rec(&g, 0, TAG3, 1, true);
	CHECK_INT(journal_tags_held(j), 1);
	journal_free(j);
	remove_journal("acct-rescan");
}

/* An edit the file refused (here a file size limit) leaves no entry. */
static void test_failed_edit_holds_nothing(void)
{
	struct journal *j = jopen("acct-efbig");
	struct rlimit old, lim;
	struct stat st;

	CHECK_INT(journal_edit(j, DS, TAG, 1, 1, true), 0);
	CHECK(stat(journal_path(j), &st) == 0);
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size;
	signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	CHECK_INT(journal_edit(j, DS, TAG2, 2, 1, true), -EFBIG);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_INT(journal_tags_held(j), 1);
	CHECK_INT(journal_pending(j), 1);
	journal_free(j);
	remove_journal("acct-efbig");
}

struct settler {
	struct journal *j;
	uint64_t seq;
	struct got g;
};

/* What a sync_edits mount does in replay: each edit replayed is recorded
 * anew and settled at once, which settles the tag's replayed ones too. */
static int settle_cb(const char *ds_id, const char *tag_id, uint32_t sample,
		     bool add, void *arg)
{
	struct settler *st = arg;

	CHECK_INT(collect_cb(ds_id, tag_id, sample, add, &st->g), 0);
	CHECK_INT(journal_edit(st->j, ds_id, tag_id, ++st->seq, sample, add),
		  0);
	CHECK_INT(journal_done(st->j, ds_id, tag_id, st->seq), 0);
	return 0;
}

/* Entries are freed while a replay walks the records naming them. */
static void test_replay_settling_as_it_goes(void)
{
	struct journal *j = jopen("acct-resettle");
	struct settler st = {0};

	for (uint32_t i = 1; i <= 4; i++) {
		CHECK_INT(journal_edit(j, DS, TAG, i, i, true), 0);
		CHECK_INT(journal_edit(j, DS, TAG2, 10 + i, i, false), 0);
	}
	journal_free(j);
	j = jopen("acct-resettle");
	st.j = j;
	st.seq = journal_max_seq(j);
	CHECK_INT(journal_replay(j, settle_cb, &st, NULL), 0);
	CHECK_INT(st.g.n, 8);
	check_rec(&st.g, 0, TAG, 1, true);
	check_rec(&st.g, 1, TAG2, 1, false);
	check_rec(&st.g, 6, TAG, 4, true);
	check_rec(&st.g, 7, TAG2, 4, false);
	CHECK_INT(journal_pending(j), 0);
	CHECK_INT(journal_tags_held(j), 0);
	journal_free(j);
	remove_journal("acct-resettle");
}

static int rm_cb(const char *path, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/test_journal.XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_replay_after_reopen();
	test_done_settles_up_to_seq();
	test_last_state_wins();
	test_torn_and_malformed_lines();
	test_secret_never_stored();
	test_modes();
	test_foreign_header_refused();
	test_compact();
	test_concurrent_appends();
	test_burst();
	test_settled_tags_forgotten();
	test_scan_forgets_settled_tags();
	test_failed_edit_holds_nothing();
	test_replay_settling_as_it_goes();
	nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return CHECK_DONE();
}

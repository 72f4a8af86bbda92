/* The edit journal's public API (open, edit, done, sync, replay, compact,
 * naming): one append-only file per server and account, the writing of its
 * records, and each tag's numbers of unsettled edits (so pending counts and
 * compaction need no file read on the hot path).  Reading the file back is
 * journal_scan.c's, finding a tag's entry journal_tags.c's. */
#include "journal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"

static bool arg_id_valid(const char *s)
{
	return s && journal_id_valid(s, strnlen(s, JOURNAL_ID_LEN + 1));
}

/* Room for one more seq, made before the record is written so that what
 * is on disk is always mirrored here.  Slides the live part down only once
 * half the array is settled, so each push costs O(1) amortised. */
static int seqs_reserve(struct jtag *t)
{
	uint64_t *v;
	size_t cap;

	if (t->n < t->cap)
		return 0;
	if (t->head && t->head >= t->cap / 2) {
		memmove(t->seqs, t->seqs + t->head,
			(t->n - t->head) * sizeof(*t->seqs));
		t->n -= t->head;
		t->head = 0;
		return 0;
	}
	cap = t->cap ? t->cap * 2 : 16;
	if (cap > SIZE_MAX / sizeof(*v))
		return -ENOMEM;
	v = realloc(t->seqs, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->seqs = v;
	t->cap = cap;
	return 0;
}

static size_t put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* Formats by hand: snprintf would be a fifth of a million-edit burst. */
static size_t format_rec(char *buf, bool newline_first, bool done, uint64_t seq,
			 const char *ds, const char *tag, uint32_t sample,
			 bool add)
{
	char *p = buf;

	if (newline_first)
		*p++ = '\n';
	*p++ = done ? 'D' : 'E';
	*p++ = ' ';
	p += put_u64(p, seq);
	*p++ = ' ';
	memcpy(p, ds, JOURNAL_ID_LEN);
	p += JOURNAL_ID_LEN;
	*p++ = ' ';
	memcpy(p, tag, JOURNAL_ID_LEN);
	p += JOURNAL_ID_LEN;
	if (!done) {
		*p++ = ' ';
		p += put_u64(p, sample);
		*p++ = ' ';
		*p++ = add ? '+' : '-';
	}
	*p++ = '\n';
	return (size_t)(p - buf);
}

/* One write(2) of a whole record.  A short one is cut off again: the next
 * record would otherwise be glued to half of this one and both be lost. */
static int append(struct journal *j, const char *buf, size_t len)
{
	ssize_t w;
	int err;

	do
		w = write(j->fd, buf, len);
	while (w < 0 && errno == EINTR);
	if (w >= 0 && (size_t)w == len) {
		j->size += len;
		j->torn = false;
		j->wgen++;
		return 0;
	}
	err = w < 0 ? -errno : -ENOSPC;
	if (w > 0) {
		if (ftruncate(j->fd, (off_t)j->size) < 0) {
			j->size += (uint64_t)w;
			j->torn = true;
		}
		j->wgen++;
	}
	return err;
}

static int write_full(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -ENOSPC;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* mkdir -p with mode 0700 for what it creates.  0, -errno. */
static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];
	size_t len = strnlen(dir, sizeof(buf));

	if (len == 0)
		return -EINVAL;
	if (len == sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		struct stat st;

		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST &&
		    (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode)))
			return -errno;
		buf[i] = i == len ? '\0' : '/';
	}
	return 0;
}

static char *path_join(const char *dir, const char *name, int *err)
{
	char buf[PATH_MAX];
	int n = snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	char *p;

	if (n < 0 || (size_t)n >= sizeof(buf)) {
		*err = -ENAMETOOLONG;
		return NULL;
	}
	p = strdup(buf);
	if (!p)
		*err = -ENOMEM;
	return p;
}

/* Takes the file over: checks the header, writing it into a new file (or
 * one a crash left with part of it), and refuses anything else without
 * changing a byte.  0, -EPROTO, -errno. */
static int header_check(struct journal *j)
{
	char buf[JOURNAL_HEADER_LEN];
	struct stat st;
	size_t got;
	int ret;

	if (fstat(j->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EPROTO;
	ret = journal_pread_full(j->fd, buf, sizeof(buf), 0, &got);
	if (ret)
		return ret;
	if (got == sizeof(buf) && !memcmp(buf, JOURNAL_HEADER, got)) {
		j->size = (uint64_t)st.st_size;
		return 0;
	}
	if ((uint64_t)st.st_size != got || memcmp(buf, JOURNAL_HEADER, got))
		return -EPROTO;
	if (got && ftruncate(j->fd, 0) < 0)
		return -errno;
	j->size = 0;
	return append(j, JOURNAL_HEADER, JOURNAL_HEADER_LEN);
}

/* Rebuilds the unsettled edit numbers from the file.  Lock held. */
static int load(struct journal *j)
{
	struct scan s;
	size_t npending, nreport;
	int ret = journal_scan_file(j, &s);

	if (ret)
		return ret;
	ret = journal_scan_settle(j, &s, false, &npending, &nreport);
	if (!ret)
		ret = journal_pending_stage(j, &s, JREC_PENDING);
	if (!ret) {
		journal_pending_commit(j);
		journal_tags_prune(j); /* the file's settled tags */
		j->torn = s.torn_end;
		j->max_seq = s.max_seq;
	}
	journal_scan_dispose(&s);
	return ret;
}

/* journal-<hash of server and account>.log: the account never shows. */
static void journal_name(const char *server, const char *account, char *name,
			 size_t size)
{
	uint64_t h =
	    hash_account(server, strlen(server), account, strlen(account));

	snprintf(name, size, "journal-%016" PRIx64 ".log", h);
}

bool journal_exists(const char *dir, const char *server, const char *account)
{
	char name[64], *path;
	int ret;
	bool there;

	journal_name(server, account, name, sizeof(name));
	path = path_join(dir, name, &ret);
	there = path && access(path, F_OK) == 0;
	free(path);
	return there;
}

int journal_open(const char *dir, const char *server, const char *account,
		 struct journal **out)
{
	struct journal *j = NULL;
	char name[64];
	int ret;

	*out = NULL;
	if (!dir || !server || !account)
		return -EINVAL;
	journal_name(server, account, name, sizeof(name));
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fd = -1;
	pthread_mutex_init(&j->lock, NULL);
	ret = -ENOMEM;
	j->dir = strdup(dir);
	if (!j->dir)
		goto out;
	j->path = path_join(dir, name, &ret);
	if (!j->path)
		goto out;
	strcat(name, ".tmp");
	j->tmp_path = path_join(dir, name, &ret);
	if (!j->tmp_path)
		goto out;
	ret = mkdir_p(dir);
	if (ret)
		goto out;
	j->fd =
	    open(j->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		 0600);
	if (j->fd < 0) {
		ret = -errno;
		goto out;
	}
	if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto out;
	}
	ret = header_check(j);
	if (!ret)
		ret = load(j);
out:
	if (ret) {
		journal_free(j);
		return ret;
	}
	j->sgen = j->wgen;
	*out = j;
	return 0;
}

void journal_free(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	for (uint32_t i = 0; i < j->ntags; i++) {
		free(j->tags[i]->seqs);
		free(j->tags[i]->staged);
		free(j->tags[i]);
	}
	free(j->tags);
	free(j->table);
	free(j->path);
	free(j->tmp_path);
	free(j->dir);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

const char *journal_path(const struct journal *j)
{
	return j->path;
}

int journal_edit(struct journal *j, const char *ds_id, const char *tag_id,
		 uint64_t seq, uint32_t sample, bool add)
{
	char buf[JOURNAL_LINE_MAX];
	struct jtag *t = NULL;
	size_t len;
	int ret;

	if (!j || !arg_id_valid(ds_id) || !arg_id_valid(tag_id))
		return -EINVAL;
	pthread_mutex_lock(&j->lock);
	ret = journal_tag_get(j, ds_id, tag_id, true, &t);
	if (ret)
		goto out;
	if (t->n > t->head && seq < t->seqs[t->n - 1]) {
		ret = -EINVAL;
		goto out;
	}
	ret = seqs_reserve(t);
	if (ret)
		goto out;
	len = format_rec(buf, j->torn, false, seq, ds_id, tag_id, sample, add);
	ret = append(j, buf, len);
	if (ret)
		goto out;
	t->seqs[t->n++] = seq;
	j->pending++;
	if (seq > j->max_seq)
		j->max_seq = seq;
out:
	if (t && t->head == t->n)
		journal_tag_drop(j, t); /* made for an edit not written */
	pthread_mutex_unlock(&j->lock);
	return ret;
}

int journal_done(struct journal *j, const char *ds_id, const char *tag_id,
		 uint64_t seq)
{
	char buf[JOURNAL_LINE_MAX];
	struct jtag *t;
	size_t len;
	int ret;

	if (!j || !arg_id_valid(ds_id) || !arg_id_valid(tag_id))
		return -EINVAL;
	pthread_mutex_lock(&j->lock);
	ret = journal_tag_get(j, ds_id, tag_id, false, &t);
	if (ret || !t || t->head == t->n)
		goto out;
	len = format_rec(buf, j->torn, true, seq, ds_id, tag_id, 0, false);
	ret = append(j, buf, len);
	if (ret)
		goto out;
	/* a prefix, not a search: seqs are non-decreasing, and should a file
	 * from elsewhere break that, counting too many is the safe side */
	while (t->head < t->n && t->seqs[t->head] <= seq) {
		t->head++;
		j->pending--;
	}
	if (t->head == t->n)
		journal_tag_drop(j, t); /* nothing of it waits */
	if (seq > j->max_seq)
		j->max_seq = seq;
out:
	pthread_mutex_unlock(&j->lock);
	return ret;
}

int journal_sync(struct journal *j)
{
	uint64_t gen;
	int fd, ret = 0;

	pthread_mutex_lock(&j->lock);
	gen = j->wgen;
	if (gen == j->sgen) {
		pthread_mutex_unlock(&j->lock);
		return 0;
	}
	/* a dup: a compaction may swap and close j->fd meanwhile, and the
	 * old file's data needs no sync once the new one is renamed over */
	fd = fcntl(j->fd, F_DUPFD_CLOEXEC, 0);
	pthread_mutex_unlock(&j->lock);
	if (fd < 0)
		return -errno;
	if (fdatasync(fd) < 0)
		ret = -errno;
	close(fd);
	if (ret)
		return ret;
	pthread_mutex_lock(&j->lock);
	if (gen > j->sgen)
		j->sgen = gen;
	pthread_mutex_unlock(&j->lock);
	return 0;
}

/* The counters are read under the lock although the struct is const: a
 * torn 64-bit read would show nonsense in .lightly/stats on 32-bit. */
uint64_t journal_pending(const struct journal *j)
{
	pthread_mutex_t *lock = (pthread_mutex_t *)&j->lock;
	uint64_t n;

	pthread_mutex_lock(lock);
	n = j->pending;
	pthread_mutex_unlock(lock);
	return n;
}

uint64_t journal_max_seq(const struct journal *j)
{
	pthread_mutex_t *lock = (pthread_mutex_t *)&j->lock;
	uint64_t n;

	pthread_mutex_lock(lock);
	n = j->max_seq;
	pthread_mutex_unlock(lock);
	return n;
}

size_t journal_tags_held(struct journal *j)
{
	size_t n;

	pthread_mutex_lock(&j->lock);
	n = j->ntags;
	pthread_mutex_unlock(&j->lock);
	return n;
}

struct jids {
	char ds[JOURNAL_ID_LEN + 1];
	char tag[JOURNAL_ID_LEN + 1];
};

int journal_replay(struct journal *j,
		   int (*cb)(const char *ds_id, const char *tag_id,
			     uint32_t sample, bool add, void *arg),
		   void *arg, unsigned *skipped)
{
	struct jids *tags = NULL;
	struct scan s;
	size_t npending, nreport;
	int ret;

	if (skipped)
		*skipped = 0;
	pthread_mutex_lock(&j->lock);
	ret = journal_scan_file(j, &s);
	if (ret) {
		journal_tags_prune(j);
		pthread_mutex_unlock(&j->lock);
		return ret;
	}
	ret = journal_scan_settle(j, &s, true, &npending, &nreport);
	/* a copy of the ids, not of the entries: cb may add tags, which
	 * moves j->tags, and settle them (a sync_edits mount), which frees
	 * an entry the records below still name */
	if (!ret) {
		tags = malloc((j->ntags ? j->ntags : 1) * sizeof(*tags));
		if (!tags)
			ret = -ENOMEM;
		for (uint32_t i = 0; tags && i < j->ntags; i++) {
			memcpy(tags[i].ds, j->tags[i]->ds, sizeof(tags[i].ds));
			memcpy(tags[i].tag, j->tags[i]->tag,
			       sizeof(tags[i].tag));
		}
	}
	journal_tags_prune(j); /* the scan made entries for settled tags */
	pthread_mutex_unlock(&j->lock);
	if (skipped)
		*skipped = s.skipped;
	for (size_t i = 0; !ret && i < s.n; i++) {
		const struct jrec *r = &s.recs[i];
		const struct jids *t = &tags[r->bits & JREC_TAG_MASK];

		if (r->bits & JREC_REPORT)
			ret = cb(t->ds, t->tag, r->sample, r->bits & JREC_ADD,
				 arg);
	}
	free(tags);
	journal_scan_dispose(&s);
	return ret;
}

/* Writes the reported records into a new temp file, synced and locked
 * (so the path is never unlocked once renamed).  0 and *fd_out,
 * *size_out, -errno (the temp file removed). */
static int write_compacted(struct journal *j, const struct scan *s, int *fd_out,
			   uint64_t *size_out)
{
	char *buf = malloc(JOURNAL_IO_BUF);
	size_t len = JOURNAL_HEADER_LEN;
	uint64_t size = 0;
	int fd = -1, ret = -ENOMEM;

	if (!buf)
		goto out;
	fd =
	    open(j->tmp_path,
		 O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		 0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = -errno;
		goto out;
	}
	memcpy(buf, JOURNAL_HEADER, len);
	for (size_t i = 0; i < s->n; i++) {
		const struct jrec *r = &s->recs[i];
		const struct jtag *t = j->tags[r->bits & JREC_TAG_MASK];

		if (!(r->bits & JREC_REPORT))
			continue;
		if (JOURNAL_IO_BUF - len < JOURNAL_LINE_MAX) {
			ret = write_full(fd, buf, len);
			if (ret)
				goto out;
			size += len;
			len = 0;
		}
		len += format_rec(buf + len, false, false, r->seq, t->ds,
				  t->tag, r->sample, r->bits & JREC_ADD);
	}
	ret = write_full(fd, buf, len);
	if (ret)
		goto out;
	size += len;
	if (fdatasync(fd) < 0)
		ret = -errno;
out:
	free(buf);
	if (ret && fd >= 0) {
		unlink(j->tmp_path);
		close(fd);
		fd = -1;
	}
	*fd_out = fd;
	*size_out = size;
	return ret;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Nothing pending: cut the file back to its header, which a crash at any
 * point leaves either whole or settled. */
static int compact_truncate(struct journal *j)
{
	if (j->size == JOURNAL_HEADER_LEN)
		return 0;
	if (ftruncate(j->fd, JOURNAL_HEADER_LEN) < 0)
		return -errno;
	j->size = JOURNAL_HEADER_LEN;
	j->torn = false;
	j->wgen++;
	while (j->ntags)
		journal_tag_drop(j, j->tags[j->ntags - 1]);
	return 0;
}

int journal_compact(struct journal *j)
{
	struct scan s;
	size_t npending, nreport;
	uint64_t size;
	int fd, ret;

	pthread_mutex_lock(&j->lock);
	if (!j->pending) {
		ret = compact_truncate(j);
		goto unlock;
	}
	ret = journal_scan_file(j, &s);
	if (ret)
		goto unlock;
	ret = journal_scan_settle(j, &s, true, &npending, &nreport);
	if (!ret)
		ret = journal_pending_stage(j, &s, JREC_REPORT);
	if (ret)
		goto out;
	ret = write_compacted(j, &s, &fd, &size);
	if (!ret && rename(j->tmp_path, j->path) < 0) {
		ret = -errno;
		unlink(j->tmp_path);
		close(fd);
	}
	if (ret) {
		journal_pending_unstage(j);
		goto out;
	}
	/* renamed: the new file is the journal now, whatever the dir sync
	 * says, or later appends would go to an unlinked file */
	ret = fsync_dir(j->dir);
	close(j->fd);
	j->fd = fd;
	j->size = size;
	j->torn = false;
	j->wgen++;
	j->sgen = j->wgen;
	journal_pending_commit(j);
out:
	journal_scan_dispose(&s);
unlock:
	/* the scan remade the entries of tags settled since the last
	 * compaction, and the commit left those with no edit waiting */
	journal_tags_prune(j);
	pthread_mutex_unlock(&j->lock);
	return ret;
}

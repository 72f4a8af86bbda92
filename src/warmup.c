/* `lightlyfs warmup`: has a running mount fetch paths into its content
 * cache, says how much of them is cached, or drops them.  It talks to the
 * mount through the dataset's control file DS/.lightly/warmup
 * (fs/nodes/warmup.c): a write of "VERB PATH", then a read of the counts.
 * Needs nothing of the daemon but the mount: any user who can read the
 * files can warm them. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "warmup.h"

#define CONTROL "/.lightly/warmup"
#define POLL_S 0.2
/* no file finished for this long: the rest is not coming (the mount's log
 * says why); each of its requests has already had its own deadline */
#define STALL_S 120.0
#define MIB (1024.0 * 1024.0)

struct census {
	unsigned long long files, cached, bytes, cached_bytes, fetching,
	    dropped, cache_bytes;
};

struct job {
	const char *arg;	/* as the user typed it */
	char ds[PATH_MAX];	/* the dataset directory */
	char rel[PATH_MAX];	/* arg below it */
	unsigned long long ino; /* arg's */
	int fd;			/* ds/.lightly/warmup */
};

static const char usage[] =
    "usage: lightlyfs warmup [--check | --evict] [--background] PATH...\n"
    "\n"
    "PATH is a tag, a folder of a tag or a file on a lightlyfs mount.\n"
    "\n"
    "  (no option)   fetch PATH's files into the mount's content cache, as\n"
    "                many at once as -o prefetch_files; files a reader opens\n"
    "                meanwhile go first.  Refuses, before fetching anything,\n"
    "                when PATH is bigger than -o content_cache_mb.  A\n"
    "                progress line on a terminal, a summary otherwise.\n"
    "  --check       say how much of PATH is cached; exit 0 when all of it\n"
    "                is, 1 when not\n"
    "  --evict       drop PATH's files from the cache (open files stay)\n"
    "  --background  check the size, then fetch in the background and\n"
    "                return at once (--check tells how far it got)\n";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* dir is a dataset of the mount of device dev */
static bool has_control(const char *dir, dev_t dev)
{
	char p[PATH_MAX + sizeof(CONTROL)];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", dir, CONTROL);
	return !stat(p, &st) && S_ISREG(st.st_mode) && st.st_dev == dev;
}

/* The dataset directory above arg (the nearest with .lightly/warmup) and
 * arg's path below it. */
static int locate(struct job *j)
{
	char abs[PATH_MAX], *cut;
	struct stat st;

	if (!realpath(j->arg, abs) || stat(abs, &st)) {
		fprintf(stderr, "lightlyfs warmup: %s: %s\n", j->arg,
			strerror(errno));
		return -1;
	}
	snprintf(j->ds, sizeof(j->ds), "%s", abs);
	while (!has_control(j->ds, st.st_dev)) {
		cut = strrchr(j->ds, '/');
		if (!cut || cut == j->ds) {
			fprintf(stderr,
				"lightlyfs warmup: %s is not on a lightlyfs "
				"mount\n",
				j->arg);
			return -1;
		}
		*cut = '\0';
	}
	j->ino = (unsigned long long)st.st_ino;
	snprintf(j->rel, sizeof(j->rel), "%s", abs + strlen(j->ds));
	if (!j->rel[0] || !strncmp(j->rel, "/.lightly", 9)) {
		fprintf(stderr,
			"lightlyfs warmup: %s is %s: give a tag, a folder of "
			"one or files\n",
			j->arg, j->rel[0] ? "in .lightly" : "a dataset");
		return -1;
	}
	return 0;
}

/* One request: "VERB rel", then the counts it answers. */
static int ask(struct job *j, const char *verb, struct census *c)
{
	char line[64], reply[512];
	ssize_t n;
	int len = snprintf(line, sizeof(line), "%s %llu", verb, j->ino);

	if (len < 0 || (size_t)len >= sizeof(line))
		return -ENAMETOOLONG;
	if (pwrite(j->fd, line, (size_t)len, 0) != len)
		return -errno;
	n = pread(j->fd, reply, sizeof(reply) - 1, 0);
	if (n < 0)
		return -errno;
	reply[n] = '\0';
	memset(c, 0, sizeof(*c));
	if (sscanf(reply,
		   "files %llu cached %llu bytes %llu cached_bytes %llu "
		   "fetching %llu dropped %llu cache_bytes %llu",
		   &c->files, &c->cached, &c->bytes, &c->cached_bytes,
		   &c->fetching, &c->dropped, &c->cache_bytes) != 7)
		return -EPROTO;
	return 0;
}

static int fail(const struct job *j, int err)
{
	fprintf(stderr, "lightlyfs warmup: %s: %s\n", j->arg,
		err == -EINVAL ? "not a tag, a folder of one or a file"
		: err == -EOPNOTSUPP
		    ? "the mount keeps no content (it has no cache_dir)"
		: err == -ENOSTR
		    ? "the mount fetches nothing ahead (-o prefetch_files=0)"
		    : strerror(-err));
	return 1;
}

static void progress(const struct job *j, const struct census *c,
		     const struct census *first, double t0, bool done)
{
	double el = now_s() - t0;
	double got = (double)(c->cached_bytes - first->cached_bytes);
	double rate = el > 0 ? got / el : 0;
	double left =
	    rate > 0 ? (double)(c->bytes - c->cached_bytes) / rate : 0;

	if (done) {
		printf("%s: %llu files, %.1f MiB cached in %.1f s (%.1f MiB/s; "
		       "%llu were cached before)\n",
		       j->arg, c->files, (double)c->bytes / MIB, el, rate / MIB,
		       first->cached);
		return;
	}
	fprintf(stderr,
		"\r%s: %llu/%llu files, %.1f/%.1f MiB, %.1f MiB/s, %.0f s "
		"left   ",
		j->arg, c->cached, c->files, (double)c->cached_bytes / MIB,
		(double)c->bytes / MIB, rate / MIB, left);
}

/* Keeps the mount's queue full until every file is cached. */
static int warm(struct job *j, const struct census *first, bool tty)
{
	struct census c = *first;
	double t0 = now_s(), moved = t0;
	unsigned long long last = first->cached;
	int ret;

	while (c.cached < c.files) {
		ret = ask(j, "warm", &c);
		if (ret)
			return fail(j, ret);
		if (c.cached != last) {
			last = c.cached;
			moved = now_s();
		} else if (now_s() - moved > STALL_S) {
			if (tty)
				fputc('\n', stderr);
			fprintf(
			    stderr,
			    "lightlyfs warmup: %s: %llu of %llu files could "
			    "not be fetched (the mount's log says why)\n",
			    j->arg, c.files - c.cached, c.files);
			return 1;
		}
		if (tty)
			progress(j, &c, first, t0, false);
		if (c.cached < c.files)
			usleep((useconds_t)(POLL_S * 1e6));
	}
	if (tty)
		fputc('\n', stderr);
	progress(j, &c, first, t0, true);
	return 0;
}

/* PATH must fit in the cache, or the warm-up would evict what it fetched. */
static int fits(const struct job *j, const struct census *c)
{
	if (c->bytes <= c->cache_bytes)
		return 0;
	fprintf(stderr,
		"lightlyfs warmup: %s is %.1f MiB, more than the content cache "
		"(-o content_cache_mb=%.0f): raise content_cache_mb or warm "
		"a part of it; nothing was fetched\n",
		j->arg, (double)c->bytes / MIB, (double)c->cache_bytes / MIB);
	return 1;
}

static int background(void)
{
	pid_t pid;
	int null;

	fflush(NULL); /* nothing buffered is written twice */
	pid = fork();

	if (pid < 0)
		return -1;
	if (pid > 0) {
		printf("warming in the background (pid %d); lightlyfs warmup "
		       "--check PATH... tells how far it got\n",
		       (int)pid);
		fflush(stdout);
		_exit(0);
	}
	setsid();
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	return 0;
}

static int run(struct job *jobs, int n, char mode, bool bg)
{
	struct census c;
	int rc = 0, ret;

	for (int i = 0; i < n; i++) {
		ret = ask(&jobs[i], "check", &c);
		if (ret)
			return fail(&jobs[i], ret);
		if (mode == 'c') {
			printf("%s: %llu of %llu files cached (%.1f of %.1f "
			       "MiB)\n",
			       jobs[i].arg, c.cached, c.files,
			       (double)c.cached_bytes / MIB,
			       (double)c.bytes / MIB);
			rc |= c.cached < c.files;
		} else if (mode == 'e') {
			ret = ask(&jobs[i], "evict", &c);
			if (ret)
				return fail(&jobs[i], ret);
			printf(
			    "%s: %llu files dropped, %llu still cached (open)"
			    "\n",
			    jobs[i].arg, c.dropped, c.cached);
		} else if (fits(&jobs[i], &c)) {
			return 1;
		}
	}
	if (mode)
		return rc;
	if (bg && background())
		return 1;
	for (int i = 0; i < n && !rc; i++) {
		ret = ask(&jobs[i], "check", &c);
		rc = ret ? fail(&jobs[i], ret)
			 : warm(&jobs[i], &c, !bg && isatty(STDERR_FILENO));
	}
	return rc;
}

int warmup_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
	    {"check", no_argument, NULL, 'c'},
	    {"evict", no_argument, NULL, 'e'},
	    {"background", no_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	struct job *jobs;
	char mode = 0;
	bool bg = false;
	int opt, n, rc = 0;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (opt == 'b') {
			bg = true;
		} else if (opt == '?' || (mode && mode != opt)) {
			fputs(usage, stderr);
			return 2;
		} else {
			mode = (char)opt;
		}
	}
	n = argc - optind;
	if (n < 1 || (bg && mode)) {
		fputs(usage, stderr);
		return 2;
	}
	jobs = calloc((size_t)n, sizeof(*jobs));
	if (!jobs)
		return 1;
	for (int i = 0; i < n; i++)
		jobs[i].fd = -1;
	for (int i = 0; i < n && !rc; i++) {
		char p[PATH_MAX + sizeof(CONTROL)];

		jobs[i].arg = argv[optind + i];
		rc = locate(&jobs[i]) ? 1 : 0;
		snprintf(p, sizeof(p), "%s%s", jobs[i].ds, CONTROL);
		if (!rc && (jobs[i].fd = open(p, O_RDWR | O_CLOEXEC)) < 0)
			rc = fail(&jobs[i], -errno);
	}
	if (!rc)
		rc = run(jobs, n, mode, bg);
	for (int i = 0; i < n; i++)
		if (jobs[i].fd >= 0)
			close(jobs[i].fd);
	free(jobs);
	return rc;
}

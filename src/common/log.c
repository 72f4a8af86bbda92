/* Levelled logging with a replaceable sink.  Owns the only process-wide
 * mutable state of the program: the level (an atomic) and the sink (under a
 * mutex, which also keeps lines from two threads apart).  Messages are
 * formatted into a bounded buffer and flattened to one line. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Longer messages are cut and end in "..."; server text is never this long
 * once api.c has capped it, so only programmer mistakes get cut. */
#define LOG_LINE_MAX 2048

#define LOG_SECRET_MAX 4
#define LOG_REDACTED "[redacted]"

static atomic_int log_level = LOG_INFO;
/* Strings that must never reach a log line, whatever text carries them (a
 * server may echo the token in an error message). */
static char *log_secrets[LOG_SECRET_MAX];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static log_sink_cb log_sink; /* NULL: the default sink, to log_fd */
static void *log_sink_arg;
/* Where the default sink writes: stderr, or a -o log_file opened with
 * O_APPEND (lines from a restarted daemon follow the old ones). */
static int log_fd = STDERR_FILENO;

static const char *const log_level_names[] = {
    [LOG_ERROR] = "ERROR",
    [LOG_WARN] = "WARN",
    [LOG_INFO] = "INFO",
    [LOG_DEBUG] = "DEBUG",
};

static enum log_level log_clamp(enum log_level level)
{
	if ((int)level < LOG_ERROR)
		return LOG_ERROR;
	if ((int)level > LOG_DEBUG)
		return LOG_DEBUG;
	return level;
}

void log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)log_clamp(level));
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&log_level);
}

void log_set_sink(log_sink_cb sink, void *arg)
{
	pthread_mutex_lock(&log_lock);
	log_sink = sink;
	log_sink_arg = sink ? arg : NULL;
	pthread_mutex_unlock(&log_lock);
}

/* write(2) in a loop: stderr may be a pipe that takes the line in parts. */
static void log_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* 2026-11-28T03:40:00.123Z lightlyfs[pid] LEVEL: message, to log_fd */
static void log_default_sink(enum log_level level, const char *line)
{
	char buf[LOG_LINE_MAX + 128];
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		stamp[0] = '\0';

	/* getpid() each time: FUSE daemonizes by forking after start-up. */
	n = snprintf(buf, sizeof(buf), "%s.%03ldZ lightlyfs[%ld] %s: %s\n",
		     stamp, (long)(ts.tv_nsec / 1000000), (long)getpid(),
		     log_level_names[level], line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		n = (int)sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}
	log_write_all(log_fd, buf, (size_t)n);
}

int log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&log_lock);
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void log_close_file(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
	pthread_mutex_unlock(&log_lock);
}

/* One line per message: a newline from a server error text must not let it
 * forge a second log line. */
static void log_flatten(char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			*s = c == '\t' ? ' ' : '?';
	}
}

int log_add_secret(const char *secret)
{
	int ret = -ENOSPC;

	if (!secret || !*secret)
		return 0;
	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < LOG_SECRET_MAX; i++) {
		if (!log_secrets[i]) {
			log_secrets[i] = strdup(secret);
			ret = log_secrets[i] ? 0 : -ENOMEM;
			break;
		}
	}
	pthread_mutex_unlock(&log_lock);
	return ret;
}

void log_clear_secrets(void)
{
	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < LOG_SECRET_MAX; i++) {
		if (log_secrets[i]) {
			explicit_bzero(log_secrets[i], strlen(log_secrets[i]));
			free(log_secrets[i]);
			log_secrets[i] = NULL;
		}
	}
	pthread_mutex_unlock(&log_lock);
}

/* Replaces every secret in line (NUL-terminated, in a buffer of size
 * LOG_LINE_MAX) by LOG_REDACTED.  Called with log_lock held. */
static void log_redact(char *line)
{
	char out[LOG_LINE_MAX];

	for (int i = 0; i < LOG_SECRET_MAX; i++) {
		const char *sec = log_secrets[i];
		size_t slen, o = 0;
		const char *p = line, *hit;

		if (!sec || !(hit = strstr(line, sec)))
			continue;
		slen = strlen(sec);
		while (hit) {
			size_t pre = (size_t)(hit - p);

			if (o + pre + sizeof(LOG_REDACTED) >= sizeof(out))
				break;
			memcpy(out + o, p, pre);
			o += pre;
			memcpy(out + o, LOG_REDACTED, sizeof(LOG_REDACTED) - 1);
			o += sizeof(LOG_REDACTED) - 1;
			p = hit + slen;
			hit = strstr(p, sec);
		}
		/* whatever did not fit is dropped rather than risk a secret */
		if (!hit) {
			size_t rest = strlen(p);

			if (o + rest >= sizeof(out))
				rest = sizeof(out) - o - 1;
			memcpy(out + o, p, rest);
			o += rest;
		}
		out[o] = '\0';
		memcpy(line, out, o + 1);
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	int saved_errno = errno;
	va_list ap;
	int n;

	level = log_clamp(level);
	if ((int)level > atomic_load(&log_level))
		return;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0) {
		snprintf(line, sizeof(line), "(unformattable log message)");
	} else if ((size_t)n >= sizeof(line)) {
		memcpy(line + sizeof(line) - 4, "...", 4);
	}
	log_flatten(line);

	/* The sink runs under the lock: lines never interleave, and a sink
	 * being replaced is never called after log_set_sink returns.  A sink
	 * must therefore not log itself. */
	pthread_mutex_lock(&log_lock);
	log_redact(line);
	if (log_sink)
		log_sink(level, line, log_sink_arg);
	else
		log_default_sink(level, line);
	pthread_mutex_unlock(&log_lock);

	errno = saved_errno;
}

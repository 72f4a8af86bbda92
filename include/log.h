/* Levelled, printf-checked logging with a replaceable sink.  Every failure is
 * logged once, where it is handled; the token is never passed here. */
#ifndef LIGHTLYFS_LOG_H
#define LIGHTLYFS_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* The sink receives one formatted line without trailing newline. */
typedef void (*log_sink_cb)(enum log_level level, const char *line, void *arg);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* NULL restores the default sink (stderr or the log file, with a
 * timestamp). */
void log_set_sink(log_sink_cb sink, void *arg);
/* The default sink appends to path (created mode 600) instead of stderr.
 * 0 or -errno (the sink is unchanged). */
int log_open_file(const char *path);
/* Back to stderr; closes the file. */
void log_close_file(void);
/* Sends every line to syslog(3), facility LOG_DAEMON, ident "lightlyfs"
 * (the journal under systemd), redacted like any other sink; replaces the
 * sink set by log_set_sink.  log_set_sink(NULL, NULL) ends it. */
void log_use_syslog(void);
/* Whether a syslog daemon listens at /dev/log. */
bool log_syslog_reachable(void);

/* Registers a string (the API token) that is replaced by "[redacted]" in
 * every line from now on, whoever wrote it.  0, -ENOMEM, -ENOSPC. */
int log_add_secret(const char *secret);
void log_clear_secrets(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif

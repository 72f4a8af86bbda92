/* The syslog sink of log.c: a file of its own because <syslog.h> defines
 * LOG_INFO and LOG_DEBUG as macros, which would clash with our levels. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

static const int log_sys_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

#undef LOG_INFO
#undef LOG_DEBUG
#include "log.h"

/* log.c calls it under its lock with a line already redacted and
 * flattened, so the token cannot reach the journal either. */
static void log_syslog_cb(enum log_level level, const char *line, void *arg)
{
	(void)arg;
	syslog(LOG_DAEMON | log_sys_prio[level], "%s", line);
}

void log_use_syslog(void)
{
	/* LOG_NDELAY: connect now, before the daemon's chdir("/") or a
	 * chroot could matter; LOG_PID as the stderr lines carry it */
	openlog("lightlyfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_set_sink(log_syslog_cb, NULL);
}

/* glibc's syslog(3) drops every line, silently, when nothing listens at
 * /dev/log (a container, a minimal host): asked before choosing it. */
bool log_syslog_reachable(void)
{
	static const int types[] = {SOCK_DGRAM, SOCK_STREAM};
	struct sockaddr_un a = {.sun_family = AF_UNIX, .sun_path = "/dev/log"};
	bool ok = false;

	for (size_t i = 0; !ok && i < sizeof(types) / sizeof(types[0]); i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);

		if (fd < 0)
			continue;
		ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
	}
	return ok;
}

/* Why a thread writes sysfs: the backing device of a FUSE mount starts at
 * the kernel's 128 KiB of readahead and the INIT reply can only lower it
 * (fs/fuse/inode.c process_init_reply), so a sequential reader costs one
 * READ round trip per 128 KiB however large max_pages is.  The device's
 * read_ahead_kb in sysfs is the one place to raise it (gcsfuse's docs tell
 * users to do it by hand).  Written before INIT is answered it would be
 * lowered again, so the thread first waits for a stat of the mount, which
 * the kernel holds until INIT is done.  Only root may write it: elsewhere
 * the kernel's default stays and the log says so. */
#include "readahead.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"

struct ra_job {
	unsigned kb;
	char path[]; /* the mountpoint */
};

static int ra_write(dev_t dev, unsigned kb)
{
	char file[96], val[24];
	int fd, n, ret = 0;

	snprintf(file, sizeof(file), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major(dev), minor(dev));
	n = snprintf(val, sizeof(val), "%u\n", kb);
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, (size_t)n) != n)
		ret = -errno;
	close(fd);
	return ret;
}

static void *ra_main(void *arg)
{
	struct ra_job *j = arg;
	struct stat st;
	int ret = stat(j->path, &st) ? -errno : ra_write(st.st_dev, j->kb);

	if (ret)
		log_info("readahead left at the kernel's default (-o "
			 "read_ahead_kb=%u: %s)",
			 j->kb, strerror(-ret));
	else
		log_debug("readahead of the mount set to %u KiB", j->kb);
	free(j);
	return NULL;
}

int readahead_tune(const char *mountpoint, unsigned kb)
{
	size_t len = strlen(mountpoint) + 1;
	struct ra_job *j;
	pthread_t t;
	int ret;

	if (!kb)
		return 0;
	j = malloc(sizeof(*j) + len);
	if (!j)
		return -ENOMEM;
	j->kb = kb;
	memcpy(j->path, mountpoint, len);
	ret = pthread_create(&t, NULL, ra_main, j);
	if (ret) {
		free(j);
		return -ret;
	}
	pthread_detach(t);
	return 0;
}

/* The offline mount (offline.c): the snapshot of the listings kept in the
 * state directory, a start from it when the server cannot be reached (or
 * -o offline says so), and the way back online.  Used by fs.c only; the
 * rest asks fs_offline() (fs.h). */
#ifndef LIGHTLYFS_FS_OFFLINE_H
#define LIGHTLYFS_FS_OFFLINE_H

#include <stdbool.h>
#include <stddef.h>

struct fs;
struct fs_config;

/* fs->off from cfg (no I/O).  0 or -ENOMEM. */
int offline_init(struct fs *fs, const struct fs_config *cfg);
/* Whether a failed first request (err) may be answered from the
 * snapshot: the server is away (unreachable, deadline, 5xx), not
 * refusing (a rejected token, no such dataset). */
bool offline_passing(int err);
/* Mounts from the snapshot, read-only, no request made: -o offline, or
 * why (the first request's error) was passing.  0; else why with err
 * untouched when there is no snapshot and -o offline was not given, or
 * an error with a one-line reason in err. */
int offline_begin(struct fs *fs, const struct fs_config *cfg, int why,
		  char *err, size_t errsz);
/* The thread that writes the snapshot and, offline, asks for the server
 * again.  0 or -EAGAIN. */
int offline_start(struct fs *fs);
/* Stops it and writes what changed since its last round. */
void offline_stop(struct fs *fs);
void offline_free(struct fs *fs);

#endif

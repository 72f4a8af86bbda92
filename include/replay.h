/* The journal of unsent edits at mount time (replay.c). */
#ifndef LIGHTLYFS_REPLAY_H
#define LIGHTLYFS_REPLAY_H

#include <stddef.h>

struct fs;

/* Opens this mount's journal under dir and sends what earlier runs left
 * (its own and unheld ones of the same server and account), before the
 * mount answers anything.  account is only hashed.  0 or -errno with a
 * one-line reason in err. */
int replay_open(struct fs *fs, const char *dir, const char *server,
		const char *account, char *err, size_t errsz);

#endif

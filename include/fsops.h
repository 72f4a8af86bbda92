/* The FUSE low-level operation table; its userdata is the struct fs. */
#ifndef LIGHTLYFS_FSOPS_H
#define LIGHTLYFS_FSOPS_H

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops fsops_ops;

/* An fs_notify_cb; arg is the struct fuse_session. */
void fsops_notify(uint64_t parent, uint64_t ino, const char *name, void *arg);
/* An fs_store_cb; arg is the struct fuse_session. */
void fsops_store(uint64_t ino, int fd, uint64_t size, void *arg);

#endif

/* The FUSE low-level operation table; its userdata is the struct fs. */
#ifndef LIGHTLYFS_FSOPS_H
#define LIGHTLYFS_FSOPS_H

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops fsops_ops;

#endif

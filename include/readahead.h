/* The kernel's readahead on the mount (-o read_ahead_kb). */
#ifndef LIGHTLYFS_READAHEAD_H
#define LIGHTLYFS_READAHEAD_H

/* Sets the readahead of the filesystem mounted at mountpoint to kb KiB, in
 * a thread of its own once the mount answers: 0 when the thread started
 * (or kb is 0), else a negative errno.  The outcome is logged. */
int readahead_tune(const char *mountpoint, unsigned kb);

#endif

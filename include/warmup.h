/* `lightlyfs warmup PATH...` (src/warmup.c): a command, not the daemon;
 * main() hands it its arguments after the word warmup. */
#ifndef LIGHTLYFS_WARMUP_H
#define LIGHTLYFS_WARMUP_H

int warmup_main(int argc, char *argv[]);

#endif

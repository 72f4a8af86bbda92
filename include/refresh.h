/* One fetch-and-install pair per kind of server data, each loaded through
 * cache_load (so fresh data costs no request, and concurrent wants cost
 * one).  Lock held; each may drop it for its request. */
#ifndef LIGHTLYFS_REFRESH_H
#define LIGHTLYFS_REFRESH_H

#include <stddef.h>

struct fs;
struct dataset;
struct tag;

int refresh_datasets(struct fs *fs);
int refresh_tags(struct fs *fs, struct dataset *d);
/* Now, whatever the TTL says (after a change the server made an id for). */
int refresh_tags_now(struct fs *fs, struct dataset *d);
/* A name index covering at least need samples. */
int refresh_index(struct fs *fs, struct dataset *d, size_t need);
/* A server without mappings: t's names merged into the index. */
int refresh_fallback(struct fs *fs, struct dataset *d, struct tag *t);
/* -o dataset=ID_OR_NAME: finds the dataset, before the mount answers. */
int refresh_single(struct fs *fs, const char *want, char *err, size_t errsz);
/* Keeps the cache under -o cache_size, sparing keep. */
void refresh_evict(struct fs *fs, const struct dataset *keep);

#endif

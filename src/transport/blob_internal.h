/* What blob.c (the transfers) and blob_url.c (what a URL says) share.
 * Not part of the interface. */
#ifndef LIGHTLYFS_BLOB_INTERNAL_H
#define LIGHTLYFS_BLOB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* Decimal digits at *p into *out, *p moved past them.  False without a
 * digit or on overflow (*p and *out unchanged). */
bool blob_parse_u64(const char **p, uint64_t *out);

/* Whether url's authority has a user:password@ part (curl would send it as
 * an Authorization header). */
bool blob_has_userinfo(const char *url);

#endif

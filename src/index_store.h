/* The name store behind index.c: records appended to malloc'd chunks that
 * never move, so a pointer to a record stays valid until the store is
 * disposed, with no allocation per record.  A record is LEB128(len), the
 * bytes and a NUL.  Private to the index module. */
#ifndef LIGHTLYFS_INDEX_STORE_H
#define LIGHTLYFS_INDEX_STORE_H

#include <stddef.h>

struct index_chunk;

struct index_store {
	struct index_chunk *chunks; /* newest first */
	char *pos;		    /* free bytes of the newest chunk */
	size_t left;
	size_t bytes;	   /* heap bytes of all chunks */
	size_t next_chunk; /* size of the next chunk */
};

void index_store_init(struct index_store *st);
void index_store_dispose(struct index_store *st);
/* Makes the store hold at least need contiguous bytes at pos.  0 or
 * -ENOMEM. */
int index_store_reserve(struct index_store *st, size_t need);
/* Takes n bytes reserved by index_store_reserve. */
char *index_store_take(struct index_store *st, size_t n);

/* Bytes of LEB128(v). */
size_t index_store_varint_len(size_t v);
/* Writes the record of name (len bytes) into reserved bytes:
 * index_store_varint_len(len) + len + 1 of them.  Returns the record. */
const char *index_store_put_record(struct index_store *st, const char *name,
				   size_t len);

/* A record's name and its length.  Inline: every name comparison of a
 * lookup reads one. */
static inline const char *index_store_record(const char *rec, size_t *len)
{
	const unsigned char *p = (const unsigned char *)rec;
	size_t v = 0;
	unsigned shift = 0;

	while (*p & 0x80) {
		v |= (size_t)(*p++ & 0x7f) << shift;
		shift += 7;
	}
	v |= (size_t)*p++ << shift;
	*len = v;
	return (const char *)p;
}

#endif

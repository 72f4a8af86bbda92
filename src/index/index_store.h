/* The name store behind index.c: records appended to malloc'd chunks that
 * never move, so a pointer to a record stays valid until the store is
 * disposed, with no allocation per record.  A record is LEB128(len + 1),
 * the bytes and a NUL; records follow each other, and where one chunk ends
 * a link (a 0 byte, never the first byte of a record, and the address of
 * the next chunk's first record) lets a reader walk on from record to
 * record without a pointer per record.  Private to the index module. */
#ifndef LIGHTLYFS_INDEX_STORE_H
#define LIGHTLYFS_INDEX_STORE_H

#include <stddef.h>
#include <string.h>

/* A link: the 0 byte and a pointer. */
#define INDEX_STORE_LINK_BYTES (1 + sizeof(char *))

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
 * -ENOMEM.  Room for a link is always kept behind them: when a new chunk
 * is started the old one ends in a link to it. */
int index_store_reserve(struct index_store *st, size_t need);
/* Takes n bytes reserved by index_store_reserve. */
char *index_store_take(struct index_store *st, size_t n);

/* Bytes of the record of a len-byte name. */
static inline size_t index_store_record_len(size_t len)
{
	size_t n = 1, v = len + 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n + len + 1;
}
/* Writes the record of name (len bytes) into reserved bytes:
 * index_store_record_len(len) of them.  Returns the record. */
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
	*len = v - 1;
	return (const char *)p;
}

/* The record after rec, following a link to the next chunk.  Only for a
 * rec that has a successor. */
static inline const char *index_store_next(const char *rec)
{
	size_t len;
	const char *p = index_store_record(rec, &len) + len + 1;

	if (*p == '\0')
		memcpy(&p, p + 1, sizeof(p));
	return p;
}

#endif

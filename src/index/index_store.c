/* The chunked name store of the index (index_store.h): chunks that start
 * small and double up to a fixed size, and the records written into them.
 * Nothing here knows folders or hash tables; index.c does. */
#include "index_store.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Chunks start small (an index per cached dataset, many tiny) and double up
 * to a fixed size, so the unused tail stays a rounding error. */
#define INDEX_CHUNK_MIN_BYTES 4096u
#define INDEX_CHUNK_MAX_BYTES (1u << 20)

struct index_chunk {
	struct index_chunk *next;
	size_t size;
	char data[];
};

void index_store_init(struct index_store *st)
{
	memset(st, 0, sizeof(*st));
	st->next_chunk = INDEX_CHUNK_MIN_BYTES;
}

void index_store_dispose(struct index_store *st)
{
	struct index_chunk *c, *next;

	for (c = st->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	memset(st, 0, sizeof(*st));
}

/* A partly used chunk is left behind (its tail is wasted, bounded by one
 * record); the chunk never moves, which is what keeps names stable. */
int index_store_reserve(struct index_store *st, size_t need)
{
	struct index_chunk *c;
	size_t size;

	if (need > SIZE_MAX - sizeof(*c) - INDEX_STORE_LINK_BYTES)
		return -ENOMEM;
	need += INDEX_STORE_LINK_BYTES;
	if (need <= st->left)
		return 0;
	size = st->next_chunk;
	if (size < need)
		size = need;
	c = malloc(sizeof(*c) + size);
	if (!c)
		return -ENOMEM;
	c->next = st->chunks;
	c->size = size;
	if (st->chunks) {
		char *to = c->data;

		*st->pos = '\0';
		memcpy(st->pos + 1, &to, sizeof(to));
	}
	st->chunks = c;
	st->pos = c->data;
	st->left = size;
	st->bytes += sizeof(*c) + size;
	if (st->next_chunk < INDEX_CHUNK_MAX_BYTES)
		st->next_chunk *= 2;
	return 0;
}

char *index_store_take(struct index_store *st, size_t n)
{
	char *p = st->pos;

	assert(n + INDEX_STORE_LINK_BYTES <= st->left);
	st->pos += n;
	st->left -= n;
	return p;
}

const char *index_store_put_record(struct index_store *st, const char *name,
				   size_t len)
{
	unsigned char *p, *rec;
	size_t v;

	rec =
	    (unsigned char *)index_store_take(st, index_store_record_len(len));
	p = rec;
	for (v = len + 1; v >= 0x80; v >>= 7)
		*p++ = (unsigned char)(v | 0x80);
	*p++ = (unsigned char)v;
	if (len)
		memcpy(p, name, len);
	p[len] = '\0';
	return (const char *)rec;
}

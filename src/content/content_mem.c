/* Block buffers: where the bytes a reader waits for are held until the
 * writer has put them in the cache file, carved from arenas, at most
 * mem_max of them.  Knows nothing of objects (content_internal.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "content_internal.h"

/* Buffers are carved from 2 MiB arenas the kernel may back with huge
 * pages: a 50 MiB cold read spent a quarter of the daemon's time in the
 * page faults of buffers of its own pages.  Arenas go back to the system
 * when no buffer is in use, but for the first few. */
#define ARENA ((uint64_t)2 * 1024 * 1024)
#define ARENAS_KEPT 2

static bool arena_add(struct content *c)
{
	char *raw, *a;
	uintptr_t lead;

	if (c->narenas >= c->max_arenas)
		return false;
	raw = mmap(NULL, 2 * ARENA, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return false;
	/* aligned, so that the arena is one huge page */
	lead = (ARENA - (uintptr_t)raw % ARENA) % ARENA;
	a = raw + lead;
	if (lead)
		munmap(raw, lead);
	munmap(a + ARENA, ARENA - lead);
	(void)madvise(a, ARENA, MADV_HUGEPAGE);
	c->arenas[c->narenas++] = a;
	for (uint64_t x = 0; x < ARENA / CONTENT_BLOCK; x++)
		c->spare[c->nspare++] = a + x * CONTENT_BLOCK;
	return true;
}

/* All buffers are free: the arenas but the first few go. */
static void arenas_trim(struct content *c)
{
	while (c->narenas > ARENAS_KEPT)
		munmap(c->arenas[--c->narenas], ARENA);
	c->nspare = 0;
	for (size_t i = 0; i < c->narenas; i++)
		for (uint64_t x = 0; x < ARENA / CONTENT_BLOCK; x++)
			c->spare[c->nspare++] =
			    c->arenas[i] + x * CONTENT_BLOCK;
}

int content_mem_init(struct content *c, uint64_t max)
{
	c->mem_max = max / ARENA * ARENA;
	c->max_arenas = (size_t)(c->mem_max / ARENA);
	c->arenas = calloc(c->max_arenas + 1, sizeof(*c->arenas));
	c->spare = calloc(c->max_arenas * (ARENA / CONTENT_BLOCK) + 1,
			  sizeof(*c->spare));
	return c->arenas && c->spare ? 0 : -ENOMEM;
}

void content_mem_fini(struct content *c)
{
	while (c->arenas && c->narenas)
		munmap(c->arenas[--c->narenas], ARENA);
	free(c->arenas);
	free(c->spare);
}

char *content_mem_alloc(struct content *c)
{
	if (c->mem_bytes + CONTENT_BLOCK > c->mem_max ||
	    (!c->nspare && !arena_add(c)))
		return NULL;
	c->mem_bytes += CONTENT_BLOCK;
	if (c->mem_bytes * 2 >= c->mem_max)
		pthread_cond_signal(&c->wb_cond); /* time to write */
	return c->spare[--c->nspare];
}

void content_mem_free(struct content *c, char *buf)
{
	c->spare[c->nspare++] = buf;
	c->mem_bytes -= CONTENT_BLOCK;
	if (!c->mem_bytes)
		arenas_trim(c);
}

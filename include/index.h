/* A dataset's sample file names in index order (the order of
 * GET /mappings?field=fileName), stored once and compactly, with the
 * folder tree their '/'-separated names imply and lookups by component.
 *
 * Index numbers are the API's sample indices: the bitmask bit k is sample k.
 * Names that cannot be shown as a path (empty, ".", "..", empty or >255-byte
 * components, NUL bytes, duplicates, a file that collides with a folder of the
 * same path) keep their index but are hidden: they appear in no folder.
 *
 * Visibility is decided once, when a sample is appended, from its name and the
 * earlier visible samples only; a later append never hides an earlier sample.
 * So of two names that collide, the later one is hidden: a second "x.jpg", a
 * file "a" after "a/b" made folder a, and equally "a/b" after a file "a".
 * Sample indices, visibility, parents and folder ids are therefore stable as
 * the index grows by appends. */
#ifndef LIGHTLYFS_INDEX_H
#define LIGHTLYFS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INDEX_ROOT_FOLDER 0u
#define INDEX_NONE UINT32_MAX
#define INDEX_NAME_MAX 255 /* one path component, bytes */

struct name_index;

/* A new empty index (the root folder exists).  NULL on ENOMEM.
 * index_free(NULL) does nothing. */
struct name_index *index_new(void);
void index_free(struct name_index *idx);

/* Appends the next sample (index = index_count() before the call).  The name
 * is copied; it need not be NUL-terminated and may contain NUL (then hidden).
 * 0 or -ENOMEM (-EOVERFLOW past UINT32_MAX - 1 samples). */
int index_append(struct name_index *idx, const char *name, size_t len);

/* Starts fetching from memory the table slot index_append(name) will look
 * at, for a name a few appends ahead: at a million names that slot is a
 * cache miss, most of an append's time.  Names in folders are skipped
 * (their slot depends on the folder, not known before it is resolved). */
void index_prefetch(const struct name_index *idx, const char *name, size_t len);

/* Makes room for more samples at once (a page whose size is known), so
 * appending them never rehashes or reallocates.  0, -ENOMEM, -EOVERFLOW. */
int index_reserve(struct name_index *idx, uint32_t more);

/* Number of samples appended, hidden ones included. */
uint32_t index_count(const struct name_index *idx);
/* Number of hidden samples. */
uint32_t index_hidden_count(const struct name_index *idx);
/* Bytes of memory the index holds (for stats and the cache bound). */
size_t index_memory(const struct name_index *idx);

/* The full name of a sample as it was appended, length in *len (it is
 * followed by a NUL, but a hidden name may contain NULs itself).  Owned by
 * the index, valid until it is freed (appends do not move it).  NULL and
 * *len 0 for a sample >= index_count(). */
const char *index_name(const struct name_index *idx, uint32_t sample,
		       size_t *len);
/* The last path component of a visible sample (NUL-terminated, valid until
 * index_free), or NULL for a hidden one. */
const char *index_basename(const struct name_index *idx, uint32_t sample);
/* The folder that holds a visible sample, INDEX_NONE if hidden. */
uint32_t index_parent(const struct name_index *idx, uint32_t sample);

/* Full name → sample.  0 and *sample, or -ENOENT (also for hidden). */
int index_lookup(const struct name_index *idx, const char *name, size_t len,
		 uint32_t *sample);

uint32_t index_folder_count(const struct name_index *idx);
/* Last component of a folder (NUL-terminated; "" for the root; valid until
 * index_free).  Folder ids are 0 .. index_folder_count() - 1, in order of
 * creation, so a parent's id is below its children's. */
const char *index_folder_name(const struct name_index *idx, uint32_t folder);
/* Parent folder; INDEX_NONE for the root. */
uint32_t index_folder_parent(const struct name_index *idx, uint32_t folder);

/* One component in a folder: *kind is 'f' (a sample, its index in *id) or
 * 'd' (a subfolder, its id in *id).  0 or -ENOENT.  comp is len bytes. */
int index_child_lookup(const struct name_index *idx, uint32_t folder,
		       const char *comp, size_t len, char *kind, uint32_t *id);

/* Whether folder holds every visible sample (the root of an index where no
 * name made a folder yet): its samples are then 0 .. index_count() - 1
 * except the hidden ones (index_parent() == INDEX_NONE), and
 * index_folder_samples gives none, so a flat dataset pays no list. */
bool index_folder_all(const struct name_index *idx, uint32_t folder);
/* The visible samples directly in a folder, ascending by index, unless
 * index_folder_all (then NULL and *n 0), and its subfolders in order of
 * first appearance.  Arrays owned by the index, valid until the next
 * index_append or index_free. */
const uint32_t *index_folder_samples(const struct name_index *idx,
				     uint32_t folder, size_t *n);
const uint32_t *index_folder_subfolders(const struct name_index *idx,
					uint32_t folder, size_t *n);

#endif

/* Inode number layout: kind in the top 4 bits, then a 16-bit dataset slot,
 * then either a 16-bit tag slot and a 28-bit folder id, or a 44-bit sample
 * index.  The root is FUSE_ROOT_ID itself. */
#include <errno.h>
#include <string.h>

#include "inode.h"

#define KIND_SHIFT 60
#define DS_SHIFT 44
#define TAG_SHIFT 28

uint64_t inode_encode(const struct inode_ref *ref)
{
	uint64_t k = (uint64_t)ref->kind;

	switch (ref->kind) {
	case INODE_KIND_ROOT:
		return INODE_ROOT;
	case INODE_KIND_ROOT_META:
	case INODE_KIND_STATS:
		return k << KIND_SHIFT;
	case INODE_KIND_DATASET:
	case INODE_KIND_META:
	case INODE_KIND_META_DATASET:
	case INODE_KIND_META_TAGS:
		if (ref->ds > INODE_MAX_DATASETS)
			return 0;
		return k << KIND_SHIFT | (uint64_t)ref->ds << DS_SHIFT;
	case INODE_KIND_META_TAG:
	case INODE_KIND_TAG:
		if (ref->ds > INODE_MAX_DATASETS || ref->tag > INODE_MAX_TAGS ||
		    ref->folder > INODE_MAX_FOLDERS)
			return 0;
		return k << KIND_SHIFT | (uint64_t)ref->ds << DS_SHIFT |
		       (uint64_t)ref->tag << TAG_SHIFT | ref->folder;
	case INODE_KIND_FILE:
		if (ref->ds > INODE_MAX_DATASETS ||
		    ref->sample > INODE_MAX_SAMPLES)
			return 0;
		return k << KIND_SHIFT | (uint64_t)ref->ds << DS_SHIFT |
		       ref->sample;
	default:
		return 0;
	}
}

int inode_decode(uint64_t ino, struct inode_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	if (ino == INODE_ROOT) {
		ref->kind = INODE_KIND_ROOT;
		return 0;
	}
	ref->kind = (enum inode_kind)(ino >> KIND_SHIFT);
	ref->ds = (uint32_t)(ino >> DS_SHIFT) & INODE_MAX_DATASETS;
	switch (ref->kind) {
	case INODE_KIND_ROOT_META:
	case INODE_KIND_STATS:
		ref->ds = 0;
		if (ino & ((1ull << KIND_SHIFT) - 1))
			return -ESTALE;
		return 0;
	case INODE_KIND_DATASET:
	case INODE_KIND_META:
	case INODE_KIND_META_DATASET:
	case INODE_KIND_META_TAGS:
		if (ino & ((1ull << DS_SHIFT) - 1))
			return -ESTALE;
		return 0;
	case INODE_KIND_META_TAG:
	case INODE_KIND_TAG:
		ref->tag = (uint32_t)(ino >> TAG_SHIFT) & INODE_MAX_TAGS;
		ref->folder = (uint32_t)ino & INODE_MAX_FOLDERS;
		if (ref->kind == INODE_KIND_META_TAG && ref->folder)
			return -ESTALE;
		return 0;
	case INODE_KIND_FILE:
		ref->sample = ino & INODE_MAX_SAMPLES;
		return 0;
	default:
		memset(ref, 0, sizeof(*ref));
		return -ESTALE;
	}
}

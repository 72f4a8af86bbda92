/* Inode number layout, a prefix code in 53 bits:
 *   1 | ds:14 | tag:15 | folder:23    a tag's folder (folder 0: the tag)
 *   01 | ds:14 | sample:32 (+5 spare) a sample's file
 *   00 | kind:8 | ds:14 | tag:15      every other kind
 * The root is FUSE_ROOT_ID itself; no other kind encodes to 1 (kind >= 2
 * sits above bit 29). */
#include <errno.h>
#include <string.h>

#include "inode.h"

#define TAG_FLAG (1ull << (INODE_BITS - 1))
#define FILE_FLAG (1ull << (INODE_BITS - 2))
#define TAG_DS_SHIFT 38
#define TAG_TAG_SHIFT 23
#define FILE_DS_SHIFT 32
#define SMALL_KIND_SHIFT 29
#define SMALL_DS_SHIFT 15
#define SMALL_KIND_MAX 0xffu

static uint64_t encode_small(const struct inode_ref *r)
{
	if (r->ds > INODE_MAX_DATASETS || r->tag > INODE_MAX_TAGS)
		return 0;
	return (uint64_t)r->kind << SMALL_KIND_SHIFT |
	       (uint64_t)r->ds << SMALL_DS_SHIFT | r->tag;
}

uint64_t inode_encode(const struct inode_ref *r)
{
	switch (r->kind) {
	case INODE_KIND_NONE:
	case INODE_KIND_MAX_:
		return 0;
	case INODE_KIND_ROOT:
		return INODE_ROOT;
	case INODE_KIND_TAG:
		if (r->ds > INODE_MAX_DATASETS || r->tag > INODE_MAX_TAGS ||
		    r->folder > INODE_MAX_FOLDERS)
			return 0;
		return TAG_FLAG | (uint64_t)r->ds << TAG_DS_SHIFT |
		       (uint64_t)r->tag << TAG_TAG_SHIFT | r->folder;
	case INODE_KIND_FILE:
		if (r->ds > INODE_MAX_DATASETS || r->sample > INODE_MAX_SAMPLES)
			return 0;
		return FILE_FLAG | (uint64_t)r->ds << FILE_DS_SHIFT | r->sample;
	default:
		return encode_small(r);
	}
}

bool inode_kind_has_tag(enum inode_kind kind)
{
	switch (kind) {
	case INODE_KIND_TAG:
	case INODE_KIND_META_TAG:
	case INODE_KIND_META_TRASH_JSON:
	case INODE_KIND_META_EXPORT_LS:
	case INODE_KIND_META_EXPORT_LB:
	case INODE_KIND_META_EXPORT_LB4:
	case INODE_KIND_META_EXPORT_SAMA:
	case INODE_KIND_META_EXPORT_NAMES:
	case INODE_KIND_META_EXPORT_READ_URLS:
	case INODE_KIND_META_EXPORT_DS_URLS:
	case INODE_KIND_META_EXPORT_ZIP:
		return true;
	default:
		return false;
	}
}

/* Which fields a small kind uses: the rest must be zero. */
static int check_small(struct inode_ref *r)
{
	switch (r->kind) {
	case INODE_KIND_ROOT_META:
	case INODE_KIND_STATS:
	case INODE_KIND_ROOT_README:
		return r->ds || r->tag ? -ESTALE : 0;
	case INODE_KIND_DATASET:
	case INODE_KIND_META:
	case INODE_KIND_META_DATASET:
	case INODE_KIND_META_TAGS:
	case INODE_KIND_META_TRASH:
	case INODE_KIND_META_EXPORTS:
	case INODE_KIND_META_UPSIZE:
	case INODE_KIND_META_README:
	case INODE_KIND_META_WARMUP:
		return r->tag ? -ESTALE : 0;
	default:
		return inode_kind_has_tag(r->kind) ? 0 : -ESTALE;
	}
}

int inode_decode(uint64_t ino, struct inode_ref *r)
{
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (ino == INODE_ROOT) {
		r->kind = INODE_KIND_ROOT;
	} else if (ino >> INODE_BITS) {
		ret = -ESTALE;
	} else if (ino & TAG_FLAG) {
		r->kind = INODE_KIND_TAG;
		r->ds = (uint32_t)(ino >> TAG_DS_SHIFT) & INODE_MAX_DATASETS;
		r->tag = (uint32_t)(ino >> TAG_TAG_SHIFT) & INODE_MAX_TAGS;
		r->folder = (uint32_t)ino & INODE_MAX_FOLDERS;
	} else if (ino & FILE_FLAG) {
		r->kind = INODE_KIND_FILE;
		r->ds = (uint32_t)(ino >> FILE_DS_SHIFT) & INODE_MAX_DATASETS;
		r->sample = ino & INODE_MAX_SAMPLES;
		/* the spare bits between ds and the flag stay zero */
		if ((ino & (FILE_FLAG - 1)) >> (FILE_DS_SHIFT + 14))
			ret = -ESTALE;
	} else {
		uint64_t kind = ino >> SMALL_KIND_SHIFT;

		r->kind = kind < INODE_KIND_MAX_ ? (enum inode_kind)kind
						 : INODE_KIND_NONE;
		r->ds = (uint32_t)(ino >> SMALL_DS_SHIFT) & INODE_MAX_DATASETS;
		r->tag = (uint32_t)ino & INODE_MAX_TAGS;
		ret = kind > SMALL_KIND_MAX ? -ESTALE : check_small(r);
	}
	if (ret)
		memset(r, 0, sizeof(*r));
	return ret;
}

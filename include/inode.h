/* Inode numbers are computed, not allocated: each encodes what it names
 * (kind, dataset slot, tag slot, folder or sample index), so lookup needs no
 * table, FORGET needs no bookkeeping and a million entries cost no memory.
 * A slot is reused only once the kernel has forgotten every number that
 * names it (model.h), which keeps a number meaning one thing for as long
 * as the kernel may hold it.
 *
 * Every number is below 2^53, so tools that read st_ino as a double
 * (Node.js fs.stat, JSON) still tell them apart.  Derived directories
 * (tag arithmetic results) take tag slots of their own, so their folders
 * fit the tag layout.
 *
 * A sample's file has one inode whatever tag shows it: the same sample in
 * two tags is one file with two links, which is what `ln` between tags
 * makes.  Pure code, no I/O. */
#ifndef LIGHTLYFS_INODE_H
#define LIGHTLYFS_INODE_H

#include <stdbool.h>
#include <stdint.h>

#define INODE_ROOT 1u		    /* FUSE_ROOT_ID */
#define INODE_BITS 53		    /* every number is below 1 << INODE_BITS */
#define INODE_MAX_DATASETS 0x3fffu  /* 14 bits */
#define INODE_MAX_TAGS 0x7fffu	    /* 15 bits */
#define INODE_MAX_FOLDERS 0x7fffffu /* 23 bits */
#define INODE_MAX_SAMPLES 0xffffffffull /* 32 bits: the index's own limit */

enum inode_kind {
	INODE_KIND_NONE = 0,
	INODE_KIND_ROOT,	    /* the mount root (all datasets) */
	INODE_KIND_ROOT_META,	    /* MOUNT/.lightly */
	INODE_KIND_STATS,	    /* MOUNT/.lightly/stats */
	INODE_KIND_DATASET,	    /* a dataset directory */
	INODE_KIND_TAG,		    /* a folder of a tag: folder 0 is the tag */
	INODE_KIND_FILE,	    /* a sample */
	INODE_KIND_META,	    /* DS/.lightly */
	INODE_KIND_META_DATASET,    /* DS/.lightly/dataset.json */
	INODE_KIND_META_TAGS,	    /* DS/.lightly/tags */
	INODE_KIND_META_TAG,	    /* DS/.lightly/tags/<tag>.json */
	INODE_KIND_META_TRASH,	    /* DS/.lightly/trash */
	INODE_KIND_META_TRASH_JSON, /* DS/.lightly/trash/<tag>.json */
	INODE_KIND_META_EXPORTS,    /* DS/.lightly/exports */
	INODE_KIND_META_EXPORT_LS,  /* .../exports/<tag>.labelstudio.json */
	INODE_KIND_META_EXPORT_LB,  /* .../exports/<tag>.labelbox.json */
	INODE_KIND_META_UPSIZE,	    /* DS/.lightly/upsize */
	INODE_KIND_META_README,	    /* DS/.lightly/README */
	INODE_KIND_ROOT_README,	    /* MOUNT/.lightly/README */
	/* .../exports/<tag>.labelboxv4.json, .sama.json, .filenames.txt,
	 * .readurls.txt, .datasource-urls.txt (after the rest: the numbers
	 * the kernel holds keep their meaning across an upgrade) */
	INODE_KIND_META_EXPORT_LB4,
	INODE_KIND_META_EXPORT_SAMA,
	INODE_KIND_META_EXPORT_NAMES,
	INODE_KIND_META_EXPORT_READ_URLS,
	INODE_KIND_META_EXPORT_DS_URLS,
	INODE_KIND_META_EXPORT_ZIP, /* .../exports/<tag>.zip */
	INODE_KIND_META_WARMUP,	    /* DS/.lightly/warmup */
	INODE_KIND_MAX_		    /* at most 256: the small kinds' field */
};

struct inode_ref {
	enum inode_kind kind;
	uint32_t ds;	 /* dataset slot */
	uint32_t tag;	 /* tag slot */
	uint32_t folder; /* folder id within the dataset's index */
	uint64_t sample; /* sample index */
};

/* The number for ref; 0 when a field is out of range (a programmer error
 * elsewhere, but never a wrong inode). */
uint64_t inode_encode(const struct inode_ref *ref);
/* 0 and *ref, or -ESTALE for a number no encode could have produced. */
int inode_decode(uint64_t ino, struct inode_ref *ref);
/* Whether numbers of kind name a tag slot (ref.tag is one). */
bool inode_kind_has_tag(enum inode_kind kind);

#endif

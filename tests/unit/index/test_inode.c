/* Inode numbers must round-trip for every kind and never collide with the
 * root or with each other across kinds. */
#include <errno.h>

#include "check.h"
#include "inode.h"

int main(void);

static const struct inode_ref cases[] = {
    {INODE_KIND_ROOT, 0, 0, 0, 0},
    {INODE_KIND_ROOT_META, 0, 0, 0, 0},
    {INODE_KIND_STATS, 0, 0, 0, 0},
    {INODE_KIND_DATASET, 0, 0, 0, 0},
    {INODE_KIND_DATASET, INODE_MAX_DATASETS, 0, 0, 0},
    {INODE_KIND_META, 7, 0, 0, 0},
    {INODE_KIND_META_DATASET, 7, 0, 0, 0},
    {INODE_KIND_META_TAGS, 7, 0, 0, 0},
    {INODE_KIND_META_TAG, 7, 3, 0, 0},
    {INODE_KIND_TAG, 1, 2, 0, 0},
    {INODE_KIND_TAG, 1, 2, 12345, 0},
    {INODE_KIND_TAG, INODE_MAX_DATASETS, INODE_MAX_TAGS, INODE_MAX_FOLDERS, 0},
    {INODE_KIND_FILE, 0, 0, 0, 0},
    {INODE_KIND_FILE, 3, 0, 0, 999999},
    {INODE_KIND_FILE, INODE_MAX_DATASETS, 0, 0, INODE_MAX_SAMPLES},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

int main(void)
{
	uint64_t nums[NCASES];

	for (size_t i = 0; i < NCASES; i++) {
		struct inode_ref back;

		nums[i] = inode_encode(&cases[i]);
		CHECK(nums[i] != 0);
		CHECK_INT(inode_decode(nums[i], &back), 0);
		CHECK_INT(back.kind, cases[i].kind);
		CHECK_INT(back.ds, cases[i].ds);
		CHECK_INT(back.tag, cases[i].tag);
		CHECK_INT(back.folder, cases[i].folder);
		CHECK_INT(back.sample, cases[i].sample);
		if (cases[i].kind != INODE_KIND_ROOT)
			CHECK(nums[i] != INODE_ROOT);
		/* a double holds it exactly (Node.js fs.stat, JSON) */
		CHECK(nums[i] < (1ull << 53));
		CHECK((uint64_t)(double)nums[i] == nums[i]);
	}
	/* distinct refs never share a number */
	for (size_t i = 0; i < NCASES; i++)
		for (size_t j = i + 1; j < NCASES; j++)
			CHECK(nums[i] != nums[j]);

	/* out-of-range fields refuse to encode rather than wrap */
	{
		struct inode_ref big = {INODE_KIND_FILE, 0, 0, 0,
					INODE_MAX_SAMPLES + 1};
		struct inode_ref bigds = {INODE_KIND_TAG,
					  INODE_MAX_DATASETS + 1, 0, 0, 0};
		CHECK_INT(inode_encode(&big), 0);
		CHECK_INT(inode_encode(&bigds), 0);
	}
	/* numbers no encode produces are stale, not misread */
	{
		struct inode_ref r;
		CHECK_INT(inode_decode(0, &r), -ESTALE);
		CHECK_INT(inode_decode(15ull << 60, &r), -ESTALE);
		CHECK_INT(
		    inode_decode((uint64_t)INODE_KIND_DATASET << 60 | 5, &r),
		    -ESTALE);
		CHECK_INT(
		    inode_decode((uint64_t)INODE_KIND_STATS << 60 | 1ull << 44,
				 &r),
		    -ESTALE);
		/* in the 53-bit layout: stray fields of small kinds, the
		 * spare bits of a file, kinds past the table */
		r = (struct inode_ref){INODE_KIND_STATS, 0, 0, 0, 0};
		CHECK_INT(inode_decode(inode_encode(&r) | 1, &r), -ESTALE);
		r = (struct inode_ref){INODE_KIND_DATASET, 3, 0, 0, 0};
		CHECK_INT(inode_decode(inode_encode(&r) | 1, &r), -ESTALE);
		r = (struct inode_ref){INODE_KIND_FILE, 3, 0, 0, 7};
		CHECK_INT(inode_decode(inode_encode(&r) | 1ull << 50, &r),
			  -ESTALE);
		CHECK_INT(inode_decode((uint64_t)INODE_KIND_MAX_ << 29, &r),
			  -ESTALE);
		CHECK_INT(inode_decode(1ull << 53, &r), -ESTALE);
	}
	return CHECK_DONE();
}

/* Unit tests for index.c: flat and nested names, the folder tree, lookups by
 * full name and by component, every reason a name is hidden, stability as
 * the index grows, and a million-name build with its memory use. */
#include "index.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define AUTO SIZE_MAX /* length: strlen */
#define MAX_NAMES 8

static int append_str(struct name_index *idx, const char *s)
{
	return index_append(idx, s, strlen(s));
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Whether sample s appears in the samples of folder f. */
static bool folder_has(const struct name_index *idx, uint32_t f, uint32_t s)
{
	size_t n, i;
	const uint32_t *v = index_folder_samples(idx, f, &n);

	if (index_folder_all(idx, f))
		return s < index_count(idx) &&
		       index_parent(idx, s) != INDEX_NONE;
	for (i = 0; i < n; i++)
		if (v[i] == s)
			return true;
	return false;
}

static bool in_any_folder(const struct name_index *idx, uint32_t s)
{
	uint32_t f;

	for (f = 0; f < index_folder_count(idx); f++)
		if (folder_has(idx, f, s))
			return true;
	return false;
}

static void test_empty_index(void)
{
	struct name_index *idx = index_new();
	size_t n = 99, len = 99;
	uint32_t id = 7;
	char kind = '?';

	CHECK(idx != NULL);
	if (!idx)
		return;
	CHECK_INT(index_count(idx), 0);
	CHECK_INT(index_hidden_count(idx), 0);
	CHECK_INT(index_folder_count(idx), 1);
	CHECK_STR(index_folder_name(idx, INDEX_ROOT_FOLDER), "");
	CHECK_INT(index_folder_parent(idx, INDEX_ROOT_FOLDER), INDEX_NONE);
	CHECK(index_folder_all(idx, INDEX_ROOT_FOLDER));
	CHECK(index_folder_samples(idx, INDEX_ROOT_FOLDER, &n) == NULL);
	CHECK_INT(n, 0);
	CHECK(index_folder_subfolders(idx, INDEX_ROOT_FOLDER, &n) != NULL);
	CHECK_INT(n, 0);
	CHECK_INT(index_lookup(idx, "a", 1, &id), -ENOENT);
	CHECK_INT(index_lookup(idx, "", 0, &id), -ENOENT);
	CHECK_INT(index_child_lookup(idx, 0, "a", 1, &kind, &id), -ENOENT);
	CHECK(index_memory(idx) > 0);
	CHECK(index_memory(idx) < 16384); /* one per cached dataset */

	/* Out-of-range ids are answered, not crashed on. */
	CHECK(index_name(idx, 0, &len) == NULL);
	CHECK_INT(len, 0);
	CHECK(index_basename(idx, 0) == NULL);
	CHECK_INT(index_parent(idx, 0), INDEX_NONE);
	CHECK(index_folder_name(idx, 1) == NULL);
	CHECK_INT(index_folder_parent(idx, 1), INDEX_NONE);
	CHECK(index_folder_samples(idx, 1, &n) == NULL);
	CHECK_INT(n, 0);
	CHECK(index_folder_subfolders(idx, 1, &n) == NULL);
	CHECK_INT(n, 0);
	CHECK_INT(index_child_lookup(idx, 1, "a", 1, &kind, &id), -ENOENT);
	index_free(idx);
	index_free(NULL);
}

static void test_flat_names(void)
{
	static const char *const names[] = {"b.jpg", "a.jpg",	"c d.png",
					    "...",   ".hidden", "é.jpg"};
	const size_t count = sizeof(names) / sizeof(names[0]);
	struct name_index *idx = index_new();
	const uint32_t *v;
	size_t n, len;
	uint32_t i, id;
	char kind;

	CHECK(idx != NULL);
	if (!idx)
		return;
	for (i = 0; i < count; i++)
		CHECK_INT(append_str(idx, names[i]), 0);
	CHECK_INT(index_count(idx), count);
	CHECK_INT(index_hidden_count(idx), 0);
	CHECK_INT(index_folder_count(idx), 1);
	/* flat: the root's samples are all of them, no list kept */
	CHECK(index_folder_all(idx, INDEX_ROOT_FOLDER));
	v = index_folder_samples(idx, INDEX_ROOT_FOLDER, &n);
	CHECK(v == NULL);
	CHECK_INT(n, 0);
	for (i = 0; i < count; i++) {
		CHECK_STR(index_basename(idx, i), names[i]);
		CHECK_INT(index_parent(idx, i), INDEX_ROOT_FOLDER);
		CHECK(index_name(idx, i, &len) != NULL);
		CHECK_INT(len, strlen(names[i]));
		CHECK(memcmp(index_name(idx, i, &len), names[i], len) == 0);
		id = INDEX_NONE;
		CHECK_INT(index_lookup(idx, names[i], strlen(names[i]), &id),
			  0);
		CHECK_INT(id, i);
		kind = '?';
		CHECK_INT(index_child_lookup(idx, INDEX_ROOT_FOLDER, names[i],
					     strlen(names[i]), &kind, &id),
			  0);
		CHECK_INT(kind, 'f');
		CHECK_INT(id, i);
	}
	index_free(idx);
}

/* The nested example: folder ids follow first appearance. */
static const char *const nested[] = {
    "a/b/c.jpg", /* 0: creates a (1), a/b (2) */
    "a/d.jpg",	 /* 1 */
    "x.jpg",	 /* 2 */
    "a/b/e.jpg", /* 3 */
    "z/y/w.jpg", /* 4: creates z (3), z/y (4) */
    "a/c/f.jpg", /* 5: creates a/c (5) */
    "b/c.jpg",	 /* 6: creates b (6); same basename as sample 0 */
    "a/xc.jpg",	 /* 7: ends in "c.jpg" but is not it */
};

struct folder_expect {
	const char *name;
	uint32_t parent;
	size_t nsamples;
	uint32_t samples[4];
	size_t nsubs;
	uint32_t subs[4];
};

static const struct folder_expect nested_folders[] = {
    {"", INDEX_NONE, 1, {2}, 3, {1, 3, 6}},
    {"a", 0, 2, {1, 7}, 2, {2, 5}},
    {"b", 1, 2, {0, 3}, 0, {0}},
    {"z", 0, 0, {0}, 1, {4}},
    {"y", 3, 1, {4}, 0, {0}},
    {"c", 1, 1, {5}, 0, {0}},
    {"b", 0, 1, {6}, 0, {0}},
};

static struct name_index *build_nested(void)
{
	struct name_index *idx = index_new();
	size_t i;

	if (!idx)
		return NULL;
	for (i = 0; i < sizeof(nested) / sizeof(nested[0]); i++)
		CHECK_INT(append_str(idx, nested[i]), 0);
	return idx;
}

static void test_nested_tree(void)
{
	struct name_index *idx = build_nested();
	const size_t nf = sizeof(nested_folders) / sizeof(nested_folders[0]);
	static const uint32_t parents[] = {2, 1, 0, 2, 4, 5, 6, 1};
	static const char *const bases[] = {"c.jpg", "d.jpg", "x.jpg",
					    "e.jpg", "w.jpg", "f.jpg",
					    "c.jpg", "xc.jpg"};
	uint32_t f, s;

	CHECK(idx != NULL);
	if (!idx)
		return;
	CHECK_INT(index_count(idx), 8);
	CHECK_INT(index_hidden_count(idx), 0);
	CHECK_INT(index_folder_count(idx), nf);
	for (f = 0; f < nf && f < index_folder_count(idx); f++) {
		const struct folder_expect *e = &nested_folders[f];
		const uint32_t *v;
		size_t n, i;

		CHECK_STR(index_folder_name(idx, f), e->name);
		CHECK_INT(index_folder_parent(idx, f), e->parent);
		v = index_folder_samples(idx, f, &n);
		CHECK_INT(n, e->nsamples);
		for (i = 0; i < n && i < e->nsamples; i++)
			CHECK_INT(v[i], e->samples[i]);
		v = index_folder_subfolders(idx, f, &n);
		CHECK_INT(n, e->nsubs);
		for (i = 0; i < n && i < e->nsubs; i++)
			CHECK_INT(v[i], e->subs[i]);
	}
	for (s = 0; s < 8; s++) {
		CHECK_INT(index_parent(idx, s), parents[s]);
		CHECK_STR(index_basename(idx, s), bases[s]);
	}
	index_free(idx);
}

struct lookup_case {
	const char *name;
	size_t len; /* AUTO: strlen */
	int rc;
	uint32_t sample;
};

static const struct lookup_case full_lookups[] = {
    {"a/b/c.jpg", AUTO, 0, 0},
    {"a/d.jpg", AUTO, 0, 1},
    {"x.jpg", AUTO, 0, 2},
    {"z/y/w.jpg", AUTO, 0, 4},
    {"b/c.jpg", AUTO, 0, 6},
    {"a/xc.jpg", AUTO, 0, 7},
    {"a/b/c.jpgEXTRA", 9, 0, 0}, /* not NUL-terminated */
    {"a/b", AUTO, -ENOENT, 0},	 /* a folder, not a sample */
    {"a", AUTO, -ENOENT, 0},
    {"a/", AUTO, -ENOENT, 0},
    {"c.jpg", AUTO, -ENOENT, 0},
    {"a/c.jpg", AUTO, -ENOENT, 0}, /* suffix of a/xc.jpg */
    {"a/b/c.jp", AUTO, -ENOENT, 0},
    {"a/b/c.jpgx", AUTO, -ENOENT, 0},
    {"/a/b/c.jpg", AUTO, -ENOENT, 0},
    {"a//b/c.jpg", AUTO, -ENOENT, 0},
    {"a/b/c.jpg/", AUTO, -ENOENT, 0},
    {"./x.jpg", AUTO, -ENOENT, 0},
    {"A/b/c.jpg", AUTO, -ENOENT, 0}, /* case sensitive */
    {"", AUTO, -ENOENT, 0},
    {"x.jpg\0", 6, -ENOENT, 0},
};

struct child_case {
	uint32_t folder;
	const char *comp;
	int rc;
	char kind;
	uint32_t id;
};

static const struct child_case child_lookups[] = {
    {0, "a", 0, 'd', 1},
    {0, "z", 0, 'd', 3},
    {0, "b", 0, 'd', 6},
    {0, "x.jpg", 0, 'f', 2},
    {1, "b", 0, 'd', 2},
    {1, "c", 0, 'd', 5},
    {1, "d.jpg", 0, 'f', 1},
    {1, "xc.jpg", 0, 'f', 7},
    {1, "c.jpg", -ENOENT, 0, 0}, /* tail of xc.jpg */
    {2, "c.jpg", 0, 'f', 0},
    {6, "c.jpg", 0, 'f', 6}, /* same basename, other parent */
    {3, "y", 0, 'd', 4},
    {4, "w.jpg", 0, 'f', 4},
    {0, "y", -ENOENT, 0, 0},	   /* only under z */
    {0, "a/d.jpg", -ENOENT, 0, 0}, /* not a component */
    {0, "", -ENOENT, 0, 0},
    {2, "e", -ENOENT, 0, 0},
    {99, "a", -ENOENT, 0, 0}, /* no such folder */
};

static void test_lookups(void)
{
	struct name_index *idx = build_nested();
	size_t i;

	CHECK(idx != NULL);
	if (!idx)
		return;
	for (i = 0; i < sizeof(full_lookups) / sizeof(full_lookups[0]); i++) {
		const struct lookup_case *c = &full_lookups[i];
		size_t len = c->len == AUTO ? strlen(c->name) : c->len;
		uint32_t s = INDEX_NONE;
		int rc = index_lookup(idx, c->name, len, &s);

		if (rc != c->rc)
			fprintf(stderr, "case: lookup \"%s\"\n", c->name);
		CHECK_INT(rc, c->rc);
		if (c->rc == 0)
			CHECK_INT(s, c->sample);
	}
	for (i = 0; i < sizeof(child_lookups) / sizeof(child_lookups[0]); i++) {
		const struct child_case *c = &child_lookups[i];
		uint32_t id = INDEX_NONE;
		char kind = '?';
		int rc = index_child_lookup(idx, c->folder, c->comp,
					    strlen(c->comp), &kind, &id);

		if (rc != c->rc)
			fprintf(stderr, "case: child %u \"%s\"\n", c->folder,
				c->comp);
		CHECK_INT(rc, c->rc);
		if (c->rc == 0) {
			CHECK_INT(kind, c->kind);
			CHECK_INT(id, c->id);
		}
	}
	index_free(idx);
}

struct hidden_name {
	const char *s;
	size_t len; /* AUTO: strlen */
	bool visible;
};

struct hidden_case {
	const char *what;
	struct hidden_name names[MAX_NAMES]; /* ends at s == NULL */
	uint32_t folders;		     /* folder count afterwards */
};

static const struct hidden_case hidden_cases[] = {
    {"empty name", {{"", AUTO, false}, {"a", AUTO, true}}, 1},
    {"dot", {{".", AUTO, false}}, 1},
    {"dot dot", {{"..", AUTO, false}}, 1},
    {"dot component", {{"a/./b", AUTO, false}}, 1},
    {"dot dot component", {{"a/../b", AUTO, false}}, 1},
    {"dot folder first", {{"./a", AUTO, false}}, 1},
    {"dot dot last", {{"a/..", AUTO, false}}, 1},
    {"dots that are names",
     {{"...", AUTO, true}, {"..a", AUTO, true}, {"a/.b/.c", AUTO, true}},
     3},
    {"empty component", {{"a//b", AUTO, false}}, 1},
    {"leading slash", {{"/a", AUTO, false}}, 1},
    {"trailing slash", {{"a/", AUTO, false}, {"a", AUTO, true}}, 1},
    {"slash alone", {{"/", AUTO, false}}, 1},
    {"NUL inside", {{"a\0b", 3, false}, {"a", AUTO, true}}, 1},
    {"NUL alone", {{"\0", 1, false}}, 1},
    {"NUL at the end", {{"d/b\0", 4, false}, {"d/b", AUTO, true}}, 2},
    {"NUL in a folder", {{"d\0/b", 4, false}}, 1},
    {"duplicate",
     {{"x", AUTO, true}, {"x", AUTO, false}, {"x", AUTO, false}},
     1},
    {"nested duplicate", {{"d/x", AUTO, true}, {"d/x", AUTO, false}}, 2},
    {"file where a folder is", {{"a/b", AUTO, true}, {"a", AUTO, false}}, 2},
    {"deep file where a folder is",
     {{"a/b/c", AUTO, true}, {"a/b", AUTO, false}},
     3},
    {"folder where a file is: later hidden",
     {{"a", AUTO, true},
      {"a/b", AUTO, false},
      {"a/b/c", AUTO, false},
      {"a", AUTO, false}},
     1},
    {"deep folder where a file is",
     {{"a/b", AUTO, true}, {"a/b/c/d", AUTO, false}, {"a/c/d", AUTO, true}},
     3},
    {"hidden names claim nothing",
     {{"a//b", AUTO, false},
      {"a/b", AUTO, true},
      {"q/../r", AUTO, false},
      {"q", AUTO, true}},
     2},
    {"case differs: not a duplicate",
     {{"X", AUTO, true}, {"x", AUTO, true}},
     1},
};

static void check_hidden_case(const struct hidden_case *c)
{
	struct name_index *idx = index_new();
	uint32_t hidden = 0, i;

	CHECK(idx != NULL);
	if (!idx)
		return;
	for (i = 0; i < MAX_NAMES && c->names[i].s; i++) {
		const struct hidden_name *h = &c->names[i];
		size_t len = h->len == AUTO ? strlen(h->s) : h->len;

		CHECK_INT(index_append(idx, h->s, len), 0);
		hidden += !h->visible;
	}
	CHECK_INT(index_count(idx), i);
	if (index_hidden_count(idx) != hidden ||
	    index_folder_count(idx) != c->folders)
		fprintf(stderr, "case: %s\n", c->what);
	CHECK_INT(index_hidden_count(idx), hidden);
	CHECK_INT(index_folder_count(idx), c->folders);

	for (i = 0; i < MAX_NAMES && c->names[i].s; i++) {
		const struct hidden_name *h = &c->names[i];
		size_t len = h->len == AUTO ? strlen(h->s) : h->len, nlen;
		const char *name = index_name(idx, i, &nlen);
		uint32_t s = INDEX_NONE;
		int rc = index_lookup(idx, h->s, len, &s);

		/* The name is kept exactly, hidden or not. */
		CHECK(name != NULL);
		CHECK_INT(nlen, len);
		CHECK(name && (len == 0 || memcmp(name, h->s, len) == 0));
		if ((index_parent(idx, i) != INDEX_NONE) != h->visible)
			fprintf(stderr, "case: %s, name %u\n", c->what, i);
		if (h->visible) {
			CHECK(index_parent(idx, i) != INDEX_NONE);
			CHECK(index_basename(idx, i) != NULL);
			CHECK(folder_has(idx, index_parent(idx, i), i));
			CHECK_INT(rc, 0);
			CHECK_INT(s, i);
		} else {
			CHECK_INT(index_parent(idx, i), INDEX_NONE);
			CHECK(index_basename(idx, i) == NULL);
			CHECK(!in_any_folder(idx, i));
			/* Found only as an earlier visible twin, if any. */
			CHECK(rc == -ENOENT || (rc == 0 && s < i));
		}
	}
	index_free(idx);
}

static void test_hidden(void)
{
	size_t i;

	for (i = 0; i < sizeof(hidden_cases) / sizeof(hidden_cases[0]); i++)
		check_hidden_case(&hidden_cases[i]);
}

static void test_component_length(void)
{
	/* 255 bytes is the most a component can be (NAME_MAX), as a file
	 * and as a folder; 256 hides the name. */
	char ok[INDEX_NAME_MAX + 1], long_[INDEX_NAME_MAX + 2];
	char path[2 * INDEX_NAME_MAX + 16];
	struct name_index *idx = index_new();
	uint32_t s;

	CHECK(idx != NULL);
	if (!idx)
		return;
	memset(ok, 'k', INDEX_NAME_MAX);
	ok[INDEX_NAME_MAX] = '\0';
	memset(long_, 'l', INDEX_NAME_MAX + 1);
	long_[INDEX_NAME_MAX + 1] = '\0';

	CHECK_INT(append_str(idx, ok), 0);		/* 0 */
	snprintf(path, sizeof(path), "%s/%s", ok, "f"); /* 1: a file "k..." */
	CHECK_INT(append_str(idx, path), 0);
	snprintf(path, sizeof(path), "d/%s", ok); /* 2 */
	CHECK_INT(append_str(idx, path), 0);
	CHECK_INT(append_str(idx, long_), 0);	     /* 3 */
	snprintf(path, sizeof(path), "%s/f", long_); /* 4 */
	CHECK_INT(append_str(idx, path), 0);
	snprintf(path, sizeof(path), "d/%s", long_); /* 5 */
	CHECK_INT(append_str(idx, path), 0);

	CHECK_INT(index_parent(idx, 0), INDEX_ROOT_FOLDER);
	CHECK_STR(index_basename(idx, 0), ok);
	CHECK_INT(index_parent(idx, 1), INDEX_NONE); /* ok is a file */
	CHECK(index_parent(idx, 2) != INDEX_NONE);
	CHECK_STR(index_basename(idx, 2), ok);
	CHECK_INT(index_parent(idx, 3), INDEX_NONE);
	CHECK_INT(index_parent(idx, 4), INDEX_NONE);
	CHECK_INT(index_parent(idx, 5), INDEX_NONE);
	CHECK_INT(index_hidden_count(idx), 4);
	CHECK_INT(index_folder_count(idx), 2);
	CHECK_INT(index_lookup(idx, path, strlen(path), &s), -ENOENT);
	index_free(idx);

	/* And a folder component of exactly 255 bytes. */
	idx = index_new();
	CHECK(idx != NULL);
	if (!idx)
		return;
	snprintf(path, sizeof(path), "%s/f", ok);
	CHECK_INT(append_str(idx, path), 0);
	CHECK_INT(index_hidden_count(idx), 0);
	CHECK_STR(index_folder_name(idx, 1), ok);
	CHECK_INT(index_lookup(idx, path, strlen(path), &s), 0);
	CHECK_INT(s, 0);
	index_free(idx);
}

static void test_deep_and_wide(void)
{
	/* 1000 nested folders, then 1000 sibling folders: exercises the
	 * inline first child, array growth and folder-table growth. */
	enum { DEPTH = 1000, WIDE = 1000 };
	char *path = malloc(2 * DEPTH + 16);
	struct name_index *idx = index_new();
	const uint32_t *v;
	char name[32];
	uint32_t f, s, i;
	size_t n;

	CHECK(idx != NULL && path != NULL);
	if (!idx || !path)
		goto out;
	for (i = 0; i < DEPTH; i++) {
		path[2 * i] = 'd';
		path[2 * i + 1] = '/';
	}
	memcpy(path + 2 * DEPTH, "f", 2);
	CHECK_INT(append_str(idx, path), 0);
	CHECK_INT(index_folder_count(idx), DEPTH + 1);
	CHECK_INT(index_parent(idx, 0), DEPTH);
	CHECK_INT(index_lookup(idx, path, strlen(path), &s), 0);
	for (f = 1; f <= DEPTH; f++) {
		CHECK_INT(index_folder_parent(idx, f), f - 1);
		v = index_folder_subfolders(idx, f - 1, &n);
		CHECK_INT(n, 1);
		CHECK_INT(v[0], f);
	}

	for (i = 0; i < WIDE; i++) {
		snprintf(name, sizeof(name), "w%04u/x.jpg", WIDE - i);
		CHECK_INT(append_str(idx, name), 0);
	}
	v = index_folder_subfolders(idx, INDEX_ROOT_FOLDER, &n);
	CHECK_INT(n, WIDE + 1);
	CHECK_INT(v[0], 1); /* "d" came first */
	for (i = 0; i < WIDE && i + 1 < n; i++) {
		CHECK_INT(v[i + 1], DEPTH + 1 + i); /* first appearance */
		snprintf(name, sizeof(name), "w%04u", WIDE - i);
		CHECK_STR(index_folder_name(idx, v[i + 1]), name);
	}
	for (i = 0; i < WIDE; i += 97) {
		char kind = '?';

		snprintf(name, sizeof(name), "w%04u/x.jpg", WIDE - i);
		CHECK_INT(append_str(idx, name), 0); /* duplicate */
		CHECK_INT(index_lookup(idx, name, strlen(name), &s), 0);
		CHECK_INT(s, 1 + i);
		CHECK_INT(index_child_lookup(idx, DEPTH + 1 + i, "x.jpg", 5,
					     &kind, &s),
			  0);
		CHECK_INT(kind, 'f');
		CHECK_INT(s, 1 + i);
	}
	CHECK_INT(index_hidden_count(idx), (WIDE + 96) / 97);
out:
	free(path);
	index_free(idx);
}

/* What one sample looks like from outside, for comparing over time. */
struct snapshot {
	const char *name;
	size_t len;
	uint32_t parent;
	const char *base;
	int lookup_rc;
	uint32_t lookup;
};

static void take_snapshot(const struct name_index *idx, uint32_t s,
			  struct snapshot *snap)
{
	snap->name = index_name(idx, s, &snap->len);
	snap->parent = index_parent(idx, s);
	snap->base = index_basename(idx, s);
	snap->lookup = INDEX_NONE;
	snap->lookup_rc =
	    index_lookup(idx, snap->name, snap->len, &snap->lookup);
}

static void test_stable_across_appends(void)
{
	/* Names that collide with each other in every way, then a flood of
	 * appends that grows every table and allocates new name chunks:
	 * nothing seen before may change, pointers included. */
	static const char *const names[] = {
	    "a",    "a/b", "c/d",   "c", "c/d", "e/f/g",   "e/f",
	    "e//h", "e/h", "a/b/c", ".", "x",	"e/f/g/h",
	};
	enum { N = sizeof(names) / sizeof(names[0]), MORE = 200000 };
	struct snapshot before[N], after;
	struct name_index *idx = index_new();
	const char *folder_names[8];
	uint32_t folder_parents[8];
	uint32_t nfolders, hidden, i, f;
	char buf[32];

	CHECK(idx != NULL);
	if (!idx)
		return;
	for (i = 0; i < N; i++) {
		CHECK_INT(append_str(idx, names[i]), 0);
		take_snapshot(idx, i, &before[i]);
	}
	nfolders = index_folder_count(idx);
	hidden = index_hidden_count(idx);
	CHECK_INT(nfolders, 4); /* root, c, e, e/f */
	CHECK_INT(hidden, 8);
	for (f = 0; f < nfolders && f < 8; f++) {
		folder_names[f] = index_folder_name(idx, f);
		folder_parents[f] = index_folder_parent(idx, f);
	}

	for (i = 0; i < MORE; i++) {
		snprintf(buf, sizeof(buf), "%s/n%06u.jpg", i % 3 ? "c" : "new",
			 i);
		if (append_str(idx, buf))
			break;
	}
	CHECK_INT(index_count(idx), N + MORE);
	CHECK_INT(index_hidden_count(idx), hidden);
	CHECK_INT(index_folder_count(idx), nfolders + 1);
	for (i = 0; i < N; i++) {
		take_snapshot(idx, i, &after);
		CHECK(after.name == before[i].name);
		CHECK_INT(after.len, before[i].len);
		CHECK(memcmp(after.name, names[i], after.len) == 0);
		CHECK_INT(after.parent, before[i].parent);
		CHECK(after.base == before[i].base);
		CHECK_INT(after.lookup_rc, before[i].lookup_rc);
		CHECK_INT(after.lookup, before[i].lookup);
	}
	for (f = 0; f < nfolders && f < 8; f++) {
		CHECK(index_folder_name(idx, f) == folder_names[f]);
		CHECK_INT(index_folder_parent(idx, f), folder_parents[f]);
	}
	/* The folder samples stay ascending with the old ones first. */
	{
		uint32_t c_folder = index_parent(idx, 2);
		const uint32_t *v;
		size_t n, k;

		CHECK_INT(c_folder, 1);
		v = index_folder_samples(idx, c_folder, &n);
		CHECK_INT(n, 1 + MORE - (MORE + 2) / 3);
		CHECK(n > 0 && v[0] == 2);
		for (k = 1; k < n; k++)
			if (v[k] <= v[k - 1])
				break;
		CHECK_INT(k, n);
	}
	index_free(idx);
}

static void test_million_names(void)
{
	/* The size of a large Lightly dataset, flat: build time, lookups and
	 * the memory target (about 40 bytes a sample beyond the names). */
	enum { N = 1000000 };
	struct name_index *idx = index_new();
	const uint32_t *v;
	double t0, t1;
	size_t n, len, mem, name_bytes = 0;
	uint32_t i, s;
	char buf[32];
	int rc = 0;

	CHECK(idx != NULL);
	if (!idx)
		return;
	t0 = now_ms();
	for (i = 0; i < N && rc == 0; i++) {
		int l = snprintf(buf, sizeof(buf), "sample_%07u.jpg", i);

		rc = index_append(idx, buf, (size_t)l);
		name_bytes += (size_t)l;
	}
	t1 = now_ms();
	CHECK_INT(rc, 0);
	CHECK_INT(index_count(idx), N);
	CHECK_INT(index_hidden_count(idx), 0);
	mem = index_memory(idx);
	fprintf(stderr,
		"1M appends: %.1f ms; index_memory %zu bytes = %.1f per "
		"sample, %.1f beyond the name bytes\n",
		t1 - t0, mem, (double)mem / N, (double)(mem - name_bytes) / N);
	CHECK(mem > name_bytes);
	CHECK(mem - name_bytes <= (size_t)N * 40);

	/* flat: the root holds every sample without a list of them */
	CHECK(index_folder_all(idx, INDEX_ROOT_FOLDER));
	v = index_folder_samples(idx, INDEX_ROOT_FOLDER, &n);
	CHECK(v == NULL);
	CHECK_INT(n, 0);
	CHECK_INT(index_parent(idx, N - 1), INDEX_ROOT_FOLDER);
	for (i = 0; i < N; i += 99991) {
		snprintf(buf, sizeof(buf), "sample_%07u.jpg", i);
		CHECK_INT(index_lookup(idx, buf, strlen(buf), &s), 0);
		CHECK_INT(s, i);
		CHECK_STR(index_basename(idx, i), buf);
		CHECK(index_name(idx, i, &len) != NULL);
		CHECK_INT(len, strlen(buf));
	}
	CHECK_INT(index_lookup(idx, "sample_1000000.jpg", 18, &s), -ENOENT);
	CHECK_INT(index_append(idx, "sample_0000000.jpg", 18), 0);
	CHECK_INT(index_hidden_count(idx), 1);
	index_free(idx);
}

/* Ten million samples must fit in 48 bytes each, names included
 * (issue 13): a flat index reserved for its count keeps, beyond the name
 * bytes, their length and NUL, an eighth of a pointer and 1.25 hash slots. */
static void test_flat_reserved_memory(void)
{
	enum { N = 200000 };
	struct name_index *idx = index_new();
	size_t mem, name_bytes = 0, len;
	uint32_t i, s;
	char buf[32];
	int rc = 0;

	CHECK(idx != NULL);
	if (!idx)
		return;
	CHECK_INT(index_reserve(idx, N), 0);
	for (i = 0; i < N && rc == 0; i++) {
		int l = snprintf(buf, sizeof(buf), "sample_%07u.jpg", i);

		rc = index_append(idx, buf, (size_t)l);
		name_bytes += (size_t)l;
	}
	CHECK_INT(rc, 0);
	mem = index_memory(idx);
	fprintf(stderr, "flat, reserved: %.2f bytes a sample beyond names\n",
		(double)(mem - name_bytes) / N);
	CHECK(mem - name_bytes <= (size_t)N * 11);
	/* names read back across chunk links and anchors */
	for (i = 0; i < N; i += 997) {
		const char *nm = index_name(idx, i, &len);

		snprintf(buf, sizeof(buf), "sample_%07u.jpg", i);
		CHECK(nm != NULL && len == strlen(buf) &&
		      !memcmp(nm, buf, len));
		CHECK_INT(index_lookup(idx, buf, strlen(buf), &s), 0);
		CHECK_INT(s, i);
	}
	index_free(idx);
}

/* The first name with a folder turns a flat index into a tree: every
 * earlier sample stays where it was, hidden ones stay hidden. */
static void test_flat_then_folder(void)
{
	struct name_index *idx = index_new();
	const uint32_t *v;
	size_t n;
	uint32_t s;
	char buf[32];

	CHECK(idx != NULL);
	if (!idx)
		return;
	for (int i = 0; i < 100; i++) {
		snprintf(buf, sizeof(buf), "f%03d.jpg", i);
		CHECK_INT(append_str(idx, buf), 0);
	}
	CHECK_INT(append_str(idx, "f007.jpg"), 0); /* 100: duplicate */
	CHECK_INT(append_str(idx, ".."), 0);	   /* 101: hidden */
	CHECK_INT(index_parent(idx, 100), INDEX_NONE);
	CHECK_INT(index_parent(idx, 99), INDEX_ROOT_FOLDER);
	CHECK(index_folder_all(idx, INDEX_ROOT_FOLDER));
	CHECK_INT(append_str(idx, "sub/x.jpg"), 0); /* 102 */
	CHECK(!index_folder_all(idx, INDEX_ROOT_FOLDER));
	v = index_folder_samples(idx, INDEX_ROOT_FOLDER, &n);
	CHECK_INT(n, 100);
	CHECK(v && v[0] == 0 && v[99] == 99);
	CHECK_INT(index_parent(idx, 100), INDEX_NONE);
	CHECK_INT(index_parent(idx, 101), INDEX_NONE);
	CHECK_INT(index_parent(idx, 7), INDEX_ROOT_FOLDER);
	CHECK_INT(index_hidden_count(idx), 2);
	CHECK_INT(index_lookup(idx, "sub/x.jpg", 9, &s), 0);
	CHECK_INT(s, 102);
	CHECK_INT(index_lookup(idx, "f042.jpg", 8, &s), 0);
	CHECK_INT(s, 42);
	CHECK_INT(append_str(idx, "f100.jpg"), 0); /* 103, in the root */
	v = index_folder_samples(idx, INDEX_ROOT_FOLDER, &n);
	CHECK_INT(n, 101);
	CHECK(v && v[100] == 103);
	index_free(idx);
}

static void test_memory_grows(void)
{
	struct name_index *idx = index_new();
	size_t prev, i;
	char buf[32];

	CHECK(idx != NULL);
	if (!idx)
		return;
	prev = index_memory(idx);
	for (i = 0; i < 5000; i++) {
		size_t m;

		snprintf(buf, sizeof(buf), "dir%zu/f%zu.jpg", i % 50, i);
		CHECK_INT(append_str(idx, buf), 0);
		m = index_memory(idx);
		if (m < prev) {
			CHECK(m >= prev);
			break;
		}
		prev = m;
	}
	/* 5000 samples in 50 folders: names ~16 bytes; well under 100/each. */
	CHECK(prev < 5000 * 100);
	CHECK(prev > 5000 * 16);
	index_free(idx);
}

/* Reserving room changes nothing a reader sees, only when memory is taken. */
static void test_reserve_then_append(void)
{
	struct name_index *idx = index_new();
	char name[32];
	uint32_t s;

	CHECK(idx != NULL);
	CHECK_INT(index_reserve(idx, 5000), 0);
	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "d%d/f_%05d.jpg", i % 3, i);
		CHECK_INT(index_append(idx, name, strlen(name)), 0);
	}
	CHECK_INT(index_count(idx), 10000);
	CHECK_INT(index_lookup(idx, "d1/f_09997.jpg", 14, &s), 0);
	CHECK_INT(s, 9997);
	CHECK_INT(index_folder_count(idx), 4);
	CHECK_INT(index_reserve(idx, UINT32_MAX), -EOVERFLOW);
	CHECK_INT(index_count(idx), 10000);
	index_free(idx);
}

int main(void)
{
	test_reserve_then_append();
	test_empty_index();
	test_flat_names();
	test_nested_tree();
	test_lookups();
	test_hidden();
	test_component_length();
	test_deep_and_wide();
	test_stable_across_appends();
	test_million_names();
	test_flat_reserved_memory();
	test_flat_then_folder();
	test_memory_grows();
	return CHECK_DONE();
}

/* Unit tests of api.c's decoders and validators, http.c's errno table and
 * escaping, and log.c's sink.  No network: the endpoints are covered by the
 * integration tests against the emulator. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "check.h"
#include "http.h"
#include "log.h"

#define DS "5f0000000000000000000001"
#define TAG "5f00000000000000000000aa"
#define TAG2 "5f00000000000000000000bb"

/* --- a capturing log sink --- */

struct captured {
	int warns;
	int lines;
	size_t longest;
	char last[4096];
};

static struct captured cap;

static void capture_sink(enum log_level level, const char *line, void *arg)
{
	struct captured *c = arg;
	size_t n = strlen(line);

	c->lines++;
	if (level == LOG_WARN)
		c->warns++;
	if (n > c->longest)
		c->longest = n;
	snprintf(c->last, sizeof(c->last), "%s", line);
}

static void capture_reset(void)
{
	memset(&cap, 0, sizeof(cap));
}

/* --- names callback that joins with '|' --- */

struct joined {
	char buf[512];
	size_t calls;
	size_t stop_after; /* 0: never */
};

static int join_cb(const char *name, size_t len, void *arg)
{
	struct joined *j = arg;
	size_t used = strlen(j->buf);

	if (j->calls && used + 1 < sizeof(j->buf))
		j->buf[used++] = '|';
	if (used + len < sizeof(j->buf)) {
		memcpy(j->buf + used, name, len);
		j->buf[used + len] = '\0';
	}
	j->calls++;
	if (j->stop_after && j->calls == j->stop_after)
		return -EINTR;
	return 0;
}

static int decode_names_str(const char *json, struct joined *j, size_t *count)
{
	memset(j, 0, sizeof(*j));
	return api_decode_names(json, strlen(json), join_cb, j, count);
}

/* --- datasets --- */

static void test_decode_datasets(void)
{
	static const struct {
		const char *name;
		const char *json;
		int rc;
		size_t n;
		const char *first_name;
		const char *img_type; /* NULL: absent */
		int64_t n_samples, created, modified;
	} cases[] = {
	    {"two datasets",
	     "[{\"id\":\"" DS "\",\"name\":\"cats\",\"imgType\":\"full\","
	     "\"nSamples\":12,\"createdAt\":1700000000123,"
	     "\"lastModifiedAt\":1700000000999,\"type\":\"Images\"},"
	     "{\"id\":\"" TAG "\",\"name\":\"dogs\"}]",
	     0, 2, "cats", "full", 12, 1700000000123LL, 1700000000999LL},
	    {.name = "empty array", .json = "[]"},
	    {.name = "white space around", .json = " \n[ ]\r\n\t"},
	    {"null optional fields",
	     "[{\"id\":\"" DS "\",\"name\":\"cats\",\"imgType\":null,"
	     "\"nSamples\":null}]",
	     0, 1, "cats", NULL, 0, 0, 0},
	    {.name = "missing id", .json = "[{\"name\":\"cats\"}]", .rc = -EIO},
	    {.name = "missing name",
	     .json = "[{\"id\":\"" DS "\"}]",
	     .rc = -EIO},
	    {.name = "number for name",
	     .json = "[{\"id\":\"" DS "\",\"name\":7}]",
	     .rc = -EIO},
	    {.name = "null name",
	     .json = "[{\"id\":\"" DS "\",\"name\":null}]",
	     .rc = -EIO},
	    {.name = "upper-case id",
	     .json = "[{\"id\":\"5F0000000000000000000001\","
		     "\"name\":\"x\"}]",
	     .rc = -EIO},
	    {.name = "short id",
	     .json = "[{\"id\":\"5f00\",\"name\":\"x\"}]",
	     .rc = -EIO},
	    {.name = "string for nSamples",
	     .json = "[{\"id\":\"" DS "\",\"name\":\"x\","
		     "\"nSamples\":\"12\"}]",
	     .rc = -EIO},
	    {.name = "negative nSamples",
	     .json = "[{\"id\":\"" DS "\",\"name\":\"x\","
		     "\"nSamples\":-1}]",
	     .rc = -EIO},
	    {.name = "fractional createdAt",
	     .json = "[{\"id\":\"" DS "\",\"name\":\"x\","
		     "\"createdAt\":1.5}]",
	     .rc = -EIO},
	    {.name = "huge createdAt",
	     .json = "[{\"id\":\"" DS "\",\"name\":\"x\","
		     "\"createdAt\":1e300}]",
	     .rc = -EIO},
	    {.name = "object for array",
	     .json = "{\"id\":\"" DS "\",\"name\":\"x\"}",
	     .rc = -EIO},
	    {.name = "string element", .json = "[\"" DS "\"]", .rc = -EIO},
	    {.name = "second element bad",
	     .json = "[{\"id\":\"" DS "\",\"name\":\"x\"},{\"id\":1}]",
	     .rc = -EIO},
	    {.name = "truncated",
	     .json = "[{\"id\":\"" DS "\",\"name\":\"x\"",
	     .rc = -EIO},
	    {.name = "trailing garbage", .json = "[] x", .rc = -EIO},
	    {.name = "empty body", .json = "", .rc = -EIO},
	    {.name = "not JSON",
	     .json = "<html>502 Bad Gateway</html>",
	     .rc = -EIO},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_dataset *v = (void *)1;
		size_t n = 99;
		int rc;

		capture_reset();
		rc = api_decode_datasets(cases[i].json, strlen(cases[i].json),
					 &v, &n);
		if (rc != cases[i].rc)
			fprintf(stderr, "case \"%s\"\n", cases[i].name);
		CHECK_INT(rc, cases[i].rc);
		if (rc) {
			CHECK(v == NULL);
			CHECK_INT(n, 0);
			/* a failure is logged exactly once */
			CHECK_INT(cap.warns, 1);
			continue;
		}
		CHECK_INT(cap.warns, 0);
		CHECK_INT(n, cases[i].n);
		if (n > 0) {
			CHECK_STR(v[0].id, DS);
			CHECK_STR(v[0].name, cases[i].first_name);
			if (cases[i].img_type)
				CHECK_STR(v[0].img_type, cases[i].img_type);
			else
				CHECK(v[0].img_type == NULL);
			CHECK_INT(v[0].n_samples, cases[i].n_samples);
			CHECK_INT(v[0].created_at, cases[i].created);
			CHECK_INT(v[0].last_modified_at, cases[i].modified);
			CHECK(v[0].json && v[0].json[0] == '{');
		}
		api_datasets_free(v, n);
	}
}

static void test_decode_dataset(void)
{
	const char *ok = "{\"id\":\"" DS "\",\"name\":\"cats\",\"nSamples\":3,"
			 "\"extra\":{\"nested\":[1,2]}}";
	const char *bad = "[{\"id\":\"" DS "\",\"name\":\"cats\"}]";
	struct api_dataset d;

	capture_reset();
	CHECK_INT(api_decode_dataset(ok, strlen(ok), &d), 0);
	CHECK_STR(d.id, DS);
	CHECK_STR(d.name, "cats");
	CHECK_INT(d.n_samples, 3);
	/* the printed object carries the fields we do not decode */
	CHECK(d.json && strstr(d.json, "\"nested\":[1,2]"));
	CHECK(d.json && strstr(d.json, "\"id\":\"" DS "\""));
	api_dataset_dispose(&d);
	CHECK(d.name == NULL && d.json == NULL);
	api_dataset_dispose(&d); /* twice is harmless */

	CHECK_INT(api_decode_dataset(bad, strlen(bad), &d), -EIO);
	CHECK(d.name == NULL && d.json == NULL);
	CHECK_INT(cap.warns, 1);
	api_datasets_free(NULL, 3);
}

/* --- tags --- */

#define TAG_OBJ(extra)                                                         \
	"{\"id\":\"" TAG "\",\"datasetId\":\"" DS "\",\"name\":\"night\","     \
	"\"bitMaskData\":\"0x59\",\"totSize\":7,\"createdAt\":1000" extra "}"

static void test_decode_tag(void)
{
	static const struct {
		const char *name;
		const char *json;
		int rc;
		const char *prev;
		int64_t tot, created, modified;
	} cases[] = {
	    {"null prevTagId", TAG_OBJ(",\"prevTagId\":null"), 0, "", 7, 1000,
	     1000},
	    {"missing prevTagId is null", TAG_OBJ(""), 0, "", 7, 1000, 1000},
	    {"prevTagId and lastModifiedAt",
	     TAG_OBJ(",\"prevTagId\":\"" TAG2 "\",\"lastModifiedAt\":2000,"
		     "\"changes\":[{\"creator\":\"USER_PIP\"}]"),
	     0, TAG2, 7, 1000, 2000},
	    {"no createdAt",
	     "{\"id\":\"" TAG "\",\"name\":\"n1x\","
	     "\"bitMaskData\":\"0x0\",\"totSize\":0,\"prevTagId\":null}",
	     0, "", 0, 0, 0},
	    {"big totSize",
	     "{\"id\":\"" TAG "\",\"name\":\"n1x\","
	     "\"bitMaskData\":\"0x0\",\"totSize\":5000000000}",
	     0, "", 5000000000LL, 0, 0},
	    {.name = "number prevTagId",
	     .json = TAG_OBJ(",\"prevTagId\":5"),
	     .rc = -EIO},
	    {.name = "bad prevTagId",
	     .json = TAG_OBJ(",\"prevTagId\":\"abc\""),
	     .rc = -EIO},
	    {.name = "string totSize",
	     .json = "{\"id\":\"" TAG "\",\"name\":\"n1x\","
		     "\"bitMaskData\":\"0x0\",\"totSize\":\"7\"}",
	     .rc = -EIO},
	    {.name = "negative totSize",
	     .json = "{\"id\":\"" TAG "\",\"name\":\"n1x\","
		     "\"bitMaskData\":\"0x0\",\"totSize\":-7}",
	     .rc = -EIO},
	    {.name = "missing totSize",
	     .json = "{\"id\":\"" TAG "\",\"name\":\"n1x\","
		     "\"bitMaskData\":\"0x0\"}",
	     .rc = -EIO},
	    {.name = "missing bitMaskData",
	     .json = "{\"id\":\"" TAG "\",\"name\":\"n1x\","
		     "\"totSize\":1}",
	     .rc = -EIO},
	    {.name = "number bitMaskData",
	     .json = "{\"id\":\"" TAG "\",\"name\":\"n1x\","
		     "\"bitMaskData\":89,\"totSize\":7}",
	     .rc = -EIO},
	    {.name = "number name",
	     .json = "{\"id\":\"" TAG "\",\"name\":1,"
		     "\"bitMaskData\":\"0x1\",\"totSize\":7}",
	     .rc = -EIO},
	    {.name = "missing id",
	     .json = "{\"name\":\"n1x\",\"bitMaskData\":\"0x1\","
		     "\"totSize\":7}",
	     .rc = -EIO},
	    {.name = "array for object",
	     .json = "[" TAG_OBJ("") "]",
	     .rc = -EIO},
	    {.name = "truncated",
	     .json = "{\"id\":\"" TAG "\",\"name\":\"ni",
	     .rc = -EIO},
	    {.name = "string createdAt",
	     .json = TAG_OBJ(",\"lastModifiedAt\":\"x\""),
	     .rc = -EIO},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_tag t;
		int rc;

		capture_reset();
		rc = api_decode_tag(cases[i].json, strlen(cases[i].json), &t);
		if (rc != cases[i].rc)
			fprintf(stderr, "case \"%s\"\n", cases[i].name);
		CHECK_INT(rc, cases[i].rc);
		if (rc) {
			CHECK(t.name == NULL && t.bitmask == NULL);
			CHECK_INT(cap.warns, 1);
			continue;
		}
		CHECK_INT(cap.warns, 0);
		CHECK_STR(t.id, TAG);
		CHECK_STR(t.prev_tag_id, cases[i].prev);
		CHECK(t.name && t.name[0]);
		CHECK(t.bitmask && !strncmp(t.bitmask, "0x", 2));
		CHECK_INT(t.tot_size, cases[i].tot);
		CHECK_INT(t.created_at, cases[i].created);
		CHECK_INT(t.last_modified_at, cases[i].modified);
		api_tag_dispose(&t);
	}
}

static void test_decode_tags(void)
{
	static const struct {
		const char *name;
		const char *json;
		int rc;
		size_t n;
	} cases[] = {
	    {"two tags",
	     "[" TAG_OBJ(
		 ",\"prevTagId\":null") ","
					"{\"id\":\"" TAG2
					"\",\"prevTagId\":\"" TAG "\","
					"\"name\":\"night-blurry\","
					"\"bitMaskData\":\"0x1\","
					"\"totSize\":7,\"createdAt\":5}]",
	     0, 2},
	    {"empty", "[]", 0, 0},
	    {"object for array", TAG_OBJ(""), -EIO, 0},
	    {"null", "null", -EIO, 0},
	    {"second tag bad", "[" TAG_OBJ("") ",{\"id\":\"" TAG2 "\"}]", -EIO,
	     0},
	    {"truncated", "[" TAG_OBJ(""), -EIO, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_tag *v = NULL;
		size_t n = 99;
		int rc;

		capture_reset();
		rc = api_decode_tags(cases[i].json, strlen(cases[i].json), &v,
				     &n);
		if (rc != cases[i].rc)
			fprintf(stderr, "case \"%s\"\n", cases[i].name);
		CHECK_INT(rc, cases[i].rc);
		CHECK_INT(n, cases[i].n);
		CHECK_INT(cap.warns, rc ? 1 : 0);
		if (!rc && n == 2) {
			CHECK_STR(v[0].prev_tag_id, "");
			CHECK_STR(v[1].prev_tag_id, TAG);
			CHECK_STR(v[1].name, "night-blurry");
			CHECK_INT(v[1].last_modified_at, 5);
		}
		if (rc)
			CHECK(v == NULL);
		api_tags_free(v, n);
	}
}

/* --- names --- */

static void test_decode_names(void)
{
	static const struct {
		const char *name;
		const char *json;
		int rc;
		size_t count;
		const char *joined;
	} cases[] = {
	    {"plain", "[\"a.jpg\",\"dir/b.png\",\"c\"]", 0, 3,
	     "a.jpg|dir/b.png|c"},
	    {"empty", "[]", 0, 0, ""},
	    {"escapes", "[\"caf\\u00e9.jpg\",\"a\\/b.jpg\",\"q\\\"t\"]", 0, 3,
	     "caf\xc3\xa9.jpg|a/b.jpg|q\"t"},
	    {"surrogate pair", "[\"\\ud83d\\ude00.png\"]", 0, 1,
	     "\xf0\x9f\x98\x80.png"},
	    {"raw UTF-8", "[\"\xc3\xa9t\xc3\xa9.jpg\"]", 0, 1,
	     "\xc3\xa9t\xc3\xa9.jpg"},
	    /* delivered whole (the join stops at the NUL); the index
	     * then hides the name */
	    {"embedded NUL", "[\"ab\\u0000cd\"]", 0, 1, "ab"},
	    {"whitespace", " [ \"a\" ,\n\t\"b\" ] \n", 0, 2, "a|b"},
	    {"all short escapes", "[\"\\b\\f\\n\\r\\t\\\\\"]", 0, 1,
	     "\b\f\n\r\t\\"},
	    {"raw control character", "[\"a\tb\"]", -EIO, 0, ""},
	    {"trailing comma", "[\"a\",]", -EIO, 0, ""},
	    {"trailing garbage", "[\"a\"] x", -EIO, 0, ""},
	    {"nested array", "[[\"a\"]]", -EIO, 0, ""},
	    {"bad escape", "[\"\\x41\"]", -EIO, 0, ""},
	    {"short \\u", "[\"\\u12\"]", -EIO, 0, ""},
	    {"lone low surrogate", "[\"\\udc00\"]", -EIO, 0, ""},
	    {"missing comma", "[\"a\" \"b\"]", -EIO, 0, ""},
	    {"empty body", "", -EIO, 0, ""},
	    {"number element", "[\"a\",1]", -EIO, 0, ""},
	    {"null element", "[null]", -EIO, 0, ""},
	    {"object for array", "{\"a\":\"b\"}", -EIO, 0, ""},
	    {"string for array", "\"a\"", -EIO, 0, ""},
	    {"truncated", "[\"a\",\"b", -EIO, 0, ""},
	    {"lone surrogate", "[\"\\ud83d\"]", -EIO, 0, ""},
	};
	struct joined j;
	size_t i, count;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		capture_reset();
		count = 99;
		rc = decode_names_str(cases[i].json, &j, &count);
		if (rc != cases[i].rc)
			fprintf(stderr, "case \"%s\"\n", cases[i].name);
		CHECK_INT(rc, cases[i].rc);
		CHECK_INT(count, cases[i].count);
		CHECK_STR(j.buf, cases[i].joined);
		/* a bad page delivers no name at all */
		CHECK_INT(j.calls, cases[i].count);
		CHECK_INT(cap.warns, rc ? 1 : 0);
	}

	/* the callback can stop the decoding; its code comes back */
	memset(&j, 0, sizeof(j));
	j.stop_after = 2;
	CHECK_INT(
	    api_decode_names("[\"a\",\"b\",\"c\"]", 13, join_cb, &j, &count),
	    -EINTR);
	CHECK_INT(j.calls, 2);
	CHECK_STR(j.buf, "a|b");

	/* NULL callback only counts */
	CHECK_INT(api_decode_names("[\"a\",\"b\"]", 9, NULL, NULL, &count), 0);
	CHECK_INT(count, 2);

	/* len is honoured: the bytes after it are not parsed */
	memset(&j, 0, sizeof(j));
	CHECK_INT(api_decode_names("[\"a\"]garbage", 5, join_cb, &j, &count),
		  0);
	CHECK_STR(j.buf, "a");
}

/* --- create and error --- */

static void test_decode_create(void)
{
	static const struct {
		const char *json;
		int rc;
	} cases[] = {
	    {"{\"id\":\"" TAG "\"}", 0},
	    {"{\"id\":\"" TAG "\",\"other\":1}", 0},
	    {"{\"id\":5}", -EIO},
	    {"{\"id\":\"xyz\"}", -EIO},
	    {"{}", -EIO},
	    {"[\"" TAG "\"]", -EIO},
	    {"{\"id\":\"" TAG "\"", -EIO},
	    {"", -EIO},
	};
	char id[API_ID_LEN + 1];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		capture_reset();
		CHECK_INT(
		    api_decode_create(cases[i].json, strlen(cases[i].json), id),
		    cases[i].rc);
		if (cases[i].rc == 0)
			CHECK_STR(id, TAG);
		else
			CHECK_STR(id, "");
	}
}

static void test_decode_error(void)
{
	static const struct {
		const char *name;
		const char *json;
		const char *code, *msg;
	} cases[] = {
	    {"current shape",
	     "{\"code\":\"TAG_NAME_EXISTS\",\"error\":\"name taken\","
	     "\"requestId\":\"abc123\"}",
	     "TAG_NAME_EXISTS", "name taken"},
	    {"1.2.x shape",
	     "{\"code\":\"TAG_UNKNOWN\",\"message\":\"no such tag\"}",
	     "TAG_UNKNOWN", "no such tag"},
	    {"error wins over message",
	     "{\"code\":\"X\",\"message\":\"m\",\"error\":\"e\"}", "X", "e"},
	    {"wrong types", "{\"code\":404,\"error\":[\"x\"]}", "", ""},
	    {"not JSON", "Bad Gateway", "", ""},
	    {"array", "[\"TAG_UNKNOWN\"]", "", ""},
	    {"empty", "", "", ""},
	    {"truncated", "{\"code\":\"TAG_UN", "", ""},
	};
	char code[32], msg[32], small[8];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		capture_reset();
		memset(code, 'x', sizeof(code));
		memset(msg, 'x', sizeof(msg));
		api_decode_error(cases[i].json, strlen(cases[i].json), code,
				 sizeof(code), msg, sizeof(msg));
		CHECK_STR(code, cases[i].code);
		CHECK_STR(msg, cases[i].msg);
		/* never fails, never logs */
		CHECK_INT(cap.lines, 0);
	}

	/* truncated to the buffer, NUL-terminated */
	api_decode_error("{\"code\":\"C\",\"error\":\"a long message\"}", 37,
			 code, sizeof(code), small, sizeof(small));
	CHECK_STR(small, "a long ");
	api_decode_error(NULL, 0, code, sizeof(code), msg, sizeof(msg));
	CHECK_STR(code, "");
}

/* --- malformed bodies are logged once and briefly --- */

static void test_log_excerpt_is_short(void)
{
	size_t n = 100000, i;
	char *body = malloc(n + 1);
	struct api_tag t;

	if (!body) {
		CHECK(0);
		return;
	}
	body[0] = '{';
	for (i = 1; i < n; i++)
		body[i] = 'x';
	body[n] = '\0';
	capture_reset();
	CHECK_INT(api_decode_tag(body, n, &t), -EIO);
	CHECK_INT(cap.warns, 1);
	CHECK(cap.longest < 300);
	free(body);
}

/* --- http_errno --- */

static void test_http_errno(void)
{
	static const struct {
		long status;
		const char *code;
		int err;
	} cases[] = {
	    {200, NULL, 0},
	    {201, NULL, 0},
	    {204, NULL, 0},
	    {299, NULL, 0},
	    {400, NULL, -EINVAL},
	    {401, NULL, -EACCES},
	    {403, NULL, -EACCES},
	    {404, NULL, -ENOENT},
	    {408, NULL, -ETIMEDOUT},
	    {409, NULL, -EEXIST},
	    {429, NULL, -EAGAIN},
	    {500, NULL, -EIO},
	    {502, NULL, -EIO},
	    {503, NULL, -EIO},
	    {504, NULL, -EIO},
	    {599, NULL, -EIO},
	    {0, NULL, -EIO},
	    {100, NULL, -EIO},
	    {302, NULL, -EIO},
	    {418, NULL, -EPROTO}, /* a 4xx is a refusal, not -EIO */
	    /* the Lightly code wins over the status */
	    {400, "TAG_NAME_EXISTS", -EEXIST},
	    {409, "TAG_NAME_EXISTS", -EEXIST},
	    {400, "TAG_INITIAL_EXISTS", -EEXIST},
	    {400, "SAMPLE_FILENAME_EXISTS", -EEXIST},
	    {400, "TAG_UNDELETABLE_NOT_A_LEAF", -EBUSY},
	    {400, "TAG_UNDELETABLE_IS_INITIAL", -EBUSY},
	    {400, "DATASET_UNKNOWN", -ENOENT},
	    {404, "TAG_UNKNOWN", -ENOENT},
	    {403, "UNAUTHORIZED", -EACCES},
	    {401, "JWT_INVALID", -EACCES},
	    {400, "MALFORMED_REQUEST", -EINVAL},
	    {400, "BAD_REQUEST", -EINVAL},
	    {400, "TAG_NO_TAG_IN_DATASET", -EINVAL},
	    {400, "TAG_PREVTAG_NOT_IN_DATASET", -EINVAL},
	    {500, "TAG_UNKNOWN", -ENOENT},
	    /* unknown codes fall back to the status */
	    {404, "SOMETHING_NEW", -ENOENT},
	    {429, "", -EAGAIN},
	    {503, "tag_unknown", -EIO}, /* codes are case-sensitive */
	    /* http.h: a 2xx status gives 0 */
	    {200, "TAG_UNKNOWN", 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err = http_errno(cases[i].status, cases[i].code);

		if (err != cases[i].err)
			fprintf(stderr, "case %ld %s\n", cases[i].status,
				cases[i].code ? cases[i].code : "(null)");
		CHECK_INT(err, cases[i].err);
	}
}

/* --- http_escape --- */

static void test_http_escape(void)
{
	static const struct {
		const char *prefix, *in;
		size_t outsz;
		int rc;
		const char *out;
	} cases[] = {
	    {"", "abcXYZ019-._~", 64, 0, "abcXYZ019-._~"},
	    {"", "a b/c?d&e=f+g%", 64, 0, "a%20b%2Fc%3Fd%26e%3Df%2Bg%25"},
	    {"", "\xc3\xa9", 64, 0, "%C3%A9"},
	    {"token=", "t&k", 64, 0, "token=t%26k"},
	    {"", "", 1, 0, ""},
	    {"", "abc", 4, 0, "abc"},
	    {"", "abcd", 4, -ENAMETOOLONG, ""},
	    {"", "a/", 4, -ENAMETOOLONG, ""},
	    {"", "a/", 5, 0, "a%2F"},
	    {"p=", "abc", 5, -ENAMETOOLONG, "p="},
	};
	char out[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(out, sizeof(out), "%s", cases[i].prefix);
		CHECK_INT(http_escape(cases[i].in, out, cases[i].outsz),
			  cases[i].rc);
		CHECK_STR(out, cases[i].out);
	}
}

/* --- validators --- */

static void test_id_valid(void)
{
	static const struct {
		const char *s;
		int ok;
	} cases[] = {
	    {"5f0000000000000000000001", 1},
	    {"0123456789abcdef01234567", 1},
	    {"5F0000000000000000000001", 0},
	    {"5f000000000000000000001", 0},
	    {"5f00000000000000000000011", 0},
	    {"5f000000000000000000000g", 0},
	    {"5f00000000000000000000 1", 0},
	    {"", 0},
	    {NULL, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_INT(api_id_valid(cases[i].s), cases[i].ok);
}

static void test_tag_name_valid(void)
{
	static const struct {
		const char *s;
		int ok;
	} cases[] = {
	    {"abc", 1},	  {"night-blurry", 1}, {"a.b:c;d=e@f_g h", 1},
	    {"0ab", 1},	  {"Z__", 1},	       {"initial-tag", 1},
	    {"ab", 0},	  {".abc", 0},	       {"a/b", 0},
	    {"a+b", 0},	  {"-abc", 0},	       {"", 0},
	    {" abc", 0},  {"_abc", 0},	       {"ab&c", 0},
	    {"ab~c", 0},  {"ab|c", 0},	       {"ab!c", 0},
	    {"ab,c", 0},  {"ab(c)", 0},	       {"ab\tc", 0},
	    {"ab\nc", 0}, {"caf\xc3\xa9", 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ok = api_tag_name_valid(cases[i].s, strlen(cases[i].s));

		if (ok != cases[i].ok)
			fprintf(stderr, "case \"%s\"\n", cases[i].s);
		CHECK_INT(ok, cases[i].ok);
	}
	/* the length is the caller's: an embedded NUL is not a name char */
	CHECK_INT(api_tag_name_valid("abc\0def", 7), 0);
	CHECK_INT(api_tag_name_valid("abcdef", 3), 1);
	CHECK_INT(api_tag_name_valid(NULL, 3), 0);
}

/* --- log --- */

static void test_log(void)
{
	enum log_level old = log_get_level();

	capture_reset();
	log_set_level(LOG_INFO);
	log_debug("hidden %d", 1);
	CHECK_INT(cap.lines, 0);
	log_warn("shown %d", 2);
	CHECK_INT(cap.warns, 1);
	CHECK_STR(cap.last, "shown 2");

	/* one line per message, whatever a server put in its text */
	log_error("a\nb\rc\td");
	CHECK_STR(cap.last, "a?b?c d");

	/* long messages are cut, not overflowing */
	{
		char big[5000];

		memset(big, 'y', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		log_info("%s", big);
		CHECK(cap.longest < 4096);
		CHECK(strstr(cap.last, "...") != NULL);
	}

	/* errno survives logging */
	errno = EAGAIN;
	log_info("x");
	CHECK_INT(errno, EAGAIN);

	log_set_level((enum log_level)99);
	CHECK_INT(log_get_level(), LOG_DEBUG);
	log_set_level(old);
}

/* --- speed of one 100,000-name mappings page --- */

static int count_cb(const char *name, size_t len, void *arg)
{
	size_t *total = arg;

	(void)name;
	*total += len;
	return 0;
}

static void test_names_speed(void)
{
	size_t n = API_MAPPINGS_PAGE, i, off = 0, cap_sz, count = 0, total = 0;
	struct timespec t0, t1;
	char *body;
	double ms;

	cap_sz = n * 64 + 16;
	body = malloc(cap_sz);
	if (!body) {
		CHECK(0);
		return;
	}
	body[off++] = '[';
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(body + off, cap_sz - off,
					"%s\"train/class_%03zu/img_%08zu.jpg\"",
					i ? "," : "", i % 1000, i);
	body[off++] = ']';
	body[off] = '\0';

	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(api_decode_names(body, off, count_cb, &total, &count), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_INT(count, n);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	fprintf(stderr, "decoded %zu names (%zu bytes) in %.1f ms\n", count,
		off, ms);
	free(body);
}

/* SampleData: the id, metaData.sizeInBytes when it is a whole number >= 0
 * (else -1: learnt at open), lastModifiedAt falling back to createdAt. */
static void test_decode_samples(void)
{
	static const char body[] =
	    "[{\"id\":\"5f0000000000000000000001\",\"fileName\":\"a.png\","
	    "\"createdAt\":5,\"lastModifiedAt\":7,"
	    "\"metaData\":{\"sizeInBytes\":1234,\"shape\":[1,2,3]}},"
	    "{\"id\":\"5f0000000000000000000002\",\"createdAt\":9},"
	    "{\"id\":\"5f0000000000000000000003\","
	    "\"metaData\":{\"sizeInBytes\":-4}},"
	    "{\"id\":\"5f0000000000000000000004\","
	    "\"metaData\":{\"sizeInBytes\":\"12\"}}]";
	struct api_sample *v = NULL;
	size_t n = 0;
	char *url = NULL;

	CHECK_INT(api_decode_samples(body, strlen(body), &v, &n), 0);
	CHECK_INT(n, 4);
	if (n == 4) {
		CHECK(!strcmp(v[0].id, "5f0000000000000000000001"));
		CHECK_INT(v[0].size, 1234);
		CHECK_INT(v[0].last_modified_at, 7);
		CHECK_INT(v[1].size, -1);
		CHECK_INT(v[1].last_modified_at, 9);
		CHECK_INT(v[2].size, -1);
		CHECK_INT(v[3].size, -1);
	}
	free(v);
	CHECK_INT(api_decode_samples("[{\"fileName\":\"x\"}]", 18, &v, &n),
		  -EIO);
	CHECK(v == NULL);
	CHECK_INT(api_decode_samples("{}", 2, &v, &n), -EIO);

	/* a read URL: a JSON string or plain text, http(s) only */
	CHECK_INT(api_decode_readurl("\"https://s3/x?sig=1\"", 20, &url), 0);
	CHECK(url && !strcmp(url, "https://s3/x?sig=1"));
	free(url);
	CHECK_INT(api_decode_readurl("http://h/b\n", 11, &url), 0);
	CHECK(url && !strcmp(url, "http://h/b"));
	free(url);
	CHECK_INT(api_decode_readurl("\"file:///etc/passwd\"", 20, &url), -EIO);
	CHECK(url == NULL);
	CHECK_INT(api_decode_readurl("", 0, &url), -EIO);

	/* filenamesAndReadUrls: names and http(s) URLs, in order */
	{
		static const char ok[] =
		    "[{\"fileName\":\"a/b.jpg\",\"readUrl\":\"https://s/1\"},"
		    "{\"fileName\":\"c.png\",\"readUrl\":\"http://s/2\","
		    "\"extra\":1}]";
		static const char bad[] =
		    "[{\"fileName\":\"a\",\"readUrl\":\"https://s/1\"},"
		    "{\"fileName\":\"b\",\"readUrl\":\"s3://b/x\"}]";
		struct api_read_url *r = NULL;
		size_t nr = 9;

		CHECK_INT(api_decode_read_urls(ok, sizeof(ok) - 1, &r, &nr), 0);
		CHECK_INT(nr, 2);
		if (r && nr == 2) {
			CHECK_STR(r[0].name, "a/b.jpg");
			CHECK_STR(r[0].url, "https://s/1");
			CHECK_STR(r[1].name, "c.png");
			CHECK_STR(r[1].url, "http://s/2");
		}
		api_read_urls_free(r, nr);
		CHECK_INT(api_decode_read_urls(bad, sizeof(bad) - 1, &r, &nr),
			  -EIO);
		CHECK(r == NULL);
		CHECK_INT(nr, 0);
		CHECK_INT(
		    api_decode_read_urls("[{\"fileName\":\"a\"}]", 16, &r, &nr),
		    -EIO);
		CHECK_INT(api_decode_read_urls("[]", 2, &r, &nr), 0);
		CHECK_INT(nr, 0);
		api_read_urls_free(r, nr);
	}
}

/* A tag's history: mounts' stamps read back with the samples they list
 * (from the entry asked for on), everyone else's entries unstamped, and
 * a server that keeps no array said apart. */
static void test_decode_tag_history(void)
{
	const char *body =
	    "{\"id\":\"" TAG "\",\"changes\":["
	    "{\"userId\":\"u\",\"ts\":1,\"changes\":{\"bitMaskData\":"
	    "{\"added\":1,\"removed\":0}}},"
	    "{\"userId\":\"u\",\"ts\":2,\"changes\":{\"lightlyfs\":"
	    "{\"writer\":\"00000000000000a1\",\"seq\":7,\"base\":1,"
	    "\"added\":[3,5],\"removed\":[0]}}},"
	    "{\"userId\":\"u\",\"ts\":3,\"changes\":{\"lightlyfs\":"
	    "{\"writer\":\"short\",\"seq\":1,\"base\":0}}},"
	    "{\"changes\":{\"lightlyfs\":{\"writer\":\"00000000000000b2\","
	    "\"seq\":8,\"base\":2,\"added\":[\"x\"],\"removed\":[]}}}]}";
	struct api_change *h = NULL;
	size_t n = 0;

	CHECK_INT(api_decode_tag_history(body, strlen(body), 0, NULL, &h, &n),
		  0);
	CHECK_INT((int)n, 4);
	CHECK(!h[0].stamped);
	CHECK(h[1].stamped && h[1].stamp.seq == 7 && h[1].stamp.base == 1);
	CHECK(!strcmp(h[1].stamp.writer, "00000000000000a1"));
	CHECK(h[1].stamp.listed && h[1].stamp.added == 2 &&
	      h[1].stamp.add_idx[1] == 5 && h[1].stamp.removed == 1 &&
	      h[1].stamp.rem_idx[0] == 0);
	CHECK(!h[2].stamped); /* a writer id of the wrong length */
	/* stamped, but a list it cannot read: not to be redone from */
	CHECK(h[3].stamped && !h[3].stamp.listed);
	api_history_free(h, n);

	/* lists only from entry 2 on: entry 1's are not read */
	CHECK_INT(api_decode_tag_history(body, strlen(body), 2, NULL, &h, &n),
		  0);
	CHECK(h[1].stamped && !h[1].stamp.listed && !h[1].stamp.add_idx);
	api_history_free(h, n);

	/* the tag itself from the same parse, with a history or without */
	{
		const char *with = TAG_OBJ(",\"changes\":[{\"ts\":1}]");
		const char *old = TAG_OBJ(",\"changes\":{}");
		struct api_tag t;

		CHECK_INT(
		    api_decode_tag_history(with, strlen(with), 0, &t, &h, &n),
		    0);
		CHECK(n == 1 && !h[0].stamped && !strcmp(t.id, TAG) &&
		      !strcmp(t.bitmask, "0x59") && !strcmp(t.name, "night"));
		api_tag_dispose(&t);
		api_history_free(h, n);
		CHECK_INT(
		    api_decode_tag_history(old, strlen(old), 0, &t, &h, &n),
		    -ENODATA);
		CHECK(!strcmp(t.id, TAG) && !h);
		api_tag_dispose(&t);
	}

	body = "{\"id\":\"" TAG "\",\"changes\":{}}";
	CHECK_INT(api_decode_tag_history(body, strlen(body), 0, NULL, &h, &n),
		  -ENODATA);
	CHECK(!h && n == 0);
	body = "{\"id\":\"" TAG "\",\"changes\":[]}";
	CHECK_INT(api_decode_tag_history(body, strlen(body), 0, NULL, &h, &n),
		  0);
	CHECK(n == 0);
	api_history_free(h, n);
}

int main(void)
{
	log_set_sink(capture_sink, &cap);

	test_decode_datasets();
	test_decode_dataset();
	test_decode_tag();
	test_decode_tags();
	test_decode_tag_history();
	test_decode_names();
	test_decode_create();
	test_decode_error();
	test_decode_samples();
	test_log_excerpt_is_short();
	test_http_errno();
	test_http_escape();
	test_id_valid();
	test_tag_name_valid();
	test_log();
	test_names_speed();

	log_set_sink(NULL, NULL);
	return CHECK_DONE();
}

/* libFuzzer target for the api decoders (api_json.c, api_names.c): every
 * one of them (datasets, dataset, tags, tag, names, create, error) gets a
 * NUL-terminated copy of the input, as http.c hands bodies over.  Checked
 * besides memory safety: what a decoder returns is what api.h promises (0 or
 * -EIO, valid ids, strings present, names counted), and a failure leaves
 * nothing behind. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "bitmask.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__,     \
				#cond);                                        \
			abort();                                               \
		}                                                              \
	} while (0)

/* Formats every line (so the excerpt code runs) and drops it. */
static void quiet_sink(enum log_level level, const char *line, void *arg)
{
	size_t *n = arg;

	(void)level;
	*n += strlen(line);
}

static size_t log_bytes;

struct names {
	size_t calls;
	size_t stop_at; /* 0: never */
	uint64_t sum;
};

static int names_cb(const char *name, size_t len, void *arg)
{
	struct names *n = arg;
	size_t i;

	/* read every byte, so a short buffer shows */
	for (i = 0; i < len; i++)
		n->sum += (unsigned char)name[i];
	n->calls++;
	if (n->stop_at && n->calls == n->stop_at)
		return -EINTR;
	return 0;
}

static void check_dataset(const struct api_dataset *d)
{
	FUZZ_CHECK(api_id_valid(d->id));
	FUZZ_CHECK(d->name != NULL);
	FUZZ_CHECK(d->json != NULL && d->json[0] == '{');
	FUZZ_CHECK(d->n_samples >= 0);
}

static void check_tag(const struct api_tag *t)
{
	struct bitmask bm;

	FUZZ_CHECK(api_id_valid(t->id));
	FUZZ_CHECK(t->prev_tag_id[0] == '\0' || api_id_valid(t->prev_tag_id));
	FUZZ_CHECK(t->name != NULL && t->bitmask != NULL);
	FUZZ_CHECK(t->tot_size >= 0);
	/* what fs.c does next with a tag: its mask, bounded by totSize
	 * (kept small here so the fuzzer does not allocate gigabytes) */
	if (t->tot_size <= (1 << 20)) {
		bitmask_from_hex(&bm, t->bitmask, strlen(t->bitmask),
				 (size_t)t->tot_size);
		bitmask_dispose(&bm);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_dataset *ds = NULL, one;
	struct api_tag *tags = NULL, tag;
	struct api_sample *smp = NULL;
	char *url = NULL;
	struct names nm = {0};
	char id[API_ID_LEN + 1];
	char code[16], msg[8];
	size_t n = 0, count = 0, i;
	char *body;
	int rc;

	log_set_sink(quiet_sink, &log_bytes);
	body = malloc(size + 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';

	rc = api_decode_datasets(body, size, &ds, &n);
	FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ENOMEM);
	if (rc)
		FUZZ_CHECK(ds == NULL && n == 0);
	for (i = 0; i < n; i++)
		check_dataset(&ds[i]);
	api_datasets_free(ds, n);

	rc = api_decode_dataset(body, size, &one);
	FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ENOMEM);
	if (rc == 0)
		check_dataset(&one);
	else
		FUZZ_CHECK(one.name == NULL && one.json == NULL);
	api_dataset_dispose(&one);

	rc = api_decode_tags(body, size, &tags, &n);
	FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ENOMEM);
	if (rc)
		FUZZ_CHECK(tags == NULL && n == 0);
	for (i = 0; i < n; i++)
		check_tag(&tags[i]);
	api_tags_free(tags, n);

	rc = api_decode_tag(body, size, &tag);
	FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ENOMEM);
	if (rc == 0)
		check_tag(&tag);
	else
		FUZZ_CHECK(tag.name == NULL && tag.bitmask == NULL);
	api_tag_dispose(&tag);

	rc = api_decode_names(body, size, names_cb, &nm, &count);
	FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ENOMEM);
	FUZZ_CHECK(nm.calls == count);
	if (rc)
		FUZZ_CHECK(count == 0);
	/* a callback that stops the decoding half way */
	if (count > 1) {
		memset(&nm, 0, sizeof(nm));
		nm.stop_at = count / 2;
		FUZZ_CHECK(api_decode_names(body, size, names_cb, &nm,
					    &count) == -EINTR);
		FUZZ_CHECK(nm.calls == nm.stop_at);
	}
	/* counting only */
	rc = api_decode_names(body, size, NULL, NULL, &count);
	FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ENOMEM);

	rc = api_decode_create(body, size, id);
	FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ENOMEM);
	FUZZ_CHECK(rc ? id[0] == '\0' : api_id_valid(id));

	rc = api_decode_samples(body, size, &smp, &n);
	FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ENOMEM);
	if (rc)
		FUZZ_CHECK(smp == NULL && n == 0);
	for (i = 0; i < n; i++)
		FUZZ_CHECK(api_id_valid(smp[i].id) && smp[i].size >= -1);
	free(smp);

	rc = api_decode_readurl(body, size, &url);
	FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ENOMEM);
	FUZZ_CHECK(
	    rc ? url == NULL
	       : (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8)));
	free(url);

	/* small buffers: truncated, always terminated */
	memset(code, 'x', sizeof(code));
	memset(msg, 'x', sizeof(msg));
	api_decode_error(body, size, code, sizeof(code), msg, sizeof(msg));
	FUZZ_CHECK(memchr(code, '\0', sizeof(code)) != NULL);
	FUZZ_CHECK(memchr(msg, '\0', sizeof(msg)) != NULL);

	free(body);
	return 0;
}

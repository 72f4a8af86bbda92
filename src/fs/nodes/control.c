/* Control and help files: DS/.lightly/upsize (write a tag name to call
 * upsize_tags_by_dataset_id) and the README in MOUNT/.lightly/ and
 * DS/.lightly/ that explains the layout where users look. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_ctx.h"
#include "log.h"
#include "node.h"
#include "refresh.h"

#define UPSIZE_NAME_MAX 255

static const char upsize_usage[] =
    "echo NAME > upsize: upsize the dataset's tags to the samples added "
    "since; the new samples go into a new tag NAME\n";

static const char readme[] =
    "lightlyfs: a Lightly account as files\n"
    "\n"
    "MOUNT/<dataset>/<tag>/<file>   a tag's samples; ln, cp, rm and mv edit "
    "the tag\n"
    "mkdir, rmdir, mv of DS/<tag>   make, delete and rename tags\n"
    "DS/A+B  DS/'A&B'  DS/A~B       samples in A or B, in both, in A but "
    "not B\n"
    "                               (looked up, never listed; quote &; mv "
    "one\n"
    "                               to DS/NEW saves it as the tag NEW)\n"
    "DS/.lightly/dataset.json       the dataset as the API returns it\n"
    "DS/.lightly/tags/<tag>.json    a tag as the API returns it\n"
    "DS/.lightly/exports/           the tag exported, opened by name, never "
    "listed\n"
    "                               (a walk fetches none):\n"
    "  <tag>.labelstudio.json       LabelStudio tasks\n"
    "  <tag>.labelbox.json          LabelBox data rows\n"
    "  <tag>.labelboxv4.json        LabelBox v4 data rows\n"
    "  <tag>.sama.json              Sama tasks\n"
    "  <tag>.filenames.txt          the samples' file names, one a line\n"
    "  <tag>.readurls.txt           a link to each image (no token needed)\n"
    "  <tag>.datasource-urls.txt    each image in its datasource (s3://, "
    "gs://)\n"
    "  <tag>.zip                    the tag's images in one zip (streamed to "
    "cache_dir)\n"
    "DS/.lightly/trash/<tag>/       tags deleted through the mount; mv one "
    "back\n"
    "DS/.lightly/upsize             echo NAME > upsize adds the new "
    "samples as tag NAME\n"
    "DS/.lightly/warmup             the control file of lightlyfs warmup "
    "PATH\n"
    "MOUNT/.lightly/stats           the daemon's counters\n"
    "\n"
    "Edits reach the server after 300 ms, or at once on fsync; see "
    "lightlyfs --help.\n";

static int control_check(struct fs *fs, struct inode_ref *r)
{
	struct dataset *d;

	if (r->kind == INODE_KIND_ROOT_README)
		return 0;
	return node_check_dataset(fs, r, &d);
}

static int text_fill(const char *text, char **data, size_t *len)
{
	*len = strlen(text);
	*data = strdup(text);
	return *data ? 0 : -ENOMEM;
}

static void readme_stat(struct fs *fs, const struct inode_ref *r,
			struct stat *st)
{
	node_stat_file(fs, st, r, 0444, strlen(readme), fs->model.mount_time);
}

static int readme_fill(struct fs *fs, const struct inode_ref *r, char **data,
		       size_t *len)
{
	(void)fs, (void)r;
	return text_fill(readme, data, len);
}

const struct node_ops node_readme_ops = {
    .check = control_check,
    .stat = readme_stat,
    .open = node_buffer_open,
    .read = node_buffer_read,
    .release = node_buffer_release,
    .fill = readme_fill,
};

static void upsize_stat(struct fs *fs, const struct inode_ref *r,
			struct stat *st)
{
	node_stat_file(fs, st, r, 0644, strlen(upsize_usage),
		       fs->model.mount_time);
}

static int upsize_fill(struct fs *fs, const struct inode_ref *r, char **data,
		       size_t *len)
{
	(void)fs, (void)r;
	return text_fill(upsize_usage, data, len);
}

struct upsize_job {
	struct api *api;
	char ds_id[API_ID_LEN + 1];
	char name[UPSIZE_NAME_MAX + 1];
	char id[API_ID_LEN + 1];
};

static int upsize_fetch(void *arg)
{
	struct upsize_job *j = arg;

	return api_upsize_tags(j->api, j->ds_id, j->name, j->id);
}

/* One name per write, as echo sends it (a trailing newline is not part of
 * it).  The new tag and the grown dataset show at once.  Lock held. */
static int upsize_send(struct fs *fs, const struct inode_ref *r,
		       const char *buf, size_t len, off_t off)
{
	struct dataset *d = model_dataset(&fs->model, r->ds);
	struct upsize_job j = {.api = fs->api};
	size_t n = len;
	int ret;

	(void)off;
	while (n && isspace((unsigned char)buf[n - 1]))
		n--;
	if (!n || n > UPSIZE_NAME_MAX || memchr(buf, '\0', n))
		return -EINVAL;
	memcpy(j.name, buf, n);
	j.name[n] = '\0';
	if (!api_tag_name_valid(j.name, n))
		return -EINVAL;
	memcpy(j.ds_id, d->id, sizeof(j.ds_id));
	ret = cache_unlocked(&fs->cache, upsize_fetch, &j);
	if (ret)
		return ret;
	log_info("dataset %s: upsized; the new samples are in tag %s", d->id,
		 j.name);
	/* the dataset grew: its size, its tags and then the names past the
	 * known ones */
	cache_expire(&fs->model.ds_load);
	ret = refresh_datasets(fs);
	if (!ret && d->live)
		ret = refresh_tags_now(fs, d);
	return ret ? ret : (int)len;
}

static int upsize_write(struct fs *fs, struct node_file *f, const char *buf,
			size_t len, off_t off)
{
	struct inode_ref r;
	int ret = node_file_enter(fs, f, &r);

	if (ret)
		return ret;
	return node_leave(fs, upsize_send(fs, &r, buf, len, off));
}

const struct node_ops node_meta_upsize_ops = {
    .check = control_check,
    .stat = upsize_stat,
    .open = node_buffer_open,
    .read = node_buffer_read,
    .release = node_buffer_release,
    .fill = upsize_fill,
    .write = upsize_write,
};

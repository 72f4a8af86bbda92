/* The trash of deleted tags (trash.h): one small text file per tag under
 * STATE/trash/<dataset id>/<tag id>.trash, written before the delete is
 * sent, so a tag the server has deleted is never only in memory. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "fs_ctx.h"
#include "index.h"
#include "log.h"
#include "notify.h"
#include "refresh.h"
#include "trash.h"

#define TRASH_HEADER "lightlyfs-trash 1"
#define TRASH_DAY_MS (86400LL * 1000)
#define TRASH_LINE_MAX 65536

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* STATE/trash/<ds>[/<tag>.trash]; malloc'd. */
static char *trash_path(const struct fs *fs, const char *ds, const char *tag)
{
	char *p = NULL;
	int n =
	    tag ? asprintf(&p, "%s/trash/%s/%s.trash", fs->state_dir, ds, tag)
		: asprintf(&p, "%s/trash/%s", fs->state_dir, ds);

	return n < 0 ? NULL : p;
}

static int mkdirs(const struct fs *fs, const char *ds)
{
	char *p = NULL;
	int ret = 0;

	if (asprintf(&p, "%s/trash", fs->state_dir) < 0)
		return -ENOMEM;
	if (mkdir(fs->state_dir, 0700) && errno != EEXIST)
		ret = -errno;
	if (!ret && mkdir(p, 0700) && errno != EEXIST)
		ret = -errno;
	free(p);
	p = trash_path(fs, ds, NULL);
	if (!ret && (!p || (mkdir(p, 0700) && errno != EEXIST)))
		ret = p ? -errno : -ENOMEM;
	free(p);
	return ret;
}

static int write_entry(const char *path, const struct tag *t, int64_t deleted,
		       const char *hex)
{
	char *tmp = NULL;
	FILE *f;
	int ret = 0;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	f = fopen(tmp, "wx");
	if (!f) {
		ret = -errno;
		goto out;
	}
	fprintf(f, "%s\nname=%s\nprev=%s\ndeleted=%" PRId64 "\nmask=%s\n",
		TRASH_HEADER, t->name, t->prev, deleted, hex);
	if (fflush(f) || fdatasync(fileno(f)))
		ret = -errno;
	if (fclose(f) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
out:
	free(tmp);
	return ret;
}

/* A trashed copy of t in the model, holding mask. */
static int add_entry(struct fs *fs, struct dataset *d, const char *id,
		     const char *name, const char *prev, int64_t deleted,
		     const struct bitmask *mask)
{
	struct tag *old = model_trash_by_name(d, name), *t;
	int ret;

	/* deleted twice: the newer one stays, whichever file is read first */
	if (old && old->deleted_ms > deleted)
		return 0;
	if (old)
		old->live = false;
	ret = model_add_trash(&fs->model, d, name, &t);
	if (ret)
		return ret;
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->prev, sizeof(t->prev), "%s", prev);
	t->deleted_ms = deleted;
	t->created_ms = t->modified_ms = deleted;
	t->mtime = model_ms_to_ts(deleted);
	return bitmask_copy(&t->mask, mask);
}

/* The kernel keeps a listing of the trash while the directory's mtime
 * (the dataset's) is unchanged, and trusts that mtime for the TTL: an
 * entry that comes or goes must move the mtime and tell the kernel, or ls
 * shows the old listing for up to a minute.  The names go too: a lookup
 * of NAME before the delete may have left a negative entry. */
static void trash_changed(struct fs *fs, struct dataset *d, const char *name)
{
	char json[INDEX_NAME_MAX + sizeof(".json")];
	uint64_t ino = model_trash_ino(d);

	d->mtime = model_stamp(&fs->model);
	notify_push(&fs->notify, ino, 0, name);
	if (snprintf(json, sizeof(json), "%s.json", name) <= INDEX_NAME_MAX)
		notify_push(&fs->notify, ino, 0, json);
	notify_push(&fs->notify, 0, ino, NULL);
}

int trash_save(struct fs *fs, struct dataset *d, const struct tag *t)
{
	/* rm -r emptied it just now: the server still had the samples */
	const struct bitmask *m =
	    t->edit.dirty ? &t->edit.server_mask : &t->mask;
	int64_t deleted = now_ms();
	char *path, *hex = NULL;
	int ret = trash_load(fs, d);

	if (ret)
		return ret;
	path = trash_path(fs, d->id, t->id);
	ret = path ? mkdirs(fs, d->id) : -ENOMEM;
	if (!ret)
		ret = bitmask_to_hex(m, &hex);
	if (!ret)
		ret = write_entry(path, t, deleted, hex);
	if (!ret)
		ret = add_entry(fs, d, t->id, t->name, t->prev, deleted, m);
	if (!ret)
		trash_changed(fs, d, t->name);
	if (ret)
		log_error("tag %s: cannot keep it in the trash (%s)", t->name,
			  strerror(-ret));
	free(hex);
	free(path);
	return ret;
}

/* "key=value" of line into *val (points into line). */
static const char *value_of(char *line, const char *key)
{
	size_t n = strlen(key);

	line[strcspn(line, "\n")] = '\0';
	if (strncmp(line, key, n) || line[n] != '=')
		return NULL;
	return line + n + 1;
}

static int load_entry(struct fs *fs, struct dataset *d, const char *path,
		      const char *id)
{
	char name[256] = "", prev[API_ID_LEN + 1] = "", *hex = NULL;
	char *line = malloc(TRASH_LINE_MAX);
	struct bitmask m = {0};
	int64_t deleted = -1;
	FILE *f = fopen(path, "r");
	int ret = -EIO;
	const char *v;

	if (!f || !line)
		goto out;
	if (!fgets(line, TRASH_LINE_MAX, f) || strncmp(line, TRASH_HEADER, 17))
		goto out;
	while (fgets(line, TRASH_LINE_MAX, f)) {
		if ((v = value_of(line, "name")))
			snprintf(name, sizeof(name), "%s", v);
		else if ((v = value_of(line, "prev")))
			snprintf(prev, sizeof(prev), "%s", v);
		else if ((v = value_of(line, "deleted")))
			deleted = strtoll(v, NULL, 10);
		else if ((v = value_of(line, "mask")) && !hex)
			hex = strdup(v);
	}
	if (!name[0] || deleted < 0 || !hex ||
	    bitmask_from_hex(&m, hex, strlen(hex), strlen(hex) * 4))
		goto out;
	ret = 0;
	if (now_ms() - deleted > (int64_t)(fs->trash_days * TRASH_DAY_MS))
		unlink(path); /* expired */
	else
		ret = add_entry(fs, d, id, name, prev, deleted, &m);
out:
	if (ret == -EIO)
		log_warn("trash %s: unreadable; left alone", path);
	if (f)
		fclose(f);
	bitmask_dispose(&m);
	free(hex);
	free(line);
	return ret == -ENOMEM ? ret : 0;
}

int trash_load(struct fs *fs, struct dataset *d)
{
	char *dir, *path;
	struct dirent *e;
	DIR *dh;
	int ret = 0;

	if (d->trash_loaded || !fs->state_dir)
		return 0;
	d->trash_loaded = true;
	dir = trash_path(fs, d->id, NULL);
	dh = dir ? opendir(dir) : NULL;
	while (dh && !ret && (e = readdir(dh))) {
		size_t n = strlen(e->d_name);

		if (n != API_ID_LEN + 6 ||
		    strcmp(e->d_name + API_ID_LEN, ".trash"))
			continue;
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
			return -ENOMEM;
		e->d_name[API_ID_LEN] = '\0';
		ret = load_entry(fs, d, path, e->d_name);
		free(path);
	}
	if (dh)
		closedir(dh);
	free(dir);
	return ret;
}

void trash_drop(struct fs *fs, struct dataset *d, const char *tag_id)
{
	char *path = trash_path(fs, d->id, tag_id);

	if (path)
		unlink(path);
	free(path);
	for (size_t i = 0; i < d->ntags; i++) {
		struct tag *t = d->tags[i];

		if (t->trashed && t->live && !strcmp(t->id, tag_id)) {
			t->live = false;
			trash_changed(fs, d, t->name);
		}
	}
}

struct restore_job {
	struct api *api;
	char ds_id[API_ID_LEN + 1], prev[API_ID_LEN + 1];
	char id[API_ID_LEN + 1];
	const char *name;
	char *hex;
	int64_t tot;
};

static int restore_fetch(void *arg)
{
	struct restore_job *j = arg;

	return api_create_tag(j->api, j->ds_id, j->name, j->prev, j->hex,
			      j->tot, j->id);
}

/* Its parent if the server still has it, else the initial tag. */
static const char *restore_parent(const struct dataset *d, const struct tag *t)
{
	const struct tag *init = model_initial_tag(d);

	for (size_t i = 0; i < d->ntags; i++)
		if (d->tags[i]->live && !d->tags[i]->trashed &&
		    !strcmp(d->tags[i]->id, t->prev))
			return t->prev;
	return init ? init->id : NULL;
}

int trash_restore(struct fs *fs, struct dataset *d, struct tag *t,
		  const char *newname)
{
	struct restore_job j = {.api = fs->api, .name = newname};
	const char *prev = restore_parent(d, t);
	char *path;
	int ret;

	if (!api_tag_name_valid(newname, strlen(newname)))
		return -EINVAL;
	if (model_tag_by_name(d, newname))
		return -EEXIST;
	if (!prev)
		return -ENOENT;
	memcpy(j.ds_id, d->id, sizeof(j.ds_id));
	snprintf(j.prev, sizeof(j.prev), "%s", prev);
	j.tot = d->n_samples;
	ret = bitmask_to_hex(&t->mask, &j.hex);
	if (!ret)
		ret = cache_unlocked(&fs->cache, restore_fetch, &j);
	free(j.hex);
	if (ret)
		return ret;
	log_info("tag %s: restored from the trash as %s", t->name, newname);
	path = trash_path(fs, d->id, t->id);
	if (path)
		unlink(path);
	free(path);
	t->live = false;
	trash_changed(fs, d, t->name);
	return d->live ? refresh_tags_now(fs, d) : 0;
}

int trash_json(const struct fs *fs, const struct dataset *d,
	       const struct tag *t, char **out, size_t *len)
{
	char *hex = NULL;
	int n, ret = bitmask_to_hex(&t->mask, &hex);

	if (ret)
		return ret;
	/* tag names hold no character JSON would need escaped */
	n = asprintf(out,
		     "{\"name\":\"%s\",\"id\":\"%s\",\"datasetId\":\"%s\","
		     "\"prevTagId\":\"%s\",\"deletedAt\":%" PRId64 ","
		     "\"expiresAt\":%" PRId64 ",\"samples\":%zu,"
		     "\"bitMaskData\":\"%s\"}\n",
		     t->name, t->id, d->id, t->prev, t->deleted_ms,
		     t->deleted_ms + (int64_t)(fs->trash_days * TRASH_DAY_MS),
		     bitmask_count(&t->mask), hex);
	free(hex);
	if (n < 0)
		return -ENOMEM;
	*len = (size_t)n;
	return 0;
}

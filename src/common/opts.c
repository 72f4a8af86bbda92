/* Our -o options, their defaults and validation.  The environment variables
 * are the ones the official Lightly tools read (API-NOTES), so a user's
 * existing setup works unchanged; -o values win over them. */
#include <curl/curl.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "opts.h"

#define OPTS_TOKEN_MAX 4096

struct raw_opts {
	int max_threads_given;
	char *server;
	char *token;
	char *max_stale;
	char *offline_retry;
	int offline;
	char *max_response_mb;
	char *token_file;
	char *dataset;
	char *ca_certs;
	char *cache_ttl;
	char *timeout;
	char *flush_delay_ms;
	char *cache_size;
	char *log_level;
	char *state_dir;
	char *cache_dir;
	char *content_cache_mb;
	char *prefetch_files;
	char *read_ahead_kb;
	char *prefetch_mb;
	int thumbnails;
	char *flush_timeout;
	char *trash_days;
	char *page_streams;
	char *host_connections;
	char *export_expires;
	char *access_control;
	char *loglevel; /* -o loglevel=, rclone's spelling of log_level */
	char *log_file;
	char *uid;
	char *gid;
	char *umask;
	char *source; /* the first of two non-option arguments */
	int nonopts;
	int has_fsname;
	int sync_edits;
	int allow_insecure;
	int allow_other;
	int default_permissions;
	int debug_log;
	int help;
	int version;
};

#define OPT(t, p)                                                              \
	{                                                                      \
		t, offsetof(struct raw_opts, p), 1                             \
	}

enum { KEY_ALLOW_OTHER, KEY_DEFAULT_PERMISSIONS, KEY_FSNAME, KEY_MAX_THREADS };

static const struct fuse_opt opt_table[] = {
    OPT("server=%s", server),
    OPT("token=%s", token),
    OPT("max_stale=%s", max_stale),
    OPT("offline_retry=%s", offline_retry),
    OPT("offline", offline),
    OPT("max_response_mb=%s", max_response_mb),
    FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
    FUSE_OPT_KEY("max_threads=", KEY_MAX_THREADS),
    FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS),
    OPT("token_file=%s", token_file),
    OPT("dataset=%s", dataset),
    OPT("ca_certs=%s", ca_certs),
    OPT("cache_ttl=%s", cache_ttl),
    OPT("timeout=%s", timeout),
    OPT("flush_delay_ms=%s", flush_delay_ms),
    OPT("cache_size=%s", cache_size),
    OPT("log_level=%s", log_level),
    OPT("loglevel=%s", loglevel),
    OPT("log_file=%s", log_file),
    OPT("uid=%s", uid),
    OPT("gid=%s", gid),
    OPT("umask=%s", umask),
    FUSE_OPT_KEY("fsname=", KEY_FSNAME),
    OPT("state_dir=%s", state_dir),
    OPT("cache_dir=%s", cache_dir),
    OPT("content_cache_mb=%s", content_cache_mb),
    OPT("prefetch_files=%s", prefetch_files),
    OPT("read_ahead_kb=%s", read_ahead_kb),
    OPT("prefetch_mb=%s", prefetch_mb),
    OPT("thumbnails", thumbnails),
    OPT("flush_timeout=%s", flush_timeout),
    OPT("trash_days=%s", trash_days),
    OPT("page_streams=%s", page_streams),
    OPT("host_connections=%s", host_connections),
    OPT("export_expires=%s", export_expires),
    OPT("access_control=%s", access_control),
    OPT("sync_edits", sync_edits),
    OPT("allow_insecure", allow_insecure),
    OPT("-h", help),
    OPT("--help", help),
    OPT("-V", version),
    OPT("--version", version),
    FUSE_OPT_END};

/* Notes the FUSE options we check and leaves them for libfuse.  Of two
 * non-option arguments the first is the source, as mount(8) and
 * mount.fuse3 pass it ("lightly /mnt/lightly"): it is taken out here and
 * put back as the mountpoint by opts_take_source when it was the only
 * one. */
static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct raw_opts *raw = data;

	(void)outargs;
	if (key == KEY_ALLOW_OTHER)
		raw->allow_other = 1;
	else if (key == KEY_DEFAULT_PERMISSIONS)
		raw->default_permissions = 1;
	else if (key == KEY_FSNAME)
		raw->has_fsname = 1; /* the user named it: keep theirs */
	else if (key == KEY_MAX_THREADS)
		raw->max_threads_given = 1; /* libfuse reads the number */
	if (key != FUSE_OPT_KEY_NONOPT || raw->nonopts++ != 0)
		return 1;
	free(raw->source);
	raw->source = strdup(arg);
	return raw->source ? 0 : -1;
}

/* With two non-option arguments, the first names the mount (fsname, as
 * sshfs does with its host:path); with one, it is the mountpoint. */
static int opts_take_source(struct opts *o, struct raw_opts *raw,
			    struct fuse_args *args)
{
	char *fsname = NULL;
	int ret;

	if (!raw->source)
		return 0;
	if (raw->nonopts == 1)
		return fuse_opt_add_arg(args, raw->source) ? -ENOMEM : 0;
	o->source = strdup(raw->source);
	if (!o->source)
		return -ENOMEM;
	if (raw->has_fsname)
		return 0;
	if (strchr(raw->source, ',')) {
		fprintf(stderr, "lightlyfs: source %s: no ',' allowed\n",
			raw->source);
		return -EINVAL;
	}
	if (asprintf(&fsname, "-ofsname=%s,subtype=lightlyfs", raw->source) < 0)
		return -ENOMEM;
	ret = fuse_opt_add_arg(args, fsname) ? -ENOMEM : 0;
	free(fsname);
	return ret;
}

/* The host of an http(s) URL is a loopback address.  curl's own parser
 * decides what the host is (user info, brackets, ports), so this check
 * cannot disagree with where curl would connect. */
static bool url_is_loopback(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool loop = false;

	if (!u)
		return false;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host) {
		size_t n = strlen(host);

		if (!strcmp(host, "localhost") || !strcmp(host, "[::1]")) {
			loop = true;
		} else if (n >= 7 && n <= 15 && !strncmp(host, "127.", 4)) {
			int dots = 0;

			loop = true;
			for (size_t i = 0; i < n; i++) {
				if (host[i] == '.')
					dots++;
				else if (host[i] < '0' || host[i] > '9')
					loop = false;
			}
			loop = loop && dots == 3;
		}
	}
	curl_free(host);
	curl_url_cleanup(u);
	return loop;
}

static int parse_number(const char *name, const char *s, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 1e9) {
		fprintf(stderr, "lightlyfs: -o %s=%s: expected a number >= 0\n",
			name, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* -o uid= / gid=: a number, or a user or group name. */
static int parse_id(const char *name, const char *s, bool user, unsigned *out)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!errno && end != s && !*end && v < 0xffffffffUL) {
		*out = (unsigned)v;
		return 0;
	}
	if (user && getpwnam(s)) {
		*out = getpwnam(s)->pw_uid;
		return 0;
	}
	if (!user && getgrnam(s)) {
		*out = getgrnam(s)->gr_gid;
		return 0;
	}
	fprintf(stderr, "lightlyfs: -o %s=%s: expected a number or a %s\n",
		name, s, user ? "user name" : "group name");
	return -EINVAL;
}

/* -o umask=: octal, as in mount(8)'s vfat and sshfs. */
static int parse_umask(const char *s, unsigned *out)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || end == s || *end || v > 0777) {
		fprintf(stderr,
			"lightlyfs: -o umask=%s: expected octal 000..777\n", s);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

/* Owner and mode bits of every entry. */
static int opts_take_owner(struct opts *o, const struct raw_opts *raw)
{
	int ret = 0;

	o->uid = getuid();
	o->gid = getgid();
	if (raw->uid && (ret = parse_id("uid", raw->uid, true, &o->uid)))
		return ret;
	if (raw->gid && (ret = parse_id("gid", raw->gid, false, &o->gid)))
		return ret;
	if (raw->umask && (ret = parse_umask(raw->umask, &o->umask)))
		return ret;
	return 0;
}

static int parse_level(const char *s, int *out)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	for (int i = 0; i < 4; i++) {
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	}
	fprintf(stderr,
		"lightlyfs: -o log_level=%s: expected error, warn, info or "
		"debug\n",
		s);
	return -EINVAL;
}

static char *dup_trimmed_url(const char *s)
{
	char *u = strdup(s);
	size_t n;

	if (!u)
		return NULL;
	n = strlen(u);
	while (n > 0 && u[n - 1] == '/')
		u[--n] = '\0';
	return u;
}

static void opts_defaults(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->cache_ttl_s = OPTS_DEFAULT_CACHE_TTL_S;
	o->timeout_s = OPTS_DEFAULT_TIMEOUT_S;
	o->flush_delay_ms = OPTS_DEFAULT_FLUSH_DELAY_MS;
	o->cache_size_mb = OPTS_DEFAULT_CACHE_SIZE_MB;
	o->log_level = LOG_INFO;
	o->max_stale_s = OPTS_DEFAULT_MAX_STALE_S;
	o->offline_retry_s = OPTS_DEFAULT_OFFLINE_RETRY_S;
	o->max_response_mb = OPTS_DEFAULT_MAX_RESPONSE_MB;
	o->flush_timeout_s = OPTS_DEFAULT_FLUSH_TIMEOUT_S;
	o->trash_days = OPTS_DEFAULT_TRASH_DAYS;
	o->page_streams = OPTS_DEFAULT_PAGE_STREAMS;
	o->host_connections = OPTS_DEFAULT_HOST_CONNECTIONS;
	o->export_expires_s = -1;
	o->content_cache_mb = OPTS_DEFAULT_CONTENT_CACHE_MB;
	o->prefetch_files = OPTS_DEFAULT_PREFETCH_FILES;
	o->read_ahead_kb = OPTS_DEFAULT_READ_AHEAD_KB;
	o->prefetch_mb = OPTS_DEFAULT_PREFETCH_MB;
}

/* -o DIR, else $ENV/lightlyfs, else ~/FALLBACK (or /tmp/FALLBACK without a
 * home).  malloc'd, NULL on ENOMEM. */
/* -o DIR, else $ENV/lightlyfs, else HOME/fallback.  mount(8) and systemd
 * run us without HOME: root's mounts then keep their state where system
 * state lives (system, which the package's purge cleans), anyone else's in
 * their home from passwd; never under a world-writable /tmp that boot
 * clears. */
static char *xdg_dir(const char *opt, const char *env, const char *fallback,
		     const char *system)
{
	const char *xdg = getenv(env);
	const char *home = getenv("HOME");
	char *dir = NULL;

	if (opt)
		return strdup(opt);
	if (xdg && xdg[0] == '/')
		return asprintf(&dir, "%s/lightlyfs", xdg) < 0 ? NULL : dir;
	if ((!home || home[0] != '/') && getuid() == 0)
		return strdup(system);
	if (!home || home[0] != '/') {
		struct passwd *pw = getpwuid(getuid());

		home = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir
								: NULL;
	}
	if (!home) {
		errno = ENOENT;
		return NULL;
	}
	return asprintf(&dir, "%s/%s", home, fallback) < 0 ? NULL : dir;
}

/* The string options, -o before the environment before the default, and
 * the server URL's scheme. */
static int opts_take_strings(struct opts *o, const struct raw_opts *raw)
{
	const char *env;

	env = getenv("LIGHTLY_SERVER_LOCATION");
	o->server = dup_trimmed_url(raw->server	    ? raw->server
				    : (env && *env) ? env
						    : OPTS_DEFAULT_SERVER);
	env = getenv("LIGHTLY_CA_CERTS");
	if (raw->ca_certs || (env && *env))
		o->ca_certs = strdup(raw->ca_certs ? raw->ca_certs : env);
	if (raw->token_file)
		o->token_file = strdup(raw->token_file);
	if (raw->dataset)
		o->dataset = strdup(raw->dataset);
	if (raw->log_file)
		o->log_file = strdup(raw->log_file);
	/* the journal outlives the process, unlike the content cache, which
	 * may be deleted at any time */
	o->state_dir = xdg_dir(raw->state_dir, "XDG_STATE_HOME",
			       ".local/state/lightlyfs", "/var/lib/lightlyfs");
	o->cache_dir = xdg_dir(raw->cache_dir, "XDG_CACHE_HOME",
			       ".cache/lightlyfs", "/var/cache/lightlyfs");
	if ((!o->state_dir || !o->cache_dir) && errno == ENOENT) {
		fprintf(stderr,
			"lightlyfs: uid %u has no home directory for "
			"the journal and the cache: give -o state_dir= "
			"and -o cache_dir=\n",
			(unsigned)getuid());
		return -EINVAL;
	}
	if (!o->server || !o->state_dir || !o->cache_dir ||
	    (raw->ca_certs && !o->ca_certs) ||
	    (raw->token_file && !o->token_file) ||
	    (raw->dataset && !o->dataset) || (raw->log_file && !o->log_file))
		return -ENOMEM;
	if (strncmp(o->server, "http://", 7) &&
	    strncmp(o->server, "https://", 8)) {
		fprintf(stderr,
			"lightlyfs: server %s: expected an http:// or "
			"https:// URL\n",
			o->server);
		return -EINVAL;
	}
	return 0;
}

/* What export links carry: their lifetime and access control; and the
 * connections to a host.  A value out of range is refused, not clamped:
 * the documented range is what the option does. */
static int opts_take_exports(struct opts *o, const struct raw_opts *raw)
{
	double v;
	int ret;

	if (raw->host_connections) {
		ret =
		    parse_number("host_connections", raw->host_connections, &v);
		if (ret)
			return ret;
		if (v < 1 || v > OPTS_MAX_HOST_CONNECTIONS ||
		    v != (unsigned)v) {
			fprintf(stderr,
				"lightlyfs: -o host_connections=%s: expected "
				"a whole number from 1 to %d\n",
				raw->host_connections,
				OPTS_MAX_HOST_CONNECTIONS);
			return -EINVAL;
		}
		o->host_connections = (unsigned)v;
	}
	if (raw->export_expires) {
		ret = parse_number("export_expires", raw->export_expires, &v);
		if (ret)
			return ret;
		o->export_expires_s = (long)v;
	}
	if (raw->access_control &&
	    !(o->access_control = strdup(raw->access_control)))
		return -ENOMEM;
	return 0;
}

/* Times and sizes, clamped where a value would make no sense. */
static int opts_take_limits(struct opts *o, const struct raw_opts *raw)
{
	int ret;

	if (raw->cache_ttl &&
	    (ret = parse_number("cache_ttl", raw->cache_ttl, &o->cache_ttl_s)))
		return ret;
	if (raw->timeout &&
	    (ret = parse_number("timeout", raw->timeout, &o->timeout_s)))
		return ret;
	if (o->timeout_s < 1)
		o->timeout_s = 1;
	if (raw->flush_delay_ms) {
		double ms;

		if ((ret = parse_number("flush_delay_ms", raw->flush_delay_ms,
					&ms)))
			return ret;
		o->flush_delay_ms = ms > 60000 ? 60000 : (unsigned)ms;
	}
	if (raw->max_stale &&
	    (ret = parse_number("max_stale", raw->max_stale, &o->max_stale_s)))
		return ret;
	if (raw->offline_retry &&
	    (ret = parse_number("offline_retry", raw->offline_retry,
				&o->offline_retry_s)))
		return ret;
	if (o->offline_retry_s < 1)
		o->offline_retry_s = 1;
	if (raw->max_response_mb &&
	    (ret = parse_number("max_response_mb", raw->max_response_mb,
				&o->max_response_mb)))
		return ret;
	if (o->max_response_mb < 1)
		o->max_response_mb = 1;
	if (raw->flush_timeout &&
	    (ret = parse_number("flush_timeout", raw->flush_timeout,
				&o->flush_timeout_s)))
		return ret;
	if (raw->trash_days &&
	    (ret = parse_number("trash_days", raw->trash_days, &o->trash_days)))
		return ret;
	if (raw->content_cache_mb &&
	    (ret = parse_number("content_cache_mb", raw->content_cache_mb,
				&o->content_cache_mb)))
		return ret;
	if (raw->prefetch_mb &&
	    (ret = parse_number("prefetch_mb", raw->prefetch_mb,
				&o->prefetch_mb)))
		return ret;
	if (raw->prefetch_files) {
		double n;

		if ((ret = parse_number("prefetch_files", raw->prefetch_files,
					&n)))
			return ret;
		if (n > OPTS_MAX_PREFETCH_FILES || n != (unsigned)n) {
			fprintf(stderr,
				"lightlyfs: -o prefetch_files=%s: expected "
				"a whole number from 0 to %d\n",
				raw->prefetch_files, OPTS_MAX_PREFETCH_FILES);
			return -EINVAL;
		}
		o->prefetch_files = (unsigned)n;
	}
	if (raw->read_ahead_kb) {
		double n;

		if ((ret =
			 parse_number("read_ahead_kb", raw->read_ahead_kb, &n)))
			return ret;
		o->read_ahead_kb = n > 65536 ? 65536 : (unsigned)n;
	}
	o->thumbnails = raw->thumbnails;
	if (raw->page_streams) {
		double n;

		if ((ret = parse_number("page_streams", raw->page_streams, &n)))
			return ret;
		o->page_streams = n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
	}
	return opts_take_exports(o, raw);
}

/* Combinations that would expose the token or the files. */
static int opts_check_exposure(const struct opts *o, const struct raw_opts *raw)
{
	/* the token rides in the query string: in clear text it may go to
	 * this machine only */
	if (!strncmp(o->server, "http://", 7) && !url_is_loopback(o->server) &&
	    !o->allow_insecure) {
		fprintf(stderr,
			"lightlyfs: %s is plain http and not this machine: the "
			"token would travel in clear text; use https or -o "
			"allow_insecure\n",
			o->server);
		return -EINVAL;
	}
	/* other users may only see what the mode bits allow them */
	if (raw->allow_other && !raw->default_permissions) {
		fprintf(stderr, "lightlyfs: -o allow_other needs -o "
				"default_permissions\n");
		return -EINVAL;
	}
	return 0;
}

static void raw_opts_dispose(struct raw_opts *raw)
{
	if (raw->token) {
		explicit_bzero(raw->token, strlen(raw->token));
		free(raw->token);
	}
	free(raw->max_stale);
	free(raw->offline_retry);
	free(raw->max_response_mb);
	free(raw->server);
	free(raw->token_file);
	free(raw->dataset);
	free(raw->ca_certs);
	free(raw->cache_ttl);
	free(raw->timeout);
	free(raw->flush_delay_ms);
	free(raw->cache_size);
	free(raw->log_level);
	free(raw->state_dir);
	free(raw->cache_dir);
	free(raw->content_cache_mb);
	free(raw->prefetch_files);
	free(raw->read_ahead_kb);
	free(raw->prefetch_mb);
	free(raw->flush_timeout);
	free(raw->trash_days);
	free(raw->page_streams);
	free(raw->host_connections);
	free(raw->export_expires);
	free(raw->access_control);
	free(raw->loglevel);
	free(raw->log_file);
	free(raw->uid);
	free(raw->gid);
	free(raw->umask);
	free(raw->source);
}

int opts_parse(struct opts *o, struct fuse_args *args)
{
	struct raw_opts raw;
	int ret = 0;

	opts_defaults(o);
	memset(&raw, 0, sizeof(raw));
	if (fuse_opt_parse(args, &raw, opt_table, opt_proc) == -1) {
		ret = -EINVAL;
		goto out;
	}
	o->show_help = raw.help;
	o->max_threads_given = raw.max_threads_given;
	o->show_version = raw.version;
	o->sync_edits = raw.sync_edits;
	o->offline = raw.offline;
	o->allow_insecure = raw.allow_insecure;

	ret = opts_take_strings(o, &raw);
	if (!ret)
		ret = opts_take_limits(o, &raw);
	if (!ret)
		ret = opts_take_owner(o, &raw);
	if (!ret)
		ret = opts_take_source(o, &raw, args);
	if (ret)
		goto out;
	if (raw.token) {
		o->token = strdup(raw.token);
		if (!o->token) {
			ret = -ENOMEM;
			goto out;
		}
		o->token_in_args = true;
	}
	ret = opts_check_exposure(o, &raw);
	if (ret)
		goto out;
	if (raw.cache_size && (ret = parse_number("cache_size", raw.cache_size,
						  &o->cache_size_mb)))
		goto out;
	if (raw.log_level && (ret = parse_level(raw.log_level, &o->log_level)))
		goto out;
	if (raw.loglevel && (ret = parse_level(raw.loglevel, &o->log_level)))
		goto out;
out:
	raw_opts_dispose(&raw);
	return ret;
}

/* A token file readable by others would leak the secret; refuse it the way
 * ssh refuses a world-readable key. */
static int read_token_file(const char *path, char **out, char *err,
			   size_t errsz)
{
	FILE *f = NULL;
	struct stat st;
	char buf[OPTS_TOKEN_MAX + 2];
	size_t n;
	int ret = 0;

	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errsz, "cannot read token file %s: %s", path,
			 strerror(errno));
		ret = -ENOKEY;
		goto out;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errsz, "token file %s is a directory", path);
		ret = -ENOKEY;
		goto out;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
		snprintf(err, errsz,
			 "token file %s is readable by others; chmod 600 it",
			 path);
		ret = -ENOKEY;
		goto out;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	if (n > OPTS_TOKEN_MAX) {
		snprintf(err, errsz, "token file %s is too long", path);
		ret = -ENOKEY;
		goto out;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (!n) {
		snprintf(err, errsz, "token file %s is empty", path);
		ret = -ENOKEY;
		goto out;
	}
	*out = strdup(buf);
	if (!*out)
		ret = -ENOMEM;
out:
	explicit_bzero(buf, sizeof(buf));
	if (f)
		fclose(f);
	return ret;
}

void opts_scrub_argv(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++) {
		char *p = argv[i];

		while ((p = strstr(p, "token=")) != NULL) {
			/* "token=" as an option of its own, not token_file= */
			bool own =
			    p == argv[i] || p[-1] == ',' ||
			    (p - argv[i] == 2 && !strncmp(argv[i], "-o", 2));

			p += 6;
			if (!own)
				continue;
			for (; *p && *p != ','; p++)
				*p = 'x';
		}
	}
}

int opts_load_token(struct opts *o, char *err, size_t errsz)
{
	const char *env = getenv("LIGHTLY_TOKEN");

	if (o->token)
		return 0; /* -o token= */

	if (o->token_file)
		return read_token_file(o->token_file, &o->token, err, errsz);
	if (env && *env) {
		if (strlen(env) > OPTS_TOKEN_MAX) {
			snprintf(err, errsz, "LIGHTLY_TOKEN is too long");
			return -ENOKEY;
		}
		o->token = strdup(env);
		return o->token ? 0 : -ENOMEM;
	}
	snprintf(err, errsz,
		 "no API token: set LIGHTLY_TOKEN or use -o token_file=PATH");
	return -ENOKEY;
}

void opts_dispose(struct opts *o)
{
	if (o->token) {
		explicit_bzero(o->token, strlen(o->token));
		free(o->token);
	}
	free(o->server);
	free(o->token_file);
	free(o->dataset);
	free(o->ca_certs);
	free(o->state_dir);
	free(o->cache_dir);
	free(o->access_control);
	free(o->log_file);
	free(o->source);
	memset(o, 0, sizeof(*o));
}

/* Option parsing: defaults, the environment the Lightly tools read, -o
 * values winning over it, bad values refused, and the token's sources. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "opts.h"

int main(void);

static int parse(struct opts *o, int argc, const char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, (char **)argv);
	int ret;

	/* fuse_opt_parse may rewrite argv; give it its own copy */
	args.argv = NULL;
	args.argc = 0;
	for (int i = 0; i < argc; i++)
		fuse_opt_add_arg(&args, argv[i]);
	ret = opts_parse(o, &args);
	fuse_opt_free_args(&args);
	return ret;
}

static void test_defaults(void)
{
	const char *argv[] = {"lightlyfs", "/mnt"};
	struct opts o;

	unsetenv("LIGHTLY_SERVER_LOCATION");
	unsetenv("LIGHTLY_CA_CERTS");
	CHECK_INT(parse(&o, 2, argv), 0);
	CHECK_STR(o.server, OPTS_DEFAULT_SERVER);
	CHECK(o.cache_ttl_s == OPTS_DEFAULT_CACHE_TTL_S);
	CHECK(o.timeout_s == OPTS_DEFAULT_TIMEOUT_S);
	CHECK_INT(o.flush_delay_ms, OPTS_DEFAULT_FLUSH_DELAY_MS);
	CHECK(!o.sync_edits);
	CHECK(o.dataset == NULL);
	CHECK(o.ca_certs == NULL);
	CHECK_INT(o.log_level, LOG_INFO);
	opts_dispose(&o);
}

static void test_env_and_options(void)
{
	const char *env_only[] = {"lightlyfs", "/mnt"};
	const char *with_o[] = {"lightlyfs", "-o",
				"server=http://127.0.0.1:8/,cache_ttl=2.5,"
				"dataset=abc,sync_edits,log_level=debug,"
				"timeout=7,flush_delay_ms=50",
				"/mnt"};
	struct opts o;

	setenv("LIGHTLY_SERVER_LOCATION", "https://example.test///", 1);
	setenv("LIGHTLY_CA_CERTS", "/etc/ca.pem", 1);
	CHECK_INT(parse(&o, 2, env_only), 0);
	/* trailing slashes are stripped, as the official client does */
	CHECK_STR(o.server, "https://example.test");
	CHECK_STR(o.ca_certs, "/etc/ca.pem");
	opts_dispose(&o);

	CHECK_INT(parse(&o, 4, with_o), 0);
	CHECK_STR(o.server, "http://127.0.0.1:8");
	CHECK(o.cache_ttl_s == 2.5);
	CHECK_STR(o.dataset, "abc");
	CHECK(o.sync_edits);
	CHECK_INT(o.log_level, LOG_DEBUG);
	CHECK(o.timeout_s == 7);
	CHECK_INT(o.flush_delay_ms, 50);
	opts_dispose(&o);
	unsetenv("LIGHTLY_SERVER_LOCATION");
	unsetenv("LIGHTLY_CA_CERTS");
}

/* -o page_streams: mapping pages in flight, 1 to 16, default 4. */
static void test_page_streams(void)
{
	const char *none[] = {"lightlyfs", "/mnt"};
	const char *three[] = {"lightlyfs", "-o", "page_streams=3", "/mnt"};
	const char *zero[] = {"lightlyfs", "-o", "page_streams=0", "/mnt"};
	const char *many[] = {"lightlyfs", "-o", "page_streams=99", "/mnt"};
	const char *bad[] = {"lightlyfs", "-o", "page_streams=x", "/mnt"};
	struct opts o;

	CHECK_INT(parse(&o, 2, none), 0);
	CHECK_INT(o.page_streams, OPTS_DEFAULT_PAGE_STREAMS);
	opts_dispose(&o);
	CHECK_INT(parse(&o, 4, three), 0);
	CHECK_INT(o.page_streams, 3);
	opts_dispose(&o);
	CHECK_INT(parse(&o, 4, zero), 0);
	CHECK_INT(o.page_streams, 1);
	opts_dispose(&o);
	CHECK_INT(parse(&o, 4, many), 0);
	CHECK_INT(o.page_streams, 16);
	opts_dispose(&o);
	CHECK_INT(parse(&o, 4, bad), -EINVAL);
	opts_dispose(&o);
}

/* -o host_connections: 1 to 256, default 64; out of range is refused, not
 * clamped (the documented range is what it does). */
static void test_host_connections(void)
{
	static const char *const bad[] = {
	    "host_connections=0", "host_connections=257",
	    "host_connections=2.5", "host_connections=x"};
	const char *none[] = {"lightlyfs", "/mnt"};
	const char *four[] = {"lightlyfs", "-o", "host_connections=4", "/mnt"};
	const char *argv[] = {"lightlyfs", "-o", NULL, "/mnt"};
	struct opts o;
	size_t i;

	CHECK_INT(parse(&o, 2, none), 0);
	CHECK_INT(o.host_connections, OPTS_DEFAULT_HOST_CONNECTIONS);
	opts_dispose(&o);
	CHECK_INT(parse(&o, 4, four), 0);
	CHECK_INT(o.host_connections, 4);
	opts_dispose(&o);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argv[2] = bad[i];
		CHECK_INT(parse(&o, 4, argv), -EINVAL);
		opts_dispose(&o);
	}
}

/* -o prefetch_files: 0 to 1024 as given (it was silently cut to 64);
 * past the range it is refused. */
static void test_prefetch_files(void)
{
	static const char *const bad[] = {
	    "prefetch_files=1025", "prefetch_files=2.5", "prefetch_files=-1"};
	const char *argv[] = {"lightlyfs", "-o", NULL, "/mnt"};
	const char *none[] = {"lightlyfs", "/mnt"};
	struct opts o;

	CHECK_INT(parse(&o, 2, none), 0);
	CHECK_INT(o.prefetch_files, OPTS_DEFAULT_PREFETCH_FILES);
	opts_dispose(&o);
	argv[2] = "prefetch_files=200";
	CHECK_INT(parse(&o, 4, argv), 0);
	CHECK_INT(o.prefetch_files, 200);
	opts_dispose(&o);
	argv[2] = "prefetch_files=1024";
	CHECK_INT(parse(&o, 4, argv), 0);
	CHECK_INT(o.prefetch_files, 1024);
	opts_dispose(&o);
	argv[2] = "prefetch_files=0";
	CHECK_INT(parse(&o, 4, argv), 0);
	CHECK_INT(o.prefetch_files, 0);
	opts_dispose(&o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argv[2] = bad[i];
		CHECK_INT(parse(&o, 4, argv), -EINVAL);
		opts_dispose(&o);
	}
}

static void test_bad_values(void)
{
	static const char *const bad[] = {
	    "cache_ttl=abc",  "cache_ttl=-1",	       "timeout=1x",
	    "log_level=loud", "server=ftp://x",	       "loglevel=loud",
	    "uid=-1",	      "uid=no-such-user-here", "umask=999",
	    "umask=1000",
	};
	struct opts o;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[] = {"lightlyfs", "-o", bad[i], "/mnt"};

		CHECK_INT(parse(&o, 4, argv), -EINVAL);
		opts_dispose(&o);
	}
}

/* sshfs/rclone spellings: owner, mode mask, loglevel, and mount(8)'s
 * "SOURCE MOUNTPOINT" (the source becomes fsname, the mountpoint stays). */
static void test_mount_style_options(void)
{
	const char *argv[] = {
	    "lightlyfs",     "-o",  "uid=123,gid=root,umask=027", "-o",
	    "loglevel=warn", "/mnt"};
	const char *two[] = {"lightlyfs", "lightly", "/mnt", "-o", "ro"};
	const char *one[] = {"lightlyfs", "/mnt"};
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct opts o;

	CHECK_INT(parse(&o, 6, argv), 0);
	CHECK_INT(o.uid, 123);
	CHECK_INT(o.gid, 0);
	CHECK_INT(o.umask, 027);
	CHECK_INT(o.log_level, LOG_WARN);
	opts_dispose(&o);

	for (int i = 0; i < 5; i++)
		fuse_opt_add_arg(&args, two[i]);
	CHECK_INT(opts_parse(&o, &args), 0);
	CHECK_STR(o.source, "lightly");
	CHECK_INT(args.argc, 5);
	CHECK_STR(args.argv[3], "/mnt"); /* fuse_opt puts options first */
	CHECK_STR(args.argv[4], "-ofsname=lightly,subtype=lightlyfs");
	opts_dispose(&o);
	fuse_opt_free_args(&args);

	CHECK_INT(parse(&o, 2, one), 0);
	CHECK(o.source == NULL);
	CHECK_INT(o.uid, getuid());
	CHECK_INT(o.umask, 0);
	opts_dispose(&o);
}

static void test_token_sources(void)
{
	char path[] = "/tmp/lightlyfs-test-token-XXXXXX";
	char err[256];
	struct opts o = {0};
	int fd;

	unsetenv("LIGHTLY_TOKEN");
	CHECK_INT(opts_load_token(&o, err, sizeof(err)), -ENOKEY);
	CHECK(strstr(err, "LIGHTLY_TOKEN") != NULL);

	setenv("LIGHTLY_TOKEN", "from-env", 1);
	CHECK_INT(opts_load_token(&o, err, sizeof(err)), 0);
	CHECK_STR(o.token, "from-env");
	opts_dispose(&o);

	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "from-file\n", 10), 10);
	close(fd);
	chmod(path, 0644);
	o.token_file = strdup(path);
	/* a file others can read is refused, even with the env set */
	CHECK_INT(opts_load_token(&o, err, sizeof(err)), -ENOKEY);
	CHECK(strstr(err, "readable by others") != NULL);
	CHECK(strstr(err, "from-file") == NULL);
	chmod(path, 0600);
	CHECK_INT(opts_load_token(&o, err, sizeof(err)), 0);
	CHECK_STR(o.token, "from-file");
	opts_dispose(&o);
	unlink(path);
	unsetenv("LIGHTLY_TOKEN");
}

static void test_clear_text_token_only_to_this_machine(void)
{
	static const struct {
		const char *server;
		const char *extra;
		int want;
	} cases[] = {
	    {"http://127.0.0.1:8080", "", 0},
	    {"http://localhost/", "", 0},
	    {"http://[::1]:9", "", 0},
	    {"https://api.lightly.ai", "", 0},
	    {"http://api.lightly.ai", "", -EINVAL},
	    {"http://127.0.0.1.example.com", "", -EINVAL},
	    {"http://localhost.example.com", "", -EINVAL},
	    {"http://10.0.0.1", ",allow_insecure", 0},
	    /* the host is what curl connects to, not what it starts with */
	    {"http://127.0.0.1:1@10.255.255.1:1/", "", -EINVAL},
	    {"http://[::ffff:10.255.255.1]:1", "", -EINVAL},
	    {"http://127.1.2.3:5", "", 0},
	};
	struct opts o;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char opt[256];
		const char *argv[] = {"lightlyfs", "-o", opt, "/mnt"};

		snprintf(opt, sizeof(opt), "server=%s%s", cases[i].server,
			 cases[i].extra);
		CHECK_INT(parse(&o, 4, argv), cases[i].want);
		opts_dispose(&o);
	}
}

static void test_allow_other_needs_default_permissions(void)
{
	const char *alone[] = {"lightlyfs", "-o", "allow_other", "/mnt"};
	const char *both[] = {"lightlyfs", "-o",
			      "allow_other,default_permissions", "/mnt"};
	struct opts o;

	CHECK_INT(parse(&o, 4, alone), -EINVAL);
	opts_dispose(&o);
	CHECK_INT(parse(&o, 4, both), 0);
	opts_dispose(&o);
}

static void test_token_option_is_scrubbed(void)
{
	char a1[] = "-o";
	char a2[] = "dataset=x,token=s3cret,token_file=/f";
	char a3[] = "-otoken=other";
	char a4[] = "/mnt";
	char *argv[] = {(char *)"lightlyfs", a1, a2, a3, a4, NULL};
	const char *cargv[] = {"lightlyfs", "-o", "token=s3cret", "/mnt"};
	struct opts o;

	CHECK_INT(parse(&o, 4, cargv), 0);
	CHECK_STR(o.token, "s3cret");
	CHECK(o.token_in_args);
	opts_dispose(&o);
	opts_scrub_argv(5, argv);
	CHECK_STR(a2, "dataset=x,token=xxxxxx,token_file=/f");
	CHECK_STR(a3, "-otoken=xxxxx");
	CHECK_STR(a4, "/mnt");
}

static char captured[4096];

static void capture_cb(enum log_level level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	snprintf(captured, sizeof(captured), "%s", line);
}

/* A token echoed back by a server never reaches a log line. */
static void test_log_redacts_the_token(void)
{
	log_set_sink(capture_cb, NULL);
	CHECK_INT(log_add_secret("s3cret-tok"), 0);
	log_error("server said: bad token s3cret-tok (again: s3cret-tok)");
	CHECK_STR(captured,
		  "server said: bad token [redacted] (again: [redacted])");
	log_error("nothing secret here");
	CHECK_STR(captured, "nothing secret here");
	log_clear_secrets();
	log_error("s3cret-tok");
	CHECK_STR(captured, "s3cret-tok");
	log_set_sink(NULL, NULL);
}

int main(void)
{
	test_page_streams();
	test_host_connections();
	test_prefetch_files();
	test_log_redacts_the_token();
	test_mount_style_options();
	test_clear_text_token_only_to_this_machine();
	test_allow_other_needs_default_permissions();
	test_token_option_is_scrubbed();
	test_defaults();
	test_env_and_options();
	test_bad_values();
	test_token_sources();
	return CHECK_DONE();
}

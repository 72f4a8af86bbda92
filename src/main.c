/* Option hand-off, global init (curl before FUSE starts threads), and the
 * session loop.  The only place that decides the process's exit status. */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "api.h"
#include "fs.h"
#include "fsops.h"
#include "http.h"
#include "log.h"
#include "opts.h"

/* SIGHUP drops the caches.  It is blocked in every thread (the mask is
 * inherited) and taken here with sigwait, where locks may be used. */
static void *sighup_main(void *arg)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	for (;;)
		if (sigwait(&set, &sig) == 0 && sig == SIGHUP)
			fs_drop_caches(arg);
	return NULL;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd;
	struct fuse_loop_config *loop_cfg = NULL;
	struct fuse_session *se = NULL;
	struct http_config hc;
	struct fs_config fc;
	struct opts o;
	struct http *http = NULL;
	struct api *api = NULL;
	struct fs *fs = NULL;
	char err[512];
	int ret = 1;
	pthread_t sighup_thread;
	sigset_t hup;
	bool sighup_running = false;
	bool started = false, curl_up = false, mounted = false, handlers = false;

	memset(&cmd, 0, sizeof(cmd));
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &hup, NULL);
	if (opts_parse(&o, &args))
		goto out;
	opts_scrub_argv(argc, argv);
	if (o.show_help) {
		opts_print_help(argv[0]);
		ret = 0;
		goto out;
	}
	if (o.show_version) {
		printf("lightlyfs %s (libfuse %s)\n", LIGHTLYFS_VERSION,
		       fuse_pkgversion());
		ret = 0;
		goto out;
	}
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out;
	if (!cmd.mountpoint) {
		fprintf(stderr, "usage: %s [options] MOUNTPOINT (see --help)\n",
			argv[0]);
		goto out;
	}
	log_set_level(cmd.debug ? LOG_DEBUG : (enum log_level)o.log_level);
	if (opts_load_token(&o, err, sizeof(err))) {
		fprintf(stderr, "lightlyfs: %s\n", err);
		goto out;
	}
	if (log_add_secret(o.token)) {
		fprintf(stderr, "lightlyfs: out of memory\n");
		goto out;
	}

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "lightlyfs: cannot initialise libcurl\n");
		goto out;
	}
	curl_up = true;
	memset(&hc, 0, sizeof(hc));
	hc.base_url = o.server;
	hc.token = o.token;
	hc.ca_certs = o.ca_certs;
	hc.timeout_ms = (long)(o.timeout_s * 1000);
	hc.max_body = (size_t)(o.max_response_mb * 1024 * 1024);
	http = http_new(&hc);
	api = http ? api_new(http) : NULL;
	if (!api) {
		fprintf(stderr, "lightlyfs: out of memory\n");
		goto out;
	}
	memset(&fc, 0, sizeof(fc));
	fc.api = api;
	fc.server = o.server;
	fc.ttl_s = o.cache_ttl_s;
	fc.max_stale_s = o.max_stale_s;
	fc.dataset = o.dataset;
	fc.sync_edits = o.sync_edits;
	fc.cache_max_bytes = (size_t)(o.cache_size_mb * 1024 * 1024);
	fc.flush_delay_ms = o.flush_delay_ms;
	fc.uid = getuid();
	fc.gid = getgid();
	/* at start the one-line reason below says it all; the request's
	 * own log line would only repeat it */
	log_set_level(LOG_ERROR);
	started = fs_new(&fc, &fs, err, sizeof(err)) == 0;
	log_set_level(cmd.debug ? LOG_DEBUG : (enum log_level)o.log_level);
	if (!started) {
		fprintf(stderr, "lightlyfs: %s\n", err);
		goto out;
	}

	se = fuse_session_new(&args, &fsops_ops, sizeof(fsops_ops), fs);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	handlers = true;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out;
	mounted = true;
	log_info("mounted %s at %s", o.server, cmd.mountpoint);
	fuse_daemonize(cmd.foreground);
	/* threads only now: the fork in fuse_daemonize would lose them */
	fs_set_notify(fs, fsops_notify, se);
	if (fs_start(fs)) {
		fprintf(stderr, "lightlyfs: cannot start threads\n");
		goto out;
	}
	sighup_running = pthread_create(&sighup_thread, NULL, sighup_main,
					fs) == 0;

	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		loop_cfg = fuse_loop_cfg_create();
		if (!loop_cfg)
			goto out;
		fuse_loop_cfg_set_clone_fd(loop_cfg, cmd.clone_fd);
		fuse_loop_cfg_set_max_threads(loop_cfg, 16);
		/* UINT_MAX is libfuse's "not given" */
		if (cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop_cfg,
						       cmd.max_idle_threads);
		ret = fuse_session_loop_mt(se, loop_cfg);
	}
	/* a loop ended by SIGTERM, SIGINT or SIGHUP is a clean shutdown */
	ret = (ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		      ? 0
		      : 1;

out:
	if (sighup_running) {
		pthread_cancel(sighup_thread);
		pthread_join(sighup_thread, NULL);
	}
	if (fs)
		fs_set_notify(fs, NULL, NULL);
	if (mounted)
		fuse_session_unmount(se);
	if (handlers)
		fuse_remove_signal_handlers(se);
	/* its destroy callback flushes pending edits, so fs outlives it */
	if (se)
		fuse_session_destroy(se);
	fs_free(fs);
	fuse_loop_cfg_destroy(loop_cfg);
	api_free(api);
	http_free(http);
	if (curl_up)
		curl_global_cleanup();
	free(cmd.mountpoint);
	fuse_opt_free_args(&args);
	opts_dispose(&o);
	log_clear_secrets();
	return ret;
}

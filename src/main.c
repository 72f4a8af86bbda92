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
#include "blob.h"
#include "fs.h"
#include "fsops.h"
#include "http.h"
#include "log.h"
#include "opts.h"
#include "readahead.h"
#include "transport.h"
#include "warmup.h"

#ifdef LIGHTLYFS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* FUSE worker threads unless -o max_threads says otherwise: a parallel
 * reader (a DataLoader's workers) waits on the network in as many. */
#define DAEMON_MAX_THREADS 16

/* What main sets up, in order; daemon_teardown undoes what was done. */
struct daemon_state {
	struct fuse_args args;
	struct fuse_cmdline_opts cmd;
	struct fuse_loop_config *loop_cfg;
	struct fuse_session *se;
	struct opts o;
	struct transport *transport;
	struct http *http;
	struct api *api;
	struct blob *blob;
	struct fs *fs;
	pthread_t sighup_thread;
	bool sighup_running, curl_up, mounted, handlers, syslog;
	char *log_path; /* the state directory's log, without syslog */
};

static unsigned daemon_max_threads(const struct daemon_state *d)
{
	if (d->cmd.singlethread)
		return 1;
	return d->o.max_threads_given ? d->cmd.max_threads : DAEMON_MAX_THREADS;
}

static enum log_level daemon_log_level(const struct daemon_state *d)
{
	return d->cmd.debug ? LOG_DEBUG : (enum log_level)d->o.log_level;
}

/* The signals sighup_main takes, blocked in every thread (the mask is
 * inherited) so that only its sigwait sees them. */
static void daemon_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

/* SIGUSR1: debug logging on, or back to the level the mount was given
 * (info when that was debug), as sshfs users expect of a running daemon. */
static void daemon_toggle_debug(const struct daemon_state *d)
{
	enum log_level base = daemon_log_level(d);

	if (log_get_level() != LOG_DEBUG) {
		log_set_level(LOG_DEBUG);
		log_info("SIGUSR1: debug logging on");
		return;
	}
	log_set_level(base == LOG_DEBUG ? LOG_INFO : base);
	log_info("SIGUSR1: debug logging off");
}

/* SIGHUP drops the caches, SIGUSR1 toggles debug logging; taken here with
 * sigwait, where locks may be used. */
static void *sighup_main(void *arg)
{
	struct daemon_state *d = arg;
	sigset_t set;
	int sig;

	daemon_signal_set(&set);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP)
			fs_drop_caches(d->fs);
		else if (sig == SIGUSR1)
			daemon_toggle_debug(d);
	}
	return NULL;
}

/* Our options, then libfuse's, then the token.  Returns 0 to go on, 1 when
 * the run is over with success (--help, --version), -1 on failure (said
 * on stderr). */
static int daemon_options(struct daemon_state *d, int argc, char *argv[])
{
	char err[512];
	int rc;

	if (opts_parse(&d->o, &d->args))
		return -1;
	opts_scrub_argv(argc, argv);
	if (d->o.show_help) {
		opts_print_help(argv[0]);
		return 1;
	}
	if (d->o.show_version) {
		printf("lightlyfs %s (libfuse %s)\n", LIGHTLYFS_VERSION,
		       fuse_pkgversion());
		return 1;
	}
	if (fuse_parse_cmdline(&d->args, &d->cmd) != 0)
		return -1;
	if (!d->cmd.mountpoint) {
		fprintf(stderr, "usage: %s [options] MOUNTPOINT (see --help)\n",
			argv[0]);
		return -1;
	}
	log_set_level(daemon_log_level(d));
	/* opened now: relative to where we were started, and a path that
	 * cannot be written fails the mount on stderr */
	if (d->o.log_file && (rc = log_open_file(d->o.log_file))) {
		fprintf(stderr, "lightlyfs: -o log_file=%s: %s\n",
			d->o.log_file, strerror(-rc));
		return -1;
	}
	if (opts_load_token(&d->o, err, sizeof(err))) {
		fprintf(stderr, "lightlyfs: %s\n", err);
		return -1;
	}
	if (log_add_secret(d->o.token)) {
		fprintf(stderr, "lightlyfs: out of memory\n");
		return -1;
	}
	return 0;
}

/* libcurl, the transport and the API client.  0 or -1 (said on stderr). */
static int daemon_client(struct daemon_state *d)
{
	struct http_config hc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "lightlyfs: cannot initialise libcurl\n");
		return -1;
	}
	d->curl_up = true;
	/* one transport for the API and storage: one cache of connections,
	 * DNS answers and TLS sessions */
	d->transport = transport_new(&(struct transport_config){
	    .host_connections = (long)d->o.host_connections,
	});
	if (!d->transport) {
		fprintf(stderr, "lightlyfs: cannot start the transport\n");
		return -1;
	}
	memset(&hc, 0, sizeof(hc));
	hc.transport = d->transport;
	hc.base_url = d->o.server;
	hc.token = d->o.token;
	hc.ca_certs = d->o.ca_certs;
	hc.timeout_ms = (long)(d->o.timeout_s * 1000);
	hc.max_body = (size_t)(d->o.max_response_mb * 1024 * 1024);
	d->http = http_new(&hc);
	d->api = d->http ? api_new(d->http) : NULL;
	if (d->api)
		api_set_page_streams(d->api, d->o.page_streams);
	/* storage gets its own transport: it never sees the token */
	d->blob = blob_new(&(struct blob_config){
	    .transport = d->transport,
	    .ca_certs = d->o.ca_certs,
	    .timeout_ms = (long)(d->o.timeout_s * 2000),
	});
	if (!d->api || !d->blob) {
		fprintf(stderr, "lightlyfs: out of memory\n");
		return -1;
	}
	return 0;
}

/* The filesystem, which reads the account once to check it.  0 or -1. */
static int daemon_fs(struct daemon_state *d)
{
	struct fs_config fc;
	char err[512];
	bool started;

	memset(&fc, 0, sizeof(fc));
	fc.api = d->api;
	fc.server = d->o.server;
	fc.ttl_s = d->o.cache_ttl_s;
	fc.max_stale_s = d->o.max_stale_s;
	fc.dataset = d->o.dataset;
	fc.sync_edits = d->o.sync_edits;
	fc.cache_max_bytes = (size_t)(d->o.cache_size_mb * 1024 * 1024);
	fc.flush_delay_ms = d->o.flush_delay_ms;
	fc.flush_timeout_s = d->o.flush_timeout_s;
	fc.state_dir = d->o.state_dir;
	fc.trash_days = d->o.trash_days;
	fc.export_expires_s = d->o.export_expires_s;
	fc.access_control = d->o.access_control;
	fc.account = d->o.token;
	fc.uid = (uid_t)d->o.uid;
	fc.gid = (gid_t)d->o.gid;
	fc.umask = (mode_t)d->o.umask;
	fc.blob = d->blob;
	fc.cache_dir = d->o.cache_dir;
	fc.content_cache_bytes =
	    (uint64_t)(d->o.content_cache_mb * 1024 * 1024);
	fc.prefetch_files = d->o.prefetch_files;
	fc.prefetch_bytes = (uint64_t)(d->o.prefetch_mb * 1024 * 1024);
	fc.thumbnails = d->o.thumbnails;
	fc.offline = d->o.offline;
	fc.offline_retry_s = d->o.offline_retry_s;
	/* at start the one-line reason below says it all; the request's
	 * own log line would only repeat it */
	log_set_level(LOG_ERROR);
	started = fs_new(&fc, &d->fs, err, sizeof(err)) == 0;
	log_set_level(daemon_log_level(d));
	/* replayed edits are logged: the user should see what was sent */
	if (started)
		started = fs_open_journal(d->fs, &fc, err, sizeof(err)) == 0;
	if (!started) {
		fprintf(stderr, "lightlyfs: %s\n", err);
		return -1;
	}
	return 0;
}

/* Where a daemon's lines go without -o log_file: syslog, or with no
 * syslog socket (glibc would drop every line there, unsaid) a file in the
 * state directory, said on stderr before the fork.  0 or -1. */
static int daemon_log_sink(struct daemon_state *d)
{
	const char *no = getenv("LIGHTLYFS_NO_SYSLOG");
	int rc;

	if (!(no && *no && strcmp(no, "0")) && log_syslog_reachable()) {
		d->syslog = true;
		return 0;
	}
	if (asprintf(&d->log_path, "%s/lightlyfs.log", d->o.state_dir) < 0) {
		d->log_path = NULL;
		return -1;
	}
	rc = log_open_file(d->log_path);
	if (rc) {
		fprintf(stderr, "lightlyfs: no syslog socket, and %s: %s\n",
			d->log_path, strerror(-rc));
		return -1;
	}
	fprintf(stderr,
		"lightlyfs: no syslog socket at /dev/log: the log "
		"goes to %s\n",
		d->log_path);
	return 0;
}

/* Session, mount, daemon, then the threads.  0 or -1. */
static int daemon_mount(struct daemon_state *d)
{
	d->se =
	    fuse_session_new(&d->args, &fsops_ops, sizeof(fsops_ops), d->fs);
	if (!d->se)
		return -1;
	if (fuse_set_signal_handlers(d->se) != 0)
		return -1;
	d->handlers = true;
	if (fuse_session_mount(d->se, d->cmd.mountpoint) != 0)
		return -1;
	d->mounted = true;
	if (!d->cmd.foreground && !d->o.log_file && daemon_log_sink(d))
		return -1;
	/* the parent exits only after the child has set itself up, and the
	 * mount exists by then: requests wait in the kernel for the loop */
	transport_pause(d->transport); /* its thread would not survive */
	fuse_daemonize(d->cmd.foreground);
	/* stderr is /dev/null in a daemon */
	if (d->syslog)
		log_use_syslog();
	else if (d->log_path)
		log_info("logging to %s: no syslog socket at /dev/log",
			 d->log_path);
	/* threads only now: the fork in fuse_daemonize would lose them */
	fs_set_notify(d->fs, fsops_notify, d->se);
	fs_set_store(d->fs, fsops_store, d->se);
	if (fs_start(d->fs)) {
		log_error("cannot start threads");
		return -1;
	}
	d->sighup_running =
	    pthread_create(&d->sighup_thread, NULL, sighup_main, d) == 0;
	if (readahead_tune(d->cmd.mountpoint, d->o.read_ahead_kb))
		log_warn("cannot start the readahead thread");
	log_info("lightlyfs %s mounted %s at %s (cache_ttl %g s, "
		 "flush_delay %u ms, timeout %g s, threads %u, state %s, "
		 "cache %s)",
		 LIGHTLYFS_VERSION, d->o.server, d->cmd.mountpoint,
		 d->o.cache_ttl_s, d->o.flush_delay_ms, d->o.timeout_s,
		 daemon_max_threads(d), d->o.state_dir, d->o.cache_dir);
#ifdef LIGHTLYFS_HAVE_SYSTEMD
	/* Type=notify: the unit is up once the mount is */
	sd_notify(0, "READY=1");
#endif
	return 0;
}

/* The session loop; the process's exit status. */
static int daemon_loop(struct daemon_state *d)
{
	int ret;

	if (d->cmd.singlethread) {
		ret = fuse_session_loop(d->se);
	} else {
		d->loop_cfg = fuse_loop_cfg_create();
		if (!d->loop_cfg)
			return 1;
		fuse_loop_cfg_set_clone_fd(d->loop_cfg, d->cmd.clone_fd);
		fuse_loop_cfg_set_max_threads(d->loop_cfg,
					      daemon_max_threads(d));
		/* UINT_MAX is libfuse's "not given" */
		if (d->cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(d->loop_cfg,
						       d->cmd.max_idle_threads);
		ret = fuse_session_loop_mt(d->se, d->loop_cfg);
	}
	/* a loop ended by SIGTERM, SIGINT or SIGHUP is a clean shutdown */
	return (ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		   ? 0
		   : 1;
}

/* 0, or 1 when edits could not be sent (they wait in the journal). */
static int daemon_teardown(struct daemon_state *d)
{
	int ret = 0;

#ifdef LIGHTLYFS_HAVE_SYSTEMD
	if (d->mounted)
		sd_notify(0, "STOPPING=1");
#endif
	if (d->sighup_running) {
		pthread_cancel(d->sighup_thread);
		pthread_join(d->sighup_thread, NULL);
	}
	if (d->fs) {
		fs_set_notify(d->fs, NULL, NULL);
		fs_set_store(d->fs, NULL, NULL);
	}
	if (d->mounted)
		fuse_session_unmount(d->se);
	if (d->handlers)
		fuse_remove_signal_handlers(d->se);
	/* its destroy callback flushes pending edits, so fs outlives it */
	if (d->se)
		fuse_session_destroy(d->se);
	if (d->fs && fs_stop(d->fs))
		ret = 1;
	fs_free(d->fs);
	fuse_loop_cfg_destroy(d->loop_cfg);
	api_free(d->api);
	blob_free(d->blob);
	http_free(d->http);
	transport_free(d->transport);
	if (d->curl_up)
		curl_global_cleanup();
	free(d->cmd.mountpoint);
	free(d->log_path);
	fuse_opt_free_args(&d->args);
	opts_dispose(&d->o);
	log_set_sink(NULL, NULL);
	log_close_file();
	log_clear_secrets();
	return ret;
}

int main(int argc, char *argv[])
{
	struct daemon_state d = {.args = FUSE_ARGS_INIT(argc, argv)};
	sigset_t sigs;
	int ret = 1, rc;

	if (argc > 1 && !strcmp(argv[1], "warmup"))
		return warmup_main(argc - 1, argv + 1);

	daemon_signal_set(&sigs);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	rc = daemon_options(&d, argc, argv);
	if (rc > 0)
		ret = 0;
	else if (rc == 0 && daemon_client(&d) == 0 && daemon_fs(&d) == 0 &&
		 daemon_mount(&d) == 0)
		ret = daemon_loop(&d);
	if (daemon_teardown(&d))
		ret = 1;
	return ret;
}

/* The -o option table, defaults, --help and validation.  Parses what is ours
 * out of the FUSE arguments and leaves the rest for libfuse. */
#ifndef LIGHTLYFS_OPTS_H
#define LIGHTLYFS_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include <fuse_lowlevel.h>

#define OPTS_DEFAULT_SERVER "https://api.lightly.ai"
#define OPTS_DEFAULT_CACHE_TTL_S 60.0
#define OPTS_DEFAULT_TIMEOUT_S 30.0
#define OPTS_DEFAULT_FLUSH_DELAY_MS 300
#define OPTS_DEFAULT_CACHE_SIZE_MB 4096
#define OPTS_DEFAULT_MAX_STALE_S 86400.0
/* an offline mount asks the server this often: one small request */
#define OPTS_DEFAULT_OFFLINE_RETRY_S 30.0
#define OPTS_DEFAULT_MAX_RESPONSE_MB 1024
#define OPTS_DEFAULT_FLUSH_TIMEOUT_S 30.0
#define OPTS_DEFAULT_TRASH_DAYS 7.0
#define OPTS_DEFAULT_CONTENT_CACHE_MB 1024
/* the most whole files in flight; how many follows the link
 * (content_window), from CONTENT_WINDOW_FILES up */
#define OPTS_DEFAULT_PREFETCH_FILES 128
#define OPTS_MAX_PREFETCH_FILES 1024
/* the kernel's readahead on the mount, KiB: its own 128 KiB makes a
 * sequential read a READ round trip per 128 KiB */
#define OPTS_DEFAULT_READ_AHEAD_KB 1024
#define OPTS_DEFAULT_PREFETCH_MB 64
#define OPTS_DEFAULT_PAGE_STREAMS 4
/* connections to one host at a time (transport.h) */
#define OPTS_DEFAULT_HOST_CONNECTIONS 64
#define OPTS_MAX_HOST_CONNECTIONS 256

struct opts {
	char *server;	  /* malloc'd, no trailing '/' */
	char *token;	  /* malloc'd secret; see opts_load_token */
	char *token_file; /* malloc'd or NULL */
	char *dataset;	  /* -o dataset=ID_OR_NAME, or NULL */
	char *ca_certs;	  /* malloc'd or NULL */
	char *state_dir; /* -o state_dir, else under XDG_STATE_HOME; malloc'd */
	char *cache_dir; /* -o cache_dir, else under XDG_CACHE_HOME; malloc'd */
	double content_cache_mb; /* 0: files are kept only while open */
	unsigned prefetch_files; /* files fetched ahead of a walk at once */
	unsigned read_ahead_kb;	 /* 0: the kernel's default */
	double prefetch_mb;	 /* bytes in flight for them */
	bool thumbnails;	 /* files serve the thumbnail */
	double cache_ttl_s;
	double timeout_s;
	unsigned flush_delay_ms;
	double cache_size_mb; /* 0: unbounded */
	double max_stale_s;
	bool offline;		/* -o offline: the saved listing only */
	double offline_retry_s; /* offline, the server asked this often */
	double max_response_mb;
	double flush_timeout_s;	   /* how long unmount may try to send edits */
	double trash_days;	   /* deleted tags stay restorable this long */
	unsigned page_streams;	   /* mapping pages in flight at once */
	unsigned host_connections; /* connections to one host at a time */
	long export_expires_s;	   /* -o export_expires; -1: not sent */
	char *access_control;	   /* -o access_control, malloc'd or NULL */
	char *log_file;		   /* -o log_file=PATH, malloc'd, or NULL */
	char *source;	/* SOURCE of "lightlyfs SOURCE MOUNTPOINT", or NULL */
	unsigned uid;	/* owner of every entry: -o uid=, else getuid() */
	unsigned gid;	/* -o gid=, else getgid() */
	unsigned umask; /* -o umask=: mode bits taken off every entry */
	bool sync_edits;
	bool allow_insecure;
	bool token_in_args; /* -o token= was given; see opts_scrub_argv */
	int log_level;	    /* enum log_level */
	bool show_help;
	bool show_version;
	/* -o max_threads= was given (libfuse parses the number; its
	 * default, 10, is not ours) */
	bool max_threads_given;
};

/* Fills o from the environment (LIGHTLY_SERVER_LOCATION, LIGHTLY_CA_CERTS)
 * and the options in args, removing ours from args.  Returns 0, -EINVAL for
 * a bad value (message printed), -ENOMEM. */
int opts_parse(struct opts *o, struct fuse_args *args);
/* Reads the token from LIGHTLY_TOKEN or token_file into o->token.
 * Returns 0, or -ENOKEY with a one-line reason written into err. */
int opts_load_token(struct opts *o, char *err, size_t errsz);
void opts_dispose(struct opts *o);
/* Overwrites the value of any -o token= in the process's own argv, so that
 * ps and /proc/PID/cmdline do not show it. */
void opts_scrub_argv(int argc, char *argv[]);
void opts_print_help(const char *progname);

#endif

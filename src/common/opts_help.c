/* --help: what the daemon's options are and do, and libfuse's that apply.
 * install/help2man.sh makes the man page from it, so the two cannot
 * disagree. */
#include <stdio.h>

#include "opts.h"

/* fuse_cmdline_help() lists its own -h and -V, which are ours above;
 * this is the rest of it, and fuse_lowlevel_help()'s three options, which
 * it would list a second time. */
static void print_fuse_help(void)
{
	fputs(
	    "    -d   -o debug          enable debug output (implies -f)\n"
	    "    -f                     foreground operation\n"
	    "    -s                     disable multi-threaded operation\n"
	    "    -o clone_fd            use separate fuse device fd for each "
	    "thread\n"
	    "    -o max_idle_threads=N  the maximum number of idle worker "
	    "threads\n"
	    "    -o max_threads=N       the maximum number of worker threads "
	    "(default 16)\n"
	    "    -o allow_other         allow access by all users (needs "
	    "-o default_permissions)\n"
	    "    -o allow_root          allow access by root\n"
	    "    -o auto_unmount        auto unmount on process termination\n",
	    stdout);
}

/* Where the daemon keeps what outlives it, and its log. */
static void print_state_help(void)
{
	printf(
	    "\nstate and logs:\n"
	    "    -o state_dir=DIR       the journal of unsent edits and the "
	    "trash\n"
	    "                           (default $XDG_STATE_HOME/lightlyfs)\n"
	    "    -o trash_days=DAYS     deleted tags stay in DS/.lightly/trash "
	    "(default %.0f)\n"
	    "    -o cache_dir=DIR       the content cache (default "
	    "$XDG_CACHE_HOME/lightlyfs)\n"
	    "    -o log_level=LEVEL     error, warn, info (default) or debug;\n"
	    "                           also -o loglevel=; SIGUSR1 toggles "
	    "debug\n"
	    "    -o log_file=PATH       append the log to PATH (default: "
	    "stderr with -f,\n"
	    "                           else syslog, facility daemon, or\n"
	    "                           STATE_DIR/lightlyfs.log without "
	    "syslog)\n",
	    OPTS_DEFAULT_TRASH_DAYS);
}

/* The options of file content: the cache and the fetches ahead. */
static void print_content_help(void)
{
	printf(
	    "\nfile content:\n"
	    "    -o content_cache_mb=MB bound on cached file content "
	    "(default %d, 0: none)\n"
	    "    -o prefetch_files=N    most files fetched ahead of a copy "
	    "of a tag at once,\n"
	    "                           0 to %d (default %d); how many "
	    "follows the link\n"
	    "    -o prefetch_mb=MB      bytes in flight for them, and held for "
	    "readers\n"
	    "                           before the cache's disk (default %d)\n"
	    "    -o read_ahead_kb=KB    the kernel's readahead on the mount "
	    "(default %d,\n"
	    "                           0: the kernel's; needs root)\n",
	    OPTS_DEFAULT_CONTENT_CACHE_MB, OPTS_MAX_PREFETCH_FILES,
	    OPTS_DEFAULT_PREFETCH_FILES, OPTS_DEFAULT_PREFETCH_MB,
	    OPTS_DEFAULT_READ_AHEAD_KB);
}

void opts_print_help(const char *progname)
{
	printf(
	    "usage: %s [options] [SOURCE] MOUNTPOINT\n"
	    "       %s warmup [--check | --evict] [--background] PATH...\n\n"
	    "Mounts a Lightly account: its datasets as directories, their "
	    "tags as\nsubdirectories, and each tag's samples as files "
	    "holding their images.\n\n"
	    "The API token comes from LIGHTLY_TOKEN or -o token_file=PATH "
	    "(mode 600);\n"
	    "the server from LIGHTLY_SERVER_LOCATION (default %s).\n"
	    "SOURCE, as mount(8) passes it, only names the mount (fsname).\n\n"
	    "lightlyfs options:\n"
	    "    -o server=URL          API base URL\n"
	    "    -o token_file=PATH     read the API token from PATH\n"
	    "    -o token=TOKEN         the token itself (scrubbed from ps; "
	    "prefer the above)\n"
	    "    -o dataset=ID_OR_NAME  mount one dataset as the root\n"
	    "    -o cache_ttl=SECONDS   how long what was read stays fresh "
	    "(default %g)\n"
	    "    -o cache_size=MB       bound on cached names and masks "
	    "(default %d, 0: none)\n"
	    "    -o timeout=SECONDS     deadline of one request (default %g)\n"
	    "    -o ca_certs=PATH       CA bundle (also LIGHTLY_CA_CERTS)\n"
	    "    -o max_stale=SECONDS   serve cached data this long while "
	    "the server fails (default %g)\n"
	    "    -o offline             serve the listing saved in state_dir "
	    "and the cached\n"
	    "                           content, read-only, with no request "
	    "(also when the\n"
	    "                           server cannot be reached at mount)\n"
	    "    -o offline_retry=S     a mount that started offline asks the "
	    "server\n"
	    "                           again this often (default %g)\n"
	    "    -o max_response_mb=MB  largest response accepted (default "
	    "%d)\n"
	    "    -o page_streams=N      name pages fetched at once, 1 to 16 "
	    "(default %d)\n"
	    "    -o host_connections=N  connections to one host at once, 1 to "
	    "%d (default %d);\n"
	    "                           HTTP/2 hosts use one, HTTP/1.1 one "
	    "a request\n"
	    "    -o allow_insecure      allow a token over plain http to "
	    "another host\n"
	    "    -o sync_edits          send every tag edit at once\n"
	    "    -o flush_delay_ms=MS   quiet period before edits are sent "
	    "(default %u)\n"
	    "    -o flush_timeout=S     how long unmount tries to send edits "
	    "(default %.0f);\n"
	    "                           what is left waits in the journal\n"
	    "    -o thumbnails          files hold the thumbnails, not the "
	    "full images\n"
	    "    -o export_expires=S    lifetime of the image links in "
	    ".lightly/exports\n"
	    "    -o access_control=NAME access control of those links\n"
	    "    -o uid=UID             owner of every entry (default: who "
	    "mounted)\n"
	    "    -o gid=GID             group of every entry (default: who "
	    "mounted)\n"
	    "    -o umask=MASK          octal mode bits taken off every entry "
	    "(default 000)\n"
	    "    -h, --help             this help\n"
	    "    -V, --version          the version\n",
	    progname, progname, OPTS_DEFAULT_SERVER, OPTS_DEFAULT_CACHE_TTL_S,
	    OPTS_DEFAULT_CACHE_SIZE_MB, OPTS_DEFAULT_TIMEOUT_S,
	    OPTS_DEFAULT_MAX_STALE_S, OPTS_DEFAULT_OFFLINE_RETRY_S,
	    OPTS_DEFAULT_MAX_RESPONSE_MB, OPTS_DEFAULT_PAGE_STREAMS,
	    OPTS_MAX_HOST_CONNECTIONS, OPTS_DEFAULT_HOST_CONNECTIONS,
	    OPTS_DEFAULT_FLUSH_DELAY_MS, OPTS_DEFAULT_FLUSH_TIMEOUT_S);
	print_content_help();
	print_state_help();
	fputs("\nFUSE options:\n", stdout);
	print_fuse_help();
}

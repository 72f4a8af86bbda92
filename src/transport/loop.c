/* The transport's thread (transport.h): one libcurl multi handle drives
 * every transfer, so the API's and storage's requests share one connection
 * cache (HTTP/2 streams on one connection, HTTP/1.1 connections kept for the
 * next request) and, through a CURLSH, the DNS answers and TLS sessions.
 *
 * A caller hands its configured easy handle over (transport_perform) and
 * waits on a condition variable of its own; the thread adds the handle to
 * the multi, runs it, removes it and wakes its caller.  t->lock guards only
 * the queue of handed-over transfers, their done flags and the counters:
 * nobody holds it across network I/O.  The multi, and every handle while it
 * is in the multi, belong to the thread alone. */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* How long the thread sleeps with nothing to do; a submission or a curl
 * timer wakes it sooner, so this only bounds a missed wake-up. */
#define LOOP_POLL_MS 1000

/* One handed-over transfer, on its caller's stack. */
struct xfer {
	CURL *easy;
	CURLcode result;
	bool done; /* under t->lock */
	pthread_cond_t cond;
	struct xfer *next;
};

struct transport {
	CURLM *multi;
	CURLSH *share;
	/* CURLSH calls back for a lock per kind of data it holds */
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
	unsigned inflight; /* handles in the multi; the thread's own */

	pthread_mutex_t lock; /* guards what follows */
	struct xfer *queue, **tail;
	bool running; /* the thread exists */
	bool stop;    /* ... and is asked to end */
	pthread_t thread;
	struct transport_stats stats;
};

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access,
		       void *arg)
{
	struct transport *t = arg;

	(void)c;
	(void)access;
	if (data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&t->share_lock[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *arg)
{
	struct transport *t = arg;

	(void)c;
	if (data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&t->share_lock[data]);
}

/* The DNS and TLS session caches every handle uses.  Connections are not
 * shared here: the multi has its own cache of them, which is what lets
 * HTTP/2 streams share one. */
static int loop_share(struct transport *t)
{
	CURLSHcode rc;

	t->share = curl_share_init();
	if (!t->share)
		return -ENOMEM;
	rc = curl_share_setopt(t->share, CURLSHOPT_LOCKFUNC, share_lock);
	if (rc == CURLSHE_OK)
		rc = curl_share_setopt(t->share, CURLSHOPT_UNLOCKFUNC,
				       share_unlock);
	if (rc == CURLSHE_OK)
		rc = curl_share_setopt(t->share, CURLSHOPT_USERDATA, t);
	if (rc == CURLSHE_OK)
		rc = curl_share_setopt(t->share, CURLSHOPT_SHARE,
				       CURL_LOCK_DATA_DNS);
	if (rc == CURLSHE_OK)
		rc = curl_share_setopt(t->share, CURLSHOPT_SHARE,
				       CURL_LOCK_DATA_SSL_SESSION);
	return rc == CURLSHE_OK ? 0 : -ENOMEM;
}

/* host_connections per host, and room in the cache of idle connections
 * for both hosts' (curl's default keeps only four per handle in the multi,
 * closing kept-alive connections between bursts). */
static int loop_multi(struct transport *t, long host_connections)
{
	CURLMcode rc;

	t->multi = curl_multi_init();
	if (!t->multi)
		return -ENOMEM;
	rc = curl_multi_setopt(t->multi, CURLMOPT_PIPELINING,
			       (long)CURLPIPE_MULTIPLEX);
	if (rc == CURLM_OK)
		rc = curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
				       host_connections);
	if (rc == CURLM_OK)
		rc = curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS,
				       4 * host_connections);
	return rc == CURLM_OK ? 0 : -ENOMEM;
}

struct transport *transport_new(const struct transport_config *cfg)
{
	long conns = cfg ? cfg->host_connections : 0;
	struct transport *t = calloc(1, sizeof(*t));
	int i;

	if (!t)
		return NULL;
	if (conns <= 0)
		conns = TRANSPORT_HOST_CONNECTIONS_DEFAULT;
	if (conns > TRANSPORT_HOST_CONNECTIONS_MAX)
		conns = TRANSPORT_HOST_CONNECTIONS_MAX;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&t->share_lock[i], NULL);
	pthread_mutex_init(&t->lock, NULL);
	t->tail = &t->queue;
	if (loop_share(t) || loop_multi(t, conns)) {
		transport_free(t);
		return NULL;
	}
	return t;
}

/* Wakes x's caller with result.  x may be gone once the lock drops. */
static void loop_finish(struct transport *t, struct xfer *x, CURLcode result,
			long connects)
{
	pthread_mutex_lock(&t->lock);
	x->result = result;
	x->done = true;
	t->stats.transfers++;
	if (connects > 0)
		t->stats.connects += (uint64_t)connects;
	pthread_cond_signal(&x->cond);
	pthread_mutex_unlock(&t->lock);
}

/* Moves the handed-over transfers into the multi.  *stop: the thread is
 * asked to end. */
static void loop_admit(struct transport *t, bool *stop)
{
	struct xfer *q, *next;

	pthread_mutex_lock(&t->lock);
	q = t->queue;
	t->queue = NULL;
	t->tail = &t->queue;
	*stop = t->stop;
	pthread_mutex_unlock(&t->lock);
	for (; q; q = next) {
		next = q->next; /* q may be gone after loop_finish */
		curl_easy_setopt(q->easy, CURLOPT_PRIVATE, (void *)q);
		if (curl_multi_add_handle(t->multi, q->easy) != CURLM_OK) {
			loop_finish(t, q, CURLE_OUT_OF_MEMORY, 0);
			continue;
		}
		t->inflight++;
	}
}

/* Hands every ended transfer back to its caller. */
static void loop_reap(struct transport *t)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(t->multi, &left))) {
		CURL *e = m->easy_handle;
		CURLcode result = m->data.result;
		struct xfer *x = NULL;
		long connects = 0;

		if (m->msg != CURLMSG_DONE)
			continue;
		/* m is invalid once its handle leaves the multi */
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
		curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
		curl_multi_remove_handle(t->multi, e);
		t->inflight--;
		if (x)
			loop_finish(t, x, result, connects);
	}
}

static void *loop_main(void *arg)
{
	struct transport *t = arg;
	bool stop = false;
	int running;

	for (;;) {
		loop_admit(t, &stop);
		/* transport_pause and _free come with nothing in flight; a
		 * transfer still there would have its caller wait forever */
		if (stop && !t->inflight)
			break;
		if (curl_multi_perform(t->multi, &running) != CURLM_OK)
			log_debug("transport: curl_multi_perform failed");
		loop_reap(t);
		curl_multi_poll(t->multi, NULL, 0, LOOP_POLL_MS, NULL);
	}
	return NULL;
}

/* Starts the thread if it is not running (t->lock held).  0 or -errno. */
static int loop_start(struct transport *t)
{
	int rc;

	if (t->running)
		return 0;
	t->stop = false;
	rc = pthread_create(&t->thread, NULL, loop_main, t);
	if (rc) {
		log_error("transport: cannot start its thread: %s",
			  strerror(rc));
		return -rc;
	}
	t->running = true;
	return 0;
}

CURLcode transport_perform(struct transport *t, CURL *c)
{
	struct xfer x = {.easy = c, .result = CURLE_OK};

	if (pthread_cond_init(&x.cond, NULL))
		return CURLE_OUT_OF_MEMORY;
	pthread_mutex_lock(&t->lock);
	if (loop_start(t)) {
		pthread_mutex_unlock(&t->lock);
		pthread_cond_destroy(&x.cond);
		return CURLE_FAILED_INIT;
	}
	*t->tail = &x;
	t->tail = &x.next;
	pthread_mutex_unlock(&t->lock);
	curl_multi_wakeup(t->multi);
	pthread_mutex_lock(&t->lock);
	while (!x.done)
		pthread_cond_wait(&x.cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
	pthread_cond_destroy(&x.cond);
	return x.result;
}

CURLcode transport_setup(struct transport *t, CURL *c, const char *url)
{
	CURLcode rc = curl_easy_setopt(c, CURLOPT_SHARE, t->share);

	/* Plain http is HTTP/1.1 here, never multiplexed: waiting would only
	 * hold a burst of requests behind the first connection's answer. */
	if (rc == CURLE_OK && !strncasecmp(url, "https://", 8))
		rc = curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L);
	return rc;
}

void transport_pause(struct transport *t)
{
	bool running;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	running = t->running;
	t->stop = true;
	pthread_mutex_unlock(&t->lock);
	if (!running)
		return;
	curl_multi_wakeup(t->multi);
	pthread_join(t->thread, NULL);
	pthread_mutex_lock(&t->lock);
	t->running = false;
	t->stop = false;
	pthread_mutex_unlock(&t->lock);
}

void transport_free(struct transport *t)
{
	int i;

	if (!t)
		return;
	transport_pause(t);
	if (t->multi)
		curl_multi_cleanup(t->multi);
	if (t->share)
		curl_share_cleanup(t->share);
	pthread_mutex_destroy(&t->lock);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&t->share_lock[i]);
	free(t);
}

void transport_get_stats(struct transport *t, struct transport_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	*out = t->stats;
	pthread_mutex_unlock(&t->lock);
}

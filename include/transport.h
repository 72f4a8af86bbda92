/* The one libcurl multi handle every request goes through, the API's
 * (http.h) and storage's (blob.h) alike, run by a thread of its own.
 *
 * One connection cache for both hosts: HTTP/2 requests to a host share one
 * connection (multiplexed streams, a request waits for a connection being
 * opened rather than opening another), HTTP/1.1 connections stay open for
 * the next request, and DNS answers and TLS sessions are kept once.  Callers
 * stay synchronous: a request is handed to the thread and its caller waits
 * for it to end.  The token never travels with a storage request: that is
 * blob.c's rule, and nothing here adds to a request. */
#ifndef LIGHTLYFS_TRANSPORT_H
#define LIGHTLYFS_TRANSPORT_H

#include <stdint.h>

/* -o host_connections: connections open to one host at a time.  HTTP/2
 * needs one; an HTTP/1.1 host (S3) one per request in flight, and requests
 * beyond this wait for a free connection instead of opening another. */
#define TRANSPORT_HOST_CONNECTIONS_DEFAULT 32L
#define TRANSPORT_HOST_CONNECTIONS_MAX 256L

struct transport_config {
	long host_connections; /* 1 to TRANSPORT_HOST_CONNECTIONS_MAX; <= 0:
				  the default */
};

/* Counters since transport_new, for .lightly/stats and the benches. */
struct transport_stats {
	uint64_t transfers; /* attempts run (every request, every retry) */
	uint64_t connects;  /* connections opened for them */
};

struct transport;

/* Call curl_global_init first.  The thread starts with the first
 * request.  NULL on failure. */
struct transport *transport_new(const struct transport_config *cfg);
/* Stops the thread.  No request may be in flight or start after. */
void transport_free(struct transport *t);

/* Stops the thread, which a fork (fuse_daemonize) would lose; the next
 * request starts it again, and the open connections stay.  No request may
 * be in flight. */
void transport_pause(struct transport *t);

void transport_get_stats(struct transport *t, struct transport_stats *out);

#endif

/* The transport's thread (loop.c), as http.c and blob.c use it.  Not part
 * of the interface. */
#ifndef LIGHTLYFS_LOOP_H
#define LIGHTLYFS_LOOP_H

#include <curl/curl.h>

#include "transport.h"

/* The options every easy handle needs on the loop: the shared DNS and TLS
 * session caches, and for https (where HTTP/2 may be offered) waiting for
 * a connection that can carry the request as another stream rather than
 * opening one more.  Call after the handle's own options, url its URL. */
CURLcode transport_setup(struct transport *t, CURL *c, const char *url);

/* Runs c's transfer on the loop and waits for its end: what
 * curl_easy_perform would return.  c's callbacks run on the loop's thread
 * meanwhile; they must touch only what the caller owns, and never wait for
 * another transfer.  c is the caller's again on return. */
CURLcode transport_perform(struct transport *t, CURL *c);

#endif

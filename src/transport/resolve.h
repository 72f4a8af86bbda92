/* LIGHTLYFS_RESOLVE, shared by the API's handles (http.c) and storage's
 * (blob.c).  Not part of the interface. */
#ifndef LIGHTLYFS_RESOLVE_H
#define LIGHTLYFS_RESOLVE_H

#include <curl/curl.h>

/* LIGHTLYFS_RESOLVE="host:port:addr[,host:port:addr...]" as a list for
 * CURLOPT_RESOLVE in *out (NULL when the variable is unset or empty; free
 * it with curl_slist_free_all).  0, -EINVAL for an entry that is not
 * host:port:addr, -ENOMEM. */
int transport_resolve_list(struct curl_slist **out);

#endif

/* A testing aid: the TLS test bed (bench/wan) serves api.test and
 * storage.test, names no resolver knows, and certificates are checked
 * against the name, so the daemon must connect to them by name.  This pins
 * them as curl's --resolve does, without editing /etc/hosts. */
#include "resolve.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"

/* host:port:addr, each part non-empty, port a number; addr may be an IPv6
 * address, whose colons follow the second one. */
static int resolve_entry_ok(const char *e)
{
	const char *c1 = strchr(e, ':'), *c2, *p;

	if (!c1 || c1 == e)
		return 0;
	c2 = strchr(c1 + 1, ':');
	if (!c2 || c2 == c1 + 1 || !c2[1])
		return 0;
	for (p = c1 + 1; p < c2; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

int transport_resolve_list(struct curl_slist **out)
{
	const char *env = getenv("LIGHTLYFS_RESOLVE");
	struct curl_slist *list = NULL, *l;
	char *copy, *save = NULL, *e;
	int err = 0, n = 0;

	*out = NULL;
	if (!env || !env[0])
		return 0;
	copy = strdup(env);
	if (!copy)
		return -ENOMEM;
	for (e = strtok_r(copy, ",", &save); e;
	     e = strtok_r(NULL, ",", &save)) {
		if (!resolve_entry_ok(e)) {
			log_error(
			    "LIGHTLYFS_RESOLVE: '%s' is not host:port:addr", e);
			err = -EINVAL;
			break;
		}
		l = curl_slist_append(list, e);
		if (!l) {
			err = -ENOMEM;
			break;
		}
		list = l;
		n++;
	}
	free(copy);
	if (err) {
		curl_slist_free_all(list);
		return err;
	}
	*out = list;
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Remote drive URIs for the appliance (see uri.h), split by libxml2's RFC
 * 3986 parser rather than by hand. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/uri.h>

#include "lib/valid.h"
#include "uri.h"

void
img_uri_release(struct img_uri *u)
{
	free(u->protocol);
	free(u->exportname);
	free(u->server[0]);
	free(u->username);
	memset(u, 0, sizeof(*u));
}

/* The value of NAME=... in query Q (no decoding: socket paths), or NULL. */
static char *
query_value(const char *q, const char *name)
{
	size_t n = strlen(name);

	while (q && *q) {
		const char *end = strchr(q, '&');
		size_t l = end ? (size_t)(end - q) : strlen(q);

		if (l > n && strncmp(q, name, n) == 0 && q[n] == '=')
			return strndup(q + n + 1, l - n - 1);
		q = end ? end + 1 : NULL;
	}
	return NULL;
}

/* Whether the authority of REST (what follows "://") has a user part
 * with a ':' in it. */
static bool
has_password(const char *rest)
{
	size_t n = strcspn(rest, "/?#");
	const char *at = NULL, *p;

	for (p = rest; p < rest + n; p++)
		if (*p == '@')
			at = p;
	return at && memchr(rest, ':', (size_t)(at - rest)) != NULL;
}

/* A user or host name as libguestfs and qemu take it literally. */
static bool
plain_name(const char *s)
{
	if (*s == '-' || *s == '\0')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' ||
		      *s == '_'))
			return false;
	return true;
}

int
img_uri_parse(const char *image, struct img_uri *u, struct kp_error *err)
{
	static const char *const schemes[] = {
		"nbd", "nbd+unix", "rbd", "iscsi", "ssh", "http", "https", NULL,
	};
	const char *sep = strstr(image, "://"), *path;
	xmlURIPtr x;
	size_t i;
	int r = -1;

	memset(u, 0, sizeof(*u));
	/* A file name never holds "://" before its first '/'. */
	if (sep == NULL || memchr(image, '/', (size_t)(sep - image)))
		return 0;
	/* A password is refused before anything could repeat the URI. */
	if (has_password(sep + 3))
		return kp_fail(err, KP_ERR_INVALID, "an image URI holds a "
			       "password (not shown): it would be seen on the "
			       "command line and in logs; use ssh-agent or the "
			       "protocol's own configuration");
	x = xmlParseURI(image);
	if (x == NULL || x->scheme == NULL)
		return kp_fail(err, KP_ERR_INVALID, "'%s': not a valid URI",
			       image);
	for (i = 0; schemes[i] && strcmp(schemes[i], x->scheme) != 0; i++)
		;
	if (schemes[i] == NULL) {
		kp_fail(err, KP_ERR_INVALID, "'%s': unsupported scheme '%s' "
			"(nbd, nbd+unix, rbd, iscsi, ssh, http, https are)",
			image, x->scheme);
		goto out;
	}
	/* What libguestfs would not take as meant: options smuggled in
	 * a decoded user or host name, or parts that would be dropped. */
	if ((x->user && (!plain_name(x->user) ||
			 strncmp(x->scheme, "nbd", 3) == 0)) ||
	    (x->server && *x->server && !plain_name(x->server) &&
	     !kp_is_ipv6(x->server)) ||
	    x->fragment ||
	    ((x->query || x->query_raw) && strcmp(x->scheme, "nbd+unix"))) {
		kp_fail(err, KP_ERR_INVALID, "'%s': only [USER@]HOST[:PORT]/PATH "
			"is taken (no query or fragment; names of letters, "
			"digits, '.', '-' and '_', not starting with '-'; no "
			"user for nbd)", image);
		goto out;
	}
	path = x->path ? x->path : "";
	u->protocol = strdup(strcmp(x->scheme, "nbd+unix") == 0 ? "nbd" :
								x->scheme);
	if (x->user)
		u->username = strdup(x->user);
	u->readonly = strncmp(x->scheme, "http", 4) == 0;
	if (strcmp(x->scheme, "nbd+unix") == 0) {
		char *sock = query_value(x->query_raw ? x->query_raw : x->query,
					 "socket");

		if (sock == NULL || sock[0] != '/') {
			free(sock);
			kp_fail(err, KP_ERR_INVALID, "'%s': expected "
				"?socket=/PATH", image);
			goto out;
		}
		if (asprintf(&u->server[0], "unix:%s", sock) < 0)
			u->server[0] = NULL;
		free(sock);
	} else if (x->server && *x->server) {
		if (x->port > 0 ? asprintf(&u->server[0], "%s%s:%d",
					   strcmp(x->scheme, "nbd") == 0 ?
						   "tcp:" : "", x->server,
					   x->port) < 0 :
				  asprintf(&u->server[0], "%s%s",
					   strcmp(x->scheme, "nbd") == 0 ?
						   "tcp:" : "", x->server) < 0)
			u->server[0] = NULL;
		if (u->server[0] == NULL) {
			kp_fail_oom(err);
			goto out;
		}
	} else if (strcmp(x->scheme, "rbd") != 0) {
		/* rbd alone may name no monitor: ceph.conf has them. */
		kp_fail(err, KP_ERR_INVALID, "'%s': no server", image);
		goto out;
	}
	/* ssh and http keep the absolute path; the others name an export,
	 * a pool/image or a target/lun without the leading slash. */
	if (strcmp(x->scheme, "ssh") != 0 && strncmp(x->scheme, "http", 4) != 0)
		while (*path == '/')
			path++;
	if ((strcmp(x->scheme, "rbd") == 0 || strcmp(x->scheme, "iscsi") == 0 ||
	     strcmp(x->scheme, "ssh") == 0 || u->readonly) &&
	    (*path == '\0' || strcmp(path, "/") == 0)) {
		kp_fail(err, KP_ERR_INVALID, "'%s': no %s in the URI", image,
			strcmp(x->scheme, "rbd") == 0 ? "pool/image" :
			strcmp(x->scheme, "iscsi") == 0 ? "target/lun" : "path");
		goto out;
	}
	u->exportname = strdup(path);
	if (u->protocol == NULL || u->exportname == NULL ||
	    (x->user && u->username == NULL)) {
		kp_fail_oom(err);
		goto out;
	}
	r = 1;
out:
	if (r < 0)
		img_uri_release(u);
	xmlFreeURI(x);
	return r;
}

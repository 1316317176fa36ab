/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Remote drive URIs for the appliance (see uri.h), split by libxml2's RFC
 * 3986 parser rather than by hand. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/uri.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "lib/buf.h"
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

/* Where nbd drive U's server is: for tcp, every address its host name
 * resolves to with its port, one per line (sorted by getaddrinfo's order
 * is enough: the same name resolves the same way twice); for unix, the
 * socket file's device and inode.  NULL if it cannot be told. */
static char *
endpoint(const struct img_uri *u)
{
	const char *srv = u->server[0];
	struct buf b = BUF_INIT;

	if (u->protocol == NULL || strcmp(u->protocol, "nbd") != 0 || !srv)
		return NULL;
	if (strncmp(srv, "unix:", 5) == 0) {
		struct stat st;

		if (stat(srv + 5, &st) < 0)
			return NULL;
		buf_addf(&b, "unix %llu %llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
	} else if (strncmp(srv, "tcp:", 4) == 0) {
		const char *host = srv + 4, *colon = strrchr(host, ':');
		char *h = colon ? strndup(host, (size_t)(colon - host)) :
				  strdup(host);
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;

		if (h == NULL || getaddrinfo(h, colon ? colon + 1 : "10809",
					     &hints, &ai) != 0) {
			free(h);
			return NULL;
		}
		for (a = ai; a; a = a->ai_next) {
			char n[NI_MAXHOST], p[NI_MAXSERV];

			if (getnameinfo(a->ai_addr, a->ai_addrlen, n, sizeof(n),
					p, sizeof(p), NI_NUMERICHOST |
					NI_NUMERICSERV) == 0)
				buf_addf(&b, "%s %s\n", n, p);
		}
		freeaddrinfo(ai);
		free(h);
	}
	return b.data;
}

/* Do the endpoint lists A and B share an address? */
static bool
share(const char *a, const char *b)
{
	const char *p;

	for (p = a; p && *p;) {
		const char *nl = strchrnul(p, '\n');
		size_t l = (size_t)(nl - p);
		const char *q;

		for (q = b; q && *q;) {
			const char *nq = strchrnul(q, '\n');

			if ((size_t)(nq - q) == l && memcmp(p, q, l) == 0)
				return true;
			q = *nq ? nq + 1 : nq;
		}
		p = *nl ? nl + 1 : nl;
	}
	return false;
}

int
img_uri_same(char *const *images, size_t n, struct kp_error *err)
{
	struct kp_error ignored = KP_ERROR_INIT;
	struct img_uri *u = calloc(n ? n : 1, sizeof(*u));
	char **ep = calloc(n ? n : 1, sizeof(*ep));
	size_t i, k;
	int r = 0;

	if (u == NULL || ep == NULL) {
		free(u);
		free(ep);
		return kp_fail_oom(err);
	}
	for (i = 0; i < n; i++)
		if (img_uri_parse(images[i], &u[i], &ignored) == 1)
			ep[i] = endpoint(&u[i]);
	for (i = 0; i < n && r == 0; i++)
		for (k = 0; k < i && r == 0; k++)
			if (ep[i] && ep[k] && share(ep[i], ep[k]) &&
			    strcmp(u[i].exportname, u[k].exportname) == 0)
				r = kp_fail(err, KP_ERR_INVALID, "'%s' and '%s' "
					    "are the same image twice (one "
					    "export of one server)", images[k],
					    images[i]);
	for (i = 0; i < n; i++) {
		img_uri_release(&u[i]);
		free(ep[i]);
	}
	free(u);
	free(ep);
	return r;
}

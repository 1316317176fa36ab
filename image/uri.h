/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Image arguments that are URIs of remote drives, for the libguestfs
 * appliance: the protocol, server and export name that
 * guestfs_add_drive_opts takes, after the URI forms guestfish's -a
 * accepts (https://libguestfs.org/guestfish.1.html#adding-remote-storage).
 * The direct backend reads nbd URIs itself (image/imgio.h).
 */
#ifndef KP_URI_H
#define KP_URI_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

struct img_uri {
	char *protocol;		/* nbd, rbd, iscsi, ssh, http, https */
	char *exportname;	/* add_drive's filename: export, pool/image,
				 * target/lun or path */
	char *server[2];	/* one server or none, NULL-terminated */
	char *username;		/* or NULL */
	bool readonly;		/* the protocol cannot write (http, https) */
};

/* 1 with U filled if IMAGE is a remote drive URI, 0 if it is a file name
 * (no "scheme://"); -1 for a URI that is malformed, of an unsupported
 * scheme, or carries a password (secrets never come on the command line:
 * ssh-agent, the Ceph keyring or a protocol's own configuration hold
 * them). */
int img_uri_parse(const char *image, struct img_uri *u, struct kp_error *err);

void img_uri_release(struct img_uri *u);

/* Do two of IMAGES name one export of one NBD server under two names
 * (nbd://127.0.0.1:P/ and nbd://localhost:P/, or one socket by two
 * paths)?  KP_ERR_INVALID if so, naming both.  Only what can be told
 * here is compared: resolved addresses and ports, socket files, export
 * names. */
int img_uri_same(char *const *images, size_t n, struct kp_error *err);

#endif

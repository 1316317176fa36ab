/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An image file as kmsprep opens it, whichever backend reads it.
 *
 * disk_inspect reads the file's header with kmsprep's own reader
 * (image/format.h) in a sandboxed worker, never qemu's probe.  An image
 * that names another file (a backing file, an external data file, a VMDK
 * extent, a parent) is refused unless the caller accepts references; then
 * each file it names is checked the same way, recursively (a local
 * regular file, no protocol or json: name, no loop, a bounded depth), and
 * the chain qemu will open is exactly the one checked.
 *
 * disk_serve runs qemu-nbd on it confined (lib/sandbox.h sb_spawn: its
 * own network namespace, no capability, a seccomp filter, and Landlock
 * fencing it to the files checked), told every node explicitly: the
 * format, the file driver, and the backing chain (or none), so nothing in
 * the image chooses what qemu opens.
 */
#ifndef KP_IMAGE_DISK_H
#define KP_IMAGE_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "image/format.h"
#include "lib/error.h"

struct disk;

struct disk_opts {
	const char *format;	/* as the user named it; NULL: read it */
	bool allow_refs;	/* accept the files the image names */
};

/* Read image file PATH; *D describes it (disk_free).  KP_ERR_INPUT for an
 * image that names another file and O->allow_refs is not set (with the
 * remedy KP_REMEDY_ALLOW_REFERENCES), for one that is not what its name
 * says, or for a reference that cannot be followed safely. */
int disk_inspect(const char *path, const struct disk_opts *o,
		 struct disk **d_ret, struct kp_error *err);

void disk_free(struct disk *d);

/* The format read ("qcow2"), the disk's size in bytes. */
const char *disk_format(const struct disk *d);
uint64_t disk_size(const struct disk *d);

/* Are the disk's bytes the file's own from offset 0 (raw, a fixed VHD
 * before its footer), readable without qemu? */
bool disk_flat(const struct disk *d);

/* Can qemu only append to it (a stream-optimized VMDK)?  Then it is read
 * only, or written through an overlay. */
bool disk_append_only(const struct disk *d);

/* All that was read of the image itself (a WIM's images and kind). */
const struct fmt_info *disk_info(const struct disk *d);

/* Its logical sector size as read from its bytes (512, or 4096 for a
 * raw 4Kn disk). */
unsigned disk_sector(const struct disk *d);

/* The descriptor of the image file as inspected (read-only); its device
 * and inode identify the file that was checked. */
int disk_fd(const struct disk *d);

/* How many files it takes (the image and every file checked behind it). */
size_t disk_nfiles(const struct disk *d);

struct disk_serve_opts {
	bool readonly;		/* serve it read-only */
	const char *overlay;	/* create this new qcow2 file over the image
				 * and serve that instead */
	const char *sock;	/* listen on this path (for the appliance),
				 * for one client after another until
				 * stopped; NULL: return a connected socket,
				 * served until that client goes */
};

struct disk_server;

/* Serve D by a confined qemu-nbd.  Without O->sock, *FD is a socket
 * already connected to it (hand it to libnbd); with it, the server
 * listens there (libguestfs connects once to size its overlay, then qemu
 * connects, and again if it is started a second time).  An overlay is created first, refused if
 * anything (a dangling link too) is at its path: KP_ERR_REFUSED. */
int disk_serve(const struct disk *d, const struct disk_serve_opts *o,
	       struct disk_server **srv_ret, int *fd, struct kp_error *err);

/* What qemu-nbd said on its standard error (made printable), for the
 * message of a connection that failed; "" if nothing. */
const char *disk_server_said(struct disk_server *srv);

/* SRV's process id: how much it computes is read from /proc. */
pid_t disk_server_pid(const struct disk_server *srv);

/* Wait for qemu-nbd to end (it ends when its client leaves), killing it
 * if it has not within a few seconds; remove a new overlay unless
 * KEEP_OVERLAY.  -1 if it did not end normally. */
int disk_server_stop(struct disk_server *srv, bool keep_overlay,
		     struct kp_error *err);

#endif

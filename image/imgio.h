/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Byte access to a disk image without an appliance.
 *
 * Every image file is first read by kmsprep's own header reader in a
 * sandbox (image/disk.h): one that names another file is refused unless
 * references are accepted.  A raw image (or a fixed VHD, up to its footer)
 * is then read and written with pread/pwrite on its file.  Any other
 * format is served by a private qemu-nbd, confined to the files checked
 * and told each of them explicitly, over a socket only kmsprep reaches:
 * no nbd kernel module.  A read-only channel refuses every write (EROFS),
 * so a read-only command cannot change a byte.
 *
 * The channel survives fork(): a sandboxed worker (lib/sandbox.h) keeps
 * using it while the parent waits; only the parent may close it.
 */
#ifndef KP_IMGIO_H
#define KP_IMGIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

struct imgio;

struct imgio_opts {
	const char *format;	/* raw|qcow2|vmdk|vhdx|vpc|vdi, NULL: read it */
	bool readonly;		/* never written */
	bool dry_run;		/* read-only, but refused as a write would be */
	const char *overlay;	/* create this qcow2 overlay and serve it */
	bool force_nbd;		/* serve a raw image through qemu-nbd too */
	bool allow_refs;	/* accept the files an image names, checked */
	/* The time a sandboxed worker has for each request (image/worker.h);
	 * each NBD request has half of it.  0: the defaults. */
	unsigned timeout_s;
};

/* Each NBD request's deadline when imgio_opts.timeout_s is 0. */
#define IMGIO_NBD_TIMEOUT 30

/* Is PATH an NBD URI (nbd://, nbds://, nbd+unix://, nbds+unix://; see
 * https://github.com/NetworkBlockDevice/nbd/blob/master/doc/uri.md)
 * rather than a file?  Its export is the disk's bytes: format raw. */
bool imgio_is_uri(const char *path);

/* Open PATH, a file or an NBD URI.  A raw image held by a running qemu
 * (its OFD locks) is refused (KP_ERR_REFUSED); qemu-nbd checks the same
 * locks itself. */
int imgio_open(const char *path, const struct imgio_opts *o,
	       struct imgio **io_ret, struct kp_error *err);

/* Read or write exactly LEN bytes at OFF; -1 with errno set on failure
 * (EROFS for a write to a read-only channel, EINVAL past the end). */
int imgio_pread(struct imgio *io, void *buf, size_t len, uint64_t off);
int imgio_pwrite(struct imgio *io, const void *buf, size_t len, uint64_t off);

/* Whether the NBD connection has failed (a request's deadline passed, the
 * server went away): its errno (ETIMEDOUT for a deadline), or 0.  *REMOTE
 * tells whether the server was an NBD URI's rather than kmsprep's own
 * qemu-nbd.  Every request after a failure fails at once. */
int imgio_fault(const struct imgio *io, bool *remote);

/* Give the NBD connection up (nothing for a raw file): no request, flush
 * or goodbye goes on it any more, from this process or another holding
 * it.  For a channel a worker died using, mid-request perhaps. */
void imgio_abandon(struct imgio *io);

/* Flush written data to stable storage (fsync, or NBD_CMD_FLUSH). */
int imgio_flush(struct imgio *io);

uint64_t imgio_size(const struct imgio *io);
bool imgio_readonly(const struct imgio *io);
/* The format served ("raw", "qcow2", ...). */
const char *imgio_format(const struct imgio *io);
/* The file descriptor of a raw channel, -1 for nbd (libblkid reads a raw
 * image through it). */
int imgio_fd(const struct imgio *io);
/* A descriptor libblkid can read the partition tables from: a raw
 * channel's file, or for nbd a sealed memory file holding the disk's
 * first and last MiB (made on the first call, so in the parent before a
 * worker starts; a worker only reads it).  -1 on error. */
int imgio_shadow(struct imgio *io, struct kp_error *err);

/* The socket of an nbd channel, -1 for raw (the sandbox keeps it open). */
int imgio_sock(const struct imgio *io);
/* Have the bytes been written through this channel? */
bool imgio_written(const struct imgio *io);
/* Bytes written through this channel (in this process) so far: for tests
 * and benchmarks of how much an edit writes to an image. */
uint64_t imgio_bytes_written(const struct imgio *io);

/* Flush, stop qemu-nbd and free.  A new overlay is removed again unless
 * KEEP_OVERLAY.  Returns -1 if the flush failed. */
int imgio_close(struct imgio *io, bool keep_overlay, struct kp_error *err);

#endif

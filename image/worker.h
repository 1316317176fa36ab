/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The direct backend in a sandboxed worker (lib/sandbox.h): the parent
 * opens the image channel (the file, or qemu-nbd through libnbd), then a
 * worker that holds only that channel and a socket to the parent mounts
 * and parses the NTFS volumes.  A hostile image that subverts libntfs-3g
 * gets a process that can make no system call but I/O on what it holds.
 *
 * Each call is the ntfsvol_* call of the same name (image/ntfsvol.h), run
 * in the worker; data and paths cross the socket, bounded (SB_MSG_MAX).
 */
#ifndef KP_WORKER_H
#define KP_WORKER_H

#include "image/ntfsvol.h"

struct worker_session;

/* Open PATH in this process and start the worker on it.  MEM_MAX bounds
 * the worker's address space (0: 4 GiB). */
int worker_open(const char *path, const struct imgio_opts *o, uint64_t mem_max,
		struct worker_session **s_ret, struct kp_error *err);

/* The image's format, as read when it was opened ("qcow2"). */
const char *worker_format(const struct worker_session *s);

int worker_find_windows(struct worker_session *s, struct kp_error *err);
int worker_open_volume(struct worker_session *s, unsigned part, size_t *root,
		       struct kp_error *err);
const struct ntfsvol_root *worker_roots(const struct worker_session *s,
					size_t *n);
const struct ntfsvol_locked *worker_locked(const struct worker_session *s,
					   size_t *n);
const char *worker_table(const struct worker_session *s);
/* Remount ROOT read-write; *MIRROR: the $MFTMirr records repaired on the
 * way (ntfsvol_root.mirror). */
int worker_make_writable(struct worker_session *s, size_t root,
			 unsigned *mirror, struct kp_error *err);
/* ntfsvol_repair in the worker. */
int worker_repair(struct worker_session *s, size_t root, unsigned *fixed,
		  struct kp_error *err);
int worker_read(struct worker_session *s, size_t root, const char *path,
		size_t max, struct buf *out, struct kp_error *err);
/* Copy PATH (at most MAX bytes) into FD, an empty file of the caller's,
 * which this sizes and sends to the worker for the call: it reads the
 * file straight into it, so the bytes are copied once and pass neither
 * through the socket nor this process. */
int worker_copy(struct worker_session *s, size_t root, const char *path,
		size_t max, int fd, struct kp_error *err);
int worker_replace(struct worker_session *s, size_t root, const char *path,
		   const void *data, size_t len, unsigned flags,
		   struct kp_error *err);
int worker_create_sd(struct worker_session *s, size_t root, const char *path,
		     const void *data, size_t len, const void *sd, size_t sdlen,
		     struct kp_error *err);
int worker_journal(struct worker_session *s, size_t root, const char *primary,
		   const char *log, const void *sd, size_t sdlen,
		   const struct journal_writes *p, uint64_t *written,
		   struct kp_error *err);
int worker_remove(struct worker_session *s, size_t root, const char *path,
		  struct kp_error *err);
char **worker_ls(struct worker_session *s, size_t root, const char *path,
		 struct kp_error *err);
int worker_mkdir(struct worker_session *s, size_t root, const char *path,
		 struct kp_error *err);
int worker_get_sd(struct worker_session *s, size_t root, const char *path,
		  struct buf *out, uint32_t *attrib, struct kp_error *err);

/* Unmount in the worker, stop it, flush and close the image.  A worker
 * that died leaves the image as far as it got: for a write, an error. */
int worker_close(struct worker_session *s, bool ok, struct kp_error *err);

/* Tests only: with KMSPREP_SANDBOX_SELFTEST=1 in the environment at
 * worker_open, this makes the worker call socket(), which must kill it. */
int worker_selftest_forbidden(struct worker_session *s, struct kp_error *err);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File input and atomic file output.
 *
 * Inputs are opened without blocking on FIFOs, must be regular files and are
 * bounded in size.  Outputs are never written in place: kp_tmpfile creates a
 * temporary file in the destination's directory; kp_tmpfile_commit fsyncs
 * it, gives it the destination's mode and owner, renames it over the
 * destination and fsyncs the directory.  Until the rename the destination is
 * untouched, so any failure leaves the old file as it was.
 */
#ifndef KP_FILEIO_H
#define KP_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "buf.h"
#include "error.h"

/* Open PATH for reading as a regular file; returns an fd or -1.  A missing,
 * unreadable or non-regular file is KP_ERR_INPUT.  ST_RET may be NULL. */
int kp_open_input(const char *path, struct stat *st_ret, struct kp_error *err);

/* Read a whole regular file ("-" is standard input) of at most MAX bytes,
 * appending to OUT. */
int kp_read_file(const char *path, size_t max, struct buf *out,
		 struct kp_error *err);

/* A read-only mapping of a whole regular file, with the file kept open so
 * that others can be handed exactly this file (/proc/self/fd/FD). */
struct kp_map {
	const unsigned char *data;
	size_t len;
	struct stat st;
	int fd;
};

#define KP_MAP_INIT { NULL, 0, { 0 }, -1 }

/* Map PATH read-only; its size must lie within [MIN, MAX].  An empty file
 * gives LEN 0 and a DATA pointer that must not be read. */
int kp_map_file(const char *path, size_t min, size_t max, struct kp_map *m,
		struct kp_error *err);
/* The same without prefaulting: only the pages read come into memory (for
 * a mapping kept open beside another copy of the file). */
int kp_map_file_lazy(const char *path, size_t min, size_t max,
		     struct kp_map *m, struct kp_error *err);
void kp_unmap(struct kp_map *m);

/* A temporary file next to DEST, to be renamed over it.  Both are named
 * relative to their directory, opened once. */
struct kp_tmpfile {
	char *path;		/* the temporary file, NULL once committed */
	char *dest;		/* the final name */
	int fd;			/* open read-write on path */
	int dirfd;		/* DEST's directory */
	char *base, *tmpbase;	/* DEST's and the temporary file's names in it */
};

#define KP_TMPFILE_INIT { NULL, NULL, -1, -1, NULL, NULL }

/* Create the temporary file (mode 0600) in DEST's directory.  A DEST that
 * is a symbolic link, or exists and is not a regular file, is refused
 * (KP_ERR_REFUSED), here and again at the rename: a link is never
 * followed, so a link planted in a shared directory cannot redirect the
 * write.  (hive_open resolves the hive a user edits in place first.) */
int kp_tmpfile_open(struct kp_tmpfile *t, const char *dest,
		    struct kp_error *err);

/* Options for committing a temporary file. */
struct kp_commit_opts {
	const struct stat *like;	/* copy mode and owner from this */
	mode_t mode;			/* mode when LIKE is NULL */
	bool no_replace;		/* fail if DEST exists */
	const char *backup;		/* keep the old DEST under this name */
};

/* fsync, set mode/owner, rename over DEST (keeping a backup if asked) and
 * fsync the directory.  On failure the temporary file is removed.  Returns
 * 0, -1 if DEST is unchanged, or 1 (with ERR set) if DEST was replaced but
 * its directory could not be synced. */
int kp_tmpfile_commit(struct kp_tmpfile *t, const struct kp_commit_opts *o,
		      struct kp_error *err);

/* Remove the temporary file if it still exists and free the record. */
void kp_tmpfile_discard(struct kp_tmpfile *t);

/* Write LEN bytes at the current position, retrying short writes. */
int kp_write_all(int fd, const void *p, size_t len);

/* Write, or read, exactly LEN bytes at offset AT of FD, retrying short
 * and interrupted calls; -1 with errno (EIO for an early end). */
int kp_pwrite_all(int fd, const void *p, size_t len, off_t at);
int kp_pread_all(int fd, void *p, size_t len, off_t at);

/* Create DEST, a new file (mode 0600) in a private scratch directory
 * that is removed at exit, open for reading and writing (a worker may
 * map it): it gets no fsync and no
 * rename, since nothing needs it to survive a crash. */
int kp_scratch_create(const char *dest, struct kp_error *err);

/* A file for a sandboxed worker to fill: a sealable memfd, SIZE bytes
 * that it cannot grow or shrink, or with SIZE 0 empty and growable. */
int kp_worker_file(uint64_t size, struct kp_error *err);

/* Seal FD, which a worker filled, against any further change: a worker
 * that kept it mapped for writing is caught here (KP_ERR_INPUT), and one
 * that kept the descriptor can write no more through it. */
int kp_worker_file_seal(int fd, const char *what, struct kp_error *err);

/* Copy LEN bytes from the start of IN to OUT's current offset. */
int kp_copy_fd(int in, int out, uint64_t len, struct kp_error *err);

/* Write DATA to a new scratch file DEST (kp_scratch_create). */
int kp_write_scratch(const char *dest, const void *data, size_t len,
		     struct kp_error *err);

/* Write DATA to DEST atomically (temporary file, fsync, rename). */
int kp_write_file_atomic(const char *dest, const void *data, size_t len,
			 const struct kp_commit_opts *o, struct kp_error *err);

/* Pick a backup name "PATH.bak", or "PATH.bak.N" if that exists.  The
 * caller frees the result. */
char *kp_backup_name(const char *path, struct kp_error *err);

/* A secret (product key, TSIG secret, signing key) is about to be read:
 * from now on the process is not dumpable (prctl PR_SET_DUMPABLE 0), so a
 * crash leaves no core file holding it and other users cannot ptrace it.
 * The buffers are still wiped after use. */
void kp_secrets_in_memory(void);

/* Resolve symbolic links in PATH so that an in-place edit of a file named
 * through a link replaces the file read, not the link. */
char *kp_realpath_for_write(const char *path, struct kp_error *err);

/* A new private scratch directory (mode 0700) under $TMPDIR or /tmp;
 * caller frees the name and removes it with kp_rmtree. */
char *kp_mkdtemp(struct kp_error *err);

/* Remove DIR and everything below it, following no link. */
void kp_rmtree(const char *dir);

/* Remove every directory kp_mkdtemp made that kp_rmtree has not, using
 * async-signal-safe calls only: for a signal handler, before kmsprep
 * ends on SIGINT or SIGTERM. */
void kp_scratch_remove_all(void);

#endif

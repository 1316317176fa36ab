/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The direct image backend: Windows images edited in this process with
 * libntfs-3g, without an appliance (issue 14).  One session is one image.
 *
 * Its calls map one to one onto the image layer's backend operations:
 *   open images          ntfsvol_open
 *   find Windows roots   ntfsvol_find_windows, ntfsvol_roots, ntfsvol_locked
 *   probe hibernation/BitLocker/unclean
 *                        ntfsvol_find_windows fills ntfsvol_root.state;
 *                        ntfsvol_root_unwritable says why not
 *   read a file          ntfsvol_read
 *   replace a file keeping its security descriptor and attributes
 *                        ntfsvol_replace
 *   create a file with an ACL
 *                        ntfsvol_replace with DR_SECRET, or ntfsvol_create_sd
 *   remove               ntfsvol_remove
 *   list                 ntfsvol_ls
 *   close                ntfsvol_close
 * plus ntfsvol_make_writable (remount one root read-write), ntfsvol_mkdir and
 * ntfsvol_get_sd (a file's security descriptor, for checks).
 *
 * Every volume is mounted read-only until ntfsvol_make_writable: a read-only
 * session, or one that writes nothing, leaves the image byte-identical.
 * A read-write mount is refused by libntfs-3g itself on a hibernated,
 * Fast Startup or unclean volume, and ntfsvol_make_writable refuses it first.
 *
 * Paths inside a root are "/"-separated, relative to the volume's root
 * directory ("Windows/System32/config/SOFTWARE"), matched in any case as
 * Windows does.
 */
#ifndef KP_DIRECT_H
#define KP_DIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hive/journal.h"
#include "lib/buf.h"
#include "image/imgio.h"
#include "lib/error.h"

struct imgio;

/* Why a volume may not be written. */
enum ntfsvol_state {
	DR_CLEAN = 0,
	DR_HIBERNATED,		/* hiberfil.sys starts "HIBR"/"hibr"/"RSTR" */
	DR_FAST_STARTUP,	/* $LogFile kept for Windows' fast restart */
	DR_UNCLEAN,		/* $LogFile not clean, or the dirty flag */
};

/* A volume holding Windows (Windows/System32/config/SOFTWARE). */
struct ntfsvol_root {
	unsigned part;		/* partition number, 0 for a whole disk */
	uint64_t start;		/* byte offset of the volume in the disk */
	uint64_t size;
	char *systemroot;	/* "/Windows" in its real case */
	enum ntfsvol_state state;
	bool rw;		/* mounted read-write */
	/* $MFTMirr records that differed from $MFT (an interrupted write)
	 * and were repaired: in what is read, and once RW on the volume. */
	unsigned mirror;
	/* Transaction logs of the hives' directory whose entries name no
	 * file (an interrupted create); ntfsvol_repair removes them. */
	unsigned dangling;
};

/* A volume that could not be looked into. */
struct ntfsvol_locked {
	unsigned part;
	bool bitlocker;
	char *why;
};

struct ntfsvol;

/* Open image PATH (nothing is mounted yet). */
int ntfsvol_open(const char *path, const struct imgio_opts *o,
		 struct ntfsvol **s_ret, struct kp_error *err);

/* Can the direct backend do the work on PATH, or must the appliance?  1:
 * every volume is plain NTFS on MBR/GPT (or a filesystem on the whole
 * disk) and Windows was found; 0: not, with the reason on one line in WHY
 * (LVM, a dynamic disk, Storage Spaces, a BitLocker volume when
 * BITLOCKER_KEY, a logical partition behind nbd, no Windows); -1 error.
 * Reads only. */
int ntfsvol_supported(const char *path, const struct imgio_opts *o,
		      bool bitlocker_key, char *why, size_t whysz,
		      struct kp_error *err);

/* Open a session over a channel already open (the caller keeps IO and
 * closes it after ntfsvol_close): what a sandboxed worker does. */
int ntfsvol_open_io(struct imgio *io, struct ntfsvol **s_ret,
		    struct kp_error *err);

/* Read the partition table, mount every NTFS volume read-only, keep those
 * that hold Windows and probe their state.  BitLocker and volumes that
 * cannot be opened are listed by ntfsvol_locked. */
int ntfsvol_find_windows(struct ntfsvol *s, struct kp_error *err);

/* Mount NTFS partition PART (0: a filesystem on the whole disk)
 * read-only as a root even if it holds no Windows (to build test images,
 * or to reach a data volume); its index goes to *ROOT. */
int ntfsvol_open_volume(struct ntfsvol *s, unsigned part, size_t *root,
			struct kp_error *err);

const struct ntfsvol_root *ntfsvol_roots(const struct ntfsvol *s, size_t *n);
const struct ntfsvol_locked *ntfsvol_locked(const struct ntfsvol *s, size_t *n);
/* The partition table seen: "dos", "gpt", "none" (before ntfsvol_find_windows:
 * NULL). */
const char *ntfsvol_table(const struct ntfsvol *s);

/* Why root R cannot be written, or NULL. */
const char *ntfsvol_root_unwritable(const struct ntfsvol_root *r);

/* Remount root ROOT read-write; refused (KP_ERR_REFUSED) unless its
 * state is DR_CLEAN and the session may write. */
/* Remove the entries of ROOT's hives' directory that name no file
 * (ntfsvol_root.dangling); ROOT must be writable.  *FIXED: how many. */
int ntfsvol_repair(struct ntfsvol *s, size_t root, unsigned *fixed,
		   struct kp_error *err);

int ntfsvol_make_writable(struct ntfsvol *s, size_t root, struct kp_error *err);

/* Read the whole file PATH of at most MAX bytes into OUT. */
int ntfsvol_read(struct ntfsvol *s, size_t root, const char *path, size_t max,
		 struct buf *out, struct kp_error *err);

/* The size of the file PATH, checked as ntfsvol_read checks it. */
int ntfsvol_size(struct ntfsvol *s, size_t root, const char *path, size_t max,
		 uint64_t *size, struct kp_error *err);

/* Read the file PATH, which must be SIZE bytes, into DST. */
int ntfsvol_read_into(struct ntfsvol *s, size_t root, const char *path,
		      void *dst, size_t size, struct kp_error *err);

/* ntfsvol_replace flags. */
#define DR_SECRET 1u	/* SYSTEM and Administrators only */

/* Replace (or create) PATH with LEN bytes at DATA: a temporary file in the
 * same directory gets the old file's security descriptor and attributes
 * (a new file or DR_SECRET: SYSTEM and Administrators full control, Users
 * read unless secret) before any content, then the content; it is read
 * back and compared, renamed over PATH, and read back again.  On failure
 * before the rename PATH is unchanged. */
int ntfsvol_replace(struct ntfsvol *s, size_t root, const char *path,
		    const void *data, size_t len, unsigned flags,
		    struct kp_error *err);

/* As ntfsvol_replace for a new file, with security descriptor SD (self-relative
 * binary form) instead of the default one. */
int ntfsvol_create_sd(struct ntfsvol *s, size_t root, const char *path,
		      const void *data, size_t len, const void *sd,
		      size_t sdlen, struct kp_error *err);

/* Remove file PATH (never a directory). */
int ntfsvol_remove(struct ntfsvol *s, size_t root, const char *path,
		   struct kp_error *err);

/* The names in directory PATH, without "." and "..", NULL-terminated
 * (caller frees each and the array). */
char **ntfsvol_ls(struct ntfsvol *s, size_t root, const char *path,
		  struct kp_error *err);

/* Create directory PATH and its missing parents, with the default
 * descriptor (inherited by what is created in them). */
int ntfsvol_mkdir(struct ntfsvol *s, size_t root, const char *path,
		  struct kp_error *err);

/* PATH's security descriptor (self-relative, as stored) into OUT, and its
 * attributes (FILE_ATTRIBUTE_*) into *ATTRIB if not NULL. */
int ntfsvol_get_sd(struct ntfsvol *s, size_t root, const char *path,
		   struct buf *out, uint32_t *attrib, struct kp_error *err);

/* Set PATH's attributes (FILE_ATTRIBUTE_* such as HIDDEN 0x2, SYSTEM 0x4,
 * ARCHIVE 0x20; libntfs-3g keeps only those a user may set). */
int ntfsvol_set_attrib(struct ntfsvol *s, size_t root, const char *path,
		       uint32_t attrib, struct kp_error *err);

/* Unmount everything (flushing what libntfs-3g holds) and close the image.
 * OK false removes a new overlay.  Returns -1 if anything could not be
 * written. */
int ntfsvol_close(struct ntfsvol *s, bool ok, struct kp_error *err);

/* Carry out the journaled commit P (hive/journal.h) in place on the hive
 * PRIMARY and its log LOG (P->log's), both in root ROOT: each step's
 * writes go to the existing $DATA (grown as needed; the log is created if
 * missing, with SD, or the hive's descriptor when SD is NULL, hidden and
 * system), then
 * the file and the image are flushed and the writes read back and
 * compared.  *WRITTEN: bytes this wrote to the image. */
int ntfsvol_journal(struct ntfsvol *s, size_t root, const char *primary,
		    const char *log, const void *sd, size_t sdlen,
		    const struct journal_writes *p, uint64_t *written,
		    struct kp_error *err);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Windows disk images, through one of two backends (image/backend.h):
 *
 *  - direct: libntfs-3g on the image's bytes (raw read directly, other
 *    formats through qemu-nbd), each image in a sandboxed worker process
 *    (image/worker.h); no appliance, no kernel mount;
 *  - appliance: one libguestfs appliance for all images of a command, so
 *    it starts once (10-15 s under TCG).  If it does not start and the
 *    user did not choose backend settings, it is started again once with
 *    TCG (software emulation).  It also unlocks BitLocker with a key and
 *    reads what the direct backend does not (LVM, dynamic disks, ...).
 *
 * img_open chooses (img_opts.backend): auto takes the direct backend when
 * every image holds Windows on plain NTFS on MBR, GPT or a whole-disk
 * filesystem, and says on one line why not otherwise.  Every img_* call
 * below dispatches through the chosen backend's table.
 *
 * Before anything is written each image is checked: it must exist, be
 * writable when it will be written, and not be held by a running qemu
 * (its image locks).  Windows is located directly, without full
 * inspection: every NTFS filesystem is probed for read-write use
 * (hibernation, Fast Startup, unclean shutdown), opened read-only at its
 * own root (/r0, /r1, ...) and searched for
 * \Windows\System32\config\SOFTWARE, case-insensitively.
 */
#ifndef KP_IMAGE_H
#define KP_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "hive/journal.h"
#include "lib/error.h"

/* Progress and notes for the user; the library never prints. */
typedef void img_notice_fn(void *ud, const char *msg);

/* A slow step as it goes, for a line a CLI rewrites in place on a
 * terminal: STEP is what is being done, DONE of TOTAL items (TOTAL 0: it
 * is not counted, SECONDS says how long it has run).  It is called when
 * the step begins, as it advances (about once a second while the library
 * waits, then from a thread of its own, while no other callback of these
 * options can run), and with STEP NULL when it is over. */
typedef void img_progress_fn(void *ud, const char *step, size_t done,
			     size_t total, unsigned seconds);

/* Which backend img_open uses. */
enum img_backend_choice {
	IMG_BACKEND_AUTO = 0,	/* direct if it can do the work, else the
				 * appliance, saying why (notice) */
	IMG_BACKEND_DIRECT,
	IMG_BACKEND_APPLIANCE,
	IMG_BACKEND_WIM,	/* wimlib, for WIM files (auto takes it for
				 * them, and only it reads them) */
};

struct img_opts {
	enum img_backend_choice backend;
	const char *format;		/* raw|qcow2|vmdk|vhdx|vpc|vdi, NULL:
					 * read it (image/disk.h) */
	bool allow_refs;		/* accept files an image names */
	bool readonly;			/* drives are never written */
	bool dry_run;			/* read-only, but refused wherever the
					 * write would be, before it begins */
	const char *overlay;		/* write to a new qcow2 overlay */
	const char *bitlocker_key_file;	/* recovery password for BitLocker */
	unsigned timeout_s;		/* each request to an image's worker;
					 * NBD requests get half (imgio.h);
					 * 0: the defaults */
	img_notice_fn *notice;		/* progress (a CLI may silence it) */
	img_notice_fn *warn;		/* what the user must hear (TCG) */
	img_progress_fn *progress;	/* or NULL: the appliance's launch
					 * and search, as they go */
	const unsigned *indexes;	/* WIM files: only these images
					 * (1, 2, ...); none: every one */
	size_t nindexes;
	/* WIM files as img_expand gave them: each image's index (a WIM
	 * file named once per index); NULL: index 1 of each. */
	const unsigned *wim_index_of;
	void *ud;
};

/* A filesystem holding a Windows installation. */
struct img_root {
	size_t image;		/* index of its image */
	char *device;		/* /dev/sda1, or /dev/mapper/... */
	char *mnt;		/* its root in guest paths: /r0, /r1, ... */
	char *systemroot;	/* guest path of \Windows, in its real case */
	int probe;		/* the backend's verdict: 0 = writable */
	bool bitlocker;		/* on a BitLocker volume */
	bool rw;		/* mounted read-write */
	unsigned repair;	/* IMG_REPAIR_*: what an interrupted write
				 * left, which writing repairs */
	/* A WIM image: its index (1, 2, ...; 0 for a disk), and its name
	 * and edition as the WIM's XML data gives them. */
	unsigned wim_index;
	char *wim_name;
	char *wim_edition;
};

/* What an interrupted write can leave in a volume (img_root.repair). */
#define IMG_REPAIR_MIRROR 1u	/* $MFTMirr differs from a sound $MFT */
#define IMG_REPAIR_ENTRY 2u	/* a log's directory entry names no file */

/* A filesystem that could not be looked into (e.g. BitLocker), or an
 * image of a WIM file that holds no Windows (NO_WINDOWS). */
struct img_locked {
	size_t image;
	char *device;
	char *why;
	bool bitlocker;		/* a BitLocker volume kept locked: a refusal */
	enum kp_remedy remedy;	/* what would open it */
	/* A WIM image looked into and found without Windows: passed over
	 * where the user did not name its index (img_expanded.passable),
	 * else an error.  Its name from the WIM's XML data. */
	bool no_windows;
	char *wim_name;
};

struct img_session;

/* Choose the backend, check the images and open them (the appliance:
 * add them as drives and start it). */
int img_open(char *const *images, size_t n, const struct img_opts *o,
	     struct img_session **s_ret, struct kp_error *err);

/* The images a command works on, as img_open takes them: each WIM file
 * once per image (index) it holds, or per index in O->indexes, or only
 * image ONLY[I] where ONLY (NULL: none) gives one (the name
 * repeated, its index in INDEX_OF, its place among IMAGES in FROM); any
 * other image once (index 0).  PASSABLE says which were taken by default
 * (every index of a WIM, none named): one of those without Windows is
 * passed over, as long as another index of its file holds Windows.  X is
 * left empty (NULL names) when there is no WIM file: use IMAGES as they
 * are.  Give INDEX_OF to img_open as img_opts.wim_index_of. */
struct img_expanded {
	char **names;
	unsigned *index_of;
	size_t *from;
	bool *passable;
	size_t n;
};
int img_expand(char *const *images, size_t n, const struct img_opts *o,
	       const unsigned *only, struct img_expanded *x,
	       struct kp_error *err);
void img_expanded_release(struct img_expanded *x);

/* Find every Windows installation (see above). */
int img_find_windows(struct img_session *s, struct kp_error *err);

/* The installations found, and the volumes that could not be opened. */
struct img_root *img_roots(const struct img_session *s, size_t *n);
const struct img_locked *img_locked(const struct img_session *s, size_t *n);

/* The image paths ("FILE (index N)" for an image of a WIM file) and
 * detected formats, by index. */
const char *img_name(const struct img_session *s, size_t i);
const char *img_format(const struct img_session *s, size_t i);

/* The backend in use: "direct" or "appliance". */
const char *img_backend_name(const struct img_session *s);

/* Why ROOT cannot be written (hibernated, ...) or NULL if it can. */
const char *img_unwritable(struct img_session *s, const struct img_root *r);

/* Every installation is found mounted read-only; remount R read-write
 * once the command has checked everything it must before writing. */
int img_make_writable(struct img_session *s, struct img_root *r,
		      struct kp_error *err);

/* Resolve PATH (relative to ROOT's mount point, any case) to the guest
 * path in its real case; *EXISTS tells whether it is there.  The caller
 * frees the result. */
char *img_path(struct img_session *s, const struct img_root *r,
	       const char *path, bool *exists, struct kp_error *err);

/* The names in guest directory GUEST, NULL-terminated (caller frees each
 * and the array). */
char **img_ls(struct img_session *s, const char *guest, struct kp_error *err);

/* Copy a guest file to a local file. */
int img_download(struct img_session *s, const char *guest, const char *local,
		 struct kp_error *err);

/* img_replace flags. */
#define IMG_SECRET 1u	/* SYSTEM and Administrators only, even if the old
			 * file allowed more */

/* Replace (or create) guest file GUEST with local file LOCAL: a temporary
 * file in the same directory gets the old file's NTFS security descriptor
 * and attributes (a new file: SYSTEM and Administrators full control, Users
 * read) before any content, then the content; its SHA-256 is checked, and
 * only then is it renamed over GUEST.  On failure GUEST is unchanged. */
int img_replace(struct img_session *s, const char *guest, const char *local,
		unsigned flags, struct kp_error *err);

/* As img_replace, from memory. */
int img_replace_data(struct img_session *s, const char *guest,
		     const void *data, size_t len, unsigned flags,
		     struct kp_error *err);

/* Remove guest file GUEST (a file or a link, never a directory). */
int img_remove(struct img_session *s, const char *guest,
	       struct kp_error *err);

/* Read a whole guest file of at most MAX bytes (caller frees). */
char *img_read(struct img_session *s, const char *guest, size_t max,
	       size_t *len, struct kp_error *err);

/* Create directory GUEST and its missing parents, with the descriptor
 * that img_replace gives new files; a link or a file on the way fails.
 * CHECK_ONLY: only check that it could be done. */
int img_mkdir(struct img_session *s, const char *guest, bool check_only,
	      struct kp_error *err);

/* A path for scratch file NAME of image IMAGE (a hive and its logs) in
 * the session's private local directory (mode 0700, removed by
 * img_close), where that image's hive server can open it; the caller
 * frees it. */
char *img_local_path(struct img_session *s, size_t image, const char *name);

/* Free a NULL-terminated list of names (img_ls's result); NULL is fine. */
void img_list_free(char **names);

/* Free N roots (or locked volumes) and what their fields hold: for
 * backends, which fill them. */
void img_roots_free(struct img_root *r, size_t n);
void img_locked_free(struct img_locked *l, size_t n);

/* Unmount, flush and stop the appliance or the workers, checking that
 * everything was written.  If OK is false, a new overlay is removed
 * again. */
int img_close(struct img_session *s, bool ok, struct kp_error *err);

/* The sandboxed hive server (hive/remote.h) that opens the hives copied
 * out of image IMAGE (into img_local_path's directory): one per image. */
struct hive_server *img_hive_server(struct img_session *s, size_t image);

/* What fences the session's hive servers into its scratch directory:
 * "Landlock", "chroot", or NULL for nothing (hive_server_fence). */
const char *img_hives_fence(struct img_session *s);

#endif

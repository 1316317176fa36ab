/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image backend interface: how prep/ reaches the files inside disk
 * images, as a table of operations (after libarchive's format modules).
 * The image batch (prep/batch.h) works only through it, so the refusal,
 * ordering and verification rules live once, whatever opens the images.
 *
 * Backends: the libguestfs appliance (image/appliance.c:
 * img_backend_appliance); direct libntfs-3g in a sandboxed worker per
 * image (image/direct.c: img_backend_direct); wimlib in a sandboxed
 * worker per WIM file, each index an image (image/wim.c: img_backend_wim,
 * which writes files whole and so has no journal); the unit tests use an
 * in-memory fake (tests/unit/test-batch.c).  The public img_* calls of
 * image/session.h dispatch through the table of the backend img_open
 * chose (image/session.c).
 *
 * Contract of every backend:
 *  - Nothing is written until make_writable has been called for that root;
 *    until then every root is opened read-only.
 *  - Guest paths are absolute paths in the backend's namespace as returned
 *    by find_windows and path (e.g. "/r0/Windows/System32/config/SOFTWARE"),
 *    in their real letter case.
 *  - replace is atomic and verified: the new content goes to a temporary
 *    file in the same directory that already carries the old file's NTFS
 *    security descriptor and attributes (a new file: SYSTEM and
 *    Administrators full control, Users read; IMG_SECRET: SYSTEM and
 *    Administrators only), is read back and checked (SHA-256), and only
 *    then renamed over the old one.  On failure the old file is unchanged.
 *    This is also how a file is created with a given ACL.
 *  - Errors are reported as struct kp_error (lib/error.h) with a status:
 *    KP_ERR_UNAVAILABLE when the backend itself cannot run, KP_ERR_INPUT
 *    for images it cannot read, KP_ERR_REFUSED for volumes it must not
 *    write (hibernated, BitLocker-locked, in use).  Backends never print;
 *    progress goes to img_opts.notice.
 */
#ifndef KP_BACKEND_H
#define KP_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "session.h"
#include "hive/journal.h"
#include "lib/error.h"

struct img_backend {
	const char *name;	/* "appliance", "direct", "wim", "fake" */

	/* Open IMAGES[0..N-1] (read-only if O->readonly), check that none is
	 * in use; *H gets the backend's handle. */
	int (*open)(char *const *images, size_t n, const struct img_opts *o,
		    void **h, struct kp_error *err);

	/* Find every Windows installation: an NTFS filesystem with
	 * \Windows\System32\config\SOFTWARE (any case), probed for
	 * hibernation, Fast Startup, unclean shutdown and BitLocker, and
	 * mounted read-only.  Afterwards roots and locked list them. */
	int (*find_windows)(void *h, struct kp_error *err);
	struct img_root *(*roots)(void *h, size_t *n);
	const struct img_locked *(*locked)(void *h, size_t *n);

	/* Why ROOT must not be written (hibernated, Fast Startup, unclean,
	 * BitLocker), or NULL: the probe's verdict. */
	const char *(*unwritable)(void *h, const struct img_root *r);

	/* Remount ROOT read-write; called only once everything was checked. */
	int (*make_writable)(void *h, struct img_root *r,
			     struct kp_error *err);

	/* PATH relative to ROOT, any case, resolved to the guest path in its
	 * real case (caller frees); *EXISTS tells whether it is there. */
	char *(*path)(void *h, const struct img_root *r, const char *path,
		      bool *exists, struct kp_error *err);

	/* The names in directory GUEST, NULL-terminated (caller frees). */
	char **(*list)(void *h, const char *guest, struct kp_error *err);

	/* A whole file of at most MAX bytes (caller frees). */
	char *(*read)(void *h, const char *guest, size_t max, size_t *len,
		      struct kp_error *err);

	/* Replace or create GUEST with DATA, keeping its security descriptor
	 * and attributes (see the contract above); FLAGS: IMG_SECRET. */
	int (*replace)(void *h, const char *guest, const void *data,
		       size_t len, unsigned flags, struct kp_error *err);

	/* As replace, from local file LOCAL (large files: hives). */
	int (*replace_file)(void *h, const char *guest, const char *local,
			    unsigned flags, struct kp_error *err);

	/* Carry out the journaled commit P of hive GUEST in place (journal.h:
	 * its writes in order, a flush after each step, the verified steps
	 * read back), its log being GUEST_LOG, created if missing with
	 * GUEST's security descriptor.  NULL if the backend cannot: the batch
	 * then refuses before anything is written. */
	int (*journal)(void *h, const char *guest, const char *guest_log,
		       const struct journal_writes *p, struct kp_error *err);
	/* Repair what an interrupted write left in writable ROOT (its
	 * img_root.repair) beyond what make_writable repairs; NULL if the
	 * backend finds nothing to repair. */
	int (*repair)(void *h, struct img_root *r, struct kp_error *err);
	/* Remove file GUEST (never a directory). */
	int (*remove)(void *h, const char *guest, struct kp_error *err);

	/* Create directory GUEST and missing parents with the new-file
	 * descriptor; CHECK_ONLY only checks it could be done. */
	int (*mkdir)(void *h, const char *guest, bool check_only,
		     struct kp_error *err);

	/* Flush and close, checking everything reached the images; OK false
	 * drops what can be dropped (a new overlay).  H is freed. */
	int (*close)(void *h, bool ok, struct kp_error *err);

	/* Copy GUEST to local file LOCAL (hives and their logs). */
	int (*download)(void *h, const char *guest, const char *local,
			struct kp_error *err);

	/* The format of image I as opened ("raw", "qcow2", ...). */
	const char *(*format)(void *h, size_t i);

	/* Different images may be made writable and written at once, from
	 * several threads (each image has a worker of its own). */
	bool parallel;

	/* Writes reach the images only at close (ok true): a failed batch
	 * closes with ok false and has changed nothing. */
	bool deferred;
};

/* Why a volume is not written, and what makes it writable: one text for
 * every backend, so that a refusal reads the same whichever ran. */
#define IMG_WHY_HIBERNATED "Windows is hibernated or was shut down with " \
	"Fast Startup on (hiberfil.sys): start that Windows and shut it " \
	"down fully (shutdown /s /t 0; powercfg /h off turns hibernation " \
	"and Fast Startup off for good), then try again"
#define IMG_WHY_FAST_STARTUP "Windows kept this volume's metadata " \
	"cached for Fast Startup ($LogFile): start that Windows and shut " \
	"it down fully (shutdown /s /t 0, or powercfg /h off), then try again"
#define IMG_WHY_UNCLEAN "the volume was not shut down cleanly (a crash, " \
	"or Fast Startup): start that Windows and shut it down fully " \
	"(shutdown /s /t 0), or repair it with chkdsk, then try again"

/* The libguestfs appliance (image/appliance.c). */
extern const struct img_backend img_backend_appliance;

/* libntfs-3g on the image's bytes, each image in a sandboxed worker
 * (image/worker.h, image/direct.c). */
extern const struct img_backend img_backend_direct;

/* wimlib on WIM files, each in a sandboxed worker (image/wimworker.h,
 * image/wim.c): every image (index) holding Windows is a root. */
extern const struct img_backend img_backend_wim;

/* Can the direct backend do the work on every one of IMAGES?  1 if each
 * holds Windows on plain NTFS (MBR, GPT or a whole-disk filesystem) in a
 * format it reads; 0 if not, with the reason on one line in WHY; -1 with
 * ERR for what no backend would get past (an unreachable NBD server, an
 * image in use).  The images are looked at read-only, in sandboxed
 * workers. */
int img_direct_usable(char *const *images, size_t n,
		      const struct img_opts *o, char *why, size_t whysz,
		      struct kp_error *err);

/* A guest path "/rK/REST" of a backend whose roots are /r0, /r1, ...: K
 * (below NROOTS) and REST, without its leading slashes. */
int img_guest_split(const char *guest, size_t nroots, size_t *k,
		    const char **rel, struct kp_error *err);

/* The session's backend and its handle (for the batch, prep/batch.h). */
const struct img_backend *img_session_backend(const struct img_session *s);
void *img_session_handle(const struct img_session *s);

#endif

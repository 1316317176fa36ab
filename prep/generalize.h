/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Activation generalization, staged offline.  A clone gets its own KMS
 * client machine ID only from a rearm, which needs a running Windows:
 *
 *  sysprep mode - the image will be sealed with sysprep /generalize: make
 *    sure that run rearms.  SkipRearm 0 in the registry, and in the
 *    generalize pass of the answer file Windows will use, found in the
 *    documented search order (Microsoft: "Windows Setup Automation
 *    Overview", implicit answer file search order,
 *    https://learn.microsoft.com/windows-hardware/manufacture/desktop/windows-setup-automation-overview):
 *    the file named by SYSTEM\Setup\UnattendFile,
 *    %WINDIR%\Panther\Unattend, %WINDIR%\Panther, %WINDIR%\System32\Sysprep,
 *    the root of the system drive.  The first that has a generalize pass is
 *    the one used; if none has, %WINDIR%\System32\Sysprep\Unattend.xml gets
 *    one.
 *
 *  clone mode - the image is copied as it is: stage a script that runs once
 *    at the first boot of each copy (see firstboot.h): rearm, put the KMS
 *    settings back, restart once, and with --activate activate after it.
 */
#ifndef KP_GENERALIZE_H
#define KP_GENERALIZE_H

#include <stdbool.h>

#include "cloudbase.h"
#include "firstboot.h"
#include "hive/change.h"
#include "image/session.h"
#include "unattend.h"

enum gen_mode { GEN_SYSPREP, GEN_CLONE };

/* A file looked at or to be written: an answer file or a script. */
struct stage_file {
	char *guest;		/* guest path, in its real case if it exists */
	char *label;		/* where Windows knows it, for messages */
	bool exists;
	bool answer;		/* an answer file (else a script) */
	struct unattend_info info;
	struct buf content;	/* what it will hold */
	bool write;		/* CONTENT differs from the file */
	bool secret;		/* SYSTEM and Administrators only */
	bool remove;		/* delete the file (with WRITE) */
};

struct stage {
	char arch[16];		/* amd64, x86, arm64 */
	char *image_state;	/* Setup\State\ImageState, or NULL */
	int skip_rearm;		/* registry value before: -1 absent, 0, 1 */
	struct setup_state setup;	/* SYSTEM\Setup as found */
	struct stage_file *files;
	size_t nfiles;
	char **notes;		/* warnings for the user */
	size_t nnotes;
	bool lenient;		/* inspecting: a bad answer file is a note */
	/* gen_inspect: libguestfs' firstboot service is installed, and
	 * kmsprep's scripts are in its folder (GUESTFS_ONE, GUESTFS_TWO). */
	bool guestfs, guestfs_one, guestfs_two;
	/* gen_inspect: the GVLK a kmsprep first boot still to run installs
	 * (a string of gvlk.h's table), the script that does (as Windows
	 * knows it), and whether that is image set's (then activation, no
	 * rearm) rather than clone mode's (before its rearm); or NULL. */
	const char *staged_gvlk, *gvlk_script;
	bool gvlk_key_only;
	/* gen_inspect: %WINDIR%\kmsprep\firstboot.log, read back. */
	bool has_log;
	struct fb_outcome log;
	/* gen_inspect: cloudbase-init's two configuration files (CBI_CONF,
	 * CBI_UNATTEND), and the KMS host the registry names (host[:port],
	 * "" if none) to compare with. */
	bool has_cbi[2];
	struct cbi_conf cbi[2];
	char kms_host[300];
	/* gen_inspect: %WINDIR%\Setup\Scripts\SetupComplete.cmd, which
	 * Setup runs after a sealed image's OOBE; SETUPCOMPLETE_KMSPREP: it
	 * calls a kmsprep script (the line, or ""). */
	bool setupcomplete;
	char setupcomplete_kmsprep[200];
	/* gen_inspect: a host kit staged (BOOTHOOK_KIT_DIR), its files, and
	 * whether a product key file is still there (its first boot deletes
	 * it). */
	bool kit;
	size_t kit_files;
	bool kit_key;
};

/* The generalization state of an installation (for `image show`). */
int gen_inspect(struct img_session *s, const struct img_root *r,
		struct hive *software, struct hive *system,
		struct stage *p, struct kp_error *err);

/* Decide everything for MODE: registry changes are made in SOFTWARE and
 * SYSTEM (in memory, recorded in C) and files to write are put in P.
 * GVLK (NULL, "none", "auto" or a key of gvlk.h's table) is installed at
 * the first boot in clone mode, and by Setup's specialize pass (the
 * answer file's Shell-Setup ProductKey) in sysprep mode.  A key must be
 * the one of the image's edition and build (KP_ERR_INVALID), or, where
 * the table lists neither, UNLISTED must accept it. */
int gen_prepare(struct img_session *s, const struct img_root *r,
		struct hive *software, struct hive *system, enum gen_mode mode,
		bool activate, const char *gvlk, bool unlisted,
		struct hive_changes *c, struct stage *p, struct kp_error *err);

/* For `image set`: when a clone-mode first boot is staged, the scripts
 * again with the SPP values SOFTWARE holds now (planned in P), so that the
 * first boot does not put older values back. */
int gen_refresh(struct img_session *s, const struct img_root *r,
		struct hive *software, struct hive *system, struct stage *p,
		struct kp_error *err);

/* For `image set --gvlk OPT` (auto, a key of gvlk.h's table, or none):
 * stage at the next boot the key's install, then an activation with the
 * KMS settings the registry holds, without a rearm; it goes into a
 * clone-mode first boot staged already (before its rearm) instead, which
 * is refreshed as gen_refresh does.  none removes what image set staged.
 * Registry changes in SYSTEM recorded in C, files in P. */
int gen_set_gvlk(struct img_session *s, const struct img_root *r,
		 struct hive *software, struct hive *system, const char *opt,
		 bool unlisted, struct hive_changes *c, struct stage *p,
		 struct kp_error *err);

/* For `image set --cloudbase-init MODE` (host, activate or off): plan in P
 * cloudbase-init's configuration files with kms_host set to the KMS host
 * SOFTWARE names now (and with activate: activate_windows and
 * set_kms_product_key on; off: both off), keeping the rest of each file.
 * KP_ERR_REFUSED when cloudbase-init is not installed. */
int gen_cloudbase(struct img_session *s, const struct img_root *r,
		  struct hive *software, const char *mode, struct stage *p,
		  struct kp_error *err);

/* Check that the directories of every file P writes can be made (no file
 * or link in the way), before anything is written. */
int gen_check_dirs(struct img_session *s, const struct stage *p,
		   struct kp_error *err);

/* Plan SetupComplete.cmd (Windows Setup runs it as SYSTEM once setup has
 * finished, before anyone logs on) with the line CALL first, after a
 * leading "@echo off" and a comment saying ABOUT: an existing file keeps
 * every line it has, after it; one that has CALL already is left alone. */
int gen_setup_complete(struct img_session *s, const struct img_root *r,
		       const char *call, const char *about,
		       struct stage *p, struct kp_error *err);

/* Plan guest file REL (below the volume root, any case) to hold TEXT
 * (taken over), known to the user as LABEL; written only if it differs
 * from what is there.  SECRET files get a descriptor that only SYSTEM and
 * Administrators pass. */
int gen_add_file(struct img_session *s, const struct img_root *r,
		 const char *rel, const char *label, struct buf *text,
		 bool secret, struct stage *p, struct kp_error *err);

/* Plan the removal of guest file REL (below the volume root, any case),
 * known to the user as LABEL, if it exists. */
int gen_remove_file(struct img_session *s, const struct img_root *r,
		    const char *rel, const char *label, struct stage *p,
		    struct kp_error *err);

/* Add a note for the user to P; -1 when out of memory. */
int gen_note(struct stage *p, const char *fmt, ...) KP_PRINTF(2, 3);

/* SOFTWARE's Setup\State\ImageState, or NULL (caller frees). */
char *gen_image_state(struct hive *software, struct kp_error *err);

/* Has sysprep /generalize run on an image in this state? */
bool gen_is_generalized(const char *image_state);

/* Will Windows Setup run at a next boot (a sysprep reseal state), so that
 * SetupComplete.cmd runs? */
bool gen_setup_pending(const char *image_state);

/* Number of files P writes. */
size_t stage_nwrites(const struct stage *p);

/* Write the staged files into the image (it must be writable). */
int gen_write(struct img_session *s, const struct stage *p,
	      struct kp_error *err);

void stage_release(struct stage *p);

#endif

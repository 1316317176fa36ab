/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * First-boot actions staged in a Windows image, and the .cmd scripts they
 * run.
 *
 * The hook and the script building blocks are in boothook.h.
 */
#ifndef KP_FIRSTBOOT_H
#define KP_FIRSTBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hive/change.h"
#include "hive/hive.h"
#include "hive/office.h"
#include "hive/spp.h"
#include "lib/buf.h"
#include "prep/boothook.h"

/* Lines re-applying every known SPP value in REP (not SkipRearm, never a
 * secret): after a rearm, Windows has its defaults back. */
int bat_spp_values(struct buf *f, const struct spp_report *rep,
		   struct kp_error *err);

/* libguestfs' firstboot service (virt-customize, virt-v2v): a service
 * that runs the .bat files of its scripts folder in name order, one per
 * boot, restarting Windows after each; exit code 249 means "run again at
 * the next boot", anything else moves the script to scripts-done.  See
 * https://github.com/libguestfs/libguestfs-common/blob/master/mlcustomize/firstboot.ml
 * Below the system drive's root, and the names kmsprep's scripts get there
 * (late in the order: after the drivers and settings of virt-v2v). */
#define GUESTFS_DIR "program files/guestfs/firstboot"
#define GUESTFS_LABEL "C:\\Program Files\\Guestfs\\Firstboot\\scripts\\"
#define GUESTFS_ONE "9900-0001-kmsprep-rearm.bat"
#define GUESTFS_TWO "9900-0002-kmsprep-activate.bat"

/* Clone mode's first-boot scripts (see generalize.h): ONE runs at the first
 * boot, TWO (only with ACTIVATE) after the restart that follows the rearm.
 * REP holds the SPP values to put back after the rearm; GVLK, a KMS client
 * setup key from the table (gvlk.h) or NULL, is installed before it.
 * GUESTFS: for libguestfs' firstboot service (GUESTFS_DIR), which runs
 * one script per boot and restarts after each, so neither stages a hook
 * nor restarts. */
int bat_clone_scripts(const struct spp_report *rep,
		      const struct office_report *office, bool activate,
		      const char *gvlk, bool guestfs, struct buf *one,
		      struct buf *two, struct kp_error *err);

/* The lines that run Office's own rearm (ospprearm.exe) for each
 * OSPP-based Office of OFFICE (Office 2010, Office 2013 and later on
 * Windows 7), then put back the OSPP KMS settings OFFICE read; nothing
 * for Office on Windows' SPP, which Windows' rearm covers.  In clone
 * mode, OFFICE (NULL: none) goes after Windows' rearm. */
int bat_office_rearm(struct buf *f, const struct office_report *office,
		     struct kp_error *err);

/* The script of FIRSTBOOT_DIR that sysprep mode stages for Office's
 * rearm, and the line of SetupComplete.cmd that calls it. */
#define OFFICE_REARM_CMD "office-rearm.cmd"
#define OFFICE_REARM_CALL \
	"call \"%SystemRoot%\\" FIRSTBOOT_DIR "\\" OFFICE_REARM_CMD "\""

/* Sysprep mode's OFFICE_REARM_CMD into F: bat_office_rearm's lines for
 * OFFICE, logged to the first-boot log; F left empty when OFFICE holds
 * no OSPP-based Office. */
int bat_office_sysprep_script(struct buf *f,
			      const struct office_report *office,
			      struct kp_error *err);

/* image set --gvlk's script, when no clone-mode first boot is staged:
 * install GVLK (a key of the table), then activate with the KMS settings
 * the registry holds; no rearm.  GUESTFS as above.  Its names: */
#define FIRSTBOOT_KEY "firstboot-key.cmd"
#define GUESTFS_KEY "9900-0000-kmsprep-gvlk.bat"
int bat_key_script(const char *gvlk, bool guestfs, struct buf *f,
		   struct kp_error *err);

/*
 * The outcome, read back offline from a first-boot log (firstboot.log or a
 * kit's provision.log) after the image has booted.
 */
#define FB_MAX_STEPS 32

struct fb_step {
	char label[48];		/* "rearm", "activate", ... */
	long code;		/* as cmd shows %ERRORLEVEL% (signed) */
};

struct fb_outcome {
	unsigned runs;		/* "kmsprep ..." start lines */
	char started[64];	/* %DATE% %TIME% of the last run's start */
	struct fb_step steps[FB_MAX_STEPS];	/* of the last first boot */
	size_t nsteps;
	char cmid[40];		/* ClientMachineID from the dlv record */
	long license_status;	/* LicenseStatus from it, -1 if none */
	unsigned long reason;	/* LicenseStatusReason from it */
};

/* Parse LOG (LEN bytes, any text) into O: the last first boot (from its
 * "first boot" line on, with the runs that follow it). */
void fb_log_parse(const char *log, size_t len, struct fb_outcome *o);

/* What a Software Licensing error code (an HRESULT, e.g. 0xC004F074)
 * means, in a few words, or NULL if kmsprep does not know it. */
const char *sl_error_text(unsigned long code);

#endif

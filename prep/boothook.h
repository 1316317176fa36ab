/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The first-boot hook and the .cmd building blocks every hooked script
 * uses: what clone-mode first boot (firstboot.h) and lab KMS host kits
 * (kms/kit.h) share.
 *
 * For an image that is copied as it is (not generalized), the hook is
 * HKLM\SYSTEM\Setup: SetupType 2 and CmdLine make Winlogon run the command
 * as SYSTEM at the next boot, before the logon screen, then go on to it.
 * Why this one (Microsoft: "Add a custom script to Windows Setup",
 * https://learn.microsoft.com/windows-hardware/manufacture/desktop/add-a-custom-script-to-windows-setup):
 * SetupComplete.cmd runs only at the end of Windows Setup, so never on a
 * clone that is not generalized; RunOnce waits for someone to log on; a
 * service needs a wrapper such as rhsrvany, which Debian does not ship, and
 * a plain cmd.exe "service" is stopped by the service manager after 30 s.
 * Every script kmsprep stages clears the hook as its first action, so a
 * failure can never make it run again at every boot.
 *
 * For a generalized image the hook is SetupComplete.cmd, which Setup runs
 * as SYSTEM at the end of OOBE (see kits).
 *
 * Scripts are CRLF, built only from values that passed kp_check_safe, quote
 * every value, and never contain a product key.
  */
#ifndef KP_BOOTHOOK_H
#define KP_BOOTHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hive/change.h"
#include "hive/hive.h"
#include "lib/buf.h"

/* Where kmsprep keeps its scripts and log, below the system root. */
#define FIRSTBOOT_DIR "kmsprep"

/* How every CmdLine kmsprep stages starts: a script of its directory. */
#define FIRSTBOOT_CMD_PREFIX "cmd.exe /c \"%SystemRoot%\\" FIRSTBOOT_DIR "\\"

/* Where a lab KMS host kit is staged below the system root, its files
 * (FIRSTBOOT_DIR "\\kit"), and the script the first boot runs for it. */
#define BOOTHOOK_KIT_DIR FIRSTBOOT_DIR "/kit"
#define BOOTHOOK_KIT_WRAPPER "kit-firstboot.cmd"
/* Kit files holding a product key end so (kms/kit.h names them). */
#define BOOTHOOK_KEY_SUFFIX "-host-key.txt"

/* The CmdLine that runs script NAME (a string literal) of that directory. */
#define FIRSTBOOT_CMDLINE(name) FIRSTBOOT_CMD_PREFIX name "\""

/* Append one line and CRLF to a script.  Log lines put the redirection
 * first (>>"%LOG%" echo code %ERRORLEVEL%): cmd reads " 0>>" at the end of
 * a line as a redirection of handle 0, and the line would be lost. */
int bat_line(struct buf *f, const char *fmt, ...) KP_PRINTF(2, 3);

/* Can S (described as WHAT in errors) go between double quotes on a
 * script's line?  KP_ERR_INPUT if not: only ASCII, no trailing backslash,
 * no more than 4096 characters, and what kp_check_safe allows. */
int bat_safe(const char *what, const char *s, struct kp_error *err);

/* Lines that set (or delete) one registry value with reg.exe and log the
 * exit code.  KEY is below HKLM ("SOFTWARE\..."); string data must pass
 * kp_check_safe (KP_ERR_INPUT otherwise: the hive holds it). */
int bat_reg(struct buf *f, const char *key, const char *name, bool set,
	    uint32_t type, const unsigned char *data, size_t len,
	    struct kp_error *err);

/* The two lines that clear the SYSTEM\Setup hook: every script kmsprep
 * stages runs them first, so that it can never run again. */
int bat_clear_hook(struct buf *f);

/* The PowerShell script that does one licensing action through the
 * Software Licensing WMI classes, written beside the first-boot scripts. */
#define FIRSTBOOT_PS1 "licensing.ps1"

/* The text of FIRSTBOOT_PS1 (static: no value of the user's is in it). */
int ps1_licensing(struct buf *f);

/* The lines that set PS (Windows PowerShell's path) and PS1 (the script
 * above); every script that calls bat_sl runs them first. */
int bat_sl_setup(struct buf *f);

/* The lines that run licensing ACTION (rearm, ato, dlv, ipk; a second
 * word, quoted, goes to slmgr.vbs only) through
 * PowerShell and WMI, or through slmgr.vbs where Windows PowerShell is
 * absent, and log its exit code under LABEL. */
int bat_sl(struct buf *f, const char *action, const char *label);

/* How long, in seconds, a KMS client's first-boot activation goes on
 * trying while no KMS host can be contacted, unless the machine sets
 * KMSPREP_ACTIVATION_WAIT: it runs before logon, often before the network
 * is up. */
#define FIRSTBOOT_ACTIVATION_WAIT 600

/* The lines that set KMSPREP_ACTIVATION_WAIT, if the machine does not, to
 * FIRSTBOOT_ACTIVATION_WAIT: without them (a host kit's script) "ato" is
 * tried once, unless the machine sets it. */
int bat_sl_wait(struct buf *f);

/* The :sl subroutine bat_sl calls; it goes after the script's exit.  It
 * runs "ato" again, with waits between, while it fails with 0xC004F074
 * and KMSPREP_ACTIVATION_WAIT seconds have not passed, logging each
 * attempt. */
int bat_sl_sub(struct buf *f);

/* The state of HKLM\SYSTEM\Setup. */
struct setup_state {
	uint32_t setup_type;
	char *cmdline;		/* NULL if not set */
	bool ours;		/* CmdLine runs a kmsprep script */
};

int setup_read(struct hive *system, struct setup_state *st,
	       struct kp_error *err);

/* Is CMDLINE one kmsprep staged (FIRSTBOOT_CMDLINE of some script)? */
bool setup_is_ours(const char *cmdline);
void setup_release(struct setup_state *st);

/* Make Winlogon run CMDLINE at the next boot (SetupType 2).  Refuses
 * (KP_ERR_REFUSED) to replace a CmdLine that is not kmsprep's, such as
 * Windows' own oobe\windeploy.exe on a generalized image. */
int setup_stage(struct hive *system, const char *cmdline,
		struct hive_changes *c, struct kp_error *err);

#endif

/*
 * First-boot actions staged in a Windows image, and the .cmd scripts they
 * run.
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
#ifndef KP_FIRSTBOOT_H
#define KP_FIRSTBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hive/change.h"
#include "hive/hive.h"
#include "hive/spp.h"
#include "lib/buf.h"

/* Where kmsprep keeps its scripts and log, below the system root. */
#define FIRSTBOOT_DIR "kmsprep"

/* How every CmdLine kmsprep stages starts: a script of its directory. */
#define FIRSTBOOT_CMD_PREFIX "cmd.exe /c \"%SystemRoot%\\" FIRSTBOOT_DIR "\\"

/* The CmdLine that runs script NAME (a string literal) of that directory. */
#define FIRSTBOOT_CMDLINE(name) FIRSTBOOT_CMD_PREFIX name "\""

/* Append one line and CRLF to a script.  Log lines put the redirection
 * first (>>"%LOG%" echo code %ERRORLEVEL%): cmd reads " 0>>" at the end of
 * a line as a redirection of handle 0, and the line would be lost. */
int cmd_line(struct buf *f, const char *fmt, ...) KP_PRINTF(2, 3);

/* Lines that set (or delete) one registry value with reg.exe and log the
 * exit code.  KEY is below HKLM ("SOFTWARE\..."); string data must pass
 * kp_check_safe (KP_ERR_INPUT otherwise: the hive holds it). */
int cmd_reg(struct buf *f, const char *key, const char *name, bool set,
	    uint32_t type, const unsigned char *data, size_t len,
	    struct kp_error *err);

/* The two lines that clear the SYSTEM\Setup hook: every script kmsprep
 * stages runs them first, so that it can never run again. */
int cmd_clear_hook(struct buf *f);

/* Lines re-applying every known SPP value in REP (not SkipRearm, never a
 * secret): after a rearm, Windows has its defaults back. */
int cmd_spp_values(struct buf *f, const struct spp_report *rep,
		   struct kp_error *err);

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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* First-boot hook (SYSTEM\Setup) and .cmd script building. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "firstboot.h"
#include "hive/regf.h"
#include "hive/regval.h"
#include "lib/valid.h"

static int
items(struct buf *f, const char *key, const struct spp_item *it, size_t n,
      struct kp_error *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char k[300];

		if (it[i].secret || it[i].def == NULL ||
		    it[i].def == &spp_values[SPP_SKIP_REARM])
			continue;
		snprintf(k, sizeof(k), "SOFTWARE\\%s%s%s", key,
			 it[i].def->subkey ? "\\" : "",
			 it[i].def->subkey ? it[i].def->subkey : "");
		if (bat_reg(f, k, it[i].name, true, it[i].type, it[i].data,
			    it[i].len, err) < 0)
			return -1;
	}
	return 0;
}

int
bat_spp_values(struct buf *f, const struct spp_report *rep,
	       struct kp_error *err)
{
	size_t i;

	if (!rep->root_present)
		return 0;
	if (items(f, rep->root, rep->items, rep->n, err) < 0)
		return -1;
	for (i = 0; i < rep->nproducts; i++) {
		const struct spp_product *p = &rep->products[i];
		char k[300];

		snprintf(k, sizeof(k), "%s\\%s%s%s", rep->root, p->app,
			 p->act[0] ? "\\" : "", p->act);
		if (items(f, k, p->items, p->n, err) < 0)
			return -1;
	}
	return 0;
}

/* The head of a clone-mode script: comments, LOG, PS and PS1. */
static int
clone_head(struct buf *f, const char *const *about, bool clear_hook,
	   const char *start)
{
	int bad = 0;

	bad |= bat_line(f, "@echo off");
	for (; *about; about++)
		bad |= bat_line(f, "rem %s", *about);
	bad |= bat_line(f, "setlocal");
	bad |= bat_line(f, "set \"LOG=%%SystemRoot%%\\" FIRSTBOOT_DIR
			"\\firstboot.log\"");
	if (clear_hook) {
		bad |= bat_line(f, "rem First of all: never run again, whatever "
				"happens.");
		bad |= bat_clear_hook(f);
	}
	bad |= bat_line(f, ">>\"%%LOG%%\" echo %%DATE%% %%TIME%% kmsprep %s",
			start);
	bad |= bat_sl_setup(f);
	return bad ? -1 : 0;
}

/*
 * Sysprep mode.  sysprep /generalize rearms Windows, not OSPP; Microsoft's
 * guidance is to run ospprearm.exe before the image is captured
 * (https://learn.microsoft.com/office/volume-license-activation/rearm-an-office-installation-on-an-image-when-using-kms-to-activate),
 * which offline cannot be done.  What can: the same rearm on each copy,
 * from SetupComplete.cmd, which Windows Setup runs as SYSTEM once setup
 * has finished and before anyone logs on, so before Office first starts
 * (https://learn.microsoft.com/windows-hardware/manufacture/desktop/add-a-custom-script-to-windows-setup).
 */
int
bat_office_sysprep_script(struct buf *f, const struct office_report *office,
			  struct kp_error *err)
{
	static const char *const about[] = {
		"Written by kmsprep (image generalize, sysprep mode).",
		"SetupComplete.cmd calls it once, as SYSTEM, when Windows "
		"Setup has",
		"finished on a copy of this image and before anyone logs on: "
		"Office's",
		"own rearm gives the copy its own Office client machine ID "
		"(sysprep",
		"rearms only Windows).", NULL,
	};
	const char *const *a;
	size_t i;
	int bad = 0;

	buf_reset(f);
	for (i = 0; office && i < office->n; i++)
		if (office->inst[i].lic == OFFICE_LIC_OSPP)
			break;
	if (office == NULL || i == office->n)
		return 0;
	bad |= bat_line(f, "@echo off");
	for (a = about; *a; a++)
		bad |= bat_line(f, "rem %s", *a);
	bad |= bat_line(f, "setlocal");
	bad |= bat_line(f, "set \"LOG=%%SystemRoot%%\\" FIRSTBOOT_DIR
			"\\firstboot.log\"");
	bad |= bat_line(f, ">>\"%%LOG%%\" echo %%DATE%% %%TIME%% kmsprep "
			"setup complete: Office rearm");
	if (bad)
		return kp_fail_oom(err);
	if (bat_office_rearm(f, office, err) < 0)
		return -1;
	return bat_line(f, "exit /b 0") < 0 ? kp_fail_oom(err) : 0;
}

/* The lines that install GVLK (a key of the table): through the
 * environment for PowerShell, on slmgr.vbs's command line where it is
 * absent. */
static int
gvlk_lines(struct buf *f, const char *gvlk, struct kp_error *err)
{
	/* Public, checked against the table: it may be seen.  Quoted, since
	 * a digit before >> would be read as a handle. */
	if (bat_safe("KMS client setup key", gvlk, err) < 0)
		return -1;
	if (bat_line(f, "set \"KMSPREP_GVLK=%s\"", gvlk) < 0 ||
	    bat_sl(f, "ipk \"%KMSPREP_GVLK%\"",
		   "install KMS client setup key") < 0)
		return kp_fail_oom(err);
	return 0;
}

int
bat_key_script(const char *gvlk, bool guestfs, struct buf *f,
	       struct kp_error *err)
{
	static const char *const about[] = {
		"Written by kmsprep (image set --gvlk). It runs once, as "
		"SYSTEM, at the",
		"next boot: it installs the KMS client setup key, which makes "
		"this",
		"Windows a KMS client, and activates with the KMS settings of "
		"the",
		"registry. No rearm: the client machine ID is kept.", NULL,
	};
	int bad = 0;

	if (clone_head(f, about, !guestfs, "first boot: KMS client setup key")
	    < 0 || gvlk_lines(f, gvlk, err) < 0)
		return err->status ? -1 : kp_fail_oom(err);
	bad |= bat_sl_wait(f);
	bad |= bat_sl(f, "ato", "activate");
	bad |= bat_sl(f, "dlv", "license state");
	/* Never 249 for libguestfs' service: it would run it at every
	 * boot. */
	bad |= bat_line(f, "exit /b 0");
	bad |= bat_sl_sub(f);
	return bad ? kp_fail_oom(err) : 0;
}

/* Can PATH, read from the image, go between double quotes in a batch
 * line?  Not with % (expanded), " or ! and only in ASCII. */
static bool
batch_path_ok(const char *path)
{
	const unsigned char *p;

	if (path == NULL || !path[0] || strlen(path) > 200)
		return false;
	for (p = (const unsigned char *)path; *p; p++)
		if (*p < 0x20 || *p > 0x7e || *p == '%' || *p == '"' ||
		    *p == '!')
			return false;
	return true;
}

/* One candidate for ospprearm.exe: taken if it exists and none before. */
static int
rearm_candidate(struct buf *f, const char *dir, const char *sub)
{
	size_t n = strlen(dir);
	const char *sep = n && dir[n - 1] == '\\' ? "" : "\\";

	return bat_line(f, "if not defined OSPPREARM if exist \"%s%s%s"
			"OSPPREARM.EXE\" set \"OSPPREARM=%s%s%sOSPPREARM.EXE\"",
			dir, sep, sub, dir, sep, sub);
}

/*
 * Where ospprearm.exe is: for Office 2013 and later in the Office
 * program folder (Program Files\Microsoft Office\Office15 or Office16,
 * Program Files (x86) for 32-bit Office on 64-bit Windows), per
 * "Rearm a volume licensed version of Office that's included in an
 * operating system image"
 * (https://learn.microsoft.com/office/volume-license-activation/rearm-an-office-installation-on-an-image-when-using-kms-to-activate);
 * for Office 2010 in Common Files\Microsoft Shared\
 * OfficeSoftwareProtectionPlatform, as Microsoft's Office 2010 volume
 * activation guide on TechNet said.  The script takes the first that
 * exists: the one the registry points at, then the usual ones.
 */
int
bat_office_rearm(struct buf *f, const struct office_report *office,
		 struct kp_error *err)
{
	static const char ospp_dir[] =
		"Microsoft Shared\\OfficeSoftwareProtectionPlatform\\";
	size_t i, k;
	int bad = 0;

	if (office == NULL)
		return 0;
	for (i = 0; i < office->n; i++) {
		const struct office_install *o = &office->inst[i];
		/* Arguments, not formats: a single % each. */
		const char *cf = o->wow64 ? "%CommonProgramFiles(x86)%" :
					    "%CommonProgramFiles%";
		const char *pf = o->wow64 ? "%ProgramFiles(x86)%" :
					    "%ProgramFiles%";
		char sub[32];

		if (o->lic != OFFICE_LIC_OSPP)
			continue;
		bad |= bat_line(f, "rem %s licenses through the Office Software "
				"Protection Platform: its own rearm gives the "
				"copy its own Office client machine ID.",
				o->name);
		bad |= bat_line(f, "set \"OSPPREARM=\"");
		snprintf(sub, sizeof(sub), "Office%.2s\\", o->version);
		if (strcmp(o->version, "14.0") != 0) {
			/* The MSI InstallRoot is the Office1x folder; a
			 * Click-to-Run path is the Microsoft Office one. */
			if (batch_path_ok(o->path))
				bad |= rearm_candidate(f, o->path,
						       o->kind == OFFICE_C2R ?
						       sub : "");
			bad |= bat_line(f, "if not defined OSPPREARM if exist "
					"\"%s\\Microsoft Office\\%sOSPPREARM.EXE\" "
					"set \"OSPPREARM=%s\\Microsoft Office\\%s"
					"OSPPREARM.EXE\"", pf, sub, pf, sub);
		}
		bad |= rearm_candidate(f, cf, ospp_dir);
		/* Where the 32-bit OSPP of 32-bit Office on 64-bit Windows
		 * lives is not documented; the native folder comes last. */
		if (o->wow64)
			bad |= rearm_candidate(f, "%CommonProgramFiles%",
					       ospp_dir);
		bad |= bat_line(f, "if not defined OSPPREARM goto noospprearm%zu",
				i);
		bad |= bat_line(f, "\"%%OSPPREARM%%\">>\"%%LOG%%\" 2>&1");
		bad |= bat_line(f, ">>\"%%LOG%%\" echo office rearm: exit code "
				"%%ERRORLEVEL%%");
		bad |= bat_line(f, "goto ospprearm%zu", i);
		bad |= bat_line(f, ":noospprearm%zu", i);
		bad |= bat_line(f, ">>\"%%LOG%%\" echo office rearm: no "
				"OSPPREARM.EXE found for %s", o->name);
		bad |= bat_line(f, ":ospprearm%zu", i);
		if (bad)
			return kp_fail_oom(err);
	}
	/* The OSPP KMS settings, put back as Windows' are after its rearm
	 * (whether ospprearm keeps them is not documented). */
	for (k = 0; k < office->nkms; k++) {
		const struct office_kms *m = &office->kms[k];
		char key[300];
		struct buf v = BUF_INIT, pv = BUF_INIT;
		int r = 0;

		if (strncmp(m->scope, "ospp", 4) != 0 ||
		    (m->name == NULL && m->port == NULL))
			continue;
		snprintf(key, sizeof(key), "SOFTWARE\\%s", m->key);
		if ((m->name && regval_sz(m->name, &v) < 0) ||
		    (m->port && regval_sz(m->port, &pv) < 0))
			r = kp_fail_oom(err);
		if (r == 0 && m->name)
			r = bat_reg(f, key, "KeyManagementServiceName", true,
				    REGT_SZ,
				    (const unsigned char *)v.data, v.len, err);
		if (r == 0 && m->port)
			r = bat_reg(f, key, "KeyManagementServicePort", true,
				    REGT_SZ,
				    (const unsigned char *)pv.data, pv.len,
				    err);
		buf_release(&v);
		buf_release(&pv);
		if (r < 0)
			return -1;
	}
	return 0;
}

int
bat_clone_scripts(const struct spp_report *rep,
		  const struct office_report *office, bool activate,
		  const char *gvlk, bool guestfs, struct buf *one,
		  struct buf *two, struct kp_error *err)
{
	static const char *const hook_one[] = {
		"Written by kmsprep (image generalize --mode clone). It runs "
		"once, as",
		"SYSTEM, at the first boot of a copy of this image: a rearm "
		"gives the",
		"copy its own KMS client machine ID, the KMS settings are put "
		"back",
		"(a rearm restores the defaults) and Windows restarts once (not "
		"if the",
		"rearm failed: the restart only completes it).", NULL,
	};
	static const char *const guestfs_one[] = {
		"Written by kmsprep (image generalize --mode clone). libguestfs'",
		"firstboot service runs it once, as SYSTEM, at the first boot "
		"of a copy",
		"of this image, then restarts Windows: a rearm gives the copy "
		"its own KMS",
		"client machine ID, the KMS settings are put back (a rearm "
		"restores the",
		"defaults).  Exit code 0, or 1 if the rearm failed (never 249, "
		"which",
		"would make the service run it again at every boot).", NULL,
	};
	static const char *const two_about[] = {
		"Written by kmsprep: runs once after the restart that follows "
		"the rearm,",
		"and activates now instead of at the next two-hourly attempt.",
		NULL,
	};
	int bad = 0;

	bad |= clone_head(one, guestfs ? guestfs_one : hook_one, !guestfs,
			  "first boot");
	if (gvlk && gvlk_lines(one, gvlk, err) < 0)
		return -1;
	bad |= bat_sl(one, "rearm", "rearm");
	bad |= bat_line(one, "set \"REARM=%%RC%%\"");
	if (bad)
		return kp_fail_oom(err);
	if (bat_spp_values(one, rep, err) < 0 ||
	    bat_office_rearm(one, office, err) < 0)
		return -1;
	if (activate) {
		/* %% in a batch file is a literal %: the hook must hold
		 * %SystemRoot% itself to be recognized as kmsprep's
		 * (setup_is_ours); cmd.exe /c expands it at the boot.  The
		 * firstboot service runs the next script by itself. */
		if (!guestfs) {
			bad |= bat_line(one, "reg add \"HKLM\\SYSTEM\\Setup\" "
					"/v CmdLine /t REG_SZ /d \"cmd.exe /c "
					"\\\"%%%%SystemRoot%%%%\\" FIRSTBOOT_DIR
					"\\firstboot-activate.cmd\\\"\" /f>nul");
			bad |= bat_line(one, "reg add \"HKLM\\SYSTEM\\Setup\" "
					"/v SetupType /t REG_DWORD /d 2 /f>nul");
		}
		bad |= clone_head(two, two_about, !guestfs,
				  "after the restart: activate");
		bad |= bat_sl_wait(two);
		bad |= bat_sl(two, "ato", "activate");
		bad |= bat_sl(two, "dlv", "license state");
		bad |= bat_line(two, "exit /b 0");
		bad |= bat_sl_sub(two);
	}
	bad |= bat_line(one, "if not \"%%REARM%%\"==\"0\" goto norestart");
	if (guestfs) {
		bad |= bat_line(one, ">>\"%%LOG%%\" echo the firstboot service "
				"restarts Windows now");
	} else {
		/* SetupComplete.cmd must not restart Windows (Microsoft:
		 * "Add a custom script to Windows Setup"): run from there,
		 * the rearm waits for the copy's next restart. */
		bad |= bat_line(one, "if not defined KMSPREP_SETUPCOMPLETE goto "
				"restart");
		bad |= bat_line(one, ">>\"%%LOG%%\" echo run from "
				"SetupComplete.cmd, which must not restart "
				"Windows: the rearm takes effect at the next "
				"restart");
		bad |= bat_line(one, "exit /b 0");
		bad |= bat_line(one, ":restart");
		bad |= bat_line(one, ">>\"%%LOG%%\" echo restarting once");
		bad |= bat_line(one, "shutdown /r /t 5 /c \"kmsprep: restarting "
				"after the rearm\">>\"%%LOG%%\" 2>&1");
		bad |= bat_line(one, ">>\"%%LOG%%\" echo restart: exit code "
				"%%ERRORLEVEL%%");
	}
	bad |= bat_line(one, "exit /b 0");
	bad |= bat_line(one, ":norestart");
	bad |= bat_line(one, ">>\"%%LOG%%\" echo the rearm failed: this copy "
			"keeps the image's machine ID%s%s",
			guestfs ? "" : "; no restart",
			activate ? (guestfs ? "; activation follows" :
				    ", activation at the next boot") : "");
	bad |= bat_line(one, "exit /b 1");
	bad |= bat_sl_sub(one);
	return bad ? kp_fail_oom(err) : 0;
}

/*
 * Reading the log back.
 */

/* The codes a first boot meets most, in our words; what they mean:
 * https://learn.microsoft.com/en-us/windows-server/get-started/activation-error-codes
 * (0xC004D307, the rearm limit, is slmgr.vbs /rearm's own). */
static const struct {
	unsigned long code;
	const char *text;
} sl_errors[] = {
	{ 0xC004C003, "the activation server says the key is blocked" },
	{ 0xC004C008, "the KMS host key has reached its activation limit" },
	{ 0xC004D307, "no rearm left (the rearm count is exhausted)" },
	{ 0xC004F009, "the grace period has expired" },
	{ 0xC004F014, "no product key is installed" },
	{ 0xC004F035, "volume activation needs a qualifying OEM marker in "
		      "the firmware (or a MAK)" },
	{ 0xC004F038, "the KMS host's count is too low (25 clients or 5 "
		      "servers needed)" },
	{ 0xC004F039, "the KMS host did not answer (is TCP 1688 open?)" },
	{ 0xC004F041, "the KMS host is not activated" },
	{ 0xC004F042, "this KMS host cannot activate this product" },
	{ 0xC004F050, "the product key is not valid" },
	{ 0xC004F051, "the product key is blocked" },
	{ 0xC004F06C, "the KMS host and this machine disagree on the time" },
	{ 0xC004F074, "no KMS host could be contacted" },
	{ 0x80070005, "access denied" },
	{ 0x8007232A, "DNS server failure" },
	{ 0x8007232B, "no KMS SRV record: the DNS name does not exist" },
	{ 0x8007251D, "no KMS SRV record found in DNS" },
	{ 0x800706BA, "the RPC server is unavailable" },
};

const char *
sl_error_text(unsigned long code)
{
	size_t i;

	for (i = 0; i < sizeof(sl_errors) / sizeof(*sl_errors); i++)
		if (sl_errors[i].code == (code & 0xffffffffUL))
			return sl_errors[i].text;
	return NULL;
}

/* Copy at most SIZE - 1 printable ASCII bytes of [P, E) to OUT. */
static void
copy_text(const char *p, const char *e, char *out, size_t size)
{
	size_t n = 0;

	for (; p < e && n + 1 < size; p++)
		out[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	out[n] = '\0';
}

static bool
starts(const char *p, const char *e, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(e - p) >= n && memcmp(p, word, n) == 0;
}

void
fb_log_parse(const char *log, size_t len, struct fb_outcome *o)
{
	const char *p = log, *end = log + len;

	memset(o, 0, sizeof(*o));
	o->license_status = -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end, *k, *c;

		if (e > p && e[-1] == '\r')
			e--;
		k = memmem(p, (size_t)(e - p), " kmsprep ", 9);
		c = memmem(p, (size_t)(e - p), ": exit code ", 12);
		if (k && !starts(p, e, "rem ")) {
			o->runs++;
			copy_text(p, k, o->started, sizeof(o->started));
			/* A new first boot starts the record again. */
			if (memmem(k, (size_t)(e - k), "first boot", 10))
				o->nsteps = 0;
		} else if (c && o->nsteps < FB_MAX_STEPS &&
			   (size_t)(c - p) < sizeof(o->steps[0].label)) {
			struct fb_step *st = &o->steps[o->nsteps];
			char num[24];
			char *x;

			copy_text(c + 12, e, num, sizeof(num));
			st->code = strtol(num, &x, 10);
			if (x != num && *x == '\0') {
				copy_text(p, c, st->label, sizeof(st->label));
				o->nsteps++;
			}
		} else if (starts(p, e, "dlv: ClientMachineID=")) {
			copy_text(p + 21, e, o->cmid, sizeof(o->cmid));
		} else if (starts(p, e, "dlv: LicenseStatus=")) {
			char num[16];

			copy_text(p + 19, e, num, sizeof(num));
			o->license_status = strtol(num, NULL, 10);
		} else if (starts(p, e, "dlv: LicenseStatusReason=")) {
			char num[16];

			copy_text(p + 25, e, num, sizeof(num));
			o->reason = strtoul(num, NULL, 16);
		}
		p = nl ? nl + 1 : end;
	}
}

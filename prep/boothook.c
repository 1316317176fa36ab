/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The first-boot hook (SYSTEM\Setup) and the .cmd building blocks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "boothook.h"
#include "hive/regf.h"
#include "hive/regval.h"
#include "lib/valid.h"

int
bat_line(struct buf *f, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vaddf(f, fmt, ap);
	va_end(ap);
	return r < 0 ? -1 : buf_add(f, "\r\n", 2);
}

/* Can S go between double quotes in a reg.exe command line?  cmd reads
 * a batch file in the OEM code page, so only ASCII survives the trip; a
 * trailing backslash would escape the closing quote; cmd's line limit is
 * 8191 characters. */
int
bat_safe(const char *what, const char *s, struct kp_error *err)
{
	const unsigned char *p;
	size_t n = strlen(s);

	if (kp_check_safe(what, s, err) < 0) {
		err->status = KP_ERR_INPUT;
		kp_error_prefix(err, "cannot put it into a script");
		return -1;
	}
	for (p = (const unsigned char *)s; *p; p++)
		if (*p > 0x7e)
			return kp_fail(err, KP_ERR_INPUT, "%s: only ASCII can "
				       "go into a script", what);
	if ((n && s[n - 1] == '\\') || n > 4096)
		return kp_fail(err, KP_ERR_INPUT, "%s: %s cannot go into a "
			       "script", what, n > 4096 ? "a value this long" :
			       "a trailing backslash");
	return 0;
}

int
bat_reg(struct buf *f, const char *key, const char *name, bool set,
	uint32_t type, const unsigned char *data, size_t len,
	struct kp_error *err)
{
	struct buf v = BUF_INIT;
	char **list = NULL;
	uint32_t dw;
	size_t n, i;
	int r = -1;

	if (bat_safe("registry key", key, err) < 0 ||
	    bat_safe("value name", name, err) < 0)
		return -1;
	if (!set) {
		r = bat_line(f, "reg delete \"HKLM\\%s\" /v \"%s\" /f>>\"%%LOG%%\" "
			     "2>&1", key, name);
		goto log;
	}
	switch (type) {
	case REGT_DWORD:
		if (regval_get_dword(data, len, &dw) < 0)
			goto bad;
		r = bat_line(f, "reg add \"HKLM\\%s\" /v \"%s\" /t REG_DWORD "
			     "/d %u /f>>\"%%LOG%%\" 2>&1", key, name, dw);
		break;
	case REGT_SZ:
		if (regval_get_sz(data, len, &v) < 0 ||
		    bat_safe(name, buf_str(&v), err) < 0)
			goto bad;
		r = bat_line(f, "reg add \"HKLM\\%s\" /v \"%s\" /t REG_SZ "
			     "/d \"%s\" /f>>\"%%LOG%%\" 2>&1", key, name,
			     buf_str(&v));
		break;
	case REGT_MULTI_SZ:
		if (regval_get_multi_sz(data, len, &list, &n) < 0)
			goto bad;
		buf_reset(&v);
		for (i = 0; i < n; i++) {
			/* reg.exe separates the strings with \0. */
			if (bat_safe(name, list[i], err) < 0 ||
			    strstr(list[i], "\\0") ||
			    (i && buf_addstr(&v, "\\0") < 0) ||
			    buf_addstr(&v, list[i]) < 0)
				goto bad;
		}
		r = bat_line(f, "reg add \"HKLM\\%s\" /v \"%s\" /t REG_MULTI_SZ "
			     "/d \"%s\" /f>>\"%%LOG%%\" 2>&1", key, name,
			     buf_str(&v));
		break;
	default:
		goto bad;
	}
log:
	if (r == 0)
		r = bat_line(f, ">>\"%%LOG%%\" echo %s: exit code %%ERRORLEVEL%%",
			     name);
	goto out;
bad:
	if (err->status == 0)
		kp_fail(err, KP_ERR_INPUT,
			"value '%s' of '%s' cannot be written into a script",
			name, key);
	r = -1;
out:
	regval_free_list(list);
	buf_release(&v);
	return r;
}

int
bat_clear_hook(struct buf *f)
{
	return bat_line(f, "reg add \"HKLM\\SYSTEM\\Setup\" /v SetupType /t "
			"REG_DWORD /d 0 /f>nul") < 0 ||
			       bat_line(f, "reg add \"HKLM\\SYSTEM\\Setup\" /v "
					"CmdLine /t REG_SZ /d \"\" /f>nul") < 0 ?
		       -1 : 0;
}

int
setup_read(struct hive *system, struct setup_state *st, struct kp_error *err)
{
	struct hive_value v;
	struct buf s = BUF_INIT;
	hive_key k;
	int r;

	memset(st, 0, sizeof(*st));
	r = hive_find(system, "Setup", &k, err);
	if (r <= 0)
		return r;
	r = hive_get(system, k, "SetupType", &v, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		regval_get_dword(v.data, v.len, &st->setup_type);
		hive_value_release(&v);
	}
	r = hive_get(system, k, "CmdLine", &v, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		if ((v.type == REGT_SZ || v.type == REGT_EXPAND_SZ) &&
		    regval_get_sz(v.data, v.len, &s) == 0)
			st->cmdline = buf_detach(&s, NULL);
		else if (asprintf(&st->cmdline, "(a value of type %u that "
				  "kmsprep cannot read)", v.type) < 0)
			st->cmdline = NULL;
		buf_release(&s);
		hive_value_release(&v);
		/* Whatever it holds, it is not ours to replace. */
		if (st->cmdline == NULL)
			return kp_fail_oom(err);
	}
	st->ours = setup_is_ours(st->cmdline);
	return 0;
}

bool
setup_is_ours(const char *cmdline)
{
	static const char prefix[] = FIRSTBOOT_CMD_PREFIX;
	size_t n = cmdline ? strlen(cmdline) : 0;

	return n >= sizeof(prefix) + 5 &&
	       strncasecmp(cmdline, prefix, sizeof(prefix) - 1) == 0 &&
	       strcasecmp(cmdline + n - 5, ".cmd\"") == 0 &&
	       strpbrk(cmdline + sizeof(prefix) - 1, "\\/") == NULL;
}

void
setup_release(struct setup_state *st)
{
	free(st->cmdline);
	memset(st, 0, sizeof(*st));
}

int
setup_stage(struct hive *system, const char *cmdline, struct hive_changes *c,
	    struct kp_error *err)
{
	struct setup_state st;
	struct buf sz = BUF_INIT;
	unsigned char two[4];
	char q[300];
	int r;

	if (setup_read(system, &st, err) < 0)
		return -1;
	if (st.cmdline && st.cmdline[0] && !st.ours) {
		kp_fail(err, KP_ERR_REFUSED,
			"SYSTEM\\Setup\\CmdLine already runs '%s' at the next "
			"boot (Windows' own setup, or another tool); it is not "
			"replaced", kp_quote(st.cmdline, q, sizeof(q)));
		setup_release(&st);
		return -1;
	}
	setup_release(&st);
	regval_dword(2, two);
	if (regval_sz(cmdline, &sz) < 0) {
		buf_release(&sz);
		return kp_fail_oom(err);
	}
	r = hive_apply_value(system, c, "Setup", "CmdLine", true, REGT_SZ,
			     sz.data, sz.len, err);
	if (r == 0)
		r = hive_apply_value(system, c, "Setup", "SetupType", true,
				     REGT_DWORD, two, 4, err);
	buf_release(&sz);
	return r;
}

/*
 * Licensing actions.  slmgr.vbs is a VBScript front end to the Software
 * Licensing WMI classes, and VBScript is an optional feature on its way out
 * (Windows 11 24H2, Server 2025); Windows PowerShell (2.0 on Windows 7 SP1,
 * 5.1 since) is always there and calls the same classes, so it goes first.
 * The script is static: the values an action needs (the key file's path)
 * come from environment variables, so nothing a user typed is ever parsed
 * as PowerShell.  WMI methods used, as documented at
 * https://learn.microsoft.com/en-us/previous-versions/windows/desktop/sppwmi/
 *   softwarelicensingservice: ReArmWindows (rearmwindows-softwarelicensingservice),
 *     InstallProductKey (installproductkey-softwarelicensingservice),
 *     RefreshLicenseStatus (refreshlicensestatus-softwarelicensingservice),
 *     and its property Version;
 *   softwarelicensingproduct: Activate (activate-softwarelicensingproduct),
 *     and its properties ID, ApplicationID, Description, PartialProductKey,
 *     LicenseIsAddon, LicenseStatus, VLActivationTypeEnabled.
 * Get-WmiObject is in Windows PowerShell 2.0 to 5.1:
 * https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.management/get-wmiobject?view=powershell-5.1
 *
 * ipk and ato do what slmgr.vbs's own /ipk and /ato do, as Microsoft's
 * slmgr.vbs of Windows 10 and 11 reads (we read the copy published at
 * github.com/winexe0/ActivationStatus, slmgr.vbs, commit 00552b6; the line
 * numbers are that copy's, and none of its text is reproduced here):
 * - /ato (ActivateProduct, lines 1070-1128, with CheckProductForCommand,
 *   913-927): it goes through the products that hold a key (the query at
 *   1082) and takes, when an Activation ID is given, the product of that ID,
 *   whatever it is; otherwise a product of Windows' application ID
 *   (55c92734-..., line 482) whose LicenseIsAddon is false, so never an
 *   add-on such as an Extended Security Update licence.  It activates it and
 *   refreshes the service (1108-1112; a MAK product that is licensed
 *   already is not activated again, so as not to spend a MAK activation),
 *   and stops there when an ID was given or the product is surely the
 *   primary Windows SKU (1117-1119).  Surely primary
 *   (GetIsPrimaryWindowsSKU, 3206-3236): Windows' application ID, a key,
 *   and LicenseIsAddon false; where the property cannot be read (Windows
 *   before it had one), only a KMS product (a description with VOLUME_KMS,
 *   IsKmsClient and IsKmsServer, 3150-3172) is, and slmgr goes on to the
 *   next product after any other.  A product set for token-based
 *   activation only (VLActivationTypeEnabled 3, 1096-1099) is not activated.
 *   An error ends the script with its code (QuitIfError, 2997-3010): the
 *   first failure stops it.  This script does the same, except that it
 *   exits 1, not 0, where nothing was activated (no product, or
 *   token-based only), so that the log says so.  Before, it activated every
 *   Windows product that held a key, add-ons included, and the first
 *   failing one (an ESU licence with no KMS host for it) stopped it before
 *   Windows itself was activated.
 * - /ipk (InstallProductKey, 1705-1765): it installs the key through the
 *   service, refreshes it (1722), then, if any product that holds a key is
 *   a KMS host (a description with VOLUME_KMS but not VOLUME_KMSCLIENT),
 *   sets the registry value KeyManagementServiceVersion of
 *   SoftwareProtectionPlatform (and of its Wow6432Node twin where that key
 *   exists) to the service's Version; otherwise it removes the value from
 *   both, where it is no error that the value is not there or access is
 *   denied (1738-1762; this script lets any failure to remove it pass).
 *   KeyManagementServiceVersion is a registry value, not a WMI property.
 *
 * Under a WDAC or AppLocker policy PowerShell runs scripts in Constrained
 * Language Mode (about_Language_Modes): cmdlets, properties and the methods
 * of its core types (strings, WMI objects) work, a static method of any
 * other .NET type does not.  The error path used to call
 * [Marshal]::GetHRForException; refused there, it lost the HRESULT the log
 * and image show are for.  It now reads properties only: a WMI method's
 * failure reaches the script as a COMException whose ErrorCode
 * (ExternalException.ErrorCode, public on every .NET) is the HRESULT, a
 * WMI error as a ManagementException whose ErrorCode is WMI's status;
 * Exception.HResult, for anything else, is public from .NET 4.5 on, so
 * not under PowerShell 2.0 on .NET 2.0, where the script says 1 rather
 * than fail.
 */
static const char *const licensing_ps1[] = {
	"# Written by kmsprep: one licensing action through the Software",
	"# Licensing WMI classes (the ones slmgr.vbs calls), named by the first",
	"# argument: rearm, ipk (the key from the file $env:KMSPREP_KEYFILE,",
	"# else the public KMS client setup key $env:KMSPREP_GVLK), ato (of",
	"# $env:KMSPREP_ACTID if set), dlv.  Exit code 0, or the HRESULT of the",
	"# failure (0xC004F074: no KMS host could be contacted).  Windows",
	"# PowerShell 2.0 to 5.1, in Constrained Language Mode too: no static",
	"# .NET method is called.",
	"$ErrorActionPreference = 'Stop'",
	"# The code from properties alone.  A WMI method's failure is a",
	"# COMException whose ErrorCode is the HRESULT (a ManagementException's",
	"# is WMI's status) on every .NET; HResult is public from .NET 4.5 on.",
	"function Fail($e) {",
	"\twhile ($e.InnerException) { $e = $e.InnerException }",
	"\t$hr = $e.ErrorCode -as [int]",
	"\tif (-not $hr) { $hr = $e.HResult -as [int] }",
	"\tif (-not $hr) { $hr = 1 }",
	"\t'{0}: error 0x{1:X8}: {2}' -f $args[0], $hr, $e.Message",
	"\texit $hr",
	"}",
	"$action = [string]$args[0]",
	"try {",
	"\t$svc = Get-WmiObject -Query 'SELECT * FROM SoftwareLicensingService'",
	"\t# Windows' own products (its application ID) that hold a key; every",
	"\t# product that holds one.",
	"\t$q = \"SELECT * FROM SoftwareLicensingProduct WHERE ApplicationID = \" +",
	"\t\t\"'55c92734-d682-4d71-983e-d6ec3f16059f' AND PartialProductKey IS NOT NULL\"",
	"\t$all = 'SELECT * FROM SoftwareLicensingProduct WHERE PartialProductKey IS NOT NULL'",
	"\tswitch ($action) {",
	"\t'rearm' {",
	"\t\t$null = $svc.ReArmWindows()",
	"\t\t'rearm: done; a restart completes it'",
	"\t}",
	"\t'ipk' {",
	"\t\tif ($env:KMSPREP_KEYFILE) {",
	"\t\t\t$k = (Get-Content -LiteralPath $env:KMSPREP_KEYFILE -TotalCount 1).Trim()",
	"\t\t} else {",
	"\t\t\t$k = [string]$env:KMSPREP_GVLK",
	"\t\t}",
	"\t\t$null = $svc.InstallProductKey($k)",
	"\t\t$k = $null",
	"\t\t$null = $svc.RefreshLicenseStatus()",
	"\t\t'ipk: key installed'",
	"\t\t# As slmgr.vbs /ipk: while any product holds a KMS host key, the",
	"\t\t# service's version is KeyManagementServiceVersion; else it goes.",
	"\t\t$kms = @(Get-WmiObject -Query $all | Where-Object {",
	"\t\t\t$_.Description -cmatch 'VOLUME_KMS' -and",
	"\t\t\t$_.Description -cnotmatch 'VOLUME_KMSCLIENT' })",
	"\t\t$spp = 'Microsoft\\Windows NT\\CurrentVersion\\SoftwareProtectionPlatform'",
	"\t\t$n = 'KeyManagementServiceVersion'",
	"\t\t$keys = @(\"HKLM:\\SOFTWARE\\$spp\", \"HKLM:\\SOFTWARE\\Wow6432Node\\$spp\")",
	"\t\tif ($kms.Count -gt 0) {",
	"\t\t\t$v = [string]$svc.Version",
	"\t\t\tforeach ($r in $keys) {",
	"\t\t\t\tif (Test-Path -LiteralPath $r) {",
	"\t\t\t\t\t$null = New-ItemProperty -LiteralPath $r -Name $n -Value $v -PropertyType String -Force",
	"\t\t\t\t}",
	"\t\t\t}",
	"\t\t\t'ipk: a KMS host key: KeyManagementServiceVersion=' + $v",
	"\t\t} else {",
	"\t\t\tforeach ($r in $keys) {",
	"\t\t\t\tRemove-ItemProperty -LiteralPath $r -Name $n -ErrorAction SilentlyContinue",
	"\t\t\t}",
	"\t\t}",
	"\t}",
	"\t'ato' {",
	"\t\t# As slmgr.vbs /ato: of the products that hold a key, the one of",
	"\t\t# the Activation ID given ($env:KMSPREP_ACTID: an Office KMS host,",
	"\t\t# an ESU add-on), else Windows' own but no add-on (ESU and the",
	"\t\t# like are: LicenseIsAddon), in WMI's order until the first that",
	"\t\t# is surely the edition itself; so one Activate.  A failure stops",
	"\t\t# it with its HRESULT.",
	"\t\t$id = [string]$env:KMSPREP_ACTID",
	"\t\tif ($id) {",
	"\t\t\tif ($id -notmatch '^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$') {",
	"\t\t\t\t'ato: not an Activation ID'; exit 2",
	"\t\t\t}",
	"\t\t\t$q = \"SELECT * FROM SoftwareLicensingProduct WHERE ID = '$id'\" +",
	"\t\t\t\t\" AND PartialProductKey IS NOT NULL\"",
	"\t\t}",
	"\t\t$p = @(Get-WmiObject -Query $q | Where-Object {",
	"\t\t\t$id -or $_.LicenseIsAddon -ne $true })",
	"\t\tif ($p.Count -eq 0) { 'ato: no product to activate holds a key'; exit 1 }",
	"\t\t$i = 0",
	"\t\tdo {",
	"\t\t\t$x = $p[$i]",
	"\t\t\t$i++",
	"\t\t\tif ($x.VLActivationTypeEnabled -eq 3) {",
	"\t\t\t\t'ato: ' + $x.Name + ': set for token-based activation only'",
	"\t\t\t\texit 1",
	"\t\t\t}",
	"\t\t\t'ato: activating ' + $x.Name + ' (' + $x.ID + ')'",
	"\t\t\t# A MAK activation already done is not spent again.",
	"\t\t\tif ($x.Description -cnotmatch 'MAK' -or $x.LicenseStatus -ne 1) {",
	"\t\t\t\t$null = $x.Activate()",
	"\t\t\t\t$null = $svc.RefreshLicenseStatus()",
	"\t\t\t\t'ato: activated'",
	"\t\t\t} else {",
	"\t\t\t\t'ato: activated already (MAK)'",
	"\t\t\t}",
	"\t\t\t# Surely the edition: LicenseIsAddon read as false, or (where",
	"\t\t\t# Windows has no such property) a KMS product.",
	"\t\t} until ($id -or $x.LicenseIsAddon -eq $false -or",
	"\t\t\t$x.Description -cmatch 'VOLUME_KMS' -or $i -ge $p.Count)",
	"\t}",
	"\t'dlv' {",
	"\t\t'dlv: ClientMachineID=' + $svc.ClientMachineID",
	"\t\t'dlv: RemainingWindowsReArmCount=' + $svc.RemainingWindowsReArmCount",
	"\t\tforeach ($x in @(Get-WmiObject -Query $q)) {",
	"\t\t\t'dlv: Name=' + $x.Name",
	"\t\t\t'dlv: Description=' + $x.Description",
	"\t\t\t'dlv: PartialProductKey=' + $x.PartialProductKey",
	"\t\t\t'dlv: LicenseStatus=' + $x.LicenseStatus",
	"\t\t\t'dlv: LicenseStatusReason=0x{0:X8}' -f $x.LicenseStatusReason",
	"\t\t\t'dlv: GracePeriodRemaining=' + $x.GracePeriodRemaining",
	"\t\t\t'dlv: KeyManagementServiceMachine=' + $x.KeyManagementServiceMachine",
	"\t\t\t'dlv: DiscoveredKeyManagementServiceMachineName=' +",
	"\t\t\t\t$x.DiscoveredKeyManagementServiceMachineName",
	"\t\t\t'dlv: VLActivationInterval=' + $x.VLActivationInterval",
	"\t\t}",
	"\t}",
	"\tdefault { \"unknown action '$action'\"; exit 2 }",
	"\t}",
	"} catch {",
	"\tFail $_.Exception $action",
	"}",
	"exit 0",
};

int
ps1_licensing(struct buf *f)
{
	size_t i;

	for (i = 0; i < sizeof(licensing_ps1) / sizeof(*licensing_ps1); i++)
		if (bat_line(f, "%s", licensing_ps1[i]) < 0)
			return -1;
	return 0;
}

int
bat_sl_setup(struct buf *f)
{
	return bat_line(f, "set \"PS=%%SystemRoot%%\\System32\\WindowsPowerShell"
			"\\v1.0\\powershell.exe\"") < 0 ||
	       bat_line(f, "set \"PS1=%%SystemRoot%%\\" FIRSTBOOT_DIR "\\"
			FIRSTBOOT_PS1 "\"") < 0 ? -1 : 0;
}

/* ERRORLEVEL goes to RC on the line after the call: %ERRORLEVEL% is
 * expanded when a line is read, and "set" in a .cmd file resets it. */
int
bat_sl(struct buf *f, const char *action, const char *label)
{
	return bat_line(f, "call :sl %s>>\"%%LOG%%\" 2>&1", action) < 0 ||
	       bat_line(f, "set \"RC=%%ERRORLEVEL%%\"") < 0 ||
	       bat_line(f, ">>\"%%LOG%%\" echo %s: exit code %%RC%%", label) < 0 ?
		-1 : 0;
}

int
bat_sl_wait(struct buf *f)
{
	return bat_line(f, "rem How long activation keeps trying, in seconds, "
			"while no KMS host can be") < 0 ||
	       bat_line(f, "rem contacted: edit it here, or set "
			"KMSPREP_ACTIVATION_WAIT for the machine") < 0 ||
	       bat_line(f, "rem (0: one attempt only).") < 0 ||
	       bat_line(f, "if not defined KMSPREP_ACTIVATION_WAIT set "
			"\"KMSPREP_ACTIVATION_WAIT=%d\"",
			FIRSTBOOT_ACTIVATION_WAIT) < 0 ? -1 : 0;
}

/*
 * Its output goes where the call's goes (the log), so it never opens the
 * log a second time.
 *
 * ato is tried again while it fails with 0xC004F074 (-1073418124 as cmd
 * shows it: no KMS host could be contacted), with KMSPREP_ACTIVATION_WAIT
 * seconds of waiting in all (bat_sl_wait sets it in a KMS client's script;
 * a host kit's, which activates online, tries once unless the machine sets
 * it).  The script runs before logon, often before DHCP has given an
 * address or DNS answers, and activation then fails at once where a minute
 * later it would succeed.  The attempt itself is the test of a usable network: it needs
 * what nothing else here could check for it (the SRV record, the host's
 * port), and any other answer (0, or a code from a host that was reached)
 * ends the loop.  Waits of 15, 30, 60 s, then 120 s each, the last cut to
 * the bound; each attempt that failed is logged with the wait that
 * follows, in words the log reader does not take for a step (no "exit
 * code").  When the time is up the code stays 0xC004F074 and Windows' own
 * activation goes on trying by itself, every VLActivationInterval (two
 * hours by default).  ping is the sleep: it is on every Windows, needs no
 * console (timeout.exe refuses to run with redirected input), and the
 * loopback answers without a network; it waits a second between echoes.
 * A value that is not a number counts as 0 (set /a).
 */
int
bat_sl_sub(struct buf *f)
{
	int r = 0;

	r |= bat_line(f, ":sl");
	r |= bat_line(f, "if /i not \"%%~1\"==\"ato\" goto sl_once");
	r |= bat_line(f, "set \"SLN=1\"");
	r |= bat_line(f, "set \"SLWAITED=0\"");
	r |= bat_line(f, "set \"SLNEXT=15\"");
	r |= bat_line(f, "set \"SLMAX=0\"");
	r |= bat_line(f, "set /a \"SLMAX=KMSPREP_ACTIVATION_WAIT\" 2>nul");
	r |= bat_line(f, ":sl_try");
	r |= bat_line(f, "call :sl_once %%*");
	r |= bat_line(f, "set \"SLRC=%%ERRORLEVEL%%\"");
	r |= bat_line(f, "if not \"%%SLRC%%\"==\"-1073418124\" goto sl_end");
	r |= bat_line(f, "if %%SLWAITED%% GEQ %%SLMAX%% goto sl_giveup");
	r |= bat_line(f, "set /a \"SLLEFT=SLMAX-SLWAITED\"");
	r |= bat_line(f, "if %%SLNEXT%% GTR %%SLLEFT%% set "
		      "\"SLNEXT=%%SLLEFT%%\"");
	r |= bat_line(f, "echo %%~1: attempt %%SLN%%: no KMS host could be "
		      "contacted; next attempt in %%SLNEXT%% s");
	r |= bat_line(f, "set /a \"SLPINGS=SLNEXT+1\"");
	r |= bat_line(f, ">nul ping -n %%SLPINGS%% 127.0.0.1");
	r |= bat_line(f, "set /a \"SLWAITED+=SLNEXT, SLN+=1, SLNEXT*=2\"");
	r |= bat_line(f, "if %%SLNEXT%% GTR 120 set \"SLNEXT=120\"");
	r |= bat_line(f, "goto sl_try");
	r |= bat_line(f, ":sl_giveup");
	r |= bat_line(f, "echo %%~1: attempt %%SLN%%: no KMS host could be "
		      "contacted; no more attempts after %%SLWAITED%% s, "
		      "Windows keeps trying by itself");
	r |= bat_line(f, "exit /b %%SLRC%%");
	r |= bat_line(f, ":sl_end");
	r |= bat_line(f, "if not \"%%SLN%%\"==\"1\" echo %%~1: attempt %%SLN%% "
		      "after %%SLWAITED%% s of waiting: code %%SLRC%%");
	r |= bat_line(f, "exit /b %%SLRC%%");
	r |= bat_line(f, ":sl_once");
	r |= bat_line(f, "if exist \"%%PS%%\" goto sl_ps");
	r |= bat_line(f, "echo %%1: Windows PowerShell is absent, slmgr.vbs "
		      "instead");
	r |= bat_line(f, "cscript //nologo \"%%SystemRoot%%\\System32\\"
		      "slmgr.vbs\" /%%1 %%~2");
	r |= bat_line(f, "exit /b %%ERRORLEVEL%%");
	r |= bat_line(f, ":sl_ps");
	r |= bat_line(f, "\"%%PS%%\" -NoProfile -NonInteractive -ExecutionPolicy "
		      "Bypass -File \"%%PS1%%\" %%1");
	r |= bat_line(f, "exit /b %%ERRORLEVEL%%");
	return r ? -1 : 0;
}

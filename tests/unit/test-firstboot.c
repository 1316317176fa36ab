/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* First-boot scripts: what may go into a reg.exe line, and which
 * SYSTEM\Setup\CmdLine is kmsprep's. */
#include "hive/regf.h"
#include "hive/regval.h"
#include "prep/firstboot.h"
#include "unit.h"

/* bat_reg on a REG_SZ holding TEXT: 0 or -1. */
static int
reg_sz(const char *text, struct buf *f, struct kp_error *err)
{
	struct buf v = BUF_INIT;
	int r;

	buf_reset(f);
	regval_sz(text, &v);
	r = bat_reg(f, "SOFTWARE\\Test", "Value", true, REGT_SZ,
		    (const unsigned char *)v.data, v.len, err);
	buf_release(&v);
	return r;
}

static void
values(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf f = BUF_INIT;
	char *list[] = { (char *)"corp.example,10,50", (char *)"lab.example" };
	struct buf v = BUF_INIT;
	char big[5000];

	CHECK_EQ(reg_sz("kms.example.com", &f, &err), 0);
	CHECK(strstr(f.data, "reg add \"HKLM\\SOFTWARE\\Test\" /v \"Value\" "
			     "/t REG_SZ /d \"kms.example.com\" /f") != NULL);
	CHECK(strstr(f.data, "\r\n") != NULL);
	/* A trailing backslash would escape the closing quote (review
	 * finding); non-ASCII would be garbled by cmd's code page. */
	CHECK_EQ(reg_sz("kms.example.com\\", &f, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INPUT);
	CHECK_EQ(reg_sz("k\xc3\xa9ms.example.com", &f, &err), -1);
	CHECK_EQ(reg_sz("a\" & calc", &f, &err), -1);
	CHECK_EQ(reg_sz("%PATH%", &f, &err), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ(reg_sz(big, &f, &err), -1);

	buf_reset(&f);
	regval_multi_sz(list, 2, &v);
	CHECK_EQ(bat_reg(&f, "SOFTWARE\\Test", "List", true, REGT_MULTI_SZ,
			 (const unsigned char *)v.data, v.len, &err), 0);
	CHECK(strstr(f.data, "/t REG_MULTI_SZ /d \"corp.example,10,50\\0"
			     "lab.example\"") != NULL);
	buf_release(&v);
	buf_release(&f);
}

static void
hook_is_ours(void)
{
	CHECK(setup_is_ours(FIRSTBOOT_CMDLINE("firstboot.cmd")));
	CHECK(setup_is_ours("cmd.exe /c \"%SystemRoot%\\kmsprep\\"
			    "firstboot-activate.cmd\""));
	CHECK(setup_is_ours("CMD.EXE /C \"%systemroot%\\KMSPREP\\X.CMD\""));
	CHECK(!setup_is_ours(NULL));
	CHECK(!setup_is_ours(""));
	CHECK(!setup_is_ours("oobe\\windeploy.exe"));
	/* Mentioning kmsprep is not enough (review finding). */
	CHECK(!setup_is_ours("C:\\tools\\kmsprep-helper.exe"));
	CHECK(!setup_is_ours("cmd.exe /c \"%SystemRoot%\\kmsprep\\..\\"
			    "evil.cmd\""));
	CHECK(!setup_is_ours("cmd.exe /c \"%SystemRoot%\\kmsprep\\x.exe\""));
}

/* A log as the scripts write it (t2300 runs them), read back. */
static void
log_read_back(void)
{
	static const char log[] =
		"Sat 11/28/2026  9:00:00.01 kmsprep first boot\r\n"
		"rearm: exit code 1\r\n"
		"Sun 11/29/2026 21:00:01.50 kmsprep first boot\r\n"
		"stub powershell -File C:\\windows\\kmsprep\\licensing.ps1 rearm\r\n"
		"rearm: exit code 0\r\n"
		"KeyManagementServiceName: exit code 0\r\n"
		"restart: exit code 0\r\n"
		"Sun 11/29/2026 21:01:10.00 kmsprep after the restart: activate\r\n"
		"ato: error 0xC004F074: no KMS\r\n"
		/* Activation's attempts are no steps. */
		"ato: attempt 1: no KMS host could be contacted; next attempt "
		"in 15 s\r\n"
		"ato: attempt 2: no KMS host could be contacted; no more "
		"attempts after 15 s, Windows keeps trying by itself\r\n"
		"activate: exit code -1073418124\r\n"
		"dlv: ClientMachineID=6f1c2a8e-0000-4000-8000-000000000001\r\n"
		"dlv: LicenseStatus=5\r\n"
		"dlv: LicenseStatusReason=0xC004F074\r\n"
		"license state: exit code 0\r\n"
		"code: exit code x\r\n"
		"truncated: exit co";
	struct fb_outcome o;

	fb_log_parse(log, sizeof(log) - 1, &o);
	CHECK_EQ(o.runs, 3);
	CHECK_STR(o.started, "Sun 11/29/2026 21:01:10.00");
	/* The earlier boot's failed rearm is not this one's. */
	CHECK_EQ(o.nsteps, 5);
	CHECK_STR(o.steps[0].label, "rearm");
	CHECK_EQ(o.steps[0].code, 0);
	CHECK_STR(o.steps[3].label, "activate");
	CHECK_EQ((unsigned long)o.steps[3].code & 0xffffffffUL, 0xC004F074UL);
	CHECK_STR(o.cmid, "6f1c2a8e-0000-4000-8000-000000000001");
	CHECK_EQ(o.license_status, 5);
	CHECK_EQ(o.reason, 0xC004F074UL);
	CHECK_STR(sl_error_text((unsigned long)o.steps[3].code),
		  "no KMS host could be contacted");
	CHECK(sl_error_text(0x12345678) == NULL);
	/* Any bytes at all: no crash, nothing made up. */
	fb_log_parse("\0\xff: exit code 5\n", 17, &o);
	CHECK_EQ(o.runs, 0);
	fb_log_parse("", 0, &o);
	CHECK_EQ(o.nsteps, 0);
	CHECK_EQ(o.license_status, -1);
}


/* image set --gvlk's script: the key in, then activation; no rearm, no
 * restart; the hook cleared first (not for libguestfs' service). */
static void
key_script(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf f = BUF_INIT;
	const char *clear, *set, *ipk, *ato, *dlv, *ex, *sub, *wait;

	CHECK_EQ(bat_key_script("NPPR9-FWDCX-D2C8J-H872K-2YT43", false, &f,
				&err), 0);
	clear = strstr(buf_str(&f), "reg add \"HKLM\\SYSTEM\\Setup\" /v "
		       "SetupType /t REG_DWORD /d 0 /f>nul\r\n");
	set = strstr(buf_str(&f), "\r\nset \"KMSPREP_GVLK=NPPR9-FWDCX-D2C8J-"
		     "H872K-2YT43\"\r\n");
	ipk = strstr(buf_str(&f), "\r\ncall :sl ipk \"%KMSPREP_GVLK%\">>");
	ato = strstr(buf_str(&f), "\r\ncall :sl ato>>");
	dlv = strstr(buf_str(&f), "\r\ncall :sl dlv>>");
	ex = strstr(buf_str(&f), "\r\nexit /b 0\r\n:sl\r\n");
	sub = strstr(buf_str(&f), "\r\n:sl_ps\r\n");
	CHECK(clear && set && ipk && ato && dlv && ex && sub);
	CHECK(clear < set && set < ipk && ipk < ato && ato < dlv && dlv < ex &&
	      ex < sub);
	CHECK(strstr(buf_str(&f), ":sl rearm") == NULL);
	CHECK(strstr(buf_str(&f), "shutdown") == NULL);
	CHECK(strstr(buf_str(&f), "kmsprep first boot") != NULL);
	/* Said in the log, read back by image show. */
	CHECK(strstr(buf_str(&f), " echo install KMS client setup key: exit "
		     "code %RC%\r\n") != NULL);
	CHECK(strstr(buf_str(&f), " echo activate: exit code %RC%\r\n") != NULL);
	/* Activation goes on while no KMS host answers, for the time the
	 * machine sets, else FIRSTBOOT_ACTIVATION_WAIT (t2300 runs it). */
	CHECK(FIRSTBOOT_ACTIVATION_WAIT == 600);
	wait = strstr(buf_str(&f), "\r\nif not defined KMSPREP_ACTIVATION_WAIT "
		      "set \"KMSPREP_ACTIVATION_WAIT=600\"\r\n");
	CHECK(wait && ato && ipk < wait && wait < ato);
	CHECK(strstr(buf_str(&f), "\r\n:sl\r\nif /i not \"%~1\"==\"ato\" goto "
		     "sl_once\r\n") != NULL);
	CHECK(strstr(buf_str(&f), "\r\nif not \"%SLRC%\"==\"-1073418124\" goto "
		     "sl_end\r\n") != NULL);
	/* The key, public, only where cmd sets it. */
	CHECK(strstr(set + 30, "NPPR9") == NULL);
	buf_reset(&f);
	CHECK_EQ(bat_key_script("NPPR9-FWDCX-D2C8J-H872K-2YT43", true, &f,
				&err), 0);
	CHECK(strstr(buf_str(&f), "SetupType") == NULL);
	CHECK(strstr(buf_str(&f), "exit /b 249") == NULL);
	buf_reset(&f);
	err.status = 0;
	CHECK_EQ(bat_key_script("a\" & calc", false, &f, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INPUT);
	buf_release(&f);
}

/* Office's own rearm in clone mode: for OSPP-based Office only, after
 * Windows' rearm, its OSPP KMS settings put back; a hostile path from
 * the image never reaches the script. */
static void
office_rearm(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf f = BUF_INIT, one = BUF_INIT, two = BUF_INIT;
	struct office_install inst[3];
	struct office_kms kms[2];
	struct office_report o = { true, inst, 3, kms, 2 };
	struct spp_report rep = { SPP_KEY, false, NULL, 0, NULL, 0 };
	const char *w, *r;

	memset(inst, 0, sizeof(inst));
	memset(kms, 0, sizeof(kms));
	inst[0] = (struct office_install){ .kind = OFFICE_MSI,
		.version = "14.0", .name = "Office 2010", .wow64 = true,
		.path = (char *)"C:\\Program Files (x86)\\Microsoft Office\\Office14\\",
		.lic = OFFICE_LIC_OSPP };
	inst[1] = (struct office_install){ .kind = OFFICE_MSI,
		.version = "15.0", .name = "Office 2013",
		.path = (char *)"C:\\Evil%PATH%\\", .lic = OFFICE_LIC_OSPP };
	inst[2] = (struct office_install){ .kind = OFFICE_C2R,
		.version = "16.0", .name = "C2R", .lic = OFFICE_LIC_SPP };
	kms[0] = (struct office_kms){ .key = (char *)OFFICE_OSPP_KEY,
		.scope = "ospp", .name = (char *)"kms.example",
		.port = (char *)"1700" };
	kms[1] = (struct office_kms){ .key = (char *)SPP_KEY "\\x",
		.scope = "spp-office", .name = (char *)"other" };
	CHECK_EQ(bat_office_rearm(&f, &o, &err), 0);
	buf_add(&f, "", 1);
	CHECK(strstr(f.data, "if exist \"%CommonProgramFiles(x86)%\\"
		     "Microsoft Shared\\OfficeSoftwareProtectionPlatform\\"
		     "OSPPREARM.EXE\"") != NULL);
	/* Office 2013: the Office15 folder first (the hostile registry
	 * path is left out), then Common Files. */
	CHECK(strstr(f.data, "\"%ProgramFiles%\\Microsoft Office\\Office15\\"
		     "OSPPREARM.EXE\"") != NULL);
	CHECK(strstr(f.data, "Evil") == NULL);
	CHECK(strstr(f.data, "\"%OSPPREARM%\">>\"%LOG%\" 2>&1") != NULL);
	CHECK(strstr(f.data, "echo office rearm: exit code %ERRORLEVEL%") != NULL);
	CHECK(strstr(f.data, "noospprearm1") != NULL);
	CHECK(strstr(f.data, "noospprearm2") == NULL);	/* SPP: none */
	CHECK(strstr(f.data, "reg add \"HKLM\\SOFTWARE\\Microsoft\\"
		     "OfficeSoftwareProtectionPlatform\" /v "
		     "\"KeyManagementServicePort\" /t REG_SZ /d \"1700\"") != NULL);
	CHECK(strstr(f.data, "other") == NULL);
	CHECK(strstr(f.data, "%%") == NULL);
	/* In the clone script: after Windows' rearm, before the restart. */
	CHECK_EQ(bat_clone_scripts(&rep, &o, false, NULL, false, &one, &two,
				   &err), 0);
	buf_add(&one, "", 1);
	w = strstr(one.data, "call :sl rearm");
	r = strstr(one.data, "\"%OSPPREARM%\"");
	CHECK(w && r && w < r && r < strstr(one.data, "shutdown /r"));
	/* Without Office, nothing. */
	buf_reset(&f);
	CHECK_EQ(bat_office_rearm(&f, NULL, &err), 0);
	CHECK_EQ(f.len, 0);
	o.n = 1;
	inst[0].lic = OFFICE_LIC_SPP;
	o.nkms = 0;
	CHECK_EQ(bat_office_rearm(&f, &o, &err), 0);
	CHECK_EQ(f.len, 0);
	/* Sysprep mode has no script to stage then (Windows' rearm covers
	 * Office on SPP), nor without Office. */
	CHECK_EQ(bat_office_sysprep_script(&f, &o, &err), 0);
	CHECK_EQ(f.len, 0);
	CHECK_EQ(bat_office_sysprep_script(&f, NULL, &err), 0);
	CHECK_EQ(f.len, 0);
	buf_release(&f);
	buf_release(&one);
	buf_release(&two);
}

/* Constrained Language Mode (WDAC, AppLocker) refuses a static .NET call
 * and a type it does not know: licensing.ps1 makes none, on any path, and
 * its error path still finds the HRESULT (the GetHRForException it called
 * before was refused, and the code was lost). */
static void
ps1_constrained(void)
{
	struct buf f = BUF_INIT;
	const char *s, *p, *fail, *end;

	CHECK_EQ(ps1_licensing(&f), 0);
	s = buf_str(&f);
	CHECK(strstr(s, "]::") == NULL);
	CHECK(strstr(s, "Marshal") == NULL);
	CHECK(strstr(s, "New-Object") == NULL);
	CHECK(strstr(s, "Add-Type") == NULL);
	/* Type names only of core types ([0-9A-F] and the like are regular
	 * expressions). */
	for (p = strchr(s, '['); p; p = strchr(p + 1, '[')) {
		size_t n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ.");

		if (n && p[1 + n] == ']')
			CHECK(strncmp(p, "[string]", 8) == 0 ||
			      strncmp(p, "[int]", 5) == 0);
	}
	/* The code from properties: ErrorCode (every .NET), then HResult
	 * (.NET 4.5 on), else 1; never 0 for a failure. */
	fail = strstr(s, "function Fail(");
	end = fail ? strstr(fail, "\r\n}\r\n") : NULL;
	CHECK(fail && end);
	if (fail && end) {
		const char *ec = strstr(fail, "$e.ErrorCode -as [int]");
		const char *hr = strstr(fail, "$e.HResult -as [int]");
		const char *one = strstr(fail, "{ $hr = 1 }");

		CHECK(ec && hr && one && ec < hr && hr < one && one < end);
		CHECK(strstr(fail, "exit $hr") != NULL &&
		      strstr(fail, "exit $hr") < end);
	}
	CHECK(strstr(s, "Fail $_.Exception") != NULL);
	buf_release(&f);
}

/* Where NEEDLE is in [FROM, TO), or NULL. */
static const char *
within(const char *from, const char *to, const char *needle)
{
	const char *p = from ? strstr(from, needle) : NULL;

	return p && to && p < to ? p : NULL;
}

/* How often NEEDLE is in S. */
static int
count(const char *s, const char *needle)
{
	int n = 0;

	for (s = strstr(s, needle); s; s = strstr(s + 1, needle))
		n++;
	return n;
}

/* licensing.ps1's ato and ipk as slmgr.vbs's (prep/boothook.c cites its
 * lines).  The script never runs in these tests (Wine's powershell.exe is
 * a stub, and Debian has no PowerShell), so its text is what is checked:
 * ato takes Windows' own products that hold a key and are no add-on (an
 * ESU licence is one), or the one product of the Activation ID given, and
 * activates one at a time until the first that is surely the edition, a
 * failure ending it; ipk refreshes, then records the service's version
 * for a KMS host key. */
static void
ps1_slmgr(void)
{
	struct buf f = BUF_INIT;
	const char *s, *ato, *dlv, *ipk, *act, *loop, *until, *end, *k;

	CHECK_EQ(ps1_licensing(&f), 0);
	s = buf_str(&f);
	ato = strstr(s, "\r\n\t'ato' {\r\n");
	dlv = strstr(s, "\r\n\t'dlv' {\r\n");
	ipk = strstr(s, "\r\n\t'ipk' {\r\n");
	CHECK(ipk && ato && dlv && ipk < ato && ato < dlv);
	/* Windows' application ID, products that hold a key. */
	CHECK(strstr(s, "$q = \"SELECT * FROM SoftwareLicensingProduct WHERE "
		     "ApplicationID = \" +\r\n\t\t\"'55c92734-d682-4d71-"
		     "983e-d6ec3f16059f' AND PartialProductKey IS NOT NULL\"")
	      != NULL);
	/* An Activation ID replaces it (Office's 0ff1ce15 products, an ESU
	 * licence), still only with a key. */
	CHECK(within(ato, dlv, "if ($id) {") != NULL);
	CHECK(within(ato, dlv, "WHERE ID = '$id'\" +\r\n\t\t\t\t\" AND "
		     "PartialProductKey IS NOT NULL\"") != NULL);
	/* No add-on without an ID. */
	CHECK(within(ato, dlv, "$p = @(Get-WmiObject -Query $q | Where-Object "
		     "{\r\n\t\t\t$id -or $_.LicenseIsAddon -ne $true })") !=
	      NULL);
	/* One Activate in the whole script, in a loop that stops at the
	 * first product that is surely the edition (or with an ID). */
	CHECK_EQ(count(s, ".Activate()"), 1);
	act = within(ato, dlv, "$null = $x.Activate()");
	loop = within(ato, dlv, "\t\tdo {\r\n\t\t\t$x = $p[$i]\r\n"
		      "\t\t\t$i++");
	until = within(ato, dlv, "} until ($id -or $x.LicenseIsAddon -eq $false"
		       " -or\r\n\t\t\t$x.Description -cmatch 'VOLUME_KMS' -or "
		       "$i -ge $p.Count)");
	CHECK(act && loop && until && loop < act && act < until);
	CHECK(within(ato, dlv, "foreach") == NULL);
	CHECK(within(act, until, "$null = $svc.RefreshLicenseStatus()") !=
	      NULL);
	/* Token-based only: not activated, and said. */
	k = within(ato, dlv, "if ($x.VLActivationTypeEnabled -eq 3) {");
	CHECK(k && act && k < act);
	/* ipk: refresh, then KeyManagementServiceVersion for a KMS host key
	 * (VOLUME_KMS, not VOLUME_KMSCLIENT), removed otherwise. */
	k = within(ipk, ato, "$null = $svc.InstallProductKey($k)");
	end = within(ipk, ato, "$null = $svc.RefreshLicenseStatus()");
	CHECK(k && end && k < end);
	CHECK(within(end, ato, "$_.Description -cmatch 'VOLUME_KMS' -and\r\n"
		     "\t\t\t$_.Description -cnotmatch 'VOLUME_KMSCLIENT' })")
	      != NULL);
	CHECK(within(end, ato, "$n = 'KeyManagementServiceVersion'") != NULL);
	CHECK(within(end, ato, "\"HKLM:\\SOFTWARE\\Wow6432Node\\$spp\"") !=
	      NULL);
	CHECK(within(end, ato, "$v = [string]$svc.Version") != NULL);
	CHECK(within(end, ato, "New-ItemProperty -LiteralPath $r -Name $n "
		     "-Value $v -PropertyType String -Force") != NULL);
	CHECK(within(end, ato, "Remove-ItemProperty -LiteralPath $r -Name $n "
		     "-ErrorAction SilentlyContinue") != NULL);
	CHECK(within(end, ato, "'ipk: a KMS host key: "
		     "KeyManagementServiceVersion=' + $v") != NULL);
	buf_release(&f);
}

static const struct unit_test tests[] = {
	TEST(values),
	TEST(hook_is_ours),
	TEST(log_read_back),
	TEST(key_script),
	TEST(office_rearm),
	TEST(ps1_constrained),
	TEST(ps1_slmgr),
};

UNIT_MAIN(tests)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Office detection and the Office KMS host (hive/office.c). */
#include "hive/office.h"
#include "hive/spp.h"
#include "hivebuild.h"
#include "unit.h"

#define C2R OFFICE_C2R_KEY
#define OSPP OFFICE_OSPP_KEY
#define SKU "2a0c4e5f-8ac7-4b35-b1c4-35b6b0e1b8d9"

/* A new, empty hive NAME open for writing (edits stay in memory). */
static struct hive *
open_new(const char *name)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_open_opts o = { .flags = HIVE_WRITE | HIVE_NO_LOGS };
	struct buf b = BUF_INIT;
	struct hive *h = NULL;

	if (hb_make(hb_path(name), NULL, &b) < 0 ||
	    hive_open(hb_path(name), &o, &h, &err) < 0)
		printf("# %s\n", err.msg);
	buf_release(&b);
	return h;
}

static void
put(struct hive *h, const char *key, const char *name, const char *text)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf v = BUF_INIT;

	regval_sz(text, &v);
	if (hive_set(h, key, name, REGT_SZ, v.data, v.len, &err) < 0) {
		printf("# %s\n", err.msg);
		unit_failed++;
	}
	buf_release(&v);
}

static struct winver
win(unsigned major, unsigned minor)
{
	struct winver v = { 0 };

	v.present = true;
	v.major = major;
	v.minor = minor;
	return v;
}

static void
no_office(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive *h = open_new("none");
	struct winver v = win(10, 0);
	struct office_report r;
	struct office_kms_edit e = { true, true, true, false, "kms", NULL, "" };

	CHECK(h != NULL);
	put(h, WINVER_KEY, "ProductName", "Windows 10 Enterprise");
	/* The Office SPP app key alone is not an installation. */
	put(h, SPP_KEY "\\" SPP_APP_OFFICE, "KeyManagementServiceName", "x");
	CHECK_EQ(office_read(h, &v, &r, &err), 0);
	CHECK_EQ(r.n, 0);
	CHECK_EQ(r.nkms, 0);
	office_report_release(&r);
	CHECK_EQ(office_apply_kms(h, &v, &e, NULL, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INPUT);
	CHECK(strstr(err.msg, "no Office installation") != NULL);
	CHECK(strstr(err.msg, "--") == NULL);	/* no CLI flags */
	hive_close(h);
}

/* Office 2010, 32-bit on 64-bit Windows 7: OSPP, both views. */
static void
office2010_wow64(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive *h = open_new("o14");
	struct winver v = win(6, 1);
	struct office_report r;

	put(h, "Wow6432Node\\Microsoft\\Office\\14.0\\Common\\InstallRoot",
	    "Path", "C:\\Program Files (x86)\\Microsoft Office\\Office14\\");
	put(h, OSPP, "KeyManagementServiceName", "kms.example");
	CHECK_EQ(office_read(h, &v, &r, &err), 0);
	CHECK(r.win64);
	CHECK_EQ(r.n, 1);
	if (r.n == 1) {
		CHECK_STR(r.inst[0].name, "Office 2010");
		CHECK_STR(r.inst[0].version, "14.0");
		CHECK(r.inst[0].kind == OFFICE_MSI);
		CHECK(r.inst[0].wow64);
		CHECK(r.inst[0].lic == OFFICE_LIC_OSPP);
	}
	CHECK_EQ(r.nkms, 2);
	if (r.nkms == 2) {
		CHECK_STR(r.kms[0].scope, "ospp");
		CHECK_STR(r.kms[0].name, "kms.example");
		CHECK(r.kms[0].port == NULL);
		CHECK_STR(r.kms[1].scope, "ospp-wow64");
		CHECK_STR(r.kms[1].key, "Wow6432Node\\" OSPP);
	}
	office_report_release(&r);
	/* Office 2010 stays on OSPP even on Windows 10. */
	v = win(10, 0);
	CHECK_EQ(office_read(h, &v, &r, &err), 0);
	CHECK(r.n == 1 && r.inst[0].lic == OFFICE_LIC_OSPP);
	office_report_release(&r);
	hive_close(h);
}

/* Office 2013 MSI: OSPP on Windows 7, Windows' SPP from Windows 8 on. */
static void
office2013_by_windows(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive *h = open_new("o15");
	struct winver v7 = win(6, 1), v8 = win(6, 2);
	struct office_report r;

	put(h, "Microsoft\\Office\\15.0\\Common\\InstallRoot", "Path",
	    "C:\\Program Files\\Microsoft Office\\Office15\\");
	CHECK_EQ(office_read(h, &v7, &r, &err), 0);
	CHECK(r.n == 1 && r.inst[0].lic == OFFICE_LIC_OSPP &&
	      !r.inst[0].wow64 && !r.win64);
	CHECK(r.nkms == 1 && strcmp(r.kms[0].scope, "ospp") == 0);
	office_report_release(&r);
	CHECK_EQ(office_read(h, &v8, &r, &err), 0);
	CHECK(r.n == 1 && r.inst[0].lic == OFFICE_LIC_SPP);
	CHECK_STR(r.n ? r.inst[0].name : NULL, "Office 2013");
	CHECK(r.nkms == 1 && strcmp(r.kms[0].scope, "spp-office") == 0);
	office_report_release(&r);
	hive_close(h);
}

static void
click_to_run(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive *h = open_new("c2r");
	struct winver v = win(10, 0);
	struct office_report r;

	put(h, "Wow6432Node\\Microsoft", "x", "y");
	put(h, C2R, "ProductReleaseIds", "O365ProPlusRetail,VisioStd2019Volume");
	put(h, C2R, "Platform", "x86");
	put(h, C2R, "VersionToReport", "16.0.1.2");
	put(h, C2R, "CDNBaseUrl",
	    "http://officecdn.microsoft.com/pr/492350f6-3a01-4f97-b9c0-c7c6ddf67d60");
	CHECK_EQ(office_read(h, &v, &r, &err), 0);
	CHECK_EQ(r.n, 1);
	if (r.n == 1) {
		CHECK(r.inst[0].kind == OFFICE_C2R);
		CHECK(r.inst[0].wow64);		/* x86 on 64-bit Windows */
		CHECK(r.inst[0].volume);
		CHECK(r.inst[0].lic == OFFICE_LIC_SPP);
		CHECK_STR(r.inst[0].channel, "Current Channel");
		CHECK_STR(r.inst[0].c2r_version, "16.0.1.2");
	}
	office_report_release(&r);
	/* UpdateChannel, when there, is the channel in effect. */
	put(h, C2R, "UpdateChannel",
	    "http://officecdn.microsoft.com/pr/55336B82-A18D-4DD6-B5F6-9E5095C314A6");
	put(h, C2R, "ProductReleaseIds", "O365ProPlusRetail");
	CHECK_EQ(office_read(h, &v, &r, &err), 0);
	CHECK_STR(r.n ? r.inst[0].channel : NULL, "Monthly Enterprise Channel");
	CHECK(r.n == 1 && !r.inst[0].volume);
	office_report_release(&r);
	CHECK(office_channel_name("http://x/pr/00000000-0000-0000-0000-000000000000") == NULL);
	CHECK(office_channel_name(NULL) == NULL);
	CHECK_STR(office_channel_name("7ffbc6bf-bc32-4f92-8982-f9dd17fd3114"),
		  "Semi-Annual Enterprise Channel");
	hive_close(h);
}

/* Writing: OSPP in both views; SPP at the app or one SKU; clearing. */
static void
apply_kms(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive *h = open_new("apply");
	struct winver v7 = win(6, 1), v10 = win(10, 0);
	struct office_report r;
	struct office_kms_edit set = { true, true, true, true, "kms.example",
				       "1700", "" };
	struct office_kms_edit clear = { true, true, false, false, NULL, NULL,
					 "" };
	struct office_kms_edit sku = { true, true, true, false, "k2", NULL,
				       SKU };

	put(h, "Wow6432Node\\Microsoft\\Office\\14.0\\Common\\InstallRoot",
	    "Path", "C:\\O14\\");
	CHECK_EQ(office_apply_kms(h, &v7, &set, NULL, &err), 0);
	CHECK_EQ(office_read(h, &v7, &r, &err), 0);
	CHECK(r.nkms == 2);
	if (r.nkms == 2) {
		CHECK_STR(r.kms[0].name, "kms.example");
		CHECK_STR(r.kms[0].port, "1700");
		CHECK_STR(r.kms[1].name, "kms.example");
		CHECK_STR(r.kms[1].port, "1700");
	}
	office_report_release(&r);
	/* No per-SKU keys for OSPP. */
	CHECK_EQ(office_apply_kms(h, &v7, &sku, NULL, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INVALID);
	CHECK_EQ(office_apply_kms(h, &v7, &clear, NULL, &err), 0);
	CHECK_EQ(office_read(h, &v7, &r, &err), 0);
	CHECK(r.nkms == 2 && !r.kms[0].name && !r.kms[0].port &&
	      !r.kms[1].name && !r.kms[1].port);
	office_report_release(&r);
	hive_close(h);

	h = open_new("apply2");
	put(h, C2R, "Platform", "x64");
	CHECK_EQ(office_apply_kms(h, &v10, &set, NULL, &err), 0);
	CHECK_EQ(office_apply_kms(h, &v10, &sku, NULL, &err), 0);
	CHECK_EQ(office_read(h, &v10, &r, &err), 0);
	CHECK_EQ(r.nkms, 2);
	if (r.nkms == 2) {
		CHECK_STR(r.kms[0].key, SPP_KEY "\\" SPP_APP_OFFICE);
		CHECK_STR(r.kms[0].name, "kms.example");
		CHECK_STR(r.kms[0].port, "1700");
		CHECK_STR(r.kms[1].scope, "spp-sku");
		CHECK_STR(r.kms[1].act, SKU);
		CHECK_STR(r.kms[1].name, "k2");
	}
	office_report_release(&r);
	/* Nothing written to OSPP's key for SPP-based Office. */
	{
		hive_key k;

		CHECK_EQ(hive_find(h, OSPP, &k, &err), 0);
	}
	hive_close(h);
}

/* Office 2013's Click-to-Run: 15.0\ClickToRun, with its own service by
 * Windows version; the 32-bit one may be in the Wow6432Node view. */
static void
click_to_run_2013(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive *h = open_new("c2r15");
	struct winver w7 = win(6, 1), w81 = win(6, 3);
	struct office_report r;

	put(h, "Microsoft\\Office\\15.0\\ClickToRun", "InstallPath",
	    "C:\\Program Files\\Microsoft Office 15");
	put(h, "Microsoft\\Office\\15.0\\ClickToRun\\Configuration",
	    "ProductReleaseIds", "O365ProPlusRetail");
	put(h, "Microsoft\\Office\\15.0\\ClickToRun\\Configuration",
	    "Platform", "x64");
	CHECK_EQ(office_read(h, &w7, &r, &err), 0);
	CHECK_EQ(r.n, 1);
	if (r.n == 1) {
		CHECK(r.inst[0].kind == OFFICE_C2R);
		CHECK_STR(r.inst[0].version, "15.0");
		CHECK_STR(r.inst[0].name, "Office 2013 Click-to-Run");
		CHECK_STR(r.inst[0].path,
			  "C:\\Program Files\\Microsoft Office 15");
		CHECK_STR(r.inst[0].products, "O365ProPlusRetail");
		CHECK(!r.inst[0].wow64 && !r.inst[0].volume);
		CHECK(r.inst[0].lic == OFFICE_LIC_OSPP);	/* Windows 7 */
	}
	office_report_release(&r);
	CHECK_EQ(office_read(h, &w81, &r, &err), 0);
	CHECK(r.n == 1 && r.inst[0].lic == OFFICE_LIC_SPP);
	office_report_release(&r);
	hive_close(h);
	/* 32-bit, in the Wow6432Node view only. */
	h = open_new("c2r15wow");
	put(h, "Wow6432Node\\Microsoft\\Office\\15.0\\ClickToRun\\Configuration",
	    "Platform", "x86");
	CHECK_EQ(office_read(h, &w81, &r, &err), 0);
	CHECK(r.n == 1 && r.inst[0].wow64 &&
	      strcmp(r.inst[0].version, "15.0") == 0);
	office_report_release(&r);
	hive_close(h);
}

static const struct unit_test tests[] = {
	TEST(no_office), TEST(office2010_wow64), TEST(office2013_by_windows),
	TEST(click_to_run), TEST(click_to_run_2013), TEST(apply_kms),
};

UNIT_MAIN(tests)

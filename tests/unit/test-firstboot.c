/* First-boot scripts: what may go into a reg.exe line, and which
 * SYSTEM\Setup\CmdLine is kmsprep's. */
#include "hive/regf.h"
#include "hive/regval.h"
#include "prep/firstboot.h"
#include "unit.h"

/* cmd_reg on a REG_SZ holding TEXT: 0 or -1. */
static int
reg_sz(const char *text, struct buf *f, struct kp_error *err)
{
	struct buf v = BUF_INIT;
	int r;

	buf_reset(f);
	regval_sz(text, &v);
	r = cmd_reg(f, "SOFTWARE\\Test", "Value", true, REGT_SZ, (const unsigned char *)v.data,
		    v.len, err);
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
	CHECK_EQ(cmd_reg(&f, "SOFTWARE\\Test", "List", true, REGT_MULTI_SZ,
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

static const struct unit_test tests[] = {
	TEST(values),
	TEST(hook_is_ours),
};

UNIT_MAIN(tests)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cloudbase-init's configuration: its licensing options read, and changed
 * with every other byte of the file kept. */
#include "prep/cloudbase.h"
#include "unit.h"

static const char conf[] =
	"# cloudbase-init, as the installer writes it\r\n"
	"[DEFAULT]\r\n"
	"username=Admin\r\n"
	"activate_windows = True\r\n"
	"; set_kms_product_key=true\r\n"
	"kms_host=old.example.com:1688\r\n"
	"plugins=cloudbaseinit.plugins.common.mtu.MTUPlugin,"
	"cloudbaseinit.plugins.windows.licensing.WindowsLicensingPlugin\r\n"
	"\r\n"
	"[openstack]\r\n"
	"kms_host=not.this.one\r\n";

static void
parse(void)
{
	static const char off[] =
		"[DEFAULT]\nplugins=a.B\nactivate_windows=false\n";
	struct cbi_conf c;

	cbi_parse(conf, sizeof(conf) - 1, &c);
	CHECK(c.plugin);
	CHECK_EQ(c.activate_windows, 1);
	CHECK_EQ(c.set_kms_product_key, -1);	/* a comment */
	CHECK_STR(c.kms_host, "old.example.com:1688");
	cbi_parse(off, sizeof(off) - 1, &c);
	CHECK(!c.plugin);
	CHECK_EQ(c.activate_windows, 0);
	cbi_parse("", 0, &c);
	CHECK(c.plugin);
	CHECK_STR(c.kms_host, "");
}

static void
edit(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct cbi_set set = { "kms.example.com:1688", 0, 1 };
	struct buf out = BUF_INIT;
	static const char want[] =
		"# cloudbase-init, as the installer writes it\r\n"
		"[DEFAULT]\r\n"
		"username=Admin\r\n"
		"activate_windows = false\r\n"
		"; set_kms_product_key=true\r\n"
		"kms_host=kms.example.com:1688\r\n"
		"plugins=cloudbaseinit.plugins.common.mtu.MTUPlugin,"
		"cloudbaseinit.plugins.windows.licensing.WindowsLicensingPlugin\r\n"
		"\r\n"
		"set_kms_product_key=true\r\n"
		"[openstack]\r\n"
		"kms_host=not.this.one\r\n";

	CHECK_EQ(cbi_edit(conf, sizeof(conf) - 1, &set, &out, &err), 0);
	CHECK_EQ(out.len, sizeof(want) - 1);
	CHECK_MEM(out.data, want, sizeof(want) - 1);
	/* Nothing to change: the same bytes. */
	set = (struct cbi_set){ NULL, -1, -1 };
	CHECK_EQ(cbi_edit(conf, sizeof(conf) - 1, &set, &out, &err), 0);
	CHECK_EQ(out.len, sizeof(conf) - 1);
	CHECK_MEM(out.data, conf, sizeof(conf) - 1);
	/* No [DEFAULT]: one first; LF files stay LF; an unended last line. */
	set = (struct cbi_set){ "h.example", 1, -1 };
	CHECK_EQ(cbi_edit("[x]\na=1", 7, &set, &out, &err), 0);
	CHECK_STR(buf_str(&out),
		  "[DEFAULT]\nkms_host=h.example\nactivate_windows=true\n[x]\na=1");
	CHECK_EQ(cbi_edit("[DEFAULT]\na=1", 13, &set, &out, &err), 0);
	CHECK_STR(buf_str(&out), "[DEFAULT]\na=1\nkms_host=h.example\n"
		  "activate_windows=true\n");
	/* Values are checked. */
	set = (struct cbi_set){ "bad\nhost", -1, -1 };
	CHECK_EQ(cbi_edit(conf, sizeof(conf) - 1, &set, &out, &err), -1);
	buf_release(&out);
}

static const struct unit_test tests[] = {
	TEST(parse),
	TEST(edit),
};

UNIT_MAIN(tests)

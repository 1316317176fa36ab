/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "image/uri.h"
#include "unit.h"

/* PARSE IMAGE: expect 1 and the parts (NULL: none). */
static void
expect(const char *image, const char *proto, const char *exp,
       const char *server, const char *user, bool ro)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_uri u;

	CHECK_EQ(img_uri_parse(image, &u, &err), 1);
	if (u.protocol == NULL)
		return;
	CHECK_STR(u.protocol, proto);
	CHECK_STR(u.exportname, exp);
	if (server)
		CHECK_STR(u.server[0], server);
	else
		CHECK(u.server[0] == NULL);
	if (user)
		CHECK_STR(u.username, user);
	else
		CHECK(u.username == NULL);
	CHECK(u.server[1] == NULL);
	CHECK_EQ(u.readonly, ro);
	img_uri_release(&u);
}

static void
remote(void)
{
	expect("nbd://127.0.0.1:10810/disk", "nbd", "disk",
	       "tcp:127.0.0.1:10810", NULL, false);
	expect("nbd://example.com", "nbd", "", "tcp:example.com", NULL,
	       false);
	expect("nbd+unix:///exp?socket=/run/nbd.sock", "nbd", "exp",
	       "unix:/run/nbd.sock", NULL, false);
	expect("rbd://mon1.example:6789/pool/win10", "rbd", "pool/win10",
	       "mon1.example:6789", NULL, false);
	expect("rbd:///pool/win10", "rbd", "pool/win10", NULL, NULL, false);
	expect("iscsi://san.example:3260/iqn.2026-01.example:t/0", "iscsi",
	       "iqn.2026-01.example:t/0", "san.example:3260", NULL, false);
	expect("ssh://admin@host.example:2222/srv/win.img", "ssh",
	       "/srv/win.img", "host.example:2222", "admin", false);
	expect("https://images.example/w/win.img", "https", "/w/win.img",
	       "images.example", NULL, true);
}

static void
files_and_refusals(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_uri u;

	CHECK_EQ(img_uri_parse("win.img", &u, &err), 0);
	CHECK_EQ(img_uri_parse("/srv/a://b.img", &u, &err), 0);
	CHECK_EQ(img_uri_parse("dir/x://y", &u, &err), 0);
	CHECK_EQ(img_uri_parse("ftp://h/x.img", &u, &err), -1);
	CHECK(strstr(err.msg, "unsupported scheme") != NULL);
	CHECK_EQ(img_uri_parse("ssh://u:secret@h/x.img", &u, &err), -1);
	CHECK(strstr(err.msg, "password") != NULL);
	CHECK(strstr(err.msg, "secret") == NULL);
	CHECK_EQ(img_uri_parse("nbd+unix:///x", &u, &err), -1);
	CHECK_EQ(img_uri_parse("nbd+unix:///x?socket=rel", &u, &err), -1);
	CHECK_EQ(img_uri_parse("iscsi://h/", &u, &err), -1);
	CHECK_EQ(img_uri_parse("https://h", &u, &err), -1);
	CHECK_EQ(img_uri_parse("nbd:///x", &u, &err), -1);
	/* A password is never repeated, even in a URI that fails to parse
	 * or names another scheme. */
	CHECK_EQ(img_uri_parse("ftp://u:secret@h/x.img", &u, &err), -1);
	CHECK(strstr(err.msg, "secret") == NULL);
	CHECK_EQ(img_uri_parse("ssh://u:secret@h /x.img", &u, &err), -1);
	CHECK(strstr(err.msg, "secret") == NULL);
	/* Nothing dropped, nothing smuggled into qemu's options. */
	CHECK_EQ(img_uri_parse("https://h/d.img?sig=1", &u, &err), -1);
	CHECK_EQ(img_uri_parse("ssh://h/d.img#f", &u, &err), -1);
	CHECK_EQ(img_uri_parse("nbd://a%2Cfile.driver%3Dfile@x/y", &u, &err),
		 -1);
	CHECK_EQ(img_uri_parse("nbd://h%2Cx%3Dy:10809/e", &u, &err), -1);
	CHECK_EQ(img_uri_parse("ssh://-oProxyCommand=x@h/p", &u, &err), -1);
	CHECK_EQ(img_uri_parse("nbd://user@h/e", &u, &err), -1);
}

static const struct unit_test tests[] = {
	TEST(remote), TEST(files_and_refusals),
};

UNIT_MAIN(tests)

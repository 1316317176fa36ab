/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* .reg parsing and key path mapping. */
#include <stdlib.h>

#include "hive/regf.h"
#include "hive/regtext.h"
#include "lib/utf.h"
#include "unit.h"

static const struct regtext_map software = { HIVE_KIND_SOFTWARE, NULL, false };

static int
parse(const char *text, struct regops *ops, struct kp_error *err)
{
	return regtext_parse(text, strlen(text), "t.reg", &software, ops, err);
}

static void
basic(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct regops ops = REGOPS_INIT;

	CHECK(parse("Windows Registry Editor Version 5.00\r\n\r\n"
		    "[HKEY_LOCAL_MACHINE\\SOFTWARE\\A\\B]\r\n"
		    "\"s\"=\"x\\\\y \\\"q\\\"\"\r\n"
		    "@=\"def\"\r\n"
		    "\"d\" = dword:1\r\n"
		    "\"b\"=hex:01,02,\\\r\n  03\r\n"
		    "\"m\"=hex(7):61,00,00,00,00,00\r\n"
		    "\"gone\"=-\r\n"
		    "; comment\r\n"
		    "[-HKLM\\SOFTWARE\\Old]\r\n", &ops, &err) == 0);
	CHECK_EQ(ops.n, 8);
	CHECK_EQ(ops.v[0].kind, REGOP_KEY);
	CHECK_STR(ops.v[0].key, "A\\B");
	CHECK_EQ(ops.v[1].kind, REGOP_SET);
	CHECK_STR(ops.v[1].name, "s");
	CHECK_EQ(ops.v[1].type, REGT_SZ);
	CHECK_EQ(ops.v[1].len, 16);
	CHECK_MEM(ops.v[1].data, "x\0\\\0y\0 \0\"\0q\0\"\0\0\0", 16);
	CHECK_STR(ops.v[2].name, "");
	CHECK_EQ(ops.v[3].type, REGT_DWORD);
	CHECK_MEM(ops.v[3].data, "\x01\0\0\0", 4);
	CHECK_EQ(ops.v[4].type, REGT_BINARY);
	CHECK_EQ(ops.v[4].len, 3);
	CHECK_MEM(ops.v[4].data, "\x01\x02\x03", 3);
	CHECK_EQ(ops.v[5].type, REGT_MULTI_SZ);
	CHECK_EQ(ops.v[6].kind, REGOP_DELETE_VALUE);
	CHECK_EQ(ops.v[7].kind, REGOP_DELETE_KEY);
	CHECK_STR(ops.v[7].key, "Old");
	regops_release(&ops);
}

static void
utf16_bom(void)
{
	const char *u8 = "Windows Registry Editor Version 5.00\r\n"
			 "[\\K\xc3\xa9]\r\n\"v\"=\"\xe2\x82\xac\"\r\n";
	struct kp_error err = KP_ERROR_INIT;
	struct regops ops = REGOPS_INIT;
	struct buf b = BUF_INIT;

	buf_add(&b, "\xff\xfe", 2);
	utf8_to_utf16le(u8, strlen(u8), &b);
	CHECK(regtext_parse(b.data, b.len, "t.reg", &software, &ops,
			    &err) == 0);
	CHECK_EQ(ops.n, 2);
	CHECK_STR(ops.v[0].key, "K\xc3\xa9");
	CHECK_MEM(ops.v[1].data, "\xac\x20\0\0", 4);
	regops_release(&ops);
	buf_release(&b);
}

static void
errors(void)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "", "empty" },
		{ "REGEDIT5\n", "not a .reg file" },
		{ "REGEDIT4\n\"v\"=\"x\"\n", "line 2: value outside a key" },
		{ "REGEDIT4\n[\\K]\n\"v\"=dword:123456789\n", "line 3: dword" },
		{ "REGEDIT4\n[\\K]\n\"v\"=hex:1,2,\n", "trailing comma" },
		{ "REGEDIT4\n[\\K]\n\"v\"=hex:123\n", "bad hex byte" },
		{ "REGEDIT4\n[\\K]\n\"v\"=hex(zz):00\n", "bad hex(TYPE)" },
		{ "REGEDIT4\n[\\K]\n\"v\"=\"open\n", "unterminated" },
		{ "REGEDIT4\n[\\K]\n\"v\"=qword:1\n", "unknown value data" },
		{ "REGEDIT4\n[\\K\n", "expected ']'" },
		{ "REGEDIT4\n[HKEY_CURRENT_USER\\X]\n", "not in this hive" },
		{ "REGEDIT4\n[HKEY_LOCAL_MACHINE\\SYSTEM\\X]\n",
		  "belongs in the SYSTEM hive" },
		{ "REGEDIT4\n[-\\]\n", "cannot be deleted" },
		{ "REGEDIT4\n[\\A\\\\B]\n", "empty key name" },
		{ "REGEDIT4\n[\\K]\n[-\\K]\n\"v\"=\"x\"\n", "after a [-key]" },
		{ "REGEDIT4\n[\\K]\ngarbage\n", "line 3: expected '[key]'" },
	};
	struct kp_error err = KP_ERROR_INIT;
	struct regops ops = REGOPS_INIT;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.msg[0] = '\0';
		CHECK(parse(bad[i].text, &ops, &err) < 0);
		CHECK_EQ(err.status, KP_ERR_INPUT);
		if (strstr(err.msg, bad[i].msg) == NULL)
			printf("# case %zu: '%s' lacks '%s'\n", i, err.msg,
			       bad[i].msg);
		CHECK(strstr(err.msg, bad[i].msg) != NULL);
		CHECK_EQ(ops.n, 0);
	}
	/* NUL bytes and invalid UTF-8 */
	CHECK(regtext_parse("REGEDIT4\n\0", 10, "t", &software, &ops, &err) < 0);
	CHECK(regtext_parse("REGEDIT4\n\xff", 10, "t", &software, &ops, &err) < 0);
}

static void
mapping(void)
{
	struct regtext_map m = { HIVE_KIND_SOFTWARE, NULL, false };
	struct kp_error err = KP_ERROR_INIT;
	char *out = NULL;

	CHECK(regtext_map_path("HKEY_LOCAL_MACHINE\\SOFTWARE", &m, &out,
			       &err) == 0);
	CHECK_STR(out, "");
	free(out);
	CHECK(regtext_map_path("hklm\\software\\A\\", &m, &out, &err) == 0);
	CHECK_STR(out, "A");
	free(out);
	CHECK(regtext_map_path("\\\\A\\B", &m, &out, &err) == 0);
	CHECK_STR(out, "A\\B");
	free(out);
	CHECK(regtext_map_path("HKEY_LOCAL_MACHINE\\SOFTWAREX\\A", &m, &out,
			       &err) < 0);
	CHECK(regtext_map_path("A\\B", &m, &out, &err) < 0);
	m.allow_relative = true;
	CHECK(regtext_map_path("A\\B", &m, &out, &err) == 0);
	CHECK_STR(out, "A\\B");
	free(out);
	m.prefix = "HKEY_LOCAL_MACHINE\\OFFLINE";
	CHECK(regtext_map_path("HKEY_LOCAL_MACHINE\\OFFLINE\\X", &m, &out,
			       &err) == 0);
	CHECK_STR(out, "X");
	free(out);
	CHECK(regtext_map_path("HKEY_LOCAL_MACHINE\\SOFTWARE\\X", &m, &out,
			       &err) < 0);
	m.prefix = NULL;
	m.kind = HIVE_KIND_EMPTY;
	CHECK(regtext_map_path("HKEY_LOCAL_MACHINE\\SYSTEM\\Select", &m, &out,
			       &err) == 0);
	CHECK_STR(out, "Select");
	free(out);
}

/* HKLM\ paths of any length map whole: a truncated path would name (and
 * delete) a parent key. */
static void
long_paths(void)
{
	struct regtext_map m = { HIVE_KIND_SOFTWARE, NULL, false };
	struct kp_error err = KP_ERROR_INIT;
	struct buf p = BUF_INIT;
	char *out = NULL;
	int i;

	buf_addstr(&p, "HKLM\\SOFTWARE");
	for (i = 0; i < 40; i++)
		buf_addf(&p, "\\k%02dxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i);
	buf_addstr(&p, "\\Target");
	CHECK(regtext_map_path(p.data, &m, &out, &err) == 0);
	CHECK(out && strlen(out) == p.len - strlen("HKLM\\SOFTWARE\\"));
	CHECK(out && strcmp(out + strlen(out) - 6, "Target") == 0);
	free(out);
	buf_release(&p);
}

/* REGEDIT4 stores hex(2) and hex(7) data as ANSI; Windows wants UTF-16. */
static void
regedit4_strings(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct regops ops = REGOPS_INIT;

	CHECK(parse("REGEDIT4\n[\\K]\n\"m\"=hex(7):61,00,62,00,00\n"
		    "\"b\"=hex:61,00\n", &ops, &err) == 0);
	CHECK_EQ(ops.n, 3);
	CHECK_EQ(ops.v[1].len, 10);
	CHECK_MEM(ops.v[1].data, "a\0\0\0b\0\0\0\0\0", 10);
	CHECK_EQ(ops.v[2].len, 2);
	regops_release(&ops);
}

static const struct unit_test tests[] = {
	TEST(basic), TEST(utf16_bom), TEST(errors), TEST(mapping),
	TEST(long_paths), TEST(regedit4_strings),
};

UNIT_MAIN(tests)

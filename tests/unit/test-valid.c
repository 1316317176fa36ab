/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validation of host names, addresses, numbers, GUIDs, flags. */
#include "lib/escape.h"
#include "lib/valid.h"
#include "unit.h"

static void
hostnames(void)
{
	char long_label[70], long_name[300];

	CHECK(kp_is_hostname("kms", false));
	CHECK(kp_is_hostname("kms.contoso.com", false));
	CHECK(kp_is_hostname("a-b.c1", false));
	CHECK(kp_is_hostname("1688.example", false));
	CHECK(!kp_is_hostname("", false));
	CHECK(!kp_is_hostname("-kms.contoso.com", false));
	CHECK(!kp_is_hostname("kms-.contoso.com", false));
	CHECK(!kp_is_hostname("kms..contoso.com", false));
	CHECK(!kp_is_hostname("kms.contoso.com.", false));
	CHECK(kp_is_hostname("kms.contoso.com.", true));
	CHECK(!kp_is_hostname(".", true));
	CHECK(!kp_is_hostname("kms_1.contoso.com", false));
	CHECK(!kp_is_hostname("kms contoso", false));
	/* An all-digit last label would pass for an address. */
	CHECK(!kp_is_hostname("1.2.3", false));
	CHECK(!kp_is_hostname("999.1.1.1", false));
	CHECK(!kp_is_hostname("1.2.3.4", true));
	CHECK(kp_is_hostname("1.2.3.example", false));
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	CHECK(!kp_is_hostname(long_label, false));
	long_label[63] = '\0';
	CHECK(kp_is_hostname(long_label, false));
	/* 254 characters is one too many. */
	memset(long_name, 'a', 254);
	for (size_t i = 50; i < 254; i += 50)
		long_name[i] = '.';
	long_name[254] = '\0';
	CHECK(!kp_is_hostname(long_name, false));
	long_name[253] = '\0';
	CHECK(kp_is_hostname(long_name, false));
}

static void
addresses(void)
{
	struct kp_error err = KP_ERROR_INIT;

	CHECK(kp_is_ipv4("10.0.0.1"));
	CHECK(!kp_is_ipv4("10.0.0.256"));
	CHECK(kp_is_ipv6("2001:db8::1"));
	CHECK(kp_is_ipv6("::1"));
	CHECK(!kp_is_ipv6("2001:db8::g"));
	CHECK(kp_check_host("--x", "10.1.2.3", &err) == 0);
	CHECK(kp_check_host("--x", "kms.contoso.com", &err) == 0);
	CHECK(kp_check_host("--x", "kms contoso", &err) < 0);
	CHECK_EQ(err.status, KP_ERR_INVALID);
	CHECK(strstr(err.msg, "--x: 'kms contoso'") != NULL);
}

static void
unsafe_characters(void)
{
	static const char *const bad[] = {
		"a\"b", "a'b", "100%", "a&b", "a|b", "a^b", "a<b", "a>b",
		"a\nb", "a\rb", "a\tb", "a\x01", "a`b", "\xff\xfe",
	};
	struct kp_error err = KP_ERROR_INIT;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(kp_check_safe("--v", bad[i], &err) < 0);
		CHECK_EQ(err.status, KP_ERR_INVALID);
	}
	CHECK(kp_check_safe("--v", "kms.contoso.com:1688", &err) == 0);
	CHECK(kp_check_safe("--v", "C:\\Windows", &err) == 0);
}

static void
quoting(void)
{
	char q[16], big[200];

	CHECK_STR(kp_quote("a\nb", q, sizeof(q)), "a\\x0ab");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kp_quote(big, q, sizeof(q));
	CHECK(strlen(q) < sizeof(q));
	CHECK(strstr(q, "...") != NULL);
}

static void
numbers(void)
{
	struct kp_error err = KP_ERROR_INIT;
	unsigned long v = 0;

	CHECK(kp_parse_uint("--p", "1688", 1, 65535, &v, &err) == 0);
	CHECK_EQ(v, 1688);
	CHECK(kp_parse_uint("--p", "0", 1, 65535, &v, &err) < 0);
	CHECK(strstr(err.msg, "out of range (1 to 65535)") != NULL);
	CHECK(kp_parse_uint("--p", "65536", 1, 65535, &v, &err) < 0);
	CHECK(kp_parse_uint("--p", "", 1, 65535, &v, &err) < 0);
	CHECK(kp_parse_uint("--p", "-1", 1, 65535, &v, &err) < 0);
	CHECK(kp_parse_uint("--p", "+1", 1, 65535, &v, &err) < 0);
	CHECK(kp_parse_uint("--p", " 1", 1, 65535, &v, &err) < 0);
	CHECK(kp_parse_uint("--p", "1x", 1, 65535, &v, &err) < 0);
	CHECK(kp_parse_uint("--p", "99999999999999999999", 1, 65535, &v,
			    &err) < 0);
	CHECK(kp_parse_uint("--i", "15", 15, 43200, &v, &err) == 0);
	CHECK(kp_parse_uint("--i", "43201", 15, 43200, &v, &err) < 0);
}

static void
guids(void)
{
	struct kp_error err = KP_ERROR_INIT;
	char g[KP_GUID_LEN + 1];

	CHECK(kp_parse_guid("--g", "{55C92734-D682-4D71-983E-D6EC3F16059F}",
			    g, &err) == 0);
	CHECK_STR(g, "55c92734-d682-4d71-983e-d6ec3f16059f");
	CHECK(kp_parse_guid("--g", "0ff1ce15-a989-479d-af46-f275c6370663", g,
			    &err) == 0);
	CHECK(kp_parse_guid("--g", "0ff1ce15-a989-479d-af46-f275c637066", g,
			    &err) < 0);
	CHECK(kp_parse_guid("--g", "0ff1ce15xa989-479d-af46-f275c6370663", g,
			    &err) < 0);
	CHECK(kp_parse_guid("--g", "{0ff1ce15-a989-479d-af46-f275c6370663", g,
			    &err) < 0);
	CHECK(kp_parse_guid("--g", "zff1ce15-a989-479d-af46-f275c6370663", g,
			    &err) < 0);
}

static void
onoff(void)
{
	struct kp_error err = KP_ERROR_INIT;
	bool b = false;

	CHECK(kp_parse_onoff("--f", "on", &b, &err) == 0 && b);
	CHECK(kp_parse_onoff("--f", "OFF", &b, &err) == 0 && !b);
	CHECK(kp_parse_onoff("--f", "maybe", &b, &err) < 0);
	CHECK_EQ(err.status, KP_ERR_INVALID);
}

static bool
only_nppr9(const char *k)
{
	return strcmp(k, "NPPR9FWDCXD2C8JH872K2YT43") == 0;
}

static void
key_shapes(void)
{
	static const struct {
		const char *s;
		size_t off, len;	/* len 0: no key */
	} cases[] = {
		{ "QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN", 0, 29 },
		{ "qxr7b-9hj3k-m4pwt-y6d2v-cf8gn", 0, 29 },
		{ "QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN.txt", 0, 29 },
		{ "/keys/QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN.txt", 6, 29 },
		{ "kmsQXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN.lab", 3, 29 },
		{ "QXR7B 9HJ3K M4PWT Y6D2V CF8GN", 0, 29 },
		{ "QXR7B--9HJ3K-M4PWT-Y6D2V-CF8GN", 0, 30 },
		{ "QXR7B9HJ3KM4PWTY6D2VCF8GN", 0, 25 },
		{ "'QXR7B9HJ3KM4PWTY6D2VCF8GN': x", 1, 25 },
		{ "Q X R 7 B 9 H J 3 K M 4 P W T Y 6 D 2 V C F 8 G N", 0, 49 },
		/* Hidden in a host name or a file name. */
		{ "QXR7B.9HJ3K.M4PWT.Y6D2V.CF8GN.example", 0, 29 },
		{ "lab.qxr7b.9hj3k.m4pwt.y6d2v.cf8gn", 4, 29 },
		{ "QXR7B_9HJ3K_M4PWT_Y6D2V_CF8GN.txt", 0, 29 },
		{ "kmsQXR7B9HJ3KM4PWTY6D2VCF8GNx.corp.example", 3, 25 },
		{ "admin.north.lab01.corp5.local", 0, 0 },
		{ "abcdefghijklmnopqrstuvwxyz0123", 0, 0 },
		{ "kms1.corp.example", 0, 0 },
		{ "QXR7B-9HJ3K-M4PWT-Y6D2V", 0, 0 },
		{ "QXR7-9HJ3K-M4PWT-Y6D2V-CF8GN", 0, 0 },
		/* digests and GUIDs are not keys */
		{ "475174ffb606d22ab240865ad19d9c5efcc097258c09299abde61966e39d8632",
		  0, 0 },
		{ "0ff1ce15-a989-479d-af46-f275c6370663", 0, 0 },
		{ "", 0, 0 },
	};
	char msg[128];
	size_t i, off, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool found = kp_find_key_shape(cases[i].s, &off, &len);

		if (found != (cases[i].len != 0))
			printf("# case %zu: %s\n", i, cases[i].s);
		CHECK_EQ(found, cases[i].len != 0);
		if (found && cases[i].len) {
			CHECK_EQ(off, cases[i].off);
			CHECK_EQ(len, cases[i].len);
		}
	}
	snprintf(msg, sizeof(msg), "'a QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN b "
		 "qxr7b 9hj3k m4pwt y6d2v cf8gn': cannot open");
	CHECK(kp_redact_keys(msg, NULL));
	CHECK_STR(msg, "'a *****-*****-*****-*****-***** b "
		  "***** ***** ***** ***** *****': cannot open");
	snprintf(msg, sizeof(msg), "kms1.corp.example");
	CHECK(!kp_redact_keys(msg, NULL));
	/* A public key (a GVLK) may be shown; the other is still hidden. */
	snprintf(msg, sizeof(msg), "qxr7b-9hj3k-m4pwt-y6d2v-cf8gn and "
		 "NPPR9-FWDCX-D2C8J-H872K-2YT43");
	CHECK(kp_redact_keys(msg, only_nppr9));
	CHECK_STR(msg, "*****-*****-*****-*****-***** and "
		  "NPPR9-FWDCX-D2C8J-H872K-2YT43");
}

static void
escapes(void)
{
	struct buf b = BUF_INIT;

	CHECK_STR(kp_escape_str(&b, "Windows 10 Pro"), "Windows 10 Pro");
	CHECK_STR(kp_escape_str(&b, "W\x1b[2J\a\r\n\x7f"),
		  "W\\x1b[2J\\x07\\x0d\\x0a\\x7f");
	/* Non-ASCII text stays; C1 controls and bidi overrides do not. */
	CHECK_STR(kp_escape_str(&b, "Entreprise \xc3\xa9"),
		  "Entreprise \xc3\xa9");
	CHECK_STR(kp_escape_str(&b, "\xc2\x9b" "31m \xe2\x80\xae"),
		  "\\u009B31m \\u202E");
	/* Bytes that are not UTF-8 one by one. */
	CHECK_STR(kp_escape_str(&b, "\xff\xc3(\xe2\x80"),
		  "\\xff\\xc3(\\xe2\\x80");
	CHECK_STR(kp_escape_str(&b, NULL), "");
	buf_release(&b);
}

static const struct unit_test tests[] = {
	TEST(hostnames), TEST(addresses), TEST(unsafe_characters),
	TEST(quoting), TEST(numbers), TEST(guids), TEST(onoff),
	TEST(key_shapes), TEST(escapes),
};

UNIT_MAIN(tests)

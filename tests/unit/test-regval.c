/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Value encodings, exactly as Windows stores them, and UTF conversion. */
#include <errno.h>
#include <stdlib.h>

#include "hive/regf.h"
#include "hive/regval.h"
#include "lib/utf.h"
#include "unit.h"

static void
sz(void)
{
	struct buf b = BUF_INIT;

	CHECK(regval_sz("kms", &b) == 0);
	CHECK_EQ(b.len, 8);
	CHECK_MEM(b.data, "k\0m\0s\0\0\0", 8);
	CHECK(regval_sz("", &b) == 0);
	CHECK_EQ(b.len, 2);
	CHECK(regval_get_sz((const unsigned char *)"k\0m\0s\0\0\0", 8, &b) == 0);
	CHECK_STR(b.data, "kms");
	/* Missing terminator: still read; embedded NUL: stops there. */
	CHECK(regval_get_sz((const unsigned char *)"k\0m\0", 4, &b) == 0);
	CHECK_STR(b.data, "km");
	CHECK(regval_get_sz((const unsigned char *)"k\0\0\0s\0", 6, &b) == 0);
	CHECK_STR(b.data, "k");
	buf_release(&b);
}

static void
multi_sz(void)
{
	char *in[] = { (char *)"contoso.com, 10, 50", (char *)"fabrikam.com" };
	struct buf b = BUF_INIT, want = BUF_INIT;
	char **list;
	size_t n;

	CHECK(regval_multi_sz(in, 2, &b) == 0);
	utf8_to_utf16le(in[0], strlen(in[0]), &want);
	buf_add(&want, "\0\0", 2);
	utf8_to_utf16le(in[1], strlen(in[1]), &want);
	buf_add(&want, "\0\0\0\0", 4);
	CHECK_EQ(b.len, want.len);
	CHECK_MEM(b.data, want.data, want.len);
	CHECK(regval_get_multi_sz((unsigned char *)b.data, b.len, &list,
				  &n) == 0);
	CHECK_EQ(n, 2);
	CHECK_STR(list[0], "contoso.com, 10, 50");
	CHECK_STR(list[1], "fabrikam.com");
	CHECK(list[2] == NULL);
	regval_free_list(list);
	/* An empty list is just the closing empty string. */
	CHECK(regval_multi_sz(NULL, 0, &b) == 0);
	CHECK_EQ(b.len, 2);
	CHECK(regval_get_multi_sz((unsigned char *)b.data, b.len, &list,
				  &n) == 0);
	CHECK_EQ(n, 0);
	regval_free_list(list);
	buf_release(&b);
	buf_release(&want);
}

static void
dword(void)
{
	unsigned char d[4];
	uint32_t v = 0;

	regval_dword(0x12345678, d);
	CHECK_MEM(d, "\x78\x56\x34\x12", 4);
	CHECK(regval_get_dword(d, 4, &v) == 0);
	CHECK_EQ(v, 0x12345678);
	CHECK(regval_get_dword(d, 3, &v) < 0);
}

static void
format(void)
{
	struct buf b = BUF_INIT;
	unsigned char d[4];
	char tn[32];

	regval_dword(120, d);
	CHECK(regval_format(REGT_DWORD, d, 4, &b) == 0);
	CHECK_STR(b.data, "120 (0x78)");
	buf_reset(&b);
	CHECK(regval_format(REGT_BINARY, (const unsigned char *)"\x01\xff", 2,
			    &b) == 0);
	CHECK_STR(b.data, "01 ff");
	CHECK_STR(regval_type_name(7, tn, sizeof(tn)), "REG_MULTI_SZ");
	CHECK_STR(regval_type_name(0x1234, tn, sizeof(tn)), "REG_0x1234");
	buf_release(&b);
}

static void
utf(void)
{
	struct buf b = BUF_INIT;

	CHECK(utf8_to_utf16le("\xc3\xa9\xf0\x9f\x98\x80", 6, &b) == 0);
	CHECK_EQ(b.len, 6);
	CHECK_MEM(b.data, "\xe9\x00\x3d\xd8\x00\xde", 6);
	buf_reset(&b);
	CHECK(utf16le_to_utf8((const unsigned char *)"\xe9\x00\x3d\xd8\x00\xde",
			      6, &b) == 0);
	CHECK_STR(b.data, "\xc3\xa9\xf0\x9f\x98\x80");
	/* Unpaired surrogates, odd lengths, overlong and bad UTF-8. */
	CHECK(utf16le_to_utf8((const unsigned char *)"\x3d\xd8", 2, &b) < 0);
	CHECK(utf16le_to_utf8((const unsigned char *)"\x00\xde", 2, &b) < 0);
	CHECK(utf16le_to_utf8((const unsigned char *)"a", 1, &b) < 0);
	CHECK(!utf8_valid("\xc0\xaf", 2));
	CHECK(!utf8_valid("\xed\xa0\x80", 3));
	CHECK(!utf8_valid("\xf4\x90\x80\x80", 4));
	CHECK(!utf8_valid("\xe2\x82", 2));
	CHECK(utf8_valid("plain", 5));
	CHECK(utf8_to_utf16le("\xff", 1, &b) < 0 && errno == EILSEQ);
	CHECK_EQ(utf16_upper('a'), 'A');
	CHECK_EQ(utf16_upper(0xe9), 0xc9);
	CHECK_EQ(utf16_upper(0xf7), 0xf7);
	buf_release(&b);
}

/* WTF-8: unpaired surrogates survive both ways; nothing else changes. */
static void
wtf8(void)
{
	struct buf b = BUF_INIT;

	/* A lone high surrogate between letters, then a lone low one. */
	CHECK(utf16le_to_wtf8((const unsigned char *)"a\0\x00\xd8" "b\0\x00\xdc",
			      8, &b) == 0);
	CHECK_EQ(b.len, 8);
	CHECK_MEM(b.data, "a\xed\xa0\x80" "b\xed\xb0\x80", 8);
	CHECK(wtf8_valid(b.data, b.len));
	CHECK(!utf8_valid(b.data, b.len));
	buf_reset(&b);
	CHECK(wtf8_to_utf16le("a\xed\xa0\x80" "b\xed\xb0\x80", 8, &b) == 0);
	CHECK_MEM(b.data, "a\0\x00\xd8" "b\0\x00\xdc", 8);
	/* A pair is a pair: four bytes, never two three-byte halves. */
	buf_reset(&b);
	CHECK(utf16le_to_wtf8((const unsigned char *)"\x3d\xd8\x00\xde", 4,
			      &b) == 0);
	CHECK_MEM(b.data, "\xf0\x9f\x98\x80", 4);
	CHECK(!wtf8_valid("\xed\xa0\xbd\xed\xb8\x80", 6));
	CHECK(wtf8_to_utf16le("\xed\xa0\xbd\xed\xb8\x80", 6, &b) < 0);
	CHECK(!wtf8_valid("\xc0\xaf", 2));
	/* Shown to people as \uXXXX. */
	CHECK(wtf8_escape("x\xed\xa0\x80y", &b) == 0);
	CHECK_STR(b.data, "x\\uD800y");
	CHECK_EQ(utf8_casecmp("\xed\xa0\x80", "\xed\xa0\x80"), 0);
	CHECK(utf8_casecmp("a", "\xed\xa0\x80") < 0);
	buf_release(&b);
}

static const struct unit_test tests[] = {
	TEST(sz), TEST(multi_sz), TEST(dword), TEST(format), TEST(utf),
	TEST(wtf8),
};

UNIT_MAIN(tests)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Marvin32 against the published .NET, SymCrypt and registry-seed vectors. */
#include <stdlib.h>

#include "hive/marvin32.h"
#include "unit.h"

struct vec {
	uint64_t seed;
	const char *hex;
	uint64_t want;
};

static size_t
unhex(const char *s, unsigned char *out)
{
	size_t n = 0;

	for (; s[0] && s[1]; s += 2)
		out[n++] = (unsigned char)strtoul((char[3]){ s[0], s[1], 0 },
						  NULL, 16);
	return n;
}

static void
dotnet_vectors(void)
{
	static const struct vec v[] = {
		{ 0x004FB61A001BDBCCull, "", 0x30ED35C100CD3C7Dull },
		{ 0x004FB61A001BDBCCull, "af", 0x48E73FC77D75DDC1ull },
		{ 0x004FB61A001BDBCCull, "e70f", 0xB5F6E1FC485DBFF8ull },
		{ 0x004FB61A001BDBCCull, "37f495", 0xF0B07C789B8CF7E8ull },
		{ 0x004FB61A001BDBCCull, "8642dc59", 0x7008F2E87E9CF556ull },
		{ 0x004FB61A001BDBCCull, "153fb79826", 0xE6C08C6DA2AFA997ull },
		{ 0x004FB61A001BDBCCull, "0932e6246c47", 0x6F04BF1A5EA24060ull },
		{ 0x004FB61A001BDBCCull, "ab427ea8d10fc7", 0xE11847E4F0678C41ull },
		{ 0x804FB61A001BDBCCull, "", 0x10A9D5D3996FD65Dull },
		{ 0x804FB61A001BDBCCull, "af", 0x68201F91960EBF91ull },
		{ 0x804FB61A001BDBCCull, "e70f", 0x64B581631F6AB378ull },
		{ 0x804FB61A001BDBCCull, "37f495", 0xE1F2DFA6E5131408ull },
		{ 0x804FB61A001BDBCCull, "8642dc59", 0x36289D9654FB49F6ull },
		{ 0x804FB61A001BDBCCull, "153fb79826", 0x0A06114B13464DBDull },
		{ 0x804FB61A001BDBCCull, "0932e6246c47", 0xD6DD5E40AD1BC2EDull },
		{ 0x804FB61A001BDBCCull, "ab427ea8d10fc7", 0xE203987DBA252FB3ull },
		{ 0x804FB61A801BDBCCull, "00", 0xA37FB0DA2ECAE06Cull },
		{ 0x804FB61A801BDBCCull, "ff", 0xFECEF370701AE054ull },
		{ 0x804FB61A801BDBCCull, "00ff", 0xA638E75700048880ull },
		{ 0x804FB61A801BDBCCull, "ff00", 0xBDFB46D969730E2Aull },
		{ 0x804FB61A801BDBCCull, "ff00ff", 0x9D8577C0FE0D30BFull },
		{ 0x804FB61A801BDBCCull, "00ff00", 0x4F9FBDDE15099497ull },
		{ 0x804FB61A801BDBCCull, "00ff00ff", 0x24EAA279D9A529CAull },
		{ 0x804FB61A801BDBCCull, "ff00ff00", 0xD3BEC7726B057943ull },
		{ 0x804FB61A801BDBCCull, "ff00ff00ff", 0x920B62BBCA3E0B72ull },
		{ 0x804FB61A801BDBCCull, "00ff00ff00", 0x1D7DDF9DFDF3C1BFull },
		{ 0x804FB61A801BDBCCull, "00ff00ff00ff", 0xEC21276A17E821A5ull },
		{ 0x804FB61A801BDBCCull, "ff00ff00ff00", 0x6911A53CA8C12254ull },
		{ 0x804FB61A801BDBCCull, "ff00ff00ff00ff", 0xFDFD187B1D3CE784ull },
		{ 0x804FB61A801BDBCCull, "00ff00ff00ff00", 0x71876F2EFB1B0EE8ull },
		/* SymCrypt's known-answer test with its default seed. */
		{ 0xD53CD9CECD0893B7ull, "616263", 0x22C74339492769BFull },
	};
	unsigned char buf[16];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK_EQ(marvin32(buf, unhex(v[i].hex, buf), v[i].seed),
			 v[i].want);
}

static void
registry_seed(void)
{
	static const struct {
		const char *s;
		uint64_t want;
	} v[] = {
		{ "", 0xB39EFCA403966E08ull },
		{ "h", 0x32A1242FC6BB44A1ull },
		{ "he", 0x97E2964A86F2EA21ull },
		{ "hel", 0xE0867B82C48311C4ull },
		{ "hell", 0xCB2072FFB4B192DEull },
		{ "hello, world!", 0x1687851316460006ull },
		{ "abc", 0xB9CF3DFCA41914F7ull },
	};
	unsigned char zero[472] = { 0 }, seq[32];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK_EQ(marvin32(v[i].s, strlen(v[i].s),
				  MARVIN32_REGISTRY_SEED), v[i].want);
	CHECK_EQ(marvin32(zero, 32, MARVIN32_REGISTRY_SEED),
		 0xDA91A06AC5359223ull);
	for (i = 0; i < 32; i++)
		seq[i] = (unsigned char)i;
	CHECK_EQ(marvin32(seq, 32, MARVIN32_REGISTRY_SEED),
		 0xC64FEEE425C2E24Cull);
	CHECK_EQ(marvin32(zero, 472, MARVIN32_REGISTRY_SEED),
		 0xB16122D0C0639ACCull);
}

/* Hash-2 of real entry headers from Windows-written logs. */
static void
real_entry_headers(void)
{
	static const struct {
		const char *hex;
		uint64_t h2;
	} v[] = {
		{ "48764c45005e000000000000020000000050000001000000"
		  "31e40718666c8667", 0xCD44F3CFA7657F02ull },
		{ "48764c45001e000000000000030000000050000001000000"
		  "5d1e700717a84647", 0xE637DCAFF6877267ull },
		{ "48764c450060000000000000040000000050000001000000"
		  "0d9e79dc5427dcb4", 0xB1A781FC3917B6B5ull },
		{ "48764c450020000000000000050000000050000001000000"
		  "ebbbcd2def7a144a", 0x366395A8E5BEA556ull },
	};
	unsigned char buf[32];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK_EQ(unhex(v[i].hex, buf), 32);
		CHECK_EQ(marvin32(buf, 32, MARVIN32_REGISTRY_SEED), v[i].h2);
	}
}

static const struct unit_test tests[] = {
	TEST(dotnet_vectors),
	TEST(registry_seed),
	TEST(real_entry_headers),
};

UNIT_MAIN(tests)

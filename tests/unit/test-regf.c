/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The regf validator, reader and empty-hive writer. */
#include "hive/regf.h"
#include "hivebuild.h"
#include "unit.h"

static void
fix(struct buf *b)
{
	regf_set_checksum((unsigned char *)b->data);
}

static int
validate(const struct buf *b, const char *want)
{
	struct kp_error err = KP_ERROR_INIT;
	struct regf_stats st;
	int r = regf_validate((const unsigned char *)b->data, b->len, &st, &err);

	if (want == NULL)
		return r == 0;
	if (r == 0 || strstr(err.msg, want) == NULL) {
		printf("# wanted '%s', got '%s'\n", want, r ? err.msg : "ok");
		return 0;
	}
	return err.status == KP_ERR_INPUT;
}

static void
empty_hive(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct regf_header h;
	struct regf_stats st;
	struct buf b = BUF_INIT;

	CHECK(regf_new_empty(&b, 1, &err) == 0);
	CHECK_EQ(b.len, 8192);
	CHECK(regf_header_parse((unsigned char *)b.data, b.len, &h, &err) == 0);
	CHECK(h.checksum_ok);
	CHECK(!regf_header_dirty(&h));
	CHECK_EQ(h.minor, 5);
	CHECK(regf_validate((unsigned char *)b.data, b.len, &st, &err) == 0);
	CHECK_EQ(st.keys, 1);
	CHECK_EQ(st.bins, 1);
	buf_release(&b);
}

static void
checksum_rules(void)
{
	unsigned char base[512] = { 0 };

	/* XOR of nothing is 0, which is stored as 1. */
	CHECK_EQ(regf_checksum(base), 1);
	regf_put32(base, 0xffffffff);
	CHECK_EQ(regf_checksum(base), 0xfffffffe);
	regf_put32(base + 4, 0x0000ffff);
	CHECK_EQ(regf_checksum(base), 0xffff0000);
}

static void
corruptions(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf b = BUF_INIT;
	unsigned char *p;

	/* Wrong record signature on the root. */
	regf_new_empty(&b, 1, &err);
	p = (unsigned char *)b.data;
	memcpy(p + 0x1024, "xx", 2);
	CHECK(validate(&b, "wrong record signature"));

	/* A subkey list that points back at the root: a loop. */
	regf_new_empty(&b, 1, &err);
	p = (unsigned char *)b.data;
	regf_put32(p + 0x1120, (uint32_t)-16);
	memcpy(p + 0x1124, "lf", 2);
	p[0x1126] = 1;
	regf_put32(p + 0x1128, 0x20);
	regf_put32(p + 0x1130, 0xed0);
	regf_put32(p + 0x1024 + 20, 1);
	regf_put32(p + 0x1024 + 28, 0x120);
	CHECK(validate(&b, "reached twice"));

	/* A subkey count that does not match the list. */
	p[0x1126] = 0;
	regf_put32(p + 0x1024 + 20, 2);
	CHECK(validate(&b, "subkey count"));

	/* A cell running past the end of its bin. */
	regf_new_empty(&b, 1, &err);
	p = (unsigned char *)b.data;
	regf_put32(p + 0x1120, 0xee8);
	CHECK(validate(&b, "bad cell size"));

	/* A list pointing into the middle of a cell. */
	regf_new_empty(&b, 1, &err);
	p = (unsigned char *)b.data;
	regf_put32(p + 0x1024 + 20, 1);
	regf_put32(p + 0x1024 + 28, 0x24);
	CHECK(validate(&b, "not an allocated cell"));

	/* Bad hive bin signature, then a truncated file. */
	regf_new_empty(&b, 1, &err);
	memcpy(b.data + 0x1000, "gbin", 4);
	CHECK(validate(&b, "hive bin"));
	regf_new_empty(&b, 1, &err);
	regf_put32((unsigned char *)b.data + 0x28, 0x2000);
	fix(&b);
	CHECK(validate(&b, "truncated"));

	/* A cell size of INT32_MIN (no undefined negation). */
	regf_new_empty(&b, 1, &err);
	regf_put32((unsigned char *)b.data + 0x1120, 0x80000000u);
	CHECK(validate(&b, "bad cell size"));

	/* A security record whose list link points nowhere: hivex would
	 * write through it when a key is deleted. */
	regf_new_empty(&b, 1, &err);
	regf_put32((unsigned char *)b.data + 0x1078 + 4 + 4, 0x40000000);
	CHECK(validate(&b, "security record link"));
	regf_new_empty(&b, 1, &err);
	regf_put32((unsigned char *)b.data + 0x1078 + 4 + 12, 0);
	CHECK(validate(&b, "reference count 0"));

	/* A transaction log is not a hive. */
	regf_new_empty(&b, 1, &err);
	regf_put32((unsigned char *)b.data + 0x1c, 6);
	fix(&b);
	CHECK(validate(&b, "transaction log"));
	buf_release(&b);
}

static void
reader(void)
{
	static const char *const keys[] = {
		"Microsoft\\Windows NT\\CurrentVersion", "Select",
		"Caf\xc3\xa9", NULL,
	};
	struct buf b = BUF_INIT, d = BUF_INIT;
	struct kp_error err = KP_ERROR_INIT;
	struct regf r;
	uint32_t k, type;

	CHECK(hb_make(hb_path("reader"), keys, &b) == 0);
	CHECK(validate(&b, NULL));
	CHECK(regf_open(&r, b.data, b.len, &err) == 0);
	CHECK_EQ(regf_lookup(&r, "microsoft\\WINDOWS NT\\currentversion", &k),
		 1);
	CHECK_EQ(regf_value(&r, k, "V", &type, &d), 1);
	CHECK_EQ(type, REGT_SZ);
	CHECK_EQ(d.len, (strlen(keys[0]) + 1) * 2);
	CHECK_EQ(regf_value(&r, k, "w", &type, &d), 0);
	CHECK_EQ(regf_lookup(&r, "CAF\xc3\x89", &k), 1);
	CHECK_EQ(regf_lookup(&r, "Microsoft\\Nope", &k), 0);
	CHECK_EQ(regf_lookup(&r, "", &k), 1);
	CHECK_EQ(k, r.root);
	CHECK_EQ(regf_nr_subkeys(&r, r.root), 3);
	CHECK_EQ(regf_nr_subkeys(&r, 5), -1);
	buf_release(&b);
	buf_release(&d);
}

/* Two keys sharing one value list: refused, which also keeps validation
 * linear however many keys point at a list. */
static void
shared_value_list(void)
{
	static const char *const keys[] = { "A", "B", NULL };
	struct kp_error err = KP_ERROR_INIT;
	struct buf b = BUF_INIT;
	struct regf r;
	uint32_t a, bk;
	unsigned char *na, *nb;

	CHECK(hb_make(hb_path("shared"), keys, &b) == 0);
	regf_open(&r, b.data, b.len, &err);
	CHECK_EQ(regf_lookup(&r, "A", &a), 1);
	CHECK_EQ(regf_lookup(&r, "B", &bk), 1);
	na = (unsigned char *)b.data + 0x1000 + a + 4;
	nb = (unsigned char *)b.data + 0x1000 + bk + 4;
	memcpy(nb + 36, na + 36, 8);	/* count and list of A */
	CHECK(validate(&b, "referenced twice"));
	buf_release(&b);
}

/* Cell sizes of 4 mod 8 (Windows and hivex never write them, the format
 * allows 4-byte multiples): still accepted, and checked with bitmaps fine
 * enough that an offset between two cell starts is never taken for one. */
static void
odd_cells(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf b = BUF_INIT;
	unsigned char *p;

	/* The empty hive's free cell at 0x120 becomes a free cell of 20
	 * bytes, an allocated one of 16 at 0x134 and a free rest. */
	regf_new_empty(&b, 1, &err);
	p = (unsigned char *)b.data;
	CHECK_EQ(regf_le32(p + 0x1120), 0xee0);
	regf_put32(p + 0x1120, 0x14);
	regf_put32(p + 0x1134, (uint32_t)-0x10);
	regf_put32(p + 0x1144, 0x1000 - 0x144);
	CHECK(validate(&b, NULL));
	/* 0x130 shares an 8-byte slot with that cell's start: not a cell. */
	regf_put32(p + 0x1024 + 20, 1);
	regf_put32(p + 0x1024 + 28, 0x130);
	CHECK(validate(&b, "not an allocated cell"));
	buf_release(&b);
}

static const struct unit_test tests[] = {
	TEST(empty_hive), TEST(checksum_rules), TEST(corruptions),
	TEST(reader), TEST(shared_value_list), TEST(odd_cells),
};

UNIT_MAIN(tests)

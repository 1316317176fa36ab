/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Transaction-log recovery on logs built here byte by byte: both formats,
 * the ordering and chaining rules, and every way a log can be damaged.
 */
#include "hive/logrec.h"
#include "hive/marvin32.h"
#include "hive/regf.h"
#include "hivebuild.h"
#include "unit.h"

/* Three generations of one hive: A, B = A + key B1, C = B + key C1. */
static struct buf A, B, C;
static uint32_t N;	/* A's sequence number */

static void
setup(void)
{
	static const char *const ka[] = { "A1", NULL };
	static const char *const kb[] = { "A1", "B1", NULL };
	static const char *const kc[] = { "A1", "B1", "C1", NULL };
	if (A.len)
		return;
	hb_make(hb_path("A"), ka, &A);
	hb_make(hb_path("B"), kb, &B);
	hb_make(hb_path("C"), kc, &C);
	N = regf_le32((unsigned char *)A.data + 4);
}

/* The dirty primary Windows leaves after its first flush: A at N+1/N. */
static void
dirty_primary(struct buf *p)
{
	buf_reset(p);
	buf_add(p, A.data, A.len);
	regf_put32((unsigned char *)p->data + 4, N + 1);
	regf_set_checksum((unsigned char *)p->data);
}

/* A log base block copied from IMG's, with file type TYPE and SEQ. */
static void
log_base(struct buf *log, const struct buf *img, uint32_t type, uint32_t seq)
{
	unsigned char *b;

	buf_reset(log);
	buf_add(log, img->data, 512);
	b = (unsigned char *)log->data;
	regf_put32(b + 4, seq);
	regf_put32(b + 8, seq);
	regf_put32(b + 0x1c, type);
	regf_set_checksum(b);
}

/* Append an HvLE entry carrying all of IMG's hive bins as one page run. */
static void
log_entry(struct buf *log, const struct buf *img, uint32_t seq)
{
	uint32_t hbins = regf_le32((unsigned char *)img->data + 0x28);
	size_t start = log->len, size = 40 + 8 + hbins;
	unsigned char *e;

	size = (size + 511) & ~(size_t)511;
	buf_grow(log, size);
	memset(log->data + start, 0, size);
	log->len += size;
	e = (unsigned char *)log->data + start;
	memcpy(e, "HvLE", 4);
	regf_put32(e + 4, (uint32_t)size);
	regf_put32(e + 12, seq);
	regf_put32(e + 16, hbins);
	regf_put32(e + 20, 1);
	regf_put32(e + 40, 0);
	regf_put32(e + 44, hbins);
	memcpy(e + 48, img->data + 0x1000, hbins);
	regf_put64(e + 24, marvin32(e + 40, size - 40, MARVIN32_REGISTRY_SEED));
	regf_put64(e + 32, marvin32(e, 32, MARVIN32_REGISTRY_SEED));
}

static struct logrec_input
in_of(const struct buf *b)
{
	struct logrec_input in = { "log", b != NULL, NULL, 0 };

	if (b) {
		in.data = (const unsigned char *)b->data;
		in.len = b->len;
	}
	return in;
}

static int
recover(const struct buf *p, const struct buf *l1, const struct buf *l2,
	struct buf *out, struct logrec_result *res, struct kp_error *err)
{
	struct logrec_input in[2] = { in_of(l1), in_of(l2) };

	return logrec_recover((const unsigned char *)p->data, p->len, in, out,
			      res, err);
}

static void
new_format(void)
{
	struct buf p = BUF_INIT, log = BUF_INIT, out = BUF_INIT;
	struct kp_error err = KP_ERROR_INIT;
	struct logrec_result res;
	struct regf_header h;

	setup();
	CHECK_EQ(hb_has_key(&A, "B1"), 0);
	dirty_primary(&p);
	log_base(&log, &B, REGF_LOG_NEW, N);
	log_entry(&log, &B, N);
	CHECK(recover(&p, &log, NULL, &out, &res, &err) == 0);
	CHECK(res.usable);
	CHECK_EQ(res.applied, 1);
	CHECK_EQ(res.last_seq, N);
	CHECK_EQ(hb_has_key(&out, "B1"), 1);
	CHECK_EQ(hb_has_key(&out, "A1"), 1);
	regf_header_parse((unsigned char *)out.data, out.len, &h, &err);
	CHECK(!regf_header_dirty(&h));
	buf_release(&p);
	buf_release(&log);
	buf_release(&out);
}

static void
damaged_logs(void)
{
	struct buf p = BUF_INIT, log = BUF_INIT, out = BUF_INIT;
	struct kp_error err = KP_ERROR_INIT;
	struct logrec_result res;

	setup();
	dirty_primary(&p);

	/* A flipped byte in the page data: Hash-1 fails. */
	log_base(&log, &B, REGF_LOG_NEW, N);
	log_entry(&log, &B, N);
	log.data[512 + 48 + 100] ^= 1;
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "hash mismatch") != NULL);
	CHECK(!res.usable);

	/* A flipped byte in the header: Hash-2 fails. */
	log_base(&log, &B, REGF_LOG_NEW, N);
	log_entry(&log, &B, N);
	log.data[512 + 21] ^= 1;
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);

	/* Wrong entry signature. */
	log_base(&log, &B, REGF_LOG_NEW, N);
	log_entry(&log, &B, N);
	memcpy(log.data + 512, "HvLX", 4);
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "HvLE") != NULL);

	/* Truncated in the middle of the entry. */
	log_base(&log, &B, REGF_LOG_NEW, N);
	log_entry(&log, &B, N);
	log.len = 512 + 600;
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "past the end of the log") != NULL);

	/* Truncated inside the base block; an empty log. */
	log.len = 300;
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	log.len = 0;
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "empty") != NULL);

	/* Wrong base block signature and a bad base block checksum. */
	log_base(&log, &B, REGF_LOG_NEW, N);
	log_entry(&log, &B, N);
	memcpy(log.data, "gerf", 4);
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	log_base(&log, &B, REGF_LOG_NEW, N);
	log_entry(&log, &B, N);
	log.data[0x30] ^= 1;
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "checksum") != NULL);

	/* A log from another hive: its entries are older than the primary. */
	log_base(&log, &B, REGF_LOG_NEW, N - 5);
	log_entry(&log, &B, N - 5);
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "no entries newer") != NULL);

	/* The primary itself offered as a log. */
	CHECK(recover(&p, &A, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "not a log") != NULL);
	buf_release(&p);
	buf_release(&log);
	buf_release(&out);
}

static void
entry_sanity(void)
{
	struct buf p = BUF_INIT, log = BUF_INIT, out = BUF_INIT;
	struct kp_error err = KP_ERROR_INIT;
	struct logrec_result res;
	unsigned char *e;

	setup();
	dirty_primary(&p);
	/* A page reference beyond the entry's hive bins size. */
	log_base(&log, &B, REGF_LOG_NEW, N);
	log_entry(&log, &B, N);
	e = (unsigned char *)log.data + 512;
	regf_put32(e + 40, 0x1000);
	regf_put64(e + 24, marvin32(e + 40, regf_le32(e + 4) - 40,
				    MARVIN32_REGISTRY_SEED));
	regf_put64(e + 32, marvin32(e, 32, MARVIN32_REGISTRY_SEED));
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "outside the hive bins") != NULL);

	/* A hive bins size far beyond the pages the entry carries: refused
	 * before anything is allocated for it. */
	log_base(&log, &B, REGF_LOG_NEW, N);
	log_entry(&log, &B, N);
	e = (unsigned char *)log.data + 512;
	regf_put32(e + 16, 0x7ffff000);
	regf_put64(e + 32, marvin32(e, 32, MARVIN32_REGISTRY_SEED));
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "beyond anything it holds") != NULL);

	/* No dirty pages at all. */
	log_base(&log, &B, REGF_LOG_NEW, N);
	log_entry(&log, &B, N);
	e = (unsigned char *)log.data + 512;
	regf_put32(e + 20, 0);
	regf_put64(e + 32, marvin32(e, 32, MARVIN32_REGISTRY_SEED));
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "dirty page count") != NULL);

	/* A page count so large that the references overflow the entry. */
	regf_put32(e + 20, 0x20000000);
	regf_put64(e + 32, marvin32(e, 32, MARVIN32_REGISTRY_SEED));
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	buf_release(&p);
	buf_release(&log);
	buf_release(&out);
}

static void
two_logs(void)
{
	struct buf p = BUF_INIT, l1 = BUF_INIT, l2 = BUF_INIT, out = BUF_INIT;
	struct kp_error err = KP_ERROR_INIT;
	struct logrec_result res;

	setup();
	dirty_primary(&p);
	/* LOG2 holds the earlier entry: LOG1 is not necessarily first. */
	log_base(&l2, &B, REGF_LOG_NEW, N);
	log_entry(&l2, &B, N);
	log_base(&l1, &C, REGF_LOG_NEW, N + 1);
	log_entry(&l1, &C, N + 1);
	CHECK(recover(&p, &l1, &l2, &out, &res, &err) == 0);
	CHECK_EQ(res.applied, 2);
	CHECK_EQ(res.log[1].applied, 1);
	CHECK_EQ(res.log[0].applied, 1);
	CHECK_EQ(res.first_seq, N);
	CHECK_EQ(res.last_seq, N + 1);
	CHECK_EQ(hb_has_key(&out, "C1"), 1);
	CHECK_EQ(res.max_seq, N + 1);

	/* A gap in the chain: the later log is not applied. */
	log_base(&l1, &C, REGF_LOG_NEW, N + 2);
	log_entry(&l1, &C, N + 2);
	CHECK(recover(&p, &l1, &l2, &out, &res, &err) == 0);
	CHECK_EQ(res.applied, 1);
	CHECK_EQ(hb_has_key(&out, "B1"), 1);
	CHECK_EQ(hb_has_key(&out, "C1"), 0);

	/* A stale entry after the chain is not applied either. */
	log_base(&l2, &B, REGF_LOG_NEW, N);
	log_entry(&l2, &B, N);
	log_entry(&l2, &C, N - 3);
	CHECK(recover(&p, &l2, NULL, &out, &res, &err) == 0);
	CHECK_EQ(res.applied, 1);
	CHECK_EQ(hb_has_key(&out, "C1"), 0);
	CHECK_EQ(res.max_seq, N);

	/* A primary with a bad checksum: only the latest log is used, and
	 * the base block comes from it. */
	log_base(&l2, &B, REGF_LOG_NEW, N);
	log_entry(&l2, &B, N);
	log_base(&l1, &C, REGF_LOG_NEW, N + 1);
	log_entry(&l1, &C, N + 1);
	p.data[0x40] ^= 1;
	CHECK(recover(&p, &l1, &l2, &out, &res, &err) == 0);
	CHECK_EQ(res.applied, 1);
	CHECK_EQ(res.first_seq, N + 1);
	CHECK_EQ(hb_has_key(&out, "C1"), 1);
	buf_release(&p);
	buf_release(&l1);
	buf_release(&l2);
	buf_release(&out);
}

/* An old-format log marking every page of IMG dirty. */
static void
old_log(struct buf *log, const struct buf *img, uint64_t ts)
{
	uint32_t hbins = regf_le32((unsigned char *)img->data + 0x28);
	size_t bitmap = hbins / 4096, pages;
	unsigned char *b;

	log_base(log, img, REGF_LOG_OLD, N + 1);
	b = (unsigned char *)log->data;
	regf_put64(b + 0x0c, ts);
	regf_set_checksum(b);
	buf_add(log, "DIRT", 4);
	for (size_t i = 0; i < bitmap; i++)
		buf_addch(log, 0xff);
	pages = (512 + 4 + bitmap + 511) & ~(size_t)511;
	while (log->len < pages)
		buf_addch(log, 0xee);	/* garbage up to the sector */
	buf_add(log, img->data + 0x1000, hbins);
}

static void
old_format(void)
{
	struct buf p = BUF_INIT, log = BUF_INIT, out = BUF_INIT;
	struct kp_error err = KP_ERROR_INIT;
	struct logrec_result res;
	uint64_t ts;

	setup();
	dirty_primary(&p);
	ts = regf_le64((unsigned char *)p.data + 0x0c);
	old_log(&log, &B, ts);
	CHECK(recover(&p, &log, NULL, &out, &res, &err) == 0);
	CHECK_EQ(res.format, 1);
	CHECK_EQ(hb_has_key(&out, "B1"), 1);

	/* A log written for another state of the hive (timestamp). */
	old_log(&log, &B, ts + 1);
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "timestamp") != NULL);

	/* Dirty pages missing at the end. */
	old_log(&log, &B, ts);
	log.len -= 1024;
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "truncated") != NULL);

	/* No DIRT signature. */
	old_log(&log, &B, ts);
	memcpy(log.data + 512, "DIRX", 4);
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	buf_release(&p);
	buf_release(&log);
	buf_release(&out);
}

/* Replaying pages that do not form a valid hive gives nothing. */
static void
inconsistent_result(void)
{
	struct buf p = BUF_INIT, log = BUF_INIT, out = BUF_INIT, bad = BUF_INIT;
	struct kp_error err = KP_ERROR_INIT;
	struct logrec_result res;

	setup();
	dirty_primary(&p);
	buf_add(&bad, B.data, B.len);
	memcpy(bad.data + 0x1000, "gbin", 4);
	log_base(&log, &B, REGF_LOG_NEW, N);
	log_entry(&log, &bad, N);
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "inconsistent hive") != NULL);
	CHECK_EQ(out.len, 0);
	buf_release(&p);
	buf_release(&log);
	buf_release(&out);
	buf_release(&bad);
}

/* A primary whose base block is torn (zeroed, signature gone): the log's
 * copy replaces it, as Windows does, in logrec and in hive_open. */
static void
torn_base_block(void)
{
	struct buf p = BUF_INIT, log = BUF_INIT, out = BUF_INIT;
	struct kp_error err = KP_ERROR_INIT;
	struct hive_open_opts o = { .flags = 0 };
	struct logrec_result res;
	struct hive *h;
	char lpath[300];
	hive_key k;

	setup();
	dirty_primary(&p);
	memset(p.data, 0, 512);
	log_base(&log, &B, REGF_LOG_NEW, N);
	log_entry(&log, &B, N);
	CHECK(recover(&p, &log, NULL, &out, &res, &err) == 0);
	CHECK_EQ(hb_has_key(&out, "B1"), 1);
	CHECK_EQ(hb_has_key(&out, "A1"), 1);

	/* Only the signature lost, checksum recomputed: still invalid. */
	dirty_primary(&p);
	memcpy(p.data, "rxgf", 4);
	regf_set_checksum((unsigned char *)p.data);
	CHECK(recover(&p, &log, NULL, &out, &res, &err) == 0);
	CHECK_EQ(hb_has_key(&out, "B1"), 1);

	/* Opened as a file, with the log beside it. */
	memset(p.data, 0, 512);
	CHECK(hb_save(hb_path("torn"), &p) == 0);
	snprintf(lpath, sizeof(lpath), "%s.LOG1", hb_path("torn"));
	CHECK(hb_save(lpath, &log) == 0);
	CHECK(hive_open(hb_path("torn"), &o, &h, &err) == 0);
	if (h) {
		CHECK(hive_state(h)->recovered);
		CHECK_EQ(hive_find(h, "B1", &k, &err), 1);
		hive_close(h);
	}
	unlink(lpath);

	/* Without a log there is nothing to take a base block from. */
	CHECK(hive_open(hb_path("torn"), &o, &h, &err) < 0);
	CHECK_EQ(err.status, KP_ERR_INPUT);

	/* Not a hive at all: no hive bin where the first one belongs. */
	memset(p.data + 0x1000, 0, 4);
	CHECK(recover(&p, &log, NULL, &out, &res, &err) < 0);
	CHECK(strstr(err.msg, "regf") != NULL);
	buf_release(&p);
	buf_release(&log);
	buf_release(&out);
}

static void
serial_numbers(void)
{
	CHECK(logrec_seq_before(1, 2));
	CHECK(!logrec_seq_before(2, 2));
	CHECK(!logrec_seq_before(2, 1));
	CHECK(logrec_seq_before(0xfffffffe, 3));
	CHECK(!logrec_seq_before(3, 0xfffffffe));
}

static const struct unit_test tests[] = {
	TEST(serial_numbers), TEST(new_format), TEST(damaged_logs), TEST(entry_sanity),
	TEST(two_logs), TEST(old_format), TEST(inconsistent_result),
	TEST(torn_base_block),
};

UNIT_MAIN(tests)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Journaled commits: the HvLE entries written are checked field by field
 * against the format (hashes, sizes, sequence numbers), a commit is
 * followed through the files it leaves, and the state after a crash is
 * replayed by kmsprep's own log reader.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "hive/journal.h"
#include "hive/logrec.h"
#include "hive/marvin32.h"
#include "hive/regf.h"
#include "hivebuild.h"
#include "unit.h"

/* A, and B = A + key B1 (a few changed pages and, usually, a new bin). */
static struct buf A, B;
static uint32_t N;

static void
setup(void)
{
	static const char *const ka[] = { "A1", NULL };
	static const char *const kb[] = { "A1", "B1", NULL };

	if (A.len)
		return;
	hb_make(hb_path("A"), ka, &A);
	hb_make(hb_path("B"), kb, &B);
	N = regf_le32((unsigned char *)A.data + 8);
}

static const unsigned char *
u(const struct buf *b)
{
	return (const unsigned char *)b->data;
}

static void
entry_format(void)
{
	static unsigned char img[0x1000 + 0x4000];
	struct journal_run runs[2] = { { 0x0000, 0x1000 }, { 0x2000, 0x2000 } };
	struct journal_diff d = { runs, 2, 3, 0x4000 };
	struct buf e = BUF_INIT;
	const unsigned char *p;
	uint32_t size;
	size_t i;

	for (i = 0; i < sizeof(img); i++)
		img[i] = (unsigned char)(i * 7 + (i >> 12));
	regf_put32(img + 0x90, 0x3);	/* flags: bit 0 travels, bit 1 not */
	CHECK(journal_entry(img, &d, 0xfffffffe, 512, &e) == 0);
	p = u(&e);
	size = regf_le32(p + 4);
	CHECK_MEM(p, "HvLE", 4);
	CHECK_EQ(size, e.len);
	/* Multiple of 512, ending on a 4 KiB boundary of the log. */
	CHECK_EQ(size % 512, 0);
	CHECK_EQ((512 + size) % 4096, 0);
	CHECK(size >= 40 + 16 + 0x3000);
	CHECK_EQ(regf_le32(p + 8), 1);
	CHECK_EQ(regf_le32(p + 12), 0xfffffffe);
	CHECK_EQ(regf_le32(p + 16), 0x4000);
	CHECK_EQ(regf_le32(p + 20), 2);
	CHECK_EQ(regf_le32(p + 40), 0x0000);
	CHECK_EQ(regf_le32(p + 44), 0x1000);
	CHECK_EQ(regf_le32(p + 48), 0x2000);
	CHECK_EQ(regf_le32(p + 52), 0x2000);
	/* Pages in reference order, no gaps, then zero padding. */
	CHECK_MEM(p + 56, img + 0x1000, 0x1000);
	CHECK_MEM(p + 56 + 0x1000, img + 0x3000, 0x2000);
	for (i = 56 + 0x3000; i < size; i++)
		if (p[i])
			break;
	CHECK_EQ(i, size);
	/* Hash-1: Marvin32 over Size - 40 bytes from the references;
	 * Hash-2: over the first 32 bytes, Hash-1 included. */
	CHECK_EQ(regf_le64(p + 24),
		 marvin32(p + 40, size - 40, MARVIN32_REGISTRY_SEED));
	CHECK_EQ(regf_le64(p + 32), marvin32(p, 32, MARVIN32_REGISTRY_SEED));
	/* The registry seed itself, on a vector of the format's hash. */
	CHECK_EQ(marvin32("", 0, MARVIN32_REGISTRY_SEED),
		 0xB39EFCA403966E08ull);
	buf_release(&e);
}

static void
log_base_block(void)
{
	unsigned char lb[512];
	struct regf_header h;
	struct kp_error err = KP_ERROR_INIT;

	setup();
	journal_log_base(u(&B), 77, lb);
	CHECK(regf_header_parse(lb, sizeof(lb), &h, &err) == 0);
	CHECK(h.checksum_ok);
	CHECK_EQ(h.seq1, 77);
	CHECK_EQ(h.seq2, 77);
	CHECK_EQ(h.type, REGF_LOG_NEW);
	/* The rest is the hive's own, GUIDs included. */
	CHECK_MEM(lb + 0x20, u(&B) + 0x20, 0x1fc - 0x20);
}

static void
pick_log(void)
{
	struct logrec_result r;

	memset(&r, 0, sizeof(r));
	CHECK_EQ(journal_pick_log(&r), 0);
	r.log[0].valid = true;
	r.log[0].format = 6;
	r.log[0].seq = 5;
	CHECK_EQ(journal_pick_log(&r), 1);
	r.log[1].valid = true;
	r.log[1].format = 6;
	r.log[1].seq = 6;
	CHECK_EQ(journal_pick_log(&r), 0);
	r.log[0].seq = 7;
	CHECK_EQ(journal_pick_log(&r), 1);
	/* Serial numbers: 0xffffffff is before 2. */
	r.log[0].seq = 0xffffffff;
	r.log[1].seq = 2;
	CHECK_EQ(journal_pick_log(&r), 0);
	r.log[0].valid = false;
	CHECK_EQ(journal_pick_log(&r), 0);
}

static void
diff_pages(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct journal_diff d;
	struct buf img = BUF_INIT;
	uint32_t hb;
	int fd;

	setup();
	hb_save(hb_path("diff"), &A);
	fd = open(hb_path("diff"), O_RDONLY);
	buf_add(&img, A.data, A.len);
	CHECK(journal_diff(fd, A.len, u(&img), img.len, &d, &err) == 0);
	CHECK_EQ(d.n, 0);
	free(d.runs);
	/* The image grows by one bin: that page, past the end of the file,
	 * counts as changed; the first page changes alone. */
	hb = regf_le32(u(&A) + 0x28);
	CHECK_EQ(A.len, 0x1000 + hb);
	img.data[0x1000 + 0x10] ^= 1;
	buf_add(&img, A.data + 0x1000, 0x1000);
	regf_put32((unsigned char *)img.data + 0x28, hb + 0x1000);
	CHECK(journal_diff(fd, A.len, u(&img), img.len, &d, &err) == 0);
	CHECK_EQ(d.hbins, hb + 0x1000);
	CHECK_EQ(d.n, 2);
	CHECK_EQ(d.pages, 2);
	if (d.n == 2) {
		CHECK_EQ(d.runs[0].off, 0);
		CHECK_EQ(d.runs[0].len, 0x1000);
		CHECK_EQ(d.runs[1].off, hb);
		CHECK_EQ(d.runs[1].len, 0x1000);
	}
	free(d.runs);
	/* Adjacent changed pages merge into one reference. */
	img.data[0x1000 + hb - 0x10] ^= 1;
	CHECK(journal_diff(fd, A.len, u(&img), img.len, &d, &err) == 0);
	CHECK_EQ(d.pages, 3);
	CHECK_EQ(d.n, hb == 0x2000 ? 1 : 2);
	CHECK_EQ(d.runs[d.n - 1].off + d.runs[d.n - 1].len, hb + 0x1000);
	CHECK_EQ(d.runs[0].off, 0);
	free(d.runs);
	close(fd);
	buf_release(&img);
}

/* Commit B over a file holding A, with logs described by SCAN. */
static int
commit(const struct logrec_result *scan, struct journal_result *jr,
       struct kp_error *err)
{
	struct journal_opts o = { 0 };
	int fd, r;

	unlink(hb_path("p.LOG1"));
	unlink(hb_path("p.LOG2"));
	hb_save(hb_path("p"), &A);
	fd = open(hb_path("p"), O_RDWR);
	o.fd = fd;
	o.path = "p";
	o.log[0] = strdup(hb_path("p.LOG1"));
	o.log[1] = strdup(hb_path("p.LOG2"));
	o.logs = scan;
	o.img = u(&B);
	o.len = B.len;
	r = journal_commit(&o, jr, err);
	close(fd);
	free((char *)o.log[0]);
	free((char *)o.log[1]);
	return r;
}

static void
commit_and_replay(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct logrec_result scan, res;
	struct journal_result jr;
	struct buf p = BUF_INIT, log = BUF_INIT, out = BUF_INIT;
	struct logrec_input in[2];
	struct regf_header h;
	const unsigned char *e;
	size_t off;

	setup();
	memset(&scan, 0, sizeof(scan));
	CHECK(commit(&scan, &jr, &err) == 0);
	CHECK_EQ(jr.log, 0);
	CHECK(jr.pages > 0);
	/* Clean, numbered one past the entry, and B byte for byte in its
	 * hive bins. */
	CHECK_EQ(jr.seq, N + 1);
	hb_load(hb_path("p"), &p);
	CHECK(regf_header_parse(u(&p), p.len, &h, &err) == 0);
	CHECK(!regf_header_dirty(&h));
	CHECK_EQ(h.seq1, N + 1);
	CHECK_EQ(h.hbins_size, regf_le32(u(&B) + 0x28));
	CHECK(p.len >= 0x1000 + h.hbins_size);
	CHECK_MEM(p.data + 0x1000, B.data + 0x1000, h.hbins_size);
	/* Every page of the primary is either B's or untouched A's. */
	for (off = 0x1000; off < A.len; off += 4096)
		CHECK(memcmp(p.data + off, A.data + off, 4096) == 0 ||
		      memcmp(p.data + off, B.data + off, 4096) == 0);

	/* The log: a base block for the cycle at N, one entry N. */
	CHECK(hb_load(hb_path("p.LOG1"), &log) == 0);
	CHECK(access(hb_path("p.LOG2"), F_OK) < 0);
	CHECK(regf_header_parse(u(&log), log.len, &h, &err) == 0);
	CHECK(h.checksum_ok);
	CHECK_EQ(h.type, REGF_LOG_NEW);
	CHECK_EQ(h.seq1, N);
	CHECK_EQ(h.seq2, N);
	e = u(&log) + 512;
	CHECK_MEM(e, "HvLE", 4);
	CHECK_EQ(regf_le32(e + 12), N);
	CHECK_EQ(512 + regf_le32(e + 4), log.len);
	CHECK_EQ(log.len % 4096, 0);
	CHECK_EQ(regf_le32(e + 20) > 0, 1);
	CHECK_EQ(regf_le64(e + 24), marvin32(e + 40, regf_le32(e + 4) - 40,
					     MARVIN32_REGISTRY_SEED));
	CHECK_EQ(regf_le64(e + 32), marvin32(e, 32, MARVIN32_REGISTRY_SEED));

	/* A crash after step 2: A marked dirty as step 2 leaves it.  Our own
	 * reader replays the entry and gets B. */
	buf_reset(&p);
	buf_add(&p, A.data, A.len);
	regf_put32((unsigned char *)p.data + 4, N + 1);
	regf_put32((unsigned char *)p.data + 8, N);
	regf_set_checksum((unsigned char *)p.data);
	memset(in, 0, sizeof(in));
	in[0].path = "p.LOG1";
	in[0].present = true;
	in[0].data = u(&log);
	in[0].len = log.len;
	CHECK(logrec_recover(u(&p), p.len, in, &out, &res, &err) == 0);
	CHECK_EQ(res.applied, 1);
	CHECK_EQ(res.first_seq, N);
	CHECK(out.len >= 0x1000 + regf_le32(u(&B) + 0x28));
	CHECK_MEM(out.data + 0x1000, B.data + 0x1000,
		  regf_le32(u(&B) + 0x28));
	CHECK_EQ(hb_has_key(&out, "B1"), 1);

	/* Logs that already hold numbers at or past the primary's: the cycle
	 * starts after them, in the log without the latest entries. */
	memset(&scan, 0, sizeof(scan));
	scan.log[0].valid = scan.log[1].valid = true;
	scan.log[0].format = scan.log[1].format = 6;
	scan.log[0].seq = N + 40;
	scan.log[1].seq = N + 3;
	scan.max_seq = N + 45;
	CHECK(commit(&scan, &jr, &err) == 0);
	CHECK_EQ(jr.log, 1);
	CHECK_EQ(jr.seq, N + 47);
	CHECK(hb_load(hb_path("p.LOG2"), &log) == 0);
	CHECK_EQ(regf_le32(u(&log) + 4), N + 46);
	CHECK_EQ(regf_le32(u(&log) + 512 + 12), N + 46);
	hb_load(hb_path("p"), &p);
	CHECK(regf_header_parse(u(&p), p.len, &h, &err) == 0);
	CHECK(!regf_header_dirty(&h));
	CHECK_EQ(h.seq2, N + 47);

	buf_release(&p);
	buf_release(&log);
	buf_release(&out);
}

static void
nothing_changed(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct logrec_result scan;
	struct journal_result jr;
	struct journal_opts o = { 0 };
	struct buf p = BUF_INIT;
	int fd;

	setup();
	memset(&scan, 0, sizeof(scan));
	hb_save(hb_path("same"), &A);
	fd = open(hb_path("same"), O_RDWR);
	o.fd = fd;
	o.path = "same";
	o.log[0] = hb_path("same.LOG1");
	o.log[1] = o.log[0];
	o.logs = &scan;
	o.img = u(&A);
	o.len = A.len;
	CHECK(journal_commit(&o, &jr, &err) == 0);
	close(fd);
	CHECK_EQ(jr.pages, 0);
	CHECK(access(hb_path("same.LOG1"), F_OK) < 0);
	hb_load(hb_path("same"), &p);
	CHECK(p.len == A.len && memcmp(p.data, A.data, A.len) == 0);
	buf_release(&p);
}

static void
find_nocase(void)
{
	struct buf x = BUF_INIT;
	char *f;

	buf_addstr(&x, "x");
	hb_save(hb_path("NTUSER.DAT"), &x);
	hb_save(hb_path("ntuser.dat.log1"), &x);
	f = journal_find_nocase(hb_path("NTUSER.DAT.LOG1"));
	CHECK_STR(f, hb_path("ntuser.dat.log1"));
	free(f);
	f = journal_find_nocase(hb_path("NTUSER.DAT.LOG2"));
	CHECK(f == NULL);
	/* The exact name wins over another case of it. */
	hb_save(hb_path("NTUSER.DAT.LOG1"), &x);
	f = journal_find_nocase(hb_path("NTUSER.DAT.LOG1"));
	CHECK_STR(f, hb_path("NTUSER.DAT.LOG1"));
	free(f);
	unlink(hb_path("NTUSER.DAT.LOG1"));
	/* Opening the hive finds its lower-case log. */
	{
		struct kp_error err = KP_ERROR_INIT;
		struct buf p = BUF_INIT, log = BUF_INIT;
		struct hive *h;

		setup();
		buf_add(&p, A.data, A.len);
		regf_put32((unsigned char *)p.data + 4, N + 1);
		regf_set_checksum((unsigned char *)p.data);
		hb_save(hb_path("NTUSER.DAT"), &p);
		unlink(hb_path("ntuser.dat.log1"));
		/* A log made by a real commit, renamed to lower case. */
		{
			struct logrec_result scan;
			struct journal_result jr;

			memset(&scan, 0, sizeof(scan));
			CHECK(commit(&scan, &jr, &err) == 0);
			hb_load(hb_path("p.LOG1"), &log);
			hb_save(hb_path("ntuser.dat.log1"), &log);
		}
		CHECK(hive_open(hb_path("NTUSER.DAT"), NULL, &h, &err) == 0);
		if (h) {
			CHECK(hive_state(h)->recovered);
			CHECK(hive_state(h)->logs.log[0].present);
			hive_close(h);
		}
		buf_release(&p);
		buf_release(&log);
	}
	buf_release(&x);
}

/* The primary's path, and where the file opened with it was set aside. */
static char swap_path[256], swap_keep[256];

/* At "open" (the commit has opened the path, not yet checked it): put the
 * file the hive was opened from back at the path. */
static void
swap_back(const char *point)
{
	if (strcmp(point, "open") == 0)
		rename(swap_keep, swap_path);
}

/* The file a journaled commit writes must be the one opened, checked on
 * its descriptor: here the path holds another file when the commit opens
 * it and the opened one again when a check by path would look. */
static void
swapped_under(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_opts co = { 0 };
	struct hive_commit_result res;
	struct buf p = BUF_INIT;
	struct hive *h = NULL;
	uint32_t v = 7;

	setup();
	snprintf(swap_path, sizeof(swap_path), "%s", hb_path("sw"));
	snprintf(swap_keep, sizeof(swap_keep), "%s", hb_path("sw.keep"));
	unlink(hb_path("sw.LOG1"));
	unlink(hb_path("sw.LOG2"));
	hb_save(swap_path, &A);
	CHECK(hive_open(swap_path, &(struct hive_open_opts){
		.flags = HIVE_WRITE }, &h, &err) == 0);
	if (h == NULL)
		return;
	CHECK(hive_set(h, "A1", "v", 4, &v, 4, &err) == 0);
	/* Set the opened file aside; an identical copy takes its place. */
	CHECK(rename(swap_path, swap_keep) == 0);
	hb_save(swap_path, &A);
	journal_test_hook = swap_back;
	co.journal = true;
	CHECK(hive_commit(h, &co, &res, &err) < 0);
	journal_test_hook = NULL;
	CHECK(strstr(err.msg, "changed while kmsprep was editing") != NULL);
	/* Nothing written: the hive is A, and no log was started. */
	CHECK(hb_load(swap_path, &p) == 0);
	CHECK(p.len == A.len && memcmp(p.data, A.data, A.len) == 0);
	CHECK(access(hb_path("sw.LOG1"), F_OK) < 0);
	hive_close(h);
	buf_release(&p);
}

static const struct unit_test tests[] = {
	TEST(entry_format), TEST(log_base_block), TEST(pick_log),
	TEST(diff_pages), TEST(commit_and_replay), TEST(nothing_changed),
	TEST(find_nocase), TEST(swapped_under),
};

UNIT_MAIN(tests)

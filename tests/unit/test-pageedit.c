/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The page editor (hive/pageedit.c): each edit it makes is read back with
 * hive_open (which checks the whole file) and the reader, the pages it did
 * not write are byte-identical, each fallback reason is reached, and
 * hostile cells on the path are refused without reading out of bounds.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hive/hive.h"
#include "hive/pageedit.h"
#include "hive/regval.h"
#include "hivebuild.h"
#include "unit.h"

static const char long_sz[] = "a string of some forty characters, or so";

/* A hive at NAME with key K\S holding values v (SZ), s (a long SZ), d
 * (DWORD) and b (100 bytes of BINARY), and key K\T with one value;
 * written by hivex (no logs).  Left in OUT. */
static int
base_hive(const char *name, struct buf *out)
{
	static const char *const keys[] = { "K\\S", "K\\T", NULL };
	struct kp_error err = KP_ERROR_INIT;
	struct hive_open_opts o = { .flags = HIVE_WRITE | HIVE_NO_LOGS };
	struct hive_commit_result res;
	struct buf v = BUF_INIT;
	unsigned char bin[100];
	struct hive *h;
	int r = -1;

	memset(bin, 0x5a, sizeof(bin));
	if (hb_make(hb_path(name), keys, out) < 0 ||
	    hive_open(hb_path(name), &o, &h, &err) < 0)
		return -1;
	regval_sz(long_sz, &v);
	if (hive_set(h, "K\\S", "s", REGT_SZ, v.data, v.len, &err) == 0 &&
	    hive_set(h, "K\\S", "d", REGT_DWORD, "\7\0\0\0", 4, &err) == 0 &&
	    hive_set(h, "K\\S", "b", REGT_BINARY, bin, sizeof(bin),
		     &err) == 0 &&
	    hive_commit(h, NULL, &res, &err) == 0)
		r = 0;
	if (r < 0)
		printf("# %s\n", err.msg);
	hive_close(h);
	buf_release(&v);
	buf_reset(out);
	return r < 0 ? -1 : hb_load(hb_path(name), out);
}

/* Open NAME for a journaled edit. */
static struct hive *
open_w(const char *name)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_open_opts o = { .flags = HIVE_WRITE };
	struct hive *h = NULL;

	if (hive_open(hb_path(name), &o, &h, &err) < 0)
		printf("# %s\n", err.msg);
	return h;
}

/* Commit H journaled and close it; RES says how. */
static int
commit_j(struct hive *h, struct hive_commit_result *res)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_opts o = { 0 };
	int r;

	o.journal = true;
	r = hive_commit(h, &o, res, &err);
	if (r < 0)
		printf("# %s\n", err.msg);
	hive_close(h);
	return r;
}

/* Value NAME of PATH in hive file NAME, read with hive_open (which checks
 * the whole file) and hive_get: 1 found (V filled), 0 absent, -1 error. */
static int
get(const char *file, const char *path, const char *name,
    struct hive_value *v)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive *h;
	hive_key k;
	int r;

	if (hive_open(hb_path(file), NULL, &h, &err) < 0) {
		printf("# %s\n", err.msg);
		return -1;
	}
	r = hive_find(h, path, &k, &err);
	if (r == 1)
		r = hive_get(h, k, name, v, &err);
	hive_close(h);
	return r;
}

static bool
holds(const char *file, const char *path, const char *name, uint32_t type,
      const void *data, size_t len)
{
	struct hive_value v;
	bool ok;

	memset(&v, 0, sizeof(v));
	if (get(file, path, name, &v) != 1)
		return false;
	ok = v.type == type && v.len == len && memcmp(v.data, data, len) == 0;
	hive_value_release(&v);
	return ok;
}

/* 4 KiB pages of the hive bins that differ between OLD and the file NAME
 * now (appended pages count); the base block is left out. */
static size_t
pages_changed(const struct buf *old, const char *name)
{
	struct buf now = BUF_INIT;
	size_t i, n = 0;

	if (hb_load(hb_path(name), &now) < 0)
		return (size_t)-1;
	for (i = REGF_BASE_SIZE; i < now.len; i += JOURNAL_PAGE)
		if (i >= old->len ||
		    memcmp(now.data + i, old->data + i, JOURNAL_PAGE) != 0)
			n++;
	buf_release(&now);
	return n;
}

static void
set_in_place(void)
{
	struct hive_commit_result res;
	struct buf old = BUF_INIT, v = BUF_INIT, v2 = BUF_INIT;
	struct hive *h;
	struct stat st, st2;

	CHECK(base_hive("set", &old) == 0);
	CHECK(stat(hb_path("set"), &st) == 0);
	/* A shorter string into the old data cell; a DWORD over a string
	 * (inline, the old cell freed); a string over the DWORD (a new
	 * cell); the binary value made longer (a new cell). */
	h = open_w("set");
	CHECK(h != NULL);
	regval_sz("short", &v);
	regval_sz("now a string", &v2);
	{
		struct kp_error err = KP_ERROR_INIT;
		unsigned char bin[300];

		memset(bin, 0xa5, sizeof(bin));
		CHECK(hive_set(h, "K\\S", "s", REGT_SZ, v.data, v.len,
			       &err) == 0);
		CHECK(hive_set(h, "K\\S", "v", REGT_DWORD, "\1\2\3\4", 4,
			       &err) == 0);
		CHECK(hive_set(h, "K\\S", "d", REGT_SZ, v2.data, v2.len,
			       &err) == 0);
		CHECK(hive_set(h, "K\\S", "b", REGT_BINARY, bin, sizeof(bin),
			       &err) == 0);
		CHECK(commit_j(h, &res) == 0);
		CHECK(res.journaled);
		CHECK(res.in_place);
		CHECK_EQ(res.pe_why, PE_OK);
		CHECK(holds("set", "K\\S", "s", REGT_SZ, v.data, v.len));
		CHECK(holds("set", "K\\S", "v", REGT_DWORD, "\1\2\3\4", 4));
		CHECK(holds("set", "K\\S", "d", REGT_SZ, v2.data, v2.len));
		CHECK(holds("set", "K\\S", "b", REGT_BINARY, bin,
			    sizeof(bin)));
	}
	/* The other key is as it was; only the pages written differ. */
	regval_sz("K\\T", &v);
	CHECK(holds("set", "K\\T", "v", REGT_SZ, v.data, v.len));
	CHECK(pages_changed(&old, "set") <= res.pages);
	CHECK(res.pages >= 1 && res.pages <= 2);
	CHECK(stat(hb_path("set"), &st2) == 0);
	CHECK(st2.st_size <= st.st_size + (off_t)JOURNAL_PAGE);
	buf_release(&old);
	buf_release(&v);
	buf_release(&v2);
}

static void
add_and_delete(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_result res;
	struct buf old = BUF_INIT, v = BUF_INIT, mid = BUF_INIT;
	struct hive_value hv;
	char name[32];
	struct hive *h;
	int i;

	CHECK(base_hive("add", &old) == 0);
	/* Enough new values to grow the value list past its cell, one with
	 * a non-ASCII name (stored as UTF-16). */
	h = open_w("add");
	CHECK(h != NULL);
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "new%d", i);
		regval_sz(name, &v);
		CHECK(hive_set(h, "K\\T", name, REGT_SZ, v.data, v.len,
			       &err) == 0);
	}
	CHECK(hive_set(h, "K\\T", "\xc3\xa4rger", REGT_DWORD, "\5\0\0\0", 4,
		       &err) == 0);
	CHECK(hive_set(h, "K\\T", "", REGT_SZ, v.data, v.len, &err) == 0);
	CHECK(commit_j(h, &res) == 0);
	CHECK(res.in_place);
	CHECK_EQ(res.pe_why, PE_OK);
	CHECK(pages_changed(&old, "add") <= res.pages);
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "new%d", i);
		regval_sz(name, &v);
		CHECK(holds("add", "K\\T", name, REGT_SZ, v.data, v.len));
	}
	CHECK(holds("add", "K\\T", "\xc3\xa4rger", REGT_DWORD, "\5\0\0\0",
		    4));
	CHECK(holds("add", "K\\T", "", REGT_SZ, v.data, v.len));
	regval_sz("K\\T", &v);
	CHECK(holds("add", "K\\T", "v", REGT_SZ, v.data, v.len));

	/* Delete: the first, a middle and the last of the list, then every
	 * value of K\S (its list freed). */
	CHECK(hb_load(hb_path("add"), &mid) == 0);
	h = open_w("add");
	CHECK(h != NULL);
	CHECK(hive_unset(h, "K\\T", "v", &err) == 0);
	CHECK(hive_unset(h, "K\\T", "new5", &err) == 0);
	CHECK(hive_unset(h, "K\\T", "", &err) == 0);
	CHECK(hive_unset(h, "K\\S", "v", &err) == 0);
	CHECK(hive_unset(h, "K\\S", "s", &err) == 0);
	CHECK(hive_unset(h, "K\\S", "d", &err) == 0);
	CHECK(hive_unset(h, "K\\S", "b", &err) == 0);
	CHECK(hive_unset(h, "K\\S", "never", &err) == 0);
	CHECK(commit_j(h, &res) == 0);
	CHECK(res.in_place);
	CHECK(pages_changed(&mid, "add") <= res.pages);
	memset(&hv, 0, sizeof(hv));
	CHECK_EQ(get("add", "K\\T", "v", &hv), 0);
	CHECK_EQ(get("add", "K\\T", "new5", &hv), 0);
	CHECK_EQ(get("add", "K\\T", "", &hv), 0);
	CHECK_EQ(get("add", "K\\S", "b", &hv), 0);
	regval_sz("new4", &v);
	CHECK(holds("add", "K\\T", "new4", REGT_SZ, v.data, v.len));
	regval_sz("new11", &v);
	CHECK(holds("add", "K\\T", "new11", REGT_SZ, v.data, v.len));
	{
		struct kp_error e2 = KP_ERROR_INIT;
		struct hive *r;
		hive_key k;
		struct hive_value *vals;
		size_t n;

		CHECK(hive_open(hb_path("add"), NULL, &r, &e2) == 0);
		CHECK(hive_find(r, "K\\S", &k, &e2) == 1);
		CHECK(hive_values(r, k, &vals, &n, &e2) == 0);
		CHECK_EQ(n, 0);
		hive_values_free(vals, n);
		CHECK(hive_find(r, "K\\T", &k, &e2) == 1);
		CHECK(hive_values(r, k, &vals, &n, &e2) == 0);
		CHECK_EQ(n, 12);
		hive_values_free(vals, n);
		hive_close(r);
	}
	/* Adding again reuses the free cells (of the last bin) rather than
	 * appending a bin each time. */
	{
		struct stat a, b;

		CHECK(stat(hb_path("add"), &a) == 0);
		h = open_w("add");
		CHECK(h != NULL);
		CHECK(hive_set(h, "K\\S", "again", REGT_DWORD, "\1\0\0\0", 4,
			       &err) == 0);
		CHECK(commit_j(h, &res) == 0);
		CHECK(res.in_place);
		CHECK(stat(hb_path("add"), &b) == 0);
		CHECK_EQ(a.st_size, b.st_size);
	}
	buf_release(&old);
	buf_release(&mid);
	buf_release(&v);
}

/* Key edits go through hivex, and say why. */
static void
fallback_keys(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_result res;
	struct buf old = BUF_INIT;
	struct hive *h;

	CHECK(base_hive("keys", &old) == 0);
	h = open_w("keys");
	CHECK(h != NULL);
	CHECK(hive_set(h, "K\\New", "x", REGT_DWORD, "\1\0\0\0", 4,
		       &err) == 0);
	CHECK(commit_j(h, &res) == 0);
	CHECK(res.journaled);
	CHECK(!res.in_place);
	CHECK_EQ(res.pe_why, PE_FB_NEW_KEY);
	CHECK(holds("keys", "K\\New", "x", REGT_DWORD, "\1\0\0\0", 4));

	h = open_w("keys");
	CHECK(h != NULL);
	CHECK(hive_delete_key(h, "K\\New", &err) == 0);
	CHECK(commit_j(h, &res) == 0);
	CHECK(!res.in_place);
	CHECK_EQ(res.pe_why, PE_FB_DELETE_KEY);
	buf_release(&old);
}

/* A page editor over a copy of hive bytes B at file NAME. */
static int
pe_over(struct pageedit *e, const char *name, const struct buf *b, int *fd)
{
	struct kp_error err = KP_ERROR_INIT;

	if (hb_save(hb_path(name), b) < 0)
		return -1;
	*fd = open(hb_path(name), O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return -1;
	return pe_open(e, *fd, b->len, 1, &err);
}

static void
pe_done(struct pageedit *e, int fd)
{
	pe_close(e);
	close(fd);
}

/* The hbins-relative offset of key PATH's cell in B. */
static uint32_t
key_at(const struct buf *b, const char *path)
{
	struct kp_error err = KP_ERROR_INIT;
	struct regf r;
	uint32_t k = 0;

	if (regf_open(&r, b->data, b->len, &err) < 0 ||
	    regf_lookup(&r, path, &k) != 1)
		return 0;
	return k;
}

static unsigned char *
hb(struct buf *b, uint32_t off)
{
	return (unsigned char *)b->data + REGF_BASE_SIZE + off;
}

static void
fallback_reasons(void)
{
	struct buf base = BUF_INIT, b = BUF_INIT;
	struct pageedit e;
	unsigned char big[REGF_BIG_DATA + 1];
	uint32_t k, list;
	int fd, i;

	CHECK(base_hive("fb", &base) == 0);
	memset(big, 1, sizeof(big));
	CHECK(strcmp(pe_fallback_str(PE_FB_CELL), "unknown") != 0);
	CHECK_STR(pe_fallback_str(PE_FB_NR), "unknown");

	/* Dirty base block: sequence numbers differ. */
	buf_reset(&b);
	buf_add(&b, base.data, base.len);
	regf_put32((unsigned char *)b.data + 4,
		   regf_le32((unsigned char *)b.data + 8) + 1);
	regf_set_checksum((unsigned char *)b.data);
	CHECK(pe_over(&e, "fb1", &b, &fd) == 0);
	CHECK_EQ(e.why, PE_FB_BASE);
	CHECK_EQ(pe_set(&e, "K\\S", "v", REGT_DWORD, "\1\0\0\0", 4), 1);
	pe_done(&e, fd);
	/* A checksum that does not match. */
	((unsigned char *)b.data)[4] ^= 1;
	CHECK(pe_over(&e, "fb1", &b, &fd) == 0);
	CHECK_EQ(e.why, PE_FB_BASE);
	pe_done(&e, fd);
	/* Hive bins larger than the file. */
	buf_reset(&b);
	buf_add(&b, base.data, base.len);
	regf_put32((unsigned char *)b.data + 0x28, (uint32_t)base.len);
	regf_set_checksum((unsigned char *)b.data);
	CHECK(pe_over(&e, "fb1", &b, &fd) == 0);
	CHECK_EQ(e.why, PE_FB_BASE);
	pe_done(&e, fd);
	/* Version 1.4. */
	buf_reset(&b);
	buf_add(&b, base.data, base.len);
	regf_put32((unsigned char *)b.data + 0x18, 4);
	regf_set_checksum((unsigned char *)b.data);
	CHECK(pe_over(&e, "fb1", &b, &fd) == 0);
	CHECK_EQ(e.why, PE_FB_VERSION);
	pe_done(&e, fd);

	/* On the good hive: a missing key, big data, a bad name. */
	CHECK(pe_over(&e, "fb2", &base, &fd) == 0);
	CHECK_EQ(e.why, PE_OK);
	CHECK_EQ(pe_key(&e, "K\\S"), 0);
	CHECK_EQ(pe_set(&e, "K\\None", "x", REGT_DWORD, "\1\0\0\0", 4), 1);
	CHECK_EQ(e.why, PE_FB_NEW_KEY);
	pe_done(&e, fd);
	CHECK(pe_over(&e, "fb2", &base, &fd) == 0);
	CHECK_EQ(pe_set(&e, "K\\S", "x", REGT_BINARY, big, sizeof(big)), 1);
	CHECK_EQ(e.why, PE_FB_BIG_DATA);
	pe_done(&e, fd);
	CHECK(pe_over(&e, "fb2", &base, &fd) == 0);
	CHECK_EQ(pe_set(&e, "K\\S", "\xff", REGT_DWORD, "\1\0\0\0", 4), 1);
	CHECK_EQ(e.why, PE_FB_NAME);
	pe_done(&e, fd);
	/* More than the view's spare room: values of 16 KiB each. */
	CHECK(pe_over(&e, "fb2", &base, &fd) == 0);
	for (i = 0; i < 200 && e.why == PE_OK; i++) {
		char name[16];

		snprintf(name, sizeof(name), "big%d", i);
		if (pe_set(&e, "K\\T", name, REGT_BINARY, big,
			   REGF_BIG_DATA) != 0)
			break;
	}
	CHECK(i > 10 && i < 200);
	CHECK_EQ(e.why, PE_FB_SPACE);
	pe_done(&e, fd);

	/* Existing big data (over 16344 bytes, a db record). */
	k = key_at(&base, "K\\S");
	CHECK(k != 0);
	list = regf_le32(hb(&base, k) + 4 + 40);
	buf_reset(&b);
	buf_add(&b, base.data, base.len);
	{
		/* The first value's record: data size made big. */
		uint32_t vk = regf_le32(hb(&b, list) + 4);

		regf_put32(hb(&b, vk) + 4 + 4, REGF_BIG_DATA + 10);
	}
	CHECK(pe_over(&e, "fb3", &b, &fd) == 0);
	CHECK_EQ(pe_set(&e, "K\\S", "v", REGT_DWORD, "\1\0\0\0", 4), 1);
	CHECK_EQ(e.why, PE_FB_BIG_DATA);
	pe_done(&e, fd);
	/* A value named twice: the list's second entry made the first's. */
	buf_reset(&b);
	buf_add(&b, base.data, base.len);
	regf_put32(hb(&b, list) + 8, regf_le32(hb(&b, list) + 4));
	CHECK(pe_over(&e, "fb3", &b, &fd) == 0);
	CHECK_EQ(pe_set(&e, "K\\S", "v", REGT_DWORD, "\1\0\0\0", 4), 1);
	CHECK_EQ(e.why, PE_FB_DUP_VALUE);
	pe_done(&e, fd);
	buf_release(&base);
	buf_release(&b);
}

/* Hostile cells on the path: refused as PE_FB_CELL, never read out of
 * bounds (run under SANITIZE=address to see that). */
static void
hostile(void)
{
	struct buf base = BUF_INIT, b = BUF_INIT;
	struct pageedit e;
	uint32_t k, list, vk, end, hbin;
	int fd, i;

	CHECK(base_hive("ho", &base) == 0);
	k = key_at(&base, "K\\S");
	list = regf_le32(hb(&base, k) + 4 + 40);
	vk = regf_le32(hb(&base, list) + 4);
	end = regf_le32((unsigned char *)base.data + 0x28);
	hbin = k - k % JOURNAL_PAGE;
	CHECK(memcmp(hb(&base, hbin), "hbin", 4) == 0);

	for (i = 0; i < 9; i++) {
		buf_reset(&b);
		buf_add(&b, base.data, base.len);
		switch (i) {
		case 0:	/* value count far larger than the list */
			regf_put32(hb(&b, k) + 4 + 36, 0x40000000);
			break;
		case 1:	/* value count overflowing count * 4 */
			regf_put32(hb(&b, k) + 4 + 36, 0xffffffff);
			break;
		case 2:	/* list offset past the end */
			regf_put32(hb(&b, k) + 4 + 40, end + 0x1000);
			break;
		case 3:	/* list cell size past its bin */
			regf_put32(hb(&b, list), 0u - (end - list + 8));
			break;
		case 4:	/* value record size past its bin */
			regf_put32(hb(&b, vk), 0x80000000u);
			break;
		case 5:	/* the bin's size past the hive bins */
			regf_put32(hb(&b, hbin) + 8, end + 0x1000);
			break;
		case 6:	/* no bin header at all */
			memcpy(hb(&b, hbin), "nbin", 4);
			break;
		case 7:	/* value name longer than its record */
			b.data[REGF_BASE_SIZE + vk + 4 + 2] = (char)0xff;
			b.data[REGF_BASE_SIZE + vk + 4 + 3] = (char)0xff;
			break;
		case 8:	/* data offset past the end */
			regf_put32(hb(&b, vk) + 4 + 4, 0x100);
			regf_put32(hb(&b, vk) + 4 + 8, 0xfffffff0);
			break;
		}
		CHECK(pe_over(&e, "ho1", &b, &fd) == 0);
		CHECK_EQ(e.why, PE_OK);
		/* Set the first value (whichever it is) and add one. */
		CHECK_EQ(pe_set(&e, "K\\S", "v", REGT_SZ, "abcdefgh", 8) |
			 pe_set(&e, "K\\S", "s", REGT_SZ, "abcdefgh", 8) |
			 pe_set(&e, "K\\S", "zz", REGT_SZ, "abcdefgh", 8), 1);
		if (e.why != PE_FB_CELL)
			printf("# case %d: %s\n", i, pe_fallback_str(e.why));
		CHECK_EQ(e.why, PE_FB_CELL);
		pe_done(&e, fd);
		/* The check after an edit sees the same damage. */
		CHECK(pe_over(&e, "ho1", &b, &fd) == 0);
		CHECK_EQ(pe_check_key(&e, "K\\S"), 1);
		CHECK_EQ(e.why, PE_FB_CELL);
		pe_done(&e, fd);
	}
	CHECK(pe_over(&e, "ho1", &base, &fd) == 0);
	CHECK_EQ(pe_check_key(&e, "K\\S"), 0);
	pe_done(&e, fd);
	/* Random damage near the key: never a crash; what it edits still
	 * reads back with the bounds-checked reader. */
	srand(15);
	for (i = 0; i < 300; i++) {
		int j;
		struct pageedit e2;

		buf_reset(&b);
		buf_add(&b, base.data, base.len);
		for (j = 0; j < 4; j++) {
			uint32_t at = (uint32_t)rand() % JOURNAL_PAGE;
			uint32_t pg = (j & 1) ? k - k % JOURNAL_PAGE :
				      list - list % JOURNAL_PAGE;

			if (pg + at < end)
				b.data[REGF_BASE_SIZE + pg + at] =
					(char)rand();
		}
		CHECK(pe_over(&e2, "ho2", &b, &fd) == 0);
		if (e2.why == PE_OK &&
		    pe_set(&e2, "K\\S", "zz", REGT_SZ, "abcdefgh", 8) == 0) {
			struct kp_error err = KP_ERROR_INIT;
			struct buf d = BUF_INIT;
			struct regf r;
			uint32_t kk, t;

			CHECK(pe_regf(&e2, &r, &err) == 0);
			CHECK_EQ(regf_lookup(&r, "K\\S", &kk), 1);
			CHECK_EQ(regf_value(&r, kk, "zz", &t, &d), 1);
			buf_release(&d);
		}
		pe_done(&e2, fd);
	}
	buf_release(&base);
	buf_release(&b);
}

/* A deleted value's cells are free and cleared (it may have held a
 * product key). */
/* A hostile hive whose value's data cell is another key's key cell
 * passes the open-time check, and the editor checks only the cells it
 * touches: the edited hive is checked whole before anything is written,
 * so the key is not overwritten. */
static void
aliased_cells(void)
{
	struct buf b = BUF_INIT, after = BUF_INIT;
	struct hive_commit_result res;
	struct kp_error err = KP_ERROR_INIT;
	uint32_t s, t, list, nval, i;
	unsigned char *nk;
	struct hive *h;
	bool aimed = false;

	CHECK_EQ(base_hive("alias", &b), 0);
	s = key_at(&b, "K\\S");
	t = key_at(&b, "K\\T");
	CHECK(s != 0 && t != 0);
	nk = hb(&b, s) + 4;
	nval = regf_le32(nk + 36);
	list = regf_le32(nk + 40);
	for (i = 0; i < nval && !aimed; i++) {
		unsigned char *vk = hb(&b, regf_le32(hb(&b, list) + 4 +
							4 * i)) + 4;

		/* Value "b": 100 bytes in a cell; now 8 bytes at K\T. */
		if (regf_le16(vk + 2) == 1 && vk[20] == 'b') {
			regf_put32(vk + 4, 8);
			regf_put32(vk + 8, t);
			aimed = true;
		}
	}
	CHECK(aimed);
	CHECK_EQ(hb_save(hb_path("alias"), &b), 0);
	h = open_w("alias");
	CHECK(h != NULL);
	if (h == NULL)
		goto out;
	CHECK_EQ(hive_set(h, "K\\S", "b", REGT_BINARY, "AAAAAAAA", 8, &err),
		 0);
	CHECK(commit_j(h, &res) < 0);
	/* Nothing written: K\T is still a key. */
	CHECK_EQ(hb_load(hb_path("alias"), &after), 0);
	CHECK(after.len == b.len && memcmp(after.data, b.data, b.len) == 0);
out:
	buf_release(&b);
	buf_release(&after);
}

static void
freed_cleared(void)
{
	struct buf base = BUF_INIT;
	struct pageedit e;
	uint32_t k, list, vk = 0, data, i, n, size;
	const unsigned char *c;
	int fd;

	CHECK(base_hive("fc", &base) == 0);
	k = key_at(&base, "K\\S");
	list = regf_le32(hb(&base, k) + 4 + 40);
	n = regf_le32(hb(&base, k) + 4 + 36);
	for (i = 0; i < n; i++) {
		vk = regf_le32(hb(&base, list) + 4 + 4 * i);
		if (regf_le16(hb(&base, vk) + 4 + 2) == 1 &&
		    hb(&base, vk)[4 + 20] == 's')
			break;
	}
	CHECK(i < n);
	data = regf_le32(hb(&base, vk) + 4 + 8);
	CHECK(pe_over(&e, "fc1", &base, &fd) == 0);
	CHECK_EQ(pe_unset(&e, "K\\S", "s"), 0);
	c = e.p + REGF_BASE_SIZE + data;
	size = regf_le32(c);
	CHECK((int32_t)size > 8);
	for (i = 4; i < size; i++)
		if (c[i])
			break;
	CHECK_EQ(i, size);
	CHECK((int32_t)regf_le32(e.p + REGF_BASE_SIZE + vk) > 0);
	pe_done(&e, fd);
	buf_release(&base);
}

/* An edit that leaves every byte as it was (the same value, at the same
 * time) logs and writes no page. */
static void
same_again(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_result res;
	struct buf old = BUF_INIT, mid = BUF_INIT, now = BUF_INIT;
	struct hive *h;
	int pass;

	CHECK(base_hive("same", &old) == 0);
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	for (pass = 0; pass < 2; pass++) {
		h = open_w("same");
		CHECK(h != NULL);
		CHECK(hive_set(h, "K\\S", "d", REGT_DWORD, "\11\0\0\0", 4,
			       &err) == 0);
		CHECK(commit_j(h, &res) == 0);
		CHECK(res.in_place);
		if (pass == 0) {
			CHECK(res.pages >= 1 && res.pages <= 2);
			CHECK(hb_load(hb_path("same"), &mid) == 0);
		} else {
			CHECK_EQ(res.pages, 0);
			CHECK(!res.written);
		}
	}
	unsetenv("SOURCE_DATE_EPOCH");
	CHECK(hb_load(hb_path("same"), &now) == 0);
	CHECK(now.len == mid.len && memcmp(now.data, mid.data, now.len) == 0);
	buf_release(&old);
	buf_release(&mid);
	buf_release(&now);
}

static const struct unit_test tests[] = {
	TEST(same_again),
	TEST(aliased_cells),
	TEST(freed_cleared),
	TEST(set_in_place),
	TEST(add_and_delete),
	TEST(fallback_keys),
	TEST(fallback_reasons),
	TEST(hostile),
};

UNIT_MAIN(tests)

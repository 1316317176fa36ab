/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hive layer over hivex: edits that must be refused rather than damage
 * a value, dirty hives whose version comes from the log, files changed
 * under an edit, names that cannot be exported.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <hivex.h>

#include "hive/hive.h"
#include "hive/marvin32.h"
#include "hive/regf.h"
#include "hive/regtext.h"
#include "hivebuild.h"
#include "unit.h"

#define SPPK "Microsoft\\Windows NT\\CurrentVersion\\SoftwareProtectionPlatform"

/* Allocate a cell of LEN data bytes at *POS of the bin at H (BASE is the
 * bin's hbins-relative offset); returns its offset. */
static uint32_t
bcell(unsigned char *h, uint32_t base, uint32_t *pos, uint32_t len)
{
	uint32_t size = (len + 4 + 7) & ~7u, off = *pos;

	regf_put32(h + off, 0u - size);
	*pos += size;
	return base + off;
}

/* Append a hive bin holding a 20000-byte REG_BINARY "Big" stored in two
 * big-data segments, and add it to the values of key KEY (by offset). */
static void
add_big_value(struct buf *b, uint32_t key)
{
	const uint32_t bin = 0x8000, base = regf_le32((unsigned char *)b->data + 0x28);
	unsigned char *h, *nk;
	uint32_t pos = 0x20, s1, s2, lst, db, vk, vl, nval, oldvl, i;

	buf_grow(b, bin);
	memset(b->data + b->len, 0, bin);
	b->len = REGF_BASE_SIZE + base + bin;
	h = (unsigned char *)b->data + REGF_BASE_SIZE + base;
	memcpy(h, "hbin", 4);
	regf_put32(h + 4, base);
	regf_put32(h + 8, bin);

	s1 = bcell(h, base, &pos, 16344);
	for (i = 0; i < 16344; i++)
		h[s1 - base + 4 + i] = (unsigned char)i;
	s2 = bcell(h, base, &pos, 20000 - 16344);
	lst = bcell(h, base, &pos, 8);
	regf_put32(h + lst - base + 4, s1);
	regf_put32(h + lst - base + 8, s2);
	db = bcell(h, base, &pos, 12);
	memcpy(h + db - base + 4, "db", 2);
	h[db - base + 6] = 2;
	regf_put32(h + db - base + 8, lst);
	vk = bcell(h, base, &pos, 23);
	memcpy(h + vk - base + 4, "vk", 2);
	h[vk - base + 6] = 3;
	regf_put32(h + vk - base + 8, 20000);
	regf_put32(h + vk - base + 12, db);
	regf_put32(h + vk - base + 16, REGT_BINARY);
	h[vk - base + 20] = 1;
	memcpy(h + vk - base + 24, "Big", 3);
	nk = (unsigned char *)b->data + REGF_BASE_SIZE + key + 4;
	nval = regf_le32(nk + 36);
	oldvl = regf_le32(nk + 40);
	vl = bcell(h, base, &pos, 4 * (nval + 1));
	for (i = 0; i < nval; i++)
		regf_put32(h + vl - base + 4 + 4 * i,
			   regf_le32((unsigned char *)b->data + REGF_BASE_SIZE +
				     oldvl + 4 + 4 * i));
	regf_put32(h + vl - base + 4 + 4 * nval, vk);
	regf_put32(h + pos, bin - pos);
	regf_put32(nk + 36, nval + 1);
	regf_put32(nk + 40, vl);
	/* The old list is unreferenced now; free it so no cell is shared. */
	regf_put32((unsigned char *)b->data + REGF_BASE_SIZE + oldvl,
		   0u - regf_le32((unsigned char *)b->data + REGF_BASE_SIZE + oldvl));
	regf_put32((unsigned char *)b->data + 0x28, base + bin);
	regf_set_checksum((unsigned char *)b->data);
}

/* A hive whose SPP key holds a big-data value. */
static void
make_big(const char *path, struct buf *b)
{
	static const char *const keys[] = { SPPK, NULL };
	struct kp_error err = KP_ERROR_INIT;
	struct regf r;
	uint32_t k;

	hb_make(path, keys, b);
	regf_open(&r, b->data, b->len, &err);
	regf_lookup(&r, SPPK, &k);
	add_big_value(b, k);
	hb_save(path, b);
}

static int
set_kms(const char *path, struct kp_error *err)
{
	struct hive_open_opts o = { .flags = HIVE_WRITE };
	struct hive *h;
	int r;

	if (hive_open(path, &o, &h, err) < 0)
		return -1;
	r = hive_set(h, SPPK, "KeyManagementServiceName", REGT_SZ,
		     "k\0\0\0", 4, err);
	hive_close(h);
	return r;
}

static void
big_data_kept_intact(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf b = BUF_INIT, d = BUF_INIT;
	struct regf r;
	uint32_t k, type;

	make_big(hb_path("big"), &b);
	CHECK(regf_validate((unsigned char *)b.data, b.len, NULL, &err) == 0);
	/* The reader puts the segments back together. */
	regf_open(&r, b.data, b.len, &err);
	CHECK_EQ(regf_lookup(&r, SPPK, &k), 1);
	CHECK_EQ(regf_value(&r, k, "Big", &type, &d), 1);
	CHECK_EQ(d.len, 20000);
	CHECK_EQ((unsigned char)d.data[1000], 1000 & 0xff);
	/* hivex would rewrite it as one cell: refused. */
	CHECK(set_kms(hb_path("big"), &err) < 0);
	CHECK(strstr(err.msg, "value 'Big' of 20000 bytes") != NULL);
	buf_release(&b);
	buf_release(&d);
}

/* A dirty primary with a bad checksum and version 1.3, whose log says 1.5:
 * the version of the recovered hive is the log's. */
static void
recovered_version_counts(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf b = BUF_INIT, log = BUF_INIT, p = BUF_INIT;
	uint32_t hb, n, size;
	unsigned char *e;
	char lp[300];

	make_big(hb_path("v"), &b);
	hb = regf_le32((unsigned char *)b.data + 0x28);
	n = regf_le32((unsigned char *)b.data + 4);
	buf_add(&log, b.data, 512);
	regf_put32((unsigned char *)log.data + 4, n);
	regf_put32((unsigned char *)log.data + 8, n);
	regf_put32((unsigned char *)log.data + 0x1c, 6);
	regf_set_checksum((unsigned char *)log.data);
	size = (40 + 8 + hb + 511) & ~511u;
	buf_grow(&log, size);
	memset(log.data + 512, 0, size);
	log.len = 512 + size;
	e = (unsigned char *)log.data + 512;
	memcpy(e, "HvLE", 4);
	regf_put32(e + 4, size);
	regf_put32(e + 12, n);
	regf_put32(e + 16, hb);
	regf_put32(e + 20, 1);
	regf_put32(e + 44, hb);
	memcpy(e + 48, b.data + 0x1000, hb);
	regf_put64(e + 24, marvin32(e + 40, size - 40, MARVIN32_REGISTRY_SEED));
	regf_put64(e + 32, marvin32(e, 32, MARVIN32_REGISTRY_SEED));
	buf_add(&p, b.data, b.len);
	regf_put32((unsigned char *)p.data + 4, n + 1);
	regf_put32((unsigned char *)p.data + 0x18, 3);	/* bad checksum now */
	hb_save(hb_path("d"), &p);
	snprintf(lp, sizeof(lp), "%s.LOG1", hb_path("d"));
	hb_save(lp, &log);
	CHECK(set_kms(hb_path("d"), &err) < 0);
	CHECK(strstr(err.msg, "value 'Big' of 20000 bytes") != NULL);
	buf_release(&b);
	buf_release(&log);
	buf_release(&p);
}

static void
changed_under_edit(void)
{
	static const char *const keys[] = { "A", NULL };
	struct hive_open_opts o = { .flags = HIVE_WRITE | HIVE_NO_LOGS };
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_result res;
	struct buf b = BUF_INIT, after = BUF_INIT;
	struct hive *h;
	struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };

	hb_make(hb_path("c"), keys, &b);
	CHECK(hive_open(hb_path("c"), &o, &h, &err) == 0);
	CHECK(hive_set(h, "A", "x", REGT_DWORD, "\1\0\0\0", 4, &err) == 0);
	utimensat(AT_FDCWD, hb_path("c"), ts, 0);	/* someone else wrote */
	CHECK(hive_commit(h, NULL, &res, &err) < 0);
	CHECK(strstr(err.msg, "changed while kmsprep was editing it") != NULL);
	CHECK(!res.written);
	hive_close(h);
	hb_load(hb_path("c"), &after);
	CHECK(after.len == b.len && memcmp(after.data, b.data, b.len) == 0);
	buf_release(&b);
	buf_release(&after);
}

/* A key name .reg text cannot carry (it would forge lines of the file)
 * is left out with all below it, said in a comment and in LEFT; the rest
 * is exported. */
static void
export_leaves_out_forged_lines(void)
{
	static const char *const keys[] = { "Good", NULL };
	struct kp_error err = KP_ERROR_INIT;
	struct buf b = BUF_INIT, out = BUF_INIT, left = BUF_INIT;
	struct hive *h;
	hive_h *hx;
	hive_node_h bad;

	hb_make(hb_path("x"), keys, &b);
	hx = hivex_open(hb_path("x"), HIVEX_OPEN_WRITE);
	CHECK(hx != NULL);
	bad = hivex_node_add_child(hx, hivex_root(hx), "X]\n\n[HKLM\\Run");
	CHECK(bad != 0);
	CHECK(hivex_node_add_child(hx, bad, "Below") != 0);
	CHECK(hivex_commit(hx, NULL, 0) == 0);
	hivex_close(hx);
	CHECK(hive_open(hb_path("x"), NULL, &h, &err) == 0);
	CHECK(regtext_export(h, "", "HKEY_LOCAL_MACHINE\\SOFTWARE", &out,
			     &left, &err) == 0);
	CHECK(strstr(buf_str(&out), "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Good]") !=
	      NULL);
	CHECK(strstr(buf_str(&out), "\n[HKLM") == NULL);
	CHECK(strstr(buf_str(&out), "Below") == NULL);
	CHECK(strstr(buf_str(&out), "; key 'HKEY_LOCAL_MACHINE\\SOFTWARE\\"
		     "X]\\x0a\\x0a[HKLM\\Run' left out") != NULL);
	CHECK_STR(buf_str(&left), "key 'HKEY_LOCAL_MACHINE\\SOFTWARE\\"
		  "X]\\x0a\\x0a[HKLM\\Run'\n");
	hive_close(h);
	buf_release(&b);
	buf_release(&out);
	buf_release(&left);
}

/* A layered key's tombstone (regf-spec, "Layered keys"): marked in an
 * export, and nothing is written at or below it. */
static void
key_tombstones(void)
{
	static const char *const keys[] = { "Gone", "Kept", NULL };
	struct hive_open_opts o = { .flags = HIVE_WRITE | HIVE_NO_LOGS };
	struct kp_error err = KP_ERROR_INIT;
	struct buf b = BUF_INIT, out = BUF_INIT, v = BUF_INIT;
	struct regf r;
	struct hive *h;
	hive_key k;
	uint32_t nk;
	unsigned char *base;

	CHECK(hb_make(hb_path("t"), keys, &b) == 0);
	CHECK(regf_open(&r, b.data, b.len, &err) == 0);
	CHECK(regf_lookup(&r, "Gone", &nk) == 1);
	/* The hive supports layered keys; Gone's layer semantics: 1. */
	base = (unsigned char *)b.data;
	base[0x90] |= REGF_LAYERED;
	regf_set_checksum(base);
	((unsigned char *)b.data)[REGF_BASE_SIZE + nk + 4 + 13] = 0x01;
	CHECK(hb_save(hb_path("t"), &b) == 0);
	CHECK(hive_open(hb_path("t"), &o, &h, &err) == 0);
	CHECK(hive_find(h, "Gone", &k, &err) == 1);
	CHECK(hive_key_tombstone(h, k, &err) == 1);
	CHECK(hive_find(h, "Kept", &k, &err) == 1);
	CHECK(hive_key_tombstone(h, k, &err) == 0);
	CHECK(regtext_export(h, "", "HKEY_LOCAL_MACHINE\\SOFTWARE", &out, NULL,
			     &err) == 0);
	CHECK(strstr(buf_str(&out), "; the next key is a tombstone (a layered "
		     "key's mark for a deleted key)\n[HKEY_LOCAL_MACHINE\\"
		     "SOFTWARE\\Gone]") != NULL);
	regval_sz("x", &v);
	CHECK(hive_set(h, "Gone\\Sub", "v", REGT_SZ, v.data, v.len, &err) < 0);
	CHECK(strstr(err.msg, "tombstone") != NULL);
	CHECK(hive_set(h, "Gone", "w", REGT_SZ, v.data, v.len, &err) < 0);
	CHECK(hive_set(h, "Kept\\Sub", "v", REGT_SZ, v.data, v.len, &err) == 0);
	hive_close(h);
	buf_release(&b);
	buf_release(&out);
	buf_release(&v);
}

static void
unicode_names_fold(void)
{
	static const char *const keys[] = { "\xc3\x84rger", NULL };	/* Ärger */
	struct hive_open_opts o = { .flags = HIVE_WRITE | HIVE_NO_LOGS };
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_result res;
	struct buf b = BUF_INIT;
	struct regf r;
	struct hive *h;
	hive_key k;

	hb_make(hb_path("u"), keys, &b);
	CHECK(hive_open(hb_path("u"), &o, &h, &err) == 0);
	CHECK_EQ(hive_find(h, "\xc3\xa4RGER", &k, &err), 1);	/* äRGER */
	CHECK(hive_set(h, "\xc3\xa4rger", "w", REGT_DWORD, "\2\0\0\0", 4,
		       &err) == 0);
	CHECK(hive_commit(h, NULL, &res, &err) == 0);
	hive_close(h);
	hb_load(hb_path("u"), &b);
	regf_open(&r, b.data, b.len, &err);
	CHECK_EQ(regf_nr_subkeys(&r, r.root), 1);
	buf_release(&b);
}

/* Commit H with CO, close it, and read the file back into B and R; the
 * offset of key "K" in *K. */
static void
commit_reread(struct hive *h, const struct hive_commit_opts *co,
	      const char *path, struct buf *b, struct regf *r, uint32_t *k)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_result res;

	CHECK(hive_commit(h, co, &res, &err) == 0);
	hive_close(h);
	hb_load(path, b);
	CHECK(regf_open(r, b->data, b->len, &err) == 0);
	CHECK(regf_lookup(r, "K", k) == 1);
}

/* Value names fold as Windows folds them, not only in ASCII: setting
 * a-umlaut replaces A-umlaut, unsetting it removes that value, with hivex
 * (a rewrite) as with the page editor (journaled). */
static void
unicode_value_names_fold(void)
{
	static const char *const keys[] = { "K", NULL };
	struct hive_open_opts o = { .flags = HIVE_WRITE | HIVE_NO_LOGS };
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_result res;
	struct buf b = BUF_INIT;
	struct regf r;
	struct hive *h;
	struct buf data = BUF_INIT;
	uint32_t k, type;

	for (int journal = 0; journal < 2; journal++) {
		struct hive_commit_opts co = { .journal = journal };

		hb_make(hb_path("uv"), keys, &b);
		CHECK(hive_open(hb_path("uv"), &o, &h, &err) == 0);
		CHECK(hive_set(h, "K", "\xc3\x84", REGT_DWORD, "\1\0\0\0", 4,
			       &err) == 0);
		CHECK(hive_commit(h, NULL, &res, &err) == 0);
		hive_close(h);
		o.flags = journal ? HIVE_WRITE : HIVE_WRITE | HIVE_NO_LOGS;
		CHECK(hive_open(hb_path("uv"), &o, &h, &err) == 0);
		CHECK(hive_set(h, "K", "\xc3\xa4", REGT_DWORD, "\2\0\0\0", 4,
			       &err) == 0);
		commit_reread(h, &co, hb_path("uv"), &b, &r, &k);
		/* "v" (hb_make's) and the one replaced. */
		CHECK_EQ(regf_nr_values(&r, k), 2);
		CHECK(regf_value(&r, k, "\xc3\x84", &type, &data) == 1 &&
		      type == REGT_DWORD && data.len == 4 && data.data[0] == 2);
		buf_release(&data);
		CHECK(hive_open(hb_path("uv"), &o, &h, &err) == 0);
		CHECK_EQ(hive_unset(h, "K", "\xc3\xa4", &err), 0);
		commit_reread(h, &co, hb_path("uv"), &b, &r, &k);
		CHECK_EQ(regf_nr_values(&r, k), 1);
		/* An ASCII name folds to a stored long s (U+017F) too; a
		 * key path folds when a key is deleted. */
		CHECK(hive_open(hb_path("uv"), &o, &h, &err) == 0);
		CHECK(hive_set(h, "K", "\xc5\xbfize", REGT_DWORD,
			       "\1\0\0\0", 4, &err) == 0);
		CHECK(hive_set(h, "K", "SIZE", REGT_DWORD, "\3\0\0\0", 4,
			       &err) == 0);
		CHECK(hive_set(h, "K\\\xc3\xa4", "x", REGT_DWORD,
			       "\3\0\0\0", 4, &err) == 0);
		CHECK_EQ(hive_delete_key(h, "K\\\xc3\x84", &err), 0);
		commit_reread(h, &co, hb_path("uv"), &b, &r, &k);
		CHECK_EQ(regf_nr_values(&r, k), 2);
		CHECK(regf_value(&r, k, "size", &type, &data) == 1 &&
		      data.data[0] == 3);
		CHECK_EQ(regf_lookup(&r, "K\\\xc3\xa4", &k), 0);
		o.flags = HIVE_WRITE | HIVE_NO_LOGS;
	}
	buf_release(&data);
	buf_release(&b);
}

/* Values set on existing keys wait for the commit while hivex has the
 * file read-only: reads see them, and an edit that needs hivex's own copy
 * (a new key) gives them to it first. */
static void
deferred_values(void)
{
	static const char *const keys[] = { "K", NULL };
	struct hive_open_opts o = { .flags = HIVE_WRITE };
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_result res;
	struct hive_value v, *vals = NULL;
	struct buf b = BUF_INIT, data = BUF_INIT;
	size_t n = 0;
	struct regf r;
	struct hive *h;
	uint32_t k, type;
	hive_key hk;

	for (int newkey = 0; newkey < 2; newkey++) {
		hb_make(hb_path("dv"), keys, &b);
		CHECK(hive_open(hb_path("dv"), &o, &h, &err) == 0);
		CHECK(hive_set(h, "K", "v", REGT_DWORD, "\7\0\0\0", 4,
			       &err) == 0);
		CHECK(hive_set(h, "K", "w", REGT_DWORD, "\5\0\0\0", 4,
			       &err) == 0);
		CHECK(hive_set(h, "K", "W", REGT_DWORD, "\6\0\0\0", 4,
			       &err) == 0);
		CHECK_EQ(hive_find(h, "K", &hk, &err), 1);
		CHECK_EQ(hive_get(h, hk, "V", &v, &err), 1);
		CHECK(v.len == 4 && v.data[0] == 7);
		hive_value_release(&v);
		/* "v" in its place, "w" once, after it. */
		CHECK(hive_values(h, hk, &vals, &n, &err) == 0);
		CHECK(n == 2 && strcmp(vals[0].name, "v") == 0 &&
		      vals[0].data[0] == 7 && vals[1].data[0] == 6);
		hive_values_free(vals, n);
		if (newkey)
			CHECK(hive_set(h, "K\\New", "x", REGT_DWORD,
				       "\1\0\0\0", 4, &err) == 0);
		CHECK(hive_commit(h, &(struct hive_commit_opts){ .journal =
			true }, &res, &err) == 0);
		CHECK(res.written && res.journaled);
		CHECK_EQ(res.in_place, !newkey);
		hive_close(h);
		hb_load(hb_path("dv"), &b);
		CHECK(regf_open(&r, b.data, b.len, &err) == 0);
		CHECK(regf_lookup(&r, "K", &k) == 1);
		CHECK_EQ(regf_nr_values(&r, k), 2);
		CHECK(regf_value(&r, k, "v", &type, &data) == 1 &&
		      data.data[0] == 7);
		CHECK(regf_value(&r, k, "w", &type, &data) == 1 &&
		      data.data[0] == 6);
		CHECK_EQ(regf_lookup(&r, "K\\New", &k), newkey);
	}
	buf_release(&data);
	buf_release(&b);
}

static void
windows_key_order(void)
{
	static const char *const keys[] = { "abc", NULL };
	struct hive_open_opts o = { .flags = HIVE_WRITE | HIVE_NO_LOGS };
	struct kp_error err = KP_ERROR_INIT;
	struct buf b = BUF_INIT;
	struct hive *h;

	/* Windows sorts "abc" before "_x" ('A' < '_'); strcasecmp does not.
	 * Either hivex gets it right, or the edit is refused. */
	hb_make(hb_path("o"), keys, &b);
	CHECK(hive_open(hb_path("o"), &o, &h, &err) == 0);
	if (hive_mkpath(h, "_x", NULL, &err) < 0)
		CHECK(strstr(err.msg, "out of the order Windows") != NULL);
	hive_close(h);
	buf_release(&b);
}

static uint64_t
key_time(const struct buf *b, const char *path)
{
	struct kp_error err = KP_ERROR_INIT;
	struct regf r;
	uint32_t k;
	uint64_t ts = 0;

	if (regf_open(&r, b->data, b->len, &err) < 0 ||
	    regf_lookup(&r, path, &k) != 1 || regf_key_timestamp(&r, k, &ts) < 0)
		return 0;
	return ts;
}

/* As in Windows: a new key and the keys whose values or subkeys change get
 * the time of the change (SOURCE_DATE_EPOCH here); other keys keep theirs. */
static void
key_times(void)
{
	static const char *const keys[] = { "A", "A\\Old", "B", "C\\D", NULL };
	const uint64_t epoch = 1700000000ull;
	const uint64_t want = (epoch + 11644473600ull) * 10000000ull;
	struct kp_error err = KP_ERROR_INIT;
	struct hive_open_opts o = { .flags = HIVE_WRITE | HIVE_NO_LOGS };
	struct hive_commit_result res;
	struct buf b = BUF_INIT;
	uint64_t old_b, old_old, old_root;
	struct hive *h;

	unsetenv("SOURCE_DATE_EPOCH");
	CHECK(hb_make(hb_path("times"), keys, &b) == 0);
	old_b = key_time(&b, "B");
	old_old = key_time(&b, "A\\Old");
	old_root = key_time(&b, "");
	CHECK(old_b != 0 && old_b != want);
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	CHECK(hive_open(hb_path("times"), &o, &h, &err) == 0);
	if (h == NULL)
		return;
	CHECK(hive_set(h, "A\\New\\Leaf", "v", REGT_DWORD, "\1\0\0\0", 4,
		       &err) == 0);
	CHECK(hive_set(h, "B", "w", REGT_DWORD, "\2\0\0\0", 4, &err) == 0);
	CHECK(hive_delete_key(h, "C\\D", &err) == 0);
	CHECK(hive_commit(h, NULL, &res, &err) == 0);
	hive_close(h);
	unsetenv("SOURCE_DATE_EPOCH");
	CHECK(hb_load(hb_path("times"), &b) == 0);
	CHECK_EQ(key_time(&b, "A\\New\\Leaf"), want);	/* created */
	CHECK_EQ(key_time(&b, "A\\New"), want);		/* created */
	CHECK_EQ(key_time(&b, "A"), want);		/* got a subkey */
	CHECK_EQ(key_time(&b, "B"), want);		/* got a value */
	CHECK_EQ(key_time(&b, "C"), want);		/* lost a subkey */
	CHECK_EQ(key_time(&b, "A\\Old"), old_old);	/* untouched */
	CHECK_EQ(key_time(&b, ""), old_root);
	buf_release(&b);
}

static const struct unit_test tests[] = {
	TEST(big_data_kept_intact), TEST(recovered_version_counts),
	TEST(changed_under_edit), TEST(export_leaves_out_forged_lines),
	TEST(key_tombstones),
	TEST(unicode_names_fold), TEST(unicode_value_names_fold),
	TEST(deferred_values), TEST(windows_key_order), TEST(key_times),
};

UNIT_MAIN(tests)

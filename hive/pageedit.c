/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * On-demand cell editor; see pageedit.h.  Written by hand because hivex
 * loads and re-serializes the whole hive for any edit, and no library
 * edits regf cells in place.
 *
 * The view is a private (copy-on-write) mapping of the primary file
 * followed by anonymous spare space for appended bins: only the pages
 * read come into memory, only the pages written are copied, and the
 * result is one flat image that regf.c's reader and journal.c's planner
 * take as they are.  Every cell read is bounds-checked against its hive
 * bin (whose header is read from the cell's page or the pages before it),
 * as hostile files must not steer a read or a write outside the view.
 *
 * Format: https://github.com/msuhanov/regf/blob/master/Windows%20registry%20file%20format%20specification.md
 * ("Hive bins", "Cells", "Key node", "Key value", "Value list").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/utf.h"
#include "pageedit.h"

#define NK_FIXED 76
#define VK_FIXED 20
#define VALUE_COMP_NAME 0x0001
#define HBIN_HDR 0x20u
#define DATA_INLINE 0x80000000u
/* Room for appended bins: a few values' cells, never more than this. */
#define PE_SPARE ((size_t)1 << 20)
/* How far back to look for a cell's hive bin header.  Windows makes a
 * bin larger than 4 KiB only for a cell that does not fit in one, so a
 * cell this far into a bin is one of big data, which is left to hivex. */
#define PE_BIN_SCAN 256u

static const char *const fb_str[PE_FB_NR] = {
	[PE_OK] = "edited in place",
	[PE_FB_BASE] = "the base block is not clean or does not check out",
	[PE_FB_VERSION] = "hive format version before 1.5",
	[PE_FB_NEW_KEY] = "a key is to be created",
	[PE_FB_DELETE_KEY] = "a key is to be deleted",
	[PE_FB_CELL] = "a cell on the path does not check out",
	[PE_FB_BIG_DATA] = "value data over 16344 bytes",
	[PE_FB_DUP_VALUE] = "the key holds the value name twice",
	[PE_FB_NAME] = "the value name cannot be stored",
	[PE_FB_SPACE] = "more new cells than the editor appends",
};

const char *
pe_fallback_str(enum pe_fallback reason)
{
	if ((unsigned)reason >= PE_FB_NR)
		return "unknown";
	return fb_str[reason];
}

static int
refuse(struct pageedit *e, enum pe_fallback why)
{
	e->why = why;
	return 1;
}

/* The byte at hbins-relative OFF; callers have checked OFF. */
static unsigned char *
at(const struct pageedit *e, uint32_t off)
{
	return e->p + REGF_BASE_SIZE + off;
}

static void
mark(struct pageedit *e, uint32_t off, uint32_t len)
{
	uint32_t pg;

	if (len == 0)
		return;
	for (pg = off / JOURNAL_PAGE; pg <= (off + len - 1) / JOURNAL_PAGE;
	     pg++)
		e->dirty[pg / 8] |= (unsigned char)(1u << (pg % 8));
}

static void
w32(struct pageedit *e, uint32_t off, uint32_t v)
{
	regf_put32(at(e, off), v);
	mark(e, off, 4);
}

static void
wbytes(struct pageedit *e, uint32_t off, const void *src, uint32_t n)
{
	if (src)
		memcpy(at(e, off), src, n);
	else
		memset(at(e, off), 0, n);
	mark(e, off, n);
}

/* The hive bin holding OFF: its header is on OFF's page or an earlier
 * one, names its own offset, and the bin must lie in the hive bins data. */
static int
bin_of(const struct pageedit *e, uint32_t off, uint32_t *hb, uint32_t *hs)
{
	uint32_t page = off - off % JOURNAL_PAGE, i, size;

	for (i = 0; i < PE_BIN_SCAN; i++) {
		const unsigned char *h;

		if (page <= e->end - HBIN_HDR) {
			h = at(e, page);
			if (memcmp(h, "hbin", 4) == 0 &&
			    regf_le32(h + 4) == page) {
				size = regf_le32(h + 8);
				if (size < JOURNAL_PAGE ||
				    size % JOURNAL_PAGE ||
				    size > e->end - page ||
				    off < page + HBIN_HDR ||
				    off - page >= size)
					return -1;
				*hb = page;
				*hs = size;
				return 0;
			}
		}
		if (page == 0)
			break;
		page -= JOURNAL_PAGE;
	}
	return -1;
}

/* The data of the allocated cell at OFF, of at least NEED bytes, with
 * signature SIG if not NULL; its size lies inside its hive bin.  *CAP:
 * the data bytes the cell holds. */
static unsigned char *
cell(const struct pageedit *e, uint32_t off, uint32_t need, const char *sig,
     uint32_t *cap_ret)
{
	uint32_t hb, hs, size;
	int32_t raw;

	if (off % 4 || off >= e->end || e->end - off < 8)
		return NULL;
	if (bin_of(e, off, &hb, &hs) < 0)
		return NULL;
	raw = (int32_t)regf_le32(at(e, off));
	if (raw >= 0 || raw == INT32_MIN)
		return NULL;
	size = 0u - (uint32_t)raw;
	if (size < 8 || size > hb + hs - off)
		return NULL;
	if (size - 4 < need ||
	    (sig && (size - 4 < 2 || memcmp(at(e, off + 4), sig, 2) != 0)))
		return NULL;
	if (cap_ret)
		*cap_ret = size - 4;
	return at(e, off + 4);
}

/* Mark the cell at OFF (checked by cell()) free, its old bytes cleared:
 * a replaced value may have held a product key.  Windows merges a freed
 * cell with free neighbours; the format does not require it (hivex never
 * does), and leaving them apart changes no other page. */
static void
cell_free(struct pageedit *e, uint32_t off)
{
	int32_t raw = (int32_t)regf_le32(at(e, off));

	if (raw < 0) {
		w32(e, off, 0u - (uint32_t)raw);
		wbytes(e, off + 4, NULL, 0u - (uint32_t)raw - 4);
	}
}

/* Take SIZE bytes (a multiple of 8) from the first free cell big enough
 * in the bin at HB: the used part keeps a negative size, a rest of 8
 * bytes or more becomes a free cell of its own ("Cells": a cell is at
 * least 8 bytes).  1 found none, -1 the bin's cells do not add up. */
static int
take_free(struct pageedit *e, uint32_t hb, uint32_t hs, uint32_t size,
	  uint32_t *off_ret)
{
	uint32_t off;

	for (off = hb + HBIN_HDR; off < hb + hs;) {
		int32_t raw = (int32_t)regf_le32(at(e, off));
		uint32_t s = raw < 0 ? 0u - (uint32_t)raw : (uint32_t)raw;

		if (raw == INT32_MIN || s < 8 || s % 4 || s > hb + hs - off)
			return -1;
		if (raw > 0 && s >= size) {
			if (s - size >= 8) {
				w32(e, off + size, s - size);
				s = size;
			}
			w32(e, off, 0u - s);
			wbytes(e, off + 4, NULL, s - 4);
			*off_ret = off;
			return 0;
		}
		off += s;
	}
	return 1;
}

/* Append a hive bin holding one used cell of SIZE bytes, the rest of it a
 * free cell, and grow the hive bins size in the base block. */
static int
append_bin(struct pageedit *e, uint32_t size, uint32_t *off_ret)
{
	uint32_t bs, off = e->end;
	unsigned char h[HBIN_HDR];

	bs = (size + HBIN_HDR + JOURNAL_PAGE - 1) / JOURNAL_PAGE *
	     JOURNAL_PAGE;
	if ((size_t)REGF_BASE_SIZE + off + bs > e->maplen)
		return refuse(e, PE_FB_SPACE);
	memset(h, 0, sizeof(h));
	memcpy(h, "hbin", 4);
	regf_put32(h + 4, off);
	regf_put32(h + 8, bs);
	regf_put64(h + 0x14, e->stamp);
	wbytes(e, off, NULL, bs);
	wbytes(e, off, h, sizeof(h));
	w32(e, off + HBIN_HDR, 0u - size);
	if (bs - HBIN_HDR - size >= 8)
		w32(e, off + HBIN_HDR + size, bs - HBIN_HDR - size);
	e->end = off + bs;
	regf_put32(e->p + 0x28, e->end);
	e->last_bin = off;
	*off_ret = off + HBIN_HDR;
	return 0;
}

/* A new cell holding NEED data bytes: from a free cell in the bin of
 * NEAR (the key's, whose pages are written anyway) or of the hive's last
 * bin, else in a new bin.  1 refused (E->why). */
static int
alloc(struct pageedit *e, uint32_t near, uint32_t need, uint32_t *off_ret)
{
	uint32_t size, hb, hs;
	int r;

	if (need > PE_SPARE / 2)
		return refuse(e, PE_FB_SPACE);
	size = (need + 4 + 7) / 8 * 8;
	if (bin_of(e, near, &hb, &hs) < 0)
		return refuse(e, PE_FB_CELL);
	r = take_free(e, hb, hs, size, off_ret);
	if (r < 0)
		return refuse(e, PE_FB_CELL);
	if (r == 0)
		return 0;
	if (e->last_bin != REGF_NONE) {
		r = take_free(e, e->last_bin,
			      regf_le32(at(e, e->last_bin) + 8), size,
			      off_ret);
		if (r < 0)
			return refuse(e, PE_FB_CELL);
		if (r == 0)
			return 0;
	}
	return append_bin(e, size, off_ret);
}

int
pe_open(struct pageedit *e, int fd, size_t len, uint64_t stamp,
	struct kp_error *err)
{
	struct regf_header h;
	struct kp_error ign = KP_ERROR_INIT;
	void *v;

	memset(e, 0, sizeof(*e));
	e->p = MAP_FAILED;
	e->last_bin = REGF_NONE;
	e->stamp = stamp;
	if (len < REGF_BASE_SIZE + REGF_HBIN_SIZE || len > REGF_MAX_FILE) {
		e->why = PE_FB_BASE;
		return 0;
	}
	e->len = len;
	e->fd = fd;
	e->maplen = len + PE_SPARE;
	e->dirty = calloc(e->maplen / JOURNAL_PAGE / 8 + 2, 1);
	if (e->dirty == NULL)
		return kp_fail_oom(err);
	v = mmap(NULL, e->maplen, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v == MAP_FAILED)
		return kp_fail_errno(err, KP_ERR_FAIL, errno,
				     "cannot map the hive");
	e->p = v;
	if (mmap(v, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
		 0) == MAP_FAILED)
		return kp_fail_errno(err, KP_ERR_FAIL, errno,
				     "cannot map the hive");
	/* The base block: clean (checksum, sequence numbers equal) and its
	 * hive bins inside the file. */
	if (regf_header_parse(e->p, len, &h, &ign) < 0 || !h.checksum_ok ||
	    regf_header_dirty(&h) || h.type != REGF_PRIMARY ||
	    regf_check_primary(e->p, len, &h, &ign) < 0 ||
	    h.hbins_size % JOURNAL_PAGE || h.hbins_size == 0) {
		kp_error_clear(&ign);
		e->why = PE_FB_BASE;
		return 0;
	}
	kp_error_clear(&ign);
	if (h.major != 1 || h.minor < 5) {
		e->why = PE_FB_VERSION;
		return 0;
	}
	e->end = h.hbins_size;
	e->minor = h.minor;
	/* The last bin's free cells are the next place for new cells (where
	 * the previous edit appended its bin), so that repeated edits do not
	 * each add one. */
	{
		uint32_t hb, hs;

		if (bin_of(e, e->end - 8, &hb, &hs) == 0)
			e->last_bin = hb;
	}
	return 0;
}

void
pe_close(struct pageedit *e)
{
	if (e->p != MAP_FAILED && e->p != NULL)
		munmap(e->p, e->maplen);
	e->p = NULL;
	free(e->dirty);
	e->dirty = NULL;
}

int
pe_regf(const struct pageedit *e, struct regf *r, struct kp_error *err)
{
	size_t len = (size_t)REGF_BASE_SIZE + e->end;

	return regf_open(r, e->p, len > e->len ? len : e->len, err);
}

/* The key at PATH: 0 found (*NK its cell's data), 1 refused. */
static int
find_key(struct pageedit *e, const char *path, uint32_t *key,
	 unsigned char **nk)
{
	struct kp_error ign = KP_ERROR_INIT;
	struct regf r;
	int rc;

	if (e->why != PE_OK)
		return 1;
	if (pe_regf(e, &r, &ign) < 0) {
		kp_error_clear(&ign);
		return refuse(e, PE_FB_BASE);
	}
	rc = regf_lookup(&r, path, key);
	if (rc < 0)
		return refuse(e, PE_FB_CELL);
	if (rc == 0)
		return refuse(e, PE_FB_NEW_KEY);
	*nk = cell(e, *key, NK_FIXED, "nk", NULL);
	if (*nk == NULL)
		return refuse(e, PE_FB_CELL);
	return 0;
}

int
pe_key(struct pageedit *e, const char *path)
{
	uint32_t key;
	unsigned char *nk;

	return find_key(e, path, &key, &nk);
}

/* Compare a stored name (Latin-1 if COMP, else UTF-16LE) with the
 * UTF-16LE Q, ignoring case as Windows does (per UTF-16 unit). */
static bool
name_eq(const unsigned char *name, uint32_t len, bool comp,
	const struct buf *q)
{
	const unsigned char *u = (const unsigned char *)q->data;
	uint32_t i, n = comp ? len : len / 2;

	if ((!comp && len % 2) || (size_t)n * 2 != q->len)
		return false;
	for (i = 0; i < n; i++) {
		unsigned a = comp ? name[i] : regf_le16(name + 2 * i);

		if (utf16_upper(a) != utf16_upper(regf_le16(u + 2 * i)))
			return false;
	}
	return true;
}

/* What the value walk found. */
struct vfind {
	uint32_t key, nval, list, lcap;
	unsigned char *nk;
	long idx;		/* index in the list, -1 none */
	uint32_t vk;		/* its cell */
};

/* Find value Q (UTF-16LE) of the key at PATH, checking every record of
 * the list.  0 walked (F->idx -1 if absent), 1 refused. */
static int
find_value(struct pageedit *e, const char *path, const struct buf *q,
	   struct vfind *f)
{
	const unsigned char *l = NULL;
	uint32_t i;

	f->idx = -1;
	if (find_key(e, path, &f->key, &f->nk) != 0)
		return 1;
	f->nval = regf_le32(f->nk + 36);
	f->list = regf_le32(f->nk + 40);
	f->lcap = 0;
	if (f->nval == 0)
		return 0;
	if (f->nval > (UINT32_MAX - 8) / 4)
		return refuse(e, PE_FB_CELL);
	l = cell(e, f->list, f->nval * 4, NULL, &f->lcap);
	if (l == NULL)
		return refuse(e, PE_FB_CELL);
	for (i = 0; i < f->nval; i++) {
		uint32_t off = regf_le32(l + 4 * i), cap, nlen;
		const unsigned char *vk = cell(e, off, VK_FIXED, "vk", &cap);

		if (vk == NULL)
			return refuse(e, PE_FB_CELL);
		nlen = regf_le16(vk + 2);
		if (nlen > cap - VK_FIXED)
			return refuse(e, PE_FB_CELL);
		if (!name_eq(vk + VK_FIXED, nlen,
			     regf_le16(vk + 16) & VALUE_COMP_NAME, q))
			continue;
		if (f->idx >= 0)
			return refuse(e, PE_FB_DUP_VALUE);
		f->idx = (long)i;
		f->vk = off;
	}
	return 0;
}

/* The data cell of the value record VK, or REGF_NONE when its data is
 * inline or empty; 1 refused (big data, or a cell that does not check
 * out). */
static int
data_cell(struct pageedit *e, const unsigned char *vk, uint32_t *off,
	  uint32_t *cap)
{
	uint32_t size = regf_le32(vk + 4), len = size & ~DATA_INLINE;

	*off = REGF_NONE;
	*cap = 0;
	if (size & DATA_INLINE)
		return len > 4 ? refuse(e, PE_FB_CELL) : 0;
	if (len == 0)
		return 0;
	if (len > REGF_BIG_DATA)
		return refuse(e, PE_FB_BIG_DATA);
	*off = regf_le32(vk + 8);
	if (cell(e, *off, len, NULL, cap) == NULL)
		return refuse(e, PE_FB_CELL);
	return 0;
}

/* Store DATA (LEN bytes) as the data of the value record at VK, whose old
 * data cell (REGF_NONE: none) is OLD of OLDCAP bytes: inline when it fits
 * in 4 bytes, else in the old cell when it fits, else in a new cell. */
static int
put_data(struct pageedit *e, uint32_t key, uint32_t vk, uint32_t type,
	 const void *data, uint32_t len, uint32_t old, uint32_t oldcap)
{
	uint32_t dc = old;

	if (len <= 4) {
		unsigned char in[4] = { 0 };

		if (len)
			memcpy(in, data, len);
		w32(e, vk + 8, len | DATA_INLINE);
		wbytes(e, vk + 12, in, 4);
		if (old != REGF_NONE)
			cell_free(e, old);
	} else {
		if (old == REGF_NONE || oldcap < len) {
			if (alloc(e, key, len, &dc) != 0)
				return 1;
			if (old != REGF_NONE)
				cell_free(e, old);
		} else {
			/* Clear the rest of the old data. */
			wbytes(e, old + 4 + len, NULL, oldcap - len);
		}
		wbytes(e, dc + 4, data, len);
		w32(e, vk + 8, len);
		w32(e, vk + 12, dc);
	}
	w32(e, vk + 16, type);
	return 0;
}

/* Raise the key's largest value name (UTF-16 bytes) and data lengths to
 * NAMEB and LEN if they are smaller, and stamp its LastWriteTime. */
static void
key_changed(struct pageedit *e, uint32_t key, uint32_t nameb, uint32_t len)
{
	unsigned char ts[8];
	const unsigned char *nk = at(e, key + 4);

	if (regf_le32(nk + 60) < nameb)
		w32(e, key + 4 + 60, nameb);
	if (regf_le32(nk + 64) < len)
		w32(e, key + 4 + 64, len);
	regf_put64(ts, e->stamp);
	wbytes(e, key + 4 + 4, ts, 8);
}

/* Add a new value record for NAME (Q: UTF-16LE) to the key F found. */
static int
add_value(struct pageedit *e, struct vfind *f, const char *name,
	  const struct buf *q, uint32_t type, const void *data, uint32_t len)
{
	size_t i, n = strlen(name);
	bool ascii = true;
	uint32_t nlen, vk, list = f->list;

	for (i = 0; i < n; i++)
		ascii &= (unsigned char)name[i] < 0x80;
	nlen = ascii ? (uint32_t)n : (uint32_t)q->len;
	if (nlen > 0xffff || q->len > 0xffff)
		return refuse(e, PE_FB_NAME);
	if (alloc(e, f->key, VK_FIXED + nlen, &vk) != 0)
		return 1;
	{
		unsigned char h[VK_FIXED];

		memset(h, 0, sizeof(h));
		memcpy(h, "vk", 2);
		h[2] = (unsigned char)nlen;
		h[3] = (unsigned char)(nlen >> 8);
		regf_put32(h + 4, DATA_INLINE);
		h[16] = ascii ? VALUE_COMP_NAME : 0;
		wbytes(e, vk + 4, h, VK_FIXED);
		wbytes(e, vk + 4 + VK_FIXED, ascii ? (const void *)name :
		       q->data, nlen);
	}
	if (put_data(e, f->key, vk, type, data, len, REGF_NONE,
		     0) != 0)
		return 1;
	/* The list: in place when its cell has room, else a new cell with
	 * room to spare, so that adding many values to one key does not
	 * leave a trail of outgrown lists behind. */
	if (f->nval == 0 || f->lcap < (f->nval + 1) * 4) {
		uint32_t slots = f->nval < 4 || f->nval > (1u << 20) ?
				 f->nval + 1 : f->nval * 2;

		if (alloc(e, f->key, slots * 4, &list) != 0)
			return 1;
		if (f->nval)
			wbytes(e, list + 4, at(e, f->list + 4),
			       f->nval * 4);
		if (f->nval)
			cell_free(e, f->list);
		w32(e, f->key + 4 + 40, list);
	}
	w32(e, list + 4 + f->nval * 4, vk);
	w32(e, f->key + 4 + 36, f->nval + 1);
	key_changed(e, f->key, (uint32_t)q->len, len);
	return 0;
}

int
pe_set(struct pageedit *e, const char *path, const char *name,
       uint32_t type, const void *data, size_t len)
{
	struct buf q = BUF_INIT;
	struct vfind f;
	uint32_t old, oldcap;
	int r = 1;

	if (e->why != PE_OK)
		return 1;
	if (len > REGF_BIG_DATA)
		return refuse(e, PE_FB_BIG_DATA);
	if (wtf8_to_utf16le(name, strlen(name), &q) < 0) {
		buf_release(&q);
		return refuse(e, PE_FB_NAME);
	}
	if (find_value(e, path, &q, &f) != 0)
		goto out;
	if (f.idx < 0) {
		r = add_value(e, &f, name, &q, type, data, (uint32_t)len);
		goto out;
	}
	if (data_cell(e, at(e, f.vk + 4), &old, &oldcap) != 0)
		goto out;
	if (put_data(e, f.key, f.vk, type, data, (uint32_t)len, old,
		     oldcap) != 0)
		goto out;
	key_changed(e, f.key, 0, (uint32_t)len);
	r = 0;
out:
	buf_release(&q);
	return r;
}

int
pe_unset(struct pageedit *e, const char *path, const char *name)
{
	struct buf q = BUF_INIT;
	struct vfind f;
	uint32_t old, oldcap;
	unsigned char *l;
	int r = 1;

	if (e->why != PE_OK)
		return 1;
	if (wtf8_to_utf16le(name, strlen(name), &q) < 0) {
		buf_release(&q);
		return refuse(e, PE_FB_NAME);
	}
	if (find_value(e, path, &q, &f) != 0)
		goto out;
	r = 0;
	if (f.idx < 0)
		goto out;
	r = 1;
	if (data_cell(e, at(e, f.vk + 4), &old, &oldcap) != 0)
		goto out;
	l = at(e, f.list + 4);
	memmove(l + 4 * f.idx, l + 4 * (f.idx + 1),
		4 * (f.nval - 1 - (uint32_t)f.idx));
	mark(e, f.list + 4, 4 * f.nval);
	w32(e, f.list + 4 + 4 * (f.nval - 1), 0);
	w32(e, f.key + 4 + 36, f.nval - 1);
	if (f.nval == 1) {
		cell_free(e, f.list);
		w32(e, f.key + 4 + 40, REGF_NONE);
	}
	if (old != REGF_NONE)
		cell_free(e, old);
	cell_free(e, f.vk);
	key_changed(e, f.key, 0, 0);
	r = 0;
out:
	buf_release(&q);
	return r;
}

int
pe_check_key(struct pageedit *e, const char *path)
{
	const unsigned char *l, *vk;
	unsigned char *nk;
	uint32_t key, nval, i, off, cap;

	if (find_key(e, path, &key, &nk) != 0)
		return 1;
	nval = regf_le32(nk + 36);
	if (nval == 0)
		return 0;
	if (nval > (UINT32_MAX - 8) / 4)
		return refuse(e, PE_FB_CELL);
	l = cell(e, regf_le32(nk + 40), nval * 4, NULL, NULL);
	if (l == NULL)
		return refuse(e, PE_FB_CELL);
	for (i = 0; i < nval; i++) {
		vk = cell(e, regf_le32(l + 4 * i), VK_FIXED, "vk", &cap);
		if (vk == NULL || regf_le16(vk + 2) > cap - VK_FIXED)
			return refuse(e, PE_FB_CELL);
		/* Big data of other values is not this editor's to check
		 * (it never touches it). */
		if (data_cell(e, vk, &off, &cap) != 0) {
			if (e->why != PE_FB_BIG_DATA)
				return 1;
			e->why = PE_OK;
		}
	}
	return 0;
}

int
pe_diff(const struct pageedit *e, struct journal_diff *d,
	struct kp_error *err)
{
	uint32_t pg, n = e->end / JOURNAL_PAGE;
	size_t cap = 0;

	memset(d, 0, sizeof(*d));
	d->hbins = e->end;
	for (pg = 0; pg < n; pg++) {
		uint32_t off = pg * JOURNAL_PAGE;

		if (!(e->dirty[pg / 8] & (1u << (pg % 8))))
			continue;
		/* A page written back to what it was (a time stamped twice
		 * in one second, a value set to what it held) is not logged:
		 * the journal holds the pages that differ, as journal_diff
		 * finds them. */
		if ((uint64_t)REGF_BASE_SIZE + off + JOURNAL_PAGE <= e->len) {
			unsigned char was[JOURNAL_PAGE];

			if (pread(e->fd, was, sizeof(was),
				  (off_t)REGF_BASE_SIZE + off) !=
			    (ssize_t)sizeof(was)) {
				free(d->runs);
				d->runs = NULL;
				return kp_fail_errno(err, KP_ERR_FAIL,
						     errno ? errno : EIO,
						     "cannot read the hive");
			}
			if (memcmp(was, at(e, off), sizeof(was)) == 0)
				continue;
		}
		if (d->n && d->runs[d->n - 1].off + d->runs[d->n - 1].len ==
			    off) {
			d->runs[d->n - 1].len += JOURNAL_PAGE;
		} else {
			if (d->n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct journal_run *r =
					realloc(d->runs, nc * sizeof(*r));

				if (r == NULL) {
					free(d->runs);
					d->runs = NULL;
					return kp_fail_oom(err);
				}
				d->runs = r;
				cap = nc;
			}
			d->runs[d->n].off = off;
			d->runs[d->n].len = JOURNAL_PAGE;
			d->n++;
		}
		d->pages++;
	}
	return 0;
}

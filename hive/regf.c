/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Raw regf access: base block checks, full structural validation, a
 * bounds-checked reader and the empty-hive writer.  Written by hand because
 * hivex exposes none of these; see regf.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/utf.h"
#include "regf.h"

/* Fixed parts of the records (cell data, after the 4-byte cell size). */
#define NK_FIXED 76
#define VK_FIXED 20
#define SK_FIXED 20
#define KEY_COMP_NAME 0x0020
#define VALUE_COMP_NAME 0x0001

uint32_t
regf_checksum(const unsigned char *base)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i < 0x1fc; i += 4)
		sum ^= regf_le32(base + i);
	if (sum == 0xffffffffu)
		sum = 0xfffffffeu;
	else if (sum == 0)
		sum = 1;
	return sum;
}

void
regf_set_checksum(unsigned char *base)
{
	regf_put32(base + 0x1fc, regf_checksum(base));
}

int
regf_header_parse(const unsigned char *p, size_t len, struct regf_header *h,
		  struct kp_error *err)
{
	if (len < 512 || memcmp(p, "regf", 4) != 0)
		return kp_fail(err, KP_ERR_INPUT,
			       "not a registry hive (no 'regf' signature)");
	h->seq1 = regf_le32(p + 0x04);
	h->seq2 = regf_le32(p + 0x08);
	h->timestamp = regf_le64(p + 0x0c);
	h->major = regf_le32(p + 0x14);
	h->minor = regf_le32(p + 0x18);
	h->type = regf_le32(p + 0x1c);
	h->format = regf_le32(p + 0x20);
	h->root = regf_le32(p + 0x24);
	h->hbins_size = regf_le32(p + 0x28);
	h->cluster = regf_le32(p + 0x2c);
	h->flags = regf_le32(p + 0x90);
	h->checksum = regf_le32(p + 0x1fc);
	h->checksum_ok = h->checksum == regf_checksum(p);
	return 0;
}

int
regf_header_parse_primary(const unsigned char *p, size_t len,
			  struct regf_header *h, struct kp_error *err)
{
	if (len >= REGF_BASE_SIZE + REGF_HBIN_SIZE && memcmp(p, "regf", 4) &&
	    memcmp(p + REGF_BASE_SIZE, "hbin", 4) == 0 &&
	    regf_le32(p + REGF_BASE_SIZE + 4) == 0) {
		/* A torn or zeroed base block: the fields are taken as they
		 * are, and none is trusted, as with a wrong checksum. */
		memset(h, 0, sizeof(*h));
		h->seq1 = regf_le32(p + 0x04);
		h->seq2 = regf_le32(p + 0x08);
		h->type = REGF_PRIMARY;
		h->checksum = regf_le32(p + 0x1fc);
		h->checksum_ok = false;
		return 0;
	}
	return regf_header_parse(p, len, h, err);
}

bool
regf_header_dirty(const struct regf_header *h)
{
	return !h->checksum_ok || h->seq1 != h->seq2;
}

int
regf_check_primary(const unsigned char *p, size_t len, struct regf_header *h,
		   struct kp_error *err)
{
	if (len < REGF_BASE_SIZE + REGF_HBIN_SIZE) {
		if (len >= 4 && memcmp(p, "regf", 4) == 0)
			return kp_fail(err, KP_ERR_INPUT,
				       "truncated hive (%zu bytes; a hive has "
				       "at least 8192)", len);
		return kp_fail(err, KP_ERR_INPUT,
			       "not a registry hive (%zu bytes, no 'regf' "
			       "signature)", len);
	}
	if (regf_header_parse(p, len, h, err) < 0)
		return -1;
	if (h->type == REGF_LOG_OLD || h->type == REGF_LOG_OLD2 ||
	    h->type == REGF_LOG_NEW)
		return kp_fail(err, KP_ERR_INPUT,
			       "this is a transaction log (file type %u), not "
			       "a hive", h->type);
	if (h->major != 1 || h->minor < 3 || h->minor > 6)
		return kp_fail(err, KP_ERR_INPUT,
			       "unsupported hive version %u.%u (1.3 to 1.6 are "
			       "supported)", h->major, h->minor);
	if (h->type != REGF_PRIMARY || h->format != 1)
		return kp_fail(err, KP_ERR_INPUT,
			       "unsupported hive file type %u, format %u",
			       h->type, h->format);
	if (h->hbins_size == 0 || h->hbins_size % REGF_HBIN_SIZE)
		return kp_fail(err, KP_ERR_INPUT,
			       "corrupt base block: hive bins size 0x%x is not "
			       "a multiple of 4096", h->hbins_size);
	if ((size_t)h->hbins_size > len - REGF_BASE_SIZE)
		return kp_fail(err, KP_ERR_INPUT,
			       "truncated hive: the base block declares %zu "
			       "bytes of data, the file holds %zu",
			       (size_t)h->hbins_size, len - REGF_BASE_SIZE);
	if (h->root >= h->hbins_size)
		return kp_fail(err, KP_ERR_INPUT,
			       "corrupt base block: root offset 0x%x outside "
			       "the hive bins", h->root);
	return 0;
}

/*
 * Validation.
 */

struct stack_ent {
	uint32_t key, parent;
	uint32_t depth;
};

/* A key's stored name, for comparing siblings. */
struct kname {
	const unsigned char *p;
	uint32_t len;
	bool comp;
	uint32_t off;
};

struct vctx {
	const unsigned char *hb;	/* start of hive bins data */
	uint32_t end;			/* hive bins size */
	uint32_t minor;
	uint32_t root;
	/* Bitmaps of cell starts, one bit per 1 << SHIFT bytes: 8 where
	 * every cell starts 8-byte aligned (Windows and hivex round cell
	 * sizes up to 8), 4 in a hive that has a cell size of 4 mod 8, which
	 * this reader still accepts.  At most one cell starts in a slot
	 * (cells are at least 8 bytes), and offsets off the slot grid are
	 * refused before a bitmap is asked, so a bit always means one
	 * offset. */
	unsigned shift;
	unsigned char *alloc;		/* allocated cell starts */
	unsigned char *seen;		/* keys already reached */
	unsigned char *owned;		/* other cells already claimed */
	struct stack_ent *stack;
	size_t depth, cap;
	struct kname *names;		/* scratch for check_dup_names */
	size_t ncap;
	struct regf_stats *st;
	struct kp_error *err;
};

#define SLOT(v, off) ((off) >> (v)->shift)
#define OFFGRID(v, off) ((off) & ((1u << (v)->shift) - 1))
#define BIT(map, off) ((map)[SLOT(v, off) >> 3] & (1u << (SLOT(v, off) & 7)))
#define SETBIT(map, off) ((map)[SLOT(v, off) >> 3] |= \
			  (unsigned char)(1u << (SLOT(v, off) & 7)))

static int
corrupt(struct vctx *v, uint32_t off, const char *what, const char *why)
{
	return kp_fail(v->err, KP_ERR_INPUT,
		       "corrupt hive: %s at offset 0x%x: %s", what,
		       off + REGF_BASE_SIZE, why);
}

/* The data of the allocated cell at OFF, which must hold NEED bytes and
 * start with SIG (if given); NULL after reporting corruption. */
static const unsigned char *
vcell(struct vctx *v, uint32_t off, uint32_t need, const char *sig,
      const char *what, uint32_t *cap_ret)
{
	const unsigned char *c;
	uint32_t cap;

	if (OFFGRID(v, off) || off >= v->end || !BIT(v->alloc, off)) {
		corrupt(v, off, what, "not an allocated cell");
		return NULL;
	}
	c = v->hb + off;
	cap = 0u - regf_le32(c) - 4;
	if (cap < need) {
		corrupt(v, off, what, "cell too small");
		return NULL;
	}
	if (sig && memcmp(c + 4, sig, 2) != 0) {
		corrupt(v, off, what, "wrong record signature");
		return NULL;
	}
	if (cap_ret)
		*cap_ret = cap;
	return c + 4;
}

/* Claim a list, value or data cell for one record.  Windows never shares
 * them (only security records are shared); a second claim is corruption,
 * and refusing it keeps the work linear in the number of cells. */
static int
claim(struct vctx *v, uint32_t off, const char *what)
{
	if (OFFGRID(v, off) || off >= v->end)
		return corrupt(v, off, what, "not an allocated cell");
	if (BIT(v->owned, off))
		return corrupt(v, off, what,
			       "referenced twice (a loop or a shared record)");
	SETBIT(v->owned, off);
	return 0;
}

static int
check_bins(struct vctx *v)
{
	uint32_t off = 0;

	while (off < v->end) {
		const unsigned char *b = v->hb + off;
		uint32_t size, c;

		if (memcmp(b, "hbin", 4) != 0)
			return corrupt(v, off, "hive bin", "bad signature");
		size = regf_le32(b + 8);
		if (regf_le32(b + 4) != off)
			return corrupt(v, off, "hive bin", "wrong offset field");
		if (size < REGF_HBIN_SIZE || size % REGF_HBIN_SIZE ||
		    size > v->end - off)
			return corrupt(v, off, "hive bin", "bad size");
		v->st->bins++;
		for (c = off + 32; c < off + size;) {
			uint32_t rawu = regf_le32(v->hb + c);
			int32_t raw = (int32_t)rawu;
			uint32_t clen = raw < 0 ? 0u - rawu : rawu;

			if (raw == INT32_MIN || clen < 8 || clen % 4 ||
			    clen > off + size - c)
				return corrupt(v, c, "cell", "bad cell size");
			/* Off the 8-byte grid: the caller starts again with
			 * bitmaps of 1 bit per 4 bytes. */
			if (OFFGRID(v, c))
				return 1;
			if (raw < 0)
				SETBIT(v->alloc, c);
			v->st->cells++;
			c += clen;
		}
		off += size;
	}
	return 0;
}

static int
push_key(struct vctx *v, uint32_t key, uint32_t parent, uint32_t depth)
{
	if (OFFGRID(v, key) || key >= v->end)
		return corrupt(v, key, "subkey list entry", "offset out of range");
	if (BIT(v->seen, key))
		return corrupt(v, key, "key",
			       "reached twice (subkey list loop or shared subkey)");
	if (depth > REGF_MAX_DEPTH)
		return corrupt(v, key, "key", "nested deeper than 512 levels");
	SETBIT(v->seen, key);
	if (v->depth == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 256;
		struct stack_ent *s = realloc(v->stack, cap * sizeof(*s));

		if (s == NULL)
			return kp_fail_oom(v->err);
		v->stack = s;
		v->cap = cap;
	}
	v->stack[v->depth].key = key;
	v->stack[v->depth].parent = parent;
	v->stack[v->depth].depth = depth;
	v->depth++;
	return 0;
}

/* Push the keys of one leaf list (lf, lh or li); add their number to N. */
static int
walk_leaf(struct vctx *v, uint32_t list, uint32_t parent, uint32_t depth,
	  uint64_t *n)
{
	const unsigned char *c;
	uint32_t cap, count, step, i;

	c = vcell(v, list, 4, NULL, "subkey list", &cap);
	if (c == NULL || claim(v, list, "subkey list") < 0)
		return -1;
	count = regf_le16(c + 2);
	if (memcmp(c, "lf", 2) == 0 || memcmp(c, "lh", 2) == 0)
		step = 8;
	else if (memcmp(c, "li", 2) == 0)
		step = 4;
	else
		return corrupt(v, list, "subkey list", "unknown list type");
	if ((uint64_t)count * step > cap - 4)
		return corrupt(v, list, "subkey list", "count exceeds cell");
	for (i = 0; i < count; i++)
		if (push_key(v, regf_le32(c + 4 + i * step), parent, depth) < 0)
			return -1;
	*n += count;
	return 0;
}

static uint32_t
kname_units(const struct kname *k)
{
	return k->comp ? k->len : k->len / 2;
}

static unsigned
kname_unit(const struct kname *k, uint32_t i)
{
	return utf16_upper(k->comp ? k->p[i] : regf_le16(k->p + 2 * i));
}

/* Windows' order of key names: uppercase UTF-16 units as numbers. */
static int
kname_cmp(const void *a, const void *b)
{
	const struct kname *x = a, *y = b;
	uint32_t nx = kname_units(x), ny = kname_units(y), i;

	for (i = 0; i < nx && i < ny; i++) {
		unsigned u = kname_unit(x, i), w = kname_unit(y, i);

		if (u != w)
			return u < w ? -1 : 1;
	}
	return (nx > ny) - (nx < ny);
}

/* Subkey lists are sorted with no two equal names (*Subkeys list*), and
 * stricter parsers reject a hive with two subkeys of one name; count it,
 * so that it is reported and nothing is written under such a key.  The
 * N subkeys of KEY are the top N entries of the stack.  Windows writes
 * sorted lists, so one linear pass usually settles it. */
static int
check_dup_names(struct vctx *v, uint32_t key, size_t n)
{
	size_t i;
	bool sorted = true;

	if (n < 2)
		return 0;
	if (n > v->ncap) {
		struct kname *k = realloc(v->names, n * sizeof(*k));

		if (k == NULL)
			return kp_fail_oom(v->err);
		v->names = k;
		v->ncap = n;
	}
	for (i = 0; i < n; i++) {
		uint32_t off = v->stack[v->depth - n + i].key, cap, nlen;
		const unsigned char *nk;

		nk = vcell(v, off, NK_FIXED, "nk", "key", &cap);
		if (nk == NULL)
			return -1;
		nlen = regf_le16(nk + 72);
		if (nlen > cap - NK_FIXED)
			return corrupt(v, off, "key", "name exceeds cell");
		v->names[i].p = nk + NK_FIXED;
		v->names[i].len = nlen;
		v->names[i].comp = regf_le16(nk + 2) & KEY_COMP_NAME;
		v->names[i].off = off;
		if (i && sorted && kname_cmp(&v->names[i - 1], &v->names[i]) >= 0)
			sorted = false;
	}
	if (sorted)
		return 0;
	qsort(v->names, n, sizeof(*v->names), kname_cmp);
	for (i = 1; i < n; i++) {
		if (kname_cmp(&v->names[i - 1], &v->names[i]) == 0) {
			if (v->st->dup_keys++ == 0) {
				v->st->dup_parent = key;
				v->st->dup_child = v->names[i].off;
			}
			break;
		}
	}
	return 0;
}

static int
walk_subkeys(struct vctx *v, uint32_t key, const unsigned char *nk,
	     uint32_t depth)
{
	uint32_t nsub = regf_le32(nk + 20), list = regf_le32(nk + 28);
	const unsigned char *c;
	uint64_t n = 0;
	uint32_t cap, count, i;

	if (nsub == 0)
		return 0;
	c = vcell(v, list, 4, NULL, "subkey list", &cap);
	if (c == NULL)
		return -1;
	if (memcmp(c, "ri", 2) == 0) {
		if (claim(v, list, "index root") < 0)
			return -1;
		count = regf_le16(c + 2);
		if ((uint64_t)count * 4 > cap - 4)
			return corrupt(v, list, "index root", "count exceeds cell");
		for (i = 0; i < count; i++) {
			uint32_t leaf = regf_le32(c + 4 + i * 4);
			const unsigned char *l;

			l = vcell(v, leaf, 4, NULL, "subkey list", NULL);
			if (l == NULL)
				return -1;
			if (memcmp(l, "ri", 2) == 0)
				return corrupt(v, leaf, "index root",
					       "points to another index root");
			if (walk_leaf(v, leaf, key, depth + 1, &n) < 0)
				return -1;
		}
	} else if (walk_leaf(v, list, key, depth + 1, &n) < 0) {
		return -1;
	}
	if (n != nsub)
		return corrupt(v, key, "key",
			       "subkey count does not match its lists");
	return check_dup_names(v, key, (size_t)n);
}

static int
check_data(struct vctx *v, uint32_t vk_off, const unsigned char *vk)
{
	uint32_t size = regf_le32(vk + 4), off = regf_le32(vk + 8);
	uint32_t len = size & 0x7fffffffu, cap;
	const unsigned char *c;

	if (size & 0x80000000u) {
		if (len > 4)
			return corrupt(v, vk_off, "value", "inline data over 4 bytes");
		return 0;
	}
	if (len == 0)
		return 0;
	c = vcell(v, off, 0, NULL, "value data", &cap);
	if (c == NULL || claim(v, off, "value data") < 0)
		return -1;
	if (len > REGF_BIG_DATA && v->minor >= 4 && cap >= 8 &&
	    memcmp(c, "db", 2) == 0) {
		uint32_t nseg = regf_le16(c + 2), list = regf_le32(c + 4), i;
		const unsigned char *l;
		uint64_t total = 0;
		uint32_t lcap;

		l = vcell(v, list, 0, NULL, "big data list", &lcap);
		if (l == NULL || claim(v, list, "big data list") < 0)
			return -1;
		if (nseg == 0 || (uint64_t)nseg * 4 > lcap)
			return corrupt(v, off, "big data", "bad segment count");
		for (i = 0; i < nseg; i++) {
			uint32_t scap;

			uint32_t seg = regf_le32(l + i * 4);

			if (vcell(v, seg, 0, NULL, "big data segment",
				  &scap) == NULL ||
			    claim(v, seg, "big data segment") < 0)
				return -1;
			total += scap < REGF_BIG_DATA ? scap : REGF_BIG_DATA;
		}
		if (total < len)
			return corrupt(v, off, "big data", "segments too small");
		return 0;
	}
	if (cap < len)
		return corrupt(v, off, "value data", "cell smaller than the data");
	return 0;
}

static int
walk_values(struct vctx *v, uint32_t key, const unsigned char *nk)
{
	uint32_t nval = regf_le32(nk + 36), list = regf_le32(nk + 40), i;
	const unsigned char *l;
	uint32_t cap;

	if (nval == 0)
		return 0;
	l = vcell(v, list, 0, NULL, "value list", &cap);
	if (l == NULL || claim(v, list, "value list") < 0)
		return -1;
	if ((uint64_t)nval * 4 > cap)
		return corrupt(v, key, "key", "value count exceeds its list");
	for (i = 0; i < nval; i++) {
		uint32_t off = regf_le32(l + i * 4), vcap;
		const unsigned char *vk;

		vk = vcell(v, off, VK_FIXED, "vk", "value", &vcap);
		if (vk == NULL || claim(v, off, "value") < 0)
			return -1;
		if (regf_le16(vk + 2) > vcap - VK_FIXED)
			return corrupt(v, off, "value", "name exceeds cell");
		if (check_data(v, off, vk) < 0)
			return -1;
		v->st->values++;
	}
	return 0;
}

/* A security record and its list links: hivex follows the links without
 * bounds checks when a key is deleted, so they must be sound. */
static int
check_sk(struct vctx *v, uint32_t off)
{
	const unsigned char *sk;
	uint32_t cap, i;

	sk = vcell(v, off, SK_FIXED, "sk", "security record", &cap);
	if (sk == NULL)
		return -1;
	if (BIT(v->owned, off))
		return 0;	/* shared by design, checked once */
	SETBIT(v->owned, off);
	if (regf_le32(sk + 12) == 0)
		return corrupt(v, off, "security record", "reference count 0");
	if (regf_le32(sk + 16) > cap - SK_FIXED)
		return corrupt(v, off, "security record",
			       "descriptor exceeds cell");
	for (i = 4; i <= 8; i += 4)
		if (vcell(v, regf_le32(sk + i), SK_FIXED, "sk",
			  "security record link", NULL) == NULL)
			return -1;
	return 0;
}

static int
check_key(struct vctx *v, const struct stack_ent *e)
{
	const unsigned char *nk;
	uint32_t cap, namelen, class_off, class_len;

	nk = vcell(v, e->key, NK_FIXED, "nk", "key", &cap);
	if (nk == NULL)
		return -1;
	namelen = regf_le16(nk + 72);
	if (namelen > cap - NK_FIXED)
		return corrupt(v, e->key, "key", "name exceeds cell");
	if (e->key != v->root && regf_le32(nk + 16) != e->parent)
		return corrupt(v, e->key, "key",
			       "parent field does not match the listing key");
	if (check_sk(v, regf_le32(nk + 44)) < 0)
		return -1;
	class_off = regf_le32(nk + 48);
	class_len = regf_le16(nk + 74);
	if (class_off != REGF_NONE && class_len &&
	    (vcell(v, class_off, class_len, NULL, "class name", NULL) == NULL ||
	     claim(v, class_off, "class name") < 0))
		return -1;
	v->st->keys++;
	if (walk_values(v, e->key, nk) < 0)
		return -1;
	return walk_subkeys(v, e->key, nk, e->depth);
}

static int validate(const unsigned char *p, const struct regf_header *hp,
		    struct regf_stats *st, struct kp_error *err);

int
regf_validate(const unsigned char *p, size_t len, struct regf_stats *st,
	      struct kp_error *err)
{
	struct regf_header h;

	if (regf_check_primary(p, len, &h, err) < 0)
		return -1;
	return validate(p, &h, st, err);
}

int
regf_validate_bins(const unsigned char *p, size_t len, uint32_t hbins_size,
		   struct regf_stats *st, struct kp_error *err)
{
	struct regf_header h;

	if (regf_check_primary(p, len, &h, err) < 0)
		return -1;
	if (hbins_size == 0 || hbins_size % REGF_HBIN_SIZE ||
	    hbins_size > len - REGF_BASE_SIZE)
		return kp_fail(err, KP_ERR_INPUT, "hive bins size %u: not a "
			       "multiple of 4096 within the data", hbins_size);
	h.hbins_size = hbins_size;
	return validate(p, &h, st, err);
}

static int
validate(const unsigned char *p, const struct regf_header *hp,
	 struct regf_stats *st, struct kp_error *err)
{
	struct regf_stats dummy;
	struct regf_header h = *hp;
	struct vctx v;
	size_t mapsz;
	int r = -1;

	memset(&v, 0, sizeof(v));
	v.hb = p + REGF_BASE_SIZE;
	v.end = h.hbins_size;
	v.minor = h.minor;
	v.root = h.root;
	v.st = st ? st : &dummy;
	v.err = err;
	memset(v.st, 0, sizeof(*v.st));
	for (v.shift = 3;; v.shift = 2) {
		int rc;

		mapsz = ((size_t)h.hbins_size >> (v.shift + 3)) + 1;
		v.alloc = calloc(1, mapsz);
		v.seen = calloc(1, mapsz);
		v.owned = calloc(1, mapsz);
		if (v.alloc == NULL || v.seen == NULL || v.owned == NULL) {
			kp_fail_oom(err);
			goto out;
		}
		rc = check_bins(&v);
		if (rc < 0)
			goto out;
		if (rc == 0 || v.shift == 2)
			break;
		free(v.alloc);
		free(v.seen);
		free(v.owned);
		memset(v.st, 0, sizeof(*v.st));
	}
	if (push_key(&v, h.root, REGF_NONE, 0) < 0)
		goto out;
	while (v.depth) {
		struct stack_ent e = v.stack[--v.depth];

		if (check_key(&v, &e) < 0)
			goto out;
	}
	r = 0;
out:
	free(v.alloc);
	free(v.seen);
	free(v.owned);
	free(v.stack);
	free(v.names);
	return r;
}

/*
 * Reader.
 */

int
regf_open(struct regf *r, const void *p, size_t len, struct kp_error *err)
{
	struct regf_header h;

	if (regf_check_primary(p, len, &h, err) < 0)
		return -1;
	r->p = p;
	r->len = len;
	r->end = h.hbins_size;
	r->minor = h.minor;
	r->root = h.root;
	r->flags = h.flags;
	return 0;
}

/* Data of the allocated cell at OFF holding at least NEED bytes, or NULL. */
static const unsigned char *
rcell(const struct regf *r, uint32_t off, uint32_t need, const char *sig,
      uint32_t *cap_ret)
{
	const unsigned char *c;
	int32_t raw;
	uint32_t cap;

	if (off % 4 || off >= r->end || r->end - off < 8)
		return NULL;
	c = r->p + REGF_BASE_SIZE + off;
	raw = (int32_t)regf_le32(c);
	if (raw >= 0 || raw == INT32_MIN)
		return NULL;
	cap = 0u - (uint32_t)raw;
	if (cap < 8 || cap > r->end - off)
		return NULL;
	cap -= 4;
	if (cap < need || (sig && (cap < 2 || memcmp(c + 4, sig, 2) != 0)))
		return NULL;
	if (cap_ret)
		*cap_ret = cap;
	return c + 4;
}

/* Compare a stored name (ASCII/Latin-1 if COMP, else UTF-16LE) with the
 * UTF-16LE query Q, ignoring case. */
static bool
name_eq(const unsigned char *name, uint32_t len, bool comp,
	const struct buf *q)
{
	const unsigned char *u = (const unsigned char *)q->data;
	uint32_t i, n = comp ? len : len / 2;

	if (!comp && len % 2)
		return false;
	if ((size_t)n * 2 != q->len)
		return false;
	for (i = 0; i < n; i++) {
		unsigned a = comp ? name[i] : regf_le16(name + 2 * i);
		unsigned b = regf_le16(u + 2 * i);

		if (utf16_upper(a) != utf16_upper(b))
			return false;
	}
	return true;
}

static int
leaf_find(const struct regf *r, uint32_t list, const struct buf *q,
	  uint32_t *child)
{
	uint32_t cap, count, step, i;
	const unsigned char *c = rcell(r, list, 4, NULL, &cap);

	if (c == NULL)
		return -1;
	count = regf_le16(c + 2);
	if (memcmp(c, "lf", 2) == 0 || memcmp(c, "lh", 2) == 0)
		step = 8;
	else if (memcmp(c, "li", 2) == 0)
		step = 4;
	else
		return -1;
	if ((uint64_t)count * step > cap - 4)
		return -1;
	for (i = 0; i < count; i++) {
		uint32_t off = regf_le32(c + 4 + i * step), ncap;
		const unsigned char *nk = rcell(r, off, NK_FIXED, "nk", &ncap);
		uint32_t nlen;

		if (nk == NULL)
			return -1;
		nlen = regf_le16(nk + 72);
		if (nlen > ncap - NK_FIXED)
			return -1;
		if (name_eq(nk + NK_FIXED, nlen,
			    regf_le16(nk + 2) & KEY_COMP_NAME, q)) {
			*child = off;
			return 1;
		}
	}
	return 0;
}

int
regf_subkey(const struct regf *r, uint32_t key, const char *name,
	    uint32_t *child)
{
	const unsigned char *nk = rcell(r, key, NK_FIXED, "nk", NULL), *c;
	struct buf q = BUF_INIT;
	uint32_t list, cap, i;
	int ret = -1;

	if (nk == NULL)
		return -1;
	if (regf_le32(nk + 20) == 0)
		return 0;
	list = regf_le32(nk + 28);
	if (wtf8_to_utf16le(name, strlen(name), &q) < 0)
		goto out;
	c = rcell(r, list, 4, NULL, &cap);
	if (c == NULL)
		goto out;
	if (memcmp(c, "ri", 2) == 0) {
		uint32_t count = regf_le16(c + 2);

		if ((uint64_t)count * 4 > cap - 4)
			goto out;
		for (i = 0; i < count; i++) {
			ret = leaf_find(r, regf_le32(c + 4 + i * 4), &q, child);
			if (ret != 0)
				goto out;
		}
		ret = 0;
	} else {
		ret = leaf_find(r, list, &q, child);
	}
out:
	buf_release(&q);
	return ret;
}

int
regf_lookup(const struct regf *r, const char *path, uint32_t *key)
{
	uint32_t cur = r->root;
	const char *p = path;
	char part[512];

	while (*p) {
		const char *bs = strchr(p, '\\');
		size_t n = bs ? (size_t)(bs - p) : strlen(p);
		int rc;

		if (n == 0 || n >= sizeof(part)) {
			p += n + (bs != NULL);
			if (n == 0)
				continue;
			return -1;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		rc = regf_subkey(r, cur, part, &cur);
		if (rc <= 0)
			return rc;
		p += n + (bs != NULL);
	}
	*key = cur;
	return 1;
}

static int
read_data(const struct regf *r, const unsigned char *vk, struct buf *data)
{
	uint32_t size = regf_le32(vk + 4), off = regf_le32(vk + 8);
	uint32_t len = size & 0x7fffffffu, cap;
	const unsigned char *c;

	buf_reset(data);
	if (size & 0x80000000u)
		return len > 4 ? -1 : buf_add(data, vk + 8, len);
	if (len == 0)
		return 0;
	c = rcell(r, off, 0, NULL, &cap);
	if (c == NULL)
		return -1;
	if (len > REGF_BIG_DATA && r->minor >= 4 && cap >= 8 &&
	    memcmp(c, "db", 2) == 0) {
		uint32_t nseg = regf_le16(c + 2), lcap, i;
		const unsigned char *l = rcell(r, regf_le32(c + 4), 0, NULL,
					       &lcap);

		if (l == NULL || (uint64_t)nseg * 4 > lcap)
			return -1;
		for (i = 0; i < nseg && data->len < len; i++) {
			uint32_t scap, take;
			const unsigned char *s = rcell(r, regf_le32(l + i * 4),
						       0, NULL, &scap);

			if (s == NULL)
				return -1;
			take = scap < REGF_BIG_DATA ? scap : REGF_BIG_DATA;
			if (take > len - data->len)
				take = len - (uint32_t)data->len;
			if (buf_add(data, s, take) < 0)
				return -1;
		}
		return data->len == len ? 0 : -1;
	}
	if (cap < len)
		return -1;
	return buf_add(data, c, len);
}

int
regf_value(const struct regf *r, uint32_t key, const char *name,
	   uint32_t *type, struct buf *data)
{
	const unsigned char *nk = rcell(r, key, NK_FIXED, "nk", NULL), *l;
	struct buf q = BUF_INIT;
	uint32_t nval, cap, i;
	int ret = -1;

	if (nk == NULL)
		return -1;
	nval = regf_le32(nk + 36);
	if (nval == 0)
		return 0;
	l = rcell(r, regf_le32(nk + 40), 0, NULL, &cap);
	if (l == NULL || (uint64_t)nval * 4 > cap)
		return -1;
	if (wtf8_to_utf16le(name, strlen(name), &q) < 0)
		goto out;
	ret = 0;
	for (i = 0; i < nval; i++) {
		uint32_t vcap, nlen;
		const unsigned char *vk = rcell(r, regf_le32(l + i * 4),
						VK_FIXED, "vk", &vcap);

		if (vk == NULL) {
			ret = -1;
			break;
		}
		nlen = regf_le16(vk + 2);
		if (nlen > vcap - VK_FIXED) {
			ret = -1;
			break;
		}
		if (!name_eq(vk + VK_FIXED, nlen,
			     regf_le16(vk + 16) & VALUE_COMP_NAME, &q))
			continue;
		*type = regf_le32(vk + 12);
		ret = read_data(r, vk, data) < 0 ? -1 : 1;
		break;
	}
out:
	buf_release(&q);
	return ret;
}

/* A stored name as WTF-8 (Latin-1 if COMP, else UTF-16LE). */
static int
name_to_wtf8(const unsigned char *name, uint32_t len, bool comp,
	     struct buf *out)
{
	uint32_t i;

	buf_reset(out);
	if (buf_grow(out, 0) < 0)
		return -1;
	if (!comp)
		return utf16le_to_wtf8(name, len, out);
	for (i = 0; i < len; i++) {
		unsigned char u[2] = { (unsigned char)(0xc0 | name[i] >> 6),
				       (unsigned char)(0x80 | (name[i] & 0x3f)) };

		if (name[i] < 0x80 ? buf_addch(out, name[i]) < 0 :
				     buf_add(out, u, 2) < 0)
			return -1;
	}
	return 0;
}

int
regf_key_name(const struct regf *r, uint32_t key, struct buf *out)
{
	uint32_t cap, nlen;
	const unsigned char *nk = rcell(r, key, NK_FIXED, "nk", &cap);

	if (nk == NULL)
		return -1;
	nlen = regf_le16(nk + 72);
	if (nlen > cap - NK_FIXED)
		return -1;
	return name_to_wtf8(nk + NK_FIXED, nlen,
			    regf_le16(nk + 2) & KEY_COMP_NAME, out);
}

int
regf_value_name(const struct regf *r, uint32_t vk_off, struct buf *out)
{
	uint32_t cap, nlen;
	const unsigned char *vk = rcell(r, vk_off, VK_FIXED, "vk", &cap);

	if (vk == NULL)
		return -1;
	nlen = regf_le16(vk + 2);
	if (nlen > cap - VK_FIXED)
		return -1;
	return name_to_wtf8(vk + VK_FIXED, nlen,
			    regf_le16(vk + 16) & VALUE_COMP_NAME, out);
}

int
regf_key_path(const struct regf *r, uint32_t key, struct buf *out)
{
	uint32_t chain[REGF_MAX_DEPTH + 1];
	struct buf name = BUF_INIT;
	size_t n = 0;
	int ret = -1;

	while (key != r->root) {
		const unsigned char *nk = rcell(r, key, NK_FIXED, "nk", NULL);

		if (nk == NULL || n == REGF_MAX_DEPTH + 1)
			return -1;
		chain[n++] = key;
		key = regf_le32(nk + 16);
	}
	buf_reset(out);
	if (buf_grow(out, 0) < 0)
		return -1;
	while (n--) {
		if (regf_key_name(r, chain[n], &name) < 0 ||
		    (out->len && buf_addch(out, '\\') < 0) ||
		    buf_add(out, name.data, name.len) < 0)
			goto done;
	}
	ret = 0;
done:
	buf_release(&name);
	return ret;
}

int
regf_value_tombstone(const struct regf *r, uint32_t vk_off)
{
	const unsigned char *vk = rcell(r, vk_off, VK_FIXED, "vk", NULL);

	if (vk == NULL)
		return -1;
	return regf_le32(vk + 4) == 0 && regf_le32(vk + 8) == REGF_NONE &&
	       regf_le32(vk + 12) == REGT_NONE;
}

int
regf_key_tombstone(const struct regf *r, uint32_t key)
{
	const unsigned char *nk = rcell(r, key, NK_FIXED, "nk", NULL);

	if (nk == NULL)
		return -1;
	/* The second byte of the access bits holds the layer semantics in
	 * its two low bits; 1 is IsTombstone.  Only layered hives use it. */
	return (r->flags & REGF_LAYERED) && (nk[13] & 0x3) == 1;
}

int
regf_key_timestamp(const struct regf *r, uint32_t key, uint64_t *ts)
{
	const unsigned char *nk = rcell(r, key, NK_FIXED, "nk", NULL);

	if (nk == NULL)
		return -1;
	*ts = regf_le64(nk + 4);
	return 0;
}

long
regf_nr_subkeys(const struct regf *r, uint32_t key)
{
	const unsigned char *nk = rcell(r, key, NK_FIXED, "nk", NULL);

	return nk ? (long)regf_le32(nk + 20) : -1;
}

long
regf_nr_values(const struct regf *r, uint32_t key)
{
	const unsigned char *nk = rcell(r, key, NK_FIXED, "nk", NULL);

	return nk ? (long)regf_le32(nk + 36) : -1;
}

/*
 * Writer.
 */

uint64_t
regf_filetime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec + 11644473600ull) * 10000000ull +
	       (uint64_t)ts.tv_nsec / 100;
}

/* Owner Administrators, group SYSTEM; SYSTEM, Administrators and CREATOR
 * OWNER get full control and Users read access, inherited by subkeys. */
static const unsigned char default_sd[] = {
	/* header: revision 1, control SE_SELF_RELATIVE | SE_DACL_PRESENT */
	0x01, 0x00, 0x04, 0x80, 20, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0,
	48, 0, 0, 0,
	/* owner S-1-5-32-544 */
	0x01, 0x02, 0, 0, 0, 0, 0, 5, 0x20, 0, 0, 0, 0x20, 0x02, 0, 0,
	/* group S-1-5-18 */
	0x01, 0x01, 0, 0, 0, 0, 0, 5, 0x12, 0, 0, 0,
	/* DACL: revision 2, size 96, 4 ACEs */
	0x02, 0x00, 96, 0, 4, 0, 0, 0,
	/* allow, container inherit, KEY_ALL_ACCESS, S-1-5-18 */
	0x00, 0x02, 20, 0, 0x3f, 0x00, 0x0f, 0x00,
	0x01, 0x01, 0, 0, 0, 0, 0, 5, 0x12, 0, 0, 0,
	/* allow, container inherit, KEY_ALL_ACCESS, S-1-5-32-544 */
	0x00, 0x02, 24, 0, 0x3f, 0x00, 0x0f, 0x00,
	0x01, 0x02, 0, 0, 0, 0, 0, 5, 0x20, 0, 0, 0, 0x20, 0x02, 0, 0,
	/* allow, container inherit, KEY_READ, S-1-5-32-545 */
	0x00, 0x02, 24, 0, 0x19, 0x00, 0x02, 0x00,
	0x01, 0x02, 0, 0, 0, 0, 0, 5, 0x20, 0, 0, 0, 0x21, 0x02, 0, 0,
	/* allow, container inherit + inherit only, GENERIC_ALL, S-1-3-0 */
	0x00, 0x0a, 20, 0, 0x00, 0x00, 0x00, 0x10,
	0x01, 0x01, 0, 0, 0, 0, 0, 3, 0x00, 0, 0, 0,
};

int
regf_new_empty(struct buf *out, uint64_t timestamp, struct kp_error *err)
{
	const uint32_t nk = 0x20, nk_len = 88;
	const uint32_t sk = nk + nk_len;
	const uint32_t sk_len = (4 + SK_FIXED + sizeof(default_sd) + 7) & ~7u;
	const uint32_t free_off = sk + sk_len;
	unsigned char *f, *b, *c;

	buf_reset(out);
	if (buf_grow(out, REGF_BASE_SIZE + REGF_HBIN_SIZE) < 0)
		return kp_fail_oom(err);
	f = (unsigned char *)out->data;
	memset(f, 0, REGF_BASE_SIZE + REGF_HBIN_SIZE);

	memcpy(f, "regf", 4);
	regf_put32(f + 0x04, 1);
	regf_put32(f + 0x08, 1);
	regf_put64(f + 0x0c, timestamp);
	regf_put32(f + 0x14, 1);
	regf_put32(f + 0x18, 5);
	regf_put32(f + 0x1c, REGF_PRIMARY);
	regf_put32(f + 0x20, 1);
	regf_put32(f + 0x24, nk);
	regf_put32(f + 0x28, REGF_HBIN_SIZE);
	regf_put32(f + 0x2c, 1);
	regf_set_checksum(f);

	b = f + REGF_BASE_SIZE;
	memcpy(b, "hbin", 4);
	regf_put32(b + 0x04, 0);
	regf_put32(b + 0x08, REGF_HBIN_SIZE);
	regf_put64(b + 0x14, timestamp);

	c = b + nk;
	regf_put32(c, (uint32_t)-(int32_t)nk_len);
	memcpy(c + 4, "nk", 2);
	c[4 + 2] = 0x2c;	/* HIVE_ENTRY | NO_DELETE | COMP_NAME */
	regf_put64(c + 4 + 4, timestamp);
	regf_put32(c + 4 + 16, REGF_NONE);	/* parent */
	regf_put32(c + 4 + 28, REGF_NONE);	/* subkey list */
	regf_put32(c + 4 + 32, REGF_NONE);	/* volatile subkey list */
	regf_put32(c + 4 + 40, REGF_NONE);	/* value list */
	regf_put32(c + 4 + 44, sk);
	regf_put32(c + 4 + 48, REGF_NONE);	/* class name */
	c[4 + 72] = 4;
	memcpy(c + 4 + NK_FIXED, "ROOT", 4);

	c = b + sk;
	regf_put32(c, (uint32_t)-(int32_t)sk_len);
	memcpy(c + 4, "sk", 2);
	regf_put32(c + 4 + 4, sk);	/* flink: the list holds only us */
	regf_put32(c + 4 + 8, sk);	/* blink */
	regf_put32(c + 4 + 12, 1);	/* reference count */
	regf_put32(c + 4 + 16, sizeof(default_sd));
	memcpy(c + 4 + SK_FIXED, default_sd, sizeof(default_sd));

	regf_put32(b + free_off, REGF_HBIN_SIZE - free_off);
	out->len = REGF_BASE_SIZE + REGF_HBIN_SIZE;
	out->data[out->len] = '\0';
	return 0;
}

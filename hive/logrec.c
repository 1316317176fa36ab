/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replay of registry transaction logs (old "DIRT" and new "HvLE" formats).
 * Section names in comments refer to the Windows registry file format
 * specification by Maxim Suhanov (CC BY 4.0).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logrec.h"
#include "marvin32.h"
#include "regf.h"

#define LOG_BASE 512u
#define ENTRY_HDR 40u

bool
logrec_seq_before(uint32_t a, uint32_t b)
{
	uint32_t d = b - a;

	return d >= 1 && d <= 0x7fffffffu;
}

static void
why(char *buf, size_t sz, const char *fmt, ...) KP_PRINTF(3, 4);

static void
why(char *buf, size_t sz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
}

/* A new-format log entry that passed every check. */
struct entry {
	uint32_t size, flags, seq, hbins, npages;
	const unsigned char *refs;	/* npages {offset, size} pairs */
	const unsigned char *pages;	/* page data, in reference order */
};

/* Check the entry at OFF (*Log entries*, *Notes* 1-3, 7, 8), plus bounds
 * checks of our own: every size, count and reference must fit. */
static int
entry_check(const unsigned char *log, size_t len, size_t off,
	    uint32_t expected, uint32_t cur_hbins, struct entry *e, char *w,
	    size_t wsz)
{
	const unsigned char *p = log + off;
	uint64_t data = 0, end, i;

	if (off > len || len - off < ENTRY_HDR) {
		why(w, wsz, "entry at 0x%zx: truncated", off);
		return -1;
	}
	if (memcmp(p, "HvLE", 4) != 0) {
		why(w, wsz, "entry at 0x%zx: no 'HvLE' signature", off);
		return -1;
	}
	e->size = regf_le32(p + 4);
	e->flags = regf_le32(p + 8);
	e->seq = regf_le32(p + 12);
	e->hbins = regf_le32(p + 16);
	e->npages = regf_le32(p + 20);
	if (e->size > len - off) {
		why(w, wsz, "entry at 0x%zx (sequence %u): 0x%x bytes, past "
		    "the end of the log (truncated)", off, e->seq, e->size);
		return -1;
	}
	if (e->size < LOG_BASE || e->size % LOG_BASE) {
		why(w, wsz, "entry at 0x%zx: bad size 0x%x", off, e->size);
		return -1;
	}
	if (e->hbins == 0 || e->hbins % REGF_HBIN_SIZE ||
	    e->hbins > REGF_MAX_FILE - REGF_BASE_SIZE) {
		why(w, wsz, "entry at 0x%zx: bad hive bins size 0x%x", off,
		    e->hbins);
		return -1;
	}
	if (e->npages == 0 ||
	    (uint64_t)e->npages * 8 > e->size - ENTRY_HDR) {
		why(w, wsz, "entry at 0x%zx: bad dirty page count %u", off,
		    e->npages);
		return -1;
	}
	/* Hash-2 covers the first 32 bytes (Hash-1 included), Hash-1 the
	 * rest of the entry, padding included (*Notes* 1-3). */
	if (marvin32(p, 32, MARVIN32_REGISTRY_SEED) != regf_le64(p + 32) ||
	    marvin32(p + ENTRY_HDR, e->size - ENTRY_HDR,
		     MARVIN32_REGISTRY_SEED) != regf_le64(p + 24)) {
		why(w, wsz, "entry at 0x%zx (sequence %u): hash mismatch", off,
		    e->seq);
		return -1;
	}
	if (e->seq != expected) {
		why(w, wsz, "entry at 0x%zx: sequence %u, expected %u", off,
		    e->seq, expected);
		return -1;
	}
	e->refs = p + ENTRY_HDR;
	end = 0;
	for (i = 0; i < e->npages; i++) {
		uint32_t o = regf_le32(e->refs + i * 8);
		uint32_t s = regf_le32(e->refs + i * 8 + 4);

		if (s == 0 || o % 512 || s % 512 ||
		    (uint64_t)o + s > e->hbins) {
			why(w, wsz, "entry at 0x%zx: dirty page %u+0x%x "
			    "outside the hive bins", off, o, s);
			return -1;
		}
		if ((uint64_t)o + s > end)
			end = (uint64_t)o + s;
		data += s;
	}
	/* A hive grows only by bins that are written, so they are in the
	 * entry: a larger size would only make us allocate for nothing. */
	if (e->hbins > cur_hbins && e->hbins > ((end + 4095) & ~4095ull)) {
		why(w, wsz, "entry at 0x%zx: hive bins size 0x%x beyond "
		    "anything it holds", off, e->hbins);
		return -1;
	}
	if (data > e->size - ENTRY_HDR - (uint64_t)e->npages * 8) {
		why(w, wsz, "entry at 0x%zx: page data exceeds the entry", off);
		return -1;
	}
	e->pages = e->refs + (size_t)e->npages * 8;
	return 0;
}

/* Make the image hold at least SIZE bytes, zero-filled. */
static int
grow(struct buf *img, size_t size)
{
	if (img->len >= size)
		return 0;
	if (buf_grow(img, size - img->len) < 0)
		return -1;
	memset(img->data + img->len, 0, size - img->len);
	img->len = size;
	img->data[size] = '\0';
	return 0;
}

static int
entry_apply(struct buf *img, const struct entry *e)
{
	const unsigned char *src = e->pages;
	unsigned char *base;
	uint32_t i;

	/* *Notes* 9: the file grows to the entry's hive bins size. */
	if (grow(img, REGF_BASE_SIZE + (size_t)e->hbins) < 0)
		return -1;
	for (i = 0; i < e->npages; i++) {
		uint32_t o = regf_le32(e->refs + i * 8);
		uint32_t s = regf_le32(e->refs + i * 8 + 4);

		memcpy(img->data + REGF_BASE_SIZE + o, src, s);
		src += s;
	}
	/* *Notes* 11: only flag bit 0 travels in an entry. */
	base = (unsigned char *)img->data;
	regf_put32(base + 0x90, (regf_le32(base + 0x90) & ~1u) | (e->flags & 1));
	regf_put32(base + 0x28, e->hbins);
	return 0;
}

/* Validate the 512-byte base block of a log (*Old format › Base block ›
 * Notes* 2; *New format › Base block*). */
static void
check_header(const struct logrec_input *in, struct logrec_log *L)
{
	struct regf_header h;

	memset(L, 0, sizeof(*L));
	L->present = in->present;
	if (!in->present) {
		why(L->why, sizeof(L->why), "not present");
		return;
	}
	if (in->len == 0) {
		L->empty = true;
		why(L->why, sizeof(L->why), "empty");
		return;
	}
	if (in->len < LOG_BASE + 4 ||
	    regf_header_parse(in->data, in->len, &h, NULL) < 0) {
		why(L->why, sizeof(L->why), "not a transaction log "
		    "(no 'regf' base block)");
		return;
	}
	L->timestamp = h.timestamp;
	if (!h.checksum_ok) {
		why(L->why, sizeof(L->why), "base block checksum mismatch");
		return;
	}
	if (h.seq1 != h.seq2) {
		why(L->why, sizeof(L->why), "sequence numbers differ (%u/%u)",
		    h.seq1, h.seq2);
		return;
	}
	if (h.type == REGF_PRIMARY) {
		why(L->why, sizeof(L->why), "this is a hive, not a log");
		return;
	}
	if (h.type != REGF_LOG_OLD && h.type != REGF_LOG_OLD2 &&
	    h.type != REGF_LOG_NEW) {
		why(L->why, sizeof(L->why), "unknown file type %u", h.type);
		return;
	}
	if (h.major != 1 || h.minor < 3 || h.minor > 6 || h.format != 1 ||
	    h.cluster != 1 || h.hbins_size < REGF_HBIN_SIZE ||
	    h.hbins_size % REGF_HBIN_SIZE ||
	    h.hbins_size > REGF_MAX_FILE - REGF_BASE_SIZE) {
		why(L->why, sizeof(L->why), "unsupported base block "
		    "(version %u.%u, hive bins 0x%x)", h.major, h.minor,
		    h.hbins_size);
		return;
	}
	if (h.type == REGF_LOG_NEW) {
		L->format = 6;
	} else {
		L->format = 1;
		if (memcmp(in->data + LOG_BASE, "DIRT", 4) != 0) {
			why(L->why, sizeof(L->why), "no 'DIRT' dirty vector");
			return;
		}
		if (in->len - LOG_BASE - 4 < h.hbins_size / 4096) {
			why(L->why, sizeof(L->why), "truncated dirty vector");
			return;
		}
	}
	/* Only a valid base block's number counts; a damaged one could
	 * say anything. */
	L->seq = L->max_seq = h.seq1;
	L->valid = true;
}

/* The latest sequence number Windows could meet in this log: its base block
 * and every entry header on the chain of sizes from 0x200, stale ones too,
 * compared as serial numbers so that a wild value cannot wrap ours. */
static void
scan_entries(const struct logrec_input *in, struct logrec_log *L)
{
	size_t off = LOG_BASE;

	if (!in->present || in->len < LOG_BASE || (L->valid && L->format != 6))
		return;
	while (off <= in->len && in->len - off >= ENTRY_HDR &&
	       memcmp(in->data + off, "HvLE", 4) == 0) {
		uint32_t size = regf_le32(in->data + off + 4);
		uint32_t seq = regf_le32(in->data + off + 12);

		if (logrec_seq_before(L->max_seq, seq))
			L->max_seq = seq;
		if (size < LOG_BASE || size % LOG_BASE || size > in->len - off)
			break;
		off += size;
	}
}

void
logrec_scan(const struct logrec_input in[2], struct logrec_result *res)
{
	int i;

	memset(res, 0, sizeof(*res));
	for (i = 0; i < 2; i++) {
		check_header(&in[i], &res->log[i]);
		scan_entries(&in[i], &res->log[i]);
		if (res->log[i].max_seq &&
		    (res->max_seq == 0 ||
		     logrec_seq_before(res->max_seq, res->log[i].max_seq)))
			res->max_seq = res->log[i].max_seq;
	}
}

/* Apply the entries of log N from 0x200 while they chain from EXPECTED
 * (*Notes* 7, 8: stop at the first entry that fails).  Windows stops there
 * silently; we also record it as damage when the failing entry carries the
 * signature and the very sequence number that was expected and a later
 * entry exists in either log: those changes would be lost. */
static int
apply_log(struct buf *img, const struct logrec_input *in, int n,
	  struct logrec_log *L, uint32_t expected, uint32_t *last,
	  struct logrec_result *res)
{
	size_t off = LOG_BASE;
	struct entry e;

	while (off < in->len) {
		uint32_t cur = img->len > REGF_BASE_SIZE ?
			(uint32_t)(img->len - REGF_BASE_SIZE) : 0;

		if (entry_check(in->data, in->len, off, expected, cur, &e,
				L->why, sizeof(L->why)) < 0) {
			/* A torn last entry (a crash while it was written) is
			 * not damage: nothing newer exists anywhere. */
			if (in->len - off >= 16 &&
			    memcmp(in->data + off, "HvLE", 4) == 0 &&
			    regf_le32(in->data + off + 12) == expected &&
			    logrec_seq_before(expected, res->max_seq) &&
			    !res->damage[0])
				why(res->damage, sizeof(res->damage),
				    "LOG%d: %s", n + 1, L->why);
			break;
		}
		if (entry_apply(img, &e) < 0)
			return -1;
		if (res->applied == 0)
			res->first_seq = e.seq;
		res->applied++;
		L->applied++;
		*last = e.seq;
		expected = e.seq + 1;
		off += e.size;
	}
	if (L->applied && off >= in->len)
		L->why[0] = '\0';
	return 0;
}

static int
recover_new(const unsigned char *primary, size_t len,
	    const struct regf_header *P, const struct logrec_input in[2],
	    struct buf *img, struct logrec_result *res)
{
	int order[2], n = 0, first = -1, i;
	uint32_t last = 0;

	for (i = 0; i < 2; i++)
		if (res->log[i].valid && res->log[i].format == 6)
			order[n++] = i;
	if (n == 2 && logrec_seq_before(res->log[order[1]].seq,
				 res->log[order[0]].seq)) {
		/* *Multiple transaction log files › New format*: LOG1 does
		 * not necessarily hold the earlier entries. */
		int t = order[0];

		order[0] = order[1];
		order[1] = t;
	}
	if (P->checksum_ok) {
		if (buf_add(img, primary, len) < 0)
			return -1;
		/* *Notes* 5, 7: the first entry applied must not be older
		 * than the primary's secondary sequence number. */
		for (i = 0; i < n && first < 0; i++)
			if (!logrec_seq_before(res->log[order[i]].seq, P->seq2))
				first = i;
		if (first < 0) {
			why(res->why, sizeof(res->why),
			    "the logs hold no entries newer than the hive "
			    "(hive sequence %u)", P->seq2);
			return 1;
		}
	} else {
		/* A primary with a bad checksum: only the log with the latest
		 * entries is used, and the base block comes from it. */
		first = n - 1;
		if (grow(img, len > REGF_BASE_SIZE ? len : REGF_BASE_SIZE) < 0)
			return -1;
		memset(img->data, 0, REGF_BASE_SIZE);
		memcpy(img->data, in[order[first]].data, LOG_BASE);
		if (len > REGF_BASE_SIZE)
			memcpy(img->data + REGF_BASE_SIZE,
			       primary + REGF_BASE_SIZE, len - REGF_BASE_SIZE);
		regf_put32((unsigned char *)img->data + 0x1c, REGF_PRIMARY);
	}
	i = order[first];
	if (apply_log(img, &in[i], i, &res->log[i], res->log[i].seq, &last,
		      res) < 0)
		return -1;
	if (res->applied == 0) {
		why(res->why, sizeof(res->why), "LOG%d: %s", i + 1,
		    res->log[i].why);
		return 1;
	}
	/* Continue into the other log only if it chains on exactly. */
	if (P->checksum_ok && first == 0 && n == 2) {
		i = order[1];
		if (res->log[i].seq == last + 1) {
			if (apply_log(img, &in[i], i, &res->log[i], last + 1,
				      &last, res) < 0)
				return -1;
		} else if (logrec_seq_before(last + 1, res->log[i].seq) &&
			   !res->damage[0]) {
			/* Newer entries exist, but not the ones between. */
			why(res->damage, sizeof(res->damage), "LOG%d starts at "
			    "sequence %u, but the entries end at %u: %u "
			    "missing", i + 1, res->log[i].seq, last,
			    res->log[i].seq - last - 1);
		}
	}
	res->last_seq = last;
	regf_put32((unsigned char *)img->data + 4, last);
	regf_put32((unsigned char *)img->data + 8, last);
	return 0;
}

static int
recover_old(const unsigned char *primary, size_t len,
	    const struct regf_header *P, const struct logrec_input in[2],
	    struct buf *img, struct logrec_result *res)
{
	struct logrec_log *L1 = &res->log[0], *L2 = &res->log[1], *L;
	const struct logrec_input *src;
	bool ok1, ok2;
	uint64_t ts;
	uint32_t hb, nbits, i;
	size_t page;

	/* *Old format › Base block › Notes* 3: a log applies when its
	 * timestamp equals the primary's (the first bin's if the primary's
	 * base block is bad). */
	if (P->checksum_ok)
		ts = P->timestamp;
	else if (len >= REGF_BASE_SIZE + 0x1c)
		ts = regf_le64(primary + REGF_BASE_SIZE + 0x14);
	else
		ts = 0;
	ok1 = L1->valid && L1->format == 1;
	ok2 = L2->valid && L2->format == 1;
	/* *Multiple transaction log files › Old format* (Windows 8 rule):
	 * LOG1 if it matches, else LOG2 if LOG1 is unusable or older. */
	if (ok1 && L1->timestamp == ts) {
		L = L1;
		src = &in[0];
	} else if (ok2 && (!ok1 || L2->timestamp > L1->timestamp)) {
		L = L2;
		src = &in[1];
	} else {
		why(res->why, sizeof(res->why),
		    "no log matches the hive's timestamp");
		if (ok1)
			why(L1->why, sizeof(L1->why), "timestamp does not "
			    "match the hive's");
		return 1;
	}
	if (buf_add(img, primary, len) < 0)
		return -1;
	if (!P->checksum_ok) {
		memset(img->data, 0, REGF_BASE_SIZE);
		memcpy(img->data, src->data, LOG_BASE);
		regf_put32((unsigned char *)img->data + 0x1c, REGF_PRIMARY);
	}
	hb = regf_le32(src->data + 0x28);
	nbits = hb / 512;
	/* As for new logs: growth beyond the primary must be in dirty pages. */
	if ((size_t)hb > (len > REGF_BASE_SIZE ? len - REGF_BASE_SIZE : 0)) {
		const unsigned char *bm = src->data + LOG_BASE + 4;
		uint32_t last = 0;

		for (i = 0; i < nbits; i++)
			if (bm[i >> 3] & (1u << (i & 7)))
				last = i + 1;
		if ((uint64_t)last * 512 + 4095 < hb) {
			why(res->why, sizeof(res->why), "LOG%d: hive bins size "
			    "0x%x beyond its dirty pages", L == L1 ? 1 : 2, hb);
			return 1;
		}
	}
	/* Dirty pages start at the sector after the bitmap, which is not
	 * always 0x400 (*Dirty pages*). */
	page = (LOG_BASE + 4 + (size_t)hb / 4096 + LOG_BASE - 1) &
	       ~(size_t)(LOG_BASE - 1);
	if (grow(img, REGF_BASE_SIZE + (size_t)hb) < 0)
		return -1;
	for (i = 0; i < nbits; i++) {
		const unsigned char *bitmap = src->data + LOG_BASE + 4;

		if (!(bitmap[i >> 3] & (1u << (i & 7))))
			continue;
		if (page > src->len || src->len - page < 512) {
			why(res->why, sizeof(res->why), "LOG%d: truncated "
			    "(dirty page %u missing)", L == L1 ? 1 : 2, i);
			return 1;
		}
		memcpy(img->data + REGF_BASE_SIZE + (size_t)i * 512,
		       src->data + page, 512);
		page += 512;
		L->applied++;
		res->applied++;
	}
	if (res->applied == 0) {
		why(res->why, sizeof(res->why), "LOG%d: no dirty pages",
		    L == L1 ? 1 : 2);
		return 1;
	}
	regf_put32((unsigned char *)img->data + 0x28, hb);
	regf_put32((unsigned char *)img->data + 8,
		   regf_le32((unsigned char *)img->data + 4));
	res->first_seq = res->last_seq = L->seq;
	return 0;
}

int
logrec_recover(const unsigned char *primary, size_t len,
	       const struct logrec_input in[2], struct buf *out,
	       struct logrec_result *res, struct kp_error *err)
{
	struct regf_header P;
	struct regf_stats st;
	struct kp_error verr = KP_ERROR_INIT;
	bool any_new, any_old;
	int r, i;

	logrec_scan(in, res);
	buf_reset(out);
	if (regf_header_parse_primary(primary, len, &P, err) < 0)
		return -1;
	if (len < REGF_BASE_SIZE)
		return kp_fail(err, KP_ERR_INPUT,
			       "truncated hive (%zu bytes)", len);
	/* A log is a copy of its own hive's base block, GUIDs included
	 * (*Base block*: RmId, LogId, TmId): other GUIDs mean the log belongs
	 * to another hive. */
	for (i = 0; i < 2 && P.checksum_ok; i++) {
		if (!res->log[i].valid ||
		    (memcmp(primary + 0x70, in[i].data + 0x70, 0x20) == 0 &&
		     memcmp(primary + 0x94, in[i].data + 0x94, 0x14) == 0))
			continue;
		res->log[i].valid = false;
		why(res->log[i].why, sizeof(res->log[i].why), "belongs to "
		    "another hive (its GUIDs differ from the hive's)");
	}
	any_new = any_old = false;
	for (i = 0; i < 2; i++) {
		any_new |= res->log[i].valid && res->log[i].format == 6;
		any_old |= res->log[i].valid && res->log[i].format == 1;
	}
	if (!any_new && !any_old) {
		why(res->why, sizeof(res->why), "no usable transaction log "
		    "(LOG1: %s; LOG2: %s)", res->log[0].why, res->log[1].why);
		return kp_fail(err, KP_ERR_INPUT, "%s", res->why);
	}
	if (any_new) {
		res->format = 6;
		r = recover_new(primary, len, &P, in, out, res);
	} else {
		res->format = 1;
		r = recover_old(primary, len, &P, in, out, res);
	}
	if (r < 0)
		return kp_fail_oom(err);
	if (r > 0)
		return kp_fail(err, KP_ERR_INPUT, "%s", res->why);
	regf_put32((unsigned char *)out->data + 0x1c, REGF_PRIMARY);
	regf_set_checksum((unsigned char *)out->data);
	/* The result must be a consistent hive, or nothing is used. */
	if (regf_validate((unsigned char *)out->data, out->len, &st, &verr) < 0) {
		why(res->why, sizeof(res->why), "replaying the logs gives an "
		    "inconsistent hive: %s", verr.msg);
		buf_reset(out);
		return kp_fail(err, KP_ERR_INPUT, "%s", res->why);
	}
	res->usable = true;
	return 0;
}

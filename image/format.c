/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image header reader (format.h).  Written by hand: no library
 * reads these headers without also opening what they name, which is the
 * point.  Every read goes through rd() with its bounds; every field is
 * checked before it is used.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/format.h"
#include "lib/buf.h"

static const char *const names[FMT_NR] = {
	[FMT_RAW] = "raw",
	[FMT_QCOW2] = "qcow2",
	[FMT_VMDK] = "vmdk",
	[FMT_VHDX] = "vhdx",
	[FMT_VPC] = "vpc",
	[FMT_VDI] = "vdi",
	[FMT_WIM] = "wim",
};

static const char *const ref_names[FMT_REF_NR] = {
	[FMT_REF_BACKING] = "backing file",
	[FMT_REF_DATA_FILE] = "external data file",
	[FMT_REF_EXTENT] = "extent",
	[FMT_REF_PARENT] = "parent disk",
};

const char *
fmt_name(enum fmt f)
{
	return f < FMT_NR ? names[f] : "unknown";
}

enum fmt
fmt_from_name(const char *name)
{
	size_t i;

	if (name && strcmp(name, "vhd") == 0)
		return FMT_VPC;
	for (i = 0; name && i < FMT_NR; i++)
		if (strcmp(name, names[i]) == 0)
			return (enum fmt)i;
	return FMT_NR;
}

const char *
fmt_ref_kind_name(enum fmt_ref_kind kind)
{
	return kind < FMT_REF_NR ? ref_names[kind] : "reference";
}

/* The file being read. */
struct src {
	fmt_read_fn *read;
	void *ctx;
	uint64_t size;
	struct fmt_info *info;
	struct kp_error *err;
};

/* Exactly LEN bytes at OFF, or an error saying the file ends first. */
static int
rd(struct src *s, void *buf, size_t len, uint64_t off)
{
	unsigned char *p = buf;

	if (off > s->size || len > s->size - off)
		return kp_fail(s->err, KP_ERR_INPUT, "%s header points past "
			       "the end of the file", names[s->info->format]);
	while (len) {
		ssize_t n = s->read(s->ctx, p, len, off);

		if (n < 0)
			return kp_fail_errno(s->err, KP_ERR_INPUT, errno,
					     "cannot read");
		if (n == 0)
			return kp_fail(s->err, KP_ERR_INPUT, "the file ended "
				       "while it was read");
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static uint16_t
le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t
be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static int
bad(struct src *s, const char *fmt, ...) KP_PRINTF(2, 3);

/* The file is not the format it claims: KP_ERR_INPUT. */
static int
bad(struct src *s, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kp_fail(s->err, KP_ERR_INPUT, "not a valid %s image: %s",
		       names[s->info->format], msg);
}

/* Name bytes N at P as a reference: printable, no NUL inside. */
static int
add_ref(struct src *s, enum fmt_ref_kind kind, enum fmt format,
	uint64_t offset, const char *p, size_t n)
{
	struct fmt_info *in = s->info;
	struct fmt_ref *r;
	size_t i;

	if (n == 0 || n >= FMT_NAME_MAX || memchr(p, '\0', n))
		return bad(s, "a %s name is empty, too long or holds a NUL",
			   ref_names[kind]);
	if (in->nrefs == FMT_REFS_MAX)
		return bad(s, "it names more than %d files", FMT_REFS_MAX);
	r = realloc(in->refs, (in->nrefs + 1) * sizeof(*r));
	if (r == NULL)
		return kp_fail_oom(s->err);
	in->refs = r;
	r += in->nrefs;
	r->kind = kind;
	r->format = format;
	r->offset = offset;
	r->name = strndup(p, n);
	if (r->name == NULL)
		return kp_fail_oom(s->err);
	for (i = 0; i < n; i++)
		if ((unsigned char)r->name[i] < 0x20 || r->name[i] == 0x7f)
			r->name[i] = '?';
	in->nrefs++;
	return 0;
}

/*
 * qcow2 (docs/interop/qcow2.txt in qemu): a big-endian header; a backing
 * file named at backing_file_offset; header extensions after the header,
 * within the first cluster, one of which names the backing file's format
 * and one an external data file.
 */
#define QCOW2_EXT_BACKING_FMT 0xe2792acaU
#define QCOW2_EXT_DATA_FILE 0x44415441U
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)
/* dirty, corrupt, external data file, compression type, extended L2 */
#define QCOW2_INCOMPAT_KNOWN 0x1fULL

static int
qcow2(struct src *s)
{
	unsigned char h[112], *c = NULL;
	uint32_t version, bits, hlen = 72, bflen, crypt;
	uint64_t boff, incompat = 0, off;
	enum fmt bfmt = FMT_NR;
	char fmtname[32] = "";
	bool data_file = false;
	size_t csize;
	int r = -1;

	if (rd(s, h, s->size < sizeof(h) ? 72 : sizeof(h), 0) < 0)
		return -1;
	version = be32(h + 4);
	boff = be64(h + 8);
	bflen = be32(h + 16);
	bits = be32(h + 20);
	s->info->size = be64(h + 24);
	crypt = be32(h + 32);
	if (version != 2 && version != 3)
		return bad(s, "version %u", version);
	if (bits < 9 || bits > 21)
		return bad(s, "cluster size 2^%u", bits);
	csize = (size_t)1 << bits;
	if (version == 3) {
		if (s->size < 104)
			return bad(s, "short header");
		incompat = be64(h + 72);
		hlen = be32(h + 100);
		if (hlen < 104 || hlen % 8 || hlen > csize)
			return bad(s, "header length %u", hlen);
	}
	if (crypt != 0)
		return kp_fail(s->err, KP_ERR_INPUT, "an encrypted qcow2 "
			       "image: not supported (decrypt it with qemu-img "
			       "convert first)");
	if (incompat & ~QCOW2_INCOMPAT_KNOWN)
		return bad(s, "unknown incompatible features 0x%llx",
			   (unsigned long long)(incompat &
						~QCOW2_INCOMPAT_KNOWN));
	/* The header extensions: within the first cluster. */
	if (csize > s->size)
		csize = (size_t)s->size;
	c = malloc(csize);
	if (c == NULL)
		return kp_fail_oom(s->err);
	if (rd(s, c, csize, 0) < 0)
		goto out;
	for (off = hlen; off + 8 <= csize;) {
		uint32_t type = be32(c + off), len = be32(c + off + 4);

		off += 8;
		if (type == 0)
			break;
		if (len > csize - off) {
			bad(s, "a header extension runs past the first "
			    "cluster");
			goto out;
		}
		if (type == QCOW2_EXT_BACKING_FMT) {
			if (len >= sizeof(fmtname)) {
				bad(s, "backing format name too long");
				goto out;
			}
			memcpy(fmtname, c + off, len);
			fmtname[len] = '\0';
			bfmt = fmt_from_name(fmtname);
		} else if (type == QCOW2_EXT_DATA_FILE) {
			if (add_ref(s, FMT_REF_DATA_FILE, FMT_RAW, 0,
				    (const char *)c + off, len) < 0)
				goto out;
			data_file = true;
		}
		off += ((uint64_t)len + 7) & ~(uint64_t)7;
	}
	if ((incompat & QCOW2_INCOMPAT_DATA_FILE) && !data_file) {
		/* qemu would need the name as an option: it names nothing
		 * here, and nothing is opened for it. */
		kp_fail(s->err, KP_ERR_INPUT, "a qcow2 image whose data is "
			"in an external file it does not name: not supported");
		goto out;
	}
	if (!(incompat & QCOW2_INCOMPAT_DATA_FILE) && data_file) {
		/* The name alone means nothing to qemu. */
		free(s->info->refs[--s->info->nrefs].name);
	}
	/* An offset with an empty name names nothing (qemu: block.c). */
	if (boff && bflen) {
		if (bflen > 1023 || boff >= csize || bflen > csize - boff) {
			bad(s, "backing file name out of bounds");
			goto out;
		}
		if (fmtname[0] && bfmt == FMT_NR) {
			kp_fail(s->err, KP_ERR_INPUT, "a backing file of "
				"format '%.20s': not supported", fmtname);
			goto out;
		}
		if (add_ref(s, FMT_REF_BACKING, bfmt, 0,
			    (const char *)c + boff, bflen) < 0)
			goto out;
	}
	r = 0;
out:
	free(c);
	return r;
}

/*
 * VMDK: a sparse extent ("KDMV", little-endian header) that may embed a
 * descriptor; a text descriptor naming extent files; VMware 3 ("COWD").
 */
#define VMDK_DESC_MAX ((size_t)1 << 20)
#define VMDK_GD_AT_END 0xffffffffffffffffULL
/* Header flag: grains are compressed (VMDK4_FLAG_COMPRESS). */
#define VMDK_COMPRESSED (1u << 16)

/* A delta disk names its parent: qemu takes the first
 * "parentFileNameHint" anywhere in the descriptor, skips the two
 * characters after it ('="') and reads up to the next quote.  An empty
 * name names nothing. */
static int
vmdk_parent(struct src *s, const char *text, size_t len)
{
	static const char key[] = "parentFileNameHint";
	const char *p = strstr(text, key), *e;

	if (p == NULL)
		return 0;
	p += sizeof(key) - 1;
	if ((size_t)(text + len - p) < 2)
		return bad(s, "parentFileNameHint without a name");
	p += 2;
	e = strchr(p, '"');
	if (e == NULL)
		return bad(s, "parentFileNameHint without an end");
	return e == p ? 0 : add_ref(s, FMT_REF_BACKING, FMT_VMDK, 0, p,
				    (size_t)(e - p));
}

/* Extent lines, ACCESS SECTORS TYPE "NAME" [OFFSET], found as qemu finds
 * them: scanned from the start of every line with the rest of the text
 * after it, so an extent may run over several lines and a blank line
 * before one makes it count twice.  Every access mode is taken (qemu
 * opens only RW extents): more files than qemu opens, never fewer.  TEXT
 * ends with a NUL at LEN. */
static int
vmdk_extents(struct src *s, const char *text, size_t len)
{
	static const struct {
		const char *type;
		enum fmt format;
	} types[] = {
		{ "FLAT", FMT_RAW }, { "VMFS", FMT_RAW },
		{ "SPARSE", FMT_VMDK }, { "VMFSSPARSE", FMT_VMDK },
		{ "SESPARSE", FMT_VMDK },
	};
	const char *p = text;

	while (p < text + len) {
		char acc[11], type[11], name[512];
		long long sectors, offset = 0;
		int m = sscanf(p, "%10s %lld %10s \"%511[^\n\r\"]\" %lld", acc,
			       &sectors, type, name, &offset);
		size_t k;

		if (m >= 4) {
			for (k = 0; k < sizeof(types) / sizeof(types[0]); k++)
				if (strcmp(type, types[k].type) == 0)
					break;
			/* Other types (ZERO, ...) name no file to qemu. */
			if (k < sizeof(types) / sizeof(types[0]) &&
			    add_ref(s, FMT_REF_EXTENT, types[k].format,
				    offset > 0 ? (uint64_t)offset * 512 : 0,
				    name, strlen(name)) < 0)
				return -1;
		}
		while (p < text + len && *p != '\n' && *p != '\r')
			p++;
		p++;
	}
	return 0;
}

/* Read the descriptor of LEN bytes at OFF (text, at most
 * VMDK_DESC_MAX) into OUT. */
static int
vmdk_desc(struct src *s, uint64_t off, uint64_t len, struct buf *out)
{
	if (len > VMDK_DESC_MAX)
		len = VMDK_DESC_MAX;
	if (off > s->size)
		return bad(s, "descriptor past the end of the file");
	if (len > s->size - off)
		len = s->size - off;
	if (buf_grow(out, (size_t)len + 1) < 0)
		return kp_fail_oom(s->err);
	if (rd(s, out->data, (size_t)len, off) < 0)
		return -1;
	out->len = strnlen(out->data, (size_t)len);
	out->data[out->len] = '\0';
	return 0;
}

/* qemu reads a binary VMDK's CID and parentFileNameHint from the 10 KiB
 * at 0x200, whatever its header says (block/vmdk.c). */
#define VMDK_CID_OFF 0x200
#define VMDK_CID_LEN 10240

static int
vmdk(struct src *s)
{
	unsigned char h[512];
	struct buf d = BUF_INIT;
	uint64_t cap, doff, dlen;
	int r;

	if (s->size >= 4 && rd(s, h, 4, 0) < 0)
		return -1;
	if (s->size >= 4 && memcmp(h, "COWD", 4) == 0)
		return kp_fail(s->err, KP_ERR_INPUT, "a VMware 3 (COWD) "
			       "image: not supported (convert it with "
			       "qemu-img convert)");
	if (s->size < 4 || memcmp(h, "KDMV", 4) != 0) {
		/* A text descriptor: every extent is another file. */
		r = vmdk_desc(s, 0, s->size, &d);
		if (r == 0)
			r = vmdk_extents(s, d.data, d.len);
		if (r == 0 && s->info->nrefs == 0)
			r = bad(s, "neither a sparse header nor a descriptor "
				"naming an extent");
		if (r == 0)
			r = vmdk_parent(s, d.data, d.len);
		buf_release(&d);
		return r;
	}
	if (rd(s, h, sizeof(h), 0) < 0)
		return -1;
	cap = le64(h + 12);
	doff = le64(h + 28);
	dlen = le64(h + 36);
	if (doff > UINT64_MAX / 512 || dlen > UINT64_MAX / 512)
		return bad(s, "descriptor out of range");
	/* With no capacity, qemu takes an embedded descriptor's extents for
	 * the disk (as a descriptor file's, relative to this file).  It
	 * reads up to the first NUL, whatever the header's size says
	 * (block/vmdk.c, vmdk_read_desc), and so does this. */
	if (cap == 0 && doff) {
		r = vmdk_desc(s, doff * 512, VMDK_DESC_MAX - 1, &d);
		if (r == 0)
			r = vmdk_extents(s, d.data, d.len);
		buf_release(&d);
		if (r < 0)
			return -1;
	} else {
		s->info->sparse_vmdk = true;
	}
	/* Compressed grains (stream-optimized, VMware's export form): qemu
	 * 7.2 (block/vmdk.c) writes them only to clusters never written,
	 * failing (EIO) mid-way over anything already there. */
	if (le32(h + 8) & VMDK_COMPRESSED)
		s->info->append_only = true;
	/* A stream-optimized image may keep its header in a footer at the
	 * end; qemu takes all of it (the capacity too) from there. */
	if (le64(h + 56) == VMDK_GD_AT_END) {
		unsigned char f[1536];

		if (s->size < sizeof(f) || rd(s, f, sizeof(f),
					      s->size - sizeof(f)) < 0)
			return bad(s, "no footer");
		if (memcmp(f + 512, "KDMV", 4) != 0 || le32(f + 8) != 0 ||
		    le32(f + 12) != 3)
			return bad(s, "invalid footer");
		cap = le64(f + 512 + 12);
	}
	if (cap > UINT64_MAX / 512)
		return bad(s, "capacity out of range");
	s->info->size = cap * 512;
	/* The parent hint: where qemu reads it, and in the descriptor the
	 * header points at (more than qemu reads, never less). */
	r = vmdk_desc(s, VMDK_CID_OFF, VMDK_CID_LEN, &d);
	if (r == 0)
		r = vmdk_parent(s, d.data, d.len);
	if (r == 0 && doff && doff * 512 != VMDK_CID_OFF) {
		buf_reset(&d);
		r = vmdk_desc(s, doff * 512, dlen * 512, &d);
		if (r == 0)
			r = vmdk_parent(s, d.data, d.len);
	}
	buf_release(&d);
	return r;
}

/*
 * VHDX (MS-VHDX): headers at 64 and 128 KiB, the current one having the
 * higher sequence number and a valid CRC-32C; a region table at 192 KiB
 * locating the metadata, whose items give the disk's size, its sector
 * size and whether it has a parent.
 */

/* CRC-32C (Castagnoli), bitwise: zlib has only CRC-32, and a few
 * hundred KiB are checked once per image. */
static uint32_t
crc32c(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffU;
	int k;

	while (n--) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78U : c >> 1;
	}
	return ~c;
}

/* Is the CRC-32C at offset 4 of the LEN bytes at P right? */
static bool
crc_ok(unsigned char *p, size_t len)
{
	uint32_t want = le32(p + 4);
	bool ok;

	memset(p + 4, 0, 4);
	ok = crc32c(p, len) == want;
	p[4] = (unsigned char)want;
	p[5] = (unsigned char)(want >> 8);
	p[6] = (unsigned char)(want >> 16);
	p[7] = (unsigned char)(want >> 24);
	return ok;
}

/* GUIDs as they lie on disk (the first three fields little-endian). */
static const unsigned char guid_metadata[16] = {
	0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b,
	0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e };
static const unsigned char guid_bat[16] = {
	0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42,
	0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08 };
static const unsigned char guid_file_params[16] = {
	0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d,
	0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b };
static const unsigned char guid_disk_size[16] = {
	0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48,
	0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8 };
static const unsigned char guid_logical_sector[16] = {
	0x1d, 0xbf, 0x41, 0x81, 0x6f, 0xa9, 0x09, 0x47,
	0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f };
static const unsigned char guid_parent_locator[16] = {
	0x2d, 0x5f, 0xd3, 0xa8, 0x0b, 0xb3, 0x4d, 0x45,
	0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c };

#define VHDX_HEADER_SIZE 4096
#define VHDX_REGION_SIZE 65536
#define VHDX_METADATA_MAX (1u << 20)

static int
vhdx(struct src *s)
{
	unsigned char h[2][VHDX_HEADER_SIZE], *t = NULL, *m = NULL;
	uint64_t seq[2] = { 0, 0 }, moff = 0;
	uint32_t mlen = 0, n, i, flags = 0;
	bool ok[2], have_size = false, have_params = false;
	int r = -1, k;

	for (k = 0; k < 2; k++) {
		if (rd(s, h[k], VHDX_HEADER_SIZE,
		       (uint64_t)(k + 1) * 65536) < 0)
			return -1;
		ok[k] = memcmp(h[k], "head", 4) == 0 &&
			crc_ok(h[k], VHDX_HEADER_SIZE) &&
			le16(h[k] + 66) == 1;
		seq[k] = le64(h[k] + 8);
	}
	if (!ok[0] && !ok[1])
		return bad(s, "no valid header");
	k = ok[0] && (!ok[1] || seq[0] >= seq[1]) ? 0 : 1;
	/* A log to replay (its GUID and length set): qemu replays it into
	 * the file on a writable open before anything else is checked, and
	 * refuses a read-only one. */
	for (i = 0; i < 16 && h[k][48 + i] == 0; i++)
		;
	if (i < 16 && le32(h[k] + 68) != 0) {
		kp_fail(s->err, KP_ERR_REFUSED, "the VHDX file has a log to "
			"replay (the host that wrote it did not close it "
			"cleanly): attach it once to Hyper-V, or run "
			"'qemu-img check -r all' on it, then try again");
		return -1;
	}
	t = malloc(VHDX_REGION_SIZE);
	if (t == NULL)
		return kp_fail_oom(s->err);
	if (rd(s, t, VHDX_REGION_SIZE, 192 * 1024) < 0)
		goto out;
	if (memcmp(t, "regi", 4) != 0 || !crc_ok(t, VHDX_REGION_SIZE)) {
		bad(s, "bad region table");
		goto out;
	}
	n = le32(t + 8);
	if (n > (VHDX_REGION_SIZE - 16) / 32) {
		bad(s, "%u regions", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const unsigned char *e = t + 16 + 32 * i;

		if (memcmp(e, guid_metadata, 16) == 0) {
			moff = le64(e + 16);
			mlen = le32(e + 24);
		} else if (memcmp(e, guid_bat, 16) != 0 && (le32(e + 28) & 1)) {
			bad(s, "an unknown region it requires");
			goto out;
		}
	}
	if (moff == 0 || mlen < 65536 || mlen > VHDX_METADATA_MAX) {
		bad(s, "no usable metadata region");
		goto out;
	}
	m = malloc(mlen);
	if (m == NULL) {
		kp_fail_oom(s->err);
		goto out;
	}
	if (rd(s, m, mlen, moff) < 0)
		goto out;
	if (memcmp(m, "metadata", 8) != 0) {
		bad(s, "bad metadata table");
		goto out;
	}
	n = le16(m + 10);
	if (n > 2047) {
		bad(s, "%u metadata entries", n);
		goto out;
	}
	s->info->sector = 512;
	for (i = 0; i < n; i++) {
		const unsigned char *e = m + 32 + 32 * i;
		uint32_t off = le32(e + 16), len = le32(e + 20);
		const unsigned char *v = m + off;

		if (off < 65536 || off > mlen || len > mlen - off) {
			bad(s, "metadata item out of bounds");
			goto out;
		}
		if (memcmp(e, guid_file_params, 16) == 0 && len >= 8) {
			flags = le32(v + 4);
			have_params = true;
		} else if (memcmp(e, guid_disk_size, 16) == 0 && len >= 8) {
			s->info->size = le64(v);
			have_size = true;
		} else if (memcmp(e, guid_logical_sector, 16) == 0 &&
			   len >= 4) {
			s->info->sector = le32(v);
		} else if (memcmp(e, guid_parent_locator, 16) == 0) {
			flags |= 2;
		}
	}
	if (!have_size || !have_params) {
		bad(s, "no disk size or file parameters");
		goto out;
	}
	if (s->info->sector == 4096) {
		/* block/vhdx.c: logical sectors of 512 bytes only. */
		kp_fail(s->err, KP_ERR_INPUT, "a VHDX with 4096-byte logical "
			"sectors: qemu 7.2 cannot read it (convert it with a "
			"tool that can, or use a 512-byte sector disk)");
		goto out;
	}
	if (s->info->sector != 512) {
		bad(s, "logical sector size %u", s->info->sector);
		goto out;
	}
	/* A differencing disk: its parent is named in UTF-16 locator
	 * entries, which qemu 7.2 does not open at all. */
	if (flags & 2) {
		static const char unnamed[] = "(named in its parent locator)";

		if (add_ref(s, FMT_REF_PARENT, FMT_VHDX, 0, unnamed,
			    sizeof(unnamed) - 1) < 0)
			goto out;
	}
	r = 0;
out:
	free(t);
	free(m);
	return r;
}

/*
 * VHD (Virtual PC/Hyper-V, qemu's "vpc"): a 512-byte big-endian footer
 * at the end, and a copy at offset 0 for a dynamic or differencing disk,
 * whose dynamic header names a parent by its UTF-16 name.
 */
#define VHD_FIXED 2
#define VHD_DYNAMIC 3
#define VHD_DIFF 4

/* Is the footer at P sound: its cookie and its checksum (the one's
 * complement of the sum of its bytes, the checksum's own counted as 0)? */
static bool
vhd_footer_ok(const unsigned char *p)
{
	uint32_t sum = 0;
	int i;

	if (memcmp(p, "conectix", 8) != 0)
		return false;
	for (i = 0; i < 512; i++)
		if (i < 64 || i >= 68)
			sum += p[i];
	return ~sum == be32(p + 64);
}

/* A parent's UTF-16BE name, ASCII kept and the rest as '?': for the
 * message only (nothing is opened by it). */
static int
vhd_parent(struct src *s, const unsigned char *dyn)
{
	char name[257];
	size_t n = 0;
	int i;

	for (i = 0; i < 256; i++) {
		unsigned c = (unsigned)dyn[64 + 2 * i] << 8 |
			     dyn[65 + 2 * i];

		if (c == 0)
			break;
		name[n++] = c < 0x80 ? (char)c : '?';
	}
	if (n == 0) {
		memcpy(name, "(unnamed)", 9);
		n = 9;
	}
	return add_ref(s, FMT_REF_PARENT, FMT_VPC, 0, name, n);
}

static int
vpc(struct src *s)
{
	unsigned char f[512], dyn[1024];
	uint32_t type;
	uint64_t doff;
	bool at_start;

	if (s->size < 512)
		return bad(s, "shorter than its footer");
	if (rd(s, f, 512, 0) < 0)
		return -1;
	at_start = memcmp(f, "conectix", 8) == 0;
	/* A fixed disk has its footer only at the end. */
	if (!at_start && rd(s, f, 512, s->size - 512) < 0)
		return -1;
	if (!vhd_footer_ok(f))
		return bad(s, "bad footer");
	type = be32(f + 60);
	s->info->size = be64(f + 48);
	if (type == VHD_FIXED && at_start)
		return bad(s, "a fixed disk's footer at its start");
	if (type == VHD_FIXED) {
		if (s->info->size > s->size - 512)
			return bad(s, "disk size larger than the file");
		s->info->flat = true;
		return 0;
	}
	if (type != VHD_DYNAMIC && type != VHD_DIFF)
		return bad(s, "disk type %u", type);
	doff = be64(f + 16);
	if (rd(s, dyn, sizeof(dyn), doff) < 0)
		return -1;
	if (memcmp(dyn, "cxsparse", 8) != 0)
		return bad(s, "bad dynamic header");
	return type == VHD_DIFF ? vhd_parent(s, dyn) : 0;
}

/* VDI (VirtualBox): a normal or fixed image; qemu refuses one linked to
 * a parent (uuid_link at 424, uuid_parent at 440). */
static int
vdi(struct src *s)
{
	static const unsigned char zero[32];
	unsigned char h[456];
	uint32_t type;

	if (rd(s, h, sizeof(h), 0) < 0)
		return -1;
	if (le32(h + 0x40) != 0xbeda107fU)
		return bad(s, "bad signature");
	if (memcmp(h + 424, zero, 32) != 0)
		return kp_fail(s->err, KP_ERR_INPUT, "a differencing "
			       "VirtualBox image: not supported (merge it "
			       "with its parent first)");
	type = le32(h + 0x4c);
	if (type != 1 && type != 2)
		return kp_fail(s->err, KP_ERR_INPUT, "a VirtualBox image of "
			       "type %u (undo or differencing): not supported",
			       type);
	s->info->size = le64(h + 0x170);
	return 0;
}

/*
 * WIM (Microsoft's Windows Imaging Format, after wimlib 1.13's header.c
 * and the format's documentation): a 208-byte header at offset 0, then
 * resources, each located by a 24-byte resource header: 7 bytes of size
 * in the file, a flags byte, an 8-byte offset and an 8-byte original
 * size.  A WIM names no other file, except that a split WIM (.swm) is
 * one part of several: it is read but never written.
 */
#define WIM_HDR_SIZE 208
#define WIM_VERSION_DEFAULT 0x10d00u
#define WIM_VERSION_SOLID 0xe00u
#define WIM_HDR_FLAG_COMPRESSION 0x2u
#define WIM_HDR_FLAG_SPANNED 0x8u
#define WIM_HDR_FLAG_XPRESS 0x20000u
#define WIM_HDR_FLAG_LZX 0x40000u
#define WIM_HDR_FLAG_LZMS 0x80000u
#define WIM_RESHDR_FLAG_SOLID 0x10u

/* Resource header RH (24 bytes) named WHAT: within the file, its sizes
 * checked; OPTIONAL ones may be all zero. */
static int
wim_reshdr(struct src *s, const unsigned char *rh, const char *what,
	   bool optional, uint64_t *size_out, uint64_t *orig_out)
{
	uint64_t size = le64(rh) & 0x00ffffffffffffffULL;
	uint64_t off = le64(rh + 8), orig = le64(rh + 16);

	if (size_out)
		*size_out = size;
	if (orig_out)
		*orig_out = orig;
	if (size == 0 && off == 0 && orig == 0) {
		if (optional)
			return 0;
		return bad(s, "no %s", what);
	}
	if (off < WIM_HDR_SIZE || off > s->size || size > s->size - off)
		return bad(s, "its %s lies outside the file", what);
	if ((rh[7] & WIM_RESHDR_FLAG_SOLID) != 0)
		s->info->wim_solid = true;
	return 0;
}

static int
wim(struct src *s, bool pipable)
{
	unsigned char h[WIM_HDR_SIZE];
	uint32_t version, flags, chunk, images;
	uint16_t part, parts;
	uint64_t bsize, xsize, xorig;

	if (s->size < WIM_HDR_SIZE)
		return bad(s, "too short");
	if (rd(s, h, sizeof(h), 0) < 0)
		return -1;
	if (memcmp(h, pipable ? "WLPWM\0\0\0" : "MSWIM\0\0\0", 8) != 0)
		return bad(s, "no WIM signature");
	if (le32(h + 8) != WIM_HDR_SIZE)
		return bad(s, "header size %u", le32(h + 8));
	version = le32(h + 12);
	flags = le32(h + 16);
	chunk = le32(h + 20);
	part = le16(h + 40);
	parts = le16(h + 42);
	images = le32(h + 44);
	if (version != WIM_VERSION_DEFAULT && version != WIM_VERSION_SOLID)
		return bad(s, "unknown version 0x%x", version);
	if (flags & WIM_HDR_FLAG_COMPRESSION) {
		unsigned kinds = !!(flags & WIM_HDR_FLAG_XPRESS) +
				 !!(flags & WIM_HDR_FLAG_LZX) +
				 !!(flags & WIM_HDR_FLAG_LZMS);

		if (kinds != 1)
			return bad(s, "no single compression type");
		/* Powers of two, 4 KiB (XPRESS) to 64 MiB (LZMS). */
		if (chunk < 4096 || chunk > (1u << 26) ||
		    (chunk & (chunk - 1)) != 0)
			return bad(s, "chunk size %u", chunk);
	}
	if (parts == 0 || part == 0 || part > parts)
		return bad(s, "part %u of %u", part, parts);
	if (images > FMT_WIM_IMAGES_MAX)
		return bad(s, "%u images (kmsprep opens at most %u)", images,
			   FMT_WIM_IMAGES_MAX);
	/* A pipable WIM's first header locates nothing yet: its copy at the
	 * end does (wimlib reads that one). */
	if (wim_reshdr(s, h + 48, "lookup table", pipable, &bsize, NULL) < 0 ||
	    wim_reshdr(s, h + 72, "XML data", pipable, &xsize, &xorig) < 0 ||
	    wim_reshdr(s, h + 96, "boot metadata", true, NULL, NULL) < 0 ||
	    wim_reshdr(s, h + 124, "integrity table", true, NULL, NULL) < 0)
		return -1;
	/* The XML data is stored as it is: UTF-16LE text. */
	if (xsize != xorig || xsize > FMT_WIM_XML_MAX || xsize % 2 != 0)
		return bad(s, "XML data of %llu bytes",
			   (unsigned long long)xsize);
	if (pipable && images == 0 && s->size >= 2 * WIM_HDR_SIZE) {
		unsigned char t[WIM_HDR_SIZE];

		if (rd(s, t, sizeof(t), s->size - WIM_HDR_SIZE) < 0)
			return -1;
		if (memcmp(t, "WLPWM\0\0\0", 8) == 0 &&
		    le32(t + 44) <= FMT_WIM_IMAGES_MAX)
			images = le32(t + 44);
	}
	if (le32(h + 120) > images)
		return bad(s, "boot index %u of %u images", le32(h + 120),
			   images);
	s->info->wim_images = images;
	s->info->wim_split = parts > 1 || (flags & WIM_HDR_FLAG_SPANNED);
	s->info->wim_pipable = pipable;
	s->info->wim_solid |= version == WIM_VERSION_SOLID ||
			      (flags & WIM_HDR_FLAG_LZMS);
	s->info->size = s->size;
	(void)bsize;
	return 0;
}

/* Is the text at H (N bytes) a VMDK descriptor as qemu's probe tells
 * one: lines of comments ('#') or blanks, then "version=1", 2 or 3
 * ending its line. */
static bool
vmdk_text(const unsigned char *h, size_t n)
{
	const unsigned char *p = h, *end = h + n;

	while (p < end) {
		if (*p == '#') {
			while (p < end && *p != '\n')
				p++;
			p++;
			continue;
		}
		if (*p == ' ') {
			while (p < end && *p == ' ')
				p++;
			if (p < end && *p == '\r')
				p++;
			if (p < end && *p == '\n') {
				p++;
				continue;
			}
			return false;
		}
		return end - p >= 10 && memcmp(p, "version=", 8) == 0 &&
		       p[8] >= '1' && p[8] <= '3' &&
		       (p[9] == '\n' || (p[9] == '\r' && end - p >= 11 &&
					  p[10] == '\n'));
	}
	return false;
}

/* The format from the first bytes, as qemu's probes tell it, and a fixed
 * VHD from the footer at the end (qemu would call it raw). */
static int
probe(struct src *s, enum fmt *f)
{
	unsigned char h[512];
	size_t n = s->size < sizeof(h) ? (size_t)s->size : sizeof(h);

	*f = FMT_RAW;
	if (rd(s, h, n, 0) < 0)
		return -1;
	if (n >= 4 && memcmp(h, "QFI\xfb", 4) == 0)
		*f = FMT_QCOW2;
	else if (n >= 4 && (memcmp(h, "KDMV", 4) == 0 ||
			    memcmp(h, "COWD", 4) == 0))
		*f = FMT_VMDK;
	else if (vmdk_text(h, n))
		*f = FMT_VMDK;
	else if (n >= 8 && memcmp(h, "vhdxfile", 8) == 0)
		*f = FMT_VHDX;
	else if (n >= 68 && le32(h + 64) == 0xbeda107fU)
		*f = FMT_VDI;
	else if (n >= 8 && memcmp(h, "conectix", 8) == 0)
		*f = FMT_VPC;
	else if (n >= 8 && (memcmp(h, "MSWIM\0\0\0", 8) == 0 ||
			    memcmp(h, "WLPWM\0\0\0", 8) == 0))
		*f = FMT_WIM;
	else if (s->size >= 1024) {
		if (rd(s, h, 512, s->size - 512) < 0)
			return -1;
		if (vhd_footer_ok(h) && be32(h + 60) == VHD_FIXED)
			*f = FMT_VPC;
	}
	return 0;
}

/* The logical sector size of a raw disk: 4096 (a 4Kn disk) when its GPT
 * header is at byte 4096 and none is at 512, else 512.  qemu cannot tell
 * from the file; the appliance is told (libguestfs' blocksize). */
static unsigned
raw_sector(struct src *s)
{
	unsigned char a[8], b[8];
	struct kp_error ignored = KP_ERROR_INIT;
	struct kp_error *keep = s->err;
	unsigned r = 512;

	s->err = &ignored;
	if (s->size >= 8192 && rd(s, a, 8, 512) == 0 && rd(s, b, 8, 4096) == 0 &&
	    memcmp(a, "EFI PART", 8) != 0 && memcmp(b, "EFI PART", 8) == 0)
		r = 4096;
	s->err = keep;
	return r;
}

int
fmt_inspect(fmt_read_fn *read, void *ctx, uint64_t size, enum fmt want,
	    struct fmt_info *info, struct kp_error *err)
{
	struct src s = { read, ctx, size, info, err };
	int r;

	memset(info, 0, sizeof(*info));
	info->sector = 512;
	if (want > FMT_NR)
		return kp_fail(err, KP_ERR_INVALID, "unknown format");
	if (want == FMT_NR && probe(&s, &want) < 0)
		return -1;
	info->format = want;
	switch (want) {
	case FMT_QCOW2:
		r = qcow2(&s);
		break;
	case FMT_VMDK:
		r = vmdk(&s);
		break;
	case FMT_VHDX:
		r = size >= 2 * 65536 + VHDX_HEADER_SIZE ? vhdx(&s) :
		    bad(&s, "too short");
		break;
	case FMT_VPC:
		r = vpc(&s);
		break;
	case FMT_VDI:
		r = vdi(&s);
		break;
	case FMT_WIM: {
		unsigned char m[8] = { 0 };

		r = size >= 8 ? rd(&s, m, 8, 0) : 0;
		if (r == 0)
			r = wim(&s, memcmp(m, "WLPWM", 5) == 0);
		break;
	}
	default:
		info->size = size;
		info->flat = true;
		info->sector = raw_sector(&s);
		r = 0;
		break;
	}
	if (r < 0)
		fmt_info_release(info);
	return r;
}

void
fmt_info_release(struct fmt_info *info)
{
	size_t i;

	for (i = 0; i < info->nrefs; i++)
		free(info->refs[i].name);
	free(info->refs);
	info->refs = NULL;
	info->nrefs = 0;
}

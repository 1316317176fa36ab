/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image header reader (image/format.h) on images qemu-img makes, and
 * on hand-made hostile ones: every file an image names is found, however
 * it is hidden.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/format.h"
#include "hivebuild.h"
#include "unit.h"

static ssize_t
fd_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return pread(*(int *)ctx, buf, len, (off_t)off);
}

/* Inspect scratch file NAME as WANT; the result of fmt_inspect. */
static int
inspect(const char *name, enum fmt want, struct fmt_info *in,
	struct kp_error *err)
{
	struct stat st;
	int fd = open(hb_path(name), O_RDONLY), r;

	if (fd < 0 || fstat(fd, &st) < 0) {
		printf("# cannot open %s\n", name);
		unit_failed++;
		return -2;
	}
	r = fmt_inspect(fd_read, &fd, (uint64_t)st.st_size, want, in, err);
	close(fd);
	return r;
}

/* Run a shell command in the scratch directory. */
static int
sh(const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "cd '%s' && %s >/dev/null 2>&1",
		 hb_tmpdir(), cmd);
	return system(full);
}

static void
put(const char *name, const void *data, size_t len)
{
	int fd = open(hb_path(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0 && write(fd, data, len) == (ssize_t)len);
	if (fd >= 0)
		close(fd);
}

/* NAME is FORMAT, SIZE bytes, naming nothing. */
static void
plain(const char *name, enum fmt format, uint64_t size, bool flat)
{
	struct kp_error err = KP_ERROR_INIT;
	struct fmt_info in;

	CHECK_EQ(inspect(name, FMT_NR, &in, &err), 0);
	CHECK_EQ(in.format, format);
	CHECK_EQ(in.size, size);
	CHECK_EQ(in.flat, flat);
	CHECK_EQ(in.nrefs, 0);
	fmt_info_release(&in);
	/* Named explicitly: the same. */
	CHECK_EQ(inspect(name, format, &in, &err), 0);
	CHECK_EQ(in.size, size);
	fmt_info_release(&in);
}

static void
qemu_made(void)
{
	if (system("qemu-img --version >/dev/null 2>&1") != 0) {
		printf("# SKIP no qemu-img\n");
		return;
	}
	CHECK_EQ(sh("qemu-img create -q -f raw r.img 4M && "
		    "qemu-img create -q -f qcow2 q3.qcow2 4M && "
		    "qemu-img create -q -f qcow2 -o compat=0.10 q2.qcow2 4M && "
		    "qemu-img create -q -f vmdk s.vmdk 4M && "
		    "qemu-img convert -O vmdk -o subformat=streamOptimized "
		    "r.img so.vmdk && "
		    "qemu-img create -q -f vhdx d.vhdx 4M && "
		    "qemu-img create -q -f vhdx -o subformat=fixed f.vhdx 4M && "
		    "qemu-img create -q -f vpc -o force_size=on dyn.vhd 4M && "
		    "qemu-img create -q -f vpc -o subformat=fixed,force_size=on "
		    "fix.vhd 4M && "
		    "qemu-img create -q -f vdi v.vdi 4M"), 0);
	plain("r.img", FMT_RAW, 4 << 20, true);
	plain("q3.qcow2", FMT_QCOW2, 4 << 20, false);
	plain("q2.qcow2", FMT_QCOW2, 4 << 20, false);
	plain("s.vmdk", FMT_VMDK, 4 << 20, false);
	plain("so.vmdk", FMT_VMDK, 4 << 20, false);
	plain("d.vhdx", FMT_VHDX, 4 << 20, false);
	plain("f.vhdx", FMT_VHDX, 4 << 20, false);
	plain("dyn.vhd", FMT_VPC, 4 << 20, false);
	/* A fixed VHD is the disk's bytes and a footer: read as they lie. */
	plain("fix.vhd", FMT_VPC, 4 << 20, true);
	plain("v.vdi", FMT_VDI, 4 << 20, false);
}

/* NAME names exactly one file: KIND, NAME2, of format F. */
static void
names_one(const char *name, enum fmt_ref_kind kind, const char *ref,
	  enum fmt f)
{
	struct kp_error err = KP_ERROR_INIT;
	struct fmt_info in;

	CHECK_EQ(inspect(name, FMT_NR, &in, &err), 0);
	CHECK_EQ(in.nrefs, 1);
	if (in.nrefs == 1) {
		CHECK_EQ(in.refs[0].kind, kind);
		CHECK_STR(in.refs[0].name, ref);
		CHECK_EQ(in.refs[0].format, f);
	}
	fmt_info_release(&in);
}

static void
references(void)
{
	if (system("qemu-img --version >/dev/null 2>&1") != 0) {
		printf("# SKIP no qemu-img\n");
		return;
	}
	CHECK_EQ(sh("qemu-img create -q -f raw base.img 4M && "
		    "qemu-img create -q -f qcow2 -b base.img -F raw b.qcow2 && "
		    "qemu-img create -q -f qcow2 -b /etc/passwd -F raw -u "
		    "abs.qcow2 4M && "
		    "qemu-img create -q -f qcow2 -o data_file=data.raw "
		    "df.qcow2 4M && "
		    "qemu-img create -q -f vmdk -o subformat=monolithicFlat "
		    "mf.vmdk 4M && "
		    "qemu-img create -q -f vmdk bv.vmdk 4M && "
		    "qemu-img create -q -f vmdk -b bv.vmdk -F vmdk ch.vmdk"), 0);
	names_one("b.qcow2", FMT_REF_BACKING, "base.img", FMT_RAW);
	names_one("abs.qcow2", FMT_REF_BACKING, "/etc/passwd", FMT_RAW);
	names_one("df.qcow2", FMT_REF_DATA_FILE, "data.raw", FMT_RAW);
	names_one("mf.vmdk", FMT_REF_EXTENT, "mf-flat.vmdk", FMT_RAW);
	names_one("ch.vmdk", FMT_REF_BACKING, "bv.vmdk", FMT_VMDK);
}

/* Hand-made VMDKs: a 200-byte descriptor naming another image; one
 * whose sparse header has no capacity and embeds such a descriptor; an
 * extent in any access mode, after a CR, or in a json: name. */
static void
vmdk_hostile(void)
{
	static const char desc[] =
		"# Disk DescriptorFile\nversion=1\nCID=fffffffe\n"
		"parentCID=ffffffff\ncreateType=\"monolithicFlat\"\n"
		"RW 8192 FLAT \"/srv/other.img\" 0\n";
	static const char sneaky[] =
		"# Disk DescriptorFile\rversion=1\r"
		"  RDONLY 8 SPARSE \"json:{\\\"file\\\":\\\"x\\\"}\"\r"
		"NOACCESS 8 VMFS \"a.raw\" 7\n";
	/* qemu's sscanf lets an extent run over several lines. */
	static const char split[] =
		"# Disk DescriptorFile\nversion=1\nRW\n8\nFLAT\n"
		"\"/etc/shadow\"\n0\n";
	struct kp_error err = KP_ERROR_INIT;
	unsigned char h[1536];
	struct fmt_info in;

	put("evil.vmdk", desc, sizeof(desc) - 1);
	names_one("evil.vmdk", FMT_REF_EXTENT, "/srv/other.img", FMT_RAW);
	put("split.vmdk", split, sizeof(split) - 1);
	names_one("split.vmdk", FMT_REF_EXTENT, "/etc/shadow", FMT_RAW);
	/* Only CRs: qemu's probe sees one comment line, a raw file; said
	 * to be a VMDK, both extents are found. */
	put("sneaky.vmdk", sneaky, sizeof(sneaky) - 1);
	CHECK_EQ(inspect("sneaky.vmdk", FMT_NR, &in, &err), 0);
	CHECK_EQ(in.format, FMT_RAW);
	fmt_info_release(&in);
	CHECK_EQ(inspect("sneaky.vmdk", FMT_VMDK, &in, &err), 0);
	CHECK_EQ(in.nrefs, 2);
	if (in.nrefs == 2) {
		CHECK_STR(in.refs[0].name, "json:{\\");
		CHECK_STR(in.refs[1].name, "a.raw");
		CHECK_EQ(in.refs[1].offset, 7 * 512);
	}
	fmt_info_release(&in);

	/* KDMV, capacity 0, descriptor at sector 1. */
	memset(h, 0, sizeof(h));
	memcpy(h, "KDMV", 4);
	h[4] = 1;
	h[28] = 1;	/* desc_offset */
	h[36] = 2;	/* desc_size */
	memcpy(h + 512, desc, sizeof(desc) - 1);
	put("cap0.vmdk", h, 1536);
	names_one("cap0.vmdk", FMT_REF_EXTENT, "/srv/other.img", FMT_RAW);
	/* The header says the descriptor is shorter than its extent line,
	 * or empty: qemu reads on to the first NUL all the same. */
	{
		static const char pad[] = "# Disk DescriptorFile\n#";
		unsigned char g[4096];
		size_t at = 512;

		memset(g, 0, sizeof(g));
		memcpy(g, h, 512);
		memcpy(g + at, pad, sizeof(pad) - 1);
		at += sizeof(pad) - 1;
		memset(g + at, 'x', 700);
		at += 700;
		g[at++] = '\n';
		memcpy(g + at, desc + 22, sizeof(desc) - 23);
		g[36] = 1;
		put("cap0-short.vmdk", g, sizeof(g));
		names_one("cap0-short.vmdk", FMT_REF_EXTENT, "/srv/other.img",
			  FMT_RAW);
		g[36] = 0;
		put("cap0-none.vmdk", g, sizeof(g));
		names_one("cap0-none.vmdk", FMT_REF_EXTENT, "/srv/other.img",
			  FMT_RAW);
	}

	/* A long name is cut at 511 bytes, as qemu cuts it, not skipped. */
	{
		char big[1400];

		memset(big, 'a', sizeof(big));
		memcpy(big, "version=1\nRW 1 FLAT \"", 21);
		big[sizeof(big) - 2] = '"';
		big[sizeof(big) - 1] = '\n';
		put("long.vmdk", big, sizeof(big));
		CHECK_EQ(inspect("long.vmdk", FMT_VMDK, &in, &err), 0);
		CHECK_EQ(in.nrefs, 1);
		if (in.nrefs == 1)
			CHECK_EQ(strlen(in.refs[0].name), 511);
		fmt_info_release(&in);
	}
	/* A parent hint where qemu reads it (0x200), whatever the header
	 * points at. */
	memset(h, 0, sizeof(h));
	memcpy(h, "KDMV", 4);
	h[12] = 8;	/* capacity */
	h[28] = 2;	/* desc_offset: elsewhere */
	memcpy(h + 512, "CID=1\nparentCID=2\nparentFileNameHint=\"/x.vmdk\"\n",
	       47);
	put("hint.vmdk", h, 1536);
	names_one("hint.vmdk", FMT_REF_BACKING, "/x.vmdk", FMT_VMDK);
}

/* Truncated and inconsistent headers fail as bad input, never read out
 * of bounds (this test runs under the sanitizers in CI). */
static void
malformed(void)
{
	struct kp_error err = KP_ERROR_INIT;
	unsigned char q[512];
	struct fmt_info in;

	put("short.qcow2", "QFI\xfb\0\0\0\3", 8);
	CHECK_EQ(inspect("short.qcow2", FMT_NR, &in, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INPUT);

	/* A backing name past the first cluster. */
	memset(q, 0, sizeof(q));
	memcpy(q, "QFI\xfb", 4);
	q[7] = 2;
	q[14] = 0x10;		/* backing at 0x1000 */
	q[19] = 8;
	q[23] = 9;		/* 512-byte clusters */
	put("far.qcow2", q, sizeof(q));
	CHECK_EQ(inspect("far.qcow2", FMT_NR, &in, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INPUT);

	/* An encrypted image is not opened at all. */
	q[14] = 0;
	q[19] = 0;
	q[35] = 1;
	put("enc.qcow2", q, sizeof(q));
	CHECK_EQ(inspect("enc.qcow2", FMT_NR, &in, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INPUT);

	/* A file that is not what it was said to be. */
	put("plain.img", "hello", 5);
	CHECK_EQ(inspect("plain.img", FMT_QCOW2, &in, &err), -1);
	CHECK_EQ(inspect("plain.img", FMT_VHDX, &in, &err), -1);
	CHECK_EQ(inspect("plain.img", FMT_VPC, &in, &err), -1);
	{
		char zeros[1024];

		/* Whatever else a file holds, no signature: not a VDI. */
		memset(zeros, 0x55, sizeof(zeros));
		put("junk.vdi", zeros, sizeof(zeros));
		CHECK_EQ(inspect("junk.vdi", FMT_VDI, &in, &err), -1);
		CHECK_EQ(err.status, KP_ERR_INPUT);
	}
	CHECK_EQ(inspect("plain.img", FMT_RAW, &in, &err), 0);
	CHECK_EQ(in.size, 5);
	fmt_info_release(&in);
}

/* A WIM header of its own: 208 bytes, then a lookup table and XML data
 * of LEN bytes each, described by the header's resource headers. */
static void
wim_header(unsigned char *h, size_t total, uint32_t version, uint32_t flags,
	   uint16_t part, uint16_t parts, uint32_t images)
{
	size_t i;

	memset(h, 0, total);
	memcpy(h, "MSWIM\0\0\0", 8);
	h[8] = 208;
	for (i = 0; i < 4; i++) {
		h[12 + i] = (unsigned char)(version >> (8 * i));
		h[16 + i] = (unsigned char)(flags >> (8 * i));
		h[44 + i] = (unsigned char)(images >> (8 * i));
	}
	h[21] = 0x80;			/* chunk size 32768 */
	h[40] = (unsigned char)part;
	h[42] = (unsigned char)parts;
	/* Lookup table: 50 bytes at 208; XML data: 100 bytes at 258. */
	h[48] = 50;
	h[56] = 208;
	h[64] = 50;
	h[72] = 100;
	h[80] = 2;			/* 258 = 0x102 */
	h[81] = 1;
	h[88] = 100;
}

static void
wim(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct fmt_info in;
	unsigned char h[400];

	wim_header(h, sizeof(h), 0x10d00, 0x40002, 1, 1, 3);
	put("a.wim", h, sizeof(h));
	CHECK_EQ(inspect("a.wim", FMT_NR, &in, &err), 0);
	CHECK_EQ(in.format, FMT_WIM);
	CHECK_EQ(in.wim_images, 3);
	CHECK(!in.wim_split && !in.wim_pipable && !in.wim_solid);
	CHECK_EQ(in.nrefs, 0);
	fmt_info_release(&in);
	CHECK_EQ(fmt_from_name("wim"), FMT_WIM);

	/* Part 1 of 2 (a .swm), an ESD (LZMS, solid version). */
	wim_header(h, sizeof(h), 0x10d00, 0x40002, 1, 2, 3);
	put("p.swm", h, sizeof(h));
	CHECK_EQ(inspect("p.swm", FMT_NR, &in, &err), 0);
	CHECK(in.wim_split);
	fmt_info_release(&in);
	wim_header(h, sizeof(h), 0xe00, 0x80002, 1, 1, 1);
	put("e.esd", h, sizeof(h));
	CHECK_EQ(inspect("e.esd", FMT_NR, &in, &err), 0);
	CHECK(in.wim_solid);
	fmt_info_release(&in);

	/* Hostile: resources past the end, part 3 of 2, too many images,
	 * two compression types, odd XML, a short file. */
	wim_header(h, sizeof(h), 0x10d00, 0x40002, 1, 1, 3);
	h[87] = 0x7f;			/* XML offset far away */
	put("far.wim", h, sizeof(h));
	CHECK_EQ(inspect("far.wim", FMT_NR, &in, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INPUT);
	wim_header(h, sizeof(h), 0x10d00, 0x40002, 3, 2, 3);
	put("part.wim", h, sizeof(h));
	CHECK_EQ(inspect("part.wim", FMT_NR, &in, &err), -1);
	wim_header(h, sizeof(h), 0x10d00, 0x40002, 1, 1, 100000);
	put("many.wim", h, sizeof(h));
	CHECK_EQ(inspect("many.wim", FMT_NR, &in, &err), -1);
	wim_header(h, sizeof(h), 0x10d00, 0x60002, 1, 1, 1);
	put("two.wim", h, sizeof(h));
	CHECK_EQ(inspect("two.wim", FMT_NR, &in, &err), -1);
	wim_header(h, sizeof(h), 0x10d00, 0x40002, 1, 1, 1);
	h[72] = 99;
	h[88] = 99;
	put("odd.wim", h, sizeof(h));
	CHECK_EQ(inspect("odd.wim", FMT_NR, &in, &err), -1);
	put("short.wim", h, 100);
	CHECK_EQ(inspect("short.wim", FMT_WIM, &in, &err), -1);
}

static void
names(void)
{
	CHECK_EQ(fmt_from_name("vhd"), FMT_VPC);
	CHECK_EQ(fmt_from_name("vpc"), FMT_VPC);
	CHECK_EQ(fmt_from_name("qcow2"), FMT_QCOW2);
	CHECK_EQ(fmt_from_name("qed"), FMT_NR);
	CHECK_STR(fmt_name(FMT_VHDX), "vhdx");
	CHECK_STR(fmt_ref_kind_name(FMT_REF_DATA_FILE), "external data file");
}

static const struct unit_test tests[] = {
	TEST(qemu_made),
	TEST(references),
	TEST(vmdk_hostile),
	TEST(malformed),
	TEST(wim),
	TEST(names),
};

UNIT_MAIN(tests)

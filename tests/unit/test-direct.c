/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pieces of the direct backend that need no NTFS image (the rest is
 * tests/t2200-direct.sh): the image channel's bounds and read-only mode,
 * partition tables through libblkid (a hostile one included), boot sector
 * classification and the descriptor given to new files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "image/ntfsvol.h"
#include "image/imgio.h"
#include "image/partition.h"
#include "image/secdesc.h"
#include "unit.h"

#define DISK (2u << 20)

/* A 2 MiB file with MBR partition entry 0 = (TYPE, START, COUNT). */
static void
make_mbr(char *path, unsigned char type, uint32_t start, uint32_t count)
{
	unsigned char s[512] = { 0 }, *e = s + 446;
	int fd;

	strcpy(path, "/tmp/kmsprep-direct-XXXXXX");
	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, DISK) == 0);
	e[4] = type;
	e[8] = (unsigned char)start;
	e[9] = (unsigned char)(start >> 8);
	e[10] = (unsigned char)(start >> 16);
	e[11] = (unsigned char)(start >> 24);
	e[12] = (unsigned char)count;
	e[13] = (unsigned char)(count >> 8);
	e[14] = (unsigned char)(count >> 16);
	e[15] = (unsigned char)(count >> 24);
	s[510] = 0x55;
	s[511] = 0xaa;
	CHECK(pwrite(fd, s, sizeof(s), 0) == (ssize_t)sizeof(s));
	/* The partition's boot sector says NTFS. */
	CHECK(pwrite(fd, "\xebR\x90NTFS    ", 11, 1 << 20) == 11);
	close(fd);
}

static void
test_channel_bounds(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct imgio_opts o = { .format = "raw", .readonly = true };
	struct imgio *io = NULL;
	unsigned char b[16];
	char path[64];

	make_mbr(path, 7, 2048, 1024);
	CHECK(imgio_open(path, &o, &io, &err) == 0);
	CHECK_EQ(imgio_size(io), DISK);
	CHECK(imgio_readonly(io));
	CHECK(imgio_pread(io, b, sizeof(b), DISK - sizeof(b)) == 0);
	CHECK(imgio_pread(io, b, sizeof(b), DISK - 1) == -1 &&
	      errno == EINVAL);
	CHECK(imgio_pread(io, b, 1, UINT64_MAX) == -1);
	/* Read-only: every write refused, nothing written. */
	CHECK(imgio_pwrite(io, "x", 1, 0) == -1 && errno == EROFS);
	CHECK(!imgio_written(io));
	CHECK(imgio_close(io, false, &err) == 0);
	unlink(path);
}

static void
test_mbr(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct imgio_opts o = { .readonly = true };
	struct imgio *io = NULL;
	struct part *p = NULL;
	const char *table;
	char path[64];
	size_t n;

	make_mbr(path, 7, 2048, 1024);
	CHECK(imgio_open(path, &o, &io, &err) == 0);
	CHECK_STR(imgio_format(io), "raw");
	CHECK(part_list(io, &p, &n, &table, &err) == 0);
	CHECK_STR(table, "dos");
	CHECK_EQ(n, 1);
	if (n == 1) {
		CHECK_EQ(p[0].number, 1);
		CHECK_EQ(p[0].start, 1 << 20);
		CHECK_EQ(p[0].size, 1024 * 512);
		CHECK_EQ(p[0].kind, PART_NTFS);
	}
	free(p);
	imgio_close(io, false, &err);
	unlink(path);
}

/* A partition that runs past the end of the disk is not ours to read. */
static void
test_mbr_hostile(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct imgio_opts o = { .format = "raw", .readonly = true };
	struct imgio *io = NULL;
	struct part *p = NULL;
	const char *table;
	char path[64];
	size_t n, i;

	make_mbr(path, 7, 2048, 0xfffffff0u);
	CHECK(imgio_open(path, &o, &io, &err) == 0);
	CHECK(part_list(io, &p, &n, &table, &err) == 0);
	for (i = 0; i < n; i++)
		CHECK(p[i].start + p[i].size <= DISK);
	free(p);
	imgio_close(io, false, &err);
	unlink(path);
}

static void
test_classify(void)
{
	CHECK_EQ(part_classify((const unsigned char *)"\xebR\x90NTFS    ", 11),
		 PART_NTFS);
	CHECK_EQ(part_classify((const unsigned char *)"\xebX\x90-FVE-FS-", 11),
		 PART_BITLOCKER);
	CHECK_EQ(part_classify((const unsigned char *)"\xebX\x90MSDOS5.0", 11),
		 PART_OTHER);
	CHECK_EQ(part_classify((const unsigned char *)"\xebR\x90NTFS", 7),
		 PART_OTHER);
}

static void
test_default_sd(void)
{
	/* Built by hand from the SDDL O:BAG:SYD:P(A;;FA;;;SY)(A;;FA;;;BA)
	 * (A;;0x1200a9;;;BU). */
	static const unsigned char want[] = {
		1, 0, 0x04, 0x90, 20, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0,
		48, 0, 0, 0,
		1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0,
		1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0,
		2, 0, 76, 0, 3, 0, 0, 0,
		0, 0, 20, 0, 0xff, 0x01, 0x1f, 0, 1, 1, 0, 0, 0, 0, 0, 5,
		18, 0, 0, 0,
		0, 0, 24, 0, 0xff, 0x01, 0x1f, 0, 1, 2, 0, 0, 0, 0, 0, 5,
		32, 0, 0, 0, 0x20, 2, 0, 0,
		0, 0, 24, 0, 0xa9, 0, 0x12, 0, 1, 2, 0, 0, 0, 0, 0, 5,
		32, 0, 0, 0, 0x21, 2, 0, 0,
	};
	unsigned char b[SECDESC_MAX];
	size_t n = secdesc_default(false, false, b);

	CHECK_EQ(n, sizeof(want));
	CHECK_MEM(b, want, sizeof(want));
	/* Secret: no Users entry; directories: inherited entries. */
	CHECK_EQ(secdesc_default(true, false, b), sizeof(want) - 24);
	CHECK_EQ(b[48 + 4], 2);
	secdesc_default(false, true, b);
	CHECK_EQ(b[56 + 1], 3);
}

/* No NTFS where the partition says: the session lists nothing, opens
 * nothing, and fails no harder than that. */
static void
test_not_ntfs(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct imgio_opts o = { .readonly = true };
	struct ntfsvol *s = NULL;
	char path[64];
	size_t n;

	make_mbr(path, 7, 2048, 1024);
	CHECK(ntfsvol_open(path, &o, &s, &err) == 0);
	CHECK(ntfsvol_find_windows(s, &err) == 0);
	ntfsvol_roots(s, &n);
	CHECK_EQ(n, 0);
	ntfsvol_locked(s, &n);
	CHECK_EQ(n, 1);		/* "cannot mount" */
	CHECK(ntfsvol_close(s, true, &err) == 0);
	unlink(path);
}

static const struct unit_test tests[] = {
	TEST(test_channel_bounds),
	TEST(test_mbr),
	TEST(test_mbr_hostile),
	TEST(test_classify),
	TEST(test_default_sd),
	TEST(test_not_ntfs),
};

UNIT_MAIN(tests)

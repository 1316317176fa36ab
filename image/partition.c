/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Partition tables through libblkid.
 *
 * libblkid reads from a file descriptor.  A raw image has one.  An image
 * behind qemu-nbd has none, so its first and last MiB (the MBR, the GPT
 * header and entries, and the backup GPT) are copied into a sparse memfd of
 * the disk's size (imgio_shadow) and libblkid reads that: the table is
 * still parsed by libblkid, not by hand.  The one thing this misses is an
 * MBR extended partition, whose chain of EBRs may lie anywhere in the
 * disk: its logical partitions are reported PART_UNKNOWN, so the
 * appliance handles them.
 */
#include <blkid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/partition.h"

enum part_kind
part_classify(const unsigned char *boot, size_t len)
{
	if (len < 11)
		return PART_OTHER;
	if (memcmp(boot + 3, "NTFS    ", 8) == 0)
		return PART_NTFS;
	if (memcmp(boot + 3, "-FVE-FS-", 8) == 0)
		return PART_BITLOCKER;
	return PART_OTHER;
}

static int
add(struct part **v, size_t *n, unsigned number, uint64_t start,
    uint64_t size, struct kp_error *err)
{
	struct part *p = realloc(*v, (*n + 1) * sizeof(**v));

	if (p == NULL)
		return kp_fail_oom(err);
	*v = p;
	p += (*n)++;
	memset(p, 0, sizeof(*p));
	p->number = number;
	p->start = start;
	p->size = size;
	p->kind = PART_OTHER;
	return 0;
}

/* Is IO a disk of 4096-byte sectors: a GPT header at byte 4096 and none
 * at 512? */
static bool
sector_4k(struct imgio *io)
{
	char a[8], b[8];

	return imgio_size(io) >= 8192 &&
	       imgio_pread(io, a, sizeof(a), 512) == 0 &&
	       imgio_pread(io, b, sizeof(b), 4096) == 0 &&
	       memcmp(a, "EFI PART", 8) != 0 && memcmp(b, "EFI PART", 8) == 0;
}

int
part_list(struct imgio *io, struct part **parts, size_t *n,
	  const char **table, struct kp_error *err)
{
	uint64_t disk = imgio_size(io);
	blkid_probe pr = NULL;
	blkid_partlist ls;
	blkid_parttable tab;
	int fd = imgio_shadow(io, err), i, np, r = -1;
	bool shadow = imgio_fd(io) < 0;
	size_t k;

	*parts = NULL;
	*n = 0;
	*table = "none";
	if (fd < 0)
		return -1;
	pr = blkid_new_probe();
	if (pr == NULL) {
		kp_fail_oom(err);
		goto out;
	}
	if (blkid_probe_set_device(pr, fd, 0, (blkid_loff_t)disk) < 0) {
		kp_fail(err, KP_ERR_INPUT, "libblkid cannot read the image");
		goto out;
	}
	/* A disk of 4096-byte sectors (4Kn) has its GPT header at LBA 1,
	 * byte 4096; libblkid takes a file's sectors to be 512 bytes unless
	 * told. */
	if (sector_4k(io))
		blkid_probe_set_sectorsize(pr, 4096);
	blkid_probe_enable_superblocks(pr, 0);
	blkid_probe_enable_partitions(pr, 1);
	ls = blkid_probe_get_partitions(pr);
	tab = ls ? blkid_partlist_get_table(ls) : NULL;
	np = ls ? blkid_partlist_numof_partitions(ls) : 0;
	if (tab == NULL || np <= 0) {
		/* No table: a filesystem on the whole disk, or nothing. */
		if (add(parts, n, 0, 0, disk, err) < 0)
			goto out;
	} else {
		const char *t = blkid_parttable_get_type(tab);

		*table = t && strcmp(t, "gpt") == 0 ? "gpt" :
			 t && strcmp(t, "dos") == 0 ? "dos" : "other";
		for (i = 0; i < np; i++) {
			blkid_partition p = blkid_partlist_get_partition(ls, i);
			blkid_loff_t s, z;

			if (p == NULL || blkid_partition_is_extended(p))
				continue;
			s = blkid_partition_get_start(p);
			z = blkid_partition_get_size(p);
			/* libblkid counts 512-byte sectors; a partition
			 * outside the disk is hostile, not ours. */
			if (s < 0 || z <= 0 || (uint64_t)s > disk / 512 ||
			    (uint64_t)z > disk / 512 - (uint64_t)s)
				continue;
			if (add(parts, n,
				(unsigned)blkid_partition_get_partno(p),
				(uint64_t)s * 512, (uint64_t)z * 512, err) < 0)
				goto out;
			if (blkid_partition_get_type_string(p)) {
				char *c = (*parts)[*n - 1].type;

				snprintf(c, sizeof((*parts)[*n - 1].type), "%s",
					 blkid_partition_get_type_string(p));
				for (; *c; c++)
					if (*c >= 'A' && *c <= 'Z')
						*c = (char)(*c - 'A' + 'a');
			} else {
				snprintf((*parts)[*n - 1].type,
					 sizeof((*parts)[*n - 1].type), "0x%02x",
					 blkid_partition_get_type(p) & 0xff);
			}
			if (shadow && blkid_partition_is_logical(p)) {
				(*parts)[*n - 1].kind = PART_UNKNOWN;
				snprintf((*parts)[*n - 1].why,
					 sizeof((*parts)[*n - 1].why),
					 "logical partition of an extended "
					 "partition (not read through nbd)");
			}
		}
	}
	for (k = 0; k < *n; k++) {
		unsigned char boot[512];
		struct part *p = &(*parts)[k];

		if (p->kind == PART_UNKNOWN || p->size < sizeof(boot))
			continue;
		if (imgio_pread(io, boot, sizeof(boot), p->start) < 0) {
			kp_fail_errno(err, KP_ERR_INPUT, errno, "cannot read "
				      "partition %u", p->number);
			goto out;
		}
		p->kind = part_classify(boot, sizeof(boot));
	}
	r = 0;
out:
	if (pr)
		blkid_free_probe(pr);
	if (r < 0) {
		free(*parts);
		*parts = NULL;
		*n = 0;
	}
	return r;
}

const char *
part_container(const struct part *p)
{
	/* MBR types and GPT type GUIDs of volume managers (the UEFI
	 * specification's and Microsoft's published partition types). */
	static const struct {
		const char *type, *what;
	} c[] = {
		{ .type = "0x8e", .what = "LVM" },
		{ .type = "e6d6d379-f507-44c2-a23c-238f2a3df928",
		  .what = "LVM" },
		{ .type = "0x42", .what = "a dynamic disk (LDM)" },
		{ .type = "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3",
		  .what = "a dynamic disk (LDM)" },
		{ .type = "af9b60a0-1431-4f62-bc68-3311714a69ad",
		  .what = "a dynamic disk (LDM)" },
		{ .type = "e75caf8f-f680-4cee-afa3-b001e56efc2d",
		  .what = "Storage Spaces" },
		{ .type = "0xfd", .what = "Linux RAID" },
		{ .type = "a19d880f-05fc-4d3b-a006-743f0f84911e",
		  .what = "Linux RAID" },
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		if (strcmp(p->type, c[i].type) == 0)
			return c[i].what;
	return NULL;
}

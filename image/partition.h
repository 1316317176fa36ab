/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The partitions of a disk image (MBR or GPT) through libblkid, and what
 * each holds as far as the direct backend cares: NTFS, BitLocker, or
 * something else (then the appliance must look at it).
 */
#ifndef KP_PARTITION_H
#define KP_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "image/imgio.h"

enum part_kind {
	PART_OTHER,	/* not NTFS: ignored */
	PART_NTFS,	/* "NTFS    " at offset 3 of its boot sector */
	PART_BITLOCKER,	/* "-FVE-FS-" at offset 3: BitLocker */
	PART_UNKNOWN,	/* cannot be looked into directly (a logical
			 * partition behind nbd, LVM, dynamic disk...) */
};

struct part {
	unsigned number;	/* 1, 2, ... as Linux names them; 0: the
				 * whole disk holds one filesystem */
	uint64_t start;		/* bytes from the start of the disk */
	uint64_t size;		/* bytes */
	enum part_kind kind;
	char type[40];		/* MBR "0x07" or the GPT type GUID, lower
				 * case; "" for a whole disk */
	char why[96];		/* for PART_UNKNOWN: why */
};

/* What a partition type says is not a plain filesystem the direct backend
 * can read: "LVM", "a dynamic disk (LDM)", "Storage Spaces", or NULL. */
const char *part_container(const struct part *p);

/* List the partitions of IO into a new array *PARTS of *N entries (caller
 * frees).  A disk with no partition table gives one entry for the whole
 * disk.  The table type ("dos", "gpt" or "none") goes to TABLE. */
int part_list(struct imgio *io, struct part **parts, size_t *n,
	      const char **table, struct kp_error *err);

/* Classify a boot sector (at least 11 bytes). */
enum part_kind part_classify(const unsigned char *boot, size_t len);

#endif

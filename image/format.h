/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What an image file is, read by kmsprep's own bounds-checked header
 * reader rather than probed by qemu: its format, the size of the disk it
 * holds, and every other file it names (a qcow2 backing file or external
 * data file, a VMDK extent or parent, a VHD or VHDX parent).  qemu opens
 * whatever an image names, so an image that names another file is only
 * opened once that file was checked the same way and the user accepted it
 * (image/disk.h).
 *
 * The reader only parses bytes handed to it (fmt_inspect's read
 * callback); image/disk.c runs it in a sandboxed worker.  Formats and
 * their references, after qemu 7.2's own readers (block/qcow2.c,
 * block/vmdk.c, block/vhdx.c, block/vpc.c, block/vdi.c) and the
 * specifications they cite.
 */
#ifndef KP_IMAGE_FORMAT_H
#define KP_IMAGE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

enum fmt {
	FMT_RAW = 0,
	FMT_QCOW2,
	FMT_VMDK,
	FMT_VHDX,
	FMT_VPC,	/* VHD, fixed or dynamic */
	FMT_VDI,
	FMT_WIM,	/* a Windows image file (.wim, .esd, .swm): files, not
			 * a disk; opened by the wim backend (image/wim.h) */
	FMT_NR
};

/* How one file names another. */
enum fmt_ref_kind {
	FMT_REF_BACKING = 0,	/* qcow2 backing file, VMDK parentFileNameHint */
	FMT_REF_DATA_FILE,	/* qcow2 external data file */
	FMT_REF_EXTENT,		/* VMDK descriptor extent */
	FMT_REF_PARENT,		/* VHD or VHDX differencing disk's parent */
	FMT_REF_NR
};

/* The longest name of another file the reader takes (qemu: 1023 for a
 * qcow2 backing file, 511 for a VMDK extent). */
#define FMT_NAME_MAX 1024
/* The most files one image names (a VMDK split into 2 GB extents). */
#define FMT_REFS_MAX 1024

struct fmt_ref {
	enum fmt_ref_kind kind;
	/* Its format where the naming file says (a qcow2 backing format, a
	 * VMDK extent's type), FMT_NR where it does not. */
	enum fmt format;
	uint64_t offset;	/* a VMDK flat extent: where its data starts */
	char *name;		/* as written, made printable */
};

struct fmt_info {
	enum fmt format;
	uint64_t size;		/* the disk's size in bytes */
	/* The disk's bytes are the file's own, from offset 0 (raw, a fixed
	 * VHD before its footer): readable without qemu. */
	bool flat;
	unsigned sector;	/* logical sector size: 512, or 4096 (a VHDX
				 * that says so, a raw 4Kn disk) */
	bool sparse_vmdk;	/* a VMDK holding its own data (no descriptor) */
	/* Its data is compressed in a form qemu writes only at the end (a
	 * stream-optimized VMDK): read it, or write to an overlay. */
	bool append_only;
	struct fmt_ref *refs;
	size_t nrefs;
	/* A WIM: its images (indexes), and what cannot be written in place:
	 * one part of a split WIM (.swm), a pipable WIM, solid resources
	 * (an ESD). */
	uint32_t wim_images;
	bool wim_split;
	bool wim_pipable;
	bool wim_solid;
};

/* The largest WIM XML data kmsprep accepts (wimlib's own limit is the
 * memory it can get; a real install.wim has a few hundred KB). */
#define FMT_WIM_XML_MAX ((uint64_t)64 << 20)
/* The most images (indexes) in a WIM kmsprep opens. */
#define FMT_WIM_IMAGES_MAX 1024u

/* Read up to LEN bytes at OFF into BUF: the count read (short only at the
 * end of the file), or -1 with errno. */
typedef ssize_t fmt_read_fn(void *ctx, void *buf, size_t len, uint64_t off);

/* The name of F ("qcow2"), and F from a name (also "vhd" for vpc);
 * FMT_NR if unknown. */
const char *fmt_name(enum fmt f);
enum fmt fmt_from_name(const char *name);

/* What names of REF mean to a user ("backing file"). */
const char *fmt_ref_kind_name(enum fmt_ref_kind kind);

/* Read the file of SIZE bytes behind READ as format WANT (FMT_NR: tell
 * it from its first bytes, as qemu would, and a VHD footer at the end)
 * into *INFO.  KP_ERR_INPUT for a file that is not what it claims, that
 * qemu would refuse, or of a kind kmsprep does not open (encrypted,
 * differencing VHDX/VHD, VMDK 3, 4096-byte VHDX sectors); KP_ERR_INVALID
 * for an unknown WANT. */
int fmt_inspect(fmt_read_fn *read, void *ctx, uint64_t size, enum fmt want,
		struct fmt_info *info, struct kp_error *err);

/* Free what fmt_inspect allocated in INFO. */
void fmt_info_release(struct fmt_info *info);

#endif

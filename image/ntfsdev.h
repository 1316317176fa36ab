/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A libntfs-3g device over a byte range of an image channel (imgio.h): the
 * partition holding an NTFS volume.  libntfs-3g then reads and writes the
 * volume in this process, with no kernel mount, FUSE or appliance.
 */
#ifndef KP_NTFSDEV_H
#define KP_NTFSDEV_H

#include <stdint.h>

#include "image/imgio.h"

struct _ntfs_volume;

/* Mount the NTFS volume in the LEN bytes at START of IO with libntfs-3g's
 * ntfs_device_mount and FLAGS (NTFS_MNT_*); NULL with errno set on
 * failure (EPERM: hibernated or Windows' Fast Startup cache, EOPNOTSUPP:
 * unclean $LogFile, for a read-write mount).  Reads and writes past LEN
 * fail; writes to a read-only channel fail with EROFS.  A $MFTMirr that
 * differs from a sound $MFT (an interrupted write) is repaired first, as
 * ntfsfix does: written for a read-write mount, only read so for a
 * read-only one; *REPAIRED counts the mirror's records repaired. */
struct _ntfs_volume *ntfsdev_mount(struct imgio *io, uint64_t start,
				  uint64_t len, const char *name,
				  unsigned long flags, unsigned *repaired);

/* Unmount (syncing everything libntfs-3g holds) and free the device;
 * -1 with errno set if the sync failed. */
int ntfsdev_umount(struct _ntfs_volume *vol);

#endif

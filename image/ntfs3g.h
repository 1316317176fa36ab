/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libntfs-3g headers kmsprep uses, in one place (they need a few
 * definitions before them and include each other in a fixed order).
 */
#ifndef KP_NTFS3G_H
#define KP_NTFS3G_H

/* What ntfs-3g's own configure would have found on Linux. */
#define HAVE_ENDIAN_H 1
#define HAVE_STDARG_H 1
#define HAVE_STDDEF_H 1
#define HAVE_STDINT_H 1
#define HAVE_STDIO_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TYPES_H 1

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <ntfs-3g/types.h>
#include <ntfs-3g/attrib.h>
#include <ntfs-3g/device.h>
#include <ntfs-3g/dir.h>
#include <ntfs-3g/index.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/layout.h>
#include <ntfs-3g/logfile.h>
#include <ntfs-3g/logging.h>
#include <ntfs-3g/mft.h>
#include <ntfs-3g/security.h>
#include <ntfs-3g/unistr.h>
#include <ntfs-3g/volume.h>

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The security descriptor kmsprep gives what it creates in a Windows
 * volume, whichever backend writes it: ntfs-3g would give a new file
 * "Everyone: Full Control", which on a master image lets any user edit
 * what Setup later runs as SYSTEM.  Self-relative binary form (MS-DTYP
 * 2.4.6), as NTFS stores it and ntfs-3g's system.ntfs_acl takes it.
 */
#ifndef KP_IMAGE_SECDESC_H
#define KP_IMAGE_SECDESC_H

#include <stdbool.h>
#include <stddef.h>

/* The most bytes secdesc_default writes. */
#define SECDESC_MAX 160

/* Owner Administrators, group SYSTEM, a protected DACL with SYSTEM and
 * Administrators full control and, unless SECRET, Users read and
 * execute; DIR makes the entries inherited by what is created in it.
 * Returns the length written to OUT. */
size_t secdesc_default(bool secret, bool dir, unsigned char out[SECDESC_MAX]);

#endif

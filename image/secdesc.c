/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The security descriptor of what kmsprep creates (secdesc.h). */
#include <stdint.h>
#include <string.h>

#include "image/secdesc.h"

/* Well-known SIDs in their binary form (MS-DTYP 2.4.2): Local System,
 * BUILTIN\Administrators, BUILTIN\Users. */
static const unsigned char sid_system[] = { 1, 1, 0, 0, 0, 0, 0, 5,
					     18, 0, 0, 0 };
static const unsigned char sid_admins[] = { 1, 2, 0, 0, 0, 0, 0, 5,
					     32, 0, 0, 0, 0x20, 2, 0, 0 };
static const unsigned char sid_users[] = { 1, 2, 0, 0, 0, 0, 0, 5,
					    32, 0, 0, 0, 0x21, 2, 0, 0 };

static void
put_le(unsigned char *p, uint32_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static size_t
put_ace(unsigned char *p, unsigned flags, uint32_t mask,
	const unsigned char *sid, size_t sidlen)
{
	p[0] = 0;			/* ACCESS_ALLOWED_ACE_TYPE */
	p[1] = (unsigned char)flags;
	put_le(p + 2, (uint32_t)(8 + sidlen), 2);
	put_le(p + 4, mask, 4);
	memcpy(p + 8, sid, sidlen);
	return 8 + sidlen;
}

size_t
secdesc_default(bool secret, bool dir, unsigned char b[SECDESC_MAX])
{
	enum { FULL = 0x001f01ff, READ_EXEC = 0x001200a9, OI_CI = 0x03 };
	unsigned flags = dir ? OI_CI : 0;
	size_t n = 20, acl;

	b[0] = 1;
	b[1] = 0;
	/* SELF_RELATIVE | DACL_PROTECTED | DACL_PRESENT */
	put_le(b + 2, 0x9004, 2);
	put_le(b + 4, (uint32_t)n, 4);			/* owner */
	memcpy(b + n, sid_admins, sizeof(sid_admins));
	n += sizeof(sid_admins);
	put_le(b + 8, (uint32_t)n, 4);			/* group */
	memcpy(b + n, sid_system, sizeof(sid_system));
	n += sizeof(sid_system);
	put_le(b + 12, 0, 4);				/* no SACL */
	put_le(b + 16, (uint32_t)n, 4);			/* DACL */
	acl = n;
	n += 8;
	n += put_ace(b + n, flags, FULL, sid_system, sizeof(sid_system));
	n += put_ace(b + n, flags, FULL, sid_admins, sizeof(sid_admins));
	if (!secret)
		n += put_ace(b + n, flags, READ_EXEC, sid_users,
			     sizeof(sid_users));
	b[acl] = 2;					/* ACL_REVISION */
	b[acl + 1] = 0;
	put_le(b + acl + 2, (uint32_t)(n - acl), 2);
	put_le(b + acl + 4, secret ? 2 : 3, 2);
	put_le(b + acl + 6, 0, 2);
	return n;
}

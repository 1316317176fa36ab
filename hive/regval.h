/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Registry value data as Windows stores it: REG_SZ as UTF-16LE with its
 * terminating NUL, REG_DWORD as 4 little-endian bytes, REG_MULTI_SZ as
 * NUL-terminated UTF-16LE strings followed by an empty string.
 */
#ifndef KP_REGVAL_H
#define KP_REGVAL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Encode UTF-8 TEXT as REG_SZ data (replaces OUT). */
int regval_sz(const char *text, struct buf *out);

/* Encode N strings as REG_MULTI_SZ data (replaces OUT). */
int regval_multi_sz(char *const *list, size_t n, struct buf *out);

/* Encode a REG_DWORD. */
void regval_dword(uint32_t v, unsigned char out[4]);

/* Decode REG_SZ/REG_EXPAND_SZ data to UTF-8, stopping at the first NUL
 * (replaces OUT); -1 if it is not valid UTF-16LE. */
int regval_get_sz(const unsigned char *d, size_t len, struct buf *out);

/* Decode REG_MULTI_SZ data into a NULL-terminated array of UTF-8 strings
 * (free with regval_free_list); -1 if not valid UTF-16LE. */
int regval_get_multi_sz(const unsigned char *d, size_t len, char ***list,
			size_t *n);
void regval_free_list(char **list);

/* Decode a REG_DWORD (exactly 4 bytes); -1 otherwise. */
int regval_get_dword(const unsigned char *d, size_t len, uint32_t *v);

/* "REG_SZ", ..., or "REG_0x1234" for types without a name. */
const char *regval_type_name(uint32_t type, char *buf, size_t bufsz);

/* Human-readable rendering of a value for listings and diffs: strings in
 * double quotes, DWORDs in decimal and hex, other data as hex bytes. */
int regval_format(uint32_t type, const unsigned char *d, size_t len,
		  struct buf *out);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Little-endian message fields between kmsprep and its sandboxed workers:
 * appended to a buf, read back with every length checked, since a worker
 * may have been subverted by what it parsed.
 */
#ifndef KP_WIRE_H
#define KP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

void wire_put32(struct buf *b, uint32_t v);
void wire_put64(struct buf *b, uint64_t v);
/* N bytes after their 32-bit length. */
void wire_putmem(struct buf *b, const void *p, size_t n);
/* A string as wire_putmem; NULL is sent as the length 0xFFFFFFFF. */
void wire_putstr(struct buf *b, const char *s);

/* A reader over LEFT bytes at P; BAD once a read ran past the end or a
 * length was over its limit, after which every read yields nothing. */
struct wire_rd {
	const unsigned char *p;
	size_t left;
	bool bad;
};

/* The next N bytes, or NULL (and BAD set) if there are fewer. */
const unsigned char *wire_take(struct wire_rd *r, size_t n);
uint32_t wire_get32(struct wire_rd *r);
uint64_t wire_get64(struct wire_rd *r);
/* A copy of a string of at most MAX bytes (caller frees), or NULL: bad,
 * out of memory, or (with *WAS_NULL set, if given) sent as NULL.  A
 * string holding a NUL byte is bad. */
char *wire_getstr(struct wire_rd *r, size_t max, bool *was_null);
/* Bytes of at most MAX after their length, pointing into the message; *N
 * is their count.  NULL if bad. */
const unsigned char *wire_getmem(struct wire_rd *r, size_t max, size_t *n);

#endif

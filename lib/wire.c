/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Message fields for sandboxed workers; see wire.h. */
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define WIRE_NULL 0xFFFFFFFFu

void
wire_put32(struct buf *b, uint32_t v)
{
	unsigned char p[4] = { (unsigned char)v, (unsigned char)(v >> 8),
			       (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24) };

	buf_add(b, p, 4);
}

void
wire_put64(struct buf *b, uint64_t v)
{
	wire_put32(b, (uint32_t)v);
	wire_put32(b, (uint32_t)(v >> 32));
}

void
wire_putmem(struct buf *b, const void *p, size_t n)
{
	wire_put32(b, (uint32_t)n);
	buf_add(b, p, n);
}

void
wire_putstr(struct buf *b, const char *s)
{
	if (s == NULL)
		wire_put32(b, WIRE_NULL);
	else
		wire_putmem(b, s, strlen(s));
}

const unsigned char *
wire_take(struct wire_rd *r, size_t n)
{
	const unsigned char *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

uint32_t
wire_get32(struct wire_rd *r)
{
	const unsigned char *p = wire_take(r, 4);

	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 |
		   (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24 : 0;
}

uint64_t
wire_get64(struct wire_rd *r)
{
	uint64_t lo = wire_get32(r);

	return lo | (uint64_t)wire_get32(r) << 32;
}

const unsigned char *
wire_getmem(struct wire_rd *r, size_t max, size_t *n)
{
	uint32_t len = wire_get32(r);

	*n = 0;
	if (len > max) {
		r->bad = true;
		return NULL;
	}
	*n = len;
	return wire_take(r, len);
}

char *
wire_getstr(struct wire_rd *r, size_t max, bool *was_null)
{
	const unsigned char *p;
	size_t n;

	if (was_null)
		*was_null = false;
	if (!r->bad && r->left >= 4 && memcmp(r->p, "\xff\xff\xff\xff", 4) == 0) {
		wire_take(r, 4);
		if (was_null)
			*was_null = true;
		else
			r->bad = true;
		return NULL;
	}
	p = wire_getmem(r, max, &n);
	if (p == NULL)
		return NULL;
	if (memchr(p, '\0', n)) {
		r->bad = true;
		return NULL;
	}
	return strndup((const char *)p, n);
}

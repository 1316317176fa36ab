/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Marvin32 hash (the algorithm of SymCrypt and .NET's System.Marvin). */
#include "marvin32.h"

static inline uint32_t
rotl(uint32_t x, unsigned n)
{
	return x << n | x >> (32 - n);
}

static inline void
block(uint32_t *a, uint32_t *b)
{
	*b ^= *a;
	*a = rotl(*a, 20);
	*a += *b;
	*b = rotl(*b, 9);
	*b ^= *a;
	*a = rotl(*a, 27);
	*a += *b;
	*b = rotl(*b, 19);
}

uint64_t
marvin32(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint32_t s0 = (uint32_t)seed, s1 = (uint32_t)(seed >> 32), t;

	for (; len >= 4; p += 4, len -= 4) {
		s0 += (uint32_t)p[0] | (uint32_t)p[1] << 8 |
		      (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		block(&s0, &s1);
	}
	/* The 0..3 remaining bytes, then a 0x80 marker byte. */
	switch (len) {
	case 3:
		t = 0x80000000u | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 |
		    p[0];
		break;
	case 2:
		t = 0x800000u | (uint32_t)p[1] << 8 | p[0];
		break;
	case 1:
		t = 0x8000u | p[0];
		break;
	default:
		t = 0x80u;
		break;
	}
	s0 += t;
	block(&s0, &s1);
	block(&s0, &s1);
	return (uint64_t)s1 << 32 | s0;
}

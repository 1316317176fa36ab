/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Strict UTF-8 <-> UTF-16LE conversion. */
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <wctype.h>

#include <string.h>

#include "utf.h"

/* Decode one code point at S (at most LEN bytes); returns its length or 0.
 * With WTF8, a three-byte surrogate (D800-DFFF) is accepted too. */
static size_t
decode(const unsigned char *s, size_t len, uint32_t *cp, bool wtf8)
{
	uint32_t c;
	size_t n, i;

	if (len == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		n = 2;
		c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (!wtf8 && c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	return decode(s, len, cp, false);
}

/* One WTF-8 code point; a high surrogate directly followed by a low one is
 * refused (that pair has its four-byte form), so each UTF-16 string has
 * exactly one WTF-8 spelling. */
static size_t
wtf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n = decode(s, len, cp, true);
	uint32_t next;

	if (n == 3 && *cp >= 0xd800 && *cp <= 0xdbff &&
	    decode(s + 3, len - 3, &next, true) == 3 &&
	    next >= 0xdc00 && next <= 0xdfff)
		return 0;
	return n;
}

bool
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	while (len) {
		size_t n = utf8_decode(p, len, &cp);

		if (n == 0)
			return false;
		p += n;
		len -= n;
	}
	return true;
}

static int
put16(struct buf *out, uint32_t u)
{
	unsigned char b[2] = { (unsigned char)(u & 0xff),
			       (unsigned char)(u >> 8) };

	return buf_add(out, b, 2);
}

bool
wtf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	while (len) {
		size_t n = wtf8_decode(p, len, &cp);

		if (n == 0)
			return false;
		p += n;
		len -= n;
	}
	return true;
}

static int
to_utf16le(const char *s, size_t len, struct buf *out, bool wtf8)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	while (len) {
		size_t n = wtf8 ? wtf8_decode(p, len, &cp) :
				  utf8_decode(p, len, &cp);

		if (n == 0) {
			errno = EILSEQ;
			return -1;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			if (put16(out, 0xd800 | (cp >> 10)) < 0 ||
			    put16(out, 0xdc00 | (cp & 0x3ff)) < 0)
				return -1;
		} else if (put16(out, cp) < 0) {
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int
utf8_to_utf16le(const char *s, size_t len, struct buf *out)
{
	return to_utf16le(s, len, out, false);
}

int
wtf8_to_utf16le(const char *s, size_t len, struct buf *out)
{
	return to_utf16le(s, len, out, true);
}

static int
from_utf16le(const unsigned char *p, size_t len, struct buf *out, bool wtf8)
{
	size_t i;

	if (len % 2) {
		errno = EILSEQ;
		return -1;
	}
	for (i = 0; i < len; i += 2) {
		uint32_t c = p[i] | (uint32_t)p[i + 1] << 8;
		unsigned char u[4];
		size_t n;

		if (c >= 0xd800 && c <= 0xdbff) {
			uint32_t lo = i + 3 < len ?
				p[i + 2] | (uint32_t)p[i + 3] << 8 : 0;

			if (lo >= 0xdc00 && lo <= 0xdfff) {
				c = 0x10000 + ((c - 0xd800) << 10) +
				    (lo - 0xdc00);
				i += 2;
			} else if (!wtf8) {
				errno = EILSEQ;
				return -1;
			}
		} else if (c >= 0xdc00 && c <= 0xdfff && !wtf8) {
			errno = EILSEQ;
			return -1;
		}
		if (c < 0x80) {
			u[0] = (unsigned char)c;
			n = 1;
		} else if (c < 0x800) {
			u[0] = (unsigned char)(0xc0 | (c >> 6));
			u[1] = (unsigned char)(0x80 | (c & 0x3f));
			n = 2;
		} else if (c < 0x10000) {
			u[0] = (unsigned char)(0xe0 | (c >> 12));
			u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
			u[2] = (unsigned char)(0x80 | (c & 0x3f));
			n = 3;
		} else {
			u[0] = (unsigned char)(0xf0 | (c >> 18));
			u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
			u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
			u[3] = (unsigned char)(0x80 | (c & 0x3f));
			n = 4;
		}
		if (buf_add(out, u, n) < 0)
			return -1;
	}
	return 0;
}

int
utf16le_to_utf8(const unsigned char *p, size_t len, struct buf *out)
{
	return from_utf16le(p, len, out, false);
}

int
utf16le_to_wtf8(const unsigned char *p, size_t len, struct buf *out)
{
	return from_utf16le(p, len, out, true);
}

static locale_t upper_loc;

static void
upper_init(void)
{
	upper_loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

unsigned
utf16_upper(unsigned c)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	locale_t loc;

	if (c < 0x80)
		return c >= 'a' && c <= 'z' ? c - 32 : c;
	/* Windows compares names by the simple uppercase of each UTF-16
	 * unit; C.UTF-8's towupper is that mapping, without touching the
	 * process locale.  Hives of several images are read at once. */
	pthread_once(&once, upper_init);
	loc = upper_loc;
	if (c >= 0xd800 && c <= 0xdfff)
		return c;
	if (loc) {
		unsigned u = (unsigned)towupper_l((wint_t)c, loc);

		return u <= 0xffff ? u : c;
	}
	/* Latin-1 lowercase letters, except the division sign and y-umlaut. */
	if (c >= 0xe0 && c <= 0xfe && c != 0xf7)
		return c - 32;
	return c;
}

int
utf8_casecmp(const char *a, const char *b)
{
	struct buf ua = BUF_INIT, ub = BUF_INIT;
	size_t i, n;
	int r = 0;

	if (wtf8_to_utf16le(a, strlen(a), &ua) < 0 ||
	    wtf8_to_utf16le(b, strlen(b), &ub) < 0) {
		r = strcmp(a, b);
		goto out;
	}
	n = ua.len < ub.len ? ua.len : ub.len;
	for (i = 0; i + 1 < n && r == 0; i += 2) {
		unsigned x = utf16_upper((unsigned char)ua.data[i] |
					 (unsigned)(unsigned char)ua.data[i + 1] << 8);
		unsigned y = utf16_upper((unsigned char)ub.data[i] |
					 (unsigned)(unsigned char)ub.data[i + 1] << 8);

		r = x < y ? -1 : x > y;
	}
	if (r == 0)
		r = ua.len < ub.len ? -1 : ua.len > ub.len;
out:
	buf_release(&ua);
	buf_release(&ub);
	return r;
}

int
wtf8_escape(const char *s, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;

	buf_reset(out);
	if (buf_grow(out, 0) < 0)
		return -1;
	while (*p) {
		uint32_t cp;
		size_t n = wtf8_decode(p, strlen((const char *)p), &cp);

		if (n == 3 && cp >= 0xd800 && cp <= 0xdfff) {
			if (buf_addf(out, "\\u%04X", (unsigned)cp) < 0)
				return -1;
		} else if (buf_add(out, p, n ? n : 1) < 0) {
			return -1;
		}
		p += n ? n : 1;
	}
	return 0;
}

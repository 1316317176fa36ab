/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control characters made visible for human output. */
#include <string.h>

#include "escape.h"
#include "utf.h"

/* Code points above ASCII that still steer a terminal or the reading
 * order: C1 controls (ESC's 8-bit forms), LS/PS, and the bidi marks
 * behind "Trojan Source" (https://trojansource.codes/). */
static int
is_steering(unsigned cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

int
kp_escape(const char *s, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	unsigned cp;
	int r;

	while (i < len) {
		unsigned char c = p[i];

		if (c < 0x80) {
			r = c < 0x20 || c == 0x7f ?
				    buf_addf(out, "\\x%02x", c) :
				    buf_addch(out, c);
			i++;
		} else {
			n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
			if (n == 1 || i + n > len ||
			    !utf8_valid(s + i, n)) {
				r = buf_addf(out, "\\x%02x", c);
				i++;
				if (r < 0)
					return -1;
				continue;
			}
			cp = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
			for (size_t k = 1; k < n; k++)
				cp = cp << 6 | (p[i + k] & 0x3f);
			r = is_steering(cp) ? buf_addf(out, "\\u%04X", cp) :
					      buf_add(out, s + i, n);
			i += n;
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

const char *
kp_escape_str(struct buf *b, const char *s)
{
	buf_reset(b);
	if (s == NULL || kp_escape(s, strlen(s), b) < 0)
		return "";
	return buf_str(b);
}

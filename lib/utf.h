/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * UTF-8 <-> UTF-16LE conversion, strict both ways.  Written here rather than
 * through iconv because registry data needs exact control: unpaired
 * surrogates, overlong forms and odd lengths must be rejected, never
 * replaced or passed through, and iconv's handling of them varies.
 */
#ifndef KP_UTF_H
#define KP_UTF_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* True if S[0..LEN) is well-formed UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t len);

/* Append the UTF-16LE form of UTF-8 text; -1 with errno EILSEQ if invalid. */
int utf8_to_utf16le(const char *s, size_t len, struct buf *out);

/* Append the UTF-8 form of UTF-16LE data; -1 with errno EILSEQ on an odd
 * length or an unpaired surrogate. */
int utf16le_to_utf8(const unsigned char *p, size_t len, struct buf *out);

/*
 * WTF-8 (https://simonsapin.github.io/wtf-8/): UTF-8 that also spells an
 * unpaired UTF-16 surrogate, as the three bytes ED A0 80 to ED BF BF.
 * Windows stores registry names as UTF-16 without checking that
 * surrogates pair up; WTF-8 is how such a name travels through kmsprep's
 * UTF-8 strings and .reg files and comes back to the same units.  Every
 * UTF-8 string is WTF-8; a surrogate pair spelled as two three-byte
 * sequences is not.
 */
bool wtf8_valid(const char *s, size_t len);
int wtf8_to_utf16le(const char *s, size_t len, struct buf *out);
int utf16le_to_wtf8(const unsigned char *p, size_t len, struct buf *out);

/* S for people to read (messages, notes, JSON): each unpaired surrogate as
 * the six characters \uD800 (as JSON and C spell a UTF-16 unit), the rest
 * as it is.  Replaces OUT's contents. */
int wtf8_escape(const char *s, struct buf *out);

/* Simple uppercase of a UTF-16 code unit, as Windows compares registry
 * names (surrogates are left as they are). */
unsigned utf16_upper(unsigned c);

/* Compare two UTF-8 (or WTF-8) names as Windows orders registry keys: by
 * the uppercase of each UTF-16 unit, as numbers.  <0, 0 or >0. */
int utf8_casecmp(const char *a, const char *b);

#endif

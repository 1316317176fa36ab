/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Encoding and decoding of registry value data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf.h"
#include "regf.h"
#include "regval.h"

int
regval_sz(const char *text, struct buf *out)
{
	buf_reset(out);
	if (utf8_to_utf16le(text, strlen(text), out) < 0)
		return -1;
	return buf_add(out, "\0\0", 2);
}

int
regval_multi_sz(char *const *list, size_t n, struct buf *out)
{
	size_t i;

	buf_reset(out);
	for (i = 0; i < n; i++)
		if (utf8_to_utf16le(list[i], strlen(list[i]), out) < 0 ||
		    buf_add(out, "\0\0", 2) < 0)
			return -1;
	return buf_add(out, "\0\0", 2);
}

void
regval_dword(uint32_t v, unsigned char out[4])
{
	regf_put32(out, v);
}

/* Length in bytes of the UTF-16 string at D before its NUL (or LEN). */
static size_t
u16len(const unsigned char *d, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		if (d[i] == 0 && d[i + 1] == 0)
			return i;
	return len & ~(size_t)1;
}

int
regval_get_sz(const unsigned char *d, size_t len, struct buf *out)
{
	buf_reset(out);
	if (buf_grow(out, 0) < 0)
		return -1;
	return utf16le_to_utf8(d, u16len(d, len), out);
}

void
regval_free_list(char **list)
{
	size_t i;

	for (i = 0; list && list[i]; i++)
		free(list[i]);
	free(list);
}

int
regval_get_multi_sz(const unsigned char *d, size_t len, char ***list,
		    size_t *n)
{
	struct buf s = BUF_INIT;
	char **v = NULL;
	size_t count = 0, off = 0;

	len &= ~(size_t)1;
	while (off < len) {
		size_t l = u16len(d + off, len - off);
		char **nv;

		if (l == 0)
			break;	/* the closing empty string */
		buf_reset(&s);
		if (buf_grow(&s, 0) < 0 || utf16le_to_utf8(d + off, l, &s) < 0)
			goto fail;
		nv = realloc(v, (count + 2) * sizeof(*v));
		if (nv == NULL)
			goto fail;
		v = nv;
		v[count] = buf_detach(&s, NULL);
		if (v[count] == NULL)
			goto fail;
		v[++count] = NULL;
		off += l + 2;
	}
	if (v == NULL) {
		v = calloc(1, sizeof(*v));
		if (v == NULL)
			goto fail;
	}
	buf_release(&s);
	*list = v;
	*n = count;
	return 0;
fail:
	buf_release(&s);
	if (v)
		v[count] = NULL;
	regval_free_list(v);
	return -1;
}

int
regval_get_dword(const unsigned char *d, size_t len, uint32_t *v)
{
	if (len != 4)
		return -1;
	*v = regf_le32(d);
	return 0;
}

const char *
regval_type_name(uint32_t type, char *buf, size_t bufsz)
{
	static const char *const names[] = {
		"REG_NONE", "REG_SZ", "REG_EXPAND_SZ", "REG_BINARY",
		"REG_DWORD", "REG_DWORD_BIG_ENDIAN", "REG_LINK",
		"REG_MULTI_SZ", "REG_RESOURCE_LIST",
		"REG_FULL_RESOURCE_DESCRIPTOR",
		"REG_RESOURCE_REQUIREMENTS_LIST", "REG_QWORD",
	};

	if (type < sizeof(names) / sizeof(names[0]))
		return names[type];
	snprintf(buf, bufsz, "REG_0x%x", type);
	return buf;
}

static int
add_quoted(struct buf *out, const char *s)
{
	size_t i;

	if (buf_addch(out, '"') < 0)
		return -1;
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		int r;

		if (c == '"' || c == '\\')
			r = buf_addf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			r = buf_addf(out, "\\x%02x", c);
		else
			r = buf_addch(out, c);
		if (r < 0)
			return -1;
	}
	return buf_addch(out, '"');
}

static int
add_hex(struct buf *out, const unsigned char *d, size_t len)
{
	size_t i;

	if (len == 0)
		return buf_addstr(out, "(empty)");
	for (i = 0; i < len && i < 64; i++)
		if (buf_addf(out, "%s%02x", i ? " " : "", d[i]) < 0)
			return -1;
	if (len > 64)
		return buf_addf(out, " ... (%zu bytes)", len);
	return 0;
}

int
regval_format(uint32_t type, const unsigned char *d, size_t len,
	      struct buf *out)
{
	struct buf s = BUF_INIT;
	char **list = NULL;
	uint32_t dw;
	size_t n, i;
	int r = -1;

	switch (type) {
	case REGT_SZ:
	case REGT_EXPAND_SZ:
		if (regval_get_sz(d, len, &s) < 0)
			break;
		r = add_quoted(out, buf_str(&s));
		buf_release(&s);
		return r;
	case REGT_DWORD:
		if (regval_get_dword(d, len, &dw) < 0)
			break;
		return buf_addf(out, "%u (0x%x)", dw, dw);
	case REGT_QWORD:
		if (len != 8)
			break;
		return buf_addf(out, "%llu",
				(unsigned long long)regf_le64(d));
	case REGT_MULTI_SZ:
		if (regval_get_multi_sz(d, len, &list, &n) < 0)
			break;
		r = n ? 0 : buf_addstr(out, "(empty list)");
		for (i = 0; i < n && r == 0; i++) {
			r = i ? buf_addstr(out, ", ") : 0;
			if (r == 0)
				r = add_quoted(out, list[i]);
		}
		regval_free_list(list);
		return r;
	default:
		break;
	}
	return add_hex(out, d, len);
}

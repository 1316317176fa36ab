/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* .reg text: parse, apply and export. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/escape.h"
#include "lib/utf.h"
#include "lib/valid.h"
#include "regf.h"
#include "regtext.h"
#include "regval.h"

#define HKLM "HKEY_LOCAL_MACHINE"

const char *
regtext_default_prefix(enum hive_kind kind)
{
	return kind == HIVE_KIND_SYSTEM ? HKLM "\\SYSTEM" : HKLM "\\SOFTWARE";
}

/* Does PATH start with PREFIX, followed by its end or a backslash? */
static const char *
strip(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	/* A trailing backslash is no part of the root. */
	while (n > 0 && prefix[n - 1] == '\\')
		n--;
	if (strncasecmp(path, prefix, n) != 0)
		return NULL;
	if (path[n] == '\0')
		return path + n;
	if (path[n] == '\\')
		return path + n + 1;
	return NULL;
}

static int
normalize(const char *rest, const char *orig, char **out,
	  struct kp_error *err)
{
	size_t n = strlen(rest), i;
	char q[96];

	while (n && rest[n - 1] == '\\')
		n--;
	for (i = 0; i < n; i++) {
		if ((unsigned char)rest[i] < 0x20 ||
		    (rest[i] == '\\' && (i == 0 || rest[i - 1] == '\\')))
			return kp_fail(err, KP_ERR_INPUT,
				       "key '%s': empty key name or control "
				       "character", kp_quote(orig, q, sizeof(q)));
	}
	*out = strndup(rest, n);
	return *out ? 0 : kp_fail_oom(err);
}

int
regtext_map_path(const char *path, const struct regtext_map *map, char **out,
		 struct kp_error *err)
{
	const char *rest, *mine, *other;
	char *full = NULL, q[96];
	int r;

	if (path[0] == '\\') {
		while (*path == '\\')
			path++;
		return normalize(path, path, out, err);
	}
	if (map->allow_relative && strncasecmp(path, "HKEY_", 5) != 0 &&
	    strncasecmp(path, "HKLM\\", 5) != 0)
		return normalize(path, path, out, err);
	if (map->prefix) {
		rest = strip(path, map->prefix);
		if (rest == NULL)
			return kp_fail(err, KP_ERR_INPUT,
				       "key '%s' is not under the prefix '%s'",
				       kp_quote(path, q, sizeof(q)),
				       map->prefix);
		return normalize(rest, path, out, err);
	}
	if (strncasecmp(path, "HKLM\\", 5) == 0) {
		if (asprintf(&full, HKLM "%s", path + 4) < 0)
			return kp_fail_oom(err);
		r = regtext_map_path(full, map, out, err);
		free(full);
		return r;
	}
	mine = regtext_default_prefix(map->kind);
	other = map->kind == HIVE_KIND_SYSTEM ? HKLM "\\SOFTWARE" :
						HKLM "\\SYSTEM";
	rest = strip(path, mine);
	if (rest == NULL && map->kind != HIVE_KIND_SOFTWARE &&
	    map->kind != HIVE_KIND_SYSTEM)
		rest = strip(path, other);
	if (rest)
		return normalize(rest, path, out, err);
	if (strip(path, other))
		kp_fail(err, KP_ERR_INPUT,
			"key '%s' belongs in the %s hive, and this is a %s hive",
			kp_quote(path, q, sizeof(q)), other + sizeof(HKLM),
			mine + sizeof(HKLM));
	else
		kp_fail(err, KP_ERR_INPUT,
			"key '%s' is not in this hive (expected %s\\... or a "
			"path starting with '\\')",
			kp_quote(path, q, sizeof(q)), mine);
	return kp_error_remedy(err, KP_REMEDY_KEY_PREFIX);
}

/*
 * Parsing.
 */

struct parser {
	const char *name;
	bool regedit4;		/* old ANSI format */
	const struct regtext_map *map;
	struct regops *ops;
	struct kp_error *err;
	char *key;		/* current key, NULL before the first */
	unsigned line;
};

static int
perr(struct parser *p, const char *fmt, const char *detail)
{
	char q[96];

	return kp_fail(p->err, KP_ERR_INPUT, "'%s' line %u: %s%s%s%s",
		       p->name, p->line, fmt, detail ? " '" : "",
		       detail ? kp_quote(detail, q, sizeof(q)) : "",
		       detail ? "'" : "");
}

static struct regop *
op_add(struct parser *p, enum regop_kind kind, const char *key)
{
	struct regops *o = p->ops;
	struct regop *op;

	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 32;
		struct regop *v = realloc(o->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		o->v = v;
		o->cap = cap;
	}
	op = &o->v[o->n];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->line = p->line;
	op->key = strdup(key);
	if (op->key == NULL)
		return NULL;
	o->n++;
	return op;
}

static void
trim(char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

static int
key_line(struct parser *p, char *s, size_t n)
{
	bool del = false;
	char *path, *mapped;
	struct regop *op;

	if (n < 2 || s[n - 1] != ']')
		return perr(p, "expected ']' at the end of the key line", NULL);
	s++;
	n -= 2;
	if (n && *s == '-') {
		del = true;
		s++;
		n--;
	}
	path = strndup(s, n);
	if (path == NULL)
		return kp_fail_oom(p->err);
	if (regtext_map_path(path, p->map, &mapped, p->err) < 0) {
		free(path);
		kp_error_prefix(p->err, "'%s' line %u", p->name, p->line);
		return -1;
	}
	free(path);
	if (del && mapped[0] == '\0') {
		free(mapped);
		return perr(p, "the root key of a hive cannot be deleted",
			    NULL);
	}
	op = op_add(p, del ? REGOP_DELETE_KEY : REGOP_KEY, mapped);
	free(p->key);
	/* Values after [-key] have no key to go to. */
	p->key = del ? NULL : mapped;
	if (del)
		free(mapped);
	return op ? 0 : kp_fail_oom(p->err);
}

/* A quoted string at *S with \\ and \" escapes; advances *S past it. */
static int
quoted(struct parser *p, const char **s, const char *end, struct buf *out)
{
	const char *c = *s + 1;

	buf_reset(out);
	if (buf_grow(out, 0) < 0)
		return kp_fail_oom(p->err);
	for (; c < end && *c != '"'; c++) {
		if (*c == '\\' && c + 1 < end && (c[1] == '\\' || c[1] == '"'))
			c++;
		if (buf_addch(out, *c) < 0)
			return kp_fail_oom(p->err);
	}
	if (c >= end)
		return perr(p, "unterminated string", NULL);
	*s = c + 1;
	return 0;
}

static int
hexdigit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "xx,xx,..." into OUT. */
static int
hex_bytes(struct parser *p, const char *s, const char *end, struct buf *out)
{
	buf_reset(out);
	if (buf_grow(out, 0) < 0)
		return kp_fail_oom(p->err);
	for (;;) {
		int v = 0, digits = 0;

		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (s == end)
			return out->len ? perr(p, "trailing comma", NULL) : 0;
		while (s < end && hexdigit(*s) >= 0 && digits < 3) {
			v = v * 16 + hexdigit(*s++);
			digits++;
		}
		if (digits == 0 || digits > 2)
			return perr(p, "bad hex byte", NULL);
		/* hivex writes no big-data (db) records. */
		if (out->len >= REGF_BIG_DATA)
			return kp_fail(p->err, KP_ERR_FAIL, "'%s' line %u: "
				       "value data over %u bytes: kmsprep "
				       "cannot write values this large",
				       p->name, p->line, REGF_BIG_DATA);
		if (buf_addch(out, v) < 0)
			return kp_fail_oom(p->err);
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (s == end)
			return 0;
		if (*s++ != ',')
			return perr(p, "expected ',' between hex bytes", NULL);
	}
}

static int
value_line(struct parser *p, const char *s, size_t n)
{
	const char *end = s + n, *c = s;
	struct buf name = BUF_INIT, data = BUF_INIT, text = BUF_INIT;
	struct regop *op = NULL;
	uint32_t type = 0;
	int r = -1;

	if (p->key == NULL) {
		perr(p, "value outside a key (or after a [-key] line)", NULL);
		goto out;
	}
	if (*c == '@') {
		c++;
		if (buf_grow(&name, 0) < 0)
			goto oom;
	} else if (quoted(p, &c, end, &name) < 0) {
		goto out;
	}
	while (c < end && (*c == ' ' || *c == '\t'))
		c++;
	if (c == end || *c++ != '=') {
		perr(p, "expected '=' after the value name", NULL);
		goto out;
	}
	while (c < end && (*c == ' ' || *c == '\t'))
		c++;
	if (c < end && *c == '-' && end - c == 1) {
		op = op_add(p, REGOP_DELETE_VALUE, p->key);
	} else if (c < end && *c == '"') {
		if (quoted(p, &c, end, &text) < 0)
			goto out;
		if (c != end) {
			perr(p, "unexpected text after the string", NULL);
			goto out;
		}
		/* WTF-8 text keeps an unpaired surrogate (see decode). */
		if (wtf8_to_utf16le(text.data, text.len, &data) < 0 ||
		    buf_add(&data, "\0\0", 2) < 0)
			goto oom;
		type = REGT_SZ;
		op = op_add(p, REGOP_SET, p->key);
	} else if ((size_t)(end - c) > 6 && strncasecmp(c, "dword:", 6) == 0) {
		uint32_t v = 0;
		const char *d = c + 6;

		if (end - d < 1 || end - d > 8) {
			perr(p, "dword: takes 1 to 8 hex digits", NULL);
			goto out;
		}
		for (; d < end; d++) {
			if (hexdigit(*d) < 0) {
				perr(p, "bad dword", NULL);
				goto out;
			}
			v = v << 4 | (uint32_t)hexdigit(*d);
		}
		if (buf_grow(&data, 4) < 0)
			goto oom;
		regval_dword(v, (unsigned char *)data.data);
		data.len = 4;
		type = REGT_DWORD;
		op = op_add(p, REGOP_SET, p->key);
	} else if ((size_t)(end - c) >= 4 && strncasecmp(c, "hex", 3) == 0) {
		c += 3;
		type = REGT_BINARY;
		if (*c == '(') {
			const char *close = memchr(c, ')', (size_t)(end - c));
			int digits = 0;

			type = 0;
			for (c++; close && c < close; c++, digits++) {
				if (hexdigit(*c) < 0 || digits >= 8)
					break;
				type = type << 4 | (uint32_t)hexdigit(*c);
			}
			if (close == NULL || c != close || digits == 0) {
				perr(p, "bad hex(TYPE)", NULL);
				goto out;
			}
			c++;
		}
		if (c == end || *c++ != ':') {
			perr(p, "expected ':' after hex", NULL);
			goto out;
		}
		if (hex_bytes(p, c, end, &data) < 0)
			goto out;
		/* REGEDIT4 writes expandable and multi strings as ANSI bytes;
		 * Windows stores them as UTF-16LE (Latin-1 assumed here). */
		if (p->regedit4 && (type == REGT_EXPAND_SZ ||
				    type == REGT_MULTI_SZ)) {
			struct buf wide = BUF_INIT;
			size_t k;

			for (k = 0; k < data.len; k++)
				if (buf_addch(&wide, data.data[k]) < 0 ||
				    buf_addch(&wide, 0) < 0) {
					buf_release(&wide);
					goto oom;
				}
			buf_release(&data);
			data = wide;
		}
		op = op_add(p, REGOP_SET, p->key);
	} else {
		perr(p, "unknown value data (expected \"text\", dword:, hex: "
			"or -)", NULL);
		goto out;
	}
	if (op == NULL)
		goto oom;
	op->name = buf_detach(&name, NULL);
	if (op->name == NULL)
		goto oom;
	if (op->kind == REGOP_SET) {
		op->type = type;
		op->len = data.len;
		op->data = (unsigned char *)buf_detach(&data, NULL);
		if (op->data == NULL)
			goto oom;
	}
	r = 0;
	goto out;
oom:
	r = kp_fail_oom(p->err);
out:
	buf_release(&name);
	buf_release(&data);
	buf_release(&text);
	return r;
}

/* Decode the file to UTF-8: UTF-16LE if it has a BOM, else UTF-8.
 * Unpaired surrogates are kept, as WTF-8 (lib/utf.h): regedit writes a
 * name holding one as it is into its UTF-16 files, and kmsprep's UTF-8
 * export spells it in WTF-8, so both read back to the same name. */
static int
decode(const char *text, size_t len, const char *name, struct buf *out,
       struct kp_error *err)
{
	const unsigned char *u = (const unsigned char *)text;

	if (len >= 2 && u[0] == 0xff && u[1] == 0xfe) {
		if (utf16le_to_wtf8(u + 2, len - 2, out) < 0)
			return kp_fail(err, KP_ERR_INPUT,
				       "'%s': not valid UTF-16LE text", name);
	} else {
		if (len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf) {
			text += 3;
			len -= 3;
		}
		if (!wtf8_valid(text, len))
			return kp_fail(err, KP_ERR_INPUT,
				       "'%s': not UTF-8 or UTF-16LE text "
				       "with a byte order mark", name);
		if (buf_add(out, text, len) < 0)
			return kp_fail_oom(err);
	}
	if (buf_grow(out, 0) < 0)
		return kp_fail_oom(err);
	if (memchr(out->data, '\0', out->len))
		return kp_fail(err, KP_ERR_INPUT, "'%s': contains NUL bytes",
			       name);
	return 0;
}

int
regtext_parse(const char *text, size_t len, const char *name,
	      const struct regtext_map *map, struct regops *ops,
	      struct kp_error *err)
{
	struct parser p = { name, false, map, ops, err, NULL, 0 };
	struct buf utf8 = BUF_INIT, logical = BUF_INIT;
	bool header = false;
	char *s, *end;
	int r = -1;

	if (decode(text, len, name, &utf8, err) < 0)
		goto out;
	s = utf8.data;
	end = s + utf8.len;
	while (s < end) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		char *line = s;
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);

		s = nl ? nl + 1 : end;
		p.line++;
		if (n && line[n - 1] == '\r')
			n--;
		trim(&line, &n);
		if (n == 0 || line[0] == ';')
			continue;
		if (!header) {
			if ((n == 36 && strncmp(line, "Windows Registry Editor "
					"Version 5.00", 36) == 0) ||
			    (n == 8 && strncmp(line, "REGEDIT4", 8) == 0)) {
				header = true;
				p.regedit4 = n == 8;
				continue;
			}
			perr(&p, "not a .reg file (expected 'Windows Registry "
				 "Editor Version 5.00')", NULL);
			goto out;
		}
		if (line[0] == '[') {
			if (key_line(&p, line, n) < 0)
				goto out;
			continue;
		}
		if (line[0] != '"' && line[0] != '@') {
			perr(&p, "expected '[key]' or a value line", NULL);
			goto out;
		}
		/* Hex data continues on the next line after a backslash. */
		buf_reset(&logical);
		if (buf_add(&logical, line, n) < 0)
			goto oom;
		while (logical.len && logical.data[logical.len - 1] == '\\' &&
		       strstr(logical.data, "=hex") && s < end) {
			char *next = s;
			size_t m;

			nl = memchr(s, '\n', (size_t)(end - s));
			m = nl ? (size_t)(nl - s) : (size_t)(end - s);
			s = nl ? nl + 1 : end;
			if (m && next[m - 1] == '\r')
				m--;
			trim(&next, &m);
			logical.len--;
			if (buf_add(&logical, next, m) < 0)
				goto oom;
		}
		if (value_line(&p, logical.data, logical.len) < 0)
			goto out;
	}
	if (!header) {
		p.line = 1;
		perr(&p, "not a .reg file (it is empty)", NULL);
		goto out;
	}
	r = 0;
	goto out;
oom:
	kp_fail_oom(err);
out:
	free(p.key);
	buf_release(&utf8);
	buf_release(&logical);
	if (r < 0)
		regops_release(ops);
	return r;
}

void
regops_release(struct regops *ops)
{
	size_t i;

	for (i = 0; i < ops->n; i++) {
		free(ops->v[i].key);
		free(ops->v[i].name);
		free(ops->v[i].data);
	}
	free(ops->v);
	ops->v = NULL;
	ops->n = ops->cap = 0;
}

int
regtext_apply(struct hive *h, const struct regops *ops, struct hive_changes *c,
	      struct kp_error *err)
{
	size_t i;

	for (i = 0; i < ops->n; i++) {
		const struct regop *op = &ops->v[i];
		int r;

		switch (op->kind) {
		case REGOP_KEY:
			r = hive_apply_key(h, c, op->key, true, err);
			break;
		case REGOP_DELETE_KEY:
			r = hive_apply_key(h, c, op->key, false, err);
			break;
		case REGOP_SET:
			r = hive_apply_value(h, c, op->key, op->name, true,
					     op->type, op->data, op->len, err);
			break;
		default:
			r = hive_apply_value(h, c, op->key, op->name, false, 0,
					     NULL, 0, err);
			break;
		}
		if (r < 0) {
			kp_error_prefix(err, "line %u", op->line);
			return -1;
		}
	}
	return 0;
}

/*
 * Export.
 */

static int
add_escaped(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if ((*s == '\\' || *s == '"') && buf_addch(out, '\\') < 0)
			return -1;
		if (buf_addch(out, *s) < 0)
			return -1;
	}
	return 0;
}

/* Can REG_SZ data be written as "text" and read back to the same bytes?
 * Only if it ends with its one NUL and holds no control characters. */
static bool
plain_sz(const unsigned char *d, size_t len, struct buf *text)
{
	size_t i;

	if (len < 2 || len % 2 || d[len - 1] || d[len - 2])
		return false;
	for (i = 0; i + 2 < len; i += 2)
		if (d[i + 1] == 0 && d[i] < 0x20)
			return false;
	return regval_get_sz(d, len, text) == 0;
}

static int
export_hex(struct buf *out, uint32_t type, const unsigned char *d,
	   size_t len, size_t col)
{
	size_t i;

	if (type == REGT_BINARY ? buf_addstr(out, "hex:") < 0 :
				  buf_addf(out, "hex(%x):", type) < 0)
		return -1;
	col += type == REGT_BINARY ? 4 : 8;
	for (i = 0; i < len; i++) {
		if (col + 3 > 77 && i) {
			if (buf_addstr(out, "\\\n  ") < 0)
				return -1;
			col = 2;
		}
		if (buf_addf(out, "%02x%s", d[i], i + 1 < len ? "," : "") < 0)
			return -1;
		col += 3;
	}
	return buf_addch(out, '\n');
}

/* What an export must leave out: .reg text has no form for it. */
struct export {
	struct hive *h;
	struct buf *out;
	struct buf *left;	/* one line each, escaped; or NULL */
};

/* Can NAME go into .reg text and come back the same?  No control
 * characters (a newline would let it forge lines of the file), and, for
 * a key, no backslash (it would read as two keys). */
static bool
reg_name_ok(const char *name, bool key)
{
	for (; *name; name++)
		if ((unsigned char)*name < 0x20 || (key && *name == '\\'))
			return false;
	return true;
}

/* Say, in the file and to the caller, that WHAT (a key, with all below
 * it, or a value) of PATH was left out: NAME, or NULL for a key whose
 * name holds a NUL. */
static int
left_out(struct export *x, const char *what, const char *path,
	 const char *name, struct kp_error *err)
{
	struct buf e[2] = { BUF_INIT, BUF_INIT }, line = BUF_INIT;
	int r;

	if (name)
		r = buf_addf(&line, "%s '%s\\%s'", what,
			     kp_escape_str(&e[0], path),
			     kp_escape_str(&e[1], name));
	else
		r = buf_addf(&line, "a %s of '%s' whose name holds a NUL", what,
			     kp_escape_str(&e[0], path));
	r = r < 0 ||
	    buf_addf(x->out, "; %s left out: .reg text cannot carry its "
		     "name\n", buf_str(&line)) < 0 ||
	    (x->left && buf_addf(x->left, "%s\n", buf_str(&line)) < 0);
	buf_release(&e[0]);
	buf_release(&e[1]);
	buf_release(&line);
	return r ? kp_fail_oom(err) : 0;
}

static int
export_value(struct export *x, const char *path, const struct hive_value *v,
	     struct kp_error *err)
{
	struct buf *out = x->out, text = BUF_INIT;
	size_t start = out->len;
	char tn[32];
	int r;

	if (!reg_name_ok(v->name, false))
		return left_out(x, "value of key", path, v->name, err);
	/* A layered key's tombstone goes out as the empty REG_NONE value it
	 * looks like, with a comment: regedit has no form for it. */
	if (v->tombstone && buf_addf(out, "; the next value is a tombstone "
				     "(a layered key's mark for a deleted "
				     "value)\n") < 0)
		return kp_fail_oom(err);
	if (hive_value_is_secret(v->name))
		return buf_addf(out, "; \"%s\" (%s) is not exported: it holds "
				"a product key\n", v->name,
				regval_type_name(v->type, tn, sizeof(tn))) ?
			       kp_fail_oom(err) : 0;
	if (*v->name) {
		if (buf_addch(out, '"') < 0 || add_escaped(out, v->name) < 0 ||
		    buf_addstr(out, "\"=") < 0)
			return kp_fail_oom(err);
	} else if (buf_addstr(out, "@=") < 0) {
		return kp_fail_oom(err);
	}
	if (v->type == REGT_SZ && plain_sz(v->data, v->len, &text)) {
		r = buf_addch(out, '"') < 0 || add_escaped(out, buf_str(&text)) < 0 ||
		    buf_addstr(out, "\"\n") < 0;
	} else if (v->type == REGT_DWORD && v->len == 4) {
		r = buf_addf(out, "dword:%08x\n", regf_le32(v->data)) < 0;
	} else {
		r = export_hex(out, v->type, v->data, v->len,
			       out->len - start) < 0;
	}
	buf_release(&text);
	return r ? kp_fail_oom(err) : 0;
}

static int
export_key(struct export *x, hive_key k, const char *path,
	   struct kp_error *err)
{
	struct hive_value *vals = NULL;
	hive_key *sub = NULL;
	size_t nvals = 0, nsub = 0, i;
	int r = -1, t = hive_key_tombstone(x->h, k, err);

	if (t < 0)
		goto out;
	/* Its own mark, as for a value: regedit has no form for a key that
	 * stands for a deleted one, and would import an ordinary key. */
	if ((t && buf_addstr(x->out, "; the next key is a tombstone (a layered "
			     "key's mark for a deleted key)\n") < 0) ||
	    buf_addf(x->out, "[%s]\n", path) < 0) {
		kp_fail_oom(err);
		goto out;
	}
	if (hive_values(x->h, k, &vals, &nvals, err) < 0)
		goto out;
	for (i = 0; i < nvals; i++)
		if (export_value(x, path, &vals[i], err) < 0)
			goto out;
	if (buf_addch(x->out, '\n') < 0) {
		kp_fail_oom(err);
		goto out;
	}
	if (hive_subkeys(x->h, k, &sub, &nsub, err) < 0)
		goto out;
	for (i = 0; i < nsub; i++) {
		struct kp_error e2 = KP_ERROR_INIT;
		char *name = hive_key_name(x->h, sub[i], &e2), *child;
		size_t len;

		/* A name that cannot be read as one (a NUL inside) or
		 * written in .reg text: the key and all below it go. */
		if (name == NULL && e2.status == KP_ERR_INPUT &&
		    strstr(e2.msg, HIVE_NAME_NUL)) {
			if (left_out(x, "key", path, NULL, err) < 0)
				goto out;
			continue;
		}
		if (name == NULL) {
			*err = e2;
			goto out;
		}
		if (!reg_name_ok(name, true)) {
			r = left_out(x, "key", path, name, err);
			free(name);
			if (r < 0)
				goto out;
			r = -1;
			continue;
		}
		len = strlen(path) + strlen(name) + 2;
		child = malloc(len);
		if (child == NULL) {
			free(name);
			kp_fail_oom(err);
			goto out;
		}
		snprintf(child, len, "%s\\%s", path, name);
		free(name);
		r = export_key(x, sub[i], child, err);
		free(child);
		if (r < 0)
			goto out;
		r = -1;
	}
	r = 0;
out:
	hive_values_free(vals, nvals);
	free(sub);
	return r;
}

int
regtext_export(struct hive *h, const char *key, const char *prefix,
	       struct buf *out, struct buf *left, struct kp_error *err)
{
	const struct hive_state *st = hive_state(h);
	struct export x = { h, out, left };
	hive_key k;
	char *path;
	size_t len;
	int r = hive_find(h, key, &k, err);

	if (r < 0)
		return -1;
	if (r == 0)
		return kp_fail(err, KP_ERR_INPUT, "'%s': no key '%s'",
			       hive_path(h), key);
	if (buf_addstr(out, "Windows Registry Editor Version 5.00\n\n") < 0)
		return kp_fail_oom(err);
	/* What hive show says, the file says too. */
	if (st->dirty && !st->recovered &&
	    buf_addstr(out, "; the hive is dirty and its transaction logs "
		       "cannot be replayed: these are the primary file's "
		       "values, without its last changes\n\n") < 0)
		return kp_fail_oom(err);
	len = strlen(prefix) + strlen(key) + 2;
	path = malloc(len);
	if (path == NULL)
		return kp_fail_oom(err);
	snprintf(path, len, "%s%s%s", prefix, *key ? "\\" : "", key);
	r = export_key(&x, k, path, err);
	free(path);
	return r;
}

int
regtext_to_utf16(const struct buf *in, struct buf *out)
{
	struct buf crlf = BUF_INIT;
	size_t i;
	int r = -1;

	for (i = 0; i < in->len; i++) {
		if (in->data[i] == '\n' && buf_addch(&crlf, '\r') < 0)
			goto out;
		if (buf_addch(&crlf, in->data[i]) < 0)
			goto out;
	}
	if (buf_add(out, "\xff\xfe", 2) < 0 ||
	    wtf8_to_utf16le(buf_str(&crlf), crlf.len, out) < 0)
		goto out;
	r = 0;
out:
	buf_release(&crlf);
	return r;
}

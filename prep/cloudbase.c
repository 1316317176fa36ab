/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cloudbase-init's configuration: read its licensing options, change them
 * keeping the rest of the file.  Hand-written rather than with an INI
 * library: the edit must keep every other byte (comments, order, case,
 * line endings), which a parse-and-rewrite loses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cloudbase.h"
#include "lib/valid.h"

/* One line of the file: [P, E) without its line ending. */
struct line {
	const char *p, *e, *next;
};

static bool
next_line(const char **cur, const char *end, struct line *l)
{
	const char *nl;

	if (*cur >= end)
		return false;
	l->p = *cur;
	nl = memchr(*cur, '\n', (size_t)(end - *cur));
	l->next = nl ? nl + 1 : end;
	l->e = nl ? nl : end;
	if (l->e > l->p && l->e[-1] == '\r')
		l->e--;
	*cur = l->next;
	return true;
}

static const char *
skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* Is L a section header?  *DEFAULT set when it is [DEFAULT]. */
static bool
section(const struct line *l, bool *is_default)
{
	const char *p = skip_ws(l->p, l->e);

	if (p == l->e || *p != '[')
		return false;
	*is_default = (size_t)(l->e - p) >= 9 &&
		      strncasecmp(p, "[DEFAULT]", 9) == 0;
	return true;
}

/* If L sets option NAME ("name = value", "name=value"), the value's
 * bounds in *V and *VE. */
static bool
option(const struct line *l, const char *name, const char **v,
       const char **ve)
{
	const char *p = skip_ws(l->p, l->e), *e = l->e;
	size_t n = strlen(name);

	if ((size_t)(e - p) < n || strncasecmp(p, name, n) != 0)
		return false;
	p = skip_ws(p + n, e);
	if (p == e || (*p != '=' && *p != ':'))
		return false;
	p = skip_ws(p + 1, e);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*v = p;
	*ve = e;
	return true;
}

static int
boolean(const char *v, const char *e)
{
	static const char *const yes[] = { "true", "1", "yes", "on" };
	static const char *const no[] = { "false", "0", "no", "off" };
	size_t i, n = (size_t)(e - v);

	for (i = 0; i < 4; i++) {
		if (n == strlen(yes[i]) && strncasecmp(v, yes[i], n) == 0)
			return 1;
		if (n == strlen(no[i]) && strncasecmp(v, no[i], n) == 0)
			return 0;
	}
	return -1;
}

void
cbi_parse(const char *text, size_t len, struct cbi_conf *c)
{
	const char *cur = text, *end = text + len, *v, *ve;
	struct line l;
	bool in_default = false, d;

	memset(c, 0, sizeof(*c));
	c->plugin = true;
	c->activate_windows = c->set_kms_product_key = -1;
	c->set_avma_product_key = -1;
	while (next_line(&cur, end, &l)) {
		if (section(&l, &d)) {
			in_default = d;
			continue;
		}
		if (!in_default)
			continue;
		if (option(&l, "activate_windows", &v, &ve))
			c->activate_windows = boolean(v, ve);
		else if (option(&l, "set_kms_product_key", &v, &ve))
			c->set_kms_product_key = boolean(v, ve);
		else if (option(&l, "set_avma_product_key", &v, &ve))
			c->set_avma_product_key = boolean(v, ve);
		else if (option(&l, "kms_host", &v, &ve)) {
			size_t n = (size_t)(ve - v), i;

			if (n >= sizeof(c->kms_host))
				n = sizeof(c->kms_host) - 1;
			for (i = 0; i < n; i++)
				c->kms_host[i] = (v[i] >= 0x20 && v[i] < 0x7f) ?
						 v[i] : '?';
			c->kms_host[n] = '\0';
		} else if (option(&l, "plugins", &v, &ve)) {
			c->plugin = memmem(v, (size_t)(ve - v),
					   "WindowsLicensingPlugin", 22) != NULL;
		}
	}
}

struct want {
	const char *name;
	char value[300];
	bool set, done;
};

/* Add "NAME=VALUE" to OUT at the end of its [DEFAULT] section (before
 * the next section header), or in a new [DEFAULT] first. */
static int
add_missing(struct buf *out, const struct want *w, bool has_default,
	    const char *eol)
{
	struct buf all = BUF_INIT;
	const char *c = out->data, *e = out->len ? out->data + out->len : c;
	struct line l;
	size_t at = out->len;
	bool in = false, d;
	int r = 0;

	if (!has_default) {
		at = 0;
		r = buf_addf(&all, "[DEFAULT]%s", eol);
	} else {
		while (next_line(&c, e, &l)) {
			if (!section(&l, &d))
				continue;
			if (in) {
				at = (size_t)(l.p - out->data);
				break;
			}
			in = d;
		}
	}
	if (r == 0 && at)
		r = buf_add(&all, out->data, at);
	/* A last line without its line ending gets one. */
	if (r == 0 && at && out->data[at - 1] != '\n')
		r = buf_addstr(&all, eol);
	if (r == 0)
		r = buf_addf(&all, "%s=%s%s", w->name, w->value, eol);
	if (r == 0 && at < out->len)
		r = buf_add(&all, out->data + at, out->len - at);
	if (r < 0) {
		buf_release(&all);
		return -1;
	}
	buf_release(out);
	*out = all;
	return 0;
}

int
cbi_edit(const char *text, size_t len, const struct cbi_set *set,
	 struct buf *out, struct kp_error *err)
{
	struct want w[3] = {
		{ "kms_host", "", false, false },
		{ "activate_windows", "", false, false },
		{ "set_kms_product_key", "", false, false },
	};
	const char *cur = text, *end = text + len, *eol = "\n", *v, *ve;
	struct line l;
	bool in_default = false, seen_default = false, d;
	size_t i;
	int r = 0;

	if (set->kms_host) {
		if (kp_check_safe("kms_host", set->kms_host, err) < 0)
			return -1;
		snprintf(w[0].value, sizeof(w[0].value), "%s", set->kms_host);
		w[0].set = true;
	}
	if (set->activate_windows >= 0) {
		snprintf(w[1].value, sizeof(w[1].value), "%s",
			 set->activate_windows ? "true" : "false");
		w[1].set = true;
	}
	if (set->set_kms_product_key >= 0) {
		snprintf(w[2].value, sizeof(w[2].value), "%s",
			 set->set_kms_product_key ? "true" : "false");
		w[2].set = true;
	}
	if (memmem(text, len, "\r\n", 2))
		eol = "\r\n";
	buf_reset(out);
	while (r == 0 && next_line(&cur, end, &l)) {
		if (section(&l, &d)) {
			in_default = d;
			seen_default |= d;
			r = buf_add(out, l.p, (size_t)(l.next - l.p));
			continue;
		}
		for (i = 0; in_default && i < 3; i++)
			if (w[i].set && option(&l, w[i].name, &v, &ve))
				break;
		if (!in_default || i == 3) {
			r = buf_add(out, l.p, (size_t)(l.next - l.p));
			continue;
		}
		/* The option's line: its value replaced, the rest kept. */
		r = buf_add(out, l.p, (size_t)(v - l.p));
		if (r == 0)
			r = buf_addstr(out, w[i].value);
		if (r == 0)
			r = buf_add(out, ve, (size_t)(l.next - ve));
		w[i].done = true;
	}
	if (r < 0)
		return kp_fail_oom(err);
	for (i = 0; i < 3 && r == 0; i++)
		if (w[i].set && !w[i].done) {
			r = add_missing(out, &w[i], seen_default, eol);
			seen_default = true;
		}
	return r < 0 ? kp_fail_oom(err) : 0;
}

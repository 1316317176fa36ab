/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Local hive handles (local.h): finding keys, reading names and values,
 * as Windows compares names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/utf.h"
#include "local.h"

static bool
is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Are A and B one name to Windows (lib/utf.h's folding)?  Two ASCII
 * names are compared without converting them: imports set thousands. */
bool
hl_fold_eq(const char *a, const char *b)
{
	if (strcasecmp(a, b) == 0)
		return true;
	return (!is_ascii(a) || !is_ascii(b)) && utf8_casecmp(a, b) == 0;
}

/* OUT as a value read from the hive: a copy of P. */
static int
pending_value(const struct pending *p, struct hive_value *out)
{
	memset(out, 0, sizeof(*out));
	out->name = strdup(p->name);
	out->data = malloc(p->len ? p->len : 1);
	if (out->name == NULL || out->data == NULL) {
		hive_value_release(out);
		return -1;
	}
	if (p->len)
		memcpy(out->data, p->data, p->len);
	out->type = p->type;
	out->len = p->len;
	return 0;
}

void
hl_pending_free(struct hive_local *h)
{
	size_t i;

	for (i = 0; i < h->npend; i++) {
		free(h->pend[i].name);
		free(h->pend[i].data);
	}
	free(h->pend);
	h->pend = NULL;
	h->npend = h->cappend = 0;
}

/* The value NAME of K waiting to be set, or NULL. */
struct pending *
hl_pending_find(struct hive_local *h, hive_key k, const char *name)
{
	size_t i;

	for (i = 0; i < h->npend; i++) {
		const char *n = h->pend[i].name;

		if (h->pend[i].k == k && hl_fold_eq(n, name))
			return &h->pend[i];
	}
	return NULL;
}

/*
 * Reading.
 */

int
hl_hx_fail(struct hive_local *h, const char *what, const char *path,
	   struct kp_error *err)
{
	return kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EINVAL,
			     "'%s': %s '%s'", h->pub.path, what, path);
}

/* The regf offset of hivex handle HANDLE if it is a record of the file as
 * opened (see struct hive_local), else REGF_NONE. */
uint32_t
hl_raw_off(const struct hive_local *h, size_t handle)
{
	if (h->raw.p == NULL || handle < REGF_BASE_SIZE ||
	    handle - REGF_BASE_SIZE >= h->raw.end)
		return REGF_NONE;
	return (uint32_t)(handle - REGF_BASE_SIZE);
}

/* Child NAME of K: 1 found, 0 absent, -1 error.  hivex compares names in
 * ASCII only (Windows folds every UTF-16 unit, so a key "Ä" must be found
 * as "ä"), and fails outright when any sibling's name holds an unpaired
 * surrogate; names are scanned here whenever hivex's answer could differ.
 * *ODD (if not NULL) tells whether a sibling has such a name. */
int
hl_child(struct hive_local *h, hive_key k, const char *name, hive_key *out,
	 bool *odd, const char *path, struct kp_error *err)
{
	hive_node_h c, *kids;
	size_t i;
	int r = 0;

	if (odd)
		*odd = false;
	errno = 0;
	c = hivex_node_get_child(h->hx, k, name);
	if (c) {
		*out = c;
		return 1;
	}
	kids = hivex_node_children(h->hx, k);
	if (kids == NULL)
		return hl_hx_fail(h, "cannot list subkeys of", path, err);
	for (i = 0; kids[i] && r == 0; i++) {
		char *n = local_key_name(&h->pub, kids[i], err);

		if (n == NULL) {
			kp_error_prefix(err, "key path '%s'", path);
			r = -1;
			break;
		}
		if (odd && !utf8_valid(n, strlen(n)))
			*odd = true;
		if (utf8_casecmp(n, name) == 0) {
			*out = kids[i];
			r = 1;
		}
		free(n);
	}
	free(kids);
	return r;
}

/* hivex inserts a subkey where strcasecmp puts it; Windows wants the order
 * of uppercase UTF-16 units, which differs for [\]^_` and most non-ASCII
 * letters.  A list out of Windows' order breaks lookups in Windows, so
 * check the list around a new key with such a name. */
int
hl_check_order(struct hive_local *h, hive_key parent, const char *name,
	       const char *path, struct kp_error *err)
{
	hive_node_h *kids;
	char *prev = NULL;
	size_t i;
	int r = 0;

	if (is_ascii(name) && !strpbrk(name, "[\\]^_`"))
		return 0;
	kids = hivex_node_children(h->hx, parent);
	if (kids == NULL)
		return hl_hx_fail(h, "cannot list subkeys of", path, err);
	for (i = 0; kids[i] && r == 0; i++) {
		char *n = local_key_name(&h->pub, kids[i], err);

		if (n == NULL)
			r = -1;
		else if (prev && utf8_casecmp(prev, n) >= 0)
			r = kp_fail(err, KP_ERR_FAIL,
				    "key path '%s': hivex would store key "
				    "'%s' out of the order Windows looks keys "
				    "up in; not written", path, name);
		free(prev);
		prev = n;
	}
	free(prev);
	free(kids);
	if (r < 0)
		h->poisoned = true;
	return r;
}

int
local_find(struct hive *pub, const char *path, hive_key *k,
	   struct kp_error *err)
{
	struct hive_local *h = hl_of(pub);
	hive_key cur;
	const char *p = path;
	char part[KEY_NAME_MAX * 4 + 1];

	if (h->hx == NULL)
		return kp_fail(err, KP_ERR_FAIL,
			       "'%s': already committed", h->pub.path);
	cur = hivex_root(h->hx);
	while (*p) {
		const char *bs = strchr(p, '\\');
		size_t n = bs ? (size_t)(bs - p) : strlen(p);
		int r;

		if (n >= sizeof(part))
			return 0;
		if (n) {
			memcpy(part, p, n);
			part[n] = '\0';
			r = hl_child(h, cur, part, &cur, NULL, path, err);
			if (r <= 0)
				return r;
		}
		p += n + (bs != NULL);
	}
	*k = cur;
	return 1;
}

enum hive_kind
local_kind(struct hive *pub)
{
	struct hive_local *h = hl_of(pub);
	struct kp_error ignored = KP_ERROR_INIT;
	hive_key k;

	if (local_find(&h->pub, "Microsoft\\Windows NT\\CurrentVersion", &k,
		       &ignored) == 1)
		return HIVE_KIND_SOFTWARE;
	if (local_find(&h->pub, "Select", &k, &ignored) == 1)
		return HIVE_KIND_SYSTEM;
	if (h->hx == NULL)
		return HIVE_KIND_OTHER;
	if (hivex_node_nr_children(h->hx, hivex_root(h->hx)) == 0)
		return HIVE_KIND_EMPTY;
	return HIVE_KIND_OTHER;
}

/* A committed hive's handle is spent: reads fail, never reach hivex. */
int
hl_spent(const struct hive_local *h, struct kp_error *err)
{
	return h->hx ? 0 : kp_fail(err, KP_ERR_FAIL, "'%s': already "
				   "committed", h->pub.path);
}

int
local_subkeys(struct hive *pub, hive_key k, hive_key **list, size_t *n,
	      struct kp_error *err)
{
	struct hive_local *h = hl_of(pub);
	hive_node_h *c;
	size_t i;

	if (hl_spent(h, err) < 0)
		return -1;
	errno = 0;
	c = hivex_node_children(h->hx, k);
	if (c == NULL)
		return kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EINVAL,
				     "'%s': cannot list subkeys", h->pub.path);
	for (i = 0; c[i]; i++)
		;
	*list = c;
	*n = i;
	return 0;
}

char *
local_key_name(struct hive *pub, hive_key k, struct kp_error *err)
{
	struct hive_local *h = hl_of(pub);
	uint32_t off;
	struct buf b = BUF_INIT;
	char *s;

	if (hl_spent(h, err) < 0)
		return NULL;
	off = hl_raw_off(h, k);

	if (off != REGF_NONE) {
		if (regf_key_name(&h->raw, off, &b) == 0) {
			/* No C string can hold it, and two keys could then
			 * seem to have one name. */
			if (strlen(buf_str(&b)) != b.len) {
				buf_release(&b);
				kp_fail(err, KP_ERR_INPUT, "'%s': "
					HIVE_NAME_NUL, h->pub.path);
				return NULL;
			}
			return buf_detach(&b, NULL);
		}
		buf_release(&b);
	}
	errno = 0;
	s = hivex_node_name(h->hx, k);
	if (s == NULL)
		kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EINVAL,
			      "'%s': cannot read a key name", h->pub.path);
	return s;
}

int
local_key_tombstone(struct hive *pub, hive_key k, struct kp_error *err)
{
	struct hive_local *h = hl_of(pub);
	uint32_t off;
	int r;

	if (hl_spent(h, err) < 0)
		return -1;
	off = hl_raw_off(h, k);
	if (off == REGF_NONE)
		return 0;	/* a key made since the hive was opened */
	r = regf_key_tombstone(&h->raw, off);
	return r < 0 ? kp_fail(err, KP_ERR_INPUT, "'%s': a corrupt key record",
			       h->pub.path) : r;
}

static int
read_value(struct hive_local *h, hive_value_h v, struct hive_value *out,
	   struct kp_error *err)
{
	uint32_t off = hl_raw_off(h, v);
	struct buf b = BUF_INIT;
	hive_type t;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (off != REGF_NONE && regf_value_name(&h->raw, off, &b) == 0)
		out->name = buf_detach(&b, NULL);
	buf_release(&b);
	errno = 0;
	if (out->name == NULL)
		out->name = hivex_value_key(h->hx, v);
	if (out->name == NULL || hivex_value_type(h->hx, v, &t, &len) < 0)
		goto fail;
	if (len == 0) {
		/* No data is no data: hivex refuses the data offset -1 of a
		 * layered key's tombstone ("Bad address"). */
		out->data = malloc(1);
		out->tombstone = off != REGF_NONE &&
				 regf_value_tombstone(&h->raw, off) == 1;
	} else {
		out->data = (unsigned char *)hivex_value_value(h->hx, v, &t,
							       &len);
	}
	if (out->data == NULL)
		goto fail;
	out->type = (uint32_t)t;
	out->len = len;
	return 0;
fail:
	kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EINVAL,
		      "'%s': cannot read a value", h->pub.path);
	hive_value_release(out);
	return -1;
}

/* hivex_node_get_value ignores ASCII case only: the value of K that
 * Windows finds under NAME, folding every letter, or 0. */
hive_value_h
hl_value_folded(struct hive_local *h, hive_key k, const char *name)
{
	hive_value_h *list = hivex_node_values(h->hx, k), val = 0;
	bool ascii = is_ascii(name);
	size_t i;

	for (i = 0; list && list[i] && val == 0; i++) {
		char *n = hivex_value_key(h->hx, list[i]);

		/* Two ASCII names hivex has compared already. */
		if (n && !(ascii && is_ascii(n)) && utf8_casecmp(n, name) == 0)
			val = list[i];
		free(n);
	}
	free(list);
	errno = 0;
	return val;
}

int
local_get(struct hive *pub, hive_key k, const char *name, struct hive_value *v,
	  struct kp_error *err)
{
	struct hive_local *h = hl_of(pub);
	hive_value_h val;

	if (hl_spent(h, err) < 0)
		return -1;
	if (h->npend) {
		const struct pending *p = hl_pending_find(h, k, name);

		if (p)
			return pending_value(p, v) < 0 ? kp_fail_oom(err) : 1;
	}
	errno = 0;
	val = hivex_node_get_value(h->hx, k, name);
	if (val == 0 && errno == 0)
		val = hl_value_folded(h, k, name);
	if (val == 0) {
		if (errno)
			return kp_fail_errno(err, KP_ERR_INPUT, errno,
					     "'%s': cannot read value '%s'",
					     h->pub.path, name);
		return 0;
	}
	return read_value(h, val, v, err) < 0 ? -1 : 1;
}

int
local_values(struct hive *pub, hive_key k, struct hive_value **vals, size_t *n,
	     struct kp_error *err)
{
	struct hive_local *h = hl_of(pub);
	hive_value_h *list;
	struct hive_value *out;
	size_t i, count;

	if (hl_spent(h, err) < 0)
		return -1;
	errno = 0;
	list = hivex_node_values(h->hx, k);
	if (list == NULL)
		return kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EINVAL,
				     "'%s': cannot list values", h->pub.path);
	for (count = 0; list[count]; count++)
		;
	out = calloc(count ? count : 1, sizeof(*out));
	if (out == NULL) {
		free(list);
		return kp_fail_oom(err);
	}
	for (i = 0; i < count; i++) {
		if (read_value(h, list[i], &out[i], err) < 0) {
			hive_values_free(out, i);
			free(list);
			return -1;
		}
	}
	free(list);
	/* Values waiting to be set: in place of theirs, or after the
	 * others, where hivex would put a new one. */
	for (i = 0; i < h->npend; i++) {
		const struct pending *p = &h->pend[i];
		struct hive_value *m = NULL, *grown;
		size_t j;

		if (p->k != k)
			continue;
		for (j = 0; j < count && m == NULL; j++)
			if (hl_fold_eq(out[j].name, p->name))
				m = &out[j];
		if (m == NULL) {
			grown = realloc(out, (count + 1) * sizeof(*out));
			if (grown == NULL)
				goto oom;
			out = grown;
			m = &out[count++];
			memset(m, 0, sizeof(*m));
		}
		hive_value_release(m);
		if (pending_value(p, m) < 0)
			goto oom;
	}
	*vals = out;
	*n = count;
	return 0;
oom:
	hive_values_free(out, count);
	return kp_fail_oom(err);
}

void
hive_value_release(struct hive_value *v)
{
	free(v->name);
	free(v->data);
	memset(v, 0, sizeof(*v));
}

void
hive_values_free(struct hive_value *vals, size_t n)
{
	size_t i;

	for (i = 0; i < n && vals; i++)
		hive_value_release(&vals[i]);
	free(vals);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Local hive handles (local.h): edits, recorded as what the file must
 * hold after commit, made by hivex or left to the page editor. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/utf.h"
#include "local.h"

static void
expect_free(struct expect *e)
{
	free(e->path);
	free(e->name);
	free(e->data);
}

/* Is PATH equal to BASE or below it, ignoring case as Windows does
 * (lib/utf.h)?  Key by key: a name's case variants may differ in length
 * in UTF-8. */
static bool
path_under(const char *path, const char *base)
{
	while (*base) {
		size_t pn = strcspn(path, "\\"), bn = strcspn(base, "\\");
		char *a = strndup(path, pn), *b = strndup(base, bn);
		bool same = a && b && hl_fold_eq(a, b);

		free(a);
		free(b);
		if (!same)
			return false;
		path += pn + (path[pn] == '\\');
		base += bn + (base[bn] == '\\');
	}
	return true;
}

static bool
same_name(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return hl_fold_eq(a, b);
}

/* Record what PATH/NAME must look like; replaces an earlier expectation. */
int
hl_expect(struct hive_local *h, const char *path, const char *name,
	  bool present, uint32_t type, const void *data, size_t len,
	  struct kp_error *err)
{
	struct expect *e = NULL;
	size_t i;

	for (i = 0; i < h->nexp; i++) {
		if (hl_fold_eq(h->exp[i].path, path) &&
		    same_name(h->exp[i].name, name)) {
			e = &h->exp[i];
			expect_free(e);
			break;
		}
	}
	if (e == NULL) {
		if (h->nexp == h->capexp) {
			size_t cap = h->capexp ? h->capexp * 2 : 16;
			struct expect *n = realloc(h->exp, cap * sizeof(*n));

			if (n == NULL)
				return kp_fail_oom(err);
			h->exp = n;
			h->capexp = cap;
		}
		e = &h->exp[h->nexp++];
	}
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	e->name = name ? strdup(name) : NULL;
	e->present = present;
	e->type = type;
	if (len) {
		e->data = malloc(len);
		if (e->data)
			memcpy(e->data, data, len);
	}
	e->len = len;
	if (e->path == NULL || (name && e->name == NULL) ||
	    (len && e->data == NULL)) {
		expect_free(e);
		*e = h->exp[--h->nexp];
		return kp_fail_oom(err);
	}
	return 0;
}

/* A deleted key takes everything recorded under it along. */
static void
expect_forget_under(struct hive_local *h, const char *path)
{
	size_t i = 0;

	while (i < h->nexp) {
		if (path_under(h->exp[i].path, path)) {
			expect_free(&h->exp[i]);
			h->exp[i] = h->exp[--h->nexp];
		} else {
			i++;
		}
	}
}

void
hl_edits_free(struct hive_local *h)
{
	size_t i;

	hl_pending_free(h);
	for (i = 0; i < h->nexp; i++)
		expect_free(&h->exp[i]);
	free(h->exp);
	h->exp = NULL;
	h->nexp = h->capexp = 0;
}

/*
 * Editing.
 */

/* Windows sets a key's LastWriteTime when its values or its list of
 * subkeys change, and a new key's to its creation time.  hivex gives a new
 * key its parent's time and changes no time at all, and has no call to set
 * one, so the keys are recorded here and stamped in the written file. */
static int
touch(struct hive_local *h, hive_key k, struct kp_error *err)
{
	if (h->ntouched == h->captouched) {
		size_t cap = h->captouched ? h->captouched * 2 : 16;
		hive_key *n = realloc(h->touched, cap * sizeof(*n));

		if (n == NULL) {
			h->poisoned = true;
			return kp_fail_oom(err);
		}
		h->touched = n;
		h->captouched = cap;
	}
	h->touched[h->ntouched++] = k;
	return 0;
}

/* The time of this edit: SOURCE_DATE_EPOCH (seconds since 1970, for
 * reproducible output, https://reproducible-builds.org/specs/
 * source-date-epoch/) when it is set to a number, else now. */
uint64_t
hl_edit_time(void)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	unsigned long long v = 0;
	const char *p;

	if (e == NULL || *e == '\0')
		return regf_filetime_now();
	for (p = e; *p; p++) {
		if (*p < '0' || *p > '9' || v > 253402300799ull)
			return regf_filetime_now();
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > 253402300799ull)	/* after 9999-12-31 */
		return regf_filetime_now();
	return (v + 11644473600ull) * 10000000ull;
}

/* Write the edit time into every touched key of the file hivex wrote at
 * FD.  hivex writes its handles' cells at their offsets; a key deleted
 * since it was touched is a free cell now and is skipped. */
int
hl_stamp_keys(struct hive_local *h, int fd, struct kp_error *err)
{
	unsigned char ts[8], c[8];
	uint64_t now = hl_edit_time();
	size_t i;

	regf_put64(ts, now);
	for (i = 0; i < h->ntouched; i++) {
		off_t at = (off_t)h->touched[i];

		if (pread(fd, c, sizeof(c), at) != (ssize_t)sizeof(c))
			return kp_fail_errno(err, KP_ERR_FAIL,
					     errno ? errno : EIO,
					     "cannot read back the written "
					     "hive");
		if ((int32_t)regf_le32(c) >= 0 || memcmp(c + 4, "nk", 2))
			continue;
		if (pwrite(fd, ts, sizeof(ts), at + 8) != (ssize_t)sizeof(ts))
			return kp_fail_errno(err, KP_ERR_FAIL,
					     errno ? errno : EIO,
					     "cannot write a key's time");
	}
	return 0;
}

int
hl_need_writable(struct hive_local *h, struct kp_error *err)
{
	if (!h->writable)
		return kp_fail(err, KP_ERR_FAIL, "'%s': opened read-only",
			       h->pub.path);
	if (h->poisoned)
		return kp_fail(err, KP_ERR_FAIL,
			       "'%s': an earlier edit failed", h->pub.path);
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return utf8_casecmp(*(char *const *)a, *(char *const *)b);
}

/* Does K (on PATH) have two subkeys of one name?  1 yes (*NAME set,
 * caller frees), 0 no, -1 error. */
int
hl_dup_child(struct hive_local *h, hive_key k, const char *path, char **name,
	     struct kp_error *err)
{
	hive_node_h *kids;
	char **names;
	size_t n, i;
	int r = 0;

	kids = hivex_node_children(h->hx, k);
	if (kids == NULL)
		return hl_hx_fail(h, "cannot list subkeys on", path, err);
	for (n = 0; kids[n]; n++)
		;
	names = calloc(n ? n : 1, sizeof(*names));
	if (names == NULL) {
		free(kids);
		return kp_fail_oom(err);
	}
	for (i = 0; i < n && r == 0; i++)
		if ((names[i] = local_key_name(&h->pub, kids[i], err)) == NULL)
			r = -1;
	if (r == 0) {
		qsort(names, n, sizeof(*names), cmp_names);
		for (i = 1; i < n && r == 0; i++) {
			if (cmp_names(&names[i - 1], &names[i]) == 0) {
				*name = names[i];
				names[i] = NULL;
				r = 1;
			}
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(kids);
	return r;
}

/* Refuse an edit at or under a key with two subkeys of one name: the
 * format forbids them, which one Windows finds depends on its lookup, and
 * hivex would insert among them by a guess.  Only hives where validation
 * found such a key pay for the walk. */
static int
check_dups(struct hive_local *h, const char *path, struct kp_error *err)
{
	hive_key cur;
	const char *p = path;
	char part[KEY_NAME_MAX * 4 + 1];

	if (h->pub.st.stats.dup_keys == 0)
		return 0;
	cur = hivex_root(h->hx);
	for (;;) {
		const char *bs;
		char *name = NULL;
		size_t n;
		int r = hl_dup_child(h, cur, path, &name, err);

		if (r < 0)
			return -1;
		if (r > 0) {
			struct buf key = BUF_INIT, k = BUF_INIT, s = BUF_INIT;

			buf_add(&key, path, (size_t)(p - path));
			while (key.len && key.data[key.len - 1] == '\\')
				key.len--;
			wtf8_escape(buf_str(&key), &k);
			wtf8_escape(name, &s);
			kp_fail(err, KP_ERR_INPUT, "'%s': key '%s' has two "
				"subkeys named '%s', which the registry format "
				"forbids; nothing is written under it",
				h->pub.path, k.len ? buf_str(&k) : "\\",
				buf_str(&s));
			buf_release(&key);
			buf_release(&k);
			buf_release(&s);
			free(name);
			return -1;
		}
		while (*p == '\\')
			p++;
		if (*p == '\0')
			return 0;
		bs = strchr(p, '\\');
		n = bs ? (size_t)(bs - p) : strlen(p);
		if (n >= sizeof(part))
			return 0;
		memcpy(part, p, n);
		part[n] = '\0';
		r = hl_child(h, cur, part, &cur, NULL, path, err);
		if (r <= 0)
			return r;
		p += n;
	}
}

static int
edit_failed(struct hive_local *h, const char *what, const char *path,
	    struct kp_error *err)
{
	h->poisoned = true;
	return kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EINVAL,
			     "'%s': cannot %s '%s'", h->pub.path, what, path);
}

/* The name under which K stores the value NAME (a copy): its own case,
 * or NAME if it has none. */
static char *
stored_name(struct hive_local *h, hive_key k, const char *name,
	    struct kp_error *err)
{
	const struct pending *p = hl_pending_find(h, k, name);
	hive_value_h val;
	char *s = NULL;

	if (p)
		s = strdup(p->name);
	else {
		errno = 0;
		val = hivex_node_get_value(h->hx, k, name);
		if (val == 0)
			val = hl_value_folded(h, k, name);
		if (val)
			s = hivex_value_key(h->hx, val);
		if (s == NULL)
			s = strdup(name);
	}
	if (s == NULL)
		kp_fail_oom(err);
	return s;
}

/* hivex's own copy, for an edit the page editor cannot make or a commit
 * through hivex: reopen it for writing (handles are offsets in the file,
 * which LOCKFD kept as it was) and give it the values waiting. */
int
hl_hx_upgrade(struct hive_local *h, struct kp_error *err)
{
	char src[64];
	size_t i;

	if (h->hx_rw)
		return 0;
	snprintf(src, sizeof(src), "/proc/self/fd/%d", h->raw_map.fd);
	hivex_close(h->hx);
	errno = 0;
	h->hx = hivex_open(src, HIVEX_OPEN_WRITE);
	if (h->hx == NULL)
		return edit_failed(h, "open for writing", h->pub.path, err);
	h->hx_rw = true;
	for (i = 0; i < h->npend; i++) {
		const struct pending *p = &h->pend[i];
		hive_set_value v = { p->name, (hive_type)p->type, p->len,
				     (char *)p->data };

		errno = 0;
		if (hivex_node_set_value(h->hx, p->k, &v, 0) < 0)
			return edit_failed(h, "set a value in", h->pub.path, err);
	}
	hl_pending_free(h);
	return 0;
}

/* Set (K, NAME) later, as hx_upgrade or the page editor will; NAME is the
 * stored name already. */
static int
defer_set(struct hive_local *h, hive_key k, const char *name, uint32_t type,
	  const void *data, size_t len, struct kp_error *err)
{
	struct pending *p = hl_pending_find(h, k, name);
	unsigned char *copy = malloc(len ? len : 1);

	if (copy == NULL)
		return kp_fail_oom(err);
	if (len)
		memcpy(copy, data, len);
	if (p == NULL) {
		if (h->npend == h->cappend) {
			size_t cap = h->cappend ? h->cappend * 2 : 8;
			struct pending *n = realloc(h->pend, cap * sizeof(*n));

			if (n == NULL) {
				free(copy);
				return kp_fail_oom(err);
			}
			h->pend = n;
			h->cappend = cap;
		}
		p = &h->pend[h->npend];
		memset(p, 0, sizeof(*p));
		p->name = strdup(name);
		if (p->name == NULL) {
			free(copy);
			return kp_fail_oom(err);
		}
		p->k = k;
		h->npend++;
	}
	free(p->data);
	p->data = copy;
	p->type = type;
	p->len = len;
	return 0;
}

int
local_mkpath(struct hive *pub, const char *path, hive_key *k,
	     struct kp_error *err)
{
	struct hive_local *h = hl_of(pub);
	hive_key cur;
	const char *p = path;
	char part[KEY_NAME_MAX * 4 + 1];

	if (hl_need_writable(h, err) < 0 || check_dups(h, path, err) < 0)
		return -1;
	cur = hivex_root(h->hx);
	while (*p) {
		const char *bs = strchr(p, '\\');
		size_t n = bs ? (size_t)(bs - p) : strlen(p);
		hive_key next = 0;
		bool odd;
		int r;

		if (n == 0)
			return kp_fail(err, KP_ERR_INVALID,
				       "key path '%s': empty key name", path);
		if (n >= sizeof(part))
			return kp_fail(err, KP_ERR_INVALID,
				       "key path '%s': a key name is longer "
				       "than %d characters", path,
				       KEY_NAME_MAX);
		memcpy(part, p, n);
		part[n] = '\0';
		r = hl_child(h, cur, part, &next, &odd, path, err);
		if (r < 0)
			return -1;
		if (r == 0 && (odd || !utf8_valid(part, n))) {
			/* hivex converts names through iconv, which refuses
			 * unpaired surrogates; it then cannot name the new
			 * key, or place it among its siblings. */
			struct buf shown = BUF_INIT;

			h->poisoned = true;
			wtf8_escape(path, &shown);
			kp_fail(err, KP_ERR_FAIL, "key path '%s': hivex "
				"cannot create a key %s a name holding an "
				"unpaired UTF-16 surrogate; not written",
				buf_str(&shown),
				odd ? "beside a key with" : "with");
			buf_release(&shown);
			return -1;
		}
		if (r == 0) {
			if (hl_hx_upgrade(h, err) < 0)
				return -1;
			errno = 0;
			next = hivex_node_add_child(h->hx, cur, part);
			if (next == 0)
				return edit_failed(h, "create key", path, err);
			h->nedits++;
			h->pe_why = PE_FB_NEW_KEY;
			if (touch(h, cur, err) < 0 || touch(h, next, err) < 0)
				return -1;
			if (hl_check_order(h, cur, part, path, err) < 0)
				return -1;
		} else if ((r = local_key_tombstone(&h->pub, next, err)) != 0) {
			/* A layered key's mark for a deleted key has no
			 * values and no subkeys; hivex would make it an
			 * ordinary key that comes back to life. */
			if (r < 0)
				return -1;
			return kp_fail(err, KP_ERR_REFUSED, "'%s': key '%.*s' "
				       "is a tombstone (a layered key's mark "
				       "for a deleted key); nothing can be "
				       "written at or below it; not written",
				       h->pub.path, (int)(p + n - path), path);
		}
		cur = next;
		p += n + (bs != NULL);
	}
	if (hl_expect(h, path, NULL, true, 0, NULL, 0, err) < 0)
		return -1;
	if (k)
		*k = cur;
	return 0;
}

/* hivex rewrites every value of a key on any change, and stores data over
 * 16344 bytes in a single cell, which Windows does not read for hives of
 * version 1.4 and later; refuse rather than damage such a value. */
static int
check_rewritable(struct hive_local *h, hive_key k, const char *path,
		 struct kp_error *err)
{
	hive_value_h *list;
	struct buf vname = BUF_INIT, shown = BUF_INIT;
	size_t i;
	int r = 0;

	errno = 0;
	list = hivex_node_values(h->hx, k);
	if (list == NULL)
		return hl_hx_fail(h, "cannot list values of", path, err);
	for (i = 0; list[i] && r == 0; i++) {
		uint32_t off = hl_raw_off(h, list[i]);
		hive_type t;
		size_t len;

		/* hivex rewrites a tombstone as an ordinary empty value, and
		 * cannot convert a name with an unpaired surrogate back. */
		if (off != REGF_NONE &&
		    regf_value_tombstone(&h->raw, off) == 1) {
			regf_value_name(&h->raw, off, &vname);
			wtf8_escape(buf_str(&vname), &shown);
			r = kp_fail(err, KP_ERR_REFUSED,
				    "'%s': key '%s' holds a tombstone for "
				    "value '%s' (a layered key's mark for a "
				    "deleted value), which hivex would turn "
				    "into an ordinary empty value; not "
				    "written", h->pub.path, path, buf_str(&shown));
		} else if (off != REGF_NONE &&
			   regf_value_name(&h->raw, off, &vname) == 0 &&
			   !utf8_valid(buf_str(&vname), vname.len)) {
			wtf8_escape(buf_str(&vname), &shown);
			r = kp_fail(err, KP_ERR_FAIL,
				    "'%s': key '%s' holds value '%s', whose "
				    "name has an unpaired UTF-16 surrogate "
				    "that hivex cannot write back; not "
				    "written", h->pub.path, path, buf_str(&shown));
		} else if (hivex_value_type(h->hx, list[i], &t, &len) < 0) {
			r = hl_hx_fail(h, "cannot read values of", path, err);
		} else if (len > REGF_BIG_DATA && h->minor >= 4) {
			char *name = hivex_value_key(h->hx, list[i]);

			r = kp_fail(err, KP_ERR_FAIL,
				    "'%s': key '%s' holds value '%s' of %zu "
				    "bytes; it cannot be kept intact while "
				    "editing this key (hivex would store it "
				    "in a form Windows cannot read)",
				    h->pub.path, path, name ? name : "?", len);
			free(name);
		}
	}
	free(list);
	buf_release(&vname);
	buf_release(&shown);
	return r;
}

static int
check_value_name(const char *name, struct kp_error *err)
{
	if (strlen(name) > VALUE_NAME_MAX)
		return kp_fail(err, KP_ERR_INVALID,
			       "value name longer than %d characters",
			       VALUE_NAME_MAX);
	return 0;
}

int
local_set(struct hive *pub, const char *path, const char *name, uint32_t type,
	  const void *data, size_t len, struct kp_error *err)
{
	struct hive_local *h = hl_of(pub);
	hive_set_value v;
	hive_key k;
	char *stored;
	int r;

	if (hl_need_writable(h, err) < 0 || check_value_name(name, err) < 0)
		return -1;
	if (!utf8_valid(name, strlen(name)))
		return kp_fail(err, KP_ERR_FAIL,
			       "value name with an unpaired UTF-16 surrogate: "
			       "hivex cannot write it");
	if (len > REGF_BIG_DATA)
		return kp_fail(err, KP_ERR_FAIL,
			       "value '%s' of key '%s': %zu bytes is more than "
			       "%u, which hivex cannot store in a form Windows "
			       "reads", name, path, len, REGF_BIG_DATA);
	if (local_mkpath(&h->pub, path, &k, err) < 0)
		return -1;
	if (check_rewritable(h, k, path, err) < 0)
		return -1;
	/* hivex matches value names ignoring ASCII case only; Windows
	 * ignores the case of every letter (per UTF-16 unit: "SIZE" also
	 * names a value stored with a long s, U+017F).  Give hivex the
	 * stored name of the value Windows would replace, else it adds a
	 * second one of the same name. */
	stored = stored_name(h, k, name, err);
	if (stored == NULL)
		return -1;
	v.key = stored;
	v.t = (hive_type)type;
	v.len = len;
	v.value = (char *)data;
	errno = 0;
	if (!h->hx_rw) {
		if (defer_set(h, k, v.key, type, data, len, err) < 0) {
			free(stored);
			return -1;
		}
	} else if (hivex_node_set_value(h->hx, k, &v, 0) < 0) {
		free(stored);
		return edit_failed(h, "set a value in key", path, err);
	}
	h->nedits++;
	/* Under the name it keeps: the first case given, as Windows keeps
	 * an existing value's. */
	r = touch(h, k, err) < 0 ? -1 :
	    hl_expect(h, path, stored, true, type, data, len, err);
	free(stored);
	return r;
}

int
local_unset(struct hive *pub, const char *path, const char *name,
	    struct kp_error *err)
{
	struct hive_local *h = hl_of(pub);
	struct hive_value *vals = NULL;
	hive_set_value *keep = NULL;
	size_t n = 0, i, j = 0;
	bool found = false;
	hive_key k;
	int r;

	if (hl_need_writable(h, err) < 0 || check_dups(h, path, err) < 0)
		return -1;
	r = local_find(&h->pub, path, &k, err);
	if (r <= 0)
		return r;
	if (local_values(&h->pub, k, &vals, &n, err) < 0)
		return -1;
	for (i = 0; i < n; i++)
		found |= hl_fold_eq(vals[i].name, name);
	if (!found) {
		hive_values_free(vals, n);
		return 0;
	}
	r = -1;
	if (check_rewritable(h, k, path, err) < 0 || hl_hx_upgrade(h, err) < 0)
		goto out;
	keep = calloc(n, sizeof(*keep));
	if (keep == NULL) {
		kp_fail_oom(err);
		goto out;
	}
	/* hivex has no call to delete one value: set the others again,
	 * byte for byte and in their order. */
	for (i = 0; i < n; i++) {
		if (hl_fold_eq(vals[i].name, name))
			continue;
		keep[j].key = vals[i].name;
		keep[j].t = (hive_type)vals[i].type;
		keep[j].len = vals[i].len;
		keep[j].value = (char *)vals[i].data;
		j++;
	}
	errno = 0;
	if (hivex_node_set_values(h->hx, k, j, keep, 0) < 0) {
		edit_failed(h, "delete a value in key", path, err);
		goto out;
	}
	h->nedits++;
	if (touch(h, k, err) < 0)
		goto out;
	r = hl_expect(h, path, name, false, 0, NULL, 0, err);
out:
	free(keep);
	hive_values_free(vals, n);
	return r;
}

int
local_delete_key(struct hive *pub, const char *path, struct kp_error *err)
{
	struct hive_local *h = hl_of(pub);
	hive_key k, parent;
	int r;

	if (hl_need_writable(h, err) < 0 || check_dups(h, path, err) < 0)
		return -1;
	r = local_find(&h->pub, path, &k, err);
	if (r <= 0)
		return r;
	/* Deleting the mark would bring back the key it hides. */
	r = local_key_tombstone(&h->pub, k, err);
	if (r != 0)
		return r < 0 ? -1 : kp_fail(err, KP_ERR_REFUSED, "'%s': key "
					    "'%s' is a tombstone (a layered "
					    "key's mark for a deleted key); "
					    "not deleted", h->pub.path, path);
	if (hl_hx_upgrade(h, err) < 0)
		return -1;
	if (k == hivex_root(h->hx))
		return kp_fail(err, KP_ERR_INVALID,
			       "the root key of a hive cannot be deleted");
	parent = hivex_node_parent(h->hx, k);
	errno = 0;
	if (parent == 0 || hivex_node_delete_child(h->hx, k) < 0)
		return edit_failed(h, "delete key", path, err);
	h->nedits++;
	/* The page editor replays the final state of each value; a deleted
	 * key (perhaps made again) has lost values it cannot see. */
	h->pe_why = PE_FB_DELETE_KEY;
	if (touch(h, parent, err) < 0)
		return -1;
	expect_forget_under(h, path);
	return hl_expect(h, path, NULL, false, 0, NULL, 0, err);
}

int
hive_path_split(const char *path, char **parent, char **last)
{
	const char *bs = strrchr(path, '\\');

	*parent = bs ? strndup(path, (size_t)(bs - path)) : strdup("");
	*last = strdup(bs ? bs + 1 : path);
	if (*parent == NULL || *last == NULL) {
		free(*parent);
		free(*last);
		return -1;
	}
	return 0;
}

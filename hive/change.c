/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Recorded hive edits with before/after state. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "change.h"
#include "regval.h"

bool
hive_value_is_secret(const char *name)
{
	/* BackupProductKeyDefault and friends hold product keys in clear;
	 * DigitalProductId* encode them. */
	return strcasestr(name, "ProductKey") != NULL ||
	       strncasecmp(name, "DigitalProductId", 16) == 0;
}

static struct hive_change *
add(struct hive_changes *c, enum hive_change_op op, const char *key,
    const char *name)
{
	struct hive_change *ch;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct hive_change *v = realloc(c->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		c->v = v;
		c->cap = cap;
	}
	ch = &c->v[c->n];
	memset(ch, 0, sizeof(*ch));
	ch->op = op;
	ch->key = strdup(key);
	ch->name = name ? strdup(name) : NULL;
	if (ch->key == NULL || (name && ch->name == NULL)) {
		free(ch->key);
		free(ch->name);
		return NULL;
	}
	c->n++;
	return ch;
}

static unsigned char *
dup(const void *p, size_t len)
{
	unsigned char *d = malloc(len ? len : 1);

	if (d && len)
		memcpy(d, p, len);
	return d;
}

int
hive_apply_key(struct hive *h, struct hive_changes *c, const char *key,
	       bool will, struct kp_error *err)
{
	struct hive_change *ch;
	hive_key k;
	int r = hive_find(h, key, &k, err);

	if (r < 0)
		return -1;
	if ((r == 1) == will)
		return 0;
	if (will ? hive_mkpath(h, key, NULL, err) < 0 :
		   hive_delete_key(h, key, err) < 0)
		return -1;
	ch = c ? add(c, will ? HC_KEY_CREATE : HC_KEY_DELETE, key, NULL) : NULL;
	if (c && ch == NULL)
		return kp_fail_oom(err);
	if (ch) {
		ch->had = !will;
		ch->will = will;
	}
	return 0;
}

int
hive_apply_value(struct hive *h, struct hive_changes *c, const char *key,
		 const char *name, bool will, uint32_t type, const void *data,
		 size_t len, struct kp_error *err)
{
	struct hive_value old = { 0 };
	struct hive_change *ch;
	hive_key k;
	int had = 0, r;

	r = hive_find(h, key, &k, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		had = hive_get(h, k, name, &old, err);
		if (had < 0)
			return -1;
	}
	if (!will && !had)
		return 0;
	if (will && had && old.type == type && old.len == len &&
	    (len == 0 || memcmp(old.data, data, len) == 0)) {
		hive_value_release(&old);
		return 0;
	}
	if (will && r == 0 && c && hive_apply_key(h, c, key, true, err) < 0)
		goto fail;
	if (will ? hive_set(h, key, name, type, data, len, err) < 0 :
		   hive_unset(h, key, name, err) < 0)
		goto fail;
	if (c == NULL) {
		hive_value_release(&old);
		return 0;
	}
	ch = add(c, HC_VALUE, key, name);
	if (ch == NULL)
		goto oom;
	ch->secret = hive_value_is_secret(name);
	ch->had = had;
	if (had) {
		ch->old_type = old.type;
		ch->old = old.data;
		ch->old_len = old.len;
		old.data = NULL;
	}
	ch->will = will;
	if (will) {
		ch->new_type = type;
		ch->new = dup(data, len);
		ch->new_len = len;
		if (ch->new == NULL)
			goto oom;
	}
	hive_value_release(&old);
	return 0;
oom:
	kp_fail_oom(err);
fail:
	hive_value_release(&old);
	return -1;
}

int
hive_changes_label(struct hive_changes *c, size_t from, const char *label)
{
	size_t i;

	for (i = from; i < c->n; i++) {
		free(c->v[i].hive);
		c->v[i].hive = strdup(label);
		if (c->v[i].hive == NULL)
			return -1;
	}
	return 0;
}

void
hive_changes_release(struct hive_changes *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->v[i].hive);
		free(c->v[i].key);
		free(c->v[i].name);
		free(c->v[i].old);
		free(c->v[i].new);
	}
	free(c->v);
	c->v = NULL;
	c->n = c->cap = 0;
}

static int
describe_side(bool present, bool secret, uint32_t type,
	      const unsigned char *d, size_t len, struct buf *out)
{
	char tn[32];

	if (!present)
		return buf_addstr(out, "(absent)");
	if (secret)
		return buf_addf(out, "(secret, not shown) %s",
				regval_type_name(type, tn, sizeof(tn)));
	if (regval_format(type, d, len, out) < 0)
		return -1;
	return buf_addf(out, " %s", regval_type_name(type, tn, sizeof(tn)));
}

int
hive_change_describe(const struct hive_change *ch, struct buf *out)
{
	if (ch->op == HC_KEY_CREATE)
		return buf_addf(out, "%s%screate key %s",
				ch->hive ? ch->hive : "", ch->hive ? ": " : "",
				ch->key);
	if (ch->op == HC_KEY_DELETE)
		return buf_addf(out, "%s%sdelete key %s (and all below it)",
				ch->hive ? ch->hive : "", ch->hive ? ": " : "",
				ch->key);
	if (buf_addf(out, "%s%s%s%s%s: ", ch->hive ? ch->hive : "",
		     ch->hive ? ": " : "", ch->key, *ch->key ? "\\" : "",
		     *ch->name ? ch->name : "(default)") < 0 ||
	    describe_side(ch->had, ch->secret, ch->old_type, ch->old,
			  ch->old_len, out) < 0 ||
	    buf_addstr(out, " -> ") < 0)
		return -1;
	return describe_side(ch->will, ch->secret, ch->new_type, ch->new,
			     ch->new_len, out);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hive handles (hive.h): opened locally or in a hive server, and every
 * call dispatched to the implementation that opened it (ops.h). */
#include "ops.h"
#include "remote.h"

int
hive_open(const char *path, const struct hive_open_opts *o,
	  struct hive **h_ret, struct kp_error *err)
{
	if (o && o->server)
		return remote_open(o->server, path, o, h_ret, err);
	return local_open(path, o, h_ret, err);
}

void
hive_close(struct hive *h)
{
	if (h)
		h->ops->close(h);
}

const struct hive_state *
hive_state(const struct hive *h)
{
	return &h->st;
}

const char *
hive_path(const struct hive *h)
{
	return h->path;
}

size_t
hive_nr_edits(const struct hive *h)
{
	return h->ops->nr_edits(h);
}

enum hive_kind
hive_kind(struct hive *h)
{
	return h->ops->kind(h);
}

int
hive_find(struct hive *h, const char *path, hive_key *k, struct kp_error *err)
{
	return h->ops->find(h, path, k, err);
}

int
hive_subkeys(struct hive *h, hive_key k, hive_key **list, size_t *n,
	     struct kp_error *err)
{
	return h->ops->subkeys(h, k, list, n, err);
}

char *
hive_key_name(struct hive *h, hive_key k, struct kp_error *err)
{
	return h->ops->key_name(h, k, err);
}

int
hive_key_tombstone(struct hive *h, hive_key k, struct kp_error *err)
{
	return h->ops->key_tombstone(h, k, err);
}

int
hive_get(struct hive *h, hive_key k, const char *name, struct hive_value *v,
	 struct kp_error *err)
{
	return h->ops->get(h, k, name, v, err);
}

int
hive_values(struct hive *h, hive_key k, struct hive_value **vals, size_t *n,
	    struct kp_error *err)
{
	return h->ops->values(h, k, vals, n, err);
}

int
hive_set(struct hive *h, const char *path, const char *name, uint32_t type,
	 const void *data, size_t len, struct kp_error *err)
{
	return h->ops->set(h, path, name, type, data, len, err);
}

int
hive_unset(struct hive *h, const char *path, const char *name,
	   struct kp_error *err)
{
	return h->ops->unset(h, path, name, err);
}

int
hive_mkpath(struct hive *h, const char *path, hive_key *k,
	    struct kp_error *err)
{
	return h->ops->mkpath(h, path, k, err);
}

int
hive_delete_key(struct hive *h, const char *path, struct kp_error *err)
{
	return h->ops->delete_key(h, path, err);
}

int
hive_commit(struct hive *h, const struct hive_commit_opts *o,
	    struct hive_commit_result *res, struct kp_error *err)
{
	static const struct hive_commit_opts defaults = { .dest = NULL };

	return h->ops->commit(h, o ? o : &defaults, res, err);
}

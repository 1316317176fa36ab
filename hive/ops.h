/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A hive handle's operations: the one interface behind hive.h, filled by
 * two implementations.  The local one (local.h: open.c, read.c, edit.c,
 * commit.c) works on a file with hivex and kmsprep's own reader; the
 * remote one (remote.c) sends each call to a sandboxed hive server, which
 * runs the local one.  hive.c only dispatches.
 */
#ifndef KP_HIVE_OPS_H
#define KP_HIVE_OPS_H

#include "hive.h"

/* Each as the hive.h call of the same name. */
struct hive_ops {
	void (*close)(struct hive *h);
	size_t (*nr_edits)(const struct hive *h);
	enum hive_kind (*kind)(struct hive *h);
	int (*find)(struct hive *h, const char *path, hive_key *k,
		    struct kp_error *err);
	int (*subkeys)(struct hive *h, hive_key k, hive_key **list, size_t *n,
		       struct kp_error *err);
	char *(*key_name)(struct hive *h, hive_key k, struct kp_error *err);
	int (*key_tombstone)(struct hive *h, hive_key k, struct kp_error *err);
	int (*get)(struct hive *h, hive_key k, const char *name,
		   struct hive_value *v, struct kp_error *err);
	int (*values)(struct hive *h, hive_key k, struct hive_value **vals,
		      size_t *n, struct kp_error *err);
	int (*set)(struct hive *h, const char *path, const char *name,
		   uint32_t type, const void *data, size_t len,
		   struct kp_error *err);
	int (*unset)(struct hive *h, const char *path, const char *name,
		     struct kp_error *err);
	int (*mkpath)(struct hive *h, const char *path, hive_key *k,
		      struct kp_error *err);
	int (*delete_key)(struct hive *h, const char *path,
			  struct kp_error *err);
	int (*commit)(struct hive *h, const struct hive_commit_opts *o,
		      struct hive_commit_result *res, struct kp_error *err);
};

/* What every implementation's handle begins with. */
struct hive {
	const struct hive_ops *ops;
	char *path;		/* as given */
	struct hive_state st;
};

/* The local implementation (open.c): PATH opened as O says. */
int local_open(const char *path, const struct hive_open_opts *o,
	       struct hive **h_ret, struct kp_error *err);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Edits applied to an open hive, each recorded with its before and after
 * state so that callers can print "before -> after" for a dry run and for
 * the real thing alike.  An edit that would change nothing is skipped and
 * not recorded, so running the same command twice writes nothing the
 * second time.
 */
#ifndef KP_CHANGE_H
#define KP_CHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hive.h"

enum hive_change_op {
	HC_VALUE,		/* a value set, replaced or deleted */
	HC_KEY_CREATE,		/* a key created, with missing parents */
	HC_KEY_DELETE,		/* a key deleted with all below it */
};

struct hive_change {
	enum hive_change_op op;
	char *hive;		/* label of the hive ("SOFTWARE", a path) */
	char *key;
	char *name;		/* value name; NULL for key changes */
	bool secret;		/* never show the data */
	bool had;
	uint32_t old_type;
	unsigned char *old;
	size_t old_len;
	bool will;
	uint32_t new_type;
	unsigned char *new;
	size_t new_len;
};

struct hive_changes {
	struct hive_change *v;
	size_t n, cap;
};

#define HIVE_CHANGES_INIT { NULL, 0, 0 }

/* Set (WILL) or delete value NAME of KEY, recording the change; a value
 * that already holds exactly this is left alone. */
int hive_apply_value(struct hive *h, struct hive_changes *c, const char *key,
		     const char *name, bool will, uint32_t type,
		     const void *data, size_t len, struct kp_error *err);

/* Create (WILL) or delete KEY, recording the change if there is one. */
int hive_apply_key(struct hive *h, struct hive_changes *c, const char *key,
		   bool will, struct kp_error *err);

/* Label the changes recorded from index FROM on with hive name LABEL. */
int hive_changes_label(struct hive_changes *c, size_t from,
		       const char *label);

void hive_changes_release(struct hive_changes *c);

/* One line for a change: "KEY\NAME: before -> after (TYPE)". */
int hive_change_describe(const struct hive_change *ch, struct buf *out);

/* Is NAME a value that holds a product key (never printed)? */
bool hive_value_is_secret(const char *name);

#endif

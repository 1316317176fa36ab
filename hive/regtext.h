/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * .reg files as regedit writes them: "Windows Registry Editor Version 5.00"
 * (or REGEDIT4), UTF-16LE with a BOM or UTF-8, CRLF or LF, "name"="text",
 * dword:, hex: and hex(N): with continuation lines, "name"=- and [-key]
 * deletions.  A file is parsed completely before anything is applied, so an
 * import is all-or-nothing.
 *
 * Key paths map onto the hive: HKEY_LOCAL_MACHINE\SOFTWARE\... onto a
 * SOFTWARE hive and HKEY_LOCAL_MACHINE\SYSTEM\... onto a SYSTEM hive (HKLM
 * is accepted for HKEY_LOCAL_MACHINE); with a prefix, that prefix is
 * stripped instead; a path starting with "\" is relative to the hive root.
 */
#ifndef KP_REGTEXT_H
#define KP_REGTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "change.h"
#include "hive.h"

/* Largest .reg file accepted. */
#define REGTEXT_MAX ((size_t)64 << 20)

enum regop_kind { REGOP_KEY, REGOP_DELETE_KEY, REGOP_SET, REGOP_DELETE_VALUE };

struct regop {
	enum regop_kind kind;
	char *key;		/* relative to the hive root */
	char *name;		/* value name ("" is the default value) */
	uint32_t type;
	unsigned char *data;
	size_t len;
	unsigned line;
};

struct regops {
	struct regop *v;
	size_t n, cap;
};

#define REGOPS_INIT { NULL, 0, 0 }

struct regtext_map {
	enum hive_kind kind;	/* of the target hive */
	const char *prefix;	/* --prefix, or NULL */
	bool allow_relative;	/* accept "Key\Sub" as relative to the root */
};

/* Map a key path onto the hive (see above); *OUT is owned by the caller. */
int regtext_map_path(const char *path, const struct regtext_map *map,
		     char **out, struct kp_error *err);

/* Parse .reg TEXT of LEN bytes; NAME is used in messages. */
int regtext_parse(const char *text, size_t len, const char *name,
		  const struct regtext_map *map, struct regops *ops,
		  struct kp_error *err);
void regops_release(struct regops *ops);

/* Apply parsed operations to H, recording the changes in C. */
int regtext_apply(struct hive *h, const struct regops *ops,
		  struct hive_changes *c, struct kp_error *err);

/* The root regedit shows for a hive of this kind. */
const char *regtext_default_prefix(enum hive_kind kind);

/* Export KEY and everything below it as .reg text (UTF-8, LF), with key
 * paths under PREFIX (not NULL; see regtext_default_prefix).  Left out,
 * each with a comment in the text: values holding product keys, and keys
 * (with all below them) and values whose names .reg text cannot carry
 * (control characters, a NUL; a backslash in a key's), these also listed
 * in LEFT (one line each, escaped) unless it is NULL.  Key and value
 * tombstones of layered keys are marked; a dirty hive whose logs cannot be
 * replayed is said to be exported as its primary file holds it. */
int regtext_export(struct hive *h, const char *key, const char *prefix,
		   struct buf *out, struct buf *left, struct kp_error *err);

/* Turn UTF-8/LF text into what regedit writes: a BOM, UTF-16LE, CRLF. */
int regtext_to_utf16(const struct buf *in, struct buf *out);

#endif

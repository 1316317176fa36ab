/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A registry hive file opened for reading or editing, over hivex.
 *
 * hive_open() checks the whole file (regf_validate) before hivex sees it and
 * refuses a dirty hive for writing unless its transaction logs can be
 * replayed.  Edits change hivex's in-memory copy only and are recorded;
 * hive_commit() writes a temporary file next to the hive, marks it clean
 * with a sequence number above any in its logs, fsyncs it, re-reads it with
 * the independent regf reader to check every recorded edit, and only then
 * renames it over the original.  Nothing touches the original before that
 * rename, so every failure leaves it as it was.  Asked to, it instead
 * checks the new hive the same way in memory and writes only its changed
 * pages, through the transaction log (journal.h).
 *
 * Key paths are backslash-separated and relative to the hive root ("" is
 * the root); names compare case-insensitively, as in Windows.
 */
#ifndef KP_HIVE_H
#define KP_HIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "lib/error.h"
#include "logrec.h"
#include "pageedit.h"
#include "regf.h"

struct hive;
typedef size_t hive_key;

enum hive_open_flags {
	HIVE_WRITE = 1 << 0,		/* edits will be committed */
	HIVE_FORCE_DIRTY = 1 << 1,	/* write a dirty hive without logs */
	HIVE_NO_LOGS = 1 << 2,		/* ignore transaction logs */
};

struct hive_server;

struct hive_open_opts {
	unsigned flags;
	const char *log1;		/* NULL: FILE.LOG1 beside the hive */
	const char *log2;		/* NULL: FILE.LOG2 beside the hive */
	/* Open, read and edit it in this sandboxed process (remote.h), not
	 * in this one; NULL: here. */
	struct hive_server *server;
};

/* What a hive file looked like when it was opened. */
struct hive_state {
	struct regf_header hdr;		/* the primary's base block */
	bool dirty;			/* needs recovery per the spec */
	bool recovered;			/* logs were replayed in memory */
	struct logrec_result logs;	/* what the log search found */
	struct regf_stats stats;
	/* With stats.dup_keys: the first key with two subkeys of one name,
	 * and that name, escaped for display (wtf8_escape).  Edits at or
	 * under such a key are refused (KP_ERR_INPUT). */
	char dup_key[512];
	char dup_name[256];
};

/* What kind of hive the contents say this is. */
enum hive_kind {
	HIVE_KIND_EMPTY,	/* the root has no subkeys */
	HIVE_KIND_SOFTWARE,	/* has Microsoft\Windows NT\CurrentVersion */
	HIVE_KIND_SYSTEM,	/* has Select */
	HIVE_KIND_OTHER,
};

/* One value, owned by the caller once returned (hive_value_release). */
struct hive_value {
	char *name;		/* WTF-8 (lib/utf.h) */
	uint32_t type;
	unsigned char *data;
	size_t len;
	bool tombstone;		/* a layered key's deleted-value mark */
};

/* Open and check PATH.  Corrupt or non-hive files fail with KP_ERR_INPUT,
 * a dirty hive opened for writing without usable logs with
 * KP_ERR_REFUSED. */
int hive_open(const char *path, const struct hive_open_opts *o,
	      struct hive **h_ret, struct kp_error *err);
void hive_close(struct hive *h);

/* The state recorded at open time. */
const struct hive_state *hive_state(const struct hive *h);
const char *hive_path(const struct hive *h);
enum hive_kind hive_kind(struct hive *h);

/* Find a key; 1 found (K set), 0 not found, -1 error. */
int hive_find(struct hive *h, const char *path, hive_key *k,
	      struct kp_error *err);

/* Subkeys of K (caller frees *LIST) and the name of a key (caller frees),
 * as WTF-8: UTF-8 unless the stored UTF-16 name holds an unpaired
 * surrogate (see lib/utf.h). */
int hive_subkeys(struct hive *h, hive_key k, hive_key **list, size_t *n,
		 struct kp_error *err);
char *hive_key_name(struct hive *h, hive_key k, struct kp_error *err);

/* How hive_key_name fails (KP_ERR_INPUT) for a name holding a NUL, which
 * no C string can carry: the message ends with this. */
#define HIVE_NAME_NUL "a key name holding a NUL character"

/* Is K a tombstone: a layered key's mark for a deleted key (regf-spec,
 * "Layered keys")?  1 yes, 0 no, -1 on error.  Nothing can be written
 * below one. */
int hive_key_tombstone(struct hive *h, hive_key k, struct kp_error *err);

/* Read value NAME of K; 1 found (V filled), 0 absent, -1 error. */
int hive_get(struct hive *h, hive_key k, const char *name,
	     struct hive_value *v, struct kp_error *err);

/* All values of K, in stored order; free with hive_values_free. */
int hive_values(struct hive *h, hive_key k, struct hive_value **vals,
		size_t *n, struct kp_error *err);
void hive_value_release(struct hive_value *v);
void hive_values_free(struct hive_value *vals, size_t n);

/* Edits.  Missing keys on PATH are created, parents included; values other
 * than NAME are kept exactly (type, data and order). */
int hive_set(struct hive *h, const char *path, const char *name,
	     uint32_t type, const void *data, size_t len,
	     struct kp_error *err);
int hive_unset(struct hive *h, const char *path, const char *name,
	       struct kp_error *err);
int hive_mkpath(struct hive *h, const char *path, hive_key *k,
		struct kp_error *err);
/* Delete PATH and everything under it; a missing key is not an error. */
int hive_delete_key(struct hive *h, const char *path, struct kp_error *err);

/* Number of edits recorded so far. */
size_t hive_nr_edits(const struct hive *h);

struct hive_commit_opts {
	const char *dest;	/* write here instead of over the hive */
	bool no_replace;	/* DEST must not exist yet */
	bool backup;		/* keep the old file as FILE.bak[.N] */
	bool force;		/* write even without recorded edits */
	bool journal;		/* in place through the logs, if it can */
	bool defer;		/* with JOURNAL: make the writes, carry out
				 * none (RES->deferred holds them) */
};

struct hive_journal;

struct hive_commit_result {
	bool written;
	uint32_t seq;		/* sequence number of the new file */
	char *backup;		/* name of the backup, or NULL */
	bool journaled;		/* written in place through a log */
	uint32_t pages;		/* 4 KiB pages it wrote then */
	const char *rewrite_why; /* JOURNAL asked, rewritten instead: why */
	bool in_place;		/* journaled by the page editor (pageedit.h),
				 * not hivex; else PE_WHY says why not */
	enum pe_fallback pe_why;
	struct hive_journal *deferred; /* DEFER: the journaled commit to
				 * carry out, or NULL (nothing to write, or
				 * REWRITE_WHY says why the file was
				 * rewritten instead) */
};

/* A journaled commit deferred, for someone else to carry out on the
 * hive's files where they really are (an image backend): the writes and
 * flushes of journal.h's four steps, with their bytes. */
struct hive_journal {
	struct journal_writes p;
	unsigned char *pages;	/* the bytes it writes from the new hive */
};

/* Free a deferred commit from hive_commit (NULL is fine). */
void hive_journal_free(struct hive_journal *hp);

/* Write atomically and verify (see above).  With JOURNAL, a clean hive of
 * Windows 8.1 or later (new-format or no logs, version 1.5 or later) that is
 * written over itself goes instead through its transaction logs and only
 * its changed pages are written in place (journal.h), after the whole new
 * hive has been checked; any other falls back to the rewrite.  Without
 * edits and without FORCE nothing is written.  With DEFER, the journaled
 * commit is only made (RES->deferred) and the file left as it is;
 * a hive that cannot be journaled is still rewritten.  Once this has run (whatever the result), the
 * hive can only be closed: its in-memory copy is freed to halve the peak
 * memory of the verification.  Free RES->backup when done. */
int hive_commit(struct hive *h, const struct hive_commit_opts *o,
		struct hive_commit_result *res, struct kp_error *err);

/* Split "KEY\PATH" into its parent part and last component (both owned
 * by the caller); the parent of a top-level key is "". */
int hive_path_split(const char *path, char **parent, char **last);

#endif

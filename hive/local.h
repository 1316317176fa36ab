/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The local implementation of hive handles (ops.h), over hivex and
 * kmsprep's own reader: opening and closing (open.c), reading (read.c),
 * editing (edit.c) and committing (commit.c).  The hl_ functions are what
 * these files share; nothing outside hive/ uses this header.
 */
#ifndef KP_HIVE_LOCAL_H
#define KP_HIVE_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <hivex.h>

#include "lib/fileio.h"
#include "ops.h"
#include "pageedit.h"
#include "regf.h"

/* Windows limits key names to 255 characters and value names to 16383. */
#define KEY_NAME_MAX 255
#define VALUE_NAME_MAX 16383

/* What the file must hold after commit, for one key or one value. */
struct expect {
	char *path;
	char *name;		/* NULL: the key itself */
	bool present;
	uint32_t type;
	unsigned char *data;
	size_t len;
};

/* A hive opened here: the handle (path and state in PUB) and what the
 * local implementation keeps. */
struct hive_local {
	struct hive pub;
	char *real;		/* resolved, for writing */
	hive_h *hx;
	struct stat fst;
	int lockfd;		/* holds LOCK_SH while a reader reads, or -1 */
	int memfd;		/* holds a recovered image, or -1 */
	uint32_t minor;		/* version of what hivex edits */
	bool writable;
	bool poisoned;		/* an edit failed half-way: never commit */
	char *logpath[2];	/* LOG1, LOG2 as found, or where to create */
	bool single_log;	/* only FILE.LOG was found */
	bool no_logs;		/* opened with HIVE_NO_LOGS */
	struct expect *exp;
	size_t nexp, capexp;
	size_t nedits;
	/* The checked file (or recovered image) as it was opened, read with
	 * kmsprep's own reader where hivex cannot: names that are not valid
	 * UTF-16 and tombstone values.  hivex never moves or reuses the
	 * cells of existing keys and values (it allocates new cells past the
	 * end of the file), so a handle below RAW.end + 0x1000 is a record
	 * of this copy, and its name and type never change. */
	struct kp_map raw_map;	/* the file, or the memory file */
	struct regf raw;
	/* An edit the page editor cannot replay (a key created or deleted):
	 * the journaled commit then goes through hivex. */
	enum pe_fallback pe_why;
	/* Keys whose LastWriteTime the edits change (see hl_stamp_keys). */
	hive_key *touched;
	size_t ntouched, captouched;
	/* A writable hive is opened by hivex read-only, which maps the file
	 * instead of copying it, and under LOCKFD's LOCK_SH, so that it
	 * cannot change under that mapping.  Values set on existing keys
	 * wait here: the page editor commits them without hivex.  Anything
	 * else hivex must do reopens it for writing first (hl_hx_upgrade),
	 * giving it these. */
	bool hx_rw;
	struct pending *pend;
	size_t npend, cappend;
};

/* A value set while hivex is read-only. */
struct pending {
	hive_key k;
	char *name;		/* as stored, if the key has it already */
	uint32_t type;
	unsigned char *data;
	size_t len;
};



/* The local handle behind H. */
static inline struct hive_local *
hl_of(const struct hive *h)
{
	return (struct hive_local *)h;
}

/* The operations, as ops.h's (read.c, edit.c, commit.c, open.c), and
 * their table (open.c). */
extern const struct hive_ops local_ops;
void local_close(struct hive *h);
size_t local_nr_edits(const struct hive *h);
enum hive_kind local_kind(struct hive *h);
int local_find(struct hive *h, const char *path, hive_key *k,
	       struct kp_error *err);
int local_subkeys(struct hive *h, hive_key k, hive_key **list, size_t *n,
		  struct kp_error *err);
char *local_key_name(struct hive *h, hive_key k, struct kp_error *err);
int local_key_tombstone(struct hive *h, hive_key k, struct kp_error *err);
int local_get(struct hive *h, hive_key k, const char *name,
	      struct hive_value *v, struct kp_error *err);
int local_values(struct hive *h, hive_key k, struct hive_value **vals,
		 size_t *n, struct kp_error *err);
int local_set(struct hive *h, const char *path, const char *name,
	      uint32_t type, const void *data, size_t len,
	      struct kp_error *err);
int local_unset(struct hive *h, const char *path, const char *name,
		struct kp_error *err);
int local_mkpath(struct hive *h, const char *path, hive_key *k,
		 struct kp_error *err);
int local_delete_key(struct hive *h, const char *path, struct kp_error *err);
int local_commit(struct hive *h, const struct hive_commit_opts *o,
		 struct hive_commit_result *res, struct kp_error *err);

/* read.c */

/* Are A and B one name to Windows (lib/utf.h's folding)? */
bool hl_fold_eq(const char *a, const char *b);
/* A hivex failure of WHAT on PATH, as ERR. */
int hl_hx_fail(struct hive_local *h, const char *what, const char *path,
	       struct kp_error *err);
/* The regf offset of hivex handle HANDLE if it is a record of the file
 * as opened, else 0. */
uint32_t hl_raw_off(const struct hive_local *h, size_t handle);
/* Child NAME of K (on PATH): 1 found, 0 absent, -1 error (every letter
 * folded); *ODD if its name is not valid UTF-16. */
int hl_child(struct hive_local *h, hive_key k, const char *name,
	     hive_key *out, bool *odd, const char *path,
	     struct kp_error *err);
/* Refuse a new subkey NAME of PARENT (PATH) that hivex would put out of
 * order. */
int hl_check_order(struct hive_local *h, hive_key parent, const char *name,
		   const char *path, struct kp_error *err);
/* A committed handle's reads and edits fail: -1 with ERR, or 0. */
int hl_spent(const struct hive_local *h, struct kp_error *err);
/* The value NAME of K waiting to be set (see struct pending), or NULL;
 * freeing them all. */
struct pending *hl_pending_find(struct hive_local *h, hive_key k,
				const char *name);
void hl_pending_free(struct hive_local *h);
/* The value of K that Windows finds under NAME, or 0. */
hive_value_h hl_value_folded(struct hive_local *h, hive_key k,
			     const char *name);

/* edit.c */

/* Record what PATH/NAME must look like after commit. */
int hl_expect(struct hive_local *h, const char *path, const char *name,
	      bool present, uint32_t type, const void *data, size_t len,
	      struct kp_error *err);
/* Free the recorded expectations and the values waiting. */
void hl_edits_free(struct hive_local *h);
/* The time stamped on keys an edit touches. */
uint64_t hl_edit_time(void);
/* Stamp every touched key of the file hivex wrote at FD. */
int hl_stamp_keys(struct hive_local *h, int fd, struct kp_error *err);
/* Refuse an edit of a hive opened read-only, spent or poisoned. */
int hl_need_writable(struct hive_local *h, struct kp_error *err);
/* Does K (on PATH) have two subkeys of one name? */
int hl_dup_child(struct hive_local *h, hive_key k, const char *path,
		 char **name, struct kp_error *err);
/* Reopen hivex for writing, giving it the values waiting. */
int hl_hx_upgrade(struct hive_local *h, struct kp_error *err);

/* open.c */

/* flock FD with OP, waiting a little for a holder; fails naming it. */
int hl_lock_wait(int fd, int op, const char *path, const char *doing,
		 struct kp_error *err);

/* commit.c */

/* Release the shared lock. */
void hl_drop_lock(struct hive_local *h);
/* After a commit, whatever its result: hivex and the lock go. */
void hl_spend(struct hive_local *h);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An on-demand cell editor for journaled commits: the common value edits
 * made in place in a copy-on-write view of the hive file, as Windows edits
 * a loaded hive, reading only the cells on the key path and the pages it
 * changes.  The changed 4 KiB pages then go through the journal
 * (journal.h) without hivex re-serializing the whole hive.
 *
 * Edits it cannot make (creating or deleting keys, big data, a cell that
 * does not check out) are refused with a reason (enum pe_fallback), and
 * the caller falls back to hivex's whole-hive commit.
 *
 * Cell layout and allocation follow the Windows registry file format
 * specification by Maxim Suhanov (CC BY 4.0),
 * https://github.com/msuhanov/regf/blob/master/Windows%20registry%20file%20format%20specification.md
 */
#ifndef KP_PAGEEDIT_H
#define KP_PAGEEDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "journal.h"
#include "regf.h"

/* Why an edit was left to hivex; PE_OK: it was made. */
enum pe_fallback {
	PE_OK = 0,
	PE_FB_BASE,		/* base block not clean, not checked out */
	PE_FB_VERSION,		/* hive version before 1.5 */
	PE_FB_NEW_KEY,		/* a key on the path does not exist */
	PE_FB_DELETE_KEY,	/* a key is deleted */
	PE_FB_CELL,		/* a touched cell or its hive bin is corrupt */
	PE_FB_BIG_DATA,		/* old or new data over 16344 bytes (db) */
	PE_FB_DUP_VALUE,	/* the key holds the name twice */
	PE_FB_NAME,		/* the value name cannot be stored */
	PE_FB_SPACE,		/* more appended bins than the view holds */
	PE_FB_NR
};

/* A short description of REASON, for messages and tests. */
const char *pe_fallback_str(enum pe_fallback reason);

struct pageedit {
	unsigned char *p;	/* the view: file copy-on-write, then spare */
	size_t len;		/* file size */
	int fd;			/* the file (not owned) */
	size_t maplen;		/* the view's size */
	uint32_t end;		/* hbins-relative end of hive bins data */
	uint32_t minor;
	uint32_t last_bin;	/* the last bin, or REGF_NONE */
	unsigned char *dirty;	/* one bit per 4 KiB page of hive bins */
	uint64_t stamp;		/* LastWriteTime for changed keys */
	enum pe_fallback why;	/* the last refusal */
};

/* Map FD (LEN bytes, the primary as opened) copy-on-write, without
 * reading it, and check its base block.  Returns -1 on a system error,
 * else 0 with E->why PE_OK or the reason it cannot be edited here (then
 * it is still to be closed). */
int pe_open(struct pageedit *e, int fd, size_t len, uint64_t stamp,
	    struct kp_error *err);
void pe_close(struct pageedit *e);

/* Set value NAME of the key at PATH to TYPE and DATA (LEN bytes), adding
 * it if missing.  0 done, 1 left alone (E->why says why; the view may
 * then hold part of the edit and must be dropped). */
int pe_set(struct pageedit *e, const char *path, const char *name,
	   uint32_t type, const void *data, size_t len);

/* Delete value NAME of the key at PATH; nothing if it is not there.
 * 0 done, 1 left alone as for pe_set. */
int pe_unset(struct pageedit *e, const char *path, const char *name);

/* Check that the key at PATH exists: 0 yes, 1 no (PE_FB_NEW_KEY). */
int pe_key(struct pageedit *e, const char *path);

/* After the edits: walk the key at PATH again, every value record and
 * data cell of it checked against its bin.  0 sound, 1 not (E->why). */
int pe_check_key(struct pageedit *e, const char *path);

/* The pages that differ from the file, as a journal diff over the view
 * (E->p is the new hive's image for journal_writes_build).  Free D->runs. */
int pe_diff(const struct pageedit *e, struct journal_diff *d,
	    struct kp_error *err);

/* A reader's view of the edited hive, for verification. */
int pe_regf(const struct pageedit *e, struct regf *r, struct kp_error *err);

#endif

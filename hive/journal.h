/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Journaled in-place commits of a hive, as Windows 8.1 and later write them:
 * only the pages that changed go first into a new-format transaction log
 * entry ("HvLE"), then into the primary file in place.
 *
 *   1. the entry (with a log base block) goes to the log Windows would use
 *      next, fsync;
 *   2. the primary's base block is marked dirty (sequence numbers differ),
 *      fsync;
 *   3. the pages are written in place (the file grows when bins were
 *      appended), fsync, and read back;
 *   4. the base block is written clean with the new sequence number and
 *      hive bins size, fsync, and read back.
 *
 * A crash before 2 leaves the old hive, clean (its logs are ignored); from
 * 2 on the hive is dirty and replaying the log (logrec.c, or Windows) gives
 * the new one.  The rules are those of the Windows registry file format
 * specification by Maxim Suhanov (CC BY 4.0),
 * https://github.com/msuhanov/regf: "Dirty state of a hive", "New format",
 * "Multiple transaction log files".
 */
#ifndef KP_JOURNAL_H
#define KP_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "lib/buf.h"
#include "lib/error.h"
#include "logrec.h"

/* Windows tracks dirty hive bins data in 4 KiB pages. */
#define JOURNAL_PAGE 4096u

/* One run of consecutive changed pages, hbins-relative. */
struct journal_run {
	uint32_t off, len;
};

struct journal_diff {
	struct journal_run *runs;
	size_t n;
	uint32_t pages;		/* 4 KiB pages in all runs */
	uint32_t hbins;		/* hive bins data size of the new image */
};

/* The file PATH, or one in its directory whose name differs only in
 * letter case (Windows file names are case-insensitive, so
 * "ntuser.dat.log1" is NTUSER.DAT's log); NULL if none.  The exact name is
 * preferred, then the first other match in byte order.  Caller frees. */
char *journal_find_nocase(const char *path);

/* The pages of hive bins data that differ between the primary file FD
 * (FLEN bytes) and IMG (the whole new hive, LEN bytes); pages past the end
 * of the file count as changed.  Free D->runs. */
int journal_diff(int fd, size_t flen, const unsigned char *img, size_t len,
		 struct journal_diff *d, struct kp_error *err);

/* Build, in OUT, an HvLE entry with sequence number SEQ holding the pages
 * of D taken from IMG, padded so that it ends on a 4 KiB boundary of the
 * log when it starts at log offset AT (as Windows pads), with Hash-1 and
 * Hash-2 filled in. */
int journal_entry(const unsigned char *img, const struct journal_diff *d,
		  uint32_t seq, size_t at, struct buf *out);

/* The 512-byte log base block for a cycle starting at SEQ: IMG's base
 * block with file type 6, both sequence numbers SEQ and its checksum. */
void journal_log_base(const unsigned char *img, uint32_t seq,
		      unsigned char out[512]);

/* Which log (0: LOG1, 1: LOG2) Windows would write next, from what the
 * scan of both found: the one not holding the latest entries. */
int journal_pick_log(const struct logrec_result *logs);

struct journal_opts {
	int fd;				/* the primary, open read-write */
	const char *path;		/* the primary, for messages */
	const struct stat *like;	/* mode and owner of a created log */
	const char *log[2];		/* LOG1, LOG2: found or to create */
	const struct logrec_result *logs;	/* their scan at open time */
	const unsigned char *img;	/* the new hive, whole */
	size_t len;
};

struct journal_result {
	uint32_t seq;		/* the primary's sequence number now */
	uint32_t pages;		/* 4 KiB pages written; 0: nothing differed */
	int log;		/* 0 LOG1, 1 LOG2 */
};

/* Commit IMG over the clean primary O->fd in the four steps above.  On an
 * error before step 2 the primary is untouched (and a log created here is
 * removed); after it the message says that the log holds the change. */
int journal_commit(const struct journal_opts *o, struct journal_result *res,
		   struct kp_error *err);

/* Test hook, for the crash tests only: if KMSPREP_TEST_CRASH_AT names
 * POINT ("1".."4": after that step; "1h", "3h": half way through it), the
 * process kills itself with SIGKILL there. */
void journal_test_crash(const char *point);

/* Test hook, for unit tests only: when set, journal_test_crash first calls
 * it with POINT ("open": the primary opened, not yet locked or checked). */
extern void (*journal_test_hook)(const char *point);

#endif

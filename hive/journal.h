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
#include "lib/wire.h"
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

/* The same, the old primary being OLD (OLDLEN bytes) in memory: for
 * backends that read the file from elsewhere (an image). */
int journal_diff_mem(const unsigned char *old, size_t oldlen,
		     const unsigned char *img, size_t len,
		     struct journal_diff *d, struct kp_error *err);

/*
 * The writes: the four steps above as writes, so that whoever can write
 * and flush the two files (this process on local files, a worker on files
 * inside an image) carries out the same commit.
 */
enum journal_file { JOURNAL_LOG, JOURNAL_PRIMARY };

/* LEN bytes from DATA at OFF of one file. */
struct journal_write {
	uint64_t off;
	const unsigned char *data;	/* the writes' memory or the new hive's */
	uint32_t len;
};

/* One step: its writes, in order, to one file, then a flush; then, if
 * VERIFY, they are read back and compared. */
struct journal_step {
	enum journal_file file;
	size_t first, n;		/* PLAN->w[first .. first + n) */
	uint64_t size;			/* the file's size after: the log is
					 * cut to it, the primary grown to at
					 * least it; 0: left as it is */
	bool verify;
};

struct journal_writes {
	struct journal_step step[4];
	struct journal_write *w;
	size_t nw;
	int log;			/* 0 LOG1, 1 LOG2 */
	uint32_t seq;			/* the primary's sequence number after */
	uint32_t pages;			/* 4 KiB pages; 0: nothing to write */
	uint64_t bytes;			/* all writes together */
	/* Owned: the log base block, the entry, the two base blocks. */
	unsigned char *blocks;
	struct buf entry;
	struct journal_diff d;
};

/* Plan the commit of IMG (LEN bytes, the whole new hive) over the clean
 * primary whose base block is OLD_BASE (4096 bytes), D being the pages
 * that differ (journal_diff); LOGS is the scan of both logs.  The writes
 * takes D over (zeroed here) and points into IMG, which must outlive it.
 * P->pages == 0: nothing to write.  Free with journal_writes_release. */
int journal_writes_build(const unsigned char *old_base,
			 struct journal_diff *d,
			 const struct logrec_result *logs,
			 const unsigned char *img, size_t len,
			 struct journal_writes *p, struct kp_error *err);
void journal_writes_release(struct journal_writes *p);

/* The size of P's log once written: its base block and the new entry. */
static inline uint64_t
journal_log_size(const struct journal_writes *p)
{
	return p->step[0].size;
}

/* The writes as message fields (lib/wire.h), for a sandboxed process that
 * carries it out or made it: its steps, log, sequence number, counts and
 * every write with its bytes. */
void journal_writes_put(struct buf *b, const struct journal_writes *p);
/* The writes put there, checked (steps within the writes, counts that fit
 * the message); its writes point into the message, P->w is allocated.
 * -1 if it does not parse; free P->w either way (journal_writes_release). */
int journal_writes_get(struct wire_rd *r, struct journal_writes *p);

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

/* Commit IMG over the clean primary O->fd in the four steps above: make
 * the writes, then carry them out on the local files
 * (journal_writes_run_local).  On an error before step 2 the primary is
 * untouched (and a log created here is removed); after it the message
 * says that the log holds the change. */
int journal_commit(const struct journal_opts *o, struct journal_result *res,
		   struct kp_error *err);

/* Where the writes are carried out: its two files as one backend reaches them
 * (local files, a volume in an image, the appliance).  Each returns 0, or
 * -1 with errno. */
struct journal_io {
	/* LEN bytes at OFF of file F: written from P, or read into P. */
	int (*pwrite)(void *ctx, enum journal_file f, const void *p,
		      size_t len, uint64_t off);
	int (*pread)(void *ctx, enum journal_file f, void *p, size_t len,
		     uint64_t off);
	/* The log ending at SIZE (cut there, or what follows made no entry);
	 * the primary grown to SIZE if smaller. */
	int (*fit)(void *ctx, enum journal_file f, uint64_t size);
	/* F, and what holds it, flushed to stable storage. */
	int (*flush)(void *ctx, enum journal_file f);
	/* Step 1 failed: undo what preparing the log did (remove a log
	 * created for it); NULL: nothing to undo. */
	void (*abandon)(void *ctx);
};

/* Carry out writes P through IO: the four steps in order, each flushed
 * before the next starts, the log and the verified steps read back;
 * PATH[JOURNAL_LOG] and PATH[JOURNAL_PRIMARY] name the files in messages.
 * On an error in step 1 the primary is untouched; after it the message
 * says that the log holds the change.  The one executor of every
 * backend. */
int journal_writes_run(const struct journal_writes *p,
		       const struct journal_io *io, void *ctx,
		       const char *const path[2], struct kp_error *err);

/* Carry out writes P on local files: O->fd (the primary, locked by the caller)
 * and O->log[P->log], created with O->like's mode and owner if missing. */
int journal_writes_run_local(const struct journal_writes *p,
			     const struct journal_opts *o, struct kp_error *err);

/* Test hook, for the crash tests only: if KMSPREP_TEST_CRASH_AT names
 * POINT ("1".."4": after that step; "1h", "3h": half way through it), the
 * process kills itself with SIGKILL there. */
void journal_test_crash(const char *point);

/* Test hook, for unit tests only: when set, journal_test_crash first calls
 * it with POINT ("open": the primary opened, not yet locked or checked). */
extern void (*journal_test_hook)(const char *point);

#endif

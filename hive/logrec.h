/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Transaction-log recovery of a dirty hive, for both log formats:
 *  - old (Vista/7/8.0): a base block copy, a "DIRT" bitmap and dirty pages;
 *  - new (8.1 and later): a base block copy and "HvLE" entries guarded by
 *    Marvin32 hashes and chained by sequence numbers.
 * The rules follow the Windows registry file format specification by Maxim
 * Suhanov (CC BY 4.0); section names are cited where each rule is applied.
 * Logs are hostile input: every count, size and offset is checked before use.
 */
#ifndef KP_LOGREC_H
#define KP_LOGREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/error.h"

/* One log file offered to recovery. */
struct logrec_input {
	const char *path;		/* for messages; NULL if not given */
	bool present;
	const unsigned char *data;
	size_t len;
};

/* What was found in one log. */
struct logrec_log {
	bool present;
	bool empty;			/* present, 0 bytes */
	bool valid;			/* base block usable for recovery */
	unsigned format;		/* 1 old, 6 new, 0 not known */
	uint32_t seq;			/* sequence number of its base block */
	uint64_t timestamp;
	uint32_t max_seq;		/* latest sequence number anywhere */
	size_t applied;			/* entries (new) or pages (old) used */
	char why[160];			/* why it is invalid or was not used */
};

struct logrec_result {
	struct logrec_log log[2];	/* LOG1, LOG2 */
	bool usable;			/* recovery produced a hive */
	unsigned format;		/* format that was applied */
	uint32_t first_seq, last_seq;	/* entries applied (new format) */
	size_t applied;			/* entries or pages applied in all */
	uint32_t max_seq;		/* latest sequence number in any log */
	char why[256];			/* why recovery is not possible */
	char damage[200];		/* set when entries were cut off by a
					 * damaged entry or a gap: the hive is
					 * recovered only up to there */
};

/* Sequence numbers compare as serial numbers (they wrap): is A before B? */
bool logrec_seq_before(uint32_t a, uint32_t b);

/* Look at both logs (base blocks and every entry header) without applying
 * anything: fills RES->log[] and RES->max_seq. */
void logrec_scan(const struct logrec_input in[2], struct logrec_result *res);

/* Replay the logs onto the dirty PRIMARY (LEN bytes).  On success OUT holds
 * the recovered image, clean (sequence numbers equal, checksum valid), and 0
 * is returned; RES->damage says if later entries could not be used.  If
 * no log applies, -1 with KP_ERR_REFUSED and RES->why. */
int logrec_recover(const unsigned char *primary, size_t len,
		   const struct logrec_input in[2], struct buf *out,
		   struct logrec_result *res, struct kp_error *err);

#endif

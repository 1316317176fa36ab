/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The registry hives of a Windows installation in an image, edited with the
 * hive layer.  A hive is downloaded with its transaction logs (so a dirty
 * hive is replayed exactly as for a local file), edited and committed
 * locally (atomic, verified), and only then put back into the guest with
 * img_replace.  Splitting the local commit from the upload lets a command
 * prepare every image before it writes any.
 */
#ifndef KP_WINHIVE_H
#define KP_WINHIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "hive/hive.h"
#include "session.h"

struct winhive {
	char *guest;		/* guest path of the hive */
	char *local;		/* local working copy */
	struct hive *h;
	bool committed;		/* the local copy holds changes, or */
	struct hive_journal *journal;	/* the journaled commit to run in the image */
	char *guest_log[2];	/* its .LOG1 and .LOG2 in the image (the names
				 * they have, or will have if created) */
	bool whole;		/* the backend writes files whole only (a
				 * WIM): commit by rewriting the hive */
	uint64_t copy_ns;	/* time to copy it and its logs out */
	uint64_t check_ns;	/* time to open and check it */
};

/* Download hive NAME ("SOFTWARE", "SYSTEM") of R with its .LOG1/.LOG2 and
 * open it with FLAGS (hive_open). */
int winhive_open(struct img_session *s, const struct img_root *r,
		 const char *name, unsigned flags, struct winhive *wh,
		 struct kp_error *err);

/* Commit the edits to the local copy (nothing happens without edits). */
int winhive_commit(struct winhive *wh, struct kp_error *err);


void winhive_close(struct winhive *wh);

#endif

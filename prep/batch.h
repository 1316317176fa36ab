/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image batch: the one flow every writing image command follows, with
 * its safety rules in one place, over any image backend (image/backend.h):
 *
 *   choose  one Windows installation per image (or refuse: none, several
 *           and none chosen, locked by BitLocker);
 *   check   every chosen volume can be written (not hibernated, no Fast
 *           Startup, not BitLocker-locked): one refusal and no image is
 *           changed (a dry run notes it and ends as the real run would);
 *   prepare every image through the command's callback, which edits hives
 *           locally and queues whole-file writes (nothing written yet);
 *   write   image by image (or up to b->jobs at once when the backend
 *           allows it), only images with writes, each file replaced
 *           atomically and verified by the backend, in the safety order:
 *           files, then SOFTWARE, then SYSTEM, so that a first-boot hook
 *           (in SYSTEM) never points at a script that is not there;
 *   report  what was written, or after a failure exactly what was.
 */
#ifndef KP_BATCH_H
#define KP_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/backend.h"
#include "hive/journal.h"

/* img_batch_queue flag, beside IMG_SECRET: create GUEST's directory and
 * its missing parents first (backend mkdir). */
#define IMG_MKDIR_PARENT 0x100u

/* The write order inside one image. */
enum img_phase { IMG_PHASE_FILES, IMG_PHASE_SOFTWARE, IMG_PHASE_SYSTEM,
		 IMG_NPHASES };

/* One whole-file write queued by prepare. */
struct img_write {
	enum img_phase phase;
	char *guest;		/* guest path */
	char *label;		/* for reports ("SOFTWARE hive") */
	void *data;		/* content (a copy), or */
	size_t len;
	char *local;		/* a local file to upload */
	bool remove;		/* remove GUEST instead */
	unsigned flags;		/* IMG_SECRET */
	const struct journal_writes *journal; /* or: a journaled hive
					 * commit */
	char *guest_log;	/* the journaled commit's log file */
};

struct img_target {
	struct img_root *root;	/* valid while the batch is open */
	char device[64];	/* the root's device, for reports */
	struct img_write *writes;
	size_t nwrites;
	bool written;
	bool began;		/* opened for writing (img_batch_write) */
	char *passed;		/* or: passed over, an index of a WIM file
				 * without Windows (img_batch.passable), and
				 * the note that says so */
	uint64_t prepare_ns;	/* time its prepare step took */
	uint64_t write_ns;	/* time its writes took */
};

/* What the batch tells its listener about image I as work happens
 * (DETAIL: the device chosen, the refusal or error, the file written). */
enum img_event {
	IMG_EV_START,		/* choosing its installation */
	IMG_EV_CHOSEN,		/* DETAIL: the device */
	IMG_EV_REFUSED,		/* DETAIL: why (nothing will be written) */
	IMG_EV_PREPARED,	/* its writes are queued (maybe none) */
	IMG_EV_WROTE,		/* DETAIL: one file written and verified */
	IMG_EV_WRITTEN,		/* every write done and verified */
	IMG_EV_FAILED,		/* DETAIL: why its write failed */
	IMG_EV_PASSED,		/* DETAIL: the note (img_target.passed) */
};

/* Called from the writing threads too when images are written at once:
 * the listener serializes. */
typedef void img_event_fn(void *ud, enum img_event ev, size_t i,
			  const char *detail);

struct img_batch {
	const struct img_backend *be;
	void *h;			/* the backend's handle */
	size_t n;			/* images */
	char *const *names;		/* their paths */
	struct img_target *t;		/* one per image */
	bool dry_run;
	unsigned jobs;			/* images written at once (0, 1: one
					 * by one; more only if be->parallel) */
	unsigned prepare_jobs;		/* images prepared at once, the
					 * same way: each holds its hives in
					 * memory while it is prepared */
	bool dry_refused;		/* a dry run a real run would refuse */
	char *done;			/* after a failed write: what was */
	bool journal_failed;		/* the failed write was a journaled
					 * hive commit: its log brings the
					 * hive to the old or new state at
					 * its next load */
	bool began;			/* the failed image was opened for
					 * writing: its volume may have
					 * changed (a log file made or
					 * sized, NTFS metadata) */
	img_notice_fn *notice;		/* what the result does not say */
	img_notice_fn *warn;		/* what the user must hear */
	void *ud;
	img_event_fn *event;		/* or NULL */
	void *event_ud;
	const char *const *root_of;	/* or NULL: per image, the device
					 * to choose (NULL: want's) */
	const bool *passable;		/* or NULL: per image, whether it
					 * is passed over if it holds no
					 * Windows (img_expanded.passable) */
};

/* The command's part: prepare image I (hives edited and committed
 * locally, writes queued with img_batch_queue).  With b->prepare_jobs > 1
 * and a
 * parallel backend it runs for several images at once, so it touches
 * only image I's state (and serializes anything it reports). */
typedef int img_prepare_fn(struct img_batch *b, size_t i, void *ud,
			   struct kp_error *err);

/* A batch over the images already opened in backend handle H. */
void img_batch_init(struct img_batch *b, const struct img_backend *be,
		    void *h, char *const *names, size_t n, bool dry_run);

/* Queue a write (DATA is copied; LOCAL names a file; REMOVE deletes). */
int img_batch_queue(struct img_batch *b, size_t i, enum img_phase phase,
		    const char *guest, const char *label, const void *data,
		    size_t len, const char *local, bool remove,
		    unsigned flags, struct kp_error *err);

/* Queue journaled commit JOURNAL of hive GUEST through its log
 * GUEST_LOG (JOURNAL must outlive the batch's writes). */
int img_batch_queue_journal(struct img_batch *b, size_t i,
			    enum img_phase phase, const char *guest,
			    const char *guest_log, const char *label,
			    const struct journal_writes *journal,
			    struct kp_error *err);

/* Choose one installation per image: the only one, or the one whose
 * device is among WANT.  KP_ERR_INVALID when several and none chosen.
 * A passable image of a WIM file without Windows is passed over (no
 * root; nothing prepared or written), unless no image of its file holds
 * Windows (KP_ERR_INPUT). */
int img_batch_choose(struct img_batch *b, const char *const *want,
		     size_t nwant, struct kp_error *err);

/* Refuse (KP_ERR_REFUSED) if any chosen volume cannot be written. */
int img_batch_check(struct img_batch *b, struct kp_error *err);

/* Choose and check, image by image (the first problem is reported). */
int img_batch_select(struct img_batch *b, const char *const *want,
		     size_t nwant, struct kp_error *err);

/* Prepare every image, up to b->prepare_jobs at once; on failure, the first
 * failed image's error in the images' order, and no image is started any
 * more. */
int img_batch_prepare(struct img_batch *b, img_prepare_fn *prepare,
		      void *ud, struct kp_error *err);

/* Write every image that has writes (nothing in a dry run), up to
 * b->jobs at once; notices come in the images' order.  On failure, the
 * first failed image's error (in that order), no image is started any
 * more, and b->done says what had been written, or is NULL if nothing
 * was. */
int img_batch_write(struct img_batch *b, struct kp_error *err);

/* find_windows, select, prepare and write. */
int img_batch_run(struct img_batch *b, const char *const *want, size_t nwant,
		  img_prepare_fn *prepare, void *ud, struct kp_error *err);

/* Free the queued writes and reports (not the backend handle). */
void img_batch_release(struct img_batch *b);

#endif

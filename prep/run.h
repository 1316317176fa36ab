/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A writing image command, whole: open the images (image/session.h),
 * choose and check every installation, prepare each image from its plan
 * (prep/plan.h), write them (prep/batch.h) and close, with the images'
 * state after a failure said exactly.  The command line only fills the
 * options and prints the result.
 */
#ifndef KP_PREP_RUN_H
#define KP_PREP_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/session.h"
#include "prep/batch.h"
#include "prep/plan.h"

struct img_run_opts {
	const struct img_opts *img;	/* how the images are opened */
	/* Image I's plan: PLANS[I], or PLAN for every image. */
	const struct img_plan *plan;
	const struct img_plan *plans;
	const char *const *roots;	/* the installations to choose */
	size_t nroots;
	const char *const *root_of;	/* or per image (NULL: ROOTS) */
	const bool *passable;		/* or NULL: img_batch.passable */
	unsigned jobs;			/* images prepared and written at
					 * once; 0: img_default_jobs() */
	bool dry_run;			/* edit, write nothing */
	img_notice_fn *notice;		/* progress */
	img_notice_fn *warn;		/* what the user must hear */
	void *ud;
	img_event_fn *event;		/* each image's events, or NULL */
	void *event_ud;
	/* Once the images are open, to the same listener: the backend
	 * chosen, and where each image's prepared changes will be. */
	void (*opened)(void *event_ud, const char *backend,
		       const struct img_prepared *t);
};

/* The memory an image being prepared may need: its hive server holds
 * its hive (as large as a few hundred MB) and hivex's copy of it. */
#define IMG_JOB_MEM ((uint64_t)512 << 20)

/* Images prepared and written at once by default: img_jobs_for the
 * processors this process may use (affinity, its cgroup's cpu.max) and
 * the memory it may take (MemAvailable, its cgroup's memory.max). */
unsigned img_default_jobs(void);

/* One image per processor, at most 64, and at most one per IMG_JOB_MEM
 * of MEM (0: unknown, no limit); at least one. */
unsigned img_jobs_for(unsigned cpus, uint64_t mem);

/* Where a run's time goes.  Opening the images, finding and mounting
 * their installations and closing them (with the fresh mount that
 * verifies what was written) are counted for all images at once; the
 * others per image. */
enum img_step {
	IMG_STEP_OPEN,		/* images opened, workers started */
	IMG_STEP_MOUNT,		/* installations found and mounted */
	IMG_STEP_COPY_OUT,	/* hives and logs copied out */
	IMG_STEP_CHECK,		/* hives opened and checked whole */
	IMG_STEP_PLAN,		/* edited, committed, writes queued */
	IMG_STEP_WRITE_BACK,	/* the writes into the image */
	IMG_STEP_VERIFY,	/* closed, flushed and read back fresh */
	IMG_NSTEPS,
};

/* The steps' names, as "copy-out". */
extern const char *const img_step_names[IMG_NSTEPS];

/* Nanoseconds per step. */
struct img_times {
	uint64_t ns[IMG_NSTEPS];
};

/* Where a run stopped, when it failed. */
enum img_run_stage {
	IMG_RUN_OPEN,		/* opening: nothing was read or written */
	IMG_RUN_SELECT,		/* a refusal: nothing written */
	IMG_RUN_PREPARE,	/* nothing written */
	IMG_RUN_WRITE,		/* see DONE and JOURNAL_FAILED */
	IMG_RUN_CLOSE,		/* written, but not all reached the images */
};

struct img_run_result {
	struct img_prepared *t;	/* per image: its changes and files */
	char (*device)[64];	/* per image: the installation chosen */
	char **passed;		/* per image: NULL, or the note saying it
				 * was passed over (img_target.passed) */
	size_t nchanges;	/* in all images */
	bool dry_refused;	/* a dry run that a real run would refuse */
	enum img_run_stage stage; /* where a failed run stopped */
	char *done;		/* after a failed write: what was written,
				 * or NULL if nothing was */
	bool journal_failed;	/* the failed write was a journaled hive
				 * commit, which its log completes */
	bool began;		/* the failed image's volume was opened for
				 * writing: it may have changed */
	struct img_times all;	/* open, mount, verify: all images */
	struct img_times *times; /* per image: the other steps */
};

/* Run O over the N IMAGES; *R says what was done (img_run_release).
 * On failure R->stage says how far it got. */
int img_run(char *const *images, size_t n, const struct img_run_opts *o,
	    struct img_run_result *r, struct kp_error *err);

void img_run_release(struct img_run_result *r, size_t n);

#endif

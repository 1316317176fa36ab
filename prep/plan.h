/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a writing image command does to each image, as data: the plan
 * that the image batch (prep/batch.h) prepares image by image.  The
 * command line only fills a struct img_plan from its options; opening the
 * hives, editing them, planning first-boot files and queueing the writes
 * in the safety order all happen here.
 */
#ifndef KP_PLAN_H
#define KP_PLAN_H

#include "prep/cloud.h"
#include <stdbool.h>
#include <stddef.h>

#include "batch.h"
#include "generalize.h"
#include "hive/change.h"
#include "hive/spp.h"
#include "image/winhive.h"

/* Plans a change that needs both hives of installation R open for
 * writing (generalization, a KMS host kit): edits recorded in C, files in
 * P.  UD is the plan's both_ud. */
typedef int img_both_fn(const void *ud, struct img_session *s,
			const struct img_root *r, struct hive *software,
			struct hive *system, struct hive_changes *c,
			struct stage *p, struct kp_error *err);

/* Told when a hive of image I was opened: LABEL names it; its logs may
 * have been replayed or set aside (ST), WRITING if it will be written. */
typedef void img_hive_fn(void *ud, const char *label,
			 const struct hive_state *st, bool writing);

struct img_plan {
	/* SPP settings for SOFTWARE (none: SOFTWARE is only opened when
	 * something else needs it). */
	const struct spp_settings *settings;
	const char *search;	/* normalized DNS suffix list for SYSTEM */
	bool clear_search;	/* or remove it */
	const char *cloudbase;	/* cloudbase-init: host|activate|off */
	const char *gvlk;	/* GVLK at first boot: auto|KEY|none, or NULL */
	bool gvlk_unlisted;	/* a KEY for an edition the table lacks */
	/* The cloud whose KMS host the settings name: its edition check
	 * (prep/cloud.h); or NULL. */
	const struct kms_cloud *cloud;
	img_both_fn *both;	/* or: a plan over both hives */
	const void *both_ud;
	unsigned hive_flags;	/* HIVE_FORCE_DIRTY */
	bool dry_run;		/* edit, but commit nothing locally */
	img_hive_fn *hive_opened;
	void *ud;
};

/* One image's prepared state. */
struct img_prepared {
	struct winhive sw, sy;
	struct hive_changes changes;
	struct stage stage;
};

/* What img_plan_prepare needs: the plan, the session, and one
 * struct img_prepared per image (zeroed). */
struct img_plan_run {
	const struct img_plan *p;
	struct img_session *s;
	struct img_prepared *t;
};

/* The batch's prepare step (img_prepare_fn) for image I, UD a struct
 * img_plan_run: hives opened, edited and committed to local copies, and
 * every write queued; an image with no change queues nothing.  Errors
 * name the image. */
int img_plan_prepare(struct img_batch *b, size_t i, void *ud,
		     struct kp_error *err);

/* Writes (registry changes and files) planned for one image. */
size_t img_prepared_nwrites(const struct img_prepared *t);

/* The file operation a planned file is: "create", "update", "remove". */
const char *img_file_op(const struct stage_file *f);

/* Generalization as an img_both_fn; UD is a struct img_gen_opts. */
struct img_gen_opts {
	enum gen_mode mode;
	bool activate;
	const char *gvlk;	/* auto|KEY|none, or NULL */
	bool gvlk_unlisted;	/* a KEY for an edition the table lacks */
};
int img_plan_generalize(const void *ud, struct img_session *s,
			const struct img_root *r, struct hive *software,
			struct hive *system, struct hive_changes *c,
			struct stage *p, struct kp_error *err);

/* Close the hives and free what T holds. */
void img_prepared_release(struct img_prepared *t);

#endif

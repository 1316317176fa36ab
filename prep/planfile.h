/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan of image batch (docs/scale.md): a JSON file naming images and,
 * for each, its settings, read and validated whole before anything is
 * opened.  "defaults" holds what entries share; an entry's keys override
 * them one by one (null removes one).  A generalization or a host kit is
 * an entry of its own kind: it takes no setting from the defaults.
 */
#ifndef KP_PREP_PLANFILE_H
#define KP_PREP_PLANFILE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "hive/spp.h"
#include "prep/plan.h"

/* The longest path or value an entry's string may be. */
#define PLAN_STR_MAX 4096

/* One image of the plan, validated. */
struct img_planned {
	const char *image;	/* in the plan's JSON (kept alive) */
	const char *root;
	unsigned index;		/* "index": of a WIM file, only this image;
				 * 0: every one (or --index's) */
	struct spp_settings settings;
	char *search_norm;	/* dns-search-list, normalized */
	bool clear_search, generalize;
	const char *cloudbase, *gvlk;
	const struct kms_cloud *cloud;	/* "cloud" */
	bool gvlk_unlisted;		/* "gvlk-unlisted" */
	struct img_gen_opts gen;
	const char *kit_path;	/* a host kit to apply (opened by kms/) */
};

struct img_planfile {
	json_t *root;		/* the entries' strings point into it */
	struct img_planned *e;
	size_t n;
};

/* Read plan PATH ("-": standard input) into PF.  KP_ERR_INPUT if it is
 * not JSON, KP_ERR_INVALID (naming the entry and key) if an entry is
 * not valid or two entries name one image. */
int img_planfile_load(const char *path, struct img_planfile *pf,
		      struct kp_error *err);

void img_planfile_release(struct img_planfile *pf);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rendering of hive reports and change lists, as text or JSON, shared by
 * the hive and image commands.
 */
#ifndef KP_REPORT_H
#define KP_REPORT_H

#include <stdio.h>

#include <jansson.h>

#include "include/kmsprep.h"

struct cli;

/* Everything `show` reports about one SOFTWARE hive. */
struct hive_report {
	const char *label;		/* file name or guest path */
	const struct hive_state *st;
	const struct winver *ver;
	const struct spp_report *spp;
	const struct office_report *office;	/* NULL: not read */
};

json_t *report_hive_json(const struct hive_report *r);
void report_hive_text(FILE *f, const struct hive_report *r,
		      const char *indent);

/* Changes: one line each, or a JSON array. */
void report_changes_text(FILE *f, const struct hive_changes *c,
			 const char *indent);
json_t *report_changes_json(const struct hive_changes *c);

/* Notes on stderr (not with --quiet) about the dirty state of the hive
 * LABEL: logs replayed, a damaged log, or a dirty hive WRITING anyway. */
void report_hive_notes(const struct cli *c, const char *label,
		       const struct hive_state *st, bool writing);

/* A registry value as JSON: strings, numbers, string arrays or hex. */
json_t *report_value_json(uint32_t type, const unsigned char *d, size_t len);

/* The Office installations and KMS settings R found, as JSON, and as
 * text (one line each, indented by IND). */
json_t *report_office_json(const struct office_report *r);
void report_office_text(FILE *f, const struct office_report *r,
			const char *ind);

/* With KMSPREP_TIMING set (not "0"): "timing: WHAT: STEP=SECONDS ..." on
 * standard error, for the steps of T in MASK (1u << IMG_STEP_...). */
void report_times(const struct cli *c, const char *what,
		  const struct img_times *t, unsigned mask);

/* The steps counted for all images at once, and per image. */
#define REPORT_TIMES_ALL ((1u << IMG_STEP_OPEN) | (1u << IMG_STEP_MOUNT) | \
			  (1u << IMG_STEP_VERIFY))
#define REPORT_TIMES_EACH (((1u << IMG_NSTEPS) - 1) & ~REPORT_TIMES_ALL)

#endif

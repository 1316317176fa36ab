/*
 * Rendering of hive reports and change lists, as text or JSON, shared by
 * the hive and image commands.
 */
#ifndef KP_REPORT_H
#define KP_REPORT_H

#include <stdio.h>

#include <jansson.h>

#include "hive/change.h"
#include "hive/hive.h"
#include "hive/spp.h"

/* Everything `show` reports about one SOFTWARE hive. */
struct hive_report {
	const char *label;		/* file name or guest path */
	const struct hive_state *st;
	const struct winver *ver;
	const struct spp_report *spp;
};

json_t *report_hive_json(const struct hive_report *r);
void report_hive_text(FILE *f, const struct hive_report *r,
		      const char *indent);

/* Changes: one line each, or a JSON array. */
void report_changes_text(FILE *f, const struct hive_changes *c,
			 const char *indent);
json_t *report_changes_json(const struct hive_changes *c);

/* A registry value as JSON: strings, numbers, string arrays or hex. */
json_t *report_value_json(uint32_t type, const unsigned char *d, size_t len);

#endif

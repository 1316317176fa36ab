/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Office in hive reports: text and JSON (report.h). */
#include <stdio.h>
#include <string.h>

#include "report.h"

static json_t *
str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *
report_office_json(const struct office_report *r)
{
	json_t *a = json_array(), *kms = json_array();
	size_t i;

	for (i = 0; i < r->nkms; i++) {
		const struct office_kms *k = &r->kms[i];

		json_array_append_new(kms, json_pack(
			"{s:s, s:s, s:o, s:o, s:o}", "key", k->key,
			"scope", k->scope, "activation_id",
			k->act[0] ? json_string(k->act) : json_null(),
			"KeyManagementServiceName", str_or_null(k->name),
			"KeyManagementServicePort", str_or_null(k->port)));
	}
	for (i = 0; i < r->n; i++) {
		const struct office_install *o = &r->inst[i];
		json_t *j = json_pack(
			"{s:s, s:s, s:s, s:b, s:o, s:s}", "name", o->name,
			"type", o->kind == OFFICE_MSI ? "msi" : "click-to-run",
			"version", o->version, "wow64", o->wow64,
			"path", str_or_null(o->path),
			"licensing", office_lic_str(o->lic));

		if (o->kind == OFFICE_C2R) {
			json_object_set_new(j, "product_release_ids",
					    str_or_null(o->products));
			json_object_set_new(j, "platform",
					    str_or_null(o->platform));
			json_object_set_new(j, "build",
					    str_or_null(o->c2r_version));
			json_object_set_new(j, "channel_url",
					    str_or_null(o->channel_url));
			json_object_set_new(j, "channel", o->channel ?
					    json_string(o->channel) :
					    json_null());
			json_object_set_new(j, "volume_licensed",
					    json_boolean(o->volume));
		}
		/* Every installation lists the KMS settings of its service. */
		json_object_set_new(j, "kms_settings", json_array());
		json_array_append_new(a, j);
	}
	for (i = 0; i < r->n; i++) {
		json_t *dst = json_object_get(json_array_get(a, i),
					      "kms_settings");
		size_t m;

		for (m = 0; m < r->nkms; m++)
			if ((r->inst[i].lic == OFFICE_LIC_OSPP) ==
			    (strncmp(r->kms[m].scope, "ospp", 4) == 0))
				json_array_append(dst,
						  json_array_get(kms, m));
	}
	json_decref(kms);
	return a;
}

/* Office as text: one line per installation and per KMS setting read. */
void
report_office_text(FILE *f, const struct office_report *r, const char *ind)
{
	struct buf e[3] = { BUF_INIT, BUF_INIT, BUF_INIT };
	size_t i;
	int l;

	if (r->n == 0) {
		fprintf(f, "%soffice: none found\n", ind);
		return;
	}
	for (i = 0; i < r->n; i++) {
		const struct office_install *o = &r->inst[i];

		fprintf(f, "%soffice: %s (%s %s%s), licensed by %s; %s\n",
			ind, o->name,
			o->kind == OFFICE_MSI ? "MSI" : "Click-to-Run",
			o->version, o->wow64 ? ", 32-bit on 64-bit Windows" :
					       "",
			o->lic == OFFICE_LIC_OSPP ?
				"the Office Software Protection Platform" :
				"Windows' Software Protection Platform",
			o->path ? kp_escape_str(&e[0], o->path) : "(no path)");
		if (o->kind == OFFICE_C2R)
			fprintf(f, "%s  products %s; platform %s; build %s; "
				"channel %s%s\n", ind,
				kp_escape_str(&e[0], o->products ?
						     o->products : "?"),
				kp_escape_str(&e[1], o->platform ?
						     o->platform : "?"),
				kp_escape_str(&e[2], o->c2r_version ?
						     o->c2r_version : "?"),
				o->channel ? o->channel : o->channel_url ?
				"unknown" : "not set",
				o->volume ? "" : "; no volume-licensed product "
				"(KMS does not activate it)");
	}
	for (i = 0; i < r->nkms; i++) {
		const struct office_kms *k = &r->kms[i];

		fprintf(f, "%soffice kms (%s): %s: ", ind, k->scope,
			kp_escape_str(&e[0], k->key));
		if (k->name == NULL && k->port == NULL)
			fputs(strncmp(k->scope, "ospp", 4) == 0 ?
			      "not set (found through DNS)\n" :
			      "not set (Windows' own setting or DNS applies)\n",
			      f);
		else
			fprintf(f, "KeyManagementServiceName %s, "
				"KeyManagementServicePort %s\n",
				k->name ? kp_escape_str(&e[1], k->name) :
					  "(not set)",
				k->port ? kp_escape_str(&e[2], k->port) :
					  "(not set: 1688)");
	}
	for (l = 0; l < 3; l++)
		buf_release(&e[l]);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What image show says about first boot beyond SYSTEM\Setup: libguestfs'
 * firstboot service, the first-boot log read back, cloudbase-init. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

/* A step's exit code as cmd showed it, and as an HRESULT when it is one. */
static const char *
step_text(const struct fb_step *st, char *out, size_t size)
{
	unsigned long u = (unsigned long)st->code & 0xffffffffUL;
	const char *what = sl_error_text(u);

	if (st->code == 0)
		snprintf(out, size, "ok");
	else if (st->code < 0 || u >= 0x80000000UL)
		snprintf(out, size, "failed, 0x%08lX%s%s%s", u,
			 what ? " (" : "", what ? what : "", what ? ")" : "");
	else
		snprintf(out, size, "failed, exit code %ld", st->code);
	return out;
}

static json_t *
log_json(const struct fb_outcome *l)
{
	json_t *steps = json_array();
	char hex[16];
	size_t i;

	for (i = 0; i < l->nsteps; i++) {
		unsigned long u = (unsigned long)l->steps[i].code &
				  0xffffffffUL;
		const char *what = sl_error_text(u);

		snprintf(hex, sizeof(hex), "0x%08lX", u);
		json_array_append_new(steps, json_pack(
			"{s:s, s:I, s:s, s:o}", "step", l->steps[i].label,
			"exit_code", (json_int_t)l->steps[i].code, "hex", hex,
			"meaning", what ? json_string(what) : json_null()));
	}
	return json_pack("{s:i, s:s, s:o, s:o, s:o}", "runs", (int)l->runs,
			 "last_started", l->started, "steps", steps,
			 "client_machine_id", l->cmid[0] ?
			 json_string(l->cmid) : json_null(), "license_status",
			 l->license_status < 0 ? json_null() :
			 json_integer(l->license_status));
}

static void
log_text(const struct fb_outcome *l)
{
	char q[128], t[160];
	size_t i;
	int rearm = -1;

	printf("    first-boot log (%%WINDIR%%\\" FIRSTBOOT_DIR "\\firstboot.log): "
	       "%u run%s, the last started %s\n", l->runs,
	       l->runs == 1 ? "" : "s", kp_quote(l->started, q, sizeof(q)));
	for (i = 0; i < l->nsteps; i++) {
		if (strcmp(l->steps[i].label, "rearm") == 0)
			rearm = l->steps[i].code == 0;
		printf("      %s: %s\n", kp_quote(l->steps[i].label, q,
						     sizeof(q)),
		       step_text(&l->steps[i], t, sizeof(t)));
	}
	if (rearm >= 0)
		printf("      client machine ID: %s\n", rearm ?
		       "reset (the rearm succeeded)" :
		       "not reset: this copy shares the image's");
	if (l->license_status >= 0)
		printf("      license status %ld%s\n", l->license_status,
		       l->license_status == 1 ? " (licensed)" : "");
}

static const char *const cbi_names[] = { CBI_CONF, CBI_UNATTEND };

static json_t *
tri_json(int v)
{
	return v < 0 ? json_null() : json_boolean(v);
}

/* Does cloudbase-init's kms_host differ from the registry's host? */
static bool
cbi_conflict(const struct stage *g, const struct cbi_conf *c)
{
	return c->plugin && c->kms_host[0] &&
	       strcasecmp(c->kms_host, g->kms_host) != 0;
}

static json_t *
cbi_json(const struct stage *g)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < 2; i++) {
		const struct cbi_conf *c = &g->cbi[i];

		if (!g->has_cbi[i])
			continue;
		json_array_append_new(a, json_pack(
			"{s:s, s:b, s:o, s:o, s:o, s:o, s:b}", "file",
			cbi_names[i], "licensing_plugin", c->plugin,
			"activate_windows", tri_json(c->activate_windows),
			"set_kms_product_key", tri_json(c->set_kms_product_key),
			"set_avma_product_key",
			tri_json(c->set_avma_product_key), "kms_host",
			c->kms_host[0] ? json_string(c->kms_host) : json_null(),
			"conflicts_with_registry", cbi_conflict(g, c)));
	}
	return a;
}

static const char *
tri(int v)
{
	return v < 0 ? "not set (off)" : v ? "on" : "off";
}

static void
cbi_text(const struct stage *g)
{
	char q[300], h[300];
	size_t i;

	for (i = 0; i < 2; i++) {
		const struct cbi_conf *c = &g->cbi[i];

		if (!g->has_cbi[i])
			continue;
		printf("    cloudbase-init (%s): licensing plugin %s", cbi_names[i],
		       c->plugin ? "runs" : "not in plugins=");
		if (c->plugin)
			printf("; activate_windows %s, set_kms_product_key %s, "
			       "set_avma_product_key %s, kms_host %s",
			       tri(c->activate_windows),
			       tri(c->set_kms_product_key),
			       tri(c->set_avma_product_key), c->kms_host[0] ?
			       kp_quote(c->kms_host, q, sizeof(q)) : "not set");
		printf("\n");
		if (cbi_conflict(g, c))
			printf("    note: cloudbase-init sets KMS host %s at "
			       "every boot, over the registry's %s (image set "
			       "--cloudbase-init host makes them agree)\n",
			       kp_quote(c->kms_host, q, sizeof(q)),
			       g->kms_host[0] ? kp_quote(g->kms_host, h,
							 sizeof(h)) :
						"(none: DNS discovery)");
		if (c->plugin)
			printf("    note: a cloud's metadata service may also "
			       "give cloudbase-init a KMS host at boot\n");
	}
}


void
fb_report_json(const struct stage *g, json_t *o)
{
	json_object_set_new(o, "guestfs_firstboot", json_pack(
		"{s:b, s:[s*,s*]}", "installed", g->guestfs, "kmsprep_scripts",
		g->guestfs_one ? GUESTFS_ONE : NULL,
		g->guestfs_two ? GUESTFS_TWO : NULL));
	json_object_set_new(o, "first_boot_gvlk", g->staged_gvlk ?
			    json_pack("{s:s, s:s, s:b}", "key", g->staged_gvlk,
				      "script", g->gvlk_script, "rearm",
				      !g->gvlk_key_only) : json_null());
	json_object_set_new(o, "first_boot_log", g->has_log ?
			    log_json(&g->log) : json_null());
	json_object_set_new(o, "cloudbase_init", cbi_json(g));
}

void
fb_report_text(const struct stage *g)
{
	/* virt-customize and virt-v2v install a service of their own. */
	if (g->guestfs || g->guestfs_one || g->guestfs_two)
		printf("    libguestfs firstboot service: %s; kmsprep's scripts "
		       "there: %s%s%s\n", g->guestfs ? "installed, runs "
		       GUESTFS_LABEL "*.bat in name order, one per boot" :
		       "not installed (its scripts will not run)",
		       g->guestfs_one ? GUESTFS_ONE : "",
		       g->guestfs_one && g->guestfs_two ? ", " : "",
		       g->guestfs_two ? GUESTFS_TWO :
		       g->guestfs_one ? "" : "none");
	/* GVLKs are public: shown. */
	if (g->staged_gvlk)
		printf("    first boot installs KMS client setup key %s (%s), "
		       "%s\n", g->staged_gvlk, g->gvlk_script,
		       g->gvlk_key_only ? "then activates; no rearm" :
					  "before the rearm");
	if (g->has_log)
		log_text(&g->log);
	cbi_text(g);
}

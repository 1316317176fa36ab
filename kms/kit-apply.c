/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Applying a lab KMS host kit to a Windows installation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hive/system.h"
#include "kit-apply.h"
#include "lib/valid.h"

#define KIT_REL "windows/" BOOTHOOK_KIT_DIR "/"
#define KIT_LABEL "%WINDIR%\\" KIT_DIR "\\"
#define WRAPPER BOOTHOOK_KIT_WRAPPER

/* The line that runs the kit's script. */
static const char call_line[] =
	"call \"%SystemRoot%\\" KIT_DIR "\\" KIT_SCRIPT "\"";

/* gen_add_file with the kit's directory and file NAME. */
static int
kit_file(struct img_session *s, const struct img_root *r,
	 const struct kit *k, const char *name, bool secret,
	 struct stage *p, struct kp_error *err)
{
	const struct kit_file *f = kit_find(k, name);
	struct buf text = BUF_INIT;
	char rel[128], label[128];

	if (f == NULL)
		return 0;
	if (buf_add(&text, f->data, f->len) < 0)
		return kp_fail_oom(err);
	snprintf(rel, sizeof(rel), KIT_REL "%s", name);
	snprintf(label, sizeof(label), "%s%s", KIT_LABEL, name);
	return gen_add_file(s, r, rel, label, &text, secret, p, err);
}

/* The first-boot hook of an image that is not generalized: a wrapper that
 * clears the hook first, then runs the kit's script. */
int
kit_wrapper_script(struct buf *w)
{
	int rc;

	rc = bat_line(w, "@echo off");
	rc |= bat_line(w, "rem Written by kmsprep (kms kit apply): runs once "
		       "as SYSTEM at the next boot.");
	rc |= bat_line(w, "rem First of all: never run again, whatever "
		       "happens.");
	rc |= bat_clear_hook(w);
	rc |= bat_line(w, "%s", call_line);
	rc |= bat_line(w, "exit /b 0");
	return rc ? -1 : 0;
}

static int
first_boot(struct img_session *s, const struct img_root *r,
	   struct hive *system, struct hive_changes *c, struct stage *p,
	   struct kp_error *err)
{
	struct buf w = BUF_INIT;

	if (kit_wrapper_script(&w) < 0) {
		buf_release(&w);
		return kp_fail_oom(err);
	}
	if (gen_add_file(s, r, "windows/" FIRSTBOOT_DIR "/" WRAPPER,
			 "%WINDIR%\\" FIRSTBOOT_DIR "\\" WRAPPER, &w, false, p,
			 err) < 0)
		return -1;
	return setup_stage(system, FIRSTBOOT_CMDLINE(WRAPPER), c, err);
}

int
kit_stage(struct img_session *s, const struct img_root *r, const struct kit *k,
	  struct hive *software, struct hive *system, struct hive_changes *c,
	  struct stage *p, struct kp_error *err)
{
	struct spp_settings set;
	struct winver v = { 0 };
	struct setup_state st = { 0 };
	struct buf ps1 = BUF_INIT;
	char *state = NULL, name[160], q[300], rule[128];
	int rc = -1, fw;

	memset(p, 0, sizeof(*p));
	spp_settings_init(&set);
	if (kit_settings(k, &set, err) < 0 || winver_read(software, &v, err) < 0 ||
	    spp_check_hive(software, &v, true, false, err) < 0)
		goto out;
	if (v.install_type && strncasecmp(v.install_type, "Server", 6) != 0 &&
	    gen_note(p, "this is not Windows Server (InstallationType %s): "
		     "only a KMS host key for client editions installs here",
		     v.install_type) < 0)
		goto oom;
	if (!k->has_key &&
	    gen_note(p, "the kit holds no key: install it at the host with "
		     "slmgr.vbs /ipk, then slmgr.vbs /ato") < 0)
		goto oom;
	if (spp_apply(&set, software, &v, c, err) < 0)
		goto out;
	/* Windows Server's own rule, scoped to sppsvc, where the image has
	 * one for this port; else a rule of ours for the port. */
	fw = sys_firewall_enable_service(system, "sppsvc", k->port, rule,
					 sizeof(rule), c, err);
	if (fw < 0)
		goto out;
	if (fw > 0 && gen_note(p, "firewall: Windows' own inbound rule for "
			       "the Software Protection service on TCP %u "
			       "(%s) enabled", k->port, rule) < 0)
		goto oom;
	snprintf(name, sizeof(name), "Key Management Service (kmsprep, TCP "
		 "%u)", k->port);
	if (fw == 0 &&
	    sys_firewall_allow_tcp(system, KIT_FIREWALL_ID, k->port, name,
				   "Inbound rule for the lab KMS host: clients "
				   "activate over this port",
				   c, err) < 0)
		goto out;
	if (ps1_licensing(&ps1) < 0)
		goto oom;
	if (kit_file(s, r, k, KIT_SCRIPT, false, p, err) < 0 ||
	    gen_add_file(s, r, "windows/" FIRSTBOOT_DIR "/" FIRSTBOOT_PS1,
			 "%WINDIR%\\" FIRSTBOOT_DIR "\\" FIRSTBOOT_PS1, &ps1,
			 false, p, err) < 0 ||
	    kit_file(s, r, k, KIT_KEY, true, p, err) < 0 ||
	    kit_file(s, r, k, KIT_OFFICE_PACK, false, p, err) < 0 ||
	    kit_file(s, r, k, KIT_OFFICE_KEY, true, p, err) < 0)
		goto out;
	/* A key left by an earlier kit would be installed by this kit's
	 * script, which finds it beside itself. */
	if (!k->has_key &&
	    gen_remove_file(s, r, KIT_REL KIT_KEY, KIT_LABEL KIT_KEY, p,
			    err) < 0)
		goto out;
	if (!k->has_office_key &&
	    gen_remove_file(s, r, KIT_REL KIT_OFFICE_KEY,
			    KIT_LABEL KIT_OFFICE_KEY, p, err) < 0)
		goto out;
	if (k->office && !k->has_office_key &&
	    gen_note(p, "the kit holds no Office key: install it at the host "
		     "with slmgr.vbs /ipk, then slmgr.vbs /ato %s",
		     k->office->act) < 0)
		goto oom;
	state = gen_image_state(software, err);
	if (gen_setup_pending(state)) {
		rc = gen_setup_complete(s, r, call_line,
					"the lab KMS host kit", p, err);
	} else {
		/* One hook, one command: a clone-mode first boot that is
		 * staged must not be replaced. */
		if (setup_read(system, &st, err) < 0)
			goto out;
		if (st.ours && st.setup_type &&
		    strcasecmp(st.cmdline, FIRSTBOOT_CMDLINE(WRAPPER)) != 0) {
			kp_fail(err, KP_ERR_REFUSED, "another kmsprep first "
				"boot is staged (%s); it would be replaced",
				kp_quote(st.cmdline, q, sizeof(q)));
			goto out;
		}
		rc = first_boot(s, r, system, c, p, err);
	}
	if (rc == 0)
		rc = gen_check_dirs(s, p, err);
	goto out;
oom:
	kp_fail_oom(err);
out:
	setup_release(&st);
	buf_release(&ps1);
	free(state);
	winver_release(&v);
	spp_settings_release(&set);
	return rc;
}

int
kit_plan_step(const void *ud, struct img_session *s, const struct img_root *r,
	      struct hive *software, struct hive *system,
	      struct hive_changes *c, struct stage *p, struct kp_error *err)
{
	return kit_stage(s, r, ud, software, system, c, p, err);
}

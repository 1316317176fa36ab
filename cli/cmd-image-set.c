/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kmsprep image set */
#include <stdlib.h>
#include <string.h>

#include "image.h"

static int
opt_search(struct cli *c, void *ud, const char *name, const char *arg,
	   struct kp_error *err)
{
	struct image_args *a = ud;

	(void)c;
	(void)name;
	if (a->search || a->clear_search)
		return kp_fail(err, KP_ERR_INVALID,
			       "--dns-search-list given twice or with "
			       "--clear-dns-search-list");
	a->search = arg;
	return sys_parse_search_list(arg, &a->search_norm, err);
}

static int
opt_clear_search(struct cli *c, void *ud, const char *name, const char *arg,
		 struct kp_error *err)
{
	struct image_args *a = ud;

	(void)c;
	(void)name;
	(void)arg;
	if (a->search)
		return kp_fail(err, KP_ERR_INVALID,
			       "--clear-dns-search-list conflicts with "
			       "--dns-search-list");
	a->clear_search = true;
	return 0;
}

/*
 * set
 */

static const struct cli_opt set_opts[] = {
	IMAGE_WRITE_OPTS,
	OPT_FN("dns-search-list", 0, "SUFFIX[,SUFFIX...]", opt_search,
	  "DNS suffix search list of the client (SYSTEM hive, current control "
	  "set, Services\\Tcpip\\Parameters\\SearchList), so that it finds "
	  "KMS SRV records published in other domains"),
	OPT_FN("clear-dns-search-list", 0, NULL, opt_clear_search,
	       "remove the DNS suffix search list"),
	OPT_STRING("cloudbase-init", 0, "host|activate|off", ARGS, cloudbase,
	  "also write the KMS host into cloudbase-init's configuration "
	  "(kms_host; its licensing plugin sets it at every boot), keeping "
	  "the rest of the file; activate also turns activate_windows and "
	  "set_kms_product_key on, off turns them off"),
	OPT_SETTINGS(ARGS, settings, NULL),
	OPT_END(),
};

static const struct cli_help set_help = {
	"image set IMAGE... [--dry-run] [--overlay OUT.qcow2] SETTINGS...",
	"Set KMS settings in the Windows installation of every IMAGE (one "
	"sandboxed worker per image, or one appliance launch for all: see "
	"--backend). Every image is checked and its hives prepared "
	"before any is written: a hibernated or Fast Startup volume, a locked "
	"BitLocker volume, an image in use by a running VM or a dirty hive "
	"whose logs cannot be replayed is refused (exit 4, unless "
	"--force-dirty) and no image is changed; a dirty hive whose logs "
	"replay is written with their changes. Each hive is replaced atomically inside the image (temporary "
	"name, rename) keeping its NTFS security, and read back.",
	set_opts, NULL,
};

static unsigned
need_system(const struct image_args *a)
{
	return a->search || a->clear_search ? HIVE_WRITE : 0;
}

static int
prepare_set(struct cli *c, struct img_session *s, const struct image_args *a,
	size_t i, struct target *t)
{
	struct kp_error err = KP_ERROR_INIT;
	struct winver ver = { 0 };
	char label[512];
	size_t from;
	int r = -1;

	if (!spp_settings_empty(&a->settings)) {
		char *script;
		bool staged;

		from = t->changes.n;
		if (image_open_hive(c, s, a, i, t, "SOFTWARE", HIVE_WRITE, &t->sw,
			      &err) < 0 ||
		    winver_read(t->sw.h, &ver, &err) < 0 ||
		    spp_check_hive(t->sw.h, &ver, true, false, &err) < 0 ||
		    spp_apply(&a->settings, t->sw.h, &ver, &t->changes,
			      &err) < 0)
			goto fail;
		snprintf(label, sizeof(label), "%s: SOFTWARE", img_name(s, i));
		hive_changes_label(&t->changes, from, label);
		/* A clone-mode first boot puts the values it was written with
		 * back after the rearm: it must carry the new ones. */
		script = img_path(s, t->root, "windows/" FIRSTBOOT_DIR
				  "/firstboot.cmd", &staged, &err);
		if (script == NULL)
			goto fail;
		free(script);
		if (!staged) {
			script = img_path(s, t->root, GUESTFS_DIR "/scripts/"
					  GUESTFS_ONE, &staged, &err);
			if (script == NULL)
				goto fail;
			free(script);
		}
		if (staged && t->changes.n > from &&
		    (image_open_hive(c, s, a, i, t, "SYSTEM", need_system(a), &t->sy,
			       &err) < 0 ||
		     gen_refresh(s, t->root, t->sw.h, t->sy.h, &t->plan,
				 &err) < 0 ||
		     gen_check_dirs(s, &t->plan, &err) < 0))
			goto fail;
		/* After gen_refresh, which starts the plan afresh. */
		if (a->cloudbase &&
		    (gen_cloudbase(s, t->root, t->sw.h, a->cloudbase,
				   &t->plan, &err) < 0 ||
		     gen_check_dirs(s, &t->plan, &err) < 0))
			goto fail;
		if (!a->dry_run && winhive_commit(&t->sw, &err) < 0)
			goto fail;
	}
	if (a->search || a->clear_search) {
		from = t->changes.n;
		if ((t->sy.h == NULL &&
		     image_open_hive(c, s, a, i, t, "SYSTEM", HIVE_WRITE, &t->sy,
			       &err) < 0) ||
		    sys_apply_search_list(t->sy.h, a->search_norm, &t->changes,
					  &err) < 0)
			goto fail;
		snprintf(label, sizeof(label), "%s: SYSTEM", img_name(s, i));
		hive_changes_label(&t->changes, from, label);
		if (!a->dry_run && winhive_commit(&t->sy, &err) < 0)
			goto fail;
	}
	r = 0;
	goto out;
fail:
	kp_error_prefix(&err, "'%s'", img_name(s, i));
	r = cli_fail(c, &err);
out:
	winver_release(&ver);
	return r;
}

int
cmd_image_set(struct cli *c, int argc, char **argv)
{
	struct image_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	char **pos;
	int npos, code = 0;

	spp_settings_init(&a.settings);
	if (cli_parse(c, argc, argv, &set_help, &a, &pos, &npos,
		      &code))
		goto done;
	if (npos < 1) {
		code = cli_usage(c, "expected at least one IMAGE");
		goto done;
	}
	if (spp_settings_empty(&a.settings) && !a.search && !a.clear_search) {
		code = cli_usage(c, "no setting given");
		goto done;
	}
	if (a.cloudbase && spp_settings_empty(&a.settings)) {
		code = cli_usage(c, "--cloudbase-init goes with a KMS setting "
				 "(such as --kms-host)");
		goto done;
	}
	if (spp_settings_check(&a.settings, &err) < 0) {
		code = cli_usage(c, "%s", err.msg);
		goto done;
	}
	if (a.overlay && npos != 1) {
		code = cli_usage(c, "--overlay takes a single IMAGE");
		goto done;
	}
	code = image_run_batch(c, &a, pos, npos, prepare_set);
done:
	image_args_release(&a);
	return code;
}


/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kmsprep image set */
#include <stdlib.h>
#include <string.h>

#include "cmd-image.h"

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
	OPT_STRING("cloud", 0, "azure|aws|gcp", ARGS, cloud,
	  "point the image at that cloud's own KMS host (as the cloud "
	  "documents it), and stage the KMS client setup key of its edition "
	  "(--gvlk auto unless given); refused for an edition the cloud's "
	  "KMS does not activate"),
	OPT_STRING("gvlk", 0, "auto|KEY|none", ARGS, gvlk,
	  "at the next boot, install a KMS client setup key, then activate "
	  "with the KMS settings written (no rearm); into the clone-mode "
	  "first boot instead if one is staged. auto picks the key of the "
	  "image's edition and build unless it holds a volume license key "
	  "already; KEY must be one of Microsoft's table; none removes what "
	  "--gvlk staged"),
	OPT_BOOL("gvlk-unlisted", 0, ARGS, gvlk_unlisted,
	  "with --gvlk KEY: install it although Microsoft's table lists no "
	  "key for the image's edition and build, so that it cannot be "
	  "checked (a key of another listed edition is always refused)"),
	IMAGE_EVENTS_OPT,
	OPT_SETTINGS(ARGS, settings, NULL),
	OPT_END(),
};

static const struct cli_help set_help = {
	.usage = "image set IMAGE... [--dry-run] [--overlay OUT] "
	"[--gvlk auto|KEY|none] SETTINGS...",
	.about = "Set KMS settings in the Windows installation of every IMAGE "
	"(one sandboxed worker per image, or one appliance launch for all: "
	"see --backend). Every image is checked and its hives prepared before "
	"any is written: a hibernated or Fast Startup volume, a locked "
	"BitLocker volume, an image in use by a running VM or a dirty hive "
	"whose logs cannot be replayed is refused (exit 4, unless "
	"--force-dirty) and no image is changed; a dirty hive whose logs "
	"replay is written with their changes. Each hive is written as "
	"Windows writes it: only the changed pages, first to its transaction "
	"log (.LOG1 or .LOG2, made if missing), then in place, each step "
	"flushed and read back; a dirty hive, or one with Windows Vista to "
	"8.0's logs, is replaced whole (temporary name keeping its NTFS "
	"security, SHA-256 check, rename).",
	.opts = set_opts,
};

int
cmd_image_set(struct cli *c, int argc, char **argv)
{
	struct image_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct img_plan plan;
	const struct kms_cloud *cloud = NULL;
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
	if (a.cloud) {
		cloud = cloud_find(a.cloud, &err);
		if (cloud == NULL) {
			code = cli_usage(c, "--cloud: %s", err.msg);
			goto done;
		}
		if (spp_settings_option(&a.settings, "kms-host", cloud->host,
					&err) < 0) {
			code = cli_usage(c, "--cloud names the KMS host itself: "
					 "give --cloud or --kms-host");
			goto done;
		}
		if (a.gvlk == NULL)
			a.gvlk = "auto";
	}
	if (spp_settings_empty(&a.settings) && !a.search && !a.clear_search &&
	    !a.gvlk) {
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
	}	cli_settings_warning(c, &a.settings, NULL);

	if (a.overlay && npos != 1) {
		code = cli_usage(c, "--overlay takes a single IMAGE");
		goto done;
	}
	plan = image_plan(c, &a);
	plan.settings = &a.settings;
	plan.search = a.search_norm;
	plan.clear_search = a.clear_search;
	plan.cloudbase = a.cloudbase;
	plan.gvlk = a.gvlk;
	plan.gvlk_unlisted = a.gvlk_unlisted;
	plan.cloud = cloud;
	code = image_run_batch(c, &a, pos, npos, &plan);
done:
	image_args_release(&a);
	return code;
}


/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kmsprep image generalize, kms kit apply */
#include <stdlib.h>
#include <string.h>

#include "cmd-image.h"

static int
opt_mode(struct cli *c, void *ud, const char *name, const char *arg,
	 struct kp_error *err)
{
	struct image_args *a = ud;

	(void)c;
	(void)name;
	if (strcmp(arg, "sysprep") == 0)
		a->mode = GEN_SYSPREP;
	else if (strcmp(arg, "clone") == 0)
		a->mode = GEN_CLONE;
	else
		return kp_fail(err, KP_ERR_INVALID,
			       "--mode: '%s': expected sysprep or clone", arg);
	return 0;
}

/*
 * generalize
 */

static const struct cli_opt gen_opts[] = {
	OPT_FN("mode", 0, "sysprep|clone", opt_mode,
	  "sysprep (the default): the image will be sealed with sysprep "
	  "/generalize; make sure that run rearms.  clone: the image is "
	  "copied as it is; stage a rearm at the first boot of each copy"),
	OPT_BOOL("activate", 0, ARGS, activate,
	  "clone mode: activate (slmgr /ato) right after the restart that "
	  "follows the rearm, instead of at the next two-hourly attempt"),
	OPT_STRING("gvlk", 0, "auto|KEY|none", ARGS, gvlk,
	  "install a KMS client setup key: clone mode at the first boot, "
	  "before the rearm; sysprep mode as the ProductKey of "
	  "Microsoft-Windows-Shell-Setup in the specialize pass of the answer "
	  "file (a different one there is replaced only for a KEY given). "
	  "auto picks the one of the image's edition and build (kmsprep kms "
	  "gvlk) unless it holds a volume license key already; KEY must be "
	  "one of Microsoft's table (none: the default)"),
	OPT_BOOL("gvlk-unlisted", 0, ARGS, gvlk_unlisted,
	  "with --gvlk KEY: install it although Microsoft's table lists no "
	  "key for the image's edition and build, so that it cannot be "
	  "checked (a key of another listed edition is always refused)"),
	IMAGE_EVENTS_OPT,
	IMAGE_WRITE_OPTS,
	OPT_END(),
};

static const struct cli_help gen_help = {
	.usage = "image generalize IMAGE... [--mode sysprep|clone] "
	"[--activate] [--gvlk auto|KEY|none] [--dry-run]",
	.about = "Stage activation generalization, so that every copy of the "
	"image gets its own KMS client machine ID (without one, the KMS host "
	"counts all copies as one machine and never reaches its threshold). "
	"sysprep mode sets SkipRearm 0 in the registry and in the generalize "
	"pass of the answer file sysprep will use (following Windows' search "
	"order, including SYSTEM\\Setup\\UnattendFile), editing it with "
	"libxml2 so that everything else in it is kept, or creating "
	"%WINDIR%\\System32\\Sysprep\\Unattend.xml. clone mode stages a "
	"script that Windows runs once as SYSTEM at the next boot, before "
	"anyone logs on (SYSTEM\\Setup CmdLine): it rearms, puts the KMS "
	"settings back, restarts once and logs to "
	"%WINDIR%\\kmsprep\\firstboot.log; where libguestfs' firstboot "
	"service is installed (virt-v2v, virt-customize), its scripts go into "
	"that service's folder instead. Running it again changes nothing.",
	.opts = gen_opts,
};

int
cmd_image_generalize(struct cli *c, int argc, char **argv)
{
	struct image_args a = { 0 };
	struct img_plan plan;
	char **pos;
	int npos, code = 0;

	spp_settings_init(&a.settings);
	if (cli_parse(c, argc, argv, &gen_help, &a, &pos, &npos,
		      &code))
		goto done;
	if (npos < 1) {
		code = cli_usage(c, "expected at least one IMAGE");
		goto done;
	}
	if (a.activate && a.mode != GEN_CLONE) {
		code = cli_usage(c, "--activate goes with --mode clone");
		goto done;
	}
	if (a.overlay && npos != 1) {
		code = cli_usage(c, "--overlay takes a single IMAGE");
		goto done;
	}
	plan = image_plan(c, &a);
	plan.both = img_plan_generalize;
	plan.both_ud = &(struct img_gen_opts){
		.mode = a.mode, .activate = a.activate, .gvlk = a.gvlk,
		.gvlk_unlisted = a.gvlk_unlisted,
	};
	code = image_run_batch(c, &a, pos, npos, &plan);
done:
	image_args_release(&a);
	return code;
}

/*
 * kms kit apply: an image command, sharing the batch above.
 */

static const struct cli_opt kit_apply_opts[] = {
	OPT_STRING("pubkey", 0, "PUBLIC.pem", ARGS, pubkey,
	  "require the kit's signature to be valid for this Ed25519 key"),
	OPT_BOOL("allow-unsigned", 0, ARGS, allow_unsigned,
	  "accept an unsigned kit knowingly (its scripts run as SYSTEM at "
	  "first boot, and nothing shows who made them)"),
	IMAGE_WRITE_OPTS,
	OPT_END(),
};

static const struct cli_help kit_apply_help = {
	.usage = "kms kit apply KIT SERVER-IMAGE [--pubkey PUBLIC.pem] "
	"[--allow-unsigned] [--dry-run]",
	.about = "Verify KIT (as 'kms kit verify' does) and apply it to the "
	"Windows Server installation in SERVER-IMAGE (see --backend): the KMS "
	"host settings into the SOFTWARE hive, an inbound allow rule for the "
	"KMS port into the SYSTEM hive's firewall rules (current control "
	"set), and the kit's first-boot script, with the key readable by "
	"SYSTEM and Administrators only, into %WINDIR%\\kmsprep\\kit. The "
	"script runs from SetupComplete.cmd on an image sealed with sysprep "
	"(ImageState *_RESEAL_TO_*; called first, existing commands kept), "
	"else from the SYSTEM\\Setup first-boot command. A key left by an "
	"earlier kit is removed when the new kit has none. Signatures are "
	"checked as 'kms kit verify' does: a signed kit needs --pubkey or a "
	"trusted key, an unsigned one --allow-unsigned. Files are written "
	"before the hives, each atomically and read back. Applying a kit "
	"twice changes nothing.",
	.opts = kit_apply_opts,
};

int
cmd_kms_kit_apply(struct cli *c, int argc, char **argv)
{
	struct image_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct spp_settings check;
	struct img_plan plan;
	char **pos;
	int npos, code = 0;

	spp_settings_init(&a.settings);
	spp_settings_init(&check);
	if (cli_parse(c, argc, argv, &kit_apply_help, &a, &pos,
		      &npos, &code))
		goto done;
	if (npos != 2) {
		code = cli_usage(c, "expected KIT and one SERVER-IMAGE");
		goto done;
	}
	/* The whole kit is checked before the appliance starts. */
	if (kit_open(pos[0], &(struct kit_trust){ a.pubkey, a.allow_unsigned },
		     &a.kit, &err) < 0 ||
	    kit_settings(&a.kit, &check, &err) < 0) {
		code = cli_error(c, &err);
		goto done;
	}
	if (!c->quiet)
		cli_note(c, "kit '%s' verified (%s)", pos[0],
			 a.kit.sig_checked ? "signature checked" :
					     "unsigned");
	plan = image_plan(c, &a);
	plan.both = kit_plan_step;
	plan.both_ud = &a.kit;
	code = image_run_batch(c, &a, pos + 1, 1, &plan);
done:
	spp_settings_release(&check);
	image_args_release(&a);
	return code;
}

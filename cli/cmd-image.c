/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kmsprep image show|set */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hive/spp.h"
#include "hive/system.h"
#include "kms/kit-apply.h"
#include "lib/escape.h"
#include "lib/valid.h"
#include "prep/generalize.h"
#include "prep/image.h"
#include "prep/winhive.h"
#include "report.h"

struct image_args {
	bool json, dry_run, clear_search, activate;
	unsigned hive_flags;	/* HIVE_FORCE_DIRTY */
	enum gen_mode mode;
	const char *format, *overlay, *bitlocker, *search, *gvlk, *cloudbase;
	char *search_norm;
	const char **roots;
	size_t nroots;
	struct spp_settings settings;
	struct cli *cli;
	const char *pubkey;	/* kms kit apply */
	bool allow_unsigned;	/* kms kit apply */
	struct kit kit;
};

static int
image_opt(struct cli *c, void *ud, const char *name, const char *arg,
	  struct kp_error *err)
{
	struct image_args *a = ud;

	if (strcmp(name, "json") == 0) {
		a->json = true;
	} else if (strcmp(name, "dry-run") == 0) {
		a->dry_run = true;
	} else if (strcmp(name, "force-dirty") == 0) {
		a->hive_flags |= HIVE_FORCE_DIRTY;
	} else if (strcmp(name, "quiet") == 0) {
		c->quiet = true;
	} else if (strcmp(name, "format") == 0) {
		a->format = arg;
	} else if (strcmp(name, "overlay") == 0) {
		a->overlay = arg;
	} else if (strcmp(name, "activate") == 0) {
		a->activate = true;
	} else if (strcmp(name, "gvlk") == 0) {
		a->gvlk = arg;
	} else if (strcmp(name, "cloudbase-init") == 0) {
		a->cloudbase = arg;
	} else if (strcmp(name, "mode") == 0) {
		if (strcmp(arg, "sysprep") == 0)
			a->mode = GEN_SYSPREP;
		else if (strcmp(arg, "clone") == 0)
			a->mode = GEN_CLONE;
		else
			return kp_fail(err, KP_EXIT_USAGE,
				       "--mode: '%s': expected sysprep or clone",
				       arg);
	} else if (strcmp(name, "pubkey") == 0) {
		a->pubkey = arg;
	} else if (strcmp(name, "allow-unsigned") == 0) {
		a->allow_unsigned = true;
	} else if (strcmp(name, "bitlocker-key-file") == 0) {
		a->bitlocker = arg;
	} else if (strcmp(name, "root") == 0) {
		const char **r = realloc(a->roots,
					 (a->nroots + 1) * sizeof(*r));

		if (r == NULL)
			return kp_fail_oom(err);
		a->roots = r;
		r[a->nroots++] = arg;
	} else if (strcmp(name, "dns-search-list") == 0) {
		if (a->search || a->clear_search)
			return kp_fail(err, KP_EXIT_USAGE,
				       "--dns-search-list given twice or with "
				       "--clear-dns-search-list");
		a->search = arg;
		return sys_parse_search_list(arg, &a->search_norm, err);
	} else if (strcmp(name, "clear-dns-search-list") == 0) {
		if (a->search)
			return kp_fail(err, KP_EXIT_USAGE,
				       "--clear-dns-search-list conflicts with "
				       "--dns-search-list");
		a->clear_search = true;
	} else {
		return spp_settings_option(&a->settings, name, arg, err);
	}
	return 0;
}

static void
notice(void *ud, const char *msg)
{
	struct cli *c = ud;

	if (!c->quiet)
		cli_note(c, "%s", msg);
}

/* Said even with --quiet. */
static void
warning(void *ud, const char *msg)
{
	cli_note(ud, "%s", msg);
}

#define IMAGE_COMMON_OPTS \
	{ "format", 0, "raw|qcow2|vmdk|vhdx", \
	  "the format of every IMAGE (default: detected)" }, \
	{ "root", 0, "DEVICE", \
	  "the Windows installation to use on an image that holds several " \
	  "(as listed by image show, e.g. /dev/sda2); repeatable" }, \
	{ "bitlocker-key-file", 0, "FILE", \
	  "unlock BitLocker volumes with the recovery password in FILE" }, \
	{ "quiet", 'q', NULL, "no progress messages on standard error" }

/* The options of every command that writes images. */
#define IMAGE_WRITE_OPTS \
	{ "dry-run", 'n', NULL, \
	  "print the changes (before -> after) and write nothing; the images " \
	  "are opened read-only" }, \
	{ "overlay", 0, "OUT.qcow2", \
	  "leave IMAGE unmodified and write the changes to a new qcow2 " \
	  "overlay backed by it (one IMAGE only)" }, \
	{ "force-dirty", 0, NULL, \
	  "write a dirty hive whose logs cannot be replayed (or only in part); " \
	  "Windows' pending changes in them are lost" }, \
	{ "json", 0, NULL, "print JSON instead of text" }, \
	IMAGE_COMMON_OPTS

static void
args_release(struct image_args *a)
{
	kit_release(&a->kit);
	spp_settings_release(&a->settings);
	free(a->search_norm);
	free(a->roots);
}

/* Open the images and find Windows; prints its own errors. */
static int
open_images(struct cli *c, struct image_args *a, char **pos, int npos,
	    bool readonly, struct img_session **s)
{
	struct img_opts o = { 0 };
	struct kp_error err = KP_ERROR_INIT;

	o.format = a->format;
	o.readonly = readonly;
	o.overlay = a->overlay;
	o.bitlocker_key_file = a->bitlocker;
	o.notice = notice;
	o.warn = warning;
	o.ud = c;
	if (img_open(pos, (size_t)npos, &o, s, &err) < 0 ||
	    img_find_windows(*s, &err) < 0) {
		img_close(*s, false, NULL);
		*s = NULL;
		return err.code == KP_EXIT_USAGE ? cli_usage(c, "%s", err.msg) :
						   cli_error(c, &err);
	}
	return 0;
}

/*
 * show
 */

static const struct cli_opt show_opts[] = {
	{ "json", 0, NULL, "print JSON instead of text" },
	IMAGE_COMMON_OPTS,
	{ NULL, 0, NULL, NULL },
};

static const struct cli_help show_help = {
	"image show IMAGE... [--json]",
	"For each image and each Windows installation on it: the Windows "
	"version and edition, every KMS setting (as 'hive show'), whether the "
	"SOFTWARE hive is dirty, the DNS suffix search list, and whether the "
	"volume can be written (hibernation, Fast Startup, BitLocker). The "
	"images are opened read-only, all in one appliance.",
	show_opts, false, NULL, NULL,
};

/* The SYSTEM hive's state: image set writes it too (--dns-search-list,
 * first-boot hooks), so its dirty state matters as SOFTWARE's does. */
static json_t *
state_json(const struct hive_state *st)
{
	return json_pack("{s:b, s:b, s:s?}", "dirty", st->dirty,
			 "recovered_from_logs", st->recovered,
			 "logs_unusable_because",
			 st->dirty && !st->recovered ? st->logs.why : NULL);
}

static void
state_text(const struct hive_state *st)
{
	printf("    system hive: %s", !st->dirty ? "clean" :
	       st->recovered ? "dirty; its logs replay" : "dirty; logs not "
							  "usable: ");
	if (st->dirty && !st->recovered) {
		struct buf e = BUF_INIT;

		fputs(kp_escape_str(&e, st->logs.why), stdout);
		buf_release(&e);
	}
	putchar('\n');
}

static json_t *
notes_json(const struct gen_plan *p)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < p->nnotes; i++)
		json_array_append_new(a, json_string(p->notes[i]));
	return a;
}


static json_t *
gen_json(const struct gen_plan *g)
{
	json_t *o = json_object(), *files = json_array();
	size_t i;

	json_object_set_new(o, "image_state", g->image_state ?
			    json_string(g->image_state) : json_null());
	json_object_set_new(o, "skip_rearm", g->skip_rearm < 0 ? json_null() :
			    json_integer(g->skip_rearm));
	for (i = 0; i < g->nfiles; i++) {
		const struct gen_file *f = &g->files[i];

		json_array_append_new(files, json_pack(
			"{s:s, s:s, s:b, s:o}", "file", f->label, "path",
			f->guest, "generalize_pass", f->info.generalize,
			"skip_rearm", f->info.skip_rearm < 0 ? json_null() :
			json_integer(f->info.skip_rearm)));
	}
	json_object_set_new(o, "answer_files", files);
	json_object_set_new(o, "notes", notes_json(g));
	json_object_set_new(o, "first_boot", g->setup.cmdline &&
			    g->setup.cmdline[0] ?
			    json_pack("{s:s, s:i, s:b}", "cmdline",
				      g->setup.cmdline, "setup_type",
				      (int)g->setup.setup_type, "kmsprep",
				      g->setup.ours) : json_null());
	fb_report_json(g, o);
	return o;
}

static void
gen_text(const struct gen_plan *g)
{
	char q[512];
	size_t i;

	/* Registry text from the image is shown through kp_quote: it may
	 * hold control characters. */
	printf("    image state: %s\n",
	       g->image_state ? kp_quote(g->image_state, q, sizeof(q)) :
				"(not recorded)");
	printf("    SkipRearm (registry): %s\n",
	       g->skip_rearm < 0 ? "not set (0)" :
	       g->skip_rearm ? "1: sysprep /generalize and slmgr /rearm "
			       "would not reset the client machine ID" : "0");
	for (i = 0; i < g->nnotes; i++)
		printf("    note: %s\n", kp_quote(g->notes[i], q, sizeof(q)));
	if (g->nfiles == 0)
		printf("    answer files: none\n");
	for (i = 0; i < g->nfiles; i++) {
		const struct gen_file *f = &g->files[i];

		printf("    answer file %s: ", kp_quote(f->label, q, sizeof(q)));
		if (!f->info.generalize)
			printf("no generalize pass\n");
		else if (f->info.skip_rearm < 0)
			printf("generalize pass, SkipRearm not set (0)\n");
		else
			printf("generalize pass, SkipRearm %d\n",
			       f->info.skip_rearm);
	}
	if (g->setup.cmdline && g->setup.cmdline[0])
		printf("    first boot: %s (SetupType %u): %s\n",
		       g->setup.ours ? "kmsprep script staged" :
				       "runs at the next boot",
		       g->setup.setup_type,
		       kp_quote(g->setup.cmdline, q, sizeof(q)));
	else
		printf("    first boot: nothing staged\n");
	fb_report_text(g);
}

/* Everything shown about one installation. */
static int
show_root(struct cli *c, struct img_session *s, const struct img_root *r,
	  bool json, json_t *out)
{
	struct kp_error err = KP_ERROR_INIT;
	struct winhive sw = { 0 }, sy = { 0 };
	struct spp_report spp = { 0 };
	struct winver ver = { 0 };
	struct gen_plan gen = { 0 };
	struct hive_report rep;
	const char *why = img_root_unwritable(r);
	char *search = NULL, cs[32] = "";
	json_t *j;
	int code = 0;

	if (winhive_open(s, r, "SOFTWARE", 0, &sw, &err) < 0 ||
	    winver_read(sw.h, &ver, &err) < 0 ||
	    spp_read(sw.h, &ver, &spp, &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	if (winhive_open(s, r, "SYSTEM", 0, &sy, &err) < 0 ||
	    gen_inspect(s, r, sw.h, sy.h, &gen, &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	if (sys_control_set(sy.h, cs, sizeof(cs), &err) == 0)
		sys_read_search_list(sy.h, &search, &err);
	rep.label = sw.guest + strlen(r->mnt);
	rep.st = hive_state(sw.h);
	rep.ver = &ver;
	rep.spp = &spp;
	if (json) {
		j = json_object();
		json_object_set_new(j, "device", json_string(r->device));
		json_object_set_new(j, "systemroot",
				    json_string(r->systemroot + strlen(r->mnt)));
		json_object_set_new(j, "writable", json_boolean(why == NULL));
		if (why)
			json_object_set_new(j, "not_writable_because",
					    json_string(why));
		json_object_set_new(j, "bitlocker", json_boolean(r->bitlocker));
		json_object_set_new(j, "control_set",
				    cs[0] ? json_string(cs) : json_null());
		json_object_set_new(j, "dns_search_list",
				    search ? json_string(search) : json_null());
		json_object_set_new(j, "software", report_hive_json(&rep));
		json_object_set_new(j, "system_hive",
				    state_json(hive_state(sy.h)));
		json_object_set_new(j, "generalization", gen_json(&gen));
		json_array_append_new(out, j);
	} else {
		struct buf e[2] = { BUF_INIT, BUF_INIT };

		/* The image's own text, escaped (lib/escape.h). */
		printf("  windows: %s %s\n", r->device,
		       kp_escape_str(&e[0], r->systemroot + strlen(r->mnt)));
		printf("    writable: %s%s\n", why ? "no: " : "yes",
		       why ? why : "");
		if (r->bitlocker)
			printf("    bitlocker: unlocked with the key file\n");
		report_hive_text(stdout, &rep, "    ");
		printf("    dns search list (%s): %s\n",
		       cs[0] ? kp_escape_str(&e[0], cs) : "?",
		       search ? kp_escape_str(&e[1], search) : "(not set)");
		buf_release(&e[0]);
		buf_release(&e[1]);
		state_text(hive_state(sy.h));
		gen_text(&gen);
	}
out:
	gen_plan_release(&gen);
	free(search);
	spp_report_release(&spp);
	winver_release(&ver);
	winhive_close(&sw);
	winhive_close(&sy);
	return code;
}

int
cmd_image_show(struct cli *c, int argc, char **argv)
{
	struct image_args a = { 0 };
	struct img_session *s = NULL;
	const struct img_root *roots;
	const struct img_locked *locked;
	json_t *out = NULL, *img, *wins;
	size_t nroots, nlocked, i, k, found;
	char **pos;
	int npos, code = 0, rc;

	spp_settings_init(&a.settings);
	if (cli_parse(c, argc, argv, &show_help, image_opt, &a, &pos, &npos,
		      &code))
		goto done;
	if (npos < 1) {
		code = cli_usage(c, "expected at least one IMAGE");
		goto done;
	}
	code = open_images(c, &a, pos, npos, true, &s);
	if (code)
		goto done;
	roots = img_roots(s, &nroots);
	locked = img_locked(s, &nlocked);
	if (a.json)
		out = json_array();
	for (i = 0; i < (size_t)npos; i++) {
		if (a.json) {
			img = json_pack("{s:s, s:s}", "image", img_name(s, i),
					"format", img_format(s, i));
			wins = json_array();
		} else {
			printf("image: %s (%s)\n", img_name(s, i),
			       img_format(s, i));
			img = wins = NULL;
		}
		found = 0;
		for (k = 0; k < nroots; k++) {
			if (roots[k].image != i)
				continue;
			found++;
			rc = show_root(c, s, &roots[k], a.json, wins);
			if (rc && !code)
				code = rc;
		}
		for (k = 0; k < nlocked; k++) {
			if (locked[k].image != i)
				continue;
			if (a.json)
				json_array_append_new(wins, json_pack(
					"{s:s, s:s}", "device",
					locked[k].device, "unreadable",
					locked[k].why));
			else
				printf("  %s: %s\n", locked[k].device,
				       locked[k].why);
		}
		if (found == 0 && !a.json)
			printf("  no Windows installation found\n");
		if (found == 0 && !code)
			code = KP_EXIT_INPUT;
		if (a.json) {
			json_object_set_new(img, "windows", wins);
			json_array_append_new(out, img);
		}
	}
	if (img_close(s, true, NULL) < 0 && !code)
		code = KP_EXIT_FAIL;
	s = NULL;
	if (a.json && cli_print_json(c, json_pack("{s:o}", "images", out)) < 0)
		code = KP_EXIT_FAIL;
done:
	img_close(s, false, NULL);
	args_release(&a);
	return code;
}

/*
 * set
 */

static const struct cli_opt set_opts[] = {
	IMAGE_WRITE_OPTS,
	{ "dns-search-list", 0, "SUFFIX[,SUFFIX...]",
	  "DNS suffix search list of the client (SYSTEM hive, current control "
	  "set, Services\\Tcpip\\Parameters\\SearchList), so that it finds "
	  "KMS SRV records published in other domains" },
	{ "clear-dns-search-list", 0, NULL, "remove the DNS suffix search list" },
	{ "cloudbase-init", 0, "host|activate|off",
	  "also write the KMS host into cloudbase-init's configuration "
	  "(kms_host; its licensing plugin sets it at every boot), keeping "
	  "the rest of the file; activate also turns activate_windows and "
	  "set_kms_product_key on, off turns them off" },
	{ NULL, 0, NULL, NULL },
};

static const struct cli_help set_help = {
	"image set IMAGE... [--dry-run] [--overlay OUT.qcow2] SETTINGS...",
	"Set KMS settings in the Windows installation of every IMAGE, in one "
	"appliance launch. Every image is checked and its hives prepared "
	"before any is written: a hibernated or Fast Startup volume, a locked "
	"BitLocker volume, an image in use by a running VM or a dirty hive "
	"whose logs cannot be replayed is refused (exit 4, unless "
	"--force-dirty) and no image is changed; a dirty hive whose logs "
	"replay is written with their changes. Each hive is replaced atomically inside the image (temporary "
	"name, rename) keeping its NTFS security, and read back.",
	set_opts, true, NULL, NULL,
};

struct target {
	struct img_root *root;	/* gone once the session is closed */
	char device[64];	/* the root's, for the report */
	struct winhive sw, sy;
	struct hive_changes changes;
	struct gen_plan plan;
};

typedef int prepare_fn(struct cli *c, struct img_session *s,
		       const struct image_args *a, size_t i, struct target *t);

/* Open hive NAME of T (image I) with FLAGS and --force-dirty, and say when
 * its logs were replayed or set aside. */
static int
open_hive(struct cli *c, struct img_session *s, const struct image_args *a,
	  size_t i, struct target *t, const char *name, unsigned flags,
	  struct winhive *wh, struct kp_error *err)
{
	char label[512];

	if (winhive_open(s, t->root, name, flags | a->hive_flags, wh,
			 err) < 0)
		return -1;
	snprintf(label, sizeof(label), "'%s': %s: %s", img_name(s, i),
		 t->root->device, name);
	report_hive_notes(c, label, hive_state(wh->h),
			  (flags & HIVE_WRITE) && !a->dry_run);
	return 0;
}

/* The one Windows installation of image I, or an error. */
static int
choose_root(struct cli *c, struct img_session *s, const struct image_args *a,
	    size_t i, struct img_root **out)
{
	struct img_root *roots;
	const struct img_locked *locked;
	struct buf list = BUF_INIT;
	size_t n, nl, k, found = 0, match = 0;
	struct kp_error err = KP_ERROR_INIT;
	int code;

	struct img_root *only = NULL, *chosen = NULL;

	roots = img_roots(s, &n);
	locked = img_locked(s, &nl);
	*out = NULL;
	for (k = 0; k < n; k++) {
		size_t j;

		if (roots[k].image != i)
			continue;
		found++;
		only = &roots[k];
		buf_addf(&list, "%s%s", found > 1 ? ", " : "", roots[k].device);
		for (j = 0; j < a->nroots; j++) {
			if (strcmp(a->roots[j], roots[k].device) == 0) {
				chosen = &roots[k];
				match++;
			}
		}
	}
	/* --root only picks among the installations of one image. */
	*out = found == 1 ? only : match == 1 ? chosen : NULL;
	if (found == 0) {
		for (k = 0; k < nl; k++) {
			if (locked[k].image == i) {
				err.code = strstr(locked[k].why, "BitLocker") ?
						   KP_EXIT_REFUSED :
						   KP_EXIT_INPUT;
				snprintf(err.msg, sizeof(err.msg),
					 "'%s': %s: %s", img_name(s, i),
					 locked[k].device, locked[k].why);
				return cli_error(c, &err);
			}
		}
		err.code = KP_EXIT_INPUT;
		snprintf(err.msg, sizeof(err.msg),
			 "'%s': no Windows installation found (no NTFS "
			 "filesystem with \\Windows\\System32\\config\\SOFTWARE)",
			 img_name(s, i));
		return cli_error(c, &err);
	}
	if (found > 1 && match != 1) {
		code = cli_usage(c, "'%s' holds %zu Windows installations (%s); "
				 "choose one with --root DEVICE",
				 img_name(s, i), found, buf_str(&list));
		buf_release(&list);
		return code;
	}
	buf_release(&list);
	return 0;
}

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
		if (open_hive(c, s, a, i, t, "SOFTWARE", HIVE_WRITE, &t->sw,
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
		    (open_hive(c, s, a, i, t, "SYSTEM", need_system(a), &t->sy,
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
		     open_hive(c, s, a, i, t, "SYSTEM", HIVE_WRITE, &t->sy,
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
	r = err.code == KP_EXIT_USAGE ? cli_usage(c, "%s", err.msg) :
					cli_error(c, &err);
out:
	winver_release(&ver);
	return r;
}

/* Put a file change in the JSON and text reports. */
static const char *
file_op(const struct gen_file *f)
{
	return f->remove ? "remove" : f->exists ? "update" : "create";
}

static json_t *
files_json(const struct gen_plan *p)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < p->nfiles; i++)
		if (p->files[i].write)
			json_array_append_new(a, json_pack(
				"{s:s, s:s, s:s}", "file", p->files[i].label,
				"path", p->files[i].guest, "op",
				file_op(&p->files[i])));
	return a;
}

/*
 * Write image I of the batch: files first, then SOFTWARE, then SYSTEM, so
 * that a first-boot hook (in SYSTEM) never points at a script that is not
 * there.  Each step replaces one file atomically; if one fails, the message
 * says exactly what was written before it.
 */
static int
write_target(struct cli *c, struct img_session *s, const struct image_args *a,
	     struct target *t, size_t i)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf done = BUF_INIT;
	size_t k;
	int r;

	r = img_make_writable(s, t[i].root, &err);
	for (k = 0; r == 0 && k < t[i].plan.nfiles; k++) {
		const struct gen_file *f = &t[i].plan.files[k];
		struct gen_plan one = { .files = (struct gen_file *)f,
					.nfiles = 1 };

		if (!f->write)
			continue;
		r = gen_write(s, &one, &err);
		if (r == 0)
			buf_addf(&done, "%s%s", done.len ? ", " : "", f->label);
	}
	if (r == 0 && (r = winhive_upload(s, &t[i].sw, &err)) == 0 &&
	    t[i].sw.committed)
		buf_addf(&done, "%sSOFTWARE hive", done.len ? ", " : "");
	if (r == 0)
		r = winhive_upload(s, &t[i].sy, &err);
	if (r == 0) {
		buf_release(&done);
		return 0;
	}
	kp_error_prefix(&err, "'%s'", img_name(s, i));
	if (done.len)
		buf_addf(&done, " in '%s'", img_name(s, i));
	for (k = 0; k < i; k++)
		if (t[k].changes.n || gen_nwrites(&t[k].plan))
			buf_addf(&done, "%s'%s'", done.len ? ", " : "",
				 img_name(s, k));
	r = cli_error(c, &err);
	if (a->overlay) {
		cli_note(c, "the overlay '%s' was removed; '%s' is unchanged",
			 a->overlay, img_name(s, 0));
	} else if (done.len) {
		cli_note(c, "already written, each file whole and verified: %s",
			 buf_str(&done));
	} else {
		cli_note(c, "no image was changed");
	}
	buf_release(&done);
	return r;
}

/*
 * The flow every writing image command shares: open all images in one
 * appliance, choose one installation per image, refuse what must be
 * refused before anything changes, prepare every image (hives edited and
 * committed locally, files planned), and only then write them all.
 */
static int
run_batch(struct cli *c, struct image_args *a, char **pos, int npos,
	  prepare_fn *prepare)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_session *s = NULL;
	struct target *t = NULL;
	json_t *out = NULL;
	size_t i, k, n = (size_t)npos, nchanges = 0;
	bool ok = false, dry_refused = false;
	int code;

	code = open_images(c, a, pos, npos, a->dry_run, &s);
	if (code)
		goto done;
	t = calloc(n, sizeof(*t));
	if (t == NULL) {
		code = cli_error(c, &(struct kp_error){ KP_EXIT_FAIL,
							"out of memory" });
		goto done;
	}
	/* Refuse anything before changing anything. */
	for (i = 0; i < n; i++) {
		const char *why;

		code = choose_root(c, s, a, i, &t[i].root);
		if (code)
			goto done;
		snprintf(t[i].device, sizeof(t[i].device), "%s",
			 t[i].root->device);
		why = img_root_unwritable(t[i].root);
		if (why && a->dry_run) {
			/* A dry run shows the plan, and ends as the real run
			 * would: refused. */
			cli_note(c, "'%s': %s: %s; a real run would be refused",
				 img_name(s, i), t[i].root->device, why);
			dry_refused = true;
		} else if (why) {
			err.code = KP_EXIT_REFUSED;
			snprintf(err.msg, sizeof(err.msg),
				 "'%s': %s: %s; no image was changed",
				 img_name(s, i), t[i].root->device, why);
			code = cli_error(c, &err);
			goto done;
		}
	}
	for (i = 0; i < n; i++) {
		code = prepare(c, s, a, i, &t[i]);
		if (code)
			goto done;
		nchanges += t[i].changes.n + gen_nwrites(&t[i].plan);
	}
	for (i = 0; i < n && !a->dry_run; i++) {
		if (t[i].changes.n == 0 && gen_nwrites(&t[i].plan) == 0)
			continue;
		code = write_target(c, s, a, t, i);
		if (code) {
			/* With an overlay, dropping it undoes everything;
			 * else what was written must reach the disk. */
			if (!a->overlay && img_close(s, true, &err) < 0)
				cli_error(c, &err);
			if (!a->overlay)
				s = NULL;
			goto done;
		}
		if (!c->quiet)
			cli_note(c, "%s: written and verified", img_name(s, i));
	}
	ok = true;
	if (img_close(s, true, &err) < 0) {
		s = NULL;
		code = cli_error(c, &err);
		goto done;
	}
	s = NULL;
	if (a->json) {
		out = json_array();
		for (i = 0; i < n; i++) {
			size_t w = t[i].changes.n + gen_nwrites(&t[i].plan);

			json_array_append_new(out, json_pack(
				"{s:s, s:s, s:b, s:o, s:o, s:o}", "image",
				pos[i], "device", t[i].device, "written",
				!a->dry_run && w > 0, "changes",
				report_changes_json(&t[i].changes), "files",
				files_json(&t[i].plan), "notes",
				notes_json(&t[i].plan)));
		}
		if (cli_print_json(c, json_pack("{s:b, s:o}", "dry_run",
						a->dry_run, "images", out)) < 0)
			code = KP_EXIT_FAIL;
		else if (dry_refused)
			code = KP_EXIT_REFUSED;
		goto done;
	}
	for (i = 0; i < n; i++) {
		size_t w = t[i].changes.n + gen_nwrites(&t[i].plan);

		for (k = 0; k < t[i].plan.nnotes; k++)
			printf("%s: note: %s\n", pos[i], t[i].plan.notes[k]);
		report_changes_text(stdout, &t[i].changes, "");
		for (k = 0; k < t[i].plan.nfiles; k++)
			if (t[i].plan.files[k].write)
				printf("%s: %s %s\n", pos[i],
				       file_op(&t[i].plan.files[k]),
				       t[i].plan.files[k].label);
		if (w == 0)
			printf("%s: no change\n", pos[i]);
		else if (!a->dry_run)
			printf("%s: written and verified (%zu change%s)%s%s\n",
			       pos[i], w, w == 1 ? "" : "s",
			       a->overlay ? " in overlay " : "",
			       a->overlay ? a->overlay : "");
	}
	if (a->dry_run)
		printf("dry run: %zu change%s, nothing written\n", nchanges,
		       nchanges == 1 ? "" : "s");
	if (dry_refused)
		code = KP_EXIT_REFUSED;
done:
	for (i = 0; t && i < n; i++) {
		winhive_close(&t[i].sw);
		winhive_close(&t[i].sy);
		hive_changes_release(&t[i].changes);
		gen_plan_release(&t[i].plan);
	}
	free(t);
	img_close(s, ok, NULL);
	return code;
}

int
cmd_image_set(struct cli *c, int argc, char **argv)
{
	struct image_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	char **pos;
	int npos, code = 0;

	spp_settings_init(&a.settings);
	if (cli_parse(c, argc, argv, &set_help, image_opt, &a, &pos, &npos,
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
	code = run_batch(c, &a, pos, npos, prepare_set);
done:
	args_release(&a);
	return code;
}

/*
 * generalize
 */

static const struct cli_opt gen_opts[] = {
	{ "mode", 0, "sysprep|clone",
	  "sysprep (the default): the image will be sealed with sysprep "
	  "/generalize; make sure that run rearms.  clone: the image is "
	  "copied as it is; stage a rearm at the first boot of each copy" },
	{ "activate", 0, NULL,
	  "clone mode: activate (slmgr /ato) right after the restart that "
	  "follows the rearm, instead of at the next two-hourly attempt" },
	{ "gvlk", 0, "auto|KEY|none",
	  "clone mode: install a KMS client setup key at the first boot, "
	  "before the rearm: auto picks the one of the image's edition and "
	  "build (kmsprep kms gvlk) unless it holds a volume license key "
	  "already; KEY must be one of Microsoft's table (none: the default)" },
	IMAGE_WRITE_OPTS,
	{ NULL, 0, NULL, NULL },
};

static const struct cli_help gen_help = {
	"image generalize IMAGE... [--mode sysprep|clone] [--activate] "
	"[--gvlk auto|KEY|none] [--dry-run]",
	"Stage activation generalization, so that every copy of the image "
	"gets its own KMS client machine ID (without one, the KMS host counts "
	"all copies as one machine and never reaches its threshold). "
	"sysprep mode sets SkipRearm 0 in the registry and in the generalize "
	"pass of the answer file sysprep will use (following Windows' search "
	"order, including SYSTEM\\Setup\\UnattendFile), editing it with "
	"libxml2 so that everything else in it is kept, or creating "
	"%WINDIR%\\System32\\Sysprep\\Unattend.xml. clone mode stages a script "
	"that Windows runs once as SYSTEM at the next boot, before anyone logs "
	"on (SYSTEM\\Setup CmdLine): it rearms, puts the KMS settings back, "
	"restarts once and logs to %WINDIR%\\kmsprep\\firstboot.log; where "
	"libguestfs' firstboot service is installed (virt-v2v, "
	"virt-customize), its scripts go into that service's folder instead. "
	"Running it again changes nothing.",
	gen_opts, false, NULL, NULL,
};

/* Plan one installation whose SOFTWARE and SYSTEM hives are open. */
typedef int plan_fn(struct img_session *s, const struct image_args *a,
		    struct target *t, struct kp_error *err);

/* Open both hives of T for writing, plan with PLAN, and commit them
 * locally (not in a dry run); shared by generalize and kit apply. */
static int
prepare_both(struct cli *c, struct img_session *s, const struct image_args *a,
	     size_t i, struct target *t, plan_fn *plan)
{
	struct kp_error err = KP_ERROR_INIT;

	if (open_hive(c, s, a, i, t, "SOFTWARE", HIVE_WRITE, &t->sw,
		      &err) < 0 ||
	    open_hive(c, s, a, i, t, "SYSTEM", HIVE_WRITE, &t->sy, &err) < 0 ||
	    plan(s, a, t, &err) < 0)
		goto fail;
	hive_changes_label(&t->changes, 0, img_name(s, i));
	if (!a->dry_run && (winhive_commit(&t->sw, &err) < 0 ||
			    winhive_commit(&t->sy, &err) < 0))
		goto fail;
	return 0;
fail:
	kp_error_prefix(&err, "'%s'", img_name(s, i));
	return err.code == KP_EXIT_USAGE ? cli_usage(c, "%s", err.msg) :
					   cli_error(c, &err);
}

static int
plan_generalize(struct img_session *s, const struct image_args *a,
		struct target *t, struct kp_error *err)
{
	return gen_plan(s, t->root, t->sw.h, t->sy.h, a->mode, a->activate,
			a->gvlk, &t->changes, &t->plan, err);
}

static int
prepare_generalize(struct cli *c, struct img_session *s,
		   const struct image_args *a, size_t i, struct target *t)
{
	return prepare_both(c, s, a, i, t, plan_generalize);
}

int
cmd_image_generalize(struct cli *c, int argc, char **argv)
{
	struct image_args a = { 0 };
	char **pos;
	int npos, code = 0;

	spp_settings_init(&a.settings);
	if (cli_parse(c, argc, argv, &gen_help, image_opt, &a, &pos, &npos,
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
	if (a.gvlk && a.mode != GEN_CLONE && strcmp(a.gvlk, "none") != 0) {
		code = cli_usage(c, "--gvlk goes with --mode clone");
		goto done;
	}
	if (a.overlay && npos != 1) {
		code = cli_usage(c, "--overlay takes a single IMAGE");
		goto done;
	}
	code = run_batch(c, &a, pos, npos, prepare_generalize);
done:
	args_release(&a);
	return code;
}

/*
 * kms kit apply: an image command, sharing the batch above.
 */

static int
plan_kit(struct img_session *s, const struct image_args *a, struct target *t,
	 struct kp_error *err)
{
	return kit_plan(s, t->root, &a->kit, t->sw.h, t->sy.h, &t->changes,
			&t->plan, err);
}

static int
prepare_kit(struct cli *c, struct img_session *s, const struct image_args *a,
	    size_t i, struct target *t)
{
	return prepare_both(c, s, a, i, t, plan_kit);
}

static const struct cli_opt kit_apply_opts[] = {
	{ "pubkey", 0, "PUBLIC.pem",
	  "require the kit's signature to be valid for this Ed25519 key" },
	{ "allow-unsigned", 0, NULL, "accept an unsigned kit although trusted "
	  "keys are installed" },
	IMAGE_WRITE_OPTS,
	{ NULL, 0, NULL, NULL },
};

static const struct cli_help kit_apply_help = {
	"kms kit apply KIT SERVER-IMAGE [--pubkey PUBLIC.pem] [--allow-unsigned] "
	"[--dry-run]",
	"Verify KIT (as 'kms kit verify' does) and apply it to the Windows "
	"Server installation in SERVER-IMAGE, in one appliance launch: the "
	"KMS host settings into the SOFTWARE hive, an inbound allow rule for "
	"the KMS port into the SYSTEM hive's firewall rules (current control "
	"set), and the kit's first-boot script, with the key readable by "
	"SYSTEM and Administrators only, into %WINDIR%\\kmsprep\\kit. The "
	"script runs from SetupComplete.cmd on an image sealed with sysprep "
	"(ImageState *_RESEAL_TO_*; called first, existing commands kept), "
	"else from the SYSTEM\\Setup first-boot command. A key left by an "
	"earlier kit is removed when the new kit has none. Signatures are "
	"checked as 'kms kit verify' does: a signed kit needs --pubkey or a "
	"trusted key, and trusted keys make a signature mandatory. "
	"Files are written before the hives, each atomically and read back. "
	"Applying a kit twice changes nothing.",
	kit_apply_opts, false, NULL, NULL,
};

int
cmd_kms_kit_apply(struct cli *c, int argc, char **argv)
{
	struct image_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct spp_settings check;
	char **pos;
	int npos, code = 0;

	spp_settings_init(&a.settings);
	spp_settings_init(&check);
	if (cli_parse(c, argc, argv, &kit_apply_help, image_opt, &a, &pos,
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
	code = run_batch(c, &a, pos + 1, 1, prepare_kit);
done:
	spp_settings_release(&check);
	args_release(&a);
	return code;
}

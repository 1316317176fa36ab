/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kmsprep image show (and what every image command shares) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd-image.h"
#include "progress.h"

int
image_opt_root(struct cli *c, void *ud, const char *name, const char *arg,
	       struct kp_error *err)
{
	struct image_args *a = ud;
	const char **r = realloc(a->roots, (a->nroots + 1) * sizeof(*r));

	(void)c;
	(void)name;
	if (r == NULL)
		return kp_fail_oom(err);
	a->roots = r;
	r[a->nroots++] = arg;
	return 0;
}

int
image_opt_index(struct cli *c, void *ud, const char *name, const char *arg,
		struct kp_error *err)
{
	struct image_args *a = ud;
	unsigned *v;
	unsigned long n;
	char *end;

	(void)c;
	errno = 0;
	n = strtoul(arg, &end, 10);
	if (*arg < '1' || *arg > '9' || *end || errno || n > 1024)
		return kp_fail(err, KP_ERR_INVALID, "--%s: '%s': expected an "
			       "image number from 1 to 1024", name, arg);
	v = realloc(a->indexes, (a->nindexes + 1) * sizeof(*v));
	if (v == NULL)
		return kp_fail_oom(err);
	a->indexes = v;
	v[a->nindexes++] = (unsigned)n;
	return 0;
}

void
image_notice(void *ud, const char *msg)
{
	struct cli *c = ud;

	if (!c->quiet)
		cli_note(c, "%s", msg);
}

/* Said even with --quiet. */
void
image_warning(void *ud, const char *msg)
{
	cli_note(ud, "%s", msg);
}

/* The appliance's launch and search, on a line of a terminal's. */
void
image_progress(void *ud, const char *step, size_t done, size_t total,
	       unsigned seconds)
{
	const struct cli *c = ud;

	if (!c->quiet)
		cli_progress_step(step, done, total, seconds);
}

void
image_args_release(struct image_args *a)
{
	kit_release(&a->kit);
	spp_settings_release(&a->settings);
	free(a->search_norm);
	free(a->roots);
	free(a->indexes);
}

int
image_opts(struct cli *c, const struct image_args *a, bool readonly,
	   struct img_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (a->backend == NULL || strcmp(a->backend, "auto") == 0)
		o->backend = IMG_BACKEND_AUTO;
	else if (strcmp(a->backend, "direct") == 0)
		o->backend = IMG_BACKEND_DIRECT;
	else if (strcmp(a->backend, "appliance") == 0)
		o->backend = IMG_BACKEND_APPLIANCE;
	else if (strcmp(a->backend, "wim") == 0)
		o->backend = IMG_BACKEND_WIM;
	else
		return cli_usage(c, "--backend: '%s': expected direct, "
				 "appliance, wim or auto", a->backend);
	o->indexes = a->indexes;
	o->nindexes = a->nindexes;
	o->format = a->format;
	o->allow_refs = a->allow_refs;
	o->readonly = readonly;
	o->dry_run = a->dry_run;
	o->overlay = a->overlay;
	o->bitlocker_key_file = a->bitlocker;
	o->timeout_s = (unsigned)a->timeout;
	o->notice = image_notice;
	o->warn = image_warning;
	o->progress = image_progress;
	o->ud = c;
	return 0;
}

/* Open the images and find Windows; prints its own errors.  A WIM file
 * is opened once per image (index): *X lists what was opened (its names
 * NULL if the images are POS as given). */
int
image_open(struct cli *c, struct image_args *a, char **pos, int npos,
	   bool readonly, struct img_session **s, struct img_expanded *x)
{
	struct img_opts o;
	struct kp_error err = KP_ERROR_INIT;
	int code = image_opts(c, a, readonly, &o);

	if (code)
		return code;
	if (img_expand(pos, (size_t)npos, &o, NULL, x, &err) < 0)
		return cli_fail(c, &err);
	o.wim_index_of = x->index_of;
	if (img_open(x->names ? x->names : pos,
		     x->names ? x->n : (size_t)npos, &o, s, &err) < 0 ||
	    img_find_windows(*s, &err) < 0) {
		img_close(*s, false, NULL);
		*s = NULL;
		if (a->events)
			events_error(a->events, err.msg);
		return cli_fail(c, &err);
	}
	return 0;
}

/*
 * show
 */

static const struct cli_opt show_opts[] = {
	OPT_BOOL("json", 0, ARGS, json, "print JSON instead of text"),
	IMAGE_COMMON_OPTS,
	OPT_END(),
};

static const struct cli_help show_help = {
	.usage = "image show IMAGE... [--json]",
	.about = "For each image and each Windows installation on it: the "
	"Windows version and edition, every KMS setting (as 'hive show'), "
	"whether the SOFTWARE hive is dirty, the Office installed (as 'hive "
	"show'), the DNS suffix search list, and whether the volume can be "
	"written (hibernation, Fast Startup, BitLocker). The images are "
	"opened read-only; the output says which backend ran, and whether the "
	"hive servers that parse the image's hives are fenced into kmsprep's "
	"scratch directory (Landlock).",
	.opts = show_opts,
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

json_t *
image_notes_json(const struct stage *p)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < p->nnotes; i++)
		json_array_append_new(a, json_string(p->notes[i]));
	return a;
}

/* The specialize pass's ProductKey: a KMS client setup key, "other"
 * (never shown: it may be an organization's), or null. */
static json_t *
answer_key_json(const struct unattend_info *u)
{
	return u->product_key == UNATTEND_KEY_GVLK ? json_string(u->gvlk) :
	       u->product_key == UNATTEND_KEY_OTHER ? json_string("other") :
						      json_null();
}

/* Does any first-boot path run something kmsprep staged, or anything at
 * all, at the next boot? */
static bool
first_boot_any(const struct stage *g)
{
	return (g->setup.cmdline && g->setup.cmdline[0]) || g->setupcomplete ||
	       g->kit || g->guestfs_one || g->guestfs_two || g->staged_gvlk;
}

static json_t *
gen_json(const struct stage *g)
{
	json_t *o = json_object(), *files = json_array();
	size_t i;

	json_object_set_new(o, "image_state", g->image_state ?
			    json_string(g->image_state) : json_null());
	json_object_set_new(o, "skip_rearm", g->skip_rearm < 0 ? json_null() :
			    json_integer(g->skip_rearm));
	for (i = 0; i < g->nfiles; i++) {
		const struct stage_file *f = &g->files[i];

		json_array_append_new(files, json_pack(
			"{s:s, s:s, s:b, s:o, s:o}", "file", f->label, "path",
			f->guest, "generalize_pass", f->info.generalize,
			"skip_rearm", f->info.skip_rearm < 0 ? json_null() :
			json_integer(f->info.skip_rearm), "product_key",
			answer_key_json(&f->info)));
	}
	json_object_set_new(o, "answer_files", files);
	json_object_set_new(o, "notes", image_notes_json(g));
	json_object_set_new(o, "first_boot", g->setup.cmdline &&
			    g->setup.cmdline[0] ?
			    json_pack("{s:s, s:i, s:b}", "cmdline",
				      g->setup.cmdline, "setup_type",
				      (int)g->setup.setup_type, "kmsprep",
				      g->setup.ours) : json_null());
	json_object_set_new(o, "setup_complete", g->setupcomplete ?
			    json_pack("{s:s, s:o}", "path",
				      "%WINDIR%\\Setup\\Scripts\\SetupComplete.cmd",
				      "kmsprep", g->setupcomplete_kmsprep[0] ?
				      json_string(g->setupcomplete_kmsprep) :
				      json_null()) : json_null());
	json_object_set_new(o, "host_kit", g->kit ?
			    json_pack("{s:i, s:b}", "files",
				      (json_int_t)g->kit_files, "key_file",
				      g->kit_key) : json_null());
	json_object_set_new(o, "first_boot_staged", json_boolean(
				    first_boot_any(g)));
	fb_report_json(g, o);
	return o;
}

static void
gen_text(const struct stage *g)
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
		const struct stage_file *f = &g->files[i];

		printf("    answer file %s: ", kp_quote(f->label, q, sizeof(q)));
		if (!f->info.generalize)
			printf("no generalize pass");
		else if (f->info.skip_rearm < 0)
			printf("generalize pass, SkipRearm not set (0)");
		else
			printf("generalize pass, SkipRearm %d",
			       f->info.skip_rearm);
		if (f->info.product_key == UNATTEND_KEY_GVLK)
			printf("; ProductKey %s (KMS client setup key)",
			       f->info.gvlk);
		else if (f->info.product_key == UNATTEND_KEY_OTHER)
			printf("; ProductKey: not a KMS client setup key (not "
			       "shown)");
		putchar('\n');
	}
	if (g->setup.cmdline && g->setup.cmdline[0])
		printf("    first boot: %s (SetupType %u): %s\n",
		       g->setup.ours ? "kmsprep script staged" :
				       "runs at the next boot",
		       g->setup.setup_type,
		       kp_quote(g->setup.cmdline, q, sizeof(q)));
	/* After a sealed image's OOBE, each copy runs this instead. */
	if (g->setupcomplete)
		printf("    first boot after Setup: "
		       "%%WINDIR%%\\Setup\\Scripts\\SetupComplete.cmd%s%s\n",
		       g->setupcomplete_kmsprep[0] ? ", which runs kmsprep's: " :
						     " (no kmsprep script)",
		       g->setupcomplete_kmsprep[0] ?
		       kp_quote(g->setupcomplete_kmsprep, q, sizeof(q)) : "");
	if (g->kit)
		printf("    host kit: staged (%%WINDIR%%\\kmsprep\\kit, %zu "
		       "files)%s\n", g->kit_files, g->kit_key ?
		       "; its product key file is still there (the kit's "
		       "first boot deletes it)" : "; no key file left");
	if (!first_boot_any(g))
		printf("    first boot: nothing staged\n");
	fb_report_text(g);
}

/* Everything shown about one installation. */
/* The cloud whose KMS host REP's registry names, or NULL. */
static const struct kms_cloud *
cloud_of(const struct spp_report *rep)
{
	struct buf host = BUF_INIT, port = BUF_INIT;
	const struct kms_cloud *c;
	size_t i;

	for (i = 0; i < rep->n; i++) {
		const struct spp_item *it = &rep->items[i];

		if (it->data == NULL || it->type != REGT_SZ)
			continue;
		if (strcasecmp(it->name, "KeyManagementServiceName") == 0)
			regval_get_sz(it->data, it->len, &host);
		else if (strcasecmp(it->name, "KeyManagementServicePort") == 0)
			regval_get_sz(it->data, it->len, &port);
	}
	if (host.len && port.len)
		buf_addf(&host, ":%s", buf_str(&port));
	c = host.len ? cloud_by_host(buf_str(&host)) : NULL;
	buf_release(&host);
	buf_release(&port);
	return c;
}

/* What an interrupted write left, as names a script can test. */
static json_t *
repair_json(unsigned repair)
{
	json_t *a = json_array();

	if (repair & IMG_REPAIR_MIRROR)
		json_array_append_new(a, json_string("mftmirr"));
	if (repair & IMG_REPAIR_ENTRY)
		json_array_append_new(a, json_string("log-entry"));
	return a;
}

static int
show_root(struct cli *c, struct img_session *s, const struct img_root *r,
	  bool json, json_t *out)
{
	struct kp_error err = KP_ERROR_INIT;
	struct winhive sw = { 0 }, sy = { 0 };
	struct spp_report spp = { 0 };
	struct office_report office = { 0 };
	struct winver ver = { 0 };
	struct stage gen = { 0 };
	struct hive_report rep;
	const char *why = img_unwritable(s, r);
	char *search = NULL, cs[32] = "";
	json_t *j;
	int code = 0;

	if (winhive_open(s, r, "SOFTWARE", 0, &sw, &err) < 0 ||
	    winver_read(sw.h, &ver, &err) < 0 ||
	    spp_read(sw.h, &ver, &spp, &err) < 0 ||
	    office_read(sw.h, &ver, &office, &err) < 0) {
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
	rep.office = &office;
	if (json) {
		j = json_object();
		json_object_set_new(j, "device", json_string(r->device));
		if (r->wim_index) {
			json_object_set_new(j, "index",
					    json_integer(r->wim_index));
			json_object_set_new(j, "name",
					    json_string(r->wim_name));
			json_object_set_new(j, "wim_edition",
					    json_string(r->wim_edition));
		}
		json_object_set_new(j, "systemroot",
				    json_string(r->systemroot + strlen(r->mnt)));
		json_object_set_new(j, "writable", json_boolean(why == NULL));
		if (why)
			json_object_set_new(j, "not_writable_because",
					    json_string(why));
		json_object_set_new(j, "bitlocker", json_boolean(r->bitlocker));
		json_object_set_new(j, "repair", repair_json(r->repair));
		json_object_set_new(j, "cloud", cloud_of(&spp) ?
				    json_string(cloud_of(&spp)->name) :
				    json_null());
		json_object_set_new(j, "control_set",
				    cs[0] ? json_string(cs) : json_null());
		json_object_set_new(j, "dns_search_list",
				    search ? json_string(search) : json_null());
		json_object_set_new(j, "software", report_hive_json(&rep));
		/* The Office findings also at the top of the installation. */
		json_object_set_new(j, "office", json_incref(json_object_get(
			json_object_get(j, "software"), "office")));
		json_object_set_new(j, "system_hive",
				    state_json(hive_state(sy.h)));
		json_object_set_new(j, "generalization", gen_json(&gen));
		json_array_append_new(out, j);
	} else {
		struct buf e[2] = { BUF_INIT, BUF_INIT };

		/* The image's own text, escaped (lib/escape.h). */
		printf("  windows: %s %s\n", r->device,
		       kp_escape_str(&e[0], r->systemroot + strlen(r->mnt)));
		if (r->wim_index) {
			printf("    name: %s\n",
			       kp_escape_str(&e[0], r->wim_name));
			printf("    wim edition: %s\n",
			       kp_escape_str(&e[1], r->wim_edition));
		}
		printf("    writable: %s%s\n", why ? "no: " : "yes",
		       why ? why : "");
		if (r->bitlocker)
			printf("    bitlocker: unlocked with the key file\n");
		if (r->repair)
			printf("    repair: %s%s%s (an interrupted write left "
			       "%s; the next write repairs %s)\n",
			       r->repair & IMG_REPAIR_MIRROR ? "$MFTMirr "
			       "differs from $MFT" : "",
			       r->repair == (IMG_REPAIR_MIRROR |
					     IMG_REPAIR_ENTRY) ? "; " : "",
			       r->repair & IMG_REPAIR_ENTRY ? "a transaction "
			       "log's directory entry names no file" : "",
			       r->repair & (r->repair - 1) ? "them" : "it",
			       r->repair & (r->repair - 1) ? "them" : "it");
		report_hive_text(stdout, &rep, "    ");
		if (cloud_of(&spp))
			printf("    kms target: %s (--cloud %s), as the cloud "
			       "documents its KMS host\n",
			       cloud_of(&spp)->title, cloud_of(&spp)->name);
		printf("    dns search list (%s): %s\n",
		       cs[0] ? kp_escape_str(&e[0], cs) : "?",
		       search ? kp_escape_str(&e[1], search) : "(not set)");
		buf_release(&e[0]);
		buf_release(&e[1]);
		state_text(hive_state(sy.h));
		gen_text(&gen);
	}
out:
	stage_release(&gen);
	free(search);
	office_report_release(&office);
	spp_report_release(&spp);
	winver_release(&ver);
	winhive_close(&sw);
	winhive_close(&sy);
	return code;
}

/* An index of a WIM file passed over (no Windows): said, in text, or
 * in IMG (JSON). */
static void
show_passed(const struct img_locked *l, json_t *img)
{
	struct buf e = BUF_INIT;

	if (img) {
		json_object_set_new(img, "passed_over", json_true());
		json_object_set_new(img, "name", json_string(
			kp_escape_str(&e, l->wim_name ? l->wim_name : "")));
		json_object_set_new(img, "reason",
				    json_string("no Windows in this image"));
	} else {
		printf("  name: %s\n",
		       kp_escape_str(&e, l->wim_name ? l->wim_name : ""));
		printf("  no Windows in this image; passed over\n");
	}
	buf_release(&e);
}

/* Does any Windows installation found belong to the file of image I (a
 * WIM file is named by the same string for each of its indexes)? */
static bool
file_has_windows(const struct img_root *roots, size_t nroots, char **names,
		 size_t i)
{
	size_t k;

	for (k = 0; k < nroots; k++)
		if (strcmp(names[roots[k].image], names[i]) == 0)
			return true;
	return false;
}

int
cmd_image_show(struct cli *c, int argc, char **argv)
{
	struct image_args a = { 0 };
	struct img_session *s = NULL;
	const struct img_root *roots;
	const struct img_locked *locked;
	const char *fence;
	json_t *out = NULL, *img, *wins;
	size_t nroots, nlocked, i, k, found;
	struct img_expanded x = { 0 };
	bool passed;
	char **pos;
	int npos, code = 0, rc;

	spp_settings_init(&a.settings);
	if (cli_parse(c, argc, argv, &show_help, &a, &pos, &npos,
		      &code))
		goto done;
	if (npos < 1) {
		code = cli_usage(c, "expected at least one IMAGE");
		goto done;
	}
	code = image_open(c, &a, pos, npos, true, &s, &x);
	if (code)
		goto done;
	if (x.names) {
		pos = x.names;
		npos = (int)x.n;
	}
	roots = img_roots(s, &nroots);
	locked = img_locked(s, &nlocked);
	fence = img_hives_fence(s);
	if (a.json)
		out = json_array();
	for (i = 0; i < (size_t)npos; i++) {
		if (a.json) {
			img = json_pack("{s:s, s:s, s:s, s:s}", "image",
					x.names ? x.names[i] : img_name(s, i),
					"format",
					img_format(s, i), "backend",
					img_backend_name(s), "hive_sandbox",
					!fence ? "unfenced" :
					strcmp(fence, "Landlock") == 0 ?
					"landlock" : "chroot");
			if (img && x.index_of && x.index_of[i])
				json_object_set_new(img, "index", json_integer(
					x.index_of[i]));
			wins = json_array();
		} else {
			printf("image: %s (%s, backend %s)\n",
			       img_name(s, i), img_format(s, i),
			       img_backend_name(s));
			if (fence)
				printf("  hives: parsed in a sandboxed hive "
				       "server, fenced by %s\n", fence);
			else
				printf("  hives: parsed in a sandboxed hive "
				       "server (not fenced into a directory: "
				       "no Landlock, not root)\n");
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
		passed = false;
		for (k = 0; k < nlocked; k++) {
			if (locked[k].image != i)
				continue;
			/* An index no one named, beside one with Windows:
			 * the commands pass it over, and it is no error. */
			if (locked[k].no_windows && x.passable &&
			    x.passable[i] &&
			    file_has_windows(roots, nroots, pos, i)) {
				passed = true;
				show_passed(&locked[k], img);
				continue;
			}
			/* Why the exit is 3: the index named, or the file
			 * (once). */
			if (locked[k].no_windows &&
			    !(x.passable && x.passable[i]))
				cli_note(c, "'%s': %s: no Windows in this "
					 "image%s", pos[i], locked[k].device,
					 cli_remedy(locked[k].remedy));
			else if (locked[k].no_windows &&
				 (i == 0 || strcmp(pos[i - 1], pos[i]) != 0))
				cli_note(c, "'%s': no Windows in any of its "
					 "images", pos[i]);
			if (a.json)
				json_array_append_new(wins, json_pack(
					"{s:s, s:s}", "device",
					locked[k].device, "unreadable",
					locked[k].why));
			else
				printf("  %s: %s%s\n", locked[k].device,
				       locked[k].why, locked[k].no_windows ?
				       "" : cli_remedy(locked[k].remedy));
		}
		if (found == 0 && !passed && !a.json)
			printf("  no Windows installation found\n");
		if (found == 0 && !passed && !code)
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
	img_expanded_release(&x);
	image_args_release(&a);
	return code;
}


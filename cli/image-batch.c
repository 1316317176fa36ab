/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image batch as the commands use it: hives opened, writes queued,
 * results reported (the flow itself is prep/batch.c). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"

/* Open hive NAME of T (image I) with FLAGS and --force-dirty, and say when
 * its logs were replayed or set aside. */
int
image_open_hive(struct cli *c, struct img_session *s,
		const struct image_args *a, size_t i, struct target *t,
		const char *name, unsigned flags, struct winhive *wh,
		struct kp_error *err)
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
 * The flow every writing image command shares: open all images in one
 * appliance, choose one installation per image, refuse what must be
 * refused before anything changes, prepare every image (hives edited and
 * committed locally, files planned), and only then write them all.
 */
/* img_batch's prepare: the command's PREPARE, which prints its own
 * errors; the exit code waits in the context. */
struct prep_ctx {
	struct cli *c;
	struct img_session *s;
	const struct image_args *a;
	struct target *t;
	prepare_fn *prepare;
	int code;
};

static int
batch_prepare(struct img_batch *b, size_t i, void *ud, struct kp_error *err)
{
	struct prep_ctx *p = ud;
	struct target *t = &p->t[i];
	size_t k;

	p->code = p->prepare(p->c, p->s, p->a, i, t);
	if (p->code)
		return kp_fail(err, KP_ERR_FAIL, "prepare failed");
	/* An image with no change is not written at all. */
	if (t->changes.n == 0 && gen_nwrites(&t->plan) == 0)
		return 0;
	for (k = 0; k < t->plan.nfiles; k++) {
		const struct gen_file *f = &t->plan.files[k];

		if (f->write &&
		    img_batch_queue(b, i, IMG_PHASE_FILES, f->guest, f->label,
				    f->content.data, f->content.len, NULL,
				    f->remove, (f->secret ? IMG_SECRET : 0) |
						       (f->remove ? 0 :
							IMG_MKDIR_PARENT),
				    err) < 0)
			return -1;
	}
	if (t->sw.committed &&
	    img_batch_queue(b, i, IMG_PHASE_SOFTWARE, t->sw.guest,
			    "SOFTWARE hive", NULL, 0, t->sw.local, false, 0,
			    err) < 0)
		return -1;
	if (t->sy.committed &&
	    img_batch_queue(b, i, IMG_PHASE_SYSTEM, t->sy.guest, "SYSTEM hive",
			    NULL, 0, t->sy.local, false, 0, err) < 0)
		return -1;
	return 0;
}

/* Said even with --quiet. */
static void
batch_warn(void *ud, const char *msg)
{
	cli_note(ud, "%s", msg);
}

int
image_run_batch(struct cli *c, struct image_args *a, char **pos, int npos,
		prepare_fn *prepare)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_session *s = NULL;
	struct img_batch b;
	struct prep_ctx pc = { c, NULL, a, NULL, prepare, 0 };
	struct target *t = NULL;
	json_t *out = NULL;
	size_t i, k, n = (size_t)npos, nchanges = 0;
	bool ok = false, dry_refused = false;
	int code;

	img_batch_init(&b, NULL, NULL, pos, n, a->dry_run);
	code = image_open(c, a, pos, npos, a->dry_run, &s);
	if (code)
		goto done;
	b.be = img_session_backend(s);
	b.h = img_session_handle(s);
	if (a->jobs)
		b.jobs = (unsigned)a->jobs;
	else {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		b.jobs = cpus > 1 ? (unsigned)(cpus < 64 ? cpus : 64) : 1;
	}
	pc.s = s;
	b.notice = image_notice;
	b.warn = batch_warn;
	b.ud = c;
	t = pc.t = calloc(n, sizeof(*t));
	if (t == NULL) {
		code = cli_error(c, &(struct kp_error){ KP_ERR_FAIL,
							"out of memory" });
		goto done;
	}
	/* Refuse anything before changing anything. */
	if (img_batch_select(&b, a->roots, a->nroots, &err) < 0) {
		/* The library says "choose one"; the option is ours to name. */
		code = err.status == KP_ERR_INVALID ?
			       cli_usage(c, "%s with --root DEVICE", err.msg) :
			       cli_error(c, &err);
		goto done;
	}
	for (i = 0; i < n; i++) {
		t[i].root = b.t[i].root;
		snprintf(t[i].device, sizeof(t[i].device), "%s", b.t[i].device);
	}
	dry_refused = b.dry_refused;
	if (img_batch_prepare(&b, batch_prepare, &pc, &err) < 0) {
		code = pc.code ? pc.code : cli_error(c, &err);
		goto done;
	}
	for (i = 0; i < n; i++)
		nchanges += t[i].changes.n + gen_nwrites(&t[i].plan);
	if (img_batch_write(&b, &err) < 0) {
		code = cli_error(c, &err);
		if (a->overlay)
			cli_note(c, "the overlay '%s' was removed; '%s' is "
				 "unchanged", a->overlay, img_name(s, 0));
		else if (b.done)
			cli_note(c, "already written, each file whole and "
				 "verified: %s", b.done);
		else
			cli_note(c, "no image was changed");
		/* With an overlay, dropping it undoes everything; else what
		 * was written must reach the disk. */
		if (!a->overlay && img_close(s, true, &err) < 0)
			cli_error(c, &err);
		if (!a->overlay)
			s = NULL;
		goto done;
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
				image_notes_json(&t[i].plan)));
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
	img_batch_release(&b);
	img_close(s, ok, NULL);
	return code;
}


/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image batch as the commands use it: the plan from the options, and
 * the results reported (the work is prep/batch.c and prep/plan.c). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd-image.h"

/* The plan's hive listener: say when logs were replayed or set aside. */
static void
hive_opened(void *ud, const char *label, const struct hive_state *st,
	    bool writing)
{
	report_hive_notes(ud, label, st, writing);
}

struct img_plan
image_plan(struct cli *c, const struct image_args *a)
{
	return (struct img_plan){ .hive_flags = a->hive_flags,
				  .dry_run = a->dry_run,
				  .hive_opened = hive_opened, .ud = c };
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
				img_file_op(&p->files[i])));
	return a;
}

/* image batch: each image's own plan. */
struct plan_each {
	struct img_plan_run run;
	const struct img_plan *plans;
};

static int
prepare_each(struct img_batch *b, size_t i, void *ud, struct kp_error *err)
{
	const struct plan_each *p = ud;
	/* A copy per call: images are prepared at once with -j. */
	struct img_plan_run run = p->run;

	run.p = &p->plans[i];
	return img_plan_prepare(b, i, &run, err);
}

/* Said even with --quiet. */
static void
batch_warn(void *ud, const char *msg)
{
	cli_note(ud, "%s", msg);
}

int
image_run_batch(struct cli *c, struct image_args *a, char **pos, int npos,
		const struct img_plan *plan)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_session *s = NULL;
	struct img_batch b;
	struct img_plan_run run = { plan, NULL, NULL };
	struct plan_each each = { { plan, NULL, NULL }, a->plans };
	struct img_prepared *t = NULL;
	json_t *out = NULL;
	size_t i, k, n = (size_t)npos, nchanges = 0;
	bool ok = false, dry_refused = false;
	struct cli_events *own = NULL;
	int code;

	img_batch_init(&b, NULL, NULL, pos, n, a->dry_run);
	/* image set and generalize: their own listener (batch has one). */
	if (a->events_fmt && a->events == NULL) {
		if (strcmp(a->events_fmt, "jsonl") != 0)
			return cli_usage(c, "--events: '%s': expected jsonl",
					 a->events_fmt);
		if (a->json)
			return cli_usage(c, "--events and --json both use "
					 "standard output: choose one");
		own = a->events = events_new(c, true, pos, NULL, n);
		if (own == NULL)
			return cli_oom(c);
		events_plan(own, n, NULL, a->dry_run);
	}
	code = image_open(c, a, pos, npos, a->dry_run, &s);
	if (code)
		goto done;
	if (a->events)
		events_backend(a->events, img_backend_name(s));
	b.be = img_session_backend(s);
	b.h = img_session_handle(s);
	/* -j N also prepares N at once (N hives in memory); by default
	 * only the writes, which hold no hive, run side by side. */
	if (a->jobs)
		b.jobs = b.prepare_jobs = (unsigned)a->jobs;
	else {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		b.jobs = cpus > 1 ? (unsigned)(cpus < 64 ? cpus : 64) : 1;
	}
	run.s = s;
	/* The bar says it, on a line of its own. */
	b.notice = a->events && events_bar(a->events) ? NULL : image_notice;
	b.warn = batch_warn;
	b.ud = c;
	b.root_of = a->root_of;
	if (a->events) {
		b.event = events_batch;
		b.event_ud = a->events;
	}
	t = run.t = calloc(n, sizeof(*t));
	if (t == NULL) {
		code = cli_oom(c);
		goto done;
	}
	/* Refuse anything before changing anything. */
	if (img_batch_select(&b, a->roots, a->nroots, &err) < 0) {
		/* In a plan, the choice is the entry's "root". */
		if (a->plans && err.remedy == KP_REMEDY_CHOOSE_ROOT) {
			err.remedy = KP_REMEDY_NONE;
			code = cli_usage(c, "%s; choose one with \"root\" in "
					 "the plan", err.msg);
		} else {
			code = cli_fail(c, &err);
		}
		goto done;
	}
	dry_refused = b.dry_refused;
	each.run = run;
	if (a->events)
		events_attach(a->events, t);
	if (img_batch_prepare(&b, a->plans ? prepare_each : img_plan_prepare,
			      a->plans ? (void *)&each : &run, &err) < 0) {
		code = cli_fail(c, &err);
		goto done;
	}
	for (i = 0; i < n; i++)
		nchanges += img_prepared_nwrites(&t[i]);
	if (img_batch_write(&b, &err) < 0) {
		code = cli_error(c, &err);
		if (a->overlay)
			cli_note(c, "the overlay '%s' was removed; '%s' is "
				 "unchanged", a->overlay, img_name(s, 0));
		else if (b.done)
			cli_note(c, "already written, each file whole and "
				 "verified: %s", b.done);
		else if (b.journal_failed)
			cli_note(c, "no file was written completely; the hive "
				 "whose write failed is brought to its old or "
				 "new state from its transaction log when it "
				 "is next loaded");
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
	if (a->events_fmt) {	/* the lines said it all */
		if (dry_refused)
			code = KP_EXIT_REFUSED;
		goto done;
	}
	if (a->json) {
		out = json_array();
		for (i = 0; i < n; i++) {
			size_t w = img_prepared_nwrites(&t[i]);

			json_array_append_new(out, json_pack(
				"{s:s, s:s, s:b, s:o, s:o, s:o}", "image",
				pos[i], "device", b.t[i].device, "written",
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
		size_t w = img_prepared_nwrites(&t[i]);

		for (k = 0; k < t[i].plan.nnotes; k++)
			printf("%s: note: %s\n", pos[i], t[i].plan.notes[k]);
		report_changes_text(stdout, &t[i].changes, "");
		for (k = 0; k < t[i].plan.nfiles; k++)
			if (t[i].plan.files[k].write)
				printf("%s: %s %s\n", pos[i],
				       img_file_op(&t[i].plan.files[k]),
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
	for (i = 0; t && i < n; i++)
		img_prepared_release(&t[i]);
	free(t);
	img_batch_release(&b);
	img_close(s, ok, NULL);
	if (own) {
		events_done(own, code);
		events_free(own);
		a->events = NULL;
	}
	return code;
}


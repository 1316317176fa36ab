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
files_json(const struct stage *p)
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

/* Said even with --quiet. */
static void
batch_warn(void *ud, const char *msg)
{
	cli_note(ud, "%s", msg);
}

/* The images are open: the listener hears the backend and where the
 * changes will be. */
static void
opened(void *ud, const char *backend, const struct img_prepared *t)
{
	events_backend(ud, backend);
	events_attach(ud, t);
}

/* What a failed run did to the images, said after the error. */
static void
what_was_written(struct cli *c, const struct image_args *a,
		 const struct img_run_result *r, char **pos)
{
	if (r->stage != IMG_RUN_WRITE)
		return;
	if (a->overlay)
		cli_note(c, "the overlay '%s' was removed; '%s' is unchanged",
			 a->overlay, pos[0]);
	else if (r->done)
		cli_note(c, "already written, each file whole and verified: "
			 "%s", r->done);
	else if (r->journal_failed)
		cli_note(c, "no file was written completely; the hive whose "
			 "write failed is brought to its old or new state from "
			 "its transaction log when it is next loaded; running "
			 "the same command again finishes the write");
	else if (r->began)
		cli_note(c, "the write had begun: no setting changed, but the "
			 "volume may have (a transaction log being made or "
			 "sized); running the same command again repairs what "
			 "an interrupted write leaves and finishes it");
	else
		cli_note(c, "no image was changed");
}

/* POS are the images' files; INDEX_OF (or NULL) a WIM file's index. */
static void
print_json(struct cli *c, const struct image_args *a,
	   const struct img_run_result *r, char **pos,
	   const unsigned *index_of, size_t n, int *code)
{
	json_t *out = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		size_t w = img_prepared_nwrites(&r->t[i]);
		json_t *o = json_pack(
			"{s:s, s:s, s:b, s:o, s:o, s:o}", "image", pos[i],
			"device", r->device[i], "written", !a->dry_run && w > 0,
			"changes", report_changes_json(&r->t[i].changes),
			"files", files_json(&r->t[i].stage), "notes",
			image_notes_json(&r->t[i].stage));

		if (o && index_of && index_of[i])
			json_object_set_new(o, "index",
					    json_integer(index_of[i]));
		/* An index without Windows that no one named. */
		if (o)
			json_object_set_new(o, "passed_over",
					    json_boolean(r->passed[i]));
		if (o && r->passed[i]) {
			struct buf e = BUF_INIT;

			/* Valid UTF-8, whatever the WIM named its image. */
			json_array_append_new(json_object_get(o, "notes"),
					      json_string(kp_escape_str(
						      &e, r->passed[i])));
			buf_release(&e);
		}
		json_array_append_new(out, o);
	}
	if (cli_print_json(c, json_pack("{s:b, s:o}", "dry_run", a->dry_run,
					"images", out)) < 0)
		*code = KP_EXIT_FAIL;
}

static void
print_text(const struct image_args *a, const struct img_run_result *r,
	   char **pos, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		const struct img_prepared *t = &r->t[i];
		size_t w = img_prepared_nwrites(t);

		if (r->passed[i]) {
			struct buf e = BUF_INIT;

			/* The WIM image's name is the image's text. */
			printf("%s\n", kp_escape_str(&e, r->passed[i]));
			buf_release(&e);
			continue;
		}
		for (k = 0; k < t->stage.nnotes; k++)
			printf("%s: note: %s\n", pos[i], t->stage.notes[k]);
		report_changes_text(stdout, &t->changes, "");
		for (k = 0; k < t->stage.nfiles; k++)
			if (t->stage.files[k].write)
				printf("%s: %s %s\n", pos[i],
				       img_file_op(&t->stage.files[k]),
				       t->stage.files[k].label);
		if (w == 0)
			printf("%s: no change\n", pos[i]);
		else if (!a->dry_run)
			printf("%s: written and verified (%zu change%s)%s%s\n",
			       pos[i], w, w == 1 ? "" : "s",
			       a->overlay ? " in overlay " : "",
			       a->overlay ? a->overlay : "");
	}
	if (a->dry_run)
		printf("dry run: %zu change%s, nothing written\n", r->nchanges,
		       r->nchanges == 1 ? "" : "s");
}

int
image_run_batch(struct cli *c, struct image_args *a, char **pos, int npos,
		const struct img_plan *plan)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_opts io = { 0 };
	struct img_run_result r = { 0 };
	struct img_run_opts o = {
		.img = &io, .plan = plan, .plans = a->plans,
		.roots = a->roots, .nroots = a->nroots,
		.root_of = a->root_of, .jobs = (unsigned)a->jobs,
		.dry_run = a->dry_run, .warn = batch_warn, .ud = c,
	};
	size_t n = (size_t)npos;
	struct cli_events *own = NULL;
	struct img_expanded x = { 0 };
	struct img_plan *plans = NULL;
	const char **root_of = NULL;
	char **shown = NULL;	/* POS as reported */
	int code;

	/* A WIM file is one image per index from here on (img_expand);
	 * a plan's entry and root go with each. */
	code = image_opts(c, a, a->dry_run, &io);
	if (code)
		return code;
	if (img_expand(pos, n, &io, a->index_of, &x, &err) < 0)
		return cli_fail(c, &err);
	if (x.names) {
		size_t i;

		plans = a->plans ? calloc(x.n, sizeof(*plans)) : NULL;
		root_of = a->root_of ? calloc(x.n, sizeof(*root_of)) : NULL;
		if ((a->plans && plans == NULL) ||
		    (a->root_of && root_of == NULL)) {
			code = cli_oom(c);
			goto done;
		}
		for (i = 0; i < x.n; i++) {
			if (plans)
				plans[i] = a->plans[x.from[i]];
			if (root_of)
				root_of[i] = a->root_of[x.from[i]];
		}
		pos = x.names;
		n = x.n;
		/* Reported as the session names them: "FILE (index N)". */
		shown = calloc(n, sizeof(*shown));
		if (shown == NULL) {
			code = cli_oom(c);
			goto done;
		}
		for (i = 0; i < n; i++)
			if (x.index_of[i] ?
			    asprintf(&shown[i], "%s (index %u)", pos[i],
				     x.index_of[i]) < 0 :
			    (shown[i] = strdup(pos[i])) == NULL) {
				shown[i] = NULL;
				code = cli_oom(c);
				goto done;
			}
		o.plans = plans ? plans : a->plans;
		o.root_of = root_of ? root_of : a->root_of;
	}

	/* image set and generalize: their own listener (batch has one). */
	if (a->events_fmt && a->events == NULL) {
		if (strcmp(a->events_fmt, "jsonl") != 0)
			return cli_usage(c, "--events: '%s': expected jsonl",
					 a->events_fmt);
		if (a->json)
			return cli_usage(c, "--events and --json both use "
					 "standard output: choose one");
		/* Each line names its image as given, at its place among
		 * the IMAGE arguments, and a WIM's index apart. */
		own = a->events = events_new(c, true, pos, x.from,
					     x.index_of, n);
		if (own == NULL)
			return cli_oom(c);
		events_plan(own, (size_t)npos, (size_t)npos, NULL,
			    a->dry_run);
	}
	io.wim_index_of = x.index_of;
	o.passable = a->passable ? a->passable : x.passable;
	/* The bar says it, on a line of its own. */
	o.notice = a->events && events_bar(a->events) ? NULL : image_notice;
	if (a->events) {
		o.event = events_batch;
		o.event_ud = a->events;
		o.opened = opened;
	}
	if (img_run(pos, n, &o, &r, &err) < 0) {
		if (a->events && r.stage == IMG_RUN_OPEN)
			events_error(a->events, err.msg);
		/* In a plan, the choice is the entry's "root". */
		if (r.stage == IMG_RUN_SELECT && a->plans &&
		    err.remedy == KP_REMEDY_CHOOSE_ROOT) {
			err.remedy = KP_REMEDY_NONE;
			code = cli_usage(c, "%s; choose one with \"root\" in "
					 "the plan", err.msg);
		} else {
			code = r.stage >= IMG_RUN_WRITE ? cli_error(c, &err) :
				cli_fail(c, &err);
		}
		what_was_written(c, a, &r, shown ? shown : pos);
		goto done;
	}
	/* With --events the lines said it all. */
	if (a->json && !a->events_fmt)
		print_json(c, a, &r, pos, x.index_of, n, &code);
	else if (!a->events_fmt)
		print_text(a, &r, shown ? shown : pos, n);
	if (r.dry_refused && code == 0)
		code = KP_EXIT_REFUSED;
done:
	if (r.times) {
		size_t i;

		report_times(c, "all images", &r.all, REPORT_TIMES_ALL);
		for (i = 0; i < n; i++)
			report_times(c, shown ? shown[i] : pos[i], &r.times[i],
				     REPORT_TIMES_EACH);
	}
	img_run_release(&r, n);
	if (own) {
		events_done(own, code);
		events_free(own);
		a->events = NULL;
	}
	free(plans);
	free(root_of);
	for (size_t k = 0; shown && k < n; k++)
		free(shown[k]);
	free(shown);
	img_expanded_release(&x);
	return code;
}

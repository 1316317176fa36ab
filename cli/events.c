/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * image batch's listener: the batch's events (prep/batch.h) as JSON lines
 * on stdout for job engines (--events jsonl, schema in docs/scale.md), and
 * a progress bar on stderr when it is a terminal.  The batch may call it
 * from several writing threads at once: one lock serializes the lines.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd-image.h"
#include "lib/clock.h"
#include "progress.h"

#define EVENTS_VERSION 1

enum fin { FIN_NONE, FIN_WRITTEN, FIN_UNCHANGED, FIN_PLANNED, FIN_REFUSED,
	   FIN_FAILED, FIN_PASSED };

static const char *const fin_names[] = {
	[FIN_NONE] = "skipped", [FIN_WRITTEN] = "written",
	[FIN_UNCHANGED] = "no change", [FIN_PLANNED] = "planned",
	[FIN_REFUSED] = "refused", [FIN_FAILED] = "failed",
	[FIN_PASSED] = "passed over",
};

struct cli_events {
	struct cli *c;
	bool jsonl, bar, dry_run;
	char *const *names;
	const size_t *index;	/* each image's index in the plan */
	const unsigned *wim_index; /* each image's index in its WIM file */
	size_t n, finished;
	const struct img_prepared *t;
	double t0, *start;
	enum fin *fin;
	pthread_mutex_t lock;
};

/* S as a JSON string: names and reasons come from the user and from
 * images, and may not be UTF-8; then every byte above 0x7f is shown as
 * \xNN, so that the line is never dropped. */
static json_t *
jstr(const char *s)
{
	json_t *j = json_string(s ? s : "");
	char *esc;
	size_t n, k = 0;

	if (j || s == NULL)
		return j;
	n = strlen(s);
	esc = malloc(n * 4 + 1);
	if (esc == NULL)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x80)
			esc[k++] = (char)c;
		else
			k += (size_t)snprintf(esc + k, 5, "\\x%02x", c);
	}
	esc[k] = '\0';
	j = json_string(esc);
	free(esc);
	return j;
}

static double
now(void)
{
	return (double)kp_clock_ns() / 1e9;
}

struct cli_events *
events_new(struct cli *c, bool jsonl, char *const *names, const size_t *index,
	   const unsigned *wim_index, size_t n)
{
	struct cli_events *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->c = c;
	e->jsonl = jsonl;
	e->bar = !c->quiet && isatty(STDERR_FILENO);
	e->names = names;
	e->index = index;
	e->wim_index = wim_index;
	e->n = n;
	e->t0 = now();
	e->start = calloc(n ? n : 1, sizeof(*e->start));
	e->fin = calloc(n ? n : 1, sizeof(*e->fin));
	pthread_mutex_init(&e->lock, NULL);
	if (e->start == NULL || e->fin == NULL) {
		events_free(e);
		return NULL;
	}
	return e;
}

/* One line: O with the version, the event's name and the time since
 * the start added; image I's name and plan index unless I is (size_t)-1.
 * Takes O.  Called with the lock held. */
static void
emit(struct cli_events *e, const char *name, size_t i, json_t *o)
{
	json_t *line_o;
	char *line;

	if (!e->jsonl || o == NULL) {
		json_decref(o);
		return;
	}
	/* The common fields first, so that a line reads as it is. */
	line_o = json_pack("{s:i, s:s, s:f}", "v", EVENTS_VERSION, "event",
			   name, "time", now() - e->t0);
	if (line_o && i != (size_t)-1) {
		json_object_set_new(line_o, "index", json_integer(
			(json_int_t)(e->index ? e->index[i] : i)));
		json_object_set_new(line_o, "image", jstr(e->names[i]));
		/* The lines of one WIM's images differ only here. */
		if (e->wim_index && e->wim_index[i])
			json_object_set_new(line_o, "wim_index",
					    json_integer(e->wim_index[i]));
	}
	if (line_o)
		json_object_update(line_o, o);
	json_decref(o);
	line = line_o ? json_dumps(line_o, JSON_COMPACT | JSON_PRESERVE_ORDER |
						   JSON_ENSURE_ASCII |
						   JSON_REAL_PRECISION(6)) :
			NULL;
	json_decref(line_o);
	if (line) {
		/* A line at a time, so a reader sees each as it happens. */
		cli_stdout_used();
		fputs(line, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		free(line);
	}
}

/* On the progress line that the appliance's launch also uses, so that
 * each erases what the other drew; kept once every image is finished. */
static void
bar(struct cli_events *e)
{
	char b[41], line[100];
	size_t k, w = e->n ? e->finished * 40 / e->n : 40;

	if (!e->bar)
		return;
	for (k = 0; k < 40; k++)
		b[k] = k < w ? '#' : '.';
	b[40] = '\0';
	snprintf(line, sizeof(line), "[%s] %zu/%zu images", b, e->finished,
		 e->n);
	cli_progress_show(line);
	if (e->finished == e->n)
		cli_progress_keep();
}

/* Image I is finished with F (once). */
static void
finish(struct cli_events *e, size_t i, enum fin f)
{
	if (e->fin[i] != FIN_NONE)
		return;
	e->fin[i] = f;
	e->finished++;
	emit(e, "finished", i, json_pack("{s:s, s:f}", "result", fin_names[f],
					 "seconds", now() - e->start[i]));
	bar(e);
}

void
events_plan(struct cli_events *e, size_t total, size_t selected,
	    const char *shard, bool dry_run)
{
	e->dry_run = dry_run;
	pthread_mutex_lock(&e->lock);
	emit(e, "plan", (size_t)-1, json_pack("{s:I, s:I, s:s?, s:b}",
		"images", (json_int_t)total, "selected", (json_int_t)selected,
		"shard", shard, "dry_run", dry_run));
	bar(e);
	pthread_mutex_unlock(&e->lock);
}

void
events_backend(struct cli_events *e, const char *backend)
{
	pthread_mutex_lock(&e->lock);
	emit(e, "backend", (size_t)-1, json_pack("{s:s}", "backend", backend));
	pthread_mutex_unlock(&e->lock);
}

void
events_error(struct cli_events *e, const char *reason)
{
	pthread_mutex_lock(&e->lock);
	emit(e, "error", (size_t)-1, json_pack("{s:o}", "reason",
					       jstr(reason)));
	pthread_mutex_unlock(&e->lock);
}

bool
events_bar(const struct cli_events *e)
{
	return e->bar;
}

void
events_attach(struct cli_events *e, const struct img_prepared *t)
{
	e->t = t;
}

/* Image I's planned changes and files, one event each. */
static void
changes(struct cli_events *e, size_t i)
{
	const struct img_prepared *t = &e->t[i];
	json_t *a = report_changes_json(&t->changes), *ch;
	size_t k;

	json_array_foreach(a, k, ch)
		emit(e, "change", i, json_incref(ch));
	json_decref(a);
	for (k = 0; k < t->stage.nfiles; k++)
		if (t->stage.files[k].write)
			emit(e, "change", i, json_pack("{s:o, s:o, s:s}",
				"file", jstr(t->stage.files[k].label), "path",
				jstr(t->stage.files[k].guest), "op",
				img_file_op(&t->stage.files[k])));
}

void
events_batch(void *ud, enum img_event ev, size_t i, const char *detail)
{
	struct cli_events *e = ud;
	size_t w;

	if (i >= e->n)
		return;
	pthread_mutex_lock(&e->lock);
	switch (ev) {
	case IMG_EV_START:
		e->start[i] = now();
		emit(e, "started", i, json_object());
		break;
	case IMG_EV_CHOSEN:
		emit(e, "chosen", i, json_pack("{s:o}", "device",
					       jstr(detail)));
		break;
	case IMG_EV_REFUSED:
		emit(e, "refused", i, json_pack("{s:o}", "reason",
						jstr(detail)));
		finish(e, i, FIN_REFUSED);
		break;
	case IMG_EV_PREPARED:
		if (e->t == NULL)
			break;
		changes(e, i);
		w = img_prepared_nwrites(&e->t[i]);
		if (w == 0)
			finish(e, i, FIN_UNCHANGED);
		else if (e->dry_run)
			finish(e, i, FIN_PLANNED);
		break;
	case IMG_EV_WROTE:
		emit(e, "wrote", i, json_pack("{s:o, s:b}", "file",
					      jstr(detail),
					      "verified", 1));
		break;
	case IMG_EV_WRITTEN:
		emit(e, "written", i, json_pack("{s:I, s:b}", "changes",
			(json_int_t)(e->t ? img_prepared_nwrites(&e->t[i]) :
					    0), "verified", 1));
		finish(e, i, FIN_WRITTEN);
		break;
	case IMG_EV_FAILED:
		emit(e, "failed", i, json_pack("{s:o}", "reason",
					       jstr(detail)));
		finish(e, i, FIN_FAILED);
		break;
	case IMG_EV_PASSED:
		emit(e, "passed", i, json_pack("{s:o}", "reason",
					       jstr(detail)));
		finish(e, i, FIN_PASSED);
		break;
	}
	pthread_mutex_unlock(&e->lock);
}

void
events_done(struct cli_events *e, int code)
{
	size_t i, count[FIN_PASSED + 1] = { 0 };

	pthread_mutex_lock(&e->lock);
	for (i = 0; i < e->n; i++) {
		if (e->start[i] == 0)
			e->start[i] = now();
		finish(e, i, FIN_NONE);	/* no-op if finished */
	}
	for (i = 0; i < e->n; i++)
		count[e->fin[i]]++;
	emit(e, "done", (size_t)-1, json_pack(
		"{s:i, s:f, s:I, s:I, s:I, s:I, s:I, s:I}", "exit", code,
		"seconds", now() - e->t0, "written",
		(json_int_t)count[FIN_WRITTEN], "unchanged",
		(json_int_t)count[FIN_UNCHANGED], "planned",
		(json_int_t)count[FIN_PLANNED], "refused",
		(json_int_t)(count[FIN_REFUSED] + count[FIN_FAILED]),
		"skipped", (json_int_t)count[FIN_NONE], "passed_over",
		(json_int_t)count[FIN_PASSED]));
	pthread_mutex_unlock(&e->lock);
}

void
events_free(struct cli_events *e)
{
	if (e == NULL)
		return;
	pthread_mutex_destroy(&e->lock);
	free(e->start);
	free(e->fin);
	free(e);
}

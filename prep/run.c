/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A writing image command, whole (run.h). */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "prep/run.h"

const char *const img_step_names[IMG_NSTEPS] = {
	[IMG_STEP_OPEN] = "open",
	[IMG_STEP_MOUNT] = "mount",
	[IMG_STEP_COPY_OUT] = "copy-out",
	[IMG_STEP_CHECK] = "check",
	[IMG_STEP_PLAN] = "plan",
	[IMG_STEP_WRITE_BACK] = "write-back",
	[IMG_STEP_VERIFY] = "verify",
};

/* MemAvailable from /proc/meminfo in bytes; 0 if it cannot be read. */
static uint64_t
mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb = 0;
	char line[128];

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/* The first line of this process's cgroup v2 file NAME ("cpu.max",
 * "memory.max", ...) into LINE; false if there is none (cgroup v1, or
 * the root cgroup, which has no such limits). */
static bool
cgroup_read(const char *name, char *line, size_t sz)
{
	char rel[512], path[700];
	FILE *f = fopen("/proc/self/cgroup", "re");
	bool ok = false;

	if (f == NULL)
		return false;
	while (fgets(rel, sizeof(rel), f))
		if (strncmp(rel, "0::", 3) == 0) {
			rel[strcspn(rel, "\n")] = '\0';
			ok = true;
			break;
		}
	fclose(f);
	if (!ok || (size_t)snprintf(path, sizeof(path), "/sys/fs/cgroup%s/%s",
				    strcmp(rel + 3, "/") ? rel + 3 : "",
				    name) >= sizeof(path) ||
	    (f = fopen(path, "re")) == NULL)
		return false;
	ok = fgets(line, (int)sz, f) != NULL;
	fclose(f);
	return ok;
}

/* Processors this process may run on: its affinity, and its cgroup's
 * cpu.max quota (a container's CPU limit), rounded up. */
static unsigned
cpus_usable(void)
{
	cpu_set_t set;
	char line[128];
	unsigned long long quota, period;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (cgroup_read("cpu.max", line, sizeof(line)) &&
	    sscanf(line, "%llu %llu", &quota, &period) == 2 && period &&
	    (quota + period - 1) / period < (unsigned long long)n)
		n = (long)((quota + period - 1) / period);
	return n > 0 ? (unsigned)n : 1;
}

/* Memory this process may still take: MemAvailable, or less where its
 * cgroup's memory.max (a container's limit) leaves less. */
static uint64_t
mem_usable(void)
{
	uint64_t mem = mem_available();
	unsigned long long max, cur;
	char line[128];

	if (cgroup_read("memory.max", line, sizeof(line)) &&
	    sscanf(line, "%llu", &max) == 1 &&
	    cgroup_read("memory.current", line, sizeof(line)) &&
	    sscanf(line, "%llu", &cur) == 1) {
		uint64_t left = max > cur ? max - cur : 0;

		if (mem == 0 || left < mem)
			mem = left ? left : 1;
	}
	return mem;
}

unsigned
img_jobs_for(unsigned cpus, uint64_t mem)
{
	unsigned n = cpus > 1 ? (cpus < 64 ? cpus : 64) : 1;

	if (mem && mem / IMG_JOB_MEM < n)
		n = mem / IMG_JOB_MEM ? (unsigned)(mem / IMG_JOB_MEM) : 1;
	return n;
}

unsigned
img_default_jobs(void)
{
	return img_jobs_for(cpus_usable(), mem_usable());
}

/* Each image's own plan. */
struct plan_each {
	struct img_plan_run run;
	const struct img_plan *plans;
};

static int
prepare_each(struct img_batch *b, size_t i, void *ud, struct kp_error *err)
{
	const struct plan_each *p = ud;
	/* A copy per call: images are prepared at once with jobs. */
	struct img_plan_run run = p->run;

	run.p = &p->plans[i];
	return img_plan_prepare(b, i, &run, err);
}

/* Image I's steps from what its batch target and hives recorded. */
static void
times_of(struct img_times *t, const struct img_target *bt,
	 const struct img_prepared *p)
{
	uint64_t in_hives;

	t->ns[IMG_STEP_COPY_OUT] = p->sw.copy_ns + p->sy.copy_ns;
	t->ns[IMG_STEP_CHECK] = p->sw.check_ns + p->sy.check_ns;
	in_hives = t->ns[IMG_STEP_COPY_OUT] + t->ns[IMG_STEP_CHECK];
	t->ns[IMG_STEP_PLAN] = bt->prepare_ns > in_hives ?
		bt->prepare_ns - in_hives : 0;
	t->ns[IMG_STEP_WRITE_BACK] = bt->write_ns;
}

/* Where R stopped: STAGE, and -1. */
static int
stop(struct img_run_result *r, enum img_run_stage stage)
{
	r->stage = stage;
	return -1;
}

int
img_run(char *const *images, size_t n, const struct img_run_opts *o,
	struct img_run_result *r, struct kp_error *err)
{
	struct img_session *s = NULL;
	struct img_batch b;
	struct img_plan_run run = { o->plan, NULL, NULL };
	struct plan_each each;
	uint64_t t0;
	size_t i;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	r->t = calloc(n ? n : 1, sizeof(*r->t));
	r->device = calloc(n ? n : 1, sizeof(*r->device));
	r->times = calloc(n ? n : 1, sizeof(*r->times));
	r->passed = calloc(n ? n : 1, sizeof(*r->passed));
	if (r->t == NULL || r->device == NULL || r->times == NULL ||
	    r->passed == NULL)
		return kp_fail_oom(err);
	t0 = kp_clock_ns();
	if (img_open(images, n, o->img, &s, err) < 0) {
		img_close(s, false, NULL);
		return stop(r, IMG_RUN_OPEN);
	}
	kp_clock_lap(&r->all.ns[IMG_STEP_OPEN], &t0);
	if (img_find_windows(s, err) < 0) {
		img_close(s, false, NULL);
		return stop(r, IMG_RUN_OPEN);
	}
	kp_clock_lap(&r->all.ns[IMG_STEP_MOUNT], &t0);
	if (o->opened)
		o->opened(o->event_ud, img_backend_name(s), r->t);
	img_batch_init(&b, img_session_backend(s), img_session_handle(s),
		       images, n, o->dry_run);
	b.jobs = b.prepare_jobs = o->jobs ? o->jobs : img_default_jobs();
	b.notice = o->notice;
	b.warn = o->warn;
	b.ud = o->ud;
	b.event = o->event;
	b.event_ud = o->event_ud;
	b.root_of = o->root_of;
	b.passable = o->passable;
	run.s = s;
	run.t = r->t;
	each = (struct plan_each){ run, o->plans };
	/* Refuse anything before changing anything. */
	if (img_batch_select(&b, o->roots, o->nroots, err) < 0) {
		stop(r, IMG_RUN_SELECT);
		goto out;
	}
	r->dry_refused = b.dry_refused;
	for (i = 0; i < n; i++) {
		memcpy(r->device[i], b.t[i].device, sizeof(r->device[i]));
		if (b.t[i].passed &&
		    (r->passed[i] = strdup(b.t[i].passed)) == NULL) {
			kp_fail_oom(err);
			stop(r, IMG_RUN_SELECT);
			goto out;
		}
	}
	if (img_batch_prepare(&b, o->plans ? prepare_each : img_plan_prepare,
			      o->plans ? (void *)&each : &run, err) < 0) {
		stop(r, IMG_RUN_PREPARE);
		goto out;
	}
	for (i = 0; i < n; i++)
		r->nchanges += img_prepared_nwrites(&r->t[i]);
	if (img_batch_write(&b, err) < 0) {
		stop(r, IMG_RUN_WRITE);
		if (img_session_backend(s)->deferred) {
			/* Nothing has reached the images: drop it all, so
			 * that "no image was changed" is true. */
			img_close(s, false, NULL);
			s = NULL;
			goto out;
		}
		r->done = b.done;
		b.done = NULL;
		r->journal_failed = b.journal_failed;
		r->began = b.began;
		/* An overlay dropped undoes everything; else what was
		 * written must reach the disk. */
		img_close(s, o->img->overlay == NULL, NULL);
		s = NULL;
		goto out;
	}
	t0 = kp_clock_ns();
	rc = img_close(s, true, err);
	kp_clock_lap(&r->all.ns[IMG_STEP_VERIFY], &t0);
	s = NULL;
	if (rc < 0)
		stop(r, IMG_RUN_CLOSE);
out:
	for (i = 0; i < n && b.t; i++)
		times_of(&r->times[i], &b.t[i], &r->t[i]);
	img_batch_release(&b);
	img_close(s, false, NULL);
	return rc;
}

void
img_run_release(struct img_run_result *r, size_t n)
{
	size_t i;

	for (i = 0; r->t && i < n; i++)
		img_prepared_release(&r->t[i]);
	free(r->t);
	free(r->device);
	for (i = 0; r->passed && i < n; i++)
		free(r->passed[i]);
	free(r->passed);
	free(r->times);
	free(r->done);
	memset(r, 0, sizeof(*r));
}

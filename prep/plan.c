/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Preparing one image of a batch from its plan (see plan.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "firstboot.h"
#include "hive/system.h"
#include "plan.h"

/* Open hive NAME of image I and tell the plan's listener. */
static int
open_hive(const struct img_plan_run *run, size_t i, const struct img_root *r,
	  const char *name, unsigned flags, struct winhive *wh,
	  struct kp_error *err)
{
	/* Images may be prepared at once: one listener call at a time. */
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	const struct img_plan *p = run->p;
	char label[512];

	if (winhive_open(run->s, r, name, flags | p->hive_flags, wh, err) < 0)
		return -1;
	if (p->hive_opened) {
		snprintf(label, sizeof(label), "'%s': %s: %s",
			 img_name(run->s, i), r->device, name);
		pthread_mutex_lock(&lock);
		p->hive_opened(p->ud, label, hive_state(wh->h),
			       (flags & HIVE_WRITE) && !p->dry_run);
		pthread_mutex_unlock(&lock);
	}
	return 0;
}

static void
label_changes(struct img_session *s, size_t i, struct hive_changes *c,
	      size_t from, const char *hive)
{
	char label[512];

	if (hive)
		snprintf(label, sizeof(label), "%s: %s", img_name(s, i), hive);
	else
		snprintf(label, sizeof(label), "%s", img_name(s, i));
	hive_changes_label(c, from, label);
}

/* Whether a clone-mode first boot is staged on R (ours, or in libguestfs'
 * firstboot service): it puts the values it was written with back after
 * the rearm, so it must be rewritten to carry new ones. */
static int
first_boot_staged(struct img_session *s, const struct img_root *r,
		  bool *staged, struct kp_error *err)
{
	char *path = img_path(s, r, "windows/" FIRSTBOOT_DIR "/firstboot.cmd",
			      staged, err);

	if (path == NULL)
		return -1;
	free(path);
	if (*staged)
		return 0;
	path = img_path(s, r, GUESTFS_DIR "/scripts/" GUESTFS_ONE, staged,
			err);
	free(path);
	return path ? 0 : -1;
}

/* SPP settings into SOFTWARE, and what a staged first boot or
 * cloudbase-init must then carry. */
static int
prepare_settings(const struct img_plan_run *run, size_t i,
		 const struct img_root *r, struct img_prepared *t,
		 struct kp_error *err)
{
	const struct img_plan *p = run->p;
	struct img_session *s = run->s;
	struct winver ver = { 0 };
	size_t from = t->changes.n, mid;
	bool staged;
	int ret = -1;

	if (open_hive(run, i, r, "SOFTWARE", HIVE_WRITE, &t->sw, err) < 0 ||
	    winver_read(t->sw.h, &ver, err) < 0 ||
	    (p->cloud && cloud_check_edition(p->cloud, &ver, err) < 0) ||
	    spp_check_hive(t->sw.h, &ver, true, false, err) < 0 ||
	    (p->settings &&
	     spp_apply(p->settings, t->sw.h, &ver, &t->changes, err) < 0))
		goto out;
	label_changes(s, i, &t->changes, from, "SOFTWARE");
	if (first_boot_staged(s, r, &staged, err) < 0)
		goto out;
	/* --gvlk stages its first boot, or goes into the one staged. */
	mid = t->changes.n;
	if (((staged && t->changes.n > from) || p->gvlk) &&
	    (open_hive(run, i, r, "SYSTEM", p->search || p->clear_search ||
					     p->gvlk ? HIVE_WRITE : 0, &t->sy,
		       err) < 0 ||
	     (p->gvlk ? gen_set_gvlk(s, r, t->sw.h, t->sy.h, p->gvlk,
				     p->gvlk_unlisted, &t->changes, &t->stage,
				     err) :
			gen_refresh(s, r, t->sw.h, t->sy.h, &t->stage, err)) < 0 ||
	     gen_check_dirs(s, &t->stage, err) < 0))
		goto out;
	label_changes(s, i, &t->changes, mid, "SYSTEM");
	/* After gen_refresh, which starts the plan afresh. */
	if (p->cloudbase &&
	    (gen_cloudbase(s, r, t->sw.h, p->cloudbase, &t->stage, err) < 0 ||
	     gen_check_dirs(s, &t->stage, err) < 0))
		goto out;
	/* SYSTEM (the hook) now, unless the search list still edits it. */
	ret = p->dry_run ? 0 : winhive_commit(&t->sw, err) < 0 ||
		(!p->search && !p->clear_search && t->sy.h &&
		 winhive_commit(&t->sy, err) < 0) ? -1 : 0;
out:
	winver_release(&ver);
	return ret;
}

static int
prepare_search(const struct img_plan_run *run, size_t i,
	       const struct img_root *r, struct img_prepared *t,
	       struct kp_error *err)
{
	size_t from = t->changes.n;

	if ((t->sy.h == NULL &&
	     open_hive(run, i, r, "SYSTEM", HIVE_WRITE, &t->sy, err) < 0) ||
	    sys_apply_search_list(t->sy.h, run->p->search, &t->changes,
				  err) < 0)
		return -1;
	label_changes(run->s, i, &t->changes, from, "SYSTEM");
	return run->p->dry_run ? 0 : winhive_commit(&t->sy, err);
}

static int
prepare_both(const struct img_plan_run *run, size_t i,
	     const struct img_root *r, struct img_prepared *t,
	     struct kp_error *err)
{
	const struct img_plan *p = run->p;

	if (open_hive(run, i, r, "SOFTWARE", HIVE_WRITE, &t->sw, err) < 0 ||
	    open_hive(run, i, r, "SYSTEM", HIVE_WRITE, &t->sy, err) < 0 ||
	    p->both(p->both_ud, run->s, r, t->sw.h, t->sy.h, &t->changes,
		    &t->stage, err) < 0)
		return -1;
	label_changes(run->s, i, &t->changes, 0, NULL);
	if (p->dry_run)
		return 0;
	return winhive_commit(&t->sw, err) < 0 ||
	       winhive_commit(&t->sy, err) < 0 ? -1 : 0;
}

/* A committed hive: its journaled commit, or its new file whole. */
static int
queue_hive(struct img_batch *b, size_t i, enum img_phase phase,
	   const struct winhive *wh, const char *label, struct kp_error *err)
{
	if (wh->journal)
		return img_batch_queue_journal(b, i, phase, wh->guest,
					       wh->guest_log[wh->journal->p.log],
					       label, &wh->journal->p, err);
	if (!wh->committed)
		return 0;
	return img_batch_queue(b, i, phase, wh->guest, label, NULL, 0,
			       wh->local, false, 0, err);
}

/* Queue T's files, then its hives: the batch writes them phase by
 * phase, so a first-boot hook in SYSTEM never names a missing script. */
static int
queue(struct img_batch *b, size_t i, const struct img_prepared *t,
      struct kp_error *err)
{
	size_t k;

	for (k = 0; k < t->stage.nfiles; k++) {
		const struct stage_file *f = &t->stage.files[k];
		unsigned flags = f->secret ? IMG_SECRET : 0;

		if (!f->remove)
			flags |= IMG_MKDIR_PARENT;
		if (f->write &&
		    img_batch_queue(b, i, IMG_PHASE_FILES, f->guest, f->label,
				    f->content.data, f->content.len, NULL,
				    f->remove, flags, err) < 0)
			return -1;
	}
	if (queue_hive(b, i, IMG_PHASE_SOFTWARE, &t->sw, "SOFTWARE hive",
		       err) < 0 ||
	    queue_hive(b, i, IMG_PHASE_SYSTEM, &t->sy, "SYSTEM hive", err) < 0)
		return -1;
	return 0;
}

int
img_plan_prepare(struct img_batch *b, size_t i, void *ud,
		 struct kp_error *err)
{
	const struct img_plan_run *run = ud;
	const struct img_plan *p = run->p;
	const struct img_root *r = b->t[i].root;
	struct img_prepared *t = &run->t[i];
	int ret = 0;

	if (p->both)
		ret = prepare_both(run, i, r, t, err);
	if (ret == 0 && ((p->settings && !spp_settings_empty(p->settings)) ||
			 p->gvlk))
		ret = prepare_settings(run, i, r, t, err);
	if (ret == 0 && (p->search || p->clear_search))
		ret = prepare_search(run, i, r, t, err);
	if (ret < 0) {
		kp_error_prefix(err, "'%s'", img_name(run->s, i));
		return -1;
	}
	/* An image with no change is not written at all. */
	return img_prepared_nwrites(t) ? queue(b, i, t, err) : 0;
}

size_t
img_prepared_nwrites(const struct img_prepared *t)
{
	return t->changes.n + stage_nwrites(&t->stage);
}

const char *
img_file_op(const struct stage_file *f)
{
	return f->remove ? "remove" : f->exists ? "update" : "create";
}

int
img_plan_generalize(const void *ud, struct img_session *s,
		    const struct img_root *r, struct hive *software,
		    struct hive *system, struct hive_changes *c,
		    struct stage *p, struct kp_error *err)
{
	const struct img_gen_opts *o = ud;

	return gen_prepare(s, r, software, system, o->mode, o->activate, o->gvlk,
			   o->gvlk_unlisted, c, p, err);
}

void
img_prepared_release(struct img_prepared *t)
{
	winhive_close(&t->sw);
	winhive_close(&t->sy);
	hive_changes_release(&t->changes);
	stage_release(&t->stage);
}

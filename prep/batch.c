/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image batch: choose, check, prepare, write (see batch.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "lib/buf.h"
#include "lib/clock.h"

void
img_batch_init(struct img_batch *b, const struct img_backend *be, void *h,
	       char *const *names, size_t n, bool dry_run)
{
	memset(b, 0, sizeof(*b));
	b->be = be;
	b->h = h;
	b->names = names;
	b->n = n;
	b->dry_run = dry_run;
}

static void
event(struct img_batch *b, enum img_event ev, size_t i, const char *detail)
{
	if (b->event)
		b->event(b->event_ud, ev, i, detail);
}

static int
targets(struct img_batch *b, struct kp_error *err)
{
	if (b->t == NULL && b->n) {
		b->t = calloc(b->n, sizeof(*b->t));
		if (b->t == NULL)
			return kp_fail_oom(err);
	}
	return 0;
}

int
img_batch_queue(struct img_batch *b, size_t i, enum img_phase phase,
		const char *guest, const char *label, const void *data,
		size_t len, const char *local, bool remove, unsigned flags,
		struct kp_error *err)
{
	struct img_target *t;
	struct img_write *w;

	if (targets(b, err) < 0)
		return -1;
	if (i >= b->n || phase >= IMG_NPHASES)
		return kp_fail(err, KP_ERR_INVALID, "no such image or phase");
	t = &b->t[i];
	w = realloc(t->writes, (t->nwrites + 1) * sizeof(*w));
	if (w == NULL)
		return kp_fail_oom(err);
	t->writes = w;
	w = &w[t->nwrites];
	memset(w, 0, sizeof(*w));
	w->phase = phase;
	w->remove = remove;
	w->flags = flags;
	w->len = len;
	w->guest = strdup(guest);
	w->label = strdup(label);
	w->local = local ? strdup(local) : NULL;
	w->data = data && len ? malloc(len) : NULL;
	t->nwrites++;
	if (w->guest == NULL || w->label == NULL || (local && !w->local) ||
	    (data && len && w->data == NULL))
		return kp_fail_oom(err);
	if (w->data)
		memcpy(w->data, data, len);
	return 0;
}

int
img_batch_queue_journal(struct img_batch *b, size_t i, enum img_phase phase,
			const char *guest, const char *guest_log,
			const char *label, const struct journal_writes *journal,
			struct kp_error *err)
{
	struct img_write *w;

	/* Refused while preparing, so before anything is written. */
	if (b->be->journal == NULL)
		return kp_fail(err, KP_ERR_UNAVAILABLE, "%s: the %s backend "
			       "cannot write a hive through its log", label,
			       b->be->name);
	if (img_batch_queue(b, i, phase, guest, label, NULL, 0, NULL, false,
			    0, err) < 0)
		return -1;
	w = &b->t[i].writes[b->t[i].nwrites - 1];
	w->journal = journal;
	w->guest_log = strdup(guest_log);
	return w->guest_log ? 0 : kp_fail_oom(err);
}

/* The partition part of a drive name as Linux and libguestfs give it
 * ("3" of /dev/sdd3, "" of /dev/sdb), or NULL for another kind of name
 * (/dev/mapper/...). */
static const char *
part_of(const char *dev)
{
	const char *p = dev;

	if (strncmp(p, "/dev/sd", 7) != 0)
		return NULL;
	for (p += 7; *p >= 'a' && *p <= 'z'; p++)
		;
	if (p == dev + 7)
		return NULL;
	return p + strspn(p, "0123456789") == p + strlen(p) ? p : NULL;
}

/* Does WANT, a plan's device for one image, name DEV?  A plan names
 * devices as if its image were the only one (/dev/sda3): drives are
 * lettered by their place among the images opened together, which a
 * shard or another plan changes. */
static bool
same_part(const char *want, const char *dev)
{
	const char *a = part_of(want), *b = part_of(dev);

	return a && b ? strcmp(a, b) == 0 : strcmp(want, dev) == 0;
}

/* Image I, an index of a WIM file the user did not name, holds no
 * Windows (L): passed over, as long as another index of its file holds
 * Windows (the file is named by the same string: img_expand). */
static int
pass_over(struct img_batch *b, size_t i, const struct img_locked *l,
	  struct kp_error *err)
{
	struct img_root *roots;
	size_t n, k;

	roots = b->be->roots(b->h, &n);
	for (k = 0; k < n; k++)
		if (strcmp(b->names[roots[k].image], b->names[i]) == 0)
			break;
	if (k == n)
		return kp_fail(err, KP_ERR_INPUT, "'%s': no Windows in any of "
			       "its images (no index holds "
			       "\\Windows\\System32\\config\\SOFTWARE)",
			       b->names[i]);
	if (asprintf(&b->t[i].passed, "%s (%s%s%s): no Windows in this "
		     "image; passed over", b->names[i], l->device,
		     l->wim_name && l->wim_name[0] ? ", " : "",
		     l->wim_name ? l->wim_name : "") < 0) {
		b->t[i].passed = NULL;
		return kp_fail_oom(err);
	}
	event(b, IMG_EV_PASSED, i, b->t[i].passed);
	return 0;
}

/* Choose the installation of image I. */
static int
choose(struct img_batch *b, size_t i, const char *const *want, size_t nwant,
       struct kp_error *err)
{
	struct img_root *roots;
	const struct img_locked *locked;
	size_t n, nl, k, j;
	bool per_image = b->root_of && b->root_of[i];

	event(b, IMG_EV_START, i, NULL);
	if (per_image) {
		want = &b->root_of[i];
		nwant = 1;
	}
	roots = b->be->roots(b->h, &n);
	locked = b->be->locked(b->h, &nl);
	{
		struct img_root *only = NULL, *chosen = NULL;
		struct buf list = BUF_INIT;
		size_t found = 0, match = 0;

		for (k = 0; k < n; k++) {
			if (roots[k].image != i)
				continue;
			found++;
			only = &roots[k];
			buf_addf(&list, "%s%s", found > 1 ? ", " : "",
				 roots[k].device);
			for (j = 0; j < nwant; j++)
				if (per_image ? same_part(want[j],
							  roots[k].device) :
				    strcmp(want[j], roots[k].device) == 0) {
					chosen = &roots[k];
					match++;
				}
		}
		b->t[i].root = found == 1 ? only : match == 1 ? chosen : NULL;
		/* A plan's device for this image must be one of its own. */
		if (found && b->root_of && b->root_of[i] && match == 0) {
			kp_fail(err, KP_ERR_INVALID, "'%s': '%s' is none of its "
				"Windows installations (%s)", b->names[i],
				b->root_of[i], buf_str(&list));
			buf_release(&list);
			return kp_error_remedy(err, KP_REMEDY_CHOOSE_ROOT);
		}
		if (found > 1 && match != 1) {
			kp_fail(err, KP_ERR_INVALID, "'%s' holds %zu Windows "
				"installations (%s)", b->names[i],
				found, buf_str(&list));
			buf_release(&list);
			return kp_error_remedy(err, KP_REMEDY_CHOOSE_ROOT);
		}
		buf_release(&list);
		if (found == 0) {
			for (k = 0; k < nl; k++) {
				if (locked[k].image != i)
					continue;
				if (locked[k].no_windows && b->passable &&
				    b->passable[i])
					return pass_over(b, i, &locked[k],
							 err);
				kp_fail(err, locked[k].bitlocker ?
					KP_ERR_REFUSED : KP_ERR_INPUT,
					"'%s': %s%s%s%s: %s", b->names[i],
					locked[k].device,
					locked[k].wim_name ? " (" : "",
					locked[k].wim_name ?
					locked[k].wim_name : "",
					locked[k].wim_name ? ")" : "",
					locked[k].why);
				return kp_error_remedy(err, locked[k].remedy);
			}
			return kp_fail(err, KP_ERR_INPUT, "'%s': no Windows "
				       "installation found (no NTFS "
				       "filesystem with "
				       "\\Windows\\System32\\config\\SOFTWARE)",
				       b->names[i]);
		}
		snprintf(b->t[i].device, sizeof(b->t[i].device), "%s",
			 b->t[i].root->device);
	}
	event(b, IMG_EV_CHOSEN, i, b->t[i].device);
	return 0;
}

/* choose, with the refusal told to the listener. */
static int
choose_told(struct img_batch *b, size_t i, const char *const *want,
	    size_t nwant, struct kp_error *err)
{
	if (choose(b, i, want, nwant, err) == 0)
		return 0;
	event(b, IMG_EV_REFUSED, i, err->msg);
	return -1;
}

/* Refuse image I if its chosen volume cannot be written. */
static int
check(struct img_batch *b, size_t i, struct kp_error *err)
{
	const char *why;
	char msg[512];

	if (b->t[i].passed)
		return 0;
	why = b->be->unwritable(b->h, b->t[i].root);
	if (why == NULL)
		return 0;
	if (!b->dry_run) {
		event(b, IMG_EV_REFUSED, i, why);
		return kp_fail(err, KP_ERR_REFUSED,
			       "'%s': %s: %s; no image was changed",
			       b->names[i], b->t[i].device, why);
	}
	/* A dry run shows the plan, and ends as the real run would:
	 * refused. */
	snprintf(msg, sizeof(msg), "'%s': %s: %s; a real run would be refused",
		 b->names[i], b->t[i].device, why);
	if (b->warn)
		b->warn(b->ud, msg);
	b->dry_refused = true;
	return 0;
}

/* Every device in WANT names an installation of some image: one that
 * names none is a mistake, not something to ignore. */
static int
all_wanted(struct img_batch *b, const char *const *want, size_t nwant,
	   struct kp_error *err)
{
	struct img_root *roots;
	size_t n, j, k;

	roots = b->be->roots(b->h, &n);
	for (j = 0; j < nwant; j++) {
		for (k = 0; k < n; k++)
			if (strcmp(want[j], roots[k].device) == 0)
				break;
		if (k == n) {
			kp_fail(err, KP_ERR_INVALID, "'%s' names no Windows "
				"installation of %s", want[j], b->n == 1 ?
				"the image" : "these images");
			return kp_error_remedy(err, KP_REMEDY_CHOOSE_ROOT);
		}
	}
	return 0;
}

int
img_batch_choose(struct img_batch *b, const char *const *want, size_t nwant,
		 struct kp_error *err)
{
	size_t i;

	if (targets(b, err) < 0)
		return -1;
	for (i = 0; i < b->n; i++)
		if (choose_told(b, i, want, nwant, err) < 0)
			return -1;
	return all_wanted(b, want, nwant, err);
}

int
img_batch_check(struct img_batch *b, struct kp_error *err)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (check(b, i, err) < 0)
			return -1;
	return 0;
}

int
img_batch_select(struct img_batch *b, const char *const *want, size_t nwant,
		 struct kp_error *err)
{
	size_t i;

	if (targets(b, err) < 0)
		return -1;
	/* Image by image, as the user reads the list: the first problem is
	 * the one reported. */
	for (i = 0; i < b->n; i++)
		if (choose_told(b, i, want, nwant, err) < 0 ||
		    check(b, i, err) < 0)
			return -1;
	return all_wanted(b, want, nwant, err);
}

/* Prepare image I, timed. */
static int
prepare_one(struct img_batch *b, size_t i, img_prepare_fn *prepare, void *ud,
	    struct kp_error *err)
{
	uint64_t t0 = kp_clock_ns();
	int r = prepare(b, i, ud, err);

	b->t[i].prepare_ns = kp_clock_ns() - t0;
	return r;
}

/* Images prepared at once: each takes the next image not yet started. */
struct ppool {
	struct img_batch *b;
	img_prepare_fn *prepare;
	void *ud;
	struct kp_error *errs;	/* one per image */
	int *rc;
	pthread_mutex_t lock;
	size_t next;
	bool stop;		/* one failed: start no other image */
};

static void *
prepare_worker(void *p)
{
	struct ppool *w = p;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&w->lock);
		i = w->next++;
		if (w->stop || i >= w->b->n) {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		pthread_mutex_unlock(&w->lock);
		if (w->b->t[i].passed)
			continue;
		w->rc[i] = prepare_one(w->b, i, w->prepare, w->ud,
				       &w->errs[i]);
		if (w->rc[i] == 0) {
			event(w->b, IMG_EV_PREPARED, i, NULL);
			continue;
		}
		event(w->b, IMG_EV_REFUSED, i, w->errs[i].msg);
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_mutex_unlock(&w->lock);
	}
}

/* Up to b->prepare_jobs images at once: editing a real-sized hive is the
 * CPU work of the batch, and each image has its own backend worker.  The
 * first failure in the images' order is the one reported. */
static int
prepare_parallel(struct img_batch *b, img_prepare_fn *prepare, void *ud,
		 struct kp_error *err)
{
	struct ppool w = { b, prepare, ud, NULL, NULL,
			   PTHREAD_MUTEX_INITIALIZER, 0, false };
	pthread_t th[64];
	size_t i, k, started = 0;
	size_t nth = b->prepare_jobs < b->n ? b->prepare_jobs : b->n;
	int r = 0;

	if (nth > 64)
		nth = 64;
	w.errs = calloc(b->n, sizeof(*w.errs));
	w.rc = calloc(b->n, sizeof(*w.rc));
	if (w.errs == NULL || w.rc == NULL) {
		free(w.errs);
		free(w.rc);
		return kp_fail_oom(err);
	}
	for (k = 0; k < nth; k++)
		if (pthread_create(&th[started], NULL, prepare_worker, &w) == 0)
			started++;
	if (started == 0)
		prepare_worker(&w);	/* no thread: one by one, here */
	for (k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	for (i = 0; i < b->n && r == 0; i++) {
		if (w.rc[i] < 0) {
			*err = w.errs[i];
			r = -1;
		}
	}
	free(w.errs);
	free(w.rc);
	return r;
}

int
img_batch_prepare(struct img_batch *b, img_prepare_fn *prepare, void *ud,
		  struct kp_error *err)
{
	size_t i;

	if (b->prepare_jobs > 1 && b->be->parallel && b->n > 1)
		return prepare_parallel(b, prepare, ud, err);
	for (i = 0; i < b->n; i++) {
		if (b->t[i].passed)
			continue;	/* nothing to prepare */
		if (prepare_one(b, i, prepare, ud, err) < 0) {
			event(b, IMG_EV_REFUSED, i, err->msg);
			return -1;
		}
		event(b, IMG_EV_PREPARED, i, NULL);
	}
	return 0;
}

static int
write_one(struct img_batch *b, const struct img_write *w,
	  struct kp_error *err)
{
	unsigned flags = w->flags & ~IMG_MKDIR_PARENT;

	if (w->remove)
		return b->be->remove(b->h, w->guest, err);
	if (w->journal)
		return b->be->journal(b->h, w->guest, w->guest_log, w->journal,
				      err);
	if (w->flags & IMG_MKDIR_PARENT) {
		const char *slash = strrchr(w->guest, '/');
		char *dir = strndup(w->guest, slash ? (size_t)(slash - w->guest) :
						      0);
		int rc;

		if (dir == NULL)
			return kp_fail_oom(err);
		rc = b->be->mkdir(b->h, dir, false, err);
		free(dir);
		if (rc < 0)
			return -1;
	}
	if (w->local)
		return b->be->replace_file(b->h, w->guest, w->local, flags,
					   err);
	return b->be->replace(b->h, w->guest, w->data, w->len, flags, err);
}

/* Does image I need writing: changes, or what an interrupted write left
 * there (a rerun of the command that was interrupted finds its changes
 * made, and must still leave a sound volume)? */
static bool
has_work(const struct img_batch *b, size_t i)
{
	const struct img_root *r = b->t[i].root;

	return b->t[i].nwrites || (r && r->repair && b->be->repair &&
				   b->be->unwritable(b->h, r) == NULL);
}

/* Image I: make it writable, then every write in phase order. */
static int
write_target(struct img_batch *b, size_t i, struct buf *done,
	     struct kp_error *err)
{
	struct img_target *t = &b->t[i];
	uint64_t t0 = kp_clock_ns();
	unsigned ph;
	size_t k;
	int r = -1;

	/* From here a failure may leave the volume changed: making it
	 * writable may already repair it. */
	t->began = true;
	if (b->be->make_writable(b->h, t->root, err) < 0)
		goto out;
	if (t->root->repair && b->be->repair &&
	    b->be->repair(b->h, t->root, err) < 0)
		goto out;
	for (ph = 0; ph < IMG_NPHASES; ph++) {
		for (k = 0; k < t->nwrites; k++) {
			if (t->writes[k].phase != ph)
				continue;
			if (write_one(b, &t->writes[k], err) < 0) {
				/* Past its first step, a journaled commit's
				 * log completes it. */
				if (t->writes[k].journal &&
				    err->remedy == KP_REMEDY_RERUN)
					__atomic_store_n(&b->journal_failed,
							 true, __ATOMIC_RELAXED);
				goto out;
			}
			event(b, IMG_EV_WROTE, i, t->writes[k].label);
			buf_addf(done, "%s%s", done->len ? ", " : "",
				 t->writes[k].label);
		}
	}
	event(b, IMG_EV_WRITTEN, i, NULL);
	r = 0;
out:
	if (r < 0)
		event(b, IMG_EV_FAILED, i, err->msg);
	t->write_ns = kp_clock_ns() - t0;
	return r;
}

/* One image's outcome when images are written at once. */
struct wres {
	struct buf done;	/* labels written */
	struct kp_error err;
	int rc;
	bool ran;
};

struct wpool {
	struct img_batch *b;
	struct wres *res;
	pthread_mutex_t lock;
	size_t next;
	bool stop;		/* a write failed: start no other image */
};

static void *
write_worker(void *p)
{
	struct wpool *w = p;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (w->next < w->b->n && !has_work(w->b, w->next))
			w->next++;
		i = w->next++;
		if (w->stop || i >= w->b->n) {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		w->res[i].ran = true;
		pthread_mutex_unlock(&w->lock);
		w->res[i].rc = write_target(w->b, i, &w->res[i].done,
					    &w->res[i].err);
		if (w->res[i].rc < 0) {
			pthread_mutex_lock(&w->lock);
			w->stop = true;
			pthread_mutex_unlock(&w->lock);
		}
	}
}

/* Image I was written: the caller reports what changed, so only a
 * repair that changed no setting (a journal completed, a mirror fixed)
 * is said here, or it would go unmentioned. */
static void
repaired(const struct img_batch *b, size_t i)
{
	char msg[512];

	if (b->t[i].nwrites || !b->notice)
		return;
	snprintf(msg, sizeof(msg), "%s: repaired what an interrupted write "
		 "left; no setting changed", b->names[i]);
	b->notice(b->ud, msg);
}

/* Each image's writes as in the one-by-one case, several images at once
 * (the backend gives each image a worker of its own); the outcome is
 * then reported in the images' order. */
static int
write_parallel(struct img_batch *b, struct kp_error *err)
{
	struct wpool w = { b, NULL, PTHREAD_MUTEX_INITIALIZER, 0, false };
	pthread_t th[64];
	struct buf done = BUF_INIT;
	size_t i, k, nth = b->jobs < b->n ? b->jobs : b->n, started = 0;
	long failed = -1;

	if (nth > 64)
		nth = 64;
	w.res = calloc(b->n, sizeof(*w.res));
	if (w.res == NULL)
		return kp_fail_oom(err);
	for (i = 0; i < b->n; i++)
		w.res[i].err = (struct kp_error)KP_ERROR_INIT;
	for (k = 0; k < nth; k++)
		if (pthread_create(&th[started], NULL, write_worker, &w) == 0)
			started++;
	if (started == 0)
		write_worker(&w);	/* no thread: one by one, here */
	for (k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	for (i = 0; i < b->n; i++) {
		if (!w.res[i].ran)
			continue;
		if (w.res[i].rc == 0) {
			b->t[i].written = true;
			repaired(b, i);
		} else if (failed < 0) {
			failed = (long)i;
		}
	}
	if (failed >= 0) {
		i = (size_t)failed;
		*err = w.res[i].err;
		b->began = b->t[i].began;
		kp_error_prefix(err, "'%s'", b->names[i]);
		if (w.res[i].done.len)
			buf_addf(&done, "%s in '%s'", buf_str(&w.res[i].done),
				 b->names[i]);
		for (k = 0; k < b->n; k++) {
			if (k != i && w.res[k].ran && w.res[k].rc < 0 &&
			    w.res[k].done.len)
				buf_addf(&done, "%s%s in '%s'",
					 done.len ? ", " : "",
					 buf_str(&w.res[k].done), b->names[k]);
			else if (b->t[k].written)
				buf_addf(&done, "%s'%s'", done.len ? ", " : "",
					 b->names[k]);
		}
		if (done.len)
			b->done = buf_detach(&done, NULL);
	}
	buf_release(&done);
	for (i = 0; i < b->n; i++)
		buf_release(&w.res[i].done);
	free(w.res);
	return failed >= 0 ? -1 : 0;
}

int
img_batch_write(struct img_batch *b, struct kp_error *err)
{
	struct buf done = BUF_INIT;
	size_t i, k;

	free(b->done);
	b->done = NULL;
	if (!b->dry_run && b->jobs > 1 && b->be->parallel && b->n > 1)
		return write_parallel(b, err);
	for (i = 0; i < b->n && !b->dry_run; i++) {
		if (!has_work(b, i))
			continue;	/* unchanged images are not touched */
		if (write_target(b, i, &done, err) == 0) {
			b->t[i].written = true;
			buf_release(&done);
			repaired(b, i);
			continue;
		}
		kp_error_prefix(err, "'%s'", b->names[i]);
		b->began = b->t[i].began;
		if (done.len)
			buf_addf(&done, " in '%s'", b->names[i]);
		for (k = 0; k < i; k++)
			if (b->t[k].written)
				buf_addf(&done, "%s'%s'", done.len ? ", " : "",
					 b->names[k]);
		if (done.len)
			b->done = buf_detach(&done, NULL);
		buf_release(&done);
		return -1;
	}
	return 0;
}

int
img_batch_run(struct img_batch *b, const char *const *want, size_t nwant,
	      img_prepare_fn *prepare, void *ud, struct kp_error *err)
{
	if (b->be->find_windows(b->h, err) < 0 ||
	    img_batch_select(b, want, nwant, err) < 0 ||
	    img_batch_prepare(b, prepare, ud, err) < 0)
		return -1;
	return img_batch_write(b, err);
}

void
img_batch_release(struct img_batch *b)
{
	size_t i, k;

	for (i = 0; b->t && i < b->n; i++) {
		for (k = 0; k < b->t[i].nwrites; k++) {
			free(b->t[i].writes[k].guest);
			free(b->t[i].writes[k].label);
			free(b->t[i].writes[k].data);
			free(b->t[i].writes[k].local);
			free(b->t[i].writes[k].guest_log);
		}
		free(b->t[i].writes);
		free(b->t[i].passed);
	}
	free(b->t);
	free(b->done);
	b->t = NULL;
	b->done = NULL;
}

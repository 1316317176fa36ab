/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Windows disk images through one libguestfs appliance: the appliance
 * backend (img_backend_appliance, backend.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <guestfs.h>

#include "backend.h"
#include "disk.h"
#include "secdesc.h"
#include "uri.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/digest.h"
#include "lib/fileio.h"

/* libguestfs numbers at most 255 drives. */
#define MAX_IMAGES 200
/* ntfs-3g's exit codes (ntfs-3g.probe). */
#define NTFS_NOT_NTFS 12
#define NTFS_CORRUPT 13
#define NTFS_HIBERNATED 14
#define NTFS_UNCLEAN 15
/* Seconds one libguestfs call may run (--request-timeout): twice a
 * worker's, as the appliance may emulate its CPU (ten times slower). */
#define APPLIANCE_TIMEOUT 120

/*
 * The request deadline, which libguestfs does not have: a thread kills
 * qemu once one call has run too long, and the call fails.  libguestfs
 * says when a call begins (GUESTFS_EVENT_ENTER), not when it ends, so the
 * clock runs from the latest call's start until the backend operation
 * returns (dog_done): kmsprep's own work between operations is not
 * timed, and within one it is short.
 */
struct watchdog {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t due;		/* kp_clock_ms(); 0: no call running */
	uint64_t busy0;		/* qemu's kp_busy_ms() when the call began */
	int pidfd;		/* qemu: a pidfd cannot name a reused pid */
	int handle;		/* of dog_enter's event callback, or -1 */
	pid_t pid;
	unsigned timeout;	/* seconds */
	bool running, stop;
	/* Once qemu was killed: KP_ERR_INPUT if it kept computing (the
	 * image made the guest loop), KP_ERR_UNAVAILABLE if it was kept
	 * waiting (by its storage); else 0. */
	int fired;
};

struct gfs_session {
	guestfs_h *g;
	struct img_opts o;
	char **images;		/* as given */
	char **drives;		/* what is attached: the image or an overlay */
	char **formats;
	struct img_uri *uris;	/* remote drives (protocol NULL: a file) */
	size_t n;
	struct img_root *roots;
	size_t nroots;
	struct img_locked *locked;
	size_t nlocked;
	char *tmpdir;		/* local scratch, mode 0700 */
	struct disk **disks;	/* local images, as inspected */
	struct disk_server **srv; /* their qemu-nbd, where one serves it */
	unsigned seq;		/* for unique local file names */
	unsigned nmnt;		/* mount points made: /r0, /r1, ... */
	char why[256];		/* qemu's complaint when the launch failed */
	char *hv_script;	/* qemu as libguestfs runs it (sized_hv) */
	int hv_fd;		/* the script: a sealed memfd, or -1 */
	char *hv;		/* the qemu that script runs */
	/* The last error libguestfs reported to its handler, or a tool it
	 * ran printed (qemu-img, qemu): its final message often only says
	 * "see earlier error messages", or "see debug messages above". */
	char earlier[256];
	/* The appliance's output comes in pieces ("qemu-img:", " ", the
	 * rest): its line so far. */
	char part[512];		/* a longer line is cut */
	size_t npart;
	struct watchdog dog;
};

/* Format a message for the CLI's callback FN (progress or warning). */
static void say(struct gfs_session *s, img_notice_fn *fn, const char *fmt,
		va_list ap) KP_PRINTF(3, 0);

static void
say(struct gfs_session *s, img_notice_fn *fn, const char *fmt, va_list ap)
{
	char msg[700];

	if (fn == NULL)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fn(s->o.ud, msg);
}

static void note(struct gfs_session *s, const char *fmt, ...) KP_PRINTF(2, 3);
static void warn(struct gfs_session *s, const char *fmt, ...) KP_PRINTF(2, 3);

/* Progress, which the CLI may silence. */
static void
note(struct gfs_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(s, s->o.notice, fmt, ap);
	va_end(ap);
}

/* What the user must hear even when progress is off. */
static void
warn(struct gfs_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(s, s->o.warn ? s->o.warn : s->o.notice, fmt, ap);
	va_end(ap);
}


/* The time qemu and the qemu-nbd serving its drives have run or been
 * ready to: a confined qemu-nbd that a hostile image makes spin leaves
 * qemu waiting, which must not read as a stall. */
static uint64_t
dog_busy(const struct gfs_session *s)
{
	uint64_t t = kp_busy_ms(s->dog.pid);
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->srv[i])
			t += kp_busy_ms(disk_server_pid(s->srv[i]));
	return t;
}

/* The watchdog's thread: it sleeps until the current call's deadline,
 * and kills qemu if that call has not returned (dog_idle) nor another
 * begun by then. */
static void *
dog_run(void *arg)
{
	struct gfs_session *s = arg;
	struct watchdog *d = &s->dog;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		struct timespec at;

		if (d->due && kp_clock_ms() >= d->due) {
			uint64_t busy = dog_busy(s);
			bool looped = busy > d->busy0 && (busy - d->busy0) * 2 >=
					(uint64_t)d->timeout * 1000;

			syscall(SYS_pidfd_send_signal, d->pidfd, SIGKILL, NULL,
				0);
			d->fired = looped ? KP_ERR_INPUT : KP_ERR_UNAVAILABLE;
			d->due = 0;
		}
		if (d->due == 0) {
			pthread_cond_wait(&d->cond, &d->lock);
			continue;
		}
		at.tv_sec = (time_t)(d->due / 1000);
		at.tv_nsec = (long)(d->due % 1000) * 1000000;
		pthread_cond_timedwait(&d->cond, &d->lock, &at);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* GUESTFS_EVENT_ENTER: a call begins, and its deadline with it. */
static void
dog_enter(guestfs_h *g, void *opaque, uint64_t event, int handle, int flags,
	  const char *buf, size_t len, const uint64_t *array, size_t n)
{
	struct gfs_session *s = opaque;
	struct watchdog *d = &s->dog;
	uint64_t busy = dog_busy(s);

	(void)g, (void)event, (void)handle, (void)flags, (void)buf;
	(void)len, (void)array, (void)n;
	pthread_mutex_lock(&d->lock);
	if (!d->fired) {
		d->due = kp_clock_ms() + (uint64_t)d->timeout * 1000;
		d->busy0 = busy;
		pthread_cond_signal(&d->cond);
	}
	pthread_mutex_unlock(&d->lock);
}

/* No call is running: kmsprep's own work (hives checked in their
 * servers, plans made, an events pipe that blocks) is not timed. */
static void
dog_idle(struct gfs_session *s)
{
	struct watchdog *d = &s->dog;

	if (!d->running)
		return;
	pthread_mutex_lock(&d->lock);
	d->due = 0;
	pthread_mutex_unlock(&d->lock);
}

/* The thread ends, and calls are no longer timed. */
static void
dog_stop(struct gfs_session *s)
{
	struct watchdog *d = &s->dog;

	if (!d->running)
		return;
	if (d->handle >= 0)
		guestfs_delete_event_callback(s->g, d->handle);
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	close(d->pidfd);
	d->pidfd = -1;
	d->running = false;
}

/* Watch the launched appliance.  Without a qemu of its own to kill (the
 * libvirt backend), a pidfd or a thread, calls have no deadline: said. */
static void
dog_start(struct gfs_session *s)
{
	struct watchdog *d = &s->dog;
	pthread_condattr_t ca;
	sigset_t all, old;

	d->timeout = s->o.timeout_s ? s->o.timeout_s : APPLIANCE_TIMEOUT;
	d->handle = -1;
	/* Asked, not required: no error of its is kept for a message. */
	guestfs_push_error_handler(s->g, NULL, NULL);
	d->pid = guestfs_get_pid(s->g);
	guestfs_pop_error_handler(s->g);
	d->pidfd = d->pid > 0 ? (int)syscall(SYS_pidfd_open, d->pid, 0) : -1;
	if (d->pidfd < 0) {
		warn(s, "the appliance's calls have no deadline here (%s)",
		     d->pid > 0 ? strerror(errno) : "no qemu process of its "
		     "own");
		return;
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	d->running = pthread_create(&d->thread, NULL, dog_run, s) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (d->running) {
		d->handle = guestfs_set_event_callback(s->g, dog_enter,
						       GUESTFS_EVENT_ENTER, 0,
						       s);
		if (d->handle >= 0)
			return;
		dog_stop(s);
	} else {
		pthread_cond_destroy(&d->cond);
		pthread_mutex_destroy(&d->lock);
		close(d->pidfd);
		d->pidfd = -1;
	}
	warn(s, "the appliance's calls have no deadline here (no watchdog)");
}

/* Did the watchdog stop qemu?  Its verdict (a kp_status), or 0. */
static int
dog_fired(struct gfs_session *s)
{
	int r;

	if (!s->dog.running)
		return s->dog.fired;
	pthread_mutex_lock(&s->dog.lock);
	r = s->dog.fired;
	pthread_mutex_unlock(&s->dog.lock);
	return r;
}

/* What the deadline did, for a message. */
static const char *
dog_says(struct gfs_session *s, char *buf, size_t sz)
{
	snprintf(buf, sz, "the appliance did not answer within %u s "
		 "and was stopped (%s)", s->dog.timeout,
		 s->dog.fired == KP_ERR_INPUT ? "it kept computing: what it "
		 "reads in the image can make it loop" : "it was kept waiting, "
		 "by its storage or the system");
	return buf;
}

/* An operation is over: the deadline is off.  If qemu was stopped
 * during it, the error says so and carries the verdict's status, its
 * own message and remedy kept (a journal's "the change is in the log,
 * run again"); an operation that read failed calls as "not there" (a
 * volume that would not mount is not "no Windows": GUESSED) fails
 * outright.  A write that returned whole stands: qemu was stopped after
 * it. */
static int
dog_done(struct gfs_session *s, int r, bool guessed, struct kp_error *err)
{
	char why[256], msg[KP_ERROR_MSG_MAX];
	enum kp_remedy remedy;

	dog_idle(s);
	if (!dog_fired(s) || (r == 0 && !guessed) || err == NULL)
		return r;
	dog_says(s, why, sizeof(why));
	if (r == 0 || err->status == KP_OK)
		return kp_fail(err, dog_fired(s), "%s", why);
	if (strstr(err->msg, why) == NULL) {
		remedy = err->remedy;
		snprintf(msg, sizeof(msg), "%s", err->msg);
		kp_fail(err, dog_fired(s), "%s (%s)", msg, why);
		err->remedy = remedy;
	}
	err->status = dog_fired(s);
	return -1;
}

/* Name qemu as the user knows it (LIBGUESTFS_HV or the default), not as
 * the script that libguestfs ran and that is gone with the scratch
 * directory. */
static void
unwrap_hv(const struct gfs_session *s, char *buf, size_t sz)
{
	char *at, rest[512];
	size_t k;

	if (s->hv_script == NULL || s->hv == NULL ||
	    (at = strstr(buf, s->hv_script)) == NULL)
		return;
	k = (size_t)(at - buf);
	snprintf(rest, sizeof(rest), "%s", at + strlen(s->hv_script));
	snprintf(at, sz - k, "%s%s", s->hv, rest);
}
/* The first line of libguestfs' last error; where it points at earlier
 * messages the user never saw, what they said. */
static const char *
gmsg(struct gfs_session *s, char *buf, size_t sz)
{
	static const char *const pointers[] = {
		", see earlier error messages", ", see debug messages above",
	};
	const char *m = s->g ? guestfs_last_error(s->g) : NULL;
	const char *nl, *at = NULL;
	size_t i;
	int n;

	if (dog_fired(s))
		return dog_says(s, buf, sz);
	if (m == NULL)
		m = "unknown error";
	nl = strchr(m, '\n');
	n = nl ? (int)(nl - m) : (int)strlen(m);
	for (i = 0; i < 2 && at == NULL; i++)
		at = memmem(m, (size_t)n, pointers[i], strlen(pointers[i]));
	if (at && s->earlier[0])
		snprintf(buf, sz, "%.*s: %s", (int)(at - m), m, s->earlier);
	else
		snprintf(buf, sz, "%.*s", n, m);
	unwrap_hv(s, buf, sz);
	return buf;
}

/* libguestfs' errors, which it would print: the last one is kept for a
 * final message that only points at it. */
static void
on_error(guestfs_h *g, void *opaque, const char *msg)
{
	struct gfs_session *s = opaque;

	(void)g;
	if (!strstr(msg, "see earlier error messages") &&
	    !strstr(msg, "see debug messages above"))
		snprintf(s->earlier, sizeof(s->earlier), "%s", msg);
}

static int
gfail(struct gfs_session *s, struct kp_error *err, int code, const char *fmt,
      ...) KP_PRINTF(4, 5);

static int
gfail(struct gfs_session *s, struct kp_error *err, int code, const char *fmt,
      ...)
{
	char what[512], why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (dog_fired(s))
		code = dog_fired(s);
	return kp_fail(err, code, "%s: %s", what, gmsg(s, why, sizeof(why)));
}

/*
 * Before the launch.
 */

/* Does a running qemu hold IMAGE?  qemu takes OFD byte-range locks at
 * offsets 100 and up on every image it opens; any lock there conflicts
 * with a write lock. */
static bool
in_use(const char *image)
{
	struct flock fl = { 0 };
	int fd = open(image, O_RDONLY | O_CLOEXEC);
	bool used;

	if (fd < 0)
		return false;
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 100;
	fl.l_len = 200;
	used = fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
	close(fd);
	return used;
}

/* IMAGE, a local file, can be read and is not in use; whether it can be
 * written the session checked for every backend (image/session.c). */
static int
check_image(const char *image, struct kp_error *err)
{
	struct stat st;

	if (stat(image, &st) < 0)
		return kp_fail_errno(err, KP_ERR_INPUT, errno,
				     "'%s': cannot open", image);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return kp_fail(err, KP_ERR_INPUT,
			       "'%s': not a disk image (not a regular file or "
			       "block device)", image);
	if (access(image, R_OK) < 0)
		return kp_fail_errno(err, KP_ERR_INPUT, errno,
				     "'%s': cannot read", image);
	if (in_use(image))
		return kp_fail(err, KP_ERR_REFUSED,
			       "'%s': the image is in use by a running virtual "
			       "machine (qemu holds its lock); shut the VM down "
			       "first", image);
	return 0;
}

/* One whole line of output P of L bytes: keep the one in which qemu or
 * qemu-img says why it stopped. */
static void
capture_line(struct gfs_session *s, const char *p, size_t l)
{
	if (l > 12 && !s->why[0] && memmem(p, l, "qemu-system", 11) &&
	    memmem(p, l, "rror", 4))
		snprintf(s->why, sizeof(s->why), "%.*s", (int)l, p);
	if (l > 9 && (memmem(p, l, "qemu-img: ", 10) ||
		      memmem(p, l, "qemu-system", 11)) &&
	    (memmem(p, l, "rror", 4) || memmem(p, l, "ailed", 5) ||
	     memmem(p, l, "annot", 5) || memmem(p, l, "refused", 7)))
		snprintf(s->earlier, sizeof(s->earlier), "%.*s", (int)l, p);
}

/* libguestfs' own error says only that the launch or a tool failed:
 * what qemu said is in the output, kept line by line.  The appliance's
 * output arrives in pieces that are put back together; other events are
 * whole messages. */
static void
capture(guestfs_h *g, void *opaque, uint64_t event, int handle, int flags,
	const char *buf, size_t len, const uint64_t *array, size_t n)
{
	struct gfs_session *s = opaque;
	const char *p, *end = buf + len;

	(void)g;
	(void)handle;
	(void)flags;
	(void)array;
	(void)n;
	for (p = buf; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (event != GUESTFS_EVENT_APPLIANCE) {
			capture_line(s, p, l);
		} else {
			size_t room = sizeof(s->part) - s->npart;

			memcpy(s->part + s->npart, p, l < room ? l : room);
			s->npart += l < room ? l : room;
			if (nl) {
				capture_line(s, s->part, s->npart);
				s->npart = 0;
			}
		}
		p += l + (nl != NULL);
	}
}

/*
 * The appliance's memory.  libguestfs gives it 1280 MiB, which the guest's
 * page cache fills when several 80 MB hives stream through it, and qemu
 * 7.2 gives TCG a 1 GiB translation cache, which a run of a minute fills
 * too: 2.5 GB for 8 images.  512 MiB and 128 MiB took no longer on 8
 * images (docs/performance.md).
 */
#define GFS_MEMSIZE_MB 512
#define GFS_TB_SIZE_MB "128"

/* libguestfs passes "-machine accel=kvm:tcg" (or "accel=tcg"), which has no
 * room for TCG's cache size: qemu runs through this script, which turns
 * each accelerator into "-accel", the form that takes "tb-size".  What it
 * runs is libguestfs' own choice of qemu (LIBGUESTFS_HV or the default),
 * quoted between the two halves. */
static const char hv_head[] =
	"#!/bin/sh\n"
	"# Written by kmsprep for libguestfs: -machine accel=A:B becomes\n"
	"# -accel A -accel B, so that TCG's translation cache can be sized.\n"
	"set -f\n"
	"m=\n"
	"for a; do\n"
	"\tshift\n"
	"\tif [ -z \"$m\" ]; then\n"
	"\t\tif [ \"$a\" = -machine ]; then m=1; else set -- \"$@\" \"$a\"; fi\n"
	"\t\tcontinue\n"
	"\tfi\n"
	"\tm= rest= accels=\n"
	"\tIFS=,\n"
	"\tfor o in $a; do\n"
	"\t\tcase $o in\n"
	"\t\taccel=*) accels=${o#accel=} ;;\n"
	"\t\t*) rest=${rest:+$rest,}$o ;;\n"
	"\t\tesac\n"
	"\tdone\n"
	"\tIFS=:\n"
	"\tfor x in $accels; do\n"
	"\t\t[ \"$x\" = tcg ] && x=tcg,tb-size=" GFS_TB_SIZE_MB "\n"
	"\t\tset -- \"$@\" -accel \"$x\"\n"
	"\tdone\n"
	"\tunset IFS\n"
	"\t[ -n \"$rest\" ] && set -- \"$@\" -machine \"$rest\"\n"
	"done\n"
	"[ -n \"$m\" ] && set -- \"$@\" -machine\n"
	"exec '";
static const char hv_tail[] = "' \"$@\"\n";

/* Run the handle's qemu through hv_head's script.  The script is a
 * sealed memfd of this process, run as /proc/PID/fd/N: nothing under
 * TMPDIR is ever executed (a directory there may be another user's to
 * rename), and a noexec /tmp does not matter.  It is given the real
 * qemu's size (the rest is a hole that is never read) and mtime, the key
 * of libguestfs' cache of what qemu can do: that cache is then the one
 * the real qemu has, kept between runs and renewed with qemu.  libvirt
 * starts qemu itself, as another user: its handles are left alone. */
static int
sized_hv(struct gfs_session *s, struct kp_error *err)
{
	char *backend = guestfs_get_backend(s->g), *given = NULL, *hv = NULL,
	     *path = NULL, *text = NULL;
	struct stat st;
	int r = -1, fd = -1;

	if (backend == NULL || strcmp(backend, "direct") != 0) {
		free(backend);
		return 0;
	}
	free(backend);
	if (s->hv_script)	/* the retry under TCG: the same script */
		return guestfs_set_hv(s->g, s->hv_script) < 0 ?
			gfail(s, err, KP_ERR_UNAVAILABLE, "cannot set qemu") :
			0;
	given = guestfs_get_hv(s->g);
	if (given == NULL)
		return gfail(s, err, KP_ERR_UNAVAILABLE, "no qemu");
	hv = realpath(given, NULL);
	if (hv == NULL || stat(hv, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = kp_fail_errno(err, KP_ERR_UNAVAILABLE, hv ? EACCES : errno,
				  "qemu '%s' (LIBGUESTFS_HV, or libguestfs' "
				  "default)", given);
		goto out;
	}
	/* Between single quotes, a quote could not be said. */
	if (strchr(hv, '\'')) {
		r = kp_fail(err, KP_ERR_UNAVAILABLE, "qemu '%s': a name with a "
			    "quote in it is not run", hv);
		goto out;
	}
	if (asprintf(&text, "%s%s%s", hv_head, hv, hv_tail) < 0) {
		text = NULL;
		r = kp_fail_oom(err);
		goto out;
	}
	fd = memfd_create("kmsprep-qemu", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || kp_write_all(fd, text, strlen(text)) < 0 ||
	    ((off_t)strlen(text) < st.st_size &&
	     ftruncate(fd, st.st_size) < 0) ||
	    fchmod(fd, 0500) < 0 ||
	    futimens(fd, (struct timespec[2]){ st.st_mtim, st.st_mtim }) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW |
				   F_SEAL_SHRINK | F_SEAL_SEAL) < 0 ||
	    asprintf(&path, "/proc/%d/fd/%d", (int)getpid(), fd) < 0) {
		path = NULL;
		r = kp_fail_errno(err, KP_ERR_FAIL, errno, "qemu's script");
		goto out;
	}
	if (guestfs_set_hv(s->g, path) < 0) {
		r = gfail(s, err, KP_ERR_UNAVAILABLE, "cannot set qemu");
		goto out;
	}
	s->hv_fd = fd;
	s->hv_script = path;
	s->hv = hv;
	fd = -1;
	path = hv = NULL;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(given);
	free(hv);
	free(path);
	free(text);
	return r;
}

/* A handle with every drive attached; TCG forces software emulation. */
static int
new_handle(struct gfs_session *s, bool tcg, struct kp_error *err)
{
	char *tcg_settings[] = { (char *)"force_tcg", NULL };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i;

	s->g = guestfs_create();
	if (s->g == NULL)
		return kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno ? errno : EINVAL,
				     "cannot create a libguestfs handle");
	guestfs_set_error_handler(s->g, on_error, s);
	/* Verbose to see what qemu and qemu-img say should they fail. */
	if (guestfs_set_event_callback(s->g, capture, GUESTFS_EVENT_APPLIANCE |
					       GUESTFS_EVENT_LIBRARY |
					       GUESTFS_EVENT_WARNING, 0,
				       s) >= 0)
		guestfs_set_verbose(s->g, 1);
	if (tcg && guestfs_set_backend_settings(s->g, tcg_settings) < 0)
		return gfail(s, err, KP_ERR_UNAVAILABLE, "cannot select TCG");
	if (guestfs_set_memsize(s->g, GFS_MEMSIZE_MB) < 0)
		return gfail(s, err, KP_ERR_UNAVAILABLE, "cannot set memory");
	if (sized_hv(s, err) < 0)
		return -1;
	/* Two vCPUs cut the time per image by about a quarter. */
	if (cpus > 1 && guestfs_set_smp(s->g, cpus > 2 ? 2 : (int)cpus) < 0)
		return gfail(s, err, KP_ERR_UNAVAILABLE, "cannot set vCPUs");
	for (i = 0; i < s->n; i++) {
		bool ro = s->o.readonly;

		const struct img_uri *u = &s->uris[i];

		/* The optional arguments as a struct: a remote drive's server
		 * and username only when it has them (nbd takes no user). */
		struct guestfs_add_drive_opts_argv da = {
			.bitmask = GUESTFS_ADD_DRIVE_OPTS_FORMAT_BITMASK |
				   GUESTFS_ADD_DRIVE_OPTS_READONLY_BITMASK,
			.format = "raw",
			.readonly = ro,
		};
		char *nbd[2] = { s->drives[i], NULL };

		/* A 4Kn disk: qemu cannot tell from a raw file. */
		if (s->disks[i] && disk_sector(s->disks[i]) == 4096) {
			da.bitmask |= GUESTFS_ADD_DRIVE_OPTS_BLOCKSIZE_BITMASK;
			da.blocksize = 4096;
		}

		if (s->srv[i]) {
			/* Its confined qemu-nbd: the disk's bytes, raw. */
			da.bitmask |= GUESTFS_ADD_DRIVE_OPTS_PROTOCOL_BITMASK |
				      GUESTFS_ADD_DRIVE_OPTS_SERVER_BITMASK;
			da.protocol = "nbd";
			da.server = nbd;
			if (guestfs_add_drive_opts_argv(s->g, "", &da) < 0)
				return gfail(s, err, KP_ERR_INPUT, "'%s'",
					     s->images[i]);
			continue;
		}
		if (u->protocol) {
			da.bitmask |= GUESTFS_ADD_DRIVE_OPTS_PROTOCOL_BITMASK;
			da.protocol = u->protocol;
		}
		if (u->server[0]) {
			da.bitmask |= GUESTFS_ADD_DRIVE_OPTS_SERVER_BITMASK;
			da.server = u->server;
		}
		if (u->username) {
			da.bitmask |= GUESTFS_ADD_DRIVE_OPTS_USERNAME_BITMASK;
			da.username = u->username;
		}
		/* A remote drive that cannot be reached is the environment's
		 * fault (exit 5), a file's the input's. */
		if (guestfs_add_drive_opts_argv(s->g, u->protocol ?
						u->exportname : s->drives[i],
						&da) < 0)
			return gfail(s, err, u->protocol ? KP_ERR_UNAVAILABLE :
				     KP_ERR_INPUT, "'%s'", s->images[i]);
	}
	return 0;
}

/* A step of the appliance's that libguestfs cannot report on (the
 * launch): a thread tells the CLI's progress callback how many seconds
 * it has run, once a second, until the step is over. */
struct ticker {
	struct gfs_session *s;
	const char *step;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct timespec t0;	/* CLOCK_MONOTONIC */
	bool stop;
	bool running;		/* the thread was started */
};

static unsigned
ticker_seconds(const struct ticker *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (unsigned)(now.tv_sec - t->t0.tv_sec -
			  (now.tv_nsec < t->t0.tv_nsec));
}

static void *
ticker_run(void *arg)
{
	struct ticker *t = arg;
	struct timespec next = t->t0;
	unsigned sec = 0;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		next.tv_sec++;
		/* Woken early only to stop: a tick is never repeated. */
		while (!t->stop && pthread_cond_timedwait(&t->cond, &t->lock,
							  &next) != ETIMEDOUT)
			;
		if (!t->stop)
			t->s->o.progress(t->s->o.ud, t->step, 0, 0, ++sec);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* Say STEP has begun, and keep saying for how long; nothing without a
 * progress callback.  Without a thread the CLI hears the start and the
 * end only. */
static void
ticker_start(struct ticker *t, struct gfs_session *s, const char *step)
{
	pthread_condattr_t ca;
	sigset_t all, old;

	memset(t, 0, sizeof(*t));
	t->s = s;
	t->step = step;
	if (s->o.progress == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	s->o.progress(s->o.ud, step, 0, 0, 0);
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* The signals kmsprep catches stay the main thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	t->running = pthread_create(&t->thread, NULL, ticker_run, t) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The step is over: the thread is gone when this returns, so that the
 * process has one thread again, and the CLI hears the end. */
static void
ticker_stop(struct ticker *t)
{
	struct gfs_session *s = t->s;

	if (s == NULL || s->o.progress == NULL)
		return;
	if (t->running) {
		pthread_mutex_lock(&t->lock);
		t->stop = true;
		pthread_cond_signal(&t->cond);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->thread, NULL);
	}
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	s->o.progress(s->o.ud, NULL, 0, 0, ticker_seconds(t));
	t->s = NULL;
}

/* Will qemu emulate the CPU?  The launch takes twice as long or more,
 * which the progress line says.  The whole list is read: asking for a
 * setting that is not there is an error, which the error handler would
 * keep as the launch's. */
static bool
emulated(struct gfs_session *s)
{
	char **set = guestfs_get_backend_settings(s->g);
	bool r = access("/dev/kvm", R_OK | W_OK) < 0;
	size_t i;

	for (i = 0; set && set[i]; i++) {
		r = r || strncmp(set[i], "force_tcg", 9) == 0;
		free(set[i]);
	}
	free(set);
	return r;
}

/* guestfs_launch, which can take a minute, with the seconds counted. */
static int
launch_counted(struct gfs_session *s)
{
	struct ticker t;
	int r;

	ticker_start(&t, s, emulated(s) ? "starting the appliance (TCG)" :
					  "starting the appliance");
	r = guestfs_launch(s->g);
	ticker_stop(&t);
	return r;
}

static int
launch(struct gfs_session *s, struct kp_error *err)
{
	char first[512];

	note(s, "starting the appliance for %zu image%s", s->n,
	     s->n == 1 ? "" : "s");
	if (launch_counted(s) == 0) {
		guestfs_set_verbose(s->g, 0);
		dog_start(s);
		return 0;
	}
	if (s->why[0])
		snprintf(first, sizeof(first), "%s", s->why);
	else
		gmsg(s, first, sizeof(first));
	/* A setting the user chose is honoured, not second-guessed; without
	 * /dev/kvm libguestfs used TCG already, and a lock is no KVM fault. */
	if (getenv("LIBGUESTFS_BACKEND_SETTINGS") ||
	    access("/dev/kvm", R_OK | W_OK) < 0 || strstr(first, " lock"))
		return kp_fail(err, KP_ERR_UNAVAILABLE,
			       "the libguestfs appliance did not start: %s",
			       first);
	warn(s, "the appliance did not start with KVM (%s); retrying once "
	     "with TCG (software emulation, slower)", first);
	guestfs_close(s->g);
	s->g = NULL;
	if (new_handle(s, true, err) < 0)
		return -1;
	if (launch_counted(s) < 0)
		return gfail(s, err, KP_ERR_UNAVAILABLE,
			     "the libguestfs appliance did not start, with "
			     "KVM (%s) nor with TCG", first);
	guestfs_set_verbose(s->g, 0);
	dog_start(s);
	return 0;
}

/* What the appliance attaches for image I: a raw file as it is; anything
 * else (another format, a fixed VHD's footer to hide, an overlay) from
 * its own confined qemu-nbd, over a socket in the scratch directory. */
static int
drive_of(struct gfs_session *s, size_t i, const char *image,
	 struct kp_error *err)
{
	struct disk_opts dopts = { s->o.format, s->o.allow_refs };
	struct disk_serve_opts so = { .readonly = s->o.readonly,
				      .overlay = s->o.readonly ? NULL :
						 s->o.overlay };
	struct stat st;

	s->images[i] = strdup(image);
	if (s->images[i] == NULL)
		return kp_fail_oom(err);
	if (s->uris[i].protocol) {
		s->formats[i] = strdup("raw");
		s->drives[i] = strdup(image);
		return s->formats[i] && s->drives[i] ? 0 : kp_fail_oom(err);
	}
	if (disk_inspect(image, &dopts, &s->disks[i], err) < 0)
		return -1;
	s->formats[i] = strdup(disk_format(s->disks[i]));
	if (s->formats[i] == NULL)
		return kp_fail_oom(err);
	if (disk_flat(s->disks[i]) && so.overlay == NULL &&
	    fstat(disk_fd(s->disks[i]), &st) == 0 &&
	    (uint64_t)st.st_size == disk_size(s->disks[i])) {
		s->drives[i] = strdup(image);
		return s->drives[i] ? 0 : kp_fail_oom(err);
	}
	if (asprintf(&s->drives[i], "unix:%s/nbd%zu", s->tmpdir, i) < 0) {
		s->drives[i] = NULL;
		return kp_fail_oom(err);
	}
	so.sock = s->drives[i] + 5;
	return disk_serve(s->disks[i], &so, &s->srv[i], NULL, err);
}

static int
gfs_open(char *const *images, size_t n, const struct img_opts *o, void **h,
	 struct kp_error *err)
{
	struct gfs_session *s;
	size_t i;

	*h = NULL;
	if (n == 0 || n > MAX_IMAGES)
		return kp_fail(err, KP_ERR_INVALID, "between 1 and %d images",
			       MAX_IMAGES);
	if (o->overlay && n != 1)
		return kp_fail(err, KP_ERR_INVALID,
			       "an overlay is made for a single image only");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return kp_fail_oom(err);
	*h = s;		/* even on failure: close frees what was made */
	s->hv_fd = -1;
	s->dog.pidfd = -1;
	s->o = *o;
	s->images = calloc(n, sizeof(char *));
	s->drives = calloc(n, sizeof(char *));
	s->formats = calloc(n, sizeof(char *));
	s->uris = calloc(n, sizeof(*s->uris));
	s->disks = calloc(n, sizeof(*s->disks));
	s->srv = calloc(n, sizeof(*s->srv));
	if (s->images && s->drives && s->formats && s->uris && s->disks &&
	    s->srv)
		s->n = n;	/* img_close frees N of each */
	if (s->n != n)
		return kp_fail_oom(err);
	for (i = 0; i < n; i++) {
		int r = img_uri_parse(images[i], &s->uris[i], err);

		if (r < 0)
			return -1;
		/* A remote drive: its server checks who else uses it. */
		if (r == 0 && check_image(images[i], err) < 0)
			return -1;
		if (r == 1 && o->overlay)
			return kp_fail(err, KP_ERR_INVALID, "'%s': an overlay "
				       "needs a local image", images[i]);
		if (r == 1 && s->uris[i].readonly && !o->readonly) {
			kp_fail(err, KP_ERR_INPUT, "'%s': %s is read-only",
				images[i], s->uris[i].protocol);
			return kp_error_remedy(err, KP_REMEDY_DRY_RUN);
		}
		/* A remote drive's header is read by nobody here: qemu would
		 * follow what it names on this host.  Its bytes only. */
		if (r == 1 && o->format && strcmp(o->format, "raw") != 0)
			return kp_fail(err, KP_ERR_INVALID, "'%s': a remote "
				       "drive is read as raw, not as %s",
				       images[i], o->format);
	}
	s->tmpdir = kp_mkdtemp(err);
	if (s->tmpdir == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (drive_of(s, i, images[i], err) < 0)
			return -1;
	if (new_handle(s, false, err) < 0)
		return -1;
	return launch(s, err);
}

/*
 * Finding Windows.
 */

/* The drive index of a partition or disk: /dev/sdb2 is on /dev/sdb.  The
 * name is cut locally; a call into the appliance costs 60 ms under TCG. */
static long
image_of(struct gfs_session *s, const char *dev)
{
	char whole[64];
	size_t n = strlen(dev);

	if (n >= sizeof(whole))
		return -1;
	while (n && dev[n - 1] >= '0' && dev[n - 1] <= '9')
		n--;
	memcpy(whole, dev, n);
	whole[n] = '\0';
	return guestfs_device_index(s->g, whole);
}

static int
add_locked(struct gfs_session *s, size_t image, const char *dev,
	   bool bitlocker, const char *why, struct kp_error *err)
{
	struct img_locked *l = realloc(s->locked,
				       (s->nlocked + 1) * sizeof(*l));

	if (l == NULL)
		return kp_fail_oom(err);
	s->locked = l;
	l += s->nlocked++;
	*l = (struct img_locked){
		.image = image,
		.bitlocker = bitlocker,
		.remedy = bitlocker && s->o.bitlocker_key_file == NULL ?
			  KP_REMEDY_BITLOCKER_KEY : KP_REMEDY_NONE,
		.device = strdup(dev),
		.why = strdup(why),
	};
	return l->device && l->why ? 0 : kp_fail_oom(err);
}

/* Open a BitLocker volume with the recovery password from the key file;
 * returns the mapper device or NULL (with a reason in WHY). */
static char *
unlock(struct gfs_session *s, const char *dev, unsigned n, char *why,
       size_t whysz, struct kp_error *err)
{
	struct buf key = BUF_INIT;
	char map[32], *out = NULL;
	size_t len;
	int r;

	kp_secrets_in_memory();
	if (kp_read_file(s->o.bitlocker_key_file, 4096, &key, err) < 0)
		return NULL;
	len = key.len;
	while (len && (key.data[len - 1] == '\n' || key.data[len - 1] == '\r' ||
		       key.data[len - 1] == ' '))
		key.data[--len] = '\0';
	snprintf(map, sizeof(map), "kmsprepbl%u", n);
	r = guestfs_cryptsetup_open(s->g, dev, buf_str(&key), map,
				    GUESTFS_CRYPTSETUP_OPEN_CRYPTTYPE, "bitlk",
				    -1);
	buf_wipe(&key);
	if (r < 0) {
		char m[256];

		snprintf(why, whysz, "BitLocker volume: the key file does not "
			 "unlock it (%s)", gmsg(s, m, sizeof(m)));
		return NULL;
	}
	if (asprintf(&out, "/dev/mapper/%s", map) < 0) {
		kp_fail_oom(err);
		return NULL;
	}
	return out;
}

static int
add_root(struct gfs_session *s, size_t image, const char *dev, int probe,
	 bool bitlocker, struct kp_error *err)
{
	struct img_root r = { 0 }, *v;
	char mnt[32], *sw = NULL, *full = NULL;
	int found = 0;

	/* A count of its own: a volume looked at and found not to be Windows
	 * leaves its mount point behind. */
	snprintf(mnt, sizeof(mnt), "/r%u", s->nmnt++);
	if (guestfs_mkmountpoint(s->g, mnt) < 0)
		return gfail(s, err, KP_ERR_UNAVAILABLE, "cannot make %s", mnt);
	/* Read-only until a command decides to write: even an unused
	 * read-write NTFS mount changes bytes on the disk. */
	if (guestfs_mount_ro(s->g, dev, mnt) < 0) {
		char m[256], why[400];

		snprintf(why, sizeof(why), "cannot mount: %s",
			 gmsg(s, m, sizeof(m)));
		return add_locked(s, image, dev, false, why, err);
	}
	if (asprintf(&full, "%s/windows/system32/config/software", mnt) >= 0)
		sw = guestfs_case_sensitive_path(s->g, full);
	free(full);
	if (sw)
		found = guestfs_is_file(s->g, sw) == 1;
	free(sw);
	if (!found) {
		guestfs_umount(s->g, mnt);
		return 0;
	}
	r.image = image;
	r.probe = probe;
	r.bitlocker = bitlocker;
	r.device = strdup(dev);
	r.mnt = strdup(mnt);
	if (asprintf(&full, "%s/windows", mnt) >= 0) {
		r.systemroot = guestfs_case_sensitive_path(s->g, full);
		free(full);
	}
	v = realloc(s->roots, (s->nroots + 1) * sizeof(*v));
	if (v)
		s->roots = v;
	if (v == NULL || r.device == NULL || r.mnt == NULL ||
	    r.systemroot == NULL) {
		free(r.device);
		free(r.mnt);
		free(r.systemroot);
		return kp_fail_oom(err);
	}
	s->roots[s->nroots++] = r;
	return 0;
}

void
img_list_free(char **l)
{
	size_t i;

	for (i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

/* Partitions, and whole disks without a partition table.  Windows lives on
 * plain partitions; guestfs_list_filesystems would also look for LVM, md
 * and btrfs everywhere, which took 10 of 37 seconds for 8 images. */
static char **
candidates(struct gfs_session *s, struct kp_error *err)
{
	char **parts = guestfs_list_partitions(s->g);
	char **devs = parts ? guestfs_list_devices(s->g) : NULL;
	char **out = NULL;
	size_t np = 0, nd, i, j, n = 0;

	if (parts == NULL || devs == NULL) {
		gfail(s, err, KP_ERR_INPUT, "cannot list partitions");
		goto done;
	}
	while (parts[np])
		np++;
	for (nd = 0; devs[nd]; nd++)
		;
	out = calloc(np + nd + 1, sizeof(char *));
	if (out == NULL) {
		kp_fail_oom(err);
		goto done;
	}
	for (i = 0; i < np; i++)
		out[n++] = strdup(parts[i]);
	for (i = 0; i < nd; i++) {
		size_t l = strlen(devs[i]);
		bool has = false;

		/* /dev/sda1 is on /dev/sda; /dev/sdaa1 is not. */
		for (j = 0; j < np && !has; j++)
			has = strncmp(parts[j], devs[i], l) == 0 &&
			      parts[j][l] >= '0' && parts[j][l] <= '9';
		if (!has)
			out[n++] = strdup(devs[i]);
	}
	for (i = 0; i < n; i++) {
		if (out[i] == NULL) {
			img_list_free(out);
			out = NULL;
			kp_fail_oom(err);
			break;
		}
	}
done:
	img_list_free(parts);
	img_list_free(devs);
	return out;
}

static int
gfs_find_windows(void *h, struct kp_error *err)
{
	struct gfs_session *s = h;
	char **fs;
	size_t i, nfs = 0;
	unsigned bl = 0;
	int r = 0;

	fs = candidates(s, err);
	if (fs == NULL)
		return -1;
	while (fs[nfs])
		nfs++;
	for (i = 0; fs[i] && r == 0; i++) {
		const char *dev = fs[i];
		long image = image_of(s, dev);
		char why[400], *mapped, *type;
		int probe;

		/* A volume takes a second or so under TCG. */
		if (s->o.progress)
			s->o.progress(s->o.ud, "looking for Windows", i, nfs,
				      0);
		/* ntfs-3g falls back to a read-only mount by itself when
		 * Windows is hibernated: ask first, so that a write is refused
		 * up front, not half-way.  The probe also says "not NTFS". */
		probe = guestfs_ntfs_3g_probe(s->g, 1, dev);

		if (image < 0 || (size_t)image >= s->n)
			continue;
		if (probe != NTFS_NOT_NTFS) {
			r = add_root(s, (size_t)image, dev, probe, false, err);
			continue;
		}
		type = guestfs_vfs_type(s->g, dev);
		if (type == NULL)
			continue;	/* no filesystem there */

		if (image < 0 || (size_t)image >= s->n)
			continue;
		if (strcasestr(type, "bitlocker")) {
			free(type);
			if (s->o.bitlocker_key_file == NULL) {
				r = add_locked(s, (size_t)image, dev, true,
					       "BitLocker volume, locked", err);
				continue;
			}
			mapped = unlock(s, dev, bl++, why, sizeof(why), err);
			if (mapped == NULL) {
				r = err->status ? -1 :
				    add_locked(s, (size_t)image, dev, true, why,
					       err);
				continue;
			}
			type = NULL;
			probe = guestfs_ntfs_3g_probe(s->g, 1, mapped);
			r = add_root(s, (size_t)image, mapped, probe, true,
				     err);
			free(mapped);
			free(type);
			continue;
		}
		free(type);
	}
	if (s->o.progress && nfs)
		s->o.progress(s->o.ud, NULL, i, nfs, 0);
	img_list_free(fs);
	return r;
}

static struct img_root *
gfs_roots(void *h, size_t *n)
{
	const struct gfs_session *s = h;
	*n = s->nroots;
	return s->roots;
}

static const struct img_locked *
gfs_locked(void *h, size_t *n)
{
	const struct gfs_session *s = h;
	*n = s->nlocked;
	return s->locked;
}

static const char *
gfs_format(void *h, size_t i)
{
	const struct gfs_session *s = h;
	return s->formats[i];
}

static const char *
root_unwritable(const struct img_root *r)
{
	switch (r->probe) {
	case 0:
		return NULL;
	case NTFS_HIBERNATED:
		return IMG_WHY_HIBERNATED;
	case NTFS_UNCLEAN:
		return IMG_WHY_UNCLEAN;
	case NTFS_CORRUPT:
		return "the NTFS volume is damaged (run chkdsk in Windows)";
	default:
		return "ntfs-3g cannot mount the volume read-write";
	}
}

static int
gfs_make_writable(void *h, struct img_root *r,
		  struct kp_error *err)
{
	struct gfs_session *s = h;
	const char *why = root_unwritable(r);

	if (r->rw)
		return 0;
	if (s->o.readonly)
		return kp_fail(err, KP_ERR_FAIL, "%s: opened read-only",
			       r->device);
	if (why)
		return kp_fail(err, KP_ERR_REFUSED, "%s: %s", r->device, why);
	if (guestfs_umount(s->g, r->mnt) < 0 ||
	    guestfs_mount(s->g, r->device, r->mnt) < 0)
		return gfail(s, err, KP_ERR_FAIL,
			     "%s: cannot mount read-write", r->device);
	r->rw = true;
	return 0;
}


/*
 * Files.
 */

static char *
gfs_path(void *h, const struct img_root *r, const char *path,
	 bool *exists, struct kp_error *err)
{
	struct gfs_session *s = h;
	const char *slash = strrchr(path, '/');
	char *full = NULL, *p, *parent, *q;
	bool pe;
	int e;

	if (asprintf(&full, "%s/%s", r->mnt, path) < 0) {
		kp_fail_oom(err);
		return NULL;
	}
	p = guestfs_case_sensitive_path(s->g, full);
	free(full);
	if (p == NULL && slash) {
		/* A missing directory on the way: resolve what exists and
		 * keep the rest as given. */
		parent = strndup(path, (size_t)(slash - path));
		q = parent ? gfs_path(s, r, parent, &pe, err) : NULL;
		free(parent);
		if (q == NULL)
			return NULL;
		if (asprintf(&p, "%s%s", q, slash) < 0)
			p = NULL;
		free(q);
		if (p == NULL)
			kp_fail_oom(err);
		else if (exists)
			*exists = false;
		return p;
	}
	if (p == NULL) {
		gfail(s, err, KP_ERR_FAIL, "cannot resolve '%s'", path);
		return NULL;
	}
	e = guestfs_exists(s->g, p);
	if (e < 0) {
		gfail(s, err, KP_ERR_FAIL, "cannot look at '%s'", p);
		free(p);
		return NULL;
	}
	if (exists)
		*exists = e == 1;
	return p;
}

static char **
gfs_ls(void *h, const char *guest, struct kp_error *err)
{
	struct gfs_session *s = h;
	char **l = guestfs_ls(s->g, guest);

	if (l == NULL)
		gfail(s, err, KP_ERR_FAIL, "cannot list '%s'", guest);
	return l;
}

static int
gfs_download(void *h, const char *guest, const char *local,
	     struct kp_error *err)
{
	struct gfs_session *s = h;
	if (guestfs_download(s->g, guest, local) < 0)
		return gfail(s, err, KP_ERR_FAIL, "cannot read '%s'", guest);
	return 0;
}

/* Run a shell command in the appliance; OUT (if not NULL) gets its
 * output, which the caller frees. */
static int
appliance_sh(struct gfs_session *s, const char *cmd, char **out,
	     struct kp_error *err)
{
	char *args[] = { (char *)cmd, NULL };
	char *o = guestfs_debug(s->g, "sh", args);

	if (o == NULL)
		return gfail(s, err, KP_ERR_FAIL, "appliance command failed");
	if (out)
		*out = o;
	else
		free(o);
	return 0;
}

/* Quote a guest path for the appliance shell, under /sysroot. */
static char *
sh_path(const char *guest)
{
	char *q = NULL;

	if (strchr(guest, '\'') || asprintf(&q, "'/sysroot%s'", guest) < 0)
		return NULL;
	return q;
}

/*
 * Security descriptors for what kmsprep creates.  ntfs-3g gives a new file
 * or directory "Everyone: Full Control", which on a master image would let
 * any user edit what Setup later runs as SYSTEM.  Built here in the
 * self-relative binary form that ntfs-3g keeps in system.ntfs_acl: owner
 * Administrators, group SYSTEM, a protected DACL granting SYSTEM and
 * Administrators full control and, unless the file holds a secret, Users
 * read and execute.  Directories pass the same entries on to what is
 * created in them.
 */
/* "0x" and the descriptor in hex, for setfattr. */
static void
sd_hex(bool secret, bool dir, char out[400])
{
	unsigned char b[SECDESC_MAX];
	size_t n = secdesc_default(secret, dir, b), i;

	strcpy(out, "0x");
	for (i = 0; i < n; i++)
		snprintf(out + 2 + 2 * i, 3, "%02x", b[i]);
}

/* Run SCRIPT (a printf format) in the appliance; it must print OK. */
static int
appliance_run(struct gfs_session *s, const char *ok, char **out,
	      struct kp_error *err, const char *fmt, ...) KP_PRINTF(5, 6);

static int
appliance_run(struct gfs_session *s, const char *ok, char **out,
	      struct kp_error *err, const char *fmt, ...)
{
	va_list ap;
	char *cmd = NULL, *o = NULL;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (r < 0)
		return kp_fail_oom(err);
	r = appliance_sh(s, cmd, &o, err);
	free(cmd);
	if (r == 0 && strstr(o, ok) == NULL)
		r = kp_fail(err, KP_ERR_FAIL, "%.*s", (int)strcspn(o, "\n"),
			    o);
	if (r == 0 && out)
		*out = o;
	else
		free(o);
	return r;
}

/* Shell: copy attributes from "$f" to "$t" and check them.  The values
 * are cut out of getfattr's "NAME=0x..." line by the shell itself: under
 * TCG every extra process (a sed per call) costs tens of milliseconds. */
#define SH_COPY_XATTRS                                                      \
	"for a in system.ntfs_acl system.ntfs_attrib; do "                  \
	"v=$(getfattr -h -e hex -n $a \"$f\" 2>/dev/null); "                  \
	"case $v in *\"$a=0x\"*) v=${v##*=} ;; *) continue ;; esac; "        \
	"setfattr -h -n $a -v \"$v\" \"$t\" || exit 1; "                      \
	"w=$(getfattr -h -e hex -n $a \"$t\" 2>/dev/null); "                  \
	"[ \"${w##*=}\" = \"$v\" ] || { echo \"cannot copy $a\"; exit 1; }; "   \
	"done; "

/*
 * Replace GUEST with LOCAL.  Each call into the appliance costs tens of
 * milliseconds under TCG, so the steps are two shell commands around the
 * upload:
 *  1. create the temporary file empty and give it its security before any
 *     content arrives: the original's descriptor and attributes (read with
 *     getfattr in hex: guestfs_setxattr cuts binary values at the first
 *     NUL), or for a new file or a secret, the descriptor above;
 *  2. upload the content into it;
 *  3. check its SHA-256, and only then rename it over GUEST and read that
 *     back.  The original is untouched until the content is known good.
 */
static int
gfs_replace(void *h, const char *guest, const char *local,
	    unsigned flags, struct kp_error *err)
{
	struct gfs_session *s = h;
	struct buf data = BUF_INIT;
	const char *slash = strrchr(guest, '/');
	char *tmp = NULL, *qf = NULL, *qt = NULL, *out = NULL, want[65];
	char sd[400];
	bool secret = flags & IMG_SECRET;
	int r = -1;

	if (slash == NULL)
		return kp_fail(err, KP_ERR_FAIL, "bad guest path '%s'", guest);
	if (kp_read_file(local, (size_t)1 << 31, &data, err) < 0)
		return -1;
	kp_sha256_hex(data.data, data.len, want);
	buf_wipe(&data);
	sd_hex(secret, false, sd);
	if (asprintf(&tmp, "%.*s/.kmsprep-%s.tmp", (int)(slash - guest), guest,
		     slash + 1) < 0)
		return kp_fail_oom(err);
	qf = sh_path(guest);
	qt = sh_path(tmp);
	if (qf == NULL || qt == NULL) {
		kp_fail(err, KP_ERR_FAIL, "'%s': a quote in the path", guest);
		goto out;
	}
	if (appliance_run(s, "prepared", NULL, err,
			  "f=%s; t=%s; rm -f -- \"$t\"; : >\"$t\" || exit 1; "
			  "if [ -e \"$f\" ] && [ %d = 0 ]; then "
			  SH_COPY_XATTRS
			  "else setfattr -h -n system.ntfs_acl -v %s \"$t\" || "
			  "exit 1; fi; echo prepared", qf, qt, secret, sd) < 0) {
		kp_error_prefix(err, "'%s': cannot prepare the new file", guest);
		goto out;
	}
	if (guestfs_upload(s->g, local, tmp) < 0) {
		gfail(s, err, KP_ERR_FAIL, "cannot write '%s'", tmp);
		goto out;
	}
	/* Flushing is left to img_close, whose unmount and shutdown are
	 * checked: a sync per file cost half a second each. */
	if (appliance_run(s, want, &out, err,
			  "f=%s; t=%s; w=%s; "
			  "set -- $(sha256sum <\"$t\"); [ \"$1\" = \"$w\" ] || "
			  "{ echo 'the uploaded file does not match'; exit 1; }; "
			  "mv -f -- \"$t\" \"$f\" && sha256sum <\"$f\"",
			  qf, qt, want) < 0) {
		kp_error_prefix(err, "'%s': verification failed", guest);
		goto out;
	}
	r = 0;
out:
	if (r < 0 && tmp)
		guestfs_rm_f(s->g, tmp);
	free(out);
	free(qf);
	free(qt);
	free(tmp);
	return r;
}

/* Overwrite a scratch copy of a secret with zeros before it is unlinked:
 * its blocks are then not left holding the key on the host. */
static void
wipe_file(const char *path, size_t len)
{
	static const char zero[4096];
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	while (len > 0) {
		ssize_t w = write(fd, zero, len < sizeof(zero) ? len :
							    sizeof(zero));

		if (w <= 0)
			break;
		len -= (size_t)w;
	}
	fsync(fd);
	close(fd);
}

static int
gfs_replace_data(void *h, const char *guest, const void *data,
		 size_t len, unsigned flags, struct kp_error *err)
{
	struct gfs_session *s = h;
	char *local = NULL;
	int r;

	if (asprintf(&local, "%s/data-%u", s->tmpdir, s->seq++) < 0)
		return kp_fail_oom(err);
	r = kp_write_scratch(local, data, len, err);
	if (r == 0)
		r = gfs_replace(s, guest, local, flags, err);
	if (flags & IMG_SECRET)
		wipe_file(local, len);
	unlink(local);
	free(local);
	return r;
}

/* guestfs messages are limited to a few MiB: larger writes and reads go
 * in pieces. */
#define GUESTFS_CHUNK ((size_t)1 << 20)

/* A hive and its log in the appliance, for journal_writes_run. */
struct gfs_io {
	struct gfs_session *s;
	const char *path[2];	/* the log, the primary */
};

/* libguestfs' errno for its last error, or EIO. */
static int
gerrno(struct gfs_session *s)
{
	int e = guestfs_last_errno(s->g);

	errno = e > 0 ? e : EIO;
	return -1;
}

static int
g_pwrite(void *ctx, enum journal_file f, const void *p, size_t len,
	 uint64_t off)
{
	struct gfs_io *g = ctx;
	const char *c = p;

	/* A few calls: each carries at most GUESTFS_CHUNK. */
	while (len) {
		size_t want = len < GUESTFS_CHUNK ? len : GUESTFS_CHUNK;
		int n = guestfs_pwrite(g->s->g, g->path[f], c, want,
				       (int64_t)off);

		if (n <= 0)
			return gerrno(g->s);
		c += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int
g_pread(void *ctx, enum journal_file f, void *p, size_t len, uint64_t off)
{
	struct gfs_io *g = ctx;
	char *c = p;

	while (len) {
		size_t want = len < GUESTFS_CHUNK ? len : GUESTFS_CHUNK, got = 0;
		char *back = guestfs_pread(g->s->g, g->path[f], (int)want,
					   (int64_t)off, &got);

		if (back == NULL)
			return gerrno(g->s);
		if (got == 0 || got > want) {
			free(back);
			errno = EIO;
			return -1;
		}
		memcpy(c, back, got);
		free(back);
		c += got;
		off += got;
		len -= got;
	}
	return 0;
}

static int
g_fit(void *ctx, enum journal_file f, uint64_t size)
{
	struct gfs_io *g = ctx;

	if (f == JOURNAL_PRIMARY &&
	    guestfs_filesize(g->s->g, g->path[f]) >= (int64_t)size)
		return 0;
	return guestfs_truncate_size(g->s->g, g->path[f], (int64_t)size) < 0 ?
	       gerrno(g->s) : 0;
}

static int
g_flush(void *ctx, enum journal_file f)
{
	struct gfs_io *g = ctx;

	(void)f;
	return guestfs_sync(g->s->g) < 0 ? gerrno(g->s) : 0;
}

static const struct journal_io gfs_io = {
	.pwrite = g_pwrite,
	.pread = g_pread,
	.fit = g_fit,
	.flush = g_flush,
};

/*
 * The journaled commit P of hive GUEST in place, through its log
 * GUEST_LOG (created first, with the hive's descriptor, if missing).
 */
static int
gfs_journal(void *h, const char *guest, const char *guest_log,
	    const struct journal_writes *p, struct kp_error *err)
{
	struct gfs_session *s = h;
	struct gfs_io g = { s, { guest_log, guest } };

	if (guestfs_exists(s->g, guest_log) == 0) {
		char *qf = sh_path(guest), *qt = sh_path(guest_log);
		int r = qf && qt ? appliance_run(s, "prepared", NULL, err,
						 "f=%s; t=%s; : >\"$t\" || "
						 "exit 1; " SH_COPY_XATTRS
						 "echo prepared", qf, qt) :
				   kp_fail(err, KP_ERR_FAIL, "'%s': a quote in "
					   "the path", guest_log);

		free(qf);
		free(qt);
		if (r < 0) {
			kp_error_prefix(err, "'%s': cannot create the log",
					guest_log);
			return -1;
		}
	}
	return journal_writes_run(p, &gfs_io, &g, g.path, err);
}

static int
gfs_remove(void *h, const char *guest, struct kp_error *err)
{
	struct gfs_session *s = h;
	if (guestfs_rm(s->g, guest) < 0)
		return gfail(s, err, KP_ERR_FAIL, "cannot remove '%s'", guest);
	return 0;
}

static char *
gfs_read(void *h, const char *guest, size_t max, size_t *len,
	 struct kp_error *err)
{
	struct gfs_session *s = h;
	int64_t size = guestfs_filesize(s->g, guest);
	char *d;

	if (size < 0) {
		gfail(s, err, KP_ERR_FAIL, "cannot read '%s'", guest);
		return NULL;
	}
	if ((uint64_t)size > max) {
		kp_fail(err, KP_ERR_INPUT, "'%s': larger than %zu bytes",
			guest, max);
		return NULL;
	}
	d = guestfs_read_file(s->g, guest, len);
	if (d == NULL)
		gfail(s, err, KP_ERR_FAIL, "cannot read '%s'", guest);
	return d;
}

static int
gfs_mkdir(void *h, const char *guest, bool check_only,
	  struct kp_error *err)
{
	struct gfs_session *s = h;
	char *q = sh_path(guest), sd[400];
	int r;

	if (q == NULL)
		return kp_fail(err, KP_ERR_FAIL, "'%s': a quote in the path",
			       guest);
	sd_hex(false, true, sd);
	/* Walk down from the mount point; a link or a file on the way is
	 * refused rather than followed (a hostile image could point into
	 * another image of the session). */
	r = appliance_run(s, "made", NULL, err,
			  "p=%s; d=/sysroot; IFS=/; set -f; "
			  "for c in ${p#/sysroot/}; do d=\"$d/$c\"; "
			  "if [ -L \"$d\" ]; then echo \"$d is a link\"; exit 1; "
			  "elif [ ! -e \"$d\" ]; then [ %d = 1 ] && break; "
			  "mkdir -- \"$d\" && "
			  "setfattr -h -n system.ntfs_acl -v %s \"$d\" || exit 1; "
			  "elif [ ! -d \"$d\" ]; then "
			  "echo \"$d is not a directory\"; exit 1; fi; done; "
			  "echo made", q, check_only, sd);
	free(q);
	if (r < 0)
		kp_error_prefix(err, "cannot create '%s'", guest);
	return r;
}

static int
gfs_close(void *h, bool ok, struct kp_error *err)
{
	struct gfs_session *s = h;
	struct kp_error ignored = KP_ERROR_INIT;
	size_t i;
	int r = 0;

	if (s == NULL)
		return 0;
	if (err == NULL)
		err = &ignored;
	if (s->g) {
		if (guestfs_umount_all(s->g) < 0 && ok)
			r = gfail(s, err, KP_ERR_FAIL, "cannot unmount");
		/* A failed shutdown can mean the disk was not written out. */
		if (guestfs_shutdown(s->g) < 0 && ok && r == 0)
			r = gfail(s, err, KP_ERR_FAIL,
				  "the appliance did not shut down cleanly; "
				  "changes may not have reached the image");
		dog_stop(s);
		guestfs_close(s->g);
	}
	/* Each qemu-nbd ends now that the appliance has gone; a new
	 * overlay stays only if all went well. */
	for (i = 0; i < s->n; i++) {
		if (disk_server_stop(s->srv[i], ok && r == 0,
				     ok && r == 0 ? err : NULL) < 0 &&
		    ok && r == 0)
			r = -1;
		disk_free(s->disks[i]);
	}
	kp_rmtree(s->tmpdir);
	free(s->tmpdir);
	free(s->hv_script);
	free(s->hv);
	if (s->hv_fd >= 0)
		close(s->hv_fd);
	for (i = 0; i < s->n; i++) {
		free(s->images[i]);
		free(s->drives[i]);
		free(s->formats[i]);
		img_uri_release(&s->uris[i]);
	}
	free(s->uris);
	free(s->disks);
	free(s->srv);
	img_roots_free(s->roots, s->nroots);
	img_locked_free(s->locked, s->nlocked);
	free(s->images);
	free(s->drives);
	free(s->formats);
	free(s);
	return r;
}

void
img_roots_free(struct img_root *r, size_t n)
{
	size_t i;

	for (i = 0; r && i < n; i++) {
		free(r[i].device);
		free(r[i].mnt);
		free(r[i].systemroot);
		free(r[i].wim_name);
		free(r[i].wim_edition);
	}
	free(r);
}

void
img_locked_free(struct img_locked *l, size_t n)
{
	size_t i;

	for (i = 0; l && i < n; i++) {
		free(l[i].device);
		free(l[i].why);
		free(l[i].wim_name);
	}
	free(l);
}

static const char *
gfs_unwritable(void *h, const struct img_root *r)
{
	(void)h;
	return root_unwritable(r);
}

/*
 * The table's operations, each through dog_done: the deadline is off
 * once it returns, and a stopped qemu is its outcome.
 */

static int
op_find_windows(void *h, struct kp_error *err)
{
	return dog_done(h, gfs_find_windows(h, err), true, err);
}

static int
op_make_writable(void *h, struct img_root *r, struct kp_error *err)
{
	return dog_done(h, gfs_make_writable(h, r, err), false, err);
}

static char *
op_path(void *h, const struct img_root *r, const char *path, bool *exists,
	struct kp_error *err)
{
	char *p = gfs_path(h, r, path, exists, err);

	if (dog_done(h, p == NULL && err->status ? -1 : 0, true, err) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

static char **
op_list(void *h, const char *guest, struct kp_error *err)
{
	char **l = gfs_ls(h, guest, err);

	if (dog_done(h, l == NULL && err->status ? -1 : 0, true, err) < 0) {
		img_list_free(l);
		return NULL;
	}
	return l;
}

static char *
op_read(void *h, const char *guest, size_t max, size_t *len,
	struct kp_error *err)
{
	char *p = gfs_read(h, guest, max, len, err);

	if (dog_done(h, p == NULL && err->status ? -1 : 0, true, err) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

static int
op_replace(void *h, const char *guest, const void *data, size_t len,
	   unsigned flags, struct kp_error *err)
{
	return dog_done(h, gfs_replace_data(h, guest, data, len, flags, err),
			false, err);
}

static int
op_replace_file(void *h, const char *guest, const char *local,
		unsigned flags, struct kp_error *err)
{
	return dog_done(h, gfs_replace(h, guest, local, flags, err), false,
			err);
}

static int
op_journal(void *h, const char *guest, const char *guest_log,
	   const struct journal_writes *p, struct kp_error *err)
{
	return dog_done(h, gfs_journal(h, guest, guest_log, p, err), false,
			err);
}

static int
op_remove(void *h, const char *guest, struct kp_error *err)
{
	return dog_done(h, gfs_remove(h, guest, err), false, err);
}

static int
op_mkdir(void *h, const char *guest, bool check_only, struct kp_error *err)
{
	return dog_done(h, gfs_mkdir(h, guest, check_only, err), false,
			err);
}

static int
op_download(void *h, const char *guest, const char *local,
	    struct kp_error *err)
{
	return dog_done(h, gfs_download(h, guest, local, err), false, err);
}

const struct img_backend img_backend_appliance = {
	.name = "appliance",
	.open = gfs_open,
	.find_windows = op_find_windows,
	.roots = gfs_roots,
	.locked = gfs_locked,
	.unwritable = gfs_unwritable,
	.make_writable = op_make_writable,
	.path = op_path,
	.list = op_list,
	.read = op_read,
	.replace = op_replace,
	.replace_file = op_replace_file,
	.journal = op_journal,
	.remove = op_remove,
	.mkdir = op_mkdir,
	.close = gfs_close,
	.download = op_download,
	.format = gfs_format,
};

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image batch over an in-memory fake backend: refusal before any
 * write, unchanged images untouched, write order, failure reports. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/buf.h"
#include "prep/batch.h"
#include "prep/run.h"
#include "unit.h"

/* Images 0..N-1 with one Windows root each, on /dev/sdX1 mounted at /rX;
 * every operation is appended to LOG; the FAIL_AT-th write fails. */
struct fake {
	struct img_root roots[4];
	struct img_locked locked[1];
	size_t nroots, nlocked;
	const char *why[4];	/* unwritable reason per root */
	struct buf log;
	int writes, fail_at;
	bool logged;		/* a failed journal had written its log */
};

static struct img_root *
f_roots(void *h, size_t *n)
{
	struct fake *f = h;

	*n = f->nroots;
	return f->roots;
}

static const struct img_locked *
f_locked(void *h, size_t *n)
{
	struct fake *f = h;

	*n = f->nlocked;
	return f->locked;
}

static const char *
f_unwritable(void *h, const struct img_root *r)
{
	struct fake *f = h;

	return f->why[r - f->roots];
}

static int
f_find(void *h, struct kp_error *err)
{
	(void)h;
	(void)err;
	return 0;
}

static int
f_writable(void *h, struct img_root *r, struct kp_error *err)
{
	struct fake *f = h;

	(void)err;
	r->rw = true;
	buf_addf(&f->log, "rw %s;", r->mnt);
	return 0;
}

static int
f_write(struct fake *f, const char *op, const char *guest,
	struct kp_error *err)
{
	if (++f->writes == f->fail_at)
		return kp_fail(err, KP_ERR_FAIL, "cannot write '%s'", guest);
	buf_addf(&f->log, "%s %s;", op, guest);
	return 0;
}

static int
f_replace(void *h, const char *guest, const void *data, size_t len,
	  unsigned flags, struct kp_error *err)
{
	(void)data;
	(void)len;
	(void)flags;
	return f_write(h, "put", guest, err);
}

static int
f_replace_file(void *h, const char *guest, const char *local,
	       unsigned flags, struct kp_error *err)
{
	(void)local;
	(void)flags;
	return f_write(h, "upload", guest, err);
}

static int
f_journal(void *h, const char *guest, const char *guest_log,
	  const struct journal_writes *p, struct kp_error *err)
{
	struct fake *f = h;

	/* As the executor fails: after its log step (RERUN), or before. */
	if (++f->writes == f->fail_at) {
		kp_fail(err, KP_ERR_FAIL, "cannot write '%s'", guest);
		return f->logged ? kp_error_remedy(err, KP_REMEDY_RERUN) : -1;
	}
	buf_addf(&f->log, "journal %s via %s (seq %u);", guest, guest_log,
		 p->seq);
	return 0;
}

static int
f_remove(void *h, const char *guest, struct kp_error *err)
{
	return f_write(h, "rm", guest, err);
}

static const struct img_backend fake_backend = {
	.name = "fake",
	.find_windows = f_find,
	.roots = f_roots,
	.locked = f_locked,
	.unwritable = f_unwritable,
	.make_writable = f_writable,
	.replace = f_replace,
	.replace_file = f_replace_file,
	.journal = f_journal,
	.remove = f_remove,
};

static char *const names[] = { (char *)"a.img", (char *)"b.img",
			       (char *)"c.img" };
static char *const devs[] = { (char *)"/dev/sda1", (char *)"/dev/sdb1",
			      (char *)"/dev/sdc1" };
static char *const mnts[] = { (char *)"/r0", (char *)"/r1", (char *)"/r2" };

static void
fake_init(struct fake *f, size_t n)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	f->log = (struct buf)BUF_INIT;
	for (i = 0; i < n; i++) {
		f->roots[i].image = i;
		f->roots[i].device = devs[i];
		f->roots[i].mnt = mnts[i];
	}
	f->nroots = n;
}

static int prepared;
static const struct journal_writes plan = { .seq = 7 };

/* Queue, in the wrong order on purpose, SYSTEM, a file and SOFTWARE for
 * images a and c; b gets nothing. */
static int
prep_ac(struct img_batch *b, size_t i, void *ud, struct kp_error *err)
{
	char p[64];

	(void)ud;
	prepared++;
	if (i == 1)
		return 0;
	snprintf(p, sizeof(p), "/r%zu/SYSTEM", i);
	if (img_batch_queue(b, i, IMG_PHASE_SYSTEM, p, "SYSTEM hive", NULL, 0,
			    "/tmp/sy", false, 0, err) < 0)
		return -1;
	snprintf(p, sizeof(p), "/r%zu/firstboot.cmd", i);
	if (img_batch_queue(b, i, IMG_PHASE_FILES, p, "firstboot.cmd", "x", 1,
			    NULL, false, 0, err) < 0)
		return -1;
	/* SOFTWARE through its log, as a journaled commit. */
	snprintf(p, sizeof(p), "/r%zu/SOFTWARE", i);
	return img_batch_queue_journal(b, i, IMG_PHASE_SOFTWARE, p,
				       "SOFTWARE.LOG2", "SOFTWARE hive", &plan,
				       err);
}

static void
order_and_untouched(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_batch b;
	struct fake f;

	fake_init(&f, 3);
	img_batch_init(&b, &fake_backend, &f, names, 3, false);
	CHECK(img_batch_run(&b, NULL, 0, prep_ac, NULL, &err) == 0);
	/* Files, then SOFTWARE, then SYSTEM; b.img never made writable. */
	CHECK_STR(buf_str(&f.log),
		  "rw /r0;put /r0/firstboot.cmd;"
		  "journal /r0/SOFTWARE via SOFTWARE.LOG2 (seq 7);"
		  "upload /r0/SYSTEM;"
		  "rw /r2;put /r2/firstboot.cmd;"
		  "journal /r2/SOFTWARE via SOFTWARE.LOG2 (seq 7);"
		  "upload /r2/SYSTEM;");
	CHECK(!f.roots[1].rw);
	CHECK(b.t[0].written && !b.t[1].written && b.t[2].written);
	img_batch_release(&b);
	buf_release(&f.log);
}

static void
refuse_before_write(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_batch b;
	struct fake f;

	fake_init(&f, 3);
	f.why[2] = "hibernated";
	prepared = 0;
	img_batch_init(&b, &fake_backend, &f, names, 3, false);
	CHECK(img_batch_run(&b, NULL, 0, prep_ac, NULL, &err) < 0);
	CHECK_EQ(err.status, KP_ERR_REFUSED);
	CHECK_STR(err.msg, "'c.img': /dev/sdc1: hibernated; no image was "
		  "changed");
	/* Nothing prepared, nothing written, not even a.img. */
	CHECK_EQ(prepared, 0);
	CHECK_EQ(f.log.len, 0);
	img_batch_release(&b);

	/* A dry run notes it, writes nothing, and ends refused. */
	img_batch_init(&b, &fake_backend, &f, names, 3, true);
	CHECK(img_batch_run(&b, NULL, 0, prep_ac, NULL, &err) == 0);
	CHECK(b.dry_refused);
	CHECK_EQ(prepared, 3);
	CHECK_EQ(f.log.len, 0);
	img_batch_release(&b);
	buf_release(&f.log);
}

static void
failure_says_what_was_written(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_batch b;
	struct fake f;

	fake_init(&f, 3);
	f.fail_at = 5;		/* c.img's SOFTWARE */
	f.logged = true;
	img_batch_init(&b, &fake_backend, &f, names, 3, false);
	CHECK(img_batch_run(&b, NULL, 0, prep_ac, NULL, &err) < 0);
	CHECK_STR(err.msg, "'c.img': cannot write '/r2/SOFTWARE'");
	CHECK_STR(b.done, "firstboot.cmd in 'c.img', 'a.img'");
	/* A journaled hive write stopped: its log decides, not "nothing". */
	CHECK(b.journal_failed);
	CHECK(b.began);
	/* SYSTEM (the hook) is not written after a failed SOFTWARE. */
	CHECK(strstr(buf_str(&f.log), "/r2/SYSTEM") == NULL);
	img_batch_release(&b);
	buf_release(&f.log);

	fake_init(&f, 3);
	f.fail_at = 4;		/* c.img's firstboot.cmd: replaced whole */
	img_batch_init(&b, &fake_backend, &f, names, 3, false);
	CHECK(img_batch_run(&b, NULL, 0, prep_ac, NULL, &err) < 0);
	CHECK(!b.journal_failed);
	img_batch_release(&b);
	buf_release(&f.log);

	/* Stopped before its log held the change (making room for the
	 * log): the hive is as it was, but the volume was opened for
	 * writing, so "nothing changed" would not be true. */
	fake_init(&f, 3);
	f.fail_at = 5;
	img_batch_init(&b, &fake_backend, &f, names, 3, false);
	CHECK(img_batch_run(&b, NULL, 0, prep_ac, NULL, &err) < 0);
	CHECK(!b.journal_failed);
	CHECK(b.began);
	img_batch_release(&b);
	buf_release(&f.log);
}

/* A backend that cannot write a hive through its log refuses the plan
 * while preparing: nothing is written. */
static const struct img_backend no_journal_backend = {
	.name = "nojournal",
	.find_windows = f_find,
	.roots = f_roots,
	.locked = f_locked,
	.unwritable = f_unwritable,
	.make_writable = f_writable,
	.replace = f_replace,
	.replace_file = f_replace_file,
	.remove = f_remove,
};

static void
journal_unsupported(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_batch b;
	struct fake f;

	fake_init(&f, 3);
	img_batch_init(&b, &no_journal_backend, &f, names, 3, false);
	CHECK(img_batch_run(&b, NULL, 0, prep_ac, NULL, &err) < 0);
	CHECK_EQ(err.status, KP_ERR_UNAVAILABLE);
	CHECK_STR(buf_str(&f.log), "");
	CHECK(b.done == NULL);
	img_batch_release(&b);
	buf_release(&f.log);
}

static void
choose_roots(void)
{
	struct kp_error err = KP_ERROR_INIT;
	const char *want[] = { "/dev/sda2" };
	struct img_batch b;
	struct fake f;

	/* a.img holds two installations: refused until one is chosen. */
	fake_init(&f, 2);
	f.roots[1].image = 0;
	f.roots[1].device = (char *)"/dev/sda2";
	img_batch_init(&b, &fake_backend, &f, names, 1, false);
	CHECK(img_batch_choose(&b, NULL, 0, &err) < 0);
	CHECK_EQ(err.status, KP_ERR_INVALID);
	CHECK(img_batch_choose(&b, want, 1, &err) == 0);
	CHECK(b.t[0].root == &f.roots[1]);
	img_batch_release(&b);

	/* b.img has none; a BitLocker-locked volume is a refusal. */
	img_batch_init(&b, &fake_backend, &f, names, 2, false);
	CHECK(img_batch_choose(&b, want, 1, &err) < 0);
	CHECK_EQ(err.status, KP_ERR_INPUT);
	f.locked[0].image = 1;
	f.locked[0].device = (char *)"/dev/sdb1";
	f.locked[0].why = (char *)"cannot mount: bad superblock";
	f.nlocked = 1;
	CHECK(img_batch_choose(&b, want, 1, &err) < 0);
	CHECK_EQ(err.status, KP_ERR_INPUT);
	f.locked[0].why = (char *)"BitLocker volume: no key";
	f.locked[0].bitlocker = true;
	f.nlocked = 1;
	CHECK(img_batch_choose(&b, want, 1, &err) < 0);
	CHECK_EQ(err.status, KP_ERR_REFUSED);
	img_batch_release(&b);
	buf_release(&f.log);
}


/* The listener's record: "EVENT IMAGE[ DETAIL];" each. */
static void
record(void *ud, enum img_event ev, size_t i, const char *detail)
{
	static const char *const name[] = {
		"start", "chosen", "refused", "prepared", "wrote", "written",
		"failed",
	};

	buf_addf(ud, "%s %zu%s%s;", name[ev], i, detail ? " " : "",
		 detail ? detail : "");
}

static void
events_in_order(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_batch b;
	struct buf ev = BUF_INIT;
	struct fake f;

	fake_init(&f, 3);
	img_batch_init(&b, &fake_backend, &f, names, 3, false);
	b.event = record;
	b.event_ud = &ev;
	CHECK(img_batch_run(&b, NULL, 0, prep_ac, NULL, &err) == 0);
	CHECK_STR(buf_str(&ev),
		  "start 0;chosen 0 /dev/sda1;start 1;chosen 1 /dev/sdb1;"
		  "start 2;chosen 2 /dev/sdc1;"
		  "prepared 0;prepared 1;prepared 2;"
		  "wrote 0 firstboot.cmd;wrote 0 SOFTWARE hive;"
		  "wrote 0 SYSTEM hive;written 0;"
		  "wrote 2 firstboot.cmd;wrote 2 SOFTWARE hive;"
		  "wrote 2 SYSTEM hive;written 2;");
	img_batch_release(&b);

	/* A refusal is told for the image refused; a write failure too. */
	buf_reset(&ev);
	f.why[1] = "hibernated";
	img_batch_init(&b, &fake_backend, &f, names, 3, false);
	b.event = record;
	b.event_ud = &ev;
	CHECK(img_batch_run(&b, NULL, 0, prep_ac, NULL, &err) < 0);
	CHECK_STR(buf_str(&ev), "start 0;chosen 0 /dev/sda1;start 1;"
		  "chosen 1 /dev/sdb1;refused 1 hibernated;");
	img_batch_release(&b);
	buf_reset(&ev);
	f.why[1] = NULL;
	f.writes = 0;
	f.fail_at = 2;		/* a.img's SOFTWARE */
	img_batch_init(&b, &fake_backend, &f, names, 3, false);
	b.event = record;
	b.event_ud = &ev;
	CHECK(img_batch_run(&b, NULL, 0, prep_ac, NULL, &err) < 0);
	CHECK(strstr(buf_str(&ev), "wrote 0 firstboot.cmd;failed 0 "
		     "cannot write '/r0/SOFTWARE';") != NULL);
	img_batch_release(&b);
	buf_release(&ev);
	buf_release(&f.log);
}

/* Each image's own device (a plan's "root"), else the common list. */
static void
root_per_image(void)
{
	struct kp_error err = KP_ERROR_INIT;
	const char *root_of[] = { "/dev/sda2", NULL };
	struct img_batch b;
	struct fake f;

	fake_init(&f, 3);
	f.roots[1].image = 0;
	f.roots[1].device = (char *)"/dev/sda2";
	f.roots[2].image = 1;
	f.roots[2].device = (char *)"/dev/sdb1";
	img_batch_init(&b, &fake_backend, &f, names, 2, false);
	CHECK(img_batch_choose(&b, NULL, 0, &err) < 0);
	b.root_of = root_of;
	CHECK(img_batch_choose(&b, NULL, 0, &err) == 0);
	CHECK(b.t[0].root == &f.roots[1]);
	CHECK(b.t[1].root == &f.roots[2]);
	img_batch_release(&b);
	buf_release(&f.log);
}

/* By default one image per processor, as memory allows (the inputs are
 * the machine's or its container's: the rule is tested on its own). */
static void
default_jobs(void)
{
	const uint64_t g = (uint64_t)1 << 30;

	CHECK_EQ(img_jobs_for(0, 0), 1);
	CHECK_EQ(img_jobs_for(1, 64 * g), 1);
	CHECK_EQ(img_jobs_for(8, 0), 8);
	CHECK_EQ(img_jobs_for(8, 64 * g), 8);
	CHECK_EQ(img_jobs_for(200, 1024 * g), 64);
	/* A pod of 1 GiB on a 64-core node: two, not 64. */
	CHECK_EQ(img_jobs_for(64, g), 2);
	CHECK_EQ(img_jobs_for(64, IMG_JOB_MEM * 3 - 1), 2);
	CHECK_EQ(img_jobs_for(64, 1), 1);
	CHECK(img_default_jobs() >= 1 && img_default_jobs() <= 64);
}

/* img_default_jobs() in a child that SETUP(ARG) has prepared: its
 * answer, or 0 when SETUP could not (the child says why). */
static unsigned
jobs_in_child(bool (*setup)(const void *), const void *arg)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int n = setup(arg) ? (int)img_default_jobs() : 0;

		fflush(stdout);
		_exit(n);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 255;
	return (unsigned)WEXITSTATUS(st);
}

static bool
one_cpu(const void *arg)
{
	cpu_set_t set, one;
	int i;

	(void)arg;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return false;
	for (i = 0; i < CPU_SETSIZE && !CPU_ISSET(i, &set); i++)
		;
	CPU_ZERO(&one);
	CPU_SET(i, &one);
	return sched_setaffinity(0, sizeof(one), &one) == 0;
}

/* Each cgroup file as NAME=CONTENT, ending with NULL. */
struct fake_cgroup {
	const char *files[4];
};

/* Over /sys/fs/cgroup, in a mount namespace of its own, a cgroup
 * directory for this process holding only ARG's files. */
static bool
fake_cgroup(const void *arg)
{
	const struct fake_cgroup *cg = arg;
	char rel[512] = "", dir[700], path[800], *p;
	const char *const *f;
	FILE *in = fopen("/proc/self/cgroup", "re");

	while (in && fgets(rel, sizeof(rel), in) &&
	       strncmp(rel, "0::", 3) != 0)
		rel[0] = '\0';
	if (in)
		fclose(in);
	if (strncmp(rel, "0::", 3) != 0) {
		printf("# SKIP cgroup: no cgroup v2 line in /proc/self/cgroup\n");
		return false;
	}
	rel[strcspn(rel, "\n")] = '\0';
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("none", "/sys/fs/cgroup", "tmpfs", 0, NULL) < 0) {
		printf("# SKIP cgroup: no mount namespace: %s\n",
		       strerror(errno));
		return false;
	}
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", rel + 3);
	for (p = dir + strlen("/sys/fs/cgroup") + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0755);
			*p = '/';
		}
	mkdir(dir, 0755);
	for (f = cg->files; *f; f++) {
		const char *eq = strchr(*f, '=');
		int fd;

		snprintf(path, sizeof(path), "%s/%.*s", dir, (int)(eq - *f),
			 *f);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, eq + 1, strlen(eq + 1)) < 0)
			return false;
		close(fd);
	}
	return true;
}

/* The inputs are read where they are: the process's CPU affinity, and
 * its cgroup's cpu.max and memory.max less memory.current (a container's
 * limits).  Each check needs a machine where the limit changes the
 * answer: two processors, memory for two jobs. */
static void
default_jobs_limits(void)
{
	static const struct fake_cgroup none = { { NULL } },
		cpu_half = { { "cpu.max=50000 100000\n", NULL } },
		cpu_max = { { "cpu.max=max 100000\n", NULL } },
		mem_256m = { { "memory.max=805306368\n",
			       "memory.current=536870912\n", NULL } },
		mem_max = { { "memory.max=max\n", "memory.current=536870912\n",
			      NULL } };
	unsigned all = img_default_jobs(), n;

	if (all < 2) {
		printf("# SKIP limits: one job here even without them\n");
		return;
	}
	CHECK_EQ(jobs_in_child(one_cpu, NULL), 1);
	if (geteuid() != 0) {
		printf("# SKIP cgroup: not root: no mount namespace\n");
		return;
	}
	n = jobs_in_child(fake_cgroup, &none);
	if (n == 0)
		return;
	CHECK_EQ(n, all);
	CHECK_EQ(jobs_in_child(fake_cgroup, &cpu_half), 1);
	CHECK_EQ(jobs_in_child(fake_cgroup, &cpu_max), all);
	CHECK_EQ(jobs_in_child(fake_cgroup, &mem_256m), 1);
	CHECK_EQ(jobs_in_child(fake_cgroup, &mem_max), all);
}

static const struct unit_test tests[] = {
	TEST(order_and_untouched), TEST(refuse_before_write),
	TEST(failure_says_what_was_written), TEST(journal_unsupported),
	TEST(choose_roots), TEST(events_in_order), TEST(root_per_image),
	TEST(default_jobs), TEST(default_jobs_limits),
};

UNIT_MAIN(tests)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sandboxed worker (lib/sandbox.h): it answers requests, keeps only
 * the descriptors it is given, and a forbidden system call kills it with a
 * clean error for the caller and nothing written.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/sandbox.h"
#include "unit.h"

static int image_fd = -1;	/* kept by the worker */
static int other_fd = -1;	/* not kept */
static char named[64];		/* a file outside a worker's directory */

static void *
thread_main(void *arg)
{
	return arg;
}

/* Requests: "echo ...", "socket", "open", "exec", "other", "big",
 * "write", "huge", "getfl", "setown", "chmod MODE", "spin", "wait",
 * "caps", "memfd", "grow", "passed". */
static int
serve(void *ud, const unsigned char *req, size_t len, int pass,
      struct buf *resp, struct buf *tail)
{
	(void)ud;
	(void)tail;
	if (len >= 5 && memcmp(req, "echo ", 5) == 0)
		return buf_add(resp, req + 5, len - 5);
	if (len == 6 && memcmp(req, "passed", 6) == 0) {
		/* The descriptor sent with the request, if any. */
		ssize_t n = pass >= 0 ? write(pass, "sent", 4) : -1;

		return buf_addf(resp, "%d %zd", pass >= 0, n);
	}
	if (len == 6 && memcmp(req, "socket", 6) == 0) {
		/* Forbidden: the worker dies here, before the write. */
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (pwrite(image_fd, "written", 7, 0) != 7 || s < 0)
			return buf_addstr(resp, "not killed");
		return buf_addstr(resp, "not killed");
	}
	if (len == 4 && memcmp(req, "open", 4) == 0) {
		int fd = open("/etc/hostname", O_RDONLY);

		return buf_addf(resp, "not killed %d", fd);
	}
	if (len == 4 && memcmp(req, "spin", 4) == 0)
		for (;;)	/* as a hostile input could make it loop */
			__asm__ volatile("" ::: "memory");
	if (len == 4 && memcmp(req, "wait", 4) == 0)
		for (;;)	/* as a stalled image server would keep it */
			poll(NULL, 0, -1);
	if (len == 5 && memcmp(req, "getfl", 5) == 0)
		return buf_addf(resp, "%d", fcntl(image_fd, F_GETFL) >= 0);
	if (len == 6 && memcmp(req, "setown", 6) == 0) {
		/* Would let it signal any process of its user: forbidden. */
		int r = fcntl(image_fd, F_SETOWN, getppid());

		return buf_addf(resp, "not killed %d", r);
	}
	if (len > 6 && len < 12 && memcmp(req, "chmod ", 6) == 0) {
		/* "chmod MODE", octal.  A setuid, setgid or sticky file, or
		 * one group or others may write: forbidden. */
		char mode[8];
		int r;

		memcpy(mode, req + 6, len - 6);
		mode[len - 6] = '\0';
		r = fchmod(image_fd, (mode_t)strtoul(mode, NULL, 8));
		return buf_addf(resp, "not killed %d", r);
	}
	if (len == 4 && memcmp(req, "exec", 4) == 0) {
		char *argv[] = { (char *)"/bin/true", NULL };

		execv(argv[0], argv);
		return buf_addstr(resp, "not killed");
	}
	if (len == 5 && memcmp(req, "other", 5) == 0) {
		ssize_t n = write(other_fd, "x", 1);

		return buf_addf(resp, "%zd %d", n, n < 0 ? errno : 0);
	}
	if (len == 5 && memcmp(req, "write", 5) == 0) {
		ssize_t n = pwrite(image_fd, "ok", 2, 0);

		return buf_addf(resp, "%zd", n);
	}
	if (len == 4 && memcmp(req, "huge", 4) == 0) {
		/* Beyond the address-space limit. */
		void *p = malloc((size_t)3 << 30);

		buf_addstr(resp, p ? "allocated" : "ENOMEM");
		free(p);
		return 0;
	}
	if (len == 4 && memcmp(req, "caps", 4) == 0) {
		/* Every set, and what the bounding set still holds. */
		struct __user_cap_header_struct h = {
			_LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct d[2];
		int c, bound = 0;

		if (syscall(SYS_capget, &h, d) < 0)
			return buf_addstr(resp, "capget failed");
		for (c = 0; c < 64; c++)
			bound += prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1;
		return buf_addf(resp, "%x %x %x %x %x %x %d", d[0].effective,
				d[1].effective, d[0].permitted, d[1].permitted,
				d[0].inheritable, d[1].inheritable, bound);
	}
	if (len == 5 && memcmp(req, "memfd", 5) == 0) {
		/* Memory beyond the address-space limit, if it could. */
		int fd = (int)syscall(SYS_memfd_create, "x", 0);

		return buf_addf(resp, "not killed %d", fd);
	}
	if (len == 4 && memcmp(req, "grow", 4) == 0) {
		/* Past the end of the file it holds: refused. */
		ssize_t n = pwrite(image_fd, "x", 1, (off_t)1 << 20);

		return buf_addf(resp, "%zd", n);
	}
	if (len == 5 && memcmp(req, "named", 5) == 0) {
		/* By its path, read and written: allowed only as one of
		 * sb_opts.fs_read (read) or fs_write (both). */
		int fr = open(named, O_RDONLY), fw = open(named, O_RDWR);

		if (fr >= 0)
			close(fr);
		if (fw >= 0)
			close(fw);
		return buf_addf(resp, "%d%d", fr >= 0, fw >= 0);
	}
	if (len == 6 && memcmp(req, "thread", 6) == 0) {
		pthread_t t;
		void *ret = NULL;
		int e = pthread_create(&t, NULL, thread_main, (void *)"x");

		if (e == 0)
			pthread_join(t, &ret);
		return buf_addf(resp, "%d %s", e, ret ? (char *)ret : "-");
	}
	if (len == 4 && memcmp(req, "fork", 4) == 0) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		return buf_addf(resp, "not killed %d", (int)pid);
	}
	if (len == 5 && memcmp(req, "ioctl", 5) == 0) {
		uint64_t size = 0;
		int r = ioctl(image_fd, BLKGETSIZE64, &size);

		return buf_addf(resp, "%d %d", r, r < 0 ? errno : 0);
	}
	if (len == 3 && memcmp(req, "big", 3) == 0) {
		static char b[4096];

		return buf_add(resp, b, sizeof(b));
	}
	return -1;
}

struct fixture {
	char path[64];
	struct sb_worker *w;
};

/* Set: workers start as workers on files in this directory. */
static const char *fs_dir;
static unsigned timeout_s;
/* Set: what else start() gives the worker. */
static struct sb_opts extra;

static int
start(struct fixture *f, struct kp_error *err)
{
	struct sb_opts o = { .mem_max = (uint64_t)1 << 30, .fs_dir = fs_dir,
			     .timeout_s = timeout_s, .fsize_max = 1 << 20 };
	int keep[1];

	strcpy(f->path, "/tmp/kmsprep-sandbox-XXXXXX");
	image_fd = mkstemp(f->path);
	other_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	keep[0] = image_fd;
	o.keep = keep;
	o.nkeep = 1;
	o.fs_read = extra.fs_read;
	o.nfs_read = extra.nfs_read;
	o.fs_write = extra.fs_write;
	o.nfs_write = extra.nfs_write;
	o.threads = extra.threads;
	o.ioctl_fails = extra.ioctl_fails;
	if (extra.nfs_read || extra.nfs_write) {
		static int keep2[2];

		keep2[0] = image_fd;
		keep2[1] = extra.nfs_read ? extra.fs_read[0] :
			   extra.fs_write[0];
		o.keep = keep2;
		o.nkeep = 2;
	}
	return sb_start(&o, serve, NULL, &f->w, err);
}

static void
finish(struct fixture *f)
{
	struct kp_error err = KP_ERROR_INIT;

	sb_stop(f->w, &err);
	close(image_fd);
	close(other_fd);
	unlink(f->path);
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void
test_echo(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf r = BUF_INIT;
	struct fixture f;

	CHECK(start(&f, &err) == 0);
	CHECK(sb_call(f.w, "echo hello", 10, 100, &r, &err) == 0);
	CHECK_STR(r.data, "hello");
	buf_reset(&r);
	/* The first byte apart, the rest in place. */
	{
		struct iovec v = { (void *)"echo hello", 10 };
		unsigned char first = 0;

		CHECK(sb_callv_first(f.w, &v, 1, -1, 100, &first, &r,
				     &err) == 0);
		CHECK(first == 'h');
		CHECK_STR(r.data, "ello");
		buf_reset(&r);
	}
	/* A descriptor sent with one request serves that request only. */
	{
		struct iovec v = { (void *)"passed", 6 };
		unsigned char first = 0;
		char got[8] = "";
		int p[2];

		CHECK(pipe(p) == 0);
		CHECK(sb_callv_first(f.w, &v, 1, p[1], 100, &first, &r,
				     &err) == 0);
		CHECK(first == '1');
		CHECK_STR(r.data, " 4");
		buf_reset(&r);
		close(p[1]);
		/* Written through, and closed in the worker afterwards. */
		CHECK(read(p[0], got, sizeof(got) - 1) == 4);
		CHECK_STR(got, "sent");
		CHECK(read(p[0], got, sizeof(got)) == 0);
		close(p[0]);
		CHECK(sb_call(f.w, "passed", 6, 100, &r, &err) == 0);
		CHECK_STR(r.data, "0 -1");
		buf_reset(&r);
	}
	/* The kept descriptor works, one not given is closed. */
	CHECK(sb_call(f.w, "write", 5, 100, &r, &err) == 0);
	CHECK_STR(r.data, "2");
	buf_reset(&r);
	CHECK(sb_call(f.w, "other", 5, 100, &r, &err) == 0);
	CHECK_STR(r.data, "-1 9");	/* EBADF */
	buf_reset(&r);
	if (!SB_ASAN) {		/* no address-space limit under ASan */
		CHECK(sb_call(f.w, "huge", 4, 100, &r, &err) == 0);
		CHECK_STR(r.data, "ENOMEM");
	}
	buf_reset(&r);
	/* No capability in any set; as root, none left to regain. */
	CHECK(sb_call(f.w, "caps", 4, 100, &r, &err) == 0);
	CHECK_STR(r.data, "0 0 0 0 0 0 0");
	buf_release(&r);
	finish(&f);
}

/* It may not grow the file it holds past its limit (the image's size):
 * the write kills it (SIGXFSZ), nothing is written. */
static void
test_grow_refused(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf r = BUF_INIT;
	struct fixture f;

	CHECK(start(&f, &err) == 0);
	CHECK(sb_call(f.w, "grow", 4, 100, &r, &err) == -1);
	CHECK(strstr(err.msg, "signal") != NULL);
	CHECK_EQ(file_size(f.path), 0);
	buf_release(&r);
	finish(&f);
}

/* A forbidden call: the worker is killed, the caller gets an error that
 * says so, and nothing was written to the image. */
static void
forbidden(const char *req)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf r = BUF_INIT;
	struct fixture f;
	int before = unit_failed;

	CHECK(start(&f, &err) == 0);
	CHECK(sb_call(f.w, req, strlen(req), 100, &r, &err) == -1);
	CHECK(strstr(err.msg, "forbidden system call") != NULL);
	CHECK_EQ(err.status, KP_ERR_FAIL);
	CHECK_EQ(file_size(f.path), 0);
	/* The dead worker stays dead. */
	CHECK(sb_call(f.w, "echo x", 6, 100, &r, &err) == -1);
	if (unit_failed != before)
		printf("# (request '%s')\n", req);
	buf_release(&r);
	finish(&f);
}

static void
test_socket_kills(void)
{
	forbidden("socket");
}

static void
test_open_kills(void)
{
	forbidden("open");
}

static void
test_exec_kills(void)
{
	forbidden("exec");
}

static void
test_memfd_kills(void)
{
	forbidden("memfd");
}

/* A worker on files: fcntl for flags, not to make the kernel signal
 * another process; files outside its directory are refused (Landlock),
 * not fatal; exec and sockets stay forbidden. */
static void
test_files_worker(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf r = BUF_INIT;
	struct fixture f;
	char dir[] = "/tmp/kmsprep-sandbox-dir-XXXXXX";

	fs_dir = mkdtemp(dir);
	CHECK(fs_dir != NULL);
	CHECK(start(&f, &err) == 0);
	CHECK(sb_call(f.w, "getfl", 5, 100, &r, &err) == 0);
	CHECK_STR(r.data, "1");
	buf_reset(&r);
	CHECK(sb_call(f.w, "open", 4, 100, &r, &err) == 0);
	if (sb_landlock_abi() > 0)
		CHECK_STR(r.data, "not killed -1");
	buf_reset(&r);
	/* A hive's own modes, and one read only. */
	CHECK(sb_call(f.w, "chmod 0600", 10, 100, &r, &err) == 0);
	CHECK_STR(r.data, "not killed 0");
	buf_reset(&r);
	CHECK(sb_call(f.w, "chmod 0644", 10, 100, &r, &err) == 0);
	CHECK_STR(r.data, "not killed 0");
	buf_reset(&r);
	CHECK(sb_call(f.w, "chmod 0755", 10, 100, &r, &err) == 0);
	CHECK_STR(r.data, "not killed 0");
	buf_reset(&r);
	CHECK(sb_call(f.w, "chmod 0400", 10, 100, &r, &err) == 0);
	CHECK_STR(r.data, "not killed 0");
	buf_release(&r);
	finish(&f);
	/* Each forbidden bit on its own: setuid, setgid, sticky, group
	 * write, other write. */
	forbidden("chmod 04755");
	forbidden("chmod 04600");
	forbidden("chmod 02600");
	forbidden("chmod 01600");
	forbidden("chmod 0620");
	forbidden("chmod 0602");
	forbidden("setown");
	forbidden("exec");
	forbidden("socket");
	rmdir(dir);
	fs_dir = NULL;
}

/* The WIM worker's options (image/wimworker.c): a file named beside its
 * directory is reachable by path, no other; threads start, a process
 * does not; ioctl fails instead of killing. */
static void
test_wim_worker_options(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf r = BUF_INIT;
	struct fixture f;
	char dir[] = "/tmp/kmsprep-sandbox-dir-XXXXXX";
	int nfd;

	strcpy(named, "/tmp/kmsprep-sandbox-named-XXXXXX");
	nfd = mkstemp(named);
	CHECK(nfd >= 0);
	fs_dir = mkdtemp(dir);
	CHECK(fs_dir != NULL);
	/* Without the rule: refused where Landlock fences. */
	CHECK(start(&f, &err) == 0);
	CHECK(sb_call(f.w, "named", 5, 100, &r, &err) == 0);
	if (sb_landlock_abi() > 0)
		CHECK_STR(r.data, "00");
	buf_reset(&r);
	finish(&f);
	/* Read only. */
	extra.fs_read = &nfd;
	extra.nfs_read = 1;
	CHECK(start(&f, &err) == 0);
	CHECK(sb_call(f.w, "named", 5, 100, &r, &err) == 0);
	if (sb_landlock_abi() > 0)
		CHECK_STR(r.data, "10");
	buf_reset(&r);
	finish(&f);
	extra.fs_read = NULL;
	extra.nfs_read = 0;
	extra.fs_write = &nfd;
	extra.nfs_write = 1;
	extra.threads = true;
	extra.ioctl_fails = true;
	CHECK(start(&f, &err) == 0);
	CHECK(sb_call(f.w, "named", 5, 100, &r, &err) == 0);
	CHECK_STR(r.data, "11");
	buf_reset(&r);
	CHECK(sb_call(f.w, "thread", 6, 100, &r, &err) == 0);
	CHECK_STR(r.data, "0 x");
	buf_reset(&r);
	CHECK(sb_call(f.w, "ioctl", 5, 100, &r, &err) == 0);
	CHECK_STR(r.data, "-1 25");	/* ENOTTY */
	buf_reset(&r);
	CHECK(sb_call(f.w, "fork", 4, 100, &r, &err) == -1);
	CHECK(strstr(err.msg, "forbidden system call") != NULL);
	buf_release(&r);
	finish(&f);
	memset(&extra, 0, sizeof(extra));
	/* Without the options: a thread cannot start, ioctl kills. */
	forbidden("ioctl");
	close(nfd);
	unlink(named);
	rmdir(dir);
	fs_dir = NULL;
}

/* A worker that does not answer in time is stopped; the call says so. */
static void
test_timeout(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf r = BUF_INIT;
	struct fixture f;

	timeout_s = 1;
	CHECK(start(&f, &err) == 0);
	timeout_s = 0;
	CHECK(sb_call(f.w, "echo x", 6, 100, &r, &err) == 0);
	CHECK(sb_call(f.w, "spin", 4, 100, &r, &err) == -1);
	CHECK(strstr(err.msg, "did not answer within 1 s") != NULL);
	/* It computed all along: what it was given is at fault. */
	CHECK(err.status == KP_ERR_INPUT);
	CHECK(sb_call(f.w, "echo x", 6, 100, &r, &err) == -1);
	finish(&f);

	/* Kept waiting: the environment is, and a retry may succeed. */
	timeout_s = 1;
	CHECK(start(&f, &err) == 0);
	timeout_s = 0;
	CHECK(sb_call(f.w, "wait", 4, 100, &r, &err) == -1);
	CHECK(strstr(err.msg, "did not answer within 1 s") != NULL);
	CHECK(err.status == KP_ERR_UNAVAILABLE);
	buf_release(&r);
	finish(&f);
}

static void
test_oversized_answer(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf r = BUF_INIT;
	struct fixture f;

	CHECK(start(&f, &err) == 0);
	CHECK(sb_call(f.w, "big", 3, 100, &r, &err) == -1);
	CHECK(strstr(err.msg, "oversized") != NULL);
	buf_release(&r);
	finish(&f);
}

/* The value of FIELD in /proc/PID/status, or "". */
static const char *
status_of(pid_t pid, const char *field)
{
	static char v[128];
	char path[64], line[256];
	FILE *f;

	v[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return v;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0 &&
		    line[strlen(field)] == ':')
			sscanf(line + strlen(field) + 1, "%127s", v);
	fclose(f);
	return v;
}

/* A confined program (qemu-nbd's confinement, on a shell): it reads the
 * file it was given and no other, holds no capability, runs under its
 * filter with no new privileges, in a network namespace of its own. */
static void
test_spawn_confined(void)
{
	struct kp_error err = KP_ERROR_INIT;
	const char *const exec[] = { "/usr", "/bin", "/lib", "/lib64", NULL };
	char ok[] = "/tmp/kmsprep-spawn-XXXXXX", script[256], out[256];
	int okfd = mkstemp(ok), rd[2] = { -1, -1 }, p[2], st;
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", script, NULL };
	struct sb_spawn_opts so = { .exec = exec, .read = rd, .listen_fd = -1 };
	char ns_self[64] = "", ns_child[64] = "", nspath[64];
	size_t n = 0;
	ssize_t got;
	pid_t pid;

	CHECK(okfd >= 0 && write(okfd, "hello\n", 6) == 6);
	rd[0] = okfd;
	CHECK(pipe(p) == 0);
	so.out_fd = p[1];
	snprintf(script, sizeof(script), "cat %s; cat /etc/passwd >/dev/null "
		 "2>&1 || echo denied; echo done; exec sleep 5", ok);
	CHECK(sb_spawn(argv, &so, &pid, &err) == 0);
	close(p[1]);
	while (n + 1 < sizeof(out) && !strstr(out, "done") &&
	       (got = read(p[0], out + n, sizeof(out) - 1 - n)) > 0) {
		n += (size_t)got;
		out[n] = '\0';
	}
	out[n] = '\0';
	CHECK(strstr(out, "hello") != NULL);
	if (sb_landlock_abi() > 0)
		CHECK(strstr(out, "denied") != NULL);
	CHECK_STR(status_of(pid, "CapEff"), "0000000000000000");
	CHECK_STR(status_of(pid, "CapPrm"), "0000000000000000");
	CHECK_STR(status_of(pid, "CapBnd"), "0000000000000000");
	CHECK_STR(status_of(pid, "NoNewPrivs"), "1");
	CHECK_STR(status_of(pid, "Seccomp"), "2");
	snprintf(nspath, sizeof(nspath), "/proc/%d/ns/net", (int)pid);
	CHECK(readlink("/proc/self/ns/net", ns_self, sizeof(ns_self) - 1) > 0);
	CHECK(readlink(nspath, ns_child, sizeof(ns_child) - 1) > 0);
	if (geteuid() == 0)
		CHECK(strcmp(ns_self, ns_child) != 0);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(p[0]);
	close(okfd);
	unlink(ok);
}

/* A confined program cannot connect to a socket on this host, though it
 * runs as root and Landlock does not fence connect(): not the D-Bus
 * system bus, systemd's or a container engine's socket. */
static void
test_spawn_no_connect(void)
{
	struct kp_error err = KP_ERROR_INIT;
	const char *const exec[] = { "/usr", "/bin", "/lib", "/lib64", NULL };
	char dir[] = "/tmp/kmsprep-sock-XXXXXX", path[64], dpath[64];
	char script[768], out[256] = "";
	char *argv[] = { (char *)"/usr/bin/python3", (char *)"-c", script,
			 NULL };
	struct sb_spawn_opts so = { .exec = exec, .listen_fd = -1 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), p[2], st;
	int dg = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	size_t n = 0;
	ssize_t got;
	pid_t pid;

	if (access(argv[0], X_OK) < 0) {
		printf("# skipped: no %s to connect with\n", argv[0]);
		close(l);
		close(dg);
		return;
	}
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/s", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK(bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(l, 1) == 0);
	snprintf(dpath, sizeof(dpath), "%s/d", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", dpath);
	CHECK(bind(dg, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	/* A stream socket connected, and a datagram sent to a named one
	 * (as to /dev/log), which needs no connect(). */
	snprintf(script, sizeof(script),
		 "import socket\ns = socket.socket(socket.AF_UNIX)\n"
		 "try:\n s.connect('%s'); print('connected')\n"
		 "except OSError as e:\n print('refused', e.errno)\n"
		 "try:\n d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
		 " d.sendto(b'x', '%s'); print('sent')\n"
		 "except OSError as e:\n print('dgram refused', e.errno)\n",
		 path, dpath);
	CHECK(pipe(p) == 0);
	so.out_fd = p[1];
	CHECK(sb_spawn(argv, &so, &pid, &err) == 0);
	close(p[1]);
	while (n + 1 < sizeof(out) &&
	       (got = read(p[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)got;
	out[n] = '\0';
	waitpid(pid, &st, 0);
	CHECK(strstr(out, "refused") != NULL);
	CHECK(strstr(out, "connected") == NULL);
	CHECK(strstr(out, "dgram refused") != NULL);
	CHECK(strstr(out, "sent") == NULL);
	close(p[0]);
	close(l);
	close(dg);
	unlink(path);
	unlink(dpath);
	rmdir(dir);
}

static const struct unit_test tests[] = {
	TEST(test_echo),
	TEST(test_socket_kills),
	TEST(test_open_kills),
	TEST(test_exec_kills),
	TEST(test_memfd_kills),
	TEST(test_grow_refused),
	TEST(test_files_worker),
	TEST(test_wim_worker_options),
	TEST(test_oversized_answer),
	TEST(test_timeout),
	TEST(test_spawn_confined),
	TEST(test_spawn_no_connect),
};

UNIT_MAIN(tests)

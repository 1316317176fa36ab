/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sandboxed worker processes (see sandbox.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "clock.h"

struct sb_worker {
	pid_t pid;
	int sock;
	unsigned timeout;	/* seconds to answer, 0: no limit */
	int status;		/* wait status once reaped */
	bool reaped;
};

/* The system calls a worker may make: memory, I/O on descriptors it
 * already holds (the image file or nbd socket, its own socket), time and
 * exit.  Nothing that opens a path, creates a file or a socket, executes
 * or signals. */
static const int allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv),
	SCMP_SYS(pwritev), SCMP_SYS(lseek), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(fsync), SCMP_SYS(fdatasync),
	/* On a socket it holds: an NBD connection it gives up, so that the
	 * parent's copy of it is not used half-way through a request. */
	SCMP_SYS(shutdown),
	SCMP_SYS(recvfrom), SCMP_SYS(recvmsg), SCMP_SYS(sendto),
	SCMP_SYS(sendmsg), SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(close), SCMP_SYS(fadvise64),
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
	SCMP_SYS(mprotect), SCMP_SYS(madvise),
	SCMP_SYS(futex), SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getrandom),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group),
	/* Reading its own capabilities, to show there are none. */
	SCMP_SYS(capget),
#if SB_ASAN
	/* The sanitizer runtime sets up and tears down its signal stack. */
	SCMP_SYS(sigaltstack),
#endif
};

/* A worker on files (sb_opts.fs_dir) also looks up, reads and locks
 * them ... */
static const int allowed_fs[] = {
	SCMP_SYS(flock), SCMP_SYS(readlink), SCMP_SYS(readlinkat),
	SCMP_SYS(getcwd), SCMP_SYS(statx), SCMP_SYS(umask),
	SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(access),
	SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(getdents64),
	/* A new or recovered hive is checked in a memory file, of at most
	 * the file-size limit like every file it writes. */
	SCMP_SYS(ftruncate), SCMP_SYS(memfd_create),
};

/* ... and where Landlock fences it into its directory, opens them for
 * writing, creates, renames and removes them there.  Without Landlock it
 * may only open files read-only (open_ro). */
static const int allowed_fenced[] = {
	SCMP_SYS(openat), SCMP_SYS(rename), SCMP_SYS(renameat),
	SCMP_SYS(renameat2), SCMP_SYS(unlink), SCMP_SYS(unlinkat),
	SCMP_SYS(fchown), SCMP_SYS(fallocate),
};

/* fcntl only for descriptor flags, status flags, duplicates and locks:
 * F_SETOWN and F_SETSIG would let it signal any process of its user. */
static const int fcntl_cmds[] = {
	F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD, F_DUPFD_CLOEXEC,
	F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW,
};

/* Landlock access rights, by the ABI that brought them; the kernel's
 * headers of Debian 12 know only the first two ABIs.
 * https://docs.kernel.org/userspace-api/landlock.html */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

/* struct landlock_ruleset_attr as it grew: file rights (ABI 1), network
 * rights (ABI 4), scopes (ABI 6); the kernel takes the size it knows. */
struct ll_ruleset {
	uint64_t fs, net, scoped;
};

bool
sb_selftest(void)
{
	const char *st = getenv("KMSPREP_SANDBOX_SELFTEST");

	return st && strcmp(st, "1") == 0;
}

int
sb_landlock_abi(void)
{
	long v;

	/* Test switch: behave as on a kernel without Landlock. */
	if (sb_selftest() && getenv("KMSPREP_SANDBOX_NO_LANDLOCK"))
		return 0;
	v = syscall(SYS_landlock_create_ruleset, NULL, 0,
		    LANDLOCK_CREATE_RULESET_VERSION);
	return v > 0 ? (int)v : 0;
}

/* May a worker be shut into its directory with chroot: is this process
 * root (and not told otherwise by a test)? */
static bool
can_chroot(void)
{
	return geteuid() == 0 &&
	       !(sb_selftest() && getenv("KMSPREP_SANDBOX_NO_CHROOT"));
}

const char *
sb_fence(void)
{
	return sb_landlock_abi() > 0 ? "Landlock" : can_chroot() ? "chroot" :
	       NULL;
}

/* Fence this process into DIR: every file right is handled, and only
 * DIR's files may be read, written, created, truncated or removed.  TCP
 * and (ABI 6) signals and abstract sockets outside it are refused too. */
static int
fence(const char *dir, int abi, const struct sb_opts *o)
{
	struct ll_ruleset ra = { 0, 0, 0 };
	struct landlock_path_beneath_attr pb;
	size_t sz = sizeof(ra.fs);
	int rs, fd, r;

	ra.fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;	/* ABI 1 */
	pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE |
			    LANDLOCK_ACCESS_FS_WRITE_FILE |
			    LANDLOCK_ACCESS_FS_READ_DIR |
			    LANDLOCK_ACCESS_FS_REMOVE_FILE |
			    LANDLOCK_ACCESS_FS_MAKE_REG;
	if (abi >= 2) {
		ra.fs |= LANDLOCK_ACCESS_FS_REFER;
		pb.allowed_access |= LANDLOCK_ACCESS_FS_REFER;
	}
	if (abi >= 3) {
		ra.fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
		pb.allowed_access |= LANDLOCK_ACCESS_FS_TRUNCATE;
	}
	if (abi >= 4) {
		ra.net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		sz = offsetof(struct ll_ruleset, scoped);
	}
	if (abi >= 5)
		ra.fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	if (abi >= 6) {
		ra.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		sz = sizeof(ra);
	}
	rs = (int)syscall(SYS_landlock_create_ruleset, &ra, sz, 0);
	if (rs < 0)
		return -1;
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		close(rs);
		return -1;
	}
	pb.parent_fd = fd;
	r = (int)syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH,
			 &pb, 0);
	close(fd);
	/* The files named beside it: file rights only, on each file. */
	for (size_t i = 0; r == 0 && i < o->nfs_read + o->nfs_write; i++) {
		bool w = i >= o->nfs_read;

		pb.parent_fd = w ? o->fs_write[i - o->nfs_read] : o->fs_read[i];
		/* Written files may be cut back too (wimlib does, to undo
		 * an append that failed). */
		pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE |
				    (w ? LANDLOCK_ACCESS_FS_WRITE_FILE : 0) |
				    (w && abi >= 3 ?
				     LANDLOCK_ACCESS_FS_TRUNCATE : 0);
		r = (int)syscall(SYS_landlock_add_rule, rs,
				 LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	}
	if (r == 0)
		r = (int)syscall(SYS_landlock_restrict_self, rs, 0);
	close(rs);
	return r;
}

/* Milliseconds left until DEADLINE, at least 0. */
static int
ms_left(uint64_t deadline)
{
	uint64_t now = kp_clock_ms();

	return now >= deadline ? 0 : deadline - now > INT_MAX ? INT_MAX :
	       (int)(deadline - now);
}

/* Read N bytes; with DEADLINE (not 0), fail with EAGAIN when it passes
 * first, however the bytes trickle in. */
static int
read_full(int fd, void *p, size_t n, uint64_t deadline)
{
	unsigned char *b = p;

	while (n) {
		ssize_t r;

		if (deadline) {
			struct pollfd pf = { fd, POLLIN, 0 };
			int left = ms_left(deadline), pr;

			pr = left ? poll(&pf, 1, left) : 0;
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr <= 0) {
				if (pr == 0)
					errno = EAGAIN;
				return -1;
			}
		}
		r = read(fd, b, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? 0 : -1;
		b += r;
		n -= (size_t)r;
	}
	return 1;
}

static int
write_full(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n) {
		ssize_t r = send(fd, b, n, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Send the header H, with descriptor PASS (SCM_RIGHTS) if it is not -1. */
static int
send_header(int fd, unsigned char h[4], int pass)
{
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec v = { h, 4 };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
	ssize_t r;

	if (pass < 0)
		return write_full(fd, h, 4);
	memset(&u, 0, sizeof(u));
	m.msg_control = u.b;
	m.msg_controllen = sizeof(u.b);
	u.c.cmsg_level = SOL_SOCKET;
	u.c.cmsg_type = SCM_RIGHTS;
	u.c.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&u.c), &pass, sizeof(int));
	do
		r = sendmsg(fd, &m, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	/* The descriptor went with the first byte; the rest as usual. */
	return r < 4 ? write_full(fd, h + r, 4 - (size_t)r) : 0;
}

/* Read the 4-byte header, and a descriptor sent with it into *PASS (-1
 * for none).  More than one, or a cut control message, is an error, the
 * descriptors closed. */
static int
recv_header(int fd, unsigned char h[4], int *pass)
{
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec v = { h, 4 };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1,
			    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr *c;
	ssize_t r;
	int got = 0;

	*pass = -1;
	do
		r = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r == 0 ? 0 : -1;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		size_t k, nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < nfd; k++) {
			int d;

			memcpy(&d, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
			if (got++ == 0)
				*pass = d;
			else
				close(d);
		}
	}
	if (got > 1 || (m.msg_flags & MSG_CTRUNC)) {
		if (*pass >= 0)
			close(*pass);
		*pass = -1;
		errno = EPROTO;
		return -1;
	}
	if (r < 4 && read_full(fd, h + r, 4 - (size_t)r, 0) <= 0) {
		if (*pass >= 0)
			close(*pass);
		*pass = -1;
		return -1;
	}
	return 1;
}

static int
send_msgv(int fd, const struct iovec *iov, int niov, int pass)
{
	unsigned char h[4];
	size_t n = 0;
	int i;

	for (i = 0; i < niov; i++) {
		if (iov[i].iov_len > SB_MSG_MAX - n) {
			errno = EMSGSIZE;
			return -1;
		}
		n += iov[i].iov_len;
	}
	h[0] = (unsigned char)n;
	h[1] = (unsigned char)(n >> 8);
	h[2] = (unsigned char)(n >> 16);
	h[3] = (unsigned char)(n >> 24);
	if (send_header(fd, h, pass) < 0)
		return -1;
	for (i = 0; i < niov; i++)
		if (write_full(fd, iov[i].iov_base, iov[i].iov_len) < 0)
			return -1;
	return 0;
}

/* Receive one message of at most MAX bytes into OUT: 1, 0 at EOF before
 * a message, -1 on error (EMSGSIZE if too long).  With PASS, a
 * descriptor sent with it lands in *PASS (else -1); without, the kernel
 * drops any that is sent. */
static int
recv_msg(int fd, size_t max, unsigned char *first, struct buf *out,
	 uint64_t deadline, int *pass)
{
	unsigned char h[4];
	size_t n;
	int r = pass ? recv_header(fd, h, pass) :
		       read_full(fd, h, 4, deadline);

	if (r <= 0)
		return r;
	n = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 |
	    (size_t)h[3] << 24;
	if (n > max || n > SB_MSG_MAX || (first && n == 0)) {
		errno = EMSGSIZE;
		return -1;
	}
	/* The first byte apart: the rest lands where it stays, with no
	 * move of a large answer. */
	if (first) {
		r = read_full(fd, first, 1, deadline);
		if (r <= 0) {
			if (r == 0)
				errno = EPIPE;
			return -1;
		}
		n--;
	}
	if (buf_grow(out, n + 1) < 0)
		return -1;
	r = read_full(fd, out->data + out->len, n, deadline);
	if (r <= 0) {
		if (r == 0)
			errno = EPIPE;
		return -1;
	}
	out->len += n;
	out->data[out->len] = '\0';
	return 1;
}

static int
cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Close every descriptor but KEEP[0..N). */
static int
close_others(int *keep, size_t n)
{
	unsigned lo = 0;
	size_t i;

	qsort(keep, n, sizeof(*keep), cmp_int);
	for (i = 0; i < n; i++) {
		if (keep[i] < 0 || (unsigned)keep[i] < lo)
			continue;
		if ((unsigned)keep[i] > lo &&
		    close_range(lo, (unsigned)keep[i] - 1, 0) < 0)
			return -1;
		lo = (unsigned)keep[i] + 1;
	}
	return close_range(lo, ~0u, 0);
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Argument N compared by OP with V.  libseccomp's SCMP_An leaves datum_b
 * to positional zeroing, which clang's -Wmissing-field-initializers
 * rejects; designated members do not. */
#define ARG(n, o, v) \
	((struct scmp_arg_cmp){ .arg = (n), .op = (o), .datum_a = (v) })
/* Argument N, masked by M, equal to V. */
#define ARG_MASKED(n, m, v) \
	((struct scmp_arg_cmp){ .arg = (n), .op = SCMP_CMP_MASKED_EQ, \
				.datum_a = (m), .datum_b = (v) })

/* Give up every capability for good: the ambient and bounding sets
 * emptied, an execve by root granting none (SECBIT_NOROOT, locked), then
 * the process's own sets cleared.  Without root there is nothing to drop
 * but what the process holds. */
static int
drop_privileges(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int c;

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -1;
	for (c = 0; prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == 0 || errno != EINVAL;
	     c++)
		if (errno == EPERM && c == 0)
			break;	/* not privileged: no bounding set to drop */
	if (geteuid() == 0 &&
	    prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
		  SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
		  SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0) < 0)
		return -1;
	memset(d, 0, sizeof(d));
	return (int)syscall(SYS_capset, &h, d);
}

/* Without Landlock but as root: a mount namespace of its own, where the
 * directory becomes the root and shows nothing else but the worker's own
 * descriptors at /proc/self/fd (the hive layer reopens the files it
 * checked there), then chroot. */
static int
jail(void)
{
	static const char *const dirs[] = { "proc", "proc/self",
					    "proc/self/fd" };
	size_t i;

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	for (i = 0; i < NELEM(dirs); i++)
		if (mkdir(dirs[i], 0500) < 0 && errno != EEXIST)
			return -1;
	if (mount("/proc/self/fd", "proc/self/fd", NULL, MS_BIND, NULL) < 0 ||
	    chroot(".") < 0)
		return -1;
	return 0;
}

/* A worker on files runs in DIR, fenced there by Landlock where the
 * kernel has it, else by jail() where it is root; *FENCED whether one
 * holds.  Paths it is given are relative to DIR. */
static int
enter_dir(const char *dir, const struct sb_opts *o, bool *fenced)
{
	int abi = sb_landlock_abi();

	*fenced = abi > 0 || can_chroot();
	if (chdir(dir) < 0)
		return -1;
	if (abi > 0)
		return fence(".", abi, o);
	return *fenced ? jail() : 0;
}

/* The file calls of an FS_DIR worker, FENCED or not (see above). */
static int
allow_files(scmp_filter_ctx ctx, bool fenced)
{
	size_t i;

	for (i = 0; i < NELEM(allowed_fs); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_fs[i], 0) < 0)
			return -1;
	for (i = 0; i < NELEM(fcntl_cmds); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				     ARG(1, SCMP_CMP_EQ,
					 (scmp_datum_t)fcntl_cmds[i])) < 0)
			return -1;
	if (!fenced) {
		/* Read-only opens; one for writing fails (EACCES) rather
		 * than kills, so that a rewrite fails cleanly. */
		static const struct { scmp_datum_t mask, val; } wr[] = {
			{ O_ACCMODE, O_WRONLY }, { O_ACCMODE, O_RDWR },
			{ O_ACCMODE, O_ACCMODE }, { O_CREAT, O_CREAT },
			{ O_TRUNC, O_TRUNC },
		};

		for (i = 0; i < NELEM(wr); i++)
			if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
					     SCMP_SYS(openat), 1,
					     ARG_MASKED(2, wr[i].mask,
							wr[i].val)) < 0)
				return -1;
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
					ARG_MASKED(2, O_ACCMODE | O_CREAT |
						   O_TRUNC, O_RDONLY));
	}
	for (i = 0; i < NELEM(allowed_fenced); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_fenced[i],
				     0) < 0)
			return -1;
	/* No setuid, setgid or sticky bit, and no write for group or
	 * others: a worker runs as its files' owner, root, and may hold
	 * host files (a WIM, an overlay), which must not become setuid or
	 * writable by others.  A hive's own mode (0600, 0644) is kept. */
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fchmod), 1,
				ARG_MASKED(1, 07022, 0));
}

/* Threads and nothing else: clone only with CLONE_THREAD (which needs
 * CLONE_VM and CLONE_SIGHAND), and what glibc's threads start with. */
static int
allow_threads(scmp_filter_ctx ctx)
{
	static const int calls[] = {
		SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
		SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity),
		/* How much memory the threads' buffers may take (wimlib's
		 * get_avail_memory). */
		SCMP_SYS(sysinfo),
		/* glibc's handler for thread cancellation, set up when the
		 * first thread starts. */
		SCMP_SYS(rt_sigaction),
	};
	size_t i;

	for (i = 0; i < NELEM(calls); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0) < 0)
			return -1;
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3),
			     0) < 0)
		return -1;
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				ARG_MASKED(0, CLONE_THREAD, CLONE_THREAD));
}

static int
confine(const struct sb_opts *o, int sock)
{
	struct rlimit rl;
	scmp_filter_ctx ctx;
	int *keep, maxfd = sock;
	bool fenced = false;
	size_t i;

	keep = calloc(o->nkeep + 1, sizeof(*keep));
	if (keep == NULL)
		return -1;
	for (i = 0; i < o->nkeep; i++) {
		keep[i] = o->keep[i];
		if (keep[i] > maxfd)
			maxfd = keep[i];
	}
	keep[o->nkeep] = sock;
	if (close_others(keep, o->nkeep + 1) < 0) {
		free(keep);
		return -1;
	}
	free(keep);
	/* No network: a namespace of its own needs CAP_SYS_ADMIN; without
	 * it the seccomp filter still forbids socket() and connect(). */
	if (unshare(CLONE_NEWNET) < 0 && errno != EPERM && errno != EINVAL &&
	    errno != ENOSYS)
		return -1;
	rl.rlim_cur = rl.rlim_max = o->mem_max ? o->mem_max :
				    (rlim_t)4 << 30;
	if (!SB_ASAN && setrlimit(RLIMIT_AS, &rl) < 0)
		return -1;
	/* A worker on files holds a few hives, each with a lock, a map and
	 * hivex's descriptor, and opens logs and a temporary file. */
	rl.rlim_cur = rl.rlim_max = (rlim_t)maxfd + 1 + (o->fs_dir ? 128 : 0);
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	/* Files it may write: a hive and its copy, no more (4 GiB); a
	 * worker on an image's bytes may not grow the image. */
	rl.rlim_cur = rl.rlim_max = !o->fs_dir ? (rlim_t)o->fsize_max :
				    o->fsize_max > (uint64_t)4 << 30 ?
				    (rlim_t)o->fsize_max : (rlim_t)4 << 30;
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return -1;
	rl.rlim_cur = rl.rlim_max = 0;
	/* Threads count as processes: with them, seccomp alone keeps it
	 * from forking. */
	if (setrlimit(RLIMIT_CORE, &rl) < 0 ||
	    (!o->threads && setrlimit(RLIMIT_NPROC, &rl) < 0))
		return -1;
	/* No new privileges before the fence: without CAP_SYS_ADMIN the
	 * kernel allows a Landlock ruleset only after it. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	if (o->fs_dir && enter_dir(o->fs_dir, o, &fenced) < 0)
		return -1;
	if (drop_privileges() < 0)
		return -1;
	if (o->no_seccomp)
		return 0;
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL)
		return -1;
	for (i = 0; i < NELEM(allowed); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0) < 0)
			goto fail;
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
			     ARG(0, SCMP_CMP_EQ, PR_CAPBSET_READ)) < 0)
		goto fail;
	if (o->fs_dir && allow_files(ctx, fenced) < 0)
		goto fail;
	if (o->threads && allow_threads(ctx) < 0)
		goto fail;
	if (o->ioctl_fails &&
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl),
			     0) < 0)
		goto fail;
	if (seccomp_load(ctx) < 0)
		goto fail;
	seccomp_release(ctx);
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}

static void
serve_loop(int sock, sb_serve_fn *serve, void *ud)
{
	struct buf req = BUF_INIT, resp = BUF_INIT, tail = BUF_INIT;

	for (;;) {
		struct iovec v[2];
		int r, pass = -1;

		buf_reset(&req);
		buf_reset(&resp);
		buf_release(&tail);
		r = recv_msg(sock, SB_MSG_MAX, NULL, &req, 0, &pass);
		if (r <= 0)
			_exit(r == 0 ? 0 : 3);
		r = serve(ud, (const unsigned char *)req.data, req.len, pass,
			  &resp, &tail);
		if (pass >= 0)
			close(pass);
		if (r < 0)
			_exit(4);
		v[0].iov_base = resp.data ? resp.data : (char *)"";
		v[0].iov_len = resp.len;
		v[1].iov_base = tail.data ? tail.data : (char *)"";
		v[1].iov_len = tail.len;
		if (send_msgv(sock, v, 2, -1) < 0)
			_exit(3);
	}
}

int
sb_start(const struct sb_opts *o, sb_serve_fn *serve, void *ud,
	 struct sb_worker **w_ret, struct kp_error *err)
{
	struct sb_worker *w;
	int sv[2];
	pid_t parent = getpid();

	*w_ret = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return kp_fail_oom(err);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(w);
		return kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno, "socketpair");
	}
	w->pid = fork();
	if (w->pid < 0) {
		close(sv[0]);
		close(sv[1]);
		free(w);
		return kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno, "fork");
	}
	if (w->pid == 0) {
		/* The worker: never returns. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
		    getppid() != parent)
			_exit(5);
		if (confine(o, sv[1]) < 0)
			_exit(6);
		serve_loop(sv[1], serve, ud);
		_exit(0);
	}
	close(sv[1]);
	w->sock = sv[0];
	w->timeout = o->timeout_s;
	if (o->timeout_s) {
		/* Answers get a deadline (recv_msg); a request that the
		 * worker does not read gets the same time. */
		struct timeval tv = { (time_t)o->timeout_s, 0 };

		if (setsockopt(w->sock, SOL_SOCKET, SO_SNDTIMEO, &tv,
			       sizeof(tv)) < 0) {
			kill(w->pid, SIGKILL);
			sb_stop(w, NULL);
			return kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno,
					     "setsockopt");
		}
	}
	*w_ret = w;
	return 0;
}

int
sb_pid(const struct sb_worker *w)
{
	return w->pid;
}

/* Reap the worker and describe how it ended. */
static int
died(struct sb_worker *w, struct kp_error *err)
{
	if (!w->reaped) {
		while (waitpid(w->pid, &w->status, 0) < 0)
			if (errno != EINTR)
				return kp_fail_errno(err, KP_ERR_FAIL, errno,
						     "worker");
		w->reaped = true;
	}
	if (WIFSIGNALED(w->status) && WTERMSIG(w->status) == SIGSYS)
		return kp_fail(err, KP_ERR_FAIL, "the sandboxed worker made a "
			       "forbidden system call and was stopped");
	if (WIFSIGNALED(w->status))
		return kp_fail(err, KP_ERR_FAIL, "the sandboxed worker was "
			       "killed by signal %d (%s)", WTERMSIG(w->status),
			       strsignal(WTERMSIG(w->status)));
	if (WIFEXITED(w->status) && WEXITSTATUS(w->status) == 6)
		return kp_fail(err, KP_ERR_UNAVAILABLE, "the worker could not be "
			       "sandboxed (seccomp, limits)");
	return kp_fail(err, KP_ERR_FAIL, "the sandboxed worker ended "
		       "(status %d)", WIFEXITED(w->status) ?
		       WEXITSTATUS(w->status) : -1);
}

int
sb_call(struct sb_worker *w, const void *req, size_t len, size_t max,
	struct buf *resp, struct kp_error *err)
{
	struct iovec v = { (void *)req, len };

	return sb_callv(w, &v, 1, max, resp, err);
}

int
sb_callv(struct sb_worker *w, const struct iovec *iov, int n, size_t max,
	 struct buf *resp, struct kp_error *err)
{
	return sb_callv_first(w, iov, n, -1, max, NULL, resp, err);
}

int
sb_callv_first(struct sb_worker *w, const struct iovec *iov, int n, int pass,
	       size_t max, unsigned char *first, struct buf *resp,
	       struct kp_error *err)
{
	uint64_t busy0 = w->timeout ? kp_busy_ms(w->pid) : 0;
	int r;

	if (w->reaped)
		return died(w, err);
	if (send_msgv(w->sock, iov, n, pass) < 0) {
		if (errno == EMSGSIZE)
			return kp_fail(err, KP_ERR_FAIL, "request too large");
		/* It may be alive and not reading: it is not waited for. */
		kill(w->pid, SIGKILL);
		return died(w, err);
	}
	r = recv_msg(w->sock, max, first, resp,
		     w->timeout ? kp_clock_ms() + (uint64_t)w->timeout * 1000 : 0,
		     NULL);
	if (r > 0)
		return 0;
	if (r < 0 && errno == EAGAIN && w->timeout) {
		/* Made to loop by what it parses (it spent the time running,
		 * or ready to: the input is at fault), or kept waiting (the
		 * storage under it is: a retry may do better).  Either way:
		 * stop it. */
		uint64_t busy1 = kp_busy_ms(w->pid);
		bool looped = busy1 > busy0 &&
			      (busy1 - busy0) * 2 >= (uint64_t)w->timeout * 1000;

		kill(w->pid, SIGKILL);
		died(w, err);
		return kp_fail(err, looped ? KP_ERR_INPUT : KP_ERR_UNAVAILABLE,
			       "the sandboxed worker did not answer within "
			       "%u s and was stopped (%s)", w->timeout,
			       looped ? "it kept computing: what it reads can "
			       "make it loop" : "it was kept waiting, by its "
			       "storage or the system");
	}
	/* Whatever failed, a worker still alive is stopped before it is
	 * waited for. */
	if (r < 0)
		kill(w->pid, SIGKILL);
	if (r < 0 && errno == EMSGSIZE) {
		/* The worker is not to be trusted: stop it. */
		kill(w->pid, SIGKILL);
		died(w, err);
		return kp_fail(err, KP_ERR_FAIL, "the sandboxed worker sent "
			       "an oversized answer");
	}
	return died(w, err);
}

int
sb_wait(pid_t pid, int *status, unsigned ms)
{
	/* A pidfd becomes readable when the child ends, so the wait needs no
	 * polling loop (a 10 ms tick cost every stop up to 10 ms). */
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	uint64_t deadline = kp_clock_ms() + ms;
	pid_t p;

	for (;;) {
		p = waitpid(pid, status, WNOHANG);
		if (p == pid)
			break;
		if (p < 0 && errno != EINTR)
			break;
		if (p == 0 && ms_left(deadline) == 0)
			break;
		if (fd >= 0) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };

			poll(&pf, 1, ms_left(deadline));
		} else {
			const struct timespec tick = { 0, 1000 * 1000 };

			nanosleep(&tick, NULL);
		}
	}
	if (fd >= 0)
		close(fd);
	return p == pid ? 1 : p == 0 ? 0 : -1;
}

int
sb_stop(struct sb_worker *w, struct kp_error *err)
{
	int r = 0;

	if (w == NULL)
		return 0;
	close(w->sock);
	/* A worker with a time limit has as long to end, then is killed. */
	if (!w->reaped && w->timeout) {
		int ended = sb_wait(w->pid, &w->status,
				     w->timeout * 1000);

		if (ended == 0)
			kill(w->pid, SIGKILL);
		w->reaped = ended == 1;
	}
	if (!w->reaped) {
		while (waitpid(w->pid, &w->status, 0) < 0) {
			if (errno != EINTR)
				break;
		}
		w->reaped = true;
	}
	if (!WIFEXITED(w->status) || WEXITSTATUS(w->status) != 0)
		r = died(w, err);
	free(w);
	return r;
}

/*
 * Confined programs (sb_spawn).
 */

/* System calls no image tool needs, failed with EPERM: a subverted
 * qemu-nbd gets no further with them than its Landlock fence allows. */
static const int denied[] = {
	SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv),
	SCMP_SYS(process_vm_writev), SCMP_SYS(kexec_load),
	SCMP_SYS(kexec_file_load), SCMP_SYS(init_module),
	SCMP_SYS(finit_module), SCMP_SYS(delete_module), SCMP_SYS(mount),
	SCMP_SYS(umount2), SCMP_SYS(pivot_root), SCMP_SYS(chroot),
	SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(reboot),
	SCMP_SYS(bpf), SCMP_SYS(perf_event_open), SCMP_SYS(keyctl),
	SCMP_SYS(add_key), SCMP_SYS(request_key), SCMP_SYS(setns),
	SCMP_SYS(unshare), SCMP_SYS(userfaultfd), SCMP_SYS(open_by_handle_at),
	SCMP_SYS(name_to_handle_at), SCMP_SYS(iopl), SCMP_SYS(ioperm),
	SCMP_SYS(acct), SCMP_SYS(settimeofday), SCMP_SYS(clock_settime),
	SCMP_SYS(clock_adjtime), SCMP_SYS(adjtimex), SCMP_SYS(quotactl),
	SCMP_SYS(vhangup), SCMP_SYS(fanotify_init), SCMP_SYS(kcmp),
	SCMP_SYS(mknod), SCMP_SYS(mknodat), SCMP_SYS(sethostname),
	SCMP_SYS(setdomainname), SCMP_SYS(lookup_dcookie),
};

static int
spawn_filter(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	size_t i;
	int r = -1;

	if (ctx == NULL)
		return -1;
	for (i = 0; i < NELEM(denied); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i],
				     0) < 0)
			goto out;
	/* No connection to anything: it serves the socket it is handed.
	 * Landlock does not fence connect(), and as root it could reach
	 * the D-Bus system bus or a container engine's socket.  Nor a
	 * datagram sent to a named socket (/dev/log, the journal's), which
	 * needs no connect: stream sockets only. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(connect),
			     0) < 0)
		goto out;
	for (i = 0; i < 16; i++)
		if (i != SOCK_STREAM &&
		    (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
				      SCMP_SYS(socket), 1,
				      ARG_MASKED(1, 0xf, i)) < 0 ||
		     seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
				      SCMP_SYS(socketpair), 1,
				      ARG_MASKED(1, 0xf, i)) < 0))
			goto out;
	/* Sockets of its own only on this host, never to a network (its
	 * namespace has none anyway). */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT),
			     SCMP_SYS(socket), 1,
			     ARG(0, SCMP_CMP_NE, AF_UNIX)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT),
			     SCMP_SYS(socketpair), 1,
			     ARG(0, SCMP_CMP_NE, AF_UNIX)) < 0)
		goto out;
	r = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return r;
}

/* Add one Landlock rule: ACCESS beneath the file or directory FD is
 * open on; rights a file cannot have are left out for one. */
static int
ll_rule_fd(int rs, int fd, uint64_t access)
{
	struct landlock_path_beneath_attr pb;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		access &= LANDLOCK_ACCESS_FS_EXECUTE |
			  LANDLOCK_ACCESS_FS_WRITE_FILE |
			  LANDLOCK_ACCESS_FS_READ_FILE |
			  LANDLOCK_ACCESS_FS_TRUNCATE;
	pb.allowed_access = access;
	pb.parent_fd = fd;
	return (int)syscall(SYS_landlock_add_rule, rs,
			    LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
}

/* As ll_rule_fd, for PATH; one not on this system is skipped. */
static int
ll_rule(int rs, const char *path, uint64_t access)
{
	int fd = open(path, O_PATH | O_CLOEXEC), r;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	r = ll_rule_fd(rs, fd, access);
	close(fd);
	return r;
}

/* Fence this process to O's files (every file right handled). */
static int
spawn_fence(const struct sb_spawn_opts *o, int abi)
{
	static const char *const sys_rw[] = { "/dev/null", NULL };
	static const char *const sys_ro[] = { "/dev/urandom", "/dev/random",
					      "/etc/ld.so.cache", NULL };
	const uint64_t rd = LANDLOCK_ACCESS_FS_READ_FILE |
			    LANDLOCK_ACCESS_FS_READ_DIR;
	uint64_t wr = rd | LANDLOCK_ACCESS_FS_WRITE_FILE;
	struct ll_ruleset ra = { 0, 0, 0 };
	size_t sz = sizeof(ra.fs), i;
	int rs, r = 0;

	ra.fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;
	if (abi >= 2)
		ra.fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3) {
		ra.fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
		wr |= LANDLOCK_ACCESS_FS_TRUNCATE;
	}
	if (abi >= 4) {
		ra.net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		sz = offsetof(struct ll_ruleset, scoped);
	}
	if (abi >= 5)
		ra.fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	if (abi >= 6) {
		ra.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		sz = sizeof(ra);
	}
	rs = (int)syscall(SYS_landlock_create_ruleset, &ra, sz, 0);
	if (rs < 0)
		return -1;
	for (i = 0; o->exec && o->exec[i] && r == 0; i++)
		r = ll_rule(rs, o->exec[i], rd | LANDLOCK_ACCESS_FS_EXECUTE);
	for (i = 0; sys_ro[i] && r == 0; i++)
		r = ll_rule(rs, sys_ro[i], rd);
	for (i = 0; sys_rw[i] && r == 0; i++)
		r = ll_rule(rs, sys_rw[i], wr);
	for (i = 0; o->read && o->read[i] >= 0 && r == 0; i++)
		r = ll_rule_fd(rs, o->read[i], rd);
	for (i = 0; o->write && o->write[i] >= 0 && r == 0; i++)
		r = ll_rule_fd(rs, o->write[i], wr);
	if (r == 0)
		r = (int)syscall(SYS_landlock_restrict_self, rs, 0);
	close(rs);
	return r;
}

/* In the child: everything of sb_spawn but the exec.  Returns the
 * step that failed, NULL if none. */
static const char *
spawn_confine(const struct sb_spawn_opts *o)
{
	struct rlimit rl;
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC), abi;
	int out = o->out_fd >= 0 ? o->out_fd : devnull;

	/* The fence first, while the descriptors naming its files are
	 * still open; no new privileges before it, which Landlock needs
	 * without CAP_SYS_ADMIN. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return "capabilities";
	if ((abi = sb_landlock_abi()) > 0 && spawn_fence(o, abi) < 0)
		return "Landlock";
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(out, 2) < 0)
		return "descriptors";
	if (o->listen_fd >= 0 && (o->listen_fd == 3 ? fcntl(3, F_SETFD, 0) :
				  dup2(o->listen_fd, 3)) < 0)
		return "descriptors";
	if (close_range(o->listen_fd >= 0 ? 4 : 3, ~0u, 0) < 0)
		return "descriptors";
	if (unshare(CLONE_NEWNET) < 0 && errno != EPERM && errno != EINVAL &&
	    errno != ENOSYS)
		return "network namespace";
	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		return "limits";
	rl.rlim_cur = rl.rlim_max = o->mem_max ? o->mem_max :
				    (rlim_t)8 << 30;
	if (!SB_ASAN && setrlimit(RLIMIT_AS, &rl) < 0)
		return "limits";
	if (drop_privileges() < 0)
		return "capabilities";
	if (spawn_filter() < 0)
		return "seccomp";
	return NULL;
}

int
sb_spawn(char *const *argv, const struct sb_spawn_opts *o, pid_t *pid_ret,
	 struct kp_error *err)
{
	char pidenv[32], *env[3] = { pidenv, (char *)"LISTEN_FDS=1", NULL };
	pid_t parent = getpid(), pid;

	if (o->listen_fd < 0)
		env[0] = NULL;
	pid = fork();
	if (pid < 0)
		return kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno, "fork");
	if (pid == 0) {
		const char *failed;

		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
		    getppid() != parent)
			_exit(127);
		snprintf(pidenv, sizeof(pidenv), "LISTEN_PID=%d",
			 (int)getpid());
		failed = spawn_confine(o);
		if (failed) {
			dprintf(2, "%s: cannot be confined (%s)\n", argv[0],
				failed);
			_exit(126);
		}
		execve(argv[0], argv, env);
		dprintf(2, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	*pid_ret = pid;
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A sandboxed worker process for parsing untrusted data (NTFS volumes and
 * hives of an image someone else made).
 *
 * sb_start forks a worker that keeps only the file descriptors it is given
 * (the image's channel) and a socket to the parent, then, before it reads
 * a byte of the image: a new network namespace where the kernel allows it,
 * resource limits (address space, file size, open files, no core dumps),
 * no capability (none left in any set, none regained by an exec),
 * PR_SET_NO_NEW_PRIVS and a seccomp allow-list (libseccomp) that kills
 * the worker on any other system call: no open, no exec, no socket, no
 * fork.  The worker then answers requests with the serve function; each
 * message is a 4-byte little-endian length and at most SB_MSG_MAX bytes.
 * A worker that dies (a forbidden call, a crash, the memory limit) makes
 * sb_call fail cleanly, saying why.
 *
 * The worker is a fork, not a new program: it starts with a copy of the
 * parent's memory.  Start it before reading secrets (product keys, TSIG
 * keys), so that a subverted worker has none to write into the image.
 */
#ifndef KP_SANDBOX_H
#define KP_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

/* AddressSanitizer reserves terabytes of address space for its shadow
 * memory: under it an address-space limit would kill every worker, so a
 * sanitizer build goes without one (SB_ASAN is 1 there). */
#if defined(__SANITIZE_ADDRESS__)
#define SB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SB_ASAN 1
#endif
#endif
#ifndef SB_ASAN
#define SB_ASAN 0
#endif

/* The largest request or response: a 1 GiB file and its header. */
#define SB_MSG_MAX (((size_t)1 << 30) + 4096)

/* Runs in the worker: answer request REQ of LEN bytes by appending to
 * RESP, and to TAIL what is sent after it (a large payload, not copied
 * into RESP).  PASS is the descriptor the parent sent with it, or -1; it
 * is closed afterwards.  Returning -1 stops the worker (the parent sees
 * it end). */
typedef int sb_serve_fn(void *ud, const unsigned char *req, size_t len,
			int pass, struct buf *resp, struct buf *tail);

struct sb_opts {
	const int *keep;	/* descriptors the worker keeps */
	size_t nkeep;
	uint64_t mem_max;	/* RLIMIT_AS of the worker, 0: 4 GiB */
	bool no_seccomp;	/* for debugging only */
	/* The largest file a worker on descriptors may write (RLIMIT_FSIZE):
	 * the image file it holds, which it may not grow.  0: none (a worker
	 * on files: 4 GiB, unless this says more). */
	uint64_t fsize_max;
	/* A worker that works on files (hives with their logs) instead of
	 * descriptors, given names relative to this directory: it runs in
	 * it, fenced there by Landlock where the kernel has it, else by a
	 * mount namespace and chroot where kmsprep runs as root; there it
	 * may open, create, rename and remove files; it still cannot
	 * execute, connect, fork or signal.  With neither fence (sb_fence)
	 * it may only open files read-only, anywhere this user can read. */
	const char *fs_dir;
	/* Files outside FS_DIR such a worker may also open by their paths,
	 * given as descriptors of the files checked (kept open, like KEEP):
	 * FS_READ only read, FS_WRITE read and written; never created,
	 * renamed or removed.  Where only chroot fences it, it reaches them
	 * through its own /proc/self/fd. */
	const int *fs_read;
	size_t nfs_read;
	const int *fs_write;
	size_t nfs_write;
	/* ioctl fails (ENOTTY) rather than kills it: libntfs-3g probes a
	 * volume in a file as if it were a block device (BLKBSZSET,
	 * BLKGETSIZE64, ...), and takes the failure in its stride. */
	bool ioctl_fails;
	/* It may start threads (wimlib's compressors): clone with
	 * CLONE_THREAD only, so still no process of its own; clone3, whose
	 * flags seccomp cannot see, fails (ENOSYS) and glibc falls back. */
	bool threads;
	/* Seconds the worker has to answer a request before it is killed
	 * and the call fails; 0: no limit. */
	unsigned timeout_s;
};

/* A program run confined (sb_spawn): as a worker, but a program of its
 * own that may open files, so its files are named, not inherited. */
struct sb_spawn_opts {
	const char *const *exec;	/* beneath these it may execute and
					 * read (the program, its libraries) */
	/* Files it may read, and read and write, as open descriptors (of
	 * any mode), ending with -1: what a rule grants is bound to the
	 * file checked, not to whatever a path names later. */
	const int *read;
	const int *write;
	int listen_fd;		/* its fd 3, announced in LISTEN_FDS and
				 * LISTEN_PID (systemd socket activation);
				 * -1: none */
	int out_fd;		/* its standard output and error (a pipe to
				 * read what it says), -1: /dev/null */
	uint64_t mem_max;	/* RLIMIT_AS, 0: 8 GiB */
};

/*
 * Run ARGV[0] (a path) confined: in a new network namespace (only a
 * loopback that is down), with no capability in any set and none to
 * regain, no core dumps, PR_SET_NO_NEW_PRIVS, a seccomp filter that
 * fails what no image tool needs (tracing, mounts, namespaces, modules,
 * BPF, keys, sockets but AF_UNIX), and where the kernel has Landlock,
 * only the files named in O (sb_landlock_abi says whether it does).
 * Its environment holds nothing but LISTEN_FDS and LISTEN_PID.  *PID is
 * the child, to be waited for by the caller.
 */
int sb_spawn(char *const *argv, const struct sb_spawn_opts *o, pid_t *pid,
	     struct kp_error *err);

/* Is KMSPREP_SANDBOX_SELFTEST=1 set: may workers obey test requests? */
bool sb_selftest(void);

/* The Landlock ABI version the kernel offers, 0 if none (too old, or not
 * among the active security modules; or KMSPREP_SANDBOX_NO_LANDLOCK set
 * beside KMSPREP_SANDBOX_SELFTEST=1, for tests).  With 0, an FS_DIR
 * worker is not fenced into its directory. */
int sb_landlock_abi(void);

/* What fences a worker on files into its directory here: "Landlock",
 * "chroot" (no Landlock, but root), or NULL for nothing. */
const char *sb_fence(void);

struct sb_worker;

/* Fork the worker.  The child calls SERVE(UD, ...) for every request; it
 * never returns from sb_start. */
int sb_start(const struct sb_opts *o, sb_serve_fn *serve, void *ud,
	     struct sb_worker **w_ret, struct kp_error *err);

/* Send REQ and wait for the response, appended to RESP (at most MAX
 * bytes).  A dead worker is an error (KP_ERR_FAIL) saying how it died. */
int sb_call(struct sb_worker *w, const void *req, size_t len, size_t max,
	    struct buf *resp, struct kp_error *err);

/* As sb_call, with the request in pieces (no copy of a large payload). */
struct iovec;
int sb_callv(struct sb_worker *w, const struct iovec *iov, int n,
	     size_t max, struct buf *resp, struct kp_error *err);

/* As sb_callv, with descriptor PASS (-1: none) sent along for the
 * worker to use during this request, and the answer's first byte (it
 * must have one) in *FIRST and only the rest appended to RESP.  A worker
 * cannot send descriptors back: any it sends are dropped. */
int sb_callv_first(struct sb_worker *w, const struct iovec *iov, int n,
		   int pass, size_t max, unsigned char *first, struct buf *resp,
		   struct kp_error *err);

/* The worker's process id. */
int sb_pid(const struct sb_worker *w);

/* Wait up to MS milliseconds for child PID to end: 1 with its status in
 * *STATUS, 0 if it still runs (it is left running), -1 with errno. */
int sb_wait(pid_t pid, int *status, unsigned ms);

/* Close the socket, wait for the worker and free.  -1 if it did not end
 * normally. */
int sb_stop(struct sb_worker *w, struct kp_error *err);

#endif

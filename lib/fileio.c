/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bounded file input and atomic (temporary file + rename) output. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "fileio.h"

int
kp_open_input(const char *path, struct stat *st_ret, struct kp_error *err)
{
	struct stat st;
	int fd, flags;

	/* O_NONBLOCK: opening a FIFO must not hang waiting for a writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return kp_fail_errno(err, KP_ERR_INPUT, errno,
				     "'%s': cannot open", path);
	if (fstat(fd, &st) < 0) {
		kp_fail_errno(err, KP_ERR_INPUT, errno, "'%s': cannot stat",
			      path);
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		kp_fail(err, KP_ERR_INPUT, "'%s': is a directory", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		kp_fail(err, KP_ERR_INPUT, "'%s': not a regular file", path);
		goto fail;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	if (st_ret)
		*st_ret = st;
	return fd;
fail:
	close(fd);
	return -1;
}

static int
read_fd(int fd, const char *name, size_t max, struct buf *out,
	struct kp_error *err)
{
	size_t start = out->len;

	for (;;) {
		ssize_t n;

		if (buf_grow(out, 65536) < 0)
			return kp_fail_oom(err);
		n = read(fd, out->data + out->len, 65536);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return kp_fail_errno(err, KP_ERR_INPUT, errno,
					     "'%s': cannot read", name);
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = '\0';
		if (out->len - start > max)
			return kp_fail(err, KP_ERR_INPUT,
				       "'%s': larger than the limit of %zu bytes",
				       name, max);
	}
	return 0;
}

int
kp_read_file(const char *path, size_t max, struct buf *out,
	     struct kp_error *err)
{
	struct stat st;
	int fd, r;

	if (strcmp(path, "-") == 0)
		return read_fd(STDIN_FILENO, "standard input", max, out, err);
	fd = kp_open_input(path, &st, err);
	if (fd < 0)
		return -1;
	if ((unsigned long long)st.st_size > max) {
		close(fd);
		return kp_fail(err, KP_ERR_INPUT,
			       "'%s': larger than the limit of %zu bytes", path,
			       max);
	}
	r = read_fd(fd, path, max, out, err);
	close(fd);
	return r;
}

static int
map_file(const char *path, size_t min, size_t max, struct kp_map *m,
	 bool populate, struct kp_error *err)
{
	static const unsigned char empty[1];
	void *p;
	int fd;

	m->fd = -1;
	fd = kp_open_input(path, &m->st, err);
	if (fd < 0)
		return -1;
	if ((unsigned long long)m->st.st_size < min) {
		close(fd);
		return kp_fail(err, KP_ERR_INPUT,
			       "'%s': too small (%lld bytes)", path,
			       (long long)m->st.st_size);
	}
	if ((unsigned long long)m->st.st_size > max) {
		close(fd);
		return kp_fail(err, KP_ERR_INPUT,
			       "'%s': larger than the limit of %zu bytes", path,
			       max);
	}
	m->fd = fd;
	m->len = (size_t)m->st.st_size;
	if (m->len == 0) {
		m->data = empty;
		return 0;
	}
	/* Prefaulting in one call is far cheaper than a fault per page. */
	p = mmap(NULL, m->len, PROT_READ,
		 MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		m->fd = -1;
		m->len = 0;
		return kp_fail_errno(err, KP_ERR_INPUT, errno,
				     "'%s': cannot map", path);
	}
	m->data = p;
	return 0;
}

int
kp_map_file(const char *path, size_t min, size_t max, struct kp_map *m,
	    struct kp_error *err)
{
	return map_file(path, min, max, m, true, err);
}

int
kp_map_file_lazy(const char *path, size_t min, size_t max, struct kp_map *m,
		 struct kp_error *err)
{
	return map_file(path, min, max, m, false, err);
}

void
kp_unmap(struct kp_map *m)
{
	if (m->data && m->len)
		munmap((void *)m->data, m->len);
	if (m->fd >= 0)
		close(m->fd);
	m->data = NULL;
	m->len = 0;
	m->fd = -1;
}

static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* Is NAME in DIRFD something a write may replace?  Absent or a regular
 * file: 0.  A link, device, FIFO or directory: -1, KP_ERR_REFUSED. */
static int
replaceable(int dirfd, const char *name, const char *dest,
	    struct kp_error *err)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 :
		       kp_fail_errno(err, KP_ERR_FAIL, errno,
				     "'%s': cannot stat", dest);
	/* A link another user planted (say in /tmp) would have its target
	 * replaced: root passes fs.protected_symlinks.  Name the file. */
	if (S_ISLNK(st.st_mode))
		return kp_fail(err, KP_ERR_REFUSED, "'%s' is a symbolic link; "
			       "kmsprep does not write through a link (give "
			       "the path of the file it points to)", dest);
	/* The rename would put a regular file in place of a device, a FIFO
	 * or a directory (as root, even /dev/null). */
	if (!S_ISREG(st.st_mode))
		return kp_fail(err, KP_ERR_REFUSED, "'%s' exists and is not a "
			       "regular file (a directory, device or FIFO); it "
			       "is not replaced", dest);
	return 0;
}

int
kp_tmpfile_open(struct kp_tmpfile *t, const char *dest, struct kp_error *err)
{
	static const char az[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	const char *base;
	char *dir = NULL;
	unsigned char rnd[8];
	int i, k, n;

	t->fd = -1;
	t->dirfd = -1;
	t->path = t->dest = t->base = t->tmpbase = NULL;
	base = strrchr(dest, '/');
	base = base ? base + 1 : dest;
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return kp_fail(err, KP_ERR_REFUSED, "'%s' is a directory; it is "
			       "not replaced", dest);
	dir = dir_of(dest);
	t->dest = strdup(dest);
	t->base = strdup(base);
	if (dir == NULL || t->dest == NULL || t->base == NULL)
		goto oom;
	/* Everything below is relative to the directory, so that it cannot
	 * be swapped for another between the checks and the rename. */
	t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot open the "
			      "directory '%s'", dest, dir);
		goto fail;
	}
	if (replaceable(t->dirfd, t->base, dest, err) < 0)
		goto fail;
	n = snprintf(NULL, 0, ".%s.kmsprep-XXXXXX", base);
	t->tmpbase = malloc((size_t)n + 1);
	if (t->tmpbase == NULL ||
	    asprintf(&t->path, "%s/.%s.kmsprep-XXXXXX", dir, base) < 0) {
		t->path = NULL;
		goto oom;
	}
	/* mkostemp with a directory fd: O_EXCL and O_NOFOLLOW on a random
	 * name, as mkostemp does with a path. */
	for (i = 0; i < 100 && t->fd < 0; i++) {
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			for (k = 0; k < 8; k++)
				rnd[k] = (unsigned char)rand();
		snprintf(t->tmpbase, (size_t)n + 1, ".%s.kmsprep-", base);
		for (k = 0; k < 6; k++)
			t->tmpbase[n - 6 + k] = az[rnd[k] % (sizeof(az) - 1)];
		t->tmpbase[n] = '\0';
		t->fd = openat(t->dirfd, t->tmpbase, O_RDWR | O_CREAT | O_EXCL |
			       O_NOFOLLOW | O_CLOEXEC, 0600);
		if (t->fd < 0 && errno != EEXIST)
			break;
	}
	if (t->fd < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno,
			      "'%s': cannot create a temporary file in '%s'",
			      dest, dir);
		goto fail;
	}
	memcpy(t->path + strlen(t->path) - 6, t->tmpbase + n - 6, 6);
	free(dir);
	return 0;
oom:
	kp_fail_oom(err);
fail:
	free(dir);
	if (t->dirfd >= 0)
		close(t->dirfd);
	t->dirfd = -1;
	free(t->path);
	free(t->dest);
	free(t->base);
	free(t->tmpbase);
	t->path = t->dest = t->base = t->tmpbase = NULL;
	return -1;
}

/* Copy NAME to BACKUP, both in DIRFD (a hard link was not possible). */
static int
copy_file(int dirfd, const char *name, const char *backup)
{
	char block[65536];
	int in, out;
	ssize_t n;

	in = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return -1;
	out = openat(dirfd, backup, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		     O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, block, sizeof(block))) > 0)
		if (kp_write_all(out, block, (size_t)n) < 0)
			break;
	if (n != 0 || fsync(out) < 0) {
		close(in);
		close(out);
		unlinkat(dirfd, backup, 0);
		return -1;
	}
	close(in);
	return close(out);
}

int
kp_tmpfile_commit(struct kp_tmpfile *t, const struct kp_commit_opts *o,
		  struct kp_error *err)
{
	static const struct kp_commit_opts none = { NULL, 0600, false, NULL };
	const char *bbase = NULL;

	if (o == NULL)
		o = &none;
	if (o->like) {
		if (fchmod(t->fd, o->like->st_mode & 07777) < 0)
			goto sys;
		/* Keep the owner too; only root can give files away. */
		if (geteuid() == 0 &&
		    fchown(t->fd, o->like->st_uid, o->like->st_gid) < 0)
			goto sys;
	} else if (fchmod(t->fd, o->mode) < 0) {
		goto sys;
	}
	if (fsync(t->fd) < 0)
		goto sys;
	if (close(t->fd) < 0) {
		t->fd = -1;
		goto sys;
	}
	t->fd = -1;
	/* Checked again: the name may have changed since it was opened. */
	if (replaceable(t->dirfd, t->base, t->dest, err) < 0)
		return -1;
	if (o->backup) {
		/* The backup sits beside the file (kp_backup_name). */
		bbase = strrchr(o->backup, '/');
		bbase = bbase ? bbase + 1 : o->backup;
		/* A hard link keeps the old inode as the backup for free. */
		if (linkat(t->dirfd, t->base, t->dirfd, bbase, 0) < 0 &&
		    copy_file(t->dirfd, t->base, bbase) < 0)
			return kp_fail_errno(err, KP_ERR_FAIL, errno,
					     "'%s': cannot keep a backup as '%s'",
					     t->dest, o->backup);
	}
	if (o->no_replace) {
		if (renameat2(t->dirfd, t->tmpbase, t->dirfd, t->base,
			      RENAME_NOREPLACE) < 0) {
			int e = errno;

			/* Some filesystems lack RENAME_NOREPLACE; link() is
			 * just as exclusive. */
			if (e != EINVAL && e != ENOSYS)
				return kp_fail_errno(err, e == EEXIST ?
						     KP_ERR_REFUSED :
						     KP_ERR_FAIL, e,
						     "'%s': cannot create",
						     t->dest);
			if (linkat(t->dirfd, t->tmpbase, t->dirfd, t->base,
				   0) < 0)
				return kp_fail_errno(err, errno == EEXIST ?
						     KP_ERR_REFUSED :
						     KP_ERR_FAIL, errno,
						     "'%s': cannot create",
						     t->dest);
			unlinkat(t->dirfd, t->tmpbase, 0);
		}
	} else if (renameat(t->dirfd, t->tmpbase, t->dirfd, t->base) < 0) {
		int e = errno;

		if (bbase)	/* the original stays: no backup needed */
			unlinkat(t->dirfd, bbase, 0);
		return kp_fail_errno(err, KP_ERR_FAIL, e,
				     "'%s': cannot replace", t->dest);
	}
	free(t->path);
	t->path = NULL;
	/* Some filesystems cannot fsync a directory (EINVAL): nothing to do. */
	if (fsync(t->dirfd) < 0 && errno != EINVAL) {
		kp_fail_errno(err, KP_ERR_FAIL, errno,
			      "'%s' was replaced, but its directory could not "
			      "be synced, so the change may not survive a crash",
			      t->dest);
		return 1;
	}
	return 0;
sys:
	return kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot write",
			     t->path);
}

void
kp_tmpfile_discard(struct kp_tmpfile *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->path) {
		if (t->dirfd >= 0 && t->tmpbase)
			unlinkat(t->dirfd, t->tmpbase, 0);
		free(t->path);
	}
	if (t->dirfd >= 0)
		close(t->dirfd);
	free(t->dest);
	free(t->base);
	free(t->tmpbase);
	t->fd = t->dirfd = -1;
	t->path = t->dest = t->base = t->tmpbase = NULL;
}

int
kp_pwrite_all(int fd, const void *p, size_t len, off_t at)
{
	const unsigned char *c = p;

	while (len) {
		ssize_t n = pwrite(fd, c, len, at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		c += n;
		len -= (size_t)n;
		at += n;
	}
	return 0;
}

int
kp_pread_all(int fd, void *p, size_t len, off_t at)
{
	unsigned char *c = p;

	while (len) {
		ssize_t n = pread(fd, c, len, at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		c += n;
		len -= (size_t)n;
		at += n;
	}
	return 0;
}

int
kp_write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t n = write(fd, c, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

int
kp_write_file_atomic(const char *dest, const void *data, size_t len,
		     const struct kp_commit_opts *o, struct kp_error *err)
{
	struct kp_tmpfile t = KP_TMPFILE_INIT;
	int r = -1;

	if (kp_tmpfile_open(&t, dest, err) < 0)
		return -1;
	if (kp_write_all(t.fd, data, len) < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot write",
			      t.path);
		goto out;
	}
	r = kp_tmpfile_commit(&t, o, err) ? -1 : 0;
out:
	kp_tmpfile_discard(&t);
	return r;
}

int
kp_scratch_create(const char *dest, struct kp_error *err)
{
	int fd = open(dest, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		      O_CLOEXEC, 0600);

	if (fd < 0)
		return kp_fail_errno(err, KP_ERR_FAIL, errno,
				     "'%s': cannot create", dest);
	return fd;
}

int
kp_write_scratch(const char *dest, const void *data, size_t len,
		 struct kp_error *err)
{
	int fd = kp_scratch_create(dest, err);

	if (fd < 0)
		return -1;
	if (kp_write_all(fd, data, len) < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot write",
			      dest);
		close(fd);
		unlink(dest);
		return -1;
	}
	/* close reports what writeback has already failed on. */
	if (close(fd) < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot write",
			      dest);
		unlink(dest);
		return -1;
	}
	return 0;
}

char *
kp_backup_name(const char *path, struct kp_error *err)
{
	struct stat st;
	size_t cap = strlen(path) + 32;
	char *name = malloc(cap);
	unsigned i;

	if (name == NULL) {
		kp_fail_oom(err);
		return NULL;
	}
	snprintf(name, cap, "%s.bak", path);
	for (i = 1; lstat(name, &st) == 0; i++) {
		if (i > 9999) {
			kp_fail(err, KP_ERR_FAIL,
				"'%s': too many backups already", path);
			free(name);
			return NULL;
		}
		snprintf(name, cap, "%s.bak.%u", path, i);
	}
	return name;
}

char *
kp_realpath_for_write(const char *path, struct kp_error *err)
{
	char *r = realpath(path, NULL);

	if (r == NULL)
		kp_fail_errno(err, KP_ERR_INPUT, errno, "'%s'", path);
	return r;
}

void
kp_secrets_in_memory(void)
{
	/* Cannot fail for the calling process with these arguments. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/*
 * The scratch directories alive now, so that a signal that ends kmsprep
 * can remove them (they hold hives copied out of images, with their
 * product keys).  A fixed table: the handler may not allocate or lock.
 */
#define SCRATCH_MAX 64

static char scratch[SCRATCH_MAX][PATH_MAX];
static volatile sig_atomic_t scratch_used[SCRATCH_MAX];
static pthread_mutex_t scratch_lock = PTHREAD_MUTEX_INITIALIZER;

static void
scratch_add(const char *dir)
{
	size_t i;

	if (strlen(dir) >= PATH_MAX)
		return;
	pthread_mutex_lock(&scratch_lock);
	for (i = 0; i < SCRATCH_MAX && scratch_used[i]; i++)
		;
	if (i < SCRATCH_MAX) {
		strcpy(scratch[i], dir);
		scratch_used[i] = 1;
	}
	pthread_mutex_unlock(&scratch_lock);
}

static void
scratch_drop(const char *dir)
{
	size_t i;

	pthread_mutex_lock(&scratch_lock);
	for (i = 0; i < SCRATCH_MAX; i++)
		if (scratch_used[i] && strcmp(scratch[i], dir) == 0)
			scratch_used[i] = 0;
	pthread_mutex_unlock(&scratch_lock);
}

/* Remove NAME in directory DIRFD and all beneath it, DEPTH levels at
 * most, with async-signal-safe calls only.  True if it is gone. */
static bool
rm_at(int dirfd, const char *name, int depth)
{
	char buf[4096];
	bool progress = true;
	long n;
	int fd;

	if (unlinkat(dirfd, name, 0) == 0)
		return true;
	if (errno != EISDIR || depth == 0)
		return false;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)
		return false;
	/* Removing entries shifts the rest: read again from the start
	 * while each pass removes something. */
	while (progress) {
		progress = false;
		lseek(fd, 0, SEEK_SET);
		while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
			long off = 0;

			while (off < n) {
				/* struct linux_dirent64: ino, off, reclen,
				 * type, name. */
				unsigned short reclen;
				const char *d = buf + off + 19;

				memcpy(&reclen, buf + off + 16, sizeof(reclen));
				if (reclen == 0)
					break;
				if (strcmp(d, ".") && strcmp(d, ".."))
					progress |= rm_at(fd, d, depth - 1);
				off += reclen;
			}
		}
	}
	close(fd);
	return unlinkat(dirfd, name, AT_REMOVEDIR) == 0;
}

void
kp_scratch_remove_all(void)
{
	size_t i;

	for (i = 0; i < SCRATCH_MAX; i++)
		if (scratch_used[i])
			rm_at(AT_FDCWD, scratch[i], 8);
}

/* Could anyone but this user and root rename, or replace, what is made
 * in BASE?  Each directory from BASE up to / must be theirs, and writable
 * by others only with the sticky bit (as /tmp is). */
static int
base_is_private(const char *base, struct kp_error *err)
{
	char *path = realpath(base, NULL), *slash;
	struct stat st;
	int r = 0;

	if (path == NULL)
		return kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno,
				     "TMPDIR '%s'", base);
	for (;;) {
		if (lstat(path, &st) < 0) {
			r = kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno,
					  "'%s'", path);
			break;
		}
		if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
		    ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
		     !(st.st_mode & S_ISVTX))) {
			r = kp_fail(err, KP_ERR_UNAVAILABLE, "'%s': another "
				    "user could rename or replace kmsprep's "
				    "scratch files in it (set TMPDIR to a "
				    "directory only you and root can write, "
				    "or to /tmp)", path);
			break;
		}
		if (strcmp(path, "/") == 0)
			break;
		slash = strrchr(path, '/');
		slash[slash == path] = '\0';
	}
	free(path);
	return r;
}

int
kp_worker_file(uint64_t size, struct kp_error *err)
{
	int fd = memfd_create("kmsprep-copy", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return kp_fail_errno(err, KP_ERR_FAIL, errno, "memfd");
	if (size && (size > (uint64_t)INT64_MAX ||
		     ftruncate(fd, (off_t)size) < 0 ||
		     fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) < 0)) {
		kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EFBIG, "memfd");
		close(fd);
		return -1;
	}
	return fd;
}

int
kp_worker_file_seal(int fd, const char *what, struct kp_error *err)
{
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW |
				   F_SEAL_SHRINK | F_SEAL_SEAL) == 0)
		return 0;
	if (errno == EBUSY)
		return kp_fail(err, KP_ERR_INPUT, "%s: the sandboxed worker "
			       "kept its copy mapped for writing, as a worker "
			       "subverted by the image would: stopped", what);
	return kp_fail_errno(err, KP_ERR_FAIL, errno, "%s", what);
}

int
kp_copy_fd(int in, int out, uint64_t len, struct kp_error *err)
{
	off_t at = 0;

	while ((uint64_t)at < len) {
		uint64_t left = len - (uint64_t)at;
		ssize_t n = sendfile(out, in, &at, left > ((size_t)1 << 30) ?
				     ((size_t)1 << 30) : (size_t)left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return kp_fail_errno(err, KP_ERR_FAIL,
					     n < 0 ? errno : EIO, "copy");
	}
	return 0;
}

char *
kp_mkdtemp(struct kp_error *err)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (base_is_private(tmp, err) < 0)
		return NULL;
	if (asprintf(&dir, "%s/kmsprep-XXXXXX", tmp) < 0) {
		kp_fail_oom(err);
		return NULL;
	}
	if (mkdtemp(dir) == NULL) {
		kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno,
			      "cannot create a temporary directory");
		free(dir);
		return NULL;
	}
	scratch_add(dir);
	return dir;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

void
kp_rmtree(const char *dir)
{
	if (dir) {
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
		scratch_drop(dir);
	}
}

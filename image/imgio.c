/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Byte access to a disk image: raw files directly, everything else through
 * qemu-nbd under libnbd (see imgio.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/clock.h"
#include "image/disk.h"
#include "image/imgio.h"

extern char **environ;

/* libnbd refuses requests larger than the server's maximum block size;
 * qemu-nbd advertises 32 MiB. */
#define NBD_CHUNK ((size_t)4 << 20)

struct imgio {
	int fd;			/* raw */
	struct nbd_handle *nbd;	/* everything else */
	struct disk *disk;	/* the file as inspected (not for a URI) */
	struct disk_server *srv; /* its confined qemu-nbd */
	int shadow;		/* nbd: the disk's edges, sealed (imgio.h) */
	uint64_t size;
	bool readonly;
	bool dry_run;
	bool written;
	uint64_t wbytes;		/* bytes written through it */
	char *format;
	unsigned nbd_ms;	/* each NBD request's deadline */
	uint64_t nbd_block;	/* the server's minimum block size */
	/* The NBD connection failed (a deadline passed, the server went):
	 * every later request fails at once with this errno. */
	int nbd_dead;
};

bool
imgio_is_uri(const char *path)
{
	static const char *const schemes[] = {
		"nbd://", "nbds://", "nbd+unix://", "nbds+unix://", NULL,
	};
	size_t i;

	for (i = 0; schemes[i]; i++)
		if (strncmp(path, schemes[i], strlen(schemes[i])) == 0)
			return true;
	return false;
}

/* Does a running qemu hold the image?  qemu takes OFD byte-range locks at
 * offsets 100 and up on every image it opens. */
static bool
held_by_qemu(int fd)
{
	struct flock fl = { 0 };

	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0;
	return fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

/* The file at PATH, read and written directly: the one inspected, the
 * disk its first disk_size bytes (a fixed VHD's footer stays out). */
static int
open_raw(struct imgio *io, const char *path, struct kp_error *err)
{
	struct stat st, was;
	struct flock fl = { 0 };

	io->fd = open(path, (io->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC |
		      O_NOCTTY | O_NONBLOCK);
	if (io->fd < 0)
		return kp_fail_errno(err, errno == EACCES || errno == EROFS ?
				     KP_ERR_REFUSED : KP_ERR_INPUT, errno,
				     "'%s'", path);
	if (fstat(io->fd, &st) < 0)
		return kp_fail_errno(err, KP_ERR_INPUT, errno, "'%s'", path);
	if (!S_ISREG(st.st_mode))
		return kp_fail(err, KP_ERR_INPUT, "'%s': not a regular file",
			       path);
	if (fstat(disk_fd(io->disk), &was) < 0 || was.st_dev != st.st_dev ||
	    was.st_ino != st.st_ino)
		return kp_fail(err, KP_ERR_INPUT, "'%s': replaced while kmsprep "
			       "opened it", path);
	if (held_by_qemu(io->fd))
		return kp_fail(err, KP_ERR_REFUSED, "'%s': in use by a running "
			       "virtual machine (qemu holds its lock)", path);
	/* Hold a lock of our own while we work, so that a qemu started
	 * meanwhile refuses the image instead of sharing it. */
	fl.l_type = io->readonly ? F_RDLCK : F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(io->fd, F_OFD_SETLK, &fl) < 0)
		return kp_fail(err, KP_ERR_REFUSED, "'%s': in use (locked)",
			       path);
	io->size = disk_size(io->disk);
	return 0;
}

/* Drive libnbd until DONE(io) is true or the request's deadline passes:
 * libnbd's blocking calls wait for ever on a server that stops
 * answering.  0, or -1 with errno (ETIMEDOUT: the connection is given up,
 * and every later request fails at once). */
static int
nbd_run(struct imgio *io, int (*done)(struct imgio *io, int64_t c),
	int64_t cookie)
{
	uint64_t deadline = kp_clock_ms() + io->nbd_ms;

	for (;;) {
		int r = done(io, cookie);
		uint64_t now;

		if (r > 0)
			return 0;
		if (r < 0) {
			errno = nbd_get_errno() ? nbd_get_errno() : EIO;
			/* The server answered with an error (EIO): the
			 * connection itself still serves. */
			if (!nbd_aio_is_dead(io->nbd) &&
			    !nbd_aio_is_closed(io->nbd))
				return -1;
			break;
		}
		now = kp_clock_ms();
		if (now >= deadline) {
			errno = ETIMEDOUT;
			break;
		}
		if (nbd_poll(io->nbd, (int)(deadline - now)) < 0) {
			errno = nbd_get_errno() ? nbd_get_errno() : EIO;
			break;
		}
	}
	/* Whatever the server does later, this connection is over: a reply
	 * that comes late must not be taken for another request's, nor a
	 * request be sent after one half sent.  The socket is shared with
	 * the parent (a worker's copy of this channel): shut it for both. */
	io->nbd_dead = errno;
	imgio_abandon(io);
	errno = io->nbd_dead;
	return -1;
}

static int
cmd_done(struct imgio *io, int64_t cookie)
{
	return nbd_aio_command_completed(io->nbd, (uint64_t)cookie);
}

static int
connected(struct imgio *io, int64_t unused)
{
	(void)unused;
	if (nbd_aio_is_ready(io->nbd))
		return 1;
	return nbd_aio_is_dead(io->nbd) || nbd_aio_is_closed(io->nbd) ? -1 : 0;
}

static int
closed(struct imgio *io, int64_t unused)
{
	(void)unused;
	if (nbd_aio_is_closed(io->nbd))
		return 1;
	return nbd_aio_is_dead(io->nbd) ? -1 : 0;
}

/* One request, started by START (a cookie, or -1), under the deadline. */
static int
nbd_request(struct imgio *io, int64_t cookie)
{
	if (cookie < 0) {
		errno = nbd_get_errno() ? nbd_get_errno() : EIO;
		if (nbd_aio_is_dead(io->nbd) || nbd_aio_is_closed(io->nbd))
			io->nbd_dead = errno;
		return -1;
	}
	return nbd_run(io, cmd_done, cookie);
}

/* The server's minimum block size (NBD spec: a power of two, at most
 * 64 KiB), or 1. */
static uint64_t
block_size(struct imgio *io)
{
	int64_t b = nbd_get_block_size(io->nbd, LIBNBD_SIZE_MINIMUM);

	return b > 1 && b <= 65536 && (b & (b - 1)) == 0 ? (uint64_t)b : 1;
}

static int
nbd_fail(struct kp_error *err, const char *what, const char *path)
{
	const char *m = nbd_get_error();

	return kp_fail(err, KP_ERR_UNAVAILABLE, "'%s': %s: %s", path, what,
		       m ? m : "unknown error");
}

/* The image served by its own confined qemu-nbd (image/disk.h), told
 * every file it may open; OVERLAY: a new qcow2 file over it instead. */
static int
open_nbd(struct imgio *io, const char *path, const char *overlay,
	 struct kp_error *err)
{
	struct disk_serve_opts so = { .readonly = io->readonly,
				      .overlay = overlay };
	int64_t size;
	int fd;

	/* qemu-nbd would refuse a locked image too, but only after printing
	 * to its stderr, and libnbd then reports a reset connection. */
	if (held_by_qemu(disk_fd(io->disk)))
		return kp_fail(err, KP_ERR_REFUSED, "'%s': in use by a running "
			       "virtual machine (qemu holds its lock)", path);
	io->nbd = nbd_create();
	if (io->nbd == NULL)
		return nbd_fail(err, "cannot create an NBD handle", path);
	if (disk_serve(io->disk, &so, &io->srv, &fd, err) < 0)
		return -1;
	if (nbd_aio_connect_socket(io->nbd, fd) < 0 ||
	    nbd_run(io, connected, 0) < 0) {
		const char *said = disk_server_said(io->srv);
		const char *m = nbd_get_error();

		return kp_fail(err, KP_ERR_INPUT, "'%s': qemu-nbd cannot serve "
			       "it: %s", path, *said ? said : m ? m :
			       io->nbd_dead == ETIMEDOUT ? "no answer" :
			       "connection failed");
	}
	size = nbd_get_size(io->nbd);
	if (size < 0)
		return nbd_fail(err, "cannot read the size", path);
	if (!io->readonly && nbd_is_read_only(io->nbd) == 1)
		return kp_fail(err, KP_ERR_REFUSED, "'%s': served read-only",
			       path);
	io->size = (uint64_t)size;
	io->nbd_block = block_size(io);
	return 0;
}

/* An export of an NBD server named by URI PATH, through libnbd (the
 * server checks who else uses it).  The URI may carry a TLS or socket
 * query; libnbd reads it (https://libguestfs.org/nbd_connect_uri.3.html). */
static int
open_uri(struct imgio *io, const char *path, struct kp_error *err)
{
	int64_t size;

	io->nbd = nbd_create();
	if (io->nbd == NULL)
		return nbd_fail(err, "cannot create an NBD handle", path);
	if (nbd_aio_connect_uri(io->nbd, path) < 0 ||
	    nbd_run(io, connected, 0) < 0) {
		const char *m = nbd_get_error();

		return kp_fail(err, KP_ERR_UNAVAILABLE, "'%s': cannot connect: "
			       "%s", path, io->nbd_dead == ETIMEDOUT ?
			       "no answer" : m ? m : strerror(io->nbd_dead));
	}
	size = nbd_get_size(io->nbd);
	if (size < 0)
		return nbd_fail(err, "cannot read the size", path);
	if ((!io->readonly || io->dry_run) && nbd_is_read_only(io->nbd) == 1) {
		/* No --dry-run remedy: a dry run is refused here too, as
		 * the write it plans would be. */
		return kp_fail(err, KP_ERR_INPUT, "'%s': the server exports "
			       "it read-only: serve it writable to change it "
			       "(image show reads it as it is)", path);
	}
	io->size = (uint64_t)size;
	io->nbd_block = block_size(io);
	return 0;
}

int
imgio_open(const char *path, const struct imgio_opts *o, struct imgio **io_ret,
	   struct kp_error *err)
{
	struct disk_opts dopts = { o->format, o->allow_refs };
	const char *overlay = o->readonly ? NULL : o->overlay;
	struct imgio *io;

	*io_ret = NULL;
	if (imgio_is_uri(path) && ((o->format && strcmp(o->format, "raw")) ||
				   overlay))
		return kp_fail(err, KP_ERR_INVALID, "'%s': an NBD export is "
			       "read and written as it is served: no image "
			       "format but raw, and no overlay", path);
	io = calloc(1, sizeof(*io));
	if (io == NULL)
		return kp_fail_oom(err);
	io->fd = -1;
	io->shadow = -1;
	io->readonly = o->readonly;
	io->dry_run = o->dry_run;
	io->nbd_ms = (o->timeout_s ? (o->timeout_s + 1) / 2 :
		      IMGIO_NBD_TIMEOUT) * 1000;
	*io_ret = io;
	if (imgio_is_uri(path)) {
		io->format = strdup("raw");
		return io->format ? open_uri(io, path, err) : kp_fail_oom(err);
	}
	if (disk_inspect(path, &dopts, &io->disk, err) < 0)
		return -1;
	io->format = strdup(disk_format(io->disk));
	if (io->format == NULL)
		return kp_fail_oom(err);
	if (disk_flat(io->disk) && !overlay && !o->force_nbd)
		return open_raw(io, path, err);
	return open_nbd(io, path, overlay, err);
}

/* LEN bytes at OFF, aligned to the server's block size, read or written
 * in requests it accepts. */
static int
nbd_aligned(struct imgio *io, unsigned char *p, size_t len, uint64_t off,
	    bool write)
{
	while (len) {
		size_t n = len < NBD_CHUNK ? len : NBD_CHUNK;
		int64_t c;

		if (io->nbd_dead) {
			errno = io->nbd_dead;
			return -1;
		}
		c = write ? nbd_aio_pwrite(io->nbd, p, n, off,
					   NBD_NULL_COMPLETION, 0) :
			    nbd_aio_pread(io->nbd, p, n, off,
					  NBD_NULL_COMPLETION, 0);
		if (nbd_request(io, c) < 0)
			return -1;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * A server may take requests only in whole blocks (NBD's minimum block
 * size: qemu-nbd serving VHDX says 512, a remote one may say 4096), while
 * libntfs-3g reads and writes single bytes of a volume (its dirty flag).
 * The edges of such a request go through one block read (and, to write,
 * changed and written back): the worker is the image's only writer.
 */
static int
nbd_rw(struct imgio *io, unsigned char *p, size_t len, uint64_t off,
       bool write)
{
	uint64_t a = io->nbd_block;
	unsigned char *blk;

	if (a <= 1 || (off % a == 0 && len % a == 0))
		return nbd_aligned(io, p, len, off, write);
	blk = malloc(a);
	if (blk == NULL)
		return -1;
	while (len) {
		uint64_t start = off - off % a;
		size_t in = (size_t)(off - start);
		size_t n = len < a - in ? len : (size_t)(a - in);

		if (in == 0 && len >= a) {
			/* The aligned middle, in one go. */
			n = len - len % a;
			if (nbd_aligned(io, p, n, off, write) < 0)
				goto fail;
		} else {
			if (nbd_aligned(io, blk, a, start, false) < 0)
				goto fail;
			if (write) {
				memcpy(blk + in, p, n);
				if (nbd_aligned(io, blk, a, start, true) < 0)
					goto fail;
			} else {
				memcpy(p, blk + in, n);
			}
		}
		p += n;
		off += n;
		len -= n;
	}
	free(blk);
	return 0;
fail:
	free(blk);
	return -1;
}

int
imgio_pread(struct imgio *io, void *buf, size_t len, uint64_t off)
{
	if (off > io->size || len > io->size - off) {
		errno = EINVAL;
		return -1;
	}
	if (io->nbd == NULL)
		return kp_pread_all(io->fd, buf, len, (off_t)off);
	return nbd_rw(io, buf, len, off, false);
}

int
imgio_pwrite(struct imgio *io, const void *buf, size_t len, uint64_t off)
{
	if (io->readonly) {
		errno = EROFS;
		return -1;
	}
	if (off > io->size || len > io->size - off) {
		errno = EINVAL;
		return -1;
	}
	if (len)
		io->written = true;
	/* Counted before the writes: a failed write counts what it asked. */
	io->wbytes += len;
	if (io->nbd == NULL)
		return kp_pwrite_all(io->fd, buf, len, (off_t)off);
	return nbd_rw(io, (unsigned char *)buf, len, off, true);
}

int
imgio_flush(struct imgio *io)
{
	if (io->readonly || !io->written)
		return 0;
	if (io->nbd) {
		if (io->nbd_dead) {
			errno = io->nbd_dead;
			return -1;
		}
		return nbd_request(io, nbd_aio_flush(io->nbd,
						     NBD_NULL_COMPLETION, 0));
	}
	return fsync(io->fd);
}

uint64_t
imgio_size(const struct imgio *io)
{
	return io->size;
}

bool
imgio_readonly(const struct imgio *io)
{
	return io->readonly;
}

const char *
imgio_format(const struct imgio *io)
{
	return io->format;
}

int
imgio_fd(const struct imgio *io)
{
	return io->nbd ? -1 : io->fd;
}

/* The disk's first and last MiB (partition tables, both GPT copies) in
 * a sparse memory file of its size, sealed: libblkid reads an nbd disk's
 * table from it in a worker that may not make memory files itself. */
#define EDGE ((uint64_t)1 << 20)

static int
copy_edge(struct imgio *io, int fd, uint64_t off, uint64_t len)
{
	unsigned char *b = malloc((size_t)len);
	int r = -1;

	if (b == NULL)
		return -1;
	if (imgio_pread(io, b, (size_t)len, off) == 0 &&
	    pwrite(fd, b, (size_t)len, (off_t)off) == (ssize_t)len)
		r = 0;
	free(b);
	return r;
}

int
imgio_shadow(struct imgio *io, struct kp_error *err)
{
	uint64_t head = io->size < EDGE ? io->size : EDGE;
	uint64_t tail = io->size - head < EDGE ? io->size - head : EDGE;
	int fd;

	if (io->fd >= 0 || io->shadow >= 0)
		return io->fd >= 0 ? io->fd : io->shadow;
	fd = memfd_create("kmsprep-ptable", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno,
				     "memfd_create");
	errno = 0;
	if (ftruncate(fd, (off_t)io->size) < 0 ||
	    copy_edge(io, fd, 0, head) < 0 ||
	    (tail && copy_edge(io, fd, io->size - tail, tail) < 0) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EIO,
			      "cannot read the partition table");
		close(fd);
		return -1;
	}
	io->shadow = fd;
	return fd;
}

int
imgio_sock(const struct imgio *io)
{
	return io->nbd ? (int)nbd_aio_get_fd(io->nbd) : -1;
}

uint64_t
imgio_bytes_written(const struct imgio *io)
{
	return io->wbytes;
}

void
imgio_abandon(struct imgio *io)
{
	if (io->nbd == NULL)
		return;
	if (!io->nbd_dead)
		io->nbd_dead = EPIPE;
	shutdown((int)nbd_aio_get_fd(io->nbd), SHUT_RDWR);
}

int
imgio_fault(const struct imgio *io, bool *remote)
{
	*remote = io->srv == NULL;
	return io->nbd_dead;
}

bool
imgio_written(const struct imgio *io)
{
	return io->written;
}

int
imgio_close(struct imgio *io, bool keep_overlay, struct kp_error *err)
{
	int r = 0;

	if (io == NULL)
		return 0;
	/* A worker may have written through a copy of this channel: flush
	 * whenever the channel could have been written. */
	if (!io->readonly) {
		io->written = true;
		if (imgio_flush(io) < 0)
			r = kp_fail_errno(err, KP_ERR_FAIL, errno,
					  "cannot flush the image");
	}
	/* A polite goodbye, within the deadline: nbd_shutdown would wait
	 * for ever on a server that stopped answering. */
	if (io->nbd && !io->nbd_dead &&
	    (nbd_aio_disconnect(io->nbd, 0) < 0 ||
	     nbd_run(io, closed, 0) < 0) && r == 0 && !io->readonly)
		r = kp_fail(err, KP_ERR_UNAVAILABLE, "the NBD server did not "
			    "end the connection cleanly: %s",
			    nbd_get_error() ? nbd_get_error() : "no answer");
	if (io->nbd)
		nbd_close(io->nbd);
	/* It ends once its one client has gone. */
	if (disk_server_stop(io->srv, keep_overlay, r == 0 ? err : NULL) < 0 &&
	    r == 0 && !io->readonly)
		r = -1;
	disk_free(io->disk);
	if (io->fd >= 0 && close(io->fd) < 0 && r == 0 && !io->readonly)
		r = kp_fail_errno(err, KP_ERR_FAIL, errno, "close");
	if (io->shadow >= 0)
		close(io->shadow);
	free(io->format);
	free(io);
	return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libntfs-3g device operations over an image channel (see ntfsdev.h), the
 * way wimlib and ntfsclone give libntfs-3g something other than a block
 * device.  Every access is checked against the partition's bounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image/ntfsdev.h"
#include "image/ntfs3g.h"

struct range {
	struct imgio *io;
	uint64_t start;
	uint64_t len;
	uint64_t pos;
};

static struct range *
rng(struct ntfs_device *dev)
{
	return dev->d_private;
}

static int
d_open(struct ntfs_device *dev, int flags)
{
	struct range *r = rng(dev);

	if (NDevOpen(dev)) {
		errno = EBUSY;
		return -1;
	}
	if ((flags & O_ACCMODE) != O_RDONLY && imgio_readonly(r->io)) {
		errno = EROFS;
		return -1;
	}
	if ((flags & O_ACCMODE) == O_RDONLY)
		NDevSetReadOnly(dev);
	else
		NDevClearReadOnly(dev);
	r->pos = 0;
	NDevSetOpen(dev);
	return 0;
}

static int
d_close(struct ntfs_device *dev)
{
	if (!NDevOpen(dev)) {
		errno = EBADF;
		return -1;
	}
	NDevClearOpen(dev);
	return 0;
}

static s64
d_seek(struct ntfs_device *dev, s64 off, int whence)
{
	struct range *r = rng(dev);
	s64 base;

	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (s64)r->pos;
		break;
	case SEEK_END:
		base = (s64)r->len;
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	if ((off < 0 && -off > base) || (off > 0 && off > INT64_MAX - base)) {
		errno = EINVAL;
		return -1;
	}
	r->pos = (uint64_t)(base + off);
	return (s64)r->pos;
}

/* Clamp a request at OFF of COUNT bytes to the partition: libntfs-3g
 * expects short reads at the end, as from a block device. */
static s64
clamp(const struct range *r, s64 count, s64 off)
{
	if (count < 0 || off < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)off >= r->len)
		return 0;
	if ((uint64_t)count > r->len - (uint64_t)off)
		count = (s64)(r->len - (uint64_t)off);
	return count;
}

static s64
d_pread(struct ntfs_device *dev, void *buf, s64 count, s64 off)
{
	struct range *r = rng(dev);
	s64 n = clamp(r, count, off);

	if (n <= 0)
		return n;
	if (imgio_pread(r->io, buf, (size_t)n, r->start + (uint64_t)off) < 0)
		return -1;
	return n;
}

static s64
d_pwrite(struct ntfs_device *dev, const void *buf, s64 count, s64 off)
{
	struct range *r = rng(dev);
	s64 n;

	if (NDevReadOnly(dev)) {
		errno = EROFS;
		return -1;
	}
	n = clamp(r, count, off);
	if (n <= 0)
		return n;
	if (imgio_pwrite(r->io, buf, (size_t)n, r->start + (uint64_t)off) < 0)
		return -1;
	NDevSetDirty(dev);
	return n;
}

static s64
d_read(struct ntfs_device *dev, void *buf, s64 count)
{
	s64 n = d_pread(dev, buf, count, (s64)rng(dev)->pos);

	if (n > 0)
		rng(dev)->pos += (uint64_t)n;
	return n;
}

static s64
d_write(struct ntfs_device *dev, const void *buf, s64 count)
{
	s64 n = d_pwrite(dev, buf, count, (s64)rng(dev)->pos);

	if (n > 0)
		rng(dev)->pos += (uint64_t)n;
	return n;
}

static int
d_sync(struct ntfs_device *dev)
{
	if (NDevReadOnly(dev))
		return 0;
	if (imgio_flush(rng(dev)->io) < 0)
		return -1;
	NDevClearDirty(dev);
	return 0;
}

static int
d_stat(struct ntfs_device *dev, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0600;
	st->st_size = (off_t)rng(dev)->len;
	st->st_blksize = 4096;
	return 0;
}

static int
d_ioctl(struct ntfs_device *dev, unsigned long req, void *arg)
{
	switch (req) {
	case BLKGETSIZE64:
		*(uint64_t *)arg = rng(dev)->len;
		return 0;
	case BLKSSZGET:
		*(int *)arg = 512;
		return 0;
	default:
		errno = ENOTTY;
		return -1;
	}
}

static struct ntfs_device_operations range_ops = {
	.open = d_open,
	.close = d_close,
	.seek = d_seek,
	.read = d_read,
	.write = d_write,
	.pread = d_pread,
	.pwrite = d_pwrite,
	.sync = d_sync,
	.stat = d_stat,
	.ioctl = d_ioctl,
};

ntfs_volume *
ntfsdev_mount(struct imgio *io, uint64_t start, uint64_t len,
	      const char *name, unsigned long flags)
{
	struct range *r = calloc(1, sizeof(*r));
	struct ntfs_device *dev;
	ntfs_volume *vol;
	int e;

	if (r == NULL)
		return NULL;
	r->io = io;
	r->start = start;
	r->len = len;
	dev = ntfs_device_alloc(name, 0, &range_ops, r);
	if (dev == NULL) {
		free(r);
		return NULL;
	}
	vol = ntfs_device_mount(dev, flags);
	if (vol == NULL) {
		e = errno;
		ntfs_device_free(dev);
		free(r);
		errno = e;
	}
	return vol;
}

int
ntfsdev_umount(ntfs_volume *vol)
{
	void *r = vol->dev->d_private;
	int ret = ntfs_umount(vol, FALSE);

	free(r);
	return ret;
}

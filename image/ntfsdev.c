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

/* Bytes read in place of the image's, for a read-only mount that must
 * see a repair it may not write (ntfsdev_mount). */
struct patch {
	uint64_t off;		/* in the partition */
	unsigned char *data;
	size_t len;
};

struct range {
	struct imgio *io;
	uint64_t start;
	uint64_t len;
	uint64_t pos;
	struct patch *patch;
	size_t npatch;
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
	size_t i;

	if (n <= 0)
		return n;
	if (imgio_pread(r->io, buf, (size_t)n, r->start + (uint64_t)off) < 0)
		return -1;
	for (i = 0; i < r->npatch; i++) {
		const struct patch *p = &r->patch[i];
		uint64_t a = (uint64_t)off, b = a + (uint64_t)n;
		uint64_t lo = a > p->off ? a : p->off;
		uint64_t hi = b < p->off + p->len ? b : p->off + p->len;

		if (lo < hi)
			memcpy((unsigned char *)buf + (lo - a),
			       p->data + (lo - p->off), hi - lo);
	}
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

static void
range_free(struct range *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->npatch; i++)
		free(r->patch[i].data);
	free(r->patch);
	free(r);
}

/* Read record I of the $MFTMirr of VOL as the copy RAW (its bytes on
 * disk) from now on, without writing it. */
static int
add_patch(struct range *r, ntfs_volume *vol, size_t i, const u8 *raw)
{
	uint64_t byte = (uint64_t)i << vol->mft_record_size_bits;
	LCN lcn = ntfs_attr_vcn_to_lcn(vol->mftmirr_na,
				       (VCN)(byte >> vol->cluster_size_bits));
	struct patch *p;

	if (lcn < 0) {
		errno = EIO;
		return -1;
	}
	p = realloc(r->patch, (r->npatch + 1) * sizeof(*p));
	if (p == NULL)
		return -1;
	r->patch = p;
	p += r->npatch;
	p->off = ((uint64_t)lcn << vol->cluster_size_bits) +
		 (byte & (vol->cluster_size - 1));
	p->len = vol->mft_record_size;
	p->data = malloc(p->len);
	if (p->data == NULL)
		return -1;
	memcpy(p->data, raw, p->len);
	r->npatch++;
	return 0;
}

/*
 * libntfs-3g refuses to mount a volume whose $MFTMirr differs from the
 * first records of $MFT, which an interrupted write leaves behind: $MFT's
 * record written, its mirror not yet.  As ntfsfix and chkdsk do, the
 * mirror is made a copy of $MFT again, when every record of $MFT it
 * mirrors is sound; READ_ONLY, the copy is only what reads see.  The
 * number of records repaired (0: they did not differ, so the mount failed
 * for another reason), or -1 with errno.
 */
static int
mirror_fix(struct range *r, const char *name, bool read_only)
{
	struct ntfs_device *dev = ntfs_device_alloc(name, 0, &range_ops, r);
	ntfs_volume *vol;
	u8 *m = NULL, *m2 = NULL, *raw = NULL;
	s64 n, size = 0;
	int fixed = 0, e = 0;
	s64 i;

	if (dev == NULL)
		return -1;
	vol = ntfs_volume_startup(dev, read_only ? NTFS_MNT_RDONLY : 0);
	if (vol == NULL) {
		e = errno;
		ntfs_device_free(dev);
		errno = e;
		return -1;
	}
	/* The records libntfs-3g compares (Windows 10 no longer keeps the
	 * mirror past them current). */
	n = vol->mftmirr_size < FILE_first_user ? vol->mftmirr_size :
						   FILE_first_user;
	size = n << vol->mft_record_size_bits;
	if (n <= 0 || (m = malloc((size_t)size)) == NULL ||
	    (m2 = malloc((size_t)size)) == NULL ||
	    (raw = malloc((size_t)size)) == NULL) {
		e = n <= 0 ? EIO : ENOMEM;
		goto out;
	}
	if (ntfs_attr_mst_pread(vol->mft_na, 0, n, vol->mft_record_size,
				m) != n ||
	    ntfs_attr_mst_pread(vol->mftmirr_na, 0, n, vol->mft_record_size,
				m2) != n ||
	    ntfs_attr_pread(vol->mft_na, 0, size, raw) != size) {
		e = errno ? errno : EIO;
		goto out;
	}
	for (i = 0; i < n; i++) {
		MFT_RECORD *a = (MFT_RECORD *)(m + (i << vol->mft_record_size_bits));
		MFT_RECORD *b = (MFT_RECORD *)(m2 + (i << vol->mft_record_size_bits));
		u32 used = ntfs_mft_record_get_data_size(a);

		/* Compared as libntfs-3g compares them at mount. */
		if (used > sizeof(MFT_RECORD) && used <= vol->mft_record_size &&
		    memcmp(a, b, used) == 0)
			continue;
		/* A damaged $MFT is chkdsk's to repair, not ours: the copy
		 * must be a sound record that the mount then accepts. */
		if (!ntfs_is_mft_record(a->magic) ||
		    used <= sizeof(MFT_RECORD) || used > vol->mft_record_size ||
		    ntfs_mft_record_check(vol, (MFT_REF)i, a) < 0) {
			e = EIO;
			goto out;
		}
		if (read_only &&
		    add_patch(r, vol, (size_t)i,
			      raw + (i << vol->mft_record_size_bits)) < 0) {
			e = errno ? errno : ENOMEM;
			goto out;
		}
		fixed++;
	}
	if (fixed && !read_only &&
	    (ntfs_attr_pwrite(vol->mftmirr_na, 0, size, raw) != size ||
	     ntfs_device_sync(dev) < 0))
		e = errno ? errno : EIO;
out:
	free(m);
	free(m2);
	free(raw);
	ntfs_umount(vol, TRUE);	/* frees DEV, not R */
	errno = e;
	return e ? -1 : fixed;
}

ntfs_volume *
ntfsdev_mount(struct imgio *io, uint64_t start, uint64_t len,
	      const char *name, unsigned long flags, unsigned *repaired)
{
	struct range *r = calloc(1, sizeof(*r));
	struct ntfs_device *dev = NULL;
	ntfs_volume *vol = NULL;
	int e, tries, fixed;

	*repaired = 0;
	if (r == NULL)
		return NULL;
	r->io = io;
	r->start = start;
	r->len = len;
	for (tries = 0; tries < 2 && vol == NULL; tries++) {
		dev = ntfs_device_alloc(name, 0, &range_ops, r);
		if (dev == NULL)
			break;
		vol = ntfs_device_mount(dev, flags);
		if (vol)
			break;
		e = errno;
		ntfs_device_free(dev);
		/* A mismatched mirror fails the mount with EIO. */
		if (tries || e != EIO ||
		    (fixed = mirror_fix(r, name, flags & NTFS_MNT_RDONLY)) <= 0) {
			errno = e;
			break;
		}
		*repaired = (unsigned)fixed;
	}
	if (vol == NULL) {
		e = errno;
		range_free(r);
		*repaired = 0;
		errno = e;
	}
	return vol;
}

int
ntfsdev_umount(ntfs_volume *vol)
{
	struct range *r = vol->dev->d_private;
	int ret = ntfs_umount(vol, FALSE);

	range_free(r);
	return ret;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The direct image backend (see direct.h): libntfs-3g on an image channel.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "image/ntfsvol.h"
#include "image/imgio.h"
#include "image/ntfs3g.h"
#include "image/secdesc.h"
#include "image/backend.h"
#include "image/ntfsdev.h"
#include "image/partition.h"

/* Files larger than this are not read or written whole (a SOFTWARE hive
 * of a real system is 60-120 MB). */
#define DR_FILE_MAX ((size_t)1 << 30)
/* Reads and writes through libntfs-3g, and comparisons, in pieces. */
#define CHUNK ((size_t)4 << 20)

struct ntfsvol {
	struct imgio *io;
	bool own_io;
	bool readonly;
	const char *table;
	struct ntfsvol_root *roots;
	ntfs_volume **vols;		/* by root; NULL once unmounted */
	size_t nroots;
	struct ntfsvol_locked *locked;
	size_t nlocked;
};

/*
 * libntfs-3g reports through its logging functions, to stderr by default;
 * a library must not print.  The last error it logged is kept and added to
 * our own message.
 */
static char ntfs_last[256];

static int
ntfs_capture(const char *function, const char *file, int line, u32 level,
	     void *data, const char *format, va_list args)
	__attribute__((format(printf, 6, 0)));

static int
ntfs_capture(const char *function, const char *file, int line, u32 level,
	     void *data, const char *format, va_list args)
{
	size_t n;

	(void)function;
	(void)file;
	(void)line;
	(void)data;
	if (!(level & (NTFS_LOG_LEVEL_ERROR | NTFS_LOG_LEVEL_PERROR |
		       NTFS_LOG_LEVEL_CRITICAL)))
		return 0;
	vsnprintf(ntfs_last, sizeof(ntfs_last), format, args);
	n = strlen(ntfs_last);
	while (n && (ntfs_last[n - 1] == '\n' || ntfs_last[n - 1] == '.'))
		ntfs_last[--n] = '\0';
	return 0;
}

static int
nfail(struct kp_error *err, int code, int errnum, const char *fmt, ...)
	KP_PRINTF(4, 5);

/* Fail with FMT, strerror(ERRNUM) and what libntfs-3g logged last. */
static int
nfail(struct kp_error *err, int code, int errnum, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (ntfs_last[0])
		kp_fail(err, code, "%s: %s (%s)", what, strerror(errnum),
			ntfs_last);
	else
		kp_fail(err, code, "%s: %s", what, strerror(errnum));
	ntfs_last[0] = '\0';
	return -1;
}


/*
 * Sessions.
 */

int
ntfsvol_open_io(struct imgio *io, struct ntfsvol **s_ret, struct kp_error *err)
{
	struct ntfsvol *s = calloc(1, sizeof(*s));

	*s_ret = NULL;
	if (s == NULL)
		return kp_fail_oom(err);
	ntfs_log_set_handler(ntfs_capture);
	s->io = io;
	s->readonly = imgio_readonly(io);
	*s_ret = s;
	return 0;
}

int
ntfsvol_open(const char *path, const struct imgio_opts *o,
	     struct ntfsvol **s_ret, struct kp_error *err)
{
	struct imgio_opts io = *o;
	struct imgio *ch;

	*s_ret = NULL;
	if (imgio_open(path, &io, &ch, err) < 0) {
		imgio_close(ch, false, NULL);
		return -1;
	}
	if (ntfsvol_open_io(ch, s_ret, err) < 0) {
		imgio_close(ch, false, NULL);
		return -1;
	}
	(*s_ret)->own_io = true;
	return 0;
}

static int
add_locked(struct ntfsvol *s, unsigned part, bool bitlocker,
	   struct kp_error *err, const char *fmt, ...) KP_PRINTF(5, 6);

static int
add_locked(struct ntfsvol *s, unsigned part, bool bitlocker,
	   struct kp_error *err, const char *fmt, ...)
{
	struct ntfsvol_locked *l = realloc(s->locked,
				      (s->nlocked + 1) * sizeof(*l));
	va_list ap;
	int r;

	if (l == NULL)
		return kp_fail_oom(err);
	s->locked = l;
	l += s->nlocked;
	l->part = part;
	l->bitlocker = bitlocker;
	va_start(ap, fmt);
	r = vasprintf(&l->why, fmt, ap);
	va_end(ap);
	if (r < 0)
		return kp_fail_oom(err);
	s->nlocked++;
	ntfs_last[0] = '\0';
	return 0;
}

/* The real name of the entry of DIR matching NAME in any case. */
/*
 * Does a directory entry for MREF name no file?  Creating a file writes
 * its directory entry before its record, so an interrupted create leaves
 * an entry whose record is past the end of $MFT, never written (zeros),
 * not in use, or in use by another file since (its sequence number moved
 * on).  Only such positive evidence counts: 1.  A record that cannot be
 * read, or was torn mid-write (BAAD), is not ours to judge: -1, or 0.
 */
static int
names_nothing(ntfs_volume *vol, MFT_REF mref)
{
	static const unsigned char zero[4];
	unsigned char rec[512];
	s64 off = (s64)MREF(mref) << vol->mft_record_size_bits;

	if (vol->mft_na == NULL || off < 0)
		return -1;
	if (off >= vol->mft_na->initialized_size)
		return 1;
	if (ntfs_attr_pread(vol->mft_na, off, sizeof(rec), rec) !=
	    (s64)sizeof(rec))
		return -1;
	if (memcmp(rec, zero, sizeof(zero)) == 0)
		return 1;
	if (memcmp(rec, "FILE", 4) != 0)
		return 0;
	/* Flags (offset 22) and sequence number (16) lie in the first
	 * sector, away from its update sequence fixup at its end. */
	if (!(le16_to_cpu(*(le16 *)(rec + 22)) & le16_to_cpu(MFT_RECORD_IN_USE)))
		return 1;
	return MSEQNO(mref) &&
	       le16_to_cpu(*(le16 *)(rec + 16)) != MSEQNO(mref);
}

struct find {
	ntfs_volume *vol;
	ntfschar *want;
	int wlen;
	char *found;
	MFT_REF mref;
	unsigned dt;
};

static int
find_fill(void *d, const ntfschar *name, const int len, const int type,
	  const s64 pos, const MFT_REF mref, const unsigned dt)
{
	struct find *f = d;

	(void)pos;
	if (type == FILE_NAME_DOS || len != f->wlen ||
	    !ntfs_names_are_equal(name, (size_t)len, f->want, (size_t)f->wlen,
				  IGNORE_CASE, f->vol->upcase,
				  f->vol->upcase_len))
		return 0;
	/* An entry an interrupted create left names no file: nothing to
	 * find (and the next create of that name removes it). */
	if (names_nothing(f->vol, mref) == 1)
		return 0;
	if (ntfs_ucstombs(name, len, &f->found, 0) < 0)
		f->found = NULL;
	f->mref = mref;
	f->dt = dt;
	return 1;		/* stop */
}

/* Look NAME up in DIR in any case: 1 and its real name (caller frees) if
 * it is there, 0 if not, -1 on error. */
static int
real_name(ntfs_inode *dir, const char *name, char **real, unsigned *dt)
{
	struct find f = { dir->vol, NULL, 0, NULL, 0, 0 };
	s64 pos = 0;
	int r;

	*real = NULL;
	f.wlen = ntfs_mbstoucs(name, &f.want);
	if (f.wlen <= 0)
		return -1;
	r = ntfs_readdir(dir, &pos, &f, find_fill);
	free(f.want);
	if (r < 0 && f.found == NULL)
		return -1;
	if (f.found == NULL)
		return 0;
	*real = f.found;
	if (dt)
		*dt = f.dt;
	return 1;
}

/* A path inside a volume must be relative and plain. */
static bool
path_ok(const char *path)
{
	const char *p = path;

	if (*p == '/')
		p++;
	if (*p == '\0')
		return true;
	for (;;) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (p[n] == '\0')
			return true;
		p += n + 1;
	}
}

static ntfs_inode *open_child(ntfs_inode *dir, const char *name);

/*
 * Open PATH, matching each name in any case.  libntfs-3g's own
 * case-insensitive mode (ntfs_set_ignore_case) would also turn every name
 * it lists to lower case, so each directory is searched here instead.
 */
static ntfs_inode *
lookup(ntfs_volume *vol, const char *path)
{
	ntfs_inode *dir;
	const char *p = path;

	if (!path_ok(path)) {
		errno = EINVAL;
		return NULL;
	}
	dir = ntfs_inode_open(vol, FILE_root);
	while (dir && *p) {
		size_t len;
		char *name, *real = NULL;
		ntfs_inode *ni = NULL;
		int r, e;

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, "/");
		name = strndup(p, len);
		if (name == NULL) {
			ntfs_inode_close(dir);
			errno = ENOMEM;
			return NULL;
		}
		r = real_name(dir, name, &real, NULL);
		e = r == 0 ? ENOENT : errno;
		if (r == 1) {
			ni = open_child(dir, real);
			e = errno;
		}
		free(name);
		free(real);
		ntfs_inode_close(dir);
		dir = ni;
		errno = e;
		p += len;
	}
	return dir;
}

static bool
is_dir(const ntfs_inode *ni)
{
	return (ni->mrec->flags & MFT_RECORD_IS_DIRECTORY) != 0;
}

/* The first bytes of hiberfil.sys in the root directory.  ntfs-3g refuses
 * "hibr" and "HIBR" (hibernated, or shut down with Fast Startup); "RSTR"
 * is a resume that was under way.  "WAKE" (resumed) and zeroes are
 * clean. */
static int
probe_hiberfile(ntfs_volume *vol, enum ntfsvol_state *st)
{
	ntfs_inode *ni = lookup(vol, "hiberfil.sys");
	ntfs_attr *na;
	char h[4] = { 0 };
	s64 n;

	if (ni == NULL)
		return errno == ENOENT ? 0 : -1;
	na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (na == NULL) {
		ntfs_inode_close(ni);
		return -1;
	}
	n = ntfs_attr_pread(na, 0, sizeof(h), h);
	ntfs_attr_close(na);
	ntfs_inode_close(ni);
	if (n < 0)
		return -1;
	if (memcmp(h, "hibr", 4) == 0 || memcmp(h, "HIBR", 4) == 0 ||
	    memcmp(h, "rstr", 4) == 0 || memcmp(h, "RSTR", 4) == 0)
		*st = DR_HIBERNATED;
	return 0;
}

/* The checks ntfs-3g makes of $LogFile before a read-write mount
 * (ntfs_volume_check_logfile, not exported), on a read-only mount so that
 * nothing is written to find out. */
static int
probe_logfile(ntfs_volume *vol, enum ntfsvol_state *st)
{
	ntfs_inode *ni = ntfs_inode_open(vol, FILE_LogFile);
	RESTART_PAGE_HEADER *rp = NULL;
	ntfs_attr *na;

	if (ni == NULL)
		return -1;
	na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (na == NULL) {
		ntfs_inode_close(ni);
		return -1;
	}
	if (!ntfs_check_logfile(na, &rp) || !ntfs_is_logfile_clean(na, rp))
		*st = DR_UNCLEAN;
	/* Version 2.0 restart pages: Windows kept metadata cached for a
	 * fast restart (ntfs-3g refuses these with EPERM). */
	if (rp && rp->major_ver == const_cpu_to_le16(2) &&
	    rp->minor_ver == const_cpu_to_le16(0))
		*st = DR_FAST_STARTUP;
	free(rp);
	ntfs_attr_close(na);
	ntfs_inode_close(ni);
	return 0;
}

static int
probe_state(ntfs_volume *vol, enum ntfsvol_state *st)
{
	*st = DR_CLEAN;
	if (vol->flags & VOLUME_IS_DIRTY)
		*st = DR_UNCLEAN;
	if (probe_logfile(vol, st) < 0)
		return -1;
	return probe_hiberfile(vol, st);
}

/* Mount partition P; *MIRROR: the $MFTMirr records repaired (ntfsdev.h). */
static ntfs_volume *
mount_part(struct ntfsvol *s, const struct part *p, bool rw,
	   unsigned *mirror)
{
	char name[48];

	snprintf(name, sizeof(name), "partition %u", p->number);
	ntfs_last[0] = '\0';
	return ntfsdev_mount(s->io, p->start, p->size, name,
			     rw ? 0 : NTFS_MNT_RDONLY, mirror);
}

/* The hives' directory, below the volume's root. */
#define CONFIG_DIR "Windows/System32/config"

/* The transaction logs (*.LOG1, *.LOG2) of the hives' directory whose
 * entries name no file, as an interrupted create leaves them. */
struct dangling {
	ntfs_volume *vol;
	char *names[8];
	MFT_REF mref[8];
	size_t n;
};

static int
dangling_fill(void *d, const ntfschar *name, const int len, const int type,
	      const s64 pos, const MFT_REF mref, const unsigned dt)
{
	struct dangling *g = d;
	char *s = NULL;
	size_t n;

	(void)pos;
	(void)dt;
	if (type == FILE_NAME_DOS || g->n == sizeof(g->names) / sizeof(*g->names)
	    || ntfs_ucstombs(name, len, &s, 0) < 0)
		return 0;
	n = strlen(s);
	if (n > 5 && (strcasecmp(s + n - 5, ".LOG1") == 0 ||
		      strcasecmp(s + n - 5, ".LOG2") == 0) &&
	    names_nothing(g->vol, mref) == 1) {
		g->mref[g->n] = mref;
		g->names[g->n++] = s;
	} else {
		free(s);
	}
	return 0;
}

/* Fill G from VOL's hives' directory (nothing if it cannot be read). */
static void
find_dangling(ntfs_volume *vol, struct dangling *g)
{
	ntfs_inode *dir = lookup(vol, CONFIG_DIR);
	s64 pos = 0;

	memset(g, 0, sizeof(*g));
	g->vol = vol;
	if (dir == NULL)
		return;
	ntfs_readdir(dir, &pos, g, dangling_fill);
	ntfs_inode_close(dir);
}

static void
dangling_release(struct dangling *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		free(g->names[i]);
	g->n = 0;
}

static int
add_root(struct ntfsvol *s, const struct part *p, ntfs_volume *vol,
	 unsigned mirror, struct kp_error *err)
{
	struct dangling g;
	struct ntfsvol_root *r = realloc(s->roots, (s->nroots + 1) * sizeof(*r));
	ntfs_volume **v;
	ntfs_inode *root;
	char *real = NULL;

	if (r == NULL)
		return kp_fail_oom(err);
	s->roots = r;
	v = realloc(s->vols, (s->nroots + 1) * sizeof(*v));
	if (v == NULL)
		return kp_fail_oom(err);
	s->vols = v;
	r += s->nroots;
	memset(r, 0, sizeof(*r));
	r->part = p->number;
	r->start = p->start;
	r->size = p->size;
	r->mirror = mirror;
	find_dangling(vol, &g);
	r->dangling = (unsigned)g.n;
	dangling_release(&g);
	if (probe_state(vol, &r->state) < 0)
		return nfail(err, KP_ERR_INPUT, errno, "partition %u: cannot "
			     "probe the volume's state", p->number);
	root = ntfs_inode_open(vol, FILE_root);
	if (root == NULL || real_name(root, "windows", &real, NULL) < 0) {
		if (root)
			ntfs_inode_close(root);
		return nfail(err, KP_ERR_INPUT, errno ? errno : ENOENT,
			     "partition %u: cannot read the root directory",
			     p->number);
	}
	ntfs_inode_close(root);
	if (asprintf(&r->systemroot, "/%s", real ? real : "Windows") < 0) {
		free(real);
		return kp_fail_oom(err);
	}
	free(real);
	s->vols[s->nroots++] = vol;
	return 0;
}

/* Has the image channel failed (imgio_fault)?  Then true, with ERR set
 * (the worker restates it) and VOL, if any, unmounted. */
static bool
channel_failed(struct ntfsvol *s, ntfs_volume *vol, unsigned part,
	       struct kp_error *err)
{
	bool remote;
	int e = imgio_fault(s->io, &remote);

	if (e == 0)
		return false;
	if (vol)
		ntfsdev_umount(vol);
	nfail(err, KP_ERR_UNAVAILABLE, e, "partition %u", part);
	return true;
}

int
ntfsvol_find_windows(struct ntfsvol *s, struct kp_error *err)
{
	struct part *parts = NULL;
	size_t n, i;
	int r = -1;

	if (part_list(s->io, &parts, &n, &s->table, err) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		const struct part *p = &parts[i];
		const char *what = part_container(p);
		ntfs_volume *vol;
		unsigned mirror = 0;
		ntfs_inode *sw;

		/* A volume manager's partition: only the appliance reads
		 * what it holds. */
		if (what) {
			if (add_locked(s, p->number, false, err,
				       "partition %u is %s", p->number,
				       what) < 0)
				goto out;
			continue;
		}
		if (p->kind == PART_BITLOCKER) {
			if (add_locked(s, p->number, true, err,
				       "BitLocker volume") < 0)
				goto out;
			continue;
		}
		if (p->kind == PART_UNKNOWN) {
			if (add_locked(s, p->number, false, err, "%s",
				       p->why) < 0)
				goto out;
			continue;
		}
		if (p->kind != PART_NTFS)
			continue;
		vol = mount_part(s, p, false, &mirror);
		/* A volume the storage stopped serving is not one that cannot
		 * be read: the whole image fails, and the channel says why. */
		if (channel_failed(s, vol, p->number, err))
			goto out;
		if (vol == NULL) {
			if (add_locked(s, p->number, false, err,
				       "cannot mount: %s%s%s", strerror(errno),
				       ntfs_last[0] ? ": " : "", ntfs_last) < 0)
				goto out;
			continue;
		}
		sw = lookup(vol, "Windows/System32/config/SOFTWARE");
		if (sw == NULL && channel_failed(s, NULL, p->number, err)) {
			ntfsdev_umount(vol);
			goto out;
		}
		if (sw == NULL || is_dir(sw)) {
			if (sw)
				ntfs_inode_close(sw);
			ntfsdev_umount(vol);
			continue;
		}
		ntfs_inode_close(sw);
		if (add_root(s, p, vol, mirror, err) < 0) {
			ntfsdev_umount(vol);
			goto out;
		}
	}
	r = 0;
out:
	free(parts);
	return r;
}

int
ntfsvol_open_volume(struct ntfsvol *s, unsigned part, size_t *root,
		    struct kp_error *err)
{
	struct part *parts = NULL;
	size_t n, i;
	ntfs_volume *vol;
	unsigned mirror = 0;
	int r = -1;

	if (part_list(s->io, &parts, &n, &s->table, err) < 0)
		return -1;
	for (i = 0; i < n && parts[i].number != part; i++)
		;
	if (i == n) {
		kp_fail(err, KP_ERR_INPUT, "no partition %u", part);
	} else if (parts[i].kind != PART_NTFS) {
		kp_fail(err, KP_ERR_INPUT, "partition %u is not NTFS", part);
	} else if ((vol = mount_part(s, &parts[i], false, &mirror)) == NULL) {
		nfail(err, KP_ERR_INPUT, errno, "partition %u: cannot mount",
		      part);
	} else if (add_root(s, &parts[i], vol, mirror, err) < 0) {
		ntfsdev_umount(vol);
	} else {
		*root = s->nroots - 1;
		r = 0;
	}
	free(parts);
	return r;
}

int
ntfsvol_supported(const char *path, const struct imgio_opts *o,
		  bool bitlocker_key, char *why, size_t whysz,
		  struct kp_error *err)
{
	struct imgio_opts ro = *o;
	struct kp_error e2 = KP_ERROR_INIT;
	struct ntfsvol *s = NULL;
	struct part *parts = NULL;
	const char *table, *what;
	size_t n, i;
	int r = -1;

	ro.readonly = true;
	ro.overlay = NULL;

	if (ntfsvol_open(path, &ro, &s, err) < 0)
		return -1;
	if (part_list(s->io, &parts, &n, &table, err) < 0)
		goto out;
	r = 1;
	for (i = 0; i < n && r == 1; i++) {
		const struct part *p = &parts[i];

		if ((what = part_container(p)) != NULL) {
			snprintf(why, whysz, "partition %u is %s", p->number,
				 what);
			r = 0;
		} else if (p->kind == PART_UNKNOWN) {
			snprintf(why, whysz, "partition %u: %s", p->number,
				 p->why);
			r = 0;
		} else if (p->kind == PART_BITLOCKER && bitlocker_key) {
			snprintf(why, whysz, "partition %u is BitLocker "
				 "(unlocked by the appliance)", p->number);
			r = 0;
		}
	}
	if (r == 1) {
		if (ntfsvol_find_windows(s, err) < 0) {
			r = -1;
		} else if (s->nroots == 0) {
			snprintf(why, whysz, "no Windows on a plain NTFS "
				 "partition");
			r = 0;
		}
	}
out:
	free(parts);
	if (ntfsvol_close(s, true, r < 0 ? &e2 : err) < 0 && r >= 0)
		r = -1;
	return r;
}

const struct ntfsvol_root *
ntfsvol_roots(const struct ntfsvol *s, size_t *n)
{
	*n = s->nroots;
	return s->roots;
}

const struct ntfsvol_locked *
ntfsvol_locked(const struct ntfsvol *s, size_t *n)
{
	*n = s->nlocked;
	return s->locked;
}

const char *
ntfsvol_table(const struct ntfsvol *s)
{
	return s->table;
}

const char *
ntfsvol_root_unwritable(const struct ntfsvol_root *r)
{
	switch (r->state) {
	case DR_HIBERNATED:
		return IMG_WHY_HIBERNATED;
	case DR_FAST_STARTUP:
		return IMG_WHY_FAST_STARTUP;
	case DR_UNCLEAN:
		return IMG_WHY_UNCLEAN;
	case DR_CLEAN:
		break;
	}
	return NULL;
}

static int
get_vol(struct ntfsvol *s, size_t root, bool write, ntfs_volume **vol,
	struct kp_error *err)
{
	if (root >= s->nroots || s->vols[root] == NULL)
		return kp_fail(err, KP_ERR_FAIL, "no Windows volume %zu", root);
	if (write && !s->roots[root].rw)
		return kp_fail(err, KP_ERR_FAIL, "partition %u is mounted "
			       "read-only", s->roots[root].part);
	*vol = s->vols[root];
	return 0;
}

int
ntfsvol_make_writable(struct ntfsvol *s, size_t root, struct kp_error *err)
{
	struct ntfsvol_root *r;
	struct part p;
	const char *why;
	ntfs_volume *vol;
	unsigned mirror = 0;
	int e;

	if (root >= s->nroots || s->vols[root] == NULL)
		return kp_fail(err, KP_ERR_FAIL, "no Windows volume %zu", root);
	r = &s->roots[root];
	if (r->rw)
		return 0;
	if (s->readonly)
		return kp_fail(err, KP_ERR_FAIL, "the image is open read-only");
	why = ntfsvol_root_unwritable(r);
	if (why)
		return kp_fail(err, KP_ERR_REFUSED, "partition %u: %s",
			       r->part, why);
	if (ntfsdev_umount(s->vols[root]) < 0) {
		s->vols[root] = NULL;
		return nfail(err, KP_ERR_FAIL, errno, "partition %u: cannot "
			     "unmount", r->part);
	}
	s->vols[root] = NULL;
	memset(&p, 0, sizeof(p));
	p.number = r->part;
	p.start = r->start;
	p.size = r->size;
	/* No NTFS_MNT_RECOVER and no NTFS_MNT_IGNORE_HIBERFILE: libntfs-3g
	 * refuses what the probe may have missed, before writing. */
	vol = mount_part(s, &p, true, &mirror);
	if (vol == NULL) {
		e = errno;
		return nfail(err, e == EPERM || e == EOPNOTSUPP ?
			     KP_ERR_REFUSED : KP_ERR_FAIL, e,
			     "partition %u: cannot mount read-write", r->part);
	}
	s->vols[root] = vol;
	r->rw = true;
	if (mirror)
		r->mirror = mirror;
	return 0;
}

/* Open PATH's data for reading whole: a plain file of at most MAX bytes
 * (*NI and *NA to close). */
static int
open_data(struct ntfsvol *s, size_t root, const char *path, size_t max,
	  ntfs_inode **ni_ret, ntfs_attr **na_ret, struct kp_error *err)
{
	ntfs_volume *vol;
	ntfs_inode *ni;
	ntfs_attr *na;

	if (get_vol(s, root, false, &vol, err) < 0)
		return -1;
	ni = lookup(vol, path);
	if (ni == NULL)
		return nfail(err, errno == ENOENT ? KP_ERR_INPUT : KP_ERR_FAIL,
			     errno, "'%s'", path);
	if (is_dir(ni) || (ni->flags & (FILE_ATTR_REPARSE_POINT |
					 FILE_ATTR_ENCRYPTED))) {
		ntfs_inode_close(ni);
		return kp_fail(err, KP_ERR_INPUT, "'%s': not a plain file",
			       path);
	}
	na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (na == NULL) {
		nfail(err, KP_ERR_INPUT, errno, "'%s'", path);
		ntfs_inode_close(ni);
		return -1;
	}
	if (na->data_size < 0 || (uint64_t)na->data_size > max ||
	    (uint64_t)na->data_size > DR_FILE_MAX) {
		ntfs_attr_close(na);
		ntfs_inode_close(ni);
		return kp_fail(err, KP_ERR_INPUT, "'%s': larger than %zu bytes",
			       path, max);
	}
	*ni_ret = ni;
	*na_ret = na;
	return 0;
}

/* Read LEN bytes of NA at OFF into P, whole. */
static int
pread_data(ntfs_attr *na, const char *path, size_t off, size_t len, char *p,
	   struct kp_error *err)
{
	while (len) {
		s64 got = ntfs_attr_pread(na, (s64)off, (s64)len, p);

		if (got <= 0)
			return nfail(err, KP_ERR_INPUT, got < 0 ? errno : EIO,
				     "cannot read '%s'", path);
		off += (size_t)got;
		p += got;
		len -= (size_t)got;
	}
	return 0;
}

int
ntfsvol_read(struct ntfsvol *s, size_t root, const char *path, size_t max,
	     struct buf *out, struct kp_error *err)
{
	ntfs_inode *ni;
	ntfs_attr *na;
	size_t size;
	int r = -1;

	if (open_data(s, root, path, max, &ni, &na, err) < 0)
		return -1;
	size = (size_t)na->data_size;
	if (buf_grow(out, size + 1) < 0)
		kp_fail_oom(err);
	else if (pread_data(na, path, 0, size, out->data + out->len,
			    err) == 0)
		r = 0;
	if (r == 0) {
		out->len += size;
		out->data[out->len] = '\0';
	}
	ntfs_attr_close(na);
	ntfs_inode_close(ni);
	return r;
}

int
ntfsvol_size(struct ntfsvol *s, size_t root, const char *path, size_t max,
	     uint64_t *size, struct kp_error *err)
{
	ntfs_inode *ni;
	ntfs_attr *na;

	if (open_data(s, root, path, max, &ni, &na, err) < 0)
		return -1;
	*size = (uint64_t)na->data_size;
	ntfs_attr_close(na);
	ntfs_inode_close(ni);
	return 0;
}

int
ntfsvol_read_into(struct ntfsvol *s, size_t root, const char *path,
		  void *dst, size_t size, struct kp_error *err)
{
	ntfs_inode *ni;
	ntfs_attr *na;
	int r = -1;

	if (open_data(s, root, path, size, &ni, &na, err) < 0)
		return -1;
	if ((uint64_t)na->data_size != size)
		kp_fail(err, KP_ERR_FAIL, "'%s' changed size while read",
			path);
	else
		r = pread_data(na, path, 0, size, dst, err);
	ntfs_attr_close(na);
	ntfs_inode_close(ni);
	return r;
}

/* Split PATH into its directory (inode, opened) and last name. */
static ntfs_inode *
open_parent(ntfs_volume *vol, const char *path, const char **leaf,
	    struct kp_error *err)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	ntfs_inode *ni;

	if (*path == '\0' || !path_ok(path) || path[strlen(path) - 1] == '/') {
		kp_fail(err, KP_ERR_FAIL, "bad path '%s'", path);
		return NULL;
	}
	*leaf = slash ? slash + 1 : path;
	if (strlen(*leaf) > 200) {
		kp_fail(err, KP_ERR_FAIL, "'%s': name too long", path);
		return NULL;
	}
	dir = strndup(path, slash ? (size_t)(slash - path) : 0);
	if (dir == NULL) {
		kp_fail_oom(err);
		return NULL;
	}
	ni = lookup(vol, dir);
	if (ni == NULL)
		nfail(err, KP_ERR_FAIL, errno, "'%s'", *dir ? dir : "/");
	else if (!is_dir(ni)) {
		kp_fail(err, KP_ERR_FAIL, "'%s': not a directory", dir);
		ntfs_inode_close(ni);
		ni = NULL;
	}
	free(dir);
	return ni;
}

/* Open entry NAME (its real name) of DIR; NULL with errno ENOENT if it is
 * not there. */
static ntfs_inode *
open_child(ntfs_inode *dir, const char *name)
{
	ntfschar *u = NULL;
	int n = ntfs_mbstoucs(name, &u);
	u64 ino;

	if (n <= 0)
		return NULL;
	ino = ntfs_inode_lookup_by_name(dir, u, n);
	free(u);
	if (ino == (u64)-1)
		return NULL;
	return ntfs_inode_open(dir->vol, MREF(ino));
}

/* NAME in NTFS's UTF-16 (caller frees *U): its length, or -1 if it does
 * not convert or is longer than the 255 units a name may have. */
static int
uname(const char *name, ntfschar **u)
{
	int n = ntfs_mbstoucs(name, u);

	if (n > 255) {
		free(*u);
		*u = NULL;
		errno = ENAMETOOLONG;
		return -1;
	}
	return n > 0 ? n : -1;
}

/*
 * ntfs_delete closes both the inode and the directory it is given, and an
 * inode must not be open twice at once; so each step below opens the
 * directory by its number for itself.
 */
static int
delete_name(ntfs_volume *vol, u64 dir_no, ntfs_inode *ni, const char *name)
{
	ntfs_inode *dir = ntfs_inode_open(vol, dir_no);
	ntfschar *u = NULL;
	int n, e;

	if (dir == NULL) {
		e = errno;
		ntfs_inode_close(ni);
		errno = e;
		return -1;
	}
	n = uname(name, &u);
	if (n <= 0) {
		e = errno;
		ntfs_inode_close(ni);
		ntfs_inode_close(dir);
		errno = e;
		return -1;
	}
	n = ntfs_delete(vol, NULL, ni, dir, u, (u8)n);
	free(u);
	return n;
}

/* Open entry NAME (its real name) of directory DIR_NO. */
static ntfs_inode *
open_child_no(ntfs_volume *vol, u64 dir_no, const char *name)
{
	ntfs_inode *dir = ntfs_inode_open(vol, dir_no), *ni;
	int e;

	if (dir == NULL)
		return NULL;
	ni = open_child(dir, name);
	e = errno;
	ntfs_inode_close(dir);
	errno = e;
	return ni;
}

/* Delete file NAME of directory DIR_NO if it is there. */
static int
delete_child(ntfs_volume *vol, u64 dir_no, const char *name)
{
	ntfs_inode *ni = open_child_no(vol, dir_no, name);

	if (ni == NULL)
		return errno == ENOENT ? 0 : -1;
	if (is_dir(ni)) {
		ntfs_inode_close(ni);
		errno = EISDIR;
		return -1;
	}
	return delete_name(vol, dir_no, ni, name);
}

static int drop_dangling(ntfs_volume *vol, u64 dir_no, const char *leaf);

/* Give NI the name NAME in directory DIR_NO; an entry of that name that
 * names no file (an interrupted create) goes first. */
static int
link_child(ntfs_volume *vol, u64 dir_no, ntfs_inode *ni, const char *name)
{
	ntfs_inode *dir;
	ntfschar *u = NULL;
	int n, r = -1, e;

	if (drop_dangling(vol, dir_no, name) < 0)
		return -1;
	dir = ntfs_inode_open(vol, dir_no);
	if (dir == NULL)
		return -1;
	n = uname(name, &u);
	if (n > 0)
		r = ntfs_link(ni, dir, u, (u8)n);
	e = errno;
	free(u);
	if (ntfs_inode_close(dir) < 0 && r == 0)
		return -1;
	errno = e;
	return r;
}

/* A new file or directory NAME in directory DIR_NO (as link_child). */
static ntfs_inode *
create_child(ntfs_volume *vol, u64 dir_no, const char *name, mode_t type)
{
	ntfs_inode *dir, *ni = NULL;
	ntfschar *u = NULL;
	int n, e;

	if (drop_dangling(vol, dir_no, name) < 0)
		return NULL;
	dir = ntfs_inode_open(vol, dir_no);
	if (dir == NULL)
		return NULL;
	n = uname(name, &u);
	if (n > 0)
		ni = ntfs_create(dir, const_cpu_to_le32(0), u, (u8)n, type);
	e = errno;
	free(u);
	ntfs_inode_close(dir);
	errno = e;
	return ni;
}

/* The real name of NAME in directory DIR_NO (see real_name). */
static int
real_name_no(ntfs_volume *vol, u64 dir_no, const char *name, char **real)
{
	ntfs_inode *dir = ntfs_inode_open(vol, dir_no);
	int r, e;

	*real = NULL;
	if (dir == NULL)
		return -1;
	r = real_name(dir, name, real, NULL);
	e = errno;
	ntfs_inode_close(dir);
	errno = e;
	return r;
}

static int
write_data(ntfs_inode *ni, const void *data, size_t len)
{
	ntfs_attr *na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	const char *p = data;
	size_t off = 0;

	if (na == NULL)
		return -1;
	if (ntfs_attr_truncate(na, 0) < 0)
		goto fail;
	while (off < len) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;
		s64 w = ntfs_attr_pwrite(na, (s64)off, (s64)n, p + off);

		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			goto fail;
		}
		off += (size_t)w;
	}
	ntfs_attr_close(na);
	return ntfs_inode_sync(ni);
fail:
	ntfs_attr_close(na);
	return -1;
}

/* Does NI hold exactly LEN bytes at DATA?  Read back in pieces. */
static int
same_data(ntfs_inode *ni, const void *data, size_t len)
{
	ntfs_attr *na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	const char *p = data;
	char *b;
	size_t off = 0;
	int r = -1;

	if (na == NULL)
		return -1;
	b = malloc(len < CHUNK ? len + 1 : CHUNK);
	if (b == NULL)
		goto out;
	if (na->data_size != (s64)len) {
		errno = EIO;
		goto out;
	}
	while (off < len) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;
		s64 got = ntfs_attr_pread(na, (s64)off, (s64)n, b);

		if (got != (s64)n || memcmp(b, p + off, n) != 0) {
			if (got >= 0)
				errno = EIO;
			goto out;
		}
		off += n;
	}
	r = 0;
out:
	free(b);
	ntfs_attr_close(na);
	return r;
}

static int
set_sd(ntfs_inode *ni, const void *sd, size_t len)
{
	struct SECURITY_CONTEXT scx;

	memset(&scx, 0, sizeof(scx));
	scx.vol = ni->vol;
	return ntfs_set_ntfs_acl(&scx, ni, sd, len, 0);
}

/* The security descriptor of NI into OUT. */
static int
get_sd(ntfs_inode *ni, struct buf *out)
{
	struct SECURITY_CONTEXT scx;
	int n, m;

	memset(&scx, 0, sizeof(scx));
	scx.vol = ni->vol;
	n = ntfs_get_ntfs_acl(&scx, ni, NULL, 0);
	if (n <= 0) {
		errno = n < 0 ? -n : ENODATA;
		return -1;
	}
	if (buf_grow(out, (size_t)n + 1) < 0)
		return -1;
	m = ntfs_get_ntfs_acl(&scx, ni, out->data + out->len, (size_t)n);
	if (m != n) {
		errno = EIO;
		return -1;
	}
	out->len += (size_t)n;
	out->data[out->len] = '\0';
	return 0;
}

/*
 * Replace LEAF in directory DIR_NO.  The steps are those of ntfs-3g's own
 * rename over an existing file, so that at every moment one complete copy
 * has a name: the new file is made as ".kmsprep-LEAF.tmp" with its
 * descriptor and attributes before any content, filled and compared; then
 * the old file gets a second name ".kmsprep-LEAF.old", loses LEAF, the new
 * file gets LEAF and loses its temporary name, and the old file is
 * deleted.
 */
static int
replace_in(ntfs_volume *vol, u64 dir_no, const char *path, const char *leaf,
	   const void *data, size_t len, const void *sd, size_t sdlen,
	   bool keep_old_sd, struct kp_error *err)
{
	ntfs_inode *old = NULL, *ni = NULL;
	char *real = NULL, *tmp = NULL, *bak = NULL;
	struct buf osd = BUF_INIT;
	le32 attrib = 0;
	bool have_attrib = false;
	u64 new_no = 0;
	int n, r = -1;

	n = real_name_no(vol, dir_no, leaf, &real);
	if (n < 0) {
		nfail(err, KP_ERR_FAIL, errno, "'%s'", path);
		goto out;
	}
	if (n == 0 && (real = strdup(leaf)) == NULL) {
		kp_fail_oom(err);
		goto out;
	}
	if (asprintf(&tmp, ".kmsprep-%s.tmp", real) < 0 ||
	    asprintf(&bak, ".kmsprep-%s.old", real) < 0) {
		kp_fail_oom(err);
		goto out;
	}
	if (n == 1) {
		old = open_child_no(vol, dir_no, real);
		if (old == NULL) {
			nfail(err, KP_ERR_FAIL, errno, "'%s'", path);
			goto out;
		}
		if (is_dir(old) || (old->flags & FILE_ATTR_REPARSE_POINT)) {
			kp_fail(err, KP_ERR_FAIL, "'%s': not a plain file",
				path);
			goto out;
		}
		if (keep_old_sd) {
			if (get_sd(old, &osd) < 0) {
				nfail(err, KP_ERR_FAIL, errno, "'%s': cannot "
				      "read its security descriptor", path);
				goto out;
			}
			sd = osd.data;
			sdlen = osd.len;
			if (ntfs_get_ntfs_attrib(old, (char *)&attrib,
						 sizeof(attrib)) ==
			    (int)sizeof(attrib))
				have_attrib = true;
		}
	}
	/* Leftovers of an interrupted run are ours to remove. */
	if (delete_child(vol, dir_no, tmp) < 0 ||
	    delete_child(vol, dir_no, bak) < 0) {
		nfail(err, KP_ERR_FAIL, errno, "'%s': cannot remove an old "
		      "temporary file", path);
		goto out;
	}
	ni = create_child(vol, dir_no, tmp, S_IFREG);
	if (ni == NULL) {
		nfail(err, KP_ERR_FAIL, errno, "'%s': cannot create the new "
		      "file", path);
		goto out;
	}
	if (set_sd(ni, sd, sdlen) < 0 ||
	    (have_attrib && ntfs_set_ntfs_attrib(ni, (const char *)&attrib,
						 sizeof(attrib), 0) < 0)) {
		nfail(err, KP_ERR_FAIL, errno, "'%s': cannot set the security "
		      "of the new file", path);
		goto undo;
	}
	if (write_data(ni, data, len) < 0) {
		nfail(err, KP_ERR_FAIL, errno, "cannot write '%s'", path);
		goto undo;
	}
	if (same_data(ni, data, len) < 0) {
		nfail(err, KP_ERR_FAIL, errno, "'%s': verification failed: "
		      "the new file does not read back as written", path);
		goto undo;
	}
	if (old) {
		if (link_child(vol, dir_no, old, bak) < 0) {
			nfail(err, KP_ERR_FAIL, errno, "'%s': cannot rename",
			      path);
			goto undo;
		}
		n = delete_name(vol, dir_no, old, real);
		old = NULL;	/* closed by ntfs_delete */
		if (n < 0) {
			nfail(err, KP_ERR_FAIL, errno, "'%s': cannot rename "
			      "(the old file is kept as %s)", path, bak);
			goto undo;
		}
	}
	if (link_child(vol, dir_no, ni, real) < 0) {
		nfail(err, KP_ERR_FAIL, errno, "'%s': cannot rename (the old "
		      "file is kept as %s)", path, bak);
		goto out;
	}
	new_no = ni->mft_no;
	n = delete_name(vol, dir_no, ni, tmp);
	ni = NULL;
	if (n < 0) {
		nfail(err, KP_ERR_FAIL, errno, "'%s': cannot remove the "
		      "temporary name", path);
		goto out;
	}
	if (delete_child(vol, dir_no, bak) < 0) {
		nfail(err, KP_ERR_FAIL, errno, "'%s': cannot remove the old "
		      "file", path);
		goto out;
	}
	/* The name now leads to the file whose content was read back above
	 * (reading all of it again would find the same clusters). */
	ni = open_child_no(vol, dir_no, real);
	if (ni == NULL || ni->mft_no != new_no ||
	    ni->data_size != (s64)len) {
		nfail(err, KP_ERR_FAIL, ni ? EIO : errno, "'%s': "
		      "verification failed after the rename", path);
		goto out;
	}
	r = 0;
	goto out;
undo:
	if (ni) {
		ntfs_inode_close(ni);
		ni = NULL;
	}
	delete_child(vol, dir_no, tmp);
out:
	if (ni)
		ntfs_inode_close(ni);
	if (old)
		ntfs_inode_close(old);
	buf_release(&osd);
	free(real);
	free(tmp);
	free(bak);
	return r;
}

static int
replace(struct ntfsvol *s, size_t root, const char *path,
	const void *data, size_t len, const void *sd, size_t sdlen,
	bool keep_old_sd, struct kp_error *err)
{
	ntfs_volume *vol;
	ntfs_inode *dir;
	const char *leaf;
	u64 dir_no;

	if (get_vol(s, root, true, &vol, err) < 0)
		return -1;
	if (len > DR_FILE_MAX)
		return kp_fail(err, KP_ERR_FAIL, "'%s': too large", path);
	dir = open_parent(vol, path, &leaf, err);
	if (dir == NULL)
		return -1;
	dir_no = dir->mft_no;
	if (ntfs_inode_close(dir) < 0)
		return nfail(err, KP_ERR_FAIL, errno, "'%s'", path);
	return replace_in(vol, dir_no, path, leaf, data, len, sd, sdlen,
			  keep_old_sd, err);
}

int
ntfsvol_replace(struct ntfsvol *s, size_t root, const char *path,
		const void *data, size_t len, unsigned flags,
		struct kp_error *err)
{
	unsigned char sd[SECDESC_MAX];
	size_t n = secdesc_default(flags & DR_SECRET, false, sd);

	return replace(s, root, path, data, len, sd, n, !(flags & DR_SECRET),
		       err);
}

int
ntfsvol_create_sd(struct ntfsvol *s, size_t root, const char *path,
		  const void *data, size_t len, const void *sd, size_t sdlen,
		  struct kp_error *err)
{
	return replace(s, root, path, data, len, sd, sdlen, false, err);
}

int
ntfsvol_remove(struct ntfsvol *s, size_t root, const char *path,
	       struct kp_error *err)
{
	ntfs_volume *vol;
	ntfs_inode *dir;
	const char *leaf;
	char *real = NULL;
	u64 dir_no;
	int r = -1, n;

	if (get_vol(s, root, true, &vol, err) < 0)
		return -1;
	dir = open_parent(vol, path, &leaf, err);
	if (dir == NULL)
		return -1;
	dir_no = dir->mft_no;
	if (ntfs_inode_close(dir) < 0)
		return nfail(err, KP_ERR_FAIL, errno, "'%s'", path);
	n = real_name_no(vol, dir_no, leaf, &real);
	if (n < 0)
		nfail(err, KP_ERR_FAIL, errno, "'%s'", path);
	else if (n == 0)
		kp_fail(err, KP_ERR_INPUT, "'%s': no such file", path);
	else if (delete_child(vol, dir_no, real) < 0)
		nfail(err, KP_ERR_FAIL, errno, "cannot remove '%s'", path);
	else
		r = 0;
	free(real);
	return r;
}

struct names {
	ntfs_volume *vol;
	char **v;
	size_t n;
	int err;
};

static int
ls_fill(void *d, const ntfschar *name, const int len, const int type,
	const s64 pos, const MFT_REF mref, const unsigned dt)
{
	struct names *l = d;
	char *s = NULL, **v;

	(void)pos;
	(void)dt;
	/* The DOS alias of a long name, the metadata files ($MFT...), and
	 * an entry that names no file (see find_fill). */
	if (type == FILE_NAME_DOS || MREF(mref) < FILE_first_user ||
	    names_nothing(l->vol, mref) == 1)
		return 0;
	if (ntfs_ucstombs(name, len, &s, 0) < 0) {
		l->err = errno;
		return -1;
	}
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
		free(s);
		return 0;
	}
	v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (v == NULL) {
		free(s);
		l->err = ENOMEM;
		return -1;
	}
	l->v = v;
	v[l->n++] = s;
	v[l->n] = NULL;
	return 0;
}

char **
ntfsvol_ls(struct ntfsvol *s, size_t root, const char *path,
	   struct kp_error *err)
{
	struct names l = { NULL, NULL, 0, 0 };
	ntfs_volume *vol;
	ntfs_inode *ni;
	s64 pos = 0;
	int r;
	size_t i;

	if (get_vol(s, root, false, &vol, err) < 0)
		return NULL;
	l.vol = vol;
	ni = lookup(vol, path);
	if (ni == NULL) {
		nfail(err, KP_ERR_INPUT, errno, "'%s'", path);
		return NULL;
	}
	if (!is_dir(ni)) {
		ntfs_inode_close(ni);
		kp_fail(err, KP_ERR_INPUT, "'%s': not a directory", path);
		return NULL;
	}
	r = ntfs_readdir(ni, &pos, &l, ls_fill);
	ntfs_inode_close(ni);
	if (r < 0 || l.err) {
		nfail(err, KP_ERR_FAIL, l.err ? l.err : errno, "'%s'", path);
		for (i = 0; i < l.n; i++)
			free(l.v[i]);
		free(l.v);
		return NULL;
	}
	if (l.v == NULL && (l.v = calloc(1, sizeof(*l.v))) == NULL)
		kp_fail_oom(err);
	return l.v;
}

int
ntfsvol_mkdir(struct ntfsvol *s, size_t root, const char *path,
	      struct kp_error *err)
{
	unsigned char sd[SECDESC_MAX];
	size_t sdlen = secdesc_default(false, true, sd);
	ntfs_volume *vol;
	ntfs_inode *dir, *ni;
	const char *p = path;
	char *real = NULL;
	int r = -1;

	if (get_vol(s, root, true, &vol, err) < 0)
		return -1;
	if (!path_ok(path))
		return kp_fail(err, KP_ERR_FAIL, "bad path '%s'", path);
	dir = ntfs_inode_open(vol, FILE_root);
	if (dir == NULL)
		return nfail(err, KP_ERR_FAIL, errno, "root directory");
	while (*p == '/')
		p++;
	while (*p) {
		size_t len = strcspn(p, "/");
		char *name = strndup(p, len);
		unsigned dt = 0;
		int n;

		if (name == NULL) {
			kp_fail_oom(err);
			goto out;
		}
		n = real_name(dir, name, &real, &dt);
		if (n < 0) {
			free(name);
			nfail(err, KP_ERR_FAIL, errno, "'%s'", path);
			goto out;
		}
		if (n == 1) {
			ni = open_child(dir, real);
			free(real);
			real = NULL;
			if (ni && !is_dir(ni)) {
				ntfs_inode_close(ni);
				ni = NULL;
				errno = ENOTDIR;
			}
		} else {
			ntfschar *u = NULL;
			int ul = uname(name, &u);

			ni = ul > 0 ? ntfs_create(dir, const_cpu_to_le32(0), u,
						  (u8)ul, S_IFDIR) : NULL;
			free(u);
			if (ni && set_sd(ni, sd, sdlen) < 0) {
				ntfs_inode_close(ni);
				ni = NULL;
			}
		}
		free(name);
		if (ni == NULL) {
			nfail(err, KP_ERR_FAIL, errno, "cannot make '%s'",
			      path);
			goto out;
		}
		ntfs_inode_close(dir);
		dir = ni;
		p += len;
		while (*p == '/')
			p++;
	}
	r = 0;
out:
	if (ntfs_inode_close(dir) < 0 && r == 0)
		r = nfail(err, KP_ERR_FAIL, errno, "'%s'", path);
	return r;
}

int
ntfsvol_get_sd(struct ntfsvol *s, size_t root, const char *path,
	       struct buf *out, uint32_t *attrib, struct kp_error *err)
{
	ntfs_volume *vol;
	ntfs_inode *ni;
	int r = 0;

	if (get_vol(s, root, false, &vol, err) < 0)
		return -1;
	ni = lookup(vol, path);
	if (ni == NULL)
		return nfail(err, KP_ERR_INPUT, errno, "'%s'", path);
	if (get_sd(ni, out) < 0)
		r = nfail(err, KP_ERR_FAIL, errno, "'%s': security descriptor",
			  path);
	if (r == 0 && attrib) {
		le32 a = 0;

		if (ntfs_get_ntfs_attrib(ni, (char *)&a, sizeof(a)) !=
		    (int)sizeof(a))
			r = nfail(err, KP_ERR_FAIL, errno, "'%s': attributes",
				  path);
		*attrib = le32_to_cpu(a);
	}
	ntfs_inode_close(ni);
	return r;
}

int
ntfsvol_set_attrib(struct ntfsvol *s, size_t root, const char *path,
		   uint32_t attrib, struct kp_error *err)
{
	le32 a = cpu_to_le32(attrib);
	ntfs_volume *vol;
	ntfs_inode *ni;
	int r = 0;

	if (get_vol(s, root, true, &vol, err) < 0)
		return -1;
	ni = lookup(vol, path);
	if (ni == NULL)
		return nfail(err, KP_ERR_INPUT, errno, "'%s'", path);
	if (ntfs_set_ntfs_attrib(ni, (const char *)&a, sizeof(a), 0) < 0)
		r = nfail(err, KP_ERR_FAIL, errno, "'%s': attributes", path);
	if (ntfs_inode_close(ni) < 0 && r == 0)
		r = nfail(err, KP_ERR_FAIL, errno, "'%s'", path);
	return r;
}

int
ntfsvol_close(struct ntfsvol *s, bool ok, struct kp_error *err)
{
	struct kp_error e2 = KP_ERROR_INIT;
	size_t i;
	int r = 0;

	if (s == NULL)
		return 0;
	for (i = 0; i < s->nroots; i++) {
		if (s->vols[i] && ntfsdev_umount(s->vols[i]) < 0 && r == 0 &&
		    s->roots[i].rw)
			r = nfail(err, KP_ERR_FAIL, errno, "partition %u: "
				  "cannot write everything back",
				  s->roots[i].part);
		free(s->roots[i].systemroot);
	}
	for (i = 0; i < s->nlocked; i++)
		free(s->locked[i].why);
	if (s->own_io && imgio_close(s->io, ok, r == 0 ? err : &e2) < 0)
		r = -1;
	free(s->roots);
	free(s->vols);
	free(s->locked);
	free(s);
	return r;
}

/*
 * Journaled hive commits inside the volume (hive/journal.h): the
 * writes go in place into the existing files' $DATA, so only the changed
 * pages of the hive and its log reach the image.
 */

/* Open PATH's unnamed $DATA for writing in place: a plain, uncompressed,
 * unencrypted file. */
static int
open_inplace(ntfs_volume *vol, const char *path, ntfs_inode **ni_ret,
	     ntfs_attr **na_ret, struct kp_error *err)
{
	ntfs_inode *ni = lookup(vol, path);
	ntfs_attr *na;

	if (ni == NULL)
		return nfail(err, errno == ENOENT ? KP_ERR_INPUT : KP_ERR_FAIL,
			     errno, "'%s'", path);
	if (is_dir(ni) || (ni->flags & (FILE_ATTR_REPARSE_POINT |
					 FILE_ATTR_ENCRYPTED))) {
		ntfs_inode_close(ni);
		return kp_fail(err, KP_ERR_FAIL, "'%s': not a plain file",
			       path);
	}
	na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (na == NULL) {
		nfail(err, KP_ERR_FAIL, errno, "'%s'", path);
		ntfs_inode_close(ni);
		return -1;
	}
	/* Compressed data is rewritten a compression unit at a time and
	 * sparse runs are allocated on write: neither is "in place". */
	if (NAttrCompressed(na) || NAttrEncrypted(na) || NAttrSparse(na)) {
		ntfs_attr_close(na);
		ntfs_inode_close(ni);
		return kp_fail(err, KP_ERR_FAIL, "'%s': compressed, encrypted "
			       "or sparse: not written in place", path);
	}
	*ni_ret = ni;
	*na_ret = na;
	return 0;
}

/* Create the log PATH (missing) with security descriptor SD, or the
 * hive's (PRIMARY) when SD is NULL, and hidden and system attributes as
 * Windows gives the logs in System32\config. */
static int
create_log(ntfs_volume *vol, const char *path, ntfs_inode *primary,
	   const void *sd, size_t sdlen, struct kp_error *err)
{
	struct buf psd = BUF_INIT;
	le32 attrib = const_cpu_to_le32(FILE_ATTR_HIDDEN | FILE_ATTR_SYSTEM |
					FILE_ATTR_ARCHIVE);
	const char *leaf;
	ntfs_inode *dir, *ni;
	u64 dir_no;
	int r = -1;

	if (sd == NULL) {
		if (get_sd(primary, &psd) < 0)
			return nfail(err, KP_ERR_FAIL, errno, "'%s': cannot "
				     "read the hive's security descriptor",
				     path);
		sd = psd.data;
		sdlen = psd.len;
	}
	dir = open_parent(vol, path, &leaf, err);
	if (dir == NULL)
		goto out;
	dir_no = dir->mft_no;
	if (ntfs_inode_close(dir) < 0) {
		nfail(err, KP_ERR_FAIL, errno, "'%s'", path);
		goto out;
	}
	ni = create_child(vol, dir_no, leaf, S_IFREG);
	if (ni == NULL) {
		nfail(err, KP_ERR_FAIL, errno, "'%s': cannot create", path);
		goto out;
	}
	if (set_sd(ni, sd, sdlen) < 0 ||
	    ntfs_set_ntfs_attrib(ni, (const char *)&attrib, sizeof(attrib),
				 0) < 0 || ntfs_inode_sync(ni) < 0) {
		nfail(err, KP_ERR_FAIL, errno, "'%s': cannot set the security "
		      "of the new file", path);
		ntfs_inode_close(ni);
		delete_child(vol, dir_no, leaf);
		goto out;
	}
	r = ntfs_inode_close(ni) < 0 ?
	    nfail(err, KP_ERR_FAIL, errno, "'%s'", path) : 0;
out:
	buf_release(&psd);
	return r;
}

/* The DOS names (8.3 aliases) of directory DIR that point at MREF. */
struct aliases {
	MFT_REF mref;
	ntfschar *name[4];
	int len[4];
	size_t n;
};

static int
alias_fill(void *d, const ntfschar *name, const int len, const int type,
	   const s64 pos, const MFT_REF mref, const unsigned dt)
{
	struct aliases *a = d;

	(void)pos;
	(void)dt;
	if (type != FILE_NAME_DOS || MREF(mref) != MREF(a->mref) ||
	    a->n == sizeof(a->name) / sizeof(*a->name))
		return 0;
	a->name[a->n] = malloc((size_t)len * sizeof(ntfschar));
	if (a->name[a->n] == NULL)
		return -1;
	memcpy(a->name[a->n], name, (size_t)len * sizeof(ntfschar));
	a->len[a->n++] = len;
	return 0;
}

/* Remove the entry named U (ULEN units) from DIR (the index is searched
 * by the name alone: COLLATION_FILE_NAME). */
static int
remove_entry(ntfs_inode *dir, const ntfschar *u, int ulen, u8 space)
{
	size_t klen = sizeof(FILE_NAME_ATTR) + (size_t)ulen * sizeof(ntfschar);
	FILE_NAME_ATTR *key = calloc(1, klen);
	int r;

	if (key == NULL)
		return -1;
	key->file_name_length = (u8)ulen;
	key->file_name_type = space;
	memcpy(key->file_name, u, (size_t)ulen * sizeof(ntfschar));
	r = ntfs_index_remove(dir, NULL, key, (int)klen);
	free(key);
	return r;
}

/* Is LEAF in directory DIR_NO an entry whose file is gone (names_nothing)?
 * Then it is removed, with any DOS alias of it: 1; 0 if LEAF is absent or
 * names a file; -1 with errno, also when its record cannot be judged. */
static int
drop_dangling(ntfs_volume *vol, u64 dir_no, const char *leaf)
{
	ntfs_inode *dir = ntfs_inode_open(vol, dir_no);
	struct aliases a = { 0 };
	ntfschar *u = NULL;
	int ulen, r = -1, gone;
	s64 pos = 0;
	size_t i;
	u64 mref;

	if (dir == NULL)
		return -1;
	ulen = uname(leaf, &u);
	if (ulen < 0)
		goto out;
	mref = ntfs_inode_lookup_by_name(dir, u, ulen);
	if (mref == (u64)-1) {
		r = errno == ENOENT ? 0 : -1;
		goto out;
	}
	gone = names_nothing(vol, mref);
	if (gone <= 0) {
		if (gone < 0 && errno == 0)
			errno = EIO;
		r = gone;
		goto out;
	}
	a.mref = mref;
	if (ntfs_readdir(dir, &pos, &a, alias_fill) < 0)
		goto out;
	if (remove_entry(dir, u, ulen, FILE_NAME_POSIX) < 0)
		goto out;
	for (i = 0; i < a.n; i++)
		if (remove_entry(dir, a.name[i], a.len[i], FILE_NAME_DOS) < 0)
			goto out;
	r = 1;
out:
	for (i = 0; i < a.n; i++)
		free(a.name[i]);
	free(u);
	if (ntfs_inode_close(dir) < 0 && r >= 0)
		r = -1;
	return r;
}

int
ntfsvol_repair(struct ntfsvol *s, size_t root, unsigned *fixed,
	       struct kp_error *err)
{
	struct dangling g;
	ntfs_volume *vol;
	ntfs_inode *dir;
	u64 dir_no;
	size_t i;
	int r = 0;

	*fixed = 0;
	if (get_vol(s, root, true, &vol, err) < 0)
		return -1;
	find_dangling(vol, &g);
	dir = g.n ? lookup(vol, CONFIG_DIR) : NULL;
	if (g.n && dir == NULL)
		r = nfail(err, KP_ERR_FAIL, errno, "'%s'", CONFIG_DIR);
	dir_no = dir ? dir->mft_no : 0;
	if (dir && ntfs_inode_close(dir) < 0)
		r = nfail(err, KP_ERR_FAIL, errno, "'%s'", CONFIG_DIR);
	for (i = 0; i < g.n && r == 0; i++) {
		int d = drop_dangling(vol, dir_no, g.names[i]);

		if (d < 0)
			r = nfail(err, KP_ERR_FAIL, errno, "'%s/%s': cannot "
				  "remove the entry an interrupted create left",
				  CONFIG_DIR, g.names[i]);
		*fixed += d > 0;
	}
	dangling_release(&g);
	if (r == 0 && ntfs_device_sync(vol->dev) < 0)
		r = nfail(err, KP_ERR_FAIL, errno, "cannot flush the image");
	if (r == 0)
		s->roots[root].dangling = 0;
	return r;
}

/* Step 0 of a commit in place, before the hive changes: the log LOG exists
 * and holds NEED bytes in clusters of its own (not sparse), all of them
 * initialized, synced to the image.  Only here does the volume's metadata
 * change (a new file, clusters, sizes); interrupted here, the hive is as
 * it was and a later run starts again.  What the log holds can go: the
 * primary is clean, and the commit writes a new entry from its start. */
static int
prepare_log(ntfs_volume *vol, const char *log, ntfs_inode *primary,
	    const void *sd, size_t sdlen, uint64_t need,
	    struct kp_error *err)
{
	static const unsigned char zero[4096];
	ntfs_inode *dir, *ni;
	const char *leaf;
	ntfs_attr *na;
	u64 dir_no;
	int r = -1;

	dir = open_parent(vol, log, &leaf, err);
	if (dir == NULL)
		return -1;
	dir_no = dir->mft_no;
	if (ntfs_inode_close(dir) < 0)
		return nfail(err, KP_ERR_FAIL, errno, "'%s'", log);
	if (drop_dangling(vol, dir_no, leaf) < 0)
		return nfail(err, KP_ERR_FAIL, errno, "'%s': cannot remove the "
			     "entry an interrupted create left", log);
	errno = 0;
	ni = lookup(vol, log);
	if (ni == NULL && errno != ENOENT)
		return nfail(err, KP_ERR_FAIL, errno, "'%s'", log);
	if (ni == NULL) {
		if (create_log(vol, log, primary, sd, sdlen, err) < 0)
			return -1;
		ni = lookup(vol, log);
		if (ni == NULL)
			return nfail(err, KP_ERR_FAIL, errno, "'%s'", log);
	}
	na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (na == NULL) {
		nfail(err, KP_ERR_FAIL, errno, "'%s'", log);
		goto out;
	}
	/* Sparse runs would be allocated by the commit's writes: start the
	 * log again, solid. */
	if ((NAttrSparse(na) || NAttrCompressed(na)) &&
	    ntfs_attr_truncate(na, 0) < 0)
		goto fail;
	if (na->data_size < (s64)need &&
	    ntfs_attr_truncate_solid(na, (s64)need) < 0)
		goto fail;
	while (na->initialized_size < (s64)need) {
		s64 n = (s64)need - na->initialized_size;

		if (n > (s64)sizeof(zero))
			n = (s64)sizeof(zero);
		if (ntfs_attr_pwrite(na, na->initialized_size, n, zero) != n)
			goto fail;
	}
	if (NAttrSparse(na) || NAttrCompressed(na)) {
		errno = EOPNOTSUPP;
		goto fail;
	}
	ntfs_attr_close(na);
	na = NULL;
	if (ntfs_inode_sync(ni) < 0 || ntfs_device_sync(vol->dev) < 0)
		goto fail;
	r = 0;
	goto out;
fail:
	nfail(err, KP_ERR_FAIL, errno ? errno : EIO, "'%s': cannot make room "
	      "for the transaction log", log);
out:
	if (na)
		ntfs_attr_close(na);
	if (ntfs_inode_close(ni) < 0 && r == 0)
		r = nfail(err, KP_ERR_FAIL, errno, "'%s'", log);
	return r;
}

/* A hive and its log in a volume, for journal_writes_run. */
struct ntfs_io {
	ntfs_volume *vol;
	ntfs_inode *ni[2];	/* the log, the primary */
	ntfs_attr *na[2];	/* their $DATA */
};

static int
n_pwrite(void *ctx, enum journal_file f, const void *p, size_t len,
	 uint64_t off)
{
	const unsigned char *c = p;
	ntfs_attr *na = ((struct ntfs_io *)ctx)->na[f];

	while (len) {
		s64 n = ntfs_attr_pwrite(na, (s64)off, (s64)len, c);

		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		c += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int
n_pread(void *ctx, enum journal_file f, void *p, size_t len, uint64_t off)
{
	unsigned char *c = p;
	ntfs_attr *na = ((struct ntfs_io *)ctx)->na[f];

	while (len) {
		s64 n = ntfs_attr_pread(na, (s64)off, (s64)len, c);

		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		c += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Log entries begin on 512-byte boundaries, and a reader stops at the
 * first block without an entry's signature: this many zeros after the
 * new entry end the log. */
#define LOG_TAIL 512

/* The primary only grows.  The log was made large enough beforehand
 * (prepare_log) and is never cut: cutting changes the volume's metadata
 * mid-commit.  Zeroing what follows the new entry ends the log there just
 * as well, since a reader stops at the first block that is not an entry. */
static int
n_fit(void *ctx, enum journal_file f, uint64_t size)
{
	static const unsigned char zero[LOG_TAIL];
	ntfs_attr *na = ((struct ntfs_io *)ctx)->na[f];
	uint64_t n;

	if (f == JOURNAL_PRIMARY)
		return na->data_size >= (s64)size ? 0 :
		       ntfs_attr_truncate(na, (s64)size);
	if ((s64)size >= na->data_size)
		return 0;
	n = (uint64_t)na->data_size - size;
	return n_pwrite(ctx, f, zero, n < sizeof(zero) ? n : sizeof(zero),
			size);
}

/* The flush point: the file's record, then the image. */
static int
n_flush(void *ctx, enum journal_file f)
{
	struct ntfs_io *n = ctx;

	return ntfs_inode_sync(n->ni[f]) < 0 ||
	       ntfs_device_sync(n->vol->dev) < 0 ? -1 : 0;
}

static const struct journal_io ntfs_io = {
	.pwrite = n_pwrite,
	.pread = n_pread,
	.fit = n_fit,
	.flush = n_flush,
};

/* Do the final writes of P (the log's, the pages and the last base
 * block) read back from PATH[] in a mount of their own?  The commit's own
 * mount reads data from the image but its metadata from memory; a fresh
 * one reads both from what the storage kept, so a write that was
 * acknowledged and dropped is found now, not by the next run. */
static int
verify_fresh(struct ntfsvol *s, size_t root, const char *const path[2],
	     const struct journal_writes *p, struct kp_error *err)
{
	const struct ntfsvol_root *r = &s->roots[root];
	unsigned char *got = NULL;
	unsigned mirror = 0;
	ntfs_volume *vol;
	int f, st, r2 = 0;

	vol = ntfsdev_mount(s->io, r->start, r->size, "verify",
			    NTFS_MNT_RDONLY, &mirror);
	if (vol == NULL || mirror) {
		r2 = kp_fail(err, KP_ERR_UNAVAILABLE, "partition %u: the "
			     "volume as the storage now holds it %s: writes "
			     "were acknowledged but not kept", r->part,
			     vol ? "has a stale $MFTMirr" :
			     "does not mount");
		goto out;
	}
	/* Step 1's base block is overwritten by step 4's. */
	for (st = 0; st < 4 && r2 == 0; st++) {
		const struct journal_step *sp = &p->step[st];
		ntfs_inode *ni;
		ntfs_attr *na;
		size_t i;

		if (st == 1 || sp->n == 0)
			continue;
		f = sp->file;
		ni = lookup(vol, path[f]);
		na = ni ? ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0) : NULL;
		for (i = sp->first; na && i < sp->first + sp->n && r2 == 0;
		     i++) {
			const struct journal_write *w = &p->w[i];

			free(got);
			got = malloc(w->len ? w->len : 1);
			if (got == NULL)
				r2 = kp_fail_oom(err);
			else if (ntfs_attr_pread(na, (s64)w->off, w->len,
						 got) != (s64)w->len ||
				 memcmp(got, w->data, w->len) != 0)
				r2 = kp_fail(err, KP_ERR_UNAVAILABLE, "'%s': "
					     "what was written at 0x%llx does "
					     "not read back from the image: "
					     "writes were acknowledged but "
					     "not kept", path[f],
					     (unsigned long long)w->off);
		}
		if (na == NULL && r2 == 0)
			r2 = kp_fail(err, KP_ERR_UNAVAILABLE, "'%s': gone from "
				     "the volume as the storage now holds it: "
				     "writes were acknowledged but not kept",
				     path[f]);
		if (na)
			ntfs_attr_close(na);
		if (ni)
			ntfs_inode_close(ni);
	}
out:
	free(got);
	if (vol)
		ntfsdev_umount(vol);
	/* The commit's own writes all completed: its log, on the storage
	 * or not, leaves the hive old or new, and a rerun finishes. */
	return r2 < 0 ? kp_error_remedy(err, KP_REMEDY_RERUN) : 0;
}

int
ntfsvol_journal(struct ntfsvol *s, size_t root, const char *primary,
		const char *log, const void *sd, size_t sdlen,
		const struct journal_writes *p, uint64_t *written,
		struct kp_error *err)
{
	struct ntfs_io n = { NULL, { NULL, NULL }, { NULL, NULL } };
	const char *path[2] = { log, primary };
	bool ran = false;
	uint64_t w0;
	int f, r = -1;

	*written = 0;
	if (get_vol(s, root, true, &n.vol, err) < 0)
		return -1;
	w0 = imgio_bytes_written(s->io);
	if (p->pages == 0)
		return 0;
	if (open_inplace(n.vol, primary, &n.ni[JOURNAL_PRIMARY],
			 &n.na[JOURNAL_PRIMARY], err) < 0)
		return -1;
	if (prepare_log(n.vol, log, n.ni[JOURNAL_PRIMARY], sd, sdlen,
			journal_log_size(p), err) < 0)
		goto out;
	if (open_inplace(n.vol, log, &n.ni[JOURNAL_LOG], &n.na[JOURNAL_LOG],
			 err) < 0)
		goto out;
	r = journal_writes_run(p, &ntfs_io, &n, path, err);
	ran = r == 0;
out:
	for (f = 0; f < 2; f++) {
		if (n.na[f])
			ntfs_attr_close(n.na[f]);
		if (n.ni[f] && ntfs_inode_close(n.ni[f]) < 0 && r == 0)
			r = nfail(err, KP_ERR_FAIL, errno, "'%s'", path[f]);
	}
	if (r == 0 && ntfs_device_sync(n.vol->dev) < 0)
		r = nfail(err, KP_ERR_FAIL, errno, "cannot flush the image");
	/* Every step was written: the log, on the storage or not, leaves
	 * the hive old or new, and a rerun finishes. */
	if (ran && r < 0)
		kp_error_remedy(err, KP_REMEDY_RERUN);
	if (r == 0)
		r = verify_fresh(s, root, path, p, err);
	*written = imgio_bytes_written(s->io) - w0;
	return r;
}

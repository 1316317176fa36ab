/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image session: the backend img_open chose, and every img_* call of
 * image.h dispatched through its table (backend.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "disk.h"
#include "imgio.h"
#include "uri.h"
#include "hive/remote.h"
#include "lib/fileio.h"


struct img_session {
	const struct img_backend *be;
	void *h;		/* the backend's handle */
	char **names;		/* the images as given */
	size_t n;
	char *tmpdir;		/* local scratch (hives), mode 0700 */
	unsigned seq;
	/* Image I's hives are copied into TMPDIR/I and opened and edited
	 * by HS[I], fenced into that directory: a hive that subverts its
	 * server reaches no other image's. */
	struct hive_server **hs;
};

static void
release(struct img_session *s)
{
	size_t i;

	for (i = 0; s->hs && i < s->n; i++)
		hive_server_stop(s->hs[i], NULL);
	free(s->hs);
	kp_rmtree(s->tmpdir);
	free(s->tmpdir);
	for (i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	free(s);
}

static int open_session(char *const *images, size_t n,
			const struct img_opts *o, size_t nwim,
			struct img_session **s_ret, struct kp_error *err);

/* auto: the direct backend when it can do the work; else the appliance,
 * and the user hears why on one line. */
static const struct img_backend *
choose(char *const *images, size_t n, const struct img_opts *o, size_t nwim,
       struct kp_error *err)
{
	char why[512], msg[700];
	int r;

	/* WIM files are files, not disks: only wimlib reads them, and it
	 * reads nothing else. */
	if (nwim && nwim != n) {
		kp_fail(err, KP_ERR_INVALID, "WIM files and disk images in one "
			"command: prepare them in two");
		return NULL;
	}
	if (nwim && o->backend != IMG_BACKEND_AUTO &&
	    o->backend != IMG_BACKEND_WIM) {
		kp_fail(err, KP_ERR_INVALID, "'%s' is a WIM file: only the wim "
			"backend reads it", images[0]);
		return NULL;
	}
	if (nwim)
		return &img_backend_wim;
	if (o->backend == IMG_BACKEND_WIM) {
		kp_fail(err, KP_ERR_INVALID, "'%s' is not a WIM file",
			images[0]);
		return NULL;
	}
	if (o->backend == IMG_BACKEND_DIRECT)
		return &img_backend_direct;
	if (o->backend == IMG_BACKEND_APPLIANCE)
		return &img_backend_appliance;
	r = img_direct_usable(images, n, o, why, sizeof(why), err);
	if (r < 0)
		return NULL;
	if (r == 1)
		return &img_backend_direct;
	if (o->notice) {
		snprintf(msg, sizeof(msg), "using the appliance: %s", why);
		o->notice(o->ud, msg);
	}
	return &img_backend_appliance;
}

/* Hives of an image are hostile input: they are parsed in sandboxed hive
 * servers, one per image, started now, before the backend runs anything
 * and before any image is read, while this process has one thread. */
static int
start_hive_servers(struct img_session *s, const struct img_opts *o,
		   struct kp_error *err)
{
	char dir[PATH_MAX];
	size_t i;

	/* Not readable through /proc by the servers where no Landlock
	 * fences them (nor by anything else of this user). */
	kp_secrets_in_memory();
	s->hs = calloc(s->n ? s->n : 1, sizeof(*s->hs));
	if (s->hs == NULL)
		return kp_fail_oom(err);
	for (i = 0; i < s->n; i++) {
		if ((size_t)snprintf(dir, sizeof(dir), "%s/%zu", s->tmpdir,
				     i) >= sizeof(dir))
			return kp_fail(err, KP_ERR_FAIL, "scratch path too long");
		if (mkdir(dir, 0700) < 0)
			return kp_fail_errno(err, KP_ERR_FAIL, errno,
					     "'%s': cannot create", dir);
		if (hive_server_start(dir, o->timeout_s, &s->hs[i], err) < 0)
			return -1;
	}
	if (s->n && !hive_server_fenced(s->hs[0]) && o->notice)
		o->notice(o->ud, "no Landlock here and not run as root: hives "
			  "are parsed in sandboxed processes that may read, but "
			  "not write, any file this user can read (other "
			  "images' hives included)");
	return 0;
}

/* Each image file read by kmsprep's header reader (image/disk.h), and no
 * file given twice under two names (a link, a relative and an absolute
 * path): the second write would silently undo the first. */
/* A WIM that wimlib can read but kmsprep must not write, and what to do
 * about it; NULL if it may be written. */
static const char *
wim_unwritable(const struct fmt_info *in)
{
	if (in->wim_split)
		return "one part of a split WIM (.swm), which wimlib cannot "
		       "change: join the parts into one WIM first "
		       "(wimlib-imagex join), then prepare that";
	if (in->wim_pipable)
		return "a pipable WIM, which cannot be appended to in place: "
		       "export it to a normal WIM first (wimlib-imagex export "
		       "SRC all DEST writes one), then prepare that";
	if (in->wim_solid)
		return "an ESD (solid-compressed WIM), which kmsprep shows but "
		       "does not write: export it to a normal WIM with LZX "
		       "compression first (wimlib-imagex export), then "
		       "prepare that";
	return NULL;
}

static int
check_images(char *const *images, size_t n, const struct img_opts *o,
	     size_t *nwim, unsigned *wim_images, struct kp_error *err)
{
	struct disk_opts dopts = { o->format, o->allow_refs };
	struct stat *st = calloc(n ? n : 1, sizeof(*st));
	size_t i, k;
	int r = 0;

	if (st == NULL)
		return kp_fail_oom(err);
	for (i = 0; i < n && r == 0; i++) {
		struct disk *d = NULL;
		int e = 0;

		if (imgio_is_uri(images[i]) || strstr(images[i], "://"))
			continue;
		if (access(images[i], F_OK) < 0) {
			r = kp_fail_errno(err, KP_ERR_INPUT, errno,
					  "'%s': cannot open", images[i]);
			break;
		}
		r = disk_inspect(images[i], &dopts, &d, err);
		if (r == 0 && disk_info(d)->format == FMT_WIM) {
			const char *why = wim_unwritable(disk_info(d));

			(*nwim)++;
			wim_images[i] = disk_info(d)->wim_images;
			if ((!o->readonly || o->dry_run) && why)
				r = kp_fail(err, KP_ERR_REFUSED, "'%s': %s",
					    images[i], why);
		}
		if (r == 0 && fstat(disk_fd(d), &st[i]) < 0)
			r = kp_fail_errno(err, KP_ERR_INPUT, errno, "'%s'",
					  images[i]);
		/* Refused before a backend starts, on every backend alike;
		 * by a dry run too, which must fail where the write would.
		 * A file made read-only (no write bit at all) is refused even
		 * to root, who could write it. */
		if (r == 0 && (!o->readonly || o->dry_run) && !o->overlay)
			e = access(images[i], W_OK) < 0 ? errno :
			    !(st[i].st_mode & 0222) ? EACCES : 0;
		if (r == 0 && e) {
			r = kp_fail_errno(err, KP_ERR_REFUSED, e, "'%s': "
					  "cannot be written", images[i]);
			/* The changes can go to an overlay, or a new WIM. */
			kp_error_remedy(err, disk_info(d)->format == FMT_WIM ?
					KP_REMEDY_OVERLAY_WIM :
					KP_REMEDY_OVERLAY);
		}
		if (r == 0 && (!o->readonly || o->dry_run) && !o->overlay &&
		    disk_append_only(d)) {
			kp_fail(err, KP_ERR_REFUSED, "'%s': a stream-optimized "
				"VMDK (compressed grains), which qemu writes only "
				"at its end: it can be read, not changed in "
				"place", images[i]);
			r = kp_error_remedy(err, KP_REMEDY_OVERLAY);
		}
		disk_free(d);
		for (k = 0; k < i && r == 0; k++)
			/* A WIM file's images, each of its own (img_expand). */
			if (o->wim_index_of &&
			    o->wim_index_of[k] != o->wim_index_of[i] &&
			    strcmp(images[k], images[i]) == 0)
				continue;
			else if (st[k].st_ino && st[k].st_dev == st[i].st_dev &&
			    st[k].st_ino == st[i].st_ino)
				r = kp_fail(err, KP_ERR_INVALID, "'%s' and '%s' "
					    "are the same image twice",
					    images[k], images[i]);
	}
	if (r == 0)
		r = img_uri_same(images, n, err);
	free(st);
	return r;
}

/*
 * A WIM file is one image to the user but several to the batch: each of
 * its images (indexes) chosen is an image of the session of its own, the
 * file's name repeated, so that every index gets its installation, its
 * hive server, its report and its own write.
 */
/* Does PATH start as a WIM does?  Eight bytes compared, nothing parsed:
 * only then is its header read, by the sandboxed reader (disk.h), so that
 * disk images are not read twice. */
static bool
wim_magic(const char *path)
{
	unsigned char m[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	bool r;

	if (fd < 0)
		return true;	/* the reader says why */
	r = pread(fd, m, sizeof(m), 0) != (ssize_t)sizeof(m) ||
	    memcmp(m, "MSWIM\0\0\0", 8) == 0 ||
	    memcmp(m, "WLPWM\0\0\0", 8) == 0;
	close(fd);
	return r;
}

int
img_expand(char *const *images, size_t n, const struct img_opts *o,
	   const unsigned *only, struct img_expanded *x, struct kp_error *err)
{
	struct disk_opts dopts = { o->format, o->allow_refs };
	unsigned *count = calloc(n ? n : 1, sizeof(*count));
	size_t i, k, total = 0, at = 0, nwim = 0;
	int r = 0;

	memset(x, 0, sizeof(*x));
	if (count == NULL)
		return kp_fail_oom(err);
	for (i = 0; i < n && r == 0; i++) {
		struct disk *d = NULL;

		count[i] = 0;
		total++;
		if (imgio_is_uri(images[i]) || strstr(images[i], "://") ||
		    access(images[i], F_OK) < 0)
			continue;
		if (!wim_magic(images[i])) {
			if (o->nindexes || (only && only[i]))
				r = kp_fail(err, KP_ERR_INVALID, "'%s': an "
					    "image number (index) chooses an "
					    "image of a WIM file, and this is "
					    "not one", images[i]);
			continue;
		}
		/* Its errors are img_open's to report. */
		if (disk_inspect(images[i], &dopts, &d, err) < 0) {
			kp_error_clear(err);
			continue;
		}
		if (disk_info(d)->format == FMT_WIM) {
			count[i] = disk_info(d)->wim_images;
			nwim++;
			if (only && only[i] > count[i])
				r = kp_fail(err, KP_ERR_INVALID, "'%s': no "
					    "image %u (it holds %u)",
					    images[i], only[i], count[i]);
			for (k = 0; k < o->nindexes && r == 0; k++)
				if (o->indexes[k] > count[i])
					r = kp_fail(err, KP_ERR_INVALID,
						    "'%s': no image %u (it "
						    "holds %u)", images[i],
						    o->indexes[k], count[i]);
			if (count[i] == 0)
				r = kp_fail(err, KP_ERR_INPUT, "'%s': a WIM "
					    "without images", images[i]);
			if (only && only[i])
				count[i] = 1;
			else if (o->nindexes)
				count[i] = (unsigned)o->nindexes;
			total += count[i] - 1;
		} else if (o->nindexes || (only && only[i])) {
			r = kp_fail(err, KP_ERR_INVALID, "'%s': an image "
				    "number (index) chooses an image of a WIM "
				    "file, and this is not one", images[i]);
		}
		disk_free(d);
	}
	if (r < 0 || nwim == 0) {
		free(count);
		return r;
	}
	x->names = calloc(total, sizeof(*x->names));
	x->index_of = calloc(total, sizeof(*x->index_of));
	x->from = calloc(total, sizeof(*x->from));
	x->passable = calloc(total, sizeof(*x->passable));
	if (x->names == NULL || x->index_of == NULL || x->from == NULL ||
	    x->passable == NULL) {
		free(count);
		img_expanded_release(x);
		return kp_fail_oom(err);
	}
	for (i = 0; i < n; i++) {
		size_t m = count[i] ? count[i] : 1;

		for (k = 0; k < m; k++, at++) {
			x->from[at] = i;
			x->index_of[at] = !count[i] ? 0 :
					  only && only[i] ? only[i] :
					  o->nindexes ? o->indexes[k] :
					  (unsigned)(k + 1);
			/* Every index by default: the user named none. */
			x->passable[at] = count[i] && !(only && only[i]) &&
					  !o->nindexes;
			if ((x->names[at] = strdup(images[i])) == NULL) {
				x->n = at;
				free(count);
				img_expanded_release(x);
				return kp_fail_oom(err);
			}
		}
	}
	x->n = total;
	free(count);
	return 0;
}

void
img_expanded_release(struct img_expanded *x)
{
	size_t i;

	for (i = 0; x->names && i < x->n; i++)
		free(x->names[i]);
	free(x->names);
	free(x->index_of);
	free(x->from);
	free(x->passable);
	memset(x, 0, sizeof(*x));
}

int
img_open(char *const *images, size_t n, const struct img_opts *o,
	 struct img_session **s_ret, struct kp_error *err)
{
	size_t nwim = 0;
	unsigned *count = calloc(n ? n : 1, sizeof(*count));
	struct stat ost;
	int r;

	*s_ret = NULL;
	if (count == NULL)
		return kp_fail_oom(err);
	/* One rule for every backend, a dry run included: an overlay is a
	 * new file, and nothing there (a link, even a dangling one) is
	 * followed or replaced. */
	if (o->overlay && (!o->readonly || o->dry_run) &&
	    lstat(o->overlay, &ost) == 0) {
		free(count);
		return kp_fail(err, KP_ERR_REFUSED, "'%s': cannot create the "
			       "overlay: something is there already (a file "
			       "or a link); name a new file, or remove it",
			       o->overlay);
	}
	/* What an image is and what it names is the same to every backend:
	 * read before auto chooses one, and a refusal is final. */
	r = check_images(images, n, o, &nwim, count, err);
	free(count);
	if (r < 0)
		return -1;
	return open_session(images, n, o, nwim, s_ret, err);
}

static int
open_session(char *const *images, size_t n, const struct img_opts *o,
	     size_t nwim, struct img_session **s_ret, struct kp_error *err)
{
	struct img_session *s;
	size_t i;

	*s_ret = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return kp_fail_oom(err);
	s->names = calloc(n ? n : 1, sizeof(char *));
	if (s->names == NULL) {
		free(s);
		return kp_fail_oom(err);
	}
	s->n = n;
	/* An image of a WIM file is named by the file and its index. */
	for (i = 0; i < n; i++)
		if ((o->wim_index_of && o->wim_index_of[i] ?
		     asprintf(&s->names[i], "%s (index %u)", images[i],
			      o->wim_index_of[i]) < 0 :
		     (s->names[i] = strdup(images[i])) == NULL)) {
			s->names[i] = NULL;
			release(s);
			return kp_fail_oom(err);
		}
	if ((s->tmpdir = kp_mkdtemp(err)) == NULL ||
	    start_hive_servers(s, o, err) < 0) {
		release(s);
		return -1;
	}
	s->be = choose(images, n, o, nwim, err);
	if (s->be == NULL) {
		release(s);
		return -1;
	}
	if (s->be->open(images, n, o, &s->h, err) < 0) {
		s->be->close(s->h, false, NULL);
		release(s);
		return -1;
	}
	*s_ret = s;
	return 0;
}

const struct img_backend *
img_session_backend(const struct img_session *s)
{
	return s->be;
}

void *
img_session_handle(const struct img_session *s)
{
	return s->h;
}

const char *
img_backend_name(const struct img_session *s)
{
	return s->be->name;
}

int
img_find_windows(struct img_session *s, struct kp_error *err)
{
	return s->be->find_windows(s->h, err);
}

struct img_root *
img_roots(const struct img_session *s, size_t *n)
{
	return s->be->roots(s->h, n);
}

const struct img_locked *
img_locked(const struct img_session *s, size_t *n)
{
	return s->be->locked(s->h, n);
}

const char *
img_name(const struct img_session *s, size_t i)
{
	return i < s->n ? s->names[i] : "?";
}

const char *
img_format(const struct img_session *s, size_t i)
{
	return s->be->format(s->h, i);
}

const char *
img_unwritable(struct img_session *s, const struct img_root *r)
{
	return s->be->unwritable(s->h, r);
}

int
img_make_writable(struct img_session *s, struct img_root *r,
		  struct kp_error *err)
{
	return s->be->make_writable(s->h, r, err);
}

char *
img_path(struct img_session *s, const struct img_root *r, const char *path,
	 bool *exists, struct kp_error *err)
{
	return s->be->path(s->h, r, path, exists, err);
}

char **
img_ls(struct img_session *s, const char *guest, struct kp_error *err)
{
	return s->be->list(s->h, guest, err);
}

int
img_download(struct img_session *s, const char *guest, const char *local,
	     struct kp_error *err)
{
	return s->be->download(s->h, guest, local, err);
}

int
img_replace(struct img_session *s, const char *guest, const char *local,
	    unsigned flags, struct kp_error *err)
{
	return s->be->replace_file(s->h, guest, local, flags, err);
}

int
img_replace_data(struct img_session *s, const char *guest, const void *data,
		 size_t len, unsigned flags, struct kp_error *err)
{
	return s->be->replace(s->h, guest, data, len, flags, err);
}

int
img_remove(struct img_session *s, const char *guest, struct kp_error *err)
{
	return s->be->remove(s->h, guest, err);
}

char *
img_read(struct img_session *s, const char *guest, size_t max, size_t *len,
	 struct kp_error *err)
{
	return s->be->read(s->h, guest, max, len, err);
}

int
img_mkdir(struct img_session *s, const char *guest, bool check_only,
	  struct kp_error *err)
{
	return s->be->mkdir(s->h, guest, check_only, err);
}

char *
img_local_path(struct img_session *s, size_t image, const char *name)
{
	char *p = NULL;

	/* Images may be prepared at once (prep/batch.c). */
	if (asprintf(&p, "%s/%zu/%u-%s", s->tmpdir, image,
		     __atomic_fetch_add(&s->seq, 1, __ATOMIC_RELAXED),
		     name) < 0)
		return NULL;
	return p;
}

struct hive_server *
img_hive_server(struct img_session *s, size_t image)
{
	return image < s->n ? s->hs[image] : NULL;
}

const char *
img_hives_fence(struct img_session *s)
{
	return s->n ? hive_server_fence(s->hs[0]) : NULL;
}

int
img_close(struct img_session *s, bool ok, struct kp_error *err)
{
	struct kp_error ignored = KP_ERROR_INIT;
	int r;

	if (s == NULL)
		return 0;
	r = s->be->close(s->h, ok, err ? err : &ignored);
	release(s);
	return r;
}

int
img_guest_split(const char *guest, size_t nroots, size_t *k,
		const char **rel, struct kp_error *err)
{
	char *end;
	unsigned long v;

	if (strncmp(guest, "/r", 2) != 0 || guest[2] < '0' || guest[2] > '9')
		return kp_fail(err, KP_ERR_FAIL, "bad guest path '%s'", guest);
	v = strtoul(guest + 2, &end, 10);
	if ((*end != '/' && *end != '\0') || v >= nroots)
		return kp_fail(err, KP_ERR_FAIL, "bad guest path '%s'", guest);
	*k = v;
	while (*end == '/')
		end++;
	*rel = end;
	return 0;
}

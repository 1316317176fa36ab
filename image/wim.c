/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The WIM backend behind the table of backend.h: each WIM file in its own
 * sandboxed wimlib worker (wimworker.h).  Every image (index) of a WIM
 * that holds Windows is a root: the K-th found is /rK in guest paths, its
 * device "index N".  What is written stays in the worker's memory until
 * close, which writes each WIM once: appended in place (wimlib writes the
 * new resources, lookup table and XML data after the old ones and the
 * header last, so that an interrupted write leaves the WIM as it was), or
 * into a new WIM (the overlay), then reads it back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "wimworker.h"
#include "lib/buf.h"
#include "lib/fileio.h"

/* The largest file read or written whole (a hive). */
#define WIM_FILE_MAX ((size_t)1 << 30)

struct wmap {
	size_t image;		/* the file (its worker) */
	unsigned index;
};

struct wimb {
	struct img_opts o;
	char *const *names;
	size_t n;
	size_t *file;		/* image I is file FILE[I] */
	size_t nfiles;
	struct wim_worker **w;	/* one per file */
	size_t *changed;	/* per file: writes made in its worker */
	char **dirs;		/* each worker's scratch directory */
	struct img_root *roots;
	struct wmap *map;
	size_t nroots;
	struct img_locked *none;	/* the images without Windows */
	size_t nnone;
	bool found;
};

static int w_close(void *h, bool ok, struct kp_error *err);

/* A WIM's overlay is a whole new WIM, not a qcow2 overlay: its name must
 * say so, or a tool (or a person) would take it for a disk image. */
static bool
wim_named(const char *path)
{
	size_t n = strlen(path);

	return n > 4 && strcasecmp(path + n - 4, ".wim") == 0;
}

static int
w_open(char *const *images, size_t n, const struct img_opts *o, void **h,
       struct kp_error *err)
{
	struct wimb *b;
	size_t i, k;

	*h = NULL;
	if (n == 0)
		return kp_fail(err, KP_ERR_INVALID, "no image");
	/* Refused by a dry run too, where the write would be. */
	if (o->overlay && !wim_named(o->overlay))
		return kp_fail(err, KP_ERR_INVALID, "'%s': the overlay of a "
			       "WIM file is a new WIM file, holding every "
			       "image of '%s' with the changes: name it .wim",
			       o->overlay, images[0]);
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return kp_fail_oom(err);
	*h = b;
	b->o = *o;
	b->names = images;
	b->n = n;
	b->file = calloc(n, sizeof(*b->file));
	b->w = calloc(n, sizeof(*b->w));
	b->dirs = calloc(n, sizeof(*b->dirs));
	b->changed = calloc(n, sizeof(*b->changed));
	if (b->file == NULL || b->w == NULL || b->dirs == NULL ||
	    b->changed == NULL)
		return kp_fail_oom(err);
	/* One worker per file, however many of its images are opened. */
	for (i = 0; i < n; i++) {
		for (k = 0; k < i; k++)
			if (strcmp(images[k], images[i]) == 0)
				break;
		b->file[i] = k < i ? b->file[k] : b->nfiles++;
		if (k < i)
			continue;
		if (o->overlay && b->nfiles > 1)
			return kp_fail(err, KP_ERR_INVALID, "an overlay is "
				       "made for a single image only");
		if ((b->dirs[b->file[i]] = kp_mkdtemp(err)) == NULL)
			return -1;
		if (wimw_open(images[i], b->dirs[b->file[i]],
			      o->readonly ? NULL : o->overlay, !o->readonly,
			      o->timeout_s, &b->w[b->file[i]], err) < 0) {
			if (strncmp(err->msg, "'", 1) != 0)
				kp_error_prefix(err, "'%s'", images[i]);
			return -1;
		}
	}
	return 0;
}

static int w_path_at(struct wimb *b, size_t image, unsigned index,
		     const char *mnt, const char *path, char **out,
		     bool *exists, struct kp_error *err);

static int
w_find_windows(void *h, struct kp_error *err)
{
	struct wimb *b = h;
	struct wim_info *info;
	size_t i, f;

	if (b->found)
		return 0;
	info = calloc(b->nfiles ? b->nfiles : 1, sizeof(*info));
	b->roots = calloc(b->n, sizeof(*b->roots));
	b->map = calloc(b->n, sizeof(*b->map));
	b->none = calloc(b->n, sizeof(*b->none));
	if (info == NULL || b->roots == NULL || b->map == NULL ||
	    b->none == NULL) {
		free(info);
		return kp_fail_oom(err);
	}
	for (f = 0; f < b->nfiles; f++) {
		unsigned want[WIM_IMAGES_MAX];
		size_t nwant = 0;

		/* Only the indexes opened are looked into. */
		for (i = 0; i < b->n && nwant < WIM_IMAGES_MAX; i++)
			if (b->file[i] == f && b->o.wim_index_of)
				want[nwant++] = b->o.wim_index_of[i];
		if (wimw_info(b->w[f], want, nwant, &info[f], err) < 0) {
			for (i = 0; i < b->n; i++)
				if (b->file[i] == f) {
					kp_error_prefix(err, "'%s'",
							b->names[i]);
					break;
				}
			goto fail;
		}
	}
	for (i = 0; i < b->n; i++) {
		const struct wim_info *fi = &info[b->file[i]];
		unsigned index = b->o.wim_index_of ? b->o.wim_index_of[i] : 1;
		const struct wim_image *m;
		struct img_root *v = &b->roots[b->nroots];
		char mnt[32];

		if (index == 0 || index > fi->nimages) {
			kp_fail(err, KP_ERR_INVALID, "'%s': no image %u (it "
				"holds %zu)", b->names[i], index, fi->nimages);
			goto fail;
		}
		m = &fi->images[index - 1];
		/* Said by the batch: passed over, or an error where the
		 * index was named. */
		if (!m->windows) {
			struct img_locked *l = &b->none[b->nnone++];

			*l = (struct img_locked){
				.image = i,
				.no_windows = true,
				.why = strdup("no Windows in this image (no "
					      "\\Windows\\System32\\config\\"
					      "SOFTWARE)"),
				.remedy = KP_REMEDY_CHOOSE_INDEX,
				.wim_name = strdup(m->name),
			};
			if (asprintf(&l->device, "index %u", index) < 0)
				l->device = NULL;
			if (l->why == NULL || l->wim_name == NULL ||
			    l->device == NULL) {
				kp_fail_oom(err);
				goto fail;
			}
			continue;
		}
		snprintf(mnt, sizeof(mnt), "/r%zu", b->nroots);
		v->image = i;
		v->wim_index = index;
		if (asprintf(&v->device, "index %u", index) < 0)
			v->device = NULL;
		v->mnt = strdup(mnt);
		v->wim_name = strdup(m->name);
		v->wim_edition = strdup(m->edition);
		b->map[b->nroots].image = b->file[i];
		b->map[b->nroots].index = index;
		b->nroots++;
		if (v->device == NULL || v->mnt == NULL ||
		    v->wim_name == NULL || v->wim_edition == NULL) {
			kp_fail_oom(err);
			goto fail;
		}
		if (w_path_at(b, b->file[i], index, mnt, "Windows",
			      &v->systemroot, NULL, err) < 0)
			goto fail;
	}
	for (f = 0; f < b->nfiles; f++)
		wimw_info_release(b->w[f], &info[f]);
	free(info);
	b->found = true;
	return 0;
fail:
	for (f = 0; f < b->nfiles; f++)
		if (info[f].images || info[f].compression)
			wimw_info_release(b->w[f], &info[f]);
	free(info);
	return -1;
}

static struct img_root *
w_roots(void *h, size_t *n)
{
	struct wimb *b = h;

	*n = b->nroots;
	return b->roots;
}

static const struct img_locked *
w_locked(void *h, size_t *n)
{
	struct wimb *b = h;

	*n = b->nnone;
	return b->none;
}

static const char *
w_unwritable(void *h, const struct img_root *r)
{
	(void)h;
	(void)r;
	return NULL;
}

static int
w_make_writable(void *h, struct img_root *r, struct kp_error *err)
{
	struct wimb *b = h;

	if (r < b->roots || r >= b->roots + b->nroots)
		return kp_fail(err, KP_ERR_FAIL, "not a root of this session");
	if (b->o.readonly)
		return kp_fail(err, KP_ERR_FAIL, "opened read-only");
	r->rw = true;
	return 0;
}

/* Guest path "/rK/REST" to (root K, "REST"). */
static int
split(struct wimb *b, const char *guest, size_t *k, const char **rel,
      struct kp_error *err)
{
	return img_guest_split(guest, b->nroots, k, rel, err);
}

/* PATH under MNT in its real case, one listing per name (see direct.c's
 * d_path: ASCII case folding only). */
static int
w_path_at(struct wimb *b, size_t image, unsigned index, const char *mnt,
	  const char *path, char **res, bool *exists, struct kp_error *err)
{
	struct buf out = BUF_INIT;
	const char *p = path;
	size_t mlen = strlen(mnt);
	bool there = true;

	buf_addf(&out, "%s", mnt);
	while (*p == '/')
		p++;
	while (*p) {
		size_t len = strcspn(p, "/"), i;
		const char *match = NULL;
		char **names = NULL;

		if (there) {
			const char *at = out.len > mlen ?
					 buf_str(&out) + mlen + 1 : "";

			names = wimw_ls(b->w[image], index, at, err);
			if (names == NULL)
				kp_error_clear(err);
		}
		for (i = 0; names && names[i] && !match; i++)
			if (strlen(names[i]) == len &&
			    strncasecmp(names[i], p, len) == 0)
				match = names[i];
		if (match)
			buf_addf(&out, "/%s", match);
		else
			buf_addf(&out, "/%.*s", (int)len, p);
		there = match != NULL;
		img_list_free(names);
		p += len;
		while (*p == '/')
			p++;
	}
	if (exists)
		*exists = there;
	*res = buf_detach(&out, NULL);
	return *res ? 0 : kp_fail_oom(err);
}

static char *
w_path(void *h, const struct img_root *r, const char *path, bool *exists,
       struct kp_error *err)
{
	struct wimb *b = h;
	char *res = NULL;
	size_t k;

	if (r < b->roots || r >= b->roots + b->nroots) {
		kp_fail(err, KP_ERR_FAIL, "not a root of this session");
		return NULL;
	}
	k = (size_t)(r - b->roots);
	if (w_path_at(b, b->map[k].image, b->map[k].index, r->mnt, path, &res,
		      exists, err) < 0)
		return NULL;
	return res;
}

static char **
w_list(void *h, const char *guest, struct kp_error *err)
{
	struct wimb *b = h;
	const char *rel;
	size_t k = 0;

	if (split(b, guest, &k, &rel, err) < 0)
		return NULL;
	return wimw_ls(b->w[b->map[k].image], b->map[k].index, rel, err);
}

static int
copy_to(struct wimb *b, const char *guest, size_t max, int fd,
	struct kp_error *err)
{
	const char *rel;
	size_t k = 0;

	if (split(b, guest, &k, &rel, err) < 0)
		return -1;
	if (wimw_copy(b->w[b->map[k].image], b->map[k].index, rel, max, fd,
		      err) < 0) {
		kp_error_prefix(err, "'%s'", guest);
		return -1;
	}
	return 0;
}

static char *
w_read(void *h, const char *guest, size_t max, size_t *len,
       struct kp_error *err)
{
	struct buf b = BUF_INIT;
	int fd = memfd_create("kmsprep-wim", MFD_CLOEXEC);
	struct stat st;
	size_t off = 0;

	if (fd < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno, "memfd");
		return NULL;
	}
	if (copy_to(h, guest, max, fd, err) < 0)
		goto fail;
	/* wimw_copy checked its size against MAX. */
	if (fstat(fd, &st) < 0 || buf_grow(&b, (size_t)st.st_size + 1) < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno, "memfd");
		goto fail;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = pread(fd, b.data + off, (size_t)st.st_size - off,
				  (off_t)off);

		if (n <= 0) {
			kp_fail_errno(err, KP_ERR_FAIL, n < 0 ? errno : EIO,
				      "memfd");
			goto fail;
		}
		off += (size_t)n;
	}
	b.len = off;
	close(fd);
	return buf_detach(&b, len);
fail:
	close(fd);
	buf_release(&b);
	return NULL;
}

static int
w_download(void *h, const char *guest, const char *local,
	   struct kp_error *err)
{
	int fd, r;

	fd = kp_scratch_create(local, err);
	if (fd < 0)
		return -1;
	r = copy_to(h, guest, WIM_FILE_MAX, fd, err);
	if (close(fd) < 0 && r == 0)
		r = kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s'", local);
	if (r < 0)
		unlink(local);
	return r;
}

static int
w_replace(void *h, const char *guest, const void *data, size_t len,
	  unsigned flags, struct kp_error *err)
{
	struct wimb *b = h;
	const char *rel;
	size_t k = 0;

	if (split(b, guest, &k, &rel, err) < 0)
		return -1;
	if (!b->roots[k].rw)
		return kp_fail(err, KP_ERR_FAIL, "'%s': not writable", guest);
	if (wimw_put(b->w[b->map[k].image], b->map[k].index, rel, data, len,
		     flags & IMG_SECRET ? WIM_SECRET : 0, err) < 0) {
		kp_error_prefix(err, "'%s'", guest);
		return -1;
	}
	b->changed[b->map[k].image]++;
	return 0;
}

static int
w_replace_file(void *h, const char *guest, const char *local, unsigned flags,
	       struct kp_error *err)
{
	struct buf b = BUF_INIT;
	int r;

	if (kp_read_file(local, WIM_FILE_MAX, &b, err) < 0)
		return -1;
	r = w_replace(h, guest, b.data, b.len, flags, err);
	buf_wipe(&b);
	return r;
}

static int
w_remove(void *h, const char *guest, struct kp_error *err)
{
	struct wimb *b = h;
	const char *rel;
	size_t k = 0;

	if (split(b, guest, &k, &rel, err) < 0)
		return -1;
	if (wimw_remove(b->w[b->map[k].image], b->map[k].index, rel,
			err) < 0) {
		kp_error_prefix(err, "cannot remove '%s'", guest);
		return -1;
	}
	b->changed[b->map[k].image]++;
	return 0;
}

static int
w_mkdir(void *h, const char *guest, bool check_only, struct kp_error *err)
{
	struct wimb *b = h;
	struct buf at = BUF_INIT;
	const char *rel, *p;
	size_t k = 0;
	int r = 0;

	if (split(b, guest, &k, &rel, err) < 0)
		return -1;
	if (!check_only) {
		r = wimw_mkdir(b->w[b->map[k].image], b->map[k].index, rel,
			       err);
		if (r < 0)
			kp_error_prefix(err, "cannot create '%s'", guest);
		else
			b->changed[b->map[k].image]++;
		return r;
	}
	/* Each name that exists must be a directory. */
	for (p = rel; *p && r == 0;) {
		size_t len = strcspn(p, "/"), i;
		char **names;
		bool found = false;

		names = wimw_ls(b->w[b->map[k].image], b->map[k].index,
				buf_str(&at), err);
		if (names == NULL) {
			if (err->status == KP_ERR_INPUT &&
			    strstr(err->msg, "not a directory"))
				kp_fail(err, KP_ERR_FAIL, "%.*s/%s is not a "
					"directory",
					(int)(strcspn(guest + 1, "/") + 1),
					guest, buf_str(&at));
			r = -1;
			break;
		}
		for (i = 0; names[i] && !found; i++)
			found = strlen(names[i]) == len &&
				strncasecmp(names[i], p, len) == 0;
		img_list_free(names);
		if (!found)
			break;
		buf_addf(&at, "%s%.*s", at.len ? "/" : "", (int)len, p);
		p += len;
		while (*p == '/')
			p++;
		if (*p == '\0') {
			names = wimw_ls(b->w[b->map[k].image],
					b->map[k].index, buf_str(&at), err);
			if (names == NULL)
				r = -1;
			img_list_free(names);
		}
	}
	buf_release(&at);
	if (r < 0)
		kp_error_prefix(err, "cannot create '%s'", guest);
	return r;
}

static const char *
w_format(void *h, size_t i)
{
	(void)h;
	(void)i;
	return "wim";
}

static int
w_close(void *h, bool ok, struct kp_error *err)
{
	struct kp_error e2 = KP_ERROR_INIT;
	struct wimb *b = h;
	size_t f, i;
	int r = 0;

	if (b == NULL)
		return 0;
	for (f = 0; f < b->nfiles; f++) {
		/* The one slow step of a write: compressing what changed. */
		if (ok && !b->o.readonly && b->w[f] && b->o.notice &&
		    (b->changed[f] || b->o.overlay)) {
			char msg[600];

			for (i = 0; i < b->n && b->file[i] != f; i++)
				;
			snprintf(msg, sizeof(msg), "'%s': writing %s and "
				 "reading it back", i < b->n ? b->names[i] :
				 "?", b->o.overlay ? "the new WIM" :
				 "the changes at the WIM's end");
			b->o.notice(b->o.ud, msg);
		}
		if (b->w[f] && wimw_close(b->w[f], ok && !b->o.readonly,
					  b->o.readonly ? NULL : b->o.overlay,
					  r == 0 && err ? err : &e2) < 0) {
			for (i = 0; i < b->n; i++)
				if (b->file[i] == f && r == 0 && err) {
					kp_error_prefix(err, "'%s'",
							b->names[i]);
					break;
				}
			r = -1;
		}
		if (b->dirs[f])
			kp_rmtree(b->dirs[f]);
		free(b->dirs[f]);
	}
	img_roots_free(b->roots, b->nroots);
	img_locked_free(b->none, b->nnone);
	free(b->map);
	free(b->file);
	free(b->changed);
	free(b->w);
	free(b->dirs);
	free(b);
	return r;
}

const struct img_backend img_backend_wim = {
	.name = "wim",
	.open = w_open,
	.find_windows = w_find_windows,
	.roots = w_roots,
	.locked = w_locked,
	.unwritable = w_unwritable,
	.make_writable = w_make_writable,
	.path = w_path,
	.list = w_list,
	.read = w_read,
	.replace = w_replace,
	.replace_file = w_replace_file,
	.remove = w_remove,
	.mkdir = w_mkdir,
	.close = w_close,
	.download = w_download,
	.format = w_format,
	/* The images of one file share its worker. */
	.parallel = false,
	.deferred = true,	/* one append at close */
};

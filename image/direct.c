/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The direct backend behind the table of backend.h: each image in its own
 * sandboxed worker (worker.h), which runs the ntfsvol_* calls of ntfsvol.h.
 *
 * Names are the appliance's, so that --root and reports read the same
 * whichever backend ran: image I is /dev/sda, /dev/sdb, ... and its
 * partition N /dev/sdaN (a filesystem on the whole disk: /dev/sda); the
 * K-th installation found is rooted at /rK in guest paths, and
 * "/rK/Windows/System32" is (that root, "Windows/System32") to the worker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "backend.h"
#include "worker.h"
#include "imgio.h"
#include "uri.h"
#include "lib/buf.h"
#include "lib/fileio.h"

/* The largest file read or written whole (a hive is at most a few hundred
 * MB; the worker's messages stop at SB_MSG_MAX). */
#define DIRECT_FILE_MAX ((size_t)1 << 30)

struct dmap {
	size_t image;		/* the worker */
	size_t root;		/* the root's index in that worker */
};

struct direct {
	struct img_opts o;
	char *const *names;	/* the images, as the caller keeps them */
	size_t n;
	struct worker_session **w;	/* one worker per image */
	char **formats;
	struct img_root *roots;
	struct dmap *map;	/* one per root */
	size_t nroots;
	struct img_locked *locked;
	size_t nlocked;
	bool found;
};

static int d_close(void *h, bool ok, struct kp_error *err);

/* /dev/sda, ..., /dev/sdz, /dev/sdaa, ... as Linux and libguestfs name
 * drives, with partition PART (0: none). */
static void
drive_name(size_t i, unsigned part, char *out, size_t sz)
{
	char letters[8];
	size_t n = 0, k;
	char tmp[8];

	i++;
	while (i && n < sizeof(tmp)) {
		i--;
		tmp[n++] = (char)('a' + i % 26);
		i /= 26;
	}
	for (k = 0; k < n; k++)
		letters[k] = tmp[n - 1 - k];
	letters[n] = '\0';
	if (part)
		snprintf(out, sz, "/dev/sd%s%u", letters, part);
	else
		snprintf(out, sz, "/dev/sd%s", letters);
}

static int
d_open(char *const *images, size_t n, const struct img_opts *o, void **h,
       struct kp_error *err)
{
	struct direct *d;
	size_t i;

	*h = NULL;
	if (n == 0)
		return kp_fail(err, KP_ERR_INVALID, "no image");
	if (o->overlay && n != 1)
		return kp_fail(err, KP_ERR_INVALID,
			       "an overlay is made for a single image only");
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return kp_fail_oom(err);
	*h = d;
	d->o = *o;
	d->names = images;
	d->w = calloc(n, sizeof(*d->w));
	d->formats = calloc(n, sizeof(*d->formats));
	if (d->w == NULL || d->formats == NULL)
		return kp_fail_oom(err);
	d->n = n;
	for (i = 0; i < n; i++) {
		/* A dry run reads the image itself: the overlay is made only
		 * when something will be written to it. */
		struct imgio_opts dro = {
			.format = o->format, .readonly = o->readonly,
			.overlay = o->readonly ? NULL : o->overlay,
			.allow_refs = o->allow_refs,
			.timeout_s = o->timeout_s, .dry_run = o->dry_run };
		bool uri = imgio_is_uri(images[i]);
		struct img_uri u;
		int r = uri ? 0 : img_uri_parse(images[i], &u, err);

		if (r < 0)
			return -1;
		if (r == 1) {
			img_uri_release(&u);
			/* Only nbd is read here; the rest through qemu. */
			kp_fail(err, KP_ERR_UNAVAILABLE, "'%s': the direct "
				"backend reads nbd:// and nbd+unix:// drives "
				"only", images[i]);
			return kp_error_remedy(err, KP_REMEDY_APPLIANCE);
		}
		if (!uri && access(images[i], F_OK) < 0)
			return kp_fail(err, KP_ERR_INPUT, "'%s': cannot open: "
				       "no such file", images[i]);
		/* Whether it can be written: the session checked. */
		if (worker_open(images[i], &dro, 0, &d->w[i], err) < 0) {
			if (strncmp(err->msg, "'", 1) != 0)
				kp_error_prefix(err, "'%s'", images[i]);
			return -1;
		}
		d->formats[i] = strdup(worker_format(d->w[i]));
		if (d->formats[i] == NULL)
			return kp_fail_oom(err);
	}
	return 0;
}

static int
add_locked(struct direct *d, size_t image, unsigned part, bool bitlocker,
	   const char *why, struct kp_error *err)
{
	struct img_locked *l = realloc(d->locked,
				       (d->nlocked + 1) * sizeof(*l));
	char dev[32];

	if (l == NULL)
		return kp_fail_oom(err);
	d->locked = l;
	l += d->nlocked++;
	drive_name(image, part, dev, sizeof(dev));
	*l = (struct img_locked){
		.image = image,
		.bitlocker = bitlocker,
		.remedy = !bitlocker ? KP_REMEDY_NONE :
			  d->o.bitlocker_key_file ? KP_REMEDY_APPLIANCE :
			  KP_REMEDY_BITLOCKER_KEY,
		.device = strdup(dev),
		.why = strdup(why),
	};
	return l->device && l->why ? 0 : kp_fail_oom(err);
}

static int
d_find_windows(void *h, struct kp_error *err)
{
	struct direct *d = h;
	size_t i, k, nr, nl, total = 0;

	if (d->found)
		return 0;
	for (i = 0; i < d->n; i++) {
		if (worker_find_windows(d->w[i], err) < 0) {
			kp_error_prefix(err, "'%s'", d->names[i]);
			return -1;
		}
		worker_roots(d->w[i], &nr);
		total += nr;
	}
	d->roots = calloc(total ? total : 1, sizeof(*d->roots));
	d->map = calloc(total ? total : 1, sizeof(*d->map));
	if (d->roots == NULL || d->map == NULL)
		return kp_fail_oom(err);
	for (i = 0; i < d->n; i++) {
		const struct ntfsvol_root *r = worker_roots(d->w[i], &nr);
		const struct ntfsvol_locked *l = worker_locked(d->w[i], &nl);

		for (k = 0; k < nr; k++) {
			struct img_root *v = &d->roots[d->nroots];
			char dev[32], mnt[32];

			drive_name(i, r[k].part, dev, sizeof(dev));
			snprintf(mnt, sizeof(mnt), "/r%zu", d->nroots);
			v->image = i;
			v->probe = (int)r[k].state;
			v->repair = (r[k].mirror ? IMG_REPAIR_MIRROR : 0) |
				    (r[k].dangling ? IMG_REPAIR_ENTRY : 0);
			v->device = strdup(dev);
			v->mnt = strdup(mnt);
			if (asprintf(&v->systemroot, "%s%s%s", mnt,
				     r[k].systemroot[0] == '/' ? "" : "/",
				     r[k].systemroot) < 0)
				v->systemroot = NULL;
			d->map[d->nroots].image = i;
			d->map[d->nroots].root = k;
			d->nroots++;
			if (v->device == NULL || v->mnt == NULL ||
			    v->systemroot == NULL)
				return kp_fail_oom(err);
		}
		for (k = 0; k < nl; k++) {
			char why[400];

			if (l[k].bitlocker)
				snprintf(why, sizeof(why), "%s: %s", l[k].why,
					 d->o.bitlocker_key_file ?
					 "the direct backend cannot unlock it" :
					 "locked");
			else
				snprintf(why, sizeof(why), "%s", l[k].why);
			if (add_locked(d, i, l[k].part, l[k].bitlocker, why,
				       err) < 0)
				return -1;
		}
	}
	d->found = true;
	return 0;
}

static struct img_root *
d_roots(void *h, size_t *n)
{
	struct direct *d = h;

	*n = d->nroots;
	return d->roots;
}

static const struct img_locked *
d_locked(void *h, size_t *n)
{
	struct direct *d = h;

	*n = d->nlocked;
	return d->locked;
}

static const char *
d_unwritable(void *h, const struct img_root *r)
{
	struct ntfsvol_root dr = { 0 };

	(void)h;
	dr.state = (enum ntfsvol_state)r->probe;
	return ntfsvol_root_unwritable(&dr);
}

static int
root_index(struct direct *d, const struct img_root *r, size_t *k,
	   struct kp_error *err)
{
	if (r < d->roots || r >= d->roots + d->nroots)
		return kp_fail(err, KP_ERR_FAIL, "not a root of this session");
	*k = (size_t)(r - d->roots);
	return 0;
}

static int
d_make_writable(void *h, struct img_root *r, struct kp_error *err)
{
	struct direct *d = h;
	unsigned mirror = 0;
	size_t k = 0;

	if (root_index(d, r, &k, err) < 0)
		return -1;
	if (r->rw)
		return 0;
	if (worker_make_writable(d->w[d->map[k].image], d->map[k].root,
				 &mirror, err) < 0) {
		kp_error_prefix(err, "%s", r->device);
		return -1;
	}
	r->rw = true;
	r->repair &= ~IMG_REPAIR_MIRROR;
	if (mirror && d->o.warn) {
		char msg[600];

		snprintf(msg, sizeof(msg), "'%s': %s: $MFTMirr differed from "
			 "$MFT in %u record%s, as an interrupted write leaves "
			 "it; repaired from $MFT, as ntfsfix does",
			 d->names[r->image], r->device, mirror,
			 mirror == 1 ? "" : "s");
		d->o.warn(d->o.ud, msg);
	}
	return 0;
}

static int
d_repair(void *h, struct img_root *r, struct kp_error *err)
{
	struct direct *d = h;
	unsigned fixed = 0;
	size_t k = 0;

	if (root_index(d, r, &k, err) < 0)
		return -1;
	if (!(r->repair & IMG_REPAIR_ENTRY))
		return 0;
	if (worker_repair(d->w[d->map[k].image], d->map[k].root, &fixed,
			  err) < 0) {
		kp_error_prefix(err, "%s", r->device);
		return -1;
	}
	r->repair &= ~IMG_REPAIR_ENTRY;
	if (fixed && d->o.warn) {
		char msg[600];

		snprintf(msg, sizeof(msg), "'%s': %s: removed %u directory "
			 "entr%s of transaction logs that named no file, as an "
			 "interrupted create leaves them", d->names[r->image],
			 r->device, fixed, fixed == 1 ? "y" : "ies");
		d->o.warn(d->o.ud, msg);
	}
	return 0;
}

/* Guest path "/rK/REST" to (root K, "REST"). */
static int
split(struct direct *d, const char *guest, size_t *k, const char **rel,
      struct kp_error *err)
{
	return img_guest_split(guest, d->nroots, k, rel, err);
}

/*
 * PATH under R in its real case, one directory listing per name: the
 * worker matches names in any case but answers with what was asked, and
 * reports must show the image's own names.  ASCII case folding only: a
 * name that differs from the image's in a non-ASCII letter is taken as
 * missing (what kmsprep looks for is all ASCII).
 */
static char *
d_path(void *h, const struct img_root *r, const char *path, bool *exists,
       struct kp_error *err)
{
	struct direct *d = h;
	struct buf out = BUF_INIT;
	const char *p = path;
	size_t k = 0, mlen = strlen(r->mnt);
	bool there = true;

	if (root_index(d, r, &k, err) < 0)
		return NULL;
	buf_addf(&out, "%s", r->mnt);
	while (*p == '/')
		p++;
	while (*p) {
		size_t len = strcspn(p, "/"), i;
		const char *match = NULL;
		char **names = NULL;

		if (there) {
			names = worker_ls(d->w[d->map[k].image], d->map[k].root,
					  out.len > mlen ? buf_str(&out) + mlen + 1 :
						       "", err);
			/* Not a directory (or not readable as one): what
			 * follows is missing. */
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
	return buf_detach(&out, NULL);
}

static char **
d_list(void *h, const char *guest, struct kp_error *err)
{
	struct direct *d = h;
	const char *rel;
	size_t k = 0;

	if (split(d, guest, &k, &rel, err) < 0)
		return NULL;
	return worker_ls(d->w[d->map[k].image], d->map[k].root, rel, err);
}

static char *
d_read(void *h, const char *guest, size_t max, size_t *len,
       struct kp_error *err)
{
	struct direct *d = h;
	struct buf b = BUF_INIT;
	const char *rel;
	size_t k = 0;

	if (split(d, guest, &k, &rel, err) < 0)
		return NULL;
	if (worker_read(d->w[d->map[k].image], d->map[k].root, rel, max, &b,
			err) < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, len);
}

static int
d_download(void *h, const char *guest, const char *local,
	   struct kp_error *err)
{
	struct direct *d = h;
	const char *rel;
	size_t k = 0;
	int fd, r;

	if (split(d, guest, &k, &rel, err) < 0)
		return -1;
	fd = kp_scratch_create(local, err);
	if (fd < 0)
		return -1;
	r = worker_copy(d->w[d->map[k].image], d->map[k].root, rel,
			DIRECT_FILE_MAX, fd, err);
	if (close(fd) < 0 && r == 0)
		r = kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s'", local);
	if (r < 0)
		unlink(local);
	return r;
}

static int
d_replace(void *h, const char *guest, const void *data, size_t len,
	  unsigned flags, struct kp_error *err)
{
	struct direct *d = h;
	const char *rel;
	size_t k = 0;

	if (split(d, guest, &k, &rel, err) < 0)
		return -1;
	if (worker_replace(d->w[d->map[k].image], d->map[k].root, rel, data, len,
			   flags & IMG_SECRET ? DR_SECRET : 0, err) < 0) {
		kp_error_prefix(err, "'%s'", guest);
		return -1;
	}
	return 0;
}

static int
d_replace_file(void *h, const char *guest, const char *local, unsigned flags,
	       struct kp_error *err)
{
	struct buf b = BUF_INIT;
	int r;

	if (kp_read_file(local, DIRECT_FILE_MAX, &b, err) < 0)
		return -1;
	r = d_replace(h, guest, b.data, b.len, flags, err);
	buf_wipe(&b);
	return r;
}

/* The writes go into the existing $DATA of the hive and its log,
 * through the worker (ntfsvol_journal); a missing log gets the hive's
 * descriptor. */
static int
d_journal(void *h, const char *guest, const char *guest_log,
	  const struct journal_writes *p, struct kp_error *err)
{
	struct direct *d = h;
	const char *rel, *rel_log;
	size_t k = 0, kl = 0;
	uint64_t written = 0;

	if (split(d, guest, &k, &rel, err) < 0 ||
	    split(d, guest_log, &kl, &rel_log, err) < 0)
		return -1;
	if (kl != k)
		return kp_fail(err, KP_ERR_FAIL, "'%s': the log is on another "
			       "volume", guest_log);
	if (worker_journal(d->w[d->map[k].image], d->map[k].root, rel, rel_log,
			   NULL, 0, p, &written, err) < 0) {
		kp_error_prefix(err, "'%s'", guest);
		return -1;
	}
	return 0;
}

static int
d_remove(void *h, const char *guest, struct kp_error *err)
{
	struct direct *d = h;
	const char *rel;
	size_t k = 0;

	if (split(d, guest, &k, &rel, err) < 0)
		return -1;
	if (worker_remove(d->w[d->map[k].image], d->map[k].root, rel, err) < 0) {
		kp_error_prefix(err, "cannot remove '%s'", guest);
		return -1;
	}
	return 0;
}

static int
d_mkdir(void *h, const char *guest, bool check_only, struct kp_error *err)
{
	struct direct *d = h;
	struct buf at = BUF_INIT;
	const char *rel, *p;
	size_t k = 0;
	int r = 0;

	if (split(d, guest, &k, &rel, err) < 0)
		return -1;
	if (!check_only) {
		r = worker_mkdir(d->w[d->map[k].image], d->map[k].root, rel, err);
		if (r < 0)
			kp_error_prefix(err, "cannot create '%s'", guest);
		return r;
	}
	/* Each name that exists must be a directory (listable); the first
	 * missing one ends the check. */
	for (p = rel; *p && r == 0;) {
		size_t len = strcspn(p, "/");
		char **names, *want;
		bool found = false;
		size_t i;

		names = worker_ls(d->w[d->map[k].image], d->map[k].root,
				  buf_str(&at), err);
		if (names == NULL) {
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
		want = strdup(buf_str(&at));
		names = want ? worker_ls(d->w[d->map[k].image], d->map[k].root,
					 want, err) : NULL;
		free(want);
		if (names == NULL && err->status == KP_ERR_INPUT &&
		    strstr(err->msg, "not a directory")) {
			/* A file where a directory must go: a write that
			 * cannot be made, said as the appliance says it
			 * (gfs_mkdir), not bad input. */
			kp_fail(err, KP_ERR_FAIL, "%.*s/%s is not a directory",
				(int)(strcspn(guest + 1, "/") + 1), guest,
				buf_str(&at));
			r = -1;
			break;
		}
		if (names == NULL)
			r = -1;
		img_list_free(names);
		p += len;
		while (*p == '/')
			p++;
	}
	buf_release(&at);
	if (r < 0)
		kp_error_prefix(err, "cannot create '%s'", guest);
	return r;
}

static const char *
d_format(void *h, size_t i)
{
	struct direct *d = h;

	return i < d->n && d->formats[i] ? d->formats[i] : "?";
}

static int
d_close(void *h, bool ok, struct kp_error *err)
{
	struct kp_error e2 = KP_ERROR_INIT;
	struct direct *d = h;
	size_t i;
	int r = 0;

	if (d == NULL)
		return 0;
	for (i = 0; i < d->n; i++) {
		if (d->w[i] && worker_close(d->w[i], ok, r == 0 && err ? err :
					&e2) < 0)
			r = -1;
		free(d->formats[i]);
	}
	img_roots_free(d->roots, d->nroots);
	img_locked_free(d->locked, d->nlocked);
	free(d->map);
	free(d->w);
	free(d->formats);
	free(d);
	return r;
}

const struct img_backend img_backend_direct = {
	.name = "direct",
	.open = d_open,
	.find_windows = d_find_windows,
	.roots = d_roots,
	.locked = d_locked,
	.unwritable = d_unwritable,
	.make_writable = d_make_writable,
	.path = d_path,
	.list = d_list,
	.read = d_read,
	.replace = d_replace,
	.replace_file = d_replace_file,
	.journal = d_journal,
	.remove = d_remove,
	.mkdir = d_mkdir,
	.close = d_close,
	.download = d_download,
	.repair = d_repair,
	.format = d_format,
	.parallel = true,
};

/*
 * The automatic choice: the images are opened read-only in sandboxed
 * workers and searched as a real run would; a volume they cannot look
 * into (a volume manager's partition, BitLocker to unlock, a logical
 * partition behind nbd) is listed as locked and sends the images to the
 * appliance.
 */
int
img_direct_usable(char *const *images, size_t n, const struct img_opts *o,
		  char *why, size_t whysz, struct kp_error *final)
{
	struct img_opts ro = *o;
	struct kp_error err = KP_ERROR_INIT;
	struct direct *d = NULL;
	void *h = NULL;
	size_t i, k;
	int r = 1;

	ro.readonly = true;
	ro.overlay = NULL;
	if (d_open(images, n, &ro, &h, &err) < 0 ||
	    d_find_windows(h, &err) < 0) {
		d_close(h, false, NULL);
		/* What the appliance would meet as well (an NBD server that
		 * cannot be reached, an image in use) is not a reason to
		 * start it. */
		if (err.status == KP_ERR_UNAVAILABLE ||
		    err.status == KP_ERR_REFUSED) {
			*final = err;
			return -1;
		}
		snprintf(why, whysz, "the direct backend cannot read the "
			 "images: %s", err.msg);
		return 0;
	}
	d = h;
	for (i = 0; i < n && r == 1; i++) {
		bool found = false;

		for (k = 0; k < d->nroots; k++)
			found |= d->roots[k].image == i;
		for (k = 0; k < d->nlocked && r == 1; k++) {
			const struct img_locked *l = &d->locked[k];

			if (l->image != i || (l->bitlocker &&
					      !o->bitlocker_key_file))
				continue;
			if (l->bitlocker)
				snprintf(why, whysz, "'%s': %s: BitLocker, to be "
					 "unlocked with the key file", images[i],
					 l->device);
			else
				snprintf(why, whysz, "'%s': %s", images[i],
					 l->why);
			r = 0;
		}
		if (r == 1 && !found && !d->nlocked) {
			snprintf(why, whysz, "'%s': no Windows on a plain NTFS "
				 "volume", images[i]);
			r = 0;
		}
	}
	d_close(h, true, NULL);
	return r;
}

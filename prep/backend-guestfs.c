/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libguestfs appliance as an image backend: prep/image.c behind the
 * table of prep/backend.h. */
#include "backend.h"
#include "gfs.h"

static int
g_open(char *const *images, size_t n, const struct img_opts *o, void **h,
       struct kp_error *err)
{
	struct gfs_session *s = NULL;
	int r = gfs_open(images, n, o, &s, err);

	*h = s;		/* even on failure: close frees what was made */
	return r;
}

static int
g_find_windows(void *h, struct kp_error *err)
{
	return gfs_find_windows(h, err);
}

static struct img_root *
g_roots(void *h, size_t *n)
{
	return gfs_roots(h, n);
}

static const struct img_locked *
g_locked(void *h, size_t *n)
{
	return gfs_locked(h, n);
}

static const char *
g_unwritable(void *h, const struct img_root *r)
{
	(void)h;
	return gfs_root_unwritable(r);
}

static int
g_make_writable(void *h, struct img_root *r, struct kp_error *err)
{
	return gfs_make_writable(h, r, err);
}

static char *
g_path(void *h, const struct img_root *r, const char *path, bool *exists,
       struct kp_error *err)
{
	return gfs_path(h, r, path, exists, err);
}

static char **
g_list(void *h, const char *guest, struct kp_error *err)
{
	return gfs_ls(h, guest, err);
}

static char *
g_read(void *h, const char *guest, size_t max, size_t *len,
       struct kp_error *err)
{
	return gfs_read(h, guest, max, len, err);
}

static int
g_replace(void *h, const char *guest, const void *data, size_t len,
	  unsigned flags, struct kp_error *err)
{
	return gfs_replace_data(h, guest, data, len, flags, err);
}

static int
g_replace_file(void *h, const char *guest, const char *local, unsigned flags,
	       struct kp_error *err)
{
	return gfs_replace(h, guest, local, flags, err);
}

static int
g_journal(void *h, const char *guest, const char *guest_log,
	  const struct journal_plan *p, struct kp_error *err)
{
	return gfs_journal(h, guest, guest_log, p, err);
}

static int
g_remove(void *h, const char *guest, struct kp_error *err)
{
	return gfs_remove(h, guest, err);
}

static int
g_mkdir(void *h, const char *guest, bool check_only, struct kp_error *err)
{
	return gfs_mkdir(h, guest, check_only, err);
}

static int
g_download(void *h, const char *guest, const char *local,
	   struct kp_error *err)
{
	return gfs_download(h, guest, local, err);
}

static const char *
g_format(void *h, size_t i)
{
	return gfs_format(h, i);
}

static int
g_close(void *h, bool ok, struct kp_error *err)
{
	return gfs_close(h, ok, err);
}

const struct img_backend img_backend_guestfs = {
	"appliance", g_open, g_find_windows, g_roots, g_locked, g_unwritable,
	g_make_writable, g_path, g_list, g_read, g_replace, g_replace_file,
	g_journal, g_remove, g_mkdir, g_close, g_download, g_format, false,
};

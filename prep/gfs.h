/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libguestfs appliance backend's operations (prep/image.c), used only
 * through its table (prep/backend-guestfs.c: img_backend_guestfs).  Each
 * is the backend operation of the same name in prep/backend.h; the
 * appliance itself is described in prep/image.h.
 */
#ifndef KP_GFS_H
#define KP_GFS_H

#include "image.h"

struct gfs_session;

int gfs_open(char *const *images, size_t n, const struct img_opts *o,
	     struct gfs_session **s_ret, struct kp_error *err);
int gfs_find_windows(struct gfs_session *s, struct kp_error *err);
struct img_root *gfs_roots(const struct gfs_session *s, size_t *n);
const struct img_locked *gfs_locked(const struct gfs_session *s, size_t *n);
const char *gfs_name(const struct gfs_session *s, size_t i);
const char *gfs_format(const struct gfs_session *s, size_t i);
const char *gfs_root_unwritable(const struct img_root *r);
int gfs_make_writable(struct gfs_session *s, struct img_root *r,
		      struct kp_error *err);
char *gfs_path(struct gfs_session *s, const struct img_root *r,
	       const char *path, bool *exists, struct kp_error *err);
char **gfs_ls(struct gfs_session *s, const char *guest, struct kp_error *err);
int gfs_download(struct gfs_session *s, const char *guest, const char *local,
		 struct kp_error *err);
int gfs_replace(struct gfs_session *s, const char *guest, const char *local,
		unsigned flags, struct kp_error *err);
int gfs_replace_data(struct gfs_session *s, const char *guest,
		     const void *data, size_t len, unsigned flags,
		     struct kp_error *err);
/* The journaled commit P of hive GUEST, in place through its log
 * GUEST_LOG (backend.h's journal). */
int gfs_journal(struct gfs_session *s, const char *guest,
		const char *guest_log, const struct journal_plan *p,
		struct kp_error *err);
int gfs_remove(struct gfs_session *s, const char *guest,
	       struct kp_error *err);
char *gfs_read(struct gfs_session *s, const char *guest, size_t max,
	       size_t *len, struct kp_error *err);
int gfs_mkdir(struct gfs_session *s, const char *guest, bool check_only,
	      struct kp_error *err);
int gfs_close(struct gfs_session *s, bool ok, struct kp_error *err);

#endif

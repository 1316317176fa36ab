/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wimlib in a sandboxed worker (lib/sandbox.h, lib/rpc.h): a WIM from
 * anywhere is hostile, and wimlib parses its lookup table, XML data and
 * metadata resources.  One worker per WIM file; each call below is one
 * row of the worker's rpc table (image/wimworker.c).  Paths are relative
 * to the image's root, '/'-separated, matched in any case.
 */
#ifndef KP_IMAGE_WIMWORKER_H
#define KP_IMAGE_WIMWORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/session.h"
#include "lib/error.h"

/* The most images (indexes) the worker lists. */
#define WIM_IMAGES_MAX 1024

/* wimw_put flags. */
#define WIM_SECRET 1u	/* SYSTEM and Administrators only */

struct wim_image {
	uint32_t index;		/* 1, 2, ... */
	char *name;		/* from the XML data */
	char *edition;		/* WINDOWS/EDITIONID, else FLAGS, or "" */
	bool windows;		/* has Windows/System32/config/SOFTWARE */
};

struct wim_info {
	struct wim_image *images;
	size_t nimages;
	char *compression;	/* "LZX", "XPRESS", "LZMS", "None" */
	uint32_t chunk_size;
	uint32_t part, parts;
	bool pipable;
	bool integrity;		/* has an integrity table */
	bool solid;		/* unused here: fmt_info says */
};

struct wim_worker;

/* Start a worker on WIM file PATH, running in scratch directory DIR (the
 * scratch NTFS volumes are made there).  WRITE: the WIM may be written
 * (in place, or to new file OVERLAY, created now). */
int wimw_open(const char *path, const char *dir, const char *overlay,
	      bool write, unsigned timeout_s, struct wim_worker **w_ret,
	      struct kp_error *err);

/* The WIM's images and properties (wimw_info_release); whether they hold
 * Windows is looked at only for the NWANT indexes in WANT (none: all). */
int wimw_info(struct wim_worker *w, const unsigned *want, size_t nwant,
	      struct wim_info *info, struct kp_error *err);
void wimw_info_release(struct wim_worker *w, struct wim_info *info);

/* The names in directory PATH of image INDEX, NULL-terminated. */
char **wimw_ls(struct wim_worker *w, unsigned index, const char *path,
	       struct kp_error *err);

/* Regular file PATH of image INDEX, at most MAX bytes, into FD (an empty
 * file of the caller's). */
int wimw_copy(struct wim_worker *w, unsigned index, const char *path,
	      uint64_t max, int fd, struct kp_error *err);

/* Replace or create file PATH of image INDEX with DATA: an existing file
 * keeps its descriptor (unless WIM_SECRET: then SYSTEM and Administrators
 * only), attributes, timestamps and named streams, a new one gets the
 * descriptor of secdesc.h.  In memory until wimw_close. */
int wimw_put(struct wim_worker *w, unsigned index, const char *path,
	     const void *data, size_t len, unsigned flags,
	     struct kp_error *err);

/* Create directory PATH and its missing parents (secdesc.h's directory
 * descriptor). */
int wimw_mkdir(struct wim_worker *w, unsigned index, const char *path,
	       struct kp_error *err);

/* Remove file PATH of image INDEX. */
int wimw_remove(struct wim_worker *w, unsigned index, const char *path,
		struct kp_error *err);

/* With OK, write what was changed (in place, or the overlay), read it
 * back and check it; then stop the worker.  Without OK, or on failure, a
 * new overlay is removed (OVERLAY names it). */
int wimw_close(struct wim_worker *w, bool ok, const char *overlay,
	       struct kp_error *err);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test helpers: build small hives through the hive layer. */
#ifndef KP_HIVEBUILD_H
#define KP_HIVEBUILD_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hive/hive.h"
#include "hive/regval.h"
#include "lib/fileio.h"

static char hb_dir[] = "/tmp/kmsprep-unit-XXXXXX";
static pid_t hb_owner;

static inline int
hb_rm(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

/* At exit, by the process that made it (not a forked child). */
static inline void
hb_cleanup(void)
{
	if (getpid() == hb_owner)
		nftw(hb_dir, hb_rm, 8, FTW_DEPTH | FTW_PHYS);
}

static inline const char *
hb_tmpdir(void)
{
	if (hb_owner == 0 && mkdtemp(hb_dir)) {
		hb_owner = getpid();
		atexit(hb_cleanup);
	}
	return hb_dir;
}

/* Path of a scratch file NAME. */
static inline const char *
hb_path(const char *name)
{
	static char p[256];

	snprintf(p, sizeof(p), "%s/%s", hb_tmpdir(), name);
	return p;
}

/* Load a file into B (replacing it). */
static inline int
hb_load(const char *path, struct buf *b)
{
	struct kp_error err = KP_ERROR_INIT;

	buf_reset(b);
	return kp_read_file(path, 1 << 30, b, &err);
}

static inline int
hb_save(const char *path, const struct buf *b)
{
	struct kp_error err = KP_ERROR_INIT;
	struct kp_commit_opts o = { NULL, 0644, false, NULL };

	return kp_write_file_atomic(path, b->data, b->len, &o, &err);
}

/* Write an empty hive to PATH, then add each key in KEYS (NULL-ended)
 * with a value "v" = its name.  The result is also left in OUT. */
static inline int
hb_make(const char *path, const char *const *keys, struct buf *out)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_result res;
	struct hive_open_opts o = { .flags = HIVE_WRITE | HIVE_NO_LOGS };
	struct hive *h;
	struct buf v = BUF_INIT;

	if (regf_new_empty(out, 132000000000000000ull, &err) < 0 ||
	    hb_save(path, out) < 0)
		return -1;
	if (keys == NULL || keys[0] == NULL)
		return 0;
	if (hive_open(path, &o, &h, &err) < 0) {
		printf("# %s\n", err.msg);
		return -1;
	}
	for (; *keys; keys++) {
		regval_sz(*keys, &v);
		if (hive_set(h, *keys, "v", REGT_SZ, v.data, v.len, &err) < 0) {
			printf("# %s\n", err.msg);
			hive_close(h);
			return -1;
		}
	}
	buf_release(&v);
	if (hive_commit(h, NULL, &res, &err) < 0) {
		printf("# %s\n", err.msg);
		hive_close(h);
		return -1;
	}
	hive_close(h);
	return hb_load(path, out);
}

/* Open the bytes in B with the regf reader and look up PATH: 1, 0, -1. */
static inline int
hb_has_key(const struct buf *b, const char *path)
{
	struct kp_error err = KP_ERROR_INIT;
	struct regf r;
	uint32_t k;

	if (regf_open(&r, b->data, b->len, &err) < 0)
		return -1;
	return regf_lookup(&r, path, &k);
}

#endif

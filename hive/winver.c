/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A SOFTWARE hive's Windows version (winver.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regval.h"
#include "winver.h"

/*
 * Windows version.
 */

static int
read_sz(struct hive *h, hive_key k, const char *name, char **out,
	struct kp_error *err)
{
	struct hive_value v;
	struct buf s = BUF_INIT;
	int r = hive_get(h, k, name, &v, err);

	*out = NULL;
	if (r <= 0)
		return r;
	if ((v.type == REGT_SZ || v.type == REGT_EXPAND_SZ) &&
	    regval_get_sz(v.data, v.len, &s) == 0)
		*out = buf_detach(&s, NULL);
	buf_release(&s);
	hive_value_release(&v);
	return 0;
}

static int
read_dword(struct hive *h, hive_key k, const char *name, uint32_t *out,
	   struct kp_error *err)
{
	struct hive_value v;
	int r = hive_get(h, k, name, &v, err);

	if (r <= 0)
		return r;
	r = v.type == REGT_DWORD && regval_get_dword(v.data, v.len, out) == 0;
	hive_value_release(&v);
	return r;
}

int
winver_read(struct hive *h, struct winver *v, struct kp_error *err)
{
	uint32_t major, minor;
	hive_key k;
	int r;

	memset(v, 0, sizeof(*v));
	r = hive_find(h, WINVER_KEY, &k, err);
	if (r <= 0)
		return r;
	v->present = true;
	if (read_sz(h, k, "ProductName", &v->product, err) < 0 ||
	    read_sz(h, k, "CurrentBuildNumber", &v->build, err) < 0 ||
	    (!v->build && read_sz(h, k, "CurrentBuild", &v->build, err) < 0) ||
	    read_sz(h, k, "EditionID", &v->edition, err) < 0 ||
	    read_sz(h, k, "InstallationType", &v->install_type, err) < 0 ||
	    read_sz(h, k, "CurrentVersion", &v->version, err) < 0)
		goto fail;
	r = read_dword(h, k, "CurrentMajorVersionNumber", &major, err);
	if (r < 0)
		goto fail;
	if (r == 1) {
		/* Windows 10 and later: CurrentVersion stays at 6.3. */
		r = read_dword(h, k, "CurrentMinorVersionNumber", &minor, err);
		if (r < 0)
			goto fail;
		v->major = major;
		v->minor = r == 1 ? minor : 0;
	} else if (v->version) {
		sscanf(v->version, "%u.%u", &v->major, &v->minor);
	}
	return 0;
fail:
	winver_release(v);
	return -1;
}

void
winver_release(struct winver *v)
{
	free(v->product);
	free(v->build);
	free(v->edition);
	free(v->install_type);
	free(v->version);
	memset(v, 0, sizeof(*v));
}

const char *
spp_root(const struct winver *v)
{
	/* Vista and Server 2008 kept these values under ...\SL. */
	if (v && v->major == 6 && v->minor == 0)
		return SPP_KEY_VISTA;
	return SPP_KEY;
}

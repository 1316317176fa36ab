/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hives of a Windows installation inside an image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "winhive.h"
#include "lib/clock.h"

int
winhive_open(struct img_session *s, const struct img_root *r,
	     const char *name, unsigned flags, struct winhive *wh,
	     struct kp_error *err)
{
	static const char *const logs[] = { ".LOG1", ".LOG2" };
	char rel[64], *dir, **names;
	uint64_t t;
	bool exists;
	size_t i;
	int ret;

	memset(wh, 0, sizeof(*wh));
	wh->whole = img_session_backend(s)->journal == NULL;
	/* Never parsed here: an image's hives go to its hive server. */
	if (img_hive_server(s, r->image) == NULL)
		return kp_fail(err, KP_ERR_FAIL, "%s: no hive server for its "
			       "image", r->device);
	snprintf(rel, sizeof(rel), "windows/system32/config/%s", name);
	wh->guest = img_path(s, r, rel, &exists, err);
	if (wh->guest == NULL)
		return -1;
	if (!exists)
		return kp_fail(err, KP_ERR_INPUT, "%s: no %s hive",
			       r->device, name);
	wh->local = img_local_path(s, r->image, name);
	if (wh->local == NULL)
		return kp_fail_oom(err);
	t = kp_clock_ns();
	if (img_download(s, wh->guest, wh->local, err) < 0)
		return -1;
	/* The logs, found in one listing of the directory. */
	dir = strndup(wh->guest, (size_t)(strrchr(wh->guest, '/') - wh->guest));
	names = dir ? img_ls(s, dir, err) : NULL;
	if (names == NULL) {
		free(dir);
		return dir ? -1 : kp_fail_oom(err);
	}
	for (i = 0; i < 2; i++) {
		char want[40], *guest = NULL, *local = NULL;
		size_t k;
		int rc = 0;

		snprintf(want, sizeof(want), "%s%s", name, logs[i]);
		for (k = 0; names[k]; k++) {
			if (strcasecmp(names[k], want) != 0)
				continue;
			if (asprintf(&guest, "%s/%s", dir, names[k]) < 0 ||
			    asprintf(&local, "%s%s", wh->local, logs[i]) < 0)
				rc = kp_fail_oom(err);
			else
				rc = img_download(s, guest, local, err);
			break;
		}
		/* A missing log gets the name Windows gives it. */
		if (rc == 0 && guest == NULL &&
		    asprintf(&guest, "%s%s", wh->guest, logs[i]) < 0)
			rc = kp_fail_oom(err);
		wh->guest_log[i] = guest;
		free(local);
		if (rc < 0) {
			free(dir);
			img_list_free(names);
			return -1;
		}
	}
	free(dir);
	img_list_free(names);
	kp_clock_lap(&wh->copy_ns, &t);
	ret = hive_open(wh->local, &(struct hive_open_opts){
			.flags = flags, .server = img_hive_server(s, r->image) },
			&wh->h, err);
	kp_clock_lap(&wh->check_ns, &t);
	if (ret < 0) {
		/* Name the hive as the user knows it: its device and path,
		 * not our copy or the appliance's mount point. */
		char *p = strstr(err->msg, wh->local);

		if (p) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "%.*s%s%s",
				 (int)(p - err->msg), err->msg,
				 wh->guest + strlen(r->mnt),
				 p + strlen(wh->local));
			memcpy(err->msg, msg, sizeof(msg));
		}
		kp_error_prefix(err, "%s", r->device);
		return -1;
	}
	return 0;
}

int
winhive_commit(struct winhive *wh, struct kp_error *err)
{
	/* Only the changed pages go into the image, through the hive's log
	 * as Windows writes them; a hive that cannot be journaled (dirty,
	 * old-format logs) is rewritten whole and replaced. */
	struct hive_commit_opts o = { .journal = !wh->whole,
				      .defer = !wh->whole };
	struct hive_commit_result res;

	if (hive_nr_edits(wh->h) == 0)
		return 0;
	if (hive_commit(wh->h, &o, &res, err) < 0)
		return -1;
	free(res.backup);
	wh->journal = res.deferred;
	wh->committed = res.written && res.deferred == NULL;
	return 0;
}

void
winhive_close(struct winhive *wh)
{
	hive_close(wh->h);
	hive_journal_free(wh->journal);
	free(wh->guest_log[0]);
	free(wh->guest_log[1]);
	free(wh->guest);
	free(wh->local);
	memset(wh, 0, sizeof(*wh));
}

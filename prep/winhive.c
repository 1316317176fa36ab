/* Hives of a Windows installation inside an image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "winhive.h"

int
winhive_open(struct img_session *s, const struct img_root *r,
	     const char *name, unsigned flags, struct winhive *wh,
	     struct kp_error *err)
{
	static const char *const logs[] = { ".LOG1", ".LOG2" };
	char rel[64];
	bool exists;
	size_t i;

	memset(wh, 0, sizeof(*wh));
	snprintf(rel, sizeof(rel), "windows/system32/config/%s", name);
	wh->guest = img_path(s, r, rel, &exists, err);
	if (wh->guest == NULL)
		return -1;
	if (!exists)
		return kp_fail(err, KP_EXIT_INPUT, "%s: no %s hive",
			       r->device, name);
	wh->local = img_local_path(s, name);
	if (wh->local == NULL)
		return kp_fail_oom(err);
	if (img_download(s, wh->guest, wh->local, err) < 0)
		return -1;
	for (i = 0; i < 2; i++) {
		char lrel[80], *guest, *local = NULL;

		snprintf(lrel, sizeof(lrel), "%s%s", rel, logs[i]);
		guest = img_path(s, r, lrel, &exists, err);
		if (guest == NULL)
			return -1;
		if (exists && asprintf(&local, "%s%s", wh->local, logs[i]) >= 0 &&
		    img_download(s, guest, local, err) < 0) {
			free(guest);
			free(local);
			return -1;
		}
		free(guest);
		free(local);
	}
	if (hive_open(wh->local, &(struct hive_open_opts){ flags, NULL, NULL },
		      &wh->h, err) < 0) {
		/* Name the hive as the user knows it, not our copy. */
		char *p = strstr(err->msg, wh->local);

		if (p) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "%.*s%s%s",
				 (int)(p - err->msg), err->msg, wh->guest,
				 p + strlen(wh->local));
			memcpy(err->msg, msg, sizeof(msg));
		}
		return -1;
	}
	return 0;
}

int
winhive_commit(struct winhive *wh, struct kp_error *err)
{
	struct hive_commit_result res;

	if (hive_nr_edits(wh->h) == 0)
		return 0;
	if (hive_commit(wh->h, NULL, &res, err) < 0)
		return -1;
	free(res.backup);
	wh->committed = res.written;
	return 0;
}

int
winhive_upload(struct img_session *s, struct winhive *wh,
	       struct kp_error *err)
{
	if (!wh->committed)
		return 0;
	return img_replace(s, wh->guest, wh->local, err);
}

void
winhive_close(struct winhive *wh)
{
	hive_close(wh->h);
	free(wh->guest);
	free(wh->local);
	memset(wh, 0, sizeof(*wh));
}

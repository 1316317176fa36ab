/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The WIM worker's parent side (image/wimworker.c) over a fake rpc layer:
 * a worker that does not start. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/wimworker.h"
#include "lib/rpc.h"
#include "lib/sandbox.h"
#include "unit.h"

/* The fake rpc layer: defined here, lib/rpc.o is not linked in. */

static struct {
	bool start_fails;
} fake;

static int client;	/* stands for the worker's rpc_client */

int
rpc_start(const struct rpc_table *table, const struct sb_opts *o,
	  void *state, struct rpc_client **c_ret, struct kp_error *err)
{
	(void)table;
	(void)o;
	(void)state;
	if (fake.start_fails)
		return kp_fail(err, KP_ERR_UNAVAILABLE, "fork: no more");
	*c_ret = (struct rpc_client *)&client;
	return 0;
}

int
rpc_call(struct rpc_client *c, unsigned op, const void *args, void *answer,
	 struct kp_error *err)
{
	(void)c;
	(void)args;
	(void)answer;
	return kp_fail(err, KP_ERR_FAIL, "op %u not faked", op);
}

void
rpc_release(const struct rpc_client *c, unsigned op, void *answer)
{
	(void)c;
	(void)op;
	(void)answer;
}

int
rpc_stop(struct rpc_client *c, struct kp_error *err)
{
	(void)c;
	(void)err;
	return 0;
}

/* A WIM file and a scratch directory; the names of the overlay (not made
 * yet) and of the WIM. */
struct place {
	char dir[64], wim[96], overlay[96];
};

/* wimw_open starts no worker where Landlock cannot fence it. */
static bool
have_landlock(void)
{
	if (sb_landlock_abi() > 0)
		return true;
	printf("# SKIP no Landlock: wimw_open starts no worker\n");
	return false;
}

static void
place_make(struct place *p)
{
	FILE *f;

	strcpy(p->dir, "/tmp/kmsprep-wimw-XXXXXX");
	CHECK(mkdtemp(p->dir) != NULL);
	snprintf(p->wim, sizeof(p->wim), "%s/install.wim", p->dir);
	snprintf(p->overlay, sizeof(p->overlay), "%s/overlay.wim", p->dir);
	f = fopen(p->wim, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
}

static void
place_remove(struct place *p)
{
	unlink(p->overlay);
	unlink(p->wim);
	CHECK(rmdir(p->dir) == 0);
}

/* The overlay is made before the worker starts; a worker that does not
 * start leaves none behind, or the next run would refuse it as there
 * already (ec79065). */
static void
overlay_gone_when_no_worker(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct wim_worker *w = NULL;
	struct place p;
	int i;

	if (!have_landlock())
		return;
	place_make(&p);
	fake.start_fails = true;
	for (i = 0; i < 2; i++) {
		CHECK(wimw_open(p.wim, p.dir, p.overlay, true, 0, &w,
				&err) == -1);
		CHECK(w == NULL);
		CHECK(strstr(err.msg, "fork") != NULL);
		CHECK(access(p.overlay, F_OK) < 0 && errno == ENOENT);
	}
	fake.start_fails = false;
	/* Started: the overlay is there until the worker is closed. */
	CHECK(wimw_open(p.wim, p.dir, p.overlay, true, 0, &w, &err) == 0);
	CHECK(access(p.overlay, F_OK) == 0);
	CHECK(wimw_close(w, false, p.overlay, &err) == 0);
	CHECK(access(p.overlay, F_OK) < 0);
	place_remove(&p);
}

static const struct unit_test tests[] = {
	TEST(overlay_gone_when_no_worker),
};

UNIT_MAIN(tests)

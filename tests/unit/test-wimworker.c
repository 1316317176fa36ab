/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The WIM worker's parent side (image/wimworker.c) over a fake rpc layer:
 * a worker that does not start, and a subverted worker's answers, which
 * a real wimlib worker would never send. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/wimworker.h"
#include "lib/rpc.h"
#include "lib/sandbox.h"
#include "unit.h"

/*
 * The fake rpc layer: defined here, lib/rpc.o is not linked in.  The
 * operation numbers are the rows of image/wimworker.c's table.
 */

enum { OP_INFO = 1, OP_LS = 2 };

/* struct r_names of image/wimworker.c: an array of struct name, each
 * one string. */
struct names {
	char **v;
	size_t n;
};

static struct {
	bool start_fails;
	bool null_name, null_edition, null_compression;	/* info */
	bool null_entry;				/* ls */
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
	if (op == OP_INFO) {
		struct wim_info *f = answer;

		f->images = calloc(1, sizeof(*f->images));
		f->nimages = 1;
		f->images[0].index = 1;
		f->images[0].name = fake.null_name ? NULL : strdup("Pro");
		f->images[0].edition = fake.null_edition ? NULL :
				       strdup("Professional");
		f->compression = fake.null_compression ? NULL : strdup("LZX");
		return 0;
	}
	if (op == OP_LS) {
		struct names *r = answer;

		r->v = calloc(2, sizeof(*r->v));
		r->n = 2;
		r->v[0] = strdup("Windows");
		r->v[1] = fake.null_entry ? NULL : strdup("Users");
		return 0;
	}
	return kp_fail(err, KP_ERR_FAIL, "op %u not faked", op);
}

void
rpc_release(const struct rpc_client *c, unsigned op, void *answer)
{
	size_t i;

	(void)c;
	if (op == OP_INFO) {
		struct wim_info *f = answer;

		for (i = 0; i < f->nimages; i++) {
			free(f->images[i].name);
			free(f->images[i].edition);
		}
		free(f->images);
		free(f->compression);
		memset(f, 0, sizeof(*f));
	} else if (op == OP_LS) {
		struct names *r = answer;

		for (i = 0; i < r->n; i++)
			free(r->v[i]);
		free(r->v);
		memset(r, 0, sizeof(*r));
	}
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

/* The wire carries a string as NULL: each of the worker's strings is
 * checked before use (2905184), a bad answer and not a crash. */
static void
null_strings_refused(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct wim_worker *w = NULL;
	struct wim_info info;
	struct place p;
	char **names;
	bool *nulls[] = { &fake.null_name, &fake.null_edition,
			  &fake.null_compression };
	size_t i;
	pid_t pid;
	int st = -1;

	if (!have_landlock())
		return;
	place_make(&p);
	CHECK(wimw_open(p.wim, p.dir, NULL, false, 0, &w, &err) == 0);
	if (w == NULL) {
		place_remove(&p);
		return;
	}
	/* The fake's sound answers pass. */
	CHECK(wimw_info(w, NULL, 0, &info, &err) == 0);
	CHECK_STR(info.images[0].name, "Pro");
	wimw_info_release(w, &info);
	names = wimw_ls(w, 1, "", &err);
	CHECK(names != NULL && names[2] == NULL);
	if (names)
		CHECK_STR(names[1], "Users");
	img_list_free(names);
	for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
		*nulls[i] = true;
		kp_error_clear(&err);
		CHECK(wimw_info(w, NULL, 0, &info, &err) == -1);
		CHECK(strstr(err.msg, "sent a bad answer") != NULL);
		*nulls[i] = false;
	}
	/* In a child: an unchecked name would crash the test itself. */
	fake.null_entry = true;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		kp_error_clear(&err);
		_exit(wimw_ls(w, 1, "", &err) == NULL &&
		      strstr(err.msg, "a bad name") != NULL ? 0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	fake.null_entry = false;
	CHECK(wimw_close(w, false, NULL, &err) == 0);
	place_remove(&p);
}

static const struct unit_test tests[] = {
	TEST(overlay_gone_when_no_worker), TEST(null_strings_refused),
};

UNIT_MAIN(tests)

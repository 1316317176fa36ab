/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plan of image batch (prep/planfile.h): defaults, entries of their
 * own kind, and the messages that say what to change. */
#include <stdio.h>
#include <stdlib.h>

#include "prep/planfile.h"
#include "hivebuild.h"
#include "unit.h"

/* Load plan text JSON; 0 or -1 with ERR. */
static int
load(const char *json, struct img_planfile *pf, struct kp_error *err)
{
	FILE *f = fopen(hb_path("plan.json"), "w");

	CHECK(f != NULL && fputs(json, f) >= 0 && fclose(f) == 0);
	return img_planfile_load(hb_path("plan.json"), pf, err);
}

/* The defaults hold settings; a generalize entry takes none of them
 * (docs/scale.md's example). */
static void
defaults_and_generalize(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_planfile pf;

	CHECK_EQ(load("{\"defaults\": {\"kms-host\": \"kms.example.com:1688\", "
		      "\"activation-interval\": 120},\n\"images\": ["
		      "{\"image\": \"a.img\"},"
		      "{\"image\": \"b.img\", \"kms-host\": null, "
		      "\"generalize\": {\"mode\": \"clone\"}},"
		      "{\"image\": \"c.img\", \"generalize\": {}}]}",
		      &pf, &err), 0);
	CHECK_EQ(pf.n, 3);
	if (pf.n == 3) {
		CHECK(!spp_settings_empty(&pf.e[0].settings));
		CHECK(pf.e[1].generalize && spp_settings_empty(&pf.e[1].settings));
		CHECK(pf.e[2].generalize && spp_settings_empty(&pf.e[2].settings));
	}
	img_planfile_release(&pf);
}

/* A setting in a generalize or kit entry itself: the message names it
 * and says where it goes. */
static void
own_kind_says_what_to_move(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_planfile pf;

	CHECK_EQ(load("{\"images\": [{\"image\": \"a.img\", "
		      "\"activation-interval\": 60, \"generalize\": {}}]}",
		      &pf, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INVALID);
	CHECK(strstr(err.msg, "images[0]: generalize goes in a plan of its "
		     "own") != NULL);
	CHECK(strstr(err.msg, "move 'activation-interval'") != NULL);
	CHECK_EQ(load("{\"images\": [{\"image\": \"a.img\", \"kit\": \"k.tgz\", "
		      "\"kms-host\": \"k\"}]}", &pf, &err), -1);
	CHECK(strstr(err.msg, "kit goes in a plan of its own") != NULL);
	CHECK(strstr(err.msg, "move 'kms-host'") != NULL);
	/* A bad value is named by its place in the plan. */
	CHECK_EQ(load("{\"images\": [{\"image\": \"a.img\", "
		      "\"activation-interval\": \"x\"}]}", &pf, &err), -1);
	CHECK(strncmp(err.msg, "images[0].activation-interval", 29) == 0);
	CHECK_EQ(load("{\"images\": [{\"image\": \"a.img\", \"kms_host\": "
		      "\"k\"}]}", &pf, &err), -1);
	CHECK(strstr(err.msg, "did you mean 'kms-host'") != NULL);
}

/* "index": one image of a WIM file; two entries may name one WIM with
 * two indexes, not the same index twice nor every index and one. */
static void
wim_index(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct img_planfile pf;

	CHECK_EQ(load("{\"images\": [{\"image\": \"i.wim\", \"index\": 2, "
		      "\"kms-host\": \"a.example.com\"}, "
		      "{\"image\": \"i.wim\", "
		      "\"index\": 1, \"kms-host\": \"b.example.com\"}]}",
		      &pf, &err), 0);
	CHECK_EQ(pf.n, 2);
	if (pf.n == 2) {
		CHECK_EQ(pf.e[0].index, 2);
		CHECK_EQ(pf.e[1].index, 1);
	}
	img_planfile_release(&pf);
	CHECK_EQ(load("{\"images\": [{\"image\": \"i.wim\", \"index\": 2, "
		      "\"kms-host\": \"a.example.com\"}, "
		      "{\"image\": \"i.wim\", "
		      "\"index\": 2, \"kms-host\": \"b.example.com\"}]}",
		      &pf, &err), -1);
	CHECK(strstr(err.msg, "the same as") != NULL);
	CHECK_EQ(load("{\"images\": [{\"image\": \"i.wim\", "
		      "\"kms-host\": \"a.example.com\"}, "
		      "{\"image\": \"i.wim\", "
		      "\"index\": 3, \"kms-host\": \"b.example.com\"}]}",
		      &pf, &err), -1);
	CHECK(strstr(err.msg, "the same as") != NULL);
	CHECK_EQ(load("{\"images\": [{\"image\": \"i.wim\", \"index\": 0, "
		      "\"kms-host\": \"a.example.com\"}]}", &pf, &err), -1);
	CHECK(strstr(err.msg, "images[0]") != NULL);
	CHECK_EQ(load("{\"images\": [{\"image\": \"i.wim\", \"index\": "
		      "\"2\", \"kms-host\": \"a.example.com\"}]}", &pf, &err),
		 -1);
	CHECK(strstr(err.msg, "image number") != NULL);
}

static const struct unit_test tests[] = {
	TEST(wim_index),
	TEST(defaults_and_generalize),
	TEST(own_kind_says_what_to_move),
};

UNIT_MAIN(tests)

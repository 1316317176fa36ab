/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kmsprep kms gvlk: the KMS client setup key (GVLK) for an edition. */
#include <string.h>

#include "cli.h"

struct gvlk_args {
	unsigned long build;
	const char *from_hive, *image;
	bool list, json;
};

#define ARGS struct gvlk_args
static const struct cli_opt gvlk_opts[] = {
	OPT_UINT("build", 0, "N", ARGS, build, 1, 99999,
	  "the Windows build (CurrentBuildNumber, e.g. 20348); without it, "
	  "the newest release of the edition"),
	OPT_STRING("from-hive", 0, "SOFTWARE", ARGS, from_hive,
	  "take the edition and build from this SOFTWARE hive, and say "
	  "whether it holds a volume license key already"),
	OPT_STRING("image", 0, "IMAGE", ARGS, image,
	  "take them from the Windows installation in this disk image "
	  "(read only; the direct backend, or the appliance when needed)"),
	OPT_BOOL("list", 0, ARGS, list, "print the whole table"),
	OPT_BOOL("json", 0, ARGS, json, "print JSON instead of text"),
	OPT_END(),
};

static const struct cli_help gvlk_help = {
	.usage = "kms gvlk [EDITION | --from-hive SOFTWARE | --image IMAGE] "
	"[--build N] [--list] [--json]",
	.about = "Print the KMS client setup key (GVLK) that makes an edition "
	"of Windows a KMS client, from Microsoft's published table, which "
	"kmsprep carries. EDITION is the registry's EditionID (Professional, "
	"Enterprise, EnterpriseS, ServerDatacenter, ServerStandardACor, ...). "
	"GVLKs are public; they are printed.",
	.opts = gvlk_opts,
	.more = "An edition without a GVLK (Core, the Home editions, "
	"evaluation\nmedia's own editions) is refused with exit code 4.\n",
};

static json_t *
row_json(const struct gvlk *g)
{
	return json_pack("{s:s, s:i, s:i, s:s, s:s}", "edition", g->edition,
			 "min_build", (int)g->min_build, "max_build",
			 (int)g->max_build, "product", g->product, "key",
			 g->key);
}

static int
list(struct cli *c, bool json)
{
	const struct gvlk *t;
	json_t *a;
	unsigned n, i;

	t = gvlk_table(&n);
	if (json) {
		a = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(a, row_json(&t[i]));
		return cli_print_json(c, json_pack("{s:s, s:s, s:o}", "source",
						   gvlk_source, "date",
						   gvlk_date, "keys", a)) < 0 ?
			       KP_EXIT_FAIL : 0;
	}
	printf("# %s (%s)\n", gvlk_source, gvlk_date);
	for (i = 0; i < n; i++)
		printf("%s\t%s%s\t%u-%u\t%s\n", t[i].key, t[i].edition,
		       t[i].acor == 1 ? "ACor" : "", t[i].min_build,
		       t[i].max_build, t[i].product);
	return 0;
}

/* The SOFTWARE hive of the one Windows installation in IMAGE, read only. */
static int
open_image(const char *image, struct img_session **s, struct winhive *wh,
	   struct kp_error *err)
{
	struct img_opts o = { 0 };
	char *const images[] = { (char *)image };
	struct img_root *roots;
	size_t n;

	o.readonly = true;
	if (img_open(images, 1, &o, s, err) < 0 ||
	    img_find_windows(*s, err) < 0)
		return -1;
	roots = img_roots(*s, &n);
	if (n != 1)
		return kp_fail(err, KP_ERR_INPUT, "'%s': %s", image, n ?
			       "more than one Windows installation: use "
			       "--from-hive with the one you mean" :
			       "no Windows installation found");
	return winhive_open(*s, &roots[0], "SOFTWARE", 0, wh, err);
}

int
cmd_kms_gvlk(struct cli *c, int argc, char **argv)
{
	struct gvlk_args a = { 0, NULL, NULL, false, false };
	struct winhive wh = { 0 };
	struct img_session *s = NULL;
	struct kp_error err = KP_ERROR_INIT;
	struct winver v = { 0 };
	struct gvlk_state st = { NULL, false, "" };
	struct hive *h = NULL;
	const struct gvlk *g;
	const char *edition = NULL;
	unsigned build;
	char **pos;
	int npos, code = 0;

	if (cli_parse(c, argc, argv, &gvlk_help, &a, &pos, &npos,
		      &code))
		return code;
	if (a.list)
		return npos || a.from_hive || a.image ?
			       cli_usage(c, "--list takes no EDITION, hive or "
					 "image") :
			       list(c, a.json);
	if (npos > 1 || npos + (a.from_hive != NULL) + (a.image != NULL) != 1)
		return cli_usage(c, "expected one EDITION, --from-hive or "
				 "--image");
	build = (unsigned)a.build;
	if (npos == 1) {
		edition = pos[0];
		if (kp_check_safe("EDITION", edition, &err) < 0)
			return cli_usage(c, "%s", err.msg);
	} else {
		struct hive_open_opts o = { .flags = 0 };

		if (a.image && open_image(a.image, &s, &wh, &err) < 0) {
			code = cli_error(c, &err);
			goto out;
		}
		if (a.image)
			h = wh.h;
		else if (hive_open(a.from_hive, &o, &h, &err) < 0) {
			code = cli_error(c, &err);
			goto out;
		}
		if (winver_read(h, &v, &err) < 0 ||
		    gvlk_state_read(h, &st, &err) < 0) {
			code = cli_error(c, &err);
			goto out;
		}
		edition = v.edition;
		if (build == 0 && v.build)
			build = (unsigned)strtoul(v.build, NULL, 10);
	}
	g = gvlk_find(edition, build, &err);
	if (g == NULL) {
		code = cli_error(c, &err);
		goto out;
	}
	if (a.json) {
		json_t *j = row_json(g);

		json_object_set_new(j, "source", json_string(gvlk_source));
		if (h) {
			json_object_set_new(j, "image_key",
					    json_string(st.installed ? "gvlk" :
							st.has_key ? "other" :
							"none"));
			json_object_set_new(j, "image_channel",
					    st.channel[0] ?
						    json_string(st.channel) :
						    json_null());
			json_object_set_new(j, "volume_key",
					    json_boolean(gvlk_state_volume(&st)));
		}
		code = cli_print_json(c, j) < 0 ? KP_EXIT_FAIL : 0;
		goto out;
	}
	printf("%s\t%s\n", g->key, g->product);
	if (h && st.installed)
		cli_note(c, "the hive's product key is a GVLK already (%s): "
			 "it is a KMS client", st.installed->key);
	else if (h && gvlk_state_volume(&st))
		cli_note(c, "the hive holds a volume license key (%s): --gvlk "
			 "auto leaves it; give the key to replace it",
			 st.channel);
out:
	winver_release(&v);
	if (a.image) {
		winhive_close(&wh);
		if (s)
			img_close(s, false, NULL);
	} else {
		hive_close(h);
	}
	return code;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kmsprep image batch PLAN: many images, each with its own settings, in
 * one all-or-nothing batch (cli/image-batch.c), optionally one shard of
 * the plan for a job engine, with progress as JSON lines (cli/events.c).
 * The plan format is documented in docs/scale.md.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd-image.h"

struct batch_args {
	struct image_args a;	/* first: the image options bind to it */
	const char *shard;
	unsigned long shards_env;
};

/* One image of the plan, validated. */
struct entry {
	const char *image;	/* in the plan's JSON (kept alive) */
	const char *root;
	struct spp_settings settings;
	char *search_norm;
	bool clear_search, generalize;
	const char *cloudbase, *gvlk;
	struct img_gen_opts gen;
	const char *kit_path;	/* a host kit to apply, opened as KIT */
	struct kit kit;
};

/* What an entry may hold besides the settings table's names. */
static const char *const plan_keys[] = {
	"image", "root", "generalize", "dns-search-list",
	"clear-dns-search-list", "cloudbase-init", "gvlk", "kit", NULL,
};

static bool
is_plan_key(const char *k)
{
	size_t i;

	for (i = 0; plan_keys[i]; i++)
		if (strcmp(plan_keys[i], k) == 0)
			return true;
	return spp_option_find(k) != NULL;
}

/* One setting of the table (hive/spp.c) from its JSON value: true for
 * a flag, a string or number for an argument, a list of them for a
 * repeatable one (publish-domain). */
static int
take_setting(struct spp_settings *s, const char *key, json_t *v,
	     struct kp_error *err)
{
	const struct spp_option *o = spp_option_find(key);
	char num[32];
	json_t *it;
	size_t k;

	if (o->arg == NULL) {
		if (!json_is_true(v))
			return kp_fail(err, KP_ERR_INVALID, "expected true");
		return spp_settings_option(s, key, NULL, err);
	}
	if (json_is_array(v)) {
		if (o->value != SPP_PUBLISH_LIST)
			return kp_fail(err, KP_ERR_INVALID, "expected a "
				       "string, not a list");
		json_array_foreach(v, k, it) {
			if (!json_is_string(it))
				return kp_fail(err, KP_ERR_INVALID, "[%zu]: "
					       "expected a string", k);
			if (spp_settings_option(s, key, json_string_value(it),
						err) < 0)
				return -1;
		}
		return 0;
	}
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld",
			 (long long)json_integer_value(v));
		return spp_settings_option(s, key, num, err);
	}
	if (!json_is_string(v))
		return kp_fail(err, KP_ERR_INVALID, "expected a string");
	return spp_settings_option(s, key, json_string_value(v), err);
}

static int
take_generalize(struct entry *e, json_t *v, struct kp_error *err)
{
	const char *mode = "sysprep", *gvlk = NULL;
	int activate = 0;
	json_error_t je;

	if (json_unpack_ex(v, &je, JSON_STRICT, "{s?:s, s?:b, s?:s}", "mode",
			   &mode, "activate", &activate, "gvlk", &gvlk) < 0)
		return kp_fail(err, KP_ERR_INVALID, "expected {\"mode\": "
			       "\"sysprep|clone\", \"activate\": BOOL, "
			       "\"gvlk\": \"auto|KEY|none\"}: %s", je.text);
	if (strcmp(mode, "sysprep") == 0)
		e->gen.mode = GEN_SYSPREP;
	else if (strcmp(mode, "clone") == 0)
		e->gen.mode = GEN_CLONE;
	else
		return kp_fail(err, KP_ERR_INVALID, "mode: expected sysprep or "
			       "clone");
	if (activate && e->gen.mode != GEN_CLONE)
		return kp_fail(err, KP_ERR_INVALID, "activate goes with mode "
			       "clone");
	e->gen.activate = activate;
	e->gen.gvlk = gvlk;
	e->generalize = true;
	return 0;
}

static int
take_search(struct entry *e, json_t *v, struct kp_error *err)
{
	struct buf b = BUF_INIT;
	json_t *it;
	size_t k;
	int r;

	if (e->search_norm || e->clear_search)
		return kp_fail(err, KP_ERR_INVALID, "goes with neither "
			       "clear-dns-search-list nor itself");
	if (json_is_string(v))
		return sys_parse_search_list(json_string_value(v),
					     &e->search_norm, err);
	if (!json_is_array(v) || json_array_size(v) == 0)
		return kp_fail(err, KP_ERR_INVALID, "expected a string or a "
			       "list of suffixes");
	json_array_foreach(v, k, it) {
		if (!json_is_string(it)) {
			buf_release(&b);
			return kp_fail(err, KP_ERR_INVALID, "[%zu]: expected "
				       "a string", k);
		}
		if (buf_addf(&b, "%s%s", k ? "," : "",
			     json_string_value(it)) < 0) {
			buf_release(&b);
			return kp_fail_oom(err);
		}
	}
	r = sys_parse_search_list(buf_str(&b), &e->search_norm, err);
	buf_release(&b);
	return r;
}

/* The value of KEY (not null) into E; errors are prefixed by the caller
 * with the JSON path. */
static int
take(struct entry *e, const char *key, json_t *v, struct kp_error *err)
{
	if (strcmp(key, "image") == 0 || strcmp(key, "root") == 0 ||
	    strcmp(key, "kit") == 0) {
		const char *s = json_string_value(v);

		if (s == NULL || !*s || strlen(s) > CLI_ARG_MAX)
			return kp_fail(err, KP_ERR_INVALID, "expected a "
				       "non-empty string");
		*(key[0] == 'i' ? &e->image : key[0] == 'r' ? &e->root :
				  &e->kit_path) = s;
		return 0;
	}
	if (strcmp(key, "generalize") == 0)
		return take_generalize(e, v, err);
	if (strcmp(key, "dns-search-list") == 0)
		return take_search(e, v, err);
	if (strcmp(key, "clear-dns-search-list") == 0) {
		if (!json_is_true(v) || e->search_norm)
			return kp_fail(err, KP_ERR_INVALID, "expected true, "
				       "without dns-search-list");
		e->clear_search = true;
		return 0;
	}
	if (strcmp(key, "cloudbase-init") == 0) {
		e->cloudbase = json_string_value(v);
		if (e->cloudbase == NULL ||
		    (strcmp(e->cloudbase, "host") != 0 &&
		     strcmp(e->cloudbase, "activate") != 0 &&
		     strcmp(e->cloudbase, "off") != 0))
			return kp_fail(err, KP_ERR_INVALID, "expected host, "
				       "activate or off");
		return 0;
	}
	if (strcmp(key, "gvlk") == 0) {
		e->gvlk = json_string_value(v);
		if (e->gvlk == NULL || !*e->gvlk)
			return kp_fail(err, KP_ERR_INVALID, "expected auto, "
				       "none or a KMS client setup key");
		return 0;
	}
	return take_setting(&e->settings, key, v, err);
}

/* The image's whole entry: DEFAULTS overlaid by ENTRY key by key (a
 * null removes a default); errors name the JSON path. */
static int
take_entry(struct entry *e, json_t *defaults, json_t *entry, size_t i,
	   struct kp_error *err)
{
	json_t *src[2] = { defaults, entry }, *v;
	const char *key;
	size_t k;

	spp_settings_init(&e->settings);
	for (k = 0; k < 2; k++) {
		json_object_foreach(src[k], key, v) {
			char path[64];

			if (k == 0) {
				snprintf(path, sizeof(path), "defaults");
				if (json_object_get(entry, key))
					continue;	/* overridden */
			} else {
				snprintf(path, sizeof(path), "images[%zu]", i);
			}
			if (!is_plan_key(key) ||
			    (k == 0 && strcmp(key, "image") == 0)) {
				char q[96], dash[96], *u;

				/* kms_host for kms-host: say which. */
				kp_quote(key, q, sizeof(q));
				snprintf(dash, sizeof(dash), "%s", q);
				while ((u = strchr(dash, '_')))
					*u = '-';
				return kp_fail(err, KP_ERR_INVALID, "%s: '%s': "
					       "unknown key%s%s%s", path, q,
					       is_plan_key(dash) ?
						       " (did you mean '" : "",
					       is_plan_key(dash) ? dash : "",
					       is_plan_key(dash) ? "'?)" :
						       " (see docs/scale.md)");
			}
			if (json_is_null(v))
				continue;
			if (take(e, key, v, err) < 0) {
				char ctx[160];

				snprintf(ctx, sizeof(ctx), "%s.%s", path, key);
				cli_error_named(err, key, ctx);
				return -1;
			}
		}
	}
	if (e->image == NULL)
		return kp_fail(err, KP_ERR_INVALID, "images[%zu].image: "
			       "missing", i);
	if (spp_settings_check(&e->settings, err) < 0) {
		kp_error_prefix(err, "images[%zu]", i);
		return -1;
	}
	if ((e->generalize || e->kit_path) &&
	    (!spp_settings_empty(&e->settings) || e->search_norm ||
	     e->clear_search || e->cloudbase || e->gvlk))
		return kp_fail(err, KP_ERR_INVALID, "images[%zu]: %s goes in "
			       "a plan of its own (settings are kept by it): "
			       "run one plan of settings, then one of %s", i,
			       e->kit_path ? "kit" : "generalize",
			       e->kit_path ? "kits" : "generalize");
	if (e->generalize && e->kit_path)
		return kp_fail(err, KP_ERR_INVALID, "images[%zu]: generalize "
			       "and kit go in plans of their own", i);
	if (!e->generalize && !e->kit_path &&
	    spp_settings_empty(&e->settings) &&
	    !e->search_norm && !e->clear_search && !e->gvlk)
		return kp_fail(err, KP_ERR_INVALID, "images[%zu]: no setting "
			       "given", i);
	if (e->cloudbase && spp_settings_empty(&e->settings))
		return kp_fail(err, KP_ERR_INVALID, "images[%zu]: "
			       "cloudbase-init goes with a KMS setting (such "
			       "as kms-host)", i);
	return 0;
}

/* Read and validate the whole plan before anything is opened. */

/* Indexes of entries E, ordered by image name (ties by index). */
static int
by_image(const void *a, const void *b, void *e)
{
	const struct entry *v = e;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(v[x].image, v[y].image);

	return c ? c : x < y ? -1 : x > y;
}

/* Whether two of the N entries name the same image (1: the later one in
 * *I, the first in *K; -1: out of memory). */
static int
same_image(const struct entry *e, size_t n, size_t *i, size_t *k)
{
	size_t *ix = calloc(n ? n : 1, sizeof(*ix)), j;
	int found = 0;

	if (ix == NULL)
		return -1;
	for (j = 0; j < n; j++)
		ix[j] = j;
	qsort_r(ix, n, sizeof(*ix), by_image, (void *)e);
	for (j = 1; j < n && !found; j++) {
		if (strcmp(e[ix[j]].image, e[ix[j - 1]].image) == 0) {
			*k = ix[j - 1];
			*i = ix[j];
			found = 1;
		}
	}
	free(ix);
	return found;
}

static json_t *
plan_load(const char *path, struct entry **entries, size_t *n,
	  struct kp_error *err)
{
	json_error_t je;
	json_t *root, *defaults, *images, *it;
	const char *key;
	size_t i, k;

	root = strcmp(path, "-") == 0 ?
		       json_loadf(stdin, JSON_REJECT_DUPLICATES, &je) :
		       json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		kp_fail(err, KP_ERR_INPUT, "plan '%s': line %d column %d: %s",
			path, je.line, je.column, je.text);
		return NULL;
	}
	defaults = json_object_get(root, "defaults");
	images = json_object_get(root, "images");
	json_object_foreach(root, key, it)
		if (strcmp(key, "defaults") != 0 && strcmp(key, "images") != 0)
			break;
	if (!json_is_object(root) || key != NULL ||
	    (defaults && !json_is_object(defaults)) ||
	    !json_is_array(images) || json_array_size(images) == 0) {
		kp_fail(err, KP_ERR_INVALID, "plan '%s': expected {\"defaults\": "
			"{...}, \"images\": [{\"image\": PATH, ...}, ...]} "
			"(see docs/scale.md)", path);
		goto fail;
	}
	*n = json_array_size(images);
	*entries = calloc(*n, sizeof(**entries));
	if (*entries == NULL) {
		kp_fail_oom(err);
		goto fail;
	}
	if (defaults == NULL)
		json_object_set_new(root, "defaults",
				    defaults = json_object());
	json_array_foreach(images, i, it) {
		if (!json_is_object(it)) {
			kp_fail(err, KP_ERR_INVALID, "images[%zu]: expected an "
				"object", i);
			goto fail;
		}
		if (take_entry(&(*entries)[i], defaults, it, i, err) < 0)
			goto fail;
	}
	/* Two entries writing one image would race in one batch: sorted
	 * names side by side, so that a plan of 100,000 stays fast. */
	switch (same_image(*entries, *n, &i, &k)) {
	case -1:
		kp_fail_oom(err);
		goto fail;
	case 1:
		kp_fail(err, KP_ERR_INVALID, "images[%zu].image: the same as "
			"images[%zu]'s", i, k);
		goto fail;
	}
	return root;
fail:
	json_decref(root);
	return NULL;
}

/* "I/N", or JOB_COMPLETION_INDEX of an N-shard Indexed Job: *I and *N;
 * 0/1 when neither was given. */
static int
shard_of(struct cli *c, const struct batch_args *ba, unsigned long *si,
	 unsigned long *sn)
{
	struct kp_error err = KP_ERROR_INIT;
	const char *env, *slash;
	char num[32];

	*si = 0;
	*sn = 1;
	if (ba->shard && ba->shards_env)
		return cli_usage(c, "--shard and --shards-from-env exclude "
				 "each other");
	if (ba->shards_env) {
		env = getenv("JOB_COMPLETION_INDEX");
		*sn = ba->shards_env;
		if (env == NULL)
			return cli_usage(c, "--shards-from-env: "
					 "JOB_COMPLETION_INDEX is not set");
		if (kp_parse_uint("JOB_COMPLETION_INDEX", env, 0, *sn - 1, si,
				  &err) < 0)
			return cli_usage(c, "%s (--shards-from-env %lu)",
					 err.msg, *sn);
		return 0;
	}
	if (ba->shard == NULL)
		return 0;
	slash = strchr(ba->shard, '/');
	if (slash == NULL || (size_t)(slash - ba->shard) >= sizeof(num))
		return cli_usage(c, "--shard: expected I/N, e.g. 0/4");
	snprintf(num, sizeof(num), "%.*s", (int)(slash - ba->shard),
		 ba->shard);
	if (kp_parse_uint("--shard: N", slash + 1, 1, 100000, sn, &err) < 0 ||
	    kp_parse_uint("--shard: I", num, 0, *sn - 1, si, &err) < 0)
		return cli_usage(c, "%s", err.msg);
	return 0;
}

static const struct cli_opt batch_opts[] = {
	IMAGE_EVENTS_OPT,
	OPT_STRING("pubkey", 0, "PUBLIC.pem", ARGS, pubkey,
	  "a plan's kits: require their signature to be valid for this "
	  "Ed25519 key"),
	OPT_BOOL("allow-unsigned", 0, ARGS, allow_unsigned,
	  "a plan's kits: accept unsigned kits knowingly"),
	OPT_STRING("shard", 0, "I/N", struct batch_args, shard,
	  "do only the plan's images whose index modulo N is I (0 <= I < N)"),
	OPT_UINT("shards-from-env", 0, "N", struct batch_args, shards_env, 1,
	  100000, "as --shard I/N with I from JOB_COMPLETION_INDEX "
	  "(a Kubernetes Indexed Job of N completions)"),
	/* image set's, but --overlay (one image only) */
	OPT_BOOL("dry-run", 'n', ARGS, dry_run,
	  "print the changes (before -> after) and write nothing; the images "
	  "are opened read-only"),
	OPT_BIT("force-dirty", 0, ARGS, hive_flags, HIVE_FORCE_DIRTY,
	  "write a dirty hive whose logs cannot be replayed (or only in part); "
	  "Windows' pending changes in them are lost"),
	OPT_BOOL("json", 0, ARGS, json, "print JSON instead of text"),
	OPT_UINT("jobs", 'j', "N", ARGS, jobs, 1, 64,
	  "prepare and write up to N images at once, each by its own worker "
	  "(direct backend): N hives are in memory at once; default: one "
	  "prepared at a time, as many written at once as there are CPUs; "
	  "results in the plan's order"),
	IMAGE_COMMON_OPTS,
	OPT_END(),
};

static const struct cli_help batch_help = {
	"image batch PLAN [--shard I/N | --shards-from-env N] [--events jsonl] "
	"[--dry-run]",
	"Apply PLAN (a JSON file, or - for standard input) to its images: "
	"each entry names an image and its settings (the names of image set's "
	"setting options, without dashes before them), dns-search-list, "
	"cloudbase-init, gvlk, generalize ({\"mode\": \"sysprep|clone\"}) or kit "
	"(a host kit, as kms kit apply takes), "
	"and optionally root; \"defaults\" holds what entries share. The whole "
	"plan is checked before any image is opened, and every image before "
	"any is written, as image set does; an image already as planned is "
	"not written (no change), so a rerun is safe.",
	batch_opts, NULL,
};

int
cmd_image_batch(struct cli *c, int argc, char **argv)
{
	struct batch_args ba = { 0 };
	struct image_args *a = &ba.a;
	struct kp_error err = KP_ERROR_INIT;
	struct entry *e = NULL;
	struct img_plan *plans = NULL;
	const char **roots = NULL;
	char **names = NULL, shard[48];
	size_t *index = NULL, n = 0, i, ns = 0;
	unsigned long si, sn;
	json_t *root = NULL;
	char **pos;
	int npos, code = 0;

	spp_settings_init(&a->settings);
	if (cli_parse(c, argc, argv, &batch_help, a, &pos, &npos, &code))
		goto done;
	if (npos != 1) {
		code = cli_usage(c, "expected one PLAN");
		goto done;
	}
	if (a->events_fmt && strcmp(a->events_fmt, "jsonl") != 0) {
		code = cli_usage(c, "--events: '%s': expected jsonl",
				 a->events_fmt);
		goto done;
	}
	if (a->events_fmt && a->json) {
		code = cli_usage(c, "--events and --json both use standard "
				 "output: choose one");
		goto done;
	}
	code = shard_of(c, &ba, &si, &sn);
	if (code)
		goto done;
	root = plan_load(pos[0], &e, &n, &err);
	if (root == NULL) {
		code = cli_fail(c, &err);
		goto done;
	}
	/* Kits are verified whole, as kms kit apply does, before any
	 * image is opened (every entry's, not only the shard's). */
	for (i = 0; i < n; i++)
		if (e[i].kit_path &&
		    kit_open(e[i].kit_path, &(struct kit_trust){
				     a->pubkey, a->allow_unsigned },
			     &e[i].kit, &err) < 0) {
			kp_error_prefix(&err, "images[%zu].kit", i);
			code = cli_error(c, &err);
			goto done;
		}
	plans = calloc(n, sizeof(*plans));
	roots = calloc(n, sizeof(*roots));
	names = calloc(n, sizeof(*names));
	index = calloc(n, sizeof(*index));
	if (!plans || !roots || !names || !index) {
		code = cli_oom(c);
		goto done;
	}
	/* The shard: stable, as it depends only on the plan's order. */
	for (i = 0; i < n; i++) {
		struct img_plan *p = &plans[ns];

		if (i % sn != si)
			continue;
		*p = image_plan(c, a);
		if (e[i].generalize) {
			p->both = img_plan_generalize;
			p->both_ud = &e[i].gen;
		} else if (e[i].kit_path) {
			p->both = kit_plan_both;
			p->both_ud = &e[i].kit;
		} else {
			p->settings = &e[i].settings;
			p->search = e[i].search_norm;
			p->clear_search = e[i].clear_search;
			p->cloudbase = e[i].cloudbase;
			p->gvlk = e[i].gvlk;
		}
		roots[ns] = e[i].root;
		names[ns] = (char *)e[i].image;
		index[ns++] = i;
	}
	snprintf(shard, sizeof(shard), "%lu/%lu", si, sn);
	if (a->events_fmt || (!c->quiet && isatty(STDERR_FILENO))) {
		a->events = events_new(c, a->events_fmt != NULL, names, index,
				       ns);
		if (a->events == NULL) {
			code = cli_oom(c);
			goto done;
		}
		events_plan(a->events, n, sn > 1 ? shard : NULL, a->dry_run);
	}
	if (ns == 0) {
		if (!c->quiet)
			cli_note(c, "shard %s of a plan of %zu images: no image",
				 shard, n);
	} else {
		a->plans = plans;
		a->root_of = roots;
		code = image_run_batch(c, a, names, (int)ns, &plans[0]);
	}
	if (a->events)
		events_done(a->events, code);
done:
	events_free(a->events);
	for (i = 0; e && i < n; i++) {
		spp_settings_release(&e[i].settings);
		free(e[i].search_norm);
		kit_release(&e[i].kit);
	}
	free(e);
	free(plans);
	free(roots);
	free(names);
	free(index);
	json_decref(root);
	image_args_release(a);
	return code;
}

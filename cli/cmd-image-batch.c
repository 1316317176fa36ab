/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kmsprep image batch PLAN: many images, each with its own settings, in
 * one all-or-nothing batch (cli/image-batch.c), optionally one shard of
 * the plan for a job engine, with progress as JSON lines (cli/events.c).
 * The plan is read by prep/planfile.c; its format is in docs/scale.md.
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
	IMAGE_JOBS_OPT,
	IMAGE_COMMON_OPTS,
	OPT_END(),
};

static const struct cli_help batch_help = {
	.usage = "image batch PLAN [--shard I/N | --shards-from-env N] "
	"[--events jsonl] [--dry-run]",
	.about = "Apply PLAN (a JSON file, or - for standard input) to its "
	"images: each entry names an image and its settings (the names of "
	"image set's setting options, without dashes before them), "
	"dns-search-list, cloudbase-init, gvlk, cloud, generalize ({\"mode\": "
	"\"sysprep|clone\"}) or kit (a host kit, as kms kit apply takes), and "
	"optionally root; \"defaults\" holds what entries share. The whole "
	"plan is checked before any image is opened, and every image before "
	"any is written, as image set does; an image already as planned is "
	"not written (no change), so a rerun is safe.",
	.opts = batch_opts,
};

int
cmd_image_batch(struct cli *c, int argc, char **argv)
{
	struct batch_args ba = { 0 };
	struct image_args *a = &ba.a;
	struct kp_error err = KP_ERROR_INIT;
	struct img_planfile pf = { NULL, NULL, 0 };
	const struct img_planned *e;
	struct img_plan *plans = NULL;
	struct kit *kits = NULL;
	const char **roots = NULL;
	unsigned *wim_index = NULL;
	struct img_expanded x = { 0 };
	char **names = NULL, shard[48], where[48];
	size_t *index = NULL, n = 0, i, ns = 0, nsel;
	unsigned long si, sn;
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
	if (img_planfile_load(pos[0], &pf, &err) < 0) {
		code = cli_fail(c, &err);
		goto done;
	}
	e = pf.e;
	n = pf.n;
	kits = calloc(n, sizeof(*kits));
	if (kits == NULL) {
		code = cli_oom(c);
		goto done;
	}
	/* Kits are verified whole, as kms kit apply does, before any
	 * image is opened (every entry's, not only the shard's). */
	for (i = 0; i < n; i++)
		if (e[i].kit_path &&
		    kit_open(e[i].kit_path, &(struct kit_trust){
				     a->pubkey, a->allow_unsigned },
			     &kits[i], &err) < 0) {
			kp_error_prefix(&err, "images[%zu].kit", i);
			code = cli_error(c, &err);
			goto done;
		}
	plans = calloc(n, sizeof(*plans));
	roots = calloc(n, sizeof(*roots));
	wim_index = calloc(n, sizeof(*wim_index));
	names = calloc(n, sizeof(*names));
	index = calloc(n, sizeof(*index));
	if (!plans || !roots || !names || !index || !wim_index) {
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
			p->both = kit_plan_step;
			p->both_ud = &kits[i];
		} else {
			p->settings = &e[i].settings;
			p->search = e[i].search_norm;
			p->clear_search = e[i].clear_search;
			p->cloudbase = e[i].cloudbase;
			p->gvlk = e[i].gvlk;
			p->gvlk_unlisted = e[i].gvlk_unlisted;
			p->cloud = e[i].cloud;
			snprintf(where, sizeof(where), "images[%zu]", i);
			cli_settings_warning(c, &e[i].settings, where);
		}
		roots[ns] = e[i].root;
		wim_index[ns] = e[i].index;
		names[ns] = (char *)e[i].image;
		index[ns++] = i;
	}
	/* Each image (index) of a WIM file is an image of the batch, with
	 * its entry's plan: listed here, before the listener counts them;
	 * the plan's own count stays the entries'. */
	nsel = ns;
	if (ns) {
		struct img_opts io;

		code = image_opts(c, a, a->dry_run, &io);
		if (code)
			goto done;
		if (img_expand(names, ns, &io, wim_index, &x, &err) < 0) {
			code = cli_fail(c, &err);
			goto done;
		}
	}
	if (x.names) {
		struct img_plan *xp = calloc(x.n, sizeof(*xp));
		const char **xr = calloc(x.n, sizeof(*xr));
		size_t *xi = calloc(x.n, sizeof(*xi));

		if (xp == NULL || xr == NULL || xi == NULL) {
			free(xp);
			free(xr);
			free(xi);
			code = cli_oom(c);
			goto done;
		}
		for (i = 0; i < x.n; i++) {
			xp[i] = plans[x.from[i]];
			xr[i] = roots[x.from[i]];
			xi[i] = index[x.from[i]];
		}
		free(plans);
		free(roots);
		free(index);
		plans = xp;
		roots = xr;
		index = xi;
		free(names);
		names = NULL;
		ns = x.n;
	}
	snprintf(shard, sizeof(shard), "%lu/%lu", si, sn);
	if (a->events_fmt || (!c->quiet && isatty(STDERR_FILENO))) {
		a->events = events_new(c, a->events_fmt != NULL,
				       x.names ? x.names : names, index,
				       x.index_of, ns);
		if (a->events == NULL) {
			code = cli_oom(c);
			goto done;
		}
		events_plan(a->events, n, nsel, sn > 1 ? shard : NULL,
			    a->dry_run);
	}
	if (ns == 0) {
		if (!c->quiet)
			cli_note(c, "shard %s of a plan of %zu images: no image",
				 shard, n);
	} else {
		a->plans = plans;
		a->root_of = roots;
		a->index_of = x.names ? x.index_of : wim_index;
		/* Each index is named from here on: which were not. */
		a->passable = x.passable;
		code = image_run_batch(c, a, x.names ? x.names : names,
				       (int)ns, &plans[0]);
	}
	if (a->events)
		events_done(a->events, code);
done:
	events_free(a->events);
	for (i = 0; kits && i < n; i++)
		kit_release(&kits[i]);
	free(kits);
	img_planfile_release(&pf);
	free(plans);
	free(roots);
	free(wim_index);
	free(names);
	img_expanded_release(&x);
	free(index);
	image_args_release(a);
	return code;
}

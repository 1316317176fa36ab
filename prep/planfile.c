/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plan of image batch, read and validated (planfile.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hive/system.h"
#include "lib/valid.h"
#include "prep/planfile.h"

/* What an entry may hold besides the settings table's names. */
static const char *const plan_keys[] = {
	"image", "root", "generalize", "dns-search-list",
	"clear-dns-search-list", "cloudbase-init", "gvlk", "kit", "cloud",
	"gvlk-unlisted", "index", NULL,
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
take_generalize(struct img_planned *e, json_t *v, struct kp_error *err)
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
take_search(struct img_planned *e, json_t *v, struct kp_error *err)
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
take(struct img_planned *e, const char *key, json_t *v, struct kp_error *err)
{
	if (strcmp(key, "image") == 0 || strcmp(key, "root") == 0 ||
	    strcmp(key, "kit") == 0) {
		const char *s = json_string_value(v);

		if (s == NULL || !*s || strlen(s) > PLAN_STR_MAX)
			return kp_fail(err, KP_ERR_INVALID, "expected a "
				       "non-empty string");
		*(key[0] == 'i' ? &e->image : key[0] == 'r' ? &e->root :
				  &e->kit_path) = s;
		return 0;
	}
	if (strcmp(key, "index") == 0) {
		json_int_t n = json_integer_value(v);

		if (!json_is_integer(v) || n < 1 || n > 1024)
			return kp_fail(err, KP_ERR_INVALID, "expected an image "
				       "number of a WIM file, 1 to 1024");
		e->index = (unsigned)n;
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
	if (strcmp(key, "gvlk-unlisted") == 0) {
		if (!json_is_boolean(v))
			return kp_fail(err, KP_ERR_INVALID, "expected true or "
				       "false");
		e->gvlk_unlisted = json_is_true(v);
		return 0;
	}
	if (strcmp(key, "cloud") == 0) {
		const char *name = json_string_value(v);

		e->cloud = name ? cloud_find(name, err) : NULL;
		if (name == NULL)
			kp_fail(err, KP_ERR_INVALID, "expected %s",
				cloud_names());
		return e->cloud ? 0 : -1;
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

/* The first key of ENTRY that is a setting (not image, root, generalize
 * or kit), for a message. */
static const char *
first_setting(json_t *entry)
{
	const char *key;
	json_t *v;

	json_object_foreach(entry, key, v)
		if (strcmp(key, "image") && strcmp(key, "root") &&
		    strcmp(key, "index") &&
		    strcmp(key, "generalize") && strcmp(key, "kit") &&
		    !json_is_null(v))
			return key;
	return "?";
}

/* The image's whole entry: DEFAULTS overlaid by ENTRY key by key (a
 * null removes a default); errors name the JSON path. */
static int
take_entry(struct img_planned *e, json_t *defaults, json_t *entry, size_t i,
	   struct kp_error *err)
{
	json_t *src[2] = { defaults, entry }, *v;
	/* A generalization or a kit is a plan of its own: the defaults'
	 * settings are for the other entries. */
	bool own = json_object_get(entry, "generalize") ||
		   json_object_get(entry, "kit");
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
				if (own && strcmp(key, "root") != 0 &&
				    strcmp(key, "index") != 0 &&
				    is_plan_key(key))
					continue;
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
				kp_error_rename(err, key, ctx);
				return -1;
			}
		}
	}
	if (e->image == NULL)
		return kp_fail(err, KP_ERR_INVALID, "images[%zu].image: "
			       "missing", i);
	/* A cloud names the KMS host and wants the edition's setup key. */
	if (e->cloud) {
		if (spp_settings_option(&e->settings, "kms-host",
					e->cloud->host, err) < 0)
			return kp_fail(err, KP_ERR_INVALID, "images[%zu]: "
				       "cloud names the KMS host itself: give "
				       "cloud or kms-host", i);
		if (e->gvlk == NULL)
			e->gvlk = "auto";
	}
	if (spp_settings_check(&e->settings, err) < 0) {
		kp_error_prefix(err, "images[%zu]", i);
		return -1;
	}
	if ((e->generalize || e->kit_path) &&
	    (!spp_settings_empty(&e->settings) || e->search_norm ||
	     e->clear_search || e->cloudbase || e->gvlk))
		return kp_fail(err, KP_ERR_INVALID, "images[%zu]: %s goes in "
			       "a plan of its own (it keeps the settings): "
			       "move '%s' to an entry for this image in another "
			       "plan, run first", i,
			       e->kit_path ? "kit" : "generalize",
			       first_setting(entry));
	e->gen.gvlk_unlisted = e->gvlk_unlisted;
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

/* Indexes of entries E, ordered by image name (ties by index). */
static int
by_image(const void *a, const void *b, void *e)
{
	const struct img_planned *v = e;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(v[x].image, v[y].image);

	if (c == 0 && v[x].index != v[y].index)
		return v[x].index < v[y].index ? -1 : 1;
	return c ? c : x < y ? -1 : x > y;
}

/* Whether two of the N entries name the same image (1: the later one in
 * *I, the first in *K; -1: out of memory).  Two images (indexes) of one
 * WIM file are two images; every image of it (no index) is each. */
static int
same_image(const struct img_planned *e, size_t n, size_t *i, size_t *k)
{
	size_t *ix = calloc(n ? n : 1, sizeof(*ix)), j;
	int found = 0;

	if (ix == NULL)
		return -1;
	for (j = 0; j < n; j++)
		ix[j] = j;
	qsort_r(ix, n, sizeof(*ix), by_image, (void *)e);
	for (j = 1; j < n && !found; j++) {
		if (strcmp(e[ix[j]].image, e[ix[j - 1]].image) == 0 &&
		    (e[ix[j - 1]].index == 0 ||
		     e[ix[j - 1]].index == e[ix[j]].index)) {
			*k = ix[j - 1];
			*i = ix[j];
			found = 1;
		}
	}
	free(ix);
	return found;
}

static json_t *
plan_load(const char *path, struct img_planned **entries, size_t *n,
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


int
img_planfile_load(const char *path, struct img_planfile *pf,
		  struct kp_error *err)
{
	memset(pf, 0, sizeof(*pf));
	pf->root = plan_load(path, &pf->e, &pf->n, err);
	if (pf->root == NULL) {
		img_planfile_release(pf);
		return -1;
	}
	return 0;
}

void
img_planfile_release(struct img_planfile *pf)
{
	size_t i;

	for (i = 0; pf->e && i < pf->n; i++) {
		spp_settings_release(&pf->e[i].settings);
		free(pf->e[i].search_norm);
	}
	free(pf->e);
	json_decref(pf->root);
	memset(pf, 0, sizeof(*pf));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kmsprep hive show|set|new, and what the hive commands share */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd-hive.h"

/* Append the option that overrides ERR (the library names none);
 * always true, to sit in a condition after the failed call. */
bool
hive_cmd_hint(struct kp_error *err, const char *hint)
{
	size_t n = strlen(err->msg);

	snprintf(err->msg + n, sizeof(err->msg) - n, "%s", hint);
	return true;
}

int
hive_cmd_open(struct cli *c, const char *path, const struct hive_args *a,
	  unsigned flags, struct hive **h)
{
	struct hive_open_opts o = { .flags = flags, .log1 = a->log1,
				     .log2 = a->log2 };
	struct kp_error err = KP_ERROR_INIT;
	char label[PATH_MAX + 2];

	if (a->force_dirty)
		o.flags |= HIVE_FORCE_DIRTY;
	if (hive_open(path, &o, h, &err) < 0)
		return cli_error(c, &err);
	snprintf(label, sizeof(label), "'%s'", path);
	report_hive_notes(c, label, hive_state(*h), flags & HIVE_WRITE);
	return 0;
}

/* A new file (hive new, recover -o, export -o) never replaces one that
 * exists unless --force: 4, before any work.  (The write itself is
 * exclusive too, for the race.) */
int
hive_cmd_refuse(struct cli *c, const char *path, bool force)
{
	struct kp_error err = KP_ERROR_INIT;
	struct stat st;

	if (force || lstat(path, &st) < 0)
		return 0;
	kp_fail(&err, KP_ERR_REFUSED, "'%s' exists: --force replaces it",
		path);
	return cli_error(c, &err);
}

/* Print changes, then commit unless it is a dry run. */
int
hive_cmd_finish(struct cli *c, struct hive *h, const struct hive_args *a,
       struct hive_changes *ch, const char *what)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_result res = { 0 };
	json_t *j;

	if (!a->dry_run && ch->n) {
		struct hive_commit_opts co = { 0 };

		co.backup = a->backup;
		co.journal = !a->rewrite;
		if (hive_commit(h, &co, &res, &err) < 0)
			return cli_error(c, &err);
	}
	if (a->json) {
		j = json_pack("{s:s, s:b, s:b, s:o}", "file", hive_path(h),
			      "dry_run", a->dry_run, "written", res.written,
			      "changes", report_changes_json(ch));
		if (res.backup)
			json_object_set_new(j, "backup",
					    json_string(res.backup));
		/* Journaled: values edited in place, or why not. */
		if (res.journaled)
			json_object_set_new(j, "in_place",
					    res.in_place ? json_true() :
					    json_string(pe_fallback_str(
						    res.pe_why)));
		free(res.backup);
		return cli_print_json(c, j) < 0 ? KP_EXIT_FAIL : 0;
	}
	report_changes_text(stdout, ch, "");
	if (ch->n == 0)
		printf("no change: '%s' already holds %s\n", hive_path(h),
		       what);
	else if (a->dry_run)
		printf("dry run: %zu change%s, nothing written\n", ch->n,
		       ch->n == 1 ? "" : "s");
	else
		printf("wrote '%s' (%zu change%s, sequence %u)%s%s\n",
		       hive_path(h), ch->n, ch->n == 1 ? "" : "s", res.seq,
		       res.backup ? "; backup " : "",
		       res.backup ? res.backup : "");
	if (!a->dry_run && ch->n && res.rewrite_why)
		printf("rewrote the whole file: %s\n", res.rewrite_why);
	free(res.backup);
	return 0;
}

/*
 * show
 */

static const struct cli_opt show_opts[] = {
	OPT_JSON,
	OPT_LOG1,
	OPT_LOG2,
	OPT_BOOL("force", 0, ARGS, force,
	"show a hive that is not a SOFTWARE hive (its "
	  "state and logs; it holds no KMS settings)"),
	OPT_END(),
};

static const struct cli_help show_help = {
	.usage = "hive show FILE [--json] [--force]",
	.about = "Show the KMS settings (SoftwareProtectionPlatform values, "
	"with their registry types), the Windows version and whether the hive "
	"is dirty, for a SOFTWARE hive file, and the Office installed: MSI "
	"Office 2010-2016 and Click-to-Run (products, channel), the licensing "
	"service each uses and the Office KMS settings in effect. Values "
	"holding product keys are reported as present, never shown. A dirty "
	"hive with usable transaction logs is shown as Windows would see it "
	"after replaying them.",
	.opts = show_opts,
};

int
cmd_hive_show(struct cli *c, int argc, char **argv)
{
	struct hive_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct spp_report spp = { 0 };
	struct office_report office = { 0 };
	struct winver ver = { 0 };
	struct hive *h = NULL;
	struct hive_report r;
	char **pos;
	int npos, code = 0;

	if (cli_parse(c, argc, argv, &show_help, &a, &pos, &npos,
		      &code))
		return code;
	if (npos != 1)
		return cli_usage(c, "expected one FILE");
	code = hive_cmd_open(c, pos[0], &a, 0, &h);
	if (code)
		return code;
	if (winver_read(h, &ver, &err) < 0 ||
	    (spp_check_hive(h, &ver, false, a.force, &err) < 0 &&
	     hive_cmd_hint(&err, " (--force shows its state)")) ||
	    spp_read(h, &ver, &spp, &err) < 0 ||
	    office_read(h, &ver, &office, &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	r.label = pos[0];
	r.st = hive_state(h);
	r.ver = &ver;
	r.spp = &spp;
	r.office = ver.present ? &office : NULL;
	if (a.json)
		code = cli_print_json(c, report_hive_json(&r)) < 0 ?
			       KP_EXIT_FAIL : 0;
	else
		report_hive_text(stdout, &r, "");
out:
	office_report_release(&office);
	spp_report_release(&spp);
	winver_release(&ver);
	hive_close(h);
	return code;
}

/*
 * set
 */

static const struct cli_opt set_opts[] = {
	OPT_DRY_RUN,
	OPT_BACKUP,
	OPT_JSON,
	OPT_BOOL("force", 0, ARGS, force,
	  "write even if FILE does not look like a SOFTWARE hive"),
	OPT_FORCE_DIRTY,
	OPT_LOG1,
	OPT_LOG2,
	OPT_REWRITE,
	OPT_SETTINGS(ARGS, settings, NULL),
	OPT_END(),
};

static const struct cli_help set_help = {
	.usage = "hive set FILE [--dry-run] [--backup] [--activation-id GUID] "
	"SETTINGS...",
	.about = "Set KMS settings in a SOFTWARE hive file. Only the values "
	"named are touched; missing keys are created. The hive is checked "
	"whole when it is read; values are then changed cell by cell (key "
	"edits go through a whole new hive, checked whole), and only the "
	"changed pages are written, first to the transaction log (FILE.LOG1 "
	"or .LOG2), then in place, as Windows 8.1 and later do: a crash "
	"leaves the old or, once the log is replayed, the new hive. With "
	"--rewrite (and for older hives, dirty ones, or --backup) the file is "
	"replaced atomically (temporary file, fsync, rename) instead. A dirty "
	"hive is first brought up to date from its transaction logs.",
	.opts = set_opts,
};

int
cmd_hive_set(struct cli *c, int argc, char **argv)
{
	struct hive_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct hive_changes ch = HIVE_CHANGES_INIT;
	struct winver ver = { 0 };
	struct hive *h = NULL;
	char **pos;
	int npos, code = 0;

	spp_settings_init(&a.settings);
	if (cli_parse(c, argc, argv, &set_help, &a, &pos, &npos,
		      &code))
		goto out;
	if (npos != 1) {
		code = cli_usage(c, "expected one FILE");
		goto out;
	}
	if (spp_settings_empty(&a.settings)) {
		code = cli_usage(c, "no setting given");
		goto out;
	}
	if (spp_settings_check(&a.settings, &err) < 0) {
		code = cli_usage(c, "%s", err.msg);
		goto out;
	}	cli_settings_warning(c, &a.settings, NULL);

	code = hive_cmd_open(c, pos[0], &a, HIVE_WRITE, &h);
	if (code)
		goto out;
	if (winver_read(h, &ver, &err) < 0 ||
	    (spp_check_hive(h, &ver, true, a.force, &err) < 0 &&
	     hive_cmd_hint(&err, " (--force writes anyway)")) ||
	    spp_apply(&a.settings, h, &ver, &ch, &err) < 0) {
		code = cli_fail(c, &err);
		goto out;
	}
	code = hive_cmd_finish(c, h, &a, &ch, "these settings");
out:
	hive_changes_release(&ch);
	winver_release(&ver);
	spp_settings_release(&a.settings);
	hive_close(h);
	return code;
}

/*
 * new
 */

static const struct cli_opt new_opts[] = {
	OPT_BOOL("force", 0, ARGS, force, "replace FILE if it exists"),
	OPT_DRY_RUN,
	OPT_END(),
};

static const struct cli_help new_help = {
	.usage = "hive new FILE [--force] [--dry-run]",
	.about = "Create an empty, valid hive: a root key with a default "
	"security descriptor and nothing else. FILE must not exist unless "
	"--force.",
	.opts = new_opts,
};

int
cmd_hive_new(struct cli *c, int argc, char **argv)
{
	struct hive_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct kp_commit_opts co = { 0 };
	struct buf img = BUF_INIT;
	struct hive *h = NULL;
	char **pos;
	int npos, code = 0;

	if (cli_parse(c, argc, argv, &new_help, &a, &pos, &npos,
		      &code))
		return code;
	if (npos != 1)
		return cli_usage(c, "expected one FILE");
	if ((code = hive_cmd_refuse(c, pos[0], a.force)) != 0)
		return code;
	co.mode = 0644;
	co.no_replace = !a.force;
	if (regf_new_empty(&img, regf_filetime_now(), &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	if (a.dry_run) {
		printf("would create '%s' (empty hive, %zu bytes); dry run, "
		       "nothing written\n", pos[0], img.len);
		goto out;
	}
	if (kp_write_file_atomic(pos[0], img.data, img.len, &co, &err) < 0 ||
	    hive_open(pos[0], NULL, &h, &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	printf("created '%s' (empty hive)\n", pos[0]);
out:
	hive_close(h);
	buf_release(&img);
	return code;
}


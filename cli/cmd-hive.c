/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kmsprep hive show|set|new|export|import|recover */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "hive/regtext.h"
#include "hive/spp.h"
#include "lib/fileio.h"
#include "report.h"

/* Options several hive commands share. */
struct hive_args {
	bool json, dry_run, backup, force, force_dirty, utf16, rewrite;
	const char *log1, *log2, *prefix, *output;
	struct spp_settings settings;
};

static int
hive_opt(struct cli *c, void *ud, const char *name, const char *arg,
	 struct kp_error *err)
{
	struct hive_args *a = ud;

	(void)c;
	if (strcmp(name, "json") == 0)
		a->json = true;
	else if (strcmp(name, "dry-run") == 0)
		a->dry_run = true;
	else if (strcmp(name, "backup") == 0)
		a->backup = true;
	else if (strcmp(name, "force") == 0)
		a->force = true;
	else if (strcmp(name, "force-dirty") == 0)
		a->force_dirty = true;
	else if (strcmp(name, "utf16") == 0)
		a->utf16 = true;
	else if (strcmp(name, "rewrite") == 0)
		a->rewrite = true;
	else if (strcmp(name, "log1") == 0)
		a->log1 = arg;
	else if (strcmp(name, "log2") == 0)
		a->log2 = arg;
	else if (strcmp(name, "prefix") == 0)
		a->prefix = arg;
	else if (strcmp(name, "output") == 0)
		a->output = arg;
	else
		return spp_settings_option(&a->settings, name, arg, err);
	return 0;
}

#define OPT_JSON { "json", 0, NULL, "print JSON instead of text" }
#define OPT_DRY_RUN { "dry-run", 'n', NULL, \
	"print the changes (before -> after) and write nothing" }
#define OPT_BACKUP { "backup", 0, NULL, \
	"keep the old file as FILE.bak (or FILE.bak.N)" }
#define OPT_FORCE_DIRTY { "force-dirty", 0, NULL, \
	"write a dirty hive whose logs cannot be replayed; Windows' pending " \
	"changes in them are lost" }
#define OPT_LOG1 { "log1", 0, "FILE", "first transaction log (default " \
	"FILE.LOG1 beside the hive)" }
#define OPT_LOG2 { "log2", 0, "FILE", "second transaction log (default " \
	"FILE.LOG2 beside the hive)" }
#define OPT_REWRITE { "rewrite", 0, NULL, "replace the whole file " \
	"atomically instead of writing the changed pages in place through " \
	"the transaction log" }
#define OPT_END { NULL, 0, NULL, NULL }

static int
open_hive(struct cli *c, const char *path, const struct hive_args *a,
	  unsigned flags, struct hive **h)
{
	struct hive_open_opts o = { flags, a->log1, a->log2 };
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
static int
refuse_existing(struct cli *c, const char *path, bool force)
{
	struct kp_error err = KP_ERROR_INIT;
	struct stat st;

	if (force || lstat(path, &st) < 0)
		return 0;
	kp_fail(&err, KP_EXIT_REFUSED, "'%s' exists: --force replaces it",
		path);
	return cli_error(c, &err);
}

/* Print changes, then commit unless it is a dry run. */
static int
finish(struct cli *c, struct hive *h, const struct hive_args *a,
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
	{ "force", 0, NULL, "show a hive that is not a SOFTWARE hive (its "
	  "state and logs; it holds no KMS settings)" },
	OPT_END,
};

static const struct cli_help show_help = {
	"hive show FILE [--json] [--force]",
	"Show the KMS settings (SoftwareProtectionPlatform values, with their "
	"registry types), the Windows version and whether the hive is dirty, "
	"for a SOFTWARE hive file. Values holding product keys are reported "
	"as present, never shown. A dirty hive with usable transaction logs "
	"is shown as Windows would see it after replaying them.",
	show_opts, false, NULL, NULL,
};

int
cmd_hive_show(struct cli *c, int argc, char **argv)
{
	struct hive_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct spp_report spp = { 0 };
	struct winver ver = { 0 };
	struct hive *h = NULL;
	struct hive_report r;
	char **pos;
	int npos, code = 0;

	if (cli_parse(c, argc, argv, &show_help, hive_opt, &a, &pos, &npos,
		      &code))
		return code;
	if (npos != 1)
		return cli_usage(c, "expected one FILE");
	code = open_hive(c, pos[0], &a, 0, &h);
	if (code)
		return code;
	if (winver_read(h, &ver, &err) < 0 ||
	    spp_check_hive(h, &ver, false, a.force, &err) < 0 ||
	    spp_read(h, &ver, &spp, &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	r.label = pos[0];
	r.st = hive_state(h);
	r.ver = &ver;
	r.spp = &spp;
	if (a.json)
		code = cli_print_json(c, report_hive_json(&r)) < 0 ?
			       KP_EXIT_FAIL : 0;
	else
		report_hive_text(stdout, &r, "");
out:
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
	{ "force", 0, NULL,
	  "write even if FILE does not look like a SOFTWARE hive" },
	OPT_FORCE_DIRTY,
	OPT_LOG1,
	OPT_LOG2,
	OPT_REWRITE,
	OPT_END,
};

static const struct cli_help set_help = {
	"hive set FILE [--dry-run] [--backup] [--activation-id GUID] "
	"SETTINGS...",
	"Set KMS settings in a SOFTWARE hive file. Only the values named are "
	"touched; missing keys are created. The new hive is checked whole, then "
	"only the changed pages are written, first to the transaction log "
	"(FILE.LOG1 or .LOG2), then in place, as Windows 8.1 and later do: a "
	"crash leaves the old or, once the log is replayed, the new hive. "
	"With --rewrite (and for older hives, dirty ones, or --backup) the "
	"file is replaced atomically (temporary file, fsync, rename) instead. "
	"A dirty hive is first brought up to date from its transaction logs.",
	set_opts, true, NULL, NULL,
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
	if (cli_parse(c, argc, argv, &set_help, hive_opt, &a, &pos, &npos,
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
	}
	code = open_hive(c, pos[0], &a, HIVE_WRITE, &h);
	if (code)
		goto out;
	if (winver_read(h, &ver, &err) < 0 ||
	    spp_check_hive(h, &ver, true, a.force, &err) < 0 ||
	    spp_apply(&a.settings, h, &ver, &ch, &err) < 0) {
		code = err.code == KP_EXIT_USAGE ? cli_usage(c, "%s", err.msg) :
						   cli_error(c, &err);
		goto out;
	}
	code = finish(c, h, &a, &ch, "these settings");
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
	{ "force", 0, NULL, "replace FILE if it exists" },
	OPT_DRY_RUN,
	OPT_END,
};

static const struct cli_help new_help = {
	"hive new FILE [--force] [--dry-run]",
	"Create an empty, valid hive: a root key with a default security "
	"descriptor and nothing else. FILE must not exist unless --force.",
	new_opts, false, NULL, NULL,
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

	if (cli_parse(c, argc, argv, &new_help, hive_opt, &a, &pos, &npos,
		      &code))
		return code;
	if (npos != 1)
		return cli_usage(c, "expected one FILE");
	if ((code = refuse_existing(c, pos[0], a.force)) != 0)
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

/*
 * export
 */

static const struct cli_opt export_opts[] = {
	{ "prefix", 0, "ROOT", "key path prefix to write (default "
	  "HKEY_LOCAL_MACHINE\\SOFTWARE or \\SYSTEM by the hive's contents)" },
	{ "utf16", 0, NULL, "write UTF-16LE with a byte order mark and CRLF, "
	  "as regedit does (default UTF-8, LF)" },
	{ "output", 'o', "OUT", "write to OUT (atomically) instead of "
	  "standard output; OUT must not exist unless --force" },
	{ "force", 0, NULL, "replace OUT if it exists" },
	OPT_DRY_RUN,
	OPT_END,
};

static const struct cli_help export_help = {
	"hive export FILE [KEY] [--prefix ROOT] [--utf16] [-o OUT [--force]] "
	"[--dry-run]",
	"Print KEY (default the whole hive) and everything below it as .reg "
	"text that regedit and 'kmsprep hive import' read back to the same "
	"bytes. KEY is a path below the hive root, or starts with the root "
	"regedit shows (HKEY_LOCAL_MACHINE\\SOFTWARE\\...). Values holding "
	"product keys are left out, with a comment. Import cannot write values "
	"over 16344 bytes (the few big-data values of a hive).",
	export_opts, false, NULL, NULL,
};

int
cmd_hive_export(struct cli *c, int argc, char **argv)
{
	struct hive_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct buf out = BUF_INIT, u16 = BUF_INIT;
	struct regtext_map map = { 0 };
	struct hive *h = NULL;
	char **pos, *key = NULL;
	int npos, code = 0;

	if (cli_parse(c, argc, argv, &export_help, hive_opt, &a, &pos, &npos,
		      &code))
		return code;
	if (npos < 1 || npos > 2)
		return cli_usage(c, "expected FILE and an optional KEY");
	if (a.dry_run && !a.output)
		return cli_usage(c, "--dry-run needs -o OUT (export without "
				 "-o writes nothing anyway)");
	if (a.output && (code = refuse_existing(c, a.output, a.force)) != 0)
		return code;
	code = open_hive(c, pos[0], &a, 0, &h);
	if (code)
		return code;
	map.kind = hive_kind(h);
	map.prefix = a.prefix;
	map.allow_relative = true;
	if (regtext_map_path(npos > 1 ? pos[1] : "\\", &map, &key, &err) < 0 ||
	    regtext_export(h, key, a.prefix ? a.prefix :
			   regtext_default_prefix(map.kind), &out, &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	if (a.utf16 && regtext_to_utf16(&out, &u16) < 0) {
		code = cli_error(c, &(struct kp_error){ KP_EXIT_FAIL,
							"out of memory" });
		goto out;
	}
	if (a.output) {
		struct kp_commit_opts co = { NULL, 0644, false, NULL };
		const struct buf *b = a.utf16 ? &u16 : &out;

		co.no_replace = !a.force;
		if (a.dry_run)
			printf("would write '%s' (%zu bytes); dry run, nothing "
			       "written\n", a.output, b->len);
		else if (kp_write_file_atomic(a.output, b->data, b->len, &co,
					      &err) < 0)
			code = cli_error(c, &err);
	} else if (cli_write_stdout(c, a.utf16 ? &u16 : &out) < 0) {
		code = KP_EXIT_FAIL;
	}
out:
	free(key);
	buf_release(&out);
	buf_release(&u16);
	hive_close(h);
	return code;
}

/*
 * import
 */

static const struct cli_opt import_opts[] = {
	OPT_DRY_RUN,
	OPT_BACKUP,
	OPT_JSON,
	{ "prefix", 0, "ROOT", "strip this prefix from the key paths "
	  "instead of HKEY_LOCAL_MACHINE\\SOFTWARE or \\SYSTEM" },
	OPT_FORCE_DIRTY,
	OPT_LOG1,
	OPT_LOG2,
	OPT_REWRITE,
	OPT_END,
};

static const struct cli_help import_help = {
	"hive import FILE REGFILE [--prefix ROOT] [--dry-run] [--backup]",
	"Merge a .reg file (as regedit writes it: UTF-16LE with a BOM or "
	"UTF-8, CRLF or LF; dword:, hex:, hex(N):, \"name\"=- and [-key] "
	"deletions) into a hive. Missing keys are created, parents included. "
	"All or nothing: the whole file is checked and applied before the "
	"hive is replaced. REGFILE may be - for standard input.",
	import_opts, false, NULL, NULL,
};

int
cmd_hive_import(struct cli *c, int argc, char **argv)
{
	struct hive_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct hive_changes ch = HIVE_CHANGES_INIT;
	struct regtext_map map = { 0 };
	struct regops ops = REGOPS_INIT;
	struct buf text = BUF_INIT;
	struct hive *h = NULL;
	char **pos;
	int npos, code = 0;

	if (cli_parse(c, argc, argv, &import_help, hive_opt, &a, &pos, &npos,
		      &code))
		return code;
	if (npos != 2)
		return cli_usage(c, "expected FILE and REGFILE");
	if (kp_read_file(pos[1], REGTEXT_MAX, &text, &err) < 0)
		return cli_error(c, &err);
	code = open_hive(c, pos[0], &a, HIVE_WRITE, &h);
	if (code)
		goto out;
	map.kind = hive_kind(h);
	map.prefix = a.prefix;
	if (regtext_parse(text.data, text.len, pos[1], &map, &ops, &err) < 0 ||
	    regtext_apply(h, &ops, &ch, &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	code = finish(c, h, &a, &ch, "everything in the .reg file");
out:
	regops_release(&ops);
	hive_changes_release(&ch);
	buf_release(&text);
	hive_close(h);
	return code;
}

/*
 * recover
 */

static const struct cli_opt recover_opts[] = {
	{ "output", 'o', "OUT", "write the recovered hive here (required)" },
	OPT_LOG1,
	OPT_LOG2,
	{ "force", 0, NULL, "replace OUT if it exists" },
	{ "force-dirty", 0, NULL, "when a log is damaged part way, replay the "
	  "entries before the damage (as Windows would) and write; the later "
	  "changes are lost" },
	OPT_DRY_RUN,
	OPT_JSON,
	OPT_END,
};

static const struct cli_help recover_help = {
	"hive recover FILE [--log1 LOG] [--log2 LOG] -o OUT [--force] "
	"[--force-dirty] [--dry-run]",
	"Replay the transaction logs of a dirty hive (both formats: the old "
	"dirty-page logs of Vista and 7, the HvLE entries of 8.1 and later) "
	"onto a copy of FILE and write a clean, consistent hive to OUT. FILE "
	"and its logs are not modified. The new hive's sequence number is "
	"above every one in the logs, so Windows can never replay them over "
	"it.",
	recover_opts, false, NULL, NULL,
};

int
cmd_hive_recover(struct cli *c, int argc, char **argv)
{
	struct hive_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_result res = { 0 };
	struct hive_commit_opts co = { 0 };
	const struct hive_state *st;
	struct hive *h = NULL;
	char **pos;
	int npos, code = 0;
	bool partial;
	json_t *j;

	if (cli_parse(c, argc, argv, &recover_help, hive_opt, &a, &pos, &npos,
		      &code))
		return code;
	if (npos != 1)
		return cli_usage(c, "expected one FILE");
	if (a.output == NULL)
		return cli_usage(c, "-o OUT is required");
	if ((code = refuse_existing(c, a.output, a.force)) != 0)
		return code;
	partial = a.force_dirty;
	a.force_dirty = true;	/* failures are reported below, as 3 */
	c->quiet = true;
	code = open_hive(c, pos[0], &a, HIVE_WRITE, &h);
	if (code)
		return code;
	st = hive_state(h);
	if (st->dirty && !st->recovered) {
		err.code = KP_EXIT_INPUT;
		snprintf(err.msg, sizeof(err.msg),
			 "'%s': cannot recover: %s; nothing written", pos[0],
			 st->logs.why);
		code = cli_error(c, &err);
		goto out;
	}
	if (st->logs.damage[0] && !partial) {
		kp_fail(&err, KP_EXIT_INPUT, "'%s': damaged transaction log "
			"(%s): only the changes before it can be replayed; "
			"nothing written (--force-dirty writes them)", pos[0],
			st->logs.damage);
		code = cli_error(c, &err);
		goto out;
	}
	co.dest = a.output;
	co.no_replace = !a.force;
	co.force = true;
	if (!a.dry_run && hive_commit(h, &co, &res, &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	if (a.json) {
		j = json_pack("{s:s, s:s, s:b, s:b, s:i, s:i, s:s?}", "file",
			      pos[0], "output", a.output, "dry_run", a.dry_run,
			      "was_dirty", st->dirty, "log_format",
			      st->logs.format, "applied",
			      (int)st->logs.applied, "damage",
			      st->logs.damage[0] ? st->logs.damage : NULL);
		if (j && !a.dry_run) {
			json_object_set_new(j, "first_sequence",
					    json_integer(st->logs.first_seq));
			json_object_set_new(j, "sequence",
					    json_integer(res.seq));
		}
		code = cli_print_json(c, j) < 0 ? KP_EXIT_FAIL : 0;
	} else if (a.dry_run) {
		if (!st->dirty)
			printf("'%s' is clean: nothing to replay", pos[0]);
		else
			printf("would recover '%s' -> '%s': %s-format log, "
			       "%zu %s", pos[0], a.output,
			       st->logs.format == 6 ? "new" : "old",
			       st->logs.applied, st->logs.format == 6 ?
			       "entries" : "pages");
		printf("; dry run, nothing written\n");
	} else if (!st->dirty) {
		printf("'%s' is clean (sequence %u/%u): nothing to replay; "
		       "wrote a checked copy to '%s'\n", pos[0],
		       st->hdr.seq1, st->hdr.seq2, a.output);
	} else {
		printf("recovered '%s' -> '%s': %s-format log, %zu %s applied",
		       pos[0], a.output, st->logs.format == 6 ? "new" : "old",
		       st->logs.applied,
		       st->logs.format == 6 ? "entries" : "pages");
		if (st->logs.format == 6)
			printf(" (sequence %u to %u)", st->logs.first_seq,
			       st->logs.last_seq);
		printf("; new sequence %u\n", res.seq);
		if (st->logs.damage[0])
			printf("warning: damaged log (%s): later changes were "
			       "not replayed (--force-dirty)\n",
			       st->logs.damage);
	}
out:
	free(res.backup);
	hive_close(h);
	return code;
}

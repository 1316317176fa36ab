/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kmsprep hive export|import|recover */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd-hive.h"

/*
 * export
 */

static const struct cli_opt export_opts[] = {
	OPT_STRING("prefix", 0, "ROOT", ARGS, prefix,
	"key path prefix to write (default "
	  "HKEY_LOCAL_MACHINE\\SOFTWARE or \\SYSTEM by the hive's contents)"),
	OPT_BOOL("utf16", 0, ARGS, utf16,
	"write UTF-16LE with a byte order mark and CRLF, "
	  "as regedit does (default UTF-8, LF)"),
	OPT_STRING("output", 'o', "OUT", ARGS, output,
	"write to OUT (atomically) instead of "
	  "standard output; OUT must not exist unless --force"),
	OPT_BOOL("force", 0, ARGS, force, "replace OUT if it exists"),
	OPT_DRY_RUN,
	OPT_END(),
};

static const struct cli_help export_help = {
	.usage = "hive export FILE [KEY] [--prefix ROOT] [--utf16] [-o OUT "
	"[--force]] [--dry-run]",
	.about = "Print KEY (default the whole hive) and everything below it "
	"as .reg text that regedit and 'kmsprep hive import' read back to the "
	"same bytes. KEY is a path below the hive root, or starts with the "
	"root regedit shows (HKEY_LOCAL_MACHINE\\SOFTWARE\\...). Values "
	"holding product keys are left out, with a comment. Import cannot "
	"write values over 16344 bytes (the few big-data values of a hive).",
	.opts = export_opts,
};

int
cmd_hive_export(struct cli *c, int argc, char **argv)
{
	struct hive_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct buf out = BUF_INIT, u16 = BUF_INIT, left = BUF_INIT;
	const struct hive_state *st;
	struct regtext_map map = { 0 };
	struct hive *h = NULL;
	char **pos, *key = NULL;
	int npos, code = 0;

	if (cli_parse(c, argc, argv, &export_help, &a, &pos, &npos,
		      &code))
		return code;
	if (npos < 1 || npos > 2)
		return cli_usage(c, "expected FILE and an optional KEY");
	if (a.dry_run && !a.output)
		return cli_usage(c, "--dry-run needs -o OUT (export without "
				 "-o writes nothing anyway)");
	if (a.output && (code = hive_cmd_refuse(c, a.output, a.force)) != 0)
		return code;
	code = hive_cmd_open(c, pos[0], &a, 0, &h);
	if (code)
		return code;
	map.kind = hive_kind(h);
	map.prefix = a.prefix;
	map.allow_relative = true;
	if (regtext_map_path(npos > 1 ? pos[1] : "\\", &map, &key, &err) < 0 ||
	    regtext_export(h, key, a.prefix ? a.prefix :
			   regtext_default_prefix(map.kind), &out, &left,
			   &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	/* Said even with the text on standard output: on standard error. */
	st = hive_state(h);
	if (st->dirty && !st->recovered)
		cli_note(c, "the hive is dirty and its transaction logs cannot "
			 "be replayed: exported as its primary file holds it, "
			 "without its last changes");
	if (left.len) {
		char *line, *save = NULL;

		cli_note(c, "left out, since .reg text cannot carry their "
			 "names (see the comments in the text):");
		for (line = strtok_r(left.data, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			cli_note(c, "  %s", line);
	}
	if (a.utf16 && regtext_to_utf16(&out, &u16) < 0) {
		code = cli_oom(c);
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
	buf_release(&left);
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
	OPT_STRING("prefix", 0, "ROOT", ARGS, prefix,
	"strip this prefix from the key paths "
	  "instead of HKEY_LOCAL_MACHINE\\SOFTWARE or \\SYSTEM"),
	OPT_FORCE_DIRTY,
	OPT_LOG1,
	OPT_LOG2,
	OPT_REWRITE,
	OPT_END(),
};

static const struct cli_help import_help = {
	.usage = "hive import FILE REGFILE [--prefix ROOT] [--dry-run] "
	"[--backup]",
	.about = "Merge a .reg file (as regedit writes it: UTF-16LE with a "
	"BOM or UTF-8, CRLF or LF; dword:, hex:, hex(N):, \"name\"=- and "
	"[-key] deletions) into a hive. Missing keys are created, parents "
	"included. All or nothing: the whole file is checked and applied "
	"before the hive is replaced. REGFILE may be - for standard input.",
	.opts = import_opts,
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

	if (cli_parse(c, argc, argv, &import_help, &a, &pos, &npos,
		      &code))
		return code;
	if (npos != 2)
		return cli_usage(c, "expected FILE and REGFILE");
	if (kp_read_file(pos[1], REGTEXT_MAX, &text, &err) < 0)
		return cli_error(c, &err);
	code = hive_cmd_open(c, pos[0], &a, HIVE_WRITE, &h);
	if (code)
		goto out;
	map.kind = hive_kind(h);
	map.prefix = a.prefix;
	if (regtext_parse(text.data, text.len, pos[1], &map, &ops, &err) < 0 ||
	    regtext_apply(h, &ops, &ch, &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	code = hive_cmd_finish(c, h, &a, &ch, "everything in the .reg file");
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
	OPT_STRING("output", 'o', "OUT", ARGS, output,
	"write the recovered hive here (required)"),
	OPT_LOG1,
	OPT_LOG2,
	OPT_BOOL("force", 0, ARGS, force, "replace OUT if it exists"),
	OPT_BOOL("force-dirty", 0, ARGS, force_dirty,
	"when a log is damaged part way, replay the "
	  "entries before the damage (as Windows would) and write; the later "
	  "changes are lost"),
	OPT_DRY_RUN,
	OPT_JSON,
	OPT_END(),
};

static const struct cli_help recover_help = {
	.usage = "hive recover FILE [--log1 LOG] [--log2 LOG] -o OUT "
	"[--force] [--force-dirty] [--dry-run]",
	.about = "Replay the transaction logs of a dirty hive (both formats: "
	"the old dirty-page logs of Vista and 7, the HvLE entries of 8.1 and "
	"later) onto a copy of FILE and write a clean, consistent hive to "
	"OUT. FILE and its logs are not modified. The new hive's sequence "
	"number is above every one in the logs, so Windows can never replay "
	"them over it.",
	.opts = recover_opts,
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

	if (cli_parse(c, argc, argv, &recover_help, &a, &pos, &npos,
		      &code))
		return code;
	if (npos != 1)
		return cli_usage(c, "expected one FILE");
	if (a.output == NULL)
		return cli_usage(c, "-o OUT is required");
	if ((code = hive_cmd_refuse(c, a.output, a.force)) != 0)
		return code;
	partial = a.force_dirty;
	a.force_dirty = true;	/* failures are reported below, as 3 */
	c->quiet = true;
	code = hive_cmd_open(c, pos[0], &a, HIVE_WRITE, &h);
	if (code)
		return code;
	st = hive_state(h);
	if (st->dirty && !st->recovered) {
		err.status = KP_ERR_INPUT;
		snprintf(err.msg, sizeof(err.msg),
			 "'%s': cannot recover: %s; nothing written", pos[0],
			 st->logs.why);
		code = cli_error(c, &err);
		goto out;
	}
	if (st->logs.damage[0] && !partial) {
		kp_fail(&err, KP_ERR_INPUT, "'%s': damaged transaction log "
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

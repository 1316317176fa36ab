/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hive commands' shared parts (cli/cmd-hive*.c). */
#ifndef KP_CLI_HIVE_H
#define KP_CLI_HIVE_H
#include "cli.h"
#include "report.h"

/* Options several hive commands share. */
struct hive_args {
	bool json, dry_run, backup, force, force_dirty, utf16, rewrite;
	const char *log1, *log2, *prefix, *output;
	struct spp_settings settings;
};

#define ARGS struct hive_args

#define OPT_JSON OPT_BOOL("json", 0, ARGS, json, "print JSON instead of text")
#define OPT_DRY_RUN OPT_BOOL("dry-run", 'n', ARGS, dry_run, \
	"print the changes (before -> after) and write nothing")
#define OPT_BACKUP OPT_BOOL("backup", 0, ARGS, backup, \
	"keep the old file as FILE.bak (or FILE.bak.N)")
#define OPT_FORCE_DIRTY OPT_BOOL("force-dirty", 0, ARGS, force_dirty, \
	"write a dirty hive whose logs cannot be replayed; Windows' pending " \
	"changes in them are lost")
#define OPT_LOG1 OPT_STRING("log1", 0, "FILE", ARGS, log1, \
	"first transaction log (default " \
	"FILE.LOG1 beside the hive)")
#define OPT_LOG2 OPT_STRING("log2", 0, "FILE", ARGS, log2, \
	"second transaction log (default " \
	"FILE.LOG2 beside the hive)")
#define OPT_REWRITE OPT_BOOL("rewrite", 0, ARGS, rewrite, \
	"replace the whole file atomically instead of writing the changed " \
	"pages in place through the transaction log")

/* Append HINT (the option that overrides ERR: the library names none);
 * always true, to sit in a condition after the failed call. */
bool hive_cmd_hint(struct kp_error *err, const char *hint);

/* Open the hive at PATH with FLAGS and A's logs and --force-dirty, and
 * say when its logs were replayed or set aside; prints its own errors. */
int hive_cmd_open(struct cli *c, const char *path, const struct hive_args *a,
		  unsigned flags, struct hive **h);

/* Refuse (exit 4) to replace an existing PATH unless FORCE. */
int hive_cmd_refuse(struct cli *c, const char *path, bool force);

/* Print the changes CH, then commit H unless it is a dry run; WHAT is
 * what an unchanged hive already holds. */
int hive_cmd_finish(struct cli *c, struct hive *h, const struct hive_args *a,
		    struct hive_changes *ch, const char *what);

#endif

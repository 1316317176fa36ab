/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The command layer: parses arguments, calls the libraries, prints.  Every
 * command is a function taking its own argv (argv[0] is the command name)
 * and returning an exit code from cli/exitcodes.h.
 */
#ifndef KP_CLI_H
#define KP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "exitcodes.h"
#include "include/kmsprep.h"

/* Where a command runs: its full name for messages ("hive set"). */
struct cli {
	const char *name;
	bool quiet;		/* no progress on stderr */
};

/* Called for an option bound to a function (CLI_OPT_FN); UD is the
 * command's argument struct given to cli_parse. */
typedef int cli_opt_fn(struct cli *c, void *ud, const char *name,
		       const char *arg, struct kp_error *err);

/* What an option does with its argument (after git's parse-options). */
enum cli_opt_type {
	CLI_OPT_END = 0,
	CLI_OPT_BOOL,		/* bool at OFF becomes true */
	CLI_OPT_BIT,		/* unsigned at OFF gets the bits in MAX */
	CLI_OPT_STRING,		/* const char * at OFF becomes the argument */
	CLI_OPT_UINT,		/* unsigned long at OFF, MIN to MAX */
	CLI_OPT_QUIET,		/* struct cli's quiet */
	CLI_OPT_FN,		/* FN is called */
	CLI_OPT_SETTINGS,	/* every SPP setting option (hive/spp.h), into
				 * the struct spp_settings at OFF; ONLY, if
				 * set, picks which */
};

/* An option of one command, declared once: its name and help, and the
 * field of the command's argument struct it sets. */
struct cli_opt {
	enum cli_opt_type type;
	const char *name;	/* long name without dashes */
	int short_name;		/* 0 if none */
	const char *arg;	/* argument syntax, NULL for a flag */
	const char *help;
	size_t off;		/* offsetof the field in the argument struct */
	unsigned long min, max;
	cli_opt_fn *fn;
	bool (*only)(const char *opt);
};

#define OPT_BOOL(l, s, T, f, h) \
	{ .type = CLI_OPT_BOOL, .name = (l), .short_name = (s), .help = (h), \
	  .off = offsetof(T, f) }
#define OPT_BIT(l, s, T, f, bit, h) \
	{ .type = CLI_OPT_BIT, .name = (l), .short_name = (s), .help = (h), \
	  .off = offsetof(T, f), .max = (bit) }
#define OPT_STRING(l, s, a, T, f, h) \
	{ .type = CLI_OPT_STRING, .name = (l), .short_name = (s), .arg = (a), \
	  .help = (h), .off = offsetof(T, f) }
#define OPT_UINT(l, s, a, T, f, lo, hi, h) \
	{ .type = CLI_OPT_UINT, .name = (l), .short_name = (s), .arg = (a), \
	  .help = (h), .off = offsetof(T, f), .min = (lo), .max = (hi) }
#define OPT_QUIET() \
	{ .type = CLI_OPT_QUIET, .name = "quiet", .short_name = 'q', \
	  .help = "no progress messages on standard error" }
#define OPT_FN(l, s, a, f, h) \
	{ .type = CLI_OPT_FN, .name = (l), .short_name = (s), .arg = (a), \
	  .help = (h), .fn = (f) }
#define OPT_SETTINGS(T, f, o) \
	{ .type = CLI_OPT_SETTINGS, .name = "", .off = offsetof(T, f), \
	  .only = (o) }
#define OPT_END() { .type = CLI_OPT_END }

/* A command's help: usage line, description, options. */
struct cli_help {
	const char *usage;	/* after "usage: kmsprep " */
	const char *about;
	const struct cli_opt *opts;
	const char *more;	/* text after the options, or NULL */
	const char *exits;	/* what the exit codes mean here, or NULL */
};

/* The longest option value or argument accepted (PATH_MAX). */
#define CLI_ARG_MAX 4096

/* Parse ARGV (ARGV[0] is the command) with the options of HELP, setting
 * the fields of UD (the command's argument struct) they are bound to; POS
 * and NPOS receive the positional arguments.  Long options are matched
 * exactly (no abbreviations: --force never means --force-dirty).  Empty
 * arguments and ones longer than CLI_ARG_MAX are usage errors.  Returns 0, -1
 * after an error (already printed, *CODE set) or 1 after printing --help. */
int cli_parse(struct cli *c, int argc, char **argv, const struct cli_help *help,
	      void *ud, char ***pos, int *npos, int *code);

/* The exit code for a library status: the one place they are mapped. */
int cli_exit_code(enum kp_status status);

/* Print "kmsprep: NAME: MSG" for ERR, with the advice its remedy gives
 * in this command's options, and return its exit code. */
int cli_error(const struct cli *c, const struct kp_error *err);

/* The end of a message that says what REMEDY means in this command's
 * options ("" for none). */
const char *cli_remedy(enum kp_remedy remedy);

/* Print "out of memory"; returns KP_EXIT_FAIL. */
int cli_oom(const struct cli *c);


/* kp_error_rename for option NAME: "--NAME" (unless the message already
 * names an option). */
void cli_error_option(struct kp_error *err, const char *name);

/* Print ERR and return its exit code, with the hint to --help when the
 * status is KP_ERR_INVALID (a bad option value): the usual way to fail. */
int cli_fail(const struct cli *c, const struct kp_error *err);

/* Print a usage error with a hint to --help; returns KP_EXIT_USAGE. */
int cli_usage(const struct cli *c, const char *fmt, ...) KP_PRINTF(2, 3);

/* Print a note on stderr: "kmsprep: NAME: MSG". */
void cli_note(const struct cli *c, const char *fmt, ...) KP_PRINTF(2, 3);

/* Say spp_settings_warning's warning about S, if any, on standard error
 * (PREFIX, such as a plan entry's path, before it, or NULL). */
void cli_settings_warning(struct cli *c, const struct spp_settings *s,
			  const char *prefix);

/* Print help for a command. */
void cli_print_help(FILE *f, const struct cli_help *help);

/* Print JSON to stdout with a final newline; takes the reference. */
int cli_print_json(const struct cli *c, json_t *j);

/* Standard output got something of the command's own (an event line). */
void cli_stdout_used(void);

/* After a command: with --json (or --format json), a failure that printed
 * nothing on standard output prints {"error": {"command", "exit",
 * "message"}} there, the message as said on standard error.  Returns
 * CODE. */
int cli_json_failure(int code);

/* Write BUF to stdout. */
int cli_write_stdout(const struct cli *c, const struct buf *b);

struct stage;

/* image show's first-boot report (cli/fb-report.c): libguestfs' service,
 * the first-boot log read back, cloudbase-init; into O, or printed. */
void fb_report_json(const struct stage *g, json_t *o);
void fb_report_text(const struct stage *g);

/* The commands. */
int cmd_hive_show(struct cli *c, int argc, char **argv);
int cmd_hive_set(struct cli *c, int argc, char **argv);
int cmd_hive_new(struct cli *c, int argc, char **argv);
int cmd_hive_export(struct cli *c, int argc, char **argv);
int cmd_hive_import(struct cli *c, int argc, char **argv);
int cmd_hive_recover(struct cli *c, int argc, char **argv);
int cmd_image_show(struct cli *c, int argc, char **argv);
int cmd_image_set(struct cli *c, int argc, char **argv);
int cmd_image_generalize(struct cli *c, int argc, char **argv);
int cmd_image_batch(struct cli *c, int argc, char **argv);
int cmd_kms_records(struct cli *c, int argc, char **argv);
int cmd_kms_publish(struct cli *c, int argc, char **argv);
int cmd_kms_discover(struct cli *c, int argc, char **argv);
int cmd_kms_gvlk(struct cli *c, int argc, char **argv);
int cmd_kms_kit_build(struct cli *c, int argc, char **argv);
int cmd_kms_kit_verify(struct cli *c, int argc, char **argv);
int cmd_kms_kit_apply(struct cli *c, int argc, char **argv);

#endif

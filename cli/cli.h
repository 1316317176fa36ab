/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The command layer: parses arguments, calls the libraries, prints.  Every
 * command is a function taking its own argv (argv[0] is the command name)
 * and returning an exit code from lib/exitcodes.h.
 */
#ifndef KP_CLI_H
#define KP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "lib/buf.h"
#include "lib/error.h"

/* Where a command runs: its full name for messages ("hive set"). */
struct cli {
	const char *name;
	bool quiet;		/* no progress on stderr */
};

/* An option of one command. */
struct cli_opt {
	const char *name;	/* long name without dashes */
	int short_name;		/* 0 if none */
	const char *arg;	/* argument syntax, NULL for a flag */
	const char *help;
};

/* A command's help: usage line, description, options. */
struct cli_help {
	const char *usage;	/* after "usage: kmsprep " */
	const char *about;
	const struct cli_opt *opts;
	bool settings;		/* also lists the SPP setting options */
	const char *more;	/* text after the options, or NULL */
	bool (*settings_only)(const char *opt);	/* of those, only these */
};

/* Called for each option in command-line order. */
typedef int cli_opt_fn(struct cli *c, void *ud, const char *name,
		       const char *arg, struct kp_error *err);

/* The longest option value or argument accepted (PATH_MAX). */
#define CLI_ARG_MAX 4096

/* Parse ARGV (ARGV[0] is the command) with the options of HELP; FN gets
 * each option; POS and NPOS receive the positional arguments.  Empty
 * arguments and ones longer than CLI_ARG_MAX are usage errors.  Returns 0, -1
 * after an error (already printed, *CODE set) or 1 after printing --help. */
int cli_parse(struct cli *c, int argc, char **argv, const struct cli_help *help,
	      cli_opt_fn *fn, void *ud, char ***pos, int *npos, int *code);

/* Print "kmsprep: NAME: MSG" for ERR and return its exit code. */
int cli_error(const struct cli *c, const struct kp_error *err);

/* Print a usage error with a hint to --help; returns KP_EXIT_USAGE. */
int cli_usage(const struct cli *c, const char *fmt, ...) KP_PRINTF(2, 3);

/* Print a note on stderr: "kmsprep: NAME: MSG". */
void cli_note(const struct cli *c, const char *fmt, ...) KP_PRINTF(2, 3);

/* Print help for a command. */
void cli_print_help(FILE *f, const struct cli_help *help);

/* Print JSON to stdout with a final newline; takes the reference. */
int cli_print_json(const struct cli *c, json_t *j);

/* Write BUF to stdout. */
int cli_write_stdout(const struct cli *c, const struct buf *b);

struct gen_plan;

/* image show's first-boot report (cli/fb-report.c): libguestfs' service,
 * the first-boot log read back, cloudbase-init; into O, or printed. */
void fb_report_json(const struct gen_plan *g, json_t *o);
void fb_report_text(const struct gen_plan *g);

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
int cmd_kms_records(struct cli *c, int argc, char **argv);
int cmd_kms_publish(struct cli *c, int argc, char **argv);
int cmd_kms_discover(struct cli *c, int argc, char **argv);
int cmd_kms_gvlk(struct cli *c, int argc, char **argv);
int cmd_kms_kit_build(struct cli *c, int argc, char **argv);
int cmd_kms_kit_verify(struct cli *c, int argc, char **argv);
int cmd_kms_kit_apply(struct cli *c, int argc, char **argv);

#endif

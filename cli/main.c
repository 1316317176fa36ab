/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kmsprep: prepare Windows images for KMS volume activation, offline.
 * This file only dispatches "kmsprep GROUP COMMAND ..." to a command.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"

#ifndef KMSPREP_VERSION
#define KMSPREP_VERSION "unknown"
#endif

struct cmd {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
	const struct cmd *sub;
	const char *summary;
};

/* A command and what it runs, or a group and its commands. */
#define CMD(n, f, s) { .name = (n), .fn = (f), .summary = (s) }
#define GROUP(n, c, s) { .name = (n), .sub = (c), .summary = (s) }

static const struct cmd hive_cmds[] = {
	CMD("show", cmd_hive_show,
	    "KMS settings, Windows version and state of a SOFTWARE hive"),
	CMD("set", cmd_hive_set,
	    "set KMS settings in a SOFTWARE hive"),
	CMD("new", cmd_hive_new,
	    "create an empty hive"),
	CMD("export", cmd_hive_export,
	    "print a key as .reg text"),
	CMD("import", cmd_hive_import,
	    "merge a .reg file into a hive"),
	CMD("recover", cmd_hive_recover,
	    "replay transaction logs into a clean hive"),
	{ .name = NULL },
};

static const struct cmd image_cmds[] = {
	CMD("show", cmd_image_show,
	    "Windows installations, KMS settings and state of disk images"),
	CMD("set", cmd_image_set,
	    "set KMS settings inside disk images"),
	CMD("generalize", cmd_image_generalize,
	    "stage the rearm that gives each clone its own machine ID"),
	CMD("batch", cmd_image_batch,
	    "apply a JSON plan of images and their settings, or one shard of it"),
	{ .name = NULL },
};

static const struct cmd kit_cmds[] = {
	CMD("build", cmd_kms_kit_build,
	    "build a signed kit that makes a server a KMS host at first boot"),
	CMD("verify", cmd_kms_kit_verify,
	    "check a kit's digests and signature"),
	CMD("apply", cmd_kms_kit_apply,
	    "verify a kit and apply it to a Windows Server image"),
	{ .name = NULL },
};

static const struct cmd kms_cmds[] = {
	CMD("records", cmd_kms_records,
	    "print the DNS SRV records clients use to find a KMS host"),
	CMD("publish", cmd_kms_publish,
	    "publish them with a TSIG-signed dynamic update"),
	CMD("discover", cmd_kms_discover,
	    "find a KMS host in a domain as a Windows client does"),
	CMD("gvlk", cmd_kms_gvlk,
	    "print the KMS client setup key (GVLK) for an edition"),
	GROUP("kit", kit_cmds,
	      "lab KMS host kits: build, verify, apply"),
	{ .name = NULL },
};

static const struct cmd top[] = {
	GROUP("hive", hive_cmds,
	      "registry hive files"),
	GROUP("image", image_cmds,
	      "Windows disk images (raw, qcow2, vmdk, vhdx, vhd, vdi) and "
	      "WIM files"),
	GROUP("kms", kms_cmds,
	      "KMS hosts: DNS records and host kits"),
	{ .name = NULL },
};

static void
usage(FILE *f, const char *group, const struct cmd *cmds)
{
	const struct cmd *c, *s;

	if (group) {
		fprintf(f, "usage: kmsprep %s COMMAND [ARGS]\n\n", group);
		for (c = cmds; c->name; c++)
			fprintf(f, "  %-10s %s\n", c->name, c->summary);
		fprintf(f, "\nSee 'kmsprep %s COMMAND --help'.\n", group);
		return;
	}
	fputs("usage: kmsprep [--version] [--help] GROUP COMMAND [ARGS]\n\n"
	      "Prepare Windows images for KMS volume activation, offline.\n\n",
	      f);
	for (c = top; c->name; c++) {
		fprintf(f, "%s: %s\n", c->name, c->summary);
		for (s = c->sub; s && s->name; s++) {
			const struct cmd *t;
			char name[64];

			snprintf(name, sizeof(name), "%s %s", c->name, s->name);
			if (s->fn)
				fprintf(f, "  %-17s %s\n", name, s->summary);
			for (t = s->sub; t && t->name; t++) {
				snprintf(name, sizeof(name), "%s %s %s",
					 c->name, s->name, t->name);
				fprintf(f, "  %-17s %s\n", name, t->summary);
			}
		}
	}
	fputs("\nSee 'kmsprep GROUP COMMAND --help' for the options of a "
	      "command.\n\nExit codes:\n"
	      "  0  success\n"
	      "  1  the operation failed\n"
	      "  2  usage error (bad option or option value)\n"
	      "  3  bad, corrupt or missing input\n"
	      "  4  refused to protect data (dirty hive, hibernated volume, "
	      "image in use)\n"
	      "  5  environment unavailable (appliance, DNS server)\n", f);
}

static const struct cmd *
find(const struct cmd *cmds, const char *name)
{
	for (; cmds->name; cmds++)
		if (strcmp(cmds->name, name) == 0)
			return cmds;
	return NULL;
}

/* Run ARGV[0..] as "GROUP [GROUP...] COMMAND ARGS" or a GROUP alone;
 * PREFIX is the groups already passed ("kms", "kms kit"). */
static int
dispatch(const struct cmd *cmds, const char *prefix, int argc, char **argv)
{
	const struct cmd *g;
	char name[64];
	struct cli cli = { name, false };

	g = find(cmds, argv[0]);
	if (g == NULL) {
		char q[96], *a = strdup(argv[0]);

		/* Shown escaped, and never if it holds a product key: the
		 * key is hidden before quoting or cutting could split it. */
		if (a == NULL)
			return 1;
		kp_redact_keys(a, gvlk_is_public);
		kp_quote(a, q, sizeof(q));
		free(a);
		fprintf(stderr, "kmsprep: '%s%s%s' is not a command; see "
			"'kmsprep %s%s--help'\n", prefix, *prefix ? " " : "",
			q, prefix, *prefix ? " " : "");
		return 2;
	}
	snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? " " : "",
		 g->name);
	if (g->fn)
		return g->fn(&cli, argc, argv);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout, name, g->sub);
		return argc < 2 ? 2 : 0;
	}
	return dispatch(g->sub, name, argc - 1, argv + 1);
}

/* Ended by a signal: the scratch directories go first (they hold hives
 * copied out of images, product keys included), then the signal takes
 * its course.  The workers die with kmsprep (PR_SET_PDEATHSIG). */
static void
on_signal(int sig)
{
	kp_scratch_remove_all();
	cli_progress_abandon();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
catch_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_signal };
	size_t i;

	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

int
main(int argc, char **argv)
{
	int code;

	catch_signals();
	if (argc < 2) {
		usage(stderr, NULL, NULL);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout, NULL, NULL);
		code = 0;
	} else if (strcmp(argv[1], "--version") == 0 ||
		   strcmp(argv[1], "version") == 0) {
		printf("kmsprep %s\n", KMSPREP_VERSION);
		code = 0;
	} else if (strcmp(argv[1], "help") == 0) {
		/* "kmsprep help kms kit build" is "kmsprep kms kit build
		 * --help". */
		char *args[8];
		int n = argc - 2 < 6 ? argc - 2 : 6, i;

		for (i = 0; i < n; i++)
			args[i] = argv[2 + i];
		args[n] = (char *)"--help";
		args[n + 1] = NULL;
		if (n == 0) {
			usage(stdout, NULL, NULL);
			code = 0;
		} else {
			code = dispatch(top, "", n + 1, args);
		}
	} else {
		code = dispatch(top, "", argc - 1, argv + 1);
	}
	code = cli_json_failure(code);
	/* A step's progress never outlives the command. */
	cli_progress_clear();
	/* Output that did not reach its destination is a failure. */
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "kmsprep: cannot write to standard output: %s\n",
			strerror(errno ? errno : EIO));
		return code ? code : 1;
	}
	return code;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Option parsing, help text and output helpers shared by all commands. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prep/gvlk.h"
#include "cli.h"
#include "hive/spp.h"
#include "lib/fileio.h"
#include "lib/valid.h"

/* "kmsprep: NAME: MSG" on one line: file names and values in MSG come
 * from the user or from images, so control characters are shown as \xNN
 * rather than breaking the line or driving the terminal. */
static void
say(const struct cli *c, const char *text)
{
	char msg[KP_ERROR_MSG_MAX];
	const unsigned char *p;

	/* A product key typed where a name belongs is never repeated. */
	snprintf(msg, sizeof(msg), "%s", text);
	kp_redact_keys(msg, gvlk_is_public);
	fprintf(stderr, "kmsprep: %s: ", c->name);
	for (p = (const unsigned char *)msg; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fprintf(stderr, "\\x%02x", *p);
		else
			fputc(*p, stderr);
	}
	fputc('\n', stderr);
}

static void
vsay(const struct cli *c, const char *fmt, va_list ap) KP_PRINTF(2, 0);

static void
vsay(const struct cli *c, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	say(c, msg);
}

int
cli_error(const struct cli *c, const struct kp_error *err)
{
	say(c, err->msg);
	return err->code ? err->code : KP_EXIT_FAIL;
}

int
cli_usage(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(c, fmt, ap);
	va_end(ap);
	fprintf(stderr, "(see 'kmsprep %s --help')\n", c->name);
	return KP_EXIT_USAGE;
}

void
cli_note(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(c, fmt, ap);
	va_end(ap);
}

/* Print TEXT wrapped to 79 columns, continuation lines indented by IND. */
static void
wrap(FILE *f, const char *text, size_t col, size_t ind)
{
	const char *p = text;

	while (*p) {
		const char *sp = p;
		size_t w;

		while (*sp && *sp != ' ')
			sp++;
		w = (size_t)(sp - p);
		if (col > ind && col + 1 + w > 79) {
			fprintf(f, "\n%*s", (int)ind, "");
			col = ind;
		} else if (col > ind) {
			fputc(' ', f);
			col++;
		}
		fwrite(p, 1, w, f);
		col += w;
		p = *sp ? sp + 1 : sp;
	}
	fputc('\n', f);
}

static void
print_opt(FILE *f, const char *name, int short_name, const char *arg,
	  const char *help)
{
	char head[96];
	int n;

	n = snprintf(head, sizeof(head), "  %s%c%s--%s%s%s",
		     short_name ? "-" : "", short_name ? short_name : ' ',
		     short_name ? ", " : "", name, arg ? " " : "",
		     arg ? arg : "");
	if (!short_name)
		n = snprintf(head, sizeof(head), "  --%s%s%s", name,
			     arg ? " " : "", arg ? arg : "");
	fputs(head, f);
	if (n > 28) {
		fprintf(f, "\n%*s", 30, "");
		wrap(f, help, 30, 30);
	} else {
		fprintf(f, "%*s", 30 - n, "");
		wrap(f, help, 30, 30);
	}
}

void
cli_print_help(FILE *f, const struct cli_help *h)
{
	const struct cli_opt *o;
	size_t i;

	fprintf(f, "usage: kmsprep %s\n\n", h->usage);
	wrap(f, h->about, 0, 0);
	fputs("\nOptions:\n", f);
	for (o = h->opts; o && o->name; o++)
		print_opt(f, o->name, o->short_name, o->arg, o->help);
	print_opt(f, "help", 'h', NULL, "show this help");
	if (h->settings) {
		fputs("\nSettings (the same for hive set, image set and kits):\n",
		      f);
		for (i = 0; i < spp_noptions; i++)
			if (!h->settings_only ||
			    h->settings_only(spp_options[i].name))
				print_opt(f, spp_options[i].name, 0,
					  spp_options[i].arg,
					  spp_options[i].help);
	}
	if (h->more) {
		fputc('\n', f);
		fputs(h->more, f);
	}
	fputs("\nExit codes: 0 success, 1 failed, 2 usage error, 3 bad or "
	      "corrupt input,\n4 refused to protect data, 5 environment "
	      "unavailable.\n", f);
}

int
cli_parse(struct cli *c, int argc, char **argv, const struct cli_help *help,
	  cli_opt_fn *fn, void *ud, char ***pos, int *npos, int *code)
{
	struct option *lo = NULL;
	struct kp_error err = KP_ERROR_INIT;
	const struct cli_opt *o;
	size_t n = 1, i = 0, j;
	char shorts[64] = ":h";
	int ch, idx, ret = -1;

	for (o = help->opts; o && o->name; o++)
		n++;
	if (help->settings)
		n += spp_noptions;
	lo = calloc(n + 1, sizeof(*lo));
	if (lo == NULL) {
		*code = cli_error(c, &(struct kp_error){ KP_EXIT_FAIL,
							 "out of memory" });
		return -1;
	}
	lo[i++] = (struct option){ "help", no_argument, NULL, 'h' };
	for (o = help->opts; o && o->name; o++) {
		lo[i++] = (struct option){ o->name,
					   o->arg ? required_argument :
						    no_argument,
					   NULL, 0 };
		if (o->short_name) {
			size_t l = strlen(shorts);

			shorts[l] = (char)o->short_name;
			shorts[l + 1] = o->arg ? ':' : '\0';
			shorts[l + 2] = '\0';
		}
	}
	if (help->settings)
		for (j = 0; j < spp_noptions; j++)
			if (!help->settings_only ||
			    help->settings_only(spp_options[j].name))
				lo[i++] = (struct option){ spp_options[j].name,
						   spp_options[j].arg ?
							   required_argument :
							   no_argument,
						   NULL, 0 };
	/* Options may come after FILE: getopt permutes the arguments. */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shorts, lo, &idx)) != -1) {
		const char *name = NULL;
		char q[96];

		if (ch == 'h') {
			cli_print_help(stdout, help);
			ret = 1;
			*code = 0;
			goto out;
		}
		if (ch == '?' || ch == ':') {
			if (optopt && optopt != '?')
				*code = cli_usage(c, ch == ':' ?
						  "option '-%c' needs an "
						  "argument" :
						  "unknown option '-%c'",
						  optopt);
			else
				*code = cli_usage(c, "%s '%s'",
						  ch == ':' ? "missing argument "
							      "for" :
							      "unknown option",
						  kp_quote(argv[optind - 1], q,
							   sizeof(q)));
			goto out;
		}
		if (ch == 0) {
			/* getopt_long takes any unique prefix; kmsprep takes
			 * only whole names, so that --force never quietly
			 * means --force-dirty.  The option is the word before
			 * its separate argument, if any. */
			const char *w = argv[optind - (optarg &&
				optarg == argv[optind - 1] ? 2 : 1)];
			size_t len = strlen(lo[idx].name);

			name = lo[idx].name;
			if (strncmp(w, "--", 2) != 0 ||
			    strncmp(w + 2, name, len) != 0 ||
			    (w[2 + len] != '\0' && w[2 + len] != '=')) {
				*code = cli_usage(c, "unknown option '%s' (did "
						  "you mean '--%s'?)",
						  kp_quote(w, q, sizeof(q)),
						  name);
				goto out;
			}
		} else {
			for (o = help->opts; o && o->name; o++)
				if (o->short_name == ch)
					name = o->name;
		}
		/* No option takes an empty value, and none a longer one than
		 * a path can be: refused here, once, for every command. */
		if (name && optarg &&
		    (optarg[0] == '\0' || strlen(optarg) > CLI_ARG_MAX)) {
			*code = cli_usage(c, "--%s: %s", name, optarg[0] ?
					  "value longer than 4096 bytes" :
					  "empty value");
			goto out;
		}
		if (name == NULL || fn(c, ud, name, optarg, &err) < 0) {
			if (err.code == KP_EXIT_USAGE)
				*code = cli_usage(c, "%s", err.msg);
			else
				*code = cli_error(c, &err);
			goto out;
		}
	}
	*pos = argv + optind;
	*npos = argc - optind;
	for (j = 0; j < (size_t)*npos; j++) {
		if ((*pos)[j][0] == '\0' || strlen((*pos)[j]) > CLI_ARG_MAX) {
			*code = cli_usage(c, "argument %zu: %s", j + 1,
					  (*pos)[j][0] ? "longer than 4096 bytes" :
							 "empty");
			goto out;
		}
	}
	ret = 0;
out:
	free(lo);
	return ret;
}

int
cli_print_json(const struct cli *c, json_t *j)
{
	int r = 0;

	if (j == NULL) {
		struct kp_error err = { KP_EXIT_FAIL, "out of memory" };

		cli_error(c, &err);
		return -1;
	}
	if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) < 0 ||
	    fputc('\n', stdout) == EOF)
		r = -1;
	json_decref(j);
	return r;
}

int
cli_write_stdout(const struct cli *c, const struct buf *b)
{
	(void)c;
	if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
		return -1;
	return 0;
}

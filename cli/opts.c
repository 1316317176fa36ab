/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Option parsing, help text and output helpers shared by all commands. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"
#include "lib/escape.h"

/* For --json: a command that fails before it printed its document says
 * so on standard output too (cli_json_failure), with the last error. */
static struct {
	bool json;		/* --json or --format json was given */
	bool printed;		/* standard output got a document or a line */
	char command[64];
	char msg[KP_ERROR_MSG_MAX + 128];
} failure;

/* "kmsprep: NAME: MSG" on one line: file names and values in MSG come
 * from the user or from images, so control characters are shown as \xNN
 * rather than breaking the line or driving the terminal. */
static void
say(const struct cli *c, const char *text, bool error)
{
	char msg[KP_ERROR_MSG_MAX + 128];
	const unsigned char *p;

	/* A product key typed where a name belongs is never repeated. */
	snprintf(msg, sizeof(msg), "%s", text);
	kp_redact_keys(msg, gvlk_is_public);
	if (error) {
		snprintf(failure.command, sizeof(failure.command), "%s",
			 c->name);
		memcpy(failure.msg, msg, sizeof(msg));
	}
	/* On a line of its own, not after a step's progress. */
	cli_progress_clear();
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
vsay(const struct cli *c, bool error, const char *fmt, va_list ap)
	KP_PRINTF(3, 0);

static void
vsay(const struct cli *c, bool error, const char *fmt, va_list ap)
{
	char msg[KP_ERROR_MSG_MAX + 128];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	say(c, msg, error);
}

int
cli_exit_code(enum kp_status status)
{
	/* The numbers are the interface (cli/exitcodes.h); the statuses
	 * may be refined without changing them. */
	switch (status) {
	case KP_OK:
		return KP_EXIT_OK;
	case KP_ERR_INVALID:
		return KP_EXIT_USAGE;
	case KP_ERR_INPUT:
		return KP_EXIT_INPUT;
	case KP_ERR_REFUSED:
		return KP_EXIT_REFUSED;
	case KP_ERR_UNAVAILABLE:
		return KP_EXIT_ENV;
	case KP_ERR_FAIL:
	case KP_NSTATUS:
		break;
	}
	return KP_EXIT_FAIL;
}

/* What each library remedy means on this command line: the end of the
 * message. */
static const char *const remedy_hint[KP_NREMEDIES] = {
	[KP_REMEDY_FORCE_DIRTY] = " (--force-dirty writes anyway)",
	[KP_REMEDY_KEY_PREFIX] = " (--prefix maps other roots)",
	/* Not --dry-run: it is refused wherever the write would be. */
	[KP_REMEDY_OVERLAY] = "; give --overlay OUT.qcow2 to write the "
			      "changes to a new overlay instead",
	[KP_REMEDY_DRY_RUN] = "; use --dry-run",
	[KP_REMEDY_CHOOSE_ROOT] = "; choose one with --root DEVICE",
	[KP_REMEDY_CHOOSE_INDEX] = "; name an index that holds Windows "
		"(image show lists them), or none: every index holding "
		"Windows is taken, the others passed over",
	[KP_REMEDY_BITLOCKER_KEY] = " (give --bitlocker-key-file with its "
				    "recovery password)",
	[KP_REMEDY_APPLIANCE] = " (use --backend appliance)",
	[KP_REMEDY_GVLK_LIST] = " ('kmsprep kms gvlk --list' shows them)",
	[KP_REMEDY_GVLK_UNLISTED] = " (--gvlk-unlisted installs it anyway)",
	[KP_REMEDY_GVLK_KEY] = "; give the key with --gvlk KEY to replace it",
	[KP_REMEDY_PUBKEY] = " (--pubkey PUBLIC.pem)",
	[KP_REMEDY_ALLOW_UNSIGNED] = " (--allow-unsigned accepts it "
				     "knowingly)",
	[KP_REMEDY_TSIG_KEY] = " (if it answers signed queries only, give "
			       "--tsig-key)",
	[KP_REMEDY_SRV_DOMAIN] = "; give --domain",
	[KP_REMEDY_UPDATE_KEY] = "; sign the update with the zone's TSIG key "
				 "(--tsig-key FILE)",
	[KP_REMEDY_ZONE] = "; give --zone with the zone that holds them",
	[KP_REMEDY_OVERLAY_WIM] = "; give --overlay NEW.wim to write a new "
				  "WIM file with the changes instead",
	[KP_REMEDY_ALLOW_REFERENCES] = " (--allow-backing-file follows it, "
				       "and every file it names, once you "
				       "trust them)",
};

const char *
cli_remedy(enum kp_remedy remedy)
{
	if ((unsigned)remedy >= KP_NREMEDIES || remedy_hint[remedy] == NULL)
		return "";
	return remedy_hint[remedy];
}

/* ERR's message with its remedy's advice. */
static const char *
error_text(const struct kp_error *err, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", err->msg, cli_remedy(err->remedy));
	return buf;
}

int
cli_error(const struct cli *c, const struct kp_error *err)
{
	char buf[KP_ERROR_MSG_MAX + 128];

	say(c, error_text(err, buf, sizeof(buf)), true);
	return err->status ? cli_exit_code(err->status) : KP_EXIT_FAIL;
}

int
cli_oom(const struct cli *c)
{
	say(c, "out of memory", true);
	return KP_EXIT_FAIL;
}


void
cli_error_option(struct kp_error *err, const char *name)
{
	char opt[96];

	if (strncmp(err->msg, "--", 2) == 0)
		return;
	snprintf(opt, sizeof(opt), "--%s", name);
	kp_error_rename(err, name, opt);
}

int
cli_fail(const struct cli *c, const struct kp_error *err)
{
	char buf[KP_ERROR_MSG_MAX + 128];

	if (err->status == KP_ERR_INVALID)
		return cli_usage(c, "%s", error_text(err, buf, sizeof(buf)));
	return cli_error(c, err);
}

int
cli_usage(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(c, true, fmt, ap);
	va_end(ap);
	fprintf(stderr, "(see 'kmsprep %s --help')\n", c->name);
	return KP_EXIT_USAGE;
}

void
cli_note(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(c, false, fmt, ap);
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

/* The settings entry of OPTS, or NULL. */
static const struct cli_opt *
settings_opt(const struct cli_opt *opts)
{
	const struct cli_opt *o;

	for (o = opts; o && o->type != CLI_OPT_END; o++)
		if (o->type == CLI_OPT_SETTINGS)
			return o;
	return NULL;
}

void
cli_print_help(FILE *f, const struct cli_help *h)
{
	const struct cli_opt *o, *so = settings_opt(h->opts);
	size_t i;

	fprintf(f, "usage: kmsprep %s\n\n", h->usage);
	wrap(f, h->about, 0, 0);
	fputs("\nOptions:\n", f);
	for (o = h->opts; o && o->type != CLI_OPT_END; o++)
		if (o->type != CLI_OPT_SETTINGS)
			print_opt(f, o->name, o->short_name, o->arg, o->help);
	print_opt(f, "help", 'h', NULL, "show this help");
	if (so) {
		fputs("\nSettings (the same for hive set, image set and kits):\n",
		      f);
		for (i = 0; i < spp_noptions; i++)
			if (!so->only || so->only(spp_options[i].name))
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
	if (h->exits)
		wrap(f, h->exits, 0, 0);
}

/* Set the field O is bound to, in UD, from ARG. */
static int
apply(struct cli *c, const struct cli_opt *o, void *ud, const char *name,
      const char *arg, struct kp_error *err)
{
	char *base = ud, what[80];

	switch (o->type) {
	case CLI_OPT_BOOL:
		*(bool *)(base + o->off) = true;
		return 0;
	case CLI_OPT_BIT:
		*(unsigned *)(base + o->off) |= (unsigned)o->max;
		return 0;
	case CLI_OPT_STRING:
		*(const char **)(base + o->off) = arg;
		return 0;
	case CLI_OPT_UINT:
		snprintf(what, sizeof(what), "--%s", name);
		return kp_parse_uint(what, arg, o->min, o->max,
				     (unsigned long *)(base + o->off), err);
	case CLI_OPT_QUIET:
		c->quiet = true;
		return 0;
	case CLI_OPT_FN:
		if (o->fn(c, ud, name, arg, err) == 0)
			return 0;
		cli_error_option(err, name);
		return -1;
	case CLI_OPT_SETTINGS:
		if (spp_settings_option((struct spp_settings *)(base + o->off),
					name, arg, err) == 0)
			return 0;
		cli_error_option(err, name);
		return -1;
	case CLI_OPT_END:
		break;
	}
	return kp_fail(err, KP_ERR_FAIL, "--%s: unbound option", name);
}

/* The one option that long option A (e.g. "--force") is a prefix of, or
 * NULL: what getopt would have taken it for, named in the refusal. */
static const char *
only_completion(const char *a, const struct option *lo)
{
	const char *found = NULL;
	size_t n;

	if (strncmp(a, "--", 2) != 0)
		return NULL;
	n = strcspn(a + 2, "=");
	for (; lo->name; lo++)
		if (strncmp(lo->name, a + 2, n) == 0) {
			if (found)
				return NULL;
			found = lo->name;
		}
	return found;
}

/* getopt_long takes any unambiguous prefix of a long option: "--force"
 * would be "--force-dirty" where there is no --force.  An option that
 * says what may be lost must be spelled out, so every long option is
 * checked to be exact first.  This walks ARGV as getopt will (options
 * may follow positional arguments; "--" ends them).  Returns the index of
 * the first inexact long option, or 0. */
static int
first_inexact(int argc, char **argv, const struct option *lo,
	      const char *shorts)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *p;
		const struct option *o;
		size_t n;

		if (strcmp(a, "--") == 0)
			break;
		if (a[0] != '-' || a[1] == '\0')
			continue;
		if (a[1] != '-') {
			/* A short option with an argument takes the rest of
			 * the word, or else the next word. */
			for (p = a + 1; *p; p++) {
				const char *s = strchr(shorts + 1, *p);

				if (*p != ':' && s && s[1] == ':') {
					if (p[1] == '\0')
						i++;
					break;
				}
			}
			continue;
		}
		n = strcspn(a + 2, "=");
		for (o = lo; o->name; o++)
			if (strlen(o->name) == n &&
			    strncmp(o->name, a + 2, n) == 0)
				break;
		if (o->name == NULL)
			return i;
		if (o->has_arg == required_argument && a[2 + n] == '\0')
			i++;
	}
	return 0;
}

int
cli_parse(struct cli *c, int argc, char **argv, const struct cli_help *help,
	  void *ud, char ***pos, int *npos, int *code)
{
	struct option *lo = NULL;
	const struct cli_opt **bound = NULL;
	struct kp_error err = KP_ERROR_INIT;
	const struct cli_opt *o, *so = settings_opt(help->opts);
	size_t n = 1, i = 0, j;
	char shorts[64] = ":h";
	char q[96];
	int ch, idx, bad, ret = -1;

	/* Looked for first, so that even a usage error is said in JSON. */
	for (j = 1; j < (size_t)argc && strcmp(argv[j], "--") != 0; j++)
		if (strcmp(argv[j], "--json") == 0 ||
		    strcmp(argv[j], "--format=json") == 0 ||
		    strcmp(argv[j], "-fjson") == 0 ||
		    ((strcmp(argv[j], "--format") == 0 ||
		      strcmp(argv[j], "-f") == 0) &&
		     j + 1 < (size_t)argc && strcmp(argv[j + 1], "json") == 0))
			failure.json = true;
	for (o = help->opts; o && o->type != CLI_OPT_END; o++)
		n++;
	if (so)
		n += spp_noptions;
	lo = calloc(n + 1, sizeof(*lo));
	bound = calloc(n + 1, sizeof(*bound));
	if (lo == NULL || bound == NULL) {
		*code = cli_oom(c);
		goto out;
	}
	lo[i++] = (struct option){ "help", no_argument, NULL, 'h' };
	/* A long option returns 256 + its index in LO; BOUND[index] is
	 * the option it sets. */
	for (o = help->opts; o && o->type != CLI_OPT_END; o++) {
		if (o->type == CLI_OPT_SETTINGS) {
			for (j = 0; j < spp_noptions; j++) {
				if (o->only && !o->only(spp_options[j].name))
					continue;
				bound[i] = o;
				lo[i] = (struct option){ spp_options[j].name,
						spp_options[j].arg ?
							required_argument :
							no_argument,
						NULL, 256 + (int)i };
				i++;
			}
			continue;
		}
		bound[i] = o;
		lo[i] = (struct option){ o->name, o->arg ? required_argument :
							   no_argument,
					 NULL, 256 + (int)i };
		i++;
		if (o->short_name) {
			size_t l = strlen(shorts);

			shorts[l] = (char)o->short_name;
			shorts[l + 1] = o->arg ? ':' : '\0';
			shorts[l + 2] = '\0';
		}
	}
	bad = first_inexact(argc, argv, lo, shorts);
	if (bad) {
		const char *near = only_completion(argv[bad], lo);

		*code = near ? cli_usage(c, "unknown option '%s' (did you "
					 "mean '--%s'?)",
					 kp_quote(argv[bad], q, sizeof(q)),
					 near) :
			       cli_usage(c, "unknown option '%s'",
					 kp_quote(argv[bad], q, sizeof(q)));
		goto out;
	}
	/* Options may come after FILE: getopt permutes the arguments. */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shorts, lo, &idx)) != -1) {
		const char *name = NULL;

		o = NULL;
		if (ch == 'h') {
			cli_print_help(stdout, help);
			ret = 1;
			*code = 0;
			goto out;
		}
		if (ch == '?' || ch == ':') {
			if (optopt > 0 && optopt < 256 && optopt != '?')
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
		if (ch >= 256 && (size_t)(ch - 256) < n) {
			name = lo[ch - 256].name;
			o = bound[ch - 256];
		} else {
			for (j = 1; j < n; j++)
				if (bound[j] && bound[j]->short_name == ch) {
					name = lo[j].name;
					o = bound[j];
				}
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
		if (o == NULL || apply(c, o, ud, name, optarg, &err) < 0) {
			*code = cli_fail(c, &err);
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
	free(bound);
	free(lo);
	return ret;
}

int
cli_print_json(const struct cli *c, json_t *j)
{
	int r = 0;

	if (j == NULL) {
		cli_oom(c);
		return -1;
	}
	failure.printed = true;
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

void
cli_settings_warning(struct cli *c, const struct spp_settings *s,
		     const char *prefix)
{
	char w[600];

	if (spp_settings_warning(s, w, sizeof(w)))
		cli_note(c, "%s%s%s", prefix ? prefix : "", prefix ? ": " : "",
			 w);
}

void
cli_stdout_used(void)
{
	failure.printed = true;
}

int
cli_json_failure(int code)
{
	struct buf b = BUF_INIT;
	json_t *j;

	if (code == KP_EXIT_OK || !failure.json || failure.printed ||
	    failure.msg[0] == '\0')
		return code;
	/* A name from the user or an image need not be UTF-8, which JSON
	 * strings must be: such bytes are spelt \xNN. */
	j = json_pack("{s:{s:s, s:i, s:s}}", "error", "command",
		      failure.command, "exit", code, "message",
		      kp_escape_str(&b, failure.msg));
	if (j && json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) == 0)
		fputc('\n', stdout);
	json_decref(j);
	buf_release(&b);
	return code;
}

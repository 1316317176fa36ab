/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kmsprep kms records|publish|discover */
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "cli.h"

#define MAX_NAMES 64

/* Options of the record-making commands (records, publish). */
struct kms_args {
	const char *domains[MAX_NAMES], *hosts[MAX_NAMES];
	size_t ndomains, nhosts;
	unsigned long port, priority, weight, ttl, timeout;
	const char *from_hive, *format, *server, *zone, *tsig_key, *seed;
	bool replace, del, all, dry_run, json, ttl_given;
};

static int
add_name(const char **v, size_t *n, const char *arg, struct kp_error *err)
{
	if (*n == MAX_NAMES)
		return kp_fail(err, KP_ERR_INVALID, "at most %d", MAX_NAMES);
	if (srv_check_name(NULL, arg, err) < 0)
		return -1;
	v[(*n)++] = arg;
	return 0;
}

#define ARGS struct kms_args

static int
opt_domain(struct cli *c, void *ud, const char *name, const char *arg,
	   struct kp_error *err)
{
	struct kms_args *a = ud;

	(void)c;
	(void)name;
	return add_name(a->domains, &a->ndomains, arg, err);
}

static int
opt_host(struct cli *c, void *ud, const char *name, const char *arg,
	 struct kp_error *err)
{
	struct kms_args *a = ud;

	(void)c;
	(void)name;
	return add_name(a->hosts, &a->nhosts, arg, err);
}

/* --ttl given is a change to compare (publish), not only a value. */
static int
opt_ttl(struct cli *c, void *ud, const char *name, const char *arg,
	struct kp_error *err)
{
	struct kms_args *a = ud;

	(void)c;
	(void)name;
	a->ttl_given = true;
	return kp_parse_uint(NULL, arg, 0, 2147483647, &a->ttl, err);
}

static void
args_init(struct kms_args *a)
{
	memset(a, 0, sizeof(*a));
	a->port = KMS_PORT;
	a->weight = 0;
	a->ttl = KMS_TTL;
	a->timeout = 5000;
}

#define OPT_DOMAIN OPT_FN("domain", 'd', "DOMAIN", opt_domain, \
	"publish in DOMAIN: records named _vlmcs._tcp.DOMAIN (repeatable)")
#define OPT_HOST OPT_FN("host", 'H', "FQDN", opt_host, \
	"the KMS host clients should use (repeatable: every host in every " \
	"domain)")
#define OPT_PORT OPT_UINT("port", 0, "PORT", ARGS, port, 1, 65535, \
	"TCP port of the KMS host (1688)")
#define OPT_PRIORITY OPT_UINT("priority", 0, "N", ARGS, priority, 0, 65535, \
	"SRV priority, lower is tried first (0)")
#define OPT_WEIGHT OPT_UINT("weight", 0, "N", ARGS, weight, 0, 65535, \
	"SRV weight among hosts of one priority (0)")
#define OPT_TTL OPT_FN("ttl", 0, "SECONDS", opt_ttl, "record TTL (3600)")
#define OPT_FROM_HIVE OPT_STRING("from-hive", 0, "SOFTWARE", ARGS, from_hive, \
	"also every domain, with its priority and weight, of the " \
	"DnsDomainPublishList in this KMS host's SOFTWARE hive (its " \
	"KeyManagementServiceListeningPort, if set, is the port)")
#define OPT_SERVER OPT_STRING("server", 's', "HOST[:PORT]", ARGS, server, \
	"DNS server to ask (port 53 by default; [IPV6]:PORT)")
#define OPT_TIMEOUT OPT_UINT("timeout", 0, "MS", ARGS, timeout, 1, 600000, \
	"give up on a DNS exchange (sending, waiting and receiving) after " \
	"MS milliseconds in all (5000)")
#define OPT_JSON OPT_BOOL("json", 0, ARGS, json, "print JSON instead of text")

/* The records the options name. */
static int
build_set(struct cli *c, const struct kms_args *a, bool need_host,
	  struct srv_set *set)
{
	struct kp_error err = KP_ERROR_INIT;
	const char *hosts[MAX_NAMES];
	struct hive *h = NULL;
	size_t i, j, nh = a->nhosts;
	int r = 0;

	memcpy(hosts, a->hosts, sizeof(hosts));
	if (nh == 0 && need_host)
		return cli_usage(c, "no --host given");
	if (nh == 0)
		hosts[nh++] = NULL;	/* --delete --all: any host */
	if (a->ndomains == 0 && a->from_hive == NULL)
		return cli_usage(c, "no --domain or --from-hive given");
	for (i = 0; i < a->ndomains && r == 0; i++)
		for (j = 0; j < nh && r == 0; j++)
			r = srv_add(set, a->domains[i], hosts[j],
				    (unsigned)a->priority, (unsigned)a->weight,
				    (unsigned)a->port, (unsigned)a->ttl, &err);
	if (r == 0 && a->from_hive) {
		struct hive_open_opts o = { .flags = 0 };

		r = hive_open(a->from_hive, &o, &h, &err);
		if (r == 0)
			r = srv_from_hive(set, h, (char *const *)hosts, nh,
					  (unsigned)a->port, (unsigned)a->ttl,
					  &err);
		hive_close(h);
	}
	if (r < 0)
		return cli_fail(c, &err);
	return 0;
}

/*
 * records
 */

static const struct cli_opt records_opts[] = {
	OPT_DOMAIN, OPT_HOST, OPT_PORT, OPT_PRIORITY, OPT_WEIGHT, OPT_TTL,
	OPT_FROM_HIVE,
	OPT_STRING("format", 'f', "zone|nsupdate|json", ARGS, format,
	  "zone file lines (default), nsupdate commands or JSON"),
	OPT_BOOL("json", 0, ARGS, json, "same as --format json"),
	OPT_END(),
};

static const struct cli_help records_help = {
	.usage = "kms records --domain DOMAIN --host FQDN [--port N] "
	"[--priority N] [--weight N] [--ttl S] [--from-hive SOFTWARE] "
	"[--format FMT]",
	.about = "Print the DNS SRV records KMS clients look up to find a KMS "
	"host: _vlmcs._tcp.DOMAIN SRV PRIORITY WEIGHT PORT HOST, one for each "
	"host in each domain. Paste them into a zone file, feed them to "
	"nsupdate, or use 'kms publish' to send them as a signed dynamic "
	"update.",
	.opts = records_opts,
	.more = "Example:\n  kmsprep kms records -d corp.example -H "
	"kms1.corp.example\n  _vlmcs._tcp.corp.example. 3600 IN SRV 0 0 1688 "
	"kms1.corp.example.\n",
};

int
cmd_kms_records(struct cli *c, int argc, char **argv)
{
	struct kms_args a;
	struct srv_set set = { NULL, 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct buf out = BUF_INIT;
	enum srv_format f = SRV_ZONE;
	char **pos;
	int npos, code = 0;

	args_init(&a);
	if (cli_parse(c, argc, argv, &records_help, &a, &pos, &npos,
		      &code))
		return code;
	if (npos != 0)
		return cli_usage(c, "unexpected argument '%s'", pos[0]);
	if (a.json || (a.format && strcmp(a.format, "json") == 0))
		f = SRV_JSON;
	else if (a.format && strcmp(a.format, "nsupdate") == 0)
		f = SRV_NSUPDATE;
	else if (a.format && strcmp(a.format, "zone") != 0)
		return cli_usage(c, "--format: expected zone, nsupdate or json");
	code = build_set(c, &a, true, &set);
	if (code == 0 && srv_format(&set, f, &out, &err) < 0)
		code = cli_error(c, &err);
	if (code == 0)
		code = cli_write_stdout(c, &out) < 0 ? KP_EXIT_FAIL : 0;
	buf_release(&out);
	srv_set_release(&set);
	return code;
}

/*
 * publish
 */

static const struct cli_opt publish_opts[] = {
	OPT_SERVER,
	OPT_STRING("zone", 'z', "ZONE", ARGS, zone,
	  "the zone to update (default: the domain, when there is one); "
	  "without --domain or --from-hive, the records go in ZONE"),
	OPT_STRING("tsig-key", 'k', "FILE", ARGS, tsig_key,
	  "sign the update with this TSIG key, a file as tsig-keygen writes "
	  "it (hmac-sha256, -384 or -512)"),
	OPT_DOMAIN, OPT_HOST, OPT_PORT, OPT_PRIORITY, OPT_WEIGHT, OPT_TTL,
	OPT_FROM_HIVE,
	OPT_BOOL("replace", 0, ARGS, replace,
	  "make these the only SRV records at each name (default: add the "
	  "missing ones, keep others)"),
	OPT_BOOL("delete", 0, ARGS, del, "remove these records"),
	OPT_BOOL("all", 0, ARGS, all,
	  "with --delete: remove every SRV record at each name (--host "
	  "not needed)"),
	OPT_BOOL("dry-run", 'n', ARGS, dry_run,
	"print the changes and send nothing"),
	OPT_TIMEOUT, OPT_JSON,
	OPT_END(),
};

static const struct cli_help publish_help = {
	.usage = "kms publish --server HOST[:PORT] [--zone ZONE] [--tsig-key "
	"FILE] --domain DOMAIN --host FQDN [--replace|--delete [--all]] "
	"[--dry-run] [--json]",
	.about = "Publish the KMS SRV records with an RFC 2136 dynamic "
	"update, signed with TSIG when a key is given. kmsprep first reads "
	"what the server holds and sends only the difference, so publishing "
	"twice changes nothing; afterwards it reads the records back. A "
	"refusal is reported with the server's answer (REFUSED, NOTAUTH, "
	"BADSIG, BADKEY, ...). The key file is read, never printed.",
	.opts = publish_opts,
	.exits = "Here 1 means the server refused the update, 5 that it could "
	"not be reached.",
};

static json_t *
publish_json(const struct kms_args *a, const char *zone,
	     const struct publish_result *res)
{
	json_t *ch = json_array();
	size_t i;

	for (i = 0; i < res->n; i++)
		json_array_append_new(ch, json_pack(
			"{s:s, s:s}", "op", res->v[i].add ? "add" : "delete",
			"record", res->v[i].text));
	return json_pack("{s:s, s:s, s:b, s:b, s:o}", "server", a->server,
			 "zone", zone, "dry_run", a->dry_run, "sent",
			 res->sent, "changes", ch);
}

int
cmd_kms_publish(struct cli *c, int argc, char **argv)
{
	struct kms_args a;
	struct srv_set set = { NULL, 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct publish_result res = { NULL, 0, false };
	struct publish_opts o = { PUBLISH_ADD, false, false, NULL, false };
	struct tsig_key key = { "", "", NULL };
	struct dns_server server;
	const char *zone;
	char **pos;
	size_t i;
	int npos, code = 0;

	args_init(&a);
	if (cli_parse(c, argc, argv, &publish_help, &a, &pos, &npos,
		      &code))
		return code;
	if (npos != 0)
		return cli_usage(c, "unexpected argument '%s'", pos[0]);
	if (a.server == NULL)
		return cli_usage(c, "no --server given");
	if (a.replace && a.del)
		return cli_usage(c, "--replace and --delete exclude each other");
	if (a.all && !a.del)
		return cli_usage(c, "--all goes with --delete");
	o.mode = a.del ? PUBLISH_DELETE : a.replace ? PUBLISH_REPLACE :
						      PUBLISH_ADD;
	o.all = a.all;
	o.dry_run = a.dry_run;
	o.ttl = a.ttl_given;
	/* The zone is the usual domain, as the domain is the usual zone. */
	if (a.zone && a.ndomains == 0 && a.from_hive == NULL)
		a.domains[a.ndomains++] = a.zone;
	code = build_set(c, &a, !a.all, &set);
	if (code)
		goto out;
	zone = a.zone ? a.zone : srv_common_zone(&set);
	if (zone == NULL) {
		code = cli_usage(c, "no domain holds all the others: give "
				 "--zone");
		goto out;
	}
	if (!kp_is_hostname(zone, true)) {
		code = cli_usage(c, "--zone: not a valid DNS name");
		goto out;
	}
	if (a.tsig_key) {
		if (tsig_key_read(a.tsig_key, &key, &err) < 0) {
			code = cli_error(c, &err);
			goto out;
		}
		o.key = &key;
	}
	if (dns_server_parse(a.server, (unsigned)a.timeout, &server, &err) < 0 ||
	    kms_publish(&server, zone, &set, &o, &res, &err) < 0) {
		code = cli_fail(c, &err);
		goto out;
	}
	if (a.json) {
		code = cli_print_json(c, publish_json(&a, zone, &res)) < 0 ?
			       KP_EXIT_FAIL : 0;
		goto out;
	}
	for (i = 0; i < res.n; i++)
		printf("%c %s\n", res.v[i].add ? '+' : '-', res.v[i].text);
	if (res.n == 0)
		printf("no change: zone '%s' at %s already holds this\n", zone,
		       server.label);
	else if (a.dry_run)
		printf("dry run: %zu change%s, nothing sent\n", res.n,
		       res.n == 1 ? "" : "s");
	else
		printf("updated zone '%s' at %s: %zu change%s, read back\n",
		       zone, server.label, res.n, res.n == 1 ? "" : "s");
out:
	tsig_key_release(&key);
	publish_result_release(&res);
	srv_set_release(&set);
	return code;
}

/*
 * discover
 */

static const struct cli_opt discover_opts[] = {
	OPT_SERVER,
	OPT_UINT("timeout", 0, "MS", ARGS, timeout, 1, 600000,
	  "wait this long in all for each DNS exchange and each TCP "
	  "connection (5000); the whole discovery stops after ten times "
	  "this, and hosts not tried by then say so"),
	OPT_STRING("seed", 0, "N", ARGS, seed,
	  "seed for the weighted random choice, to make the order "
	  "repeatable (default: random; the seed used is reported)"),
	OPT_JSON,
	OPT_END(),
};

static const struct cli_help discover_help = {
	.usage = "kms discover DOMAIN [--server HOST[:PORT]] [--timeout MS] "
	"[--seed N] [--json]",
	.about = "Find a KMS host the way a Windows 7 or later client does: "
	"query _vlmcs._tcp.DOMAIN for SRV records, order them by priority "
	"and, within a priority, by weighted random choice (RFC 2782), then "
	"try a TCP connection to each host and port in turn. Reports the host "
	"a client would use and why each other one was not.",
	.opts = discover_opts,
	.more = "Outcomes and exit codes:\n  0  a host answered: it is the "
	"one a client would use\n  1  the domain exists but has no KMS SRV "
	"records, or the DNS server\n     refused the query (REFUSED, "
	"SERVFAIL, ...)\n  3  no such domain (NXDOMAIN)\n  5  records, but no "
	"host answered (or no DNS server answered)\n",
};

static const char *const outcome_names[] = { "found", "no-domain",
					     "no-records", "none-reachable" };
static const char *const state_names[] = { "used", "failed", "not-tried" };

static json_t *
discover_json(const char *domain, unsigned long long seed,
	      const struct discover_result *r)
{
	json_t *hosts = json_array(), *used = json_null();
	size_t i;

	for (i = 0; i < r->n; i++) {
		const struct disc_host *h = &r->v[i];
		json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:s, s:s}",
				      "target", h->target, "priority",
				      h->priority, "weight", h->weight, "port",
				      h->port, "state", state_names[h->state],
				      "detail", h->detail);

		if (h->state == DISC_USED) {
			json_decref(used);
			used = json_incref(j);
		}
		json_array_append_new(hosts, j);
	}
	return json_pack("{s:s, s:s+, s:I, s:s, s:o, s:o}", "domain", domain,
			 "name", KMS_SRV_LABEL ".", domain, "seed",
			 (json_int_t)seed, "outcome",
			 outcome_names[r->outcome], "used", used, "hosts",
			 hosts);
}

int
cmd_kms_discover(struct cli *c, int argc, char **argv)
{
	struct kms_args a;
	struct kp_error err = KP_ERROR_INIT;
	struct discover_result res = { DISC_FOUND, NULL, 0 };
	struct dns_server server, *sp = NULL;
	unsigned long long seed;
	unsigned long s;
	const char *domain;
	char **pos;
	size_t i;
	int npos, code = 0;

	args_init(&a);
	if (cli_parse(c, argc, argv, &discover_help, &a, &pos, &npos,
		      &code))
		return code;
	if (npos != 1)
		return cli_usage(c, "expected one DOMAIN");
	domain = pos[0];
	if (kp_check_safe("DOMAIN", domain, &err) < 0 ||
	    !kp_is_hostname(domain, true))
		return cli_usage(c, "'%s' is not a valid DNS name", domain);
	if (a.seed) {
		if (kp_parse_uint("--seed", a.seed, 0, 0xffffffffUL, &s,
				  &err) < 0)
			return cli_usage(c, "%s", err.msg);
		seed = s;
	} else if (getrandom(&s, sizeof(s), 0) == sizeof(s)) {
		seed = s & 0xffffffffUL;
	} else {
		seed = 0;
	}
	if (a.server) {
		if (dns_server_parse(a.server, (unsigned)a.timeout, &server,
				     &err) < 0)
			return cli_error(c, &err);
		sp = &server;
	}
	if (kms_discover(sp, domain, seed, (unsigned)a.timeout, &res, &err) < 0)
		return cli_error(c, &err);
	if (a.json) {
		code = cli_print_json(c, discover_json(domain, seed, &res)) < 0 ?
			       KP_EXIT_FAIL : 0;
	} else {
		printf("%s.%s: %zu record%s (seed %llu)\n", KMS_SRV_LABEL,
		       domain, res.n, res.n == 1 ? "" : "s", seed);
		for (i = 0; i < res.n; i++) {
			const struct disc_host *h = &res.v[i];

			printf("  %zu. %s port %u, priority %u, weight %u: "
			       "%s: %s\n", i + 1, h->target, h->port,
			       h->priority, h->weight, state_names[h->state],
			       h->detail);
		}
	}
	switch (res.outcome) {
	case DISC_FOUND:
		for (i = 0; i < res.n && !a.json; i++)
			if (res.v[i].state == DISC_USED)
				printf("a client would use %s port %u\n",
				       res.v[i].target, res.v[i].port);
		break;
	case DISC_NO_DOMAIN:
		cli_note(c, "no such domain: '%s' does not exist", domain);
		code = code ? code : KP_EXIT_INPUT;
		break;
	case DISC_NO_RECORDS:
		cli_note(c, "no KMS records: '%s' exists but has no "
			 KMS_SRV_LABEL " SRV records", domain);
		code = code ? code : KP_EXIT_FAIL;
		break;
	case DISC_NONE_REACHABLE:
		cli_note(c, "no KMS host reachable: none of the %zu host%s "
			 "accepted a TCP connection", res.n,
			 res.n == 1 ? "" : "s");
		code = code ? code : KP_EXIT_ENV;
		break;
	}
	discover_result_release(&res);
	return code;
}

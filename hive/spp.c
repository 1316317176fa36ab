/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SoftwareProtectionPlatform settings: definitions, options, apply, read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "office.h"
#include "regf.h"
#include "regval.h"
#include "spp.h"

const struct spp_value_def spp_values[SPP_NVALUES] = {
	[SPP_KMS_NAME] = { .name = "KeyManagementServiceName",
		.type = REGT_SZ, .role = SPP_CLIENT, .per_product = true },
	[SPP_KMS_PORT] = { .name = "KeyManagementServicePort",
		.type = REGT_SZ, .role = SPP_CLIENT, .per_product = true },
	[SPP_LOOKUP_DOMAIN] = { .name = "KeyManagementServiceLookupDomain",
		.type = REGT_SZ, .role = SPP_CLIENT, .per_product = true },
	[SPP_HOST_CACHING] = { .name = "DisableKeyManagementServiceHostCaching",
		.type = REGT_DWORD, .role = SPP_CLIENT },
	[SPP_ACT_TYPE] = { .name = "VLActivationType",
		.type = REGT_DWORD, .role = SPP_CLIENT, .per_product = true },
	[SPP_DNS_PUBLISHING] = { .name = "DisableDnsPublishing",
		.type = REGT_DWORD, .role = SPP_HOST },
	[SPP_PUBLISH_LIST] = { .name = "DnsDomainPublishList",
		.type = REGT_MULTI_SZ, .role = SPP_HOST },
	[SPP_LOW_PRIORITY] = { .name = "EnableKmsLowPriority",
		.type = REGT_DWORD, .role = SPP_HOST },
	[SPP_LISTEN_PORT] = { .name = "KeyManagementServiceListeningPort",
		.type = REGT_SZ, .role = SPP_HOST },
	[SPP_ACT_INTERVAL] = { .name = "VLActivationInterval",
		.type = REGT_DWORD, .role = SPP_HOST },
	[SPP_RENEW_INTERVAL] = { .name = "VLRenewalInterval",
		.type = REGT_DWORD, .role = SPP_HOST },
	[SPP_SKIP_REARM] = { .name = "SkipRearm",
		.type = REGT_DWORD, .role = SPP_GENERAL },
	[SPP_USER_OPS] = { .name = "UserOperations",
		.type = REGT_DWORD, .role = SPP_GENERAL },
	[SPP_MANUAL] = { .name = "Manual",
		.subkey = "Activation", .type = REGT_DWORD, .role = SPP_GENERAL },
};

void
spp_settings_init(struct spp_settings *s)
{
	memset(s, 0, sizeof(*s));
}

static void
edit_clear(struct spp_edit *e)
{
	size_t i;

	free(e->sz);
	for (i = 0; i < e->nlist; i++)
		free(e->list[i]);
	free(e->list);
	memset(e, 0, sizeof(*e));
}

void
spp_settings_release(struct spp_settings *s)
{
	size_t i;

	for (i = 0; i < SPP_NVALUES; i++)
		edit_clear(&s->edit[i]);
	edit_clear(&s->office[0]);
	edit_clear(&s->office[1]);
	for (i = 0; i < s->ngiven; i++)
		free(s->given[i].arg);
	free(s->given);
	memset(s, 0, sizeof(*s));
}

bool
spp_is_option(const char *opt)
{
	size_t i;

	for (i = 0; i < spp_noptions; i++)
		if (strcmp(spp_options[i].name, opt) == 0)
			return true;
	return false;
}

/* Claim value ID for option OPT; an option may not fight another. */
static struct spp_edit *
touch(struct spp_settings *s, enum spp_id id, const char *opt,
      struct kp_error *err)
{
	struct spp_edit *e = &s->edit[id];

	if (s->touched[id]) {
		if (strcmp(e->option, opt) == 0)
			kp_fail(err, KP_ERR_INVALID, "%s: given twice", opt);
		else
			kp_fail(err, KP_ERR_INVALID,
				"%s: conflicts with %s (both change %s)",
				opt, e->option, spp_values[id].name);
		return NULL;
	}
	s->touched[id] = true;
	e->option = opt;
	return e;
}

static int
set_sz(struct spp_settings *s, enum spp_id id, const char *opt,
       const char *val, struct kp_error *err)
{
	struct spp_edit *e = touch(s, id, opt, err);

	if (e == NULL)
		return -1;
	e->set = true;
	e->sz = strdup(val);
	return e->sz ? 0 : kp_fail_oom(err);
}

static int
set_dword(struct spp_settings *s, enum spp_id id, const char *opt,
	  uint32_t val, struct kp_error *err)
{
	struct spp_edit *e = touch(s, id, opt, err);

	if (e == NULL)
		return -1;
	e->set = true;
	e->dword = val;
	return 0;
}

static int
delete(struct spp_settings *s, enum spp_id id, const char *opt,
       struct kp_error *err)
{
	return touch(s, id, opt, err) ? 0 : -1;
}

#define KMS_HOST_BUF (KP_HOSTNAME_MAX + 3)	/* brackets and NUL */

/* NAME, NAME:PORT, [IPV6], [IPV6]:PORT or :PORT, as slmgr /skms: HOST
 * gets the name ("" for :PORT), PORT the port ("" if none). */
static int
parse_kms_host(const char *opt, const char *arg,
	       char host[KMS_HOST_BUF], char port[8],
	       struct kp_error *err)
{
	char what[64], q[96];
	const char *colon, *portstr = NULL;
	unsigned long p;
	size_t n;

	snprintf(what, sizeof(what), "%s", opt);
	if (kp_check_safe(what, arg, err) < 0)
		return -1;
	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		n = close ? (size_t)(close - arg) - 1 : 0;
		if (close == NULL || n == 0 || n >= (size_t)KMS_HOST_BUF - 2)
			goto bad;
		memcpy(host, arg + 1, n);
		host[n] = '\0';
		if (!kp_is_ipv6(host))
			return kp_fail(err, KP_ERR_INVALID,
				       "%s: '%s': not an IPv6 address", what,
				       kp_quote(host, q, sizeof(q)));
		/* slmgr keeps the brackets in the name it stores. */
		snprintf(host, KMS_HOST_BUF, "[%.*s]", (int)n, arg + 1);
		if (close[1] == ':')
			portstr = close + 2;
		else if (close[1] != '\0')
			goto bad;
	} else {
		colon = strchr(arg, ':');
		if (colon && strchr(colon + 1, ':'))
			return kp_fail(err, KP_ERR_INVALID,
				       "%s: '%s': an IPv6 address needs "
				       "brackets: [ADDRESS]:PORT", what,
				       kp_quote(arg, q, sizeof(q)));
		n = colon ? (size_t)(colon - arg) : strlen(arg);
		if (n >= (size_t)KMS_HOST_BUF)
			return kp_fail(err, KP_ERR_INVALID,
				       "%s: host name longer than %d "
				       "characters", what, KP_HOSTNAME_MAX);
		memcpy(host, arg, n);
		host[n] = '\0';
		if (colon)
			portstr = colon + 1;
		if (n && kp_check_host(what, host, err) < 0)
			return -1;
		if (n == 0 && colon == NULL)
			return kp_fail(err, KP_ERR_INVALID,
				       "%s: empty host name", what);
	}
	port[0] = '\0';
	if (portstr) {
		if (kp_parse_uint(what, portstr, 1, 65535, &p, err) < 0)
			return -1;
		snprintf(port, 8, "%lu", p);
	}
	return 0;
bad:
	return kp_fail(err, KP_ERR_INVALID,
		       "%s: '%s': expected [IPV6] or [IPV6]:PORT", what,
		       kp_quote(arg, q, sizeof(q)));
}

static int
kms_host(struct spp_settings *s, const char *opt, const char *arg,
	 struct kp_error *err)
{
	char host[KMS_HOST_BUF], port[8];

	if (parse_kms_host(opt, arg, host, port, err) < 0)
		return -1;
	if (host[0] && set_sz(s, SPP_KMS_NAME, opt, host, err) < 0)
		return -1;
	if (port[0])
		return set_sz(s, SPP_KMS_PORT, opt, port, err);
	/* A name without a port clears the port, as slmgr does. */
	return delete(s, SPP_KMS_PORT, opt, err);
}

int
spp_parse_publish(const char *s, struct spp_publish *p, struct kp_error *err)
{
	char field[3][KP_HOSTNAME_MAX + 2], q[96];
	unsigned long v;
	size_t nf = 0, i;
	const char *c = s;

	memset(p, 0, sizeof(*p));
	while (nf < 3) {
		const char *comma = strchr(c, ',');
		size_t n = comma ? (size_t)(comma - c) : strlen(c);

		while (n && (*c == ' ' || *c == '\t')) {
			c++;
			n--;
		}
		while (n && (c[n - 1] == ' ' || c[n - 1] == '\t'))
			n--;
		if (n >= sizeof(field[0]))
			goto bad;
		memcpy(field[nf], c, n);
		field[nf++][n] = '\0';
		if (comma == NULL)
			break;
		c = comma + 1;
		if (nf == 3)
			goto bad;
	}
	if (!kp_is_hostname(field[0], true))
		return kp_fail(err, KP_ERR_INVALID,
			       "publish domain '%s': not a valid DNS domain",
			       kp_quote(field[0], q, sizeof(q)));
	snprintf(p->domain, sizeof(p->domain), "%s", field[0]);
	for (i = 1; i < nf; i++) {
		if (kp_parse_uint(i == 1 ? "publish domain priority" :
					   "publish domain weight",
				  field[i], 0, 65535, &v, err) < 0)
			return -1;
		if (i == 1) {
			p->priority = (unsigned)v;
			p->has_priority = true;
		} else {
			p->weight = (unsigned)v;
			p->has_weight = true;
		}
	}
	return 0;
bad:
	return kp_fail(err, KP_ERR_INVALID,
		       "publish domain '%s': expected DOMAIN[,PRIORITY[,WEIGHT]]",
		       kp_quote(s, q, sizeof(q)));
}

static int
publish_domain(struct spp_settings *s, const char *opt, const char *arg,
	       char **norm, struct kp_error *err)
{
	struct spp_edit *e = &s->edit[SPP_PUBLISH_LIST];
	struct spp_publish p;
	char buf[KP_HOSTNAME_MAX + 32], **list;
	size_t i, bytes, dlen;

	if (kp_check_safe(opt, arg, err) < 0)
		return -1;
	if (spp_parse_publish(arg, &p, err) < 0) {
		kp_error_prefix(err, "%s", opt);
		return -1;
	}
	if (s->touched[SPP_PUBLISH_LIST] && strcmp(e->option, opt) != 0)
		return touch(s, SPP_PUBLISH_LIST, opt, err) ? 0 : -1;
	/* The format of an entry: "domain, priority, weight" (REGDOC). */
	if (p.has_weight)
		snprintf(buf, sizeof(buf), "%s, %u, %u", p.domain, p.priority,
			 p.weight);
	else if (p.has_priority)
		snprintf(buf, sizeof(buf), "%s, %u", p.domain, p.priority);
	else
		snprintf(buf, sizeof(buf), "%s", p.domain);
	/* The size first: the value must fit a single cell (hivex writes no
	 * big-data records), which also bounds the entries compared below
	 * to a few thousand.  An entry is ASCII: two bytes a character. */
	bytes = (e->list_bytes ? e->list_bytes : 2) + 2 * (strlen(buf) + 1);
	if (bytes > REGF_BIG_DATA)
		return kp_fail(err, KP_ERR_INVALID, "%s: '%s': the list would "
			       "take %zu bytes, more than the %u a registry "
			       "value written here holds (%zu domains fit)",
			       opt, p.domain, bytes, REGF_BIG_DATA, e->nlist);
	dlen = strlen(p.domain);
	for (i = 0; i < e->nlist; i++)
		if (strncasecmp(e->list[i], p.domain, dlen) == 0 &&
		    (e->list[i][dlen] == '\0' || e->list[i][dlen] == ','))
			return kp_fail(err, KP_ERR_INVALID,
				       "%s: domain '%s' given twice", opt,
				       p.domain);
	s->touched[SPP_PUBLISH_LIST] = true;
	e->option = opt;
	e->set = true;
	list = realloc(e->list, (e->nlist + 1) * sizeof(*list));
	if (list == NULL)
		return kp_fail_oom(err);
	e->list = list;
	e->list[e->nlist] = strdup(buf);
	if (e->list[e->nlist] == NULL)
		return kp_fail_oom(err);
	e->nlist++;
	e->list_bytes = bytes;
	*norm = strdup(buf);
	return *norm ? 0 : kp_fail_oom(err);
}

static int
remember(struct spp_settings *s, const char *opt, const char *arg,
	 struct kp_error *err)
{
	struct spp_given *g = realloc(s->given,
				      (s->ngiven + 1) * sizeof(*g));

	if (g == NULL)
		return kp_fail_oom(err);
	s->given = g;
	g[s->ngiven].opt = (char *)opt;
	g[s->ngiven].arg = arg ? strdup(arg) : NULL;
	if (arg && g[s->ngiven].arg == NULL)
		return kp_fail_oom(err);
	s->ngiven++;
	return 0;
}

/* The parsers of the settings table: each validates ARG for setting D and
 * records the change; NORM may receive ARG normalized (for kits). */

static int
p_kms_host(struct spp_settings *s, const struct spp_option *d,
	   const char *arg, char **norm, struct kp_error *err)
{
	(void)norm;
	return kms_host(s, d->name, arg, err);
}

static int
p_clear_kms_host(struct spp_settings *s, const struct spp_option *d,
		 const char *arg, char **norm, struct kp_error *err)
{
	(void)arg;
	(void)norm;
	return delete(s, SPP_KMS_NAME, d->name, err) < 0 ||
	       delete(s, SPP_KMS_PORT, d->name, err) < 0 ? -1 : 0;
}

/* The Office KMS host: the same syntax and port rule as --kms-host,
 * kept apart from Windows' values (hive/office.c writes it). */
static int
office_touch(struct spp_settings *s, int i, const char *opt, bool set,
	     const char *val, struct kp_error *err)
{
	struct spp_edit *e = &s->office[i];

	if (s->office_touched[i])
		return kp_fail(err, KP_ERR_INVALID, strcmp(e->option, opt) ?
			       "--%s conflicts with --%s" : "--%s given twice",
			       opt, e->option);
	s->office_touched[i] = true;
	e->option = opt;
	e->set = set;
	if (set && (e->sz = strdup(val)) == NULL)
		return kp_fail_oom(err);
	return 0;
}

static int
p_office_kms_host(struct spp_settings *s, const struct spp_option *d,
		  const char *arg, char **norm, struct kp_error *err)
{
	char host[KMS_HOST_BUF], port[8];

	(void)norm;
	if (parse_kms_host(d->name, arg, host, port, err) < 0)
		return -1;
	if (host[0] && office_touch(s, 0, d->name, true, host, err) < 0)
		return -1;
	return office_touch(s, 1, d->name, port[0] != '\0', port, err);
}

static int
p_clear_office_kms_host(struct spp_settings *s, const struct spp_option *d,
			const char *arg, char **norm, struct kp_error *err)
{
	(void)arg;
	(void)norm;
	return office_touch(s, 0, d->name, false, NULL, err) < 0 ||
	       office_touch(s, 1, d->name, false, NULL, err) < 0 ? -1 : 0;
}

static int
p_domain(struct spp_settings *s, const struct spp_option *d,
	 const char *arg, char **norm, struct kp_error *err)
{
	char what[64], q[96];

	(void)norm;
	snprintf(what, sizeof(what), "%s", d->name);
	if (kp_check_safe(what, arg, err) < 0)
		return -1;
	if (!kp_is_hostname(arg, false))
		return kp_fail(err, KP_ERR_INVALID,
			       "%s: '%s': not a valid DNS domain", what,
			       kp_quote(arg, q, sizeof(q)));
	return set_sz(s, d->value, d->name, arg, err);
}

/* A flag that removes D's value. */
static int
p_delete(struct spp_settings *s, const struct spp_option *d,
	 const char *arg, char **norm, struct kp_error *err)
{
	(void)arg;
	(void)norm;
	return delete(s, d->value, d->name, err);
}

/* on|off into a DWORD; the Disable... values store the opposite. */
static int
p_onoff(struct spp_settings *s, const struct spp_option *d,
	const char *arg, char **norm, struct kp_error *err)
{
	char what[64];
	bool on;

	(void)norm;
	snprintf(what, sizeof(what), "%s", d->name);
	if (kp_parse_onoff(what, arg, &on, err) < 0)
		return -1;
	return set_dword(s, d->value, d->name, d->inverse ? !on : on, err);
}

static int
p_act_type(struct spp_settings *s, const struct spp_option *d,
	   const char *arg, char **norm, struct kp_error *err)
{
	static const char *const act_types[] = { "all", "ad", "kms", "token" };
	char q[96];
	size_t i;

	(void)norm;
	for (i = 0; i < 4; i++)
		if (strcasecmp(arg, act_types[i]) == 0)
			break;
	if (i == 4)
		return kp_fail(err, KP_ERR_INVALID,
			       "%s: '%s': expected all, ad, kms or token",
			       d->name, kp_quote(arg, q, sizeof(q)));
	/* all is Windows' default: no value. */
	return i == 0 ? delete(s, d->value, d->name, err) :
			set_dword(s, d->value, d->name, (uint32_t)i, err);
}

static int
p_publish(struct spp_settings *s, const struct spp_option *d,
	  const char *arg, char **norm, struct kp_error *err)
{
	return publish_domain(s, d->name, arg, norm, err);
}

/* A TCP port, stored as a string (REG_SZ) as slmgr does. */
static int
p_port(struct spp_settings *s, const struct spp_option *d, const char *arg,
       char **norm, struct kp_error *err)
{
	char what[64], port[8];
	unsigned long n;

	(void)norm;
	snprintf(what, sizeof(what), "%s", d->name);
	if (kp_parse_uint(what, arg, 1, 65535, &n, err) < 0)
		return -1;
	snprintf(port, sizeof(port), "%lu", n);
	return set_sz(s, d->value, d->name, port, err);
}

/* Minutes, 15 to 43200 (30 days), as slmgr /sai and /sri accept. */
static int
p_minutes(struct spp_settings *s, const struct spp_option *d,
	  const char *arg, char **norm, struct kp_error *err)
{
	char what[64];
	unsigned long n;

	(void)norm;
	snprintf(what, sizeof(what), "%s", d->name);
	if (kp_parse_uint(what, arg, 15, 43200, &n, err) < 0)
		return -1;
	return set_dword(s, d->value, d->name, (uint32_t)n, err);
}

static int
p_act_id(struct spp_settings *s, const struct spp_option *d,
	 const char *arg, char **norm, struct kp_error *err)
{
	char what[64];

	(void)norm;
	snprintf(what, sizeof(what), "%s", d->name);
	if (s->act[0])
		return kp_fail(err, KP_ERR_INVALID, "%s given twice", what);
	return kp_parse_guid(what, arg, s->act, err);
}

static int
p_app(struct spp_settings *s, const struct spp_option *d, const char *arg,
      char **norm, struct kp_error *err)
{
	char what[64];

	(void)norm;
	snprintf(what, sizeof(what), "%s", d->name);
	if (s->app[0])
		return kp_fail(err, KP_ERR_INVALID, "%s given twice", what);
	if (strcasecmp(arg, "windows") == 0)
		snprintf(s->app, sizeof(s->app), "%s", SPP_APP_WINDOWS);
	else if (strcasecmp(arg, "office") == 0)
		snprintf(s->app, sizeof(s->app), "%s", SPP_APP_OFFICE);
	else
		return kp_parse_guid(what, arg, s->app, err);
	return 0;
}

/*
 * The settings: one row each.  Everything else comes from here: the
 * command-line options and their --help (cli/), the JSON and kit
 * manifests (kms/kit.c: KIT_NAME is the manifest's word for it, kept
 * stable whatever the option is called; NULL when a kit cannot carry it),
 * and README's list (tests/t1000 checks it).  To add a setting: a value
 * in spp_values if it is a new one, and a row here.
 */
const struct spp_option spp_options[] = {
	{ .name = "kms-host",
	  .arg = "NAME[:PORT]",
	  .value = SPP_KMS_NAME, .parse = p_kms_host,
	  .help = "KMS host for this client, as slmgr /skms: NAME, "
		  "NAME:PORT, [IPV6]:PORT, or :PORT to change the port only; "
		  "a name without a port clears the port" },
	{ .name = "clear-kms-host",
	  .value = SPP_KMS_NAME, .parse = p_clear_kms_host,
	  .help = "remove the KMS host and port, as slmgr /ckms (the client "
		  "finds a host through DNS again)" },
	{ .name = "office-kms-host",
	  .arg = "NAME[:PORT]",
	  .value = SPP_NVALUES, .parse = p_office_kms_host,
	  .help = "KMS host for the Office installed (as ospp.vbs /sethst "
		  "and /setprt): the OfficeSoftwareProtectionPlatform key "
		  "for Office 2010 and Office on Windows 7, Office's "
		  "application ID (or the SKU of the Activation ID given) "
		  "under SoftwareProtectionPlatform otherwise; the same "
		  "syntax as kms-host; refused without Office" },
	{ .name = "clear-office-kms-host",
	  .value = SPP_NVALUES, .parse = p_clear_office_kms_host,
	  .help = "remove the Office KMS host and port, as ospp.vbs /remhst" },
	{ .name = "lookup-domain",
	  .arg = "FQDN",
	  .value = SPP_LOOKUP_DOMAIN, .parse = p_domain,
	  .help = "DNS domain in which the client looks for KMS SRV records, "
		  "as slmgr /skms-domain" },
	{ .name = "clear-lookup-domain",
	  .value = SPP_LOOKUP_DOMAIN, .parse = p_delete,
	  .help = "remove the lookup domain, as slmgr /ckms-domain" },
	{ .name = "host-caching",
	  .arg = "on|off",
	  .value = SPP_HOST_CACHING, .parse = p_onoff,
	  .inverse = true,
	  .help = "KMS host caching (DisableKeyManagementServiceHostCaching "
		  "0/1), as slmgr /skhc and /ckhc" },
	{ .name = "activation-type",
	  .arg = "all|ad|kms|token",
	  .value = SPP_ACT_TYPE, .parse = p_act_type,
	  .help = "volume activation type (VLActivationType), as slmgr "
		  "/act-type; all removes the value" },
	{ .name = "dns-publishing",
	  .arg = "on|off",
	  .value = SPP_DNS_PUBLISHING, .parse = p_onoff,
	  .inverse = true,
	  .kit_name = "dns_publishing",
	  .help = "KMS host: publish its SRV records in DNS "
		  "(DisableDnsPublishing 0/1), as slmgr /sdns and /cdns" },
	{ .name = "publish-domain",
	  .arg = "DOMAIN[,PRIORITY[,WEIGHT]]",
	  .value = SPP_PUBLISH_LIST, .parse = p_publish,
	  .kit_name = "publish_domain",
	  .help = "KMS host: a DNS domain to publish SRV records in; repeat "
		  "it: the options given become the whole "
		  "DnsDomainPublishList" },
	{ .name = "clear-publish-domains",
	  .value = SPP_PUBLISH_LIST, .parse = p_delete,
	  .kit_name = "clear_publish_domains",
	  .help = "KMS host: remove DnsDomainPublishList" },
	{ .name = "low-priority",
	  .arg = "on|off",
	  .value = SPP_LOW_PRIORITY, .parse = p_onoff,
	  .kit_name = "low_priority",
	  .help = "KMS host: run at low priority (EnableKmsLowPriority), as "
		  "slmgr /spri and /cpri" },
	{ .name = "listen-port",
	  .arg = "PORT",
	  .value = SPP_LISTEN_PORT, .parse = p_port,
	  .kit_name = "listen_port",
	  .help = "KMS host: TCP port to listen on "
		  "(KeyManagementServiceListeningPort), as slmgr /sprt" },
	{ .name = "activation-interval",
	  .arg = "MINUTES",
	  .value = SPP_ACT_INTERVAL, .parse = p_minutes,
	  .kit_name = "activation_interval",
	  .help = "minutes between activation attempts, 15 to 43200 "
		  "(VLActivationInterval), as slmgr /sai" },
	{ .name = "renewal-interval",
	  .arg = "MINUTES",
	  .value = SPP_RENEW_INTERVAL, .parse = p_minutes,
	  .kit_name = "renewal_interval",
	  .help = "minutes between activation renewals, 15 to 43200 "
		  "(VLRenewalInterval), as slmgr /sri" },
	{ .name = "skip-rearm",
	  .arg = "on|off",
	  .value = SPP_SKIP_REARM, .parse = p_onoff,
	  .help = "SkipRearm: on keeps the licensing state (and the client "
		  "machine ID) through sysprep /generalize" },
	{ .name = "activation-id",
	  .arg = "GUID",
	  .value = SPP_NVALUES, .parse = p_act_id,
	  .help = "apply the per-product settings (KMS host, lookup domain, "
		  "activation type) to this Activation ID only, as slmgr's "
		  "optional Activation ID" },
	{ .name = "application",
	  .arg = "windows|office|GUID",
	  .value = SPP_NVALUES, .parse = p_app,
	  .help = "application ID for per-product settings: windows (the "
		  "default), office (Office 2013 and later on Windows 8 and "
		  "later) or a GUID" },
};

const size_t spp_noptions = sizeof(spp_options) / sizeof(spp_options[0]);

const struct spp_option *
spp_option_find(const char *name)
{
	size_t i;

	for (i = 0; i < spp_noptions; i++)
		if (strcmp(spp_options[i].name, name) == 0)
			return &spp_options[i];
	return NULL;
}

const struct spp_option *
spp_option_by_kit_name(const char *kit_name)
{
	size_t i;

	for (i = 0; i < spp_noptions; i++)
		if (spp_options[i].kit_name &&
		    strcmp(spp_options[i].kit_name, kit_name) == 0)
			return &spp_options[i];
	return NULL;
}

int
spp_settings_option(struct spp_settings *s, const char *opt,
		    const char *arg, struct kp_error *err)
{
	const struct spp_option *d = spp_option_find(opt);
	char q[96], *norm = NULL;
	int r;

	if (d == NULL)
		return kp_fail(err, KP_ERR_INVALID, "unknown setting '%s'",
			       kp_quote(opt, q, sizeof(q)));
	if ((d->arg != NULL) != (arg != NULL))
		return kp_fail(err, KP_ERR_INVALID, arg ?
			       "%s takes no argument" :
			       "%s needs an argument", d->name);
	r = d->parse(s, d, arg, &norm, err);
	if (r == 0)
		r = remember(s, d->name, norm ? norm : arg, err);
	free(norm);
	return r;
}

int
spp_set_onoff(struct spp_settings *s, enum spp_id id, bool on,
	      struct kp_error *err)
{
	size_t i;

	for (i = 0; i < spp_noptions; i++)
		if (spp_options[i].value == id &&
		    spp_options[i].parse == p_onoff)
			return spp_settings_option(s, spp_options[i].name,
						   on ? "on" : "off", err);
	return kp_fail(err, KP_ERR_INVALID, "%s is not an on/off setting",
		       id < SPP_NVALUES ? spp_values[id].name : "?");
}

int
spp_settings_check(const struct spp_settings *s, struct kp_error *err)
{
	size_t i;

	if ((s->office_touched[0] || s->office_touched[1]) && s->app[0])
		return kp_fail(err, KP_ERR_INVALID,
			       "%s applies to Office's own application ID; it "
			       "cannot be combined with another application",
			       s->office[s->office_touched[0] ? 0 : 1].option);
	if (!s->app[0] && !s->act[0])
		return 0;
	for (i = 0; i < SPP_NVALUES; i++) {
		if (s->touched[i] && !spp_values[i].per_product)
			return kp_fail(err, KP_ERR_INVALID,
				       "%s applies to the whole service; it "
				       "cannot be combined with a per-product "
				       "Activation ID or application",
				       s->edit[i].option);
	}
	return 0;
}

const char *
spp_settings_warning(const struct spp_settings *s, char *buf, size_t size)
{
	const struct spp_edit *host = &s->edit[SPP_KMS_NAME];
	const struct spp_edit *dom = &s->edit[SPP_LOOKUP_DOMAIN];

	/* slmgr /skms-domain: "no effect if the specific single KMS host
	 * is set" (Slmgr.vbs options, learn.microsoft.com). */
	if (s->touched[SPP_KMS_NAME] && host->set && host->sz &&
	    s->touched[SPP_LOOKUP_DOMAIN] && dom->set && dom->sz) {
		snprintf(buf, size, "the lookup domain '%s' "
			 "(KeyManagementServiceLookupDomain) has no effect "
			 "while a KMS host is set: Windows asks '%s' only",
			 dom->sz, host->sz);
		return buf;
	}
	return NULL;
}

bool
spp_settings_empty(const struct spp_settings *s)
{
	size_t i;

	for (i = 0; i < SPP_NVALUES; i++)
		if (s->touched[i])
			return false;
	return !s->office_touched[0] && !s->office_touched[1];
}

int
spp_check_hive(struct hive *h, const struct winver *v, bool writing,
	       bool force, struct kp_error *err)
{
	enum hive_kind kind;

	if (v->present || force)
		return 0;
	kind = hive_kind(h);
	if (kind == HIVE_KIND_EMPTY)
		return 0;
	/* What the user may do about it is the command's to say. */
	(void)writing;
	return kp_fail(err, KP_ERR_INPUT,
		       "'%s': not a SOFTWARE hive: it has keys but no %s%s",
		       hive_path(h), WINVER_KEY,
		       kind == HIVE_KIND_SYSTEM ? "; it looks like a SYSTEM "
						  "hive" : "");
}

/*
 * Applying.
 */

static char *
key_for(const struct spp_settings *s, const struct spp_value_def *d,
	const char *root)
{
	const char *app = s->app[0] ? s->app : s->act[0] ? SPP_APP_WINDOWS : "";
	size_t len = strlen(root) + 2 * (KP_GUID_LEN + 2) + 16;
	char *k = malloc(len);

	if (k == NULL)
		return NULL;
	if (d->subkey)
		snprintf(k, len, "%s\\%s", root, d->subkey);
	else if (d->per_product && app[0] && s->act[0])
		snprintf(k, len, "%s\\%s\\%s", root, app, s->act);
	else if (d->per_product && app[0])
		snprintf(k, len, "%s\\%s", root, app);
	else
		snprintf(k, len, "%s", root);
	return k;
}

int
spp_apply(const struct spp_settings *s, struct hive *h, const struct winver *v,
	  struct hive_changes *c, struct kp_error *err)
{
	const char *root = spp_root(v);
	struct buf data = BUF_INIT;
	size_t i, j;
	int r = -1;

	if (spp_settings_check(s, err) < 0)
		return -1;
	for (i = 0; i < SPP_NVALUES; i++) {
		const struct spp_value_def *d = &spp_values[i];
		const struct spp_edit *e = &s->edit[i];
		unsigned char dw[4];
		const void *p = NULL;
		size_t len = 0;
		char *key;

		if (!s->touched[i])
			continue;
		if (e->set && d->type == REGT_DWORD) {
			regval_dword(e->dword, dw);
			p = dw;
			len = 4;
		} else if (e->set && d->type == REGT_SZ) {
			if (regval_sz(e->sz, &data) < 0)
				goto oom;
			p = data.data;
			len = data.len;
		} else if (e->set) {
			if (strcmp(root, SPP_KEY_VISTA) == 0) {
				for (j = 0; j < e->nlist; j++) {
					if (!strchr(e->list[j], ','))
						continue;
					r = kp_fail(err, KP_ERR_INVALID,
						"%s: Windows Vista and Server "
						"2008 take domains only in "
						"DnsDomainPublishList, without "
						"priority or weight", e->option);
					goto out;
				}
			}
			if (regval_multi_sz(e->list, e->nlist, &data) < 0)
				goto oom;
			p = data.data;
			len = data.len;
		}
		key = key_for(s, d, root);
		if (key == NULL)
			goto oom;
		r = hive_apply_value(h, c, key, d->name, e->set, d->type, p,
				     len, err);
		free(key);
		if (r < 0)
			goto out;
	}
	if (s->office_touched[0] || s->office_touched[1]) {
		struct office_kms_edit oe = {
			.touch_name = s->office_touched[0],
			.touch_port = s->office_touched[1],
			.set_name = s->office[0].set,
			.set_port = s->office[1].set,
			.name = s->office[0].sz,
			.port = s->office[1].sz,
			.act = s->act,
		};

		r = office_apply_kms(h, v, &oe, c, err);
		if (r < 0)
			goto out;
	}
	r = 0;
	goto out;
oom:
	r = kp_fail_oom(err);
out:
	buf_release(&data);
	return r;
}

/*
 * Reading for `show`.
 */

static int
add_item(struct spp_item **items, size_t *n, const struct spp_value_def *def,
	 const char *name, const struct hive_value *v, struct kp_error *err)
{
	struct spp_item *it = realloc(*items, (*n + 1) * sizeof(*it));

	if (it == NULL)
		return kp_fail_oom(err);
	*items = it;
	it += *n;
	memset(it, 0, sizeof(*it));
	it->def = def;
	it->name = strdup(name);
	it->type = v->type;
	it->secret = hive_value_is_secret(name);
	if (!it->secret && v->len) {
		it->data = malloc(v->len);
		if (it->data)
			memcpy(it->data, v->data, v->len);
	}
	it->len = it->secret ? 0 : v->len;
	if (it->name == NULL || (!it->secret && v->len && it->data == NULL)) {
		free(it->name);
		free(it->data);
		return kp_fail_oom(err);
	}
	(*n)++;
	return 0;
}

/* Known values of key PATH (per-product ones only if PRODUCT). */
static int
read_known(struct hive *h, const char *path, bool product,
	   struct spp_item **items, size_t *n, struct kp_error *err)
{
	char sub[sizeof(SPP_KEY) + 32];
	size_t i;

	for (i = 0; i < SPP_NVALUES; i++) {
		const struct spp_value_def *d = &spp_values[i];
		struct hive_value v;
		hive_key k;
		int r;

		if (product && (!d->per_product || d->subkey))
			continue;
		if (d->subkey)
			snprintf(sub, sizeof(sub), "%s\\%s", path, d->subkey);
		r = hive_find(h, d->subkey ? sub : path, &k, err);
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		r = hive_get(h, k, d->name, &v, err);
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		r = add_item(items, n, d, d->name, &v, err);
		hive_value_release(&v);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int
add_product(struct spp_report *r, const char *app, const char *act,
	    struct spp_item *items, size_t n, struct kp_error *err)
{
	struct spp_product *p;

	p = realloc(r->products, (r->nproducts + 1) * sizeof(*p));
	if (p == NULL)
		return kp_fail_oom(err);
	r->products = p;
	p += r->nproducts++;
	snprintf(p->app, sizeof(p->app), "%s", app);
	snprintf(p->act, sizeof(p->act), "%s", act);
	p->items = items;
	p->n = n;
	return 0;
}

static void
items_free(struct spp_item *items, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(items[i].name);
		free(items[i].data);
	}
	free(items);
}

/* Subkeys of K whose names are GUIDs, as (key, GUID) pairs. */
static int
guid_subkeys(struct hive *h, hive_key k, const char *path, const char *app,
	     struct spp_report *r, struct kp_error *err)
{
	hive_key *sub = NULL;
	size_t n, i;
	int ret = -1;

	if (hive_subkeys(h, k, &sub, &n, err) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct spp_item *items = NULL;
		size_t nitems = 0, len;
		char guid[KP_GUID_LEN + 1], *name, *p;

		name = hive_key_name(h, sub[i], err);
		if (name == NULL)
			goto out;
		if (kp_parse_guid("", name, guid, NULL) < 0) {
			free(name);
			continue;
		}
		len = strlen(path) + strlen(name) + 2;
		p = malloc(len);
		if (p == NULL) {
			free(name);
			kp_fail_oom(err);
			goto out;
		}
		snprintf(p, len, "%s\\%s", path, name);
		free(name);
		if (read_known(h, p, true, &items, &nitems, err) < 0)
			goto fail;
		if (nitems) {
			if (add_product(r, app ? app : guid, app ? guid : "",
					items, nitems, err) < 0)
				goto fail;
			items = NULL;	/* the report owns them now */
			nitems = 0;
		}
		if (!app && guid_subkeys(h, sub[i], p, guid, r, err) < 0)
			goto fail;
		items_free(items, nitems);
		free(p);
		continue;
fail:
		items_free(items, nitems);
		free(p);
		goto out;
	}
	ret = 0;
out:
	free(sub);
	return ret;
}

int
spp_read(struct hive *h, const struct winver *v, struct spp_report *r,
	 struct kp_error *err)
{
	struct hive_value *vals = NULL;
	size_t nvals = 0, i;
	hive_key k;
	int rc;

	memset(r, 0, sizeof(*r));
	r->root = spp_root(v);
	rc = hive_find(h, r->root, &k, err);
	if (rc <= 0)
		return rc;
	r->root_present = true;
	if (read_known(h, r->root, false, &r->items, &r->n, err) < 0)
		goto fail;
	if (hive_values(h, k, &vals, &nvals, err) < 0)
		goto fail;
	for (i = 0; i < nvals; i++)
		if (hive_value_is_secret(vals[i].name) &&
		    add_item(&r->items, &r->n, NULL, vals[i].name, &vals[i],
			     err) < 0)
			goto fail;
	hive_values_free(vals, nvals);
	vals = NULL;
	if (guid_subkeys(h, k, r->root, NULL, r, err) < 0)
		goto fail;
	return 0;
fail:
	hive_values_free(vals, nvals);
	spp_report_release(r);
	return -1;
}

void
spp_report_release(struct spp_report *r)
{
	size_t i;

	items_free(r->items, r->n);
	for (i = 0; i < r->nproducts; i++)
		items_free(r->products[i].items, r->products[i].n);
	free(r->products);
	memset(r, 0, sizeof(*r));
}

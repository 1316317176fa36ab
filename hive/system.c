/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SYSTEM hive settings: control set and DNS suffix search list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/valid.h"
#include "regf.h"
#include "regval.h"
#include "system.h"

#define TCPIP "Services\\Tcpip\\Parameters"

int
sys_control_set(struct hive *h, char *out, size_t outsz, struct kp_error *err)
{
	struct hive_value v;
	uint32_t cur;
	hive_key k;
	int r;

	r = hive_find(h, "Select", &k, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return kp_fail(err, KP_ERR_INPUT,
			       "'%s': not a SYSTEM hive (no Select key)",
			       hive_path(h));
	r = hive_get(h, k, "Current", &v, err);
	if (r < 0)
		return -1;
	if (r == 0 || v.type != REGT_DWORD ||
	    regval_get_dword(v.data, v.len, &cur) < 0 || cur == 0 ||
	    cur > 999) {
		if (r == 1)
			hive_value_release(&v);
		return kp_fail(err, KP_ERR_INPUT,
			       "'%s': Select\\Current is missing or not a "
			       "control set number", hive_path(h));
	}
	hive_value_release(&v);
	snprintf(out, outsz, "ControlSet%03u", cur);
	r = hive_find(h, out, &k, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return kp_fail(err, KP_ERR_INPUT,
			       "'%s': Select\\Current names %s, which does not "
			       "exist", hive_path(h), out);
	return 0;
}

int
sys_parse_search_list(const char *arg, char **norm, struct kp_error *err)
{
	struct buf out = BUF_INIT;
	const char *p = arg;
	char q[96];

	if (kp_check_safe(NULL, arg, err) < 0)
		return -1;
	if (strlen(arg) > SYS_SEARCH_LIST_MAX)
		return kp_fail(err, KP_ERR_INVALID,
			       "longer than %d characters",
			       SYS_SEARCH_LIST_MAX);
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char d[KP_HOSTNAME_MAX + 2];

		while (n && *p == ' ') {
			p++;
			n--;
		}
		while (n && p[n - 1] == ' ')
			n--;
		if (n == 0 || n >= sizeof(d))
			goto bad;
		memcpy(d, p, n);
		d[n] = '\0';
		if (!kp_is_hostname(d, false)) {
			buf_release(&out);
			return kp_fail(err, KP_ERR_INVALID,
				       "'%s': not a valid DNS suffix", kp_quote(d, q, sizeof(q)));
		}
		if ((out.len && buf_addch(&out, ',') < 0) ||
		    buf_addstr(&out, d) < 0) {
			buf_release(&out);
			return kp_fail_oom(err);
		}
		p += n + (comma != NULL);
		while (*p == ' ')
			p++;
		if (comma && *p == '\0')
			goto bad;
	}
	if (out.len == 0)
		goto bad;
	*norm = buf_detach(&out, NULL);
	return *norm ? 0 : kp_fail_oom(err);
bad:
	buf_release(&out);
	return kp_fail(err, KP_ERR_INVALID,
		       "'%s': expected SUFFIX[,SUFFIX...]",
		       kp_quote(arg, q, sizeof(q)));
}

int
sys_apply_search_list(struct hive *h, const char *list,
		      struct hive_changes *c, struct kp_error *err)
{
	struct buf data = BUF_INIT;
	char cs[32], key[64];
	int r;

	if (sys_control_set(h, cs, sizeof(cs), err) < 0)
		return -1;
	snprintf(key, sizeof(key), "%s\\" TCPIP, cs);
	if (list && regval_sz(list, &data) < 0)
		return kp_fail_oom(err);
	r = hive_apply_value(h, c, key, "SearchList", list != NULL, REGT_SZ,
			     data.data, data.len, err);
	buf_release(&data);
	return r;
}

int
sys_read_search_list(struct hive *h, char **list, struct kp_error *err)
{
	struct hive_value v;
	struct buf s = BUF_INIT;
	char cs[32], key[64];
	hive_key k;
	int r;

	*list = NULL;
	if (sys_control_set(h, cs, sizeof(cs), err) < 0)
		return -1;
	snprintf(key, sizeof(key), "%s\\" TCPIP, cs);
	r = hive_find(h, key, &k, err);
	if (r <= 0)
		return r;
	r = hive_get(h, k, "SearchList", &v, err);
	if (r <= 0)
		return r;
	if (regval_get_sz(v.data, v.len, &s) == 0)
		*list = buf_detach(&s, NULL);
	buf_release(&s);
	hive_value_release(&v);
	return 0;
}

/* Does rule text RULE ("v2.xx|Field=Value|...") hold FIELD=VALUE (the
 * value compared without case)? */
static bool
rule_has(const char *rule, const char *field, const char *value)
{
	size_t fl = strlen(field), vl = strlen(value);
	const char *p = rule;

	while ((p = strchr(p, '|')) != NULL) {
		p++;
		if (strncasecmp(p, field, fl) == 0 && p[fl] == '=' &&
		    strncasecmp(p + fl + 1, value, vl) == 0 &&
		    (p[fl + 1 + vl] == '|' || p[fl + 1 + vl] == '\0'))
			return true;
	}
	return false;
}

int
sys_firewall_enable_service(struct hive *h, const char *svc, unsigned port,
			    char *id, size_t idsz, struct hive_changes *c,
			    struct kp_error *err)
{
	struct hive_value *vals = NULL;
	struct buf text = BUF_INIT, data = BUF_INIT;
	char cs[32], key[128], p[16], *at;
	size_t n = 0, i;
	hive_key k;
	int r;

	if (sys_control_set(h, cs, sizeof(cs), err) < 0)
		return -1;
	snprintf(key, sizeof(key), "%s\\" SYS_FIREWALL_RULES, cs);
	snprintf(p, sizeof(p), "%u", port);
	r = hive_find(h, key, &k, err);
	if (r <= 0)
		return r;
	if (hive_values(h, k, &vals, &n, err) < 0)
		return -1;
	r = 0;
	for (i = 0; i < n && r == 0; i++) {
		if (vals[i].type != REGT_SZ ||
		    regval_get_sz(vals[i].data, vals[i].len, &text) < 0)
			continue;
		if (!rule_has(buf_str(&text), "Svc", svc) ||
		    !rule_has(buf_str(&text), "Dir", "In") ||
		    !rule_has(buf_str(&text), "Protocol", "6") ||
		    !rule_has(buf_str(&text), "LPort", p))
			continue;
		snprintf(id, idsz, "%s", vals[i].name);
		/* Windows ships it off: only its Active field changes. */
		at = strstr(buf_str(&text), "|Active=FALSE|");
		if (at == NULL) {
			r = 1;		/* on already */
			break;
		}
		buf_reset(&data);
		if (buf_add(&data, buf_str(&text), (size_t)(at - buf_str(&text)))
		    < 0 || buf_addf(&data, "|Active=TRUE|%s", at + 14) < 0 ||
		    regval_sz(buf_str(&data), &text) < 0) {
			r = kp_fail_oom(err);
			break;
		}
		r = hive_apply_value(h, c, key, vals[i].name, true, REGT_SZ,
				     text.data, text.len, err) < 0 ? -1 : 1;
	}
	hive_values_free(vals, n);
	buf_release(&text);
	buf_release(&data);
	return r;
}

char *
sys_firewall_rule(unsigned port, const char *name, const char *desc)
{
	char *r = NULL;

	/* No Profile field: the rule applies to every profile.  No App or
	 * Svc: the service binary differs between Windows versions
	 * (sppsvc.exe, sppextcomobj.exe), the port does not. */
	if (asprintf(&r, "v2.10|Action=Allow|Active=TRUE|Dir=In|Protocol=6|"
		     "LPort=%u|Name=%s|Desc=%s|", port, name, desc) < 0)
		return NULL;
	return r;
}

int
sys_firewall_allow_tcp(struct hive *h, const char *id, unsigned port,
		       const char *name, const char *desc,
		       struct hive_changes *c, struct kp_error *err)
{
	struct buf data = BUF_INIT;
	char cs[32], key[128], *rule;
	int r;

	if (port == 0 || port > 65535 || strchr(name, '|') ||
	    strchr(desc, '|') || strchr(id, '|'))
		return kp_fail(err, KP_ERR_INVALID, "invalid firewall rule");
	if (sys_control_set(h, cs, sizeof(cs), err) < 0)
		return -1;
	snprintf(key, sizeof(key), "%s\\" SYS_FIREWALL_RULES, cs);
	rule = sys_firewall_rule(port, name, desc);
	if (rule == NULL || regval_sz(rule, &data) < 0) {
		free(rule);
		buf_release(&data);
		return kp_fail_oom(err);
	}
	r = hive_apply_value(h, c, key, id, true, REGT_SZ, data.data, data.len,
			     err);
	free(rule);
	buf_release(&data);
	return r;
}

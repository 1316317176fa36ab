/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* KMS SRV records: the set, from options or a hive, and its formats. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "hive/regval.h"
#include "hive/spp.h"
#include "srv.h"

/* Copy NAME without a trailing dot, checked as a host name. */
static int
name_in(char *out, size_t sz, const char *what, const char *name,
	struct kp_error *err)
{
	size_t n = strlen(name);

	if (srv_check_name(what, name, err) < 0)
		return -1;
	if (n && name[n - 1] == '.')
		n--;
	if (n >= sz)
		return kp_fail(err, KP_ERR_INVALID, "%s: name too long", what);
	memcpy(out, name, n);
	out[n] = '\0';
	return 0;
}

int
srv_check_name(const char *what, const char *name, struct kp_error *err)
{
	char q[96];

	if (kp_check_safe(what, name, err) < 0)
		return -1;
	if (!kp_is_hostname(name, true))
		return kp_fail(err, KP_ERR_INVALID, "%s%s'%s': not a valid DNS "
			       "name", what ? what : "", what ? ": " : "",
			       kp_quote(name, q, sizeof(q)));
	return 0;
}

int
srv_add(struct srv_set *s, const char *domain, const char *target,
	unsigned priority, unsigned weight, unsigned port, unsigned ttl,
	struct kp_error *err)
{
	struct srv_rec r, *v;
	size_t i;

	memset(&r, 0, sizeof(r));
	if (name_in(r.domain, sizeof(r.domain), "domain", domain, err) < 0 ||
	    (target && name_in(r.target, sizeof(r.target), "host", target,
			       err) < 0))
		return -1;
	if (priority > 65535 || weight > 65535 || port == 0 || port > 65535)
		return kp_fail(err, KP_ERR_INVALID,
			       "priority, weight and port must be 0-65535 "
			       "(port 1-65535)");
	r.priority = (uint16_t)priority;
	r.weight = (uint16_t)weight;
	r.port = (uint16_t)port;
	r.ttl = ttl;
	for (i = 0; i < s->n; i++)
		if (strcasecmp(s->v[i].domain, r.domain) == 0 &&
		    strcasecmp(s->v[i].target, r.target) == 0 &&
		    s->v[i].port == r.port && s->v[i].priority == r.priority &&
		    s->v[i].weight == r.weight)
			return 0;
	v = realloc(s->v, (s->n + 1) * sizeof(*v));
	if (v == NULL)
		return kp_fail_oom(err);
	s->v = v;
	s->v[s->n++] = r;
	return 0;
}

int
srv_from_hive(struct srv_set *s, struct hive *h, char *const *hosts,
	      size_t nhosts, unsigned port, unsigned ttl,
	      struct kp_error *err)
{
	struct winver v = { 0 };
	struct hive_value val;
	struct buf b = BUF_INIT;
	char **list = NULL;
	size_t n = 0, i, j;
	unsigned long lp;
	bool have = false;
	hive_key k;
	int r = -1;

	if (winver_read(h, &v, err) < 0)
		return -1;
	if (hive_find(h, spp_root(&v), &k, err) != 1) {
		kp_fail(err, KP_ERR_INPUT, "'%s': no SoftwareProtectionPlatform "
			"key", hive_path(h));
		goto out;
	}
	if (hive_get(h, k, "KeyManagementServiceListeningPort", &val,
		     err) == 1) {
		if (regval_get_sz(val.data, val.len, &b) == 0 &&
		    kp_parse_uint("KeyManagementServiceListeningPort",
				  buf_str(&b), 1, 65535, &lp, NULL) == 0)
			port = (unsigned)lp;
		hive_value_release(&val);
	}
	have = hive_get(h, k, "DnsDomainPublishList", &val, err) == 1;
	if (!have || regval_get_multi_sz(val.data, val.len, &list, &n) < 0 ||
	    n == 0) {
		kp_fail(err, KP_ERR_INPUT, "'%s': no DnsDomainPublishList "
			"(the host publishes only in its own domain)",
			hive_path(h));
		kp_error_remedy(err, KP_REMEDY_SRV_DOMAIN);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct spp_publish p;

		if (spp_parse_publish(list[i], &p, err) < 0) {
			err->status = KP_ERR_INPUT;
			kp_error_prefix(err, "'%s': DnsDomainPublishList",
					hive_path(h));
			goto out;
		}
		for (j = 0; j < nhosts; j++)
			if (srv_add(s, p.domain, hosts[j], p.priority, p.weight,
				    port, ttl, err) < 0)
				goto out;
	}
	r = 0;
out:
	if (have)
		hive_value_release(&val);
	regval_free_list(list);
	buf_release(&b);
	winver_release(&v);
	return r;
}

bool
srv_in_zone(const char *domain, const char *zone)
{
	size_t d = strlen(domain), z = strlen(zone);

	if (d && domain[d - 1] == '.')
		d--;
	if (z && zone[z - 1] == '.')
		z--;
	if (d == z)
		return strncasecmp(domain, zone, z) == 0;
	return d > z && domain[d - z - 1] == '.' &&
	       strncasecmp(domain + d - z, zone, z) == 0;
}

const char *
srv_common_zone(const struct srv_set *s)
{
	const char *best = NULL;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (best == NULL || strlen(s->v[i].domain) < strlen(best))
			best = s->v[i].domain;
	for (i = 0; i < s->n; i++)
		if (!srv_in_zone(s->v[i].domain, best))
			return NULL;
	return best;
}

void
srv_owner(const struct srv_rec *r, char *out, size_t outsz)
{
	snprintf(out, outsz, KMS_SRV_LABEL ".%s.", r->domain);
}

int
srv_format(const struct srv_set *s, enum srv_format f, struct buf *out,
	   struct kp_error *err)
{
	json_t *a = NULL;
	char owner[300], *text;
	size_t i;
	int rc = 0;

	if (f == SRV_JSON)
		a = json_array();
	for (i = 0; i < s->n && rc == 0; i++) {
		const struct srv_rec *r = &s->v[i];

		srv_owner(r, owner, sizeof(owner));
		if (f == SRV_JSON)
			rc = json_array_append_new(a, json_pack(
				"{s:s, s:I, s:s, s:i, s:i, s:i, s:s+}", "name",
				owner, "ttl", (json_int_t)r->ttl, "type", "SRV",
				"priority", r->priority, "weight", r->weight,
				"port", r->port, "target", r->target, "."));
		else
			rc = buf_addf(out, "%s%s %u IN SRV %u %u %u %s.\n",
				      f == SRV_NSUPDATE ? "update add " : "",
				      owner, r->ttl, r->priority, r->weight,
				      r->port, r->target);
	}
	if (rc == 0 && f == SRV_NSUPDATE)
		rc = buf_addstr(out, "send\n");
	if (rc == 0 && f == SRV_JSON) {
		text = json_dumps(a, JSON_INDENT(2));
		rc = text ? buf_addf(out, "%s\n", text) : -1;
		free(text);
	}
	json_decref(a);
	return rc < 0 ? kp_fail_oom(err) : 0;
}

void
srv_set_release(struct srv_set *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

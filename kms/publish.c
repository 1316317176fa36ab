/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Publishing KMS SRV records and discovering a KMS host. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "publish.h"

static bool
same_target(const ldns_rdf *a, const char *name)
{
	ldns_rdf *b = ldns_dname_new_frm_str(name);
	bool r = b && ldns_dname_compare(a, b) == 0;

	ldns_rdf_deep_free(b);
	return r;
}

/* Does RR (an SRV answer) hold record R (and, with TTL, R's TTL)?  With
 * --ttl a record whose TTL differs is published again; without it the
 * TTL the zone has is left alone. */
static bool
rr_is(const ldns_rr *rr, const struct srv_rec *r, bool ttl)
{
	return ldns_rr_rd_count(rr) == 4 &&
	       (!ttl || ldns_rr_ttl(rr) == r->ttl) &&
	       ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)) == r->priority &&
	       ldns_rdf2native_int16(ldns_rr_rdf(rr, 1)) == r->weight &&
	       ldns_rdf2native_int16(ldns_rr_rdf(rr, 2)) == r->port &&
	       same_target(ldns_rr_rdf(rr, 3), r->target);
}

/* The SRV records now at OWNER, asked with KEY (a hidden primary may
 * answer only signed queries).  A server that will not say fails: without
 * knowing what is there, neither the difference nor the read-back can be
 * right. */
static ldns_rr_list *
current(const struct dns_server *s, const char *owner,
	const struct tsig_key *key, struct kp_error *err)
{
	ldns_pkt *a = NULL;
	ldns_rr_list *l = NULL;
	char b[16];
	int rc;

	if (dns_query(s, owner, LDNS_RR_TYPE_SRV, s->timeout_ms, key, &a,
		      err) < 0)
		return NULL;
	rc = ldns_pkt_get_rcode(a);
	if (rc == LDNS_RCODE_NOERROR || rc == LDNS_RCODE_NXDOMAIN) {
		l = ldns_pkt_rr_list_by_type(a, LDNS_RR_TYPE_SRV,
					     LDNS_SECTION_ANSWER);
		if (l == NULL)
			l = ldns_rr_list_new();
		if (l == NULL)
			kp_fail_oom(err);
	} else {
		kp_fail(err, KP_ERR_FAIL, "DNS server %s will not tell what "
			"%s holds: %s", s->label, owner,
			dns_rcode_name(rc, b, sizeof(b)));
		if (!key)
			kp_error_remedy(err, KP_REMEDY_TSIG_KEY);
	}
	ldns_pkt_free(a);
	return l;
}

/* Add RR to the update UP, which takes it over. */
static int
push(ldns_rr_list *up, ldns_rr *rr, struct kp_error *err)
{
	if (!ldns_rr_list_push_rr(up, rr)) {
		ldns_rr_free(rr);
		return kp_fail_oom(err);
	}
	return 0;
}

/* RFC 2136 2.5.2: delete the whole SRV RRset at OWNER (class ANY, TTL 0,
 * no data), added to UP. */
static int
delete_rrset(ldns_rr_list *up, const char *owner, struct kp_error *err)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *name = ldns_dname_new_frm_str(owner);

	if (rr == NULL || name == NULL) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(name);
		return kp_fail_oom(err);
	}
	ldns_rr_set_owner(rr, name);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_SRV);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_ANY);
	ldns_rr_set_ttl(rr, 0);
	return push(up, rr, err);
}

/* Record one change in RES for the report and put it in the update UP
 * (a deletion as RFC 2136 2.5.4: class NONE, TTL 0); either may be NULL. */
static int
change(struct publish_result *res, ldns_rr_list *up, bool add,
       const char *owner, const ldns_rr *have, const struct srv_rec *r,
       struct kp_error *err)
{
	struct publish_change *c;
	ldns_rr *rr = NULL;
	char *s;

	if (have) {
		rr = ldns_rr_clone(have);
	} else {
		char line[600];

		snprintf(line, sizeof(line), "%s %u IN SRV %u %u %u %s.",
			 owner, r->ttl, r->priority, r->weight, r->port,
			 r->target);
		if (ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL) !=
		    LDNS_STATUS_OK)
			rr = NULL;
	}
	if (rr == NULL)
		return kp_fail_oom(err);
	if (res) {
		c = realloc(res->v, (res->n + 1) * sizeof(*c));
		if (c == NULL) {
			ldns_rr_free(rr);
			return kp_fail_oom(err);
		}
		res->v = c;
		c += res->n++;
		c->add = add;
		s = ldns_rr2str(rr);
		snprintf(c->text, sizeof(c->text), "%s", s ? s : "?");
		c->text[strcspn(c->text, "\n")] = '\0';
		free(s);
	}
	if (up == NULL) {
		ldns_rr_free(rr);
		return 0;
	}
	if (!add) {
		ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE);
		ldns_rr_set_ttl(rr, 0);
	}
	return push(up, rr, err);
}

/* The differences for one owner name.  Adding and deleting single
 * records go out as such; a replacement, or deleting everything, deletes
 * the whole RRset and adds the wanted records in the same update, which
 * the server applies at once whatever changed in the meantime. */
static int
diff_owner(const struct srv_set *want, const char *owner, const char *domain,
	   const ldns_rr_list *have, const struct publish_opts *o,
	   ldns_rr_list *up, struct publish_result *res, struct kp_error *err)
{
	size_t i, j, nh = have ? ldns_rr_list_rr_count(have) : 0;
	size_t before = res->n;
	enum publish_mode mode = o->mode;
	bool all = o->all;
	bool whole = mode == PUBLISH_REPLACE || (mode == PUBLISH_DELETE && all);
	ldns_rr_list *direct = whole ? NULL : up;

	for (i = 0; i < want->n; i++) {
		const struct srv_rec *r = &want->v[i];
		bool present = false;

		if (strcasecmp(r->domain, domain) != 0)
			continue;
		for (j = 0; j < nh; j++)
			present |= rr_is(ldns_rr_list_rr(have, j), r,
					 o->ttl && mode != PUBLISH_DELETE);
		if (mode != PUBLISH_DELETE && !present &&
		    change(res, direct, true, owner, NULL, r, err) < 0)
			return -1;
		if (mode == PUBLISH_DELETE && present && !all &&
		    change(res, direct, false, owner, NULL, r, err) < 0)
			return -1;
	}
	for (j = 0; j < nh; j++) {
		const ldns_rr *rr = ldns_rr_list_rr(have, j);
		bool wanted = false;

		for (i = 0; i < want->n; i++)
			wanted |= strcasecmp(want->v[i].domain, domain) == 0 &&
				  rr_is(rr, &want->v[i], o->ttl);
		if (((mode == PUBLISH_REPLACE && !wanted) ||
		     (mode == PUBLISH_DELETE && all)) &&
		    change(res, NULL, false, owner, rr, NULL, err) < 0)
			return -1;
	}
	if (!whole || res->n == before)
		return 0;
	if (delete_rrset(up, owner, err) < 0)
		return -1;
	for (i = 0; mode == PUBLISH_REPLACE && i < want->n; i++)
		if (strcasecmp(want->v[i].domain, domain) == 0 &&
		    change(NULL, up, true, owner, NULL, &want->v[i], err) < 0)
			return -1;
	return 0;
}

/* Read every name back: what was sent must now be there (or gone). */
static int
check(const struct dns_server *server, const struct srv_set *want,
      const struct publish_opts *o, struct kp_error *err)
{
	enum publish_mode mode = o->mode;
	bool all = o->all;
	size_t i, j;

	for (i = 0; i < want->n; i++) {
		const struct srv_rec *r = &want->v[i];
		char owner[300];
		bool present = false;
		ldns_rr_list *have;

		srv_owner(r, owner, sizeof(owner));
		have = current(server, owner, o->key, err);
		if (have == NULL) {
			kp_error_prefix(err, "the server accepted the update, "
					"but it cannot be read back");
			return -1;
		}
		for (j = 0; j < ldns_rr_list_rr_count(have); j++)
			present |= rr_is(ldns_rr_list_rr(have, j), r,
					 o->ttl && mode != PUBLISH_DELETE);
		if (mode == PUBLISH_DELETE && all)
			present = ldns_rr_list_rr_count(have) > 0;
		ldns_rr_list_deep_free(have);
		if (present != (mode != PUBLISH_DELETE))
			return kp_fail(err, KP_ERR_FAIL,
				       "the server accepted the update, but "
				       "%s %s", owner, present ? "still holds "
				       "the records" : "does not hold them");
	}
	return 0;
}

int
kms_publish(const struct dns_server *server, const char *zone,
	    const struct srv_set *want, const struct publish_opts *o,
	    struct publish_result *res, struct kp_error *err)
{
	struct dns_update_result u;
	ldns_rr_list *up = ldns_rr_list_new();
	char owner[300], why[80];
	size_t i, j;
	int r = -1;

	memset(res, 0, sizeof(*res));
	if (up == NULL)
		return kp_fail_oom(err);
	for (i = 0; i < want->n; i++) {
		bool seen = false;
		ldns_rr_list *have;

		if (!srv_in_zone(want->v[i].domain, zone)) {
			kp_fail(err, KP_ERR_INVALID, "domain '%s' is not in "
				"zone '%s'", want->v[i].domain, zone);
			goto out;
		}
		for (j = 0; j < i; j++)
			seen |= strcasecmp(want->v[j].domain,
					   want->v[i].domain) == 0;
		if (seen)
			continue;
		srv_owner(&want->v[i], owner, sizeof(owner));
		have = current(server, owner, o->key, err);
		if (have == NULL)
			goto out;
		r = diff_owner(want, owner, want->v[i].domain, have, o, up,
			       res, err);
		ldns_rr_list_deep_free(have);
		if (r < 0)
			goto out;
		r = -1;
	}
	if (ldns_rr_list_rr_count(up) == 0 || o->dry_run) {
		r = 0;
		goto out;
	}
	if (dns_update(server, zone, up, o->key, &u, err) < 0)
		goto out;
	if (u.rcode == LDNS_RCODE_NOERROR && o->key && !u.signed_ok) {
		kp_fail(err, KP_ERR_FAIL, "DNS server %s answered the update "
			"without a valid TSIG signature: the answer cannot be "
			"trusted; check the zone", server->label);
		goto out;
	}
	if (dns_update_refusal(&u, o->key, why, sizeof(why))) {
		/* The bare code says little to whoever reads it: what each
		 * means for this update, and what to give. */
		if (u.rcode == LDNS_RCODE_REFUSED && !o->key) {
			kp_fail(err, KP_ERR_FAIL, "DNS server %s refused the "
				"update: REFUSED: it takes no unsigned updates "
				"for zone %s", server->label, zone);
			kp_error_remedy(err, KP_REMEDY_UPDATE_KEY);
		} else if (u.rcode == LDNS_RCODE_REFUSED) {
			kp_fail(err, KP_ERR_FAIL, "DNS server %s refused the "
				"update: REFUSED: the key '%s' may not update "
				"zone %s (the zone's allow-update or "
				"update-policy names the keys that may)",
				server->label, o->key->name, zone);
		} else if (u.rcode == LDNS_RCODE_NOTAUTH && !u.tsig_error) {
			kp_fail(err, KP_ERR_FAIL, "DNS server %s refused the "
				"update: NOTAUTH: it holds no zone %s (the "
				"records may belong to a zone above it)",
				server->label, zone);
			kp_error_remedy(err, KP_REMEDY_ZONE);
		} else {
			kp_fail(err, KP_ERR_FAIL, "DNS server %s refused the "
				"update: %s", server->label, why);
		}
		goto out;
	}
	res->sent = true;
	r = check(server, want, o, err);
out:
	ldns_rr_list_deep_free(up);
	return r;
}

void
publish_result_release(struct publish_result *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/*
 * Discovery.
 */

/* splitmix64: a small PRNG whose sequence only depends on the seed. */
static uint64_t
next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Priority first; within one, weight 0 first (RFC 2782), then by name so
 * that the order does not depend on the order the server sent. */
static int
cmp(const struct disc_host *x, const struct disc_host *y)
{
	int c;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if ((x->weight == 0) != (y->weight == 0))
		return x->weight == 0 ? -1 : 1;
	c = strcasecmp(x->target, y->target);
	if (c)
		return c;
	return x->port < y->port ? -1 : x->port > y->port;
}

void
srv_order(const struct disc_host *v, size_t n, uint64_t seed, size_t *order)
{
	size_t i, start, end, k;
	uint64_t st = seed;

	/* Insertion sort: a DNS answer holds few records, and it keeps
	 * the comparison free of global state. */
	for (i = 0; i < n; i++) {
		for (k = i; k > 0 && cmp(&v[order[k - 1]], &v[i]) > 0; k--)
			order[k] = order[k - 1];
		order[k] = i;
	}
	/* Within each priority, pick by weight: a random number in
	 * [0, sum of weights]; the first record whose running sum reaches
	 * it is next. */
	for (start = 0; start < n; start = end) {
		for (end = start; end < n &&
		     v[order[end]].priority == v[order[start]].priority; end++)
			;
		for (k = start; k + 1 < end; k++) {
			uint64_t sum = 0, pick, run = 0;
			size_t j, chosen = k;

			for (j = k; j < end; j++)
				sum += v[order[j]].weight;
			pick = next(&st) % (sum + 1);
			for (j = k; j < end; j++) {
				run += v[order[j]].weight;
				if (run >= pick) {
					chosen = j;
					break;
				}
			}
			j = order[chosen];
			memmove(&order[k + 1], &order[k],
				(chosen - k) * sizeof(*order));
			order[k] = j;
		}
	}
}

/* Discovery's time: each DNS exchange and connection gets at most EACH
 * milliseconds, and all of them together TOTAL, so that hundreds of
 * unanswered hosts cannot keep it going for minutes. */
struct budget {
	struct timespec t0;
	unsigned each, total;
};

/* The time the next step may take: EACH, or what is left if less. */
static unsigned
step_ms(const struct budget *b)
{
	struct timespec now;
	long long used;

	clock_gettime(CLOCK_MONOTONIC, &now);
	used = (long long)(now.tv_sec - b->t0.tv_sec) * 1000 +
	       (now.tv_nsec - b->t0.tv_nsec) / 1000000;
	if (used >= (long long)b->total)
		return 0;
	return (unsigned)((long long)b->total - used) < b->each ?
		       (unsigned)((long long)b->total - used) : b->each;
}

/* Try a TCP connection within TIMEOUT_MS; 0 if it connected. */
static int
try_connect(const struct sockaddr *sa, socklen_t len, unsigned timeout_ms,
	    char *why, size_t sz)
{
	struct pollfd p;
	int fd, e = 0, r;
	socklen_t el = sizeof(e);

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		snprintf(why, sz, "%s", strerror(errno));
		return -1;
	}
	r = connect(fd, sa, len);
	if (r < 0 && errno == EINPROGRESS) {
		p.fd = fd;
		p.events = POLLOUT;
		r = poll(&p, 1, (int)timeout_ms);
		if (r == 0) {
			snprintf(why, sz, "no answer within %u ms", timeout_ms);
			close(fd);
			return -1;
		}
		if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0)
			r = e ? -1 : 0;
		else
			e = errno;
		errno = e;
	}
	if (r < 0)
		snprintf(why, sz, "%s", strerror(errno));
	close(fd);
	return r < 0 ? -1 : 0;
}

/* Addresses of TARGET: from the additional section of A, else queried. */
static int
addresses(const struct dns_server *server, const char *target,
	  ldns_pkt *answer, const struct budget *b, ldns_rr_list **out,
	  struct kp_error *err)
{
	static const ldns_rr_type types[] = { LDNS_RR_TYPE_A,
					      LDNS_RR_TYPE_AAAA };
	ldns_rdf *name = ldns_dname_new_frm_str(target);
	size_t t;

	*out = NULL;
	if (name == NULL)
		return kp_fail(err, KP_ERR_INPUT, "the target is not a "
			       "usable host name");
	*out = ldns_rr_list_new();
	if (*out == NULL) {
		ldns_rdf_deep_free(name);
		return kp_fail_oom(err);
	}
	for (t = 0; t < 2; t++) {
		ldns_rr_list *l = ldns_pkt_rr_list_by_name_and_type(
			answer, name, types[t], LDNS_SECTION_ADDITIONAL);
		ldns_pkt *a = NULL;
		unsigned ms = step_ms(b);

		if (l == NULL && ms &&
		    dns_query(server, target, types[t], ms, NULL, &a,
			      err) == 0) {
			l = ldns_pkt_rr_list_by_type(a, types[t],
						     LDNS_SECTION_ANSWER);
			ldns_pkt_free(a);
		}
		if (l) {
			ldns_rr_list_cat(*out, l);
			ldns_rr_list_free(l);
		}
	}
	ldns_rdf_deep_free(name);
	kp_error_clear(err);
	return 0;
}

/* Try the addresses of host H; fills H->state and H->detail. */
static void
probe(const struct dns_server *server, ldns_pkt *answer, struct disc_host *h,
      const struct budget *b, struct kp_error *err)
{
	ldns_rr_list *addrs = NULL;
	size_t i;
	char why[120] = "";

	h->state = DISC_FAILED;
	h->detail[0] = '\0';
	if (strcmp(h->target, ".") == 0) {
		snprintf(h->detail, sizeof(h->detail),
			 "target '.': the domain says there is no KMS here");
		return;
	}
	if (h->cut) {
		snprintf(h->detail, sizeof(h->detail), "the target name is "
			 "too long to use");
		return;
	}
	if (addresses(server, h->target, answer, b, &addrs, err) < 0) {
		snprintf(h->detail, sizeof(h->detail), "%.150s", err->msg);
		kp_error_clear(err);
		ldns_rr_list_deep_free(addrs);
		return;
	}
	if (ldns_rr_list_rr_count(addrs) == 0)
		snprintf(h->detail, sizeof(h->detail), step_ms(b) ?
			 "no address for the host name" :
			 "no address found before discovery's time ran out");
	for (i = 0; i < ldns_rr_list_rr_count(addrs); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(addrs, i);
		const ldns_rdf *a = ldns_rr_rdf(rr, 0);
		struct sockaddr_storage ss = { 0 };
		char text[INET6_ADDRSTRLEN];
		socklen_t len;

		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A &&
		    ldns_rdf_size(a) == 4) {
			struct sockaddr_in *in = (void *)&ss;

			in->sin_family = AF_INET;
			in->sin_port = htons(h->port);
			memcpy(&in->sin_addr, ldns_rdf_data(a), 4);
			len = sizeof(*in);
			inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
		} else if (ldns_rdf_size(a) == 16) {
			struct sockaddr_in6 *in6 = (void *)&ss;

			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons(h->port);
			memcpy(&in6->sin6_addr, ldns_rdf_data(a), 16);
			len = sizeof(*in6);
			inet_ntop(AF_INET6, &in6->sin6_addr, text,
				  sizeof(text));
		} else {
			continue;
		}
		if (step_ms(b) == 0) {
			snprintf(h->detail, sizeof(h->detail), "%s port %u: "
				 "not tried, discovery's time ran out", text,
				 h->port);
			break;
		}
		if (try_connect((struct sockaddr *)&ss, len, step_ms(b), why,
				sizeof(why)) == 0) {
			h->state = DISC_USED;
			snprintf(h->detail, sizeof(h->detail), "%s port %u", text,
				 h->port);
			break;
		}
		snprintf(h->detail, sizeof(h->detail), "%s port %u: %s", text,
			 h->port, why);
	}
	/* Every address was of a kind that cannot be used. */
	if (h->detail[0] == '\0')
		snprintf(h->detail, sizeof(h->detail), "no usable address");
	ldns_rr_list_deep_free(addrs);
}

int
disc_hosts(const ldns_pkt *a, const char *owner, uint64_t seed,
	   struct disc_host **out, size_t *nout, struct kp_error *err)
{
	ldns_rr_list *srv = ldns_pkt_rr_list_by_type(a, LDNS_RR_TYPE_SRV,
						     LDNS_SECTION_ANSWER);
	ldns_rdf *name = ldns_dname_new_frm_str(owner);
	struct disc_host *hosts = NULL;
	size_t *order = NULL, n = srv ? ldns_rr_list_rr_count(srv) : 0, i, k;
	int r = -1;

	*out = NULL;
	*nout = 0;
	if (name == NULL) {
		kp_fail(err, KP_ERR_INVALID, "'%s': not a DNS name", owner);
		goto done;
	}
	hosts = calloc(n + 1, sizeof(*hosts));
	order = calloc(n + 1, sizeof(*order));
	*out = calloc(n + 1, sizeof(**out));
	if (hosts == NULL || order == NULL || *out == NULL) {
		kp_fail_oom(err);
		goto done;
	}
	/* Only well-formed records for the name asked: a server may put
	 * anything in its answer. */
	for (i = 0, k = 0; i < n; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(srv, i);
		char *t;

		if (ldns_rr_rd_count(rr) != 4 ||
		    ldns_dname_compare(ldns_rr_owner(rr), name) != 0)
			continue;
		hosts[k].priority = ldns_rdf2native_int16(ldns_rr_rdf(rr, 0));
		hosts[k].weight = ldns_rdf2native_int16(ldns_rr_rdf(rr, 1));
		hosts[k].port = ldns_rdf2native_int16(ldns_rr_rdf(rr, 2));
		t = ldns_rdf2str(ldns_rr_rdf(rr, 3));
		/* Escaped bytes (\\DDD) can make a valid name longer than
		 * the field: never use a name cut short. */
		if (snprintf(hosts[k].target, sizeof(hosts[k].target), "%s",
			     t ? t : ".") >= (int)sizeof(hosts[k].target))
			hosts[k].cut = true;
		free(t);
		k++;
	}
	srv_order(hosts, k, seed, order);
	for (i = 0; i < k; i++)
		(*out)[i] = hosts[order[i]];
	*nout = k;
	r = 0;
done:
	if (r < 0) {
		free(*out);
		*out = NULL;
	}
	ldns_rr_list_deep_free(srv);
	ldns_rdf_deep_free(name);
	free(hosts);
	free(order);
	return r;
}

int
kms_discover(const struct dns_server *server, const char *domain,
	     uint64_t seed, unsigned timeout_ms, struct discover_result *res,
	     struct kp_error *err)
{
	ldns_pkt *a = NULL, *soa = NULL;
	char name[300], b[16];
	struct budget bud;
	bool found = false;
	size_t i;
	int rc, r = -1;

	memset(res, 0, sizeof(*res));
	clock_gettime(CLOCK_MONOTONIC, &bud.t0);
	bud.each = timeout_ms;
	bud.total = timeout_ms * DISC_BUDGET;
	snprintf(name, sizeof(name), KMS_SRV_LABEL ".%s", domain);
	if (dns_query(server, name, LDNS_RR_TYPE_SRV, timeout_ms, NULL, &a,
		      err) < 0)
		return -1;
	/* The server answered: a refusal is its decision (1), not an
	 * unreachable environment (5). */
	rc = ldns_pkt_get_rcode(a);
	if (rc != LDNS_RCODE_NOERROR && rc != LDNS_RCODE_NXDOMAIN) {
		kp_fail(err, KP_ERR_FAIL, "the DNS server answered %s for %s",
			dns_rcode_name(rc, b, sizeof(b)), name);
		goto out;
	}
	if (disc_hosts(a, name, seed, &res->v, &res->n, err) < 0)
		goto out;
	if (res->n == 0) {
		/* Is it the domain that is missing, or only the records? */
		if (dns_query(server, domain, LDNS_RR_TYPE_SOA,
			      step_ms(&bud) ? step_ms(&bud) : 1, NULL, &soa,
			      err) < 0)
			goto out;
		rc = ldns_pkt_get_rcode(soa);
		if (rc != LDNS_RCODE_NOERROR && rc != LDNS_RCODE_NXDOMAIN) {
			kp_fail(err, KP_ERR_FAIL, "no KMS records at %s, and "
				"the DNS server answered %s when asked whether "
				"%s exists", name,
				dns_rcode_name(rc, b, sizeof(b)), domain);
			goto out;
		}
		res->outcome = rc == LDNS_RCODE_NXDOMAIN ? DISC_NO_DOMAIN :
							   DISC_NO_RECORDS;
		r = 0;
		goto out;
	}
	for (i = 0; i < res->n; i++) {
		if (found || step_ms(&bud) == 0) {
			res->v[i].state = DISC_NOT_TRIED;
			snprintf(res->v[i].detail, sizeof(res->v[i].detail),
				 found ? "an earlier host answered" :
					 "discovery's time ran out (%u x "
					 "the query timeout)", DISC_BUDGET);
			continue;
		}
		probe(server, a, &res->v[i], &bud, err);
		found = res->v[i].state == DISC_USED;
	}
	res->outcome = found ? DISC_FOUND : DISC_NONE_REACHABLE;
	r = 0;
out:
	ldns_pkt_free(a);
	ldns_pkt_free(soa);
	return r;
}

void
discover_result_release(struct discover_result *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

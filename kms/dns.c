/* DNS queries and TSIG-signed dynamic updates over ldns. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "dns.h"
#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/valid.h"

int
dns_server_parse(const char *arg, unsigned timeout_ms, struct dns_server *s,
		 struct kp_error *err)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	char host[300], port[8] = "53", q[96];
	const char *colon;
	unsigned long p;
	size_t n;
	int rc;

	memset(s, 0, sizeof(*s));
	s->timeout_ms = timeout_ms;
	snprintf(s->label, sizeof(s->label), "%s", arg);
	if (kp_check_safe("--server", arg, err) < 0)
		return -1;
	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		n = close ? (size_t)(close - arg - 1) : 0;
		if (!close || n == 0 || n >= sizeof(host) ||
		    (close[1] && close[1] != ':'))
			goto bad;
		memcpy(host, arg + 1, n);
		host[n] = '\0';
		colon = close[1] == ':' ? close + 1 : NULL;
	} else if ((colon = strchr(arg, ':')) && strchr(colon + 1, ':')) {
		snprintf(host, sizeof(host), "%s", arg);	/* bare IPv6 */
		colon = NULL;
	} else {
		n = colon ? (size_t)(colon - arg) : strlen(arg);
		if (n == 0 || n >= sizeof(host))
			goto bad;
		memcpy(host, arg, n);
		host[n] = '\0';
	}
	if (colon) {
		if (kp_parse_uint("--server port", colon + 1, 1, 65535, &p,
				  err) < 0)
			return -1;
		snprintf(port, sizeof(port), "%lu", p);
	}
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0)
		return kp_fail(err, KP_ERR_UNAVAILABLE, "--server: '%s': %s",
			       kp_quote(host, q, sizeof(q)), gai_strerror(rc));
	memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
	s->len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
bad:
	return kp_fail(err, KP_ERR_INVALID,
		       "--server: '%s': expected HOST, HOST:PORT or [IPV6]:PORT",
		       kp_quote(arg, q, sizeof(q)));
}

/*
 * BIND key files.  Written by hand: ldns reads keys only from its own
 * formats, and the grammar of one key statement is a few lines.
 */

struct lexer {
	const char *p, *end;
};

/* Next token: a word, a quoted string (quotes removed) or one of {};.
 * Returns its length, 0 at the end, -1 on an unterminated string or a
 * token that does not fit. */
static int
token(struct lexer *l, char *out, size_t sz)
{
	size_t n = 0;

	for (;;) {
		while (l->p < l->end && strchr(" \t\r\n", *l->p))
			l->p++;
		if (l->p < l->end && (*l->p == '#' ||
				      (*l->p == '/' && l->p + 1 < l->end &&
				       l->p[1] == '/'))) {
			while (l->p < l->end && *l->p != '\n')
				l->p++;
			continue;
		}
		if (l->p + 1 < l->end && l->p[0] == '/' && l->p[1] == '*') {
			const char *e = strstr(l->p + 2, "*/");

			if (e == NULL || e >= l->end)
				return -1;
			l->p = e + 2;
			continue;
		}
		break;
	}
	if (l->p >= l->end)
		return 0;
	if (strchr("{};", *l->p)) {
		out[0] = *l->p++;
		out[1] = '\0';
		return 1;
	}
	/* A token longer than OUT is an error, not silently cut: a cut
	 * secret would only show up later as BADSIG. */
	if (*l->p == '"') {
		for (l->p++; l->p < l->end && *l->p != '"'; l->p++)
			if (n + 1 < sz)
				out[n++] = *l->p;
			else
				return -1;
		if (l->p >= l->end)
			return -1;
		l->p++;
	} else {
		while (l->p < l->end && !strchr(" \t\r\n{};\"", *l->p))
			if (n + 1 < sz)
				out[n++] = *l->p++;
			else
				return -1;
	}
	out[n] = '\0';
	return n ? (int)n : 1;
}

static bool
valid_base64(const char *s, size_t *decoded)
{
	size_t n = strlen(s), i, pad = 0;

	if (n == 0 || n % 4)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '=' && i >= n - 2) {
			pad++;
			continue;
		}
		if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	*decoded = n / 4 * 3 - pad;
	return true;
}

int
tsig_key_read(const char *path, struct tsig_key *k, struct kp_error *err)
{
	struct buf text = BUF_INIT;
	struct lexer l;
	char tok[512], alg[24] = "", secret[512] = "", name[250] = "";
	size_t dec;
	int n, r = -1;

	memset(k, 0, sizeof(*k));
	if (kp_read_file(path, 65536, &text, err) < 0)
		return -1;
	l.p = buf_str(&text);
	l.end = l.p + text.len;
	if (token(&l, tok, sizeof(tok)) <= 0 || strcmp(tok, "key") != 0 ||
	    token(&l, name, sizeof(name)) <= 0 ||
	    token(&l, tok, sizeof(tok)) <= 0 || strcmp(tok, "{") != 0)
		goto bad;
	for (;;) {
		n = token(&l, tok, sizeof(tok));
		if (n <= 0)
			goto bad;
		if (strcmp(tok, "}") == 0)
			break;
		if (strcmp(tok, "algorithm") == 0) {
			if (token(&l, alg, sizeof(alg)) <= 0)
				goto bad;
		} else if (strcmp(tok, "secret") == 0) {
			if (token(&l, secret, sizeof(secret)) <= 0)
				goto bad;
		} else {
			goto bad;
		}
		if (token(&l, tok, sizeof(tok)) <= 0 || strcmp(tok, ";") != 0)
			goto bad;
	}
	if (!kp_is_hostname(name, true)) {
		kp_fail(err, KP_ERR_INPUT, "'%s': bad key name", path);
		goto out;
	}
	if (strcasecmp(alg, "hmac-sha256") != 0 &&
	    strcasecmp(alg, "hmac-sha384") != 0 &&
	    strcasecmp(alg, "hmac-sha512") != 0) {
		kp_fail(err, KP_ERR_INPUT,
			"'%s': algorithm '%s' is not accepted (hmac-sha256, "
			"hmac-sha384 or hmac-sha512)", path, alg);
		goto out;
	}
	if (!valid_base64(secret, &dec) || dec < 16) {
		kp_fail(err, KP_ERR_INPUT,
			"'%s': the secret is not base64 of at least 16 bytes",
			path);
		goto out;
	}
	snprintf(k->name, sizeof(k->name), "%s%s", name,
		 name[strlen(name) - 1] == '.' ? "" : ".");
	snprintf(k->algorithm, sizeof(k->algorithm), "%s.", alg);
	for (n = 0; k->algorithm[n]; n++)
		if (k->algorithm[n] >= 'A' && k->algorithm[n] <= 'Z')
			k->algorithm[n] += 32;
	k->secret = strdup(secret);
	r = k->secret ? 0 : kp_fail_oom(err);
	goto out;
bad:
	kp_fail(err, KP_ERR_INPUT,
		"'%s': not a key file (expected: key NAME { algorithm ALG; "
		"secret \"BASE64\"; };)", path);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(tok, sizeof(tok));
	buf_wipe(&text);
	return r;
}

void
tsig_key_release(struct tsig_key *k)
{
	if (k->secret) {
		OPENSSL_cleanse(k->secret, strlen(k->secret));
		free(k->secret);
	}
	memset(k, 0, sizeof(*k));
}

/*
 * Queries.
 */

static ldns_rdf *
addr_rdf(const struct dns_server *s, uint16_t *port)
{
	if (s->addr.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&s->addr;

		*port = ntohs(in->sin_port);
		return ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4,
					     &in->sin_addr);
	} else {
		const struct sockaddr_in6 *in6 = (const void *)&s->addr;

		*port = ntohs(in6->sin6_port);
		return ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, 16,
					     &in6->sin6_addr);
	}
}

/* A query through ldns's resolver: UDP with TCP fallback, to SERVER or
 * the system's resolvers. */
static int
resolve(const struct dns_server *server, const char *name, ldns_rr_type type,
	unsigned timeout_ms, ldns_pkt **answer, struct kp_error *err)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	ldns_resolver *res = NULL;
	ldns_rdf *dname = NULL, *ns;
	ldns_status st;
	uint16_t port;
	int r = -1;

	*answer = NULL;
	if (server) {
		res = ldns_resolver_new();
		ns = res ? addr_rdf(server, &port) : NULL;
		if (ns == NULL || ldns_resolver_push_nameserver(res, ns) !=
					  LDNS_STATUS_OK) {
			ldns_rdf_deep_free(ns);
			kp_fail_oom(err);
			goto out;
		}
		ldns_rdf_deep_free(ns);
		ldns_resolver_set_port(res, port);
	} else if ((st = ldns_resolver_new_frm_file(&res, NULL)) !=
		   LDNS_STATUS_OK) {
		kp_fail(err, KP_ERR_UNAVAILABLE, "no DNS resolver configured: %s",
			ldns_get_errorstr_by_id(st));
		goto out;
	}
	ldns_resolver_set_timeout(res, tv);
	ldns_resolver_set_retry(res, 1);
	ldns_resolver_set_recursive(res, true);
	dname = ldns_dname_new_frm_str(name);
	if (dname == NULL) {
		kp_fail(err, KP_ERR_INVALID, "'%s': not a DNS name", name);
		goto out;
	}
	st = ldns_resolver_send(answer, res, dname, type, LDNS_RR_CLASS_IN,
				LDNS_RD);
	if (st != LDNS_STATUS_OK || *answer == NULL) {
		kp_fail(err, KP_ERR_UNAVAILABLE, "no answer from %s: %s",
			server ? server->label : "the system's DNS resolvers",
			ldns_get_errorstr_by_id(st));
		goto out;
	}
	r = 0;
out:
	ldns_rdf_deep_free(dname);
	if (res)
		ldns_resolver_deep_free(res);
	return r;
}

/*
 * Signed exchanges: updates, and queries to a server that wants them
 * signed.  ldns's resolver drops an answer whose signature does not verify,
 * and with it the rcode and TSIG error that say why; this sends over TCP
 * itself and keeps both.
 */

static int
exchange(const struct dns_server *server, ldns_pkt *q,
	 const struct tsig_key *key, ldns_pkt **answer,
	 struct dns_update_result *res, struct kp_error *err)
{
	struct timeval tv = { server->timeout_ms / 1000,
			      (server->timeout_ms % 1000) * 1000 };
	ldns_buffer *qb = NULL;
	ldns_pkt *a = NULL;
	ldns_rdf *mac = NULL;
	ldns_rr *tsig;
	uint8_t *wire = NULL;
	size_t wlen = 0;
	ldns_status st;
	int r = -1;

	memset(res, 0, sizeof(*res));
	*answer = NULL;
	ldns_pkt_set_random_id(q);
	if (key) {
		st = ldns_pkt_tsig_sign(q, key->name, key->secret, 300,
					key->algorithm, NULL);
		if (st != LDNS_STATUS_OK)
			return kp_fail(err, KP_ERR_FAIL, "cannot sign the "
				       "message: %s",
				       ldns_get_errorstr_by_id(st));
		tsig = ldns_pkt_tsig(q);
		mac = tsig ? ldns_rdf_clone(ldns_rr_rdf(tsig, 3)) : NULL;
	}
	qb = ldns_buffer_new(LDNS_MAX_PACKETLEN);
	if (qb == NULL || ldns_pkt2buffer_wire(qb, q) != LDNS_STATUS_OK) {
		kp_fail_oom(err);
		goto out;
	}
	st = ldns_tcp_send(&wire, qb, &server->addr, server->len, tv, &wlen);
	if (st != LDNS_STATUS_OK || wire == NULL) {
		kp_fail(err, KP_ERR_UNAVAILABLE, "cannot reach DNS server %s: %s",
			server->label, ldns_get_errorstr_by_id(st));
		goto out;
	}
	if (ldns_wire2pkt(&a, wire, wlen) != LDNS_STATUS_OK ||
	    ldns_pkt_id(a) != ldns_pkt_id(q)) {
		kp_fail(err, KP_ERR_FAIL, "DNS server %s sent a malformed "
			"answer", server->label);
		goto out;
	}
	res->rcode = ldns_pkt_get_rcode(a);
	tsig = ldns_pkt_tsig(a);
	if (tsig && ldns_rr_rd_count(tsig) > 5)
		res->tsig_error = ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5));
	if (key && tsig && mac)
		res->signed_ok = ldns_pkt_tsig_verify(a, wire, wlen, key->name,
						      key->secret, mac);
	*answer = a;
	a = NULL;
	r = 0;
out:
	free(wire);
	ldns_buffer_free(qb);
	ldns_pkt_free(a);
	ldns_rdf_deep_free(mac);
	return r;
}

/* The reason a signed exchange failed, or NULL if it did not. */
static const char *
refusal(const struct dns_update_result *u, const struct tsig_key *key,
	char *buf, size_t sz)
{
	char b1[16], b2[16];

	if (u->rcode == LDNS_RCODE_NOERROR && (!key || u->signed_ok))
		return NULL;
	if (u->tsig_error)
		snprintf(buf, sz, "%s (TSIG error %s)",
			 dns_rcode_name(u->rcode, b1, sizeof(b1)),
			 dns_rcode_name(u->tsig_error, b2, sizeof(b2)));
	else if (u->rcode != LDNS_RCODE_NOERROR)
		snprintf(buf, sz, "%s", dns_rcode_name(u->rcode, b1,
						       sizeof(b1)));
	else
		snprintf(buf, sz, "an answer without a valid TSIG signature");
	return buf;
}

int
dns_query(const struct dns_server *server, const char *name,
	  ldns_rr_type type, unsigned timeout_ms, const struct tsig_key *key,
	  ldns_pkt **answer, struct kp_error *err)
{
	struct dns_update_result u;
	ldns_pkt *q = NULL;
	char why[80];
	const char *no;
	int r;

	if (key == NULL || server == NULL)
		return resolve(server, name, type, timeout_ms, answer, err);
	*answer = NULL;
	if (ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, 0) !=
	    LDNS_STATUS_OK)
		return kp_fail(err, KP_ERR_INVALID, "'%s': not a DNS name",
			       name);
	r = exchange(server, q, key, answer, &u, err);
	ldns_pkt_free(q);
	if (r < 0)
		return -1;
	/* NXDOMAIN is an answer; a refusal with a TSIG error is not. */
	no = u.rcode == LDNS_RCODE_NXDOMAIN && u.signed_ok ? NULL :
	     refusal(&u, key, why, sizeof(why));
	if (no && (u.tsig_error || !u.signed_ok)) {
		ldns_pkt_free(*answer);
		*answer = NULL;
		return kp_fail(err, KP_ERR_FAIL, "DNS server %s refused the "
			       "signed query for %s: %s", server->label, name,
			       no);
	}
	return 0;
}

int
dns_update(const struct dns_server *server, const char *zone,
	   const ldns_rr_list *updates, const struct tsig_key *key,
	   struct dns_update_result *res, struct kp_error *err)
{
	ldns_pkt *q, *a = NULL;
	ldns_rdf *zrdf;
	int r;

	zrdf = ldns_dname_new_frm_str(zone);
	if (zrdf == NULL)
		return kp_fail(err, KP_ERR_INVALID, "'%s': not a zone name",
			       zone);
	q = ldns_update_pkt_new(zrdf, LDNS_RR_CLASS_IN, NULL, updates, NULL);
	if (q == NULL) {
		ldns_rdf_deep_free(zrdf);
		return kp_fail_oom(err);
	}
	ldns_pkt_set_rd(q, false);
	r = exchange(server, q, key, &a, res, err);
	ldns_pkt_free(q);
	ldns_pkt_free(a);
	return r;
}

const char *
dns_update_refusal(const struct dns_update_result *u,
		   const struct tsig_key *key, char *buf, size_t sz)
{
	return refusal(u, key, buf, sz);
}

const char *
dns_rcode_name(int rcode, char *buf, size_t sz)
{
	static const struct {
		int id;
		const char *name;
	} tsig[] = { { 16, "BADSIG" }, { 17, "BADKEY" }, { 18, "BADTIME" },
		     { 19, "BADMODE" }, { 20, "BADNAME" }, { 21, "BADALG" },
		     { 22, "BADTRUNC" }, { 23, "BADCOOKIE" } };
	ldns_lookup_table *t;
	size_t i;

	for (i = 0; i < sizeof(tsig) / sizeof(tsig[0]); i++)
		if (tsig[i].id == rcode)
			return tsig[i].name;
	t = ldns_lookup_by_id(ldns_rcodes, rcode);
	if (t && t->name)
		return t->name;
	snprintf(buf, sz, "RCODE%d", rcode);
	return buf;
}

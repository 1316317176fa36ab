/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* DNS queries and TSIG-signed dynamic updates over ldns. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

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
	if (kp_check_safe("DNS server", arg, err) < 0)
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
		if (kp_parse_uint("DNS server port", colon + 1, 1, 65535, &p,
				  err) < 0)
			return -1;
		snprintf(port, sizeof(port), "%lu", p);
	}
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0)
		return kp_fail(err, KP_ERR_UNAVAILABLE, "DNS server: '%s': %s",
			       kp_quote(host, q, sizeof(q)), gai_strerror(rc));
	memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
	s->len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
bad:
	return kp_fail(err, KP_ERR_INVALID,
		       "DNS server: '%s': expected HOST, HOST:PORT or "
		       "[IPV6]:PORT",
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
	kp_secrets_in_memory();
	if (kp_read_file(path, 65536, &text, err) < 0)
		return -1;
	/* A NUL would end the text early for some readers and not others:
	 * which key is meant must not depend on the reader. */
	if (memchr(text.data, '\0', text.len)) {
		kp_fail(err, KP_ERR_INPUT, "'%s': not a key file (a NUL byte)",
			path);
		goto out;
	}
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
		/* Each once: with two, BIND and this reader might not pick
		 * the same one. */
		if (strcmp(tok, "algorithm") == 0) {
			if (alg[0] || token(&l, alg, sizeof(alg)) <= 0)
				goto bad;
		} else if (strcmp(tok, "secret") == 0) {
			if (secret[0] || token(&l, secret, sizeof(secret)) <= 0)
				goto bad;
		} else {
			goto bad;
		}
		if (token(&l, tok, sizeof(tok)) <= 0 || strcmp(tok, ";") != 0)
			goto bad;
	}
	/* One key per file: a second key block would be ignored silently. */
	n = token(&l, tok, sizeof(tok));
	if (n > 0 && strcmp(tok, ";") == 0)
		n = token(&l, tok, sizeof(tok));
	if (n != 0)
		goto bad;
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
		"'%s': not a key file (expected one key NAME { algorithm ALG; "
		"secret \"BASE64\"; }; with each field once)", path);
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

/*
 * Transport.  Written here rather than through ldns_resolver_send and
 * ldns_tcp_send: their time limit applies to each read, so a server that
 * sends a byte at a time keeps them waiting forever, and the resolver
 * takes any datagram as the answer.  Here the time limit covers the whole
 * exchange (a CLOCK_MONOTONIC deadline; every poll waits only for what is
 * left), and an answer counts only if it comes from the server asked and
 * matches the query: ID, QR, opcode and question, as resolvers check
 * (RFC 5452 section 9.1).  Datagrams that do not match are dropped and
 * the wait goes on.
 */

/* ldns_wire2pkt keeps only the last TSIG record of a message and leaks
 * the others (wire2host.c, ldns 1.8.3 and its master), so a hostile
 * server could make every query leak.  A message has at most one TSIG
 * (RFC 8945 section 5.1): count them first, with ldns's own record parser,
 * and refuse a message with more. */
ldns_status
dns_wire_parse(ldns_pkt **out, const uint8_t *wire, size_t len)
{
	static const ldns_pkt_section sec[4] = {
		LDNS_SECTION_QUESTION, LDNS_SECTION_ANSWER,
		LDNS_SECTION_AUTHORITY, LDNS_SECTION_ADDITIONAL,
	};
	size_t pos = LDNS_HEADER_SIZE, tsigs = 0;
	ldns_status st;

	*out = NULL;
	if (len < LDNS_HEADER_SIZE)
		return LDNS_STATUS_PACKET_OVERFLOW;
	for (int s = 0; s < 4; s++) {
		unsigned count = (unsigned)wire[4 + 2 * s] << 8 | wire[5 + 2 * s];

		for (unsigned i = 0; i < count; i++) {
			ldns_rr *rr = NULL;

			st = ldns_wire2rr(&rr, wire, len, &pos, sec[s]);
			if (st != LDNS_STATUS_OK)
				return st;	/* ldns_wire2pkt fails too */
			if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_TSIG &&
			    ++tsigs > 1) {
				ldns_rr_free(rr);
				return LDNS_STATUS_ERR;
			}
			ldns_rr_free(rr);
		}
	}
	return ldns_wire2pkt(out, wire, len);
}

static void
deadline_in(struct timespec *d, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, d);
	d->tv_sec += ms / 1000;
	d->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (d->tv_nsec >= 1000000000L) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000L;
	}
}

/* Milliseconds left until D, 0 once it has passed. */
static int
ms_left(const struct timespec *d)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(d->tv_sec - now.tv_sec) * 1000 +
	     (d->tv_nsec - now.tv_nsec) / 1000000;
	return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Wait for EVENTS on FD until D; 0 when ready, -1 (errno ETIMEDOUT) when
 * the time is up. */
static int
wait_fd(int fd, short events, const struct timespec *d)
{
	struct pollfd p = { fd, events, 0 };
	int r, left;

	for (;;) {
		left = ms_left(d);
		if (left == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&p, 1, left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static bool
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a,
					  *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return false;
}

/* Is A the answer to Q: same ID, QR set, same opcode, the same question
 * (name in any case, type, class)?  A server may leave the question out
 * of a FORMERR. */
static bool
answers(const ldns_pkt *q, const ldns_pkt *a)
{
	const ldns_rr_list *qq = ldns_pkt_question(q), *aq;
	size_t i, n = ldns_rr_list_rr_count(qq);

	if (ldns_pkt_id(a) != ldns_pkt_id(q) || !ldns_pkt_qr(a) ||
	    ldns_pkt_get_opcode(a) != ldns_pkt_get_opcode(q))
		return false;
	aq = ldns_pkt_question(a);
	if (ldns_rr_list_rr_count(aq) == 0 &&
	    ldns_pkt_get_rcode(a) == LDNS_RCODE_FORMERR)
		return true;
	if (ldns_rr_list_rr_count(aq) != n)
		return false;
	for (i = 0; i < n; i++) {
		const ldns_rr *x = ldns_rr_list_rr(qq, i),
			      *y = ldns_rr_list_rr(aq, i);

		if (ldns_dname_compare(ldns_rr_owner(x), ldns_rr_owner(y)) ||
		    ldns_rr_get_type(x) != ldns_rr_get_type(y) ||
		    ldns_rr_get_class(x) != ldns_rr_get_class(y))
			return false;
	}
	return true;
}

/* Read exactly LEN bytes before D. */
static int
read_full(int fd, uint8_t *p, size_t len, const struct timespec *d)
{
	while (len) {
		ssize_t n = read(fd, p, len);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == 0) {
			errno = ECONNRESET;
			return -1;
		} else if (errno == EAGAIN || errno == EINTR) {
			if (errno == EAGAIN && wait_fd(fd, POLLIN, d) < 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

static int
write_full(int fd, const uint8_t *p, size_t len, const struct timespec *d)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (errno == EAGAIN && wait_fd(fd, POLLOUT, d) < 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* One exchange over TCP (RFC 1035 4.2.2: two-byte length, then the
 * message).  *WIRE is malloc'd. */
static int
tcp_exchange(const struct sockaddr_storage *sa, socklen_t salen,
	     const uint8_t *q, size_t qlen, const struct timespec *d,
	     uint8_t **wire, size_t *wlen)
{
	uint8_t hdr[2] = { (uint8_t)(qlen >> 8), (uint8_t)qlen };
	socklen_t el = sizeof(int);
	int fd, e = 0, r = -1;

	*wire = NULL;
	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)sa, salen) < 0) {
		if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, d) < 0)
			goto out;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e) {
			errno = e ? e : errno;
			goto out;
		}
	}
	if (write_full(fd, hdr, 2, d) < 0 || write_full(fd, q, qlen, d) < 0 ||
	    read_full(fd, hdr, 2, d) < 0)
		goto out;
	*wlen = (size_t)hdr[0] << 8 | hdr[1];
	*wire = malloc(*wlen ? *wlen : 1);
	if (*wire == NULL || read_full(fd, *wire, *wlen, d) < 0)
		goto out;
	r = 0;
out:
	e = errno;
	if (r < 0) {
		free(*wire);
		*wire = NULL;
	}
	close(fd);
	errno = e;
	return r;
}

/* Send Q to SA over UDP and wait until D for a datagram from SA that
 * answers it; others are counted in *IGNORED and dropped.  1 if the
 * answer was truncated (retry over TCP). */
static int
udp_exchange(const struct sockaddr_storage *sa, socklen_t salen,
	     const ldns_pkt *qp, const uint8_t *q, size_t qlen,
	     const struct timespec *d, ldns_pkt **answer, unsigned *ignored)
{
	uint8_t buf[65536];
	int fd, r = -1, e;

	fd = socket(sa->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (sendto(fd, q, qlen, 0, (const struct sockaddr *)sa, salen) < 0)
		goto out;
	for (;;) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ldns_pkt *a = NULL;
		ssize_t n;

		if (wait_fd(fd, POLLIN, d) < 0)
			goto out;
		n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			     &fl);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			/* ICMP port unreachable on Linux */
			goto out;
		}
		if (!same_addr(&from, sa) ||
		    dns_wire_parse(&a, buf, (size_t)n) != LDNS_STATUS_OK ||
		    !answers(qp, a)) {
			ldns_pkt_free(a);
			(*ignored)++;
			continue;
		}
		if (ldns_pkt_tc(a)) {
			ldns_pkt_free(a);
			r = 1;
			goto out;
		}
		*answer = a;
		r = 0;
		goto out;
	}
out:
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/* Ask SA (named LABEL in messages) with the query Q, all before D: over
 * UDP unless TCP_ONLY, over TCP after a truncated answer.  *ANSWER and,
 * over TCP, its wire form (for TSIG) are the caller's. */
static int
transfer(const struct sockaddr_storage *sa, socklen_t salen,
	 const char *label, const ldns_pkt *qp, bool tcp_only,
	 const struct timespec *d, unsigned budget_ms, ldns_pkt **answer,
	 uint8_t **wire_ret, size_t *wlen_ret, struct kp_error *err)
{
	ldns_buffer *qb = ldns_buffer_new(LDNS_MAX_PACKETLEN);
	uint8_t *wire = NULL;
	size_t wlen = 0;
	unsigned ignored = 0;
	int r = -1, u = 1;

	*answer = NULL;
	if (qb == NULL || ldns_pkt2buffer_wire(qb, qp) != LDNS_STATUS_OK) {
		ldns_buffer_free(qb);
		return kp_fail_oom(err);
	}
	if (!tcp_only)
		u = udp_exchange(sa, salen, qp, ldns_buffer_begin(qb),
				 ldns_buffer_position(qb), d, answer, &ignored);
	if (u == 0) {
		r = 0;
		goto out;
	}
	if (u > 0) {
		if (tcp_exchange(sa, salen, ldns_buffer_begin(qb),
				 ldns_buffer_position(qb), d, &wire, &wlen) < 0)
			goto fail;
		if (dns_wire_parse(answer, wire, wlen) != LDNS_STATUS_OK ||
		    !answers(qp, *answer)) {
			ldns_pkt_free(*answer);
			*answer = NULL;
			kp_fail(err, KP_ERR_FAIL, "DNS server %s sent an answer "
				"that is malformed or does not match the query",
				label);
			goto out;
		}
		r = 0;
		goto out;
	}
fail:
	if (errno == ETIMEDOUT)
		kp_fail(err, KP_ERR_UNAVAILABLE, "no answer from DNS server %s within "
			"%u ms%s", label, budget_ms,
			ignored ? " (answers that did not match the query were "
				  "ignored)" : "");
	else
		kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno,
			      "cannot reach DNS server %s", label);
out:
	if (r == 0 && wire_ret) {
		*wire_ret = wire;
		*wlen_ret = wlen;
		wire = NULL;
	}
	free(wire);
	ldns_buffer_free(qb);
	return r;
}

/* SA for a name server address from resolv.conf. */
static bool
rdf_addr(const ldns_rdf *a, uint16_t port, struct sockaddr_storage *ss,
	 socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (ldns_rdf_get_type(a) == LDNS_RDF_TYPE_A && ldns_rdf_size(a) == 4) {
		struct sockaddr_in *in = (void *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, ldns_rdf_data(a), 4);
		*len = sizeof(*in);
		return true;
	}
	if (ldns_rdf_get_type(a) == LDNS_RDF_TYPE_AAAA &&
	    ldns_rdf_size(a) == 16) {
		struct sockaddr_in6 *in6 = (void *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, ldns_rdf_data(a), 16);
		*len = sizeof(*in6);
		return true;
	}
	return false;
}

/* An unsigned query, UDP with TCP fallback, to SERVER or the system's
 * resolvers in turn; TIMEOUT_MS bounds the whole of it. */
static int
resolve(const struct dns_server *server, const char *name, ldns_rr_type type,
	unsigned timeout_ms, ldns_pkt **answer, struct kp_error *err)
{
	ldns_resolver *res = NULL;
	ldns_pkt *q = NULL;
	struct timespec d;
	ldns_status st;
	size_t i, n;
	int r = -1;

	*answer = NULL;
	deadline_in(&d, timeout_ms);
	if (ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN,
				       LDNS_RD) != LDNS_STATUS_OK)
		return kp_fail(err, KP_ERR_INVALID, "'%s': not a DNS name",
			       name);
	ldns_pkt_set_random_id(q);
	if (server) {
		r = transfer(&server->addr, server->len, server->label, q,
			     false, &d, timeout_ms, answer, NULL, NULL, err);
		goto out;
	}
	if ((st = ldns_resolver_new_frm_file(&res, NULL)) != LDNS_STATUS_OK) {
		kp_fail(err, KP_ERR_UNAVAILABLE, "no DNS resolver configured: %s",
			ldns_get_errorstr_by_id(st));
		goto out;
	}
	n = ldns_resolver_nameserver_count(res);
	kp_fail(err, KP_ERR_UNAVAILABLE, "no DNS resolver configured");
	for (i = 0; i < n && r < 0; i++) {
		struct sockaddr_storage ss;
		struct timespec di;
		socklen_t len;
		char label[INET6_ADDRSTRLEN + 8];
		unsigned share = (unsigned)ms_left(&d) / (unsigned)(n - i);

		if (!rdf_addr(ldns_resolver_nameservers(res)[i],
			      ldns_resolver_port(res), &ss, &len))
			continue;
		/* Each resolver gets its share of what is left, so that
		 * one that never answers does not use up the others' time. */
		deadline_in(&di, i + 1 == n ? (unsigned)ms_left(&d) : share);
		inet_ntop(ss.ss_family, ss.ss_family == AF_INET ?
			  (void *)&((struct sockaddr_in *)&ss)->sin_addr :
			  (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr,
			  label, sizeof(label));
		r = transfer(&ss, len, label, q, false, &di, timeout_ms, answer,
			     NULL, NULL, err);
	}
out:
	ldns_pkt_free(q);
	if (res)
		ldns_resolver_deep_free(res);
	return r;
}

/*
 * Signed exchanges: updates, and queries to a server that wants them
 * signed.  ldns's resolver drops an answer whose signature does not verify,
 * and with it the rcode and TSIG error that say why; this keeps both.
 */

static int
exchange(const struct dns_server *server, ldns_pkt *q,
	 const struct tsig_key *key, ldns_pkt **answer,
	 struct dns_update_result *res, struct kp_error *err)
{
	ldns_pkt *a = NULL;
	ldns_rdf *mac = NULL;
	ldns_rr *tsig;
	uint8_t *wire = NULL;
	size_t wlen = 0;
	struct timespec d;
	ldns_status st;
	int r = -1;

	memset(res, 0, sizeof(*res));
	*answer = NULL;
	deadline_in(&d, server->timeout_ms);
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
	if (transfer(&server->addr, server->len, server->label, q, true, &d,
		     server->timeout_ms, &a, &wire, &wlen, err) < 0)
		goto out;
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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small DNS client over ldns: queries (to a given server or the system's
 * resolvers), RFC 2136 dynamic updates signed with TSIG, and BIND key files
 * as tsig-keygen writes them.  The wire format, TSIG and update messages
 * are ldns's; this module only moves packets and names errors.
 */
#ifndef KP_DNS_H
#define KP_DNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

#include "lib/error.h"

/* A DNS server to talk to: HOST[:PORT] or [IPV6]:PORT. */
struct dns_server {
	struct sockaddr_storage addr;
	socklen_t len;
	char label[300];
	unsigned timeout_ms;
};

/* A TSIG key from a BIND key file.  The secret is wiped on release. */
struct tsig_key {
	char name[256];		/* with the trailing dot */
	char algorithm[32];	/* e.g. "hmac-sha256." */
	char *secret;		/* base64 */
};

/* Parse HOST[:PORT] (port 53 by default); a host name is resolved now. */
int dns_server_parse(const char *arg, unsigned timeout_ms,
		     struct dns_server *s, struct kp_error *err);

/* Read a key file ("key NAME { algorithm ALG; secret "..."; };"). HMAC-SHA256,
 * -384 and -512 are accepted; MD5 and SHA-1 are refused. */
int tsig_key_read(const char *path, struct tsig_key *k, struct kp_error *err);
void tsig_key_release(struct tsig_key *k);

/* Ask SERVER (NULL: the system's resolvers) for NAME's records of TYPE,
 * signing the query with KEY if given (a server may answer only signed
 * queries; the answer's signature is then checked).  0 with *ANSWER set
 * whatever the rcode; -1 with KP_ERR_UNAVAILABLE if no server answered. */
int dns_query(const struct dns_server *server, const char *name,
	      ldns_rr_type type, unsigned timeout_ms,
	      const struct tsig_key *key, ldns_pkt **answer,
	      struct kp_error *err);

/* The result of an update. */
struct dns_update_result {
	int rcode;		/* DNS rcode of the answer */
	int tsig_error;		/* TSIG error field (BADSIG, ...), 0 if none */
	bool signed_ok;		/* the answer carried a valid TSIG */
};

/* Send an UPDATE for ZONE holding UPDATES (RFC 2136 update section), signed
 * with KEY if given, over TCP.  0 once an answer came back, whatever it
 * says; -1 with KP_ERR_UNAVAILABLE if the server cannot be reached. */
int dns_update(const struct dns_server *server, const char *zone,
	       const ldns_rr_list *updates, const struct tsig_key *key,
	       struct dns_update_result *res, struct kp_error *err);

/* Why an update was refused ("NOTAUTH (TSIG error BADSIG)", "REFUSED",
 * an unsigned answer to a signed update), or NULL if it was not. */
const char *dns_update_refusal(const struct dns_update_result *u,
			       const struct tsig_key *key, char *buf,
			       size_t sz);

/* Parse the DNS message WIRE (LEN bytes) into *OUT, as ldns_wire2pkt does,
 * refusing what it would leak on (more than one TSIG record). */
ldns_status dns_wire_parse(ldns_pkt **out, const uint8_t *wire, size_t len);

/* Name of an rcode or TSIG error ("REFUSED", "BADSIG", ...). */
const char *dns_rcode_name(int rcode, char *buf, size_t sz);

#endif

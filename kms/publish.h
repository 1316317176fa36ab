/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Publishing KMS SRV records with RFC 2136 dynamic updates, and finding a
 * KMS host the way a Windows 7+ client does.
 */
#ifndef KP_PUBLISH_H
#define KP_PUBLISH_H

#include <stdbool.h>
#include <stdint.h>

#include "dns.h"
#include "srv.h"

enum publish_mode {
	PUBLISH_ADD,		/* add the records that are missing */
	PUBLISH_REPLACE,	/* make the set at each name exactly these */
	PUBLISH_DELETE,		/* remove these (all at the name if ALL) */
};

struct publish_change {
	bool add;
	char text[600];		/* the record as a zone file line */
};

struct publish_result {
	struct publish_change *v;
	size_t n;
	bool sent;		/* an update went out */
};

struct publish_opts {
	enum publish_mode mode;
	bool all;			/* PUBLISH_DELETE: every SRV at the name */
	bool dry_run;			/* work out the changes, send nothing */
	const struct tsig_key *key;	/* sign with it, or NULL */
	bool ttl;			/* --ttl given: a TTL that differs
					 * is a change */
};

/* Bring the records at each _vlmcs._tcp name of WANT to what O->MODE asks,
 * in ZONE on SERVER: read what is there, send only the difference (nothing
 * if there is none, so publishing twice changes nothing), then read it back.
 * A refusal by the server fails with KP_ERR_FAIL naming its answer
 * (REFUSED, NOTAUTH/BADSIG, ...); no server, KP_ERR_UNAVAILABLE. */
int kms_publish(const struct dns_server *server, const char *zone,
		const struct srv_set *want, const struct publish_opts *o,
		struct publish_result *res, struct kp_error *err);
void publish_result_release(struct publish_result *r);

/* Discovery as a whole takes at most this many times its timeout. */
#define DISC_BUDGET 10

enum disc_state { DISC_USED, DISC_FAILED, DISC_NOT_TRIED };

struct disc_host {
	char target[KP_HOSTNAME_MAX + 2];
	uint16_t priority, weight, port;
	enum disc_state state;
	bool cut;		/* the target did not fit: not used */
	char detail[160];	/* address used, or why not */
};

enum disc_outcome {
	DISC_FOUND,		/* a host answered */
	DISC_NO_DOMAIN,		/* the domain does not exist */
	DISC_NO_RECORDS,	/* the domain has no KMS SRV records */
	DISC_NONE_REACHABLE,	/* records, but no host answered */
};

struct discover_result {
	enum disc_outcome outcome;
	struct disc_host *v;	/* in the order a client tries them */
	size_t n;
};

/* Query _vlmcs._tcp.DOMAIN (at SERVER, or the system's resolvers), order
 * the records by priority and then by weighted random choice (RFC 2782,
 * with a PRNG seeded by SEED), and try a TCP connection to each in turn
 * until one answers.  Each DNS exchange and connection takes at most
 * TIMEOUT_MS, and all of them together DISC_BUDGET times that; hosts not
 * reached by then are DISC_NOT_TRIED. */
int kms_discover(const struct dns_server *server, const char *domain,
		 uint64_t seed, unsigned timeout_ms,
		 struct discover_result *res, struct kp_error *err);
void discover_result_release(struct discover_result *r);

/* The well-formed SRV records for OWNER in answer A, in the order a client
 * tries them (*OUT, *N; the caller frees *OUT).  Exposed for tests. */
int disc_hosts(const ldns_pkt *a, const char *owner, uint64_t seed,
	       struct disc_host **out, size_t *n, struct kp_error *err);

/* RFC 2782 order of N records (priority, then weighted random choice);
 * ORDER receives indexes into V.  Exposed for tests. */
void srv_order(const struct disc_host *v, size_t n, uint64_t seed,
	       size_t *order);

#endif

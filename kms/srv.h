/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The DNS SRV records KMS clients look up: _vlmcs._tcp.<domain> IN SRV
 * <priority> <weight> <port> <host>.  A set of them, built from options or
 * from a KMS host's DnsDomainPublishList, and written out as zone file
 * lines, nsupdate commands or JSON.
 */
#ifndef KP_SRV_H
#define KP_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hive/hive.h"
#include "lib/buf.h"
#include "lib/valid.h"

#define KMS_SRV_LABEL "_vlmcs._tcp"
#define KMS_PORT 1688
#define KMS_TTL 3600

struct srv_rec {
	char domain[KP_HOSTNAME_MAX + 1];	/* without the trailing dot */
	char target[KP_HOSTNAME_MAX + 1];
	uint16_t priority, weight, port;
	uint32_t ttl;
};

struct srv_set {
	struct srv_rec *v;
	size_t n;
};

enum srv_format { SRV_ZONE, SRV_NSUPDATE, SRV_JSON };

/* Check NAME as a record's domain or target (a host name, a trailing dot
 * allowed), naming it WHAT in errors (NULL: only the value). */
int srv_check_name(const char *what, const char *name, struct kp_error *err);

/* Add one record; names are checked (KP_ERR_INVALID) and compared without
 * case and trailing dot; an exact duplicate is not added twice.  A NULL
 * TARGET leaves it empty: "any host", for deleting every record at a name. */
int srv_add(struct srv_set *s, const char *domain, const char *target,
	    unsigned priority, unsigned weight, unsigned port, unsigned ttl,
	    struct kp_error *err);

/* Records for each host of HOSTS in each domain of the DnsDomainPublishList
 * of the KMS host whose SOFTWARE hive is H (priority and weight from the
 * list); the port is KeyManagementServiceListeningPort if set, else PORT. */
int srv_from_hive(struct srv_set *s, struct hive *h, char *const *hosts,
		  size_t nhosts, unsigned port, unsigned ttl,
		  struct kp_error *err);

/* Is DOMAIN the zone ZONE or a name below it?  (No case, trailing dot
 * optional.) */
bool srv_in_zone(const char *domain, const char *zone);

/* The domain of S that every other domain of S is in or below, or NULL:
 * the zone to update when none is given. */
const char *srv_common_zone(const struct srv_set *s);

/* "_vlmcs._tcp.<domain>." for a record's domain. */
void srv_owner(const struct srv_rec *r, char *out, size_t outsz);

/* Render the set (appended to OUT). */
int srv_format(const struct srv_set *s, enum srv_format f, struct buf *out,
	       struct kp_error *err);

void srv_set_release(struct srv_set *s);

#endif

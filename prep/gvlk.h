/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * KMS client setup keys (GVLKs) by edition and build, from Microsoft's
 * published table (see gvlk.c for its address and date).  GVLKs are public:
 * they are printed and may go on a command line; an organization's keys
 * never are.
 */
#ifndef KP_GVLK_H
#define KP_GVLK_H

#include <stdbool.h>

#include "lib/error.h"

struct gvlk {
	const char *edition;	/* EditionID, without a Cor/ACor suffix */
	unsigned min_build, max_build;	/* CurrentBuildNumber range */
	int acor;		/* 1: only a ...ACor edition, 0: only not, -1 any */
	const char *product;	/* the product's name in the table */
	const char *key;
};

/* Where the table comes from, and the date of the page it was read from. */
extern const char gvlk_source[];
extern const char gvlk_date[];

/* The GVLK for EDITION (an EditionID, "ServerDatacenterCor" and
 * "ServerDatacenterACor" included) at BUILD (0: the newest entry for the
 * edition).  KP_ERR_REFUSED naming the edition when it has none. */
const struct gvlk *gvlk_find(const char *edition, unsigned build,
			     struct kp_error *err);

/* The table's row whose key is KEY (any case), or NULL. */
const struct gvlk *gvlk_by_key(const char *key);

/* Whether ALNUM25 (a key's 25 letters and digits, no dashes) is a GVLK:
 * public, so messages may show it (kp_redact_keys' kp_key_public_fn). */
bool gvlk_is_public(const char *alnum25);

/* Every entry, for listing: N set to their number. */
const struct gvlk *gvlk_table(unsigned *n);

struct hive;

/* What an installation's SOFTWARE hive says about its product key. */
struct gvlk_state {
	const struct gvlk *installed;	/* BackupProductKeyDefault is this
					 * GVLK (a KMS client), or NULL */
	bool has_key;			/* BackupProductKeyDefault is set */
	char channel[32];		/* DigitalProductId4's channel
					 * ("Volume:GVLK", "Volume:MAK",
					 * "Retail", "OEM:DM"...), or "" */
};

/* Read ST from SOFTWARE.  The key itself is only compared with the table,
 * never copied out: an organization's key is a secret. */
int gvlk_state_read(struct hive *software, struct gvlk_state *st,
		    struct kp_error *err);

/* Does ST show a volume license key (a GVLK or a MAK) already? */
bool gvlk_state_volume(const struct gvlk_state *st);

#endif

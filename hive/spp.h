/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The SoftwareProtectionPlatform (SPP) settings: what Windows reads for KMS
 * activation, where and in which type, and the one model of changes to them
 * that `hive set`, `image set` and host kits share.
 *
 * Settings come in as option/argument pairs ("kms-host", "kms:1688"),
 * validated here, and are applied to an open SOFTWARE hive under
 * Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform (\SL on
 * Windows Vista / Server 2008), or under <AppID>\<ActivationID> for one
 * product.  Facts: Microsoft's slmgr.vbs options
 * (https://learn.microsoft.com/windows-server/get-started/activation-slmgr-vbs-options)
 * and KMS client settings
 * (https://learn.microsoft.com/windows-server/get-started/kms-client-activation-keys).
 */
#ifndef KP_SPP_H
#define KP_SPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "change.h"
#include "hive.h"
#include "winver.h"
#include "lib/valid.h"


enum spp_id {
	SPP_KMS_NAME,
	SPP_KMS_PORT,
	SPP_LOOKUP_DOMAIN,
	SPP_HOST_CACHING,
	SPP_ACT_TYPE,
	SPP_DNS_PUBLISHING,
	SPP_PUBLISH_LIST,
	SPP_LOW_PRIORITY,
	SPP_LISTEN_PORT,
	SPP_ACT_INTERVAL,
	SPP_RENEW_INTERVAL,
	SPP_SKIP_REARM,
	SPP_USER_OPS,
	SPP_MANUAL,
	SPP_NVALUES
};

enum spp_role { SPP_CLIENT, SPP_HOST, SPP_GENERAL };

struct spp_value_def {
	const char *name;	/* registry value name */
	const char *subkey;	/* NULL, or "Activation" */
	uint32_t type;
	enum spp_role role;
	bool per_product;	/* may live under <AppID>\<ActivationID> */
};

/* The known values, indexed by enum spp_id. */
extern const struct spp_value_def spp_values[SPP_NVALUES];

/* A change to one value: set it to DATA, or delete it. */
struct spp_edit {
	bool set;
	uint32_t dword;
	char *sz;
	char **list;		/* REG_MULTI_SZ strings */
	size_t nlist;
	size_t list_bytes;	/* LIST as stored: UTF-16, each string's
				 * NUL and the final one */
	const char *option;	/* who asked, for conflict messages */
};

/* The option/argument pairs as given, normalized, for kits. */
struct spp_given {
	char *opt;
	char *arg;		/* NULL for flags */
};

struct spp_settings {
	char app[KP_GUID_LEN + 1];	/* "" unless a product is targeted */
	char act[KP_GUID_LEN + 1];
	struct spp_edit edit[SPP_NVALUES];
	bool touched[SPP_NVALUES];
	struct spp_given *given;
	size_t ngiven;
	/* The Office KMS host: KeyManagementServiceName and ...Port where
	 * each installed Office reads them (hive/office.h), not SPP_KEY. */
	struct spp_edit office[2];	/* [0] name, [1] port */
	bool office_touched[2];
};

struct spp_option;

/* Parse ARG for the setting D into S; NORM may receive ARG normalized. */
typedef int spp_parse_fn(struct spp_settings *s, const struct spp_option *d,
			 const char *arg, char **norm, struct kp_error *err);

/* A setting, one row of the table in spp.c: its option name (also its
 * JSON name), argument syntax (NULL for a flag), the registry value it
 * changes (SPP_NVALUES for the product-targeting ones), its parser, and
 * its name in kit manifests (NULL: kits cannot carry it). */
struct spp_option {
	const char *name;
	const char *arg;
	enum spp_id value;
	spp_parse_fn *parse;
	bool inverse;		/* on|off stored inverted (Disable... values) */
	const char *kit_name;
	const char *help;
};
extern const struct spp_option spp_options[];
extern const size_t spp_noptions;

/* The row for option NAME, or for manifest name KIT_NAME; NULL if none. */
const struct spp_option *spp_option_find(const char *name);
const struct spp_option *spp_option_by_kit_name(const char *kit_name);

void spp_settings_init(struct spp_settings *s);
void spp_settings_release(struct spp_settings *s);

/* Is OPT one of spp_options? */
bool spp_is_option(const char *opt);

/* Take one option and its argument (NULL for flags); invalid values and
 * conflicting options fail with KP_ERR_INVALID naming the option. */
int spp_settings_option(struct spp_settings *s, const char *opt,
			const char *arg, struct kp_error *err);

/* Settings that are valid together but do not do what they seem to (a
 * lookup domain with a KMS host, which Windows then ignores): a warning
 * written into BUF, or NULL. */
const char *spp_settings_warning(const struct spp_settings *s, char *buf,
				 size_t size);

/* Checks across options, once all are in (product targeting). */
int spp_settings_check(const struct spp_settings *s, struct kp_error *err);

/* Typed setter for internal code: set the on|off setting of value ID
 * (e.g. SPP_SKIP_REARM) as its option would. */
int spp_set_onoff(struct spp_settings *s, enum spp_id id, bool on,
		  struct kp_error *err);

/* Nothing to change? */
bool spp_settings_empty(const struct spp_settings *s);

/* Check that H is a SOFTWARE hive (or an empty one), KP_ERR_INPUT if not;
 * FORCE accepts any hive (WRITING only changes the hint). */
int spp_check_hive(struct hive *h, const struct winver *v, bool writing,
		   bool force, struct kp_error *err);

/* Apply the settings to H, recording each change in C (the Office KMS
 * host through office_apply_kms, which refuses a hive without Office). */
int spp_apply(const struct spp_settings *s, struct hive *h,
	      const struct winver *v, struct hive_changes *c,
	      struct kp_error *err);

/* One DnsDomainPublishList entry: "domain[, priority[, weight]]". */
struct spp_publish {
	char domain[KP_HOSTNAME_MAX + 2];
	unsigned priority, weight;
	bool has_priority, has_weight;
};

/* Parse an entry as the registry holds it (spaces allowed after commas). */
int spp_parse_publish(const char *s, struct spp_publish *p,
		      struct kp_error *err);

/* A value found in the SPP key for `show`. */
struct spp_item {
	const struct spp_value_def *def;	/* NULL for secret values */
	char *name;
	uint32_t type;
	unsigned char *data;	/* NULL for secret values */
	size_t len;
	bool secret;
};

struct spp_product {
	char app[KP_GUID_LEN + 1];
	char act[KP_GUID_LEN + 1];	/* "" for AppID-level values */
	struct spp_item *items;
	size_t n;
};

struct spp_report {
	const char *root;	/* key path read */
	bool root_present;
	struct spp_item *items;
	size_t n;
	struct spp_product *products;
	size_t nproducts;
};

/* Read every known SPP value, secrets as "present" only. */
int spp_read(struct hive *h, const struct winver *v, struct spp_report *r,
	     struct kp_error *err);
void spp_report_release(struct spp_report *r);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Office installations found in a SOFTWARE hive offline, the licensing
 * service each uses and the Office KMS settings in effect; and writing
 * the Office KMS host where each installed Office reads it.
 *
 * Facts: Microsoft's "Tools to manage volume activation of Office"
 * (https://learn.microsoft.com/office/volume-license-activation/tools-to-manage-volume-activation-of-office)
 * and "Activate volume licensed versions of Office by using KMS"
 * (https://learn.microsoft.com/office/volume-license-activation/activate-office-by-using-kms).
 */
#ifndef KP_OFFICE_H
#define KP_OFFICE_H

#include <stdbool.h>
#include <stddef.h>

#include "change.h"
#include "hive.h"
#include "winver.h"
#include "lib/valid.h"

struct winver;

#define OFFICE_OSPP_KEY "Microsoft\\OfficeSoftwareProtectionPlatform"
#define OFFICE_C2R_KEY "Microsoft\\Office\\ClickToRun\\Configuration"
/* Office 2013's Click-to-Run: InstallPath here, Configuration below. */
#define OFFICE_C2R15_KEY "Microsoft\\Office\\15.0\\ClickToRun"

enum office_kind { OFFICE_MSI, OFFICE_C2R };

/* Which licensing service an Office uses. */
enum office_lic {
	OFFICE_LIC_OSPP,	/* Office Software Protection Platform (osppsvc) */
	OFFICE_LIC_SPP,		/* Windows' SPP, application 0ff1ce15-... */
};

struct office_install {
	enum office_kind kind;
	char version[8];	/* "14.0", "15.0", "16.0" (C2R: 15.0 is
				 * Office 2013's Click-to-Run) */
	const char *name;	/* "Office 2010", ... */
	bool wow64;		/* 32-bit Office on 64-bit Windows */
	char *path;		/* MSI InstallRoot Path or C2R InstallationPath */
	char *products;		/* C2R ProductReleaseIds */
	char *platform;		/* C2R Platform: x86 or x64 */
	char *c2r_version;	/* C2R VersionToReport */
	char *channel_url;	/* C2R UpdateChannel or CDNBaseUrl */
	const char *channel;	/* its well-known name, or NULL */
	bool volume;		/* C2R: a ...Volume product (KMS-activated) */
	enum office_lic lic;
};

/* One place KMS settings for Office are read from. */
struct office_kms {
	char *key;		/* key path in the hive */
	const char *scope;	/* "ospp", "ospp-wow64", "spp-office", "spp-sku" */
	char act[KP_GUID_LEN + 1];	/* spp-sku: its Activation ID */
	char *name, *port;	/* NULL when not set */
};

struct office_report {
	bool win64;		/* the hive has Wow6432Node */
	struct office_install *inst;
	size_t n;
	struct office_kms *kms;
	size_t nkms;
};

/* Name of a licensing service, for reports: "ospp" or "spp". */
const char *office_lic_str(enum office_lic l);

/* The channel name of a C2R UpdateChannel/CDNBaseUrl, or NULL. */
const char *office_channel_name(const char *url);

/* Find the Office installations of H (Windows version V decides the
 * licensing service) and the KMS settings each reads. */
int office_read(struct hive *h, const struct winver *v,
		struct office_report *r, struct kp_error *err);
void office_report_release(struct office_report *r);

/* The Office KMS host change: for NAME and PORT, SET with the text, or
 * delete; untouched unless its TOUCH is true. */
struct office_kms_edit {
	bool touch_name, touch_port;
	bool set_name, set_port;
	const char *name, *port;
	const char *act;	/* "" or an Activation ID (SPP-based Office only) */
};

/* Write E where each Office installed in H reads it: the OSPP key (both
 * registry views for 32-bit Office on 64-bit Windows) and/or Office's
 * application key under Windows' SPP key.  KP_ERR_INPUT when H holds no
 * Office; KP_ERR_INVALID for an Activation ID with OSPP-based Office. */
int office_apply_kms(struct hive *h, const struct winver *v,
		     const struct office_kms_edit *e, struct hive_changes *c,
		     struct kp_error *err);

#endif

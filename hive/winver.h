/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a SOFTWARE hive says of its Windows: the version recorded under
 * Microsoft\Windows NT\CurrentVersion, and where that Windows keeps its
 * Software Protection settings (SoftwareProtectionPlatform, or SL on
 * Windows Vista and Server 2008) and Office's.  Shared by the SPP
 * settings (spp.h) and Office (office.h).
 */
#ifndef KP_HIVE_WINVER_H
#define KP_HIVE_WINVER_H

#include <stdbool.h>

#include "hive.h"

#define SPP_APP_WINDOWS "55c92734-d682-4d71-983e-d6ec3f16059f"
#define SPP_APP_OFFICE "0ff1ce15-a989-479d-af46-f275c6370663"
#define SPP_KEY "Microsoft\\Windows NT\\CurrentVersion\\SoftwareProtectionPlatform"
#define SPP_KEY_VISTA "Microsoft\\Windows NT\\CurrentVersion\\SL"
#define WINVER_KEY "Microsoft\\Windows NT\\CurrentVersion"

/* The Windows version recorded in Microsoft\Windows NT\CurrentVersion. */
struct winver {
	bool present;		/* the key exists */
	char *product;		/* ProductName */
	char *build;		/* CurrentBuildNumber (or CurrentBuild) */
	char *edition;		/* EditionID */
	char *install_type;	/* InstallationType */
	char *version;		/* CurrentVersion, e.g. "6.1" */
	unsigned major, minor;	/* 0.0 if not known */
};

int winver_read(struct hive *h, struct winver *v, struct kp_error *err);
void winver_release(struct winver *v);

/* Key of the SPP settings for this Windows (SL for Vista / 2008). */
const char *spp_root(const struct winver *v);

#endif

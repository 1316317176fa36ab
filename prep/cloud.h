/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Public clouds as KMS targets: an image prepared here and imported into
 * a cloud activates against that cloud's own KMS host, and only if the
 * image names it (and holds the KMS client setup key of its edition).
 * Each endpoint is the one its cloud documents (see cloud.c).
 */
#ifndef KP_CLOUD_H
#define KP_CLOUD_H

#include <stdbool.h>

#include "hive/winver.h"
#include "lib/error.h"

struct kms_cloud {
	const char *name;	/* "azure", "aws", "gcp" */
	const char *title;	/* "Microsoft Azure" */
	const char *host;	/* the KMS host as --kms-host takes it */
	const char *doc;	/* where the cloud documents it */
	/* Which editions its KMS activates: Windows Server always; Windows
	 * client editions too where CLIENTS names them (EditionID). */
	const char *const *clients;
};

/* The cloud called NAME, or NULL (with ERR, KP_ERR_INVALID, listing the
 * names). */
const struct kms_cloud *cloud_find(const char *name, struct kp_error *err);

/* The cloud whose documented KMS host HOST ("host[:port]") is, or NULL. */
const struct kms_cloud *cloud_by_host(const char *host);

/* Does cloud C's KMS activate the Windows of V?  KP_ERR_INPUT, saying
 * which editions it does, if not. */
int cloud_check_edition(const struct kms_cloud *c, const struct winver *v,
			struct kp_error *err);

/* The names, comma-separated ("azure, aws, gcp"). */
const char *cloud_names(void);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Public clouds' KMS hosts, as each cloud documents them (cloud.h). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cloud.h"

/* Windows 10/11 Enterprise multi-session, which Azure Virtual Desktop
 * runs and Azure's KMS activates (EditionID ServerRdsh). */
static const char *const azure_clients[] = { "ServerRdsh", NULL };

static const struct kms_cloud clouds[] = {
	/* "Troubleshoot Azure Windows virtual machine activation problems":
	 * azkms.core.windows.net, port 1688, for Azure global. */
	{ .name = "azure", .title = "Microsoft Azure",
	  .host = "azkms.core.windows.net:1688",
	  .doc = "https://learn.microsoft.com/troubleshoot/azure/"
		 "virtual-machines/windows/troubleshoot-activation-problems",
	  .clients = azure_clients },
	/* Amazon EC2 User Guide, "Windows activation": its KMS hosts are
	 * 169.254.169.250 and .251, reached from every instance.  The
	 * registry holds one host; .250 is the guide's first (and what
	 * EC2Launch sets), .251 its fallback should that one not answer. */
	{ .name = "aws", .title = "Amazon EC2",
	  .host = "169.254.169.250:1688",
	  .doc = "https://docs.aws.amazon.com/AWSEC2/latest/WindowsGuide/"
		 "common-messages.html#activate-windows" },
	/* Compute Engine, "Windows Server licensing": instances activate
	 * against kms.windows.googlecloud.com. */
	{ .name = "gcp", .title = "Google Compute Engine",
	  .host = "kms.windows.googlecloud.com:1688",
	  .doc = "https://cloud.google.com/compute/docs/instances/windows/"
		 "creating-managing-windows-instances" },
};

#define NCLOUDS (sizeof(clouds) / sizeof(*clouds))

const char *
cloud_names(void)
{
	return "azure, aws, gcp";
}

const struct kms_cloud *
cloud_find(const char *name, struct kp_error *err)
{
	size_t i;

	for (i = 0; i < NCLOUDS; i++)
		if (strcmp(clouds[i].name, name) == 0)
			return &clouds[i];
	kp_fail(err, KP_ERR_INVALID, "'%s': not a cloud kmsprep knows (%s)",
		name, cloud_names());
	return NULL;
}

const struct kms_cloud *
cloud_by_host(const char *host)
{
	size_t i, n;

	if (host == NULL)
		return NULL;
	for (i = 0; i < NCLOUDS; i++) {
		/* With its port, or the default port's name alone. */
		n = strcspn(clouds[i].host, ":");
		if (strcasecmp(host, clouds[i].host) == 0 ||
		    (strlen(host) == n &&
		     strncasecmp(host, clouds[i].host, n) == 0))
			return &clouds[i];
	}
	return NULL;
}

int
cloud_check_edition(const struct kms_cloud *c, const struct winver *v,
		    struct kp_error *err)
{
	const char *const *e;
	const char *ed = v->edition ? v->edition : "";

	if (strncmp(ed, "Server", 6) == 0 && strcmp(ed, "ServerRdsh") != 0)
		return 0;
	for (e = c->clients; e && *e; e++)
		if (strcmp(ed, *e) == 0)
			return 0;
	return kp_fail(err, KP_ERR_INPUT, "edition '%s'%s%s: %s's KMS "
		       "activates Windows Server%s only", *ed ? ed : "unknown",
		       v->product ? ", " : "", v->product ? v->product : "",
		       c->title, c->clients ? " and Windows Enterprise "
		       "multi-session" : "");
}

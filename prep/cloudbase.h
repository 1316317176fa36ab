/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cloudbase-init, OpenStack's (and many clouds') Windows agent: its
 * licensing plugin (cloudbaseinit.plugins.windows.licensing.
 * WindowsLicensingPlugin) sets a KMS host, a KMS client setup key and
 * activates at boot, over what kmsprep wrote into the registry.  Its
 * options: https://cloudbase-init.readthedocs.io/en/latest/plugins.html
 * (Licensing) and https://cloudbase-init.readthedocs.io/en/latest/config.html
 */
#ifndef KP_CLOUDBASE_H
#define KP_CLOUDBASE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"
#include "lib/error.h"

/* Its configuration files, below the system drive's root. */
#define CBI_DIR "program files/cloudbase solutions/cloudbase-init/conf"
#define CBI_CONF "cloudbase-init.conf"
#define CBI_UNATTEND "cloudbase-init-unattend.conf"

/* The licensing options of one configuration file's [DEFAULT] section:
 * -1 not set (cloudbase-init's default: off), 0 off, 1 on. */
struct cbi_conf {
	bool plugin;		/* the licensing plugin runs (the default
				 * plugin list has it; plugins= may not) */
	int activate_windows, set_kms_product_key, set_avma_product_key;
	char kms_host[256];	/* "" when not set */
};

/* Read TEXT (LEN bytes of an INI file) into C.  Never fails: anything
 * that is not understood is left as "not set". */
void cbi_parse(const char *text, size_t len, struct cbi_conf *c);

/* What to write: NULL or -1 leaves an option as it is. */
struct cbi_set {
	const char *kms_host;	/* host[:port] */
	int activate_windows, set_kms_product_key;
};

/* TEXT with the options of SET changed in its [DEFAULT] section, into
 * OUT: a line that sets an option has its value replaced, a missing
 * option is added at the end of the section (a missing section at the
 * start), and every other byte is kept; the file's line ending is used.
 * Values must pass kp_check_safe (KP_ERR_INPUT otherwise). */
int cbi_edit(const char *text, size_t len, const struct cbi_set *set,
	     struct buf *out, struct kp_error *err);

#endif

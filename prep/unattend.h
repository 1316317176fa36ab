/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Windows answer files (unattend.xml) and their SkipRearm setting, edited
 * with libxml2 so that every other component, setting, comment and
 * namespace survives.  Files are hostile input: no network access, no DTD,
 * no entity expansion, a size limit.
 *
 * The setting: component Microsoft-Windows-Security-SPP, element SkipRearm,
 * in <settings pass="generalize">; 0 (the default) makes sysprep
 * /generalize rearm, which gives every clone its own client machine ID.
 */
#ifndef KP_UNATTEND_H
#define KP_UNATTEND_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"
#include "lib/error.h"

#define UNATTEND_MAX ((size_t)4 << 20)

/* What an answer file says about the generalize pass. */
struct unattend_info {
	bool generalize;	/* has <settings pass="generalize"> */
	int skip_rearm;		/* -1 not set, else its value (0 or 1) */
	char arch[16];		/* processorArchitecture of that component */
	/* Shell-Setup's ProductKey in the specialize pass: none, a KMS
	 * client setup key (in GVLK), or another key, never repeated. */
	enum { UNATTEND_KEY_NONE, UNATTEND_KEY_GVLK,
	       UNATTEND_KEY_OTHER } product_key;
	char gvlk[32];
};

/* Read DATA (an answer file named NAME) and fill INFO.  Invalid XML or a
 * root that is not <unattend> fails with KP_ERR_INPUT. */
int unattend_inspect(const char *data, size_t len, const char *name,
		     struct unattend_info *info, struct kp_error *err);

/* Make SkipRearm 0 in the generalize pass of DATA for architecture ARCH
 * (amd64, x86, arm64), adding the pass, the component or the element as
 * needed.  OUT gets the new file; *CHANGED is false (and OUT empty) when it
 * already says so.  Line endings, byte order mark and encoding are kept. */
int unattend_set_skip_rearm0(const char *data, size_t len, const char *name,
			     const char *arch, struct buf *out, bool *changed,
			     struct kp_error *err);

/* Make ProductKey of component Microsoft-Windows-Shell-Setup for ARCH in
 * the specialize pass of DATA say KEY (the key Setup installs for
 * activation), adding the pass, the component or the element as needed,
 * with only the lines that must change changed.  A ProductKey that says
 * something else is put in FOUND (wiped first; it may be an
 * organization's key: never show it unless it is public) and replaced only
 * with REPLACE.  *CHANGED and OUT as above. */
int unattend_set_product_key(const char *data, size_t len, const char *name,
			     const char *arch, const char *key, bool replace,
			     struct buf *out, bool *changed, struct buf *found,
			     struct kp_error *err);

/* A new answer file holding only that setting. */
int unattend_new(const char *arch, struct buf *out, struct kp_error *err);

#endif

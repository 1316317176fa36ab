/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Applying a lab KMS host kit to a Windows installation in an image: the
 * host settings go into SOFTWARE through the shared settings model, an
 * inbound allow rule for the KMS port into SYSTEM's firewall rules, and the
 * kit's first-boot script with the key (if any) into %WINDIR%\kmsprep\kit,
 * the key readable by SYSTEM and Administrators only.  The script runs from
 * SetupComplete.cmd on a generalized image (Setup runs it as SYSTEM at the
 * end of OOBE; an existing SetupComplete.cmd keeps its commands and gains a
 * call), else from the SYSTEM\Setup first-boot hook (see prep/boothook.h).
 */
#ifndef KP_KIT_APPLY_H
#define KP_KIT_APPLY_H

#include "kit.h"
#include "prep/generalize.h"

#define KIT_DIR FIRSTBOOT_DIR "\\kit"
#define KIT_FIREWALL_ID "kmsprep-KMS-In-TCP"

/* Plan everything for installation R: registry edits in SOFTWARE and SYSTEM
 * (in memory, recorded in C) and the files to write in P. */
int kit_stage(struct img_session *s, const struct img_root *r,
	      const struct kit *k, struct hive *software, struct hive *system,
	      struct hive_changes *c, struct stage *p, struct kp_error *err);

/* kit_stage as an image plan step (prep/plan.h): UD is the struct kit. */
int kit_plan_step(const void *ud, struct img_session *s,
		  const struct img_root *r, struct hive *software,
		  struct hive *system, struct hive_changes *c,
		  struct stage *p, struct kp_error *err);

/* Append the first-boot wrapper of an image that is not generalized: it
 * clears the hook, then calls the kit's script. */
int kit_wrapper_script(struct buf *w);

#endif

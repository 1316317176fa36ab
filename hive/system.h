/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Settings in a SYSTEM hive: the current control set (Select\Current) and,
 * under it, the DNS suffix search list that lets a client find KMS SRV
 * records in domains other than its own.
 */
#ifndef KP_SYSTEM_H
#define KP_SYSTEM_H

#include <stddef.h>

#include "change.h"
#include "hive.h"

#define SYS_SEARCH_LIST_MAX 1024

/* "ControlSet001" etc. from Select\Current; KP_ERR_INPUT if the hive has
 * no usable Select key. */
int sys_control_set(struct hive *h, char *out, size_t outsz,
		    struct kp_error *err);

/* Check a comma-separated list of DNS suffixes; *NORM receives it without
 * spaces (caller frees). */
int sys_parse_search_list(const char *arg, char **norm, struct kp_error *err);

/* Set Services\Tcpip\Parameters\SearchList (REG_SZ) of the current control
 * set to LIST, or delete it if LIST is NULL. */
int sys_apply_search_list(struct hive *h, const char *list,
			  struct hive_changes *c, struct kp_error *err);

/* The current SearchList, or NULL if not set (caller frees). */
int sys_read_search_list(struct hive *h, char **list, struct kp_error *err);

#define SYS_FIREWALL_RULES \
	"Services\\SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules"

/* Add (or update) inbound allow rule ID for TCP PORT on every profile in
 * the local rule store of the current control set, where netsh and the
 * Windows Firewall console keep theirs.  NAME and DESC are free text
 * without '|'.  The rule is written in the v2.10 grammar, which Windows 7
 * and every later Windows reads. */
int sys_firewall_allow_tcp(struct hive *h, const char *id, unsigned port,
			   const char *name, const char *desc,
			   struct hive_changes *c, struct kp_error *err);

/* Enable Windows' own inbound firewall rule for service SVC on TCP PORT
 * (Windows Server's "Key Management Service (TCP-In)", scoped to sppsvc,
 * ships disabled), if the hive has one: 1, its value name in ID; 0 if
 * there is none.  The change is recorded in C. */
int sys_firewall_enable_service(struct hive *h, const char *svc,
				unsigned port, char *id, size_t idsz,
				struct hive_changes *c, struct kp_error *err);

/* The rule string sys_firewall_allow_tcp writes (caller frees). */
char *sys_firewall_rule(unsigned port, const char *name, const char *desc);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Validation of the small values users type: host names, addresses, ports,
 * numbers in a range, GUIDs, on/off.  Every check that fails fills ERR with
 * a message naming the option (WHAT) and the bad value, as the user typed
 * it but quoted safely, with class KP_ERR_INVALID.
 */
#ifndef KP_VALID_H
#define KP_VALID_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define KP_HOSTNAME_MAX 253
#define KP_GUID_LEN 36

/* The checks and parsers below name the value WHAT in their messages
 * ("WHAT: 'VALUE': why"), or only the value when WHAT is NULL. */

/* Printable, bounded rendering of untrusted text for messages: control and
 * non-ASCII bytes become \xNN and long text is cut with "...". */
const char *kp_quote(const char *s, char *out, size_t outsz);

/* Refuse characters that would break a .cmd or .reg file later: quotes, %,
 * &, |, ^, <, >, control characters and invalid UTF-8. */
int kp_check_safe(const char *what, const char *s, struct kp_error *err);

/* RFC 1123 host name: labels of 1-63 letters, digits and hyphens, not
 * starting or ending with a hyphen, 253 characters at most.  A trailing dot
 * is accepted when ALLOW_DOT is set. */
bool kp_is_hostname(const char *s, bool allow_dot);
bool kp_is_ipv4(const char *s);
bool kp_is_ipv6(const char *s);

/* Host name or IPv4 literal, as a KMS host or SRV target may be. */
int kp_check_host(const char *what, const char *s, struct kp_error *err);

/* Decimal unsigned number in [MIN, MAX], no sign, spaces or leading junk. */
int kp_parse_uint(const char *what, const char *s, unsigned long min,
		  unsigned long max, unsigned long *out, struct kp_error *err);

/* GUID with or without braces, any case; OUT receives the lowercase form
 * without braces (KP_GUID_LEN characters and a NUL). */
int kp_parse_guid(const char *what, const char *s, char out[KP_GUID_LEN + 1],
		  struct kp_error *err);

/* "on" or "off" (also yes/no, true/false, 1/0). */
int kp_parse_onoff(const char *what, const char *s, bool *out,
		   struct kp_error *err);

/* Find the first product-key shape in S: five groups of five letters or
 * digits (any case) split by dashes, spaces or tabs, anywhere in S (a
 * host name or file name may hold one), or 25 letters and digits that are
 * all of S.  OFF and LEN give where it is. */
bool kp_find_key_shape(const char *s, size_t *off, size_t *len);

/* Called with a key shape's 25 letters and digits (upper case, no
 * separators): true if it may be shown (a public setup key). */
typedef bool kp_key_public_fn(const char *alnum25);

/* Replace the letters and digits of every key shape in S with '*', in
 * place, so that a message never repeats a key; shapes PUBLIC (if not NULL)
 * accepts are left.  True if any was replaced. */
bool kp_redact_keys(char *s, kp_key_public_fn *public_key);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validation of host names, addresses, numbers, GUIDs and flags. */
#include <ctype.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "utf.h"
#include "valid.h"

const char *
kp_quote(const char *s, char *out, size_t outsz)
{
	size_t o = 0, i;

	if (outsz < 8) {
		if (outsz)
			out[0] = '\0';
		return out;
	}
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 8 >= outsz) {
			memcpy(out + o, "...", 4);
			return out;
		}
		if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

/* "WHAT: " in front of a message, or nothing when WHAT is NULL (the
 * caller names the value itself, as the CLI does with its option). */
#define W(what) (what) ? (what) : "", (what) ? ": " : ""

int
kp_check_safe(const char *what, const char *s, struct kp_error *err)
{
	static const char bad[] = "\"'%&|^<>`";
	char q[96];
	size_t i;

	if (!utf8_valid(s, strlen(s)))
		return kp_fail(err, KP_ERR_INVALID, "%s%s'%s': not valid UTF-8",
			       W(what), kp_quote(s, q, sizeof(q)));
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return kp_fail(err, KP_ERR_INVALID,
				       "%s%s'%s': control characters are not "
				       "allowed",
				       W(what), kp_quote(s, q, sizeof(q)));
		if (strchr(bad, c))
			return kp_fail(err, KP_ERR_INVALID,
				       "%s%s'%s': the character '%c' is not allowed "
				       "(it would break a script or .reg file)",
				       W(what), kp_quote(s, q, sizeof(q)), c);
	}
	return 0;
}

static bool
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* RFC 1123 labels; the last one may not be all digits (RFC 1123 2.1,
 * RFC 3696 2), so that 1.2.3 or 999.1.1.1 is never taken for a name. */
bool
kp_is_hostname(const char *s, bool allow_dot)
{
	size_t len = strlen(s), label = 0, i;
	bool digits = true;

	if (allow_dot && len > 1 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > KP_HOSTNAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			digits = true;
			continue;
		}
		if (!is_alnum(c) && c != '-')
			return false;
		if (c < '0' || c > '9')
			digits = false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-' && !digits;
}

bool
kp_is_ipv4(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

bool
kp_is_ipv6(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET6, s, &a) == 1;
}

int
kp_check_host(const char *what, const char *s, struct kp_error *err)
{
	char q[96];

	if (kp_check_safe(what, s, err) < 0)
		return -1;
	if (*s == '\0')
		return kp_fail(err, KP_ERR_INVALID, "%s%sempty host name",
			       W(what));
	if (kp_is_ipv4(s) || kp_is_hostname(s, false))
		return 0;
	if (strlen(s) > KP_HOSTNAME_MAX)
		return kp_fail(err, KP_ERR_INVALID,
			       "%s%s'%s': host name longer than %d characters",
			       W(what), kp_quote(s, q, sizeof(q)),
			       KP_HOSTNAME_MAX);
	return kp_fail(err, KP_ERR_INVALID,
		       "%s%s'%s': not a valid host name (RFC 1123: labels of "
		       "letters, digits and hyphens, 63 characters at most) or "
		       "IPv4 address",
		       W(what), kp_quote(s, q, sizeof(q)));
}

int
kp_parse_uint(const char *what, const char *s, unsigned long min,
	      unsigned long max, unsigned long *out, struct kp_error *err)
{
	unsigned long v = 0;
	char q[96];
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 10)
			goto bad;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0)
		goto bad;
	if (v < min || v > max)
		return kp_fail(err, KP_ERR_INVALID,
			       "%s%s'%s': out of range (%lu to %lu)", W(what),
			       kp_quote(s, q, sizeof(q)), min, max);
	*out = v;
	return 0;
bad:
	return kp_fail(err, KP_ERR_INVALID,
		       "%s%s'%s': not a number (expected %lu to %lu)",
		       W(what),
		       kp_quote(s, q, sizeof(q)), min, max);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
kp_parse_guid(const char *what, const char *s, char out[KP_GUID_LEN + 1],
	      struct kp_error *err)
{
	size_t len = strlen(s), i;
	const char *p = s;
	char q[96];

	if (len == KP_GUID_LEN + 2 && s[0] == '{' && s[len - 1] == '}') {
		p = s + 1;
		len -= 2;
	}
	if (len != KP_GUID_LEN)
		goto bad;
	for (i = 0; i < KP_GUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (p[i] != '-')
				goto bad;
			out[i] = '-';
			continue;
		}
		if (hexval(p[i]) < 0)
			goto bad;
		out[i] = (char)(p[i] >= 'A' && p[i] <= 'F' ? p[i] + 32 : p[i]);
	}
	out[KP_GUID_LEN] = '\0';
	return 0;
bad:
	return kp_fail(err, KP_ERR_INVALID,
		       "%s%s'%s': not a GUID "
		       "(expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
		       W(what), kp_quote(s, q, sizeof(q)));
}

int
kp_parse_onoff(const char *what, const char *s, bool *out,
	       struct kp_error *err)
{
	static const char *const on[] = { "on", "yes", "true", "1" };
	static const char *const off[] = { "off", "no", "false", "0" };
	char q[96];
	size_t i;

	for (i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		if (strcasecmp(s, on[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, off[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return kp_fail(err, KP_ERR_INVALID, "%s%s'%s': expected on or off",
		       W(what), kp_quote(s, q, sizeof(q)));
}

static bool
is_key_sep(unsigned char c)
{
	return c == '-' || c == ' ' || c == '\t';
}

/* Length of a key shape starting at S, or 0: five groups of five letters
 * or digits, each pair of groups split by one to three of "- \t". */
static size_t
key_shape_at(const unsigned char *s)
{
	size_t i = 0, g, k, sep;

	for (g = 0; g < 5; g++) {
		if (g) {
			for (sep = 0; sep < 3 && is_key_sep(s[i]); sep++)
				i++;
			if (sep == 0)
				return 0;
		}
		for (k = 0; k < 5; k++, i++)
			if (!is_alnum(s[i]))
				return 0;
	}
	return i;
}

/* Is C one of the 25 characters product keys are written in
 * (BCDFGHJKMNPQRTVWXY2346789: no vowels, no L, S, Z, 0, 1 or 5)? */
static bool
is_key_char(unsigned char c)
{
	return c && strchr("BCDFGHJKMNPQRTVWXY2346789", toupper(c)) != NULL;
}

/* Length of a key of key characters at S, its groups of five split by
 * one '.' or '_' each (a key hidden in a host name or a file name). */
static size_t
dotted_key_at(const unsigned char *s)
{
	size_t i = 0, g, k;

	for (g = 0; g < 5; g++) {
		if (g && s[i] != '.' && s[i] != '_')
			return 0;
		i += g != 0;
		for (k = 0; k < 5; k++, i++)
			if (!is_key_char(s[i]))
				return 0;
	}
	return i;
}

/* In a run of letters and digits at S of length RUN, the start of 25 key
 * characters in a row, or RUN if none. */
static size_t
key_chars_in(const unsigned char *s, size_t run)
{
	size_t i, n = 0;

	for (i = 0; i < run; i++) {
		n = is_key_char(s[i]) ? n + 1 : 0;
		if (n == 25)
			return i + 1 - 25;
	}
	return run;
}

bool
kp_find_key_shape(const char *s, size_t *off, size_t *len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, n, alnum = 0, other = 0;

	for (i = 0; p[i]; i++) {
		n = is_alnum(p[i]) ? key_shape_at(p + i) : 0;
		if (n == 0)
			n = dotted_key_at(p + i);
		/* A run of exactly 25 letters and digits is a key without
		 * its dashes (digests and GUIDs are longer). */
		if (n == 0 && is_alnum(p[i]) && (i == 0 || !is_alnum(p[i - 1]))) {
			size_t run, k;

			for (run = 0; is_alnum(p[i + run]); run++)
				;
			/* Or 25 key characters in a row within a longer
			 * run ("kmsQXR7B9HJ3K..."). */
			k = run > 25 ? key_chars_in(p + i, run) : run;
			if (run == 25 || k < run) {
				*off = run == 25 ? i : i + k;
				*len = 25;
				return true;
			}
		}
		if (n) {
			*off = i;
			*len = n;
			return true;
		}
	}
	/* The 25 characters with no dashes, alone or spaced any way. */
	for (i = 0; p[i]; i++) {
		if (is_alnum(p[i]))
			alnum++;
		else if (!is_key_sep(p[i]))
			other++;
	}
	if (alnum == 25 && other == 0) {
		*off = 0;
		*len = i;
		return true;
	}
	return false;
}

bool
kp_redact_keys(char *s, kp_key_public_fn *public_key)
{
	size_t off, len, i, n, base = 0;
	bool any = false;
	char k[26];

	while (kp_find_key_shape(s + base, &off, &len)) {
		char *at = s + base + off;

		for (i = n = 0; i < len && n < 25; i++)
			if (is_alnum((unsigned char)at[i]))
				k[n++] = (char)toupper((unsigned char)at[i]);
		k[n] = '\0';
		base += off + len;
		if (public_key && public_key(k))
			continue;
		for (i = 0; i < len; i++)
			if (is_alnum((unsigned char)at[i]))
				at[i] = '*';
		any = true;
	}
	return any;
}

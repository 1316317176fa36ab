/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Error records passed from the libraries up to the CLI. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static void
vset(struct kp_error *err, int code, const char *fmt, va_list ap)
	KP_PRINTF(3, 0);

static void
vset(struct kp_error *err, int code, const char *fmt, va_list ap)
{
	if (err == NULL)
		return;
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int
kp_fail(struct kp_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

int
kp_fail_errno(struct kp_error *err, int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	return -1;
}

int
kp_fail_oom(struct kp_error *err)
{
	return kp_fail(err, KP_EXIT_FAIL, "out of memory");
}

void
kp_error_prefix(struct kp_error *err, const char *fmt, ...)
{
	char old[sizeof(err->msg)];
	va_list ap;
	int n;

	if (err == NULL)
		return;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(err->msg))
		return;
	snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", old);
}

void
kp_error_clear(struct kp_error *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

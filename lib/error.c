/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Error records passed from the libraries up to the CLI. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static const char *const status_str[KP_NSTATUS] = {
	[KP_OK] = "success",
	[KP_ERR_FAIL] = "the operation failed",
	[KP_ERR_INVALID] = "invalid argument or value",
	[KP_ERR_INPUT] = "bad, corrupt or missing input",
	[KP_ERR_REFUSED] = "refused to protect data",
	[KP_ERR_UNAVAILABLE] = "environment unavailable",
};

const char *
kp_status_str(enum kp_status status)
{
	if ((unsigned)status >= KP_NSTATUS)
		return "unknown status";
	return status_str[status];
}

static void
vset(struct kp_error *err, enum kp_status status, const char *fmt,
     va_list ap) KP_PRINTF(3, 0);

static void
vset(struct kp_error *err, enum kp_status status, const char *fmt, va_list ap)
{
	if (err == NULL)
		return;
	err->status = status ? status : KP_ERR_FAIL;
	err->remedy = KP_REMEDY_NONE;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int
kp_fail(struct kp_error *err, enum kp_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, status, fmt, ap);
	va_end(ap);
	return -1;
}

int
kp_fail_errno(struct kp_error *err, enum kp_status status, int errnum,
	      const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vset(err, status, fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	return -1;
}

int
kp_fail_oom(struct kp_error *err)
{
	return kp_fail(err, KP_ERR_FAIL, "out of memory");
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

int
kp_error_remedy(struct kp_error *err, enum kp_remedy remedy)
{
	if (err != NULL)
		err->remedy = remedy;
	return -1;
}

void
kp_error_clear(struct kp_error *err)
{
	if (err == NULL)
		return;
	err->status = KP_OK;
	err->remedy = KP_REMEDY_NONE;
	err->msg[0] = '\0';
}

void
kp_error_rename(struct kp_error *err, const char *name, const char *context)
{
	char old[sizeof(err->msg)];
	size_t n = strlen(name);

	if (strncmp(err->msg, name, n) != 0 ||
	    (err->msg[n] != ':' && err->msg[n] != ' ')) {
		kp_error_prefix(err, "%s", context);
		return;
	}
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s%s", context, old + n);
}

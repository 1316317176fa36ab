/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Error reporting between layers.  Library code never prints or exits: it
 * fills a struct kp_error with an exit class and a message of the form
 * "<what>: <why>" and returns -1.  The CLI prints it once, as
 * "kmsprep: <command>: <what>: <why>".
 */
#ifndef KP_ERROR_H
#define KP_ERROR_H

#include <stddef.h>

#include "exitcodes.h"

#define KP_ERROR_MSG_MAX 1024

struct kp_error {
	int code;			/* enum kp_exit; 0 until an error is set */
	char msg[KP_ERROR_MSG_MAX];
};

#define KP_ERROR_INIT { 0, "" }

#define KP_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Set an error of class CODE with a formatted message; always returns -1. */
int kp_fail(struct kp_error *err, int code, const char *fmt, ...)
	KP_PRINTF(3, 4);

/* As kp_fail, with ": " and strerror(ERRNUM) appended. */
int kp_fail_errno(struct kp_error *err, int code, int errnum,
		  const char *fmt, ...) KP_PRINTF(4, 5);

/* Out of memory: the one message for every failed allocation. */
int kp_fail_oom(struct kp_error *err);

/* Put formatted context and ": " in front of the message already set. */
void kp_error_prefix(struct kp_error *err, const char *fmt, ...)
	KP_PRINTF(2, 3);

/* Forget any error set so far. */
void kp_error_clear(struct kp_error *err);

#endif

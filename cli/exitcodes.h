/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Exit codes of kmsprep: the one place they are defined.  They are part of
 * the interface (scripts test them), so the numbers never change.
 */
#ifndef KP_EXITCODES_H
#define KP_EXITCODES_H

enum kp_exit {
	KP_EXIT_OK = 0,		/* success */
	KP_EXIT_FAIL = 1,	/* the operation failed */
	KP_EXIT_USAGE = 2,	/* bad command line or option value */
	KP_EXIT_INPUT = 3,	/* bad, corrupt or missing input */
	KP_EXIT_REFUSED = 4,	/* refused to protect data (dirty hive, ...) */
	KP_EXIT_ENV = 5,	/* environment: appliance or server unavailable */
};

#endif

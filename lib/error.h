/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Error reporting between layers.  Library code never prints or exits: it
 * fills a struct kp_error with a status (enum kp_status) and a message of
 * the form "<what>: <why>" and returns -1.  The CLI prints it once, as
 * "kmsprep: <command>: <what>: <why>", and maps the status to an exit code
 * (cli/exitcodes.h); the library knows nothing of exit codes or options.
 */
#ifndef KP_ERROR_H
#define KP_ERROR_H

#include <stddef.h>

/* What went wrong, as a caller needs to know it (after wimlib's
 * enum wimlib_error_code).  Never 0 in a set error. */
enum kp_status {
	KP_OK = 0,
	KP_ERR_FAIL,		/* the operation failed (I/O, out of memory) */
	KP_ERR_INVALID,		/* a value the caller passed is invalid */
	KP_ERR_INPUT,		/* bad, corrupt or missing input data */
	KP_ERR_REFUSED,		/* refused to protect data (dirty, in use) */
	KP_ERR_UNAVAILABLE,	/* environment: appliance or server absent */
	KP_NSTATUS
};

/* A short description of STATUS ("bad, corrupt or missing input"). */
const char *kp_status_str(enum kp_status status);

/* What the caller could do to get past an error, when there is such a
 * thing: the library names no command-line option, so the CLI turns a
 * remedy into its own advice ("--force-dirty writes anyway"). */
enum kp_remedy {
	KP_REMEDY_NONE = 0,
	KP_REMEDY_FORCE_DIRTY,	/* accept losing a dirty hive's log */
	KP_REMEDY_KEY_PREFIX,	/* map registry roots to this hive */
	KP_REMEDY_OVERLAY,	/* write to a new overlay, or a dry run */
	KP_REMEDY_DRY_RUN,	/* only read: a dry run */
	KP_REMEDY_CHOOSE_ROOT,	/* say which Windows installation */
	KP_REMEDY_CHOOSE_INDEX,	/* name a WIM index that holds Windows */
	KP_REMEDY_BITLOCKER_KEY, /* give the volume's recovery password */
	KP_REMEDY_APPLIANCE,	/* use the backend that can do it */
	KP_REMEDY_GVLK_LIST,	/* the known KMS client setup keys */
	KP_REMEDY_GVLK_KEY,	/* give the setup key itself */
	KP_REMEDY_PUBKEY,	/* give the signer's public key */
	KP_REMEDY_ALLOW_UNSIGNED, /* accept an unsigned kit knowingly */
	KP_REMEDY_TSIG_KEY,	/* sign DNS queries with a TSIG key */
	KP_REMEDY_SRV_DOMAIN,	/* name the DNS domains to publish in */
	KP_REMEDY_ALLOW_REFERENCES, /* accept the files an image names */
	KP_REMEDY_RERUN,	/* run it again: a write was interrupted
				 * after its log held the change */
	KP_REMEDY_GVLK_UNLISTED, /* install a setup key the table cannot
				  * check for this edition */
	KP_REMEDY_UPDATE_KEY,	/* sign DNS updates with a TSIG key */
	KP_REMEDY_ZONE,		/* name the zone that holds the records */
	KP_REMEDY_OVERLAY_WIM,	/* write a new WIM file instead */
	KP_NREMEDIES
};

#define KP_ERROR_MSG_MAX 1024

struct kp_error {
	enum kp_status status;	/* KP_OK until an error is set */
	enum kp_remedy remedy;	/* cleared by every new error */
	char msg[KP_ERROR_MSG_MAX];
};

#define KP_ERROR_INIT { KP_OK, KP_REMEDY_NONE, "" }

#define KP_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Set an error of STATUS with a formatted message; always returns -1. */
int kp_fail(struct kp_error *err, enum kp_status status, const char *fmt, ...)
	KP_PRINTF(3, 4);

/* As kp_fail, with ": " and strerror(ERRNUM) appended. */
int kp_fail_errno(struct kp_error *err, enum kp_status status, int errnum,
		  const char *fmt, ...) KP_PRINTF(4, 5);

/* Out of memory: the one message for every failed allocation. */
int kp_fail_oom(struct kp_error *err);

/* Put formatted context and ": " in front of the message already set. */
void kp_error_prefix(struct kp_error *err, const char *fmt, ...)
	KP_PRINTF(2, 3);

/* Put CONTEXT in front of the message: in place of NAME where the
 * message begins with it ("kms-host: ..." as "images[2].kms-host: ...").
 * How an option or a plan key names the value its message is about. */
void kp_error_rename(struct kp_error *err, const char *name,
		     const char *context);

/* Attach REMEDY to the error already set; always returns -1. */
int kp_error_remedy(struct kp_error *err, enum kp_remedy remedy);

/* Forget any error set so far. */
void kp_error_clear(struct kp_error *err);

#endif

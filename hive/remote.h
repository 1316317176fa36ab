/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hives parsed in a sandboxed process: a hive server.
 *
 * Hives copied out of an image someone else made are hostile input, and
 * parsing them (kmsprep's own checks, hivex, the page editor) is where a
 * flaw would be exploited.  A hive server is a worker (lib/sandbox.h,
 * lib/rpc.h) that opens and edits the hives of one scratch directory,
 * and nothing else: Landlock (or chroot) fences its file access into that
 * directory, seccomp forbids executing, connecting and forking, and it
 * has no network, no capability and limited memory.  hive_open() with a
 * server in its options opens the hive there and returns a handle whose
 * every call (hive.h) is a request to it; the answers are checked as
 * hostile too.  Start it before reading secrets, as any worker.
 */
#ifndef KP_HIVE_REMOTE_H
#define KP_HIVE_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hive.h"
#include "lib/error.h"

struct hive_server;

/* Start a hive server for the hives in DIR (the hives it opens must lie
 * there).  It is fenced into DIR by Landlock where the kernel has it, else
 * by chroot where kmsprep runs as root (hive_server_fence says which).
 * With neither it may read files anywhere this user can but write none,
 * and so can only defer a journaled commit, not rewrite a hive.  Each
 * request has TIMEOUT_S seconds (0: a minute), then the server is
 * stopped: KP_ERR_INPUT if it kept computing (a hive made it loop). */
int hive_server_start(const char *dir, unsigned timeout_s,
		      struct hive_server **srv_ret, struct kp_error *err);

/* Is the server fenced into its directory? */
bool hive_server_fenced(const struct hive_server *srv);

/* What fences it: "Landlock" or "chroot"; NULL if nothing does. */
const char *hive_server_fence(const struct hive_server *srv);

/* Stop the server; -1 if it did not end normally.  Handles still open
 * fail from then on and must still be closed.  NULL is fine. */
int hive_server_stop(struct hive_server *srv, struct kp_error *err);

/* Open PATH (in the server's directory) in SRV, as hive_open does with
 * O->server set: the handle's every call (hive.h) is then a request to
 * the server, whose answers are checked as hostile. */
int remote_open(struct hive_server *srv, const char *path,
		const struct hive_open_opts *o, struct hive **h_ret,
		struct kp_error *err);

/* Test hooks, served only when KMSPREP_SANDBOX_SELFTEST=1 was set when
 * the server started: make a forbidden system call (the server dies), or
 * open PATH to read one byte or (WRITE) to create it and write one, and
 * say what happened (0 done, else the errno; a call the filter forbids
 * kills it).  With KMSPREP_HIVE_SERVER_DIE_ON_OPEN also set, the server
 * makes a forbidden call at every hive it opens. */
int hive_server_selftest_forbidden(struct hive_server *srv,
				   struct kp_error *err);
int hive_server_selftest_open(struct hive_server *srv, const char *path,
			      bool write, int *errno_ret,
			      struct kp_error *err);

#endif

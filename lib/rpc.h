/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One protocol for every sandboxed worker (lib/sandbox.h): the direct
 * backend's NTFS worker, the hive servers and the image header reader.
 *
 * A worker kind is a table of operations.  Each row describes the call
 * once: its name, the layout of its arguments and of its answer (fields
 * of a C struct, each a lib/wire.h encoding with its own limit), the
 * largest answer allowed, and the function that serves it in the worker.
 * The client's rpc_call and the worker's dispatch both read the row, so
 * a stub is "fill the arguments, rpc_call", and adding an operation is
 * its row and its implementation.
 *
 * On the wire a request is the operation's number (one byte) and its
 * arguments; an answer is a status byte, then the answer's fields, or
 * for an error its kp_remedy (4 bytes) and message.  Every answer is
 * parsed as hostile: lengths and counts checked against the field's
 * limit, enums against their range, booleans made 0 or 1, error messages
 * made printable.  Every call has the worker's deadline (rpc_start).
 */
#ifndef KP_RPC_H
#define KP_RPC_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "sandbox.h"
#include "wire.h"

enum rpc_type {
	RPC_END = 0,
	RPC_U32,	/* a 4-byte integer field (uint32_t, unsigned) */
	RPC_U64,	/* a uint64_t field */
	RPC_SIZE,	/* a size_t field, at most MAX */
	RPC_ENUM,	/* an enum (or int) field, 0 to MAX - 1 */
	RPC_BOOL,	/* a bool field */
	RPC_STR,	/* a char * of at most MAX bytes, no NUL, may be NULL */
	RPC_MEM,	/* a pointer at OFF, its size_t length at LEN_OFF, at
			 * most MAX bytes; in a request it points into the
			 * message, in an answer it is a copy */
	RPC_ARRAY,	/* a pointer at OFF to LEN_OFF elements (size_t) of
			 * layout ELEM, at most MAX of them */
	RPC_TAIL,	/* a struct buf: the rest of the answer, handed over
			 * without a copy; the answer's only field */
	RPC_CODEC,	/* a field with its own encoding (CODEC) */
	RPC_FD,		/* in a request only, at most one: an int, a file
			 * descriptor sent along (SCM_RIGHTS); the worker's
			 * field holds its copy while it serves the call */
};

/* Field flags. */
#define RPC_PRINTABLE 1u	/* a string shown to users: control
				 * characters arrive as '?' */

struct rpc_layout;

/* A type that encodes itself (a journaled commit's writes). */
struct rpc_codec {
	void (*put)(struct buf *b, const void *field);
	/* Decode into FIELD; -1 if malformed (nothing left allocated). */
	int (*get)(struct wire_rd *r, void *field);
	void (*release)(void *field);
};

struct rpc_field {
	enum rpc_type type;
	size_t off;			/* offsetof the field */
	size_t len_off;			/* MEM, ARRAY: offsetof its length */
	size_t max;			/* see enum rpc_type */
	unsigned flags;
	const struct rpc_layout *elem;	/* ARRAY */
	const struct rpc_codec *codec;	/* CODEC */
};

/* A struct on the wire: its size and fields (ending with RPC_END). */
struct rpc_layout {
	size_t size;
	const struct rpc_field *f;
};

#define RPC_F(T, m, t, mx) \
	{ .type = (t), .off = offsetof(T, m), .max = (mx) }
#define RPC_LEN(T, m, l, t, mx) \
	{ .type = (t), .off = offsetof(T, m), .len_off = offsetof(T, l), \
	  .max = (mx) }

/* Runs in the worker: serve ARGS (decoded, or NULL if the op has none)
 * by filling ANSWER (zeroed; what it allocates is freed after it is
 * sent).  STATE is the worker's. */
typedef int rpc_serve_fn(void *state, const void *args, void *answer,
			 struct kp_error *err);

struct rpc_op {
	const char *name;		/* in messages: "read" */
	const struct rpc_layout *args;	/* NULL: none */
	const struct rpc_layout *answer; /* NULL: none */
	size_t answer_max;		/* bytes; 0: 1 MiB */
	rpc_serve_fn *serve;
};

/* A worker kind: its operations by number (row 0 unused). */
struct rpc_table {
	const char *worker;		/* "the direct worker" */
	const struct rpc_op *ops;
	size_t nops;
	/* Optional, in the worker: restate ERR, an operation's failure, from
	 * what STATE knows of its cause (a failed image channel explains the
	 * errors of the library that read through it). */
	void (*restate)(void *state, struct kp_error *err);
};

struct rpc_client;

/* Start a worker confined by O (lib/sandbox.h; O->timeout_s is every
 * call's deadline) that serves TABLE with STATE, a copy of which the
 * fork gives it. */
int rpc_start(const struct rpc_table *table, const struct sb_opts *o,
	      void *state, struct rpc_client **c_ret, struct kp_error *err);

/* Call OP with ARGS (a struct of its args layout, or NULL) and decode
 * the answer into ANSWER (its answer layout; release it with
 * rpc_release).  A worker's error becomes ERR, status and remedy kept. */
int rpc_call(struct rpc_client *c, unsigned op, const void *args,
	     void *answer, struct kp_error *err);

/* Free what rpc_call decoded into ANSWER for OP. */
void rpc_release(const struct rpc_client *c, unsigned op, void *answer);

/* Free what LAYOUT's pointer fields of S hold. */
void rpc_layout_release(const struct rpc_layout *layout, void *s);

/* Has the worker died or been stopped for a broken answer? */
bool rpc_dead(const struct rpc_client *c);

/* The worker's process id. */
int rpc_pid(const struct rpc_client *c);

/* Close the worker's socket, wait for it (its deadline, then it is
 * killed) and free C; -1 if it did not end normally. */
int rpc_stop(struct rpc_client *c, struct kp_error *err);

#endif

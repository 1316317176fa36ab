/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Growable byte buffer.  Invariant: data is either NULL (nothing added yet)
 * or NUL-terminated at data[len], so text can be used as a C string.  A
 * buffer on the stack starts as BUF_INIT and is released unconditionally.
 */
#ifndef KP_BUF_H
#define KP_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "error.h"

struct buf {
	char *data;
	size_t len;
	size_t alloc;
};

#define BUF_INIT { NULL, 0, 0 }

/* Make room for EXTRA more bytes; -1 with errno ENOMEM on failure. */
int buf_grow(struct buf *b, size_t extra);

/* Append N bytes; -1 with errno set on failure. */
int buf_add(struct buf *b, const void *p, size_t n);

/* Append a C string. */
int buf_addstr(struct buf *b, const char *s);

/* Append one byte. */
int buf_addch(struct buf *b, int c);

/* Append formatted text. */
int buf_addf(struct buf *b, const char *fmt, ...) KP_PRINTF(2, 3);
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) KP_PRINTF(2, 0);

/* Drop the contents but keep the allocation. */
void buf_reset(struct buf *b);

/* Free the contents; the buffer is BUF_INIT again. */
void buf_release(struct buf *b);

/* Free the contents after overwriting them (for secrets). */
void buf_wipe(struct buf *b);

/* Hand the storage to the caller, who frees it; never NULL on success. */
char *buf_detach(struct buf *b, size_t *len_ret);

/* Text of the buffer: "" when empty, never NULL. */
const char *buf_str(const struct buf *b);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Text from hives, images, kits and the command line made safe for a
 * terminal: control characters must not move the cursor, clear the screen
 * or fake a line of output.
 */
#ifndef KP_ESCAPE_H
#define KP_ESCAPE_H

#include <stddef.h>

#include "buf.h"

/* Append S[0..LEN) to OUT with C0 controls, DEL and bytes that are not
 * UTF-8 as \xNN, and C1 controls, line separators and bidirectional
 * overrides as \uNNNN; other UTF-8 is kept.  -1 when out of memory. */
int kp_escape(const char *s, size_t len, struct buf *out);

/* kp_escape of the string S into B (reset first); "" when out of memory.
 * The result lives until B is next used or released. */
const char *kp_escape_str(struct buf *b, const char *s);

#endif

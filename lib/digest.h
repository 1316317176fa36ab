/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SHA-256 digests (OpenSSL) as hex, for verifying what was written. */
#ifndef KP_DIGEST_H
#define KP_DIGEST_H

#include <stddef.h>

/* The SHA-256 of LEN bytes at DATA as 64 lowercase hex digits. */
void kp_sha256_hex(const void *data, size_t len, char out[65]);

#endif

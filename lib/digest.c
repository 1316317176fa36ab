/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SHA-256 digests as hex. */
#include <stdio.h>

#include <openssl/evp.h>

#include "digest.h"

void
kp_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	size_t i;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

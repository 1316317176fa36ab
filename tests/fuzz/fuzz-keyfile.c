/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TSIG key files, as tsig-keygen writes them, and KMS host key files. */
#include "fuzz.h"
#include "kms/dns.h"
#include "kms/kit.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kp_error err = KP_ERROR_INIT;
	struct tsig_key k;
	char path[64], key[30];
	int fd = fuzz_file(data, size, path);

	if (fd < 0)
		return 0;
	if (tsig_key_read(path, &k, &err) == 0)
		tsig_key_release(&k);
	kit_read_key(path, key, &err);
	close(fd);
	return 0;
}

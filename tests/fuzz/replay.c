/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Runs a fuzz target's LLVMFuzzerTestOneInput on each file named on the
 * command line: the kept inputs become regression tests without clang. */
#include <errno.h>

#include "fuzz.h"
#include "lib/buf.h"
#include "lib/error.h"
#include "lib/fileio.h"

int
main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		struct kp_error err = KP_ERROR_INIT;
		struct buf b = BUF_INIT;

		if (kp_read_file(argv[i], (size_t)64 << 20, &b, &err) < 0) {
			fprintf(stderr, "%s: %s\n", argv[0], err.msg);
			return 1;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)b.data, b.len);
		buf_release(&b);
	}
	printf("%d inputs\n", argc - 1);
	return 0;
}

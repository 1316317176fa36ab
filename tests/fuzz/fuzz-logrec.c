/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Transaction-log recovery: a dirty primary and two logs, cut out of the
 * input at the offsets given by its first eight bytes. */
#include "fuzz.h"
#include "hive/logrec.h"

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kp_error err = KP_ERROR_INIT;
	struct logrec_input in[2];
	struct logrec_result res;
	struct buf out = BUF_INIT;
	size_t a, b;

	if (size < 8)
		return 0;
	a = le32(data) % (size - 8 + 1);
	b = le32(data + 4) % (size - 8 - a + 1);
	data += 8;
	size -= 8;
	in[0] = (struct logrec_input){ "LOG1", true, data + a, b };
	in[1] = (struct logrec_input){ "LOG2", true, data + a + b,
				       size - a - b };
	logrec_scan(in, &res);
	logrec_recover(data, a, in, &out, &res, &err);
	buf_release(&out);
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image file headers (image/format.c): the input is a whole image file,
 * read as the header reader reads one, first told nothing about its format
 * (as for the image a user names), then as each format in turn (as for a
 * file another one names with its format). */
#include "fuzz.h"
#include "image/format.h"

struct mem {
	const uint8_t *p;
	size_t n;
};

static ssize_t
mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	const struct mem *m = ctx;

	if (off >= m->n)
		return 0;
	if (len > m->n - off)
		len = m->n - (size_t)off;
	memcpy(buf, m->p + off, len);
	return (ssize_t)len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem m = { data, size };
	int want;

	for (want = FMT_NR; want >= 0; want--) {
		struct kp_error err = KP_ERROR_INIT;
		struct fmt_info info;

		if (fmt_inspect(mem_read, &m, size, (enum fmt)want, &info,
				&err) == 0)
			fmt_info_release(&info);
	}
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* WIM headers as kmsprep's own reader reads them (image/format.c: wim()),
 * before wimlib sees the file: the input is a whole WIM file, probed as a
 * user's image and read as a WIM, normal and pipable; whatever it says
 * must agree with itself. */
#include <stdlib.h>

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
	static const enum fmt want[] = { FMT_NR, FMT_WIM };
	struct mem m = { data, size };
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct kp_error err = KP_ERROR_INIT;
		struct fmt_info info;

		if (fmt_inspect(mem_read, &m, size, want[i], &info, &err) < 0)
			continue;
		if (info.format == FMT_WIM &&
		    (info.wim_images > FMT_WIM_IMAGES_MAX || info.nrefs != 0 ||
		     info.size != size))
			abort();
		fmt_info_release(&info);
	}
	return 0;
}

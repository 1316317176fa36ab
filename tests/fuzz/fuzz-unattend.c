/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Answer files: inspection and the SkipRearm edit (libxml2 with no DTD,
 * no network, no entities). */
#include "fuzz.h"
#include "prep/unattend.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kp_error err = KP_ERROR_INIT;
	struct unattend_info info;
	struct buf out = BUF_INIT;
	bool changed;

	if (unattend_inspect((const char *)data, size, "fuzz.xml", &info,
			     &err) == 0)
		unattend_set_skip_rearm0((const char *)data, size, "fuzz.xml",
					 "amd64", &out, &changed, &err);
	buf_release(&out);
	return 0;
}

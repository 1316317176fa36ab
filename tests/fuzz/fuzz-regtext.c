/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* .reg files, as `hive import` reads them (UTF-8 or UTF-16, REGEDIT4 or
 * 5), for every kind of target hive. */
#include "fuzz.h"
#include "hive/regtext.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct regtext_map maps[] = {
		{ HIVE_KIND_SOFTWARE, NULL, false },
		{ HIVE_KIND_SYSTEM, NULL, true },
		{ HIVE_KIND_OTHER, "HKEY_LOCAL_MACHINE\\SOFTWARE", false },
	};
	struct kp_error err = KP_ERROR_INIT;
	struct regops ops = REGOPS_INIT;
	size_t i;

	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		regtext_parse((const char *)data, size, "fuzz.reg", &maps[i],
			      &ops, &err);
		regops_release(&ops);
	}
	return 0;
}

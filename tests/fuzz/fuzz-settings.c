/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Option values: KMS host[:port], publish-domain entries, GUIDs, numbers,
 * flags, DNS suffix lists, through the shared settings model.  Input:
 * records of one byte choosing the option, then its argument up to a NUL. */
#include "fuzz.h"
#include "hive/spp.h"
#include "hive/system.h"
#include "lib/valid.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kp_error err = KP_ERROR_INIT;
	struct spp_settings s;
	struct spp_publish p;
	char guid[KP_GUID_LEN + 1], *norm = NULL;
	size_t off = 0;

	spp_settings_init(&s);
	while (off < size) {
		const struct spp_option *o = &spp_options[data[off] %
							  spp_noptions];
		const uint8_t *arg = data + off + 1;
		size_t len = off + 1 < size ? strnlen((const char *)arg,
						      size - off - 1) : 0;
		char *a = fuzz_str(arg, len);

		spp_settings_option(&s, o->name, o->arg ? a : NULL, &err);
		spp_parse_publish(a, &p, &err);
		kp_parse_guid("guid", a, guid, &err);
		kp_is_hostname(a, true);
		sys_parse_search_list(a, &norm, &err);
		free(norm);
		norm = NULL;
		free(a);
		off += 1 + len + 1;
	}
	spp_settings_check(&s, &err);
	spp_settings_release(&s);
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hive read path over hivex: open (structural check, then hivex),
 * show (version and SPP report), export of the whole hive. */
#include "fuzz.h"
#include "hive/office.h"
#include "hive/regf.h"
#include "hive/regtext.h"
#include "hive/spp.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hive_open_opts o = { .flags = HIVE_FORCE_DIRTY,
				    .log1 = "/nonexistent.LOG1",
				    .log2 = "/nonexistent.LOG2" };
	struct kp_error err = KP_ERROR_INIT;
	struct office_report office;
	struct spp_report rep = { 0 };
	struct winver v = { 0 };
	struct buf out = BUF_INIT;
	struct hive *h = NULL;
	struct regf r;
	char path[64];
	uint32_t key;
	int fd;

	/* The independent reader too: it checks what hive_commit wrote. */
	if (regf_open(&r, data, size, &err) == 0)
		regf_lookup(&r, "Microsoft\\Windows NT\\CurrentVersion", &key);
	fd = fuzz_file(data, size, path);
	if (fd < 0)
		return 0;
	if (hive_open(path, &o, &h, &err) == 0) {
		if (winver_read(h, &v, &err) == 0 &&
		    spp_check_hive(h, &v, false, false, &err) == 0) {
			spp_read(h, &v, &rep, &err);
			if (office_read(h, &v, &office, &err) == 0)
				office_report_release(&office);
		}
		regtext_export(h, "", "HKEY_LOCAL_MACHINE\\SOFTWARE", &out, NULL,
			       &err);
		spp_report_release(&rep);
		winver_release(&v);
		hive_close(h);
	}
	buf_release(&out);
	close(fd);
	return 0;
}

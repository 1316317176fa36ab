/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Kits.  The first byte chooses: even, the rest is the kit file itself
 * (libarchive and every member check); odd, the rest is manifest.json in a
 * kit that also holds a fixed provision.cmd, whose SHA-256 the seed
 * manifests carry, so that the manifest checks are reached. */
#include <archive.h>
#include <archive_entry.h>

#include "fuzz.h"
#include "kms/kit.h"

static const char script[] = "@echo off\r\n";

static void
member(struct archive *a, const char *name, const void *p, size_t n)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	archive_write_header(a, e);
	archive_write_data(a, p, n);
	archive_entry_free(e);
}

/* A kit holding MANIFEST and the script, gzip'd tar, in OUT. */
static size_t
make_kit(const uint8_t *manifest, size_t n, uint8_t *out, size_t cap)
{
	struct archive *a = archive_write_new();
	size_t used = 0;

	archive_write_add_filter_gzip(a);
	archive_write_set_format_pax_restricted(a);
	archive_write_open_memory(a, out, cap, &used);
	member(a, KIT_MANIFEST, manifest, n);
	member(a, KIT_SCRIPT, script, sizeof(script) - 1);
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[1 << 20];
	struct kp_error err = KP_ERROR_INIT;
	struct spp_settings s;
	struct kit k;
	char path[64];
	int fd;

	if (size < 1 || size > sizeof(buf) / 2)
		return 0;
	if (data[0] & 1) {
		size_t n = make_kit(data + 1, size - 1, buf, sizeof(buf));

		fd = fuzz_file(buf, n, path);
	} else {
		fd = fuzz_file(data + 1, size - 1, path);
	}
	if (fd < 0)
		return 0;
	if (kit_read(path, NULL, &k, &err) == 0) {
		spp_settings_init(&s);
		kit_settings(&k, &s, &err);
		spp_settings_release(&s);
		kit_release(&k);
	}
	close(fd);
	return 0;
}

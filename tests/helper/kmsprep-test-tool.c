/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kmsprep-test-tool: fixtures for the tests and benchmarks, generated
 * rather than stored.
 *
 *   mkpe OUT [amd64|x86|arm64]   a minimal, valid PE executable
 *   mkhive OUT GROUPS KEYS VALUES [DATA]
 *                                a SOFTWARE-like hive with GROUPS x KEYS
 *                                keys under Classes, VALUES values each
 *   regf-check FILE              run the structural validator (exit 0/3)
 *   dirty FILE                   mark a hive dirty in place (primary
 *                                sequence number + 1, valid checksum), as
 *                                Windows leaves it with changes in its logs
 *   direct ...                   the direct image backend (direct-tool.c)
 *   landlock-abi                 the kernel's Landlock ABI, 0 if none
 *   patch FILE KEY key-name HEX [utf16]
 *                                store the raw bytes HEX as the name of KEY
 *                                (UTF-16LE with utf16, else Latin-1), as
 *                                Windows can: a lone surrogate, or a name
 *                                equal to a sibling's
 *   patch FILE KEY tombstone VALUE
 *                                make VALUE of KEY a layered key's tombstone
 *                                (type 0, size 0, data offset 0xFFFFFFFF)
 *   scripts DIR                  write every first-boot script kmsprep
 *                                generates into DIR, as an image would get
 *                                them (tests/t2300 runs them under Wine):
 *                                clone/ (generalize --mode clone
 *                                --activate, KMS host kms.example.com:1688),
 *                                clone-office/ (the same with an MSI
 *                                Office 2013 on OSPP: its own rearm),
 *                                clone-gvlk/ (--gvlk, no --activate),
 *                                key/ (image set --gvlk),
 *                                clone-guestfs/ (libguestfs' firstboot
 *                                service's scripts, --activate),
 *                                kit/ (a host kit's provision.cmd and the
 *                                wrapper), kit-office/ (provision.cmd with
 *                                an Office 2016 KMS host), each with
 *                                licensing.ps1
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hive/regf.h"
#include "hive/spp.h"
#include "kms/kit-apply.h"
#include "prep/firstboot.h"
#include "hive/regval.h"
#include "lib/fileio.h"
#include "lib/sandbox.h"
#include "lib/utf.h"

static int
die(const char *msg)
{
	fprintf(stderr, "kmsprep-test-tool: %s\n", msg);
	return 1;
}

/*
 * mkpe
 */

static int
mkpe(const char *out, const char *arch)
{
	unsigned char f[0x400] = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct kp_commit_opts co = { NULL, 0644, false, NULL };
	unsigned machine = 0x8664, magic = 0x20b, optsize = 0xf0;
	unsigned char *coff = f + 0x44, *opt = coff + 20, *sec;

	if (strcmp(arch, "x86") == 0) {
		machine = 0x14c;
		magic = 0x10b;
		optsize = 0xe0;
	} else if (strcmp(arch, "arm64") == 0) {
		machine = 0xaa64;
	}
	memcpy(f, "MZ", 2);
	regf_put32(f + 0x3c, 0x40);
	memcpy(f + 0x40, "PE\0\0", 4);
	coff[0] = machine & 0xff;
	coff[1] = machine >> 8;
	coff[2] = 1;				/* one section */
	coff[16] = (unsigned char)optsize;
	coff[18] = 0x22;			/* executable, large address */
	opt[0] = magic & 0xff;
	opt[1] = magic >> 8;
	regf_put32(opt + 16, 0x1000);		/* entry point */
	if (magic == 0x20b) {
		regf_put64(opt + 24, 0x140000000ull);	/* image base */
	} else {
		regf_put32(opt + 24, 0x1000);	/* base of data */
		regf_put32(opt + 28, 0x400000);	/* image base */
	}
	regf_put32(opt + 32, 0x1000);		/* section alignment */
	regf_put32(opt + 36, 0x200);		/* file alignment */
	opt[40] = 6;				/* OS version 6.0 */
	opt[48] = 6;				/* subsystem version 6.0 */
	regf_put32(opt + 56, 0x2000);		/* size of image */
	regf_put32(opt + 60, 0x200);		/* size of headers */
	opt[68] = 3;				/* console subsystem */
	regf_put32(opt + (magic == 0x20b ? 108 : 92), 16);
	sec = opt + optsize;
	memcpy(sec, ".text", 5);
	regf_put32(sec + 8, 0x10);
	regf_put32(sec + 12, 0x1000);
	regf_put32(sec + 16, 0x200);
	regf_put32(sec + 20, 0x200);
	regf_put32(sec + 36, 0x60000020);
	f[0x200] = 0xc3;			/* ret */
	if (kp_write_file_atomic(out, f, sizeof(f), &co, &err) < 0)
		return die(err.msg);
	return 0;
}

/*
 * mkhive: lays cells out in order, bin after bin.  Subkeys are named so
 * that their order is already the sorted order hash leaves need.
 */

struct builder {
	struct buf f;
	uint32_t bin_start, bin_end, pos;	/* hbins-relative */
	uint32_t sk;
	uint64_t keys;
};

static unsigned char *
at(struct builder *b, uint32_t off)
{
	return (unsigned char *)b->f.data + REGF_BASE_SIZE + off;
}

static int
grow_to(struct builder *b, size_t size)
{
	if (b->f.len >= size)
		return 0;
	if (buf_grow(&b->f, size - b->f.len) < 0)
		return -1;
	memset(b->f.data + b->f.len, 0, size - b->f.len);
	b->f.len = size;
	return 0;
}

/* Allocate a cell for LEN bytes of data; returns its offset. */
static uint32_t
cell(struct builder *b, size_t len)
{
	uint32_t size = (uint32_t)((len + 4 + 7) & ~(size_t)7), off;

	if (b->pos + size > b->bin_end) {
		uint32_t binsize;

		if (b->pos < b->bin_end)
			regf_put32(at(b, b->pos), b->bin_end - b->pos);
		binsize = (size + 32 + REGF_HBIN_SIZE - 1) & ~(REGF_HBIN_SIZE - 1);
		b->bin_start = b->bin_end;
		b->bin_end = b->bin_start + binsize;
		if (grow_to(b, REGF_BASE_SIZE + (size_t)b->bin_end) < 0) {
			fprintf(stderr, "out of memory\n");
			exit(1);
		}
		memcpy(at(b, b->bin_start), "hbin", 4);
		regf_put32(at(b, b->bin_start) + 4, b->bin_start);
		regf_put32(at(b, b->bin_start) + 8, binsize);
		b->pos = b->bin_start + 32;
	}
	off = b->pos;
	regf_put32(at(b, off), (uint32_t)-(int32_t)size);
	b->pos += size;
	return off;
}

static uint32_t
mk_key(struct builder *b, const char *name, uint32_t parent, uint16_t flags)
{
	size_t n = strlen(name);
	uint32_t off = cell(b, 76 + n);
	unsigned char *nk = at(b, off) + 4;

	memcpy(nk, "nk", 2);
	nk[2] = (unsigned char)(flags | 0x20);
	regf_put64(nk + 4, 132000000000000000ull);
	regf_put32(nk + 16, parent);
	regf_put32(nk + 28, REGF_NONE);
	regf_put32(nk + 32, REGF_NONE);
	regf_put32(nk + 40, REGF_NONE);
	regf_put32(nk + 44, b->sk);
	regf_put32(nk + 48, REGF_NONE);
	nk[72] = (unsigned char)n;
	memcpy(nk + 76, name, n);
	b->keys++;
	return off;
}

static uint32_t
name_hash(const char *name)
{
	uint32_t h = 0;

	for (; *name; name++)
		h = h * 37 + utf16_upper((unsigned char)*name);
	return h;
}

/* Give KEY its subkeys (already sorted) as one hash leaf. */
static void
set_subkeys(struct builder *b, uint32_t key, const uint32_t *kids,
	    char *const *names, uint32_t n)
{
	uint32_t list = cell(b, 4 + 8 * (size_t)n), i;
	unsigned char *l = at(b, list) + 4, *nk;

	memcpy(l, "lh", 2);
	l[2] = n & 0xff;
	l[3] = (unsigned char)(n >> 8);
	for (i = 0; i < n; i++) {
		regf_put32(l + 4 + 8 * i, kids[i]);
		regf_put32(l + 8 + 8 * i, name_hash(names[i]));
	}
	nk = at(b, key) + 4;
	regf_put32(nk + 20, n);
	regf_put32(nk + 28, list);
	regf_put32(nk + 52, 16);
}

/* Give KEY N values, each of DATA bytes (REG_SZ text or a DWORD). */
static void
set_values(struct builder *b, uint32_t key, const char *const *names,
	   const struct buf *data, uint32_t n)
{
	uint32_t list = cell(b, 4 * (size_t)n), i;

	for (i = 0; i < n; i++) {
		size_t nl = strlen(names[i]);
		uint32_t vk = cell(b, 20 + nl), d;
		unsigned char *v;

		regf_put32(at(b, list) + 4 + 4 * i, vk);
		v = at(b, vk) + 4;
		memcpy(v, "vk", 2);
		v[2] = (unsigned char)nl;
		v[16] = 1;
		memcpy(v + 20, names[i], nl);
		if (data[i].len <= 4) {
			regf_put32(v + 4, 0x80000000u | (uint32_t)data[i].len);
			memcpy(v + 8, data[i].data, data[i].len);
			regf_put32(v + 12, REGT_DWORD);
			continue;
		}
		d = cell(b, data[i].len);
		memcpy(at(b, d) + 4, data[i].data, data[i].len);
		v = at(b, vk) + 4;
		regf_put32(v + 4, (uint32_t)data[i].len);
		regf_put32(v + 8, d);
		regf_put32(v + 12, REGT_SZ);
	}
	regf_put32(at(b, key) + 4 + 36, n);
	regf_put32(at(b, key) + 4 + 40, list);
}

static int
mkhive(const char *out, unsigned groups, unsigned keys, unsigned values,
       unsigned datalen)
{
	static const char *const cv_names[] = {
		"ProductName", "EditionID", "InstallationType",
		"CurrentBuildNumber", "CurrentVersion",
	};
	static const char *const cv_data[] = {
		"Windows Server 2022 Datacenter", "ServerDatacenter", "Server",
		"20348", "6.3",
	};
	struct kp_error err = KP_ERROR_INIT;
	struct kp_commit_opts co = { NULL, 0644, false, NULL };
	struct builder b = { BUF_INIT, 0, 0, 0, 0, 0 };
	struct buf data[16] = { BUF_INIT }, text = BUF_INIT;
	const char *vnames[16] = { "Value00", "Value01", "Value02", "Value03",
		"Value04", "Value05", "Value06", "Value07", "Value08",
		"Value09", "Value10", "Value11", "Value12", "Value13",
		"Value14", "Value15" };
	char **names, *pool, *one[1];
	char *rootnames[2] = { (char *)"Classes", (char *)"Microsoft" };
	uint32_t root, ms, wnt, cv, spp, cls, top[2], *kids, *grp, g, k, n;
	unsigned char *base;

	if (values > 16 || keys > 65535 || groups > 65535)
		return die("at most 16 values and 65535 keys per level");
	n = keys > groups ? keys : groups;
	names = calloc(n, sizeof(*names));
	pool = calloc(n, 16);
	kids = calloc(keys, sizeof(*kids));
	grp = calloc(groups, sizeof(*grp));
	if (names == NULL || pool == NULL || kids == NULL || grp == NULL)
		return die("out of memory");
	for (k = 0; k < n; k++)
		names[k] = pool + 16 * (size_t)k;
	if (grow_to(&b, REGF_BASE_SIZE) < 0)
		return die("out of memory");
	/* The security record first, shared by every key. */
	{
		struct buf e = BUF_INIT;
		uint32_t skc;

		regf_new_empty(&e, 1, &err);
		skc = cell(&b, 20 + 144);
		memcpy(at(&b, skc) + 4, e.data + 0x1000 + 0x78 + 4, 20 + 144);
		b.sk = skc;
		regf_put32(at(&b, skc) + 8, skc);
		regf_put32(at(&b, skc) + 12, skc);
		buf_release(&e);
	}
	root = mk_key(&b, "ROOT", REGF_NONE, 0x0c);
	cls = mk_key(&b, "Classes", root, 0);
	ms = mk_key(&b, "Microsoft", root, 0);
	top[0] = cls;
	top[1] = ms;
	set_subkeys(&b, root, top, rootnames, 2);
	wnt = mk_key(&b, "Windows NT", ms, 0);
	one[0] = (char *)"Windows NT";
	set_subkeys(&b, ms, &wnt, one, 1);
	cv = mk_key(&b, "CurrentVersion", wnt, 0);
	one[0] = (char *)"CurrentVersion";
	set_subkeys(&b, wnt, &cv, one, 1);
	for (k = 0; k < 5; k++)
		regval_sz(cv_data[k], &data[k]);
	set_values(&b, cv, cv_names, data, 5);
	for (k = 0; k < 5; k++)
		buf_release(&data[k]);
	spp = mk_key(&b, "SoftwareProtectionPlatform", cv, 0);
	one[0] = (char *)"SoftwareProtectionPlatform";
	set_subkeys(&b, cv, &spp, one, 1);

	/* Value data: text of DATALEN characters. */
	for (k = 0; k < datalen; k++)
		buf_addch(&text, 'a' + k % 26);
	for (k = 0; k < values; k++)
		regval_sz(buf_str(&text), &data[k]);

	for (g = 0; g < groups; g++) {
		snprintf(names[g], 16, "Grp%05u", g);
		grp[g] = mk_key(&b, names[g], cls, 0);
	}
	set_subkeys(&b, cls, grp, names, groups);
	for (g = 0; g < groups; g++) {
		for (k = 0; k < keys; k++) {
			snprintf(names[k], 16, "Key%05u", k);
			kids[k] = mk_key(&b, names[k], grp[g], 0);
			if (values)
				set_values(&b, kids[k], vnames, data, values);
		}
		set_subkeys(&b, grp[g], kids, names, keys);
	}
	if (b.pos < b.bin_end)
		regf_put32(at(&b, b.pos), b.bin_end - b.pos);
	regf_put32(at(&b, b.sk) + 4 + 12, (uint32_t)b.keys);

	base = (unsigned char *)b.f.data;
	memcpy(base, "regf", 4);
	regf_put32(base + 4, 1);
	regf_put32(base + 8, 1);
	regf_put32(base + 0x14, 1);
	regf_put32(base + 0x18, 5);
	regf_put32(base + 0x20, 1);
	regf_put32(base + 0x24, root);
	regf_put32(base + 0x28, b.bin_end);
	regf_put32(base + 0x2c, 1);
	regf_set_checksum(base);
	if (kp_write_file_atomic(out, b.f.data, b.f.len, &co, &err) < 0)
		return die(err.msg);
	printf("%s: %llu keys, %zu bytes\n", out, (unsigned long long)b.keys,
	       b.f.len);
	for (k = 0; k < values; k++)
		buf_release(&data[k]);
	buf_release(&text);
	buf_release(&b.f);
	free(names);
	free(pool);
	free(kids);
	free(grp);
	return 0;
}

static int
regf_check(const char *path)
{
	struct kp_error err = KP_ERROR_INIT;
	struct kp_map m = KP_MAP_INIT;
	struct regf_stats st;

	if (kp_map_file(path, 0, REGF_MAX_FILE, &m, &err) < 0 ||
	    regf_validate(m.data, m.len, &st, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		kp_unmap(&m);
		return 3;
	}
	printf("%s: %zu bins, %zu cells, %zu keys, %zu values\n", path, st.bins,
	       st.cells, st.keys, st.values);
	kp_unmap(&m);
	return 0;
}

/*
 * dirty
 */

static int
dirty(const char *path)
{
	unsigned char base[REGF_BASE_SIZE];
	FILE *f = fopen(path, "r+b");
	int ok;

	if (f == NULL)
		return die(strerror(errno));
	ok = fread(base, 1, sizeof(base), f) == sizeof(base) &&
	     memcmp(base, "regf", 4) == 0;
	if (ok) {
		regf_put32(base + 4, regf_le32(base + 4) + 1);
		regf_set_checksum(base);
		ok = fseek(f, 0, SEEK_SET) == 0 &&
		     fwrite(base, 1, sizeof(base), f) == sizeof(base);
	}
	if (fclose(f) != 0 || !ok)
		return die("dirty: not a hive, or cannot rewrite its base block");
	return 0;
}

int direct_main(int argc, char **argv);	/* direct-tool.c */
int direct_dirty_main(int argc, char **argv);
int direct_supported_main(int argc, char **argv);
/*
 * patch: edits in place that hivex and kmsprep would never write.
 */

static int
patch(const char *path, const char *key, const char *what, const char *arg,
      bool utf16)
{
	struct kp_error err = KP_ERROR_INIT;
	struct kp_commit_opts co = { NULL, 0644, false, NULL };
	struct buf f = BUF_INIT;
	struct regf r;
	uint32_t off, cap;
	unsigned char *nk;

	if (kp_read_file(path, REGF_MAX_FILE, &f, &err) < 0 ||
	    regf_open(&r, f.data, f.len, &err) < 0)
		return die(err.msg);
	if (regf_lookup(&r, key, &off) != 1)
		return die("patch: no such key");
	nk = (unsigned char *)f.data + REGF_BASE_SIZE + off;
	cap = 0u - regf_le32(nk) - 4;
	nk += 4;
	if (strcmp(what, "key-name") == 0) {
		size_t n = strlen(arg) / 2, i;

		if (strlen(arg) % 2 || n == 0 || n > cap - 76)
			return die("patch: the name must be whole bytes that "
				   "fit the key's cell");
		for (i = 0; i < n; i++) {
			unsigned v;

			if (sscanf(arg + 2 * i, "%2x", &v) != 1)
				return die("patch: bad hex");
			nk[76 + i] = (unsigned char)v;
		}
		nk[72] = (unsigned char)n;
		nk[73] = (unsigned char)(n >> 8);
		nk[2] = (unsigned char)(utf16 ? nk[2] & ~0x20 : nk[2] | 0x20);
	} else if (strcmp(what, "tombstone") == 0) {
		uint32_t nval = regf_le32(nk + 36), i;
		const unsigned char *l = (unsigned char *)f.data +
			REGF_BASE_SIZE + regf_le32(nk + 40) + 4;
		unsigned char *vk = NULL;

		for (i = 0; i < nval && vk == NULL; i++) {
			unsigned char *v = (unsigned char *)f.data +
				REGF_BASE_SIZE + regf_le32(l + 4 * i) + 4;

			if (regf_le16(v + 2) == strlen(arg) &&
			    memcmp(v + 20, arg, strlen(arg)) == 0)
				vk = v;
		}
		if (vk == NULL)
			return die("patch: no such value (Latin-1 name)");
		regf_put32(vk + 4, 0);
		regf_put32(vk + 8, REGF_NONE);
		regf_put32(vk + 12, REGT_NONE);
	} else if (strcmp(what, "key-tombstone") == 0) {
		/* The layer semantics (IsTombstone) in the key node, and the
		 * base block's flag that the hive has layered keys. */
		nk[13] = (unsigned char)((nk[13] & ~0x3) | 0x1);
		((unsigned char *)f.data)[0x90] |= REGF_LAYERED;
		regf_set_checksum((unsigned char *)f.data);
	} else {
		return die("patch: key-name, tombstone or key-tombstone");
	}
	if (kp_write_file_atomic(path, f.data, f.len, &co, &err) < 0)
		return die(err.msg);
	buf_release(&f);
	return 0;
}

/*
 * scripts
 */

static int
put(const char *dir, const char *name, struct buf *b)
{
	struct kp_error err = KP_ERROR_INIT;
	struct kp_commit_opts co = { NULL, 0644, false, NULL };
	char path[4096];
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	r = kp_write_file_atomic(path, b->data, b->len, &co, &err);
	buf_release(b);
	if (r < 0)
		fprintf(stderr, "kmsprep-test-tool: %s\n", err.msg);
	return r;
}

static int
scripts(const char *dir)
{
	struct kp_error err = KP_ERROR_INIT;
	struct buf one = BUF_INIT, two = BUF_INIT, ps1 = BUF_INIT;
	struct buf v = BUF_INIT, port = BUF_INIT;
	struct spp_settings set;
	struct kit_spec spec = { "kms.example.com", &set, NULL, NULL, NULL };
	struct kit_office office = { kit_office_host("2016"), NULL, "-" };
	struct spp_item items[2];
	struct spp_report rep = { "Microsoft\\Windows NT\\CurrentVersion\\"
				  "SoftwareProtectionPlatform", true, items, 2,
				  NULL, 0 };
	char sub[4096];
	struct office_install oinst = { .kind = OFFICE_MSI, .version = "15.0",
		.name = "Office 2013",
		.path = (char *)"C:\\Program Files\\Microsoft Office\\Office15\\",
		.lic = OFFICE_LIC_OSPP };
	struct office_kms okms = { .key = (char *)OFFICE_OSPP_KEY,
		.scope = "ospp", .name = (char *)"kms.example.com",
		.port = (char *)"1688" };
	struct office_report office_rep = { false, &oinst, 1, &okms, 1 };

	/* What spp_read reports for an image with a KMS host set. */
	regval_sz("kms.example.com", &v);
	regval_sz("1688", &port);
	items[0] = (struct spp_item){ &spp_values[SPP_KMS_NAME],
				      (char *)"KeyManagementServiceName",
				      REGT_SZ, (unsigned char *)v.data, v.len,
				      false };
	items[1] = (struct spp_item){ &spp_values[SPP_KMS_PORT],
				      (char *)"KeyManagementServicePort",
				      REGT_SZ, (unsigned char *)port.data,
				      port.len, false };
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return die(strerror(errno));
	snprintf(sub, sizeof(sub), "%s/clone", dir);
	if (mkdir(sub, 0755) < 0 && errno != EEXIST)
		return die(strerror(errno));
	if (bat_clone_scripts(&rep, NULL, true, NULL, false, &one, &two, &err) < 0)
		return die(err.msg);
	if (ps1_licensing(&ps1) < 0 || put(sub, "firstboot.cmd", &one) < 0 ||
	    put(sub, "firstboot-activate.cmd", &two) < 0 ||
	    put(sub, FIRSTBOOT_PS1, &ps1) < 0)
		return 1;
	/* With Office 2013 (MSI) on Windows 7: OSPP, its own rearm, and the
	 * OSPP KMS host put back after it. */
	snprintf(sub, sizeof(sub), "%s/clone-office", dir);
	if (mkdir(sub, 0755) < 0 && errno != EEXIST)
		return die(strerror(errno));
	if (bat_clone_scripts(&rep, &office_rep, true, NULL, false, &one,
			      &two, &err) < 0)
		return die(err.msg);
	if (put(sub, "firstboot.cmd", &one) < 0 ||
	    put(sub, "firstboot-activate.cmd", &two) < 0)
		return 1;
	/* Sysprep mode's Office rearm, for SetupComplete.cmd to call. */
	snprintf(sub, sizeof(sub), "%s/sysprep-office", dir);
	if (mkdir(sub, 0755) < 0 && errno != EEXIST)
		return die(strerror(errno));
	if (bat_office_sysprep_script(&one, &office_rep, &err) < 0)
		return die(err.msg);
	if (put(sub, OFFICE_REARM_CMD, &one) < 0)
		return 1;
	/* Without --activate, with --gvlk (Windows 10/11 Enterprise's). */
	snprintf(sub, sizeof(sub), "%s/clone-gvlk", dir);
	if (mkdir(sub, 0755) < 0 && errno != EEXIST)
		return die(strerror(errno));
	if (bat_clone_scripts(&rep, NULL, false, "NPPR9-FWDCX-D2C8J-H872K-2YT43",
			      false, &one, &two, &err) < 0)
		return die(err.msg);
	buf_release(&two);
	if (put(sub, "firstboot.cmd", &one) < 0)
		return 1;
	/* image set --gvlk's script (no clone first boot staged). */
	snprintf(sub, sizeof(sub), "%s/key", dir);
	if (mkdir(sub, 0755) < 0 && errno != EEXIST)
		return die(strerror(errno));
	if (bat_key_script("NPPR9-FWDCX-D2C8J-H872K-2YT43", false, &one,
			   &err) < 0)
		return die(err.msg);
	if (put(sub, FIRSTBOOT_KEY, &one) < 0)
		return 1;
	/* For libguestfs' firstboot service, with --activate. */
	snprintf(sub, sizeof(sub), "%s/clone-guestfs", dir);
	if (mkdir(sub, 0755) < 0 && errno != EEXIST)
		return die(strerror(errno));
	if (bat_clone_scripts(&rep, NULL, true, NULL, true, &one, &two, &err) < 0)
		return die(err.msg);
	if (put(sub, GUESTFS_ONE, &one) < 0 || put(sub, GUESTFS_TWO, &two) < 0)
		return 1;
	buf_release(&v);
	buf_release(&port);
	snprintf(sub, sizeof(sub), "%s/kit", dir);
	if (mkdir(sub, 0755) < 0 && errno != EEXIST)
		return die(strerror(errno));
	spp_settings_init(&set);
	if (kit_provision_script(&spec, &one) < 0 || kit_wrapper_script(&two) < 0 ||
	    ps1_licensing(&ps1) < 0 || put(sub, KIT_SCRIPT, &one) < 0 ||
	    put(sub, "kit-firstboot.cmd", &two) < 0 ||
	    put(sub, FIRSTBOOT_PS1, &ps1) < 0)
		return 1;
	/* The same kit with an Office 2016 KMS host. */
	snprintf(sub, sizeof(sub), "%s/kit-office", dir);
	if (mkdir(sub, 0755) < 0 && errno != EEXIST)
		return die(strerror(errno));
	spec.office = &office;
	if (kit_provision_script(&spec, &one) < 0 ||
	    put(sub, KIT_SCRIPT, &one) < 0)
		return 1;
	spp_settings_release(&set);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "direct") == 0)
		return direct_main(argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "landlock-abi") == 0)
		return printf("%d\n", sb_landlock_abi()) < 0;
	if (argc >= 2 && strcmp(argv[1], "direct-dirty") == 0)
		return direct_dirty_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "direct-supported") == 0)
		return direct_supported_main(argc - 1, argv + 1);
	if (argc == 3 && strcmp(argv[1], "scripts") == 0)
		return scripts(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "mkpe") == 0)
		return mkpe(argv[2], argc > 3 ? argv[3] : "amd64");
	if (argc >= 6 && strcmp(argv[1], "mkhive") == 0)
		return mkhive(argv[2], (unsigned)atoi(argv[3]),
			      (unsigned)atoi(argv[4]), (unsigned)atoi(argv[5]),
			      argc > 6 ? (unsigned)atoi(argv[6]) : 40);
	if (argc == 3 && strcmp(argv[1], "regf-check") == 0)
		return regf_check(argv[2]);
	if (argc == 3 && strcmp(argv[1], "dirty") == 0)
		return dirty(argv[2]);
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "patch") == 0)
		return patch(argv[2], argv[3], argv[4], argv[5],
			     argc == 7 && strcmp(argv[6], "utf16") == 0);
	fprintf(stderr, "usage: kmsprep-test-tool mkpe OUT [amd64|x86|arm64]\n"
		"       kmsprep-test-tool mkhive OUT GROUPS KEYS VALUES [DATA]\n"
		"       kmsprep-test-tool regf-check FILE\n"
		"       kmsprep-test-tool dirty FILE\n"
		"       kmsprep-test-tool patch FILE KEY key-name HEX [utf16]\n"
		"       kmsprep-test-tool patch FILE KEY tombstone VALUE\n"
		"       kmsprep-test-tool patch FILE KEY key-tombstone -\n"
		"       kmsprep-test-tool scripts DIR\n");
	return 2;
}

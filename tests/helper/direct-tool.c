/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kmsprep-test-tool direct: drive the direct image backend (image/ntfsvol.h)
 * from the tests and benchmarks, and build sample images with it.
 *
 *   kmsprep-test-tool direct [-r] [-n] [-b] [-f FMT] [-o OVERLAY]
 *                            [-p PART] IMAGE OP [ARGS] [OP [ARGS]]...
 *
 *   -r read-only   -n through qemu-nbd even if raw   -f image format
 *   -b accept files the image names (a backing file)
 *   -s in a sandboxed worker (image/worker.h)
 *   -o write to a new qcow2 overlay   -p use NTFS partition PART (0: whole
 *   disk) as the root, Windows or not; otherwise the first Windows root
 *
 * OPs, applied in order (a write makes the root writable first):
 *   roots               print the table, the roots and the locked volumes
 *   read PATH OUT       copy a file out
 *   put PATH FILE       replace (or create) a file from FILE
 *   secret PATH FILE    the same, SYSTEM and Administrators only
 *   mkdir PATH          make a directory and its parents
 *   rm PATH             remove a file
 *   ls PATH             list a directory, one name a line
 *   sd PATH OUT         write the security descriptor's bytes to OUT and
 *                       print the attributes ("attrib 0x...")
 *   attrib PATH HEX     set a file's attributes (in process only)
 *   set PATH KEY NAME DATA
 *                       in the hive PATH, set string value NAME of KEY
 *                       (through the hive layer) and replace the hive
 *   journal PATH KEY NAME DATA LOCAL
 *                       the same edit, journaled: the
 *                       hive is copied out to LOCAL and edited there by
 *                       the hive layer's journaled commit (as 'kmsprep
 *                       hive set' does); the same pages then go into the
 *                       image in place through PATH.LOG1/2 (ntfsvol_journal);
 *                       prints "written BYTES" (bytes written to the
 *                       image) and "pages N"
 *   forbidden           (-s, KMSPREP_SANDBOX_SELFTEST=1) make the worker
 *                       call socket()
 *
 *   kmsprep-test-tool direct-supported [-k] IMAGE
 *                       can the direct backend do it: "yes" or "no: WHY"
 *                       (-k: a BitLocker key was given)
 *
 *   kmsprep-test-tool direct-dirty IMAGE PART
 *                       set the dirty flag of NTFS partition PART, as a
 *                       crash leaves it (through libntfs-3g directly)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hive/hive.h"
#include "hive/journal.h"
#include "hive/logrec.h"
#include "hive/regval.h"
#include "lib/fileio.h"
#include "image/ntfsvol.h"
#include "image/worker.h"
#include "image/imgio.h"
#include "image/ntfs3g.h"
#include "image/ntfsdev.h"
#include "image/partition.h"

int direct_main(int argc, char **argv);
int direct_dirty_main(int argc, char **argv);
int direct_supported_main(int argc, char **argv);

/* One session, in process or in a sandboxed worker: the same calls. */
struct sess {
	struct ntfsvol *d;
	struct worker_session *w;
};

#define CALL(s, fn, ...) ((s)->w ? worker_##fn((s)->w, __VA_ARGS__) : \
			  ntfsvol_##fn((s)->d, __VA_ARGS__))

static int
fail(struct kp_error *err)
{
	fprintf(stderr, "kmsprep-test-tool: direct: %s\n", err->msg);
	return err->status ? err->status : 1;
}

static int
writable(struct sess *s, size_t root, struct kp_error *err)
{
	unsigned mirror = 0;

	return s->w ? worker_make_writable(s->w, root, &mirror, err) :
	       ntfsvol_make_writable(s->d, root, err);
}

static int
op_roots(struct sess *s)
{
	const struct ntfsvol_root *r;
	const struct ntfsvol_locked *l;
	size_t n, i;

	const char *t = s->w ? worker_table(s->w) : ntfsvol_table(s->d);

	printf("table %s\n", t ? t : "?");
	r = s->w ? worker_roots(s->w, &n) : ntfsvol_roots(s->d, &n);
	for (i = 0; i < n; i++) {
		const char *why = ntfsvol_root_unwritable(&r[i]);

		printf("root %zu part %u start %llu size %llu systemroot %s "
		       "state %d%s%s\n", i, r[i].part,
		       (unsigned long long)r[i].start,
		       (unsigned long long)r[i].size, r[i].systemroot,
		       (int)r[i].state, why ? " unwritable: " : "",
		       why ? why : "");
	}
	l = s->w ? worker_locked(s->w, &n) : ntfsvol_locked(s->d, &n);
	for (i = 0; i < n; i++)
		printf("locked part %u%s: %s\n", l[i].part,
		       l[i].bitlocker ? " bitlocker" : "", l[i].why);
	return 0;
}

/* Set one string value in the hive at PATH, through the hive layer, and
 * replace the hive: what `image set` does to SOFTWARE. */
static int
op_set(struct sess *s, size_t root, char **a, struct kp_error *err)
{
	struct buf data = BUF_INIT, sz = BUF_INIT;
	struct hive_open_opts ho = { .flags = HIVE_WRITE | HIVE_NO_LOGS };
	struct hive_commit_opts hc = { 0 };
	struct hive_commit_result res = { 0 };
	char tmp[64];
	struct hive *h = NULL;
	int fd, r = -1;

	/* A scratch copy: in memory (tmpfs) where there is one, so that the
	 * hive layer's fsync of it costs nothing. */
	snprintf(tmp, sizeof(tmp), "%s/kmsprep-direct-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (CALL(s, read, root, a[0], (size_t)1 << 30, &data, err) < 0)
		return -1;
	fd = mkstemp(tmp);
	if (fd < 0 || kp_write_all(fd, data.data, data.len) < 0) {
		kp_fail(err, 1, "cannot write %s", tmp);
		goto out;
	}
	buf_release(&data);
	if (regval_sz(a[3], &sz) < 0) {
		kp_fail_oom(err);
		goto out;
	}
	if (hive_open(tmp, &ho, &h, err) < 0 ||
	    hive_set(h, a[1], a[2], 1 /* REG_SZ */, sz.data, sz.len,
		     err) < 0 ||
	    hive_commit(h, &hc, &res, err) < 0)
		goto out;
	free(res.backup);
	hive_close(h);
	h = NULL;
	if (kp_read_file(tmp, (size_t)1 << 30, &data, err) < 0 ||
	    writable(s, root, err) < 0 ||
	    CALL(s, replace, root, a[0], data.data, data.len, 0, err) < 0)
		goto out;
	r = 0;
out:
	if (h)
		hive_close(h);
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	buf_release(&data);
	buf_release(&sz);
	return r;
}

/* journal: see the usage above. */
static int
op_journal(struct sess *s, size_t root, char **a, struct kp_error *err)
{
	struct buf old = BUF_INIT, new = BUF_INIT, sz = BUF_INIT;
	struct buf lb[2] = { BUF_INIT, BUF_INIT };
	struct hive_open_opts ho = { .flags = HIVE_WRITE };
	struct hive_commit_opts hc = { 0 };
	struct hive_commit_result res = { 0 };
	struct logrec_input in[2];
	struct logrec_result scan;
	struct journal_diff d;
	struct journal_writes p;
	struct kp_error e2 = KP_ERROR_INIT;
	struct kp_commit_opts co = { NULL, 0644, false, NULL };
	struct hive *h = NULL;
	char *logp[2] = { NULL, NULL };
	uint64_t written = 0;
	int i, r = -1;

	memset(&p, 0, sizeof(p));
	if (CALL(s, read, root, a[0], (size_t)1 << 30, &old, err) < 0 ||
	    kp_write_file_atomic(a[4], old.data, old.len, &co, err) < 0)
		goto out;
	/* The image's logs, as the hive layer scans those beside a file. */
	memset(in, 0, sizeof(in));
	for (i = 0; i < 2; i++) {
		if (asprintf(&logp[i], "%s.LOG%d", a[0], i + 1) < 0) {
			kp_fail_oom(err);
			goto out;
		}
		if (CALL(s, read, root, logp[i], (size_t)1 << 30, &lb[i],
			 &e2) == 0) {
			in[i].path = logp[i];
			in[i].present = true;
			in[i].data = (const unsigned char *)lb[i].data;
			in[i].len = lb[i].len;
		}
	}
	logrec_scan(in, &scan);
	if (regval_sz(a[3], &sz) < 0) {
		kp_fail_oom(err);
		goto out;
	}
	hc.journal = true;
	if (hive_open(a[4], &ho, &h, err) < 0 ||
	    hive_set(h, a[1], a[2], 1 /* REG_SZ */, sz.data, sz.len,
		     err) < 0 ||
	    hive_commit(h, &hc, &res, err) < 0)
		goto out;
	if (!res.journaled) {
		kp_fail(err, 1, "not journaled locally: %s", res.rewrite_why ?
			res.rewrite_why : "?");
		goto out;
	}
	if (kp_read_file(a[4], (size_t)1 << 30, &new, err) < 0 ||
	    journal_diff_mem((const unsigned char *)old.data, old.len,
			     (const unsigned char *)new.data, new.len, &d,
			     err) < 0 ||
	    journal_writes_build((const unsigned char *)old.data, &d, &scan,
				 (const unsigned char *)new.data, new.len, &p,
				 err) < 0 ||
	    writable(s, root, err) < 0 ||
	    CALL(s, journal, root, a[0], logp[p.log], NULL, 0, &p, &written,
		 err) < 0)
		goto out;
	printf("written %llu\npages %u\nlog %d\n", (unsigned long long)written,
	       p.pages, p.log + 1);
	r = 0;
out:
	journal_writes_release(&p);
	if (h)
		hive_close(h);
	free(res.backup);
	for (i = 0; i < 2; i++) {
		free(logp[i]);
		buf_release(&lb[i]);
	}
	buf_release(&old);
	buf_release(&new);
	buf_release(&sz);
	return r;
}

static int
run_op(struct sess *s, size_t root, const char *op, char **a, int na,
       int *used, struct kp_error *err)
{
	struct buf b = BUF_INIT;
	struct kp_commit_opts co = { NULL, 0644, false, NULL };
	int r = -1;

#define NEED(k)                                                         \
	do {                                                            \
		if (na < (k))                                           \
			return kp_fail(err, 2, "%s: needs %d arguments", \
				       op, (k));                        \
		*used = (k);                                            \
	} while (0)
	*used = 0;
	if (strcmp(op, "roots") == 0)
		return op_roots(s);
	if (strcmp(op, "read") == 0) {
		NEED(2);
		if (CALL(s, read, root, a[0], (size_t)1 << 30, &b, err) == 0 &&
		    kp_write_file_atomic(a[1], b.data ? b.data : "", b.len, &co,
					 err) == 0)
			r = 0;
	} else if (strcmp(op, "put") == 0 || strcmp(op, "secret") == 0) {
		NEED(2);
		if (kp_read_file(a[1], (size_t)1 << 30, &b, err) == 0 &&
		    writable(s, root, err) == 0 &&
		    CALL(s, replace, root, a[0], b.data ? b.data : "", b.len,
			       op[0] == 's' ? DR_SECRET : 0, err) == 0)
			r = 0;
	} else if (strcmp(op, "mkdir") == 0) {
		NEED(1);
		if (writable(s, root, err) == 0 &&
		    CALL(s, mkdir, root, a[0], err) == 0)
			r = 0;
	} else if (strcmp(op, "rm") == 0) {
		NEED(1);
		if (writable(s, root, err) == 0 &&
		    CALL(s, remove, root, a[0], err) == 0)
			r = 0;
	} else if (strcmp(op, "ls") == 0) {
		char **v;
		size_t i;

		NEED(1);
		v = CALL(s, ls, root, a[0], err);
		if (v) {
			for (i = 0; v[i]; i++) {
				printf("%s\n", v[i]);
				free(v[i]);
			}
			free(v);
			r = 0;
		}
	} else if (strcmp(op, "sd") == 0) {
		uint32_t attrib = 0;

		NEED(2);
		if (CALL(s, get_sd, root, a[0], &b, &attrib, err) == 0 &&
		    kp_write_file_atomic(a[1], b.data, b.len, &co, err) == 0) {
			printf("attrib 0x%08x\n", attrib);
			r = 0;
		}
	} else if (strcmp(op, "attrib") == 0) {
		NEED(2);
		if (s->w)
			return kp_fail(err, 2, "attrib: not with -s");
		if (writable(s, root, err) == 0 &&
		    ntfsvol_set_attrib(s->d, root, a[0],
				       (uint32_t)strtoul(a[1], NULL, 16), err) == 0)
			r = 0;
	} else if (strcmp(op, "forbidden") == 0) {
		if (s->w == NULL)
			return kp_fail(err, 2, "forbidden: needs -s");
		r = worker_selftest_forbidden(s->w, err);
	} else if (strcmp(op, "set") == 0) {
		NEED(4);
		r = op_set(s, root, a, err);
	} else if (strcmp(op, "journal") == 0) {
		NEED(5);
		r = op_journal(s, root, a, err);
	} else {
		return kp_fail(err, 2, "unknown operation '%s'", op);
	}
#undef NEED
	buf_release(&b);
	return r;
}

int
direct_main(int argc, char **argv)
{
	struct kp_error err = KP_ERROR_INIT;
	struct imgio_opts o = { .readonly = false };
	struct sess ss = { NULL, NULL }, *s = &ss;
	bool sandbox = false;
	size_t root = 0, n;
	long part = -1;
	int c, i, used;

	optind = 1;
	while ((c = getopt(argc, argv, "+rnsbf:o:p:")) != -1) {
		switch (c) {
		case 'r':
			o.readonly = true;
			break;
		case 'b':
			o.allow_refs = true;
			break;
		case 'n':
			o.force_nbd = true;
			break;
		case 's':
			sandbox = true;
			break;
		case 'f':
			o.format = optarg;
			break;
		case 'o':
			o.overlay = optarg;
			break;
		case 'p':
			part = atol(optarg);
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: kmsprep-test-tool direct [-r] [-n] [-b] "
			"[-f FMT] [-o OVERLAY] [-p PART] IMAGE OP...\n");
		return 2;
	}
	if (sandbox ? worker_open(argv[optind], &o, 0, &s->w, &err) :
	    ntfsvol_open(argv[optind], &o, &s->d, &err))
		return fail(&err);
	if (part >= 0) {
		if (CALL(s, open_volume, (unsigned)part, &root, &err) < 0)
			goto bad;
	} else if ((s->w ? worker_find_windows(s->w, &err) :
		    ntfsvol_find_windows(s->d, &err)) < 0) {
		goto bad;
	}
	for (i = optind + 1; i < argc; i += 1 + used) {
		if (s->w)
			worker_roots(s->w, &n);
		else
			ntfsvol_roots(s->d, &n);
		if (n == 0 && strcmp(argv[i], "roots") != 0 &&
		    strcmp(argv[i], "forbidden") != 0) {
			kp_fail(&err, 3, "no Windows found");
			goto bad;
		}
		if (run_op(s, root, argv[i], argv + i + 1, argc - i - 1, &used,
			   &err) < 0)
			goto bad;
	}
	if (CALL(s, close, true, &err) < 0)
		return fail(&err);
	return 0;
bad:
	c = fail(&err);
	CALL(s, close, false, &err);
	return c;
}

int
direct_dirty_main(int argc, char **argv)
{
	struct kp_error err = KP_ERROR_INIT;
	struct imgio_opts io = { .readonly = false };
	struct imgio *ch = NULL;
	struct part *parts = NULL;
	const char *table;
	ntfs_volume *vol = NULL;
	unsigned mirror = 0;
	size_t n, i;
	int r = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: kmsprep-test-tool direct-dirty IMAGE "
			"PART\n");
		return 2;
	}
	if (imgio_open(argv[1], &io, &ch, &err) < 0 ||
	    part_list(ch, &parts, &n, &table, &err) < 0) {
		fail(&err);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (parts[i].number == (unsigned)atoi(argv[2]))
			break;
	if (i < n)
		vol = ntfsdev_mount(ch, parts[i].start, parts[i].size, "dirty",
				    NTFS_MNT_RECOVER, &mirror);
	if (vol == NULL) {
		fprintf(stderr, "kmsprep-test-tool: cannot mount\n");
		goto out;
	}
	if (ntfs_volume_write_flags(vol, vol->flags | VOLUME_IS_DIRTY) == 0)
		r = 0;
	if (ntfsdev_umount(vol) < 0)
		r = 1;
out:
	free(parts);
	if (imgio_close(ch, true, &err) < 0)
		r = 1;
	return r;
}

int
direct_supported_main(int argc, char **argv)
{
	struct kp_error err = KP_ERROR_INIT;
	struct imgio_opts o = { .readonly = true };
	bool key = argc == 3 && strcmp(argv[1], "-k") == 0;
	char why[256] = "";
	int r;

	if (argc != 2 + key) {
		fprintf(stderr, "usage: kmsprep-test-tool direct-supported "
			"[-k] IMAGE\n");
		return 2;
	}
	r = ntfsvol_supported(argv[1 + key], &o, key, why, sizeof(why), &err);
	if (r < 0)
		return fail(&err);
	if (r == 1)
		printf("yes\n");
	else
		printf("no: %s\n", why);
	return 0;
}

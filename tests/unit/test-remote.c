/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hive server (hive/remote.h): a hive opened through it reads, edits
 * and commits as one opened here; it cannot read outside its directory
 * (where the kernel has Landlock); a forbidden system call ends it with a
 * clean error; handles may outlive it; and a plan's message form refuses
 * what does not fit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hive/hive.h"
#include "hive/regval.h"
#include "hive/remote.h"
#include "hivebuild.h"
#include "lib/wire.h"
#include "unit.h"

static const char *const keys[] = { "A\\B", "A\\C", "Ä", NULL };

/* Open PATH through a new server (started on its directory) for writing. */
static int
open_remote(const char *path, struct hive_server **srv, struct hive **h,
	    struct kp_error *err)
{
	if (hive_server_start(hb_tmpdir(), 0, srv, err) < 0)
		return -1;
	return hive_open(path, &(struct hive_open_opts){
		.flags = HIVE_WRITE, .server = *srv }, h, err);
}

/* MSG with the hive's path as "HIVE": its full path here, its name
 * relative to the server's directory there. */
static const char *
msg_of(const struct hive *h, const struct kp_error *err)
{
	static char out[KP_ERROR_MSG_MAX];
	const char *name = hive_path(h), *p = strstr(err->msg, name);

	if (p == NULL) {
		name = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
		p = strstr(err->msg, name);
	}
	if (p == NULL)
		return err->msg;
	snprintf(out, sizeof(out), "%.*sHIVE%s", (int)(p - err->msg),
		 err->msg, p + strlen(name));
	return out;
}

/* Run the same calls on H and log what each returned, values and names
 * included, into LOG. */
static void
script(struct hive *h, struct buf *log)
{
	static unsigned char big[20000];
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_result res;
	struct hive_value v, *vals = NULL;
	struct buf sz = BUF_INIT;
	hive_key k = 0, a = 0, *kids = NULL;
	size_t n = 0, i;
	char *name;
	int r;

#define LOG(fmt, ...) buf_addf(log, fmt "\n", __VA_ARGS__)
	LOG("dirty %d keys %zu kind %d", hive_state(h)->dirty,
	    hive_state(h)->stats.keys, (int)hive_kind(h));
	LOG("find a %d", hive_find(h, "a", &a, &err));
	LOG("find nope %d", hive_find(h, "A\\nope", &k, &err));
	LOG("find folded %d", hive_find(h, "ä", &k, &err));
	r = hive_subkeys(h, a, &kids, &n, &err);
	LOG("subkeys %d %zu", r, n);
	for (i = 0; r == 0 && i < n; i++) {
		name = hive_key_name(h, kids[i], &err);
		LOG("  %s", name ? name : "(null)");
		free(name);
	}
	free(kids);
	LOG("find A\\B %d", hive_find(h, "A\\B", &k, &err));
	r = hive_get(h, k, "V", &v, &err);
	LOG("get V %d %s %u %zu", r, r == 1 ? v.name : "", r == 1 ? v.type : 0,
	    r == 1 ? v.len : 0);
	if (r == 1)
		hive_value_release(&v);
	LOG("get none %d", hive_get(h, k, "none", &v, &err));
	regval_sz("new", &sz);
	LOG("set %d", hive_set(h, "A\\B", "w", REGT_SZ, sz.data, sz.len,
			       &err));
	LOG("set new key %d", hive_set(h, "A\\D\\E", "x", REGT_DWORD,
				       "\1\0\0\0", 4, &err));
	LOG("unset %d", hive_unset(h, "A\\C", "V", &err));
	LOG("unset absent %d", hive_unset(h, "A\\C", "none", &err));
	r = hive_delete_key(h, "ä", &err);
	LOG("delete %d %s", r, r < 0 ? msg_of(h, &err) : "");
	LOG("mkpath %d", hive_mkpath(h, "F", &k, &err));
	LOG("mkpath, no key wanted %d", hive_mkpath(h, "F\\G", NULL, &err));
	LOG("edits %zu", hive_nr_edits(h));
	r = hive_find(h, "A\\B", &k, &err);
	r = r == 1 ? hive_values(h, k, &vals, &n, &err) : -1;
	LOG("values %d %zu", r, r == 0 ? n : 0);
	for (i = 0; r == 0 && i < n; i++)
		LOG("  %s %u %zu %d", vals[i].name, vals[i].type, vals[i].len,
		    vals[i].tombstone);
	if (r == 0)
		hive_values_free(vals, n);
	/* An error, with its status and message. */
	r = hive_set(h, "A", "", REGT_BINARY, big, sizeof(big), &err);
	LOG("too big %d %d %s", r, err.status, msg_of(h, &err));
	r = hive_commit(h, &(struct hive_commit_opts){ .journal = true }, &res,
			&err);
	LOG("commit %d written %d journaled %d in place %d seq %u", r,
	    res.written, res.journaled, res.in_place, res.seq);
	free(res.backup);
	/* The handle is spent. */
	r = hive_find(h, "A", &k, &err);
	LOG("spent %d %s", r, msg_of(h, &err));
#undef LOG
	buf_release(&sz);
}

/* The same calls on a hive here and through a server answer the same and
 * leave byte-identical files. */
static void
same_as_here(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_server *srv = NULL;
	struct hive *h = NULL;
	struct buf b = BUF_INIT, here = BUF_INIT, there = BUF_INIT;
	struct buf f1 = BUF_INIT, f2 = BUF_INIT;

	/* Edits stamp keys with this time, so that the files compare. */
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	CHECK(hb_make(hb_path("here"), keys, &b) == 0);
	CHECK(hb_save(hb_path("there"), &b) == 0);
	CHECK(hive_open(hb_path("here"), &(struct hive_open_opts){
		.flags = HIVE_WRITE }, &h, &err) == 0);
	if (h)
		script(h, &here);
	hive_close(h);
	h = NULL;
	CHECK(open_remote(hb_path("there"), &srv, &h, &err) == 0);
	if (h)
		script(h, &there);
	hive_close(h);
	CHECK(hive_server_stop(srv, &err) == 0);
	unsetenv("SOURCE_DATE_EPOCH");
	CHECK_STR(buf_str(&there), buf_str(&here));
	if (strcmp(buf_str(&there), buf_str(&here)))
		printf("# here:\n%s# there:\n%s", buf_str(&here),
		       buf_str(&there));
	/* It did edit: the script's own checks are in its log. */
	CHECK(strstr(buf_str(&here), "commit 0 written 1 journaled 1") != NULL);
	CHECK(strstr(buf_str(&here), "find folded 1") != NULL);
	CHECK(hb_load(hb_path("here"), &f1) == 0);
	CHECK(hb_load(hb_path("there"), &f2) == 0);
	CHECK(f1.len == f2.len && memcmp(f1.data, f2.data, f1.len) == 0);
	CHECK(f1.len != b.len || memcmp(f1.data, b.data, b.len) != 0);
	buf_release(&b);
	buf_release(&here);
	buf_release(&there);
	buf_release(&f1);
	buf_release(&f2);
}

/* A planned commit comes back as a plan to carry out, file untouched. */
static void
plan_comes_back(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_commit_opts o = { .journal = true, .defer = true };
	struct hive_commit_result res;
	struct hive_server *srv = NULL;
	struct hive *h = NULL;
	struct buf b = BUF_INIT, after = BUF_INIT;
	size_t i, bytes = 0;

	CHECK(hb_make(hb_path("p"), keys, &b) == 0);
	CHECK(open_remote(hb_path("p"), &srv, &h, &err) == 0);
	CHECK(h && hive_set(h, "A\\B", "v", REGT_DWORD, "\2\0\0\0", 4,
			    &err) == 0);
	CHECK(h && hive_commit(h, &o, &res, &err) == 0);
	CHECK(res.deferred != NULL);
	if (res.deferred) {
		CHECK(res.deferred->p.pages > 0);
		CHECK_EQ(res.deferred->p.seq, res.seq);
		for (i = 0; i < res.deferred->p.nw; i++)
			bytes += res.deferred->p.w[i].len;
		CHECK_EQ(bytes, res.deferred->p.bytes);
	}
	CHECK(hb_load(hb_path("p"), &after) == 0);
	CHECK(after.len == b.len && memcmp(after.data, b.data, b.len) == 0);
	free(res.backup);
	hive_journal_free(res.deferred);
	/* Stopped first: the handle still closes (as images close late). */
	CHECK(hive_server_stop(srv, &err) == 0);
	hive_close(h);
	buf_release(&b);
	buf_release(&after);
}

static void
fenced_into_its_directory(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_server *srv = NULL;
	struct buf b = BUF_INIT;
	int e = -1;

	setenv("KMSPREP_SANDBOX_SELFTEST", "1", 1);
	CHECK(hive_server_start(hb_tmpdir(), 0, &srv, &err) == 0);
	unsetenv("KMSPREP_SANDBOX_SELFTEST");
	if (srv == NULL)
		return;
	CHECK(hb_make(hb_path("f"), NULL, &b) == 0);
	CHECK(hive_server_selftest_open(srv, hb_path("f"), false, &e,
					&err) == 0);
	CHECK_EQ(e, 0);
	if (hive_server_fenced(srv)) {
		CHECK(hive_server_selftest_open(srv, hb_path("new"), true, &e,
						&err) == 0);
		CHECK_EQ(e, 0);
		CHECK(hive_server_selftest_open(srv, "/etc/passwd", false, &e,
						&err) == 0);
		CHECK_EQ(e, EACCES);
		CHECK(hive_server_selftest_open(srv, "/tmp/kmsprep-unit-out",
						true, &e, &err) == 0);
		CHECK_EQ(e, EACCES);
		CHECK(access("/tmp/kmsprep-unit-out", F_OK) < 0);
	} else {
		printf("# no Landlock here: not fenced\n");
	}
	/* A forbidden call ends it; what follows fails cleanly. */
	CHECK(hive_server_selftest_forbidden(srv, &err) < 0);
	CHECK(strstr(err.msg, "forbidden system call") != NULL);
	CHECK(hive_server_selftest_open(srv, hb_path("f"), false, &e,
					&err) < 0);
	CHECK(hive_server_stop(srv, &err) < 0);
	buf_release(&b);
}

/* A server started with the test switches NAMES set (and then unset). */
static struct hive_server *
start_without(const char *const *names, struct kp_error *err)
{
	struct hive_server *srv = NULL;
	size_t i;

	setenv("KMSPREP_SANDBOX_SELFTEST", "1", 1);
	for (i = 0; names[i]; i++)
		setenv(names[i], "1", 1);
	CHECK(hive_server_start(hb_tmpdir(), 0, &srv, err) == 0);
	for (i = 0; names[i]; i++)
		unsetenv(names[i]);
	unsetenv("KMSPREP_SANDBOX_SELFTEST");
	return srv;
}

/* Set value v of HIVE to X and commit it: journaled as a plan (PLAN) or
 * rewritten whole. */
static int
edit(struct hive_server *srv, const char *hive, unsigned x, bool plan,
     struct kp_error *err)
{
	struct hive_commit_opts o = { .journal = true, .defer = true };
	struct hive_commit_result res;
	struct hive *h = NULL;
	unsigned char v[4] = { (unsigned char)x, 0, 0, 0 };
	int r = -1;

	if (hive_open(hb_path(hive), &(struct hive_open_opts){
		.flags = HIVE_WRITE, .server = srv }, &h, err) == 0 &&
	    hive_set(h, "A\\B", "v", REGT_DWORD, v, 4, err) == 0)
		r = hive_commit(h, plan ? &o : NULL, &res, err);
	if (r == 0) {
		CHECK(!plan || (res.deferred != NULL && res.deferred->p.pages > 0));
		hive_journal_free(res.deferred);
		free(res.backup);
	}
	hive_close(h);
	return r;
}

/* As on a kernel without Landlock, run by root: jailed in its directory
 * (a mount namespace and chroot).  Nothing outside is there; inside it
 * writes, and a hive is rewritten whole as well as journaled. */
static void
jailed_without_landlock(void)
{
	static const char *const sw[] = { "KMSPREP_SANDBOX_NO_LANDLOCK", NULL };
	struct kp_error err = KP_ERROR_INIT;
	struct hive_server *srv;
	struct buf b = BUF_INIT;
	int e = -1;

	if (geteuid() != 0) {
		printf("# SKIP not root: no chroot\n");
		return;
	}
	srv = start_without(sw, &err);
	if (srv == NULL)
		return;
	CHECK(hive_server_fenced(srv));
	CHECK_STR(hive_server_fence(srv), "chroot");
	CHECK(hb_make(hb_path("j"), keys, &b) == 0);
	CHECK_EQ(edit(srv, "j", 3, true, &err), 0);
	CHECK_EQ(edit(srv, "j", 4, false, &err), 0);
	CHECK(hive_server_selftest_open(srv, "/etc/passwd", false, &e,
					&err) == 0);
	CHECK_EQ(e, ENOENT);
	CHECK(hive_server_selftest_open(srv, "../kmsprep-unit-out", true, &e,
					&err) == 0);
	CHECK(e == 0 && access("/tmp/kmsprep-unit-out", F_OK) < 0);
	CHECK(hive_server_selftest_open(srv, "/proc/1/status", false, &e,
					&err) == 0);
	CHECK_EQ(e, ENOENT);
	hive_server_stop(srv, NULL);
	buf_release(&b);
}

/* Without Landlock and without root: it reads what this user can, writes
 * nowhere (an open for writing fails), and still makes a journaled
 * plan; a hive that must be rewritten whole fails cleanly. */
static void
unfenced_reads_only(void)
{
	static const char *const sw[] = { "KMSPREP_SANDBOX_NO_LANDLOCK",
					  "KMSPREP_SANDBOX_NO_CHROOT", NULL };
	struct kp_error err = KP_ERROR_INIT;
	struct hive_server *srv = start_without(sw, &err);
	struct buf b = BUF_INIT;
	int e = -1;

	if (srv == NULL)
		return;
	CHECK(!hive_server_fenced(srv));
	CHECK(hb_make(hb_path("u"), keys, &b) == 0);
	CHECK_EQ(edit(srv, "u", 3, true, &err), 0);
	CHECK(hive_server_selftest_open(srv, "/etc/passwd", false, &e,
					&err) == 0);
	CHECK_EQ(e, 0);
	CHECK(hive_server_selftest_open(srv, "w", true, &e, &err) == 0);
	CHECK_EQ(e, EACCES);
	CHECK(access(hb_path("w"), F_OK) < 0);
	CHECK_EQ(edit(srv, "u", 4, false, &err), -1);
	CHECK(strstr(err.msg, "Permission denied") != NULL);
	/* The server goes on. */
	CHECK(hive_server_selftest_open(srv, "/etc/passwd", false, &e,
					&err) == 0);
	hive_server_stop(srv, NULL);
	buf_release(&b);
}

/* Without the switch at start, the test hooks are refused. */
static void
selftest_needs_switch(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct hive_server *srv = NULL;
	int e = -1;

	unsetenv("KMSPREP_SANDBOX_SELFTEST");
	CHECK(hive_server_start(hb_tmpdir(), 0, &srv, &err) == 0);
	if (srv == NULL)
		return;
	CHECK(hive_server_selftest_forbidden(srv, &err) < 0);
	CHECK(strstr(err.msg, "no self-test") != NULL);
	CHECK(hive_server_selftest_open(srv, "/etc/passwd", false, &e,
					&err) < 0);
	CHECK(hive_server_stop(srv, &err) == 0);
}

/* A plan's message form: what was put comes back; a step past the
 * writes, a log other than 0 or 1, steps in another order, a log write
 * past the log's size, or a cut message is refused. */
static void
plan_wire(void)
{
	static const unsigned char page[8] = "abcdefgh";
	struct journal_write w[2] = { { 4096, page, 8 }, { 0, page, 4 } };
	struct journal_writes p, q;
	struct buf b = BUF_INIT;
	struct wire_rd r;
	size_t cut;

	memset(&p, 0, sizeof(p));
	p.w = w;
	p.nw = 2;
	p.log = 1;
	p.seq = 7;
	p.pages = 1;
	p.bytes = 12;
	p.step[0] = (struct journal_step){ JOURNAL_LOG, 0, 1, 8192, true };
	p.step[1] = (struct journal_step){ JOURNAL_PRIMARY, 1, 0, 0, false };
	p.step[2] = (struct journal_step){ JOURNAL_PRIMARY, 1, 0, 0, false };
	p.step[3] = (struct journal_step){ JOURNAL_PRIMARY, 1, 1, 0, false };
	journal_writes_put(&b, &p);
	r = (struct wire_rd){ (unsigned char *)b.data, b.len, false };
	CHECK(journal_writes_get(&r, &q) == 0);
	CHECK_EQ(r.left, 0);
	CHECK(q.log == 1 && q.seq == 7 && q.bytes == 12 && q.nw == 2);
	CHECK(q.step[0].verify && q.step[0].size == 8192);
	CHECK(q.step[3].file == JOURNAL_PRIMARY && q.step[3].first == 1);
	CHECK(q.w[0].off == 4096 && q.w[0].len == 8 &&
	      memcmp(q.w[0].data, page, 8) == 0);
	free(q.w);
	for (cut = 0; cut < b.len; cut++) {
		r = (struct wire_rd){ (unsigned char *)b.data, cut, false };
		CHECK(journal_writes_get(&r, &q) < 0);
		free(q.w);
	}
	buf_reset(&b);
	p.step[3].n = 2;	/* w[1..3) of 2 */
	journal_writes_put(&b, &p);
	r = (struct wire_rd){ (unsigned char *)b.data, b.len, false };
	CHECK(journal_writes_get(&r, &q) < 0);
	free(q.w);
	buf_reset(&b);
	p.step[3].n = 1;
	/* A write past the largest hive. */
	w[1].off = ((uint64_t)1 << 31) - 2;
	journal_writes_put(&b, &p);
	r = (struct wire_rd){ (unsigned char *)b.data, b.len, false };
	CHECK(journal_writes_get(&r, &q) < 0);
	free(q.w);
	w[1].off = 0;
	/* The primary's step first. */
	buf_reset(&b);
	p.step[1].file = JOURNAL_LOG;
	journal_writes_put(&b, &p);
	r = (struct wire_rd){ (unsigned char *)b.data, b.len, false };
	CHECK(journal_writes_get(&r, &q) < 0);
	free(q.w);
	p.step[1].file = JOURNAL_PRIMARY;
	/* A log write that ends past the log's size. */
	buf_reset(&b);
	p.step[0].size = 4100;
	journal_writes_put(&b, &p);
	r = (struct wire_rd){ (unsigned char *)b.data, b.len, false };
	CHECK(journal_writes_get(&r, &q) < 0);
	free(q.w);
	p.step[0].size = 8192;
	buf_reset(&b);
	p.log = 2;
	journal_writes_put(&b, &p);
	r = (struct wire_rd){ (unsigned char *)b.data, b.len, false };
	CHECK(journal_writes_get(&r, &q) < 0);
	free(q.w);
	buf_release(&b);
}

static void
wire_strings(void)
{
	struct buf b = BUF_INIT;
	struct wire_rd r;
	bool was_null;
	char *s;

	wire_putstr(&b, "abc");
	wire_putstr(&b, NULL);
	wire_putmem(&b, "a\0b", 3);
	r = (struct wire_rd){ (unsigned char *)b.data, b.len, false };
	s = wire_getstr(&r, 16, &was_null);
	CHECK_STR(s ? s : "", "abc");
	CHECK(!was_null);
	free(s);
	CHECK(wire_getstr(&r, 16, &was_null) == NULL && was_null && !r.bad);
	/* A NUL inside a string is refused. */
	CHECK(wire_getstr(&r, 16, NULL) == NULL && r.bad);
	r = (struct wire_rd){ (unsigned char *)b.data, b.len, false };
	/* Over its limit, or NULL where none is allowed. */
	CHECK(wire_getstr(&r, 2, NULL) == NULL && r.bad);
	r = (struct wire_rd){ (unsigned char *)b.data + 7, b.len - 7, false };
	CHECK(wire_getstr(&r, 16, NULL) == NULL && r.bad);
	buf_release(&b);
}

static const struct unit_test tests[] = {
	TEST(same_as_here),
	TEST(plan_comes_back),
	TEST(fenced_into_its_directory),
	TEST(jailed_without_landlock),
	TEST(unfenced_reads_only),
	TEST(selftest_needs_switch),
	TEST(plan_wire),
	TEST(wire_strings),
};

UNIT_MAIN(tests)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hive server and the remote hive handles (remote.h): every call a
 * row of the table below (lib/rpc.h), served by the local implementation
 * (local.h) in the server.  The server is a fork of this program, so the
 * hive state (a structure without pointers) travels as it is and is
 * cleaned up on arrival: whatever parsed a hostile hive may have been
 * subverted.
 */
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "journal.h"
#include "lib/clock.h"
#include "lib/rpc.h"
#include "local.h"
#include "remote.h"

/* A request's time limit unless the caller gives one, the NTFS worker's
 * (--request-timeout's default): checking and editing a 2 GiB hive takes
 * seconds; a server stuck (or made to loop) for a minute is stopped. */
#define HS_TIMEOUT 60

/* Hives one server holds at once: a Windows installation has a handful. */
#define HS_MAX_HIVES 64
/* The longest path or name it takes or gives: a value name is at most
 * 16383 UTF-16 units, each at most 3 bytes of UTF-8. */
#define HS_STR_MAX (64u << 10)
/* The most values or subkeys of one key an answer holds. */
#define HS_LIST_MAX (1u << 24)

/*
 * The messages.
 */

/* A call on hive ID: a key, a path, a name (each as the call needs). */
struct a_call {
	uint32_t id;
	uint64_t k;
	char *path;
	char *name;
};

static const struct rpc_field a_call_f[] = {
	RPC_F(struct a_call, id, RPC_U32, 0),
	RPC_F(struct a_call, k, RPC_U64, 0),
	RPC_F(struct a_call, path, RPC_STR, HS_STR_MAX),
	RPC_F(struct a_call, name, RPC_STR, HS_STR_MAX),
	{ .type = RPC_END },
};
static const struct rpc_layout a_call_l = { sizeof(struct a_call),
					    a_call_f };

struct a_open {
	char *path, *log1, *log2;
	uint32_t flags;
};

static const struct rpc_field a_open_f[] = {
	RPC_F(struct a_open, path, RPC_STR, HS_STR_MAX),
	RPC_F(struct a_open, log1, RPC_STR, HS_STR_MAX),
	RPC_F(struct a_open, log2, RPC_STR, HS_STR_MAX),
	RPC_F(struct a_open, flags, RPC_U32, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout a_open_l = { sizeof(struct a_open),
					    a_open_f };

struct a_set {
	uint32_t id;
	char *path, *name;
	uint32_t type;
	void *data;
	size_t len;
};

static const struct rpc_field a_set_f[] = {
	RPC_F(struct a_set, id, RPC_U32, 0),
	RPC_F(struct a_set, path, RPC_STR, HS_STR_MAX),
	RPC_F(struct a_set, name, RPC_STR, HS_STR_MAX),
	RPC_F(struct a_set, type, RPC_U32, 0),
	RPC_LEN(struct a_set, data, len, RPC_MEM, UINT32_MAX),
	{ .type = RPC_END },
};
static const struct rpc_layout a_set_l = { sizeof(struct a_set), a_set_f };

struct a_commit {
	uint32_t id;
	bool force, journal, defer;
};

static const struct rpc_field a_commit_f[] = {
	RPC_F(struct a_commit, id, RPC_U32, 0),
	RPC_F(struct a_commit, force, RPC_BOOL, 0),
	RPC_F(struct a_commit, journal, RPC_BOOL, 0),
	RPC_F(struct a_commit, defer, RPC_BOOL, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout a_commit_l = { sizeof(struct a_commit),
					      a_commit_f };

/* Control characters as '?': text from the server reaches a terminal. */
static void
printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* A string of the state, cut to its array and made printable, whatever
 * arrived. */
#define TERMINATE(a) ((a)[sizeof(a) - 1] = '\0', printable(a))

/* Booleans as 0 or 1, whatever byte arrived. */
static void
clean_bool(bool *b)
{
	unsigned char c;

	memcpy(&c, b, 1);
	*b = c != 0;
}

static void
clean_state(struct hive_state *st)
{
	int i;

	TERMINATE(st->dup_key);
	TERMINATE(st->dup_name);
	TERMINATE(st->logs.why);
	TERMINATE(st->logs.damage);
	clean_bool(&st->dirty);
	clean_bool(&st->recovered);
	clean_bool(&st->logs.usable);
	clean_bool(&st->hdr.checksum_ok);
	for (i = 0; i < 2; i++) {
		TERMINATE(st->logs.log[i].why);
		clean_bool(&st->logs.log[i].present);
		clean_bool(&st->logs.log[i].empty);
		clean_bool(&st->logs.log[i].valid);
	}
}

/* The state crosses as its bytes: it holds no pointer. */
static void
state_put(struct buf *b, const void *field)
{
	wire_putmem(b, field, sizeof(struct hive_state));
}

static int
state_get(struct wire_rd *r, void *field)
{
	size_t n;
	const unsigned char *p = wire_getmem(r, sizeof(struct hive_state), &n);

	if (p == NULL || n != sizeof(struct hive_state))
		return -1;
	memcpy(field, p, n);
	clean_state(field);
	return 0;
}

static void
state_release(void *field)
{
	(void)field;
}

static const struct rpc_codec state_codec = { state_put, state_get,
					      state_release };

struct r_open {
	uint32_t id;
	struct hive_state st;
};

static const struct rpc_field r_open_f[] = {
	RPC_F(struct r_open, id, RPC_U32, 0),
	{ .type = RPC_CODEC, .off = offsetof(struct r_open, st),
	  .codec = &state_codec },
	{ .type = RPC_END },
};
static const struct rpc_layout r_open_l = { sizeof(struct r_open),
					    r_open_f };

/* A yes/no, a key and the count of edits after an edit. */
struct r_result {
	bool yes;
	uint64_t k;
	size_t nedits;
};

static const struct rpc_field r_result_f[] = {
	RPC_F(struct r_result, yes, RPC_BOOL, 0),
	RPC_F(struct r_result, k, RPC_U64, 0),
	RPC_F(struct r_result, nedits, RPC_SIZE, SIZE_MAX),
	{ .type = RPC_END },
};
static const struct rpc_layout r_result_l = { sizeof(struct r_result),
					      r_result_f };

struct r_kind {
	int kind;
};

static const struct rpc_field r_kind_f[] = {
	RPC_F(struct r_kind, kind, RPC_ENUM, HIVE_KIND_OTHER + 1),
	{ .type = RPC_END },
};
static const struct rpc_layout r_kind_l = { sizeof(struct r_kind),
					    r_kind_f };

struct key {
	uint64_t k;
};

static const struct rpc_field key_f[] = {
	RPC_F(struct key, k, RPC_U64, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout key_l = { sizeof(struct key), key_f };

struct r_keys {
	struct key *v;
	size_t n;
};

static const struct rpc_field r_keys_f[] = {
	{ .type = RPC_ARRAY, .off = offsetof(struct r_keys, v),
	  .len_off = offsetof(struct r_keys, n), .max = HS_LIST_MAX,
	  .elem = &key_l },
	{ .type = RPC_END },
};
static const struct rpc_layout r_keys_l = { sizeof(struct r_keys),
					    r_keys_f };

struct r_name {
	char *name;
};

static const struct rpc_field r_name_f[] = {
	RPC_F(struct r_name, name, RPC_STR, HS_STR_MAX),
	{ .type = RPC_END },
};
static const struct rpc_layout r_name_l = { sizeof(struct r_name),
					    r_name_f };

static const struct rpc_field value_f[] = {
	RPC_F(struct hive_value, name, RPC_STR, HS_STR_MAX),
	RPC_F(struct hive_value, type, RPC_U32, 0),
	RPC_LEN(struct hive_value, data, len, RPC_MEM, UINT32_MAX),
	RPC_F(struct hive_value, tombstone, RPC_BOOL, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout value_l = { sizeof(struct hive_value),
					   value_f };

/* Values: all of a key's, or the one found (none: not there). */
struct r_values {
	struct hive_value *v;
	size_t n;
};

static const struct rpc_field r_values_f[] = {
	{ .type = RPC_ARRAY, .off = offsetof(struct r_values, v),
	  .len_off = offsetof(struct r_values, n), .max = HS_LIST_MAX,
	  .elem = &value_l },
	{ .type = RPC_END },
};
static const struct rpc_layout r_values_l = { sizeof(struct r_values),
					      r_values_f };

/* A deferred commit, or none, after a byte that says which. */
static void
writes_put(struct buf *b, const void *field)
{
	const struct hive_journal *const *hp = field;

	buf_addch(b, *hp != NULL);
	if (*hp)
		journal_writes_put(b, &(*hp)->p);
}

/* The deferred commit in an answer, its bytes copied into HP->pages. */
static int
writes_get(struct wire_rd *r, void *field)
{
	const unsigned char *there = wire_take(r, 1);
	struct hive_journal *hp;
	size_t i, total = 0;

	*(struct hive_journal **)field = NULL;
	if (there == NULL)
		return -1;
	if (*there == 0)
		return 0;
	if ((hp = calloc(1, sizeof(*hp))) == NULL)
		return -1;
	if (journal_writes_get(r, &hp->p) < 0)
		goto fail;
	for (i = 0; i < hp->p.nw; i++)
		total += hp->p.w[i].len;
	hp->pages = malloc(total ? total : 1);
	if (hp->pages == NULL)
		goto fail;
	for (i = 0, total = 0; i < hp->p.nw; i++) {
		memcpy(hp->pages + total, hp->p.w[i].data, hp->p.w[i].len);
		hp->p.w[i].data = hp->pages + total;
		total += hp->p.w[i].len;
	}
	*(struct hive_journal **)field = hp;
	return 0;
fail:
	hive_journal_free(hp);
	return -1;
}

static void
writes_release(void *field)
{
	hive_journal_free(*(struct hive_journal **)field);
	*(struct hive_journal **)field = NULL;
}

static const struct rpc_codec writes_codec = { writes_put, writes_get,
					     writes_release };

static const struct rpc_field r_commit_f[] = {
	RPC_F(struct hive_commit_result, written, RPC_BOOL, 0),
	RPC_F(struct hive_commit_result, seq, RPC_U32, 0),
	RPC_F(struct hive_commit_result, journaled, RPC_BOOL, 0),
	RPC_F(struct hive_commit_result, pages, RPC_U32, 0),
	{ .type = RPC_STR, .off = offsetof(struct hive_commit_result,
					   rewrite_why),
	  .max = HS_STR_MAX, .flags = RPC_PRINTABLE },
	RPC_F(struct hive_commit_result, in_place, RPC_BOOL, 0),
	RPC_F(struct hive_commit_result, pe_why, RPC_ENUM, PE_FB_NR),
	{ .type = RPC_CODEC, .off = offsetof(struct hive_commit_result, deferred),
	  .codec = &writes_codec },
	{ .type = RPC_END },
};
static const struct rpc_layout r_commit_l = {
	sizeof(struct hive_commit_result), r_commit_f };

struct r_errno {
	uint32_t e;
};

static const struct rpc_field r_errno_f[] = {
	RPC_F(struct r_errno, e, RPC_U32, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout r_errno_l = { sizeof(struct r_errno),
					     r_errno_f };

/*
 * The server: local handles, by number.
 */

struct hs_state {
	struct hive *h[HS_MAX_HIVES];
	bool selftest;
	bool die_on_open;	/* self-test: a forbidden call at each open */
	bool loop_on_open;	/* self-test: no end to the first open */
	unsigned slow_ms;	/* self-test: each request computes this long */
};

/* As a big hive on a slow machine: each request within the deadline,
 * but long. */
static void
slow(const struct hs_state *hs)
{
	uint64_t end = kp_clock_ms() + hs->slow_ms;

	while (hs->slow_ms && kp_clock_ms() < end)
		;
}

/* The hive a call names, or NULL with ERR. */
static struct hive *
hive_of(struct hs_state *hs, uint32_t id, struct kp_error *err)
{
	slow(hs);
	if (id >= HS_MAX_HIVES || hs->h[id] == NULL) {
		kp_fail(err, KP_ERR_FAIL, "bad request");
		return NULL;
	}
	return hs->h[id];
}

#define HIVE_OF(hs, id, err) \
	struct hive *h = hive_of(hs, id, err); \
	if (h == NULL) \
		return -1

static int
s_open(void *st, const void *args, void *ans, struct kp_error *err)
{
	struct hs_state *hs = st;
	const struct a_open *a = args;
	struct r_open *r = ans;
	struct hive_open_opts o = { .flags = a->flags, .log1 = a->log1,
				    .log2 = a->log2 };
	uint32_t id;

	for (id = 0; id < HS_MAX_HIVES && hs->h[id]; id++)
		;
	/* As a hostile hive could make it do: the filter kills it. */
	if (hs->die_on_open)
		(void)socket(AF_INET, SOCK_STREAM, 0);
	/* As a hive whose structure loops could make it do. */
	while (hs->loop_on_open)
		;
	slow(hs);
	if (a->path == NULL)
		return kp_fail(err, KP_ERR_FAIL, "bad request");
	if (id == HS_MAX_HIVES)
		return kp_fail(err, KP_ERR_FAIL, "too many hives open");
	if (local_open(a->path, &o, &hs->h[id], err) < 0)
		return -1;
	r->id = id;
	r->st = hs->h[id]->st;
	return 0;
}

static int
s_close(void *st, const void *args, void *ans, struct kp_error *err)
{
	struct hs_state *hs = st;
	const struct a_call *a = args;

	HIVE_OF(hs, a->id, err);
	(void)ans;
	local_close(h);
	hs->h[a->id] = NULL;
	return 0;
}

static int
s_kind(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_call *a = args;

	HIVE_OF(st, a->id, err);
	((struct r_kind *)ans)->kind = (int)local_kind(h);
	return 0;
}

static int
s_find(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_call *a = args;
	struct r_result *r = ans;
	hive_key k = 0;
	int rc;

	HIVE_OF(st, a->id, err);
	if (a->path == NULL)
		return kp_fail(err, KP_ERR_FAIL, "bad request");
	if ((rc = local_find(h, a->path, &k, err)) < 0)
		return -1;
	r->yes = rc == 1;
	r->k = k;
	return 0;
}

static int
s_subkeys(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_call *a = args;
	struct r_keys *r = ans;
	hive_key *kids = NULL;
	size_t n = 0, i;

	HIVE_OF(st, a->id, err);
	if (local_subkeys(h, (hive_key)a->k, &kids, &n, err) < 0)
		return -1;
	r->v = calloc(n + 1, sizeof(*r->v));
	for (i = 0; r->v && i < n; i++)
		r->v[i].k = kids[i];
	r->n = r->v ? n : 0;
	free(kids);
	return r->v ? 0 : kp_fail_oom(err);
}

static int
s_key_name(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_call *a = args;
	struct r_name *r = ans;

	HIVE_OF(st, a->id, err);
	r->name = local_key_name(h, (hive_key)a->k, err);
	return r->name ? 0 : -1;
}

static int
s_key_tombstone(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_call *a = args;
	struct r_result *r = ans;
	int rc;

	HIVE_OF(st, a->id, err);
	rc = local_key_tombstone(h, (hive_key)a->k, err);
	r->yes = rc == 1;
	return rc < 0 ? -1 : 0;
}

static int
s_get(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_call *a = args;
	struct r_values *r = ans;
	struct hive_value v;
	int rc;

	HIVE_OF(st, a->id, err);
	if (a->name == NULL)
		return kp_fail(err, KP_ERR_FAIL, "bad request");
	if ((rc = local_get(h, (hive_key)a->k, a->name, &v, err)) < 0)
		return -1;
	if (rc == 0)
		return 0;
	if ((r->v = malloc(sizeof(*r->v))) == NULL) {
		hive_value_release(&v);
		return kp_fail_oom(err);
	}
	r->v[0] = v;
	r->n = 1;
	return 0;
}

static int
s_values(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_call *a = args;
	struct r_values *r = ans;

	HIVE_OF(st, a->id, err);
	return local_values(h, (hive_key)a->k, &r->v, &r->n, err);
}

static int
s_set(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_set *a = args;
	struct r_result *r = ans;

	HIVE_OF(st, a->id, err);
	if (a->path == NULL || a->name == NULL)
		return kp_fail(err, KP_ERR_FAIL, "bad request");
	if (local_set(h, a->path, a->name, a->type, a->data, a->len, err) < 0)
		return -1;
	r->nedits = local_nr_edits(h);
	return 0;
}

/* An edit answering yes or no (UNSET, DELETE_KEY) or a key (MKPATH),
 * then the count of edits after it. */
static int
edit(struct hs_state *hs, const struct a_call *a, struct r_result *r,
     int (*fn)(struct hive *, const struct a_call *, hive_key *,
	       struct kp_error *),
     struct kp_error *err)
{
	hive_key k = 0;
	int rc;

	HIVE_OF(hs, a->id, err);
	if (a->path == NULL)
		return kp_fail(err, KP_ERR_FAIL, "bad request");
	if ((rc = fn(h, a, &k, err)) < 0)
		return -1;
	r->yes = rc == 1;
	r->k = k;
	r->nedits = local_nr_edits(h);
	return 0;
}

static int
do_unset(struct hive *h, const struct a_call *a, hive_key *k,
	 struct kp_error *err)
{
	(void)k;
	return a->name ? local_unset(h, a->path, a->name, err) :
			 kp_fail(err, KP_ERR_FAIL, "bad request");
}

static int
do_mkpath(struct hive *h, const struct a_call *a, hive_key *k,
	  struct kp_error *err)
{
	return local_mkpath(h, a->path, k, err);
}

static int
do_delete(struct hive *h, const struct a_call *a, hive_key *k,
	  struct kp_error *err)
{
	(void)k;
	return local_delete_key(h, a->path, err);
}

static int
s_unset(void *st, const void *args, void *ans, struct kp_error *err)
{
	return edit(st, args, ans, do_unset, err);
}

static int
s_mkpath(void *st, const void *args, void *ans, struct kp_error *err)
{
	return edit(st, args, ans, do_mkpath, err);
}

static int
s_delete_key(void *st, const void *args, void *ans, struct kp_error *err)
{
	return edit(st, args, ans, do_delete, err);
}

static int
s_commit(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_commit *a = args;
	struct hive_commit_result *res = ans;
	struct hive_commit_opts o = { .force = a->force,
				      .journal = a->journal,
				      .defer = a->defer };
	int rc;

	HIVE_OF(st, a->id, err);
	rc = local_commit(h, &o, res, err);
	/* The reason belongs to the handle here; the answer owns its copy
	 * (freed after it is sent). */
	if (res->rewrite_why && (res->rewrite_why = strdup(res->rewrite_why)) ==
	    NULL)
		rc = kp_fail_oom(err);
	free(res->backup);
	res->backup = NULL;
	return rc;
}

static int
s_forbidden(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct hs_state *hs = st;

	(void)args;
	(void)ans;
	if (!hs->selftest)
		return kp_fail(err, KP_ERR_FAIL, "no self-test without "
			       "KMSPREP_SANDBOX_SELFTEST=1");
	/* Not on the allow-list: the filter kills the server. */
	return socket(AF_INET, SOCK_STREAM, 0) < 0 ? -1 : 0;
}

/* Open the path in A->path for reading or (WR) writing, as a hostile
 * hive could make the server try: the errno it got. */
static int
selftest_open(const struct hs_state *hs, const struct a_call *a, bool wr,
	      struct r_errno *r, struct kp_error *err)
{
	char c;
	int fd;

	if (!hs->selftest)
		return kp_fail(err, KP_ERR_FAIL, "no self-test without "
			       "KMSPREP_SANDBOX_SELFTEST=1");
	if (a->path == NULL)
		return kp_fail(err, KP_ERR_FAIL, "bad request");
	errno = 0;
	if (wr) {
		fd = open(a->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		r->e = fd >= 0 && write(fd, "x", 1) == 1 ? 0 :
		       (uint32_t)(errno ? errno : EIO);
	} else {
		fd = open(a->path, O_RDONLY | O_CLOEXEC);
		r->e = fd >= 0 && read(fd, &c, 1) >= 0 ? 0 :
		       (uint32_t)(errno ? errno : EIO);
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

static int
s_selftest_read(void *st, const void *args, void *ans, struct kp_error *err)
{
	return selftest_open(st, args, false, ans, err);
}

static int
s_selftest_write(void *st, const void *args, void *ans, struct kp_error *err)
{
	return selftest_open(st, args, true, ans, err);
}

enum {
	HS_OPEN = 1, HS_CLOSE, HS_KIND, HS_FIND, HS_SUBKEYS, HS_KEY_NAME,
	HS_KEY_TOMBSTONE,
	HS_GET, HS_VALUES, HS_SET, HS_UNSET, HS_MKPATH, HS_DELETE_KEY,
	HS_COMMIT, HS_SELFTEST_FORBIDDEN, HS_SELFTEST_READ, HS_SELFTEST_WRITE,
	HS_NR
};

static const struct rpc_op ops[HS_NR] = {
	[HS_OPEN] = { .name = "open", .args = &a_open_l, .answer = &r_open_l,
		      .serve = s_open },
	[HS_CLOSE] = { .name = "close", .args = &a_call_l, .serve = s_close },
	[HS_KIND] = { .name = "kind", .args = &a_call_l, .answer = &r_kind_l,
		      .serve = s_kind },
	[HS_FIND] = { .name = "find", .args = &a_call_l,
		      .answer = &r_result_l, .serve = s_find },
	[HS_SUBKEYS] = { .name = "subkeys", .args = &a_call_l,
			 .answer = &r_keys_l, .answer_max = (size_t)64 << 20,
			 .serve = s_subkeys },
	[HS_KEY_NAME] = { .name = "key name", .args = &a_call_l,
			  .answer = &r_name_l, .serve = s_key_name },
	[HS_KEY_TOMBSTONE] = { .name = "key tombstone", .args = &a_call_l,
			       .answer = &r_result_l,
			       .serve = s_key_tombstone },
	[HS_GET] = { .name = "get", .args = &a_call_l, .answer = &r_values_l,
		     .answer_max = SB_MSG_MAX, .serve = s_get },
	[HS_VALUES] = { .name = "values", .args = &a_call_l,
			.answer = &r_values_l, .answer_max = SB_MSG_MAX,
			.serve = s_values },
	[HS_SET] = { .name = "set", .args = &a_set_l, .answer = &r_result_l,
		     .serve = s_set },
	[HS_UNSET] = { .name = "unset", .args = &a_call_l,
		       .answer = &r_result_l, .serve = s_unset },
	[HS_MKPATH] = { .name = "mkpath", .args = &a_call_l,
			.answer = &r_result_l, .serve = s_mkpath },
	[HS_DELETE_KEY] = { .name = "delete key", .args = &a_call_l,
			    .answer = &r_result_l, .serve = s_delete_key },
	[HS_COMMIT] = { .name = "commit", .args = &a_commit_l,
			.answer = &r_commit_l, .answer_max = SB_MSG_MAX,
			.serve = s_commit },
	[HS_SELFTEST_FORBIDDEN] = { .name = "self-test", .serve = s_forbidden },
	[HS_SELFTEST_READ] = { .name = "self-test read", .args = &a_call_l,
			       .answer = &r_errno_l,
			       .serve = s_selftest_read },
	[HS_SELFTEST_WRITE] = { .name = "self-test write", .args = &a_call_l,
				.answer = &r_errno_l,
				.serve = s_selftest_write },
};

static const struct rpc_table table = {
	.worker = "the hive server", .ops = ops, .nops = HS_NR,
};

/* hivex converts names with iconv, which loads glibc's gconv modules and
 * their configuration from /usr/lib on first use, and may unload them
 * when no conversion uses them.  The server cannot read /usr/lib: these
 * are opened before the fork, once, and kept open for good. */
static const char *const iconv_pairs[][2] = {
	{ "UTF-8", "UTF-16LE" }, { "UTF-16LE", "UTF-8" },
	{ "UTF-8", "LATIN1" }, { "LATIN1", "UTF-8" },
	{ "UTF-16LE", "LATIN1" }, { "LATIN1", "UTF-16LE" },
};
static iconv_t kept_iconv[sizeof(iconv_pairs) / sizeof(iconv_pairs[0])];

static void
keep_iconv(void)
{
	size_t i;

	for (i = 0; i < sizeof(iconv_pairs) / sizeof(iconv_pairs[0]); i++)
		kept_iconv[i] = iconv_open(iconv_pairs[i][0],
					   iconv_pairs[i][1]);
}

/*
 * The server as the client sees it.
 */

struct hive_server {
	struct rpc_client *c;	/* NULL once stopped */
	char *dir;		/* its directory: names are sent relative */
	const char *fence;	/* sb_fence() when it started */
	size_t open;		/* handles not yet closed */
	pthread_mutex_t lock;	/* C and OPEN */
};

int
hive_server_start(const char *dir, unsigned timeout_s,
		  struct hive_server **srv_ret, struct kp_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct hive_server *srv;
	struct hs_state hs;
	/* The server holds a hive of up to 2 GiB, hivex's copy of it and
	 * the new one being checked. */
	struct sb_opts so = { .mem_max = (uint64_t)8 << 30, .fs_dir = dir,
			      .timeout_s = timeout_s ? timeout_s : HS_TIMEOUT };

	*srv_ret = NULL;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return kp_fail_oom(err);
	memset(&hs, 0, sizeof(hs));
	hs.selftest = sb_selftest();
	hs.die_on_open = hs.selftest &&
			 getenv("KMSPREP_HIVE_SERVER_DIE_ON_OPEN") != NULL;
	hs.loop_on_open = hs.selftest &&
			  getenv("KMSPREP_HIVE_SERVER_LOOP_ON_OPEN") != NULL;
	if (hs.selftest && getenv("KMSPREP_HIVE_SERVER_SLOW_MS"))
		hs.slow_ms = (unsigned)strtoul(
			getenv("KMSPREP_HIVE_SERVER_SLOW_MS"), NULL, 10);
	pthread_once(&once, keep_iconv);
	srv->fence = sb_fence();
	srv->dir = strdup(dir);
	/* HS is copied into the server by the fork. */
	if (srv->dir == NULL || rpc_start(&table, &so, &hs, &srv->c, err) < 0) {
		if (srv->dir == NULL)
			kp_fail_oom(err);
		free(srv->dir);
		free(srv);
		return -1;
	}
	pthread_mutex_init(&srv->lock, NULL);
	*srv_ret = srv;
	return 0;
}

bool
hive_server_fenced(const struct hive_server *srv)
{
	return srv->fence != NULL;
}

const char *
hive_server_fence(const struct hive_server *srv)
{
	return srv->fence;
}

static void
server_free(struct hive_server *srv)
{
	pthread_mutex_destroy(&srv->lock);
	free(srv->dir);
	free(srv);
}

int
hive_server_stop(struct hive_server *srv, struct kp_error *err)
{
	bool last;
	int r;

	if (srv == NULL)
		return 0;
	pthread_mutex_lock(&srv->lock);
	r = rpc_stop(srv->c, err);
	srv->c = NULL;
	/* Handles still open go on to their close, the last one frees it. */
	last = srv->open == 0;
	pthread_mutex_unlock(&srv->lock);
	if (last)
		server_free(srv);
	return r;
}

/* Call OP of SRV; a stopped server answers nothing. */
static int
call(struct hive_server *srv, unsigned op, const void *args, void *answer,
     struct kp_error *err)
{
	struct rpc_client *c;

	pthread_mutex_lock(&srv->lock);
	c = srv->c;
	pthread_mutex_unlock(&srv->lock);
	if (c == NULL)
		return kp_fail(err, KP_ERR_FAIL, "the hive server was stopped");
	return rpc_call(c, op, args, answer, err);
}

static void
release(struct hive_server *srv, unsigned op, void *answer)
{
	rpc_layout_release(ops[op].answer, answer);
	(void)srv;
}

/* PATH as the server sees it: relative to its directory, in which it
 * runs (and which may be its root); NULL if it lies elsewhere. */
static const char *
in_dir(const struct hive_server *srv, const char *path)
{
	size_t n = strlen(srv->dir);

	if (path == NULL || strncmp(path, srv->dir, n) != 0 ||
	    path[n] != '/' || path[n + 1] == '\0' || strstr(path + n, "/../"))
		return NULL;
	return path + n + 1;
}

/*
 * Remote handles.
 */

struct hive_remote {
	struct hive pub;
	struct hive_server *srv;
	uint32_t id;
	size_t nedits;		/* as the server counted after each edit */
	char *why;		/* the last commit's rewrite_why */
};

static struct hive_remote *
hr_of(const struct hive *h)
{
	return (struct hive_remote *)h;
}

/* The server names a hive by its name in its directory: messages name
 * it by PATH, as a local handle's do. */
static void
full_name(const struct hive_server *srv, const char *path,
	  struct kp_error *err)
{
	const char *rel = in_dir(srv, path);
	char msg[KP_ERROR_MSG_MAX], *at;
	size_t n;

	if (rel == NULL || err == NULL)
		return;
	n = strlen(rel);
	for (at = strchr(err->msg, '\''); at; at = strchr(at + 1, '\''))
		if (strncmp(at + 1, rel, n) == 0 && at[n + 1] == '\'')
			break;
	if (at == NULL)
		return;
	snprintf(msg, sizeof(msg), "%.*s'%s%s", (int)(at - err->msg),
		 err->msg, path, at + n + 1);
	memcpy(err->msg, msg, sizeof(msg));
}

/* Call OP on R's server; failure messages name R by its path. */
static int
hcall(struct hive_remote *r, unsigned op, const void *args, void *answer,
      struct kp_error *err)
{
	if (call(r->srv, op, args, answer, err) == 0)
		return 0;
	full_name(r->srv, r->pub.path, err);
	return -1;
}

static int
bad_answer(struct kp_error *err)
{
	return kp_fail(err, KP_ERR_FAIL, "%s sent a bad answer", table.worker);
}

static void
r_close(struct hive *h)
{
	struct kp_error ignored = KP_ERROR_INIT;
	struct hive_remote *r = hr_of(h);
	struct hive_server *srv = r->srv;
	struct a_call a = { .id = r->id };
	bool last;

	if (r->id != UINT32_MAX)
		call(srv, HS_CLOSE, &a, NULL, &ignored);
	free(r->why);
	free(r->pub.path);
	free(r);
	pthread_mutex_lock(&srv->lock);
	last = --srv->open == 0 && srv->c == NULL;
	pthread_mutex_unlock(&srv->lock);
	/* A stopped server whose last handle this was. */
	if (last)
		server_free(srv);
}

static size_t
r_nr_edits(const struct hive *h)
{
	return hr_of(h)->nedits;
}

static enum hive_kind
r_kind(struct hive *h)
{
	struct kp_error ignored = KP_ERROR_INIT;
	struct a_call a = { .id = hr_of(h)->id };
	struct r_kind r;

	if (call(hr_of(h)->srv, HS_KIND, &a, &r, &ignored) < 0)
		return HIVE_KIND_OTHER;
	return (enum hive_kind)r.kind;
}

/* Call OP on H with K, PATH and NAME; R gets a result. */
static int
r_call(struct hive *h, unsigned op, hive_key k, const char *path,
       const char *name, void *r, struct kp_error *err)
{
	struct a_call a = { .id = hr_of(h)->id, .k = k, .path = (char *)path,
			    .name = (char *)name };

	return hcall(hr_of(h), op, &a, r, err);
}

static int
r_find(struct hive *h, const char *path, hive_key *k, struct kp_error *err)
{
	struct r_result r;

	if (r_call(h, HS_FIND, 0, path, NULL, &r, err) < 0)
		return -1;
	*k = (hive_key)r.k;
	return r.yes;
}

static int
r_subkeys(struct hive *h, hive_key k, hive_key **list, size_t *n,
	  struct kp_error *err)
{
	struct r_keys r;
	hive_key *l;
	size_t i;

	if (r_call(h, HS_SUBKEYS, k, NULL, NULL, &r, err) < 0)
		return -1;
	/* Room for the ending 0, as hivex's lists have. */
	l = calloc(r.n + 1, sizeof(*l));
	for (i = 0; l && i < r.n; i++)
		l[i] = (hive_key)r.v[i].k;
	*n = r.n;
	release(hr_of(h)->srv, HS_SUBKEYS, &r);
	if (l == NULL)
		return kp_fail_oom(err);
	*list = l;
	return 0;
}

static char *
r_key_name(struct hive *h, hive_key k, struct kp_error *err)
{
	struct r_name r;

	if (r_call(h, HS_KEY_NAME, k, NULL, NULL, &r, err) < 0)
		return NULL;
	if (r.name == NULL)
		bad_answer(err);
	return r.name;
}

static int
r_key_tombstone(struct hive *h, hive_key k, struct kp_error *err)
{
	struct r_result r;

	if (r_call(h, HS_KEY_TOMBSTONE, k, NULL, NULL, &r, err) < 0)
		return -1;
	return r.yes;
}

static int
r_get(struct hive *h, hive_key k, const char *name, struct hive_value *v,
      struct kp_error *err)
{
	struct r_values r;

	memset(v, 0, sizeof(*v));
	if (r_call(h, HS_GET, k, NULL, name, &r, err) < 0)
		return -1;
	if (r.n > 1 || (r.n == 1 && r.v[0].name == NULL)) {
		release(hr_of(h)->srv, HS_GET, &r);
		return bad_answer(err);
	}
	if (r.n == 0) {
		free(r.v);
		return 0;
	}
	*v = r.v[0];
	free(r.v);
	return 1;
}

static int
r_values(struct hive *h, hive_key k, struct hive_value **vals, size_t *n,
	 struct kp_error *err)
{
	struct r_values r;
	size_t i;

	if (r_call(h, HS_VALUES, k, NULL, NULL, &r, err) < 0)
		return -1;
	for (i = 0; i < r.n; i++)
		if (r.v[i].name == NULL) {
			release(hr_of(h)->srv, HS_VALUES, &r);
			return bad_answer(err);
		}
	*vals = r.v;
	*n = r.n;
	return 0;
}

static int
r_set(struct hive *h, const char *path, const char *name, uint32_t type,
      const void *data, size_t len, struct kp_error *err)
{
	struct a_set a = { .id = hr_of(h)->id, .path = (char *)path,
			   .name = (char *)name, .type = type,
			   .data = (void *)data, .len = len };
	struct r_result r;

	if (len > UINT32_MAX)
		return kp_fail(err, KP_ERR_INVALID, "value too large");
	if (hcall(hr_of(h), HS_SET, &a, &r, err) < 0)
		return -1;
	hr_of(h)->nedits = r.nedits;
	return 0;
}

/* An edit: OP on PATH (and NAME); its yes or no, or *K. */
static int
r_edit(struct hive *h, unsigned op, const char *path, const char *name,
       hive_key *k, struct kp_error *err)
{
	struct r_result r;

	if (r_call(h, op, 0, path, name, &r, err) < 0)
		return -1;
	hr_of(h)->nedits = r.nedits;
	if (k)
		*k = (hive_key)r.k;
	return r.yes;
}

static int
r_unset(struct hive *h, const char *path, const char *name,
	struct kp_error *err)
{
	return r_edit(h, HS_UNSET, path, name, NULL, err);
}

static int
r_mkpath(struct hive *h, const char *path, hive_key *k, struct kp_error *err)
{
	hive_key got = 0;

	if (r_edit(h, HS_MKPATH, path, NULL, &got, err) < 0)
		return -1;
	if (k)
		*k = got;
	return 0;
}

static int
r_delete_key(struct hive *h, const char *path, struct kp_error *err)
{
	return r_edit(h, HS_DELETE_KEY, path, NULL, NULL, err);
}

static int
r_commit(struct hive *h, const struct hive_commit_opts *o,
	 struct hive_commit_result *res, struct kp_error *err)
{
	struct hive_remote *r = hr_of(h);
	struct a_commit a = { .id = r->id, .force = o->force,
			      .journal = o->journal,
			      .defer = o->defer };

	memset(res, 0, sizeof(*res));
	/* A backup or a new file is for local hives (hive set's options),
	 * and would need link() in the server. */
	if (o->dest || o->backup || o->no_replace)
		return kp_fail(err, KP_ERR_INVALID, "a hive opened in a hive "
			       "server is committed over itself, without a "
			       "backup");
	if (hcall(r, HS_COMMIT, &a, res, err) < 0)
		return -1;
	/* The handle keeps the reason, as a local one does. */
	free(r->why);
	r->why = (char *)res->rewrite_why;
	return 0;
}

static const struct hive_ops remote_ops = {
	.close = r_close,
	.nr_edits = r_nr_edits,
	.kind = r_kind,
	.find = r_find,
	.subkeys = r_subkeys,
	.key_name = r_key_name,
	.key_tombstone = r_key_tombstone,
	.get = r_get,
	.values = r_values,
	.set = r_set,
	.unset = r_unset,
	.mkpath = r_mkpath,
	.delete_key = r_delete_key,
	.commit = r_commit,
};

int
remote_open(struct hive_server *srv, const char *path,
	    const struct hive_open_opts *o, struct hive **h_ret,
	    struct kp_error *err)
{
	struct a_open a = { .path = (char *)in_dir(srv, path),
			    .flags = o->flags };
	struct hive_remote *r;
	struct r_open ans;

	*h_ret = NULL;
	if (a.path == NULL || (o->log1 && !(a.log1 = (char *)in_dir(srv,
								   o->log1))) ||
	    (o->log2 && !(a.log2 = (char *)in_dir(srv, o->log2))))
		return kp_fail(err, KP_ERR_FAIL, "'%s': not in the hive "
			       "server's directory", path);
	r = calloc(1, sizeof(*r));
	if (r == NULL || (r->pub.path = strdup(path)) == NULL) {
		free(r);
		return kp_fail_oom(err);
	}
	r->pub.ops = &remote_ops;
	r->srv = srv;
	/* Counted before the request: a stop meanwhile keeps SRV. */
	pthread_mutex_lock(&srv->lock);
	srv->open++;
	pthread_mutex_unlock(&srv->lock);
	if (hcall(r, HS_OPEN, &a, &ans, err) < 0) {
		r->id = UINT32_MAX;	/* nothing to close there */
		r_close(&r->pub);
		return -1;
	}
	r->id = ans.id;
	r->pub.st = ans.st;
	*h_ret = &r->pub;
	return 0;
}

int
hive_server_selftest_forbidden(struct hive_server *srv, struct kp_error *err)
{
	return call(srv, HS_SELFTEST_FORBIDDEN, NULL, NULL, err);
}

int
hive_server_selftest_open(struct hive_server *srv, const char *path,
			  bool write, int *errno_ret, struct kp_error *err)
{
	struct a_call a = { .path = (char *)path };
	struct r_errno r;

	if (call(srv, write ? HS_SELFTEST_WRITE : HS_SELFTEST_READ, &a, &r,
		 err) < 0)
		return -1;
	*errno_ret = (int)r.e;
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The workers' protocol (lib/rpc.h): every field type both ways through
 * a real sandboxed worker, errors with their remedy, and answers a
 * subverted worker could send (each limit of the client's layout).
 */
#include <stdlib.h>
#include <unistd.h>

#include "lib/rpc.h"
#include "unit.h"

struct item {
	uint32_t n;
	char *s;
};

struct msg {
	uint32_t u32;
	uint64_t u64;
	size_t size;
	int e;
	bool b;
	char *str;
	void *mem;
	size_t mem_len;
	struct item *items;
	size_t nitems;
};

static const struct rpc_field item_f[] = {
	RPC_F(struct item, n, RPC_U32, 0),
	{ .type = RPC_STR, .off = offsetof(struct item, s), .max = 64,
	  .flags = RPC_PRINTABLE },
	{ .type = RPC_END },
};
static const struct rpc_layout item_l = { sizeof(struct item), item_f };

static const struct rpc_field msg_f[] = {
	RPC_F(struct msg, u32, RPC_U32, 0),
	RPC_F(struct msg, u64, RPC_U64, 0),
	RPC_F(struct msg, size, RPC_SIZE, 1000),
	RPC_F(struct msg, e, RPC_ENUM, 5),
	RPC_F(struct msg, b, RPC_BOOL, 0),
	RPC_F(struct msg, str, RPC_STR, 100),
	RPC_LEN(struct msg, mem, mem_len, RPC_MEM, (size_t)1 << 24),
	{ .type = RPC_ARRAY, .off = offsetof(struct msg, items),
	  .len_off = offsetof(struct msg, nitems), .max = 100,
	  .elem = &item_l },
	{ .type = RPC_END },
};
static const struct rpc_layout msg_l = { sizeof(struct msg), msg_f };

/* A stricter reading of the same answer: what the client holds when
 * the worker's copy of the table says otherwise. */
static const struct rpc_field strict_f[] = {
	RPC_F(struct msg, u32, RPC_U32, 0),
	RPC_F(struct msg, u64, RPC_U64, 0),
	RPC_F(struct msg, size, RPC_SIZE, 10),
	RPC_F(struct msg, e, RPC_ENUM, 2),
	RPC_F(struct msg, b, RPC_BOOL, 0),
	RPC_F(struct msg, str, RPC_STR, 3),
	RPC_LEN(struct msg, mem, mem_len, RPC_MEM, 4),
	{ .type = RPC_ARRAY, .off = offsetof(struct msg, items),
	  .len_off = offsetof(struct msg, nitems), .max = 1,
	  .elem = &item_l },
	{ .type = RPC_END },
};
static const struct rpc_layout strict_l = { sizeof(struct msg), strict_f };

struct tail_ans {
	struct buf data;
};

static const struct rpc_field tail_f[] = {
	RPC_F(struct tail_ans, data, RPC_TAIL, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout tail_l = { sizeof(struct tail_ans), tail_f };

/* Echo every field back, the numbers plus one and the string with a
 * control character. */
static int
echo(void *st, const void *args, void *answer, struct kp_error *err)
{
	const struct msg *a = args;
	struct msg *m = answer;
	size_t i;

	(void)st;
	(void)err;
	m->u32 = a->u32 + 1;
	m->u64 = a->u64 + 1;
	m->size = a->size;
	m->e = a->e;
	m->b = !a->b;
	if (a->str && asprintf(&m->str, "%s\x1b", a->str) < 0)
		return -1;
	m->mem = malloc(a->mem_len ? a->mem_len : 1);
	memcpy(m->mem, a->mem, a->mem_len);
	m->mem_len = a->mem_len;
	m->items = calloc(a->nitems ? a->nitems : 1, sizeof(*m->items));
	m->nitems = a->nitems;
	for (i = 0; i < a->nitems; i++) {
		m->items[i].n = a->items[i].n * 2;
		m->items[i].s = strdup(a->items[i].s ? a->items[i].s : "");
	}
	return 0;
}

static int
fail(void *st, const void *args, void *answer, struct kp_error *err)
{
	(void)st;
	(void)args;
	(void)answer;
	kp_fail(err, KP_ERR_INPUT, "bad \x07 input");
	return kp_error_remedy(err, KP_REMEDY_DRY_RUN);
}

static int
big(void *st, const void *args, void *answer, struct kp_error *err)
{
	struct tail_ans *t = answer;

	(void)st;
	(void)args;
	(void)err;
	return buf_grow(&t->data, 3 << 20) < 0 ? -1 :
	       (memset(t->data.data, 'x', 3 << 20), t->data.len = 3 << 20, 0);
}

/* A descriptor sent along: the worker writes its note into it. */
struct fd_args {
	char *note;
	int fd;
};

static const struct rpc_field fd_f[] = {
	RPC_F(struct fd_args, note, RPC_STR, 100),
	RPC_F(struct fd_args, fd, RPC_FD, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout fd_l = { sizeof(struct fd_args), fd_f };

static int
put(void *st, const void *args, void *answer, struct kp_error *err)
{
	const struct fd_args *a = args;
	size_t n = strlen(a->note);

	(void)st;
	(void)answer;
	return write(a->fd, a->note, n) == (ssize_t)n ? 0 :
	       kp_fail(err, KP_ERR_FAIL, "cannot write");
}

enum { OP_ECHO = 1, OP_FAIL, OP_BIG, OP_PUT, OP_NR };

/* Not const: the test changes the parent's copy after the fork. */
static struct rpc_op ops[OP_NR] = {
	[OP_ECHO] = { .name = "echo", .args = &msg_l, .answer = &msg_l,
		      .answer_max = (size_t)32 << 20, .serve = echo },
	[OP_FAIL] = { .name = "fail", .serve = fail },
	[OP_BIG] = { .name = "big", .answer = &tail_l,
		     .answer_max = (size_t)4 << 20, .serve = big },
	[OP_PUT] = { .name = "put", .args = &fd_l, .serve = put },
};
static const struct rpc_table table = {
	.worker = "the test worker", .ops = ops, .nops = OP_NR,
};

static struct rpc_client *
start(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct sb_opts o = { .timeout_s = 30 };
	struct rpc_client *c = NULL;

	CHECK_EQ(rpc_start(&table, &o, NULL, &c, &err), 0);
	return c;
}

static void
fill(struct msg *m, struct item *items, void *payload, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->u32 = 7;
	m->u64 = (uint64_t)1 << 40;
	m->size = 9;
	m->e = 1;
	m->b = true;
	m->str = (char *)"abc";
	m->mem = payload;
	m->mem_len = len;
	items[0].n = 3;
	items[0].s = (char *)"one";
	items[1].n = 5;
	items[1].s = (char *)"two";
	m->items = items;
	m->nitems = 2;
}

static void
roundtrip(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct rpc_client *c = start();
	struct item items[2];
	struct msg a, r;
	/* Large enough to go by reference. */
	size_t len = (size_t)5 << 20;
	char *payload = malloc(len);

	memset(payload, 'p', len);
	payload[len - 1] = 'q';
	fill(&a, items, payload, len);
	CHECK_EQ(rpc_call(c, OP_ECHO, &a, &r, &err), 0);
	CHECK_EQ(r.u32, 8);
	CHECK_EQ(r.u64, ((uint64_t)1 << 40) + 1);
	CHECK_EQ(r.size, 9);
	CHECK_EQ(r.e, 1);
	CHECK_EQ(r.b, false);
	/* Not printable-flagged: data arrives as it was. */
	CHECK_STR(r.str, "abc\x1b");
	CHECK_EQ(r.mem_len, len);
	CHECK(r.mem && memcmp(r.mem, payload, len) == 0);
	CHECK_EQ(r.nitems, 2);
	if (r.nitems == 2) {
		CHECK_EQ(r.items[1].n, 10);
		CHECK_STR(r.items[1].s, "two");
	}
	rpc_release(c, OP_ECHO, &r);
	/* NULL strings and empty payloads. */
	a.str = NULL;
	a.mem_len = 0;
	a.nitems = 0;
	CHECK_EQ(rpc_call(c, OP_ECHO, &a, &r, &err), 0);
	CHECK(r.str == NULL);
	CHECK_EQ(r.mem_len, 0);
	rpc_release(c, OP_ECHO, &r);
	CHECK_EQ(rpc_stop(c, &err), 0);
	free(payload);
}

static void
errors_and_tail(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct rpc_client *c = start();
	struct tail_ans t;

	CHECK_EQ(rpc_call(c, OP_FAIL, NULL, NULL, &err), -1);
	CHECK_EQ(err.status, KP_ERR_INPUT);
	CHECK_EQ(err.remedy, KP_REMEDY_DRY_RUN);
	CHECK_STR(err.msg, "bad ? input");
	CHECK_EQ(rpc_call(c, OP_BIG, NULL, &t, &err), 0);
	CHECK_EQ(t.data.len, 3 << 20);
	CHECK(t.data.data && t.data.data[0] == 'x');
	rpc_release(c, OP_BIG, &t);
	CHECK(!rpc_dead(c));
	CHECK_EQ(rpc_stop(c, &err), 0);
}

/* An RPC_FD field travels as the descriptor itself, for that call. */
static void
passes_fd(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct rpc_client *c = start();
	char got[16] = "";
	int p[2];

	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(rpc_call(c, OP_PUT, &(struct fd_args){ (char *)"note", p[1] },
			  NULL, &err), 0);
	close(p[1]);
	CHECK_EQ(read(p[0], got, sizeof(got) - 1), 4);
	CHECK_STR(got, "note");
	/* The worker's copy is closed once the call is served. */
	CHECK_EQ(read(p[0], got, sizeof(got)), 0);
	close(p[0]);
	/* A call that needs one and has none: the parent is broken. */
	CHECK_EQ(rpc_call(c, OP_PUT, &(struct fd_args){ (char *)"x", -1 },
			  NULL, &err), -1);
	CHECK(rpc_dead(c));
	rpc_stop(c, &err);
}

/* The worker encodes with its own copy of the table; the parent's copy
 * is made stricter, as if the worker had been subverted: every limit
 * is a bad answer, nothing is kept. */
static void
hostile_answers(void)
{
	struct kp_error err = KP_ERROR_INIT;
	struct rpc_client *c = start();
	struct item items[2];
	struct msg a, r;
	struct tail_ans t;
	char payload[8] = "1234567";

	ops[OP_ECHO].answer = &strict_l;
	fill(&a, items, payload, 8);
	CHECK_EQ(rpc_call(c, OP_ECHO, &a, &r, &err), -1);
	CHECK(strstr(err.msg, "bad answer") != NULL);
	CHECK(r.str == NULL && r.mem == NULL && r.items == NULL);
	ops[OP_ECHO].answer = &msg_l;
	/* An answer over the op's limit stops the worker. */
	ops[OP_BIG].answer_max = 1 << 20;
	CHECK_EQ(rpc_call(c, OP_BIG, NULL, &t, &err), -1);
	CHECK(rpc_dead(c));
	ops[OP_BIG].answer_max = (size_t)4 << 20;
	rpc_stop(c, &err);
}

static const struct unit_test tests[] = {
	TEST(roundtrip),
	TEST(errors_and_tail),
	TEST(hostile_answers),
	TEST(passes_fd),
};

UNIT_MAIN(tests)

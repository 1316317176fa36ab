/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sandboxed workers' protocol (rpc.h).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "rpc.h"

struct rpc_client {
	const struct rpc_table *t;
	struct sb_worker *w;	/* NULL once stopped */
	bool dead;
	pthread_mutex_t lock;	/* one call at a time */
};

/* The default largest answer. */
#define ANSWER_MAX ((size_t)1 << 20)
/* A request's payloads (MEM fields) go by reference above this size. */
#define BY_REF 4096
#define MAX_IOV 8

static void *
at(const void *s, size_t off)
{
	return (char *)s + off;
}

/*
 * Encoding.
 */

/* Append S's fields per L to B; MEM payloads above BY_REF are left in
 * place and listed in IOV (after the bytes of B so far). */
struct enc {
	struct buf *b;
	bool by_ref;		/* a request: large payloads by reference */
	struct iovec iov[MAX_IOV];
	size_t cut[MAX_IOV];	/* B's length where each payload goes */
	int n;
	int pass;		/* the RPC_FD field's descriptor, or -1 */
};

static void
encode(struct enc *e, const struct rpc_layout *l, const void *s)
{
	const struct rpc_field *f;

	for (f = l->f; f->type != RPC_END; f++) {
		const void *p = at(s, f->off);

		switch (f->type) {
		case RPC_U32:
		case RPC_ENUM:
			wire_put32(e->b, *(const uint32_t *)p);
			break;
		case RPC_U64:
			wire_put64(e->b, *(const uint64_t *)p);
			break;
		case RPC_SIZE:
			wire_put64(e->b, *(const size_t *)p);
			break;
		case RPC_BOOL:
			buf_addch(e->b, *(const bool *)p ? 1 : 0);
			break;
		case RPC_STR:
			wire_putstr(e->b, *(const char *const *)p);
			break;
		case RPC_MEM: {
			const void *m = *(const void *const *)p;
			size_t n = *(const size_t *)at(s, f->len_off);

			if (e->by_ref && n > BY_REF && e->n < MAX_IOV) {
				wire_put32(e->b, (uint32_t)n);
				e->cut[e->n] = e->b->len;
				e->iov[e->n].iov_base = (void *)m;
				e->iov[e->n++].iov_len = n;
			} else {
				wire_putmem(e->b, m, n);
			}
			break;
		}
		case RPC_ARRAY: {
			const char *v = *(const char *const *)p;
			size_t n = *(const size_t *)at(s, f->len_off), i;

			wire_put32(e->b, (uint32_t)n);
			for (i = 0; i < n; i++)
				encode(e, f->elem, v + i * f->elem->size);
			break;
		}
		case RPC_CODEC:
			f->codec->put(e->b, p);
			break;
		case RPC_FD:
			e->pass = *(const int *)p;
			break;
		case RPC_TAIL:
		case RPC_END:
			break;
		}
	}
}

static void release(const struct rpc_layout *l, void *s, bool in_place);

/* Control characters as '?': text from a worker reaches a terminal. */
static void
printable(char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Decode R into S (zeroed) per L.  IN_PLACE: MEM fields point into the
 * message (the worker's view of a request); otherwise they are copies.
 * -1 if malformed or out of memory, with what was decoded released. */
static int
decode(struct wire_rd *r, const struct rpc_layout *l, void *s, bool in_place)
{
	const struct rpc_field *f;

	for (f = l->f; f->type != RPC_END && !r->bad; f++) {
		void *p = at(s, f->off);

		switch (f->type) {
		case RPC_U32:
			*(uint32_t *)p = wire_get32(r);
			break;
		case RPC_ENUM: {
			uint32_t v = wire_get32(r);

			if (v >= f->max)
				r->bad = true;
			*(uint32_t *)p = v;
			break;
		}
		case RPC_U64:
			*(uint64_t *)p = wire_get64(r);
			break;
		case RPC_SIZE: {
			uint64_t v = wire_get64(r);

			if (v > f->max || v > SIZE_MAX)
				r->bad = true;
			*(size_t *)p = (size_t)v;
			break;
		}
		case RPC_BOOL: {
			const unsigned char *b = wire_take(r, 1);

			*(bool *)p = b && *b;
			break;
		}
		case RPC_STR: {
			bool was_null = false;
			char *v = wire_getstr(r, f->max, &was_null);

			if (v == NULL && !was_null)
				r->bad = true;
			if (f->flags & RPC_PRINTABLE)
				printable(v);
			*(char **)p = v;
			break;
		}
		case RPC_MEM: {
			size_t n = 0;
			const unsigned char *m = wire_getmem(r, f->max, &n);
			void *v = (void *)m;

			if (m && !in_place && (v = malloc(n ? n : 1)) != NULL)
				memcpy(v, m, n);
			if (v == NULL)
				r->bad = true;
			*(void **)p = v;
			*(size_t *)at(s, f->len_off) = v ? n : 0;
			break;
		}
		case RPC_ARRAY: {
			uint32_t n = wire_get32(r), i;
			char *v;

			/* An element takes at least a byte: no count is
			 * trusted beyond what arrived. */
			if (r->bad || n > f->max || n > r->left) {
				r->bad = true;
				break;
			}
			v = calloc(n ? n : 1, f->elem->size);
			if (v == NULL) {
				r->bad = true;
				break;
			}
			*(void **)p = v;
			for (i = 0; i < n && !r->bad; i++) {
				decode(r, f->elem, v + i * f->elem->size,
				       in_place);
				/* Counted as decoded, so released if bad. */
				*(size_t *)at(s, f->len_off) = i + 1;
			}
			break;
		}
		case RPC_CODEC:
			if (f->codec->get(r, p) < 0)
				r->bad = true;
			break;
		case RPC_FD:
			*(int *)p = -1;	/* take_pass fills it */
			break;
		case RPC_TAIL:
		case RPC_END:
			break;
		}
	}
	if (r->bad) {
		release(l, s, in_place);
		return -1;
	}
	return 0;
}

/* Free what S's pointer fields per L hold; IN_PLACE: MEM fields point
 * into a message and own nothing. */
static void
release(const struct rpc_layout *l, void *s, bool in_place)
{	const struct rpc_field *f;

	if (l == NULL || s == NULL)
		return;
	for (f = l->f; f->type != RPC_END; f++) {
		void *p = at(s, f->off);

		switch (f->type) {
		case RPC_STR:
			free(*(char **)p);
			*(char **)p = NULL;
			break;
		case RPC_MEM:
			if (!in_place)
				free(*(void **)p);
			*(void **)p = NULL;
			*(size_t *)at(s, f->len_off) = 0;
			break;
		case RPC_ARRAY: {
			char *v = *(char **)p;
			size_t n = *(size_t *)at(s, f->len_off), i;

			for (i = 0; v && i < n; i++)
				release(f->elem, v + i * f->elem->size,
					in_place);
			free(v);
			*(void **)p = NULL;
			*(size_t *)at(s, f->len_off) = 0;
			break;
		}
		case RPC_TAIL:
			buf_release(p);
			break;
		case RPC_CODEC:
			f->codec->release(p);
			break;
		default:
			break;
		}
	}
}

void
rpc_layout_release(const struct rpc_layout *layout, void *s)
{
	release(layout, s, false);
}

/* The answer's tail field, if it has one. */
static struct buf *
tail_of(const struct rpc_layout *l, void *s)
{
	return l && s && l->f[0].type == RPC_TAIL ? at(s, l->f[0].off) : NULL;
}

/*
 * The worker.
 */

struct served {
	const struct rpc_table *t;
	void *state;
};

static void
put_error(struct buf *resp, const struct kp_error *err)
{
	buf_reset(resp);
	buf_addch(resp, (char)(err->status ? err->status : KP_ERR_FAIL));
	wire_put32(resp, (uint32_t)err->remedy);
	wire_putstr(resp, err->msg);
}

/* Give S's RPC_FD field per L the descriptor PASS that came with the
 * request; -1 if it wants one and none came. */
static int
take_pass(const struct rpc_layout *l, void *s, int pass)
{
	const struct rpc_field *f;

	for (f = l->f; f->type != RPC_END; f++) {
		if (f->type != RPC_FD)
			continue;
		if (pass < 0)
			return -1;
		*(int *)at(s, f->off) = pass;
	}
	return 0;
}

static int
dispatch(void *ud, const unsigned char *req, size_t len, int pass,
	 struct buf *resp, struct buf *tail)
{
	const struct served *sv = ud;
	struct kp_error err = KP_ERROR_INIT;
	struct wire_rd r = { req, len, false };
	const unsigned char *opb = wire_take(&r, 1);
	const struct rpc_op *op;
	void *args = NULL, *ans = NULL;
	struct enc e = { .b = resp, .pass = -1 };
	int rc = -1;

	if (opb == NULL || *opb == 0 || *opb >= sv->t->nops ||
	    sv->t->ops[*opb].serve == NULL)
		return -1;	/* the parent is broken: stop */
	op = &sv->t->ops[*opb];
	if (op->args && (args = calloc(1, op->args->size)) == NULL)
		goto out;
	if (op->answer && (ans = calloc(1, op->answer->size)) == NULL)
		goto out;
	if (op->args && (decode(&r, op->args, args, true) < 0 || r.left ||
			 take_pass(op->args, args, pass) < 0)) {
		release(op->args, args, true);
		rc = -1;	/* the parent is broken: stop */
		goto out;
	}
	buf_addch(resp, 0);
	rc = op->serve(sv->state, args, ans, &err);
	if (rc < 0) {
		if (sv->t->restate)
			sv->t->restate(sv->state, &err);
		put_error(resp, &err);
		rc = 0;
	} else if (tail_of(op->answer, ans)) {
		/* Swapped, not copied: sent after RESP. */
		struct buf *t = tail_of(op->answer, ans);

		*tail = *t;
		*t = (struct buf)BUF_INIT;
	} else if (op->answer) {
		encode(&e, op->answer, ans);
	}
	release(op->args, args, true);
	release(op->answer, ans, false);
out:
	free(args);
	free(ans);
	return rc;
}

int
rpc_start(const struct rpc_table *table, const struct sb_opts *o,
	  void *state, struct rpc_client **c_ret, struct kp_error *err)
{
	struct rpc_client *c = calloc(1, sizeof(*c));
	struct served sv = { table, state };

	*c_ret = NULL;
	if (c == NULL)
		return kp_fail_oom(err);
	c->t = table;
	/* SV is copied into the worker by the fork. */
	if (sb_start(o, dispatch, &sv, &c->w, err) < 0) {
		free(c);
		return -1;
	}
	pthread_mutex_init(&c->lock, NULL);
	*c_ret = c;
	return 0;
}

/*
 * The client.
 */

static int
bad_answer(const struct rpc_client *c, struct kp_error *err)
{
	return kp_fail(err, KP_ERR_FAIL, "%s sent a bad answer",
		       c->t->worker);
}

static int
send_and_receive(struct rpc_client *c, const struct rpc_op *op,
		 struct enc *e, unsigned char *status, struct buf *resp,
		 struct kp_error *err)
{
	struct iovec v[2 * MAX_IOV + 1];
	size_t from = 0;
	int i, n = 0, rc;

	/* The encoded bytes, cut where each payload goes by reference. */
	for (i = 0; i < e->n; i++) {
		v[n].iov_base = e->b->data + from;
		v[n++].iov_len = e->cut[i] - from;
		v[n++] = e->iov[i];
		from = e->cut[i];
	}
	v[n].iov_base = e->b->data + from;
	v[n++].iov_len = e->b->len - from;
	pthread_mutex_lock(&c->lock);
	rc = c->w && !c->dead ?
	     sb_callv_first(c->w, v, n, e->pass, op->answer_max ?
			    op->answer_max : ANSWER_MAX, status, resp, err) :
	     kp_fail(err, KP_ERR_FAIL, "%s has stopped", c->t->worker);
	if (rc < 0)
		c->dead = true;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int
rpc_call(struct rpc_client *c, unsigned op_nr, const void *args, void *answer,
	 struct kp_error *err)
{
	const struct rpc_op *op = op_nr < c->t->nops ? &c->t->ops[op_nr] :
				  NULL;
	struct buf req = BUF_INIT, resp = BUF_INIT;
	struct enc e = { .b = &req, .by_ref = true, .pass = -1 };
	struct wire_rd r;
	struct buf *tail;
	unsigned char status = 0;
	int rc;

	if (op == NULL || op->serve == NULL)
		return kp_fail(err, KP_ERR_FAIL, "no such request");
	if (op->answer)
		memset(answer, 0, op->answer->size);
	buf_addch(&req, (char)op_nr);
	if (op->args)
		encode(&e, op->args, args);
	if (req.data == NULL)
		return kp_fail_oom(err);
	rc = send_and_receive(c, op, &e, &status, &resp, err);
	buf_release(&req);
	if (rc < 0) {
		buf_release(&resp);
		return -1;
	}
	r = (struct wire_rd){ (const unsigned char *)resp.data, resp.len,
			      false };
	if (status != 0) {
		uint32_t remedy = wire_get32(&r);
		char *msg = wire_getstr(&r, KP_ERROR_MSG_MAX, NULL);

		printable(msg);
		if (msg == NULL)
			bad_answer(c, err);
		else
			kp_fail(err, status < KP_NSTATUS ?
				(enum kp_status)status : KP_ERR_FAIL, "%s", msg);
		if (msg && remedy < KP_NREMEDIES)
			kp_error_remedy(err, (enum kp_remedy)remedy);
		free(msg);
		buf_release(&resp);
		return -1;
	}
	if ((tail = tail_of(op->answer, answer)) != NULL) {
		*tail = resp;	/* handed over */
		return 0;
	}
	rc = 0;
	if (op->answer && decode(&r, op->answer, answer, false) < 0)
		rc = bad_answer(c, err);
	else if (r.bad || r.left)
		rc = bad_answer(c, err);
	if (rc < 0 && op->answer)
		rpc_layout_release(op->answer, answer);
	buf_release(&resp);
	return rc;
}

void
rpc_release(const struct rpc_client *c, unsigned op, void *answer)
{
	if (op < c->t->nops)
		rpc_layout_release(c->t->ops[op].answer, answer);
}

bool
rpc_dead(const struct rpc_client *c)
{
	return c->dead || c->w == NULL;
}

int
rpc_pid(const struct rpc_client *c)
{
	return c->w ? sb_pid(c->w) : -1;
}

int
rpc_stop(struct rpc_client *c, struct kp_error *err)
{
	int r;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->lock);
	r = sb_stop(c->w, err);
	c->w = NULL;
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return r;
}

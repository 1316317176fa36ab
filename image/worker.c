/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The direct backend behind a sandboxed worker (see worker.h).
 *
 * A request is: op (1 byte), root (4), arg (4: flags or partition), max
 * (8), the path (4-byte length, bytes), a security descriptor (4-byte
 * length, bytes), and the file's data (the rest).  An answer is a status
 * (0, or the kp_exit class of the error) and then the error message or the
 * op's result.  Integers are little-endian.  The parent reads every
 * answer as hostile: bounds-checked, and no count is trusted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "lib/sandbox.h"
#include "lib/wire.h"
#include "image/worker.h"
#include "image/imgio.h"

enum dw_op {
	OP_FIND = 1, OP_VOLUME, OP_WRITABLE, OP_READ, OP_REPLACE, OP_CREATE,
	OP_REMOVE, OP_LS, OP_MKDIR, OP_SD, OP_CLOSE, OP_SELFTEST, OP_JOURNAL,
};

#define HDR 17	/* op, root, arg, max */

struct dw_session {
	struct imgio *io;
	struct sb_worker *w;
	bool selftest;
	char *table;
	struct dr_root *roots;
	size_t nroots;
	struct dr_locked *locked;
	size_t nlocked;
	bool dead;
};

/*
 * The worker.
 */

struct wstate {
	struct imgio *io;
	struct dr_session *s;
	bool selftest;
};

static int
answer_err(struct buf *resp, const struct kp_error *err)
{
	buf_reset(resp);
	buf_addch(resp, err->status ? err->status : KP_ERR_FAIL);
	return buf_addstr(resp, err->msg);
}

static void
put_roots(struct dr_session *s, struct buf *resp)
{
	const struct dr_root *r;
	const struct dr_locked *l;
	size_t n, i;

	wire_put32(resp, (uint32_t)strlen(dr_table(s) ? dr_table(s) : ""));
	buf_addstr(resp, dr_table(s) ? dr_table(s) : "");
	r = dr_roots(s, &n);
	wire_put32(resp, (uint32_t)n);
	for (i = 0; i < n; i++) {
		wire_put32(resp, r[i].part);
		wire_put64(resp, r[i].start);
		wire_put64(resp, r[i].size);
		wire_put32(resp, (uint32_t)r[i].state);
		wire_put32(resp, r[i].rw);
		wire_put32(resp, (uint32_t)strlen(r[i].systemroot));
		buf_addstr(resp, r[i].systemroot);
	}
	l = dr_locked(s, &n);
	wire_put32(resp, (uint32_t)n);
	for (i = 0; i < n; i++) {
		wire_put32(resp, l[i].part);
		wire_put32(resp, l[i].bitlocker);
		wire_put32(resp, (uint32_t)strlen(l[i].why));
		buf_addstr(resp, l[i].why);
	}
}

/* A journal plan from the request (see dw_journal), its writes pointing
 * into the request; -1 if it does not parse.  Free P->w. */
static int
get_plan(struct wire_rd *r, struct journal_plan *p, char **log)
{
	*log = wire_getstr(r, 4096, NULL);
	if (*log == NULL) {
		memset(p, 0, sizeof(*p));
		return -1;
	}
	return journal_plan_get(r, p) < 0 || r->left ? -1 : 0;
}

static int
serve(void *ud, const unsigned char *req, size_t len, struct buf *resp,
      struct buf *tail)
{
	(void)tail;
	struct wstate *ws = ud;
	struct kp_error err = KP_ERROR_INIT;
	struct wire_rd r = { req, len, false };
	struct buf out = BUF_INIT;
	const unsigned char *op;
	char *path = NULL;
	const unsigned char *sd;
	uint32_t root, arg, sdlen;
	uint64_t max;
	size_t idx;
	int rc = -1;

	op = wire_take(&r, 1);
	root = wire_get32(&r);
	arg = wire_get32(&r);
	max = wire_get64(&r);
	path = wire_getstr(&r, 4096, NULL);
	sdlen = wire_get32(&r);
	sd = wire_take(&r, sdlen);
	if (r.bad || op == NULL || path == NULL) {
		free(path);
		return -1;	/* the parent is broken: stop */
	}
	if (ws->s == NULL && dr_open_io(ws->io, &ws->s, &err) < 0)
		goto out;
	buf_addch(resp, 0);
	switch (*op) {
	case OP_FIND:
		rc = dr_find_windows(ws->s, &err);
		if (rc == 0)
			put_roots(ws->s, resp);
		break;
	case OP_VOLUME:
		rc = dr_open_volume(ws->s, arg, &idx, &err);
		if (rc == 0) {
			wire_put32(resp, (uint32_t)idx);
			put_roots(ws->s, resp);
		}
		break;
	case OP_WRITABLE:
		rc = dr_make_writable(ws->s, root, &err);
		break;
	case OP_READ:
		/* Straight into the answer: one copy of the file. */
		rc = dr_read(ws->s, root, path, (size_t)max, resp, &err);
		break;
	case OP_REPLACE:
		rc = dr_replace(ws->s, root, path, r.p, r.left, arg, &err);
		break;
	case OP_CREATE:
		rc = dr_create_sd(ws->s, root, path, r.p, r.left, sd, sdlen,
				  &err);
		break;
	case OP_REMOVE:
		rc = dr_remove(ws->s, root, path, &err);
		break;
	case OP_LS: {
		char **v = dr_ls(ws->s, root, path, &err);
		size_t i;

		if (v == NULL)
			break;
		for (i = 0; v[i]; i++) {
			buf_add(resp, v[i], strlen(v[i]) + 1);
			free(v[i]);
		}
		free(v);
		rc = 0;
		break;
	}
	case OP_MKDIR:
		rc = dr_mkdir(ws->s, root, path, &err);
		break;
	case OP_SD: {
		uint32_t a = 0;

		rc = dr_get_sd(ws->s, root, path, &out, &a, &err);
		if (rc == 0) {
			wire_put32(resp, a);
			buf_add(resp, out.data, out.len);
		}
		break;
	}
	case OP_JOURNAL: {
		struct journal_plan p;
		char *log = NULL;
		uint64_t written = 0;

		if (get_plan(&r, &p, &log) < 0)
			rc = kp_fail(&err, KP_ERR_FAIL, "bad journal plan");
		else
			rc = dr_journal(ws->s, root, path, log,
					sdlen ? sd : NULL, sdlen, &p, &written,
					&err);
		if (rc == 0)
			wire_put64(resp, written);
		free(p.w);
		free(log);
		break;
	}
	case OP_CLOSE:
		rc = dr_close(ws->s, true, &err);
		ws->s = NULL;
		break;
	case OP_SELFTEST:
		if (ws->selftest) {
			/* Forbidden by the seccomp filter: never returns. */
			int fd = socket(AF_INET, SOCK_STREAM, 0);

			buf_addch(resp, fd >= 0);
			rc = 0;
		} else {
			rc = kp_fail(&err, KP_ERR_FAIL, "no self-test");
		}
		break;
	default:
		kp_fail(&err, KP_ERR_FAIL, "unknown request");
		break;
	}
out:
	free(path);
	buf_release(&out);
	if (rc < 0)
		return answer_err(resp, &err);
	return 0;
}

/*
 * The parent.
 */

static int
call(struct dw_session *s, enum dw_op op, size_t root, uint32_t arg,
     uint64_t max, const char *path, const void *sd, size_t sdlen,
     const void *data, size_t len, struct buf *resp, struct kp_error *err)
{
	struct buf req = BUF_INIT;
	struct iovec iov[2];
	size_t plen = path ? strlen(path) : 0;
	unsigned char status;
	int r;

	if (s->dead)
		return kp_fail(err, KP_ERR_FAIL, "the sandboxed worker has "
			       "stopped");
	if (plen > 4096 || sdlen > 65536 || len > SB_MSG_MAX - 8192 ||
	    root > UINT32_MAX)
		return kp_fail(err, KP_ERR_FAIL, "request too large");
	if (buf_grow(&req, HDR + 8 + plen + sdlen) < 0)
		return kp_fail_oom(err);
	buf_addch(&req, op);
	wire_put32(&req, (uint32_t)root);
	wire_put32(&req, arg);
	wire_put64(&req, max);
	wire_put32(&req, (uint32_t)plen);
	buf_add(&req, path ? path : "", plen);
	wire_put32(&req, (uint32_t)sdlen);
	buf_add(&req, sd ? sd : "", sdlen);
	/* The file's data goes from where it is: no copy. */
	iov[0].iov_base = req.data;
	iov[0].iov_len = req.len;
	iov[1].iov_base = (void *)(data ? data : "");
	iov[1].iov_len = len;
	/* The status byte apart, so that a file's bytes stay where they
	 * land. */
	r = sb_callv_first(s->w, iov, 2, (max < SB_MSG_MAX - 8192 ?
					  (size_t)max : SB_MSG_MAX - 8192) +
			   8192, &status, resp, err);
	buf_release(&req);
	if (r < 0) {
		s->dead = true;
		return -1;
	}
	if (status != 0) {
		int code = status > KP_ERR_UNAVAILABLE ? KP_ERR_FAIL : status;

		return kp_fail(err, code, "%.*s", (int)(resp->len < 900 ?
							resp->len : 900),
			       resp->data);
	}
	return 0;
}

static void
free_roots(struct dw_session *s)
{
	size_t i;

	for (i = 0; i < s->nroots; i++)
		free(s->roots[i].systemroot);
	for (i = 0; i < s->nlocked; i++)
		free(s->locked[i].why);
	free(s->roots);
	free(s->locked);
	free(s->table);
	s->roots = NULL;
	s->locked = NULL;
	s->table = NULL;
	s->nroots = s->nlocked = 0;
}

/* Read the roots the worker found; at most 128 of each. */
static int
get_roots(struct dw_session *s, struct wire_rd *r, struct kp_error *err)
{
	uint32_t n, i;

	free_roots(s);
	s->table = wire_getstr(r, 16, NULL);
	n = wire_get32(r);
	if (r->bad || n > 128)
		goto bad;
	s->roots = calloc(n ? n : 1, sizeof(*s->roots));
	if (s->roots == NULL)
		return kp_fail_oom(err);
	for (i = 0; i < n; i++) {
		struct dr_root *x = &s->roots[i];
		uint32_t st;

		x->part = wire_get32(r);
		x->start = wire_get64(r);
		x->size = wire_get64(r);
		st = wire_get32(r);
		x->rw = wire_get32(r) != 0;
		x->systemroot = wire_getstr(r, 1024, NULL);
		if (r->bad || x->systemroot == NULL || st > DR_UNCLEAN)
			goto bad;
		x->state = (enum dr_state)st;
		s->nroots++;
	}
	n = wire_get32(r);
	if (r->bad || n > 128)
		goto bad;
	s->locked = calloc(n ? n : 1, sizeof(*s->locked));
	if (s->locked == NULL)
		return kp_fail_oom(err);
	for (i = 0; i < n; i++) {
		struct dr_locked *x = &s->locked[i];

		x->part = wire_get32(r);
		x->bitlocker = wire_get32(r) != 0;
		x->why = wire_getstr(r, 1024, NULL);
		if (r->bad || x->why == NULL)
			goto bad;
		s->nlocked++;
	}
	return 0;
bad:
	return kp_fail(err, KP_ERR_FAIL, "malformed answer from the worker");
}

int
dw_open(const char *path, const struct imgio_opts *o, uint64_t mem_max,
	struct dw_session **s_ret, struct kp_error *err)
{
	struct imgio_opts io = *o;
	struct sb_opts so = { .mem_max = mem_max };
	struct wstate *ws;
	struct dw_session *s;
	int keep[2];

	*s_ret = NULL;
	s = calloc(1, sizeof(*s));
	ws = calloc(1, sizeof(*ws));
	if (s == NULL || ws == NULL) {
		free(s);
		free(ws);
		return kp_fail_oom(err);
	}
	if (imgio_open(path, &io, &s->io, err) < 0) {
		imgio_close(s->io, false, NULL);
		free(s);
		free(ws);
		return -1;
	}
	s->selftest = sb_selftest();
	ws->io = s->io;
	ws->selftest = s->selftest;
	/* The channel, and what libblkid reads the partition table from
	 * (for nbd, made here: the worker makes no files). */
	keep[0] = imgio_fd(s->io) >= 0 ? imgio_fd(s->io) : imgio_sock(s->io);
	keep[1] = imgio_shadow(s->io, err);
	if (keep[1] < 0) {
		imgio_close(s->io, false, NULL);
		free(s);
		free(ws);
		return -1;
	}
	so.keep = keep;
	so.nkeep = 2;
	/* It may write the raw image it holds, never grow it. */
	so.fsize_max = imgio_fd(s->io) >= 0 ? imgio_size(s->io) : 0;
	/* WS is the worker's; the parent's copy is freed below. */
	if (sb_start(&so, serve, ws, &s->w, err) < 0) {
		imgio_close(s->io, false, NULL);
		free(s);
		free(ws);
		return -1;
	}
	free(ws);
	*s_ret = s;
	return 0;
}

const char *
dw_format(const struct dw_session *s)
{
	return imgio_format(s->io);
}

int
dw_find_windows(struct dw_session *s, struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	struct wire_rd r;
	int rc = call(s, OP_FIND, 0, 0, 1 << 20, NULL, NULL, 0, NULL, 0,
		      &resp, err);

	if (rc == 0) {
		r = (struct wire_rd){ (unsigned char *)resp.data, resp.len,
				 false };
		rc = get_roots(s, &r, err);
	}
	buf_release(&resp);
	return rc;
}

int
dw_open_volume(struct dw_session *s, unsigned part, size_t *root,
	       struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	struct wire_rd r;
	int rc = call(s, OP_VOLUME, 0, part, 1 << 20, NULL, NULL, 0, NULL, 0,
		      &resp, err);

	if (rc == 0) {
		r = (struct wire_rd){ (unsigned char *)resp.data, resp.len,
				 false };
		*root = wire_get32(&r);
		rc = get_roots(s, &r, err);
		if (rc == 0 && *root >= s->nroots)
			rc = kp_fail(err, KP_ERR_FAIL, "malformed answer from "
				     "the worker");
	}
	buf_release(&resp);
	return rc;
}

const struct dr_root *
dw_roots(const struct dw_session *s, size_t *n)
{
	*n = s->nroots;
	return s->roots;
}

const struct dr_locked *
dw_locked(const struct dw_session *s, size_t *n)
{
	*n = s->nlocked;
	return s->locked;
}

const char *
dw_table(const struct dw_session *s)
{
	return s->table;
}

static int
simple(struct dw_session *s, enum dw_op op, size_t root, const char *path,
       struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	int rc = call(s, op, root, 0, 4096, path, NULL, 0, NULL, 0, &resp,
		      err);

	buf_release(&resp);
	return rc;
}

int
dw_make_writable(struct dw_session *s, size_t root, struct kp_error *err)
{
	int rc = simple(s, OP_WRITABLE, root, NULL, err);

	if (rc == 0 && root < s->nroots)
		s->roots[root].rw = true;
	return rc;
}

int
dw_read(struct dw_session *s, size_t root, const char *path, size_t max,
	struct buf *out, struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	int rc = call(s, OP_READ, root, 0, max, path, NULL, 0, NULL, 0, &resp,
		      err);

	if (rc == 0 && resp.len > max)
		rc = kp_fail(err, KP_ERR_FAIL, "malformed answer from the "
			     "worker");
	if (rc == 0 && out->data == NULL) {
		/* Hand the answer over rather than copy a large file. */
		*out = resp;
		return 0;
	}
	if (rc == 0 && buf_add(out, resp.data, resp.len) < 0)
		rc = kp_fail_oom(err);
	buf_release(&resp);
	return rc;
}

int
dw_replace(struct dw_session *s, size_t root, const char *path,
	   const void *data, size_t len, unsigned flags, struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	int rc = call(s, OP_REPLACE, root, flags, 4096, path, NULL, 0, data,
		      len, &resp, err);

	buf_release(&resp);
	return rc;
}

/* The plan crosses as: the log's path (4-byte length, bytes), pages (4),
 * four steps of file (1), first (4), n (4), size (8), verify (1), the
 * number of writes (4), each write's offset (8) and length (4), then the
 * bytes of all writes in order. */
int
dw_journal(struct dw_session *s, size_t root, const char *primary,
	   const char *log, const void *sd, size_t sdlen,
	   const struct journal_plan *p, uint64_t *written,
	   struct kp_error *err)
{
	struct buf req = BUF_INIT, resp = BUF_INIT;
	size_t llen = strlen(log);
	int rc;

	*written = 0;
	if (llen > 4096 || p->nw > UINT32_MAX)
		return kp_fail(err, KP_ERR_FAIL, "request too large");
	wire_putmem(&req, log, llen);
	journal_plan_put(&req, p);
	if (req.data == NULL)
		return kp_fail_oom(err);
	rc = call(s, OP_JOURNAL, root, 0, 64, primary, sd, sd ? sdlen : 0,
		  req.data, req.len, &resp, err);
	if (rc == 0) {
		struct wire_rd r = { (const unsigned char *)resp.data, resp.len,
				false };

		*written = wire_get64(&r);
		if (r.bad)
			rc = kp_fail(err, KP_ERR_FAIL, "bad answer from the "
				     "worker");
	}
	buf_release(&req);
	buf_release(&resp);
	return rc;
}

int
dw_create_sd(struct dw_session *s, size_t root, const char *path,
	     const void *data, size_t len, const void *sd, size_t sdlen,
	     struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	int rc = call(s, OP_CREATE, root, 0, 4096, path, sd, sdlen, data, len,
		      &resp, err);

	buf_release(&resp);
	return rc;
}

int
dw_remove(struct dw_session *s, size_t root, const char *path,
	  struct kp_error *err)
{
	return simple(s, OP_REMOVE, root, path, err);
}

int
dw_mkdir(struct dw_session *s, size_t root, const char *path,
	 struct kp_error *err)
{
	return simple(s, OP_MKDIR, root, path, err);
}

char **
dw_ls(struct dw_session *s, size_t root, const char *path,
      struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	char **v = NULL;
	size_t n = 0, off = 0;

	if (call(s, OP_LS, root, 0, 64 << 20, path, NULL, 0, NULL, 0, &resp,
		 err) < 0)
		goto out;
	v = calloc(1, sizeof(*v));
	while (v && off < resp.len) {
		size_t l = strnlen(resp.data + off, resp.len - off);
		char **nv = realloc(v, (n + 2) * sizeof(*v));

		if (nv == NULL)
			break;
		v = nv;
		v[n] = strndup(resp.data + off, l);
		if (v[n] == NULL)
			break;
		v[++n] = NULL;
		off += l + 1;
	}
	if (v == NULL || off < resp.len) {
		while (v && n)
			free(v[--n]);
		free(v);
		v = NULL;
		kp_fail_oom(err);
	}
out:
	buf_release(&resp);
	return v;
}

int
dw_get_sd(struct dw_session *s, size_t root, const char *path,
	  struct buf *out, uint32_t *attrib, struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	struct wire_rd r;
	int rc = call(s, OP_SD, root, 0, 65536, path, NULL, 0, NULL, 0, &resp,
		      err);

	if (rc == 0) {
		r = (struct wire_rd){ (unsigned char *)resp.data, resp.len,
				 false };
		uint32_t a = wire_get32(&r);

		if (r.bad)
			rc = kp_fail(err, KP_ERR_FAIL, "malformed answer from "
				     "the worker");
		else if (buf_add(out, r.p, r.left) < 0)
			rc = kp_fail_oom(err);
		if (attrib)
			*attrib = a;
	}
	buf_release(&resp);
	return rc;
}

int
dw_selftest_forbidden(struct dw_session *s, struct kp_error *err)
{
	return simple(s, OP_SELFTEST, 0, NULL, err);
}

int
dw_close(struct dw_session *s, bool ok, struct kp_error *err)
{
	struct kp_error e2 = KP_ERROR_INIT;
	int r = 0;
	bool wrote = false;
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; i < s->nroots; i++)
		wrote |= s->roots[i].rw;
	if (!s->dead && simple(s, OP_CLOSE, 0, NULL, err) < 0)
		r = -1;
	if (sb_stop(s->w, r == 0 ? err : &e2) < 0 && r == 0 && wrote)
		r = -1;
	if (imgio_close(s->io, ok && r == 0, r == 0 ? err : &e2) < 0)
		r = -1;
	free_roots(s);
	free(s);
	return r;
}

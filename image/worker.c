/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The direct backend behind a sandboxed worker (see worker.h): each call
 * is a row of the table below (lib/rpc.h), served by the ntfsvol_* call of the
 * same name in the worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hive/journal.h"
#include "image/imgio.h"
#include "image/worker.h"
#include "lib/fileio.h"
#include "lib/rpc.h"

/* The longest guest path and security descriptor a request carries. */
#define PATH_MAX_W 4096
#define SD_MAX 65536
/* The most roots and locked volumes an answer may list. */
#define ROOTS_MAX 128
/* The largest file read or written whole, with room for its header. */
#define FILE_MAX (SB_MSG_MAX - 8192)

/* What a request's time limit is unless the caller says: a file of a few
 * hundred MB over a slow NBD server, well within it. */
#define WORKER_TIMEOUT 60

/*
 * The messages.
 */

/* A root and a path in it (the path may be NULL). */
struct a_path {
	uint32_t root;
	char *path;
};

static const struct rpc_field a_path_f[] = {
	RPC_F(struct a_path, root, RPC_U32, 0),
	RPC_F(struct a_path, path, RPC_STR, PATH_MAX_W),
	{ .type = RPC_END },
};
static const struct rpc_layout a_path_l = { sizeof(struct a_path),
					    a_path_f };

struct a_read {
	uint32_t root;
	char *path;
	uint64_t max;
};

static const struct rpc_field a_read_f[] = {
	RPC_F(struct a_read, root, RPC_U32, 0),
	RPC_F(struct a_read, path, RPC_STR, PATH_MAX_W),
	RPC_F(struct a_read, max, RPC_U64, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout a_read_l = { sizeof(struct a_read),
					    a_read_f };

/* A file to copy into FD, a file of the parent's of its SIZE. */
struct a_copy {
	uint32_t root;
	char *path;
	uint64_t size;
	int fd;
};

static const struct rpc_field a_copy_f[] = {
	RPC_F(struct a_copy, root, RPC_U32, 0),
	RPC_F(struct a_copy, path, RPC_STR, PATH_MAX_W),
	RPC_F(struct a_copy, size, RPC_U64, 0),
	RPC_F(struct a_copy, fd, RPC_FD, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout a_copy_l = { sizeof(struct a_copy),
					    a_copy_f };

/* A file to write: replace (FLAGS) or create with descriptor SD. */
struct a_put {
	uint32_t root;
	char *path;
	uint32_t flags;
	void *sd;
	size_t sdlen;
	void *data;
	size_t len;
};

static const struct rpc_field a_put_f[] = {
	RPC_F(struct a_put, root, RPC_U32, 0),
	RPC_F(struct a_put, path, RPC_STR, PATH_MAX_W),
	RPC_F(struct a_put, flags, RPC_U32, 0),
	RPC_LEN(struct a_put, sd, sdlen, RPC_MEM, SD_MAX),
	RPC_LEN(struct a_put, data, len, RPC_MEM, FILE_MAX),
	{ .type = RPC_END },
};
static const struct rpc_layout a_put_l = { sizeof(struct a_put), a_put_f };

static void
writes_put(struct buf *b, const void *field)
{
	journal_writes_put(b, field);
}

static int
writes_get(struct wire_rd *r, void *field)
{
	struct journal_writes *p = field;

	if (journal_writes_get(r, p) == 0)
		return 0;
	free(p->w);
	p->w = NULL;
	return -1;
}

static void
writes_release(void *field)
{
	struct journal_writes *p = field;

	free(p->w);
	p->w = NULL;
}

/* Its writes point into the request that carries it. */
static const struct rpc_codec writes_codec = { writes_put, writes_get,
					     writes_release };

struct a_journal {
	uint32_t root;
	char *primary, *log;
	void *sd;
	size_t sdlen;
	struct journal_writes writes;
};

static const struct rpc_field a_journal_f[] = {
	RPC_F(struct a_journal, root, RPC_U32, 0),
	RPC_F(struct a_journal, primary, RPC_STR, PATH_MAX_W),
	RPC_F(struct a_journal, log, RPC_STR, PATH_MAX_W),
	RPC_LEN(struct a_journal, sd, sdlen, RPC_MEM, SD_MAX),
	{ .type = RPC_CODEC, .off = offsetof(struct a_journal, writes),
	  .codec = &writes_codec },
	{ .type = RPC_END },
};
static const struct rpc_layout a_journal_l = { sizeof(struct a_journal),
					       a_journal_f };

struct a_volume {
	uint32_t part;
};

static const struct rpc_field a_volume_f[] = {
	RPC_F(struct a_volume, part, RPC_U32, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout a_volume_l = { sizeof(struct a_volume),
					      a_volume_f };

static const struct rpc_field root_f[] = {
	RPC_F(struct ntfsvol_root, part, RPC_U32, 0),
	RPC_F(struct ntfsvol_root, start, RPC_U64, 0),
	RPC_F(struct ntfsvol_root, size, RPC_U64, 0),
	{ .type = RPC_STR, .off = offsetof(struct ntfsvol_root, systemroot),
	  .max = 1024, .flags = RPC_PRINTABLE },
	RPC_F(struct ntfsvol_root, state, RPC_ENUM, DR_UNCLEAN + 1),
	RPC_F(struct ntfsvol_root, rw, RPC_BOOL, 0),
	RPC_F(struct ntfsvol_root, mirror, RPC_U32, 0),
	RPC_F(struct ntfsvol_root, dangling, RPC_U32, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout root_l = { sizeof(struct ntfsvol_root), root_f };

static const struct rpc_field locked_f[] = {
	RPC_F(struct ntfsvol_locked, part, RPC_U32, 0),
	RPC_F(struct ntfsvol_locked, bitlocker, RPC_BOOL, 0),
	{ .type = RPC_STR, .off = offsetof(struct ntfsvol_locked, why),
	  .max = 1024, .flags = RPC_PRINTABLE },
	{ .type = RPC_END },
};
static const struct rpc_layout locked_l = { sizeof(struct ntfsvol_locked),
					    locked_f };

/* What the worker found: the table, the roots, the locked volumes; for
 * worker_open_volume, the new root's index. */
struct r_found {
	uint32_t root;
	char *table;
	struct ntfsvol_root *roots;
	size_t nroots;
	struct ntfsvol_locked *locked;
	size_t nlocked;
};

static const struct rpc_field r_found_f[] = {
	RPC_F(struct r_found, root, RPC_U32, 0),
	{ .type = RPC_STR, .off = offsetof(struct r_found, table), .max = 16,
	  .flags = RPC_PRINTABLE },
	{ .type = RPC_ARRAY, .off = offsetof(struct r_found, roots),
	  .len_off = offsetof(struct r_found, nroots), .max = ROOTS_MAX,
	  .elem = &root_l },
	{ .type = RPC_ARRAY, .off = offsetof(struct r_found, locked),
	  .len_off = offsetof(struct r_found, nlocked), .max = ROOTS_MAX,
	  .elem = &locked_l },
	{ .type = RPC_END },
};
static const struct rpc_layout r_found_l = { sizeof(struct r_found),
					     r_found_f };

struct r_data {
	struct buf data;
};

static const struct rpc_field r_data_f[] = {
	RPC_F(struct r_data, data, RPC_TAIL, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout r_data_l = { sizeof(struct r_data),
					    r_data_f };

struct name {
	char *s;
};

static const struct rpc_field name_f[] = {
	RPC_F(struct name, s, RPC_STR, PATH_MAX_W),
	{ .type = RPC_END },
};
static const struct rpc_layout name_l = { sizeof(struct name), name_f };

struct r_names {
	struct name *v;
	size_t n;
};

static const struct rpc_field r_names_f[] = {
	{ .type = RPC_ARRAY, .off = offsetof(struct r_names, v),
	  .len_off = offsetof(struct r_names, n), .max = 1u << 20,
	  .elem = &name_l },
	{ .type = RPC_END },
};
static const struct rpc_layout r_names_l = { sizeof(struct r_names),
					     r_names_f };

struct r_sd {
	uint32_t attrib;
	void *sd;
	size_t len;
};

static const struct rpc_field r_sd_f[] = {
	RPC_F(struct r_sd, attrib, RPC_U32, 0),
	RPC_LEN(struct r_sd, sd, len, RPC_MEM, SD_MAX),
	{ .type = RPC_END },
};
static const struct rpc_layout r_sd_l = { sizeof(struct r_sd), r_sd_f };

struct r_u64 {
	uint64_t v;
};

static const struct rpc_field r_u64_f[] = {
	RPC_F(struct r_u64, v, RPC_U64, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout r_u64_l = { sizeof(struct r_u64), r_u64_f };

/*
 * The worker: one ntfsvol over the channel it was given.
 */

struct wstate {
	struct imgio *io;
	struct ntfsvol *s;
	bool selftest;
};

/* The session, opened on the first request (in the worker, so that its
 * parsing is confined). */
static struct ntfsvol *
session(struct wstate *ws, struct kp_error *err)
{
	if (ws->s == NULL && ntfsvol_open_io(ws->io, &ws->s, err) < 0)
		return NULL;
	return ws->s;
}

#define SESSION(ws, err) \
	struct ntfsvol *s = session(ws, err); \
	if (s == NULL) \
		return -1

/* The roots and locked volumes of S, copied into F. */
static int
found(struct ntfsvol *s, struct r_found *f, struct kp_error *err)
{
	const struct ntfsvol_root *r = ntfsvol_roots(s, &f->nroots);
	const struct ntfsvol_locked *l = ntfsvol_locked(s, &f->nlocked);
	size_t i;

	f->table = strdup(ntfsvol_table(s) ? ntfsvol_table(s) : "");
	f->roots = calloc(f->nroots + 1, sizeof(*f->roots));
	f->locked = calloc(f->nlocked + 1, sizeof(*f->locked));
	if (f->table == NULL || f->roots == NULL || f->locked == NULL)
		return kp_fail_oom(err);
	for (i = 0; i < f->nroots; i++) {
		f->roots[i] = r[i];
		if ((f->roots[i].systemroot = strdup(r[i].systemroot)) == NULL)
			return kp_fail_oom(err);
	}
	for (i = 0; i < f->nlocked; i++) {
		f->locked[i] = l[i];
		if ((f->locked[i].why = strdup(l[i].why)) == NULL)
			return kp_fail_oom(err);
	}
	return 0;
}

static int
serve_find(void *st, const void *args, void *ans, struct kp_error *err)
{
	SESSION(st, err);
	(void)args;
	return ntfsvol_find_windows(s, err) < 0 ? -1 : found(s, ans, err);
}

static int
serve_volume(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_volume *a = args;
	struct r_found *f = ans;
	size_t root;

	SESSION(st, err);
	if (ntfsvol_open_volume(s, a->part, &root, err) < 0)
		return -1;
	f->root = (uint32_t)root;
	return found(s, f, err);
}

/* Answers the entries removed. */
static int
serve_repair(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_path *a = args;
	struct r_u64 *m = ans;
	unsigned fixed = 0;

	SESSION(st, err);
	if (ntfsvol_repair(s, a->root, &fixed, err) < 0)
		return -1;
	m->v = fixed;
	return 0;
}

/* Answers the $MFTMirr records repaired on the way (ntfsvol_root). */
static int
serve_writable(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_path *a = args;
	struct r_u64 *m = ans;
	const struct ntfsvol_root *r;
	size_t n;

	SESSION(st, err);
	if (ntfsvol_make_writable(s, a->root, err) < 0)
		return -1;
	r = ntfsvol_roots(s, &n);
	m->v = a->root < n ? r[a->root].mirror : 0;
	return 0;
}

static int
serve_read(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_read *a = args;
	struct r_data *d = ans;

	SESSION(st, err);
	/* Straight into the answer's tail: one copy of the file. */
	return ntfsvol_read(s, a->root, a->path, a->max > FILE_MAX ? FILE_MAX :
		       (size_t)a->max, &d->data, err);
}

static int
serve_size(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_read *a = args;
	struct r_u64 *size = ans;

	SESSION(st, err);
	return ntfsvol_size(s, a->root, a->path, a->max > FILE_MAX ? FILE_MAX :
			    (size_t)a->max, &size->v, err);
}

/* Straight from the volume into the parent's file, mapped: the one copy
 * of the file.  The file cannot grow through the mapping, and this
 * worker has no call that would grow it past its file-size limit. */
static int
serve_copy(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_copy *a = args;
	void *dst;
	int r;

	SESSION(st, err);
	(void)ans;
	if (a->size == 0 || a->size > FILE_MAX)
		return a->size ? kp_fail(err, KP_ERR_FAIL, "too large") : 0;
	dst = mmap(NULL, (size_t)a->size, PROT_READ | PROT_WRITE,
		   MAP_SHARED,
		   a->fd, 0);
	if (dst == MAP_FAILED)
		return kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s'", a->path);
	r = ntfsvol_read_into(s, a->root, a->path, dst, (size_t)a->size, err);
	/* As a subverted worker could: keep the mapping (the parent's seal
	 * must catch it). */
	if (!(sb_selftest() && getenv("KMSPREP_WORKER_KEEP_COPY")))
		munmap(dst, (size_t)a->size);
	return r;
}

static int
serve_replace(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_put *a = args;

	SESSION(st, err);
	(void)ans;
	return ntfsvol_replace(s, a->root, a->path, a->data, a->len, a->flags, err);
}

static int
serve_create(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_put *a = args;

	SESSION(st, err);
	(void)ans;
	return ntfsvol_create_sd(s, a->root, a->path, a->data, a->len, a->sd,
				 a->sdlen, err);
}

static int
serve_remove(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_path *a = args;

	SESSION(st, err);
	(void)ans;
	return ntfsvol_remove(s, a->root, a->path, err);
}

static int
serve_mkdir(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_path *a = args;

	SESSION(st, err);
	(void)ans;
	return ntfsvol_mkdir(s, a->root, a->path, err);
}

static int
serve_ls(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_path *a = args;
	struct r_names *r = ans;
	char **v;
	size_t n;

	SESSION(st, err);
	if ((v = ntfsvol_ls(s, a->root, a->path, err)) == NULL)
		return -1;
	for (n = 0; v[n]; n++)
		;
	r->v = calloc(n + 1, sizeof(*r->v));
	for (r->n = 0; r->v && r->n < n; r->n++)
		r->v[r->n].s = v[r->n];
	if (r->v == NULL)
		while (n)
			free(v[--n]);
	free(v);
	return r->v ? 0 : kp_fail_oom(err);
}

static int
serve_sd(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_path *a = args;
	struct r_sd *r = ans;
	struct buf b = BUF_INIT;

	SESSION(st, err);
	if (ntfsvol_get_sd(s, a->root, a->path, &b, &r->attrib, err) < 0) {
		buf_release(&b);
		return -1;
	}
	r->sd = b.data;
	r->len = b.len;
	return 0;
}

static int
serve_journal(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_journal *a = args;
	struct r_u64 *r = ans;

	SESSION(st, err);
	return ntfsvol_journal(s, a->root, a->primary, a->log,
			       a->sdlen ? a->sd : NULL, a->sdlen, &a->writes, &r->v,
			       err);
}

static int
serve_close(void *st, const void *args, void *ans, struct kp_error *err)
{
	struct wstate *ws = st;
	int r;

	(void)args;
	(void)ans;
	r = ws->s ? ntfsvol_close(ws->s, true, err) : 0;
	ws->s = NULL;
	return r;
}

static int
serve_selftest(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct wstate *ws = st;

	(void)args;
	(void)ans;
	if (!ws->selftest)
		return kp_fail(err, KP_ERR_FAIL, "no self-test");
	/* Forbidden by the seccomp filter: never returns. */
	return socket(AF_INET, SOCK_STREAM, 0) < 0 ? -1 : 0;
}

enum {
	WORKER_FIND = 1, WORKER_VOLUME, WORKER_WRITABLE, WORKER_READ,
	WORKER_REPLACE, WORKER_CREATE, WORKER_REMOVE, WORKER_LS, WORKER_MKDIR,
	WORKER_SD, WORKER_JOURNAL, WORKER_CLOSE, WORKER_SELFTEST,
	WORKER_REPAIR, WORKER_SIZE, WORKER_COPY, WORKER_NR
};

static const struct rpc_op ops[WORKER_NR] = {
	[WORKER_FIND] = { .name = "find", .answer = &r_found_l,
			  .serve = serve_find },
	[WORKER_VOLUME] = { .name = "volume", .args = &a_volume_l,
			    .answer = &r_found_l, .serve = serve_volume },
	[WORKER_WRITABLE] = { .name = "writable", .args = &a_path_l,
			      .answer = &r_u64_l, .serve = serve_writable },
	[WORKER_READ] = { .name = "read", .args = &a_read_l, .answer = &r_data_l,
			  .answer_max = SB_MSG_MAX, .serve = serve_read },
	[WORKER_REPLACE] = { .name = "replace", .args = &a_put_l,
			     .serve = serve_replace },
	[WORKER_CREATE] = { .name = "create", .args = &a_put_l,
			    .serve = serve_create },
	[WORKER_REMOVE] = { .name = "remove", .args = &a_path_l,
			    .serve = serve_remove },
	[WORKER_LS] = { .name = "ls", .args = &a_path_l, .answer = &r_names_l,
			.answer_max = (size_t)64 << 20, .serve = serve_ls },
	[WORKER_MKDIR] = { .name = "mkdir", .args = &a_path_l,
			   .serve = serve_mkdir },
	[WORKER_SD] = { .name = "sd", .args = &a_path_l, .answer = &r_sd_l,
			.serve = serve_sd },
	[WORKER_JOURNAL] = { .name = "journal", .args = &a_journal_l,
			     .answer = &r_u64_l, .serve = serve_journal },
	[WORKER_CLOSE] = { .name = "close", .serve = serve_close },
	[WORKER_SELFTEST] = { .name = "selftest", .serve = serve_selftest },
	[WORKER_REPAIR] = { .name = "repair", .args = &a_path_l,
			    .answer = &r_u64_l, .serve = serve_repair },
	[WORKER_SIZE] = { .name = "size", .args = &a_read_l,
			  .answer = &r_u64_l, .serve = serve_size },
	[WORKER_COPY] = { .name = "copy", .args = &a_copy_l,
			  .serve = serve_copy },
};

/* ntfs-3g reports a failed read as it sees it ("Failed to read $MFT
 * bitmap: Connection timed out"); when the image channel itself failed,
 * the cause is the storage, which a retry may find working. */
static void
restate(void *st, struct kp_error *err)
{
	const struct wstate *ws = st;
	bool remote;
	int e = ws->io ? imgio_fault(ws->io, &remote) : 0;
	char was[sizeof(err->msg)];

	enum kp_remedy remedy = err->remedy;

	if (e == 0)
		return;
	memcpy(was, err->msg, sizeof(was));
	if (remote)
		kp_fail(err, KP_ERR_UNAVAILABLE, "the NBD server %s (%s)",
			e == ETIMEDOUT ? "stopped answering" :
			"dropped the connection", was);
	else if (e == ETIMEDOUT)
		kp_fail(err, KP_ERR_UNAVAILABLE, "qemu-nbd stopped answering "
			"while serving the image (%s)", was);
	else
		kp_fail(err, KP_ERR_INPUT, "qemu-nbd failed serving the image "
			"(%s)", was);
	kp_error_remedy(err, remedy);
}

static const struct rpc_table table = {
	.worker = "the sandboxed worker", .ops = ops, .nops = WORKER_NR,
	.restate = restate,
};

/*
 * The parent.
 */

struct worker_session {
	struct imgio *io;
	struct rpc_client *c;
	struct r_found f;	/* the roots as last found */
};

int
worker_open(const char *path, const struct imgio_opts *o, uint64_t mem_max,
	    struct worker_session **s_ret, struct kp_error *err)
{
	struct imgio_opts io = *o;
	struct sb_opts so = { .mem_max = mem_max };
	struct wstate ws = { .selftest = sb_selftest() };
	struct worker_session *s;
	int keep[2];

	*s_ret = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return kp_fail_oom(err);
	if (imgio_open(path, &io, &s->io, err) < 0)
		goto fail;
	ws.io = s->io;
	/* The channel, and what libblkid reads the partition table from
	 * (for nbd, made here: the worker makes no files). */
	keep[0] = imgio_fd(s->io) >= 0 ? imgio_fd(s->io) : imgio_sock(s->io);
	if ((keep[1] = imgio_shadow(s->io, err)) < 0)
		goto fail;
	so.keep = keep;
	so.nkeep = 2;
	/* It may write the raw image it holds, never grow it. */
	so.fsize_max = imgio_fd(s->io) >= 0 ? imgio_size(s->io) : 0;
	so.timeout_s = o->timeout_s ? o->timeout_s : WORKER_TIMEOUT;
	/* WS is copied into the worker by the fork. */
	if (rpc_start(&table, &so, &ws, &s->c, err) < 0)
		goto fail;
	*s_ret = s;
	return 0;
fail:
	imgio_close(s->io, false, NULL);
	free(s);
	return -1;
}

const char *
worker_format(const struct worker_session *s)
{
	return imgio_format(s->io);
}

/* Take the roots found (F) as the session's. */
static void
take(struct worker_session *s, struct r_found *f)
{
	rpc_layout_release(&r_found_l, &s->f);
	s->f = *f;
}

int
worker_find_windows(struct worker_session *s, struct kp_error *err)
{
	struct r_found f;

	if (rpc_call(s->c, WORKER_FIND, NULL, &f, err) < 0)
		return -1;
	take(s, &f);
	return 0;
}

int
worker_open_volume(struct worker_session *s, unsigned part, size_t *root,
		   struct kp_error *err)
{
	struct a_volume a = { part };
	struct r_found f;

	if (rpc_call(s->c, WORKER_VOLUME, &a, &f, err) < 0)
		return -1;
	if (f.root >= f.nroots) {
		rpc_release(s->c, WORKER_VOLUME, &f);
		return kp_fail(err, KP_ERR_FAIL, "%s sent a bad answer",
			       table.worker);
	}
	*root = f.root;
	take(s, &f);
	return 0;
}

const struct ntfsvol_root *
worker_roots(const struct worker_session *s, size_t *n)
{
	*n = s->f.nroots;
	return s->f.roots;
}

const struct ntfsvol_locked *
worker_locked(const struct worker_session *s, size_t *n)
{
	*n = s->f.nlocked;
	return s->f.locked;
}

const char *
worker_table(const struct worker_session *s)
{
	return s->f.table;
}

/* Call OP on PATH of ROOT, with no answer. */
static int
on_path(struct worker_session *s, unsigned op, size_t root, const char *path,
	struct kp_error *err)
{
	struct a_path a = { (uint32_t)root, (char *)path };

	if (root > UINT32_MAX)
		return kp_fail(err, KP_ERR_FAIL, "bad root");
	return rpc_call(s->c, op, &a, NULL, err);
}

int
worker_make_writable(struct worker_session *s, size_t root,
		     unsigned *mirror, struct kp_error *err)
{
	struct a_path a = { (uint32_t)root, NULL };
	struct r_u64 m = { 0 };
	int rc;

	if (root > UINT32_MAX)
		return kp_fail(err, KP_ERR_FAIL, "bad root");
	rc = rpc_call(s->c, WORKER_WRITABLE, &a, &m, err);
	if (rc == 0 && root < s->f.nroots)
		s->f.roots[root].rw = true;
	*mirror = m.v > UINT32_MAX ? UINT32_MAX : (unsigned)m.v;
	return rc;
}

int
worker_repair(struct worker_session *s, size_t root, unsigned *fixed,
	      struct kp_error *err)
{
	struct a_path a = { (uint32_t)root, NULL };
	struct r_u64 m = { 0 };
	int rc;

	if (root > UINT32_MAX)
		return kp_fail(err, KP_ERR_FAIL, "bad root");
	rc = rpc_call(s->c, WORKER_REPAIR, &a, &m, err);
	if (rc == 0 && root < s->f.nroots)
		s->f.roots[root].dangling = 0;
	*fixed = m.v > UINT32_MAX ? UINT32_MAX : (unsigned)m.v;
	return rc;
}

int
worker_read(struct worker_session *s, size_t root, const char *path, size_t max,
	    struct buf *out, struct kp_error *err)
{
	struct a_read a = { (uint32_t)root, (char *)path, max };
	struct r_data d;
	int rc = rpc_call(s->c, WORKER_READ, &a, &d, err);

	if (rc == 0 && d.data.len > max)
		rc = kp_fail(err, KP_ERR_FAIL, "%s sent a bad answer",
			     table.worker);
	if (rc == 0 && out->data == NULL) {
		/* Handed over rather than copied: a hive is large. */
		*out = d.data;
		return 0;
	}
	if (rc == 0 && buf_add(out, d.data.data, d.data.len) < 0)
		rc = kp_fail_oom(err);
	buf_release(&d.data);
	return rc;
}

int
worker_copy(struct worker_session *s, size_t root, const char *path,
	    size_t max, int fd, struct kp_error *err)
{
	struct a_read a = { (uint32_t)root, (char *)path, max };
	struct r_u64 size;
	int mfd, r;

	if (rpc_call(s->c, WORKER_SIZE, &a, &size, err) < 0)
		return -1;
	if (size.v > max)
		return kp_fail(err, KP_ERR_FAIL, "%s sent a bad answer",
			       table.worker);
	if (size.v == 0)
		return 0;
	/* The worker writes into a memfd of this size that it cannot
	 * resize, sealed against writes once it has answered: what the
	 * hive server checks is what it reads later, whatever the worker
	 * does next.  The blocks of FD are taken first: a full disk fails
	 * now, not half-way. */
	if ((errno = posix_fallocate(fd, 0, (off_t)size.v)) != 0)
		return kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno,
				     "cannot copy '%s' out", path);
	if ((mfd = kp_worker_file(size.v, err)) < 0)
		return -1;
	r = rpc_call(s->c, WORKER_COPY, &(struct a_copy){
			(uint32_t)root, (char *)path, size.v, mfd }, NULL, err);
	if (r == 0)
		r = kp_worker_file_seal(mfd, path, err);
	if (r == 0)
		r = kp_copy_fd(mfd, fd, size.v, err);
	close(mfd);
	return r;
}

int
worker_replace(struct worker_session *s, size_t root, const char *path,
	       const void *data, size_t len, unsigned flags,
	       struct kp_error *err)
{
	struct a_put a = { .root = (uint32_t)root, .path = (char *)path,
			   .flags = flags, .data = (void *)data, .len = len };

	return rpc_call(s->c, WORKER_REPLACE, &a, NULL, err);
}

int
worker_create_sd(struct worker_session *s, size_t root, const char *path,
		 const void *data, size_t len, const void *sd, size_t sdlen,
		 struct kp_error *err)
{
	struct a_put a = { .root = (uint32_t)root, .path = (char *)path,
			   .sd = (void *)sd, .sdlen = sdlen,
			   .data = (void *)data, .len = len };

	return rpc_call(s->c, WORKER_CREATE, &a, NULL, err);
}

int
worker_journal(struct worker_session *s, size_t root, const char *primary,
	       const char *log, const void *sd, size_t sdlen,
	       const struct journal_writes *p, uint64_t *written,
	       struct kp_error *err)
{
	struct a_journal a = { .root = (uint32_t)root,
			       .primary = (char *)primary, .log = (char *)log,
			       .sd = (void *)sd, .sdlen = sd ? sdlen : 0,
			       .writes = *p };
	struct r_u64 r;
	int rc = rpc_call(s->c, WORKER_JOURNAL, &a, &r, err);

	*written = rc == 0 ? r.v : 0;
	return rc;
}

int
worker_remove(struct worker_session *s, size_t root, const char *path,
	      struct kp_error *err)
{
	return on_path(s, WORKER_REMOVE, root, path, err);
}

int
worker_mkdir(struct worker_session *s, size_t root, const char *path,
	     struct kp_error *err)
{
	return on_path(s, WORKER_MKDIR, root, path, err);
}

char **
worker_ls(struct worker_session *s, size_t root, const char *path,
	  struct kp_error *err)
{
	struct a_path a = { (uint32_t)root, (char *)path };
	struct r_names r;
	char **v;
	size_t i;

	if (rpc_call(s->c, WORKER_LS, &a, &r, err) < 0)
		return NULL;
	v = calloc(r.n + 1, sizeof(*v));
	for (i = 0; v && i < r.n; i++) {
		/* Taken over: the answer keeps no name. */
		v[i] = r.v[i].s;
		r.v[i].s = NULL;
	}
	rpc_release(s->c, WORKER_LS, &r);
	if (v == NULL)
		kp_fail_oom(err);
	return v;
}

int
worker_get_sd(struct worker_session *s, size_t root, const char *path,
	      struct buf *out, uint32_t *attrib, struct kp_error *err)
{
	struct a_path a = { (uint32_t)root, (char *)path };
	struct r_sd r;
	int rc = rpc_call(s->c, WORKER_SD, &a, &r, err);

	if (rc == 0 && buf_add(out, r.sd, r.len) < 0)
		rc = kp_fail_oom(err);
	if (rc == 0 && attrib)
		*attrib = r.attrib;
	if (rc == 0)
		rpc_release(s->c, WORKER_SD, &r);
	return rc;
}

int
worker_selftest_forbidden(struct worker_session *s, struct kp_error *err)
{
	return rpc_call(s->c, WORKER_SELFTEST, NULL, NULL, err);
}

int
worker_close(struct worker_session *s, bool ok, struct kp_error *err)
{
	struct kp_error e2 = KP_ERROR_INIT;
	bool wrote = false;
	size_t i;
	int r = 0;

	if (s == NULL)
		return 0;
	for (i = 0; i < s->f.nroots; i++)
		wrote |= s->f.roots[i].rw;
	if (!rpc_dead(s->c) && rpc_call(s->c, WORKER_CLOSE, NULL, NULL, err) < 0)
		r = -1;
	/* A worker stopped or dead may have left a request half sent on
	 * the channel it shares with us. */
	if (rpc_dead(s->c))
		imgio_abandon(s->io);
	if (rpc_stop(s->c, r == 0 ? err : &e2) < 0 && r == 0 && wrote)
		r = -1;
	if (imgio_close(s->io, ok && r == 0, r == 0 ? err : &e2) < 0)
		r = -1;
	rpc_layout_release(&r_found_l, &s->f);
	free(s);
	return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hive server and its client side; see remote.h.
 *
 * A request is an operation byte, the hive's number and the call's
 * arguments (lib/wire.h); an answer is a status byte (0, or the kp_status
 * of the error) followed by the results, or by the error's remedy and
 * message.  The server is a fork of this program, so structures without
 * pointers (struct hive_state) travel as they are, and are cleaned up on
 * arrival: whatever parsed a hostile hive may have been subverted.
 */
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/sandbox.h"
#include "lib/wire.h"
#include "remote.h"

enum hs_op {
	HS_OPEN = 1, HS_CLOSE, HS_KIND, HS_FIND, HS_SUBKEYS, HS_KEY_NAME,
	HS_GET, HS_VALUES, HS_SET, HS_UNSET, HS_MKPATH, HS_DELETE_KEY,
	HS_COMMIT, HS_SELFTEST_FORBIDDEN, HS_SELFTEST_READ, HS_SELFTEST_WRITE,
};

/* A request's time limit: checking and editing a 2 GiB hive takes
 * seconds; a server stuck (or made to loop) for minutes is stopped. */
#define HS_TIMEOUT 600

/* Hives one server holds at once: a Windows installation has a handful. */
#define HS_MAX_HIVES 64
/* The longest path or name it takes or gives: a value name is at most
 * 16383 UTF-16 units, each at most 3 bytes of UTF-8. */
#define HS_STR_MAX (64u << 10)

struct hive_server {
	struct sb_worker *w;	/* NULL once stopped */
	char *dir;		/* its directory: names are sent relative */
	const char *fence;	/* sb_fence() when it started */
	size_t open;		/* hives not yet closed */
	pthread_mutex_t lock;	/* one request at a time, and OPEN and W */
};

struct hive_proxy {
	struct hive_server *srv;
	uint32_t id;
	size_t nedits;		/* as the server counted after each edit */
	char *why;		/* the last commit's rewrite_why */
};

/*
 * The server.
 */

struct hs_state {
	struct hive *h[HS_MAX_HIVES];
	bool selftest;
	bool die_on_open;	/* self-test: a forbidden call at each open */
};

static void
put_error(struct buf *resp, const struct kp_error *err)
{
	buf_reset(resp);
	buf_addch(resp, (char)(err->status ? err->status : KP_ERR_FAIL));
	wire_put32(resp, (uint32_t)err->remedy);
	wire_putstr(resp, err->msg);
}

static void
put_value(struct buf *b, const struct hive_value *v)
{
	wire_putstr(b, v->name);
	wire_put32(b, v->type);
	wire_putmem(b, v->data, v->len);
	buf_addch(b, v->tombstone);
}

static int
serve_open(struct hs_state *hs, struct wire_rd *r, struct buf *out,
	   struct kp_error *err)
{
	struct hive_open_opts o = { .flags = 0 };
	char *path = wire_getstr(r, HS_STR_MAX, NULL);
	char *log1, *log2;
	bool null1, null2;
	uint32_t id;
	int rc = -1;

	o.flags = wire_get32(r);
	log1 = wire_getstr(r, HS_STR_MAX, &null1);
	log2 = wire_getstr(r, HS_STR_MAX, &null2);
	o.log1 = log1;
	o.log2 = log2;
	for (id = 0; id < HS_MAX_HIVES && hs->h[id]; id++)
		;
	/* As a hostile hive could make it do: the filter kills it. */
	if (hs->die_on_open)
		(void)socket(AF_INET, SOCK_STREAM, 0);
	if (r->bad || path == NULL || (!null1 && !log1) || (!null2 && !log2))
		kp_fail(err, KP_ERR_FAIL, "bad request");
	else if (id == HS_MAX_HIVES)
		kp_fail(err, KP_ERR_FAIL, "too many hives open");
	else if (hive_open(path, &o, &hs->h[id], err) == 0) {
		wire_put32(out, id);
		wire_putmem(out, hive_state(hs->h[id]),
			    sizeof(struct hive_state));
		rc = 0;
	}
	free(path);
	free(log1);
	free(log2);
	return rc;
}

static int
serve_commit(struct hive *h, struct wire_rd *r, struct buf *out,
	     struct kp_error *err)
{
	struct hive_commit_opts o = { 0 };
	struct hive_commit_result res;
	bool null;
	char *dest = wire_getstr(r, HS_STR_MAX, &null);
	uint32_t f = wire_get32(r);
	int rc;

	if (r->bad || (!null && dest == NULL)) {
		free(dest);
		return kp_fail(err, KP_ERR_FAIL, "bad request");
	}
	o.dest = dest;
	o.no_replace = f & 1;
	o.backup = f & 2;
	o.force = f & 4;
	o.journal = f & 8;
	o.plan_only = f & 16;
	rc = hive_commit(h, &o, &res, err);
	free(dest);
	if (rc < 0)
		return -1;
	buf_addch(out, res.written);
	wire_put32(out, res.seq);
	wire_putstr(out, res.backup);
	buf_addch(out, res.journaled);
	wire_put32(out, res.pages);
	wire_putstr(out, res.rewrite_why);
	buf_addch(out, res.in_place);
	wire_put32(out, (uint32_t)res.pe_why);
	buf_addch(out, res.plan != NULL);
	if (res.plan)
		journal_plan_put(out, &res.plan->p);
	free(res.backup);
	hive_plan_free(res.plan);
	return 0;
}

static int
selftest(const struct hs_state *hs, unsigned op, struct wire_rd *r,
	 struct buf *out, struct kp_error *err)
{
	char *path, c;
	int fd;

	if (!hs->selftest)
		return kp_fail(err, KP_ERR_FAIL, "no self-test without "
			       "KMSPREP_SANDBOX_SELFTEST=1");
	/* Not on the allow-list: the filter kills the server. */
	if (op == HS_SELFTEST_FORBIDDEN)
		return socket(AF_INET, SOCK_STREAM, 0) < 0 ? -1 : 0;
	path = wire_getstr(r, HS_STR_MAX, NULL);
	if (path == NULL)
		return kp_fail(err, KP_ERR_FAIL, "bad request");
	errno = 0;
	if (op == HS_SELFTEST_WRITE) {
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		wire_put32(out, fd >= 0 && write(fd, "x", 1) == 1 ? 0 :
				(uint32_t)(errno ? errno : EIO));
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		wire_put32(out, fd >= 0 && read(fd, &c, 1) >= 0 ? 0 :
				(uint32_t)(errno ? errno : EIO));
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return 0;
}

/* The call REQ names, on its hive; its results in OUT. */
static int
dispatch(struct hs_state *hs, unsigned op, struct wire_rd *r,
	 struct buf *out, struct kp_error *err)
{
	uint32_t id = wire_get32(r);
	struct hive *h = id < HS_MAX_HIVES ? hs->h[id] : NULL;
	struct hive_value v, *vals = NULL;
	char *path = NULL, *name = NULL;
	hive_key k = 0, *kids = NULL;
	size_t n = 0, i, len;
	const unsigned char *data;
	uint32_t type;
	int rc = -1;

	if (op == HS_OPEN)
		return serve_open(hs, r, out, err);
	if (op >= HS_SELFTEST_FORBIDDEN)
		return selftest(hs, op, r, out, err);
	if (h == NULL || r->bad)
		return kp_fail(err, KP_ERR_FAIL, "bad request");
	switch (op) {
	case HS_CLOSE:
		hive_close(h);
		hs->h[id] = NULL;
		return 0;
	case HS_KIND:
		wire_put32(out, (uint32_t)hive_kind(h));
		return 0;
	case HS_COMMIT:
		return serve_commit(h, r, out, err);
	case HS_SUBKEYS:
	case HS_KEY_NAME:
	case HS_GET:
	case HS_VALUES:
		k = (hive_key)wire_get64(r);
		break;
	default:
		path = wire_getstr(r, HS_STR_MAX, NULL);
		if (path == NULL)
			return kp_fail(err, KP_ERR_FAIL, "bad request");
	}
	if (op == HS_GET || op == HS_SET || op == HS_UNSET)
		name = wire_getstr(r, HS_STR_MAX, NULL);
	if (r->bad || ((op == HS_GET || op == HS_SET || op == HS_UNSET) &&
		       name == NULL)) {
		free(path);
		free(name);
		return kp_fail(err, KP_ERR_FAIL, "bad request");
	}
	switch (op) {
	case HS_FIND:
		rc = hive_find(h, path, &k, err);
		wire_put32(out, (uint32_t)rc);
		wire_put64(out, k);
		break;
	case HS_SUBKEYS:
		rc = hive_subkeys(h, k, &kids, &n, err);
		wire_put32(out, (uint32_t)n);
		for (i = 0; rc == 0 && i < n; i++)
			wire_put64(out, kids[i]);
		free(kids);
		break;
	case HS_KEY_NAME:
		name = hive_key_name(h, k, err);
		rc = name ? 0 : -1;
		wire_putstr(out, name);
		break;
	case HS_GET:
		rc = hive_get(h, k, name, &v, err);
		wire_put32(out, (uint32_t)rc);
		if (rc == 1) {
			put_value(out, &v);
			hive_value_release(&v);
		}
		break;
	case HS_VALUES:
		rc = hive_values(h, k, &vals, &n, err);
		wire_put32(out, (uint32_t)n);
		for (i = 0; rc == 0 && i < n; i++)
			put_value(out, &vals[i]);
		hive_values_free(vals, n);
		break;
	case HS_SET:
		data = wire_getmem(r, SIZE_MAX, &len);
		type = wire_get32(r);
		rc = data == NULL || r->bad ?
			kp_fail(err, KP_ERR_FAIL, "bad request") :
			hive_set(h, path, name, type, data, len, err);
		break;
	case HS_UNSET:
		rc = hive_unset(h, path, name, err);
		wire_put32(out, (uint32_t)rc);
		break;
	case HS_MKPATH:
		rc = hive_mkpath(h, path, &k, err);
		wire_put64(out, k);
		break;
	case HS_DELETE_KEY:
		rc = hive_delete_key(h, path, err);
		wire_put32(out, (uint32_t)rc);
		break;
	default:
		rc = kp_fail(err, KP_ERR_FAIL, "bad request");
	}
	/* Every edit answers with the count of edits after it. */
	if (rc >= 0 && (op == HS_SET || op == HS_UNSET || op == HS_MKPATH ||
			op == HS_DELETE_KEY))
		wire_put64(out, hive_nr_edits(h));
	free(path);
	free(name);
	return rc < 0 ? -1 : 0;
}

static int
serve(void *ud, const unsigned char *req, size_t len, struct buf *resp,
      struct buf *tail)
{
	(void)tail;
	struct kp_error err = KP_ERROR_INIT;
	struct wire_rd r = { req, len, false };
	const unsigned char *op = wire_take(&r, 1);

	buf_addch(resp, 0);
	if (op == NULL || dispatch(ud, *op, &r, resp, &err) < 0)
		put_error(resp, &err);
	return 0;
}

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

static void
warm_iconv(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, keep_iconv);
}

int
hive_server_start(const char *dir, struct hive_server **srv_ret,
		  struct kp_error *err)
{
	struct hive_server *srv;
	struct hs_state hs;
	/* The server holds a hive of up to 2 GiB, hivex's copy of it and
	 * the new one being checked. */
	struct sb_opts so = { .mem_max = (uint64_t)8 << 30, .fs_dir = dir,
			      .timeout_s = HS_TIMEOUT };

	*srv_ret = NULL;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return kp_fail_oom(err);
	memset(&hs, 0, sizeof(hs));
	hs.selftest = sb_selftest();
	hs.die_on_open = hs.selftest &&
			 getenv("KMSPREP_HIVE_SERVER_DIE_ON_OPEN") != NULL;
	warm_iconv();
	srv->fence = sb_fence();
	srv->dir = strdup(dir);
	/* HS is copied into the server by the fork. */
	if (srv->dir == NULL || sb_start(&so, serve, &hs, &srv->w, err) < 0) {
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

int
hive_server_stop(struct hive_server *srv, struct kp_error *err)
{
	int r;

	if (srv == NULL)
		return 0;
	pthread_mutex_lock(&srv->lock);
	r = sb_stop(srv->w, err);
	srv->w = NULL;
	/* Handles still open go on to hpx_close, which frees it. */
	if (srv->open) {
		pthread_mutex_unlock(&srv->lock);
		return r;
	}
	pthread_mutex_unlock(&srv->lock);
	pthread_mutex_destroy(&srv->lock);
	free(srv->dir);
	free(srv);
	return r;
}

/*
 * The client.
 */

/* Control characters as '?': text from the server reaches a terminal. */
static void
printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static int
bad_answer(struct kp_error *err)
{
	return kp_fail(err, KP_ERR_FAIL, "the hive server sent a bad answer");
}

/* The largest answer to OP: values and plans can be large; a list of
 * subkeys is 8 bytes each; anything else is a few numbers or a name. */
static size_t
answer_max(unsigned op)
{
	switch (op) {
	case HS_GET:
	case HS_VALUES:
	case HS_COMMIT:
		return SB_MSG_MAX;
	case HS_SUBKEYS:
		return (size_t)64 << 20;
	default:
		return (size_t)1 << 20;
	}
}

/* Send OP on hive ID with ARGS; the answer's results are left in RESP,
 * read by R.  An error answer becomes ERR, its text made printable. */
static int
call(struct hive_server *srv, unsigned op, uint32_t id,
     const struct buf *args, struct buf *resp, struct wire_rd *r,
     struct kp_error *err)
{
	unsigned char hdr[5] = { (unsigned char)op, (unsigned char)id,
				 (unsigned char)(id >> 8),
				 (unsigned char)(id >> 16),
				 (unsigned char)(id >> 24) };
	/* The arguments go as they are, not copied behind the header. */
	struct iovec v[2] = { { hdr, sizeof(hdr) },
			      { args ? args->data : NULL,
				args ? args->len : 0 } };
	unsigned char status;
	int rc;

	pthread_mutex_lock(&srv->lock);
	rc = srv->w ? sb_callv_first(srv->w, v, 2, answer_max(op), &status,
				     resp, err) :
		      kp_fail(err, KP_ERR_FAIL, "the hive server was stopped");
	pthread_mutex_unlock(&srv->lock);
	if (rc < 0)
		return -1;
	*r = (struct wire_rd){ (const unsigned char *)resp->data, resp->len,
			       false };
	if (status != 0) {
		uint32_t remedy = wire_get32(r);
		char *msg = wire_getstr(r, KP_ERROR_MSG_MAX, NULL);

		if (msg)
			printable(msg);
		kp_fail(err, status < KP_NSTATUS ? (enum kp_status)status :
			KP_ERR_FAIL, "%s", msg ? msg :
			"the hive server sent a bad answer");
		if (remedy < KP_NREMEDIES)
			kp_error_remedy(err, (enum kp_remedy)remedy);
		free(msg);
		return -1;
	}
	return 0;
}

/* The end of an answer: all of it read, nothing past it. */
static int
done(const struct wire_rd *r, struct kp_error *err)
{
	return r->bad || r->left ? bad_answer(err) : 0;
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

int
hpx_open(struct hive_server *srv, const char *path,
	 const struct hive_open_opts *o, struct hive_state *st,
	 struct hive_proxy **px_ret, struct kp_error *err)
{
	struct buf args = BUF_INIT, resp = BUF_INIT;
	struct hive_proxy *px;
	struct wire_rd r;
	const unsigned char *s;
	size_t n;
	int rc;

	*px_ret = NULL;
	if (in_dir(srv, path) == NULL ||
	    (o && o->log1 && in_dir(srv, o->log1) == NULL) ||
	    (o && o->log2 && in_dir(srv, o->log2) == NULL))
		return kp_fail(err, KP_ERR_FAIL, "'%s': not in the hive "
			       "server's directory", path);
	px = calloc(1, sizeof(*px));
	if (px == NULL)
		return kp_fail_oom(err);
	/* Counted before the request: a stop meanwhile keeps SRV. */
	pthread_mutex_lock(&srv->lock);
	srv->open++;
	pthread_mutex_unlock(&srv->lock);
	px->srv = srv;
	wire_putstr(&args, in_dir(srv, path));
	wire_put32(&args, o ? o->flags : 0);
	wire_putstr(&args, o && o->log1 ? in_dir(srv, o->log1) : NULL);
	wire_putstr(&args, o && o->log2 ? in_dir(srv, o->log2) : NULL);
	rc = call(srv, HS_OPEN, 0, &args, &resp, &r, err);
	if (rc == 0) {
		px->id = wire_get32(&r);
		s = wire_getmem(&r, sizeof(*st), &n);
		if (s == NULL || n != sizeof(*st) || done(&r, err) < 0)
			rc = bad_answer(err);
		else
			memcpy(st, s, sizeof(*st));
	}
	buf_release(&args);
	buf_release(&resp);
	if (rc < 0) {
		px->id = UINT32_MAX;	/* nothing to close there */
		hpx_close(px);
		return -1;
	}
	clean_state(st);
	*px_ret = px;
	return 0;
}

void
hpx_close(struct hive_proxy *px)
{
	struct kp_error ignored = KP_ERROR_INIT;
	struct buf resp = BUF_INIT;
	struct hive_server *srv;
	struct wire_rd r;
	bool last;

	if (px == NULL)
		return;
	srv = px->srv;
	/* A stopped server answers nothing: call says so. */
	if (px->id != UINT32_MAX)
		call(srv, HS_CLOSE, px->id, NULL, &resp, &r, &ignored);
	buf_release(&resp);
	free(px->why);
	free(px);
	pthread_mutex_lock(&srv->lock);
	last = --srv->open == 0 && srv->w == NULL;
	pthread_mutex_unlock(&srv->lock);
	/* A stopped server whose last handle this was. */
	if (last) {
		pthread_mutex_destroy(&srv->lock);
		free(srv->dir);
		free(srv);
	}
}

enum hive_kind
hpx_kind(struct hive_proxy *px)
{
	struct kp_error ignored = KP_ERROR_INIT;
	struct buf resp = BUF_INIT;
	struct wire_rd r;
	uint32_t kind = HIVE_KIND_OTHER;

	if (call(px->srv, HS_KIND, px->id, NULL, &resp, &r, &ignored) == 0) {
		kind = wire_get32(&r);
		if (done(&r, &ignored) < 0 || kind > HIVE_KIND_OTHER)
			kind = HIVE_KIND_OTHER;
	}
	buf_release(&resp);
	return (enum hive_kind)kind;
}

/* Call OP with a key handle and read an answer with RD; 0 or -1. */
static int
call_key(struct hive_proxy *px, unsigned op, hive_key k, struct buf *resp,
	 struct wire_rd *r, struct kp_error *err)
{
	struct buf args = BUF_INIT;
	int rc;

	wire_put64(&args, k);
	rc = call(px->srv, op, px->id, &args, resp, r, err);
	buf_release(&args);
	return rc;
}

/* Call OP with a path (and a name) as arguments. */
static int
call_path(struct hive_proxy *px, unsigned op, const char *path,
	  const char *name, struct buf *resp, struct wire_rd *r,
	  struct kp_error *err)
{
	struct buf args = BUF_INIT;
	int rc;

	wire_putstr(&args, path);
	if (name)
		wire_putstr(&args, name);
	rc = call(px->srv, op, px->id, &args, resp, r, err);
	buf_release(&args);
	return rc;
}

/* The count of edits an edit's answer ends with, and its end. */
static int
edited(struct hive_proxy *px, struct wire_rd *r, struct kp_error *err)
{
	uint64_t n = wire_get64(r);

	if (done(r, err) < 0)
		return -1;
	px->nedits = (size_t)n;
	return 0;
}

int
hpx_find(struct hive_proxy *px, const char *path, hive_key *k,
	 struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	struct wire_rd r;
	int32_t rc = -1;

	if (call_path(px, HS_FIND, path, NULL, &resp, &r, err) == 0) {
		rc = (int32_t)wire_get32(&r);
		*k = (hive_key)wire_get64(&r);
		if (done(&r, err) < 0 || rc < 0 || rc > 1)
			rc = bad_answer(err);
	}
	buf_release(&resp);
	return rc;
}

int
hpx_subkeys(struct hive_proxy *px, hive_key k, hive_key **list, size_t *n,
	    struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	struct wire_rd r;
	uint32_t count = 0, i;
	hive_key *l = NULL;
	int rc = call_key(px, HS_SUBKEYS, k, &resp, &r, err);

	if (rc == 0) {
		count = wire_get32(&r);
		/* Room for the ending 0, as hivex's lists have. */
		if (r.bad || count > r.left / 8)
			rc = bad_answer(err);
		else if ((l = calloc((size_t)count + 1, sizeof(*l))) == NULL)
			rc = kp_fail_oom(err);
		for (i = 0; rc == 0 && i < count; i++)
			l[i] = (hive_key)wire_get64(&r);
		if (rc == 0 && done(&r, err) < 0)
			rc = -1;
	}
	buf_release(&resp);
	if (rc < 0) {
		free(l);
		return -1;
	}
	*list = l;
	*n = count;
	return 0;
}

char *
hpx_key_name(struct hive_proxy *px, hive_key k, struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	struct wire_rd r;
	char *s = NULL;

	if (call_key(px, HS_KEY_NAME, k, &resp, &r, err) == 0) {
		s = wire_getstr(&r, HS_STR_MAX, NULL);
		if (s == NULL || done(&r, err) < 0) {
			free(s);
			s = NULL;
			bad_answer(err);
		}
	}
	buf_release(&resp);
	return s;
}

static int
get_value(struct wire_rd *r, struct hive_value *v)
{
	const unsigned char *d, *t;
	size_t n;

	memset(v, 0, sizeof(*v));
	v->name = wire_getstr(r, HS_STR_MAX, NULL);
	v->type = wire_get32(r);
	d = wire_getmem(r, SIZE_MAX, &n);
	t = wire_take(r, 1);
	if (v->name == NULL || d == NULL || t == NULL)
		return -1;
	v->data = malloc(n ? n : 1);
	if (v->data == NULL)
		return -1;
	memcpy(v->data, d, n);
	v->len = n;
	v->tombstone = *t != 0;
	return 0;
}

int
hpx_get(struct hive_proxy *px, hive_key k, const char *name,
	struct hive_value *v, struct kp_error *err)
{
	struct buf args = BUF_INIT, resp = BUF_INIT;
	struct wire_rd r;
	int32_t rc;

	memset(v, 0, sizeof(*v));
	wire_put64(&args, k);
	wire_putstr(&args, name);
	rc = call(px->srv, HS_GET, px->id, &args, &resp, &r, err);
	buf_release(&args);
	if (rc == 0) {
		rc = (int32_t)wire_get32(&r);
		if ((rc != 0 && rc != 1) || (rc == 1 && get_value(&r, v) < 0) ||
		    done(&r, err) < 0) {
			hive_value_release(v);
			rc = bad_answer(err);
		}
	}
	buf_release(&resp);
	return rc;
}

int
hpx_values(struct hive_proxy *px, hive_key k, struct hive_value **vals,
	   size_t *n, struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	struct wire_rd r;
	struct hive_value *v = NULL;
	uint32_t count = 0, i = 0;
	int rc = call_key(px, HS_VALUES, k, &resp, &r, err);

	if (rc == 0) {
		count = wire_get32(&r);
		/* A value takes at least 13 bytes. */
		if (count > r.left / 13)
			rc = bad_answer(err);
		else if ((v = calloc(count ? count : 1, sizeof(*v))) == NULL)
			rc = kp_fail_oom(err);
		for (i = 0; rc == 0 && i < count; i++)
			if (get_value(&r, &v[i]) < 0)
				rc = bad_answer(err);
		if (rc == 0 && done(&r, err) < 0)
			rc = -1;
	}
	buf_release(&resp);
	if (rc < 0) {
		if (v)
			hive_values_free(v, count);
		return -1;
	}
	*vals = v;
	*n = count;
	return 0;
}

int
hpx_set(struct hive_proxy *px, const char *path, const char *name,
	uint32_t type, const void *data, size_t len, struct kp_error *err)
{
	struct buf args = BUF_INIT, resp = BUF_INIT;
	struct wire_rd r;
	int rc;

	if (len > UINT32_MAX)
		return kp_fail(err, KP_ERR_INVALID, "value too large");
	wire_putstr(&args, path);
	wire_putstr(&args, name);
	wire_putmem(&args, data, len);
	wire_put32(&args, type);
	rc = call(px->srv, HS_SET, px->id, &args, &resp, &r, err);
	if (rc == 0)
		rc = edited(px, &r, err);
	buf_release(&args);
	buf_release(&resp);
	return rc;
}

/* An edit answering an int (0 or 1) before its count of edits. */
static int
edit_int(struct hive_proxy *px, unsigned op, const char *path,
	 const char *name, struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	struct wire_rd r;
	int32_t rc = -1;

	if (call_path(px, op, path, name, &resp, &r, err) == 0) {
		rc = (int32_t)wire_get32(&r);
		if (edited(px, &r, err) < 0 || rc < 0 || rc > 1)
			rc = bad_answer(err);
	}
	buf_release(&resp);
	return rc;
}

int
hpx_unset(struct hive_proxy *px, const char *path, const char *name,
	  struct kp_error *err)
{
	return edit_int(px, HS_UNSET, path, name, err);
}

int
hpx_delete_key(struct hive_proxy *px, const char *path,
	       struct kp_error *err)
{
	return edit_int(px, HS_DELETE_KEY, path, NULL, err);
}

int
hpx_mkpath(struct hive_proxy *px, const char *path, hive_key *k,
	   struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	struct wire_rd r;
	int rc = call_path(px, HS_MKPATH, path, NULL, &resp, &r, err);

	if (rc == 0) {
		hive_key got = (hive_key)wire_get64(&r);

		rc = edited(px, &r, err);
		if (rc == 0 && k)
			*k = got;
	}
	buf_release(&resp);
	return rc;
}

size_t
hpx_nr_edits(struct hive_proxy *px)
{
	return px->nedits;
}

/* The plan in an answer, its bytes copied into HP->pages. */
static int
get_plan(struct wire_rd *r, struct hive_plan **hp_ret)
{
	struct hive_plan *hp = calloc(1, sizeof(*hp));
	size_t i, total = 0;

	*hp_ret = NULL;
	if (hp == NULL)
		return -1;
	if (journal_plan_get(r, &hp->p) < 0)
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
	*hp_ret = hp;
	return 0;
fail:
	hive_plan_free(hp);
	return -1;
}

int
hpx_commit(struct hive_proxy *px, const struct hive_commit_opts *o,
	   struct hive_commit_result *res, struct kp_error *err)
{
	struct buf args = BUF_INIT, resp = BUF_INIT;
	struct wire_rd r;
	const unsigned char *b[4];
	bool null;
	int rc;

	memset(res, 0, sizeof(*res));
	/* A backup or a new file is for local hives (hive set's options),
	 * and would need link() in the server. */
	if (o->dest || o->backup || o->no_replace)
		return kp_fail(err, KP_ERR_INVALID, "a hive opened in a hive "
			       "server is committed over itself, without a "
			       "backup");
	wire_putstr(&args, o->dest);
	wire_put32(&args, (uint32_t)(o->no_replace | o->backup << 1 |
				     o->force << 2 | o->journal << 3 |
				     o->plan_only << 4));
	rc = call(px->srv, HS_COMMIT, px->id, &args, &resp, &r, err);
	buf_release(&args);
	if (rc < 0) {
		buf_release(&resp);
		return -1;
	}
	b[0] = wire_take(&r, 1);
	res->seq = wire_get32(&r);
	res->backup = wire_getstr(&r, HS_STR_MAX, &null);
	b[1] = wire_take(&r, 1);
	res->pages = wire_get32(&r);
	free(px->why);
	px->why = wire_getstr(&r, HS_STR_MAX, &null);
	res->rewrite_why = px->why;
	b[2] = wire_take(&r, 1);
	res->pe_why = (enum pe_fallback)wire_get32(&r);
	b[3] = wire_take(&r, 1);
	if (b[3] && *b[3] && get_plan(&r, &res->plan) < 0)
		r.bad = true;
	if (b[0] == NULL || b[1] == NULL || b[2] == NULL || b[3] == NULL ||
	    (unsigned)res->pe_why >= PE_FB_NR || done(&r, err) < 0) {
		free(res->backup);
		hive_plan_free(res->plan);
		memset(res, 0, sizeof(*res));
		rc = bad_answer(err);
	} else {
		res->written = *b[0] != 0;
		res->journaled = *b[1] != 0;
		res->in_place = *b[2] != 0;
	}
	buf_release(&resp);
	return rc;
}

int
hive_server_selftest_forbidden(struct hive_server *srv, struct kp_error *err)
{
	struct buf resp = BUF_INIT;
	struct wire_rd r;
	int rc = call(srv, HS_SELFTEST_FORBIDDEN, 0, NULL, &resp, &r, err);

	buf_release(&resp);
	return rc;
}

int
hive_server_selftest_open(struct hive_server *srv, const char *path,
			  bool write, int *errno_ret, struct kp_error *err)
{
	struct buf args = BUF_INIT, resp = BUF_INIT;
	struct wire_rd r;
	int rc;

	wire_putstr(&args, path);
	rc = call(srv, write ? HS_SELFTEST_WRITE : HS_SELFTEST_READ, 0, &args,
		  &resp, &r, err);
	if (rc == 0) {
		*errno_ret = (int)wire_get32(&r);
		rc = done(&r, err);
	}
	buf_release(&args);
	buf_release(&resp);
	return rc;
}

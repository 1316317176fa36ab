/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Image files: inspected in a sandbox, their references followed only
 * when accepted, served by a confined qemu-nbd (disk.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image/disk.h"
#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/rpc.h"

/* qemu follows a chain with no limit (a self-backed qcow2 loops until
 * killed); kmsprep follows at most this deep, and this many files in all
 * (a 2 TB disk in 2 GB VMDK extents, and some parents). */
#define CHAIN_DEPTH 16
#define CHAIN_FILES 1100

/* A header is read in a second or so; a worker that takes longer was
 * made to loop. */
#define PROBE_TIMEOUT 30

struct node {
	char *path;		/* absolute; beside its parent as qemu puts it */
	char *shown;		/* in messages: the image as given, or PATH */
	int fd;			/* read-only, as inspected */
	struct stat st;
	struct fmt_info info;	/* zero for raw data (an extent, a data file) */
	int backing;		/* the node it is backed by, -1 */
	int data_file;		/* its external data file's node, -1 */
};

struct disk {
	struct node *n;		/* n[0]: the image itself */
	size_t nn;
	bool allow_refs;
};

/*
 * The header reader in a sandboxed worker: it holds only the file's
 * descriptor.
 */

struct probe_state {
	int fd;
	uint64_t size;
};

struct probe_args {
	int want;		/* enum fmt; FMT_NR: tell it */
};

static const struct rpc_field probe_args_f[] = {
	RPC_F(struct probe_args, want, RPC_ENUM, FMT_NR + 1),
	{ .type = RPC_END },
};
static const struct rpc_layout probe_args_l = {
	sizeof(struct probe_args), probe_args_f };

static const struct rpc_field ref_f[] = {
	RPC_F(struct fmt_ref, kind, RPC_ENUM, FMT_REF_NR),
	RPC_F(struct fmt_ref, format, RPC_ENUM, FMT_NR + 1),
	RPC_F(struct fmt_ref, offset, RPC_U64, 0),
	{ .type = RPC_STR, .off = offsetof(struct fmt_ref, name),
	  .max = FMT_NAME_MAX - 1, .flags = RPC_PRINTABLE },
	{ .type = RPC_END },
};
static const struct rpc_layout ref_l = { sizeof(struct fmt_ref), ref_f };

static const struct rpc_field info_f[] = {
	RPC_F(struct fmt_info, format, RPC_ENUM, FMT_NR),
	RPC_F(struct fmt_info, size, RPC_U64, 0),
	RPC_F(struct fmt_info, flat, RPC_BOOL, 0),
	RPC_F(struct fmt_info, sector, RPC_U32, 0),
	RPC_F(struct fmt_info, sparse_vmdk, RPC_BOOL, 0),
	RPC_F(struct fmt_info, append_only, RPC_BOOL, 0),
	RPC_F(struct fmt_info, wim_images, RPC_U32, 0),
	RPC_F(struct fmt_info, wim_split, RPC_BOOL, 0),
	RPC_F(struct fmt_info, wim_pipable, RPC_BOOL, 0),
	RPC_F(struct fmt_info, wim_solid, RPC_BOOL, 0),
	{ .type = RPC_ARRAY, .off = offsetof(struct fmt_info, refs),
	  .len_off = offsetof(struct fmt_info, nrefs), .max = FMT_REFS_MAX,
	  .elem = &ref_l },
	{ .type = RPC_END },
};
static const struct rpc_layout info_l = { sizeof(struct fmt_info), info_f };

static ssize_t
probe_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	const struct probe_state *ps = ctx;
	ssize_t n;

	do
		n = pread(ps->fd, buf, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	return n;
}

static int
serve_inspect(void *state, const void *args, void *answer,
	      struct kp_error *err)
{
	struct probe_state *ps = state;
	const struct probe_args *a = args;

	return fmt_inspect(probe_read, ps, ps->size, (enum fmt)a->want, answer,
			   err);
}

enum { PROBE_INSPECT = 1, PROBE_NR };

static const struct rpc_op probe_ops[PROBE_NR] = {
	[PROBE_INSPECT] = { .name = "inspect", .args = &probe_args_l,
			    .answer = &info_l, .serve = serve_inspect },
};
static const struct rpc_table probe_table = {
	.worker = "the image header reader", .ops = probe_ops,
	.nops = PROBE_NR,
};

/* Read node N's header as WANT in a worker of its own. */
static int
inspect(struct node *n, enum fmt want, struct kp_error *err)
{
	struct probe_state ps = { n->fd, (uint64_t)n->st.st_size };
	struct probe_args a = { (int)want };
	struct sb_opts so = { .keep = &n->fd, .nkeep = 1,
			      .mem_max = (uint64_t)256 << 20,
			      .timeout_s = PROBE_TIMEOUT };
	struct rpc_client *c = NULL;
	int r;

	if (rpc_start(&probe_table, &so, &ps, &c, err) < 0)
		return -1;
	r = rpc_call(c, PROBE_INSPECT, &a, &n->info, err);
	if (rpc_stop(c, r == 0 ? err : NULL) < 0 && r == 0) {
		fmt_info_release(&n->info);
		r = -1;
	}
	if (r == 0 && want != FMT_NR && n->info.format != want) {
		fmt_info_release(&n->info);
		r = kp_fail(err, KP_ERR_FAIL, "%s sent a bad answer",
			    probe_table.worker);
	}
	return r;
}

/*
 * The chain.
 */

/* Is NAME a protocol name to qemu (a ':' before any '/')? */
static bool
has_protocol(const char *name)
{
	const char *c = strchr(name, ':'), *s = strchr(name, '/');

	return c && (s == NULL || c < s);
}

/* NAME, named by the file at BASE, as qemu resolves it: absolute as it
 * is, else beside BASE (its path as given, links not followed).  NULL,
 * with ERR, for a name that is not a local file's. */
static char *
resolve(const char *base, const char *name, struct kp_error *err)
{
	const char *slash = strrchr(base, '/');
	char *p = NULL;

	if (name[0] == '\0' || strncmp(name, "json:", 5) == 0 ||
	    has_protocol(name)) {
		kp_fail(err, KP_ERR_INPUT, "'%s': a protocol or json: name, "
			"not a local file: refused", name);
		return NULL;
	}
	if (name[0] == '/')
		p = strdup(name);
	else if (asprintf(&p, "%.*s%s", slash ? (int)(slash - base + 1) : 0,
			  base, name) < 0)
		p = NULL;
	if (p == NULL)
		kp_fail_oom(err);
	return p;
}

/* A new node for PATH (taken), opened and checked: a regular file, not
 * one the chain already holds; SHOWN names it in messages (PATH if
 * NULL).  Its index, or -1. */
static int
add_node(struct disk *d, char *path, const char *shown, struct kp_error *err)
{
	char self[32];
	struct node *n;
	size_t i;
	int pfd;

	if (d->nn == CHAIN_FILES) {
		free(path);
		return kp_fail(err, KP_ERR_INPUT, "more than %d files in the "
			       "chain: refused", CHAIN_FILES);
	}
	n = realloc(d->n, (d->nn + 1) * sizeof(*n));
	if (n == NULL) {
		free(path);
		return kp_fail_oom(err);
	}
	d->n = n;
	n += d->nn;
	memset(n, 0, sizeof(*n));
	n->path = path;
	if (shown == NULL)
		shown = path;
	n->shown = shown == path ? path : strdup(shown);
	if (n->shown == NULL) {
		n->shown = path;
		return kp_fail_oom(err);
	}
	n->backing = n->data_file = -1;
	n->fd = -1;
	d->nn++;
	/* Looked at before it is opened: opening a device or a FIFO an
	 * image names can act (a tape rewinds, a writer is let go). */
	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return kp_fail_errno(err, KP_ERR_INPUT, errno, "'%s'", shown);
	if (fstat(pfd, &n->st) < 0 || !S_ISREG(n->st.st_mode)) {
		close(pfd);
		return kp_fail(err, KP_ERR_INPUT, "'%s': not a regular file",
			       shown);
	}
	/* The very file looked at, even if PATH changed meanwhile. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	n->fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	close(pfd);
	if (n->fd < 0)
		return kp_fail_errno(err, KP_ERR_INPUT, errno, "'%s'", shown);
	for (i = 0; i + 1 < d->nn; i++)
		if (d->n[i].st.st_dev == n->st.st_dev &&
		    d->n[i].st.st_ino == n->st.st_ino)
			return kp_fail(err, KP_ERR_INPUT, "'%s': the chain "
				       "comes back to a file it holds: a loop",
				       shown);
	return (int)(d->nn - 1);
}

static int follow(struct disk *d, size_t i, int depth, struct kp_error *err);

/* A differencing VHD or VHDX: qemu 7.2 reads neither, so no option could
 * make it follow the parent, with or without --allow-backing-file. */
static int
differencing(const struct disk *d, size_t i, const struct fmt_ref *r,
	     struct kp_error *err)
{
	return kp_fail(err, KP_ERR_INPUT, "'%s': a differencing disk (its "
		       "parent: '%s'), which qemu cannot read: make it a disk "
		       "of its own first (Hyper-V: Convert-VHD, which merges "
		       "its parents into the copy)", d->n[i].shown, r->name);
}

/* Reference R of node I: a node of its own, inspected if it is an image
 * (not raw data), followed in turn.  Names resolve beside node I's file,
 * as qemu resolves them (a descriptor embedded in it included). */
static int
follow_ref(struct disk *d, size_t i, const struct fmt_ref *r, int depth,
	   struct kp_error *err)
{
	char *path;
	int k;

	if (r->kind == FMT_REF_PARENT)
		return differencing(d, i, r, err);
	if ((path = resolve(d->n[i].path, r->name, err)) == NULL ||
	    (k = add_node(d, path, NULL, err)) < 0)
		return -1;
	if (r->kind == FMT_REF_DATA_FILE) {
		d->n[i].data_file = k;
		return 0;
	}
	if (r->kind == FMT_REF_EXTENT && r->format == FMT_RAW)
		return 0;
	if (inspect(&d->n[k], r->format, err) < 0) {
		kp_error_prefix(err, "'%s'", d->n[k].shown);
		return -1;
	}
	if (r->kind == FMT_REF_EXTENT) {
		/* A sparse extent holds data, and names nothing further. */
		if (d->n[k].info.nrefs)
			return kp_fail(err, KP_ERR_INPUT, "'%s': a VMDK "
				       "extent that names further files: "
				       "refused", d->n[k].path);
		return 0;
	}
	d->n[i].backing = k;
	return follow(d, (size_t)k, depth + 1, err);
}

/* The references of node I, at DEPTH in the chain.  Without allow_refs
 * the first one is refused, named. */
static int
follow(struct disk *d, size_t i, int depth, struct kp_error *err)
{
	size_t k, j, n = d->n[i].info.nrefs;

	if (depth > CHAIN_DEPTH)
		return kp_fail(err, KP_ERR_INPUT, "a chain of more than %d "
			       "backing files: refused", CHAIN_DEPTH);
	for (k = 0; k < n; k++) {
		const struct fmt_ref *r = &d->n[i].info.refs[k];

		if (r->kind == FMT_REF_PARENT)
			return differencing(d, i, r, err);
		if (!d->allow_refs) {
			kp_fail(err, KP_ERR_INPUT, "'%s': it names another "
				"file, its %s '%s', which qemu would open: "
				"refused", d->n[i].shown,
				fmt_ref_kind_name(r->kind), r->name);
			return kp_error_remedy(err, KP_REMEDY_ALLOW_REFERENCES);
		}
		/* qemu may scan one extent twice: one node for it. */
		for (j = 0; j < k; j++)
			if (r->kind == d->n[i].info.refs[j].kind &&
			    strcmp(r->name, d->n[i].info.refs[j].name) == 0)
				break;
		if (j < k)
			continue;
		if (follow_ref(d, i, r, depth, err) < 0)
			return -1;
	}
	return 0;
}

/* PATH made absolute as it is given (a relative one from the current
 * directory), with no link followed: qemu's view of where it lies. */
static char *
absolute(const char *path, struct kp_error *err)
{
	char cwd[PATH_MAX], *p = NULL;

	if (path[0] == '/')
		p = strdup(path);
	else if (getcwd(cwd, sizeof(cwd)) == NULL)
		kp_fail_errno(err, KP_ERR_FAIL, errno, "getcwd");
	else if (asprintf(&p, "%s/%s", cwd, path) < 0)
		p = NULL;
	if (p == NULL && err->status == KP_OK)
		kp_fail_oom(err);
	return p;
}

int
disk_inspect(const char *path, const struct disk_opts *o,
	     struct disk **d_ret, struct kp_error *err)
{
	struct disk *d = calloc(1, sizeof(*d));
	enum fmt want = o->format ? fmt_from_name(o->format) : FMT_NR;
	char *abs;

	*d_ret = NULL;
	if (d == NULL)
		return kp_fail_oom(err);
	d->allow_refs = o->allow_refs;
	if (o->format && want == FMT_NR) {
		free(d);
		return kp_fail(err, KP_ERR_INVALID, "image format '%s': "
			       "expected raw, qcow2, vmdk, vhdx, vpc (vhd) "
			       "or vdi", o->format);
	}
	if ((abs = absolute(path, err)) == NULL ||
	    add_node(d, abs, path, err) < 0)
		goto fail;
	if (inspect(&d->n[0], want, err) < 0) {
		kp_error_prefix(err, "'%s'", path);
		goto fail;
	}
	if (follow(d, 0, 0, err) < 0)
		goto fail;
	*d_ret = d;
	return 0;
fail:
	disk_free(d);
	return -1;
}

void
disk_free(struct disk *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->nn; i++) {
		if (d->n[i].fd >= 0)
			close(d->n[i].fd);
		fmt_info_release(&d->n[i].info);
		if (d->n[i].shown != d->n[i].path)
			free(d->n[i].shown);
		free(d->n[i].path);
	}
	free(d->n);
	free(d);
}

const char *
disk_format(const struct disk *d)
{
	return fmt_name(d->n[0].info.format);
}

uint64_t
disk_size(const struct disk *d)
{
	return d->n[0].info.size;
}

bool
disk_flat(const struct disk *d)
{
	return d->n[0].info.flat;
}

bool
disk_append_only(const struct disk *d)
{
	return d->n[0].info.append_only;
}

const struct fmt_info *
disk_info(const struct disk *d)
{
	return &d->n[0].info;
}

unsigned
disk_sector(const struct disk *d)
{
	return d->n[0].info.sector;
}

int
disk_fd(const struct disk *d)
{
	return d->n[0].fd;
}

size_t
disk_nfiles(const struct disk *d)
{
	return d->nn;
}

/*
 * Serving.
 */

static json_t *
file_spec(const char *path)
{
	return json_pack("{s:s, s:s}", "driver", "file", "filename", path);
}

/* qemu's options for node I: every child named, nothing left for the
 * image to choose (json: syntax; null stops a backing file). */
static json_t *
node_spec(const struct disk *d, size_t i, bool top)
{
	const struct node *n = &d->n[i];
	json_t *o, *backing;

	switch (n->info.format) {
	case FMT_VPC:
		if (n->info.flat) {
			/* A fixed VHD: its bytes before the footer. */
			o = json_pack("{s:s, s:I}", "driver", "raw", "size",
				      (json_int_t)n->info.size);
			break;
		}
		/* The size the footer states, not one from its geometry. */
		o = json_pack("{s:s, s:s}", "driver", "vpc", "force_size_calc",
			      "current_size");
		break;
	default:
		o = json_pack("{s:s}", "driver", fmt_name(n->info.format));
		break;
	}
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "file", file_spec(n->path));
	if (n->info.format == FMT_QCOW2 || n->info.format == FMT_VMDK) {
		backing = n->backing >= 0 ?
			  node_spec(d, (size_t)n->backing, false) : json_null();
		json_object_set_new(o, "backing", backing);
	}
	if (n->data_file >= 0)
		json_object_set_new(o, "data-file",
				    file_spec(d->n[n->data_file].path));
	if (!top)
		json_object_set_new(o, "read-only", json_true());
	return o;
}

/* An executable named NAME on PATH, as execvp would find it. */
static char *
find_program(const char *name)
{
	const char *path = getenv("PATH"), *p, *e;
	char *full;

	for (p = path ? path : "/usr/bin:/bin"; *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ':');
		if (asprintf(&full, "%.*s/%s", (int)(e - p), p, name) < 0)
			return NULL;
		if (access(full, X_OK) == 0)
			return full;
		free(full);
	}
	return NULL;
}

struct disk_server {
	pid_t pid;
	int listen_fd;		/* -1 once closed */
	int said_fd;		/* the read end of its standard error */
	char said[512];
	char *overlay;		/* made here: removed unless kept */
	char *sockdir;		/* a private directory of ours, removed */
	bool persistent;	/* serves until stopped (SIGTERM) */
};

/* Run PROG (found on PATH) with ARGS confined to the files of D (the
 * image writable if IMAGE_RW) and the file WRITE_FD is open on (-1:
 * none), listening on LISTEN_FD; *SRV gets it. */
static int
spawn(struct disk_server *srv, const char *prog, const char *const *args,
      const struct disk *d, int write_fd, bool image_rw, int listen_fd,
      struct kp_error *err)
{
	const char *exec[] = { "/usr", "/lib", "/lib64", NULL, NULL };
	int *rd = malloc((d->nn + 1) * sizeof(*rd)), wr[3] = { -1, -1, -1 };
	char *argv[16], *bin = find_program(prog);
	struct sb_spawn_opts so = { .exec = exec, .listen_fd = listen_fd };
	int pipefd[2] = { -1, -1 }, r = -1;
	size_t i, a = 0, w = 0;

	if (bin == NULL || rd == NULL) {
		kp_fail(err, KP_ERR_UNAVAILABLE, "%s is not installed "
			"(Debian: qemu-utils)", prog);
		goto out;
	}
	/* Without Landlock nothing would keep qemu, run as the caller, from
	 * files an image names that the header reader did not see. */
	if (sb_landlock_abi() <= 0) {
		kp_fail(err, KP_ERR_UNAVAILABLE, "'%s': qemu (for a %s image, "
			"or an overlay) runs only where Landlock fences it "
			"(Linux 5.13 or later, with landlock among its security "
			"modules: lsm=...,landlock); a raw image written in "
			"place needs no qemu (qemu-img convert -O raw, where "
			"you trust the image)", d->n[0].shown,
			fmt_name(d->n[0].info.format));
		goto out;
	}
	exec[3] = bin;
	for (i = 0; i < d->nn; i++)
		rd[i] = d->n[i].fd;
	rd[d->nn] = -1;
	if (image_rw)
		wr[w++] = d->n[0].fd;
	if (write_fd >= 0)
		wr[w++] = write_fd;
	so.read = rd;
	so.write = wr;
	argv[a++] = bin;
	for (i = 0; args[i] && a < 15; i++)
		argv[a++] = (char *)args[i];
	argv[a] = NULL;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno, "pipe");
		goto out;
	}
	so.out_fd = pipefd[1];
	r = sb_spawn(argv, &so, &srv->pid, err);
	srv->said_fd = pipefd[0];
	pipefd[0] = -1;
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	free(bin);
	free(rd);
	return r;
}

const char *
disk_server_said(struct disk_server *srv)
{
	size_t n = strlen(srv->said);
	ssize_t got;
	char *p;

	if (srv->said_fd < 0)
		return srv->said;
	/* What it wrote before it ended (or so far). */
	fcntl(srv->said_fd, F_SETFL, O_NONBLOCK);
	while (n + 1 < sizeof(srv->said) &&
	       (got = read(srv->said_fd, srv->said + n,
			   sizeof(srv->said) - 1 - n)) > 0)
		n += (size_t)got;
	srv->said[n] = '\0';
	for (p = srv->said; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = *p == '\n' && p[1] ? ';' : *p == '\n' ? '\0' : '?';
	return srv->said;
}

/* Wait for PID up to MS milliseconds; its status, or -1 if it runs on. */
static int
wait_for(pid_t pid, unsigned ms)
{
	int st = 0, r = sb_wait(pid, &st, ms);

	return r == 1 ? st : r == 0 ? -1 : 0;
}

/* Create OVERLAY, a new qcow2 file over D, with a confined qemu-img that
 * opens nothing but it (the base is named, not read: -u); the new file's
 * descriptor, or -1. */
static int
make_overlay(const struct disk *d, const char *overlay, struct kp_error *err)
{
	struct disk_server img = { .pid = -1, .listen_fd = -1, .said_fd = -1 };
	char size[32];
	const char *args[] = { "create", "-q", "-f", "qcow2", "-u", "-b",
			       d->n[0].path, "-F", disk_format(d), overlay,
			       size, NULL };
	struct disk none = { d->n, 0, false };
	int fd, st, r;

	/* No link followed, nothing replaced: as every output is. */
	fd = open(overlay, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		  O_CLOEXEC, 0644);
	if (fd < 0) {
		kp_fail_errno(err, errno == EEXIST ? KP_ERR_REFUSED :
			      KP_ERR_FAIL, errno, "'%s': cannot create the "
			      "overlay%s", overlay, errno == EEXIST ?
			      " (it must be a new file; something, perhaps "
			      "a link, is there)" : "");
		return -1;
	}
	snprintf(size, sizeof(size), "%llu",
		 (unsigned long long)disk_size(d));
	r = spawn(&img, "qemu-img", args, &none, fd, false, -1, err);
	if (r < 0)
		goto fail;
	st = wait_for(img.pid, 60 * 1000);
	if (st == -1) {
		kill(img.pid, SIGKILL);
		waitpid(img.pid, &st, 0);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		kp_fail(err, KP_ERR_FAIL, "'%s': cannot create the overlay: %s",
			overlay, disk_server_said(&img));
		close(img.said_fd);
		goto fail;
	}
	close(img.said_fd);
	return fd;
fail:
	close(fd);
	unlink(overlay);
	return -1;
}

/* A listening socket at PATH; with CONN, also a client already connected
 * to it (waiting in its queue). */
static int
listen_at(const char *path, int *conn, struct kp_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l;

	if (strlen(path) >= sizeof(sa.sun_path))
		return kp_fail(err, KP_ERR_FAIL, "'%s': socket path too long",
			       path);
	strcpy(sa.sun_path, path);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l, 1) < 0) {
		kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno, "'%s': cannot "
			      "listen", path);
		if (l >= 0)
			close(l);
		return -1;
	}
	if (conn) {
		*conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (*conn < 0 || connect(*conn, (struct sockaddr *)&sa,
					 sizeof(sa)) < 0) {
			kp_fail_errno(err, KP_ERR_UNAVAILABLE, errno, "'%s'",
				      path);
			if (*conn >= 0)
				close(*conn);
			close(l);
			return -1;
		}
	}
	return l;
}

int
disk_serve(const struct disk *d, const struct disk_serve_opts *o,
	   struct disk_server **srv_ret, int *fd, struct kp_error *err)
{
	struct disk_server *srv = calloc(1, sizeof(*srv));
	json_t *spec = NULL;
	char *arg = NULL, *spec_s = NULL, *sock = NULL;
	const char *args[6];
	size_t a = 0;
	int ovfd = -1, r;

	*srv_ret = NULL;
	if (fd)
		*fd = -1;
	if (srv == NULL)
		return kp_fail_oom(err);
	srv->pid = -1;
	srv->listen_fd = srv->said_fd = -1;
	if (o->overlay && !o->readonly) {
		if ((ovfd = make_overlay(d, o->overlay, err)) < 0)
			goto fail;
		if ((srv->overlay = strdup(o->overlay)) == NULL)
			goto oom;
		spec = json_pack("{s:s, s:o, s:o}", "driver", "qcow2", "file",
				 file_spec(o->overlay), "backing",
				 node_spec(d, 0, false));
	} else {
		spec = node_spec(d, 0, true);
	}
	if (spec == NULL || (spec_s = json_dumps(spec, JSON_COMPACT)) == NULL ||
	    asprintf(&arg, "json:%s", spec_s) < 0)
		goto oom;
	if (o->sock == NULL) {
		if ((srv->sockdir = kp_mkdtemp(err)) == NULL)
			goto fail;
		if (asprintf(&sock, "%s/nbd", srv->sockdir) < 0)
			goto oom;
	}
	srv->listen_fd = listen_at(o->sock ? o->sock : sock,
				   o->sock ? NULL : fd, err);
	if (srv->listen_fd < 0)
		goto fail;
	if (sock) {
		/* Connected: nothing else can reach it now. */
		kp_rmtree(srv->sockdir);
		free(srv->sockdir);
		srv->sockdir = NULL;
	}
	args[a++] = (char *)"--cache=writeback";
	if (o->readonly)
		args[a++] = (char *)"--read-only";
	if (o->sock) {
		args[a++] = (char *)"--persistent";
		srv->persistent = true;
	}
	args[a++] = (char *)"--";
	args[a++] = arg;
	args[a] = NULL;
	r = spawn(srv, "qemu-nbd", args, d, ovfd, !o->readonly && !o->overlay,
		  srv->listen_fd, err);
	if (r < 0)
		goto fail;
	/* Only qemu-nbd listens from now on. */
	close(srv->listen_fd);
	srv->listen_fd = -1;
	if (ovfd >= 0)
		close(ovfd);
	free(arg);
	free(spec_s);
	free(sock);
	json_decref(spec);
	*srv_ret = srv;
	return 0;
oom:
	kp_fail_oom(err);
fail:
	if (fd && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	if (ovfd >= 0)
		close(ovfd);
	free(arg);
	free(spec_s);
	free(sock);
	json_decref(spec);
	disk_server_stop(srv, false, NULL);
	return -1;
}

pid_t
disk_server_pid(const struct disk_server *srv)
{
	return srv->pid;
}

int
disk_server_stop(struct disk_server *srv, bool keep_overlay,
		 struct kp_error *err)
{
	int st = 0, r = 0;

	if (srv == NULL)
		return 0;
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->pid > 0) {
		/* It ends when its client has gone, or (persistent) when told
		 * to, flushing what it caches. */
		if (srv->persistent)
			kill(srv->pid, SIGTERM);
		st = wait_for(srv->pid, 5000);
		if (st == -1) {
			kill(srv->pid, SIGKILL);
			waitpid(srv->pid, &st, 0);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			r = kp_fail(err ? err : &(struct kp_error)KP_ERROR_INIT,
				    KP_ERR_FAIL, "qemu-nbd did not end cleanly: "
				    "%s", disk_server_said(srv));
	}
	if (srv->said_fd >= 0)
		close(srv->said_fd);
	if (srv->overlay && !keep_overlay)
		unlink(srv->overlay);
	kp_rmtree(srv->sockdir);
	free(srv->overlay);
	free(srv->sockdir);
	free(srv);
	return r;
}

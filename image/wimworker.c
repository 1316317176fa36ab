/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The WIM worker (wimworker.h): wimlib in a sandboxed process, each call a
 * row of the table below (lib/rpc.h).
 *
 * The worker runs in a scratch directory of its own (sb_opts.fs_dir),
 * fenced there, and may besides open only the WIM file (and a new
 * overlay), through /proc/self/fd: wimlib takes paths, not descriptors.
 * It starts no thread and no process: wimlib compresses in its own
 * thread (nothing would cap the threads of a process run as root).
 *
 * A file is written into an image through wimlib's NTFS-3G capture
 * (WIMLIB_ADD_FLAG_NTFS), the only way wimlib's public API gives a new
 * file a security descriptor: the file is first extracted with
 * everything it has (WIMLIB_EXTRACT_FLAG_NTFS: descriptor, attributes,
 * timestamps, named streams) into a small scratch NTFS volume the parent
 * made, its data replaced there with libntfs-3g, and the volume's tree
 * merged onto the image's root.  A directory met on both sides keeps the
 * image's own entry (wimlib merges directories, keeping the existing
 * one); only the file itself is replaced.  A new file is created in the
 * scratch volume with the descriptor kmsprep gives new files
 * (secdesc.h).  Nothing reaches the WIM file until commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <wimlib.h>

#include "image/ntfs3g.h"
#include "image/secdesc.h"
#include "image/wimworker.h"
#include "lib/fileio.h"
#include "lib/rpc.h"

#define PATH_MAX_W 4096
#define NAME_MAX_W 1024
/* The largest file written whole (a hive), with room for its header. */
#define FILE_MAX_W (SB_MSG_MAX - 8192)
#define WIM_TIMEOUT 120

#define ATTR_DIRECTORY 0x10u
#define ATTR_REPARSE 0x400u

/*
 * The messages.
 */

struct a_at {
	uint32_t index;
	char *path;
};

static const struct rpc_field a_at_f[] = {
	RPC_F(struct a_at, index, RPC_U32, 0),
	RPC_F(struct a_at, path, RPC_STR, PATH_MAX_W),
	{ .type = RPC_END },
};
static const struct rpc_layout a_at_l = { sizeof(struct a_at), a_at_f };

/* The images whose Windows to look for (a bitmap by index; empty: all):
 * looking loads an image's metadata, which for a real install.wim takes
 * a second or more an index. */
struct a_info {
	void *want;
	size_t len;
};

static const struct rpc_field a_info_f[] = {
	RPC_LEN(struct a_info, want, len, RPC_MEM, WIM_IMAGES_MAX / 8 + 1),
	{ .type = RPC_END },
};
static const struct rpc_layout a_info_l = { sizeof(struct a_info),
					    a_info_f };

struct a_copy {
	uint32_t index;
	char *path;
	uint64_t max;
	int fd;
};

static const struct rpc_field a_copy_f[] = {
	RPC_F(struct a_copy, index, RPC_U32, 0),
	RPC_F(struct a_copy, path, RPC_STR, PATH_MAX_W),
	RPC_F(struct a_copy, max, RPC_U64, 0),
	RPC_F(struct a_copy, fd, RPC_FD, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout a_copy_l = { sizeof(struct a_copy),
					    a_copy_f };

/* A write: file PATH of image INDEX, or directory (MKDIR), through the
 * scratch NTFS volume VOL (a name in the worker's directory). */
struct a_put {
	uint32_t index;
	char *path;
	char *vol;
	uint32_t flags;
	bool mkdir;
	void *data;
	size_t len;
};

static const struct rpc_field a_put_f[] = {
	RPC_F(struct a_put, index, RPC_U32, 0),
	RPC_F(struct a_put, path, RPC_STR, PATH_MAX_W),
	RPC_F(struct a_put, vol, RPC_STR, 64),
	RPC_F(struct a_put, flags, RPC_U32, 0),
	RPC_F(struct a_put, mkdir, RPC_BOOL, 0),
	RPC_LEN(struct a_put, data, len, RPC_MEM, FILE_MAX_W),
	{ .type = RPC_END },
};
static const struct rpc_layout a_put_l = { sizeof(struct a_put), a_put_f };

static const struct rpc_field image_f[] = {
	RPC_F(struct wim_image, index, RPC_U32, 0),
	{ .type = RPC_STR, .off = offsetof(struct wim_image, name),
	  .max = NAME_MAX_W, .flags = RPC_PRINTABLE },
	{ .type = RPC_STR, .off = offsetof(struct wim_image, edition),
	  .max = NAME_MAX_W, .flags = RPC_PRINTABLE },
	RPC_F(struct wim_image, windows, RPC_BOOL, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout image_l = { sizeof(struct wim_image),
					   image_f };

static const struct rpc_field info_f[] = {
	{ .type = RPC_ARRAY, .off = offsetof(struct wim_info, images),
	  .len_off = offsetof(struct wim_info, nimages),
	  .max = WIM_IMAGES_MAX, .elem = &image_l },
	{ .type = RPC_STR, .off = offsetof(struct wim_info, compression),
	  .max = 32, .flags = RPC_PRINTABLE },
	RPC_F(struct wim_info, chunk_size, RPC_U32, 0),
	RPC_F(struct wim_info, part, RPC_U32, 0),
	RPC_F(struct wim_info, parts, RPC_U32, 0),
	RPC_F(struct wim_info, pipable, RPC_BOOL, 0),
	RPC_F(struct wim_info, integrity, RPC_BOOL, 0),
	RPC_F(struct wim_info, solid, RPC_BOOL, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout info_l = { sizeof(struct wim_info), info_f };

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

struct r_u64 {
	uint64_t v;
};

static const struct rpc_field r_u64_f[] = {
	RPC_F(struct r_u64, v, RPC_U64, 0),
	{ .type = RPC_END },
};
static const struct rpc_layout r_u64_l = { sizeof(struct r_u64), r_u64_f };

/*
 * The worker.
 */

/* What was written, checked again once the WIM is written. */
struct written {
	uint32_t index;
	char *path;
	bool removed;
	unsigned char sha1[20];
};

struct wstate {
	int fd;			/* the WIM file */
	int out_fd;		/* the new overlay, or -1 */
	WIMStruct *wim;
	struct written *w;
	size_t nw;
	unsigned threads;	/* compressor threads */
};

static int
wfail(struct kp_error *err, int code, const char *what)
{
	enum kp_status st = KP_ERR_INPUT;

	/* Out of memory in the worker is what a WIM claiming huge sizes
	 * gets under its address-space limit: bad input. */
	switch (code) {
	case WIMLIB_ERR_WRITE:
	case WIMLIB_ERR_OPEN:
	case WIMLIB_ERR_NTFS_3G:
	case WIMLIB_ERR_RENAME:
		st = KP_ERR_FAIL;
		break;
	default:
		break;
	}
	return kp_fail(err, st, "%s: %s", what, wimlib_get_error_string(code));
}

static WIMStruct *
wim(struct wstate *ws, struct kp_error *err)
{
	char path[64];
	int r;

	if (ws->wim)
		return ws->wim;
	/* Paths inside an image in any case, as Windows reads them. */
	r = wimlib_global_init(WIMLIB_INIT_FLAG_DEFAULT_CASE_INSENSITIVE);
	if (r) {
		wfail(err, r, "wimlib");
		return NULL;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", ws->fd);
	r = wimlib_open_wim(path, 0, &ws->wim);
	if (r) {
		ws->wim = NULL;
		wfail(err, r, "cannot open the WIM");
		return NULL;
	}
	return ws->wim;
}

#define WIM(ws, err) \
	WIMStruct *w = wim(ws, err); \
	if (w == NULL) \
		return -1

static int
check_index(WIMStruct *w, uint32_t index, struct kp_error *err)
{
	struct wimlib_wim_info info;

	wimlib_get_wim_info(w, &info);
	if (index == 0 || index > info.image_count)
		return kp_fail(err, KP_ERR_INPUT, "no image %u in the WIM",
			       index);
	return 0;
}

static char *
wpath(const char *rel)
{
	char *p = NULL;

	while (rel && *rel == '/')
		rel++;
	if (asprintf(&p, "/%s", rel ? rel : "") < 0)
		return NULL;
	return p;
}

/* One entry's attributes and unnamed stream (the callback's answer). */
struct stat_ans {
	bool found;
	uint32_t attrib;
	uint64_t size;
	unsigned char sha1[20];
};

static int
stat_cb(const struct wimlib_dir_entry *e, void *ud)
{
	struct stat_ans *a = ud;
	uint32_t i;

	a->found = true;
	a->attrib = e->attributes;
	for (i = 0; i <= e->num_named_streams; i++)
		if (e->streams[i].stream_name == NULL) {
			a->size = e->streams[i].resource.uncompressed_size;
			memcpy(a->sha1, e->streams[i].resource.sha1_hash, 20);
			break;
		}
	return 0;
}

/* PATH of image INDEX: 0 and *A, or -1 (missing: KP_ERR_INPUT, "no
 * such file"). */
static int
stat_path(WIMStruct *w, uint32_t index, const char *path, struct stat_ans *a,
	  struct kp_error *err)
{
	char *p = wpath(path);
	int r;

	memset(a, 0, sizeof(*a));
	if (p == NULL)
		return kp_fail_oom(err);
	r = wimlib_iterate_dir_tree(w, (int)index, p, 0, stat_cb, a);
	free(p);
	if (r == WIMLIB_ERR_PATH_DOES_NOT_EXIST)
		return kp_fail(err, KP_ERR_INPUT, "'%s': no such file", path);
	if (r)
		return wfail(err, r, path);
	return a->found ? 0 : kp_fail(err, KP_ERR_INPUT, "'%s': no such file",
				      path);
}

/* 1 if image INDEX holds Windows/System32/config/SOFTWARE, a file; 0 if
 * not; -1 if the image cannot be read (its metadata damaged). */
static int
is_windows(WIMStruct *w, uint32_t index, struct kp_error *err)
{
	struct stat_ans a;

	if (stat_path(w, index, "Windows/System32/config/SOFTWARE", &a,
		      err) == 0)
		return !(a.attrib & (ATTR_DIRECTORY | ATTR_REPARSE));
	if (err->status == KP_ERR_INPUT && strstr(err->msg, "no such file")) {
		kp_error_clear(err);
		return 0;
	}
	kp_error_prefix(err, "image %u", index);
	return -1;
}

static char *
dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static int
serve_info(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_info *a = args;
	const unsigned char *want = a->want;
	struct wim_info *f = ans;
	struct wimlib_wim_info info;
	uint32_t i;
	int r;

	WIM(st, err);
	wimlib_get_wim_info(w, &info);
	if (info.image_count > WIM_IMAGES_MAX)
		return kp_fail(err, KP_ERR_INPUT, "%u images",
			       info.image_count);
	f->images = calloc(info.image_count + 1, sizeof(*f->images));
	f->compression = dup_or_empty(
		wimlib_get_compression_type_string(info.compression_type));
	if (f->images == NULL || f->compression == NULL)
		return kp_fail_oom(err);
	f->chunk_size = info.chunk_size;
	f->part = info.part_number;
	f->parts = info.total_parts;
	f->pipable = info.pipable;
	f->integrity = info.has_integrity_table;
	for (i = 0; i < info.image_count; i++) {
		struct wim_image *m = &f->images[i];
		const char *ed;

		m->index = i + 1;
		ed = wimlib_get_image_property(w, (int)(i + 1),
					       "WINDOWS/EDITIONID");
		if (ed == NULL)
			ed = wimlib_get_image_property(w, (int)(i + 1),
						       "FLAGS");
		m->name = dup_or_empty(wimlib_get_image_name(w, (int)(i + 1)));
		m->edition = dup_or_empty(ed);
		f->nimages = i + 1;
		if (m->name == NULL || m->edition == NULL)
			return kp_fail_oom(err);
		if (a->len && ((i + 1) / 8 >= a->len ||
			       !(want[(i + 1) / 8] & (1u << ((i + 1) % 8)))))
			continue;
		r = is_windows(w, i + 1, err);
		if (r < 0)
			return -1;
		m->windows = r == 1;
	}
	return 0;
}

struct ls_ans {
	struct name *v;
	size_t n, cap;
	bool oom;
};

static int
ls_cb(const struct wimlib_dir_entry *e, void *ud)
{
	struct ls_ans *a = ud;

	if (a->n + 1 >= a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct name *v = realloc(a->v, cap * sizeof(*v));

		if (v == NULL) {
			a->oom = true;
			return 1;
		}
		a->v = v;
		a->cap = cap;
	}
	if ((a->v[a->n].s = strdup(e->filename ? e->filename : "")) == NULL) {
		a->oom = true;
		return 1;
	}
	a->n++;
	return 0;
}

static int
serve_ls(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_at *a = args;
	struct r_names *r = ans;
	struct ls_ans l = { 0 };
	struct stat_ans s;
	char *p;
	int rc;

	WIM(st, err);
	if (check_index(w, a->index, err) < 0 ||
	    stat_path(w, a->index, a->path, &s, err) < 0)
		return -1;
	if (!(s.attrib & ATTR_DIRECTORY) || (s.attrib & ATTR_REPARSE))
		return kp_fail(err, KP_ERR_INPUT, "'%s': not a directory",
			       a->path ? a->path : "");
	if ((p = wpath(a->path)) == NULL)
		return kp_fail_oom(err);
	rc = wimlib_iterate_dir_tree(w, (int)a->index, p,
				     WIMLIB_ITERATE_DIR_TREE_FLAG_CHILDREN,
				     ls_cb, &l);
	free(p);
	r->v = l.v;
	r->n = l.n;
	if (l.oom)
		return kp_fail_oom(err);
	return rc ? wfail(err, rc, a->path) : 0;
}

/* Extract regular file PATH of image INDEX into FD: wimlib writes only to
 * standard output, so FD becomes descriptor 1 for the call (every other
 * descriptor below the kept ones was closed when the worker started). */
static int
extract_to(WIMStruct *w, uint32_t index, const char *path, int fd,
	   struct kp_error *err)
{
	char *p = wpath(path);
	const char *paths[1];
	int one, r;

	if (p == NULL)
		return kp_fail_oom(err);
	/* Descriptors arrive at the lowest free numbers: FD may be 1. */
	one = fd == 1 ? 1 : fcntl(fd, F_DUPFD, 1);
	if (one != 1) {
		if (one >= 0)
			close(one);
		free(p);
		return kp_fail(err, KP_ERR_FAIL, "no descriptor 1 to extract "
			       "to");
	}
	paths[0] = p;
	r = wimlib_extract_paths(w, (int)index, ".", paths, 1,
				 WIMLIB_EXTRACT_FLAG_TO_STDOUT);
	if (one != fd)
		close(one);
	free(p);
	return r ? wfail(err, r, path) : 0;
}

static int
serve_copy(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_copy *a = args;
	struct r_u64 *size = ans;
	struct stat_ans s;

	WIM(st, err);
	if (check_index(w, a->index, err) < 0 ||
	    stat_path(w, a->index, a->path, &s, err) < 0)
		return -1;
	if (s.attrib & (ATTR_DIRECTORY | ATTR_REPARSE))
		return kp_fail(err, KP_ERR_INPUT, "'%s': not a regular file",
			       a->path);
	if (s.size > a->max)
		return kp_fail(err, KP_ERR_INPUT, "'%s': %llu bytes, more than "
			       "the %llu allowed", a->path,
			       (unsigned long long)s.size,
			       (unsigned long long)a->max);
	size->v = s.size;
	return extract_to(w, a->index, a->path, a->fd, err);
}

/*
 * The scratch NTFS volume: libntfs-3g on a file of the worker's
 * directory.
 */

static ntfs_inode *
child(ntfs_inode *dir, const char *name, size_t len, bool create,
      bool is_dir, const void *sd, size_t sdlen)
{
	ntfschar *u = NULL;
	char *nm = strndup(name, len);
	ntfs_inode *ni = NULL;
	u64 ino;
	int n;

	if (nm == NULL)
		return NULL;
	n = ntfs_mbstoucs(nm, &u);
	free(nm);
	if (n <= 0 || n > 255) {
		free(u);
		return NULL;
	}
	ino = ntfs_inode_lookup_by_name(dir, u, n);
	if (ino != (u64)-1)
		ni = ntfs_inode_open(dir->vol, MREF(ino));
	else if (create) {
		ni = ntfs_create(dir, const_cpu_to_le32(0), u, (u8)n,
				 is_dir ? S_IFDIR : S_IFREG);
		if (ni && sd) {
			struct SECURITY_CONTEXT scx;

			memset(&scx, 0, sizeof(scx));
			scx.vol = ni->vol;
			if (ntfs_set_ntfs_acl(&scx, ni, sd, sdlen, 0) < 0) {
				ntfs_inode_close(ni);
				ni = NULL;
			}
		}
	}
	free(u);
	return ni;
}

/* Walk PATH from the volume's root, creating what is missing (the
 * directories with the directory descriptor, the last name as a file
 * unless LAST_DIR, with descriptor SD): the inode of the last name. */
static ntfs_inode *
walk(ntfs_volume *vol, const char *path, bool last_dir, const void *sd,
     size_t sdlen)
{
	unsigned char dsd[SECDESC_MAX];
	size_t dlen = secdesc_default(false, true, dsd);
	ntfs_inode *dir = ntfs_inode_open(vol, FILE_root), *ni;
	const char *p = path;

	while (dir && *p) {
		size_t len;
		bool last;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (len == 0)
			break;
		last = p[len] == '\0' || p[len + strspn(p + len, "/")] == '\0';
		ni = child(dir, p, len, true, !last || last_dir,
			   last && !last_dir ? sd : dsd,
			   last && !last_dir ? sdlen : dlen);
		ntfs_inode_close(dir);
		dir = ni;
		p += len;
	}
	return dir;
}

static int
write_data(ntfs_inode *ni, const void *data, size_t len)
{
	ntfs_attr *na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	const char *p = data;
	size_t off = 0;

	if (na == NULL)
		return -1;
	if (ntfs_attr_truncate(na, 0) < 0)
		goto fail;
	while (off < len) {
		s64 n = ntfs_attr_pwrite(na, (s64)off, (s64)(len - off),
					 p + off);

		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	ntfs_attr_close(na);
	return 0;
fail:
	ntfs_attr_close(na);
	return -1;
}

static void
sha1(const void *data, size_t len, unsigned char out[20])
{
	unsigned int n = 20;

	EVP_Digest(data, len, out, &n, EVP_sha1(), NULL);
}

static int
remember(struct wstate *ws, uint32_t index, const char *path, bool removed,
	 const void *data, size_t len, struct kp_error *err)
{
	struct written *v = realloc(ws->w, (ws->nw + 1) * sizeof(*v));

	if (v == NULL)
		return kp_fail_oom(err);
	ws->w = v;
	v += ws->nw;
	memset(v, 0, sizeof(*v));
	v->index = index;
	v->removed = removed;
	if ((v->path = strdup(path)) == NULL)
		return kp_fail_oom(err);
	if (!removed && data)
		sha1(data, len, v->sha1);
	ws->nw++;
	return 0;
}

static int
serve_put(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_put *a = args;
	struct wimlib_update_command c;
	unsigned char sd[SECDESC_MAX];
	size_t sdlen = secdesc_default(a->flags & WIM_SECRET, false, sd);
	struct stat_ans s;
	ntfs_volume *vol;
	ntfs_inode *ni;
	bool exists;
	char *p;
	int r, e;

	WIM(st, err);
	(void)ans;
	if (check_index(w, a->index, err) < 0)
		return -1;
	if (a->path == NULL || a->vol == NULL || strchr(a->vol, '/'))
		return kp_fail(err, KP_ERR_FAIL, "bad request");
	exists = stat_path(w, a->index, a->path, &s, err) == 0;
	if (!exists && (err->status != KP_ERR_INPUT ||
			!strstr(err->msg, "no such file")))
		return -1;
	kp_error_clear(err);
	if (exists && a->mkdir) {
		if (!(s.attrib & ATTR_DIRECTORY) || (s.attrib & ATTR_REPARSE))
			return kp_fail(err, KP_ERR_FAIL, "'%s' is not a "
				       "directory", a->path);
		return 0;
	}
	if (exists && (s.attrib & (ATTR_DIRECTORY | ATTR_REPARSE)))
		return kp_fail(err, KP_ERR_FAIL, "'%s': not a regular file",
			       a->path);
	if ((p = wpath(a->path)) == NULL)
		return kp_fail_oom(err);
	/* The old file, with all it has, into the scratch volume. */
	if (exists) {
		const char *paths[1] = { p };

		r = wimlib_extract_paths(w, (int)a->index, a->vol, paths, 1,
					 WIMLIB_EXTRACT_FLAG_NTFS);
		if (r) {
			free(p);
			return wfail(err, r, a->path);
		}
	}
	vol = ntfs_mount(a->vol, 0);
	if (vol == NULL) {
		free(p);
		return kp_fail_errno(err, KP_ERR_FAIL, errno, "scratch volume");
	}
	ni = walk(vol, p, a->mkdir, sd, sdlen);
	r = ni && !a->mkdir ? write_data(ni, a->data, a->len) : ni ? 0 : -1;
	/* A secret gets SYSTEM and Administrators only, even where the old
	 * file allowed more (as the direct backend does). */
	if (r == 0 && exists && (a->flags & WIM_SECRET)) {
		struct SECURITY_CONTEXT scx;

		memset(&scx, 0, sizeof(scx));
		scx.vol = vol;
		r = ntfs_set_ntfs_acl(&scx, ni, (const char *)sd, sdlen, 0);
	}
	e = errno;
	if (ni && ntfs_inode_close(ni) < 0 && r == 0) {
		r = -1;
		e = errno;
	}
	if (ntfs_umount(vol, FALSE) < 0 && r == 0) {
		r = -1;
		e = errno;
	}
	if (r < 0) {
		free(p);
		return kp_fail_errno(err, KP_ERR_FAIL, e, "'%s': cannot write "
				     "the scratch volume", a->path);
	}
	/* Merged onto the image's root: directories met keep the image's
	 * entries; the file replaces the old one. */
	memset(&c, 0, sizeof(c));
	c.op = WIMLIB_UPDATE_OP_ADD;
	c.add.fs_source_path = a->vol;
	c.add.wim_target_path = (char *)"";
	c.add.add_flags = WIMLIB_ADD_FLAG_NTFS;
	r = wimlib_update_image(w, (int)a->index, &c, 1, 0);
	if (r) {
		free(p);
		return wfail(err, r, a->path);
	}
	r = remember(st, a->index, p, false, a->mkdir ? NULL : a->data,
		     a->len, err);
	free(p);
	return r;
}

static int
serve_remove(void *st, const void *args, void *ans, struct kp_error *err)
{
	const struct a_at *a = args;
	struct wimlib_update_command c;
	struct stat_ans s;
	char *p;
	int r;

	WIM(st, err);
	(void)ans;
	if (check_index(w, a->index, err) < 0 ||
	    stat_path(w, a->index, a->path, &s, err) < 0)
		return -1;
	if (s.attrib & ATTR_DIRECTORY)
		return kp_fail(err, KP_ERR_FAIL, "'%s': a directory", a->path);
	if ((p = wpath(a->path)) == NULL)
		return kp_fail_oom(err);
	memset(&c, 0, sizeof(c));
	c.op = WIMLIB_UPDATE_OP_DELETE;
	c.delete_.wim_path = p;
	r = wimlib_update_image(w, (int)a->index, &c, 1, 0);
	if (r == 0)
		r = remember(st, a->index, p, true, NULL, 0, err);
	else
		r = wfail(err, r, a->path);
	free(p);
	return r;
}

/* Every file written, read again from the WIM as written: there as
 * recorded (the SHA-1 of the lookup table, and of the bytes extracted,
 * which wimlib checks against it), every removed file gone. */
static int
verify(struct wstate *ws, struct kp_error *err)
{
	size_t i;

	for (i = 0; i < ws->nw; i++) {
		const struct written *v = &ws->w[i];
		struct stat_ans s;
		int fd, r;

		r = stat_path(ws->wim, v->index, v->path, &s, err);
		if (v->removed) {
			if (r == 0)
				return kp_fail(err, KP_ERR_FAIL, "'%s' is "
					       "still in image %u once written",
					       v->path, v->index);
			kp_error_clear(err);
			continue;
		}
		if (r < 0)
			return -1;
		if (s.attrib & ATTR_DIRECTORY)
			continue;
		if (memcmp(s.sha1, v->sha1, 20) != 0)
			return kp_fail(err, KP_ERR_FAIL, "'%s' in image %u: "
				       "not what was written", v->path,
				       v->index);
		fd = memfd_create("verify", MFD_CLOEXEC);
		if (fd < 0)
			return kp_fail_errno(err, KP_ERR_FAIL, errno, "memfd");
		r = extract_to(ws->wim, v->index, v->path, fd, err);
		close(fd);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* Write the images changed: appended to the WIM in place (wimlib writes
 * the new data, then the new lookup table and XML data after the old
 * end, and the header last), or the whole WIM to the new overlay; then
 * opened again and checked. */
static int
serve_commit(void *st, const void *args, void *ans, struct kp_error *err)
{
	struct wstate *ws = st;
	struct r_u64 *out = ans;
	char path[64];
	int r;

	(void)args;
	if (ws->nw == 0 && ws->out_fd < 0)
		return 0;
	WIM(st, err);
	if (ws->out_fd >= 0)
		r = wimlib_write_to_fd(w, ws->out_fd, WIMLIB_ALL_IMAGES,
				       WIMLIB_WRITE_FLAG_RETAIN_GUID,
				       ws->threads);
	else
		r = wimlib_overwrite(w, WIMLIB_WRITE_FLAG_FSYNC, ws->threads);
	if (r)
		return wfail(err, r, "cannot write the WIM");
	wimlib_free(w);
	ws->wim = NULL;
	snprintf(path, sizeof(path), "/proc/self/fd/%d",
		 ws->out_fd >= 0 ? ws->out_fd : ws->fd);
	r = wimlib_open_wim(path, 0, &ws->wim);
	if (r) {
		ws->wim = NULL;
		return wfail(err, r, "the WIM as written cannot be opened");
	}
	out->v = ws->nw;
	return verify(ws, err);
}

enum {
	WIMW_INFO = 1, WIMW_LS, WIMW_COPY, WIMW_PUT, WIMW_REMOVE, WIMW_COMMIT,
	WIMW_NR
};

static const struct rpc_op ops[WIMW_NR] = {
	[WIMW_INFO] = { .name = "info", .args = &a_info_l, .answer = &info_l,
			.serve = serve_info },
	[WIMW_LS] = { .name = "ls", .args = &a_at_l, .answer = &r_names_l,
		      .answer_max = (size_t)64 << 20, .serve = serve_ls },
	[WIMW_COPY] = { .name = "copy", .args = &a_copy_l,
			.answer = &r_u64_l, .serve = serve_copy },
	[WIMW_PUT] = { .name = "put", .args = &a_put_l, .serve = serve_put },
	[WIMW_REMOVE] = { .name = "remove", .args = &a_at_l,
			  .serve = serve_remove },
	[WIMW_COMMIT] = { .name = "commit", .answer = &r_u64_l,
			  .serve = serve_commit },
};

static const struct rpc_table table = {
	.worker = "the WIM worker", .ops = ops, .nops = WIMW_NR,
};

/*
 * The parent.
 */

struct wim_worker {
	struct rpc_client *c;
	int fd, out_fd;
	char *dir;		/* the worker's directory */
	unsigned vols;		/* scratch volumes made */
};

int
wimw_open(const char *path, const char *dir, const char *overlay,
	  bool write, unsigned timeout_s, struct wim_worker **w_ret,
	  struct kp_error *err)
{
	struct wstate ws = { .fd = -1, .out_fd = -1 };
	struct sb_opts so = { .fs_dir = dir };
	struct wim_worker *w;
	struct stat st;
	int keep[2], n = 0;

	*w_ret = NULL;
	/* wimlib opens the WIM by a /proc/self/fd path, which does not
	 * exist inside the chroot that fences workers without Landlock,
	 * and a chroot would not keep the worker's writes to the WIM apart
	 * from its reads. */
	if (sb_landlock_abi() <= 0)
		return kp_fail(err, KP_ERR_UNAVAILABLE, "'%s': WIM files are "
			       "opened only where Landlock fences their worker "
			       "(Linux 5.13 or later, with landlock among its "
			       "security modules: lsm=...,landlock)", path);
	w = calloc(1, sizeof(*w));
	if (w == NULL || (w->dir = strdup(dir)) == NULL) {
		free(w);
		return kp_fail_oom(err);
	}
	w->out_fd = -1;
	w->fd = open(path, (write && !overlay ? O_RDWR : O_RDONLY) |
		     O_CLOEXEC);
	if (w->fd < 0 || fstat(w->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		kp_fail_errno(err, KP_ERR_INPUT, w->fd < 0 ? errno : EINVAL,
			      "'%s': cannot open", path);
		goto fail;
	}
	keep[n++] = w->fd;
	if (overlay && write) {
		w->out_fd = open(overlay, O_RDWR | O_CREAT | O_EXCL |
				 O_CLOEXEC | O_NOFOLLOW, 0644);
		if (w->out_fd < 0) {
			kp_fail_errno(err, KP_ERR_REFUSED, errno, "'%s': "
				      "cannot create the overlay", overlay);
			goto fail;
		}
		keep[n++] = w->out_fd;
	}
	ws.fd = w->fd;
	ws.out_fd = w->out_fd;
	so.keep = keep;
	so.nkeep = (size_t)n;
	/* Written: the WIM in place, or only the new overlay. */
	if (write && w->out_fd < 0) {
		so.fs_write = keep;
		so.nfs_write = 1;
	} else {
		so.fs_read = keep;
		so.nfs_read = 1;
		so.fs_write = keep + 1;
		so.nfs_write = (size_t)n - 1;
	}
	so.ioctl_fails = true;
	/* wimlib would compress in a thread a processor, but nothing caps
	 * the threads of a process run as root (RLIMIT_NPROC does not
	 * apply): a subverted worker could take every PID of the host.  It
	 * compresses in its own thread, and may start none. */
	ws.threads = 1;
	/* It may append to the WIM, never grow it past twice its size and
	 * a few GiB (what a hive or a kit adds is far less). */
	so.fsize_max = (uint64_t)st.st_size * 2 + ((uint64_t)4 << 30);
	so.timeout_s = timeout_s ? timeout_s : WIM_TIMEOUT;
	/* wimlib keeps each changed image's whole directory tree in memory
	 * until it writes (a real install.wim: a few hundred MB an index):
	 * half the machine's memory, at least the 4 GiB of other workers and
	 * at most 16 GiB, so that a WIM that decompresses to more fails in
	 * its worker, not the machine. */
	{
		long pages = sysconf(_SC_PHYS_PAGES);
		long psz = sysconf(_SC_PAGESIZE);
		uint64_t half = pages > 0 && psz > 0 ?
				(uint64_t)pages * (uint64_t)psz / 2 : 0;

		so.mem_max = half < ((uint64_t)4 << 30) ? (uint64_t)4 << 30 :
			     half > ((uint64_t)16 << 30) ? (uint64_t)16 << 30 :
			     half;
	}
	if (rpc_start(&table, &so, &ws, &w->c, err) < 0)
		goto fail;
	*w_ret = w;
	return 0;
fail:
	wimw_close(w, false, write ? overlay : NULL, NULL);
	return -1;
}

int
wimw_info(struct wim_worker *w, const unsigned *want, size_t nwant,
	  struct wim_info *info, struct kp_error *err)
{
	unsigned char bits[WIM_IMAGES_MAX / 8 + 1] = { 0 };
	struct a_info a = { bits, 0 };
	size_t i;

	for (i = 0; i < nwant; i++)
		if (want[i] && want[i] <= WIM_IMAGES_MAX) {
			bits[want[i] / 8] |=
				(unsigned char)(1u << (want[i] % 8));
			if (want[i] / 8 + 1 > a.len)
				a.len = want[i] / 8 + 1;
		}
	memset(info, 0, sizeof(*info));
	if (rpc_call(w->c, WIMW_INFO, &a, info, err) < 0)
		return -1;
	if (info->compression == NULL) {
		rpc_release(w->c, WIMW_INFO, info);
		return kp_fail(err, KP_ERR_FAIL, "%s sent a bad answer",
			       table.worker);
	}
	/* Strings may come as NULL on the wire: every one is checked. */
	for (i = 0; i < info->nimages; i++)
		if (info->images[i].index != i + 1 ||
		    info->images[i].name == NULL ||
		    info->images[i].edition == NULL) {
			rpc_release(w->c, WIMW_INFO, info);
			return kp_fail(err, KP_ERR_FAIL, "%s sent a bad answer",
				       table.worker);
		}
	return 0;
}

void
wimw_info_release(struct wim_worker *w, struct wim_info *info)
{
	rpc_release(w->c, WIMW_INFO, info);
}

char **
wimw_ls(struct wim_worker *w, unsigned index, const char *path,
	struct kp_error *err)
{
	struct a_at a = { index, (char *)path };
	struct r_names r = { 0 };
	char **v;
	size_t i;

	if (rpc_call(w->c, WIMW_LS, &a, &r, err) < 0)
		return NULL;
	v = calloc(r.n + 1, sizeof(*v));
	for (i = 0; v && i < r.n; i++) {
		/* A name is one name: no separator, not "." or "..". */
		if (r.v[i].s == NULL || r.v[i].s[0] == '\0' ||
		    strchr(r.v[i].s, '/') ||
		    strcmp(r.v[i].s, ".") == 0 || strcmp(r.v[i].s, "..") == 0) {
			img_list_free(v);
			rpc_release(w->c, WIMW_LS, &r);
			kp_fail(err, KP_ERR_INPUT, "'%s': a bad name in the "
				"directory", path);
			return NULL;
		}
		v[i] = r.v[i].s;
		r.v[i].s = NULL;
	}
	rpc_release(w->c, WIMW_LS, &r);
	if (v == NULL)
		kp_fail_oom(err);
	return v;
}

int
wimw_copy(struct wim_worker *w, unsigned index, const char *path,
	  uint64_t max, int fd, struct kp_error *err)
{
	struct r_u64 size = { 0 };
	struct stat st;
	int mfd, r;

	/* Into a memfd sealed once the worker has answered: what is
	 * checked is what is used, whatever the worker does next. */
	if ((mfd = kp_worker_file(0, err)) < 0)
		return -1;
	r = rpc_call(w->c, WIMW_COPY, &(struct a_copy){ index, (char *)path,
							max, mfd },
		     &size, err);
	if (r == 0)
		r = kp_worker_file_seal(mfd, path, err);
	/* What the worker wrote is what it said, and no more than asked. */
	if (r == 0 && fstat(mfd, &st) < 0)
		r = kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s'", path);
	if (r == 0 && (size.v > max || (uint64_t)st.st_size != size.v))
		r = kp_fail(err, KP_ERR_INPUT, "'%s': %s sent %llu bytes "
			    "for %llu", path, table.worker,
			    (unsigned long long)st.st_size,
			    (unsigned long long)size.v);
	if (r == 0)
		r = kp_copy_fd(mfd, fd, size.v, err);
	close(mfd);
	return r;
}

/* A new scratch NTFS volume in the worker's directory, made here by
 * mkntfs (trusted: nothing from the image decides anything but its
 * size); its name (caller frees). */
static char *
scratch_volume(struct wim_worker *w, size_t len, struct kp_error *err)
{
	char *name = NULL, *full = NULL;
	uint64_t size = ((uint64_t)len * 2 + ((uint64_t)16 << 20) + 0xfffff) &
			~(uint64_t)0xfffff;
	pid_t pid;
	int fd, status;

	if (asprintf(&name, "v%u.ntfs", w->vols++) < 0 ||
	    asprintf(&full, "%s/%s", w->dir, name) < 0) {
		free(name);
		kp_fail_oom(err);
		return NULL;
	}
	fd = open(full, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s'", full);
		goto fail;
	}
	close(fd);
	fd = -1;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execl("/sbin/mkntfs", "mkntfs", "-q", "-F", "-Q", "-f", full,
		      (char *)NULL);
		execlp("mkntfs", "mkntfs", "-q", "-F", "-Q", "-f", full,
		       (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		kp_fail(err, KP_ERR_UNAVAILABLE, "mkntfs failed to make a "
			"scratch NTFS volume (is ntfs-3g installed?)");
		goto fail;
	}
	free(full);
	return name;
fail:
	if (fd >= 0)
		close(fd);
	free(full);
	free(name);
	return NULL;
}

static int
put(struct wim_worker *w, unsigned index, const char *path, const void *data,
    size_t len, unsigned flags, bool mkdir, struct kp_error *err)
{
	struct a_put a = { .index = index, .path = (char *)path,
			   .flags = flags, .mkdir = mkdir,
			   .data = (void *)data, .len = len };
	int r;

	if ((a.vol = scratch_volume(w, len, err)) == NULL)
		return -1;
	r = rpc_call(w->c, WIMW_PUT, &a, NULL, err);
	free(a.vol);
	return r;
}

int
wimw_put(struct wim_worker *w, unsigned index, const char *path,
	 const void *data, size_t len, unsigned flags, struct kp_error *err)
{
	return put(w, index, path, data, len, flags, false, err);
}

int
wimw_mkdir(struct wim_worker *w, unsigned index, const char *path,
	   struct kp_error *err)
{
	return put(w, index, path, NULL, 0, 0, true, err);
}

int
wimw_remove(struct wim_worker *w, unsigned index, const char *path,
	    struct kp_error *err)
{
	struct a_at a = { index, (char *)path };

	return rpc_call(w->c, WIMW_REMOVE, &a, NULL, err);
}

int
wimw_close(struct wim_worker *w, bool ok, const char *overlay,
	   struct kp_error *err)
{
	struct kp_error e2 = KP_ERROR_INIT;
	struct r_u64 n = { 0 };
	int r = 0;

	if (w == NULL)
		return 0;
	if (err == NULL)
		err = &e2;
	if (ok && w->c)
		r = rpc_call(w->c, WIMW_COMMIT, NULL, &n, err);
	if (w->c && rpc_stop(w->c, r == 0 ? err : &e2) < 0)
		r = -1;
	if (w->out_fd >= 0) {
		if (r == 0 && ok && fsync(w->out_fd) < 0)
			r = kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s'",
					  overlay);
		close(w->out_fd);
		/* A new overlay that was not written whole goes again. */
		if ((r < 0 || !ok) && overlay)
			unlink(overlay);
	}
	if (w->fd >= 0)
		close(w->fd);
	free(w->dir);
	free(w);
	return r;
}

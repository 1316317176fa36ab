/* Hive files over hivex: checked open, recorded edits, verified commit. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <hivex.h>

#include "hive.h"
#include "lib/fileio.h"
#include "lib/utf.h"

/* Windows limits key names to 255 characters and value names to 16383. */
#define KEY_NAME_MAX 255
#define VALUE_NAME_MAX 16383

/* What the file must hold after commit, for one key or one value. */
struct expect {
	char *path;
	char *name;		/* NULL: the key itself */
	bool present;
	uint32_t type;
	unsigned char *data;
	size_t len;
};

struct hive {
	char *path;		/* as given */
	char *real;		/* resolved, for writing */
	hive_h *hx;
	struct hive_state st;
	struct stat fst;
	int memfd;		/* holds a recovered image, or -1 */
	uint32_t minor;		/* version of what hivex edits */
	bool writable;
	bool poisoned;		/* an edit failed half-way: never commit */
	struct expect *exp;
	size_t nexp, capexp;
	size_t nedits;
};

static void
expect_free(struct expect *e)
{
	free(e->path);
	free(e->name);
	free(e->data);
}

/* Is PATH equal to BASE or below it (case-insensitive)? */
static bool
path_under(const char *path, const char *base)
{
	size_t n = strlen(base);

	if (n == 0)
		return true;
	return strncasecmp(path, base, n) == 0 &&
	       (path[n] == '\0' || path[n] == '\\');
}

static bool
same_name(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcasecmp(a, b) == 0;
}

/* Record what PATH/NAME must look like; replaces an earlier expectation. */
static int
expect(struct hive *h, const char *path, const char *name, bool present,
       uint32_t type, const void *data, size_t len, struct kp_error *err)
{
	struct expect *e = NULL;
	size_t i;

	for (i = 0; i < h->nexp; i++) {
		if (strcasecmp(h->exp[i].path, path) == 0 &&
		    same_name(h->exp[i].name, name)) {
			e = &h->exp[i];
			expect_free(e);
			break;
		}
	}
	if (e == NULL) {
		if (h->nexp == h->capexp) {
			size_t cap = h->capexp ? h->capexp * 2 : 16;
			struct expect *n = realloc(h->exp, cap * sizeof(*n));

			if (n == NULL)
				return kp_fail_oom(err);
			h->exp = n;
			h->capexp = cap;
		}
		e = &h->exp[h->nexp++];
	}
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	e->name = name ? strdup(name) : NULL;
	e->present = present;
	e->type = type;
	if (len) {
		e->data = malloc(len);
		if (e->data)
			memcpy(e->data, data, len);
	}
	e->len = len;
	if (e->path == NULL || (name && e->name == NULL) ||
	    (len && e->data == NULL)) {
		expect_free(e);
		*e = h->exp[--h->nexp];
		return kp_fail_oom(err);
	}
	return 0;
}

/* A deleted key takes everything recorded under it along. */
static void
expect_forget_under(struct hive *h, const char *path)
{
	size_t i = 0;

	while (i < h->nexp) {
		if (path_under(h->exp[i].path, path)) {
			expect_free(&h->exp[i]);
			h->exp[i] = h->exp[--h->nexp];
		} else {
			i++;
		}
	}
}

/*
 * Opening.
 */

static void
input_release(struct logrec_input *in, struct kp_map *m, char **path)
{
	kp_unmap(m);
	free(*path);
	*path = NULL;
	memset(in, 0, sizeof(*in));
}

/* Load a log: the explicit name, or PRIMARY.LOGn / PRIMARY.logn.  A log
 * named by the user must be a readable file, dirty hive or not. */
static int
load_log(const char *given, const char *primary, int n,
	 struct logrec_input *in, struct kp_map *m, char **path,
	 struct kp_error *err)
{
	struct kp_error ignored = KP_ERROR_INIT;
	int i;

	memset(in, 0, sizeof(*in));
	if (given) {
		if (kp_map_file(given, 0, REGF_MAX_FILE, m, err) < 0) {
			kp_error_prefix(err, "transaction log %d", n);
			return -1;
		}
		*path = strdup(given);
		in->path = *path;
		in->present = true;
		in->data = m->data;
		in->len = m->len;
		return *path ? 0 : kp_fail_oom(err);
	}
	for (i = 0; i < 2; i++) {
		size_t len = strlen(primary) + 8;

		*path = malloc(len);
		if (*path == NULL)
			return kp_fail_oom(err);
		if (n == 0)
			snprintf(*path, len, i ? "%s.log" : "%s.LOG", primary);
		else
			snprintf(*path, len, i ? "%s.log%d" : "%s.LOG%d",
				 primary, n);
		if (access(*path, F_OK) == 0) {
			in->path = *path;
			in->present = true;
			if (kp_map_file(*path, 0, REGF_MAX_FILE, m,
					&ignored) == 0) {
				in->data = m->data;
				in->len = m->len;
			}
			return 0;
		}
		free(*path);
		*path = NULL;
	}
	return 0;
}

/* Hand a recovered image to hivex through an anonymous memory file. */
static int
image_to_memfd(const struct buf *img, int *fd_ret, char *name, size_t namesz,
	       struct kp_error *err)
{
	int fd = memfd_create("kmsprep-recovered-hive", MFD_CLOEXEC);

	if (fd < 0)
		return kp_fail_errno(err, KP_ERR_FAIL, errno,
				     "cannot create a memory file");
	if (kp_write_all(fd, img->data, img->len) < 0) {
		close(fd);
		return kp_fail_errno(err, KP_ERR_FAIL, errno,
				     "cannot fill a memory file");
	}
	snprintf(name, namesz, "/proc/self/fd/%d", fd);
	*fd_ret = fd;
	return 0;
}

int
hive_open(const char *path, const struct hive_open_opts *o,
	  struct hive **h_ret, struct kp_error *err)
{
	static const struct hive_open_opts defaults = { 0, NULL, NULL };
	struct logrec_input logs[2];
	struct kp_map m = KP_MAP_INIT, lm[2] = { KP_MAP_INIT, KP_MAP_INIT };
	char *logpath[2] = { NULL, NULL }, fdname[64];
	struct buf img = BUF_INIT;
	const unsigned char *data;
	size_t len;
	struct hive *h;
	const char *src = fdname;
	int i;

	if (o == NULL)
		o = &defaults;
	*h_ret = NULL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return kp_fail_oom(err);
	h->memfd = -1;
	h->writable = o->flags & HIVE_WRITE;
	h->path = strdup(path);
	if (h->path == NULL) {
		kp_fail_oom(err);
		goto fail;
	}
	if (h->writable) {
		h->real = kp_realpath_for_write(path, err);
		if (h->real == NULL)
			goto fail;
	}
	if (kp_map_file(path, 0, REGF_MAX_FILE, &m, err) < 0)
		goto fail;
	h->fst = m.st;
	/* hivex opens exactly the file that is checked below. */
	snprintf(fdname, sizeof(fdname), "/proc/self/fd/%d", m.fd);
	data = m.data;
	len = m.len;
	if (len < 512 || regf_header_parse(data, len, &h->st.hdr, err) < 0) {
		if (len < 512)
			kp_fail(err, KP_ERR_INPUT,
				"not a registry hive (%zu bytes)", len);
		kp_error_prefix(err, "'%s'", path);
		goto fail;
	}
	h->st.dirty = regf_header_dirty(&h->st.hdr);

	memset(logs, 0, sizeof(logs));
	if (!(o->flags & HIVE_NO_LOGS)) {
		/* The logs sit beside the real file, not beside a link. */
		char *real = realpath(path, NULL);
		const char *base = real ? real : path;

		int r = load_log(o->log1, base, 1, &logs[0], &lm[0],
				 &logpath[0], err);

		if (r == 0)
			r = load_log(o->log2, base, 2, &logs[1], &lm[1],
				     &logpath[1], err);
		/* A hive with a single log keeps it as FILE.LOG. */
		if (r == 0 && !o->log1 && !o->log2 && !logs[0].present &&
		    !logs[1].present)
			r = load_log(NULL, base, 0, &logs[0], &lm[0],
				     &logpath[0], err);
		free(real);
		if (r < 0)
			goto fail;
	}
	logrec_scan(logs, &h->st.logs);

	if (h->st.dirty) {
		struct kp_error rerr = KP_ERROR_INIT;

		if ((logs[0].present || logs[1].present) &&
		    logrec_recover(data, len, logs, &img, &h->st.logs,
				   &rerr) == 0) {
			if (image_to_memfd(&img, &h->memfd, fdname,
					   sizeof(fdname), err) < 0)
				goto fail;
			h->st.recovered = true;
			data = (const unsigned char *)img.data;
			len = img.len;
			if (h->st.logs.damage[0] && h->writable &&
			    !(o->flags & HIVE_FORCE_DIRTY)) {
				kp_fail(err, KP_ERR_INPUT,
					"'%s': damaged transaction log (%s): "
					"only the changes before it can be "
					"replayed, the later ones would be "
					"lost (--force-dirty accepts that)",
					path, h->st.logs.damage);
				goto fail;
			}
		} else if (!h->st.logs.why[0]) {
			snprintf(h->st.logs.why, sizeof(h->st.logs.why),
				 "no transaction logs found");
		}
		if (!h->st.recovered && h->st.hdr.type == REGF_PRIMARY &&
		    !h->st.hdr.checksum_ok) {
			kp_fail(err, KP_ERR_INPUT,
				"'%s': corrupt base block (checksum mismatch) "
				"and no usable transaction log (%s)",
				path, h->st.logs.why);
			goto fail;
		}
		if (!h->st.recovered && h->writable &&
		    !(o->flags & HIVE_FORCE_DIRTY) &&
		    h->st.hdr.type == REGF_PRIMARY) {
			kp_fail(err, KP_ERR_REFUSED,
				"'%s': hive is dirty (sequence numbers %u/%u): "
				"Windows' pending changes are in its "
				"transaction logs and none can be replayed "
				"(%s); writing now would lose them "
				"(--force-dirty writes anyway)",
				path, h->st.hdr.seq1, h->st.hdr.seq2,
				h->st.logs.why);
			goto fail;
		}
	}
	if (regf_validate(data, len, &h->st.stats, err) < 0) {
		if (h->st.dirty && !h->st.recovered)
			kp_error_prefix(err, "'%s' (dirty, logs not used: %s)",
					path, h->st.logs.why);
		else
			kp_error_prefix(err, "'%s'", path);
		goto fail;
	}
	/* After recovery the version is the log's, not the primary's. */
	h->minor = regf_le32(data + 0x18);
	for (i = 0; i < 2; i++)
		input_release(&logs[i], &lm[i], &logpath[i]);
	buf_release(&img);

	errno = 0;
	h->hx = hivex_open(src, h->writable ? HIVEX_OPEN_WRITE : 0);
	kp_unmap(&m);
	if (h->hx == NULL) {
		kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EINVAL,
			      "'%s': hivex cannot open it", path);
		goto fail;
	}
	*h_ret = h;
	return 0;
fail:
	for (i = 0; i < 2; i++)
		input_release(&logs[i], &lm[i], &logpath[i]);
	kp_unmap(&m);
	buf_release(&img);
	hive_close(h);
	return -1;
}

void
hive_close(struct hive *h)
{
	size_t i;

	if (h == NULL)
		return;
	if (h->hx)
		hivex_close(h->hx);
	if (h->memfd >= 0)
		close(h->memfd);
	for (i = 0; i < h->nexp; i++)
		expect_free(&h->exp[i]);
	free(h->exp);
	free(h->path);
	free(h->real);
	free(h);
}

const struct hive_state *
hive_state(const struct hive *h)
{
	return &h->st;
}

const char *
hive_path(const struct hive *h)
{
	return h->path;
}

size_t
hive_nr_edits(const struct hive *h)
{
	return h->nedits;
}

/*
 * Reading.
 */

static int
hx_fail(struct hive *h, const char *what, const char *path,
	struct kp_error *err)
{
	return kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EINVAL,
			     "'%s': %s '%s'", h->path, what, path);
}

static bool
is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Child NAME of K: 1 found, 0 absent, -1 error.  hivex compares names in
 * ASCII only; Windows folds every UTF-16 unit, so a key "Ä" must be found
 * as "ä".  Names are scanned here whenever hivex's answer could differ. */
static int
child(struct hive *h, hive_key k, const char *name, hive_key *out,
      const char *path, struct kp_error *err)
{
	hive_node_h c, *kids;
	size_t i;
	int r = 0;

	errno = 0;
	c = hivex_node_get_child(h->hx, k, name);
	if (c) {
		*out = c;
		return 1;
	}
	if (errno)
		return hx_fail(h, "cannot list subkeys of", path, err);
	kids = hivex_node_children(h->hx, k);
	if (kids == NULL)
		return hx_fail(h, "cannot list subkeys of", path, err);
	for (i = 0; kids[i] && r == 0; i++) {
		char *n = hivex_node_name(h->hx, kids[i]);

		if (n == NULL) {
			r = hx_fail(h, "cannot read a subkey name of", path,
				    err);
			break;
		}
		if ((!is_ascii(n) || !is_ascii(name)) &&
		    utf8_casecmp(n, name) == 0) {
			*out = kids[i];
			r = 1;
		}
		free(n);
	}
	free(kids);
	return r;
}

/* hivex inserts a subkey where strcasecmp puts it; Windows wants the order
 * of uppercase UTF-16 units, which differs for [\]^_` and most non-ASCII
 * letters.  A list out of Windows' order breaks lookups in Windows, so
 * check the list around a new key with such a name. */
static int
check_order(struct hive *h, hive_key parent, const char *name,
	    const char *path, struct kp_error *err)
{
	hive_node_h *kids;
	char *prev = NULL;
	size_t i;
	int r = 0;

	if (is_ascii(name) && !strpbrk(name, "[\\]^_`"))
		return 0;
	kids = hivex_node_children(h->hx, parent);
	if (kids == NULL)
		return hx_fail(h, "cannot list subkeys of", path, err);
	for (i = 0; kids[i] && r == 0; i++) {
		char *n = hivex_node_name(h->hx, kids[i]);

		if (n == NULL)
			r = hx_fail(h, "cannot read a subkey name of", path,
				    err);
		else if (prev && utf8_casecmp(prev, n) >= 0)
			r = kp_fail(err, KP_ERR_FAIL,
				    "key path '%s': hivex would store key "
				    "'%s' out of the order Windows looks keys "
				    "up in; not written", path, name);
		free(prev);
		prev = n;
	}
	free(prev);
	free(kids);
	if (r < 0)
		h->poisoned = true;
	return r;
}

int
hive_find(struct hive *h, const char *path, hive_key *k,
	  struct kp_error *err)
{
	hive_key cur;
	const char *p = path;
	char part[KEY_NAME_MAX * 4 + 1];

	if (h->hx == NULL)
		return kp_fail(err, KP_ERR_FAIL,
			       "'%s': already committed", h->path);
	cur = hivex_root(h->hx);
	while (*p) {
		const char *bs = strchr(p, '\\');
		size_t n = bs ? (size_t)(bs - p) : strlen(p);
		int r;

		if (n >= sizeof(part))
			return 0;
		if (n) {
			memcpy(part, p, n);
			part[n] = '\0';
			r = child(h, cur, part, &cur, path, err);
			if (r <= 0)
				return r;
		}
		p += n + (bs != NULL);
	}
	*k = cur;
	return 1;
}

enum hive_kind
hive_kind(struct hive *h)
{
	struct kp_error ignored = KP_ERROR_INIT;
	hive_key k;

	if (hive_find(h, "Microsoft\\Windows NT\\CurrentVersion", &k,
		      &ignored) == 1)
		return HIVE_KIND_SOFTWARE;
	if (hive_find(h, "Select", &k, &ignored) == 1)
		return HIVE_KIND_SYSTEM;
	if (h->hx == NULL)
		return HIVE_KIND_OTHER;
	if (hivex_node_nr_children(h->hx, hivex_root(h->hx)) == 0)
		return HIVE_KIND_EMPTY;
	return HIVE_KIND_OTHER;
}

int
hive_subkeys(struct hive *h, hive_key k, hive_key **list, size_t *n,
	     struct kp_error *err)
{
	hive_node_h *c;
	size_t i;

	errno = 0;
	c = hivex_node_children(h->hx, k);
	if (c == NULL)
		return kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EINVAL,
				     "'%s': cannot list subkeys", h->path);
	for (i = 0; c[i]; i++)
		;
	*list = c;
	*n = i;
	return 0;
}

char *
hive_key_name(struct hive *h, hive_key k, struct kp_error *err)
{
	char *s;

	errno = 0;
	s = hivex_node_name(h->hx, k);
	if (s == NULL)
		kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EINVAL,
			      "'%s': cannot read a key name", h->path);
	return s;
}

static int
read_value(struct hive *h, hive_value_h v, struct hive_value *out,
	   struct kp_error *err)
{
	hive_type t;
	size_t len;

	memset(out, 0, sizeof(*out));
	errno = 0;
	out->name = hivex_value_key(h->hx, v);
	if (out->name == NULL)
		goto fail;
	out->data = (unsigned char *)hivex_value_value(h->hx, v, &t, &len);
	if (out->data == NULL)
		goto fail;
	out->type = (uint32_t)t;
	out->len = len;
	return 0;
fail:
	kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EINVAL,
		      "'%s': cannot read a value", h->path);
	hive_value_release(out);
	return -1;
}

int
hive_get(struct hive *h, hive_key k, const char *name, struct hive_value *v,
	 struct kp_error *err)
{
	hive_value_h val;

	errno = 0;
	val = hivex_node_get_value(h->hx, k, name);
	if (val == 0) {
		if (errno)
			return kp_fail_errno(err, KP_ERR_INPUT, errno,
					     "'%s': cannot read value '%s'",
					     h->path, name);
		return 0;
	}
	return read_value(h, val, v, err) < 0 ? -1 : 1;
}

int
hive_values(struct hive *h, hive_key k, struct hive_value **vals, size_t *n,
	    struct kp_error *err)
{
	hive_value_h *list;
	struct hive_value *out;
	size_t i, count;

	errno = 0;
	list = hivex_node_values(h->hx, k);
	if (list == NULL)
		return kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EINVAL,
				     "'%s': cannot list values", h->path);
	for (count = 0; list[count]; count++)
		;
	out = calloc(count ? count : 1, sizeof(*out));
	if (out == NULL) {
		free(list);
		return kp_fail_oom(err);
	}
	for (i = 0; i < count; i++) {
		if (read_value(h, list[i], &out[i], err) < 0) {
			hive_values_free(out, i);
			free(list);
			return -1;
		}
	}
	free(list);
	*vals = out;
	*n = count;
	return 0;
}

void
hive_value_release(struct hive_value *v)
{
	free(v->name);
	free(v->data);
	memset(v, 0, sizeof(*v));
}

void
hive_values_free(struct hive_value *vals, size_t n)
{
	size_t i;

	for (i = 0; i < n && vals; i++)
		hive_value_release(&vals[i]);
	free(vals);
}

/*
 * Editing.
 */

static int
need_writable(struct hive *h, struct kp_error *err)
{
	if (!h->writable)
		return kp_fail(err, KP_ERR_FAIL, "'%s': opened read-only",
			       h->path);
	if (h->poisoned)
		return kp_fail(err, KP_ERR_FAIL,
			       "'%s': an earlier edit failed", h->path);
	return 0;
}

static int
edit_failed(struct hive *h, const char *what, const char *path,
	    struct kp_error *err)
{
	h->poisoned = true;
	return kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EINVAL,
			     "'%s': cannot %s '%s'", h->path, what, path);
}

int
hive_mkpath(struct hive *h, const char *path, hive_key *k,
	    struct kp_error *err)
{
	hive_key cur;
	const char *p = path;
	char part[KEY_NAME_MAX * 4 + 1];

	if (need_writable(h, err) < 0)
		return -1;
	cur = hivex_root(h->hx);
	while (*p) {
		const char *bs = strchr(p, '\\');
		size_t n = bs ? (size_t)(bs - p) : strlen(p);
		hive_key next = 0;
		int r;

		if (n == 0)
			return kp_fail(err, KP_ERR_INVALID,
				       "key path '%s': empty key name", path);
		if (n >= sizeof(part))
			return kp_fail(err, KP_ERR_INVALID,
				       "key path '%s': a key name is longer "
				       "than %d characters", path,
				       KEY_NAME_MAX);
		memcpy(part, p, n);
		part[n] = '\0';
		r = child(h, cur, part, &next, path, err);
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = 0;
			next = hivex_node_add_child(h->hx, cur, part);
			if (next == 0)
				return edit_failed(h, "create key", path, err);
			h->nedits++;
			if (check_order(h, cur, part, path, err) < 0)
				return -1;
		}
		cur = next;
		p += n + (bs != NULL);
	}
	if (expect(h, path, NULL, true, 0, NULL, 0, err) < 0)
		return -1;
	if (k)
		*k = cur;
	return 0;
}

/* hivex rewrites every value of a key on any change, and stores data over
 * 16344 bytes in a single cell, which Windows does not read for hives of
 * version 1.4 and later; refuse rather than damage such a value. */
static int
check_rewritable(struct hive *h, hive_key k, const char *path,
		 struct kp_error *err)
{
	hive_value_h *list;
	size_t i;
	int r = 0;

	if (h->minor < 4)
		return 0;
	errno = 0;
	list = hivex_node_values(h->hx, k);
	if (list == NULL)
		return hx_fail(h, "cannot list values of", path, err);
	for (i = 0; list[i] && r == 0; i++) {
		hive_type t;
		size_t len;

		if (hivex_value_type(h->hx, list[i], &t, &len) < 0) {
			r = hx_fail(h, "cannot read values of", path, err);
		} else if (len > REGF_BIG_DATA) {
			char *name = hivex_value_key(h->hx, list[i]);

			r = kp_fail(err, KP_ERR_FAIL,
				    "'%s': key '%s' holds value '%s' of %zu "
				    "bytes; it cannot be kept intact while "
				    "editing this key (hivex would store it "
				    "in a form Windows cannot read)",
				    h->path, path, name ? name : "?", len);
			free(name);
		}
	}
	free(list);
	return r;
}

static int
check_value_name(const char *name, struct kp_error *err)
{
	if (strlen(name) > VALUE_NAME_MAX)
		return kp_fail(err, KP_ERR_INVALID,
			       "value name longer than %d characters",
			       VALUE_NAME_MAX);
	return 0;
}

int
hive_set(struct hive *h, const char *path, const char *name, uint32_t type,
	 const void *data, size_t len, struct kp_error *err)
{
	hive_set_value v;
	hive_key k;

	if (need_writable(h, err) < 0 || check_value_name(name, err) < 0)
		return -1;
	if (len > REGF_BIG_DATA)
		return kp_fail(err, KP_ERR_FAIL,
			       "value '%s' of key '%s': %zu bytes is more than "
			       "%u, which hivex cannot store in a form Windows "
			       "reads", name, path, len, REGF_BIG_DATA);
	if (hive_mkpath(h, path, &k, err) < 0)
		return -1;
	if (check_rewritable(h, k, path, err) < 0)
		return -1;
	v.key = (char *)name;
	v.t = (hive_type)type;
	v.len = len;
	v.value = (char *)data;
	errno = 0;
	if (hivex_node_set_value(h->hx, k, &v, 0) < 0)
		return edit_failed(h, "set a value in key", path, err);
	h->nedits++;
	return expect(h, path, name, true, type, data, len, err);
}

int
hive_unset(struct hive *h, const char *path, const char *name,
	   struct kp_error *err)
{
	struct hive_value *vals = NULL;
	hive_set_value *keep = NULL;
	size_t n = 0, i, j = 0;
	bool found = false;
	hive_key k;
	int r;

	if (need_writable(h, err) < 0)
		return -1;
	r = hive_find(h, path, &k, err);
	if (r <= 0)
		return r;
	if (hive_values(h, k, &vals, &n, err) < 0)
		return -1;
	for (i = 0; i < n; i++)
		found |= strcasecmp(vals[i].name, name) == 0;
	if (!found) {
		hive_values_free(vals, n);
		return 0;
	}
	r = -1;
	if (check_rewritable(h, k, path, err) < 0)
		goto out;
	keep = calloc(n, sizeof(*keep));
	if (keep == NULL) {
		kp_fail_oom(err);
		goto out;
	}
	/* hivex has no call to delete one value: set the others again,
	 * byte for byte and in their order. */
	for (i = 0; i < n; i++) {
		if (strcasecmp(vals[i].name, name) == 0)
			continue;
		keep[j].key = vals[i].name;
		keep[j].t = (hive_type)vals[i].type;
		keep[j].len = vals[i].len;
		keep[j].value = (char *)vals[i].data;
		j++;
	}
	errno = 0;
	if (hivex_node_set_values(h->hx, k, j, keep, 0) < 0) {
		edit_failed(h, "delete a value in key", path, err);
		goto out;
	}
	h->nedits++;
	r = expect(h, path, name, false, 0, NULL, 0, err);
out:
	free(keep);
	hive_values_free(vals, n);
	return r;
}

int
hive_delete_key(struct hive *h, const char *path, struct kp_error *err)
{
	hive_key k;
	int r;

	if (need_writable(h, err) < 0)
		return -1;
	r = hive_find(h, path, &k, err);
	if (r <= 0)
		return r;
	if (k == hivex_root(h->hx))
		return kp_fail(err, KP_ERR_INVALID,
			       "the root key of a hive cannot be deleted");
	errno = 0;
	if (hivex_node_delete_child(h->hx, k) < 0)
		return edit_failed(h, "delete key", path, err);
	h->nedits++;
	expect_forget_under(h, path);
	return expect(h, path, NULL, false, 0, NULL, 0, err);
}

int
hive_path_split(const char *path, char **parent, char **last)
{
	const char *bs = strrchr(path, '\\');

	*parent = bs ? strndup(path, (size_t)(bs - path)) : strdup("");
	*last = strdup(bs ? bs + 1 : path);
	if (*parent == NULL || *last == NULL) {
		free(*parent);
		free(*last);
		return -1;
	}
	return 0;
}

/*
 * Committing.
 */

/* Check every expectation against the written file, read without hivex. */
static int
verify(struct hive *h, const unsigned char *p, size_t len,
       struct kp_error *err)
{
	struct buf data = BUF_INIT;
	struct regf r;
	size_t i;
	int ret = -1;

	if (regf_validate(p, len, NULL, err) < 0 ||
	    regf_open(&r, p, len, err) < 0) {
		kp_error_prefix(err, "the written hive does not check out");
		return -1;
	}
	for (i = 0; i < h->nexp; i++) {
		const struct expect *e = &h->exp[i];
		uint32_t key, type;
		int rc = regf_lookup(&r, e->path, &key);

		if (rc < 0)
			goto corrupt;
		if (e->name == NULL) {
			if ((rc == 1) != e->present)
				goto mismatch;
			continue;
		}
		if (rc == 0) {
			if (e->present)
				goto mismatch;
			continue;
		}
		rc = regf_value(&r, key, e->name, &type, &data);
		if (rc < 0)
			goto corrupt;
		if ((rc == 1) != e->present)
			goto mismatch;
		if (rc == 1 && (type != e->type || data.len != e->len ||
				(e->len && memcmp(data.data, e->data,
						  e->len) != 0)))
			goto mismatch;
		continue;
mismatch:
		kp_fail(err, KP_ERR_FAIL,
			"verification failed: key '%s'%s%s%s does not hold "
			"what was written", e->path, e->name ? ", value '" : "",
			e->name ? e->name : "", e->name ? "'" : "");
		goto out;
corrupt:
		kp_fail(err, KP_ERR_FAIL,
			"verification failed: cannot read key '%s' back",
			e->path);
		goto out;
	}
	ret = 0;
out:
	buf_release(&data);
	return ret;
}

/* Mark the new file clean, with a fresh timestamp and a sequence number
 * above every one found in the logs beside the hive.
 *
 * Why: after this write the old .LOG1/.LOG2 still hold entries.  A clean
 * hive makes Windows ignore them (*Dirty state of a hive*), and when it next
 * starts a log cycle, only entries numbered at or above the primary's
 * sequence number and chaining on from the new base block are replayed
 * (*Log entries › Notes* 5 and 7; *Multiple transaction log files › New
 * format*).  A number above all of theirs means no stale entry can ever
 * chain.  Old-format logs apply only when their timestamp equals the
 * primary's (*Old format › Base block › Notes* 3); the new timestamp matches
 * none of them.  This is what Windows itself relies on after a reconcile:
 * it leaves the logs in place too. */
static int
finish_header(struct hive *h, int fd, uint32_t *seq_ret, struct kp_error *err)
{
	unsigned char base[REGF_BASE_SIZE + 0x20];
	uint64_t now = regf_filetime_now();
	uint32_t seq;

	if (pread(fd, base, sizeof(base), 0) != (ssize_t)sizeof(base))
		return kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
				     "cannot read back the written hive");
	seq = regf_le32(base + 4);
	if (h->st.logs.max_seq &&
	    !logrec_seq_before(h->st.logs.max_seq, seq))
		seq = h->st.logs.max_seq + 1;
	if (seq == 0)
		seq = 1;
	regf_put32(base + 4, seq);
	regf_put32(base + 8, seq);
	regf_put64(base + 0x0c, now);
	regf_set_checksum(base);
	/* The first bin keeps a backup copy of the timestamp. */
	regf_put64(base + REGF_BASE_SIZE + 0x14, now);
	if (pwrite(fd, base, sizeof(base), 0) != (ssize_t)sizeof(base))
		return kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
				     "cannot write the hive header");
	*seq_ret = seq;
	return 0;
}

/* Last writer must not win silently: refuse if the hive on disk is no
 * longer the file that was opened. */
static bool
changed_since_open(struct hive *h, struct kp_error *err)
{
	struct stat st;

	if (stat(h->real, &st) < 0 || st.st_dev != h->fst.st_dev ||
	    st.st_ino != h->fst.st_ino || st.st_size != h->fst.st_size ||
	    st.st_mtim.tv_sec != h->fst.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != h->fst.st_mtim.tv_nsec) {
		kp_fail(err, KP_ERR_FAIL,
			"'%s' changed while kmsprep was editing it; nothing "
			"written", h->path);
		return true;
	}
	return false;
}

int
hive_commit(struct hive *h, const struct hive_commit_opts *o,
	    struct hive_commit_result *res, struct kp_error *err)
{
	static const struct hive_commit_opts defaults = { 0 };
	struct kp_tmpfile t = KP_TMPFILE_INIT;
	struct kp_commit_opts co = { 0 };
	const char *dest;
	struct stat st;
	void *map = MAP_FAILED;
	int r = -1;

	if (o == NULL)
		o = &defaults;
	memset(res, 0, sizeof(*res));
	if (need_writable(h, err) < 0)
		return -1;
	if (h->nedits == 0 && !o->force)
		return 0;
	dest = o->dest ? o->dest : h->real;
	if (kp_tmpfile_open(&t, dest, err) < 0)
		return -1;
	errno = 0;
	if (hivex_commit(h->hx, t.path, 0) < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
			      "'%s': cannot write", t.path);
		goto out;
	}
	/* hivex's copy of the hive is no longer needed: free it before the
	 * written file is mapped, so that the two are never both in memory. */
	hivex_close(h->hx);
	h->hx = NULL;
	h->poisoned = true;
	if (finish_header(h, t.fd, &res->seq, err) < 0)
		goto out;
	if (fstat(t.fd, &st) < 0 || st.st_size < (off_t)REGF_BASE_SIZE) {
		kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
			      "'%s': cannot stat", t.path);
		goto out;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, t.fd, 0);
	if (map == MAP_FAILED) {
		kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot map",
			      t.path);
		goto out;
	}
	if (verify(h, map, (size_t)st.st_size, err) < 0) {
		kp_error_prefix(err, "'%s'", dest);
		goto out;
	}
	if (o->backup) {
		res->backup = kp_backup_name(dest, err);
		if (res->backup == NULL)
			goto out;
	}
	if (dest == h->real && changed_since_open(h, err))
		goto out;
	co.like = &h->fst;
	co.no_replace = o->no_replace;
	co.backup = res->backup;
	r = kp_tmpfile_commit(&t, &co, err);
	if (r > 0) {
		/* Replaced, but not known to be durable: say both. */
		res->written = true;
		r = -1;
		goto keep_backup;
	}
	if (r < 0)
		goto out;
	res->written = true;
	r = 0;
out:
	if (r < 0) {
		free(res->backup);
		res->backup = NULL;
	}
keep_backup:
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	kp_tmpfile_discard(&t);
	return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hive files over hivex: checked open, recorded edits, verified commit. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <hivex.h>

#include "hive.h"
#include "journal.h"
#include "lib/fileio.h"
#include "lib/utf.h"
#include "remote.h"

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
	struct hive_proxy *px;	/* opened in a hive server: it does all */
	char *real;		/* resolved, for writing */
	hive_h *hx;
	struct hive_state st;
	struct stat fst;
	int lockfd;		/* holds LOCK_SH while a reader reads, or -1 */
	int memfd;		/* holds a recovered image, or -1 */
	uint32_t minor;		/* version of what hivex edits */
	bool writable;
	bool poisoned;		/* an edit failed half-way: never commit */
	char *logpath[2];	/* LOG1, LOG2 as found, or where to create */
	bool single_log;	/* only FILE.LOG was found */
	bool no_logs;		/* opened with HIVE_NO_LOGS */
	struct expect *exp;
	size_t nexp, capexp;
	size_t nedits;
	/* The checked file (or recovered image) as it was opened, read with
	 * kmsprep's own reader where hivex cannot: names that are not valid
	 * UTF-16 and tombstone values.  hivex never moves or reuses the
	 * cells of existing keys and values (it allocates new cells past the
	 * end of the file), so a handle below RAW.end + 0x1000 is a record
	 * of this copy, and its name and type never change. */
	struct kp_map raw_map;	/* the file, or the memory file */
	struct regf raw;
	/* An edit the page editor cannot replay (a key created or deleted):
	 * the journaled commit then goes through hivex. */
	enum pe_fallback pe_why;
	/* Keys whose LastWriteTime the edits change (see stamp_keys). */
	hive_key *touched;
	size_t ntouched, captouched;
	/* A writable hive is opened by hivex read-only, which maps the file
	 * instead of copying it, and under LOCKFD's LOCK_SH, so that it
	 * cannot change under that mapping.  Values set on existing keys
	 * wait here: the page editor commits them without hivex.  Anything
	 * else hivex must do reopens it for writing first (hx_upgrade),
	 * giving it these. */
	bool hx_rw;
	struct pending *pend;
	size_t npend, cappend;
};

/* A value set while hivex is read-only. */
struct pending {
	hive_key k;
	char *name;		/* as stored, if the key has it already */
	uint32_t type;
	unsigned char *data;
	size_t len;
};

static void
expect_free(struct expect *e)
{
	free(e->path);
	free(e->name);
	free(e->data);
}

static bool
is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Are A and B one name to Windows (lib/utf.h's folding)?  Two ASCII
 * names are compared without converting them: imports set thousands. */
static bool
fold_eq(const char *a, const char *b)
{
	if (strcasecmp(a, b) == 0)
		return true;
	return (!is_ascii(a) || !is_ascii(b)) && utf8_casecmp(a, b) == 0;
}

/* Is PATH equal to BASE or below it, ignoring case as Windows does
 * (lib/utf.h)?  Key by key: a name's case variants may differ in length
 * in UTF-8. */
static bool
path_under(const char *path, const char *base)
{
	while (*base) {
		size_t pn = strcspn(path, "\\"), bn = strcspn(base, "\\");
		char *a = strndup(path, pn), *b = strndup(base, bn);
		bool same = a && b && fold_eq(a, b);

		free(a);
		free(b);
		if (!same)
			return false;
		path += pn + (path[pn] == '\\');
		base += bn + (base[bn] == '\\');
	}
	return true;
}

static bool
same_name(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return fold_eq(a, b);
}

/* Record what PATH/NAME must look like; replaces an earlier expectation. */
static int
expect(struct hive *h, const char *path, const char *name, bool present,
       uint32_t type, const void *data, size_t len, struct kp_error *err)
{
	struct expect *e = NULL;
	size_t i;

	for (i = 0; i < h->nexp; i++) {
		if (fold_eq(h->exp[i].path, path) &&
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

/* Load a log: the explicit name, or PRIMARY.LOGn in any letter case
 * (Windows names are case-insensitive: ntuser.dat.log1 is NTUSER.DAT's).
 * A log named by the user must be a readable file, dirty hive or not. */
static int
load_log(const char *given, const char *primary, int n,
	 struct logrec_input *in, struct kp_map *m, char **path,
	 struct kp_error *err)
{
	struct kp_error ignored = KP_ERROR_INIT;
	size_t len = strlen(primary) + 8;
	char *name;

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
	name = malloc(len);
	if (name == NULL)
		return kp_fail_oom(err);
	if (n == 0)
		snprintf(name, len, "%s.LOG", primary);
	else
		snprintf(name, len, "%s.LOG%d", primary, n);
	*path = journal_find_nocase(name);
	free(name);
	if (*path) {
		in->path = *path;
		in->present = true;
		if (kp_map_file(*path, 0, REGF_MAX_FILE, m, &ignored) == 0) {
			in->data = m->data;
			in->len = m->len;
		}
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

/* Fill st.dup_key and st.dup_name for the report. */
static void
describe_dup(struct hive *h)
{
	struct buf raw = BUF_INIT, shown = BUF_INIT;

	if (regf_key_path(&h->raw, h->st.stats.dup_parent, &raw) == 0 &&
	    wtf8_escape(buf_str(&raw), &shown) == 0)
		snprintf(h->st.dup_key, sizeof(h->st.dup_key), "%s",
			 buf_str(&shown));
	if (regf_key_name(&h->raw, h->st.stats.dup_child, &raw) == 0 &&
	    wtf8_escape(buf_str(&raw), &shown) == 0)
		snprintf(h->st.dup_name, sizeof(h->st.dup_name), "%s",
			 buf_str(&shown));
	buf_release(&raw);
	buf_release(&shown);
}

/* Who holds a flock on the file ST, from /proc/locks ("1: FLOCK  ADVISORY
 * WRITE 4321 08:01:1234 0 EOF"; see proc(5)): "process 4321 (kmsprep)
 * holds a write lock on it", or a plainer phrase when that cannot be told. */
static void
lock_holder(const struct stat *st, char *out, size_t outsz)
{
	char line[256], kind[16], mode[16], rw[16], comm[64] = "", path[64];
	unsigned maj, min, pid;
	unsigned long ino;
	FILE *f = fopen("/proc/locks", "re"), *c;

	snprintf(out, outsz, "another process holds a lock on it");
	while (f && fgets(line, sizeof(line), f)) {
		const char *p = strchr(line, ':');

		/* Waiters ("1: -> FLOCK ...") do not parse: pid is not a
		 * number there. */
		if (p == NULL || sscanf(p + 1, " %15s %15s %15s %u %x:%x:%lu",
					kind, mode, rw, &pid, &maj, &min,
					&ino) != 7)
			continue;
		if (strcmp(kind, "FLOCK") != 0 || ino != st->st_ino ||
		    makedev(maj, min) != st->st_dev ||
		    pid == (unsigned)getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%u/comm", pid);
		c = fopen(path, "re");
		if (c) {
			if (fgets(comm, sizeof(comm), c))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(c);
		}
		snprintf(out, outsz, "process %u%s%s%s holds a %s lock on it",
			 pid, comm[0] ? " (" : "", comm, comm[0] ? ")" : "",
			 strcmp(rw, "WRITE") == 0 ? "write" : "read");
		break;
	}
	if (f)
		fclose(f);
}

static void
pending_free(struct hive *h)
{
	size_t i;

	for (i = 0; i < h->npend; i++) {
		free(h->pend[i].name);
		free(h->pend[i].data);
	}
	free(h->pend);
	h->pend = NULL;
	h->npend = h->cappend = 0;
}

/* The value NAME of K waiting to be set, or NULL. */
static struct pending *
pending_find(struct hive *h, hive_key k, const char *name)
{
	size_t i;

	for (i = 0; i < h->npend; i++) {
		const char *n = h->pend[i].name;

		if (h->pend[i].k == k && fold_eq(n, name))
			return &h->pend[i];
	}
	return NULL;
}

/* OUT as a value read from the hive: a copy of P. */
static int
pending_value(const struct pending *p, struct hive_value *out)
{
	memset(out, 0, sizeof(*out));
	out->name = strdup(p->name);
	out->data = malloc(p->len ? p->len : 1);
	if (out->name == NULL || out->data == NULL) {
		hive_value_release(out);
		return -1;
	}
	if (p->len)
		memcpy(out->data, p->data, p->len);
	out->type = p->type;
	out->len = p->len;
	return 0;
}

/* flock FD with OP (LOCK_SH or LOCK_EX), waiting up to about two seconds
 * for a holder to finish: a journaled write takes well under that.  Fails
 * naming the holder.  Filesystems without flock are not refused: the lock
 * only keeps kmsprep's own readers and writers apart. */
static int
lock_wait(int fd, int op, const char *path, const char *doing,
	  struct kp_error *err)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	char who[128];
	struct stat st;
	int i;

	for (i = 0; i < 20; i++) {
		if (flock(fd, op | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return 0;
		nanosleep(&ts, NULL);
	}
	if (fstat(fd, &st) == 0)
		lock_holder(&st, who, sizeof(who));
	else
		snprintf(who, sizeof(who), "another process holds a lock on "
			 "it");
	return kp_fail(err, KP_ERR_REFUSED, "'%s': cannot %s it: %s "
		       "(kmsprep writing it in place, or reading it); try "
		       "again when it is done", path, doing, who);
}

int
hive_open(const char *path, const struct hive_open_opts *o,
	  struct hive **h_ret, struct kp_error *err)
{
	static const struct hive_open_opts defaults = { .flags = 0 };
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
	h->lockfd = -1;
	h->raw_map.fd = -1;
	h->writable = o->flags & HIVE_WRITE;
	h->path = strdup(path);
	if (h->path == NULL) {
		kp_fail_oom(err);
		goto fail;
	}
	if (o->server) {
		if (hpx_open(o->server, path, o, &h->st, &h->px, err) < 0)
			goto fail;
		*h_ret = h;
		return 0;
	}
	if (h->writable) {
		h->real = kp_realpath_for_write(path, err);
		if (h->real == NULL)
			goto fail;
	}
	/* A shared lock while the file is read: a journaled commit writes
	 * in place under LOCK_EX, and nothing may read it half-written.
	 * hivex reads the file lazily: readers keep the lock until
	 * hive_close, writers until their commit needs the file to itself.
	 * O_NONBLOCK: opening a FIFO must not hang (kp_map_file refuses
	 * it). */
	h->lockfd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (h->lockfd >= 0 &&
	    lock_wait(h->lockfd, LOCK_SH, path, "read", err) < 0)
		goto fail;
	if (kp_map_file(path, 0, REGF_MAX_FILE, &m, err) < 0)
		goto fail;
	h->fst = m.st;
	{
		struct stat ls;

		if (h->lockfd >= 0 && (fstat(h->lockfd, &ls) < 0 ||
				       ls.st_dev != m.st.st_dev ||
				       ls.st_ino != m.st.st_ino)) {
			kp_fail(err, KP_ERR_FAIL, "'%s' was replaced while "
				"kmsprep opened it", path);
			goto fail;
		}
	}
	/* hivex opens exactly the file that is checked below. */
	snprintf(fdname, sizeof(fdname), "/proc/self/fd/%d", m.fd);
	data = m.data;
	len = m.len;
	if (len < 512 ||
	    regf_header_parse_primary(data, len, &h->st.hdr, err) < 0) {
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
		/* Where a journaled commit writes: the logs found or
		 * given, else FILE.LOG1 and FILE.LOG2 to be created. */
		for (i = 0; r == 0 && i < 2; i++) {
			if (logpath[i])
				h->logpath[i] = strdup(logpath[i]);
			else if (asprintf(&h->logpath[i], "%s.LOG%d", base,
					  i + 1) < 0)
				h->logpath[i] = NULL;
			if (h->logpath[i] == NULL)
				r = kp_fail_oom(err);
		}
		/* A hive with a single log keeps it as FILE.LOG. */
		if (r == 0 && !o->log1 && !o->log2 && !logs[0].present &&
		    !logs[1].present) {
			r = load_log(NULL, base, 0, &logs[0], &lm[0],
				     &logpath[0], err);
			h->single_log = logs[0].present;
		}
		free(real);
		if (r < 0)
			goto fail;
	} else {
		h->no_logs = true;
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
					"lost", path, h->st.logs.damage);
				kp_error_remedy(err, KP_REMEDY_FORCE_DIRTY);
				goto fail;
			}
		} else if (!h->st.logs.why[0]) {
			snprintf(h->st.logs.why, sizeof(h->st.logs.why),
				 "no transaction logs found");
		}
		if (!h->st.recovered && h->st.hdr.type == REGF_PRIMARY &&
		    !h->st.hdr.checksum_ok) {
			kp_fail(err, KP_ERR_INPUT,
				"'%s': corrupt base block (%s) and no "
				"usable transaction log (%s)", path,
				memcmp(data, "regf", 4) ? "no 'regf' signature"
				: "checksum mismatch", h->st.logs.why);
			goto fail;
		}
		if (!h->st.recovered && h->writable &&
		    !(o->flags & HIVE_FORCE_DIRTY) &&
		    h->st.hdr.type == REGF_PRIMARY) {
			kp_fail(err, KP_ERR_REFUSED,
				"'%s': hive is dirty (sequence numbers %u/%u): "
				"Windows' pending changes are in its "
				"transaction logs and none can be replayed "
				"(%s); writing now would lose them",
				path, h->st.hdr.seq1, h->st.hdr.seq2,
				h->st.logs.why);
			kp_error_remedy(err, KP_REMEDY_FORCE_DIRTY);
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
	/* After recovery, RAW maps the memory file: no third copy. */
	if (h->st.recovered &&
	    kp_map_file_lazy(fdname, 0, REGF_MAX_FILE, &h->raw_map, err) < 0)
		goto fail;
	if (h->st.stats.dup_keys) {
		if (regf_open(&h->raw, h->st.recovered ? h->raw_map.data :
			      data, len, err) < 0)
			goto fail;
		describe_dup(h);
	}
	/* After recovery the version is the log's, not the primary's. */
	h->minor = regf_le32(data + 0x18);
	for (i = 0; i < 2; i++)
		input_release(&logs[i], &lm[i], &logpath[i]);
	buf_release(&img);

	/* hivex maps the file (read-only until hx_upgrade): drop our
	 * mapping first (keeping the descriptor it opens).  Names are then
	 * read (regf_key_name) from a new mapping, of which only the pages
	 * read come into memory. */
	if (m.len) {
		munmap((void *)m.data, m.len);
		m.data = NULL;
		m.len = 0;
	}
	errno = 0;
	h->hx = hivex_open(src, 0);
	if (h->hx == NULL) {
		kp_fail_errno(err, KP_ERR_INPUT, errno ? errno : EINVAL,
			      "'%s': hivex cannot open it", path);
		goto fail;
	}
	if (!h->st.recovered &&
	    kp_map_file_lazy(src, 0, REGF_MAX_FILE, &h->raw_map, err) < 0)
		goto fail;
	kp_unmap(&m);
	if (regf_open(&h->raw, h->raw_map.data, h->raw_map.len, err) < 0)
		goto fail;
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
	hpx_close(h->px);
	if (h->hx)
		hivex_close(h->hx);
	if (h->memfd >= 0)
		close(h->memfd);
	if (h->lockfd >= 0)
		close(h->lockfd);
	kp_unmap(&h->raw_map);
	free(h->touched);
	pending_free(h);
	for (i = 0; i < h->nexp; i++)
		expect_free(&h->exp[i]);
	free(h->exp);
	free(h->logpath[0]);
	free(h->logpath[1]);
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
	if (h->px)
		return hpx_nr_edits(h->px);
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

/* The regf offset of hivex handle HANDLE if it is a record of the file as
 * opened (see struct hive), else REGF_NONE. */
static uint32_t
raw_off(const struct hive *h, size_t handle)
{
	if (h->raw.p == NULL || handle < REGF_BASE_SIZE ||
	    handle - REGF_BASE_SIZE >= h->raw.end)
		return REGF_NONE;
	return (uint32_t)(handle - REGF_BASE_SIZE);
}

/* Child NAME of K: 1 found, 0 absent, -1 error.  hivex compares names in
 * ASCII only (Windows folds every UTF-16 unit, so a key "Ä" must be found
 * as "ä"), and fails outright when any sibling's name holds an unpaired
 * surrogate; names are scanned here whenever hivex's answer could differ.
 * *ODD (if not NULL) tells whether a sibling has such a name. */
static int
child(struct hive *h, hive_key k, const char *name, hive_key *out,
      bool *odd, const char *path, struct kp_error *err)
{
	hive_node_h c, *kids;
	size_t i;
	int r = 0;

	if (odd)
		*odd = false;
	errno = 0;
	c = hivex_node_get_child(h->hx, k, name);
	if (c) {
		*out = c;
		return 1;
	}
	kids = hivex_node_children(h->hx, k);
	if (kids == NULL)
		return hx_fail(h, "cannot list subkeys of", path, err);
	for (i = 0; kids[i] && r == 0; i++) {
		char *n = hive_key_name(h, kids[i], err);

		if (n == NULL) {
			kp_error_prefix(err, "key path '%s'", path);
			r = -1;
			break;
		}
		if (odd && !utf8_valid(n, strlen(n)))
			*odd = true;
		if (utf8_casecmp(n, name) == 0) {
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
		char *n = hive_key_name(h, kids[i], err);

		if (n == NULL)
			r = -1;
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

	if (h->px)
		return hpx_find(h->px, path, k, err);
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
			r = child(h, cur, part, &cur, NULL, path, err);
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

	if (h->px)
		return hpx_kind(h->px);

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

/* A committed hive's handle is spent: reads fail, never reach hivex. */
static int
spent(const struct hive *h, struct kp_error *err)
{
	return h->hx ? 0 : kp_fail(err, KP_ERR_FAIL, "'%s': already "
				   "committed", h->path);
}

static void
drop_lock(struct hive *h)
{
	if (h->lockfd >= 0) {
		close(h->lockfd);
		h->lockfd = -1;
	}
}

/* After a commit, whatever its result: hivex and the lock go (reads would
 * see the file change under a read-only hivex), and the hive can only be
 * closed. */
static void
spend(struct hive *h)
{
	if (h->hx) {
		hivex_close(h->hx);
		h->hx = NULL;
	}
	h->poisoned = true;
	drop_lock(h);
}

int
hive_subkeys(struct hive *h, hive_key k, hive_key **list, size_t *n,
	     struct kp_error *err)
{
	hive_node_h *c;
	size_t i;

	if (h->px)
		return hpx_subkeys(h->px, k, list, n, err);

	if (spent(h, err) < 0)
		return -1;
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
	uint32_t off;
	struct buf b = BUF_INIT;
	char *s;

	if (h->px)
		return hpx_key_name(h->px, k, err);

	if (spent(h, err) < 0)
		return NULL;
	off = raw_off(h, k);

	if (off != REGF_NONE) {
		if (regf_key_name(&h->raw, off, &b) == 0)
			return buf_detach(&b, NULL);
		buf_release(&b);
	}
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
	uint32_t off = raw_off(h, v);
	struct buf b = BUF_INIT;
	hive_type t;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (off != REGF_NONE && regf_value_name(&h->raw, off, &b) == 0)
		out->name = buf_detach(&b, NULL);
	buf_release(&b);
	errno = 0;
	if (out->name == NULL)
		out->name = hivex_value_key(h->hx, v);
	if (out->name == NULL || hivex_value_type(h->hx, v, &t, &len) < 0)
		goto fail;
	if (len == 0) {
		/* No data is no data: hivex refuses the data offset -1 of a
		 * layered key's tombstone ("Bad address"). */
		out->data = malloc(1);
		out->tombstone = off != REGF_NONE &&
				 regf_value_tombstone(&h->raw, off) == 1;
	} else {
		out->data = (unsigned char *)hivex_value_value(h->hx, v, &t,
							       &len);
	}
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

/* hivex_node_get_value ignores ASCII case only: the value of K that
 * Windows finds under NAME, folding every letter, or 0. */
static hive_value_h
value_folded(struct hive *h, hive_key k, const char *name)
{
	hive_value_h *list = hivex_node_values(h->hx, k), val = 0;
	bool ascii = is_ascii(name);
	size_t i;

	for (i = 0; list && list[i] && val == 0; i++) {
		char *n = hivex_value_key(h->hx, list[i]);

		/* Two ASCII names hivex has compared already. */
		if (n && !(ascii && is_ascii(n)) && utf8_casecmp(n, name) == 0)
			val = list[i];
		free(n);
	}
	free(list);
	errno = 0;
	return val;
}

int
hive_get(struct hive *h, hive_key k, const char *name, struct hive_value *v,
	 struct kp_error *err)
{
	hive_value_h val;

	if (h->px)
		return hpx_get(h->px, k, name, v, err);

	if (spent(h, err) < 0)
		return -1;
	if (h->npend) {
		const struct pending *p = pending_find(h, k, name);

		if (p)
			return pending_value(p, v) < 0 ? kp_fail_oom(err) : 1;
	}
	errno = 0;
	val = hivex_node_get_value(h->hx, k, name);
	if (val == 0 && errno == 0)
		val = value_folded(h, k, name);
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

	if (h->px)
		return hpx_values(h->px, k, vals, n, err);

	if (spent(h, err) < 0)
		return -1;
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
	/* Values waiting to be set: in place of theirs, or after the
	 * others, where hivex would put a new one. */
	for (i = 0; i < h->npend; i++) {
		const struct pending *p = &h->pend[i];
		struct hive_value *m = NULL, *grown;
		size_t j;

		if (p->k != k)
			continue;
		for (j = 0; j < count && m == NULL; j++)
			if (fold_eq(out[j].name, p->name))
				m = &out[j];
		if (m == NULL) {
			grown = realloc(out, (count + 1) * sizeof(*out));
			if (grown == NULL)
				goto oom;
			out = grown;
			m = &out[count++];
			memset(m, 0, sizeof(*m));
		}
		hive_value_release(m);
		if (pending_value(p, m) < 0)
			goto oom;
	}
	*vals = out;
	*n = count;
	return 0;
oom:
	hive_values_free(out, count);
	return kp_fail_oom(err);
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

/* Windows sets a key's LastWriteTime when its values or its list of
 * subkeys change, and a new key's to its creation time.  hivex gives a new
 * key its parent's time and changes no time at all, and has no call to set
 * one, so the keys are recorded here and stamped in the written file. */
static int
touch(struct hive *h, hive_key k, struct kp_error *err)
{
	if (h->ntouched == h->captouched) {
		size_t cap = h->captouched ? h->captouched * 2 : 16;
		hive_key *n = realloc(h->touched, cap * sizeof(*n));

		if (n == NULL) {
			h->poisoned = true;
			return kp_fail_oom(err);
		}
		h->touched = n;
		h->captouched = cap;
	}
	h->touched[h->ntouched++] = k;
	return 0;
}

/* The time of this edit: SOURCE_DATE_EPOCH (seconds since 1970, for
 * reproducible output, https://reproducible-builds.org/specs/
 * source-date-epoch/) when it is set to a number, else now. */
static uint64_t
edit_time(void)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	unsigned long long v = 0;
	const char *p;

	if (e == NULL || *e == '\0')
		return regf_filetime_now();
	for (p = e; *p; p++) {
		if (*p < '0' || *p > '9' || v > 253402300799ull)
			return regf_filetime_now();
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > 253402300799ull)	/* after 9999-12-31 */
		return regf_filetime_now();
	return (v + 11644473600ull) * 10000000ull;
}

/* Write the edit time into every touched key of the file hivex wrote at
 * FD.  hivex writes its handles' cells at their offsets; a key deleted
 * since it was touched is a free cell now and is skipped. */
static int
stamp_keys(struct hive *h, int fd, struct kp_error *err)
{
	unsigned char ts[8], c[8];
	uint64_t now = edit_time();
	size_t i;

	regf_put64(ts, now);
	for (i = 0; i < h->ntouched; i++) {
		off_t at = (off_t)h->touched[i];

		if (pread(fd, c, sizeof(c), at) != (ssize_t)sizeof(c))
			return kp_fail_errno(err, KP_ERR_FAIL,
					     errno ? errno : EIO,
					     "cannot read back the written "
					     "hive");
		if ((int32_t)regf_le32(c) >= 0 || memcmp(c + 4, "nk", 2))
			continue;
		if (pwrite(fd, ts, sizeof(ts), at + 8) != (ssize_t)sizeof(ts))
			return kp_fail_errno(err, KP_ERR_FAIL,
					     errno ? errno : EIO,
					     "cannot write a key's time");
	}
	return 0;
}

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
cmp_names(const void *a, const void *b)
{
	return utf8_casecmp(*(char *const *)a, *(char *const *)b);
}

/* Does K (on PATH) have two subkeys of one name?  1 yes (*NAME set,
 * caller frees), 0 no, -1 error. */
static int
dup_child(struct hive *h, hive_key k, const char *path, char **name,
	  struct kp_error *err)
{
	hive_node_h *kids;
	char **names;
	size_t n, i;
	int r = 0;

	kids = hivex_node_children(h->hx, k);
	if (kids == NULL)
		return hx_fail(h, "cannot list subkeys on", path, err);
	for (n = 0; kids[n]; n++)
		;
	names = calloc(n ? n : 1, sizeof(*names));
	if (names == NULL) {
		free(kids);
		return kp_fail_oom(err);
	}
	for (i = 0; i < n && r == 0; i++)
		if ((names[i] = hive_key_name(h, kids[i], err)) == NULL)
			r = -1;
	if (r == 0) {
		qsort(names, n, sizeof(*names), cmp_names);
		for (i = 1; i < n && r == 0; i++) {
			if (cmp_names(&names[i - 1], &names[i]) == 0) {
				*name = names[i];
				names[i] = NULL;
				r = 1;
			}
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(kids);
	return r;
}

/* Refuse an edit at or under a key with two subkeys of one name: the
 * format forbids them, which one Windows finds depends on its lookup, and
 * hivex would insert among them by a guess.  Only hives where validation
 * found such a key pay for the walk. */
static int
check_dups(struct hive *h, const char *path, struct kp_error *err)
{
	hive_key cur;
	const char *p = path;
	char part[KEY_NAME_MAX * 4 + 1];

	if (h->st.stats.dup_keys == 0)
		return 0;
	cur = hivex_root(h->hx);
	for (;;) {
		const char *bs;
		char *name = NULL;
		size_t n;
		int r = dup_child(h, cur, path, &name, err);

		if (r < 0)
			return -1;
		if (r > 0) {
			struct buf key = BUF_INIT, k = BUF_INIT, s = BUF_INIT;

			buf_add(&key, path, (size_t)(p - path));
			while (key.len && key.data[key.len - 1] == '\\')
				key.len--;
			wtf8_escape(buf_str(&key), &k);
			wtf8_escape(name, &s);
			kp_fail(err, KP_ERR_INPUT, "'%s': key '%s' has two "
				"subkeys named '%s', which the registry format "
				"forbids; nothing is written under it",
				h->path, k.len ? buf_str(&k) : "\\",
				buf_str(&s));
			buf_release(&key);
			buf_release(&k);
			buf_release(&s);
			free(name);
			return -1;
		}
		while (*p == '\\')
			p++;
		if (*p == '\0')
			return 0;
		bs = strchr(p, '\\');
		n = bs ? (size_t)(bs - p) : strlen(p);
		if (n >= sizeof(part))
			return 0;
		memcpy(part, p, n);
		part[n] = '\0';
		r = child(h, cur, part, &cur, NULL, path, err);
		if (r <= 0)
			return r;
		p += n;
	}
}

static int
edit_failed(struct hive *h, const char *what, const char *path,
	    struct kp_error *err)
{
	h->poisoned = true;
	return kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EINVAL,
			     "'%s': cannot %s '%s'", h->path, what, path);
}

/* The name under which K stores the value NAME (a copy): its own case,
 * or NAME if it has none. */
static char *
stored_name(struct hive *h, hive_key k, const char *name,
	    struct kp_error *err)
{
	const struct pending *p = pending_find(h, k, name);
	hive_value_h val;
	char *s = NULL;

	if (p)
		s = strdup(p->name);
	else {
		errno = 0;
		val = hivex_node_get_value(h->hx, k, name);
		if (val == 0)
			val = value_folded(h, k, name);
		if (val)
			s = hivex_value_key(h->hx, val);
		if (s == NULL)
			s = strdup(name);
	}
	if (s == NULL)
		kp_fail_oom(err);
	return s;
}

/* hivex's own copy, for an edit the page editor cannot make or a commit
 * through hivex: reopen it for writing (handles are offsets in the file,
 * which LOCKFD kept as it was) and give it the values waiting. */
static int
hx_upgrade(struct hive *h, struct kp_error *err)
{
	char src[64];
	size_t i;

	if (h->hx_rw)
		return 0;
	snprintf(src, sizeof(src), "/proc/self/fd/%d", h->raw_map.fd);
	hivex_close(h->hx);
	errno = 0;
	h->hx = hivex_open(src, HIVEX_OPEN_WRITE);
	if (h->hx == NULL)
		return edit_failed(h, "open for writing", h->path, err);
	h->hx_rw = true;
	for (i = 0; i < h->npend; i++) {
		const struct pending *p = &h->pend[i];
		hive_set_value v = { p->name, (hive_type)p->type, p->len,
				     (char *)p->data };

		errno = 0;
		if (hivex_node_set_value(h->hx, p->k, &v, 0) < 0)
			return edit_failed(h, "set a value in", h->path, err);
	}
	pending_free(h);
	return 0;
}

/* Set (K, NAME) later, as hx_upgrade or the page editor will; NAME is the
 * stored name already. */
static int
defer_set(struct hive *h, hive_key k, const char *name, uint32_t type,
	  const void *data, size_t len, struct kp_error *err)
{
	struct pending *p = pending_find(h, k, name);
	unsigned char *copy = malloc(len ? len : 1);

	if (copy == NULL)
		return kp_fail_oom(err);
	if (len)
		memcpy(copy, data, len);
	if (p == NULL) {
		if (h->npend == h->cappend) {
			size_t cap = h->cappend ? h->cappend * 2 : 8;
			struct pending *n = realloc(h->pend, cap * sizeof(*n));

			if (n == NULL) {
				free(copy);
				return kp_fail_oom(err);
			}
			h->pend = n;
			h->cappend = cap;
		}
		p = &h->pend[h->npend];
		memset(p, 0, sizeof(*p));
		p->name = strdup(name);
		if (p->name == NULL) {
			free(copy);
			return kp_fail_oom(err);
		}
		p->k = k;
		h->npend++;
	}
	free(p->data);
	p->data = copy;
	p->type = type;
	p->len = len;
	return 0;
}

int
hive_mkpath(struct hive *h, const char *path, hive_key *k,
	    struct kp_error *err)
{
	hive_key cur;
	const char *p = path;
	char part[KEY_NAME_MAX * 4 + 1];

	if (h->px)
		return hpx_mkpath(h->px, path, k, err);

	if (need_writable(h, err) < 0 || check_dups(h, path, err) < 0)
		return -1;
	cur = hivex_root(h->hx);
	while (*p) {
		const char *bs = strchr(p, '\\');
		size_t n = bs ? (size_t)(bs - p) : strlen(p);
		hive_key next = 0;
		bool odd;
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
		r = child(h, cur, part, &next, &odd, path, err);
		if (r < 0)
			return -1;
		if (r == 0 && (odd || !utf8_valid(part, n))) {
			/* hivex converts names through iconv, which refuses
			 * unpaired surrogates; it then cannot name the new
			 * key, or place it among its siblings. */
			struct buf shown = BUF_INIT;

			h->poisoned = true;
			wtf8_escape(path, &shown);
			kp_fail(err, KP_ERR_FAIL, "key path '%s': hivex "
				"cannot create a key %s a name holding an "
				"unpaired UTF-16 surrogate; not written",
				buf_str(&shown),
				odd ? "beside a key with" : "with");
			buf_release(&shown);
			return -1;
		}
		if (r == 0) {
			if (hx_upgrade(h, err) < 0)
				return -1;
			errno = 0;
			next = hivex_node_add_child(h->hx, cur, part);
			if (next == 0)
				return edit_failed(h, "create key", path, err);
			h->nedits++;
			h->pe_why = PE_FB_NEW_KEY;
			if (touch(h, cur, err) < 0 || touch(h, next, err) < 0)
				return -1;
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
	struct buf vname = BUF_INIT, shown = BUF_INIT;
	size_t i;
	int r = 0;

	errno = 0;
	list = hivex_node_values(h->hx, k);
	if (list == NULL)
		return hx_fail(h, "cannot list values of", path, err);
	for (i = 0; list[i] && r == 0; i++) {
		uint32_t off = raw_off(h, list[i]);
		hive_type t;
		size_t len;

		/* hivex rewrites a tombstone as an ordinary empty value, and
		 * cannot convert a name with an unpaired surrogate back. */
		if (off != REGF_NONE &&
		    regf_value_tombstone(&h->raw, off) == 1) {
			regf_value_name(&h->raw, off, &vname);
			wtf8_escape(buf_str(&vname), &shown);
			r = kp_fail(err, KP_ERR_FAIL,
				    "'%s': key '%s' holds a tombstone for "
				    "value '%s' (a layered key's mark for a "
				    "deleted value), which hivex would turn "
				    "into an ordinary empty value; not "
				    "written", h->path, path, buf_str(&shown));
		} else if (off != REGF_NONE &&
			   regf_value_name(&h->raw, off, &vname) == 0 &&
			   !utf8_valid(buf_str(&vname), vname.len)) {
			wtf8_escape(buf_str(&vname), &shown);
			r = kp_fail(err, KP_ERR_FAIL,
				    "'%s': key '%s' holds value '%s', whose "
				    "name has an unpaired UTF-16 surrogate "
				    "that hivex cannot write back; not "
				    "written", h->path, path, buf_str(&shown));
		} else if (hivex_value_type(h->hx, list[i], &t, &len) < 0) {
			r = hx_fail(h, "cannot read values of", path, err);
		} else if (len > REGF_BIG_DATA && h->minor >= 4) {
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
	buf_release(&vname);
	buf_release(&shown);
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
	char *stored;
	int r;

	if (h->px)
		return hpx_set(h->px, path, name, type, data, len, err);

	if (need_writable(h, err) < 0 || check_value_name(name, err) < 0)
		return -1;
	if (!utf8_valid(name, strlen(name)))
		return kp_fail(err, KP_ERR_FAIL,
			       "value name with an unpaired UTF-16 surrogate: "
			       "hivex cannot write it");
	if (len > REGF_BIG_DATA)
		return kp_fail(err, KP_ERR_FAIL,
			       "value '%s' of key '%s': %zu bytes is more than "
			       "%u, which hivex cannot store in a form Windows "
			       "reads", name, path, len, REGF_BIG_DATA);
	if (hive_mkpath(h, path, &k, err) < 0)
		return -1;
	if (check_rewritable(h, k, path, err) < 0)
		return -1;
	/* hivex matches value names ignoring ASCII case only; Windows
	 * ignores the case of every letter (per UTF-16 unit: "SIZE" also
	 * names a value stored with a long s, U+017F).  Give hivex the
	 * stored name of the value Windows would replace, else it adds a
	 * second one of the same name. */
	stored = stored_name(h, k, name, err);
	if (stored == NULL)
		return -1;
	v.key = stored;
	v.t = (hive_type)type;
	v.len = len;
	v.value = (char *)data;
	errno = 0;
	if (!h->hx_rw) {
		if (defer_set(h, k, v.key, type, data, len, err) < 0) {
			free(stored);
			return -1;
		}
	} else if (hivex_node_set_value(h->hx, k, &v, 0) < 0) {
		free(stored);
		return edit_failed(h, "set a value in key", path, err);
	}
	h->nedits++;
	/* Under the name it keeps: the first case given, as Windows keeps
	 * an existing value's. */
	r = touch(h, k, err) < 0 ? -1 :
	    expect(h, path, stored, true, type, data, len, err);
	free(stored);
	return r;
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

	if (h->px)
		return hpx_unset(h->px, path, name, err);

	if (need_writable(h, err) < 0 || check_dups(h, path, err) < 0)
		return -1;
	r = hive_find(h, path, &k, err);
	if (r <= 0)
		return r;
	if (hive_values(h, k, &vals, &n, err) < 0)
		return -1;
	for (i = 0; i < n; i++)
		found |= fold_eq(vals[i].name, name);
	if (!found) {
		hive_values_free(vals, n);
		return 0;
	}
	r = -1;
	if (check_rewritable(h, k, path, err) < 0 || hx_upgrade(h, err) < 0)
		goto out;
	keep = calloc(n, sizeof(*keep));
	if (keep == NULL) {
		kp_fail_oom(err);
		goto out;
	}
	/* hivex has no call to delete one value: set the others again,
	 * byte for byte and in their order. */
	for (i = 0; i < n; i++) {
		if (fold_eq(vals[i].name, name))
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
	if (touch(h, k, err) < 0)
		goto out;
	r = expect(h, path, name, false, 0, NULL, 0, err);
out:
	free(keep);
	hive_values_free(vals, n);
	return r;
}

int
hive_delete_key(struct hive *h, const char *path, struct kp_error *err)
{
	hive_key k, parent;
	int r;

	if (h->px)
		return hpx_delete_key(h->px, path, err);

	if (need_writable(h, err) < 0 || check_dups(h, path, err) < 0)
		return -1;
	r = hive_find(h, path, &k, err);
	if (r <= 0)
		return r;
	if (hx_upgrade(h, err) < 0)
		return -1;
	if (k == hivex_root(h->hx))
		return kp_fail(err, KP_ERR_INVALID,
			       "the root key of a hive cannot be deleted");
	parent = hivex_node_parent(h->hx, k);
	errno = 0;
	if (parent == 0 || hivex_node_delete_child(h->hx, k) < 0)
		return edit_failed(h, "delete key", path, err);
	h->nedits++;
	/* The page editor replays the final state of each value; a deleted
	 * key (perhaps made again) has lost values it cannot see. */
	h->pe_why = PE_FB_DELETE_KEY;
	if (touch(h, parent, err) < 0)
		return -1;
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

/* Check every expectation against R, the written hive read without hivex. */
static int
verify_expect(struct hive *h, const struct regf *r, struct kp_error *err)
{
	struct buf data = BUF_INIT;
	size_t i;
	int ret = -1;

	for (i = 0; i < h->nexp; i++) {
		const struct expect *e = &h->exp[i];
		uint32_t key, type;
		int rc = regf_lookup(r, e->path, &key);

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
		rc = regf_value(r, key, e->name, &type, &data);
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

/* The whole new hive checked, then every expectation. */
static int
verify(struct hive *h, const unsigned char *p, size_t len,
       struct kp_error *err)
{
	struct regf r;

	if (regf_validate(p, len, NULL, err) < 0 ||
	    regf_open(&r, p, len, err) < 0) {
		kp_error_prefix(err, "the written hive does not check out");
		return -1;
	}
	return verify_expect(h, &r, err);
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
 * longer the file that was opened.  FD is the file about to be written (or
 * locked for the rename): it must be the one opened, unchanged, and still
 * the one at the path, so that the check and the write are about the same
 * file whatever was renamed in between. */
static bool
changed_since_open(struct hive *h, int fd, struct kp_error *err)
{
	struct stat st, at;

	if (fstat(fd, &st) < 0 || stat(h->real, &at) < 0 ||
	    at.st_dev != st.st_dev || at.st_ino != st.st_ino ||
	    st.st_dev != h->fst.st_dev ||
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

/* Why a commit cannot go through the logs in place, or NULL if it can. */
static const char *
no_journal(const struct hive *h, const struct hive_commit_opts *o)
{
	const struct logrec_result *L = &h->st.logs;
	int i;

	if (!o->journal)
		return "not asked for";
	if (o->dest || o->backup)
		return "a new file is written";
	/* Its logs still hold Windows' pending entries: a new cycle must not
	 * overwrite them before they are in the primary. */
	if (h->st.dirty)
		return "the hive is dirty";
	if (h->no_logs || h->single_log)
		return "the hive's logs are not LOG1 and LOG2";
	/* Vista, 7 and 8.0 write old-format logs and cannot replay HvLE
	 * entries; XP-era hives (1.3) predate them.  Their hives keep the
	 * whole-file atomic rewrite.  A log that is there but is not a valid
	 * new-format one (damaged, stale, or of a format we cannot tell) may
	 * be such a system's too: Windows 7 writes version 1.5 hives, so the
	 * version alone does not tell, and an HvLE log would be one it
	 * cannot read.  Only empty or missing logs, or valid new-format
	 * ones, say nothing against Windows 8.1 and later. */
	for (i = 0; i < 2; i++) {
		const struct logrec_log *l = &L->log[i];

		if (l->valid && l->format != 6)
			return "its logs are in the old format (Windows Vista "
			       "to 8.0)";
		if (l->present && !l->empty && !(l->valid && l->format == 6))
			return "a log beside it is not a valid new-format log "
			       "(it may be Windows Vista to 8.0's, which "
			       "cannot read one)";
	}
	if (h->st.hdr.minor < 5 || h->st.hdr.cluster != 1)
		return "an old hive format version";
	return NULL;
}

/* hive_commit through the transaction logs (journal.h).  hivex writes its
 * result into a memory file, never to disk; only the pages that differ
 * from the file are then written. */
/* Copy the bytes of IMG that HP writes (the changed pages: a few KiB) into
 * HP, so that a batch holding the plans of many images until it writes
 * them does not hold every new hive whole. */
static int
keep_pages(struct hive_plan *hp, const unsigned char *img, size_t len)
{
	struct journal_plan *p = &hp->p;
	size_t i, n = 0;

	for (i = 0; i < p->nw; i++)
		if (p->w[i].data >= img && p->w[i].data < img + len)
			n += p->w[i].len;
	hp->pages = malloc(n ? n : 1);
	if (hp->pages == NULL)
		return -1;
	for (i = 0, n = 0; i < p->nw; i++) {
		if (p->w[i].data < img || p->w[i].data >= img + len)
			continue;
		memcpy(hp->pages + n, p->w[i].data, p->w[i].len);
		p->w[i].data = hp->pages + n;
		n += p->w[i].len;
	}
	return 0;
}

/* The journaled commit of IMG over the file as it was opened, planned
 * (RES->plan) and not carried out. */
static int
plan_journal(struct hive *h, void *img, size_t len,
	     struct hive_commit_result *res, struct kp_error *err)
{
	unsigned char base[REGF_BASE_SIZE];
	struct journal_diff d = { 0 };
	struct hive_plan *hp;
	struct stat st;
	int fd, r = -1;

	fd = open(h->real, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot "
				     "open", h->path);
	if (changed_since_open(h, fd, err))
		goto out;
	if (fstat(fd, &st) < 0 ||
	    pread(fd, base, sizeof(base), 0) != (ssize_t)sizeof(base)) {
		kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
			      "'%s': cannot read", h->path);
		goto out;
	}
	if (journal_diff(fd, (size_t)st.st_size, img, len, &d, err) < 0)
		goto out;
	hp = calloc(1, sizeof(*hp));
	if (hp == NULL) {
		free(d.runs);
		kp_fail_oom(err);
		goto out;
	}
	if (journal_plan_build(base, &d, &h->st.logs, img, len, &hp->p,
			       err) < 0) {
		free(d.runs);
		free(hp);
		goto out;
	}
	res->written = hp->p.pages > 0;
	res->journaled = true;
	res->pages = hp->p.pages;
	res->seq = hp->p.seq;
	if (hp->p.pages == 0) {
		hive_plan_free(hp);
	} else if (keep_pages(hp, img, len) < 0) {
		hive_plan_free(hp);
		kp_fail_oom(err);
		goto out;
	} else {
		res->plan = hp;
	}
	r = 0;
out:
	close(fd);
	return r;
}

void
hive_plan_free(struct hive_plan *hp)
{
	if (hp == NULL)
		return;
	journal_plan_release(&hp->p);
	free(hp->pages);
	free(hp);
}

/* Replay the recorded edits (their final states, h->exp) with the page
 * editor on E, the file as it was opened.  0 all made, 1 one cannot be
 * (E->why says why). */
static int
replay_edits(struct hive *h, struct pageedit *e)
{
	size_t i;

	if (h->pe_why != PE_OK) {
		e->why = h->pe_why;
		return 1;
	}
	for (i = 0; i < h->nexp; i++) {
		const struct expect *x = &h->exp[i];
		int r;

		if (x->name == NULL)
			r = x->present ? pe_key(e, x->path) : 0;
		else if (x->present)
			r = pe_set(e, x->path, x->name, x->type, x->data,
				   x->len);
		else
			r = pe_unset(e, x->path, x->name);
		if (r != 0)
			return 1;
	}
	return 0;
}

/*
 * The journaled commit without hivex: the edits made again, cell by cell,
 * in a copy-on-write view of the file (pageedit.h), which reads only the
 * cells on the edited keys' paths; the pages it changed go through the
 * journal.  hivex would load and write out the whole hive, and the
 * whole-hive check of its result would read it all once more; here the
 * check is of what changed (every expectation read back from the view
 * with regf.c's bounds-checked reader), and the journal reads back the
 * pages written.  1: an edit it cannot make (RES->pe_why), nothing
 * written; the caller goes through hivex.
 */
/* The journal's options for writing H's file FD in place, its new
 * contents IMG (LEN bytes). */
static void
journal_opts_of(const struct hive *h, int fd, const unsigned char *img,
		size_t len, struct journal_opts *jo)
{
	jo->fd = fd;
	jo->path = h->path;
	jo->like = &h->fst;
	jo->log[0] = h->logpath[0];
	jo->log[1] = h->logpath[1];
	jo->logs = &h->st.logs;
	jo->img = img;
	jo->len = len;
}

static int
commit_pages(struct hive *h, bool plan_only, struct hive_commit_result *res,
	     struct kp_error *err)
{
	struct pageedit e = { 0 };
	struct journal_opts jo = { 0 };
	struct journal_diff d = { 0 };
	struct journal_plan p;
	struct hive_plan *hp = NULL;
	unsigned char base[REGF_BASE_SIZE];
	struct regf r;
	struct stat st;
	size_t len, i;
	int fd, ret = -1;

	fd = open(h->real, (plan_only ? O_RDONLY : O_RDWR) | O_CLOEXEC |
		  O_NOCTTY);
	if (fd < 0)
		return kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot "
				     "open%s", h->path,
				     plan_only ? "" : " for writing");
	memset(&p, 0, sizeof(p));
	if (!plan_only) {
		journal_test_crash("open");
		if (lock_wait(fd, LOCK_EX, h->path, "write", err) < 0)
			goto out;
	}
	if (changed_since_open(h, fd, err))
		goto out;
	if (fstat(fd, &st) < 0 ||
	    pread(fd, base, sizeof(base), 0) != (ssize_t)sizeof(base)) {
		kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
			      "'%s': cannot read", h->path);
		goto out;
	}
	if (pe_open(&e, fd, (size_t)st.st_size, edit_time(), err) < 0)
		goto out;
	if (replay_edits(h, &e) != 0) {
		res->pe_why = e.why;
		/* hivex's own copy, for the fallback, while the file is
		 * still locked and as it was checked. */
		ret = hx_upgrade(h, err) < 0 ? -1 : 1;
		goto out;
	}
	/* Past the last fallback: hivex's copy of the hive goes now, before
	 * the edited one is read whole (the handle is spent either way). */
	hivex_close(h->hx);
	h->hx = NULL;
	h->poisoned = true;
	/* The edited hive checked whole, as a rewrite's is: the editor
	 * checks the cells it touches, and only this shows that none of
	 * them was also something else (a data cell that is a key's). */
	if (regf_validate_bins(e.p, (size_t)REGF_BASE_SIZE + e.end, e.end,
			       NULL, err) < 0) {
		kp_error_prefix(err, "'%s': the edited hive does not check "
				"out; nothing written", h->path);
		goto out;
	}
	if (pe_regf(&e, &r, err) < 0 || verify_expect(h, &r, err) < 0) {
		kp_error_prefix(err, "'%s'", h->path);
		goto out;
	}
	for (i = 0; i < h->nexp; i++) {
		if (h->exp[i].name && pe_check_key(&e, h->exp[i].path) != 0) {
			kp_fail(err, KP_ERR_FAIL, "'%s': key '%s' does not "
				"check out after the edit (%s); nothing "
				"written", h->path, h->exp[i].path,
				pe_fallback_str(e.why));
			goto out;
		}
	}
	len = (size_t)REGF_BASE_SIZE + e.end;
	if (pe_diff(&e, &d, err) < 0)
		goto out;
	if (journal_plan_build(base, &d, &h->st.logs, e.p, len, &p,
			       err) < 0) {
		free(d.runs);
		kp_error_prefix(err, "'%s'", h->path);
		goto out;
	}
	res->journaled = true;
	res->in_place = true;
	res->written = p.pages > 0;
	res->pages = p.pages;
	res->seq = p.seq;
	if (plan_only) {
		if (p.pages) {
			hp = calloc(1, sizeof(*hp));
			if (hp == NULL) {
				kp_fail_oom(err);
				goto out;
			}
			hp->p = p;
			memset(&p, 0, sizeof(p));
			if (keep_pages(hp, e.p, len) < 0) {
				hive_plan_free(hp);
				kp_fail_oom(err);
				goto out;
			}
			res->plan = hp;
		}
		ret = 0;
		goto out;
	}
	journal_opts_of(h, fd, e.p, len, &jo);
	if (p.pages && journal_plan_run_local(&p, &jo, err) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0) {
		res->journaled = res->in_place = res->written = false;
		res->plan = NULL;
	}
	journal_plan_release(&p);
	pe_close(&e);
	close(fd);
	return ret;
}

static int
commit_journal(struct hive *h, bool plan_only,
	       struct hive_commit_result *res, struct kp_error *err)
{
	struct journal_opts jo = { 0 };
	struct journal_result jr;
	char name[64];
	struct stat st;
	void *map = MAP_FAILED;
	int mfd, fd = -1, r = -1;

	mfd = memfd_create("kmsprep-new-hive", MFD_CLOEXEC);
	if (mfd < 0)
		return kp_fail_errno(err, KP_ERR_FAIL, errno,
				     "cannot create a memory file");
	snprintf(name, sizeof(name), "/proc/self/fd/%d", mfd);
	if (hx_upgrade(h, err) < 0)
		goto out;
	errno = 0;
	if (hivex_commit(h->hx, name, 0) < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
			      "'%s': hivex cannot write the new hive",
			      h->path);
		goto out;
	}
	/* As in the rewrite: hivex's copy goes before the result is read. */
	hivex_close(h->hx);
	h->hx = NULL;
	h->poisoned = true;
	if (stamp_keys(h, mfd, err) < 0)
		goto out;
	if (fstat(mfd, &st) < 0 || st.st_size < (off_t)REGF_BASE_SIZE) {
		kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
			      "cannot read the new hive");
		goto out;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, mfd, 0);
	if (map == MAP_FAILED) {
		kp_fail_errno(err, KP_ERR_FAIL, errno,
			      "cannot map the new hive");
		goto out;
	}
	/* The whole new hive is checked before anything is written. */
	if (verify(h, map, (size_t)st.st_size, err) < 0) {
		kp_error_prefix(err, "'%s'", h->path);
		goto out;
	}
	if (plan_only) {
		r = plan_journal(h, map, (size_t)st.st_size, res, err);
		goto out;
	}
	fd = open(h->real, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot open for "
			      "writing", h->path);
		goto out;
	}
	journal_test_crash("open");
	/* Two writers in place would interleave their pages, and a reader
	 * would see them half-written. */
	if (lock_wait(fd, LOCK_EX, h->path, "write", err) < 0)
		goto out;
	if (changed_since_open(h, fd, err))
		goto out;
	journal_opts_of(h, fd, map, (size_t)st.st_size, &jo);
	if (journal_commit(&jo, &jr, err) < 0)
		goto out;
	res->written = jr.pages > 0;
	res->journaled = true;
	res->pages = jr.pages;
	res->seq = jr.seq;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	close(mfd);
	return r;
}

static int
commit_any(struct hive *h, const struct hive_commit_opts *o,
	   struct hive_commit_result *res, struct kp_error *err)
{
	struct kp_tmpfile t = KP_TMPFILE_INIT;
	struct kp_commit_opts co = { 0 };
	const char *dest;
	struct stat st;
	void *map = MAP_FAILED;
	int r = -1, lfd = -1;

	res->rewrite_why = no_journal(h, o);
	/* hivex's copy, if it will surely be needed, while the shared lock
	 * still holds the file as it was checked; then the lock goes, as the
	 * commit takes LOCK_EX itself and checks that nobody wrote in
	 * between (changed_since_open). */
	if ((res->rewrite_why || h->pe_why != PE_OK) && hx_upgrade(h, err) < 0)
		return -1;
	/* Planning takes no lock of its own: the shared one stays until the
	 * end (spend), the journal's reads of the file included. */
	if (!o->plan_only)
		drop_lock(h);
	if (res->rewrite_why == NULL) {
		/* An in-place commit frees hivex's copy as soon as it
		 * knows it will not fall back (a batch keeps every image's
		 * hives open until it writes). */
		r = commit_pages(h, o->plan_only, res, err);
		if (r == 1)
			r = commit_journal(h, o->plan_only, res, err);
		return r;
	}
	if (!o->journal)
		res->rewrite_why = NULL;
	dest = o->dest ? o->dest : h->real;
	if (hx_upgrade(h, err) < 0)
		return -1;
	/* hivex has its own copy: the lock goes before the one below. */
	drop_lock(h);
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
	if (stamp_keys(h, t.fd, err) < 0 ||
	    finish_header(h, t.fd, &res->seq, err) < 0)
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
	/* Over the hive: hold LOCK_EX on it from the check to the rename,
	 * so that no journaled commit writes into it in between (its pages
	 * would be lost with the old file). */
	if (dest == h->real) {
		lfd = open(h->real, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (lfd < 0) {
			kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot "
				      "open", h->path);
			goto out;
		}
		if (lock_wait(lfd, LOCK_EX, h->path, "replace", err) < 0 ||
		    changed_since_open(h, lfd, err))
			goto out;
	}
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
	if (lfd >= 0)
		close(lfd);
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	kp_tmpfile_discard(&t);
	return r;
}

int
hive_commit(struct hive *h, const struct hive_commit_opts *o,
	    struct hive_commit_result *res, struct kp_error *err)
{
	static const struct hive_commit_opts defaults = { 0 };
	int r;

	if (o == NULL)
		o = &defaults;
	if (h->px)
		return hpx_commit(h->px, o, res, err);
	memset(res, 0, sizeof(*res));
	if (need_writable(h, err) < 0)
		return -1;
	if (h->nedits == 0 && !o->force)
		return 0;
	r = commit_any(h, o, res, err);
	spend(h);
	return r;
}

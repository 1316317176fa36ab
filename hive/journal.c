/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Journaled in-place hive commits (see journal.h).  Section names in
 * comments refer to the Windows registry file format specification by
 * Maxim Suhanov (CC BY 4.0), https://github.com/msuhanov/regf.
 *
 * The changed pages come from comparing hivex's result with the file page
 * by page, not from an append-only cell writer of our own: hivex already
 * edits in place where cells fit and appends bins only when they do not,
 * so a one-value change touches a handful of pages either way, and one
 * writer of cells (hivex's) is less to get wrong than two.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "journal.h"
#include "lib/fileio.h"
#include "marvin32.h"
#include "regf.h"

#define LOG_BASE 512u
#define ENTRY_HDR 40u

void (*journal_test_hook)(const char *point);

void
journal_test_crash(const char *point)
{
	/* Read in this one place, and only to kill the process: the crash
	 * tests (tests/t1650-journal.sh) stop a commit between its steps. */
	const char *at = getenv("KMSPREP_TEST_CRASH_AT");

	if (journal_test_hook)
		journal_test_hook(point);
	if (at && strcmp(at, point) == 0)
		raise(SIGKILL);
}

char *
journal_find_nocase(const char *path)
{
	const char *slash = strrchr(path, '/'), *base;
	size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
	char *dir, *best = NULL, *r = NULL;
	struct dirent *de;
	DIR *d;

	if (access(path, F_OK) == 0)
		return strdup(path);
	base = path + dlen;
	/* DIR keeps its trailing slash: "a/b/" or "/"; "." without one. */
	dir = dlen ? strndup(path, dlen) : strdup(".");
	if (dir == NULL)
		return NULL;
	d = opendir(dir);
	while (d && (de = readdir(d)) != NULL) {
		if (strcasecmp(de->d_name, base) != 0 ||
		    (best && strcmp(de->d_name, best) >= 0))
			continue;
		free(best);
		best = strdup(de->d_name);
		if (best == NULL)
			break;
	}
	if (d)
		closedir(d);
	if (best && asprintf(&r, "%s%s", dlen ? dir : "", best) < 0)
		r = NULL;
	free(best);
	free(dir);
	return r;
}

static int
add_run(struct journal_diff *d, uint32_t off, size_t *cap)
{
	struct journal_run *r;

	/* Adjacent pages merge into one reference, as Windows writes them. */
	if (d->n && d->runs[d->n - 1].off + d->runs[d->n - 1].len == off) {
		d->runs[d->n - 1].len += JOURNAL_PAGE;
		d->pages++;
		return 0;
	}
	if (d->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;

		r = realloc(d->runs, nc * sizeof(*r));
		if (r == NULL)
			return -1;
		d->runs = r;
		*cap = nc;
	}
	d->runs[d->n].off = off;
	d->runs[d->n].len = JOURNAL_PAGE;
	d->n++;
	d->pages++;
	return 0;
}

/* Start diff D of the new hive IMG (LEN bytes): its hive bins size,
 * checked to be whole pages inside IMG. */
static int
diff_start(const unsigned char *img, size_t len, struct journal_diff *d,
	   struct kp_error *err)
{
	uint32_t hbins;

	memset(d, 0, sizeof(*d));
	if (len < REGF_BASE_SIZE)
		return kp_fail(err, KP_ERR_FAIL, "new hive too short");
	hbins = regf_le32(img + 0x28);
	if (hbins == 0 || hbins % JOURNAL_PAGE ||
	    hbins > len - REGF_BASE_SIZE)
		return kp_fail(err, KP_ERR_FAIL, "new hive: bad hive bins size "
			       "0x%x", hbins);
	d->hbins = hbins;
	return 0;
}

int
journal_diff(int fd, size_t flen, const unsigned char *img, size_t len,
	     struct journal_diff *d, struct kp_error *err)
{
	/* Read in chunks: mapping the file would put it in our memory too. */
	enum { CHUNK = 1 << 20 };
	unsigned char *buf;
	size_t cap = 0, pos, have;
	uint32_t hbins;

	if (diff_start(img, len, d, err) < 0)
		return -1;
	hbins = d->hbins;
	buf = malloc(CHUNK);
	if (buf == NULL)
		return kp_fail_oom(err);
	for (pos = 0; pos < hbins; pos += CHUNK) {
		size_t want = hbins - pos < CHUNK ? hbins - pos : CHUNK, p;
		off_t at = (off_t)(REGF_BASE_SIZE + pos);

		/* The file may end before the new image's hbins do. */
		have = (size_t)at >= flen ? 0 :
		       flen - (size_t)at < want ? flen - (size_t)at : want;
		if (have && kp_pread_all(fd, buf, have, at) < 0) {
			free(buf);
			free(d->runs);
			d->runs = NULL;
			return kp_fail_errno(err, KP_ERR_FAIL, errno,
					     "cannot read the hive");
		}
		for (p = 0; p < want; p += JOURNAL_PAGE) {
			const unsigned char *new = img + REGF_BASE_SIZE + pos + p;

			if (p + JOURNAL_PAGE <= have &&
			    memcmp(buf + p, new, JOURNAL_PAGE) == 0)
				continue;
			if (add_run(d, (uint32_t)(pos + p), &cap) < 0) {
				free(buf);
				free(d->runs);
				d->runs = NULL;
				return kp_fail_oom(err);
			}
		}
	}
	free(buf);
	return 0;
}

int
journal_diff_mem(const unsigned char *old, size_t oldlen,
		 const unsigned char *img, size_t len, struct journal_diff *d,
		 struct kp_error *err)
{
	size_t cap = 0, p;
	uint32_t hbins;

	if (diff_start(img, len, d, err) < 0)
		return -1;
	hbins = d->hbins;
	for (p = 0; p < hbins; p += JOURNAL_PAGE) {
		size_t at = REGF_BASE_SIZE + p;

		if (oldlen >= JOURNAL_PAGE && at <= oldlen - JOURNAL_PAGE &&
		    memcmp(old + at, img + at, JOURNAL_PAGE) == 0)
			continue;
		if (add_run(d, (uint32_t)p, &cap) < 0) {
			free(d->runs);
			d->runs = NULL;
			return kp_fail_oom(err);
		}
	}
	return 0;
}

int
journal_entry(const unsigned char *img, const struct journal_diff *d,
	      uint32_t seq, size_t at, struct buf *out)
{
	uint64_t size = ENTRY_HDR + (uint64_t)d->n * 8 +
			(uint64_t)d->pages * JOURNAL_PAGE;
	unsigned char *e, *p;
	size_t i;

	/* *Log entries*: sizes are multiples of 512; Windows pads each entry
	 * to end on a 4 KiB boundary of the log file. */
	size = ((at + size + JOURNAL_PAGE - 1) & ~(uint64_t)(JOURNAL_PAGE - 1))
	       - at;
	if (size > UINT32_MAX || size % LOG_BASE)
		return -1;
	buf_reset(out);
	if (buf_grow(out, (size_t)size) < 0)
		return -1;
	e = (unsigned char *)out->data;
	memset(e, 0, (size_t)size);
	out->len = (size_t)size;
	memcpy(e, "HvLE", 4);
	regf_put32(e + 4, (uint32_t)size);
	/* *Notes* 11: only flag bit 0 travels in an entry. */
	regf_put32(e + 8, regf_le32(img + 0x90) & 1);
	regf_put32(e + 12, seq);
	regf_put32(e + 16, d->hbins);
	regf_put32(e + 20, (uint32_t)d->n);
	p = e + ENTRY_HDR;
	for (i = 0; i < d->n; i++) {
		regf_put32(p, d->runs[i].off);
		regf_put32(p + 4, d->runs[i].len);
		p += 8;
	}
	for (i = 0; i < d->n; i++) {
		memcpy(p, img + REGF_BASE_SIZE + d->runs[i].off,
		       d->runs[i].len);
		p += d->runs[i].len;
	}
	/* *Notes* 1-3: Hash-1 over everything after the header, padding
	 * included; Hash-2 over the first 32 bytes, Hash-1 included. */
	regf_put64(e + 24, marvin32(e + ENTRY_HDR, (size_t)size - ENTRY_HDR,
				    MARVIN32_REGISTRY_SEED));
	regf_put64(e + 32, marvin32(e, 32, MARVIN32_REGISTRY_SEED));
	return 0;
}

void
journal_log_base(const unsigned char *img, uint32_t seq,
		 unsigned char out[512])
{
	memcpy(out, img, LOG_BASE);
	regf_put32(out + 4, seq);
	regf_put32(out + 8, seq);
	regf_put32(out + 0x1c, REGF_LOG_NEW);
	regf_set_checksum(out);
}

int
journal_pick_log(const struct logrec_result *logs)
{
	const struct logrec_log *a = &logs->log[0], *b = &logs->log[1];
	bool va = a->valid && a->format == 6, vb = b->valid && b->format == 6;

	/* *Multiple transaction log files › New format*: the writer swaps
	 * logs, so the next cycle goes to the log without the latest
	 * entries, which stay readable in the other one. */
	if (va && vb)
		return logrec_seq_before(a->seq, b->seq) ? 0 : 1;
	if (va)
		return 1;
	return 0;
}

static int
fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path +
						    (slash == path)))
			  : strdup(".");
	int fd, r;

	if (dir == NULL)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	/* Some filesystems cannot sync a directory: nothing more to do. */
	return r < 0 && errno != EINVAL ? -1 : 0;
}

static int
writes_add(struct journal_writes *p, size_t *cap, uint64_t off,
	   const unsigned char *data, uint32_t len)
{
	if (p->nw == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct journal_write *w = realloc(p->w, nc * sizeof(*w));

		if (w == NULL)
			return -1;
		p->w = w;
		*cap = nc;
	}
	p->w[p->nw].off = off;
	p->w[p->nw].data = data;
	p->w[p->nw].len = len;
	p->nw++;
	p->bytes += len;
	return 0;
}

void
journal_writes_release(struct journal_writes *p)
{
	free(p->w);
	free(p->blocks);
	buf_release(&p->entry);
	free(p->d.runs);
	memset(p, 0, sizeof(*p));
}

void
journal_writes_put(struct buf *b, const struct journal_writes *p)
{
	size_t i;

	wire_put32(b, (uint32_t)p->log);
	wire_put32(b, p->seq);
	wire_put32(b, p->pages);
	wire_put64(b, p->bytes);
	for (i = 0; i < 4; i++) {
		const struct journal_step *st = &p->step[i];

		buf_addch(b, (char)st->file);
		wire_put32(b, (uint32_t)st->first);
		wire_put32(b, (uint32_t)st->n);
		wire_put64(b, st->size);
		buf_addch(b, st->verify);
	}
	wire_put32(b, (uint32_t)p->nw);
	for (i = 0; i < p->nw; i++) {
		wire_put64(b, p->w[i].off);
		wire_put32(b, p->w[i].len);
	}
	for (i = 0; i < p->nw; i++)
		buf_add(b, p->w[i].data, p->w[i].len);
}

int
journal_writes_get(struct wire_rd *r, struct journal_writes *p)
{
	uint32_t i, nw, log;

	memset(p, 0, sizeof(*p));
	log = wire_get32(r);
	p->log = log == 1;
	p->seq = wire_get32(r);
	p->pages = wire_get32(r);
	p->bytes = wire_get64(r);
	for (i = 0; i < 4; i++) {
		const unsigned char *f = wire_take(r, 1), *v;
		struct journal_step *st = &p->step[i];

		st->first = wire_get32(r);
		st->n = wire_get32(r);
		st->size = wire_get64(r);
		v = wire_take(r, 1);
		if (f == NULL || v == NULL || *f > JOURNAL_PRIMARY)
			return -1;
		st->file = *f == JOURNAL_LOG ? JOURNAL_LOG : JOURNAL_PRIMARY;
		st->verify = *v != 0;
	}
	nw = wire_get32(r);
	/* Each write takes 12 bytes of header: no count beyond that. */
	if (r->bad || log > 1 || nw > r->left / 12)
		return -1;
	for (i = 0; i < 4; i++)
		if (p->step[i].first > nw ||
		    p->step[i].n > nw - p->step[i].first)
			return -1;
	p->w = calloc(nw ? nw : 1, sizeof(*p->w));
	if (p->w == NULL)
		return -1;
	p->nw = nw;
	for (i = 0; i < 4; i++)
		if (p->step[i].size > REGF_MAX_FILE)
			return -1;
	for (i = 0; i < nw; i++) {
		p->w[i].off = wire_get64(r);
		p->w[i].len = wire_get32(r);
		/* Within the largest hive (or log) there is. */
		if (p->w[i].off > REGF_MAX_FILE ||
		    p->w[i].len > REGF_MAX_FILE - p->w[i].off)
			return -1;
	}
	for (i = 0; i < nw; i++)
		p->w[i].data = wire_take(r, p->w[i].len);
	/* The shape journal_writes_build gives: the log, then three steps
	 * on the primary; the log's writes within its size (an executor
	 * makes that much room before it starts). */
	for (i = 0; i < 4; i++)
		if (p->step[i].file != (i ? JOURNAL_PRIMARY : JOURNAL_LOG))
			return -1;
	for (i = p->step[0].first; i < p->step[0].first + p->step[0].n; i++)
		if (p->w[i].off + p->w[i].len > p->step[0].size)
			return -1;
	return r->bad ? -1 : 0;
}

int
journal_writes_build(const unsigned char *old_base, struct journal_diff *d,
		     const struct logrec_result *logs, const unsigned char *img,
		     size_t len, struct journal_writes *p, struct kp_error *err)
{
	struct regf_header h;
	unsigned char *lb, *dirty, *clean;
	size_t cap = 0, i;
	uint32_t seq;

	memset(p, 0, sizeof(*p));
	p->d = *d;
	memset(d, 0, sizeof(*d));
	if (regf_header_parse(old_base, REGF_BASE_SIZE, &h, err) < 0)
		goto fail;
	if (regf_header_dirty(&h) || h.type != REGF_PRIMARY) {
		kp_fail(err, KP_ERR_FAIL, "not a clean primary hive; nothing "
			"written");
		goto fail;
	}
	if (len < REGF_BASE_SIZE || p->d.hbins < h.hbins_size) {
		kp_fail(err, KP_ERR_FAIL, "the new hive is smaller than the "
			"old one; nothing written");
		goto fail;
	}
	p->seq = h.seq2;
	if (p->d.n == 0)
		return 0;
	/* The cycle starts at the primary's number, or past every number in
	 * either log, so that no stale entry or log base block can chain on
	 * (*Log entries › Notes* 5, 7; *Multiple transaction log files ›
	 * New format*). */
	seq = h.seq2;
	if (logs->max_seq && !logrec_seq_before(logs->max_seq, seq))
		seq = logs->max_seq + 1;
	p->log = journal_pick_log(logs);
	p->blocks = malloc(LOG_BASE + 2 * REGF_BASE_SIZE);
	if (p->blocks == NULL)
		goto oom;
	lb = p->blocks;
	dirty = lb + LOG_BASE;
	clean = dirty + REGF_BASE_SIZE;
	journal_log_base(img, seq, lb);
	if (journal_entry(img, &p->d, seq, LOG_BASE, &p->entry) < 0)
		goto oom;

	/* 1. The log: its base block and the entry, alone in it.  Later
	 * bytes are entries of earlier cycles: the log is cut after ours,
	 * so that none can ever chain on from it (*Log entries › Notes* 7). */
	p->step[0].file = JOURNAL_LOG;
	p->step[0].first = p->nw;
	if (writes_add(p, &cap, 0, lb, LOG_BASE) < 0 ||
	    writes_add(p, &cap, LOG_BASE, (unsigned char *)p->entry.data,
		       (uint32_t)p->entry.len) < 0)
		goto oom;
	p->step[0].n = p->nw - p->step[0].first;
	p->step[0].size = LOG_BASE + p->entry.len;

	/* 2. The primary dirty: seq1 = seq2 + 1 as Windows marks it, and
	 * seq2 = the log's first entry, which then is the first applied. */
	memcpy(dirty, old_base, REGF_BASE_SIZE);
	regf_put32(dirty + 4, seq + 1);
	regf_put32(dirty + 8, seq);
	regf_set_checksum(dirty);
	p->step[1].file = JOURNAL_PRIMARY;
	p->step[1].first = p->nw;
	if (writes_add(p, &cap, 0, dirty, REGF_BASE_SIZE) < 0)
		goto oom;
	p->step[1].n = 1;

	/* 3. The pages, in place; writing past the end grows the file. */
	p->step[2].file = JOURNAL_PRIMARY;
	p->step[2].first = p->nw;
	p->step[2].verify = true;
	for (i = 0; i < p->d.n; i++) {
		const struct journal_run *run = &p->d.runs[i];

		if (writes_add(p, &cap, (uint64_t)REGF_BASE_SIZE + run->off,
			       img + REGF_BASE_SIZE + run->off, run->len) < 0)
			goto oom;
	}
	p->step[2].n = p->nw - p->step[2].first;
	p->step[2].size = (uint64_t)REGF_BASE_SIZE + p->d.hbins;

	/* 4. The base block clean: the new image's (hive bins size, flags),
	 * numbered past the entry as Windows does after a reconcile.  Its
	 * timestamp stays as it was: Windows 8.1 and later no longer update
	 * it (*Base block › Notes* 9), and the first bin's copy would be one
	 * more page to log. */
	memcpy(clean, img, REGF_BASE_SIZE);
	regf_put32(clean + 4, seq + 1);
	regf_put32(clean + 8, seq + 1);
	regf_put32(clean + 0x1c, REGF_PRIMARY);
	regf_set_checksum(clean);
	p->step[3].file = JOURNAL_PRIMARY;
	p->step[3].first = p->nw;
	p->step[3].verify = true;
	if (writes_add(p, &cap, 0, clean, REGF_BASE_SIZE) < 0)
		goto oom;
	p->step[3].n = 1;
	p->seq = seq + 1;
	p->pages = p->d.pages;
	return 0;
oom:
	kp_fail_oom(err);
fail:
	journal_writes_release(p);
	return -1;
}

/* Open the log for step 1, creating it (with O->like's mode and owner) if
 * missing; *CREATED says so. */
static int
open_log(const struct journal_opts *o, const char *path, bool *created,
	 struct kp_error *err)
{
	struct stat st;
	int fd;

	*created = false;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
			  O_NOFOLLOW, 0600);
		*created = fd >= 0;
	}
	if (fd < 0)
		return kp_fail_errno(err, KP_ERR_FAIL, errno,
				     "'%s': cannot open the transaction log",
				     path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		if (*created)
			unlink(path);
		return kp_fail(err, KP_ERR_REFUSED, "'%s': the transaction log "
			       "is not a regular file", path);
	}
	if (*created && o->like &&
	    (fchmod(fd, o->like->st_mode & 0777) < 0 ||
	     (geteuid() == 0 &&
	      fchown(fd, o->like->st_uid, o->like->st_gid) < 0))) {
		int e = errno;

		close(fd);
		unlink(path);
		return kp_fail_errno(err, KP_ERR_FAIL, e, "'%s': cannot write "
				     "the transaction log", path);
	}
	return fd;
}

/* The writes of step S through IO; with HALF (the crash tests' "1h",
 * "3h"), only the first half of its bytes, as a crash would leave them. */
static int
step_write(const struct journal_writes *p, const struct journal_step *s,
	   const struct journal_io *io, void *ctx, bool half)
{
	uint64_t total = 0, left;
	size_t i;

	for (i = 0; i < s->n; i++)
		total += p->w[s->first + i].len;
	left = half ? total / 2 : total;
	for (i = 0; i < s->n && left; i++) {
		const struct journal_write *w = &p->w[s->first + i];
		uint32_t n = w->len < left ? w->len : (uint32_t)left;

		if (io->pwrite(ctx, s->file, w->data, n, w->off) < 0)
			return -1;
		left -= n;
	}
	return 0;
}

/* Read back the writes of step S through IO; the offset of the first that
 * differs in *BAD, or -1 with errno. */
static int
step_verify(const struct journal_writes *p, const struct journal_step *s,
	    const struct journal_io *io, void *ctx, uint64_t *bad)
{
	unsigned char *back = NULL;
	size_t i, max = 0;
	int r = 0;

	for (i = 0; i < s->n; i++)
		if (p->w[s->first + i].len > max)
			max = p->w[s->first + i].len;
	back = malloc(max ? max : 1);
	if (back == NULL)
		return -1;
	for (i = 0; i < s->n && r == 0; i++) {
		const struct journal_write *w = &p->w[s->first + i];

		if (io->pread(ctx, s->file, back, w->len, w->off) < 0) {
			r = -1;
		} else if (memcmp(back, w->data, w->len) != 0) {
			*bad = w->off;
			r = 1;
		}
	}
	free(back);
	return r;
}

int
journal_writes_run(const struct journal_writes *p, const struct journal_io *io,
		   void *ctx, const char *const path[2], struct kp_error *err)
{
	static const char *const after[4] = { "1", "2", "3", "4" };
	static const char *const what[4] = {
		"write the transaction log", "mark the hive dirty",
		"write the changed pages", "write the base block",
	};
	bool crash = getenv("KMSPREP_TEST_CRASH_AT") != NULL;
	uint64_t bad = 0;
	size_t i;
	int s, v;

	if (p->pages == 0)
		return 0;
	for (s = 0; s < 4; s++) {
		const struct journal_step *st = &p->step[s];
		const char *name = path[st->file];

		/* Half a step on disk, as a crash would leave it: the log's
		 * base block and half its entry, half of the pages. */
		if (crash && (s == 0 || s == 2)) {
			if (step_write(p, st, io, ctx, true) < 0)
				goto sys;
			journal_test_crash(s == 0 ? "1h" : "3h");
		}
		/* The log is cut after the entry (no older entry may chain
		 * on); the primary only ever grows. */
		if (step_write(p, st, io, ctx, false) < 0 ||
		    (st->size && io->fit(ctx, st->file, st->size) < 0) ||
		    io->flush(ctx, st->file) < 0)
			goto sys;
		journal_test_crash(after[s]);
		if (st->verify || st->file == JOURNAL_LOG) {
			v = step_verify(p, st, io, ctx, &bad);
			if (v < 0)
				goto sys;
			if (v > 0) {
				kp_fail(err, KP_ERR_FAIL, "'%s': verification "
					"failed: what was written at 0x%llx "
					"does not read back", name,
					(unsigned long long)bad);
				goto logged;
			}
		}
		continue;
sys:
		kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
			      "'%s': cannot %s", name, what[s]);
		/* Before step 2 the primary is as it was. */
		if (s == 0) {
			if (io->abandon)
				io->abandon(ctx);
			return -1;
		}
		goto logged;
	}
	return 0;
logged:
	/* After step 1 the log holds the change: say so after the cause. */
	i = strlen(err->msg);
	snprintf(err->msg + i, sizeof(err->msg) - i, " (the change is in '%s': "
		 "if the hive is left dirty, replaying that log completes it)",
		 path[JOURNAL_LOG]);
	return kp_error_remedy(err, KP_REMEDY_RERUN);
}

/* The local files, for journal_writes_run. */
struct local_io {
	const struct journal_opts *o;
	const char *logpath;
	int fd[2];		/* the log (opened first), the primary */
	bool created;		/* the log was created here */
};

static int
l_pwrite(void *ctx, enum journal_file f, const void *p, size_t len,
	 uint64_t off)
{
	return kp_pwrite_all(((struct local_io *)ctx)->fd[f], p, len,
			     (off_t)off);
}

static int
l_pread(void *ctx, enum journal_file f, void *p, size_t len, uint64_t off)
{
	return kp_pread_all(((struct local_io *)ctx)->fd[f], p, len,
			    (off_t)off);
}

static int
l_fit(void *ctx, enum journal_file f, uint64_t size)
{
	struct local_io *l = ctx;
	struct stat st;

	if (f == JOURNAL_PRIMARY &&
	    (fstat(l->fd[f], &st) < 0 || (uint64_t)st.st_size >= size))
		return 0;
	return ftruncate(l->fd[f], (off_t)size);
}

static int
l_flush(void *ctx, enum journal_file f)
{
	struct local_io *l = ctx;

	if (fsync(l->fd[f]) < 0)
		return -1;
	/* The primary must not point at a log whose name is not durable. */
	return f == JOURNAL_LOG && l->created ? fsync_dir_of(l->logpath) : 0;
}

static void
l_abandon(void *ctx)
{
	struct local_io *l = ctx;

	if (l->created)
		unlink(l->logpath);
}

static const struct journal_io local_io = {
	.pwrite = l_pwrite,
	.pread = l_pread,
	.fit = l_fit,
	.flush = l_flush,
	.abandon = l_abandon,
};

int
journal_writes_run_local(const struct journal_writes *p,
			 const struct journal_opts *o, struct kp_error *err)
{
	struct local_io l = { .o = o, .logpath = o->log[p->log],
			      .fd = { -1, o->fd } };
	const char *path[2] = { l.logpath, o->path };
	int r;

	if (p->pages == 0)
		return 0;
	l.fd[JOURNAL_LOG] = open_log(o, l.logpath, &l.created, err);
	if (l.fd[JOURNAL_LOG] < 0)
		return -1;
	r = journal_writes_run(p, &local_io, &l, path, err);
	if (close(l.fd[JOURNAL_LOG]) < 0 && r == 0)
		r = kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s'", l.logpath);
	return r;
}

int
journal_commit(const struct journal_opts *o, struct journal_result *res,
	       struct kp_error *err)
{
	unsigned char base[REGF_BASE_SIZE];
	struct journal_diff d = { 0 };
	struct journal_writes p;
	struct stat st;
	int r;

	memset(res, 0, sizeof(*res));
	if (fstat(o->fd, &st) < 0 ||
	    kp_pread_all(o->fd, base, sizeof(base), 0) < 0)
		return kp_fail_errno(err, KP_ERR_FAIL, errno,
				     "'%s': cannot read", o->path);
	if (journal_diff(o->fd, (size_t)st.st_size, o->img, o->len, &d,
			 err) < 0)
		return -1;
	if (journal_writes_build(base, &d, o->logs, o->img, o->len, &p,
				 err) < 0) {
		kp_error_prefix(err, "'%s'", o->path);
		return -1;
	}
	r = journal_writes_run_local(&p, o, err);
	if (r == 0) {
		res->seq = p.seq;
		res->pages = p.pages;
		res->log = p.log;
	}
	journal_writes_release(&p);
	return r;
}

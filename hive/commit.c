/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Local hive handles (local.h): the commit, journaled in place through
 * the logs (by the page editor, or hivex's new file planned as a
 * journal), or a verified rewrite; every expectation checked first. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "journal.h"
#include "lib/fileio.h"
#include "local.h"

void
hl_drop_lock(struct hive_local *h)
{
	if (h->lockfd >= 0) {
		close(h->lockfd);
		h->lockfd = -1;
	}
}

/* After a commit, whatever its result: hivex and the lock go (reads would
 * see the file change under a read-only hivex), and the hive can only be
 * closed. */
void
hl_spend(struct hive_local *h)
{
	if (h->hx) {
		hivex_close(h->hx);
		h->hx = NULL;
	}
	h->poisoned = true;
	hl_drop_lock(h);
}

/*
 * Committing.
 */

/* Check every expectation against R, the written hive read without hivex. */
static int
verify_expect(struct hive_local *h, const struct regf *r, struct kp_error *err)
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
verify(struct hive_local *h, const unsigned char *p, size_t len,
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
finish_header(struct hive_local *h, int fd, uint32_t *seq_ret,
	      struct kp_error *err)
{
	unsigned char base[REGF_BASE_SIZE + 0x20];
	uint64_t now = regf_filetime_now();
	uint32_t seq;

	if (pread(fd, base, sizeof(base), 0) != (ssize_t)sizeof(base))
		return kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
				     "cannot read back the written hive");
	seq = regf_le32(base + 4);
	if (h->pub.st.logs.max_seq &&
	    !logrec_seq_before(h->pub.st.logs.max_seq, seq))
		seq = h->pub.st.logs.max_seq + 1;
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
changed_since_open(struct hive_local *h, int fd, struct kp_error *err)
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
			"written", h->pub.path);
		return true;
	}
	return false;
}

/* Why a commit cannot go through the logs in place, or NULL if it can. */
static const char *
no_journal(const struct hive_local *h, const struct hive_commit_opts *o)
{
	const struct logrec_result *L = &h->pub.st.logs;
	int i;

	if (!o->journal)
		return "not asked for";
	if (o->dest || o->backup)
		return "a new file is written";
	/* Its logs still hold Windows' pending entries: a new cycle must not
	 * overwrite them before they are in the primary. */
	if (h->pub.st.dirty)
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
	if (h->pub.st.hdr.minor < 5 || h->pub.st.hdr.cluster != 1)
		return "an old hive format version";
	return NULL;
}

/* hive_commit through the transaction logs (journal.h).  hivex writes its
 * result into a memory file, never to disk; only the pages that differ
 * from the file are then written. */
/* Copy the bytes of IMG that HP writes (the changed pages: a few KiB) into
 * HP, so that a batch holding the commits of many images until it writes
 * them does not hold every new hive whole. */
static int
keep_pages(struct hive_journal *hp, const unsigned char *img, size_t len)
{
	struct journal_writes *p = &hp->p;
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
 * (RES->deferred) and not carried out. */
static int
journal_writes_of(struct hive_local *h, void *img, size_t len,
		  struct hive_commit_result *res, struct kp_error *err)
{
	unsigned char base[REGF_BASE_SIZE];
	struct journal_diff d = { 0 };
	struct hive_journal *hp;
	struct stat st;
	int fd, r = -1;

	fd = open(h->real, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot "
				     "open", h->pub.path);
	if (changed_since_open(h, fd, err))
		goto out;
	if (fstat(fd, &st) < 0 ||
	    pread(fd, base, sizeof(base), 0) != (ssize_t)sizeof(base)) {
		kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
			      "'%s': cannot read", h->pub.path);
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
	if (journal_writes_build(base, &d, &h->pub.st.logs, img, len, &hp->p,
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
		hive_journal_free(hp);
	} else if (keep_pages(hp, img, len) < 0) {
		hive_journal_free(hp);
		kp_fail_oom(err);
		goto out;
	} else {
		res->deferred = hp;
	}
	r = 0;
out:
	close(fd);
	return r;
}

void
hive_journal_free(struct hive_journal *hp)
{
	if (hp == NULL)
		return;
	journal_writes_release(&hp->p);
	free(hp->pages);
	free(hp);
}

/* Replay the recorded edits (their final states, h->exp) with the page
 * editor on E, the file as it was opened.  0 all made, 1 one cannot be
 * (E->why says why). */
static int
replay_edits(struct hive_local *h, struct pageedit *e)
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
journal_opts_of(const struct hive_local *h, int fd, const unsigned char *img,
		size_t len, struct journal_opts *jo)
{
	jo->fd = fd;
	jo->path = h->pub.path;
	jo->like = &h->fst;
	jo->log[0] = h->logpath[0];
	jo->log[1] = h->logpath[1];
	jo->logs = &h->pub.st.logs;
	jo->img = img;
	jo->len = len;
}

static int
commit_pages(struct hive_local *h, bool defer,
	     struct hive_commit_result *res, struct kp_error *err)
{
	struct pageedit e = { 0 };
	struct journal_opts jo = { 0 };
	struct journal_diff d = { 0 };
	struct journal_writes p;
	struct hive_journal *hp = NULL;
	unsigned char base[REGF_BASE_SIZE];
	struct regf r;
	struct stat st;
	size_t len, i;
	int fd, ret = -1;

	fd = open(h->real, (defer ? O_RDONLY : O_RDWR) | O_CLOEXEC |
		  O_NOCTTY);
	if (fd < 0)
		return kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot "
				     "open%s", h->pub.path,
				     defer ? "" : " for writing");
	memset(&p, 0, sizeof(p));
	if (!defer) {
		journal_test_crash("open");
		if (hl_lock_wait(fd, LOCK_EX, h->pub.path, "write", err) < 0)
			goto out;
	}
	if (changed_since_open(h, fd, err))
		goto out;
	if (fstat(fd, &st) < 0 ||
	    pread(fd, base, sizeof(base), 0) != (ssize_t)sizeof(base)) {
		kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
			      "'%s': cannot read", h->pub.path);
		goto out;
	}
	if (pe_open(&e, fd, (size_t)st.st_size, hl_edit_time(), err) < 0)
		goto out;
	if (replay_edits(h, &e) != 0) {
		res->pe_why = e.why;
		/* hivex's own copy, for the fallback, while the file is
		 * still locked and as it was checked. */
		ret = hl_hx_upgrade(h, err) < 0 ? -1 : 1;
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
				"out; nothing written", h->pub.path);
		goto out;
	}
	if (pe_regf(&e, &r, err) < 0 || verify_expect(h, &r, err) < 0) {
		kp_error_prefix(err, "'%s'", h->pub.path);
		goto out;
	}
	for (i = 0; i < h->nexp; i++) {
		if (h->exp[i].name && pe_check_key(&e, h->exp[i].path) != 0) {
			kp_fail(err, KP_ERR_FAIL, "'%s': key '%s' does not "
				"check out after the edit (%s); nothing "
				"written", h->pub.path, h->exp[i].path,
				pe_fallback_str(e.why));
			goto out;
		}
	}
	len = (size_t)REGF_BASE_SIZE + e.end;
	if (pe_diff(&e, &d, err) < 0)
		goto out;
	if (journal_writes_build(base, &d, &h->pub.st.logs, e.p, len, &p,
				 err) < 0) {
		free(d.runs);
		kp_error_prefix(err, "'%s'", h->pub.path);
		goto out;
	}
	res->journaled = true;
	res->in_place = true;
	res->written = p.pages > 0;
	res->pages = p.pages;
	res->seq = p.seq;
	if (defer) {
		if (p.pages) {
			hp = calloc(1, sizeof(*hp));
			if (hp == NULL) {
				kp_fail_oom(err);
				goto out;
			}
			hp->p = p;
			memset(&p, 0, sizeof(p));
			if (keep_pages(hp, e.p, len) < 0) {
				hive_journal_free(hp);
				kp_fail_oom(err);
				goto out;
			}
			res->deferred = hp;
		}
		ret = 0;
		goto out;
	}
	journal_opts_of(h, fd, e.p, len, &jo);
	if (p.pages && journal_writes_run_local(&p, &jo, err) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0) {
		res->journaled = res->in_place = res->written = false;
		res->deferred = NULL;
	}
	journal_writes_release(&p);
	pe_close(&e);
	close(fd);
	return ret;
}

static int
commit_journal(struct hive_local *h, bool defer,
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
	if (hl_hx_upgrade(h, err) < 0)
		goto out;
	errno = 0;
	if (hivex_commit(h->hx, name, 0) < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno ? errno : EIO,
			      "'%s': hivex cannot write the new hive",
			      h->pub.path);
		goto out;
	}
	/* As in the rewrite: hivex's copy goes before the result is read. */
	hivex_close(h->hx);
	h->hx = NULL;
	h->poisoned = true;
	if (hl_stamp_keys(h, mfd, err) < 0)
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
		kp_error_prefix(err, "'%s'", h->pub.path);
		goto out;
	}
	if (defer) {
		r = journal_writes_of(h, map, (size_t)st.st_size, res, err);
		goto out;
	}
	fd = open(h->real, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		kp_fail_errno(err, KP_ERR_FAIL, errno, "'%s': cannot open for "
			      "writing", h->pub.path);
		goto out;
	}
	journal_test_crash("open");
	/* Two writers in place would interleave their pages, and a reader
	 * would see them half-written. */
	if (hl_lock_wait(fd, LOCK_EX, h->pub.path, "write", err) < 0)
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
commit_any(struct hive_local *h, const struct hive_commit_opts *o,
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
	if ((res->rewrite_why || h->pe_why != PE_OK) && hl_hx_upgrade(h, err) < 0)
		return -1;
	/* Planning takes no lock of its own: the shared one stays until the
	 * end (spend), the journal's reads of the file included. */
	if (!o->defer)
		hl_drop_lock(h);
	if (res->rewrite_why == NULL) {
		/* An in-place commit frees hivex's copy as soon as it
		 * knows it will not fall back (a batch keeps every image's
		 * hives open until it writes). */
		r = commit_pages(h, o->defer, res, err);
		if (r == 1)
			r = commit_journal(h, o->defer, res, err);
		return r;
	}
	if (!o->journal)
		res->rewrite_why = NULL;
	dest = o->dest ? o->dest : h->real;
	if (hl_hx_upgrade(h, err) < 0)
		return -1;
	/* hivex has its own copy: the lock goes before the one below. */
	hl_drop_lock(h);
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
	if (hl_stamp_keys(h, t.fd, err) < 0 ||
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
				      "open", h->pub.path);
			goto out;
		}
		if (hl_lock_wait(lfd, LOCK_EX, h->pub.path, "replace", err) < 0 ||
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
local_commit(struct hive *pub, const struct hive_commit_opts *o,
	     struct hive_commit_result *res, struct kp_error *err)
{
	struct hive_local *h = hl_of(pub);
	static const struct hive_commit_opts defaults = { 0 };
	int r;

	if (o == NULL)
		o = &defaults;
	memset(res, 0, sizeof(*res));
	if (hl_need_writable(h, err) < 0)
		return -1;
	if (h->nedits == 0 && !o->force)
		return 0;
	r = commit_any(h, o, res, err);
	hl_spend(h);
	return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Local hive handles (local.h): opening a hive file, its logs replayed
 * when it is dirty, checked whole before anything reads it; closing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "lib/utf.h"
#include "local.h"

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
describe_dup(struct hive_local *h)
{
	struct buf raw = BUF_INIT, shown = BUF_INIT;

	if (regf_key_path(&h->raw, h->pub.st.stats.dup_parent, &raw) == 0 &&
	    wtf8_escape(buf_str(&raw), &shown) == 0)
		snprintf(h->pub.st.dup_key, sizeof(h->pub.st.dup_key), "%s",
			 buf_str(&shown));
	if (regf_key_name(&h->raw, h->pub.st.stats.dup_child, &raw) == 0 &&
	    wtf8_escape(buf_str(&raw), &shown) == 0)
		snprintf(h->pub.st.dup_name, sizeof(h->pub.st.dup_name), "%s",
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

/* flock FD with OP (LOCK_SH or LOCK_EX), waiting up to about two seconds
 * for a holder to finish: a journaled write takes well under that.  Fails
 * naming the holder.  Filesystems without flock are not refused: the lock
 * only keeps kmsprep's own readers and writers apart. */
int
hl_lock_wait(int fd, int op, const char *path, const char *doing,
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
local_open(const char *path, const struct hive_open_opts *o,
	   struct hive **h_ret, struct kp_error *err)
{
	static const struct hive_open_opts defaults = { .flags = 0 };
	struct logrec_input logs[2];
	struct kp_map m = KP_MAP_INIT, lm[2] = { KP_MAP_INIT, KP_MAP_INIT };
	char *logpath[2] = { NULL, NULL }, fdname[64];
	struct buf img = BUF_INIT;
	const unsigned char *data;
	size_t len;
	struct hive_local *h;
	const char *src = fdname;
	int i;

	if (o == NULL)
		o = &defaults;
	*h_ret = NULL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return kp_fail_oom(err);
	h->pub.ops = &local_ops;
	h->memfd = -1;
	h->lockfd = -1;
	h->raw_map.fd = -1;
	h->writable = o->flags & HIVE_WRITE;
	h->pub.path = strdup(path);
	if (h->pub.path == NULL) {
		kp_fail_oom(err);
		goto fail;
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
	    hl_lock_wait(h->lockfd, LOCK_SH, path, "read", err) < 0)
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
	    regf_header_parse_primary(data, len, &h->pub.st.hdr, err) < 0) {
		if (len < 512)
			kp_fail(err, KP_ERR_INPUT,
				"not a registry hive (%zu bytes)", len);
		kp_error_prefix(err, "'%s'", path);
		goto fail;
	}
	h->pub.st.dirty = regf_header_dirty(&h->pub.st.hdr);

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
	logrec_scan(logs, &h->pub.st.logs);

	if (h->pub.st.dirty) {
		struct kp_error rerr = KP_ERROR_INIT;

		if ((logs[0].present || logs[1].present) &&
		    logrec_recover(data, len, logs, &img, &h->pub.st.logs,
				   &rerr) == 0) {
			if (image_to_memfd(&img, &h->memfd, fdname,
					   sizeof(fdname), err) < 0)
				goto fail;
			h->pub.st.recovered = true;
			data = (const unsigned char *)img.data;
			len = img.len;
			if (h->pub.st.logs.damage[0] && h->writable &&
			    !(o->flags & HIVE_FORCE_DIRTY)) {
				kp_fail(err, KP_ERR_INPUT,
					"'%s': damaged transaction log (%s): "
					"only the changes before it can be "
					"replayed, the later ones would be "
					"lost", path, h->pub.st.logs.damage);
				kp_error_remedy(err, KP_REMEDY_FORCE_DIRTY);
				goto fail;
			}
		} else if (!h->pub.st.logs.why[0]) {
			snprintf(h->pub.st.logs.why, sizeof(h->pub.st.logs.why),
				 "no transaction logs found");
		}
		if (!h->pub.st.recovered && h->pub.st.hdr.type == REGF_PRIMARY &&
		    !h->pub.st.hdr.checksum_ok) {
			kp_fail(err, KP_ERR_INPUT,
				"'%s': corrupt base block (%s) and no "
				"usable transaction log (%s)", path,
				memcmp(data, "regf", 4) ? "no 'regf' signature"
				: "checksum mismatch", h->pub.st.logs.why);
			goto fail;
		}
		if (!h->pub.st.recovered && h->writable &&
		    !(o->flags & HIVE_FORCE_DIRTY) &&
		    h->pub.st.hdr.type == REGF_PRIMARY) {
			kp_fail(err, KP_ERR_REFUSED,
				"'%s': hive is dirty (sequence numbers %u/%u): "
				"Windows' pending changes are in its "
				"transaction logs and none can be replayed "
				"(%s); writing now would lose them",
				path, h->pub.st.hdr.seq1, h->pub.st.hdr.seq2,
				h->pub.st.logs.why);
			kp_error_remedy(err, KP_REMEDY_FORCE_DIRTY);
			goto fail;
		}
	}
	if (regf_validate(data, len, &h->pub.st.stats, err) < 0) {
		if (h->pub.st.dirty && !h->pub.st.recovered)
			kp_error_prefix(err, "'%s' (dirty, logs not used: %s)",
					path, h->pub.st.logs.why);
		else
			kp_error_prefix(err, "'%s'", path);
		goto fail;
	}
	/* After recovery, RAW maps the memory file: no third copy. */
	if (h->pub.st.recovered &&
	    kp_map_file_lazy(fdname, 0, REGF_MAX_FILE, &h->raw_map, err) < 0)
		goto fail;
	if (h->pub.st.stats.dup_keys) {
		if (regf_open(&h->raw, h->pub.st.recovered ? h->raw_map.data :
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
	if (!h->pub.st.recovered &&
	    kp_map_file_lazy(src, 0, REGF_MAX_FILE, &h->raw_map, err) < 0)
		goto fail;
	kp_unmap(&m);
	if (regf_open(&h->raw, h->raw_map.data, h->raw_map.len, err) < 0)
		goto fail;
	*h_ret = &h->pub;
	return 0;
fail:
	for (i = 0; i < 2; i++)
		input_release(&logs[i], &lm[i], &logpath[i]);
	kp_unmap(&m);
	buf_release(&img);
	local_close(&h->pub);
	return -1;
}

void
local_close(struct hive *pub)
{
	struct hive_local *h = hl_of(pub);

	if (h == NULL)
		return;
	if (h->hx)
		hivex_close(h->hx);
	if (h->memfd >= 0)
		close(h->memfd);
	if (h->lockfd >= 0)
		close(h->lockfd);
	kp_unmap(&h->raw_map);
	free(h->touched);
	hl_edits_free(h);
	free(h->logpath[0]);
	free(h->logpath[1]);
	free(h->pub.path);
	free(h->real);
	free(h);
}

size_t
local_nr_edits(const struct hive *pub)
{
	return hl_of(pub)->nedits;
}

const struct hive_ops local_ops = {
	.close = local_close,
	.nr_edits = local_nr_edits,
	.kind = local_kind,
	.find = local_find,
	.subkeys = local_subkeys,
	.key_name = local_key_name,
	.key_tombstone = local_key_tombstone,
	.get = local_get,
	.values = local_values,
	.set = local_set,
	.unset = local_unset,
	.mkpath = local_mkpath,
	.delete_key = local_delete_key,
	.commit = local_commit,
};

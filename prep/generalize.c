/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Activation generalization: answer files (sysprep) or first-boot rearm. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "generalize.h"
#include "gvlk.h"
#include "hive/regf.h"
#include "hive/regval.h"
#include "hive/spp.h"
#include "hive/system.h"
#include "lib/valid.h"

#define STATE_KEY "Microsoft\\Windows\\CurrentVersion\\Setup\\State"
/* Spelt as Windows spells it: the parts that are missing are created
 * so (the rest is matched in any case). */
#define SYSPREP_FILE "Windows/System32/Sysprep/unattend.xml"

/* The answer file search order; UnattendFile comes first. */
static const struct {
	const char *rel, *label;
} places[] = {
	{ .rel = "windows/panther/unattend/unattend.xml",
	  .label = "%WINDIR%\\Panther\\Unattend\\Unattend.xml" },
	{ .rel = "windows/panther/unattend/autounattend.xml",
	  .label = "%WINDIR%\\Panther\\Unattend\\Autounattend.xml" },
	{ .rel = "windows/panther/unattend.xml",
	  .label = "%WINDIR%\\Panther\\Unattend.xml" },
	{ .rel = SYSPREP_FILE,
	  .label = "%WINDIR%\\System32\\Sysprep\\Unattend.xml" },
	{ .rel = "unattend.xml", .label = "%SYSTEMDRIVE%\\Unattend.xml" },
	{ .rel = "autounattend.xml",
	  .label = "%SYSTEMDRIVE%\\Autounattend.xml" },
};

int
gen_note(struct stage *p, const char *fmt, ...)
{
	char **n = realloc(p->notes, (p->nnotes + 1) * sizeof(*n));
	va_list ap;
	int r;

	if (n == NULL)
		return -1;
	p->notes = n;
	va_start(ap, fmt);
	r = vasprintf(&n[p->nnotes], fmt, ap);
	va_end(ap);
	if (r < 0)
		return -1;
	p->nnotes++;
	return 0;
}

static struct stage_file *
add_file(struct stage *p)
{
	struct stage_file *f = realloc(p->files, (p->nfiles + 1) * sizeof(*f));

	if (f == NULL)
		return NULL;
	p->files = f;
	f += p->nfiles++;
	memset(f, 0, sizeof(*f));
	return f;
}

static char *
read_sz(struct hive *h, const char *key, const char *name,
	struct kp_error *err)
{
	struct hive_value v;
	struct buf s = BUF_INIT;
	char *out = NULL;
	hive_key k;

	if (hive_find(h, key, &k, err) != 1 || hive_get(h, k, name, &v, err) != 1)
		return NULL;
	if ((v.type == REGT_SZ || v.type == REGT_EXPAND_SZ) &&
	    regval_get_sz(v.data, v.len, &s) == 0)
		out = buf_detach(&s, NULL);
	buf_release(&s);
	hive_value_release(&v);
	return out;
}

/* processorArchitecture for the answer file, from the environment of the
 * current control set. */
static void
read_arch(struct hive *system, char *out, size_t sz)
{
	struct kp_error ignored = KP_ERROR_INIT;
	char cs[32], key[128], *a;

	snprintf(out, sz, "amd64");
	if (sys_control_set(system, cs, sizeof(cs), &ignored) < 0)
		return;
	snprintf(key, sizeof(key), "%s\\Control\\Session Manager\\Environment",
		 cs);
	a = read_sz(system, key, "PROCESSOR_ARCHITECTURE", &ignored);
	if (a && strcasecmp(a, "x86") == 0)
		snprintf(out, sz, "x86");
	else if (a && strcasecmp(a, "ARM64") == 0)
		snprintf(out, sz, "arm64");
	free(a);
}

static int
read_skip_rearm(struct hive *software, struct kp_error *err)
{
	struct winver v;
	struct hive_value val;
	hive_key k;
	uint32_t dw = 0;
	int r;

	if (winver_read(software, &v, err) < 0)
		return -2;
	r = hive_find(software, spp_root(&v), &k, err);
	winver_release(&v);
	if (r <= 0)
		return r < 0 ? -2 : -1;
	r = hive_get(software, k, "SkipRearm", &val, err);
	if (r <= 0)
		return r < 0 ? -2 : -1;
	regval_get_dword(val.data, val.len, &dw);
	hive_value_release(&val);
	return dw ? 1 : 0;
}

/* SYSTEM\Setup\UnattendFile as a path relative to the Windows volume, or
 * NULL (with a note) when it points somewhere kmsprep cannot follow. */
static char *
unattend_pointer(struct hive *system, struct stage *p,
		 struct kp_error *err)
{
	char *v = read_sz(system, "Setup", "UnattendFile", err), *rel, *c;
	struct buf b = BUF_INIT;
	const char *s;
	int ok = 0;

	if (v == NULL || v[0] == '\0') {
		free(v);
		return NULL;
	}
	/* Environment variables Windows would expand. */
	for (s = v; *s && ok == 0;) {
		if (strncasecmp(s, "%WINDIR%", 8) == 0 ||
		    strncasecmp(s, "%SystemRoot%", 12) == 0) {
			ok = buf_addstr(&b, "C:\\Windows");
			s += s[1] == 'W' || s[1] == 'w' ? 8 : 12;
		} else if (strncasecmp(s, "%SystemDrive%", 13) == 0) {
			ok = buf_addstr(&b, "C:");
			s += 13;
		} else {
			ok = buf_addch(&b, *s++);
		}
	}
	if (ok < 0) {
		free(v);
		buf_release(&b);
		kp_fail_oom(err);
		return NULL;
	}
	s = buf_str(&b);
	if (strncasecmp(s, "C:\\", 3) == 0)
		s += 3;
	else if (s[0] == '\\')
		s += 1;
	else
		s = NULL;
	if (s == NULL || strstr(s, "..") || strchr(s, '%')) {
		char q[300];

		gen_note(p, "SYSTEM\\Setup\\UnattendFile points to '%s', outside "
			 "the Windows volume; it was not examined",
			 kp_quote(v, q, sizeof(q)));
		free(v);
		buf_release(&b);
		return NULL;
	}
	rel = strdup(s);
	for (c = rel; c && *c; c++)
		if (*c == '\\')
			*c = '/';
	free(v);
	buf_release(&b);
	return rel;
}

/* Look at one candidate answer file (kept in P if it exists). */
static int
look(struct img_session *s, const struct img_root *r, const char *rel,
     const char *label, bool keep_missing, struct stage *p,
     struct kp_error *err)
{
	struct stage_file *f;
	char *guest, *data;
	bool exists;
	size_t len, i;

	guest = img_path(s, r, rel, &exists, err);
	if (guest == NULL)
		return -1;
	for (i = 0; i < p->nfiles; i++) {
		if (strcmp(p->files[i].guest, guest) == 0) {
			free(guest);
			return 0;	/* named twice, looked at once */
		}
	}
	if (!exists && !keep_missing) {
		free(guest);
		return 0;
	}
	f = add_file(p);
	if (f == NULL) {
		free(guest);
		return kp_fail_oom(err);
	}
	f->guest = guest;
	f->label = strdup(label);
	f->answer = true;
	f->exists = exists;
	f->info.skip_rearm = -1;
	if (f->label == NULL)
		return kp_fail_oom(err);
	if (!exists)
		return 0;
	data = img_read(s, guest, UNATTEND_MAX, &len, err);
	if (data == NULL)
		kp_error_prefix(err, "%s", label);
	if (data == NULL ||
	    unattend_inspect(data, len, label, &f->info, err) < 0 ||
	    buf_add(&f->content, data, len) < 0) {
		if (data && err->status == 0)
			kp_fail_oom(err);
		if (data)
			kp_error_prefix(err, "sysprep would fail on it too");
		free(data);
		if (!p->lenient || err->status == KP_ERR_FAIL)
			return -1;
		/* `image show` still reports the rest of the installation. */
		free(f->guest);
		free(f->label);
		buf_release(&f->content);
		p->nfiles--;
		if (gen_note(p, "%s", err->msg) < 0)
			return kp_fail_oom(err);
		*err = (struct kp_error)KP_ERROR_INIT;
		return 0;
	}
	free(data);
	return 0;
}

static int
find_answer_files(struct img_session *s, const struct img_root *r,
		  struct hive *system, struct stage *p,
		  struct kp_error *err)
{
	char *ptr = unattend_pointer(system, p, err);
	size_t i;
	int rc = 0;

	if (ptr)
		rc = look(s, r, ptr, "SYSTEM\\Setup\\UnattendFile", false, p,
			  err);
	free(ptr);
	for (i = 0; rc == 0 && i < sizeof(places) / sizeof(places[0]); i++)
		rc = look(s, r, places[i].rel, places[i].label, false, p, err);
	return rc;
}

char *
gen_image_state(struct hive *software, struct kp_error *err)
{
	return read_sz(software, STATE_KEY, "ImageState", err);
}

bool
gen_is_generalized(const char *image_state)
{
	/* Only the GENERALIZE_RESEAL states: a SPECIALIZE_RESEAL image
	 * (sysprep /oobe or /audit without /generalize) is not. */
	return image_state && strstr(image_state, "_GENERALIZE_RESEAL_");
}

bool
gen_setup_pending(const char *image_state)
{
	return image_state && strstr(image_state, "_RESEAL_TO_");
}

static int guestfs_service(struct img_session *s, const struct img_root *r,
			   struct hive *system, struct kp_error *err);

/* The KMS host the registry names, as cloudbase-init's kms_host writes
 * it (host[:port]), into OUT ("" if none). */
static void
registry_kms_host(struct hive *software, char *out, size_t size)
{
	struct kp_error ignored = KP_ERROR_INIT;
	char *host = read_sz(software, SPP_KEY, "KeyManagementServiceName",
			     &ignored);
	char *port = read_sz(software, SPP_KEY, "KeyManagementServicePort",
			     &ignored);

	snprintf(out, size, "%s%s%s", host ? host : "", host && port ? ":" : "",
		 host && port ? port : "");
	free(host);
	free(port);
}

/* Read cloudbase-init's configuration file NAME into *C (*HAS set). */
static int
cbi_read(struct img_session *s, const struct img_root *r, const char *name,
	 bool *has, struct cbi_conf *c, char **guest, char **text,
	 size_t *len, struct kp_error *err)
{
	char rel[160];

	snprintf(rel, sizeof(rel), CBI_DIR "/%s", name);
	*guest = img_path(s, r, rel, has, err);
	*text = NULL;
	if (*guest == NULL)
		return -1;
	if (!*has)
		return 0;
	*text = img_read(s, *guest, (size_t)1 << 20, len, err);
	if (*text == NULL)
		return -1;
	cbi_parse(*text, *len, c);
	return 0;
}

int
gen_cloudbase(struct img_session *s, const struct img_root *r,
	      struct hive *software, const char *mode, struct stage *p,
	      struct kp_error *err)
{
	static const char *const names[] = { CBI_CONF, CBI_UNATTEND };
	struct cbi_set set = { NULL, -1, -1 };
	char host[300], rel[160], label[200];
	size_t i, found = 0;

	registry_kms_host(software, host, sizeof(host));
	set.kms_host = host;
	if (strcmp(mode, "activate") == 0)
		set.activate_windows = set.set_kms_product_key = 1;
	else if (strcmp(mode, "off") == 0)
		set.activate_windows = set.set_kms_product_key = 0;
	else if (strcmp(mode, "host") != 0)
		return kp_fail(err, KP_ERR_INVALID, "cloudbase-init mode '%s': "
			       "expected host, activate or off", mode);
	for (i = 0; i < 2; i++) {
		struct cbi_conf c;
		struct buf out = BUF_INIT;
		char *guest, *text;
		size_t len = 0;
		bool has;
		int rc;

		if (cbi_read(s, r, names[i], &has, &c, &guest, &text, &len,
			     err) < 0) {
			free(guest);
			return -1;
		}
		free(guest);
		if (!has)
			continue;
		found++;
		rc = cbi_edit(text, len, &set, &out, err);
		free(text);
		snprintf(rel, sizeof(rel), CBI_DIR "/%s", names[i]);
		snprintf(label, sizeof(label), "C:\\Program Files\\Cloudbase "
			 "Solutions\\Cloudbase-Init\\conf\\%s", names[i]);
		if (rc < 0 ||
		    gen_add_file(s, r, rel, label, &out, false, p, err) < 0) {
			buf_release(&out);
			return -1;
		}
		buf_release(&out);
	}
	if (found == 0)
		return kp_fail(err, KP_ERR_REFUSED, "cloudbase-init is not "
			       "installed (no %s)",
			       "C:\\Program Files\\Cloudbase Solutions\\"
			       "Cloudbase-Init\\conf\\" CBI_CONF);
	return 0;
}

static const char *staged_gvlk(struct img_session *s,
			       const struct img_root *r, const char *rel,
			       struct kp_error *err);

/* The GVLK a kmsprep first boot still to run installs: a script the hook
 * runs, or one in libguestfs' scripts folder (it moves those it ran). */
static int
inspect_gvlk(struct img_session *s, const struct img_root *r,
	     struct stage *p, struct kp_error *err)
{
	static const struct {
		const char *rel, *label, *hook;
	} where[] = {
		{ "windows/" FIRSTBOOT_DIR "/firstboot.cmd",
		  "%WINDIR%\\" FIRSTBOOT_DIR "\\firstboot.cmd",
		  FIRSTBOOT_CMDLINE("firstboot.cmd") },
		{ GUESTFS_DIR "/scripts/" GUESTFS_ONE, GUESTFS_LABEL GUESTFS_ONE,
		  NULL },
		{ "windows/" FIRSTBOOT_DIR "/" FIRSTBOOT_KEY,
		  "%WINDIR%\\" FIRSTBOOT_DIR "\\" FIRSTBOOT_KEY,
		  FIRSTBOOT_CMDLINE(FIRSTBOOT_KEY) },
		{ GUESTFS_DIR "/scripts/" GUESTFS_KEY, GUESTFS_LABEL GUESTFS_KEY,
		  NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(where) / sizeof(*where); i++) {
		if (where[i].hook &&
		    !(p->setup.ours && p->setup.setup_type && p->setup.cmdline &&
		      strcasecmp(p->setup.cmdline, where[i].hook) == 0))
			continue;
		p->staged_gvlk = staged_gvlk(s, r, where[i].rel, err);
		if (err->status)
			return -1;
		if (p->staged_gvlk) {
			p->gvlk_script = where[i].label;
			p->gvlk_key_only = i >= 2;
			return 0;
		}
	}
	return 0;
}

/* Windows Setup runs it as SYSTEM at the end of OOBE (boothook.h). */
#define SETUPCOMPLETE_REL "windows/setup/scripts/setupcomplete.cmd"
#define SETUPCOMPLETE_LABEL "%WINDIR%\\Setup\\Scripts\\SetupComplete.cmd"

/* SetupComplete.cmd, and the first line of it that calls a kmsprep
 * script (a kit staged on a sealed image). */
static int
inspect_setupcomplete(struct img_session *s, const struct img_root *r,
		      struct stage *p, struct kp_error *err)
{
	static const char mark[] = "\\" FIRSTBOOT_DIR "\\";
	char *path, *text, *at, *line;
	size_t len = 0, n;

	path = img_path(s, r, SETUPCOMPLETE_REL, &p->setupcomplete, err);
	if (path == NULL)
		return -1;
	if (!p->setupcomplete) {
		free(path);
		return 0;
	}
	text = img_read(s, path, (size_t)1 << 20, &len, err);
	free(path);
	if (text == NULL)
		return -1;
	at = memmem(text, len, mark, sizeof(mark) - 1);
	if (at) {
		line = at;
		while (line > text && line[-1] != '\n')
			line--;
		n = strcspn(line, "\r\n");
		if (n >= sizeof(p->setupcomplete_kmsprep))
			n = sizeof(p->setupcomplete_kmsprep) - 1;
		memcpy(p->setupcomplete_kmsprep, line, n);
		p->setupcomplete_kmsprep[n] = '\0';
	}
	free(text);
	return 0;
}

/* A host kit staged: its files, and a key file still there. */
static int
inspect_kit(struct img_session *s, const struct img_root *r,
	    struct stage *p, struct kp_error *err)
{
	char *dir = img_path(s, r, "windows/" BOOTHOOK_KIT_DIR, &p->kit, err);
	char **names;
	size_t i, n, k = strlen(BOOTHOOK_KEY_SUFFIX);

	if (dir == NULL)
		return -1;
	if (!p->kit) {
		free(dir);
		return 0;
	}
	names = img_ls(s, dir, err);
	free(dir);
	if (names == NULL)
		return -1;
	for (i = 0; names[i]; i++) {
		n = strlen(names[i]);
		p->kit_files++;
		if (n > k && strcasecmp(names[i] + n - k,
					BOOTHOOK_KEY_SUFFIX) == 0)
			p->kit_key = true;
	}
	img_list_free(names);
	return 0;
}

int
gen_inspect(struct img_session *s, const struct img_root *r,
	    struct hive *software, struct hive *system, struct stage *p,
	    struct kp_error *err)
{
	char *path;
	int rc;

	memset(p, 0, sizeof(*p));
	p->lenient = true;
	read_arch(system, p->arch, sizeof(p->arch));
	p->image_state = read_sz(software, STATE_KEY, "ImageState", err);
	p->skip_rearm = read_skip_rearm(software, err);

	if (p->skip_rearm < -1 || setup_read(system, &p->setup, err) < 0)
		return -1;
	rc = guestfs_service(s, r, system, err);
	if (rc < 0)
		return -1;
	p->guestfs = rc == 1;
	path = img_path(s, r, GUESTFS_DIR "/scripts/" GUESTFS_ONE,
			&p->guestfs_one, err);
	if (path == NULL)
		return -1;
	free(path);
	path = img_path(s, r, GUESTFS_DIR "/scripts/" GUESTFS_TWO,
			&p->guestfs_two, err);
	if (path == NULL)
		return -1;
	free(path);
	if (inspect_gvlk(s, r, p, err) < 0)
		return -1;
	/* cloudbase-init's licensing options, and the host to compare. */
	registry_kms_host(software, p->kms_host, sizeof(p->kms_host));
	{
		static const char *const names[] = { CBI_CONF, CBI_UNATTEND };
		size_t i;

		for (i = 0; i < 2; i++) {
			char *guest, *text;
			size_t len = 0;

			if (cbi_read(s, r, names[i], &p->has_cbi[i],
				     &p->cbi[i], &guest, &text, &len,
				     err) < 0) {
				free(guest);
				return -1;
			}
			free(guest);
			free(text);
		}
	}
	if (inspect_setupcomplete(s, r, p, err) < 0 ||
	    inspect_kit(s, r, p, err) < 0)
		return -1;
	/* What the first boot of this copy did, if it has booted. */
	path = img_path(s, r, "windows/" FIRSTBOOT_DIR "/firstboot.log",
			&p->has_log, err);
	if (path == NULL)
		return -1;
	if (p->has_log) {
		size_t len;
		char *text = img_read(s, path, (size_t)1 << 20, &len, err);

		if (text == NULL) {
			free(path);
			return -1;
		}
		fb_log_parse(text, len, &p->log);
		free(text);
	}
	free(path);
	return find_answer_files(s, r, system, p, err);
}

static int choose_gvlk(struct hive *software, const char *opt, bool unlisted,
		       const char *how, const char **key, struct stage *p,
		       struct kp_error *err);

static const char skip_rearm_effect[] =
	"sysprep /generalize would have kept the licensing state, so every "
	"clone would share one client machine ID and the KMS host would count "
	"them as one machine";

/* ProductKey KEY into the answer file F Windows will use (its content, or
 * the new one OUT).  A key there already is replaced only when the user
 * named one (REPLACE); with auto it stays, said. */
static int
sysprep_key(struct stage_file *f, const char *arch, const char *key,
	    bool replace, struct buf *out, bool *changed, struct stage *p,
	    struct kp_error *err)
{
	struct buf in = BUF_INIT, found = BUF_INIT;
	const struct gvlk *old;
	bool ch = false;
	int rc;

	if (*changed) {
		in = *out;
		*out = (struct buf)BUF_INIT;
	} else if (buf_add(&in, f->content.data, f->content.len) < 0) {
		return kp_fail_oom(err);
	}
	rc = unattend_set_product_key(in.data, in.len, f->label, arch, key,
				      replace, out, &ch, &found, err);
	if (rc == 0 && !ch && *changed)
		rc = buf_add(out, in.data, in.len) < 0 ? kp_fail_oom(err) : 0;
	*changed |= ch;
	/* Only a key of the table is shown: another may be an
	 * organization's. */
	old = found.len ? gvlk_by_key(buf_str(&found)) : NULL;
	if (rc == 0 && found.len && strcasecmp(buf_str(&found), key) != 0 &&
	    gen_note(p, replace ? "%s: the ProductKey of its specialize pass "
		     "(%s) is replaced by %s" : "GVLK auto: %s gives "
		     "ProductKey %s in its specialize pass already: left as "
		     "it is; a key given explicitly replaces it (%s would be "
		     "auto's)", f->label, old ? old->key :
		     "a key that is not a KMS client setup key, not shown",
		     key) < 0)
		rc = kp_fail_oom(err);
	buf_wipe(&in);
	buf_wipe(&found);
	return rc;
}

static int stage_script(struct img_session *s, const struct img_root *r,
			const char *name, struct buf *text, struct stage *p,
			struct kp_error *err);

/* sysprep /generalize rearms Windows, not OSPP: stage Office's own rearm
 * where each copy runs it before Office first starts (the script's
 * comment in firstboot.c says why there and cites Microsoft). */
static int
sysprep_office(struct img_session *s, const struct img_root *r,
	       struct hive *software, struct stage *p,
	       struct kp_error *err)
{
	struct office_report o = { 0 };
	struct buf script = BUF_INIT;
	struct winver v = { 0 };
	size_t i;
	int rc = -1;

	if (winver_read(software, &v, err) < 0 ||
	    office_read(software, &v, &o, err) < 0 ||
	    bat_office_sysprep_script(&script, &o, err) < 0)
		goto out;
	for (i = 0; i < o.n; i++)
		if (o.inst[i].lic == OFFICE_LIC_OSPP &&
		    gen_note(p, "%s licenses through the Office Software "
			     "Protection Platform, which sysprep does not "
			     "rearm: Microsoft's guidance is OSPPREARM.EXE "
			     "before the image is captured; staged instead "
			     "from SetupComplete.cmd, which each copy runs "
			     "before anyone logs on, so that each has its own "
			     "Office client machine ID", o.inst[i].name) < 0) {
			kp_fail_oom(err);
			goto out;
		}
	rc = 0;
	if (script.len)
		rc = stage_script(s, r, OFFICE_REARM_CMD, &script, p, err) < 0 ||
		     gen_setup_complete(s, r, OFFICE_REARM_CALL,
					"Office's own rearm (sysprep mode)", p,
					err) < 0 ? -1 : 0;
out:
	buf_release(&script);
	office_report_release(&o);
	winver_release(&v);
	return rc;
}

static int
stage_sysprep(struct img_session *s, const struct img_root *r,
	      struct hive *software, struct hive *system, const char *gvlk_opt,
	      bool unlisted, struct stage *p, struct kp_error *err)
{
	struct stage_file *target = NULL;
	const char *key;
	size_t i;

	if (choose_gvlk(software, gvlk_opt, unlisted, "Windows Setup installs "
			"(answer file, specialize pass)", &key, p, err) < 0 ||
	    find_answer_files(s, r, system, p, err) < 0)
		return -1;
	/* The first file with a generalize pass is the one Windows uses. */
	for (i = 0; i < p->nfiles && target == NULL; i++)
		if (p->files[i].info.generalize)
			target = &p->files[i];
	if (target == NULL) {
		for (i = 0; i < p->nfiles && target == NULL; i++)
			if (strcasestr(p->files[i].guest,
				       "/System32/Sysprep/unattend.xml"))
				target = &p->files[i];
	}
	if (target == NULL) {
		if (look(s, r, SYSPREP_FILE, places[3].label, true, p,
			 err) < 0)
			return -1;
		target = &p->files[p->nfiles - 1];
	}
	for (i = 0; i < p->nfiles; i++) {
		struct stage_file *f = &p->files[i];
		struct buf out = BUF_INIT;
		bool changed = false;
		int rc;

		if (f->info.skip_rearm == 1 &&
		    gen_note(p, "%s had SkipRearm 1 in its generalize pass: %s; "
			 "set to 0", f->label, skip_rearm_effect) < 0)
			return kp_fail_oom(err);
		/* The file Windows will use, and any other that says 1. */
		if (f != target && f->info.skip_rearm != 1)
			continue;
		if (f->exists)
			rc = unattend_set_skip_rearm0(f->content.data,
						      f->content.len, f->label,
						      p->arch, &out, &changed,
						      err);
		else
			rc = unattend_new(p->arch, &out, err);
		changed |= !f->exists;
		if (rc == 0 && key && f == target)
			rc = sysprep_key(f, p->arch, key, strcmp(gvlk_opt,
				"auto") != 0, &out, &changed, p, err);
		if (rc < 0) {
			buf_release(&out);
			return -1;
		}
		if (f->exists && !changed) {
			buf_release(&out);
			continue;
		}
		buf_release(&f->content);
		f->content = out;
		f->write = true;
	}
	/* After the answer files: the loop above looks at every file. */
	return sysprep_office(s, r, software, p, err);
}

int
gen_add_file(struct img_session *s, const struct img_root *r, const char *rel,
	     const char *label, struct buf *text, bool secret,
	     struct stage *p, struct kp_error *err)
{
	struct stage_file *f = add_file(p);
	char *old;
	size_t len;

	if (f == NULL)
		return kp_fail_oom(err);
	f->secret = secret;
	f->content = *text;
	*text = (struct buf)BUF_INIT;
	f->guest = img_path(s, r, rel, &f->exists, err);
	if (f->guest == NULL)
		return -1;
	f->label = strdup(label);
	if (f->label == NULL)
		return kp_fail_oom(err);
	f->write = true;
	if (f->exists) {
		/* Scripts and keys are small; a kit's Office Volume License
		 * Pack is not, and a pack from an earlier kit may differ in
		 * size. */
		old = img_read(s, f->guest, f->content.len > ((size_t)1 << 20) ?
				       (size_t)128 << 20 : (size_t)1 << 20,
			       &len, err);
		if (old == NULL)
			return -1;
		f->write = len != f->content.len ||
			   memcmp(old, f->content.data, len) != 0;
		OPENSSL_cleanse(old, len);
		free(old);
	}
	return 0;
}


int
gen_setup_complete(struct img_session *s, const struct img_root *r,
		   const char *call, const char *about, struct stage *p,
		   struct kp_error *err)
{
	struct stage_file *planned = NULL;
	struct buf text = BUF_INIT;
	char *guest, *old = NULL;
	const char *body;
	bool exists;
	size_t len = 0, head = 0, i;
	bool echo_off = false;
	int rc = -1;

	guest = img_path(s, r, SETUPCOMPLETE_REL, &exists, err);
	if (guest == NULL)
		return -1;
	/* Planned already (a kit and Office's rearm): that text is the one
	 * to add to. */
	for (i = 0; i < p->nfiles && planned == NULL; i++)
		if (!p->files[i].remove &&
		    strcasecmp(p->files[i].guest, guest) == 0)
			planned = &p->files[i];
	if (planned) {
		body = planned->content.data;
		len = planned->content.len;
	} else if (exists) {
		old = img_read(s, guest, (size_t)1 << 20, &len, err);
		if (old == NULL)
			goto out;
		body = old;
	} else {
		body = "@echo off\r\n";
		len = strlen(body);
	}
	if (memmem(body, len, call, strlen(call))) {
		rc = 0;		/* there already */
		goto out;
	}
	/* cmd.exe reads a batch file a byte at a time: one in UTF-16 is
	 * not a file it runs, nor one to add a line to. */
	if (memchr(body, '\0', len)) {
		kp_fail(err, KP_ERR_REFUSED, "%s holds NUL bytes (UTF-16, or "
			"not text): not a batch file a line can be added to",
			SETUPCOMPLETE_LABEL);
		goto out;
	}
	/* First, after a leading "@echo off" (and a UTF-8 byte order mark):
	 * a script that ends with exit or del %0 would never reach a line
	 * at its end. */
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
		head = 3;
	if (len - head >= 9 && strncasecmp(body + head, "@echo off", 9) == 0) {
		const char *nl = memchr(body + head, '\n', len - head);

		head = nl ? (size_t)(nl - body) + 1 : len;
		echo_off = true;
	}
	if (buf_add(&text, body, head) < 0 ||
	    (echo_off && body[head - 1] != '\n' &&
	     buf_add(&text, "\r\n", 2) < 0) ||
	    buf_addf(&text, "rem Added by kmsprep: %s.\r\n%s\r\n", about,
		     call) < 0 ||
	    buf_add(&text, body + head, len - head) < 0) {
		kp_fail_oom(err);
		goto out;
	}
	if (planned) {
		buf_release(&planned->content);
		planned->content = text;
		text = (struct buf)BUF_INIT;
		planned->write = true;
		rc = 0;
	} else {
		rc = gen_add_file(s, r, SETUPCOMPLETE_REL, SETUPCOMPLETE_LABEL,
				  &text, false, p, err);
	}
out:
	buf_release(&text);
	free(guest);
	free(old);
	return rc;
}

int
gen_remove_file(struct img_session *s, const struct img_root *r,
		const char *rel, const char *label, struct stage *p,
		struct kp_error *err)
{
	struct stage_file f = { 0 };

	f.guest = img_path(s, r, rel, &f.exists, err);
	if (f.guest == NULL)
		return -1;
	if (!f.exists) {
		free(f.guest);
		return 0;
	}
	f.label = strdup(label);
	if (f.label == NULL || add_file(p) == NULL) {
		free(f.guest);
		free(f.label);
		return kp_fail_oom(err);
	}
	f.write = f.remove = true;
	p->files[p->nfiles - 1] = f;
	return 0;
}

/* A script file in the kmsprep directory, written only if it differs. */
static int
stage_script(struct img_session *s, const struct img_root *r,
	     const char *name, struct buf *text, struct stage *p,
	     struct kp_error *err)
{
	char rel[128], label[128];

	snprintf(rel, sizeof(rel), "windows/" FIRSTBOOT_DIR "/%s", name);
	snprintf(label, sizeof(label), "%%WINDIR%%\\" FIRSTBOOT_DIR "\\%s",
		 name);
	return gen_add_file(s, r, rel, label, text, false, p, err);
}

/* The first-boot scripts of clone mode, with the SPP values SOFTWARE holds
 * now (planned in P; written only if they differ from what is there). */
static int
clone_scripts(struct img_session *s, const struct img_root *r,
	      struct hive *software, bool activate, const char *gvlk,
	      bool guestfs, struct stage *p, struct kp_error *err)
{
	struct buf one = BUF_INIT, two = BUF_INIT, ps1 = BUF_INIT;
	struct spp_report rep = { 0 };
	struct office_report office = { 0 };
	struct winver v = { 0 };
	size_t i;
	int rc = -1;

	if (winver_read(software, &v, err) < 0 ||
	    spp_read(software, &v, &rep, err) < 0 ||
	    office_read(software, &v, &office, err) < 0)
		goto out;
	for (i = 0; i < office.n; i++)
		if (office.inst[i].lic == OFFICE_LIC_OSPP &&
		    gen_note(p, "%s licenses through the Office Software "
			     "Protection Platform: the first boot runs its "
			     "own rearm (ospprearm.exe) after Windows' and "
			     "puts its KMS settings back", office.inst[i].name)
		    < 0) {
			kp_fail_oom(err);
			goto out;
		}
	if (bat_clone_scripts(&rep, &office, activate, gvlk, guestfs, &one,
			      &two, err) < 0 ||
	    ps1_licensing(&ps1) < 0) {
		if (err->status == 0)
			kp_fail_oom(err);
		goto out;
	}
	/* Without --activate an older activation script goes: gen_refresh
	 * takes its presence as the choice. */
	if (guestfs) {
		if (gen_add_file(s, r, GUESTFS_DIR "/scripts/" GUESTFS_ONE,
				 GUESTFS_LABEL GUESTFS_ONE, &one, false, p,
				 err) < 0 ||
		    stage_script(s, r, FIRSTBOOT_PS1, &ps1, p, err) < 0 ||
		    (activate ? gen_add_file(s, r, GUESTFS_DIR "/scripts/"
					     GUESTFS_TWO, GUESTFS_LABEL
					     GUESTFS_TWO, &two, false, p, err) :
				gen_remove_file(s, r, GUESTFS_DIR "/scripts/"
						GUESTFS_TWO, GUESTFS_LABEL
						GUESTFS_TWO, p, err)) < 0)
			goto out;
	} else if (stage_script(s, r, "firstboot.cmd", &one, p, err) < 0 ||
	    stage_script(s, r, FIRSTBOOT_PS1, &ps1, p, err) < 0 ||
	    (activate ? stage_script(s, r, "firstboot-activate.cmd", &two, p,
				     err) :
			gen_remove_file(s, r, "windows/" FIRSTBOOT_DIR
					"/firstboot-activate.cmd",
					"%WINDIR%\\" FIRSTBOOT_DIR
					"\\firstboot-activate.cmd", p, err)) < 0)
		goto out;
	rc = 0;
out:
	buf_release(&one);
	buf_release(&two);
	buf_release(&ps1);
	office_report_release(&office);
	spp_report_release(&rep);
	winver_release(&v);
	return rc;
}

/* Refuse an image whose generalize pass has run already. */
static int
not_generalized(const struct stage *p, struct kp_error *err)
{
	char q[200];

	if (!gen_is_generalized(p->image_state))
		return 0;
	return kp_fail(err, KP_ERR_REFUSED,
		       "the image is generalized already (%s): sysprep "
		       "/generalize has run, and whether it rearmed was "
		       "decided then; there is nothing left to stage (start "
		       "it and generalize it again to change that)",
		       kp_quote(p->image_state, q, sizeof(q)));
}

/* Is G, a key of the table, the one for the Windows of V?  A key of
 * another edition or build fails its install at the first boot, long
 * after this run said it was done: KP_ERR_INVALID, naming the key that
 * fits.  An edition or build the table does not list cannot be checked:
 * refused unless UNLISTED (the caller's explicit word). */
static int
check_gvlk(const struct gvlk *g, const struct winver *v, bool unlisted,
	   struct kp_error *err)
{
	struct kp_error e2 = KP_ERROR_INIT;
	unsigned build = v->build ? (unsigned)strtoul(v->build, NULL, 10) : 0;
	const struct gvlk *fit = gvlk_find(v->edition, build, &e2);

	if (fit && strcmp(fit->key, g->key) == 0)
		return 0;
	if (fit)
		return kp_fail(err, KP_ERR_INVALID, "GVLK: %s is the key of %s, "
			       "but this image is %s (edition %s, build %u), "
			       "whose key is %s: its install would fail at the "
			       "first boot; give auto or that key", g->key,
			       g->product, fit->product, v->edition, build,
			       fit->key);
	if (unlisted)
		return 0;
	kp_fail(err, KP_ERR_INVALID, "GVLK: this image's edition %s (build "
		"%u) is not in Microsoft's table, so %s (the key of %s) cannot "
		"be checked against it", v->edition ? v->edition : "(unknown)",
		build, g->key, g->product);
	return kp_error_remedy(err, KP_REMEDY_GVLK_UNLISTED);
}

/*
 * The KMS client setup key for --gvlk OPT (NULL or "none": none) in *KEY,
 * a string of the table.  "auto" picks it by edition and build, and leaves
 * an image that holds a volume license key already (a GVLK, or a MAK by
 * DigitalProductId4's channel) alone; a key given is used as asked, but
 * only one of the table: an organization's key never goes into a script.
 * Installing a GVLK converts a retail, OEM or MAK installation into a KMS
 * client: https://learn.microsoft.com/en-us/windows-server/get-started/kms-client-activation-keys
 */
static int
choose_gvlk(struct hive *software, const char *opt, bool unlisted,
	    const char *how, const char **key, struct stage *p,
	    struct kp_error *err)
{
	struct winver v = { 0 };
	struct gvlk_state st;
	const struct gvlk *g;
	int rc = -1;

	*key = NULL;
	if (opt == NULL || strcmp(opt, "none") == 0)
		return 0;
	if (winver_read(software, &v, err) < 0 ||
	    gvlk_state_read(software, &st, err) < 0)
		goto out;
	if (strcmp(opt, "auto") != 0) {
		g = gvlk_by_key(opt);
		if (g == NULL) {
			kp_fail(err, KP_ERR_INVALID, "GVLK: not a KMS client "
				"setup key of Microsoft's table; an "
				"organization's key never goes into a "
				"first-boot script");
			kp_error_remedy(err, KP_REMEDY_GVLK_LIST);
			goto out;
		}
		if (check_gvlk(g, &v, unlisted, err) < 0)
			goto out;
	} else if (gvlk_state_volume(&st)) {
		if (gen_note(p, "GVLK auto: the image holds a volume license "
			     "key already (%s): left as it is; a key given "
			     "explicitly replaces it",
			     st.installed ? "a KMS client setup key" :
					    st.channel) < 0)
			goto oom;
		rc = 0;
		goto out;
	} else {
		g = gvlk_find(v.edition, v.build ? (unsigned)strtoul(v.build,
				NULL, 10) : 0, err);
		if (g == NULL) {
			kp_error_prefix(err, "GVLK auto");
			goto out;
		}
	}
	*key = g->key;
	if (gen_note(p, "%s the KMS client setup key of %s (%s)", how,
		     g->product, g->key) < 0)
		goto oom;
	rc = 0;
	goto out;
oom:
	kp_fail_oom(err);
out:
	winver_release(&v);
	return rc;
}

/* The GVLK the staged script REL installs, or NULL. */
static const char *
staged_gvlk(struct img_session *s, const struct img_root *r, const char *rel,
	    struct kp_error *err)
{
	static const char mark[] = "set \"KMSPREP_GVLK=";
	const struct gvlk *g = NULL;
	char *path, *text, *at, key[30];
	bool exists;
	size_t len;

	path = img_path(s, r, rel, &exists, err);
	if (path == NULL || !exists) {
		free(path);
		return NULL;
	}
	text = img_read(s, path, (size_t)1 << 20, &len, err);
	free(path);
	if (text == NULL)
		return NULL;
	at = memmem(text, len, mark, sizeof(mark) - 1);
	if (at && (size_t)(at - text) + sizeof(mark) - 1 + 29 <= len) {
		memcpy(key, at + sizeof(mark) - 1, 29);
		key[29] = '\0';
		g = gvlk_by_key(key);
	}
	free(text);
	return g ? g->key : NULL;
}

/* Will libguestfs' firstboot service run at the next boot?  Its scripts
 * folder, and its service still registered (it removes itself once every
 * script has run). */
static int
guestfs_service(struct img_session *s, const struct img_root *r,
		struct hive *system, struct kp_error *err)
{
	char cs[32], key[96], *path;
	hive_key k;
	bool exists;
	int rc;

	path = img_path(s, r, GUESTFS_DIR "/scripts", &exists, err);
	if (path == NULL)
		return -1;
	free(path);
	if (!exists)
		return 0;
	if (sys_control_set(system, cs, sizeof(cs), err) < 0)
		return -1;
	snprintf(key, sizeof(key), "%s\\Services\\firstboot", cs);
	rc = hive_find(system, key, &k, err);
	return rc < 0 ? -1 : rc == 1;
}

static int remove_key_scripts(struct img_session *s, const struct img_root *r,
			      struct stage *p, struct kp_error *err);
static bool hook_is(const struct setup_state *st, const char *cmdline);

static int
stage_clone(struct img_session *s, const struct img_root *r,
	    struct hive *software, struct hive *system, bool activate,
	    const char *gvlk_opt, bool unlisted, struct hive_changes *c,
	    struct stage *p, struct kp_error *err)
{
	const char *gvlk;
	char q[300];
	int guestfs;

	/* Another kmsprep first boot (a host kit's) must run first: the hook
	 * holds one command. */
	if (p->setup.ours && p->setup.setup_type &&
	    strcasecmp(p->setup.cmdline,
		       FIRSTBOOT_CMDLINE("firstboot.cmd")) != 0 &&
	    !hook_is(&p->setup, FIRSTBOOT_CMDLINE(FIRSTBOOT_KEY)))
		return kp_fail(err, KP_ERR_REFUSED, "another kmsprep first "
			       "boot is staged (%s); it would be replaced",
			       kp_quote(p->setup.cmdline, q, sizeof(q)));
	guestfs = guestfs_service(s, r, system, err);
	if (guestfs < 0 ||
	    choose_gvlk(software, gvlk_opt, unlisted, "the first boot installs",
			&gvlk, p, err) < 0)
		return -1;
	/* image set --gvlk's script becomes part of this one. */
	if (gvlk == NULL && gvlk_opt == NULL)
		gvlk = staged_gvlk(s, r, "windows/" FIRSTBOOT_DIR "/"
				   FIRSTBOOT_KEY, err);
	if (gvlk == NULL && gvlk_opt == NULL)
		gvlk = staged_gvlk(s, r, GUESTFS_DIR "/scripts/" GUESTFS_KEY,
				   err);
	if (clone_scripts(s, r, software, activate, gvlk, guestfs == 1, p,
			  err) < 0 ||
	    remove_key_scripts(s, r, p, err) < 0)
		return -1;
	/* One mechanism: the service's folder, not a hook of its own. */
	if (guestfs == 1)
		return gen_note(p, "libguestfs' firstboot service is installed "
				"(virt-customize, virt-v2v): it runs the "
				"scripts, in its order") < 0 ? kp_fail_oom(err) :
							       0;
	/* Sealed with sysprep /oobe (not generalized): the hook is Setup's
	 * own (oobe\windeploy.exe) until OOBE ends, and Setup then runs
	 * SetupComplete.cmd, as SYSTEM, before anyone logs on.  The script
	 * runs from there, and sets the hook for its second part itself. */
	if (gen_setup_pending(p->image_state) && !p->setup.ours &&
	    p->setup.cmdline && p->setup.cmdline[0]) {
		if (gen_setup_complete(s, r, "set \"KMSPREP_SETUPCOMPLETE=1\" & "
				       "call \"%SystemRoot%\\" FIRSTBOOT_DIR
				       "\\firstboot.cmd\"",
				       "clone mode's first boot", p, err) < 0)
			return -1;
		return gen_note(p, "Windows Setup is pending (sysprep /oobe): "
				"the first boot runs from SetupComplete.cmd at "
				"the end of OOBE, since SYSTEM\\Setup runs "
				"Setup's own command until then; SetupComplete.cmd "
				"must not restart Windows, so the rearm takes "
				"effect at the copy's next restart") < 0 ?
		       kp_fail_oom(err) : 0;
	}
	return setup_stage(system, FIRSTBOOT_CMDLINE("firstboot.cmd"), c, err);
}

/* Plan again the clone-mode scripts staged on R (P->setup read), with the
 * SPP values SOFTWARE holds now and the GVLK they install: KEY with
 * SET_KEY, else the one they install now.  1 if there are any. */
static int
refresh_staged(struct img_session *s, const struct img_root *r,
	       struct hive *software, bool set_key, const char *key,
	       struct stage *p, struct kp_error *err)
{
	char *act;
	bool activate, one;

	act = img_path(s, r, GUESTFS_DIR "/scripts/" GUESTFS_ONE, &one, err);
	if (act == NULL)
		return -1;
	free(act);
	if (one) {
		act = img_path(s, r, GUESTFS_DIR "/scripts/" GUESTFS_TWO,
			       &activate, err);
		if (act == NULL)
			return -1;
		free(act);
		if (!set_key)
			key = staged_gvlk(s, r, GUESTFS_DIR "/scripts/"
					  GUESTFS_ONE, err);
		return clone_scripts(s, r, software, activate, key, true, p,
				     err) < 0 ? -1 : 1;
	}
	if (!p->setup.ours || p->setup.setup_type == 0 ||
	    strcasecmp(p->setup.cmdline,
		       FIRSTBOOT_CMDLINE("firstboot.cmd")) != 0)
		return 0;
	act = img_path(s, r, "windows/" FIRSTBOOT_DIR "/firstboot-activate.cmd",
		       &activate, err);
	if (act == NULL)
		return -1;
	free(act);
	if (!set_key)
		key = staged_gvlk(s, r, "windows/" FIRSTBOOT_DIR
				  "/firstboot.cmd", err);
	return clone_scripts(s, r, software, activate, key, false, p, err) < 0 ?
		       -1 : 1;
}

int
gen_refresh(struct img_session *s, const struct img_root *r,
	    struct hive *software, struct hive *system, struct stage *p,
	    struct kp_error *err)
{
	memset(p, 0, sizeof(*p));
	if (setup_read(system, &p->setup, err) < 0)
		return -1;
	return refresh_staged(s, r, software, false, NULL, p, err) < 0 ? -1 : 0;
}

/* Remove image set --gvlk's script, in either place. */
static int
remove_key_scripts(struct img_session *s, const struct img_root *r,
		   struct stage *p, struct kp_error *err)
{
	return gen_remove_file(s, r, "windows/" FIRSTBOOT_DIR "/" FIRSTBOOT_KEY,
			       "%WINDIR%\\" FIRSTBOOT_DIR "\\" FIRSTBOOT_KEY, p,
			       err) < 0 ||
	       gen_remove_file(s, r, GUESTFS_DIR "/scripts/" GUESTFS_KEY,
			       GUESTFS_LABEL GUESTFS_KEY, p, err) < 0 ? -1 : 0;
}

static bool
hook_is(const struct setup_state *st, const char *cmdline)
{
	return st->ours && st->setup_type && st->cmdline &&
	       strcasecmp(st->cmdline, cmdline) == 0;
}

int
gen_set_gvlk(struct img_session *s, const struct img_root *r,
	     struct hive *software, struct hive *system, const char *opt,
	     bool unlisted, struct hive_changes *c, struct stage *p,
	     struct kp_error *err)
{
	struct buf f = BUF_INIT, ps1 = BUF_INIT;
	bool none = strcmp(opt, "none") == 0;
	const char *key = NULL;
	unsigned char zero[4];
	struct buf empty = BUF_INIT;
	char q[300];
	int rc, guestfs;

	memset(p, 0, sizeof(*p));
	if (setup_read(system, &p->setup, err) < 0 ||
	    (!none && choose_gvlk(software, opt, unlisted,
				  "the next boot installs",
				  &key, p, err) < 0))
		return -1;
	/* A staged clone first boot takes the key, before its rearm (auto
	 * that left the image alone keeps what it installs). */
	rc = refresh_staged(s, r, software, none || key, key, p, err);
	if (rc != 0)
		return rc < 0 ? -1 : key && gen_note(p, "GVLK: the key goes "
			"into the clone-mode first boot staged already, "
			"before its rearm") < 0 ? kp_fail_oom(err) :
			gen_check_dirs(s, p, err);
	guestfs = guestfs_service(s, r, system, err);
	if (guestfs < 0)
		return -1;
	if (none) {
		/* Unstage ours, and the hook if it runs it. */
		if (remove_key_scripts(s, r, p, err) < 0)
			return -1;
		if (!hook_is(&p->setup, FIRSTBOOT_CMDLINE(FIRSTBOOT_KEY)))
			return 0;
		regval_dword(0, zero);
		rc = regval_sz("", &empty) < 0 ? kp_fail_oom(err) :
		     hive_apply_value(system, c, "Setup", "SetupType", true,
				      REGT_DWORD, zero, 4, err) < 0 ||
		     hive_apply_value(system, c, "Setup", "CmdLine", true,
				      REGT_SZ, empty.data, empty.len, err) < 0 ?
			     -1 : 0;
		buf_release(&empty);
		return rc;
	}
	if (key == NULL)
		return 0;
	/* The hook holds one command: a host kit's must run first. */
	if (guestfs != 1 && p->setup.ours && p->setup.setup_type &&
	    !hook_is(&p->setup, FIRSTBOOT_CMDLINE(FIRSTBOOT_KEY)))
		return kp_fail(err, KP_ERR_REFUSED, "GVLK: another kmsprep "
			       "first boot is staged (%s); it would be "
			       "replaced", kp_quote(p->setup.cmdline, q,
						    sizeof(q)));
	rc = -1;
	if (bat_key_script(key, guestfs == 1, &f, err) < 0)
		goto out;
	if (ps1_licensing(&ps1) < 0) {
		kp_fail_oom(err);
		goto out;
	}
	if (guestfs == 1) {
		if (gen_add_file(s, r, GUESTFS_DIR "/scripts/" GUESTFS_KEY,
				 GUESTFS_LABEL GUESTFS_KEY, &f, false, p,
				 err) < 0 ||
		    stage_script(s, r, FIRSTBOOT_PS1, &ps1, p, err) < 0 ||
		    gen_note(p, "libguestfs' firstboot service is installed "
			     "(virt-customize, virt-v2v): it runs the script, "
			     "in its order") < 0)
			goto out;
	} else if (stage_script(s, r, FIRSTBOOT_KEY, &f, p, err) < 0 ||
		   stage_script(s, r, FIRSTBOOT_PS1, &ps1, p, err) < 0 ||
		   setup_stage(system, FIRSTBOOT_CMDLINE(FIRSTBOOT_KEY), c,
			       err) < 0) {
		goto out;
	}
	rc = gen_note(p, "GVLK: then it activates with the KMS settings "
		      "of the registry; no rearm") < 0 ? kp_fail_oom(err) :
		gen_check_dirs(s, p, err);
out:
	if (rc < 0 && err->status == 0)
		kp_fail_oom(err);
	buf_release(&f);
	buf_release(&ps1);
	return rc;
}

int
gen_prepare(struct img_session *s, const struct img_root *r,
	    struct hive *software, struct hive *system, enum gen_mode mode,
	    bool activate, const char *gvlk, bool unlisted,
	    struct hive_changes *c, struct stage *p, struct kp_error *err)
{
	struct spp_settings set;
	struct winver v = { 0 };
	int rc;

	memset(p, 0, sizeof(*p));
	read_arch(system, p->arch, sizeof(p->arch));
	p->image_state = read_sz(software, STATE_KEY, "ImageState", err);
	p->skip_rearm = read_skip_rearm(software, err);
	if (p->skip_rearm < -1)
		return -1;
	if (p->skip_rearm == 1 &&
	    gen_note(p, "SkipRearm was 1 in the registry: %s (and slmgr /rearm "
		 "would do nothing); set to 0", skip_rearm_effect) < 0)
		return kp_fail_oom(err);
	/* SkipRearm 0 in both modes: with 1, the rearm does nothing. */
	spp_settings_init(&set);
	rc = spp_set_onoff(&set, SPP_SKIP_REARM, false, err);
	if (rc == 0)
		rc = winver_read(software, &v, err);
	if (rc == 0)
		rc = spp_apply(&set, software, &v, c, err);
	spp_settings_release(&set);
	winver_release(&v);
	if (rc < 0)
		return -1;
	if (not_generalized(p, err) < 0)
		return -1;
	if (mode == GEN_SYSPREP)
		rc = stage_sysprep(s, r, software, system, gvlk, unlisted, p,
				   err);
	else if (setup_read(system, &p->setup, err) < 0)
		rc = -1;
	else
		rc = stage_clone(s, r, software, system, activate, gvlk,
				 unlisted, c, p, err);
	return rc < 0 ? -1 : gen_check_dirs(s, p, err);
}

size_t
stage_nwrites(const struct stage *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->nfiles; i++)
		n += p->files[i].write;
	return n;
}

/* Every file P writes: its directory checked (CHECK_ONLY) or made, and
 * the file written. */
static int
files(struct img_session *s, const struct stage *p, bool check_only,
      struct kp_error *err)
{
	size_t i;

	for (i = 0; i < p->nfiles; i++) {
		const struct stage_file *f = &p->files[i];
		char *dir;
		int rc;

		if (!f->write)
			continue;
		if (f->remove) {
			if (!check_only && img_remove(s, f->guest, err) < 0)
				return -1;
			continue;
		}
		dir = strndup(f->guest, (size_t)(strrchr(f->guest, '/') -
						 f->guest));
		if (dir == NULL)
			return kp_fail_oom(err);
		rc = img_mkdir(s, dir, check_only, err);
		free(dir);
		if (rc < 0)
			return -1;
		if (!check_only &&
		    img_replace_data(s, f->guest, f->content.data,
				     f->content.len, f->secret ? IMG_SECRET : 0,
				     err) < 0)
			return -1;
	}
	return 0;
}

int
gen_check_dirs(struct img_session *s, const struct stage *p,
	       struct kp_error *err)
{
	return files(s, p, true, err);
}

int
gen_write(struct img_session *s, const struct stage *p,
	  struct kp_error *err)
{
	return files(s, p, false, err);
}

void
stage_release(struct stage *p)
{
	size_t i;

	for (i = 0; i < p->nfiles; i++) {
		free(p->files[i].guest);
		free(p->files[i].label);
		buf_wipe(&p->files[i].content);
	}
	for (i = 0; i < p->nnotes; i++)
		free(p->notes[i]);
	free(p->files);
	free(p->notes);
	free(p->image_state);
	setup_release(&p->setup);
	memset(p, 0, sizeof(*p));
}

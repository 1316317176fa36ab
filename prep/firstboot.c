/* First-boot hook (SYSTEM\Setup) and .cmd script building. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "firstboot.h"
#include "hive/regf.h"
#include "hive/regval.h"
#include "lib/valid.h"

int
cmd_line(struct buf *f, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vaddf(f, fmt, ap);
	va_end(ap);
	return r < 0 ? -1 : buf_add(f, "\r\n", 2);
}

/* Can S go between double quotes in a reg.exe command line?  cmd reads
 * a batch file in the OEM code page, so only ASCII survives the trip; a
 * trailing backslash would escape the closing quote; cmd's line limit is
 * 8191 characters. */
static int
safe(const char *what, const char *s, struct kp_error *err)
{
	const unsigned char *p;
	size_t n = strlen(s);

	if (kp_check_safe(what, s, err) < 0) {
		err->status = KP_ERR_INPUT;
		kp_error_prefix(err, "cannot put it into a script");
		return -1;
	}
	for (p = (const unsigned char *)s; *p; p++)
		if (*p > 0x7e)
			return kp_fail(err, KP_ERR_INPUT, "%s: only ASCII can "
				       "go into a script", what);
	if ((n && s[n - 1] == '\\') || n > 4096)
		return kp_fail(err, KP_ERR_INPUT, "%s: %s cannot go into a "
			       "script", what, n > 4096 ? "a value this long" :
			       "a trailing backslash");
	return 0;
}

int
cmd_reg(struct buf *f, const char *key, const char *name, bool set,
	uint32_t type, const unsigned char *data, size_t len,
	struct kp_error *err)
{
	struct buf v = BUF_INIT;
	char **list = NULL;
	uint32_t dw;
	size_t n, i;
	int r = -1;

	if (safe("registry key", key, err) < 0 ||
	    safe("value name", name, err) < 0)
		return -1;
	if (!set) {
		r = cmd_line(f, "reg delete \"HKLM\\%s\" /v \"%s\" /f>>\"%%LOG%%\" "
			     "2>&1", key, name);
		goto log;
	}
	switch (type) {
	case REGT_DWORD:
		if (regval_get_dword(data, len, &dw) < 0)
			goto bad;
		r = cmd_line(f, "reg add \"HKLM\\%s\" /v \"%s\" /t REG_DWORD "
			     "/d %u /f>>\"%%LOG%%\" 2>&1", key, name, dw);
		break;
	case REGT_SZ:
		if (regval_get_sz(data, len, &v) < 0 ||
		    safe(name, buf_str(&v), err) < 0)
			goto bad;
		r = cmd_line(f, "reg add \"HKLM\\%s\" /v \"%s\" /t REG_SZ "
			     "/d \"%s\" /f>>\"%%LOG%%\" 2>&1", key, name,
			     buf_str(&v));
		break;
	case REGT_MULTI_SZ:
		if (regval_get_multi_sz(data, len, &list, &n) < 0)
			goto bad;
		buf_reset(&v);
		for (i = 0; i < n; i++) {
			/* reg.exe separates the strings with \0. */
			if (safe(name, list[i], err) < 0 ||
			    strstr(list[i], "\\0") ||
			    (i && buf_addstr(&v, "\\0") < 0) ||
			    buf_addstr(&v, list[i]) < 0)
				goto bad;
		}
		r = cmd_line(f, "reg add \"HKLM\\%s\" /v \"%s\" /t REG_MULTI_SZ "
			     "/d \"%s\" /f>>\"%%LOG%%\" 2>&1", key, name,
			     buf_str(&v));
		break;
	default:
		goto bad;
	}
log:
	if (r == 0)
		r = cmd_line(f, ">>\"%%LOG%%\" echo %s: exit code %%ERRORLEVEL%%",
			     name);
	goto out;
bad:
	if (err->status == 0)
		kp_fail(err, KP_ERR_INPUT,
			"value '%s' of '%s' cannot be written into a script",
			name, key);
	r = -1;
out:
	regval_free_list(list);
	buf_release(&v);
	return r;
}

int
cmd_clear_hook(struct buf *f)
{
	return cmd_line(f, "reg add \"HKLM\\SYSTEM\\Setup\" /v SetupType /t "
			"REG_DWORD /d 0 /f>nul") < 0 ||
			       cmd_line(f, "reg add \"HKLM\\SYSTEM\\Setup\" /v "
					"CmdLine /t REG_SZ /d \"\" /f>nul") < 0 ?
		       -1 : 0;
}

static int
items(struct buf *f, const char *key, const struct spp_item *it, size_t n,
      struct kp_error *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char k[300];

		if (it[i].secret || it[i].def == NULL ||
		    it[i].def == &spp_values[SPP_SKIP_REARM])
			continue;
		snprintf(k, sizeof(k), "SOFTWARE\\%s%s%s", key,
			 it[i].def->subkey ? "\\" : "",
			 it[i].def->subkey ? it[i].def->subkey : "");
		if (cmd_reg(f, k, it[i].name, true, it[i].type, it[i].data,
			    it[i].len, err) < 0)
			return -1;
	}
	return 0;
}

int
cmd_spp_values(struct buf *f, const struct spp_report *rep,
	       struct kp_error *err)
{
	size_t i;

	if (!rep->root_present)
		return 0;
	if (items(f, rep->root, rep->items, rep->n, err) < 0)
		return -1;
	for (i = 0; i < rep->nproducts; i++) {
		const struct spp_product *p = &rep->products[i];
		char k[300];

		snprintf(k, sizeof(k), "%s\\%s%s%s", rep->root, p->app,
			 p->act[0] ? "\\" : "", p->act);
		if (items(f, k, p->items, p->n, err) < 0)
			return -1;
	}
	return 0;
}

int
setup_read(struct hive *system, struct setup_state *st, struct kp_error *err)
{
	struct hive_value v;
	struct buf s = BUF_INIT;
	hive_key k;
	int r;

	memset(st, 0, sizeof(*st));
	r = hive_find(system, "Setup", &k, err);
	if (r <= 0)
		return r;
	r = hive_get(system, k, "SetupType", &v, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		regval_get_dword(v.data, v.len, &st->setup_type);
		hive_value_release(&v);
	}
	r = hive_get(system, k, "CmdLine", &v, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		if ((v.type == REGT_SZ || v.type == REGT_EXPAND_SZ) &&
		    regval_get_sz(v.data, v.len, &s) == 0)
			st->cmdline = buf_detach(&s, NULL);
		else if (asprintf(&st->cmdline, "(a value of type %u that "
				  "kmsprep cannot read)", v.type) < 0)
			st->cmdline = NULL;
		buf_release(&s);
		hive_value_release(&v);
		/* Whatever it holds, it is not ours to replace. */
		if (st->cmdline == NULL)
			return kp_fail_oom(err);
	}
	st->ours = setup_is_ours(st->cmdline);
	return 0;
}

bool
setup_is_ours(const char *cmdline)
{
	static const char prefix[] = FIRSTBOOT_CMD_PREFIX;
	size_t n = cmdline ? strlen(cmdline) : 0;

	return n >= sizeof(prefix) + 5 &&
	       strncasecmp(cmdline, prefix, sizeof(prefix) - 1) == 0 &&
	       strcasecmp(cmdline + n - 5, ".cmd\"") == 0 &&
	       strpbrk(cmdline + sizeof(prefix) - 1, "\\/") == NULL;
}

void
setup_release(struct setup_state *st)
{
	free(st->cmdline);
	memset(st, 0, sizeof(*st));
}

int
setup_stage(struct hive *system, const char *cmdline, struct hive_changes *c,
	    struct kp_error *err)
{
	struct setup_state st;
	struct buf sz = BUF_INIT;
	unsigned char two[4];
	char q[300];
	int r;

	if (setup_read(system, &st, err) < 0)
		return -1;
	if (st.cmdline && st.cmdline[0] && !st.ours) {
		kp_fail(err, KP_ERR_REFUSED,
			"SYSTEM\\Setup\\CmdLine already runs '%s' at the next "
			"boot (Windows' own setup, or another tool); it is not "
			"replaced", kp_quote(st.cmdline, q, sizeof(q)));
		setup_release(&st);
		return -1;
	}
	setup_release(&st);
	regval_dword(2, two);
	if (regval_sz(cmdline, &sz) < 0) {
		buf_release(&sz);
		return kp_fail_oom(err);
	}
	r = hive_apply_value(system, c, "Setup", "CmdLine", true, REGT_SZ,
			     sz.data, sz.len, err);
	if (r == 0)
		r = hive_apply_value(system, c, "Setup", "SetupType", true,
				     REGT_DWORD, two, 4, err);
	buf_release(&sz);
	return r;
}

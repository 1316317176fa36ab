/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Office installations and their KMS settings, read and written offline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "office.h"
#include "regf.h"
#include "regval.h"
#include "winver.h"

#define WOW "Wow6432Node\\"

/* MSI Office versions by their registry version (Office 2019 and later
 * are Click-to-Run only and also use 16.0). */
static const struct {
	const char *ver, *name;
} msi_versions[] = {
	{ .ver = "14.0", .name = "Office 2010" },
	{ .ver = "15.0", .name = "Office 2013" },
	{ .ver = "16.0", .name = "Office 2016" },
};

/*
 * Click-to-Run channels by the GUID ending their CDN URL, as Microsoft
 * lists the CDNBaseUrl values in "Manage Office 365 ProPlus updates with
 * Configuration Manager"
 * (https://learn.microsoft.com/mem/configmgr/sum/deploy-use/manage-office-365-proplus-updates,
 * under their old names Current, Deferred, First Release for Current and
 * for Deferred); the channels' present names are those of "Overview of
 * update channels for Microsoft 365 Apps"
 * (https://learn.microsoft.com/microsoft-365-apps/updates/overview-update-channels).
 * Monthly Enterprise and Beta are not on a Microsoft page we found; their
 * GUIDs are the ones administrators' scripts agree on.
 */
static const struct {
	const char *guid, *name;
} channels[] = {
	{ .guid = "492350f6-3a01-4f97-b9c0-c7c6ddf67d60",
	  .name = "Current Channel" },
	{ .guid = "64256afe-f5d9-4f86-8936-8840a6a4f5be",
	  .name = "Current Channel (Preview)" },
	{ .guid = "7ffbc6bf-bc32-4f92-8982-f9dd17fd3114",
	  .name = "Semi-Annual Enterprise Channel" },
	{ .guid = "b8f9b850-328d-4355-9145-c59439a0c4cf",
	  .name = "Semi-Annual Enterprise Channel (Preview)" },
	{ .guid = "55336b82-a18d-4dd6-b5f6-9e5095c314a6",
	  .name = "Monthly Enterprise Channel" },
	{ .guid = "5440fd1f-7ecb-4221-8110-145efaa6372f",
	  .name = "Beta Channel" },
};

const char *
office_lic_str(enum office_lic l)
{
	return l == OFFICE_LIC_OSPP ? "ospp" : "spp";
}

const char *
office_channel_name(const char *url)
{
	const char *slash;
	size_t i;

	if (url == NULL)
		return NULL;
	slash = strrchr(url, '/');
	slash = slash ? slash + 1 : url;
	for (i = 0; i < sizeof(channels) / sizeof(channels[0]); i++)
		if (strcasecmp(slash, channels[i].guid) == 0)
			return channels[i].name;
	return NULL;
}

/* REG_SZ value NAME of key PATH into *OUT (NULL if absent or not text). */
static int
get_sz(struct hive *h, const char *path, const char *name, char **out,
       struct kp_error *err)
{
	struct hive_value v;
	struct buf s = BUF_INIT;
	hive_key k;
	int r;

	*out = NULL;
	r = hive_find(h, path, &k, err);
	if (r <= 0)
		return r;
	r = hive_get(h, k, name, &v, err);
	if (r <= 0)
		return r;
	if ((v.type == REGT_SZ || v.type == REGT_EXPAND_SZ) &&
	    regval_get_sz(v.data, v.len, &s) == 0) {
		*out = buf_detach(&s, NULL);
		if (*out == NULL)
			r = kp_fail_oom(err);
	}
	buf_release(&s);
	hive_value_release(&v);
	return r < 0 ? -1 : 0;
}

/*
 * Which service licenses it: Office 2010 always OSPP; Office 2013 and
 * later OSPP on Windows 7 and earlier, Windows' SPP from Windows 8 (6.2)
 * on ("Tools to manage volume activation of Office", above: ospp.vbs
 * talks to the Office Software Protection Platform on Windows 7 and to
 * the Software Protection Platform on Windows 8 and later).  An unknown
 * Windows version is taken as Windows 8 or later.
 */
static enum office_lic
lic_for(const char *ver, const struct winver *v)
{
	if (strcmp(ver, "14.0") == 0)
		return OFFICE_LIC_OSPP;
	if (v && v->major && (v->major < 6 || (v->major == 6 && v->minor < 2)))
		return OFFICE_LIC_OSPP;
	return OFFICE_LIC_SPP;
}

static struct office_install *
add_install(struct office_report *r, struct kp_error *err)
{
	struct office_install *p = realloc(r->inst, (r->n + 1) * sizeof(*p));

	if (p == NULL) {
		kp_fail_oom(err);
		return NULL;
	}
	r->inst = p;
	p += r->n++;
	memset(p, 0, sizeof(*p));
	return p;
}

/* MSI Office: Microsoft\Office\<ver>\Common\InstallRoot's Path, in the
 * native view and (32-bit Office on 64-bit Windows) in Wow6432Node. */
static int
read_msi(struct hive *h, const struct winver *v, struct office_report *r,
	 struct kp_error *err)
{
	char key[128];
	size_t i;
	int w;

	for (i = 0; i < sizeof(msi_versions) / sizeof(msi_versions[0]); i++) {
		for (w = 0; w < 2; w++) {
			struct office_install *o;
			char *path;

			snprintf(key, sizeof(key),
				 "%sMicrosoft\\Office\\%s\\Common\\InstallRoot",
				 w ? WOW : "", msi_versions[i].ver);
			if (get_sz(h, key, "Path", &path, err) < 0)
				return -1;
			if (path == NULL)
				continue;
			o = add_install(r, err);
			if (o == NULL) {
				free(path);
				return -1;
			}
			o->kind = OFFICE_MSI;
			snprintf(o->version, sizeof(o->version), "%s",
				 msi_versions[i].ver);
			o->name = msi_versions[i].name;
			o->wow64 = w == 1;
			o->path = path;
			o->lic = lic_for(o->version, v);
		}
	}
	return 0;
}

/* Does the comma-separated list IDS hold a ...Volume product? */
static bool
has_volume(const char *ids)
{
	const char *p = ids;

	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n >= 6 && strncasecmp(p + n - 6, "Volume", 6) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/*
 * Click-to-Run (Office 2016 and later, Microsoft 365 Apps): its
 * Configuration key, as the Office Deployment Tool leaves it
 * (https://learn.microsoft.com/microsoft-365-apps/deploy/office-deployment-tool-configuration-options).
 * Office 2013's Click-to-Run (Office 365 ProPlus of 2013) keeps the same
 * values under Microsoft\Office\15.0\ClickToRun\Configuration and its
 * folder in InstallPath of 15.0\ClickToRun; Microsoft documents neither
 * key, so these are the places deployment scripts read them from.  Its
 * 32-bit edition on 64-bit Windows may be in Wow6432Node: both views are
 * read, the native one first.
 */
static int
read_c2r_at(struct hive *h, const struct winver *v, struct office_report *r,
	    const char *key, const char *ver, const char *name,
	    const char *root, struct kp_error *err)
{
	struct office_install *o;
	hive_key k;
	int rc;

	rc = hive_find(h, key, &k, err);
	if (rc <= 0)
		return rc;
	o = add_install(r, err);
	if (o == NULL)
		return -1;
	o->kind = OFFICE_C2R;
	snprintf(o->version, sizeof(o->version), "%s", ver);
	o->name = name;
	if (get_sz(h, key, "ProductReleaseIds", &o->products, err) < 0 ||
	    get_sz(h, key, "Platform", &o->platform, err) < 0 ||
	    get_sz(h, key, "VersionToReport", &o->c2r_version, err) < 0 ||
	    get_sz(h, key, "InstallationPath", &o->path, err) < 0 ||
	    (o->path == NULL && root &&
	     get_sz(h, root, "InstallPath", &o->path, err) < 0) ||
	    get_sz(h, key, "UpdateChannel", &o->channel_url, err) < 0 ||
	    (o->channel_url == NULL &&
	     get_sz(h, key, "CDNBaseUrl", &o->channel_url, err) < 0))
		return -1;
	o->channel = office_channel_name(o->channel_url);
	o->volume = has_volume(o->products);
	o->wow64 = r->win64 && o->platform &&
		   strcasecmp(o->platform, "x86") == 0;
	o->lic = lic_for(o->version, v);
	return 1;
}

static int
read_c2r(struct hive *h, const struct winver *v, struct office_report *r,
	 struct kp_error *err)
{
	int rc;

	if (read_c2r_at(h, v, r, OFFICE_C2R_KEY, "16.0",
			"Microsoft 365 Apps / Office 2016 and later", NULL,
			err) < 0)
		return -1;
	rc = read_c2r_at(h, v, r, OFFICE_C2R15_KEY "\\Configuration", "15.0",
			 "Office 2013 Click-to-Run", OFFICE_C2R15_KEY, err);
	if (rc == 0 && r->win64)
		rc = read_c2r_at(h, v, r, WOW OFFICE_C2R15_KEY "\\Configuration",
				 "15.0", "Office 2013 Click-to-Run",
				 WOW OFFICE_C2R15_KEY, err);
	return rc < 0 ? -1 : 0;
}

static int
add_kms(struct office_report *r, struct hive *h, const char *key,
	const char *scope, const char *act, bool always,
	struct kp_error *err)
{
	struct office_kms *k;
	char *name, *port;

	if (get_sz(h, key, "KeyManagementServiceName", &name, err) < 0)
		return -1;
	if (get_sz(h, key, "KeyManagementServicePort", &port, err) < 0) {
		free(name);
		return -1;
	}
	if (!always && name == NULL && port == NULL)
		return 0;
	k = realloc(r->kms, (r->nkms + 1) * sizeof(*k));
	if (k == NULL || (k[r->nkms].key = strdup(key)) == NULL) {
		if (k)
			r->kms = k;
		free(name);
		free(port);
		return kp_fail_oom(err);
	}
	r->kms = k;
	k += r->nkms++;
	k->scope = scope;
	snprintf(k->act, sizeof(k->act), "%s", act ? act : "");
	k->name = name;
	k->port = port;
	return 0;
}

/* The KMS settings Office reads: the OSPP key(s) for OSPP-based Office,
 * Office's application key and its per-SKU subkeys under Windows' SPP
 * key for SPP-based Office. */
static int
read_kms(struct hive *h, const struct winver *v, struct office_report *r,
	 struct kp_error *err)
{
	bool ospp = false, spp = false, wow = false;
	char key[sizeof(SPP_KEY) + KP_GUID_LEN * 2 + 8];
	hive_key k, *sub = NULL;
	size_t i, n = 0;
	int rc;

	for (i = 0; i < r->n; i++) {
		if (r->inst[i].lic == OFFICE_LIC_OSPP) {
			ospp = true;
			wow |= r->inst[i].wow64;
		} else {
			spp = true;
		}
	}
	if (ospp && add_kms(r, h, OFFICE_OSPP_KEY, "ospp", NULL, true,
			    err) < 0)
		return -1;
	if (ospp && wow && add_kms(r, h, WOW OFFICE_OSPP_KEY, "ospp-wow64",
				   NULL, true, err) < 0)
		return -1;
	if (!spp)
		return 0;
	snprintf(key, sizeof(key), "%s\\%s", spp_root(v), SPP_APP_OFFICE);
	if (add_kms(r, h, key, "spp-office", NULL, true, err) < 0)
		return -1;
	rc = hive_find(h, key, &k, err);
	if (rc <= 0)
		return rc;
	if (hive_subkeys(h, k, &sub, &n, err) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		char guid[KP_GUID_LEN + 1], path[sizeof(key) + KP_GUID_LEN + 2];
		char *name;

		name = hive_key_name(h, sub[i], err);
		if (name == NULL)
			goto fail;
		rc = kp_parse_guid("", name, guid, NULL);
		free(name);
		if (rc < 0)
			continue;
		snprintf(path, sizeof(path), "%s\\%s", key, guid);
		if (add_kms(r, h, path, "spp-sku", guid, false, err) < 0)
			goto fail;
	}
	free(sub);
	return 0;
fail:
	free(sub);
	return -1;
}

int
office_read(struct hive *h, const struct winver *v, struct office_report *r,
	    struct kp_error *err)
{
	hive_key k;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = hive_find(h, "Wow6432Node", &k, err);
	if (rc < 0)
		return -1;
	r->win64 = rc == 1;
	if (read_msi(h, v, r, err) < 0 || read_c2r(h, v, r, err) < 0 ||
	    read_kms(h, v, r, err) < 0) {
		office_report_release(r);
		return -1;
	}
	return 0;
}

void
office_report_release(struct office_report *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->inst[i].path);
		free(r->inst[i].products);
		free(r->inst[i].platform);
		free(r->inst[i].c2r_version);
		free(r->inst[i].channel_url);
	}
	free(r->inst);
	for (i = 0; i < r->nkms; i++) {
		free(r->kms[i].key);
		free(r->kms[i].name);
		free(r->kms[i].port);
	}
	free(r->kms);
	memset(r, 0, sizeof(*r));
}

static int
write_key(struct hive *h, const char *key, const struct office_kms_edit *e,
	  struct hive_changes *c, struct kp_error *err)
{
	const struct {
		bool touch, set;
		const char *value, *name;
	} v[] = {
		{ e->touch_name, e->set_name, e->name,
		  "KeyManagementServiceName" },
		{ e->touch_port, e->set_port, e->port,
		  "KeyManagementServicePort" },
	};
	struct buf d = BUF_INIT;
	size_t k;
	int r = 0;

	for (k = 0; k < 2 && r == 0; k++) {
		if (!v[k].touch)
			continue;
		buf_reset(&d);
		if (v[k].set && regval_sz(v[k].value, &d) < 0)
			r = kp_fail_oom(err);
		else
			r = hive_apply_value(h, c, key, v[k].name, v[k].set,
					     REGT_SZ, d.data,
					     v[k].set ? d.len : 0, err);
	}
	buf_release(&d);
	return r;
}

/*
 * OSPP-based Office reads KeyManagementServiceName and
 * KeyManagementServicePort (REG_SZ) under
 * HKLM\Software\Microsoft\OfficeSoftwareProtectionPlatform, what
 * ospp.vbs /sethst and /setprt set ("Tools to manage volume activation
 * of Office", above).  For 32-bit Office on 64-bit Windows, which view
 * the 32-bit OSPP reads is not documented: both views get the values
 * (the unused one is harmless).  SPP-based Office reads the same values
 * under Windows' SPP key, for its application ID or one of its SKUs, as
 * slmgr /skms with an Activation ID sets them
 * (https://learn.microsoft.com/windows-server/get-started/activation-slmgr-vbs-options).
 */
int
office_apply_kms(struct hive *h, const struct winver *v,
		 const struct office_kms_edit *e, struct hive_changes *c,
		 struct kp_error *err)
{
	struct office_report r;
	bool ospp = false, spp = false, wow = false;
	char key[sizeof(SPP_KEY) + KP_GUID_LEN * 2 + 8];
	const struct office_install *o = NULL;
	size_t i;
	int rc = -1;

	if (office_read(h, v, &r, err) < 0)
		return -1;
	if (r.n == 0) {
		rc = kp_fail(err, KP_ERR_INPUT,
			     "'%s': no Office installation found (no Office "
			     "2010-2016 InstallRoot, no Click-to-Run "
			     "configuration): nothing would read an Office KMS "
			     "host", hive_path(h));
		goto out;
	}
	for (i = 0; i < r.n; i++) {
		if (r.inst[i].lic == OFFICE_LIC_OSPP) {
			ospp = true;
			wow |= r.inst[i].wow64;
			o = &r.inst[i];
		} else {
			spp = true;
		}
	}
	if (e->act && e->act[0] && ospp) {
		rc = kp_fail(err, KP_ERR_INVALID,
			     "%s here uses the Office Software Protection "
			     "Platform, whose per-product KMS settings are not "
			     "documented; an Activation ID applies only to "
			     "Office on Windows 8 and later", o->name);
		goto out;
	}
	if (ospp && (write_key(h, OFFICE_OSPP_KEY, e, c, err) < 0 ||
		     (wow && write_key(h, WOW OFFICE_OSPP_KEY, e, c, err) < 0)))
		goto out;
	if (spp) {
		if (e->act && e->act[0])
			snprintf(key, sizeof(key), "%s\\%s\\%s", spp_root(v),
				 SPP_APP_OFFICE, e->act);
		else
			snprintf(key, sizeof(key), "%s\\%s", spp_root(v),
				 SPP_APP_OFFICE);
		if (write_key(h, key, e, c, err) < 0)
			goto out;
	}
	rc = 0;
out:
	office_report_release(&r);
	return rc;
}

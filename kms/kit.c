/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Lab KMS host kits: build, read and check. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "kit.h"
#include "prep/boothook.h"
#include "prep/gvlk.h"
#include "lib/buf.h"
#include "lib/digest.h"
#include "lib/fileio.h"
#include "lib/valid.h"
#include "srv.h"

/* Where the system-wide trusted-keys directory lives (make SYSCONFDIR=). */
#ifndef KP_SYSCONFDIR
#define KP_SYSCONFDIR "/etc"
#endif

/* The settings that describe a KMS host, and only they, have a manifest
 * name (hive/spp.c's table); nothing else goes in a kit. */
bool
kit_option_allowed(const char *opt)
{
	const struct spp_option *d = spp_option_find(opt);

	return d && d->kit_name;
}

/*
 * The Office KMS hosts, one a version: the Activation ID of the KMS host
 * product (what slmgr.vbs /ato and /dlv take) and the silent switch of
 * that version's Volume License Pack.
 * Activation IDs: 2016, 2019, LTSC 2021 and LTSC 2024 as Microsoft lists
 * them in "Tools to manage volume activation of Office"
 * (https://learn.microsoft.com/office/volume-license-activation/tools-to-manage-volume-activation-of-office)
 * and "Configure a KMS host computer to activate volume licensed versions
 * of Office"
 * (https://learn.microsoft.com/office/volume-license-activation/configure-a-kms-host-computer-for-office);
 * 2010 as Microsoft's support article "Activate Office 2010 KMS host
 * through phone activation" gives it (learn.microsoft.com/troubleshoot,
 * Microsoft 365 Apps).  2013's is the one administrators' scripts and
 * monitoring checks agree on; we found it on no Microsoft page we could
 * reach (the Office 2013 host is described in "Deploy volume activation
 * of Office 2013", https://technet.microsoft.com/library/ee624357.aspx).
 * Silent switch: /quiet, as the Office 2016 pack takes it; Microsoft's
 * download pages (2016: https://www.microsoft.com/download/details.aspx?id=49164,
 * 2019: ?id=57342, LTSC 2021: ?id=103446) say only that the .exe installs
 * the pack and opens the Volume Activation Tools wizard, so the switch of
 * the other versions is the same packaging's, not a documented fact.
 */
static const struct kit_office_host office_hosts[] = {
	{ .version = "2010", .name = "Office 2010",
	  .act = "bfe7a195-4f8f-4f0b-a622-cf13c7d16864", .quiet = "/quiet" },
	{ .version = "2013", .name = "Office 2013",
	  .act = "2e28138a-847f-42bc-9752-61b03fff33cd", .quiet = "/quiet" },
	{ .version = "2016", .name = "Office 2016",
	  .act = "98ebfe73-2084-4c97-932c-c0cd1643bea7", .quiet = "/quiet" },
	{ .version = "2019", .name = "Office 2019",
	  .act = "70512334-47b4-44db-a233-be5ea33b914c", .quiet = "/quiet" },
	{ .version = "2021", .name = "Office LTSC 2021",
	  .act = "47f3b983-7c53-4d45-abc6-bcd91e2dd90a", .quiet = "/quiet" },
	{ .version = "2024", .name = "Office LTSC 2024",
	  .act = "f3d89bbf-c0ec-47ce-a8fa-e5a5f97e447f", .quiet = "/quiet" },
};

const struct kit_office_host *
kit_office_host(const char *version)
{
	size_t i;

	for (i = 0; version && i < sizeof(office_hosts) /
					sizeof(office_hosts[0]); i++)
		if (strcmp(version, office_hosts[i].version) == 0)
			return &office_hosts[i];
	return NULL;
}

const char *
kit_office_versions(void)
{
	return "2010|2013|2016|2019|2021|2024";
}

int
kit_read_key(const char *path, char key[30], struct kp_error *err)
{
	struct buf raw = BUF_INIT;
	size_t i, n = 0;
	int r = -1;

	/* A key given where its file belongs must not come back in a
	 * message ("'KEY': cannot open"), nor one in a name like KEY.txt. */
	kp_secrets_in_memory();
	if (kp_find_key_shape(path, &i, &n))
		return kp_fail(err, KP_ERR_INVALID, "the key file's name looks "
			       "like a product key: put the key in a file, or "
			       "give - and pipe it in (a command line is "
			       "visible to every user)");
	if (kp_read_file(path, 4096, &raw, err) < 0)
		return -1;
	/* Letters and digits in five groups of five; surrounding space and
	 * a final newline are fine, anything else is not a key. */
	for (i = 0; i < raw.len; i++) {
		unsigned char c = (unsigned char)raw.data[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (n && n < 29)
				goto bad;
			continue;
		}
		if (n >= 29)
			goto bad;
		if (n % 6 == 5) {
			if (c != '-')
				goto bad;
		} else if (c >= 'a' && c <= 'z') {
			c = (unsigned char)(c - 'a' + 'A');
		} else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
			goto bad;
		}
		key[n++] = (char)c;
	}
	if (n != 29)
		goto bad;
	key[n] = '\0';
	/* A published KMS client setup key makes a KMS client: a host
	 * installing one never activates anyone.  Naming the product is
	 * safe: the key is Microsoft's, public, and not printed. */
	if (gvlk_by_key(key)) {
		kp_fail(err, KP_ERR_INVALID, "'%s': the KMS client setup key of "
			"%s (a published key for KMS clients); a KMS host needs "
			"the organization's KMS host key (CSVLK, from the Volume "
			"Licensing Service Center)", strcmp(path, "-") == 0 ?
			"standard input" : path, gvlk_by_key(key)->product);
		OPENSSL_cleanse(key, 30);
		goto out;
	}
	r = 0;
	goto out;
bad:
	OPENSSL_cleanse(key, 30);
	kp_fail(err, KP_ERR_INPUT, "'%s': not a product key (five groups "
		"of five letters or digits, XXXXX-XXXXX-XXXXX-XXXXX-XXXXX)",
		strcmp(path, "-") == 0 ? "standard input" : path);
out:
	buf_wipe(&raw);
	return r;
}

/*
 * Building.
 */

/* The Office KMS host's lines of the first-boot script, as "Configure a
 * KMS host computer to activate volume licensed versions of Office" has
 * an administrator do it by hand
 * (https://learn.microsoft.com/office/volume-license-activation/configure-a-kms-host-computer-for-office):
 * the Volume License Pack (silently), then the Office KMS host key into
 * Windows' Software Protection (slmgr.vbs /ipk: Office 2013 and later
 * host keys live there, as 2010's do with its pack), then activation of
 * that version's KMS host product by its Activation ID (slmgr.vbs /ato
 * ID).  The key takes the Windows host key's path: a file beside the
 * script, named by KMSPREP_KEYFILE, read by PowerShell, deleted after;
 * KMSPREP_ACTID tells licensing.ps1 which product to activate. */
static int
office_lines(struct buf *b, const struct kit_office_host *o)
{
	char ato[80];
	int r = 0;

	snprintf(ato, sizeof(ato), "ato \"%s\"", o->act);
	r |= bat_line(b, "rem %s KMS host: its Volume License Pack, then its "
		      "host key, activated", o->name);
	r |= bat_line(b, "rem by the Activation ID of its KMS host product.");
	r |= bat_line(b, "set \"KMSPREP_KEYFILE=%%~dp0" KIT_OFFICE_KEY "\"");
	r |= bat_line(b, "set \"KMSPREP_ACTID=%s\"", o->act);
	r |= bat_line(b, ">>\"%%LOG%%\" echo %s KMS host: Activation ID %s",
		      o->name, o->act);
	r |= bat_line(b, "if not exist \"%%~dp0" KIT_OFFICE_PACK "\" goto "
		      "noofficepack");
	r |= bat_line(b, "\"%%~dp0" KIT_OFFICE_PACK "\" %s>>\"%%LOG%%\" 2>&1",
		      o->quiet);
	r |= bat_line(b, ">>\"%%LOG%%\" echo office volume license pack: exit "
		      "code %%ERRORLEVEL%%");
	r |= bat_line(b, "if not exist \"%%KMSPREP_KEYFILE%%\" goto "
		      "noofficekey");
	r |= bat_line(b, "if not exist \"%%PS%%\" goto noofficeps");
	r |= bat_sl(b, "ipk", "office install key");
	r |= bat_line(b, "del /f /q \"%%KMSPREP_KEYFILE%%\">>\"%%LOG%%\" 2>&1");
	r |= bat_line(b, "if exist \"%%KMSPREP_KEYFILE%%\" >>\"%%LOG%%\" echo "
		      "the key file could not be deleted: delete "
		      "%%KMSPREP_KEYFILE%%");
	r |= bat_sl(b, ato, "office activate");
	r |= bat_line(b, "goto officedone");
	r |= bat_line(b, ":noofficepack");
	r |= bat_line(b, ">>\"%%LOG%%\" echo " KIT_OFFICE_PACK " is missing: "
		      "the Office KMS host is not set up");
	r |= bat_line(b, "goto officedone");
	r |= bat_line(b, ":noofficeps");
	r |= bat_line(b, ">>\"%%LOG%%\" echo Windows PowerShell is absent: the "
		      "Office key is not installed (it never goes on a command "
		      "line);");
	r |= bat_line(b, ">>\"%%LOG%%\" echo install it with slmgr.vbs /ipk and "
		      "/ato %s, then delete %%KMSPREP_KEYFILE%%", o->act);
	r |= bat_line(b, "goto officedone");
	r |= bat_line(b, ":noofficekey");
	r |= bat_line(b, ">>\"%%LOG%%\" echo no Office key in the kit: install "
		      "it with slmgr.vbs /ipk, then slmgr.vbs /ato %s", o->act);
	r |= bat_line(b, ":officedone");
	r |= bat_line(b, "set \"KMSPREP_ACTID=\"");
	return r;
}

/* The first-boot script.  It runs as SYSTEM from the kit's directory in
 * the image.  The key goes to Software Protection through WMI from
 * PowerShell (FIRSTBOOT_PS1), which reads it from the file named by an
 * environment variable, so that it is on no command line; the file is
 * deleted as soon as the call returns; like slmgr.vbs /ipk, licensing.ps1
 * then records the service's version as KeyManagementServiceVersion, the
 * key being a host's.  Without Windows PowerShell the key is not installed
 * (slmgr.vbs would need it on its command line). */
int
kit_provision_script(const struct kit_spec *spec, struct buf *b)
{
	int r = 0;

	r |= bat_line(b, "@echo off");
	r |= bat_line(b, "rem kmsprep lab KMS host kit for %s.", spec->host_name);
	r |= bat_line(b, "rem Runs once as SYSTEM at first boot: installs the "
		  "organization's KMS host key");
	r |= bat_line(b, "rem from " KIT_KEY " beside it and deletes that file, "
		  "activates the host,");
	r |= bat_line(b, "rem restarts the Software Protection service and records "
		  "the license state");
	r |= bat_line(b, "rem and every exit code in provision.log.");
	r |= bat_line(b, "setlocal");
	r |= bat_line(b, "set \"LOG=%%~dp0provision.log\"");
	r |= bat_line(b, "set \"KMSPREP_KEYFILE=%%~dp0" KIT_KEY "\"");
	r |= bat_line(b, ">>\"%%LOG%%\" echo %%DATE%% %%TIME%% kmsprep kit: "
		  "provisioning %s", spec->host_name);
	r |= bat_sl_setup(b);
	r |= bat_line(b, "if not exist \"%%KMSPREP_KEYFILE%%\" goto nokey");
	r |= bat_line(b, "if not exist \"%%PS%%\" goto nops");
	r |= bat_sl(b, "ipk", "install key");
	r |= bat_line(b, "del /f /q \"%%KMSPREP_KEYFILE%%\">>\"%%LOG%%\" 2>&1");
	r |= bat_line(b, "if exist \"%%KMSPREP_KEYFILE%%\" >>\"%%LOG%%\" echo the "
		  "key file could not be deleted: delete %%KMSPREP_KEYFILE%%");
	r |= bat_sl(b, "ato", "activate");
	r |= bat_line(b, "goto restart");
	r |= bat_line(b, ":nops");
	r |= bat_line(b, ">>\"%%LOG%%\" echo Windows PowerShell is absent: the "
		  "key is not installed (it never goes on a command line);");
	r |= bat_line(b, ">>\"%%LOG%%\" echo install it with slmgr.vbs /ipk and "
		  "/ato, then delete %%KMSPREP_KEYFILE%%");
	r |= bat_line(b, "goto restart");
	r |= bat_line(b, ":nokey");
	r |= bat_line(b, ">>\"%%LOG%%\" echo no key in the kit: install it with "
		  "slmgr.vbs /ipk, then slmgr.vbs /ato");
	r |= bat_line(b, ":restart");
	if (spec->office)
		r |= office_lines(b, spec->office->host);
	r |= bat_line(b, "net stop sppsvc>>\"%%LOG%%\" 2>&1");
	r |= bat_line(b, "net start sppsvc>>\"%%LOG%%\" 2>&1");
	r |= bat_line(b, ">>\"%%LOG%%\" echo restart sppsvc: exit code "
		  "%%ERRORLEVEL%%");
	r |= bat_sl(b, "dlv", "license state");
	r |= bat_line(b, "exit /b 0");
	r |= bat_sl_sub(b);
	return r ? -1 : 0;
}

/* The SRV records: every publish domain, else the host's own domain. */
static int
records(const struct kit_spec *spec, unsigned port, struct buf *b,
	struct kp_error *err)
{
	const struct spp_edit *e = &spec->settings->edit[SPP_PUBLISH_LIST];
	struct srv_set set = { NULL, 0 };
	const char *dot = strchr(spec->host_name, '.');
	size_t i;
	int r = 0;

	if (e->set && e->nlist) {
		for (i = 0; i < e->nlist && r == 0; i++) {
			struct spp_publish p;

			r = spp_parse_publish(e->list[i], &p, err);
			if (r == 0)
				r = srv_add(&set, p.domain, spec->host_name,
					    p.priority, p.weight, port,
					    KMS_TTL, err);
		}
	} else if (dot && dot[1]) {
		r = srv_add(&set, dot + 1, spec->host_name, 0, 0, port, KMS_TTL,
			    err);
	}
	if (r == 0 && buf_addstr(b, "; KMS SRV records for the lab DNS "
				 "(kmsprep kms publish can send them)\n") < 0)
		r = kp_fail_oom(err);
	if (r == 0)
		r = srv_format(&set, SRV_ZONE, b, err);
	srv_set_release(&set);
	return r;
}

/* The README tells the user which command line applies this kit,
 * so it names options: it is a document, not a library message. */
static const char *const apply_how[2] = {
	[0] = "--allow-unsigned\n(this kit is not signed: " /* README */
	      "build it with --sign to have it checked)", /* README */
	[1] = "--pubkey SIGNER.pub\n" /* README */
	      "(the public key of the kit's signer: it checks the signature)",
};

static int
readme(const struct kit_spec *spec, unsigned port, struct buf *b)
{
	struct buf office = BUF_INIT;
	int r;

	if (spec->office &&
	    buf_addf(&office, "It then sets up the %s KMS host: it installs "
		     "your Volume License Pack\n(" KIT_OFFICE_PACK ", "
		     "silently), installs the Office KMS host key%s\nand "
		     "activates it (Activation ID %s).\n\n",
		     spec->office->host->name,
		     spec->office->key ? " from " KIT_OFFICE_KEY " (then "
			     "deletes that file)" : " (none is in this kit: "
			     "install it\nby hand with slmgr.vbs /ipk)",
		     spec->office->host->act) < 0) {
		buf_release(&office);
		return -1;
	}
	r = buf_addf(b,
		"kmsprep lab KMS host kit for %s\n"
		"\n"
		"Apply it to a Windows Server image:\n"
		"  kmsprep kms kit apply KIT.tar.gz SERVER-IMAGE %s\n"
		"kmsprep verifies the kit, then writes the KMS host settings "
		"(SOFTWARE hive),\n"
		"an inbound firewall rule for TCP %u (SYSTEM hive: Windows' "
		"own Key Management\nService rule where the image has it) and "
		"provision.cmd, which\n"
		"runs once at first boot (SetupComplete.cmd on an image sealed "
		"with sysprep, else\n"
		"the SYSTEM\\Setup first-boot command).\n"
		"\n"
		"At first boot provision.cmd installs the KMS host key%s, "
		"activates it,\n"
		"restarts the Software Protection service and records the "
		"license state\n(what slmgr.vbs /dlv shows, read through WMI) "
		"in\n"
		"%%SystemRoot%%\\kmsprep\\kit\\provision.log.\n"
		"\n"
		"%s"
		"Clients find the host through the records in " KIT_RECORDS
		": add them to\n"
		"the lab zone, or send them with 'kmsprep kms publish'. Check "
		"the host with\n"
		"'slmgr.vbs /dli' (the count grows as clients activate) and "
		"event 12290 in\n"
		"the Key Management Service log; 'kmsprep kms discover DOMAIN' "
		"finds it as a\n"
		"client would.\n"
		"\n"
		"kmsprep does not implement KMS: the host is Windows' own "
		"Software Protection\n"
		"service, activated with your organization's key.\n",
		spec->host_name, spec->sign_key ? apply_how[1] : apply_how[0],
		port,
		spec->key ? " from " KIT_KEY " (then deletes that file)" :
			    " (none is in this kit: install it by hand with\n"
			    "slmgr.vbs /ipk, then slmgr.vbs /ato)", office.data ?
			    office.data : "") < 0 ? -1 : 0;
	buf_release(&office);
	return r;
}

/* Refuse to prompt for a passphrase: kmsprep never reads the terminal. */
static int
no_passphrase(char *buf, int size, int rw, void *u)
{
	(void)buf;
	(void)size;
	(void)rw;
	(void)u;
	return -1;
}

/* Read a PEM key file: private (PRIV) or public, Ed25519 only. */
static EVP_PKEY *
read_pem(const char *path, bool priv, struct kp_error *err)
{
	struct buf pem = BUF_INIT;
	EVP_PKEY *k = NULL;
	BIO *bio;

	if (priv)
		kp_secrets_in_memory();
	if (kp_read_file(path, 65536, &pem, err) < 0)
		return NULL;
	bio = BIO_new_mem_buf(pem.data, (int)pem.len);
	if (bio)
		k = priv ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase,
						   NULL) :
			   PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	buf_wipe(&pem);
	if (k == NULL) {
		kp_fail(err, KP_ERR_INPUT, "'%s': not a%s PEM %s key%s", path,
			priv ? "n unencrypted" : "", priv ? "private" :
							     "public",
			priv ? " (openssl genpkey -algorithm ed25519)" : "");
		return NULL;
	}
	if (EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		kp_fail(err, KP_ERR_INPUT, "'%s': not an Ed25519 key", path);
		return NULL;
	}
	return k;
}

static int
sign(const char *keypath, const char *msg, size_t len, struct buf *out,
     struct kp_error *err)
{
	EVP_PKEY *k = read_pem(keypath, true, err);
	EVP_MD_CTX *ctx = NULL;
	unsigned char sig[64];
	size_t siglen = sizeof(sig);
	char b64[100];
	int r = -1;

	if (k == NULL)
		return -1;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg,
			   len) != 1 || siglen != 64) {
		kp_fail(err, KP_ERR_FAIL, "'%s': cannot sign", keypath);
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)b64, sig, 64);
	r = buf_addf(out, "%s\n", b64) < 0 ? kp_fail_oom(err) : 0;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return r;
}

struct entry {
	const char *name;
	struct buf data;
	unsigned mode;
};

static json_t *
manifest(const struct kit_spec *spec, unsigned port, const struct entry *e,
	 size_t n)
{
	json_t *files = json_array(), *set = json_array(), *m;
	const struct spp_settings *s = spec->settings;
	char sum[65];
	size_t i;

	/* Settings by their manifest names (format 2), not option names. */
	for (i = 0; i < s->ngiven; i++)
		json_array_append_new(set, json_pack(
			"{s:s, s:s?}", "setting",
			spp_option_find(s->given[i].opt)->kit_name, "value",
			s->given[i].arg));
	for (i = 0; i < n; i++) {
		char mode[8];

		kp_sha256_hex(e[i].data.data, e[i].data.len, sum);
		snprintf(mode, sizeof(mode), "%04o", e[i].mode);
		json_array_append_new(files, json_pack(
			"{s:s, s:I, s:s, s:s}", "name", e[i].name, "size",
			(json_int_t)e[i].data.len, "mode", mode, "sha256", sum));
	}
	m = json_pack("{s:s, s:i, s:s, s:i, s:b, s:o, s:o}", "format",
		      KIT_FORMAT, "version", spec->office ? KIT_VERSION : 2,
		      "host_name", spec->host_name, "port", (int)port,
		      "key_included", spec->key != NULL, "settings", set,
		      "files", files);
	/* Format 3: the Office KMS host, by version and Activation ID (the
	 * reader checks both against its table). */
	if (m && spec->office &&
	    json_object_set_new(m, "office", json_pack(
		    "{s:s, s:s, s:b}", "version", spec->office->host->version,
		    "activation_id", spec->office->host->act, "key_included",
		    spec->office->key != NULL)) < 0) {
		json_decref(m);
		m = NULL;
	}
	return m;
}

static int
add_entry(struct archive *a, const char *name, const void *data, size_t len,
	  unsigned mode, struct kp_error *err)
{
	struct archive_entry *e = archive_entry_new();
	int r = -1;

	if (e == NULL)
		return kp_fail_oom(err);
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, mode);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (len && archive_write_data(a, data, len) != (la_ssize_t)len))
		kp_fail(err, KP_ERR_FAIL, "cannot write the kit: %s",
			archive_errno(a) > 0 ? strerror(archive_errno(a)) :
					       archive_error_string(a));
	else
		r = 0;
	archive_entry_free(e);
	return r;
}

int
kit_build(const struct kit_spec *spec, const char *path, struct kp_error *err)
{
	const struct spp_edit *lp = &spec->settings->edit[SPP_LISTEN_PORT];
	const struct kit_office *o = spec->office;
	struct entry e[6] = {
		{ KIT_SCRIPT, BUF_INIT, 0644 },
		{ KIT_RECORDS, BUF_INIT, 0644 },
		{ KIT_README, BUF_INIT, 0644 },
		{ KIT_KEY, BUF_INIT, 0600 },
		{ KIT_OFFICE_PACK, BUF_INIT, 0644 },
		{ KIT_OFFICE_KEY, BUF_INIT, 0600 },
	};
	bool secret = spec->key || (o && o->key);
	struct kp_tmpfile t = KP_TMPFILE_INIT;
	struct kp_commit_opts co = { NULL, secret ? 0600 : 0644, false,
				     NULL };
	struct archive *a = NULL;
	struct buf sig = BUF_INIT;
	size_t n = 3, i, ko, kl;
	unsigned long port = KMS_PORT;
	char *mtext = NULL;
	json_t *m;
	int r = -1;

	if (!kp_is_hostname(spec->host_name, false) ||
	    strchr(spec->host_name, '.') == NULL)
		return kp_fail(err, KP_ERR_INVALID, "host name '%s': expected the "
			       "host's fully qualified name",
			       spec->host_name);
	/* A key pasted into a name would be written into the kit's
	 * manifest, script and README. */
	if (kp_find_key_shape(spec->host_name, &i, &kl))
		return kp_fail(err, KP_ERR_INVALID, "host name: the value holds "
			       "what looks like a product key; it is not shown "
			       "or written into the kit (a key belongs in the "
			       "key file)");
	for (i = 0; i < spec->settings->ngiven; i++)
		if (spec->settings->given[i].arg &&
		    kp_find_key_shape(spec->settings->given[i].arg, &ko, &kl))
			return kp_fail(err, KP_ERR_INVALID, "%s: the value "
				       "holds what looks like a product key; "
				       "it is not shown or written into the "
				       "kit (a key belongs in the key file)",
				       spec->settings->given[i].opt);
	for (i = 0; i < spec->settings->ngiven; i++)
		if (!kit_option_allowed(spec->settings->given[i].opt))
			return kp_fail(err, KP_ERR_INVALID, "%s is not a KMS "
				       "host setting; a kit cannot carry it",
				       spec->settings->given[i].opt);
	if (lp->set && lp->sz &&
	    kp_parse_uint(lp->option, lp->sz, 1, 65535, &port, err) < 0)
		return -1;
	if (o && (o->host == NULL || o->pack == NULL))
		return kp_fail(err, KP_ERR_INVALID, "an Office KMS host needs "
			       "its version and its Volume License Pack");
	if (kit_provision_script(spec, &e[0].data) < 0 ||
	    readme(spec, (unsigned)port, &e[2].data) < 0 ||
	    (spec->key && (buf_addstr(&e[3].data, spec->key) < 0 ||
			   buf_add(&e[3].data, "\r\n", 2) < 0)) ||
	    (o && o->key && (buf_addstr(&e[5].data, o->key) < 0 ||
			     buf_add(&e[5].data, "\r\n", 2) < 0))) {
		kp_fail_oom(err);
		goto out;
	}
	/* The pack is the administrator's own download; all kmsprep asks of
	 * it is that it be a Windows program (MZ) of a kit member's size. */
	if (o) {
		if (kp_read_file(o->pack, KIT_MAX_PACK, &e[4].data, err) < 0)
			goto out;
		if (e[4].data.len < 64 || memcmp(e[4].data.data, "MZ", 2) != 0) {
			kp_fail(err, KP_ERR_INPUT, "'%s': not a Windows program "
				"(an Office Volume License Pack is an .exe)",
				o->pack);
			goto out;
		}
	}
	if (spec->key)
		n++;
	if (o) {
		/* The entries go in order, without gaps. */
		if (!spec->key) {
			e[3].name = e[4].name;
			e[3].data = e[4].data;
			e[3].mode = e[4].mode;
			e[4].data = (struct buf)BUF_INIT;
		}
		n++;
		if (o->key) {
			e[n].name = e[5].name;
			e[n].mode = e[5].mode;
			if (n != 5) {
				e[n].data = e[5].data;
				e[5].data = (struct buf)BUF_INIT;
			}
			n++;
		}
	}
	if (records(spec, (unsigned)port, &e[1].data, err) < 0)
		goto out;
	m = manifest(spec, (unsigned)port, e, n);
	mtext = m ? json_dumps(m, JSON_INDENT(2)) : NULL;
	json_decref(m);
	if (mtext == NULL) {
		kp_fail_oom(err);
		goto out;
	}
	if (spec->sign_key &&
	    sign(spec->sign_key, mtext, strlen(mtext), &sig, err) < 0)
		goto out;
	if (kp_tmpfile_open(&t, path, err) < 0)
		goto out;
	a = archive_write_new();
	if (a == NULL || archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_fd(a, t.fd) != ARCHIVE_OK) {
		kp_fail(err, KP_ERR_FAIL, "cannot write the kit: %s",
			a ? archive_error_string(a) : "out of memory");
		goto out;
	}
	if (add_entry(a, KIT_MANIFEST, mtext, strlen(mtext), 0644, err) < 0 ||
	    (sig.len && add_entry(a, KIT_SIGNATURE, sig.data, sig.len, 0644,
				  err) < 0))
		goto out;
	for (i = 0; i < n; i++)
		if (add_entry(a, e[i].name, e[i].data.data, e[i].data.len,
			      e[i].mode, err) < 0)
			goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		kp_fail(err, KP_ERR_FAIL, "'%s': cannot write the kit: %s",
			path, archive_errno(a) > 0 ?
				      strerror(archive_errno(a)) :
				      archive_error_string(a));
		goto out;
	}
	r = kp_tmpfile_commit(&t, &co, err) < 0 ? -1 : 0;
out:
	if (a)
		archive_write_free(a);
	kp_tmpfile_discard(&t);
	for (i = 0; i < 6; i++)
		buf_wipe(&e[i].data);
	buf_release(&sig);
	free(mtext);
	return r;
}

/*
 * Reading.
 */

/* A kit member's name: plain, no path, no surprises. */
static bool
plain_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") == n;
}

static int
bad(struct kp_error *err, const char *path, const char *fmt, ...)
	KP_PRINTF(3, 4);

static int
bad(struct kp_error *err, const char *path, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kp_fail(err, KP_ERR_INPUT, "'%s': %s", path, msg);
}

/* Every member of the archive, checked, into F (manifest and signature
 * included). */
static int
read_members(const char *path, struct kit_file **f, size_t *n,
	     struct kp_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct stat st;
	size_t total = 0, i;
	int fd, rc, r = -1;
	char q[96];

	*f = NULL;
	*n = 0;
	if (a == NULL)
		return kp_fail_oom(err);
	fd = kp_open_input(path, &st, err);
	if (fd < 0)
		goto out;
	if ((uint64_t)st.st_size > KIT_MAX_ARCHIVE) {
		bad(err, path, "larger than %zu bytes: not a kit",
		    KIT_MAX_ARCHIVE);
		goto out;
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 16384) != ARCHIVE_OK) {
		bad(err, path, "not a kit (a gzip'd tar): %s",
		    archive_error_string(a));
		goto out;
	}
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		struct kit_file *v;
		la_int64_t size = archive_entry_size(e);
		la_ssize_t got;

		name = name ? name : "";
		kp_quote(name, q, sizeof(q));
		if (archive_entry_hardlink(e) || archive_entry_symlink(e) ||
		    archive_entry_filetype(e) != AE_IFREG) {
			bad(err, path, "'%s' is not a regular file (a link, "
			    "directory or device): refused", q);
			goto out;
		}
		if (!plain_name(name)) {
			bad(err, path, "member name '%s' refused (absolute, "
			    "'..', a directory or an unusual character)", q);
			goto out;
		}
		for (i = 0; i < *n; i++)
			if (strcmp((*f)[i].name, name) == 0) {
				bad(err, path, "'%s' is in the kit twice", q);
				goto out;
			}
		if (*n == KIT_MAX_ENTRIES) {
			bad(err, path, "more than %d members", KIT_MAX_ENTRIES);
			goto out;
		}
		if (size < 0 || (uint64_t)size > (strcmp(name, KIT_OFFICE_PACK) ?
						  KIT_MAX_ENTRY : KIT_MAX_PACK) ||
		    total + (size_t)size > KIT_MAX_ARCHIVE) {
			bad(err, path, "'%s' is too large for a kit", q);
			goto out;
		}
		v = realloc(*f, (*n + 1) * sizeof(*v));
		if (v == NULL) {
			kp_fail_oom(err);
			goto out;
		}
		*f = v;
		v += (*n)++;
		memset(v, 0, sizeof(*v));
		v->name = strdup(name);
		v->data = malloc((size_t)size + 1);
		v->mode = archive_entry_perm(e) & 07777;
		if (v->name == NULL || v->data == NULL) {
			kp_fail_oom(err);
			goto out;
		}
		/* Read no more than the header promised, and all of it. */
		got = size ? archive_read_data(a, v->data, (size_t)size) : 0;
		if (got != size) {
			bad(err, path, "'%s' is truncated or damaged", q);
			goto out;
		}
		v->len = (size_t)size;
		v->data[v->len] = '\0';
		total += v->len;
	}
	if (rc != ARCHIVE_EOF) {
		bad(err, path, "damaged archive: %s", archive_error_string(a));
		goto out;
	}
	r = 0;
out:
	archive_read_free(a);
	if (fd >= 0)
		close(fd);
	return r;
}

/* Does SIG (base64 Ed25519, as kit build writes it) sign MSG with K? */
static bool
sig_matches(EVP_PKEY *k, const struct kit_file *sig, const char *msg,
	    size_t len)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char raw[100];
	size_t n = sig->len;
	bool ok;
	int dec;

	while (n && (sig->data[n - 1] == '\n' || sig->data[n - 1] == '\r'))
		n--;
	dec = n == 88 ? EVP_DecodeBlock(raw, sig->data, 88) : -1;
	ctx = EVP_MD_CTX_new();
	ok = dec == 66 && ctx != NULL &&
	     EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
	     EVP_DigestVerify(ctx, raw, 64, (const unsigned char *)msg,
			      len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Check SIG against the NKEYS public key files KEYS; *SIGNER is the
 * first that matches.  Every key file is read and checked first, every
 * time: one that is not an Ed25519 public key is an error, never skipped
 * because another matched before it (a broken trust store must show). */
static int
verify_sig(char *const *keys, size_t nkeys, const struct kit_file *sig,
	   const char *msg, size_t len, const char *path, const char **signer,
	   struct kp_error *err)
{
	EVP_PKEY **k = calloc(nkeys ? nkeys : 1, sizeof(*k));
	size_t i;
	int r = 0;

	if (k == NULL)
		return kp_fail_oom(err);
	for (i = 0; i < nkeys && r == 0; i++)
		if ((k[i] = read_pem(keys[i], false, err)) == NULL)
			r = -1;
	for (i = 0; i < nkeys && r == 0 && *signer == NULL; i++)
		if (sig_matches(k[i], sig, msg, len))
			*signer = keys[i];
	for (i = 0; i < nkeys; i++)
		EVP_PKEY_free(k[i]);
	free(k);
	if (r < 0 || *signer)
		return r;
	if (nkeys == 1)
		return bad(err, path, "the signature does not match the "
			   "manifest and the key '%s': the kit was changed or "
			   "signed by another key", keys[0]);
	return bad(err, path, "the signature matches none of the %zu trusted "
		   "keys: the kit was changed or signed by another key", nkeys);
}

static void
free_file(struct kit_file *f)
{
	if (f->data)
		OPENSSL_cleanse(f->data, f->len);
	free(f->data);
	free(f->name);
}

/* Check the members against the parsed manifest M; move the listed files
 * into K in manifest order. */
static int
check_files(const char *path, json_t *m, struct kit_file *f, size_t n,
	    struct kit *k, struct kp_error *err)
{
	json_t *files = json_object_get(m, "files"), *it;
	bool *listed = calloc(n + 1, sizeof(bool));
	size_t *order = calloc(KIT_MAX_ENTRIES + 1, sizeof(size_t));
	size_t i, j;
	int r = -1;

	if (listed == NULL || order == NULL) {
		kp_fail_oom(err);
		goto out;
	}
	if (!json_is_array(files) || json_array_size(files) > KIT_MAX_ENTRIES) {
		bad(err, path, "the manifest has no list of files");
		goto out;
	}
	k->files = calloc(json_array_size(files) + 1, sizeof(*k->files));
	if (k->files == NULL) {
		kp_fail_oom(err);
		goto out;
	}
	json_array_foreach(files, i, it) {
		const char *name = NULL, *sum = NULL, *mode = "0644";
		json_int_t size = -1;
		char got[65];

		if (json_unpack(it, "{s:s, s:I, s:s, s?:s}", "name", &name,
				"size", &size, "sha256", &sum, "mode",
				&mode) < 0 || !plain_name(name) ||
		    strcmp(name, KIT_MANIFEST) == 0 ||
		    strcmp(name, KIT_SIGNATURE) == 0) {
			bad(err, path, "manifest entry %zu is malformed", i + 1);
			goto out;
		}
		for (j = 0; j < n && strcmp(f[j].name, name) != 0; j++)
			;
		if (j == n) {
			bad(err, path, "'%s' is in the manifest but not in the "
			    "kit", name);
			goto out;
		}
		if (listed[j]) {
			bad(err, path, "'%s' is listed twice", name);
			goto out;
		}
		listed[j] = true;
		if (size < 0 || (size_t)size != f[j].len) {
			bad(err, path, "'%s' has %zu bytes, the manifest says "
			    "%lld", name, f[j].len, (long long)size);
			goto out;
		}
		kp_sha256_hex(f[j].data, f[j].len, got);
		if (strcmp(got, sum) != 0) {
			bad(err, path, "'%s' does not match its SHA-256 in the "
			    "manifest: it was changed", name);
			goto out;
		}
		if ((strcmp(name, KIT_KEY) == 0 ||
		     strcmp(name, KIT_OFFICE_KEY) == 0) &&
		    ((f[j].mode & 077) || strcmp(mode, "0600") != 0)) {
			bad(err, path, "'%s' is readable by others (mode %04o)",
			    name, f[j].mode);
			goto out;
		}
		order[i] = j;
	}
	for (j = 0; j < n; j++) {
		if (listed[j] ||
		    strcmp(f[j].name, KIT_MANIFEST) == 0 ||
		    strcmp(f[j].name, KIT_SIGNATURE) == 0)
			continue;
		bad(err, path, "'%s' is in the kit but not in the manifest",
		    f[j].name);
		goto out;
	}
	/* All good: the files move into K, in manifest order. */
	for (i = 0; i < json_array_size(files); i++) {
		k->files[k->n++] = f[order[i]];
		memset(&f[order[i]], 0, sizeof(f[order[i]]));
	}
	r = 0;
out:
	free(order);
	free(listed);
	return r;
}

/* The manifest's "office" section (format 3): a version of the table
 * with its own Activation ID, and the files it names, no more. */
static int
parse_office(const char *path, json_t *m, json_int_t version, struct kit *k,
	     struct kp_error *err)
{
	json_t *o = json_object_get(m, "office");
	const char *ver = NULL, *act = NULL;
	int key = 0;

	if (o == NULL) {
		if (kit_find(k, KIT_OFFICE_PACK) || kit_find(k, KIT_OFFICE_KEY))
			return bad(err, path, "Office files without an Office "
				   "section in the manifest");
		return 0;
	}
	if (version < 3)
		return bad(err, path, "an Office section in a format %lld "
			   "manifest (Office came with format 3)",
			   (long long)version);
	if (json_unpack(o, "{s:s, s:s, s:b}", "version", &ver, "activation_id",
			&act, "key_included", &key) < 0 ||
	    (k->office = kit_office_host(ver)) == NULL ||
	    strcasecmp(act, k->office->act) != 0)
		return bad(err, path, "the manifest's Office section names no "
			   "Office KMS host this kmsprep knows (its version "
			   "and Activation ID must be one of the table's)");
	k->has_office_key = key;
	if (kit_find(k, KIT_OFFICE_PACK) == NULL)
		return bad(err, path, "no " KIT_OFFICE_PACK " in the kit, and "
			   "the manifest names an Office KMS host");
	if (key != (kit_find(k, KIT_OFFICE_KEY) != NULL))
		return bad(err, path, "the manifest and the files disagree on "
			   "whether an Office key is included");
	return 0;
}

static int
parse_manifest(const char *path, json_t *m, struct kit *k,
	       struct kp_error *err)
{
	const char *format = NULL, *host = NULL;
	json_t *set = NULL, *it;
	json_int_t version = 0, port = 0;
	int key = 0;
	unsigned long listen = KMS_PORT;
	size_t i, ko, kl;

	if (json_unpack(m, "{s:s, s:I, s:s, s:I, s:b, s:o}", "format", &format,
			"version", &version, "host_name", &host, "port", &port,
			"key_included", &key, "settings", &set) < 0 ||
	    strcmp(format, KIT_FORMAT) != 0)
		return bad(err, path, "not a kmsprep kit manifest");
	/* Version 1 named settings by their command-line options; kits
	 * made then still verify and apply.  Version 3 adds "office". */
	if (version < 1 || version > KIT_VERSION)
		return bad(err, path, "kit format version %lld; this kmsprep "
			   "reads versions 1 to %d", (long long)version,
			   KIT_VERSION);
	if (parse_office(path, m, version, k, err) < 0)
		return -1;
	/* As kit build asks: a fully qualified name, and no key in it. */
	if (!kp_is_hostname(host, false) || strchr(host, '.') == NULL ||
	    kp_find_key_shape(host, &ko, &kl) ||
	    port < 1 || port > 65535 ||
	    !json_is_array(set) || json_array_size(set) > 32)
		return bad(err, path, "the manifest's host name, port or "
			   "settings are invalid");
	k->host_name = strdup(host);
	k->port = (unsigned)port;
	k->has_key = key;
	k->settings = calloc(json_array_size(set) + 1, sizeof(*k->settings));
	if (k->host_name == NULL || k->settings == NULL)
		return kp_fail_oom(err);
	json_array_foreach(set, i, it) {
		const char *opt = NULL, *val = NULL;
		const struct spp_option *d = NULL;

		if (json_unpack(it, "{s:s, s?:s}",
				version == 1 ? "option" : "setting", &opt,
				"value", &val) == 0)
			d = version == 1 ? spp_option_find(opt) :
					   spp_option_by_kit_name(opt);
		if (d == NULL || d->kit_name == NULL ||
		    (val && kp_find_key_shape(val, &ko, &kl)))
			return bad(err, path, "manifest setting %zu is not a "
				   "KMS host setting", i + 1);
		opt = d->name;
		k->settings[i].opt = strdup(opt);
		k->settings[i].arg = val ? strdup(val) : NULL;
		k->nsettings++;
		if (k->settings[i].opt == NULL || (val && !k->settings[i].arg))
			return kp_fail_oom(err);
	}
	if (key != (kit_find(k, KIT_KEY) != NULL))
		return bad(err, path, "the manifest and the files disagree on "
			   "whether a key is included");
	/* The firewall rule opens the port; the host listens where its
	 * setting says: they must be one. */
	for (i = 0; i < k->nsettings; i++)
		if (strcmp(k->settings[i].opt, "listen-port") == 0 &&
		    k->settings[i].arg)
			listen = strtoul(k->settings[i].arg, NULL, 10);
	if (listen != k->port)
		return bad(err, path, "the manifest's port %u is not the "
			   "listen-port setting's %lu", k->port, listen);
	if (kit_find(k, KIT_SCRIPT) == NULL)
		return bad(err, path, "no " KIT_SCRIPT " in the kit");
	return 0;
}

int
kit_trusted(const struct kit *k, const char *path, struct kp_error *err)
{
	/* A manifest rewritten beside a stale signature passes its own
	 * digests: a signed kit counts only once its signature is checked. */
	if (k->is_signed && !k->sig_checked) {
		kp_fail(err, KP_ERR_REFUSED, "'%s': the kit is signed; its "
			"signature is checked only with the signer's public "
			"key", path);
		return kp_error_remedy(err, KP_REMEDY_PUBKEY);
	}
	return 0;
}

/* How read_kit treats a missing signature. */
enum sig_need {
	SIG_OPTIONAL,		/* checked against KEYS if there is one */
	SIG_PUBKEY,		/* --pubkey asks for one */
	SIG_REQUIRED,		/* unsigned is refused (it would run as
				 * SYSTEM at first boot unchecked) */
};

static int
read_kit(const char *path, char *const *keys, size_t nkeys,
	 enum sig_need need, struct kit *k, struct kp_error *err)
{
	struct kit_file *f = NULL, *man = NULL, *sig = NULL;
	const char *signer = NULL;
	json_error_t je;
	json_t *m = NULL;
	size_t n = 0, i;
	int r = -1;

	memset(k, 0, sizeof(*k));
	kp_secrets_in_memory();		/* a kit may hold a key */
	if (read_members(path, &f, &n, err) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (strcmp(f[i].name, KIT_MANIFEST) == 0)
			man = &f[i];
		else if (strcmp(f[i].name, KIT_SIGNATURE) == 0)
			sig = &f[i];
	}
	if (man == NULL) {
		bad(err, path, "no " KIT_MANIFEST ": not a kmsprep kit");
		goto out;
	}
	k->is_signed = sig != NULL;
	/* The signature first: nothing in an unsigned manifest is trusted
	 * when a key was given. */
	if (need == SIG_PUBKEY && sig == NULL) {
		bad(err, path, "the kit is not signed, and a signer's public "
		    "key was given");
		goto out;
	}
	/* Deleting manifest.sig must not turn a signed kit into a valid
	 * unsigned one: an unsigned kit is taken only knowingly. */
	if (need == SIG_REQUIRED && sig == NULL) {
		kp_fail(err, KP_ERR_REFUSED, "'%s': the kit is not signed, so "
			"nothing shows who made its scripts, which run as "
			"SYSTEM at first boot", path);
		kp_error_remedy(err, KP_REMEDY_ALLOW_UNSIGNED);
		goto out;
	}
	if (sig && nkeys && verify_sig(keys, nkeys, sig,
				       (const char *)man->data, man->len, path,
				       &signer, err) < 0)
		goto out;
	k->sig_checked = signer != NULL;
	if (signer && (k->signer = strdup(signer)) == NULL) {
		kp_fail_oom(err);
		goto out;
	}
	m = json_loadb((const char *)man->data, man->len,
		       JSON_REJECT_DUPLICATES, &je);
	if (m == NULL) {
		bad(err, path, KIT_MANIFEST " is not valid JSON: line %d: %s",
		    je.line, je.text);
		goto out;
	}
	k->manifest = (char *)man->data;
	k->manifest_len = man->len;
	man->data = NULL;
	if (check_files(path, m, f, n, k, err) < 0 ||
	    parse_manifest(path, m, k, err) < 0)
		goto out;
	r = 0;
out:
	json_decref(m);
	for (i = 0; i < n; i++)
		free_file(&f[i]);
	free(f);
	if (r < 0)
		kit_release(k);
	return r;
}

int
kit_read(const char *path, const char *pubkey, struct kit *k,
	 struct kp_error *err)
{
	char *keys[1] = { (char *)pubkey };

	return read_kit(path, keys, pubkey ? 1 : 0,
			pubkey ? SIG_PUBKEY : SIG_OPTIONAL, k, err);
}

/* DIR/kmsprep/trusted-keys, or NULL when DIR is unset or relative (the
 * XDG base directory specification ignores relative paths). */
static char *
trust_dir(const char *dir, const char *sub)
{
	char *p;

	if (dir == NULL || dir[0] != '/')
		return NULL;
	return asprintf(&p, "%s%s/kmsprep/trusted-keys", dir, sub) < 0 ?
		       NULL : p;
}

int
kit_trust_dirs(char *dirs[2])
{
	const char *sys = getenv("KMSPREP_SYSCONFDIR");
	const char *xdg = getenv("XDG_CONFIG_HOME");

	dirs[0] = trust_dir(sys && sys[0] ? sys : KP_SYSCONFDIR, "");
	if (xdg && xdg[0] == '/')
		dirs[1] = trust_dir(xdg, "");
	else
		dirs[1] = trust_dir(getenv("HOME"), "/.config");
	return dirs[0] ? 0 : -1;
}

static int
key_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 4 &&
	       (strcmp(d->d_name + n - 4, ".pem") == 0 ||
		strcmp(d->d_name + n - 4, ".pub") == 0);
}

/* Append DIR's *.pem and *.pub files, by name, to *KEYS. */
static int
add_trusted(const char *dir, char ***keys, size_t *n, struct kp_error *err)
{
	struct dirent **ents = NULL;
	int i, m;
	int r = 0;

	m = scandir(dir, &ents, key_name, alphasort);
	if (m < 0) {
		if (errno == ENOENT)
			return 0;
		/* Fail closed: an unreadable trust store is not an empty one. */
		return kp_fail_errno(err, KP_ERR_INPUT, errno,
				     "trusted keys '%s': cannot read", dir);
	}
	for (i = 0; i < m; i++) {
		char **v = r ? NULL : realloc(*keys, (*n + 1) * sizeof(*v));

		if (r == 0 && v == NULL)
			r = kp_fail_oom(err);
		if (r == 0) {
			*keys = v;
			if (asprintf(&v[*n], "%s/%s", dir, ents[i]->d_name) < 0)
				r = kp_fail_oom(err);
			else
				(*n)++;
		}
		free(ents[i]);
	}
	free(ents);
	return r;
}

int
kit_open(const char *path, const struct kit_trust *t, struct kit *k,
	 struct kp_error *err)
{
	char *dirs[2] = { NULL, NULL }, **keys = NULL;
	size_t n = 0, i;
	int r = -1;

	memset(k, 0, sizeof(*k));
	if (t->pubkey)
		return kit_read(path, t->pubkey, k, err);
	if (kit_trust_dirs(dirs) < 0) {
		kp_fail_oom(err);
		goto out;
	}
	for (i = 0; i < 2; i++)
		if (dirs[i] && add_trusted(dirs[i], &keys, &n, err) < 0)
			goto out;
	r = read_kit(path, keys, n, t->allow_unsigned ? SIG_OPTIONAL :
						       SIG_REQUIRED, k, err);
	/* With no key to check it by, a signature proves nothing. */
	if (r == 0 && (r = kit_trusted(k, path, err)) < 0)
		kit_release(k);
out:
	for (i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(dirs[0]);
	free(dirs[1]);
	return r;
}

const struct kit_file *
kit_find(const struct kit *k, const char *name)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		if (strcmp(k->files[i].name, name) == 0)
			return &k->files[i];
	return NULL;
}

int
kit_settings(const struct kit *k, struct spp_settings *s,
	     struct kp_error *err)
{
	size_t i;

	for (i = 0; i < k->nsettings; i++) {
		if (spp_settings_option(s, k->settings[i].opt,
					k->settings[i].arg, err) < 0) {
			err->status = KP_ERR_INPUT;
			kp_error_prefix(err, "the kit's settings");
			return -1;
		}
	}
	return spp_settings_check(s, err);
}

void
kit_release(struct kit *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free_file(&k->files[i]);
	for (i = 0; i < k->nsettings; i++) {
		free(k->settings[i].opt);
		free(k->settings[i].arg);
	}
	free(k->files);
	free(k->settings);
	free(k->manifest);
	free(k->host_name);
	free(k->signer);
	memset(k, 0, sizeof(*k));
}

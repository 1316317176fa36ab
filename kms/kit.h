/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lab KMS host kits: a gzip'd tar (libarchive) that makes a Windows Server
 * image configure itself as a KMS host at first boot, with the
 * organization's own key.  kmsprep implements no part of the KMS protocol:
 * the kit only drives Windows' own Software Protection service.
 *
 * A kit holds, flat (no directories):
 *   manifest.json     format, version, host name, port, the SPP settings as
 *                     option/value pairs, and every other file with its
 *                     size, mode and SHA-256;
 *   manifest.sig      optional: base64 Ed25519 signature of manifest.json;
 *   provision.cmd     the first-boot script (CRLF);
 *   kms-host-key.txt  optional, mode 0600: the KMS host key;
 *   srv-records.zone  the _vlmcs._tcp SRV records for the lab DNS;
 *   README.txt        what the kit does, for the administrator;
 *   office-vl-pack.exe   optional (format 3): the administrator's own Office
 *                     Volume License Pack, installed silently at first boot;
 *   office-host-key.txt  optional, mode 0600: the Office KMS host key.
 *
 * Reading treats the archive as hostile: only regular files with plain
 * names, no duplicates, bounded sizes and counts, nothing that the manifest
 * does not name; nothing is written to disk.
 */
#ifndef KP_KIT_H
#define KP_KIT_H

#include <stdbool.h>
#include <stddef.h>

#include "hive/spp.h"
#include "lib/error.h"

#define KIT_FORMAT "kmsprep-kit"
#define KIT_VERSION 3		/* 1: settings named by option; 2: by
				 * setting name; 3: an "office" section.
				 * A kit without Office is written as 2, so
				 * that older kmsprep still reads it. */
#define KIT_MANIFEST "manifest.json"
#define KIT_SIGNATURE "manifest.sig"
#define KIT_SCRIPT "provision.cmd"
#define KIT_KEY "kms-host-key.txt"
#define KIT_RECORDS "srv-records.zone"
#define KIT_README "README.txt"
#define KIT_OFFICE_PACK "office-vl-pack.exe"
#define KIT_OFFICE_KEY "office-host-key.txt"

#define KIT_MAX_ENTRIES 16
#define KIT_MAX_ENTRY ((size_t)1 << 20)
#define KIT_MAX_PACK ((size_t)64 << 20)	/* the Office pack member */
#define KIT_MAX_ARCHIVE ((size_t)80 << 20)

/* The Office KMS host of one Office version: its Volume License Pack's
 * silent switch and the Activation ID of its KMS host product, which
 * slmgr.vbs /ato takes (kit.c has the table and its sources). */
struct kit_office_host {
	const char *version;		/* "2010" ... "2024" */
	const char *name;		/* "Office 2016" */
	const char *act;		/* Activation ID of the KMS host */
	const char *quiet;		/* the pack's silent switch */
};

/* The Office KMS host of VERSION ("2016"), or NULL if there is none. */
const struct kit_office_host *kit_office_host(const char *version);

/* The versions kit_office_host knows, as "2010|2013|...", for messages. */
const char *kit_office_versions(void);

/* The Office part of a kit. */
struct kit_office {
	const struct kit_office_host *host;
	const char *key;		/* the Office KMS host key, or NULL */
	const char *pack;		/* the Volume License Pack .exe (path) */
};

/* What a kit is built from. */
struct kit_spec {
	const char *host_name;		/* FQDN of the KMS host */
	const struct spp_settings *settings;	/* host settings */
	const char *key;		/* the KMS host key, or NULL */
	const char *sign_key;		/* Ed25519 private key (PEM file) */
	const struct kit_office *office;	/* or NULL */
};

/* Append the kit's first-boot script (KIT_SCRIPT) for SPEC to B. */
int kit_provision_script(const struct kit_spec *spec, struct buf *b);

/* Is OPT an SPP option a kit may carry (the KMS host's settings)? */
bool kit_option_allowed(const char *opt);

/* Read a KMS host key from PATH ("-": standard input) into KEY (26 bytes,
 * NUL-terminated): five groups of five letters or digits.  The file's
 * bytes are wiped from memory; the key is never part of a message. */
int kit_read_key(const char *path, char key[30], struct kp_error *err);

/* Build the kit and write it atomically to PATH (mode 0600 when it holds
 * a key). */
int kit_build(const struct kit_spec *spec, const char *path,
	      struct kp_error *err);

struct kit_file {
	char *name;
	unsigned char *data;
	size_t len;
	unsigned mode;
};

/* A kit read and checked against its manifest. */
struct kit {
	struct kit_file *files;		/* every file but the manifest and
					 * signature, in manifest order */
	size_t n;
	char *manifest;			/* its bytes, as signed */
	size_t manifest_len;
	bool is_signed;
	bool sig_checked;		/* verified against a public key */
	char *signer;			/* the key file that verified it */
	char *host_name;
	unsigned port;
	struct spp_given *settings;
	size_t nsettings;
	bool has_key;
	const struct kit_office_host *office;	/* format 3, or NULL */
	bool has_office_key;
};

/* Read the kit at PATH, check every name, size and digest against the
 * manifest and, with PUBKEY (PEM), the signature.  A kit that fails any
 * check is KP_ERR_INPUT with the reason. */
int kit_read(const char *path, const char *pubkey, struct kit *k,
	     struct kp_error *err);

/* Refuse (KP_ERR_REFUSED) a signed kit K whose signature was not checked:
 * verify and apply take a kit only on a checked signature or none. */
int kit_trusted(const struct kit *k, const char *path, struct kp_error *err);

/* Which signers to trust when a kit is verified or applied. */
struct kit_trust {
	const char *pubkey;	/* --pubkey: exactly this key, else the
				 * trusted-keys directories */
	bool allow_unsigned;	/* accept an unsigned kit knowingly */
};

/* The trusted-keys directories: [0] $KMSPREP_SYSCONFDIR (default the
 * build's SYSCONFDIR, /etc) + /kmsprep/trusted-keys; [1]
 * $XDG_CONFIG_HOME (default ~/.config) + /kmsprep/trusted-keys, or NULL.
 * The caller frees both.  -1 when out of memory. */
int kit_trust_dirs(char *dirs[2]);

/* Read and check the kit at PATH as kit_read does, then decide whether to
 * trust it: with T->PUBKEY, only a signature by that key; else a
 * signature by one of the *.pem or *.pub Ed25519 public keys in the
 * trusted-keys directories (every one of them read and checked).  An
 * unsigned kit is refused (KP_ERR_REFUSED) unless T->ALLOW_UNSIGNED; a
 * signed one whose signature no key checks, as kit_trusted says. */
int kit_open(const char *path, const struct kit_trust *t, struct kit *k,
	     struct kp_error *err);

/* The file NAME of K, or NULL. */
const struct kit_file *kit_find(const struct kit *k, const char *name);

/* The kit's settings as a settings model (for hive and image edits). */
int kit_settings(const struct kit *k, struct spp_settings *s,
		 struct kp_error *err);

/* Free K, wiping the key. */
void kit_release(struct kit *k);

#endif

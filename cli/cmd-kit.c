/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kmsprep kms kit build|verify (apply is an image command: cmd-image.c) */
#include <string.h>
#include <unistd.h>

#include "cli.h"

struct kit_args {
	const char *output, *host_name, *key_file, *sign, *pubkey;
	const char *office, *office_key_file, *office_pack;
	bool force, json, allow_unsigned;
	struct spp_settings settings;
};

#define ARGS struct kit_args

/* Does kit member NAME hold a key? */
static bool
secret_member(const char *name)
{
	return strcmp(name, KIT_KEY) == 0 || strcmp(name, KIT_OFFICE_KEY) == 0;
}

/* What a kit holds, for both commands. */
static int
report(struct cli *c, const char *path, const struct kit *k,
       const char *pubkey, bool json)
{
	size_t i;

	if (json) {
		json_t *files = json_array(), *set = json_array();

		for (i = 0; i < k->n; i++)
			json_array_append_new(files, json_pack(
				"{s:s, s:I, s:s}", "name", k->files[i].name,
				"size", (json_int_t)k->files[i].len, "mode",
				secret_member(k->files[i].name) ?
					"0600" : "0644"));
		for (i = 0; i < k->nsettings; i++)
			json_array_append_new(set, json_pack(
				"{s:s, s:s?}", "option", k->settings[i].opt,
				"value", k->settings[i].arg));
		json_t *j = json_pack(
			"{s:s, s:s, s:i, s:b, s:b, s:b, s:s?, s:o, s:o}",
			"kit", path, "host_name", k->host_name, "port",
			(int)k->port, "key_included", k->has_key,
			"signed", k->is_signed, "signature_verified",
			k->sig_checked, "signer", k->signer, "settings",
			set, "files", files);

		if (j && k->office)
			json_object_set_new(j, "office", json_pack(
				"{s:s, s:s, s:s, s:b}", "version",
				k->office->version, "name", k->office->name,
				"activation_id", k->office->act,
				"key_included", k->has_office_key));
		return cli_print_json(c, j) < 0 ? KP_EXIT_FAIL : 0;
	}
	printf("kit '%s': host %s, port %u\n", path, k->host_name, k->port);
	for (i = 0; i < k->n; i++)
		printf("  ok  %-18s %6zu bytes%s\n", k->files[i].name,
		       k->files[i].len,
		       secret_member(k->files[i].name) ?
			       ", mode 0600 (the key: not shown)" : "");
	printf("settings:");
	for (i = 0; i < k->nsettings; i++)
		printf("%s %s%s%s%s", i ? "," : "", k->settings[i].opt,
		       k->settings[i].arg ? " '" : "",
		       k->settings[i].arg ? k->settings[i].arg : "",
		       k->settings[i].arg ? "'" : "");
	printf("%s\n", k->nsettings ? "" : " (none)");
	printf("key: %s\n", k->has_key ? "included" :
			    "not included: the administrator installs it");
	if (k->office)
		printf("office: %s KMS host, Activation ID %s; Volume License "
		       "Pack included, key %s\n", k->office->name,
		       k->office->act, k->has_office_key ? "included" :
		       "not included: the administrator installs it");
	if (k->sig_checked)
		printf("signature: Ed25519, verified with '%s'\n",
		       k->signer ? k->signer : pubkey);
	else if (k->is_signed)
		printf("signature: Ed25519 (made by kit build)\n");
	else
		printf("signature: none (the digests detect damage, not "
		       "tampering; build with --sign)\n");
	printf("kit intact: %zu files, every size and SHA-256 as the manifest "
	       "says\n", k->n);
	return 0;
}

/*
 * build
 */

static const struct cli_opt build_opts[] = {
	OPT_STRING("output", 'o', "KIT.tar.gz", ARGS, output,
	"where to write the kit"),
	OPT_STRING("host-name", 0, "FQDN", ARGS, host_name,
	  "the KMS host's fully qualified name (for the SRV records)"),
	OPT_STRING("key-file", 0, "FILE|-", ARGS, key_file,
	  "the organization's KMS host key, from FILE or standard input (never "
	  "from the command line); without it the administrator installs the "
	  "key at the host"),
	OPT_STRING("office", 0, "VERSION", ARGS, office,
	  "also make the host an Office KMS host: 2010, 2013, 2016, 2019, "
	  "2021 or 2024 (needs --office-vl-pack)"),
	OPT_STRING("office-vl-pack", 0, "FILE.exe", ARGS, office_pack,
	  "that Office version's Volume License Pack, the one you downloaded "
	  "from Microsoft: it goes into the kit and is installed silently at "
	  "first boot"),
	OPT_STRING("office-key-file", 0, "FILE|-", ARGS, office_key_file,
	  "the organization's Office KMS host key, from FILE or standard "
	  "input (never from the command line)"),
	OPT_STRING("sign", 0, "PRIVATE.pem", ARGS, sign,
	  "sign the manifest with this Ed25519 key (openssl genpkey "
	  "-algorithm ed25519 -out PRIVATE.pem)"),
	OPT_BOOL("force", 0, ARGS, force, "replace KIT.tar.gz if it exists"),
	OPT_BOOL("json", 0, ARGS, json, "print JSON instead of text"),
	OPT_QUIET(),
	OPT_SETTINGS(ARGS, settings, kit_option_allowed),
	OPT_END(),
};

static const struct cli_help build_help = {
	.usage = "kms kit build -o KIT.tar.gz --host-name FQDN [--key-file "
	"FILE|-] [--office VERSION --office-vl-pack FILE.exe "
	"[--office-key-file FILE|-]] [--sign PRIVATE.pem] [SETTINGS...]",
	.about = "Build a lab KMS host kit: a tar.gz with a manifest "
	"(settings, and every file's size and SHA-256), the first-boot script "
	"that installs the key, activates the host, restarts the Software "
	"Protection service and logs the license state (as slmgr.vbs /dlv "
	"shows it, through WMI), the SRV records for the lab DNS and a "
	"README. 'kms kit apply' puts it into a Windows Server image. The key "
	"is the organization's own; it is never printed, and the kit that "
	"holds it is written with mode 0600. With --office the kit also holds "
	"your Office Volume License Pack (its SHA-256 in the manifest) and "
	"the Office host key, and the script installs the pack silently, "
	"installs the key and activates it by that Office version's KMS host "
	"Activation ID.",
	.opts = build_opts,
};

int
cmd_kms_kit_build(struct cli *c, int argc, char **argv)
{
	struct kit_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct kit_spec spec = { 0 };
	struct kit_office office = { 0 };
	struct kit k = { 0 };
	char key[30], okey[30];
	char **pos;
	int npos, code = 0;

	spp_settings_init(&a.settings);
	memset(key, 0, sizeof(key));
	memset(okey, 0, sizeof(okey));
	if (cli_parse(c, argc, argv, &build_help, &a, &pos, &npos,
		      &code))
		goto out;
	if (npos != 0) {
		/* Not echoed: it may well be the key. */
		code = cli_usage(c, "unexpected argument (the key is read "
				 "from --key-file, never the command line)");
		goto out;
	}
	if (a.output == NULL || a.host_name == NULL) {
		code = cli_usage(c, "-o KIT.tar.gz and --host-name are needed");
		goto out;
	}
	if (spp_settings_check(&a.settings, &err) < 0) {
		code = cli_usage(c, "%s", err.msg);
		goto out;
	}	cli_settings_warning(c, &a.settings, NULL);

	if (!a.force && access(a.output, F_OK) == 0) {
		err.status = KP_ERR_FAIL;
		snprintf(err.msg, sizeof(err.msg), "'%s' exists; give --force "
			 "to replace it", a.output);
		code = cli_error(c, &err);
		goto out;
	}
	if (a.office && (office.host = kit_office_host(a.office)) == NULL) {
		/* Not echoed: it may be anything, a key included. */
		code = cli_usage(c, "--office: not an Office version with a KMS "
				 "host kmsprep knows (%s)",
				 kit_office_versions());
		goto out;
	}
	if ((a.office_pack || a.office_key_file) && !a.office) {
		code = cli_usage(c, "--office-vl-pack and --office-key-file "
				 "need --office VERSION");
		goto out;
	}
	if (a.office && !a.office_pack) {
		code = cli_usage(c, "--office needs --office-vl-pack FILE.exe: "
				 "your own Volume License Pack from Microsoft "
				 "(kmsprep ships none)");
		goto out;
	}
	/* Standard input is for keys; a file named "-" is ./-. */
	if (a.office_pack && strcmp(a.office_pack, "-") == 0) {
		code = cli_usage(c, "--office-vl-pack takes the pack's file, not "
				 "standard input (a file named '-' is ./-)");
		goto out;
	}
	if (a.key_file && a.office_key_file &&
	    strcmp(a.key_file, "-") == 0 && strcmp(a.office_key_file, "-") == 0) {
		code = cli_usage(c, "only one of --key-file and --office-key-file "
				 "can read standard input");
		goto out;
	}
	if (a.key_file && kit_read_key(a.key_file, key, &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	if (a.office_key_file &&
	    kit_read_key(a.office_key_file, okey, &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	if (a.office) {
		office.key = a.office_key_file ? okey : NULL;
		office.pack = a.office_pack;
		spec.office = &office;
	}
	spec.host_name = a.host_name;
	spec.settings = &a.settings;
	spec.key = a.key_file ? key : NULL;
	spec.sign_key = a.sign;
	if (kit_build(&spec, a.output, &err) < 0 ||
	    kit_read(a.output, NULL, &k, &err) < 0) {
		code = cli_fail(c, &err);
		goto out;
	}
	if (!a.json && !c->quiet)
		cli_note(c, "wrote '%s' and read it back", a.output);
	code = report(c, a.output, &k, NULL, a.json);
out:
	explicit_bzero(key, sizeof(key));
	explicit_bzero(okey, sizeof(okey));
	kit_release(&k);
	spp_settings_release(&a.settings);
	return code;
}

/*
 * verify
 */

static const struct cli_opt verify_opts[] = {
	OPT_STRING("pubkey", 0, "PUBLIC.pem", ARGS, pubkey,
	  "require a valid Ed25519 signature by this key (openssl pkey "
	  "-in PRIVATE.pem -pubout -out PUBLIC.pem)"),
	OPT_BOOL("allow-unsigned", 0, ARGS, allow_unsigned,
	  "accept an unsigned kit knowingly (its scripts run as SYSTEM at "
	  "first boot, and nothing shows who made them)"),
	OPT_BOOL("json", 0, ARGS, json, "print JSON instead of text"),
	OPT_END(),
};

static const struct cli_help verify_help = {
	.usage = "kms kit verify KIT [--pubkey PUBLIC.pem] [--allow-unsigned] "
	"[--json]",
	.about = "Check a kit as 'kms kit apply' does before it writes "
	"anything: every member a plain regular file named in the manifest "
	"(no links, devices, paths, duplicates or oversized members), every "
	"size and SHA-256 as the manifest says, no file missing or extra, the "
	"settings valid, and the manifest's signature: by the --pubkey key, "
	"else by a trusted key (*.pem or *.pub in /etc/kmsprep/trusted-keys "
	"or ~/.config/kmsprep/trusted-keys; every key file there is read and "
	"must be an Ed25519 public key). An unsigned kit is refused unless "
	"--allow-unsigned; a signed kit whose signature no key checks is "
	"refused too: its digests alone prove nothing once someone could "
	"rewrite the manifest. Nothing is extracted to disk.",
	.opts = verify_opts,
	.exits = "Here 0 means the kit is intact; 3 that it is not (the "
	"reason is given), or that a trusted key file is broken; 4 an "
	"unsigned kit without --allow-unsigned, or a signed kit without "
	"--pubkey or a trusted key.",
};

int
cmd_kms_kit_verify(struct cli *c, int argc, char **argv)
{
	struct kit_args a = { 0 };
	struct kp_error err = KP_ERROR_INIT;
	struct spp_settings set;
	struct kit k = { 0 };
	char **pos;
	int npos, code = 0;

	spp_settings_init(&a.settings);
	spp_settings_init(&set);
	if (cli_parse(c, argc, argv, &verify_help, &a, &pos, &npos,
		      &code))
		goto out;
	if (npos != 1) {
		code = cli_usage(c, "expected one KIT");
		goto out;
	}
	if (kit_open(pos[0], &(struct kit_trust){ a.pubkey, a.allow_unsigned },
		     &k, &err) < 0 ||
	    kit_settings(&k, &set, &err) < 0) {
		code = cli_error(c, &err);
		goto out;
	}
	code = report(c, pos[0], &k, a.pubkey, a.json);
out:
	kit_release(&k);
	spp_settings_release(&set);
	spp_settings_release(&a.settings);
	return code;
}

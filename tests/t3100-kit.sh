#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# kms kit build, verify and apply: signed and unsigned kits, every kind of
# damage and hostile archive, and a kit applied to sample server images
# (one generalized, one not), checked with independent readers.
. "$(dirname "$0")/lib.sh"

TAMPER="python3 $SRC_DIR/tests/helper/kit-tamper.py"
KEY=QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN	# a made-up key in the right form
printf '%s\n' "$KEY" >"$SCRATCH/key.txt"
openssl genpkey -algorithm ed25519 -out "$SCRATCH/priv.pem" 2>/dev/null
openssl pkey -in "$SCRATCH/priv.pem" -pubout -out "$SCRATCH/pub.pem"
openssl genpkey -algorithm ed25519 -out "$SCRATCH/other.pem" 2>/dev/null
openssl pkey -in "$SCRATCH/other.pem" -pubout -out "$SCRATCH/other.pub"

# build_kit OUT [ARGS...]: a kit with the test key and some settings.
build_kit() {
	local out=$1
	shift
	kp kms kit build -q -o "$out" --host-name kms1.corp.example \
		--key-file "$SCRATCH/key.txt" --publish-domain corp.example,10,50 \
		--publish-domain lab.example --dns-publishing on \
		--listen-port 1700 --low-priority on "$@"
}

# no_key FILE...: the key appears in none of them.
no_key() {
	! grep -q -F -e "$KEY" "$@"
}

build_and_verify() {
	build_kit signed.tar.gz --sign "$SCRATCH/priv.pem" >out 2>err
	expect_grep '^kit .signed.tar.gz.: host kms1.corp.example, port 1700' out
	expect_grep 'kms-host-key.txt .*mode 0600 (the key: not shown)' out
	[ "$(stat -c %a signed.tar.gz)" = 600 ]
	kp kms kit verify signed.tar.gz --pubkey "$SCRATCH/pub.pem" >v1
	expect_grep "signature: Ed25519, verified with" v1
	expect_grep '^kit intact: 4 files' v1
	# Signed, it is checked only with the signer's key: without it, 4.
	expect_code 4 kp kms kit verify signed.tar.gz >v2 2>err
	expect_grep 'the kit is signed; its signature is checked only with' err
	# The members, as an independent reader (tar) sees them.
	tar tvzf signed.tar.gz >list
	expect_grep '^-rw------- .* kms-host-key.txt$' list
	[ "$(wc -l <list)" -eq 6 ]
	tar xzf signed.tar.gz provision.cmd srv-records.zone manifest.json \
		README.txt
	# The README's apply line is the one that works for this kit.
	expect_grep '^  kmsprep kms kit apply KIT.tar.gz SERVER-IMAGE --pubkey SIGNER.pub$' README.txt
	[ "$(grep -c $'\r$' provision.cmd)" -eq "$(wc -l <provision.cmd)" ]
	# WMI from PowerShell first, slmgr.vbs only without it (t2300 runs
	# the script under Wine).
	expect_grep 'powershell.exe' provision.cmd
	expect_grep 'slmgr.vbs' provision.cmd
	expect_grep '^call :sl dlv' provision.cmd
	expect_grep 'del /f /q "%KMSPREP_KEYFILE%"' provision.cmd
	# Exit codes reach the log: the redirection comes first, since cmd
	# would read " 0>>" at a line's end as a redirection of handle 0.
	expect_grep '^>>"%LOG%" echo activate: exit code %RC%' provision.cmd
	expect_no_grep '%ERRORLEVEL%>' provision.cmd
	expect_grep '^_vlmcs._tcp.corp.example. 3600 IN SRV 10 50 1700 kms1.corp.example.$' srv-records.zone
	expect_grep '^_vlmcs._tcp.lab.example. 3600 IN SRV 0 0 1700 kms1.corp.example.$' srv-records.zone
	python3 -c 'import json; m=json.load(open("manifest.json")); assert m["format"]=="kmsprep-kit" and m["key_included"] and len(m["files"])==4, m'
	# Unsigned, without a key, from standard input.
	kp kms kit build -q -o plain.tar.gz --host-name kms2.corp.example >out
	expect_grep '^key: not included' out
	[ "$(stat -c %a plain.tar.gz)" = 644 ]
	kp kms kit verify --allow-unsigned plain.tar.gz >v3
	tar xzf plain.tar.gz README.txt
	expect_grep '^  kmsprep kms kit apply KIT.tar.gz SERVER-IMAGE --allow-unsigned$' README.txt
	expect_grep '^signature: none' v3
	kp kms kit build -q -o stdin.tar.gz --host-name kms1.corp.example \
		--key-file - <"$SCRATCH/key.txt" >out
	expect_grep '^key: included' out
	no_key ./*out* v1 v2 v3 err list manifest.json srv-records.zone \
		provision.cmd
	kp kms kit verify --json signed.tar.gz --pubkey "$SCRATCH/pub.pem" >j
	no_key j
	python3 -c 'import json; j=json.load(open("j")); assert j["key_included"] and j["signed"] and j["signature_verified"], j'
}

bad_builds() {
	build_kit k.tar.gz >/dev/null
	expect_code 1 build_kit k.tar.gz 2>err
	expect_grep 'exists; give --force' err
	build_kit k.tar.gz --force >/dev/null
	echo 'not-a-key' >bad.txt
	expect_code 3 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		--key-file bad.txt 2>err
	expect_grep 'not a product key' err
	expect_no_grep 'not-a-key' err
	# A published KMS client setup key is no host key: refused.
	echo WX4NM-KYWYW-QJJR4-XV3QB-6VM33 >gvlk.txt
	expect_code 2 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		--key-file gvlk.txt 2>err
	expect_grep 'KMS client setup key of Windows Server 2022 Datacenter' err
	[ ! -e x.tar.gz ]
	expect_code 2 kp kms kit build -o x.tar.gz --host-name kms1 2>err
	expect_code 2 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		--kms-host other.example 2>err
	expect_code 2 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		"$KEY" 2>err
	no_key err
	# The key given where its file's name belongs is not echoed back.
	expect_code 2 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		--key-file "$KEY" 2>err
	expect_grep "the key file's name looks like a product key" err
	no_key err
	# --key is not --key-file (no abbreviations), and not echoed either.
	expect_code 2 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		--key "$KEY" 2>err
	expect_grep "unknown option '--key'" err
	no_key err
	expect_code 3 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		--sign "$SCRATCH/pub.pem" 2>err
	openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 \
		-out rsa.pem 2>/dev/null
	expect_code 3 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		--sign rsa.pem 2>err
	expect_grep 'not an Ed25519 key' err
	[ ! -e x.tar.gz ]
}

# damaged KIND ARGS: the signed kit, damaged; verify must fail with REASON.
damaged() {
	local reason=$1
	shift
	$TAMPER "$SCRATCH/good.tar.gz" bad.tar.gz "$@"
	expect_code 3 kp kms kit verify bad.tar.gz --pubkey "$SCRATCH/pub.pem" \
		>out 2>err
	expect_grep "$reason" err
	[ ! -s out ]
	no_key err
}

tampering() {
	build_kit "$SCRATCH/good.tar.gz" --sign "$SCRATCH/priv.pem" >/dev/null
	build_kit "$SCRATCH/unsigned.tar.gz" >/dev/null
	damaged "'provision.cmd' does not match its SHA-256" flip provision.cmd
	damaged "'kms-host-key.txt' does not match its SHA-256" flip kms-host-key.txt
	damaged "'extra.cmd' is in the kit but not in the manifest" add extra.cmd
	damaged "'README.txt' is in the manifest but not in the kit" remove README.txt
	damaged "'provision.cmd' is in the manifest but not in the kit" \
		rename provision.cmd setup.cmd
	damaged "the signature does not match" edit-manifest 1700 1701
	damaged "the kit is not signed" remove manifest.sig
	# A manifest rewritten beside the old signature: without --pubkey it
	# is refused, not taken on its own digests.
	$TAMPER "$SCRATCH/good.tar.gz" bad.tar.gz edit-manifest 1700 1701
	expect_code 4 kp kms kit verify bad.tar.gz 2>err
	expect_grep 'the kit is signed' err
	damaged "no manifest.json" remove manifest.json
	# Another key's signature.
	expect_code 3 kp kms kit verify --allow-unsigned "$SCRATCH/good.tar.gz" \
		--pubkey "$SCRATCH/other.pub" 2>err
	expect_grep 'signed by another key' err
	# Unsigned: a changed digest or invalid settings are still caught.
	$TAMPER "$SCRATCH/unsigned.tar.gz" bad.tar.gz flip README.txt
	expect_code 3 kp kms kit verify --allow-unsigned bad.tar.gz 2>err
	expect_grep "'README.txt' does not match" err
	$TAMPER "$SCRATCH/unsigned.tar.gz" bad.tar.gz edit-manifest '"on"' '"maybe"'
	expect_code 3 kp kms kit verify --allow-unsigned bad.tar.gz 2>err
	expect_grep "the kit's settings" err
	$TAMPER "$SCRATCH/unsigned.tar.gz" bad.tar.gz edit-manifest \
		'"publish_domain"' '"kms_host"'
	expect_code 3 kp kms kit verify --allow-unsigned bad.tar.gz 2>err
	expect_grep 'not a KMS host setting' err
	# In format 1 settings were option names: the same check holds.
	$TAMPER "$SRC_DIR/tests/data/kit-v1.tar.gz" bad.tar.gz edit-manifest \
		'"publish-domain"' '"kms-host"'
	expect_code 3 kp kms kit verify --allow-unsigned bad.tar.gz 2>err
	expect_grep 'not a KMS host setting' err
	$TAMPER "$SRC_DIR/tests/data/kit-v1.tar.gz" bad.tar.gz edit-manifest \
		'"publish-domain"' '"publish_domain"'
	expect_code 3 kp kms kit verify --allow-unsigned bad.tar.gz 2>err
	expect_grep 'not a KMS host setting' err
	# The port the firewall opens must be the one the host listens on.
	$TAMPER "$SCRATCH/unsigned.tar.gz" bad.tar.gz edit-manifest \
		'"port": 1700' '"port": 1688'
	expect_code 3 kp kms kit verify --allow-unsigned bad.tar.gz 2>err
	expect_grep "the manifest's port 1688 is not the listen-port setting's 1700" err
	# Not a kit at all.
	echo 'hello' >junk.tar.gz
	expect_code 3 kp kms kit verify --allow-unsigned junk.tar.gz 2>err
	expect_code 3 kp kms kit verify --allow-unsigned /dev/null 2>err
	expect_code 3 kp kms kit verify --allow-unsigned . 2>err
	expect_code 3 kp kms kit verify --allow-unsigned /nonexistent 2>err
}

hostile() {
	local kind
	build_kit "$SCRATCH/good.tar.gz" --force >/dev/null
	# Nothing may appear in TMPDIR or here (other processes may well
	# write to /tmp meanwhile, so /tmp itself is not compared).
	mkdir tmpd
	for kind in abs dotdot symlink hardlink device fifo dir huge dup; do
		$TAMPER "$SCRATCH/good.tar.gz" "h-$kind.tar.gz" hostile $kind
		TMPDIR=$PWD/tmpd expect_code 3 kp kms kit verify --allow-unsigned \
			"h-$kind.tar.gz" 2>"err-$kind"
		echo "$kind: $(cat "err-$kind")"
	done
	expect_grep "member name '/tmp/kmsprep-kit-evil' refused" err-abs
	expect_grep "member name '../kmsprep-kit-evil' refused" err-dotdot
	expect_grep "'link' is not a regular file" err-symlink
	expect_grep "'hard' is not a regular file" err-hardlink
	expect_grep "'dev' is not a regular file" err-device
	expect_grep "'fifo' is not a regular file" err-fifo
	expect_grep "'sub/' is not a regular file" err-dir
	expect_grep "'huge.bin' is too large" err-huge
	expect_grep "'provision.cmd' is in the kit twice" err-dup
	# Nothing was written anywhere: not the target, not a stray file.
	[ ! -e /tmp/kmsprep-kit-evil ] && [ ! -e ../kmsprep-kit-evil ]
	rmdir tmpd
	[ "$(ls)" = "$(ls h-*.tar.gz err-* | sort | tr '\n' '\n')" ]
}

# tests/data/kit-v1.tar.gz was made by kmsprep 0.1.0 (manifest format 1:
# settings named by their command-line options) with:
#   kmsprep kms kit build -q -o kit-v1.tar.gz --host-name kms1.corp.example \
#     --publish-domain corp.example,10,50 --publish-domain lab.example \
#     --dns-publishing on --listen-port 1700 --low-priority on \
#     --activation-interval 60
old_format() {
	local v1=$SRC_DIR/tests/data/kit-v1.tar.gz
	kp kms kit build -q -o v2.tar.gz --host-name kms1.corp.example \
		--publish-domain corp.example,10,50 --publish-domain lab.example \
		--dns-publishing on --listen-port 1700 --low-priority on \
		--activation-interval 60 >/dev/null
	# Format 2 names settings in its own words, not option names.
	tar -xzf v2.tar.gz -O manifest.json >m2
	expect_grep '"version": 2' m2
	expect_grep '"setting": "listen_port"' m2
	fails grep -q '"option"' m2
	# The old kit still verifies, with the same settings as a new one.
	kp kms kit verify --allow-unsigned "$v1" >out
	expect_grep "^settings: publish-domain 'corp.example, 10, 50', publish-domain 'lab.example', dns-publishing 'on', listen-port '1700', low-priority 'on', activation-interval '60'" out
	expect_grep '^kit intact: 3 files' out
	# The same settings; the scripts differ (this kmsprep writes newer ones).
	kp kms kit verify --allow-unsigned --json "$v1" >j1
	kp kms kit verify --allow-unsigned --json v2.tar.gz >j2
	python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["settings"], indent=1))' j1 >s1
	python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["settings"], indent=1))' j2 >s2
	expect_grep listen-port s1
	expect_same s1 s2
}

t "build and verify, signed and unsigned; the key never shown" build_and_verify
t "kits of format 1 still verify, with the same settings" old_format
t "bad keys, names, settings and signing keys refused" bad_builds
t "flip, add, remove, rename, edit the manifest: verify fails" tampering
t "hostile archives refused, nothing written" hostile

# Applying needs the libguestfs appliance: one sample image launch, one
# launch per apply, one to read the results back.
if ! command -v guestfish >/dev/null; then
	done_testing
	exit
fi
IMG=$SCRATCH/images
mkdir -p "$IMG"
if ! "$SRC_DIR/scripts/make-sample-image" "$IMG/host.img" server \
	"$IMG/sealed.img" server >/dev/null 2>&1; then
	echo "# cannot make sample images; apply not tested"
	done_testing
	exit
fi
# sealed.img: generalized, with a SetupComplete.cmd of its own.
printf 'Windows Registry Editor Version 5.00\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Setup\\State]\n"ImageState"="IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"\n' >"$SCRATCH/sealed.reg"
printf '@echo off\r\necho site setup>C:\\site.txt\r\nexit\r\n' >"$SCRATCH/sc.cmd"
guestfish --rw -a "$IMG/sealed.img" >/dev/null 2>&1 <<EOF
run
mount /dev/sda1 /
download /Windows/System32/config/SOFTWARE $SCRATCH/SW
! "$KMSPREP" hive import $SCRATCH/SW $SCRATCH/sealed.reg
upload $SCRATCH/SW /Windows/System32/config/SOFTWARE
mkdir-p /Windows/Setup/Scripts
upload $SCRATCH/sc.cmd /Windows/Setup/Scripts/SetupComplete.cmd
EOF

apply() {
	build_kit kit.tar.gz --sign "$SCRATCH/priv.pem" >/dev/null
	cp "$IMG/host.img" "$IMG/sealed.img" .
	sha256sum host.img >sums
	kp kms kit apply kit.tar.gz host.img --pubkey "$SCRATCH/pub.pem" \
		--dry-run >dry 2>&1
	sha256sum -c --quiet sums
	kp kms kit apply kit.tar.gz host.img --pubkey "$SCRATCH/pub.pem" \
		>out 2>err
	kp kms kit apply kit.tar.gz sealed.img --pubkey "$SCRATCH/pub.pem" \
		--json >sj 2>serr
	expect_grep "kit 'kit.tar.gz' verified (signature checked)" err
	expect_grep 'DnsDomainPublishList' out
	expect_grep 'kmsprep-KMS-In-TCP' out
	expect_grep 'create %WINDIR%\\kmsprep\\kit\\kms-host-key.txt' out
	expect_grep 'Setup\\CmdLine' out
	expect_grep '^host.img: written and verified' out
	python3 -c 'import json; j=json.load(open("sj")); f=[x["file"] for x in j["images"][0]["files"]]; assert "%WINDIR%\\Setup\\Scripts\\SetupComplete.cmd" in f, f'
	no_key dry out err sj serr
	# Twice: nothing to do.
	kp kms kit apply -q kit.tar.gz host.img --pubkey "$SCRATCH/pub.pem" \
		>again
	expect_grep '^host.img: no change$' again
	# A kit without a key removes the key an earlier kit left.
	kp kms kit build -q -o nokey.tar.gz --host-name kms1.corp.example \
		--listen-port 1700 >/dev/null
	kp kms kit apply -q --allow-unsigned nokey.tar.gz sealed.img >nk
	expect_grep '^sealed.img: remove %WINDIR%\\kmsprep\\kit\\kms-host-key.txt$' nk
	# Read back with independent readers.
	guestfish --ro -a host.img -a sealed.img >gf 2>&1 <<'EOF'
run
mount-ro /dev/sda1 /
download /Windows/System32/config/SOFTWARE h.sw
download /Windows/System32/config/SYSTEM h.sy
download /Windows/kmsprep/kit/provision.cmd h.cmd
download /Windows/kmsprep/kit/kms-host-key.txt h.key
download /Windows/kmsprep/kit-firstboot.cmd h.fb
debug sh "getfattr -h -e hex -n system.ntfs_acl /sysroot/Windows/kmsprep/kit/kms-host-key.txt"
umount /
mount-ro /dev/sdb1 /
download /Windows/Setup/Scripts/SetupComplete.cmd s.sc
download /Windows/System32/config/SYSTEM s.sy
is-file /Windows/kmsprep/kit/kms-host-key.txt
EOF
	reglookup -p '/Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform' h.sw >rl
	expect_grep 'DnsDomainPublishList,MULTI_SZ,corp.example%2C 10%2C 50|lab.example,' rl
	expect_grep 'DisableDnsPublishing,DWORD,0x00000000' rl
	expect_grep 'EnableKmsLowPriority,DWORD,0x00000001' rl
	expect_grep 'KeyManagementServiceListeningPort,SZ,1700' rl
	cs=$(reglookup -H -p /Select/Current h.sy | cut -d, -f3)
	cs=$(printf 'ControlSet%03d' "$cs")
	reglookup -p /$cs/Services/SharedAccess/Parameters/FirewallPolicy/FirewallRules h.sy >fw
	expect_grep 'kmsprep-KMS-In-TCP,SZ,v2.10|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=1700|' fw
	reglookup -p /Setup h.sy >setup
	expect_grep 'SetupType,DWORD,0x00000002' setup
	expect_grep 'CmdLine,SZ,cmd.exe /c %22%25SystemRoot%25\\kmsprep\\kit-firstboot.cmd%22,' setup
	# The hook is cleared before the kit's script runs.
	[ "$(grep -n 'SetupType' h.fb | cut -d: -f1)" -lt \
	  "$(grep -n 'provision.cmd' h.fb | cut -d: -f1)" ]
	tar xzf kit.tar.gz provision.cmd
	cmp h.cmd provision.cmd
	[ "$(tr -d '\r\n' <h.key)" = "$KEY" ]
	# The key file: SYSTEM and Administrators only, no Users entry.
	expect_grep 'kms-host-key.txt$' gf
	# Two entries (0x0034 bytes): SYSTEM and Administrators.
	expect_grep '^system.ntfs_acl=0x01000490.*0200340002000000' gf
	expect_no_grep '0102000000000005200000002102' gf
	# The generalized image: SetupComplete.cmd keeps its command and calls
	# the kit; no first-boot hook is set there.
	expect_grep 'echo site setup' s.sc
	expect_grep 'call "%SystemRoot%\\kmsprep\\kit\\provision.cmd"' s.sc
	# Called first (after @echo off): the script's own exit comes later.
	[ "$(sed -n 1p s.sc)" = $'@echo off\r' ]
	[ "$(grep -n 'provision.cmd' s.sc | cut -d: -f1)" -lt \
	  "$(grep -n '^exit' s.sc | cut -d: -f1)" ]
	# The keyless kit removed the key on the sealed image.
	[ "$(tail -n 1 gf)" = false ]
	reglookup -p /Setup s.sy >ssetup
	expect_no_grep 'kit-firstboot' ssetup
	no_key gf rl fw setup
}
t "apply: settings, firewall rule, scripts and key, read back" apply
done_testing

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# kms kit build --office: the administrator's Volume License Pack and the
# Office KMS host key in the kit, covered by the (signed) manifest; the
# first-boot script's Office steps; the key's secrecy; format 1 and 2 kits
# still read.  (t2300 runs the script's Office steps under Wine.)
. "$(dirname "$0")/lib.sh"

TAMPER="python3 $SRC_DIR/tests/helper/kit-tamper.py"
KEY=QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN	# made-up keys in the right form
OKEY=M4PWT-Y6D2V-CF8GN-QXR7B-9HJ3K
printf '%s\n' "$KEY" >"$SCRATCH/key.txt"
printf '%s\n' "$OKEY" >"$SCRATCH/okey.txt"
# A stand-in for the pack: any Windows program will do.
"$TEST_TOOL" mkpe "$SCRATCH/pack.exe"
openssl genpkey -algorithm ed25519 -out "$SCRATCH/priv.pem" 2>/dev/null
openssl pkey -in "$SCRATCH/priv.pem" -pubout -out "$SCRATCH/pub.pem"

# office_kit OUT VERSION [ARGS...]
office_kit() {
	local out=$1 ver=$2
	shift 2
	kp kms kit build -q -o "$out" --host-name kms1.corp.example \
		--key-file "$SCRATCH/key.txt" --office "$ver" \
		--office-vl-pack "$SCRATCH/pack.exe" \
		--office-key-file "$SCRATCH/okey.txt" "$@"
}

no_keys() {
	! grep -q -F -e "$KEY" -e "$OKEY" "$@"
}

build_verify() {
	office_kit k.tar.gz 2016 --sign "$SCRATCH/priv.pem" >out 2>err
	expect_grep '^office: Office 2016 KMS host, Activation ID 98ebfe73-2084-4c97-932c-c0cd1643bea7; Volume License Pack included, key included$' out
	expect_grep 'office-host-key.txt .*mode 0600 (the key: not shown)' out
	[ "$(stat -c %a k.tar.gz)" = 600 ]
	kp kms kit verify k.tar.gz --pubkey "$SCRATCH/pub.pem" >v
	expect_grep '^kit intact: 6 files' v
	# The pack is the administrator's file, byte for byte, with its
	# digest in the signed manifest; the key is mode 0600.
	tar tvzf k.tar.gz >list
	expect_grep '^-rw------- .* office-host-key.txt$' list
	tar xzf k.tar.gz manifest.json provision.cmd README.txt office-vl-pack.exe
	cmp office-vl-pack.exe "$SCRATCH/pack.exe"
	python3 - "$(sha256sum <"$SCRATCH/pack.exe" | cut -d' ' -f1)" <<'EOF'
import json, sys
m = json.load(open("manifest.json"))
assert m["version"] == 3, m
assert m["office"] == {"version": "2016", "activation_id":
	"98ebfe73-2084-4c97-932c-c0cd1643bea7", "key_included": True}, m
f = {x["name"]: x for x in m["files"]}
assert f["office-vl-pack.exe"]["sha256"] == sys.argv[1], f
assert f["office-host-key.txt"]["mode"] == "0600", f
EOF
	kp kms kit verify --json k.tar.gz --pubkey "$SCRATCH/pub.pem" >j
	python3 -c 'import json; j=json.load(open("j")); o=j["office"]; assert o["version"]=="2016" and o["key_included"], j'
	no_keys out err v list j manifest.json provision.cmd README.txt
}

script_text() {
	local v id
	for v in 2010:bfe7a195-4f8f-4f0b-a622-cf13c7d16864 \
		 2013:2e28138a-847f-42bc-9752-61b03fff33cd \
		 2016:98ebfe73-2084-4c97-932c-c0cd1643bea7 \
		 2019:70512334-47b4-44db-a233-be5ea33b914c \
		 2021:47f3b983-7c53-4d45-abc6-bcd91e2dd90a \
		 2024:f3d89bbf-c0ec-47ce-a8fa-e5a5f97e447f; do
		id=${v#*:}
		office_kit "k${v%%:*}.tar.gz" "${v%%:*}" --force >/dev/null
		tar xzf "k${v%%:*}.tar.gz" provision.cmd README.txt
		expect_grep "^set \"KMSPREP_ACTID=$id\"" provision.cmd
		expect_grep "^call :sl ato \"$id\"" provision.cmd
		expect_grep "Activation ID $id" README.txt
		no_keys provision.cmd README.txt
	done
	# After the Windows key: the pack silently, then the Office key from
	# its file (deleted after), then activation by the ID; then the
	# Windows steps go on.
	grep -n -e 'office-vl-pack.exe" /quiet' -e '^call :sl ipk' \
		-e '^call :sl ato "' -e '^net stop sppsvc' provision.cmd |
		cut -d: -f2- >order
	expect_lines order 'call :sl ipk>>"%LOG%" 2>&1' \
		'"%~dp0office-vl-pack.exe" /quiet>>"%LOG%" 2>&1' \
		'call :sl ipk>>"%LOG%" 2>&1' \
		'call :sl ato "f3d89bbf-c0ec-47ce-a8fa-e5a5f97e447f">>"%LOG%" 2>&1' \
		'net stop sppsvc>>"%LOG%" 2>&1'
	expect_grep '^set "KMSPREP_KEYFILE=%~dp0office-host-key.txt"' provision.cmd
	[ "$(grep -c $'\r$' provision.cmd)" -eq "$(wc -l <provision.cmd)" ]
}

# expect_lines FILE LINE...: FILE is exactly LINES.
expect_lines() {
	local f=$1
	shift
	printf '%s\n' "$@" >want
	tr -d '\r' <"$f" >got
	expect_same want got
}

tampering() {
	office_kit "$SCRATCH/good.tar.gz" 2019 --sign "$SCRATCH/priv.pem" \
		>/dev/null
	$TAMPER "$SCRATCH/good.tar.gz" bad.tar.gz flip office-vl-pack.exe
	expect_code 3 kp kms kit verify bad.tar.gz --pubkey "$SCRATCH/pub.pem" \
		2>err
	expect_grep "'office-vl-pack.exe' does not match its SHA-256" err
	$TAMPER "$SCRATCH/good.tar.gz" bad.tar.gz remove office-vl-pack.exe
	expect_code 3 kp kms kit verify bad.tar.gz --pubkey "$SCRATCH/pub.pem" \
		2>err
	expect_grep "'office-vl-pack.exe' is in the manifest but not" err
	# A pack swapped with its digest recomputed loses the signature.
	$TAMPER "$SCRATCH/good.tar.gz" bad.tar.gz strip office-vl-pack.exe evil
	expect_code 3 kp kms kit verify bad.tar.gz --pubkey "$SCRATCH/pub.pem" \
		2>err
	expect_grep 'the kit is not signed' err
	# Unsigned, the manifest's Office section is still checked against
	# the table, and against the files.
	office_kit "$SCRATCH/plain.tar.gz" 2019 >/dev/null
	$TAMPER "$SCRATCH/plain.tar.gz" bad.tar.gz edit-manifest \
		70512334-47b4-44db-a233-be5ea33b914c \
		98ebfe73-2084-4c97-932c-c0cd1643bea7
	expect_code 3 kp kms kit verify --allow-unsigned bad.tar.gz 2>err
	expect_grep "Office section names no Office KMS host" err
	$TAMPER "$SCRATCH/plain.tar.gz" bad.tar.gz edit-manifest \
		'"version": 3' '"version": 2'
	expect_code 3 kp kms kit verify --allow-unsigned bad.tar.gz 2>err
	expect_grep 'an Office section in a format 2 manifest' err
	$TAMPER "$SCRATCH/plain.tar.gz" bad.tar.gz remove office-host-key.txt
	expect_code 3 kp kms kit verify --allow-unsigned bad.tar.gz 2>err
	no_keys err
}

bad_builds() {
	expect_code 2 office_kit x.tar.gz 2017 2>err
	expect_grep 'not an Office version' err
	expect_code 2 office_kit x.tar.gz "$OKEY" 2>err
	no_keys err
	expect_code 2 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		--office 2016 2>err
	expect_grep 'needs --office-vl-pack' err
	expect_code 2 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		--office-vl-pack "$SCRATCH/pack.exe" 2>err
	# Not a Windows program: refused, and a key as a file name is not
	# echoed.
	expect_code 3 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		--office 2016 --office-vl-pack "$SCRATCH/key.txt" 2>err
	expect_grep 'not a Windows program' err
	expect_code 2 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		--office 2016 --office-vl-pack "$SCRATCH/pack.exe" \
		--office-key-file "$OKEY" 2>err
	no_keys err
	# Standard input is for keys, not the pack.
	expect_code 2 kp kms kit build -o x.tar.gz --host-name kms1.corp.example \
		--office 2016 --office-vl-pack - <"$SCRATCH/pack.exe" 2>err
	expect_grep 'takes the pack.s file, not standard input' err
	[ ! -e x.tar.gz ]
}

old_formats() {
	# A kit without Office is still format 2, and format 1 still reads.
	kp kms kit build -q -o v2.tar.gz --host-name kms1.corp.example >/dev/null
	tar -xzf v2.tar.gz -O manifest.json >m2
	expect_grep '"version": 2' m2
	fails grep -q '"office"' m2
	kp kms kit verify --allow-unsigned "$SRC_DIR/tests/data/kit-v1.tar.gz" >out
	expect_grep '^kit intact: 3 files' out
	expect_no_grep '^office' out
}

# Applied to a sample server image (direct backend, no appliance): the
# pack, larger than any other member, and the key land beside the script;
# applying again changes nothing.
apply_direct() {
	PATH=$PATH:/sbin:/usr/sbin
	for tool in sfdisk mkntfs; do
		command -v $tool >/dev/null 2>&1 || skip "no $tool"
	done
	sample_hive soft server
	kp hive new sys >/dev/null
	kp hive import sys "$SRC_DIR/tests/data/system.reg" >/dev/null
	MKIMAGE_SYSTEM=sys "$SRC_DIR/tests/helper/mkimage-direct" host.img mbr \
		soft
	# A 6 MiB stand-in for the pack (over the appliance protocol's limit).
	cp "$SCRATCH/pack.exe" big.exe
	truncate -s 6M big.exe
	kp kms kit build -q -o k.tar.gz --host-name kms1.corp.example \
		--office 2021 --office-vl-pack big.exe \
		--office-key-file "$SCRATCH/okey.txt" >/dev/null
	kp kms kit apply --allow-unsigned --backend direct k.tar.gz host.img >out 2>err
	expect_grep 'create %WINDIR%\\kmsprep\\kit\\office-vl-pack.exe' out
	expect_grep 'create %WINDIR%\\kmsprep\\kit\\office-host-key.txt' out
	expect_grep '^host.img: written and verified' out
	"$TEST_TOOL" direct -r host.img read Windows/kmsprep/kit/office-vl-pack.exe got
	cmp got big.exe
	"$TEST_TOOL" direct -r host.img read Windows/kmsprep/kit/provision.cmd p
	expect_grep '^set "KMSPREP_ACTID=47f3b983-7c53-4d45-abc6-bcd91e2dd90a"' p
	kp kms kit apply -q --allow-unsigned --backend direct k.tar.gz host.img >again
	expect_grep '^host.img: no change$' again
	no_keys out err again p
	cp host.img "$SCRATCH/applied.img"
	cp big.exe k.tar.gz "$SCRATCH/"
}

# Applying again through the appliance reads the 6 MiB pack back to
# compare it, and changes nothing.
apply_appliance() {
	command -v guestfish >/dev/null 2>&1 || skip "no libguestfs"
	[ -f "$SCRATCH/applied.img" ] || skip "no image from the direct test"
	cp "$SCRATCH/applied.img" host.img
	kp kms kit apply -q --allow-unsigned --backend appliance "$SCRATCH/k.tar.gz" host.img \
		>again 2>err
	expect_grep '^host.img: no change$' again
}

t "an Office kit: pack and key in it, digests in the signed manifest" build_verify
t "apply: the pack and the Office key in a sample server image" apply_direct
t "apply again through the appliance: the large pack compared, no change" apply_appliance
t "the script: pack, key, activation by each version's Activation ID" script_text
t "a changed or missing pack or Office section fails verification" tampering
t "bad versions, missing packs and keys on the command line refused" bad_builds
t "kits without Office are format 2; format 1 still verifies" old_formats
done_testing

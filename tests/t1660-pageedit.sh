#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The page editor (hive/pageedit.c): journaled value edits made cell by
# cell in place give, value for value, what hivex's whole-file rewrite
# gives, read by two readers that are not kmsprep; pages not written are
# byte-identical; key edits fall back to hivex and say why.
. "$(dirname "$0")/lib.sh"

command -v reglookup >/dev/null || skip_all "reglookup not installed"
command -v hivexregedit >/dev/null || skip_all "hivexregedit not installed"

# content FILE: every key and value, without key timestamps.
content() {
	reglookup "$1" 2>/dev/null | cut -d, -f1-3 | sort
}

# changed_pages OLD NEW: the 4 KiB pages (file offsets / 4096, the base
# block left out) that differ, appended ones included.
changed_pages() {
	python3 - "$1" "$2" <<'EOF'
import sys
a = open(sys.argv[1], "rb").read()
b = open(sys.argv[2], "rb").read()
assert len(b) >= len(a)
for p in range(1, len(b) // 4096):
    if a[p * 4096:(p + 1) * 4096] != b[p * 4096:(p + 1) * 4096]:
        print(p)
EOF
}

# in_place_json FILE: the "in_place" member of a --json run's output.
in_place_json() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("in_place"))' "$1"
}

# step NAME SETTINGS...: hive set on h (journaled, must be in place) and
# on r (--rewrite); both then hold the same, for reglookup and hivexregedit,
# and h's pages other than those logged are as they were.
step() {
	local n=$1
	shift
	cp h before
	kp hive set --json h "$@" >"$n.json"
	[ "$(in_place_json "$n.json")" = True ] ||
		{ echo "not in place: $(cat "$n.json")"; return 1; }
	kp hive set r --rewrite "$@" >/dev/null
	content h >a
	content r >b
	expect_same a b
	hivexregedit --export h '\' >a.reg
	hivexregedit --export r '\' >b.reg
	expect_same a.reg b.reg
	"$TEST_TOOL" regf-check h >/dev/null
	changed_pages before h >pages
	[ "$(wc -l <pages)" -le 3 ]
}

edits() {
	"$TEST_TOOL" mkhive base.hive 40 50 4 32 >/dev/null
	cp base.hive h
	cp base.hive r
	# New values in an existing key.
	step add --kms-host kms.example.com:1700 --host-caching off \
		--activation-type kms
	content h >a
	expect_grep 'KeyManagementServiceName,SZ,kms.example.com' a
	expect_grep 'KeyManagementServicePort,SZ,1700' a
	expect_grep 'DisableKeyManagementServiceHostCaching,DWORD,0x00000001' a
	# Existing values: a shorter string in its cell, a longer one in a
	# new cell, a DWORD changed inline; the port deleted.
	step shorter --kms-host k.example.com --host-caching on
	step longer --kms-host a-much-longer-host-name.example.com:1688 \
		--activation-type all
	content h >a
	expect_grep 'KeyManagementServiceName,SZ,a-much-longer-host-name' a
	expect_grep 'KeyManagementServicePort,SZ,1688' a
	expect_no_grep 'VLActivationType' a
	# Deleting every value it set.
	step clear --clear-kms-host --host-caching on --activation-type all
	content h >a
	expect_no_grep 'KeyManagementServiceName' a
	expect_no_grep 'KeyManagementServicePort' a
	# Replayed from the log (kmsprep's reader) after the last entry.
	kp hive recover h -o rec >/dev/null
	content rec >c
	content h >a
	expect_same a c
}
t "value edits in place agree with the whole-file rewrite, for two readers" edits

# A hive without the SoftwareProtectionPlatform key: its creation goes
# through hivex, and the JSON output says why.
new_key() {
	"$TEST_TOOL" mkhive base.hive 10 10 2 32 >/dev/null
	python3 - base.hive <<'EOF'
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
# Rename the key so that it is missing (same length, checksum unchanged:
# the base block is not touched).
i = d.find(b"SoftwareProtectionPlatform")
assert i > 0
d[i:i + 26] = b"SoftwareProtectionPlatforX"
open(p, "wb").write(d)
EOF
	cp base.hive h
	kp hive set --json h --kms-host kms.example.com >out.json
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["in_place"] == "a key is to be created", j' out.json
	content h >a
	expect_grep 'SoftwareProtectionPlatform/KeyManagementServiceName,SZ,kms.example.com' a
	"$TEST_TOOL" regf-check h >/dev/null
}
t "a key to create falls back to hivex, and says why" new_key

# A hive written by Windows 10 (replayed from its logs first): values added,
# changed and deleted in place by hive import agree with the rewrite.
real_hive() {
	local n=win10-1709-dirty-SYSTEM
	testdata $n
	testdata $n.LOG1
	testdata $n.LOG2
	kp hive recover $n -o s >/dev/null
	cp s h
	cp s r
	printf '%s\n' 'Windows Registry Editor Version 5.00' '' \
		'[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control]' \
		'"KmsprepTest"="hello world, a value"' \
		'"SystemStartOptions"=" NOEXECUTE=OPTOUT"' \
		'"WaitToKillServiceTimeout"=-' '' \
		'[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Tcpip\Parameters]' \
		'"Hostname"="kmsprep-host"' >c.reg
	kp hive import --json h c.reg --prefix 'HKEY_LOCAL_MACHINE\SYSTEM' >out.json
	[ "$(in_place_json out.json)" = True ]
	kp hive import r c.reg --prefix 'HKEY_LOCAL_MACHINE\SYSTEM' --rewrite >/dev/null
	content h >a
	content r >b
	expect_same a b
	expect_grep 'Control/KmsprepTest,SZ,hello world' a
	expect_no_grep 'WaitToKillServiceTimeout' a
	hivexregedit --export h '\' >a.reg
	hivexregedit --export r '\' >b.reg
	expect_same a.reg b.reg
	"$TEST_TOOL" regf-check h >/dev/null
	changed_pages s h >pages
	[ "$(wc -l <pages)" -le 6 ]
}
t "a Windows 10 hive edited in place agrees with the rewrite" real_hive

done_testing

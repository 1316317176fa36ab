#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Text that kmsprep did not write itself reaches the terminal escaped
# (control characters from hives and the command line), and a product key
# typed into any argument is never repeated nor written into a kit.
. "$(dirname "$0")/lib.sh"

KEY=QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN	# a made-up key in the right form
KEYLOW=qxr7b-9hj3k-m4pwt-y6d2v-cf8gn

# no_raw_controls FILE: no C0 control but newline, and no C1 control
# (U+0080-U+009F, UTF-8 C2 80-9F) in FILE.
no_raw_controls() {
	python3 - "$1" <<'PY'
import re, sys
d = open(sys.argv[1], "rb").read()
bad = re.search(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]", d)
assert bad is None, "raw control character at %d: %r" % (bad.start(), d[max(0, bad.start() - 20):bad.end() + 20])
PY
}

hostile_hive() {
	sample_hive h.hiv client
	# ProductName "W", ESC [ 2 J, CSI (U+009B) 3 1 m; EditionID with a
	# BEL and a right-to-left override; a publish list entry with ESC.
	cat >evil.reg <<'REG'
Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]
"ProductName"=hex(1):57,00,1b,00,5b,00,32,00,4a,00,9b,00,33,00,31,00,6d,00,00,00
"EditionID"=hex(1):45,00,07,00,2e,20,78,00,00,00
"InstallationType"=hex(1):43,00,0d,00,0a,00,46,00,61,00,6b,00,65,00,00,00

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform]
"DnsDomainPublishList"=hex(7):62,00,1b,00,5d,00,30,00,3b,00,00,00,00,00
REG
	kp hive import h.hiv evil.reg >/dev/null
	kp hive show h.hiv >out
	no_raw_controls out
	expect_grep 'W\\x1b\[2J\\u009B31m' out
	expect_grep 'E\\x07\\u202Ex' out
	expect_grep 'type C\\x0d\\x0aFake' out
	expect_grep 'not a valid entry: "b\\x1b\]0;"' out
	# JSON carries the exact text, escaped by JSON's rules.
	kp hive show --json h.hiv >j
	python3 -c 'import json,sys; j=json.load(open("j")); s=json.dumps(j); assert "\\u001b[2J" in s, s'
}

unknown_command() {
	expect_code 2 kp $'\e]0;pwned\a' 2>err
	no_raw_controls err
	expect_grep 'x1b' err
	expect_code 2 kp hive $'sh\ew' 2>err
	no_raw_controls err
}

key_in_arguments() {
	# Not as the file name, nor in one, nor spaced, nor in lower case.
	for f in "$KEY" "$KEY.txt" "keys/$KEYLOW" "${KEY//-/ }" "${KEY//-/}"; do
		expect_code 2 kp kms kit build -o k.tar.gz \
			--host-name kms1.corp.example --key-file "$f" 2>err
		expect_grep 'looks like a product key' err
		fails grep -q -i -e "$KEY" -e "${KEY//-/}" -e "${KEY//-/ }" err
	done
	# In a host name or a publish domain: refused, not written.
	expect_code 2 kp kms kit build -o k.tar.gz \
		--host-name "$KEY.corp.example" 2>err
	fails grep -q -i -F "$KEY" err
	expect_code 2 kp kms kit build -o k.tar.gz \
		--host-name kms1.corp.example --publish-domain "$KEYLOW.example" \
		2>err
	fails grep -q -i -F "$KEY" err
	[ ! -e k.tar.gz ]
	# Nor echoed in any other error: a command, an option, a file.
	expect_code 2 kp "$KEY" 2>err
	expect_code 2 kp hive "x$KEY" 2>err2
	expect_code 3 kp hive show "/nonexistent/$KEY.hiv" 2>err3
	expect_code 2 kp hive set h.hiv --kms-host "$KEY!" 2>err4
	expect_code 2 kp hive show "--$KEYLOW" 2>err5
	fails grep -q -i -F "$KEY" err err2 err3 err4 err5
	grep -q -F '*****-*****' err3
}

kit_with_key_in_names() {
	# A kit whose manifest carries a key in its host name or settings is
	# refused when read (and a one-label host, which build refuses too).
	TAMPER="python3 $SRC_DIR/tests/helper/kit-tamper.py"
	kp kms kit build -q -o k.tar.gz --host-name kms1.corp.example \
		--publish-domain corp.example >/dev/null
	$TAMPER k.tar.gz a.tar.gz edit-manifest kms1.corp.example "$KEY.example"
	expect_code 3 kp kms kit verify --allow-unsigned a.tar.gz 2>err
	fails grep -q -i -F "$KEY" err
	$TAMPER k.tar.gz b.tar.gz edit-manifest '"host_name": "kms1.corp.example"' '"host_name": "kms1"'
	expect_code 3 kp kms kit verify --allow-unsigned b.tar.gz 2>err
	expect_grep 'host name' err
	$TAMPER k.tar.gz c.tar.gz edit-manifest '"corp.example"' "\"$KEY.example\""
	expect_code 3 kp kms kit verify --allow-unsigned c.tar.gz 2>err
	fails grep -q -i -F "$KEY" err
}

t "hive show escapes control characters from the hive" hostile_hive
t "an unknown command is echoed escaped" unknown_command
t "a product key in any argument is never echoed" key_in_arguments
t "kit verify refuses key-like and one-label names in a manifest" kit_with_key_in_names
done_testing

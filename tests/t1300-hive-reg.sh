#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hive new, export and import: .reg as regedit writes it, all-or-nothing.
. "$(dirname "$0")/lib.sh"

new_hive() {
	kp hive new n.hive >out
	expect_grep "created 'n.hive'" out
	"$TEST_TOOL" regf-check n.hive >/dev/null
	reglookup n.hive >rl
	expect_grep '^/,KEY,' rl
	hivexregedit --export n.hive '\' >h.reg
	expect_grep '^\[\\\]' h.reg
	expect_code 4 kp hive new n.hive 2>err
	expect_grep "'n.hive' exists: --force replaces it" err
	kp hive new --force n.hive >/dev/null
	# hivex can add keys to it (it needs a valid security record).
	printf 'Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\A]\n"v"="x"\n' >a.reg
	hivexregedit --merge n.hive --prefix 'HKEY_LOCAL_MACHINE\SOFTWARE' a.reg
	reglookup n.hive >rl
	expect_grep '^/A/v,SZ,x,' rl
}
t "hive new writes a hive reglookup, hivex and hivexregedit accept" new_hive

regedit_formats() {
	kp hive new n.hive >/dev/null
	# UTF-16LE with a BOM and CRLF, spaces around '=', short dword:,
	# continuation lines, a default value, HKLM abbreviation.
	printf 'Windows Registry Editor Version 5.00\r\n\r\n[HKLM\\SOFTWARE\\Vendor\\App]\r\n@="default"\r\n"Path" = "C:\\\\Program Files\\\\App"\r\n"Count"=dword:2a\r\n"Blob"=hex:00,01,02,03,04,05,06,07,08,09,0a,0b,0c,0d,0e,0f,10,11,12,13,14,15,16,\\\r\n  17,18,19\r\n"List"=hex(7):61,00,00,00,62,00,00,00,00,00\r\n"Exp"=hex(2):25,00,57,00,00,00\r\n"Q"=hex(b):01,00,00,00,00,00,00,00\r\n' |
		iconv -f UTF-8 -t UTF-16LE >body
	printf '\377\376' | cat - body >u16.reg
	kp hive import n.hive u16.reg >out
	reglookup -p /Vendor/App n.hive >rl
	expect_grep '^/Vendor/App/,SZ,default,' rl
	expect_grep '^/Vendor/App/Path,SZ,C:\\Program Files\\App,' rl
	expect_grep '^/Vendor/App/Count,DWORD,0x0000002A,' rl
	expect_grep '^/Vendor/App/Blob,BINARY,' rl
	expect_grep '^/Vendor/App/List,MULTI_SZ,a|b,' rl
	expect_grep '^/Vendor/App/Exp,EXPAND_SZ,%25W,' rl
	expect_grep '^/Vendor/App/Q,QWORD,' rl
}
t "import reads UTF-16LE+BOM, CRLF, dword:, hex(N):, continuations" regedit_formats

round_trip() {
	testdata nt4sp3-SOFTWARE
	kp hive export nt4sp3-SOFTWARE >full.reg
	kp hive new copy.hive >/dev/null
	kp hive import copy.hive full.reg >/dev/null
	kp hive export copy.hive >again.reg
	expect_same full.reg again.reg
	# Every value of the original, byte for byte, by an independent reader.
	reglookup nt4sp3-SOFTWARE 2>/dev/null | grep -v ',KEY,' | sort >a
	reglookup copy.hive 2>/dev/null | grep -v ',KEY,' | sort >b
	expect_same a b
	kp hive export --utf16 -o w.reg copy.hive 'Microsoft\Windows NT'
	head -c 2 w.reg | od -An -tx1 | grep -q 'ff fe'
	kp hive new w.hive >/dev/null
	kp hive import w.hive w.reg >/dev/null
}
t "export then import reproduces every value of a real hive" round_trip

deletions() {
	sample_hive s.hive server
	printf 'Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\SoftwareProtectionPlatform]\n"SkipRearm"=-\n"Nope"=-\n\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Setup]\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\NotThere]\n' >d.reg
	kp hive import s.hive d.reg >out
	expect_grep 'SkipRearm: 0 (0x0) REG_DWORD -> (absent)' out
	expect_grep 'delete key Microsoft\\Windows\\CurrentVersion\\Setup' out
	reglookup s.hive >rl
	expect_no_grep 'SkipRearm' rl
	expect_no_grep '/Setup' rl
	expect_grep 'SoftwareProtectionPlatform/VLRenewalInterval' rl
	expect_grep '/Microsoft/Windows/CurrentVersion/ProgramFilesDir' rl
	kp hive import s.hive d.reg >out
	expect_grep '^no change' out
}
t "\"name\"=- and [-key] deletions" deletions

all_or_nothing() {
	sample_hive s.hive server
	cp s.hive orig
	printf 'Windows Registry Editor Version 5.00\n\n[\\Good]\n"a"="1"\n"b"=dword:zz\n' >bad.reg
	expect_code 3 kp hive import s.hive bad.reg 2>err
	expect_grep "'bad.reg' line 5: bad dword" err
	expect_same orig s.hive
	printf 'Windows Registry Editor Version 5.00\n\n[\\Good]\n"a"="1"\n[HKEY_LOCAL_MACHINE\\SYSTEM\\X]\n' >wrong.reg
	expect_code 3 kp hive import s.hive wrong.reg 2>err
	expect_grep 'belongs in the SYSTEM hive, and this is a SOFTWARE hive' err
	expect_same orig s.hive
	printf 'Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\OFFLINE\\Good]\n"a"="1"\n' >p.reg
	expect_code 3 kp hive import s.hive p.reg 2>/dev/null
	kp hive import --prefix 'HKEY_LOCAL_MACHINE\OFFLINE' s.hive p.reg >out
	expect_grep 'Good\\a: (absent) -> "1" REG_SZ' out
	kp hive import --dry-run s.hive - <p.reg >/dev/null 2>&1 || true
}
t "import is all-or-nothing and maps roots" all_or_nothing

export_errors() {
	sample_hive s.hive server
	expect_code 3 kp hive export s.hive 'No\Such' 2>err
	expect_grep "no key 'No\\\\Such'" err
	kp hive export s.hive 'HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion' >o
	expect_grep '^\[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\]' o
	kp hive export --prefix 'HKEY_LOCAL_MACHINE\OFFLINE' s.hive 'Microsoft\Windows' >o
	expect_grep '^\[HKEY_LOCAL_MACHINE\\OFFLINE\\Microsoft\\Windows\]' o
}
t "export of one key, other prefixes, missing keys" export_errors

# A key named by one unpaired UTF-16 surrogate (U+D800), as Windows can
# store it: show, export and set work around it and export spells it in
# WTF-8 (ED A0 80), or as the raw unit in UTF-16 output, as regedit does.
lone_surrogate() {
	sample_hive s.hive client
	printf 'Windows Registry Editor Version 5.00\n\n[\\Ab]\n"v"=dword:00000001\n' >a.reg
	kp hive import s.hive a.reg >/dev/null
	"$TEST_TOOL" patch s.hive Ab key-name 00d8 utf16
	"$TEST_TOOL" regf-check s.hive >/dev/null
	kp hive show s.hive >out
	kp hive export s.hive >e.reg
	printf '[HKEY_LOCAL_MACHINE\\SOFTWARE\\\355\240\200]\n"v"=dword:00000001\n' >want
	grep -a -A1 -F "$(head -n 1 want)" e.reg >got
	expect_same want got
	# Imported back, it names the same key: nothing to change.
	kp hive import s.hive e.reg >out
	expect_grep 'no change' out
	kp hive export --utf16 -o u.reg s.hive
	od -An -tx1 -v u.reg | tr -d ' \n' | grep -q '5c0000d85d00'
	kp hive import s.hive u.reg >out
	expect_grep 'no change' out
	# A value written into it goes to that key, read back without hivex.
	printf 'Windows Registry Editor Version 5.00\n\n[\\\355\240\200]\n"w"=dword:00000002\n' >w.reg
	kp hive import s.hive w.reg >/dev/null
	kp hive export s.hive >e2.reg
	grep -a -A2 -F "$(head -n 1 want)" e2.reg | grep -q '^"w"=dword:00000002'
	kp hive set s.hive --kms-host kms.example.com >/dev/null
	kp hive export s.hive >e3.reg
	grep -a -q -F "$(head -n 1 want)" e3.reg
	# hivex can neither name such a key nor place one beside it.
	printf 'Windows Registry Editor Version 5.00\n\n[\\Microsoft\\\355\260\200]\n' >n.reg
	cp s.hive before
	expect_code 1 kp hive import s.hive n.reg 2>err
	expect_grep "'Microsoft\\\\\\\\uDC00': hivex cannot create a key with a name holding an unpaired UTF-16 surrogate" err
	printf 'Windows Registry Editor Version 5.00\n\n[\\Zz]\n' >z.reg
	expect_code 1 kp hive import s.hive z.reg 2>err
	expect_grep "hivex cannot create a key beside a key with" err
	expect_same before s.hive
	# A surrogate pair spelled as two three-byte forms is not WTF-8.
	printf 'Windows Registry Editor Version 5.00\n\n[\\\355\240\200\355\260\200]\n' >bad.reg
	expect_code 3 kp hive import s.hive bad.reg 2>/dev/null
}
t "a key named by a lone surrogate: show, export, import and set" lone_surrogate

# Layered keys keep a deleted value as a tombstone: type 0, no data, data
# offset 0xFFFFFFFF.  Export writes it as an empty REG_NONE value with a
# comment; an edit of its key is refused, as hivex would make it ordinary.
tombstone() {
	sample_hive s.hive client
	printf 'Windows Registry Editor Version 5.00\n\n[\\Layered]\n"t"=dword:00000001\n"v"=dword:00000002\n' >a.reg
	kp hive import s.hive a.reg >/dev/null
	"$TEST_TOOL" patch s.hive Layered tombstone t
	"$TEST_TOOL" regf-check s.hive >/dev/null
	kp hive export s.hive Layered >e.reg 2>err
	expect_grep '^; the next value is a tombstone' e.reg
	expect_grep '^"t"=hex(0):$' e.reg
	expect_grep '^"v"=dword:00000002$' e.reg
	kp hive export s.hive >/dev/null
	kp hive show s.hive >/dev/null
	kp hive set s.hive --kms-host kms.example.com >/dev/null
	printf 'Windows Registry Editor Version 5.00\n\n[\\Layered]\n"v"=dword:00000003\n' >b.reg
	cp s.hive before
	expect_code 4 kp hive import s.hive b.reg 2>err
	expect_grep "key 'Layered' holds a tombstone for value 't'" err
	expect_no_grep 'Bad address' err
	expect_same before s.hive
}
t "tombstone values: exported as empty values, their key not edited" tombstone

# Names .reg text cannot carry (a newline, a NUL) in a hive as analysts
# meet them: the rest is exported, and each key left out is named in a
# comment and on standard error, with everything below it.
export_bad_names() {
	sample_hive s.hive client
	printf 'Windows Registry Editor Version 5.00\n\n[\\Aa\\Deep]\n"v"=dword:1\n[\\Bb]\n"v"=dword:2\n[\\Cc]\n"v"=dword:3\n' >a.reg
	kp hive import s.hive a.reg >/dev/null
	"$TEST_TOOL" patch s.hive Aa key-name 410a
	"$TEST_TOOL" patch s.hive Bb key-name 4200
	kp hive export s.hive >e.reg 2>err
	expect_grep "^; key 'HKEY_LOCAL_MACHINE\\\\SOFTWARE\\\\A\\\\x0a' left out" e.reg
	expect_grep "NUL" e.reg
	expect_grep '^\[HKEY_LOCAL_MACHINE\\SOFTWARE\\Cc\]' e.reg
	expect_no_grep 'Deep' e.reg
	expect_grep 'left out, since .reg text cannot carry their names' err
	expect_grep "key 'HKEY_LOCAL_MACHINE\\\\SOFTWARE\\\\A\\\\x0a'" err
}
t "export: keys whose names .reg cannot carry are left out, and named" \
	export_bad_names

# A layered key's tombstone is marked in an export, as a value tombstone
# is, and nothing is imported at or below it.
export_key_tombstone() {
	sample_hive s.hive client
	printf 'Windows Registry Editor Version 5.00\n\n[\\Gone]\n' >a.reg
	kp hive import s.hive a.reg >/dev/null
	"$TEST_TOOL" patch s.hive Gone key-tombstone -
	kp hive export s.hive >e.reg
	grep -B1 -F '[HKEY_LOCAL_MACHINE\SOFTWARE\Gone]' e.reg >got
	expect_grep '^; the next key is a tombstone' got
	cp s.hive before
	printf 'Windows Registry Editor Version 5.00\n\n[\\Gone\\Sub]\n"v"=dword:1\n' >b.reg
	expect_code 4 kp hive import s.hive b.reg 2>err
	expect_grep 'tombstone' err
	cmp s.hive before
	printf 'Windows Registry Editor Version 5.00\n\n[-\\Gone]\n' >c.reg
	expect_code 4 kp hive import s.hive c.reg 2>err
	expect_grep 'not deleted' err
	cmp s.hive before
}
t "export marks a key tombstone; an import below one is refused" \
	export_key_tombstone

# A dirty hive whose logs cannot be replayed: exported as hive show shows
# it, saying so on standard error and in the text.
export_dirty_no_logs() {
	sample_hive s.hive client
	"$TEST_TOOL" dirty s.hive
	kp hive export s.hive >e.reg 2>err
	expect_grep 'dirty and its transaction logs cannot be replayed' err
	expect_grep '^; the hive is dirty' e.reg
}
t "export of a dirty hive without logs warns, on stderr and in the text" \
	export_dirty_no_logs

done_testing

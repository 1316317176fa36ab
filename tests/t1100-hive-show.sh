#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hive show: settings with types, Windows version, secrets, JSON.
. "$(dirname "$0")/lib.sh"

sample() {
	sample_hive s.hive server
	kp hive set s.hive --kms-host kms.contoso.com:1700 \
		--publish-domain contoso.com,10,50 --publish-domain fabrikam.com \
		--dns-publishing off --host-caching off >/dev/null
}

text_report() {
	sample
	kp hive show s.hive >out
	expect_grep '^state: clean' out
	expect_grep '^windows: Windows Server 2022 Datacenter; build 20348; edition ServerDatacenter; type Server; version 10.0' out
	expect_grep 'KeyManagementServiceName  *REG_SZ  *"kms.contoso.com"' out
	expect_grep 'KeyManagementServicePort  *REG_SZ  *"1700"' out
	expect_grep 'DisableDnsPublishing  *REG_DWORD  *1 (0x1)' out
	expect_grep 'DisableKeyManagementServiceHostCaching  *REG_DWORD  *1' out
	expect_grep 'contoso.com priority 10 weight 50' out
	expect_grep 'fabrikam.com priority 0 weight 0' out
	expect_grep 'BackupProductKeyDefault .*present; holds a product key, not shown' out
}
t "text report" text_report

secrets_never_printed() {
	sample
	for a in "" --json; do
		# shellcheck disable=SC2086
		kp hive show $a s.hive >out 2>&1
		expect_no_grep 'FAKE0' out
	done
	kp hive export s.hive >out
	expect_no_grep 'FAKE0' out
	expect_grep 'BackupProductKeyDefault.*not exported: it holds a product key' out
	kp hive set s.hive --kms-host x.contoso.com --dry-run >out
	expect_no_grep 'FAKE0' out
	printf 'Windows Registry Editor Version 5.00\n[\\X]\n"BackupProductKeyDefault"="FAKE9-AAAAA-BBBBB-CCCCC-DDDDD"\n' >k.reg
	kp hive import --dry-run s.hive k.reg >out
	expect_no_grep 'FAKE9' out
	expect_grep 'secret, not shown' out
}
t "product keys are never printed" secrets_never_printed

json_report() {
	sample
	kp hive show --json s.hive >out.json
	python3 - out.json <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["dirty"] is False
assert j["windows"]["EditionID"] == "ServerDatacenter"
assert j["windows"]["major"] == 10
s = {x["name"]: x for x in j["settings"]}
assert s["KeyManagementServiceName"]["value"] == "kms.contoso.com"
assert s["KeyManagementServiceName"]["type"] == "REG_SZ"
assert s["DisableDnsPublishing"]["value"] == 1
e = s["DnsDomainPublishList"]["entries"]
assert e[0] == {"domain": "contoso.com", "priority": 10, "weight": 50}, e
assert s["BackupProductKeyDefault"]["secret"] is True
assert "value" not in s["BackupProductKeyDefault"]
PY
}
command -v python3 >/dev/null && t "JSON report" json_report

per_product() {
	sample_hive s.hive client
	kp hive set s.hive --activation-id 2de67392-b7a7-462a-b1ca-108dd189f588 \
		--kms-host kms2.contoso.com:1688 --activation-type kms >/dev/null
	kp hive set s.hive --application office \
		--activation-id 85dd8b5f-eaf7-4ea3-8f04-7f4c9ae0d24f \
		--kms-host kms3.contoso.com >/dev/null
	kp hive show s.hive >out
	expect_grep '^product 55c92734-d682-4d71-983e-d6ec3f16059f\\2de67392-b7a7-462a-b1ca-108dd189f588:' out
	expect_grep '^product 0ff1ce15-a989-479d-af46-f275c6370663\\85dd8b5f' out
	expect_grep 'VLActivationType  *REG_DWORD  *2' out
	reglookup -p '/Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform/55c92734-d682-4d71-983e-d6ec3f16059f/2de67392-b7a7-462a-b1ca-108dd189f588' s.hive >rl
	expect_grep 'KeyManagementServiceName,SZ,kms2.contoso.com' rl
	expect_grep 'KeyManagementServicePort,SZ,1688' rl
}
t "per-product overrides" per_product

old_windows() {
	testdata nt4sp3-SOFTWARE
	kp hive show nt4sp3-SOFTWARE >out
	expect_grep 'version 4.0' out
	expect_grep 'SoftwareProtectionPlatform not present' out
	# Vista keeps the values under ...\SL.
	sample_hive v.hive client
	printf 'Windows Registry Editor Version 5.00\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion]\n"CurrentVersion"="6.0"\n"CurrentMajorVersionNumber"=-\n' >vista.reg
	kp hive import v.hive vista.reg >/dev/null
	kp hive set v.hive --kms-host kms.contoso.com >out
	expect_grep 'CurrentVersion\\SL\\KeyManagementServiceName' out
	kp hive show v.hive >out
	expect_grep '^settings: .*CurrentVersion\\SL$' out
	expect_code 2 kp hive set v.hive --publish-domain a.example,1,2 2>err
	expect_grep 'Vista and Server 2008 take domains only' err
	# Refused also after a setting that came first, and nothing written.
	cp v.hive v.before
	expect_code 2 kp hive set v.hive --kms-host k.example \
		--publish-domain a.example,5 2>err
	expect_grep 'Vista and Server 2008 take domains only' err
	cmp v.hive v.before
}
t "NT 4 and Vista hives" old_windows

not_software() {
	testdata win7sp1-SYSTEM
	expect_code 3 kp hive show win7sp1-SYSTEM 2>err
	expect_grep "not a SOFTWARE hive.*looks like a SYSTEM hive" err
	expect_grep '(--force shows its state)$' err
	kp hive show --force win7sp1-SYSTEM >out
	expect_grep '^state: clean' out
	kp hive new e.hive >/dev/null
	kp hive show e.hive >out
	expect_grep 'not present' out
}
t "other hives" not_software

# Two subkeys of one key with one name (as Windows compares names): show
# reports it (text and JSON); edits at or under that key are refused.
twin_subkeys() {
	sample_hive s.hive client
	printf 'Windows Registry Editor Version 5.00\n\n[\\Dup\\Aa]\n"v"=dword:1\n[\\Dup\\Bb]\n"v"=dword:2\n' >d.reg
	kp hive import s.hive d.reg >/dev/null
	kp hive show s.hive >out
	expect_no_grep 'twins' out
	"$TEST_TOOL" patch s.hive 'Dup\Bb' key-name 4141
	"$TEST_TOOL" regf-check s.hive >/dev/null
	kp hive show s.hive >out
	expect_grep "^note: key 'Dup' has two subkeys named 'A[Aa]' (1 key with such twins)" out
	kp hive show --json s.hive >j
	python3 -c 'import json; d=json.load(open("j"))["duplicate_subkeys"]; assert d["keys"]==1 and d["first_key"]=="Dup" and d["name"].upper()=="AA", d'
	cp s.hive before
	for k in '[\\Dup\\Aa\\New]' '[\\Dup]\n"z"=dword:1' '[-\\Dup\\Aa]' '[\\Dup\\Cc]'; do
		printf "Windows Registry Editor Version 5.00\n\n$k\n" >x.reg
		expect_code 3 kp hive import s.hive x.reg 2>err
		expect_grep "key 'Dup' has two subkeys named 'A[Aa]', which the registry format forbids; nothing is written under it" err
		expect_same before s.hive
	done
	# Elsewhere in the hive, writes go on.
	kp hive set s.hive --kms-host kms.example.com >/dev/null
	# Twins at the root: nothing can be written at all.
	kp hive new r.hive >/dev/null
	printf 'Windows Registry Editor Version 5.00\n\n[\\Xy]\n[\\Zz]\n' >r.reg
	kp hive import r.hive r.reg >/dev/null
	"$TEST_TOOL" patch r.hive Zz key-name 5859
	printf 'Windows Registry Editor Version 5.00\n\n[\\Q]\n' >q.reg
	expect_code 3 kp hive import r.hive q.reg 2>err
	expect_grep "key '\\\\' has two subkeys named 'X[Yy]'" err
	# Twins that are not next to each other in the list are found too.
	kp hive new u.hive >/dev/null
	printf 'Windows Registry Editor Version 5.00\n\n[\\Aa]\n[\\Bb]\n[\\Cc]\n' >u.reg
	kp hive import u.hive u.reg >/dev/null
	"$TEST_TOOL" patch u.hive Cc key-name 6161
	kp hive show --force u.hive >out
	expect_grep "^note: key '\\\\' has two subkeys named '[Aa]a'" out
}
t "twin subkeys: reported by show, no write under them" twin_subkeys

done_testing

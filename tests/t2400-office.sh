#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Office: detection (hive show, image show) and --office-kms-host written
# where each Office reads it, read back by independent readers (reglookup,
# hivexregedit), on the sample hives of tests/data: Office 2010 on 64-bit
# Windows 7 (OSPP), Click-to-Run on Windows 10 (Windows' SPP), and none.
. "$(dirname "$0")/lib.sh"

command -v reglookup >/dev/null || skip_all "no reglookup"
OSPP='/Microsoft/OfficeSoftwareProtectionPlatform'
WOSPP="/Wow6432Node$OSPP"
OAPP='/Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform/0ff1ce15-a989-479d-af46-f275c6370663'
SKU=2a0c4e5f-8ac7-4b35-b1c4-35b6b0e1b8d9

# rv HIVE KEY NAME: the value's data as reglookup reads it ("" if absent).
rv() {
	reglookup -H -p "$2/$3" "$1" 2>/dev/null | grep -F "$2/$3," |
		cut -d, -f3
}

show_office2010() {
	sample_hive s.hive office2010
	kp hive show s.hive >out
	expect_grep '^office: Office 2010 (MSI 14.0, 32-bit on 64-bit Windows), licensed by the Office Software Protection Platform' out
	expect_grep '^office kms (ospp): Microsoft\\OfficeSoftwareProtectionPlatform: not set' out
	expect_grep '^office kms (ospp-wow64): Wow6432Node\\Microsoft\\OfficeSoftwareProtectionPlatform: not set' out
	kp hive show --json s.hive >j
	python3 - j <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))["office"]
assert len(o) == 1, o
i = o[0]
assert (i["name"], i["type"], i["version"], i["wow64"], i["licensing"]) == \
	("Office 2010", "msi", "14.0", True, "ospp"), i
assert [k["scope"] for k in i["kms_settings"]] == ["ospp", "ospp-wow64"], i
PY
}
t "hive show: Office 2010 on 64-bit Windows 7 uses OSPP" show_office2010

show_c2r() {
	sample_hive s.hive c2r
	kp hive show s.hive >out
	expect_grep "^office: Microsoft 365 Apps / Office 2016 and later (Click-to-Run 16.0), licensed by Windows' Software Protection Platform" out
	expect_grep '^  products ProPlus2021Volume,VisioPro2021Volume; platform x64; build 16.0.14332.20615; channel Monthly Enterprise Channel$' out
	kp hive show --json s.hive >j
	python3 - j <<'PY'
import json, sys
i = json.load(open(sys.argv[1]))["office"][0]
assert i["type"] == "click-to-run" and i["licensing"] == "spp", i
assert i["channel"] == "Monthly Enterprise Channel", i
assert i["volume_licensed"] is True and i["wow64"] is False, i
assert i["kms_settings"][0]["scope"] == "spp-office", i
PY
	sample_hive n.hive client
	kp hive show n.hive >out
	expect_grep '^office: none found$' out
	kp hive show --json n.hive >j
	python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["office"] == []' j
}
t "hive show: Click-to-Run on Windows 10 uses SPP; no Office" show_c2r

set_ospp() {
	sample_hive s.hive office2010
	kp hive set s.hive --office-kms-host kms.contoso.com:1700 >out
	[ "$(rv s.hive "$OSPP" KeyManagementServiceName)" = kms.contoso.com ]
	[ "$(rv s.hive "$OSPP" KeyManagementServicePort)" = 1700 ]
	[ "$(rv s.hive "$WOSPP" KeyManagementServiceName)" = kms.contoso.com ]
	[ "$(rv s.hive "$WOSPP" KeyManagementServicePort)" = 1700 ]
	# REG_SZ, as ospp.vbs leaves it.
	hivexregedit --export s.hive '\Microsoft\OfficeSoftwareProtectionPlatform' >h.reg
	expect_grep '^"KeyManagementServicePort"=hex(1):31,00,37,00,30,00,30,00,00,00$' h.reg
	# Windows' own KMS host is untouched; nothing under Office's SPP app.
	reglookup -p '/Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform' s.hive >spp
	expect_no_grep 'KeyManagementService' spp
	# A name without a port clears the port, as for --kms-host.
	kp hive set s.hive --office-kms-host kms2.contoso.com >/dev/null
	[ "$(rv s.hive "$OSPP" KeyManagementServiceName)" = kms2.contoso.com ]
	[ -z "$(rv s.hive "$OSPP" KeyManagementServicePort)" ]
	[ -z "$(rv s.hive "$WOSPP" KeyManagementServicePort)" ]
	kp hive set s.hive --clear-office-kms-host >/dev/null
	[ -z "$(rv s.hive "$OSPP" KeyManagementServiceName)" ]
	[ -z "$(rv s.hive "$WOSPP" KeyManagementServiceName)" ]
	# OSPP has no documented per-SKU keys: refused, nothing written.
	cp s.hive before
	expect_code 2 kp hive set s.hive --office-kms-host k --activation-id $SKU 2>err
	expect_grep 'Office 2010 here uses the Office Software Protection Platform' err
	cmp s.hive before
}
t "hive set --office-kms-host: OSPP key, both views (Office 2010)" set_ospp

set_spp() {
	sample_hive s.hive c2r
	kp hive set s.hive --office-kms-host '[2001:db8::1]:1701' >out
	[ "$(rv s.hive "$OAPP" KeyManagementServiceName)" = '[2001:db8::1]' ]
	[ "$(rv s.hive "$OAPP" KeyManagementServicePort)" = 1701 ]
	reglookup -p "$OSPP" s.hive >o
	expect_no_grep 'KeyManagementService' o
	kp hive set s.hive --office-kms-host sku.contoso.com --activation-id $SKU >/dev/null
	[ "$(rv s.hive "$OAPP/$SKU" KeyManagementServiceName)" = sku.contoso.com ]
	[ "$(rv s.hive "$OAPP" KeyManagementServiceName)" = '[2001:db8::1]' ]
	kp hive show s.hive >show
	expect_grep "^office kms (spp-sku): .*$SKU: KeyManagementServiceName sku.contoso.com" show
	kp hive set s.hive --clear-office-kms-host >/dev/null
	[ -z "$(rv s.hive "$OAPP" KeyManagementServiceName)" ]
	[ -z "$(rv s.hive "$OAPP" KeyManagementServicePort)" ]
	expect_code 2 kp hive set s.hive --office-kms-host k --application office 2>err
	expect_grep 'cannot be combined with another application' err
}
t "hive set --office-kms-host: Office's SPP application and SKU (Click-to-Run)" set_spp

set_none() {
	sample_hive s.hive client
	cp s.hive before
	expect_code 3 kp hive set s.hive --office-kms-host kms.contoso.com 2>err
	expect_grep 'no Office installation found' err
	cmp s.hive before
	expect_code 2 kp hive set s.hive --office-kms-host 'a b' 2>err
	expect_code 2 kp hive set s.hive --office-kms-host k --office-kms-host j 2>err
	expect_grep 'given twice' err
	kp hive set --help >help
	expect_grep 'office-kms-host NAME\[:PORT\]' help
}
t "hive set --office-kms-host: refused without Office, nothing written" set_none

image_direct() {
	PATH=$PATH:/sbin:/usr/sbin
	for tool in sfdisk mkntfs; do
		command -v $tool >/dev/null 2>&1 || skip "no $tool"
	done
	sample_hive soft office2010
	kp hive new sys >/dev/null
	kp hive import sys "$SRC_DIR/tests/data/system.reg" >/dev/null
	MKIMAGE_SYSTEM=sys "$SRC_DIR/tests/helper/mkimage-direct" a.img mbr soft
	kp image show --backend direct a.img >show
	expect_grep '^    office: Office 2010 (MSI 14.0, 32-bit on 64-bit Windows)' show
	kp image show --backend direct --json a.img >j
	python3 -c 'import json,sys; w=json.load(open(sys.argv[1]))["images"][0]["windows"][0]; assert w["office"][0]["name"] == "Office 2010", w' j
	kp image set --backend direct a.img --office-kms-host kms.contoso.com:1700 >out
	expect_grep '^a.img: written and verified' out
	"$TEST_TOOL" direct -r a.img read Windows/System32/config/SOFTWARE got.sw
	[ "$(rv got.sw "$OSPP" KeyManagementServiceName)" = kms.contoso.com ]
	[ "$(rv got.sw "$WOSPP" KeyManagementServicePort)" = 1700 ]
}
t "image set --backend direct: the Office KMS host in a sample image" image_direct

# mkimg NAME SAMPLE: a direct sample image NAME with the SAMPLE hive.
mkimg() {
	PATH=$PATH:/sbin:/usr/sbin
	for tool in sfdisk mkntfs; do
		command -v $tool >/dev/null 2>&1 || skip "no $tool"
	done
	sample_hive "$1.soft" "$2"
	kp hive new "$1.sys" >/dev/null
	kp hive import "$1.sys" "$SRC_DIR/tests/data/system.reg" >/dev/null
	MKIMAGE_SYSTEM=$1.sys "$SRC_DIR/tests/helper/mkimage-direct" "$1" mbr \
		"$1.soft"
}

clone_office_rearm() {
	mkimg a.img office2010
	kp image set --backend direct a.img --office-kms-host kms.contoso.com:1700 >/dev/null
	kp image generalize --mode clone --backend direct a.img >out 2>&1
	expect_grep 'note: Office 2010 licenses through the Office Software Protection Platform: the first boot runs its own rearm' out
	"$TEST_TOOL" direct -r a.img read Windows/kmsprep/firstboot.cmd fb
	tr -d '\r' <fb >fb.txt
	expect_grep '^"%OSPPREARM%">>"%LOG%" 2>&1$' fb.txt
	expect_grep 'if exist "%CommonProgramFiles(x86)%\\Microsoft Shared\\OfficeSoftwareProtectionPlatform\\OSPPREARM.EXE"' fb.txt
	expect_grep '^reg add "HKLM\\SOFTWARE\\Wow6432Node\\Microsoft\\OfficeSoftwareProtectionPlatform" /v "KeyManagementServiceName" /t REG_SZ /d "kms.contoso.com"' fb.txt
	# After Windows' rearm, before the restart.
	[ "$(grep -n 'call :sl rearm' fb.txt | cut -d: -f1)" -lt \
	  "$(grep -n '^"%OSPPREARM%"' fb.txt | cut -d: -f1)" ]
	[ "$(grep -n '^"%OSPPREARM%"' fb.txt | cut -d: -f1)" -lt \
	  "$(grep -n '^shutdown /r' fb.txt | cut -d: -f1)" ]
	# Click-to-Run on Windows 10 is Windows' SPP: no Office rearm.
	mkimg b.img c2r
	kp image generalize --mode clone --backend direct b.img >out 2>&1
	expect_no_grep 'Office' out
	"$TEST_TOOL" direct -r b.img read Windows/kmsprep/firstboot.cmd fb
	expect_no_grep -i 'ospprearm' fb
}
t "image generalize --mode clone: Office 2010's own rearm after Windows'" clone_office_rearm

sysprep_office_rearm() {
	mkimg a.img office2010
	"$TEST_TOOL" direct a.img mkdir Windows/Setup/Scripts
	printf '@echo off\r\nshutdown /r /t 0\r\n' >sc
	"$TEST_TOOL" direct a.img put Windows/Setup/Scripts/SetupComplete.cmd sc
	kp image generalize --mode sysprep --backend direct a.img >out 2>&1
	expect_grep 'note: Office 2010 licenses through the Office Software Protection Platform, which sysprep does not rearm: .*staged instead from SetupComplete.cmd' out
	"$TEST_TOOL" direct -r a.img read Windows/kmsprep/office-rearm.cmd or
	tr -d '\r' <or >or.txt
	expect_grep '^"%OSPPREARM%">>"%LOG%" 2>&1$' or.txt
	expect_grep 'echo %DATE% %TIME% kmsprep setup complete: Office rearm$' or.txt
	# SetupComplete.cmd calls it first and keeps its own line after it.
	"$TEST_TOOL" direct -r a.img read Windows/Setup/Scripts/SetupComplete.cmd sc2
	printf '@echo off\r\nrem Added by kmsprep: Office'"'"'s own rearm (sysprep mode).\r\ncall "%%SystemRoot%%\\kmsprep\\office-rearm.cmd"\r\nshutdown /r /t 0\r\n' >want
	cmp sc2 want
	# Again: nothing more to write.
	cp a.img a1.img
	kp image generalize --mode sysprep --backend direct a.img >out 2>&1
	cmp a.img a1.img
	# Click-to-Run on Windows 10 is Windows' SPP: sysprep's rearm covers it.
	mkimg b.img c2r
	kp image generalize --mode sysprep --backend direct b.img >out 2>&1
	expect_no_grep 'Office' out
	"$TEST_TOOL" direct -r b.img ls Windows/kmsprep >ls 2>&1 || true
	expect_no_grep -i 'office-rearm' ls
}
t "image generalize --mode sysprep: stages Office 2010's rearm in SetupComplete.cmd" sysprep_office_rearm

done_testing

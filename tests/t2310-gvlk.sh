#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# kms gvlk: KMS client setup keys by edition and build from Microsoft's
# table, refusals for editions without one, and what a SOFTWARE hive says
# about the key it holds.
. "$(dirname "$0")/lib.sh"

# hive_with FILE [REG-LINES...]: the sample client hive plus these lines
# under CurrentVersion (.reg syntax).
hive_with() {
	local f=$1
	shift
	sample_hive "$f" client
	{
		printf 'Windows Registry Editor Version 5.00\n\n'
		printf '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion]\n'
		printf '%s\n' "$@"
	} >extra.reg
	kp hive import "$f" extra.reg >/dev/null
}

# utf16hex TEXT: TEXT as .reg hex bytes of UTF-16LE, with a NUL.
utf16hex() {
	printf '%s' "$1" | iconv -f ascii -t utf-16le | od -An -v -tx1 |
		tr -s ' \n' ',,' | sed 's/^,//; s/,$/,00,00/'
}

by_edition() {
	kp kms gvlk Enterprise >o
	expect_grep '^NPPR9-FWDCX-D2C8J-H872K-2YT43	Windows 11 Enterprise' o
	kp kms gvlk ServerDatacenter --build 20348 >o
	expect_grep '^WX4NM-KYWYW-QJJR4-XV3QB-6VM33	' o
	# Server Core editions carry a suffix; 1809's Semi-Annual Server
	# Core shares 2019's build but not its key.
	kp kms gvlk ServerDatacenterCor --build 20348 >o
	expect_grep '^WX4NM-KYWYW-QJJR4-XV3QB-6VM33	' o
	kp kms gvlk ServerStandardACor --build 17763 >o
	expect_grep '^N2KJX-J94YW-TQVFB-DG9YT-724CC	' o
	kp kms gvlk ServerStandard --build 17763 >o
	expect_grep '^N69G4-B89J2-4G8F4-WWYCC-J464C	Windows Server 2019 Standard' o
	kp kms gvlk ServerTurbine --build 26100 >o
	expect_grep '^XGN3F-F394H-FD2MY-PP6FD-8MCRC	' o
	kp kms gvlk EnterpriseSN --build 19044 >o
	expect_grep '^92NFX-8DJQP-P6BBQ-THF9C-7CG2H	' o
	kp kms gvlk EnterpriseS --build 14393 >o
	expect_grep '^DCPHK-NFMTC-H88MJ-PFHPY-QJ4BJ	' o
	kp kms gvlk ProfessionalN --build 7601 >o
	expect_grep '^MRPKT-YTG23-K7D7T-X2JMM-QY7MG	Windows 7 Professional N' o
	kp kms gvlk Professional --build 9600 >o
	expect_grep '^GCRJD-8NW9H-F2CDX-CCM8D-9D6T9	Windows 8.1 Pro' o
	kp kms gvlk ServerStandard >o
	expect_grep '^TVRH6-WHNXV-R9WG3-9XRFY-MY832	Windows Server 2025' o
}

refusals() {
	expect_code 4 kp kms gvlk Core 2>e
	expect_grep 'edition Core has no KMS client setup key' e
	expect_code 4 kp kms gvlk ServerDatacenterEval --build 20348 2>e
	expect_grep 'evaluation media' e
	# Windows Server 2022 has no Essentials GVLK.
	expect_code 4 kp kms gvlk ServerSolution --build 20348 2>e
	expect_grep 'ServerSolution (build 20348)' e
	expect_code 2 kp kms gvlk 2>e
	expect_code 2 kp kms gvlk Enterprise --build x 2>e
}

table() {
	kp kms gvlk --list >l
	expect_grep '^# https://learn.microsoft.com/en-us/windows-server/get-started/kms-client-activation-keys' l
	[ "$(tail -n +2 l | cut -f1 | sort -u | wc -l)" -eq 65 ]
	# Every key in the form of a product key, in its alphabet.
	tail -n +2 l | cut -f1 |
		grep -v -x '[BCDFGHJKMNPQRTVWXY2346789]\{5\}\(-[BCDFGHJKMNPQRTVWXY2346789]\{5\}\)\{4\}' >bad ||
		true
	[ "$(tail -n +2 l | wc -l)" -gt 60 ] && [ ! -s bad ]
	kp kms gvlk --list --json >j
	python3 -c 'import json; j=json.load(open("j")); assert j["date"]=="2024-10-01" and len(j["keys"])==72, len(j["keys"])'
}

from_hive() {
	# The sample's key is not a GVLK, nor is its channel known.
	sample_hive sw client
	kp kms gvlk --from-hive sw >o 2>e
	expect_grep '^NPPR9-FWDCX-D2C8J-H872K-2YT43	' o
	[ ! -s e ]
	kp kms gvlk --from-hive sw --json >j
	python3 -c 'import json; j=json.load(open("j")); assert j["image_key"]=="other" and j["volume_key"] is False, j'
	# A hive whose key is the GVLK already: a KMS client.
	sample_hive kc client
	printf 'Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\SoftwareProtectionPlatform]\n"BackupProductKeyDefault"="NPPR9-FWDCX-D2C8J-H872K-2YT43"\n' >g.reg
	kp hive import kc g.reg >/dev/null
	kp kms gvlk --from-hive kc >o 2>e
	expect_grep 'is a GVLK already (NPPR9-FWDCX-D2C8J-H872K-2YT43): it is a KMS client' e
	# A MAK, seen from DigitalProductId4's channel.
	hive_with mak "\"DigitalProductId4\"=hex:f8,04,00,00,04,00,00,00,$(utf16hex Volume:MAK),41,00"
	kp kms gvlk --from-hive mak --json >j
	python3 -c 'import json; j=json.load(open("j")); assert j["image_channel"]=="Volume:MAK" and j["volume_key"] is True, j'
	kp kms gvlk --from-hive mak >o 2>e
	expect_grep 'holds a volume license key (Volume:MAK)' e
	hive_with retail "\"DigitalProductId4\"=hex:00,00,$(utf16hex Retail)"
	kp kms gvlk --from-hive retail --json >j
	python3 -c 'import json; j=json.load(open("j")); assert j["image_channel"]=="Retail" and j["volume_key"] is False, j'
}

# On sample images (one appliance launch per command): sysprep mode's
# answer file, and image set's first boot.
gf() {
	LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --ro "$@"
}

image_gvlk() {
	command -v guestfish >/dev/null || skip "libguestfs tools not installed"
	"$SRC_DIR/scripts/make-sample-image" a.img client b.img client \
		>/dev/null 2>&1 || skip "cannot make sample images"
	# sysprep mode: the key as Shell-Setup's ProductKey, specialize pass.
	kp image generalize -q --mode sysprep --gvlk auto a.img >out
	expect_grep '^a.img: note: Windows Setup installs (answer file, specialize pass) the KMS client setup key of Windows 11 Enterprise, Windows 10 Enterprise (NPPR9-FWDCX-D2C8J-H872K-2YT43)$' out
	expect_grep '^a.img: create %WINDIR%\\System32\\Sysprep\\Unattend.xml$' out
	kp image show --backend direct a.img >out
	expect_grep 'answer file .*Unattend.xml: generalize pass, SkipRearm 0; ProductKey NPPR9-FWDCX-D2C8J-H872K-2YT43 (KMS client setup key)$' out
	# image set: a first boot that installs it and activates, no rearm.
	kp image set -q --gvlk auto --kms-host kms.example.com b.img >out
	expect_grep '^b.img: create %WINDIR%\\kmsprep\\firstboot-key.cmd$' out
	expect_grep '^b.img: create %WINDIR%\\kmsprep\\licensing.ps1$' out
	expect_grep '^b.img: SYSTEM: Setup\\CmdLine: .*firstboot-key.cmd' out
	expect_grep '^b.img: note: GVLK: then it activates with the KMS settings of the registry; no rearm$' out
	gf -a a.img -a b.img >/dev/null <<'EOF'
run
mount-ro /dev/sda1 /
download /Windows/System32/Sysprep/unattend.xml a.xml
umount /
mount-ro /dev/sdb1 /
download /Windows/kmsprep/firstboot-key.cmd key.cmd
EOF
	[ "$(xmllint --xpath "string(//*[local-name()='settings'][@pass='specialize']/*[local-name()='component'][@name='Microsoft-Windows-Shell-Setup']/*[local-name()='ProductKey'])" a.xml)" = NPPR9-FWDCX-D2C8J-H872K-2YT43 ]
	[ "$(xmllint --xpath "string(//*[local-name()='settings'][@pass='generalize']//*[local-name()='SkipRearm'])" a.xml)" = 0 ]
	expect_grep '^set "KMSPREP_GVLK=NPPR9-FWDCX-D2C8J-H872K-2YT43"' key.cmd
	grep -v '^rem' key.cmd >code
	expect_no_grep 'rearm' code
	kp image show b.img >show
	expect_grep 'first boot installs KMS client setup key NPPR9-FWDCX-D2C8J-H872K-2YT43 (%WINDIR%\\kmsprep\\firstboot-key.cmd), then activates; no rearm' show
	# Clone mode later: the key goes into its script, before the rearm,
	# and image set's own goes.
	kp image generalize -q --mode clone b.img >out
	expect_grep '^b.img: remove %WINDIR%\\kmsprep\\firstboot-key.cmd$' out
	kp image show b.img >show
	expect_grep 'first boot installs KMS client setup key NPPR9-FWDCX-D2C8J-H872K-2YT43 (%WINDIR%\\kmsprep\\firstboot.cmd), before the rearm' show
	# An organization's key never goes in.
	expect_code 2 kp image set -q --gvlk QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN b.img 2>err
	expect_grep 'not a KMS client setup key' err
	expect_no_grep 'QXR7B' err
}

t "a key by edition and build" by_edition
t "editions without a GVLK are refused, naming the edition" refusals
t "the table: source, date, every key well formed" table
t "from a SOFTWARE hive: edition, build, and the key it holds" from_hive
t "image generalize --mode sysprep and image set: --gvlk on images" image_gvlk
done_testing

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hive set: every setting, exact types, safety (atomic, verified, refusals).
. "$(dirname "$0")/lib.sh"

spp='/Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform'

# rl FILE: reglookup's view of the SPP key, one "name,TYPE,value" per line.
rl() {
	reglookup -p "$spp" "$1" 2>/dev/null | grep -v ',KEY,' |
		sed -n "s|^$spp/||p" | cut -d, -f1-3 | sort
}

every_setting() {
	sample_hive s.hive server
	kp hive set s.hive --kms-host kms.contoso.com:1700 \
		--lookup-domain corp.contoso.com --host-caching off \
		--activation-type kms --dns-publishing off \
		--publish-domain contoso.com,10,50 --publish-domain fabrikam.com \
		--low-priority on --listen-port 1689 --activation-interval 60 \
		--renewal-interval 1440 --skip-rearm on >out
	rl s.hive >got
	expect_grep '^KeyManagementServiceName,SZ,kms.contoso.com$' got
	expect_grep '^KeyManagementServicePort,SZ,1700$' got
	expect_grep '^KeyManagementServiceLookupDomain,SZ,corp.contoso.com$' got
	expect_grep '^DisableKeyManagementServiceHostCaching,DWORD,0x00000001$' got
	expect_grep '^VLActivationType,DWORD,0x00000002$' got
	expect_grep '^DisableDnsPublishing,DWORD,0x00000001$' got
	expect_grep '^DnsDomainPublishList,MULTI_SZ,contoso.com%2C 10%2C 50|fabrikam.com$' got
	expect_grep '^EnableKmsLowPriority,DWORD,0x00000001$' got
	expect_grep '^KeyManagementServiceListeningPort,SZ,1689$' got
	expect_grep '^VLActivationInterval,DWORD,0x0000003C$' got
	expect_grep '^VLRenewalInterval,DWORD,0x000005A0$' got
	expect_grep '^SkipRearm,DWORD,0x00000001$' got
	expect_grep "wrote 's.hive' (12 changes" out
}
t "every setting lands with the type Windows uses" every_setting

exact_bytes() {
	sample_hive s.hive client
	kp hive set s.hive --kms-host kms --publish-domain a.example,1,2 \
		--publish-domain b.example >/dev/null
	kp hive export s.hive 'Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform' >x.reg
	# REG_SZ with its NUL: "kms" is 8 bytes; REG_MULTI_SZ with the final
	# empty string.
	expect_grep '^"KeyManagementServiceName"="kms"$' x.reg
	hivexregedit --export s.hive '\Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform' >h.reg
	expect_grep '^"KeyManagementServiceName"=hex(1):6b,00,6d,00,73,00,00,00$' h.reg
	expect_grep '^"DnsDomainPublishList"=hex(7):61,00,2e,00,65,00,78,00,61,00,6d,00,70,00,6c,00,65,00,2c,00,20,00,31,00,2c,00,20,00,32,00,00,00,62,00,2e,00,65,00,78,00,61,00,6d,00,70,00,6c,00,65,00,00,00,00,00$' h.reg
}
t "exact encodings (REG_SZ NUL, REG_MULTI_SZ closing string)" exact_bytes

kms_host_semantics() {
	sample_hive s.hive client
	kp hive set s.hive --kms-host kms.contoso.com:1700 >/dev/null
	kp hive set s.hive --kms-host other.contoso.com >/dev/null
	rl s.hive >got
	expect_grep '^KeyManagementServiceName,SZ,other.contoso.com$' got
	expect_no_grep 'KeyManagementServicePort' got
	kp hive set s.hive --kms-host :1800 >/dev/null
	rl s.hive >got
	expect_grep '^KeyManagementServiceName,SZ,other.contoso.com$' got
	expect_grep '^KeyManagementServicePort,SZ,1800$' got
	kp hive set s.hive --kms-host '[2001:db8::5]:1688' >/dev/null
	rl s.hive >got
	expect_grep '^KeyManagementServiceName,SZ,\[2001:db8::5\]$' got
	kp hive set s.hive --clear-kms-host >/dev/null
	rl s.hive >got
	expect_no_grep 'KeyManagementService\(Name\|Port\)' got
}
t "--kms-host behaves as slmgr /skms and /ckms" kms_host_semantics

other_values_untouched() {
	sample_hive s.hive server
	rl s.hive >before
	kp hive set s.hive --kms-host kms >/dev/null
	rl s.hive | grep -v '^KeyManagementServiceName' >after
	expect_same before after
	# The secret, TokenStore and Activation subkey are all still there.
	reglookup s.hive | grep -c BackupProductKeyDefault | grep -qx 1
	reglookup s.hive | grep -q 'Activation/NotificationDisabled'
}
t "values other than the ones named are kept" other_values_untouched

dry_run_and_idempotence() {
	sample_hive s.hive server
	cp s.hive orig
	kp hive set s.hive --dry-run --kms-host kms --publish-domain a.example >out
	expect_grep 'KeyManagementServiceName: (absent) -> "kms" REG_SZ' out
	expect_grep '^dry run: 2 changes, nothing written' out
	expect_same orig s.hive
	kp hive set s.hive --kms-host kms --publish-domain a.example >/dev/null
	cp s.hive once
	kp hive set s.hive --kms-host kms --publish-domain a.example >out
	expect_grep '^no change' out
	expect_same once s.hive
	kp hive set --json s.hive --kms-host kms2 >out.json
	python3 -c 'import json,sys; j=json.load(open("out.json")); c=j["changes"][0]; assert c["before"]["value"]=="kms" and c["after"]["value"]=="kms2" and j["written"], j'
}
t "--dry-run writes nothing; a second run changes nothing" dry_run_and_idempotence

# A key whose values change, or that is created, gets the time of the
# change, as in Windows; SOURCE_DATE_EPOCH fixes it.  reglookup reads it.
key_times() {
	sample_hive s.hive client
	SOURCE_DATE_EPOCH=1700000000 kp hive set s.hive --kms-host kms \
		--activation-id 55c92734-d682-4d71-983e-d6ec3f16059f >/dev/null
	reglookup -i -t KEY s.hive >rl
	spp='/Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform'
	expect_grep "^$spp,KEY,,2023-11-14 22:13:20\$" rl
	expect_grep "^$spp/55c92734-d682-4d71-983e-d6ec3f16059f,KEY,,2023-11-14 22:13:20\$" rl
	expect_no_grep "^/Microsoft/Windows NT/CurrentVersion,KEY,,2023-11-14" rl
}
t "changed and new keys get the time of the change" key_times

atomic_write() {
	sample_hive s.hive client
	chmod 0640 s.hive
	ln -s s.hive link.hive
	kp hive set link.hive --backup --kms-host kms >out
	[ -L link.hive ]
	[ "$(stat -c %a s.hive)" = 640 ]
	expect_grep 'backup .*s.hive.bak' out
	[ -f s.hive.bak ]
	kp hive set s.hive --backup --kms-host kms2 >out
	[ -f s.hive.bak.1 ]
	# Each backup holds the file as it was before that write.
	rl s.hive.bak >b0
	expect_no_grep 'KeyManagementServiceName' b0
	rl s.hive.bak.1 >b1
	expect_grep '^KeyManagementServiceName,SZ,kms$' b1
	# No temporary files are left behind.
	[ -z "$(ls -A | grep kmsprep)" ]
	# Sequence numbers equal (clean) and above the old ones.
	kp hive show --json s.hive | python3 -c 'import json,sys; j=json.load(sys.stdin); s=j["sequence"]; assert s[0]==s[1] and not j["dirty"], s'
}
t "writes are atomic, keep mode, follow links, keep backups" atomic_write

read_only_dir() {
	[ "$(id -u)" -ne 0 ] || command -v setpriv >/dev/null || return 0
	sample_hive s.hive client
	mkdir ro && cp s.hive ro/ && chmod 0555 ro && chmod 0644 ro/s.hive
	cp ro/s.hive orig
	if [ "$(id -u)" -eq 0 ]; then
		chmod a+x "$SCRATCH" .
		chown -R nobody ro
		expect_code 1 setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$KMSPREP" hive set ro/s.hive --kms-host kms 2>err
	else
		expect_code 1 kp hive set ro/s.hive --kms-host kms 2>err
	fi
	# In place, the log cannot be created; with --rewrite, the temporary
	# file.
	expect_grep 'cannot open the transaction log' err
	expect_same orig ro/s.hive
	if [ "$(id -u)" -eq 0 ]; then
		expect_code 1 setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$KMSPREP" hive set ro/s.hive --rewrite --kms-host kms 2>err
	else
		expect_code 1 kp hive set ro/s.hive --rewrite --kms-host kms 2>err
	fi
	expect_grep 'cannot create a temporary file' err
	expect_same orig ro/s.hive
}
t "a directory that cannot be written: clear error, file unchanged" read_only_dir

# A small tmpfs, unmounted however the test ends (a failed check ends
# the subshell at once; the directory is then removed).
disk_full() {
	[ "$(id -u)" -eq 0 ] || skip "not root: no tmpfs to fill"
	testdata nt4sp3-SOFTWARE
	mkdir full
	full=$PWD/full
	trap 'umount "$full"' EXIT
	mount -t tmpfs -o size=600k tmpfs full ||
		{ trap - EXIT; skip "cannot mount a tmpfs"; }
	cp nt4sp3-SOFTWARE full/s.hive
	cp full/s.hive orig
	expect_code 1 kp hive set full/s.hive --kms-host kms 2>err
	expect_grep 'No space left on device' err
	expect_same orig full/s.hive
	[ "$(ls full)" = s.hive ]
}
t "a full disk: clear error, file unchanged, no temporary file left" disk_full

dirty_refused() {
	testdata win10-1709-dirty-SYSTEM
	cp win10-1709-dirty-SYSTEM orig
	expect_code 4 kp hive set --force win10-1709-dirty-SYSTEM --kms-host kms 2>err
	expect_grep 'hive is dirty (sequence numbers 1622/1621)' err
	expect_grep 'would lose them' err
	expect_same orig win10-1709-dirty-SYSTEM
}
t "a dirty hive without its logs is refused (exit 4), unchanged" dirty_refused

not_software_refused() {
	testdata win7sp1-SYSTEM
	cp win7sp1-SYSTEM orig
	expect_code 3 kp hive set win7sp1-SYSTEM --kms-host kms 2>err
	expect_grep 'not a SOFTWARE hive.*--force writes anyway' err
	expect_same orig win7sp1-SYSTEM
}
t "a SYSTEM hive is refused unless --force" not_software_refused

# More publish domains than the value can hold: refused while the options
# are read (exit 2, saying how many fit), the hive untouched; the list
# that fits is written whole.
publish_many() {
	local args="" i
	sample_hive h client
	cp h orig
	for i in $(seq 2000); do
		args="$args --publish-domain d$i.example.com"
	done
	# shellcheck disable=SC2086
	expect_code 2 kp hive set h $args 2>err
	expect_grep 'domains fit' err
	cmp h orig
	args=""
	for i in $(seq 400); do
		args="$args --publish-domain d$i.example.com"
	done
	# shellcheck disable=SC2086
	kp hive set h $args >/dev/null
	kp hive show h >out
	expect_grep 'd400.example.com' out
}
t "too many publish domains: refused at once (2), the hive untouched" \
	publish_many

# A lookup domain beside a KMS host: written, but Windows ignores it then
# (slmgr /skms-domain), so kmsprep says which one Windows will use.
lookup_with_host() {
	sample_hive h client
	kp hive set h --kms-host kms.a.example --lookup-domain corp.example \
		>out 2>err
	expect_grep "lookup domain 'corp.example' .* has no effect while a KMS host is set: Windows asks 'kms.a.example' only" err
	kp hive set h --lookup-domain other.example >out 2>err
	expect_no_grep 'no effect' err
}
t "a lookup domain with a KMS host: a warning naming the one Windows uses" \
	lookup_with_host

# Edit a real hive, then compare every key and value with reglookup (its own
# parser) and hivexregedit: only the intended values may differ.
real_hive_diff() {
	local f=$1
	shift
	testdata "$f"
	cp "$f" orig
	kp hive set "$@" "$f" >/dev/null
	reglookup orig 2>/dev/null | sort >a
	reglookup "$f" 2>/dev/null | sort >b
	diff a b | grep '^[<>]' >d || true
	# New keys on the way to the SPP key are intended too, and so is the
	# new time of each key that gained a subkey (the root's included).
	grep -v '^> /Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform' d |
		grep -Ev '^[<>] /(Microsoft(/Windows NT(/CurrentVersion)?)?)?,KEY' \
		>unexpected || true
	[ ! -s unexpected ] || { cat unexpected; return 1; }
	grep -q '^> .*SoftwareProtectionPlatform/KeyManagementServiceName,SZ,kms.contoso.com,' d
	hivexregedit --export orig '\' | sort >ha
	hivexregedit --export "$f" '\' | sort >hb
	diff ha hb | grep '^<' >removed || true
	[ ! -s removed ] || { cat removed; return 1; }
}

nt4_real() {
	real_hive_diff nt4sp3-SOFTWARE --kms-host kms.contoso.com:1688 \
		--publish-domain contoso.com
}
t "real NT 4 SOFTWARE hive: only the intended values differ" nt4_real

win7_real() {
	real_hive_diff win7sp1-SYSTEM --force --kms-host kms.contoso.com
}
t "real Windows 7 SYSTEM hive (--force): only the intended values differ" win7_real

done_testing

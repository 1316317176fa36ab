#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# image show / image set on sample images (client and server; raw and
# qcow2), checked with an independent reader (hives downloaded with guestfish
# and read by reglookup) and libguestfs inspection.  Appliance launches cost
# 10-15 s each under TCG, so the fixtures are made in one launch and shared,
# and each test launches at most one.
. "$(dirname "$0")/lib.sh"

command -v guestfish >/dev/null || skip_all "libguestfs tools not installed"
[ -e /boot/vmlinuz-* ] 2>/dev/null || ls /boot/vmlinuz-* >/dev/null 2>&1 ||
	skip_all "no kernel in /boot for the libguestfs appliance"

IMG=$SCRATCH/images
mkdir -p "$IMG"
# dirty.img: SOFTWARE dirty with no logs; SYSTEM the real dirty hive with
# its logs where ../shared is beside this clone (REAL_DIRTY), else clean.
REAL_DIRTY=
if have_testdata win10-1709-dirty-SYSTEM; then
	(cd "$IMG" && testdata win10-1709-dirty-SYSTEM &&
		testdata win10-1709-dirty-SYSTEM.LOG1 &&
		testdata win10-1709-dirty-SYSTEM.LOG2) || exit 1
	REAL_DIRTY=$IMG/win10-1709-dirty-SYSTEM
fi
SAMPLE_DIRTY_SYSTEM=$REAL_DIRTY \
"$SRC_DIR/scripts/make-sample-image" "$IMG/client.img" client \
	"$IMG/server.img" server "$IMG/hib.img" hibernated \
	"$IMG/dual.img" dual "$IMG/empty.img" empty \
	"$IMG/dirty.img" dirty >/dev/null 2>&1 ||
	skip_all "cannot make sample images (libguestfs appliance broken?)"
qemu-img convert -f raw -O qcow2 "$IMG/server.img" "$IMG/server.qcow2"

# The ACL the sample hives carry (Windows': SYSTEM and Administrators).
ACL=0x0100049014000000240000000000000030000000010200000000000520000000200200000101000000000005120000000200340002000000000014
ACL=${ACL}00ff011f0001010000000000051200000000001800ff011f0001020000000000052000000020020000

# kvm_fails CMD...: CMD with the qemu that aborts when it starts a guest
# with KVM (tests/helper/qemu-kvm-fails) and libguestfs' own choice of
# accelerator.
kvm_fails() {
	env -u LIBGUESTFS_BACKEND_SETTINGS \
		LIBGUESTFS_HV="$SRC_DIR/tests/helper/qemu-kvm-fails" "$@"
}

# expect_kvm_fallback ERR: with /dev/kvm, kmsprep retried with TCG by
# itself and said so; without, qemu fell back to TCG by itself and kmsprep
# had nothing to retry.
expect_kvm_fallback() {
	if [ -e /dev/kvm ]; then
		expect_grep 'the appliance did not start with KVM (qemu-system-x86_64: error: failed to set MSR 0x10a' "$1"
		expect_grep 'retrying once with TCG' "$1"
	else
		expect_no_grep 'retrying' "$1"
		expect_no_grep 'did not start' "$1"
	fi
}

show_all() {
	cp "$IMG/client.img" "$IMG/server.qcow2" "$IMG/hib.img" "$IMG/empty.img" \
		"$IMG/dual.img" "$IMG/dirty.img" .
	sha256sum ./*.img ./*.qcow2 >sums
	# A qemu that fails with KVM as qemu 7.2 does on some machines.
	expect_code 3 kvm_fails "$KMSPREP" image show --backend appliance empty.img client.img \
		server.qcow2 hib.img dual.img dirty.img >out 2>err
	expect_kvm_fallback err
	expect_grep '^image: client.img (raw, backend appliance)' out
	expect_grep '^image: server.qcow2 (qcow2, backend appliance)' out
	expect_grep 'windows: Windows 10 Enterprise; build 19045; edition Enterprise; type Client' out
	expect_grep 'windows: Windows Server 2022 Datacenter; build 20348; edition ServerDatacenter; type Server' out
	expect_grep 'writable: no: Windows is hibernated or was shut down with Fast Startup' out
	expect_grep 'dns search list (ControlSet002)' out
	[ "$(grep -c '^    system hive: clean$' out)" -ge 4 ]
	sed -n '/^image: dirty.img/,$p' out >dirty
	expect_grep 'state: dirty (sequence [0-9]*/[0-9]*); logs not usable: no transaction logs found' dirty
	if [ -n "$REAL_DIRTY" ]; then
		expect_grep 'system hive: dirty; its logs replay' dirty
	else
		expect_grep 'system hive: clean' dirty
	fi
	# An NTFS volume without Windows first (as System Reserved is) does
	# not get in the way of those after it.
	[ "$(grep -c 'windows: /dev/sde[12] /Windows' out)" -eq 2 ]
	sed -n '/^image: empty.img/,$p' out | grep -q 'no Windows installation found'
	expect_grep 'BackupProductKeyDefault .*present; holds a product key, not shown' out
	expect_no_grep 'FAKE0' out
	# show opens the images read-only: not one byte changes.
	sha256sum -c --quiet sums
}
t "show: every image and installation, read-only; TCG fallback" show_all

# The same launch on a machine of the other kind: this one with a /dev/kvm
# if it has none, or without if it has one (tests/helper/with-kvm).
other_kvm() {
	local other=yes rc=0
	[ -e /dev/kvm ] && other=no
	cp "$IMG/client.img" .
	export SRC_DIR
	export -f kvm_fails expect_kvm_fallback expect_grep expect_no_grep
	"$SRC_DIR/tests/helper/with-kvm" $other bash -c '
		kvm_fails "$KMSPREP" image show --backend appliance client.img >out 2>err ||
			{ cat err; exit 1; }
		expect_kvm_fallback err' || rc=$?
	[ $rc -ne 77 ] || skip "this machine cannot make a private /dev without (or with) kvm"
	[ $rc -eq 0 ]
	expect_grep 'windows: Windows 10 Enterprise; build 19045' out
}
t "show with the KVM fault on the other kind of machine (with or without /dev/kvm)" other_kvm

# The appliance's memory: 512 MiB for the guest and 128 MiB for TCG's
# translation cache, not libguestfs' 1280 MiB and qemu's 1 GiB (2.5 GB for
# 8 images).  A qemu that writes down the launch and fails shows what each
# launch (KVM first, then TCG) asked for, without a guest.
# rec-qemu: a qemu that writes its command line to ./launches and fails
# when it would boot the appliance.
rec_qemu() {
	printf '#!/bin/sh\ncase " $* " in *" -kernel "*) echo "$*" >>%s/launches; exit 1 ;; esac\nexec qemu-system-x86_64 "$@"\n' "$PWD" >rec-qemu
	chmod +x rec-qemu
}

appliance_memory() {
	rec_qemu
	cp "$IMG/client.img" .
	expect_code 5 env -u LIBGUESTFS_BACKEND_SETTINGS LIBGUESTFS_HV="$PWD/rec-qemu" \
		"$KMSPREP" image show --backend appliance client.img 2>err
	[ "$(wc -l <launches)" -ge 1 ]
	[ "$(grep -c -- ' -m 512 ' launches)" -eq "$(wc -l <launches)" ]
	[ "$(grep -c -- ' -accel tcg,tb-size=128 ' launches)" -eq "$(wc -l <launches)" ]
	expect_no_grep 'accel=' launches
	# The last launch is the TCG one, which asks for nothing else.
	tail -n 1 launches | grep -v -- '-accel kvm'
	# The script that does it is not run from TMPDIR, which may be
	# another user's (below) or noexec (the next test).
	mkdir -m 0777 open
	TMPDIR=$PWD/open expect_code 5 "$KMSPREP" image show --backend appliance \
		client.img 2>err
	expect_grep "another user could rename or replace kmsprep's scratch files" err
}
t "the appliance: 512 MiB of memory, 128 MiB of translation cache" appliance_memory

# A noexec TMPDIR, as hardened hosts mount /tmp, still gets the TCG
# settings: the tmpfs is unmounted however the test ends.
appliance_noexec_tmpdir() {
	[ "$(id -u)" -eq 0 ] || skip "not root: no noexec tmpfs for TMPDIR"
	rec_qemu
	cp "$IMG/client.img" .
	mkdir nx
	nx=$PWD/nx
	trap 'umount "$nx"' EXIT
	mount -t tmpfs -o noexec,mode=0700 tmpfs nx ||
		{ trap - EXIT; skip "cannot mount a noexec tmpfs"; }
	TMPDIR=$PWD/nx expect_code 5 env -u LIBGUESTFS_BACKEND_SETTINGS \
		LIBGUESTFS_HV="$PWD/rec-qemu" "$KMSPREP" image show \
		--backend appliance client.img 2>err
	grep -q -- ' -accel tcg,tb-size=128 ' launches
}
t "the appliance's TCG settings with a noexec TMPDIR" appliance_noexec_tmpdir

dry_run() {
	cp "$IMG/client.img" "$IMG/server.qcow2" .
	sha256sum ./*.img ./*.qcow2 >sums
	kp image set --backend appliance -q --dry-run client.img server.qcow2 \
		--kms-host kms.contoso.com:1688 \
		--dns-search-list corp.contoso.com,contoso.com >out
	expect_grep '^client.img: SOFTWARE: .*KeyManagementServiceName: (absent) -> "kms.contoso.com" REG_SZ' out
	expect_grep '^server.qcow2: SYSTEM: ControlSet002\\Services\\Tcpip\\Parameters\\SearchList: (absent) -> "corp.contoso.com,contoso.com" REG_SZ' out
	expect_grep '^dry run: 6 changes, nothing written' out
	sha256sum -c --quiet sums
	# A dry run makes no overlay either.
	kp image set --backend appliance -q --dry-run client.img --overlay ov.qcow2 \
		--kms-host kms.contoso.com >out
	[ ! -e ov.qcow2 ]
}
t "--dry-run leaves the images byte-identical" dry_run

# The written images, read back by an independent reader in one launch.
write_and_check() {
	cp "$IMG/client.img" "$IMG/server.qcow2" "$IMG/dual.img" .
	cp client.img base.img
	kp image set --backend appliance -q client.img server.qcow2 dual.img --root /dev/sdc2 \
		--kms-host kms.contoso.com:1688 --publish-domain contoso.com,10,50 \
		--dns-search-list corp.contoso.com,contoso.com >out
	expect_grep '^client.img: written and verified (4 changes)' out
	expect_grep '^server.qcow2: written and verified (4 changes)' out
	expect_grep '^dual.img: written and verified (4 changes)' out
	kp image set --backend appliance -q client.img --kms-host kms.contoso.com:1688 >out
	expect_grep '^client.img: no change' out
	# The overlay: the image stays as it was, the overlay holds the change.
	sha256sum base.img >sums
	kp image set --backend appliance -q base.img --overlay ov.qcow2 --kms-host kms2.contoso.com >out
	expect_grep 'written and verified (1 change) in overlay ov.qcow2' out
	sha256sum -c --quiet sums
	qemu-img info ov.qcow2 | grep -q 'backing file: .*base.img'

	guestfish --ro -a client.img -a server.qcow2 -a dual.img -a ov.qcow2 >gf 2>&1 <<'GF'
run
inspect-os
mount-ro /dev/sda1 /
download /Windows/System32/config/SOFTWARE c-SOFTWARE
download /Windows/System32/config/SYSTEM c-SYSTEM
download /Windows/System32/config/SOFTWARE.LOG1 c-SOFTWARE.LOG1
getxattr /Windows/System32/config/SOFTWARE system.ntfs_acl | od -An -tx1 -v
umount /
mount-ro /dev/sdb1 /
download /Windows/System32/config/SOFTWARE s-SOFTWARE
download /Windows/System32/config/SYSTEM s-SYSTEM
umount /
mount-ro /dev/sdc1 /
download /Windows/System32/config/SOFTWARE d1-SOFTWARE
umount /
mount-ro /dev/sdc2 /
download /Windows/System32/config/SOFTWARE d2-SOFTWARE
umount /
mount-ro /dev/sdd1 /
download /Windows/System32/config/SOFTWARE o-SOFTWARE
umount /
GF
	# Still recognised as the same Windows by libguestfs inspection.
	[ "$(grep -c '^/dev/sd' gf)" -eq 5 ] || { cat gf; return 1; }
	spp='/Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform'
	for f in c-SOFTWARE s-SOFTWARE d2-SOFTWARE; do
		reglookup -p "$spp" "$f" >rl
		expect_grep 'KeyManagementServiceName,SZ,kms.contoso.com,' rl
		expect_grep 'KeyManagementServicePort,SZ,1688,' rl
		expect_grep 'DnsDomainPublishList,MULTI_SZ,contoso.com%2C 10%2C 50,' rl
	done
	reglookup -p "$spp" d1-SOFTWARE >rl
	expect_no_grep 'KeyManagementServiceName' rl
	reglookup -p "$spp" o-SOFTWARE >rl
	expect_grep 'KeyManagementServiceName,SZ,kms2.contoso.com,' rl
	reglookup -p /ControlSet001/Services/Tcpip/Parameters c-SYSTEM >rl
	expect_grep 'SearchList,SZ,corp.contoso.com%2Ccontoso.com,' rl
	reglookup -p /ControlSet002/Services/Tcpip/Parameters s-SYSTEM >rl
	expect_grep 'SearchList,SZ,corp.contoso.com%2Ccontoso.com,' rl
	# The hive was written in place through a log Windows replays (the
	# sample hives have none: kmsprep made it), and left clean: its two
	# sequence numbers equal.
	[ "$(head -c 4 c-SOFTWARE.LOG1)" = regf ]
	[ "$(tail -c +513 c-SOFTWARE.LOG1 | head -c 4)" = HvLE ]
	[ "$(od -An -tx4 -j4 -N4 c-SOFTWARE)" = "$(od -An -tx4 -j8 -N4 c-SOFTWARE)" ]
	# The written hive keeps the NTFS security of the original.
	acl=$(grep -A20 '^ 01 00 04' gf | tr -d ' \n' | head -c $(( ${#ACL} - 2 )))
	[ "0x$acl" = "$ACL" ] || { echo "ACL 0x$acl"; return 1; }
	# Only the SPP values changed in the hive.
	testdata=$SRC_DIR/tests/data
	"$KMSPREP" hive new ref >/dev/null
	"$KMSPREP" hive import ref "$testdata/software-client.reg" >/dev/null
	reglookup ref | grep -v ',KEY,' | sort >a
	reglookup c-SOFTWARE | grep -v ',KEY,' | sort >b
	diff a b | grep '^[<>]' | grep -v "^> $spp/" >unexpected || true
	[ ! -s unexpected ] || { cat unexpected; return 1; }
}
t "set on raw, qcow2 and a chosen root; overlay; independent check" write_and_check

refusals() {
	cp "$IMG/client.img" "$IMG/hib.img" "$IMG/dual.img" .
	sha256sum client.img hib.img dual.img >sums
	# A hibernated volume in a batch: exit 4 before anything changes.
	expect_code 4 kp image set --backend appliance -q client.img hib.img --kms-host kms 2>err
	expect_grep "'hib.img': /dev/sdb1: Windows is hibernated or was shut down with Fast Startup on" err
	expect_grep 'shut it down fully' err
	expect_grep 'no image was changed' err
	sha256sum -c --quiet sums
	# A dry run shows the plan and ends as the real run would.
	expect_code 4 kp image set --backend appliance -q --dry-run hib.img --kms-host kms >out 2>err
	expect_grep "'hib.img': /dev/sda1: Windows is hibernated.*a real run would be refused" err
	expect_grep 'KeyManagementServiceName' out
	sha256sum -c --quiet sums
	# Two installations and no --root.
	expect_code 2 kp image set --backend appliance -q --dry-run dual.img --kms-host kms 2>err
	expect_grep "'dual.img' holds 2 Windows installations (/dev/sda1, /dev/sda2); choose one with --root DEVICE" err
}
t "hibernated volume refused (4), nothing changed; several roots need --root" refusals

# A dirty hive: refused with nothing changed, unless --force-dirty; the logs
# of one that has them are replayed into what is written.
dirty_hives() {
	cp "$IMG/client.img" "$IMG/dirty.img" .
	sha256sum client.img dirty.img >sums
	expect_code 4 kp image set --backend appliance -q client.img dirty.img --kms-host kms 2>err
	expect_grep "'dirty.img': /dev/sdb1: '/Windows/System32/config/SOFTWARE': hive is dirty (sequence numbers [0-9]*/[0-9]*)" err
	expect_grep 'none can be replayed (no transaction logs found).*--force-dirty writes anyway' err
	sha256sum -c --quiet sums
	kp image set --backend appliance dirty.img --force-dirty --kms-host kms.contoso.com \
		--dns-search-list corp.contoso.com >out 2>err
	expect_grep "'dirty.img': /dev/sda1: SOFTWARE is dirty and its logs cannot be replayed (no transaction logs found); writing anyway (--force-dirty)" err
	[ -z "$REAL_DIRTY" ] ||
		expect_grep "'dirty.img': /dev/sda1: SYSTEM was dirty: replayed 24 transaction log entries in memory first" err
	expect_grep '^dirty.img: written and verified (2 changes)' out
	guestfish --ro -a dirty.img >gf 2>&1 <<'GF'
run
mount-ro /dev/sda1 /
download /Windows/System32/config/SOFTWARE SOFTWARE
download /Windows/System32/config/SYSTEM SYSTEM
GF
	# Both written clean, SYSTEM with what only its logs held.
	for h in SOFTWARE SYSTEM; do
		od -An -tu4 -j4 -N8 $h | awk '{ exit !($1 == $2) }'
		"$TEST_TOOL" regf-check $h >/dev/null
	done
	reglookup SYSTEM >rl 2>/dev/null
	if [ -n "$REAL_DIRTY" ]; then
		od -An -tu4 -j4 -N8 SYSTEM | awk '{ exit !($1 > 2130) }'
		expect_grep '^/ControlSet001/Control/Class/{4d36e967-e325-11ce-bfc1-08002be10318}/0003/DriverDesc,SZ,Disk drive,' rl
	fi
	expect_grep '^/ControlSet001/Services/Tcpip/Parameters/SearchList,SZ,corp.contoso.com,' rl
	reglookup -p '/Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform' SOFTWARE >rl
	expect_grep 'KeyManagementServiceName,SZ,kms.contoso.com,' rl
}
t "dirty hives: refused (4) unless --force-dirty; logs replayed into the write" dirty_hives

no_windows() {
	cp "$IMG/empty.img" .
	expect_code 3 kp image set --backend appliance -q empty.img --kms-host kms 2>err
	expect_grep "'empty.img': no Windows installation found" err
}
t "an image without Windows: exit 3" no_windows

before_launch() {
	cp "$IMG/client.img" .
	expect_code 3 kp image set --backend appliance -q missing.img --kms-host kms 2>err
	expect_grep "'missing.img': cannot open: No such file or directory" err
	cp client.img ro.img
	chmod 0444 ro.img
	expect_code 4 kp image set --backend appliance -q ro.img --kms-host kms 2>err
	expect_grep "'ro.img': cannot be written: Permission denied; give --overlay" err
	# The same refusal on the direct backend, though root could write it.
	expect_code 4 kp image set --backend direct -q ro.img --kms-host kms 2>err
	expect_grep "'ro.img': cannot be written: Permission denied; give --overlay" err
	expect_code 2 kp image set --backend appliance -q client.img --format qed --kms-host k 2>err
	expect_grep "expected raw, qcow2, vmdk, vhdx, vpc (vhd) or vdi" err
	# A format that does not match the file: refused, never guessed.
	expect_code 3 kp image set --backend appliance -q client.img --format vdi --kms-host k 2>err
	expect_grep "not a valid vdi image" err
	expect_code 2 kp image set --backend appliance -q client.img client.img --overlay o.qcow2 \
		--kms-host k 2>err
	expect_code 2 kp image set --backend appliance -q client.img 2>err
	expect_grep 'no setting given' err
	expect_code 2 kp image set --backend appliance -q client.img --dns-search-list 'a b' 2>err
	# An image held by a running qemu: refused before any launch.
	qemu-system-x86_64 -machine none -nodefaults -display none -S \
		-drive file=client.img,format=raw,if=none,id=d0 &
	qpid=$!
	for _ in $(seq 50); do
		ls -l /proc/$qpid/fd 2>/dev/null | grep -q client.img && break
		sleep 0.1
	done
	sha256sum client.img >sums
	rc=0
	kp image set --backend appliance -q client.img --kms-host kms 2>err || rc=$?
	kill $qpid
	wait $qpid 2>/dev/null || true
	[ $rc -eq 4 ] || { cat err; return 1; }
	expect_grep 'in use by a running virtual machine' err
	sha256sum -c --quiet sums
}
t "missing, read-only and in-use images, bad options: no launch" before_launch

# The same sample images (made by the appliance) through the direct
# backend, with no launch: the same installations, versions and refusals,
# and auto takes it for them.  t2200 checks the direct backend's writes.
direct_agrees() {
	cp "$IMG/client.img" "$IMG/server.qcow2" "$IMG/hib.img" "$IMG/empty.img" \
		"$IMG/dual.img" .
	sha256sum ./*.img ./*.qcow2 >sums
	expect_code 3 kp image show --backend direct empty.img client.img \
		server.qcow2 hib.img dual.img >out 2>err
	expect_grep '^image: client.img (raw, backend direct)' out
	expect_grep '^image: server.qcow2 (qcow2, backend direct)' out
	expect_grep 'windows: Windows 10 Enterprise; build 19045; edition Enterprise; type Client' out
	expect_grep 'windows: Windows Server 2022 Datacenter; build 20348; edition ServerDatacenter; type Server' out
	expect_grep 'writable: no: Windows is hibernated' out
	[ "$(grep -c 'windows: /dev/sde[12] /Windows' out)" -eq 2 ]
	sed -n '/^image: empty.img/,/^image:/p' out | grep -q 'no Windows installation found'
	expect_code 4 kp image set -q --backend direct client.img hib.img \
		--kms-host kms 2>err
	expect_grep "'hib.img': /dev/sdb1: Windows is hibernated" err
	expect_grep 'no image was changed' err
	sha256sum -c --quiet sums
	kp image show client.img >out 2>err
	expect_grep '^image: client.img (raw, backend direct)' out
	expect_no_grep 'using the appliance' err
}
t "the appliance's sample images through the direct backend; auto picks it" direct_agrees

# A remote drive through the appliance: libguestfs connects to a qemu-nbd
# on a Unix socket (no nbd kernel module); what it wrote is read back
# from the served file with the direct backend.
nbd_appliance() {
	command -v qemu-nbd >/dev/null || skip "no qemu-nbd"
	cp "$IMG/client.img" n.img
	qemu-nbd --fork --persistent --pid-file "$PWD/n.pid" -f raw \
		-k "$PWD/n.sock" n.img
	trap 'kill "$(cat "$PWD/n.pid")" 2>/dev/null || true' EXIT
	uri="nbd+unix:///?socket=$PWD/n.sock"
	kp image set -q --backend appliance "$uri" --kms-host kms.nbd.example \
		>out 2>err
	expect_grep "^$uri: written and verified" out
	kill "$(cat "$PWD/n.pid")"
	sleep 0.5
	kp image show --backend direct n.img >show
	expect_grep 'kms.nbd.example' show
}
t "an nbd+unix:// drive written through the appliance, read back directly" nbd_appliance


done_testing

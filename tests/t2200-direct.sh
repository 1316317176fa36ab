#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The direct image backend (image/ntfsvol.h, image/worker.h) through
# kmsprep-test-tool direct, on images made in seconds without the appliance
# (tests/helper/mkimage-direct): MBR and GPT, raw and qcow2, in process and
# sandboxed; security descriptors kept; refusals before any write.
. "$(dirname "$0")/lib.sh"

PATH=$PATH:/sbin:/usr/sbin
for tool in sfdisk mkntfs; do
	command -v $tool >/dev/null 2>&1 || skip_all "no $tool"
done
MK=$SRC_DIR/tests/helper/mkimage-direct
SW=Windows/System32/config/SOFTWARE
SPP='Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform'
dt() { "$TEST_TOOL" direct "$@"; }

# One sample image for the whole script; each test copies it.  The SYSTEM
# hive is what the kmsprep image commands need beside SOFTWARE.
sample_hive "$SCRATCH/soft" client || exit 1
"$KMSPREP" hive new "$SCRATCH/sys" >/dev/null &&
	"$KMSPREP" hive import "$SCRATCH/sys" "$SRC_DIR/tests/data/system.reg" \
		>/dev/null || exit 1
export MKIMAGE_SYSTEM=$SCRATCH/sys
"$MK" "$SCRATCH/mbr.img" mbr "$SCRATCH/soft" || exit 1
"$MK" "$SCRATCH/gpt.img" gpt "$SCRATCH/soft" || exit 1
"$KMSPREP" hive new "$SCRATCH/ssoft" >/dev/null &&
	"$KMSPREP" hive import "$SCRATCH/ssoft" \
		"$SRC_DIR/tests/data/software-server.reg" >/dev/null || exit 1
"$MK" "$SCRATCH/srv.img" mbr "$SCRATCH/ssoft" || exit 1

# The descriptor kmsprep gives new files, written out byte by byte: owner
# Administrators, group SYSTEM, protected DACL: SYSTEM and Administrators
# full control, Users read and execute.
NEW_SD=0100049014000000240000000000000030000000\
01020000000000052000000020020000\
010100000000000512000000\
02004c0003000000\
00001400ff011f00010100000000000512000000\
00001800ff011f0001020000000000052000000020020000\
00001800a900120001020000000000052000000021020000

hexof() { od -An -tx1 -v "$1" | tr -d ' \n'; }

find_mbr() {
	dt -r "$SCRATCH/mbr.img" roots >out
	expect_grep '^table dos$' out
	expect_grep '^root 0 part 1 start 1048576 .* systemroot /Windows state 0$' out
	dt -r "$SCRATCH/mbr.img" read windows/system32/CONFIG/software got
	expect_same "$SCRATCH/soft" got
}
t "MBR: Windows found, SOFTWARE read in any case" find_mbr

find_gpt() {
	dt -r "$SCRATCH/gpt.img" roots ls Windows/System32 >out
	expect_grep '^table gpt$' out
	expect_grep '^root 0 part 1 ' out
	expect_grep '^cmd.exe$' out
	expect_grep '^config$' out
}
t "GPT: Windows found, directories listed" find_gpt

replace_keeps_sd() {
	cp "$SCRATCH/mbr.img" d.img
	# Hidden, system, archive: attributes a new file would not have.
	dt d.img attrib $SW 26 sd $SW before.sd >a1
	expect_grep '^attrib 0x00000026$' a1
	dt d.img set $SW "$SPP" KeyManagementServiceName kms.example.com \
		sd $SW after.sd >a2
	expect_same before.sd after.sd
	expect_same a1 a2
	dt -r d.img read $SW new ls Windows/System32/config >ls
	"$KMSPREP" hive show new >show
	expect_grep 'KeyManagementServiceName .*"kms.example.com"' show
	# Nothing left behind: no temporary or old copy.
	[ "$(sort ls | tr '\n' ' ')" = "SOFTWARE SYSTEM " ]
	# An independent reader (ntfs-3g's ntfscat) sees the same bytes.
	if command -v ntfscat >/dev/null 2>&1; then
		dd if=d.img of=p.img bs=1M skip=1 status=none
		ntfscat p.img /$SW >cat
		expect_same new cat
	fi
}
t "replace: content read back, descriptor and attributes kept" replace_keeps_sd

old_sd_not_default() {
	cp "$SCRATCH/mbr.img" d.img
	printf 'one' >one
	printf 'two' >two
	# A file with a descriptor of its own (SYSTEM and Administrators
	# only), replaced: it keeps that one, not the default.
	dt d.img secret Windows/key.txt one sd Windows/key.txt s1 >/dev/null
	dt d.img put Windows/key.txt two sd Windows/key.txt s2 >/dev/null
	expect_same s1 s2
	[ "$(hexof s1)" != "$NEW_SD" ]
	dt -r d.img read Windows/key.txt got
	expect_same two got
}
t "replace keeps the old file's own descriptor" old_sd_not_default

new_file_sd() {
	cp "$SCRATCH/mbr.img" d.img
	printf 'hello' >f
	dt d.img put Windows/Setup/Scripts/none.txt f 2>err && exit 1
	dt d.img mkdir Windows/Setup/Scripts \
		put Windows/Setup/Scripts/SetupComplete.cmd f \
		sd Windows/Setup/Scripts/SetupComplete.cmd sd >/dev/null
	[ "$(hexof sd)" = "$NEW_SD" ]
}
t "new file: SYSTEM/Administrators full control, Users read" new_file_sd

remove_file() {
	cp "$SCRATCH/mbr.img" d.img
	dt d.img rm windows/system32/CMD.EXE
	dt -r d.img ls Windows/System32 >ls
	expect_no_grep -i '^cmd.exe$' ls
	expect_code 3 dt d.img rm Windows/System32/cmd.exe
	expect_code 1 dt d.img rm Windows/System32
}
t "remove: a file goes, a directory is refused" remove_file

unchanged_identical() {
	cp "$SCRATCH/mbr.img" d.img
	sum=$(sha256sum <d.img)
	dt -r d.img roots read $SW x ls Windows sd $SW s >/dev/null
	# Open for writing, but nothing written: still mounted read-only.
	dt d.img roots read $SW x ls Windows >/dev/null
	[ "$(sha256sum <d.img)" = "$sum" ]
}
t "an image left unchanged is byte-identical" unchanged_identical

hibernated() {
	cp "$SCRATCH/mbr.img" d.img
	for magic in HIBR hibr; do
		{ printf $magic; head -c 8188 /dev/zero; } >hib
		dt d.img put hiberfil.sys hib
		dt -r d.img roots >out
		expect_grep 'state 1 unwritable: Windows is hibernated' out
		sum=$(sha256sum <d.img)
		expect_code 4 dt d.img put $SW "$SCRATCH/soft" 2>err
		expect_grep 'hibernated' err
		[ "$(sha256sum <d.img)" = "$sum" ]
		# The refusal says how to make it writable.
		expect_code 4 kp image set --backend direct --kms-host k.example \
			d.img 2>err
		expect_grep 'shut it down fully (shutdown /s /t 0; powercfg /h off' err
		dt -s -r d.img roots >out
		expect_grep 'state 1 unwritable' out
		# A resumed system's hiberfil.sys is no obstacle.
		{ printf WAKE; head -c 8188 /dev/zero; } >hib
		cp "$SCRATCH/mbr.img" d.img
		dt d.img put hiberfil.sys hib put $SW "$SCRATCH/soft"
	done
}
t "hibernated volume refused, nothing written" hibernated

unclean() {
	cp "$SCRATCH/mbr.img" d.img
	"$TEST_TOOL" direct-dirty d.img 1
	sum=$(sha256sum <d.img)
	expect_code 4 dt d.img put $SW "$SCRATCH/soft" 2>err
	expect_grep 'not shut down cleanly' err
	[ "$(sha256sum <d.img)" = "$sum" ]
}
t "unclean volume refused, nothing written" unclean

bitlocker() {
	cp "$SCRATCH/mbr.img" d.img
	printf -- '-FVE-FS-' | dd of=d.img bs=1 seek=$((1048576 + 3)) \
		conv=notrunc status=none
	sum=$(sha256sum <d.img)
	dt -r d.img roots >out
	expect_grep '^locked part 1 bitlocker: BitLocker volume$' out
	expect_no_grep '^root' out
	expect_code 3 dt d.img put $SW "$SCRATCH/soft" 2>err
	[ "$(sha256sum <d.img)" = "$sum" ]
}
t "BitLocker signature: listed as locked, nothing written" bitlocker

sandboxed() {
	cp "$SCRATCH/gpt.img" d.img
	dt -s -r d.img roots >out
	expect_grep '^table gpt$' out
	dt -s d.img set $SW "$SPP" KeyManagementServiceName kms.sandbox \
		sd $SW s2 >/dev/null
	dt -r "$SCRATCH/gpt.img" sd $SW s1 >/dev/null
	expect_same s1 s2
	dt -s -r d.img read $SW new
	"$KMSPREP" hive show new >show
	expect_grep '"kms.sandbox"' show
}
t "sandboxed worker: find, replace, read back" sandboxed

sandbox_kill() {
	cp "$SCRATCH/mbr.img" d.img
	sum=$(sha256sum <d.img)
	KMSPREP_SANDBOX_SELFTEST=1 expect_code 1 dt -s d.img forbidden \
		put $SW "$SCRATCH/soft" 2>err
	expect_grep 'forbidden system call' err
	[ "$(sha256sum <d.img)" = "$sum" ]
	# Without the test switch the request is refused, not obeyed.
	expect_code 1 dt -s d.img forbidden 2>err
	expect_grep 'no self-test' err
}
t "a forbidden system call kills the worker: clean error, nothing written" sandbox_kill

hive_server_kill() {
	cp "$SCRATCH/mbr.img" d.img
	sum=$(sha256sum <d.img)
	# The hive server, as a hostile hive could subvert it, dies at open.
	KMSPREP_SANDBOX_SELFTEST=1 KMSPREP_HIVE_SERVER_DIE_ON_OPEN=1 \
		expect_code 1 "$KMSPREP" image set --backend direct d.img \
		--kms-host kms.example.com 2>err
	expect_grep 'forbidden system call' err
	[ "$(sha256sum <d.img)" = "$sum" ]
	# Without the test switch the hook does nothing.
	KMSPREP_HIVE_SERVER_DIE_ON_OPEN=1 kp image set -q --backend direct \
		d.img --kms-host kms.example.com >/dev/null
	[ "$(sha256sum <d.img)" != "$sum" ]
}
t "the hive server killed by a forbidden call: clean error, image unchanged" hive_server_kill

# The hive server has --request-timeout as the NTFS worker has: one that
# a hive keeps computing is stopped when it runs out (exit 3, the input's
# fault), not after ten minutes.
hive_server_deadline() {
	cp "$SCRATCH/mbr.img" d.img
	sum=$(sha256sum <d.img)
	t0=$(date +%s)
	KMSPREP_SANDBOX_SELFTEST=1 KMSPREP_HIVE_SERVER_LOOP_ON_OPEN=1 \
		expect_code 3 "$KMSPREP" image set --backend direct \
		--request-timeout 2 d.img --kms-host kms.example.com 2>err
	[ $(($(date +%s) - t0)) -lt 30 ]
	expect_grep 'did not answer within 2 s and was stopped (it kept computing' err
	[ "$(sha256sum <d.img)" = "$sum" ]
}
t "the hive server's requests have --request-timeout: a looping one is stopped" hive_server_deadline

# A worker subverted by the image could keep the hive's copy mapped and
# change it after the hive server checked it.  The copy is sealed once
# the worker answers, which fails while it holds such a mapping.
worker_keeps_copy() {
	cp "$SCRATCH/mbr.img" d.img
	sum=$(sha256sum <d.img)
	KMSPREP_SANDBOX_SELFTEST=1 KMSPREP_WORKER_KEEP_COPY=1 \
		expect_code 3 "$KMSPREP" image set --backend direct d.img \
		--kms-host kms.example.com 2>err
	expect_grep 'kept its copy mapped for writing' err
	[ "$(sha256sum <d.img)" = "$sum" ]
	KMSPREP_SANDBOX_SELFTEST=1 KMSPREP_WORKER_KEEP_COPY=1 \
		expect_code 3 "$KMSPREP" image show --backend direct d.img \
		>/dev/null 2>err
	expect_grep 'kept its copy mapped for writing' err
}
t "a worker that keeps the hive's copy writable is caught, nothing written" worker_keeps_copy

in_use() {
	command -v python3 >/dev/null 2>&1 || return 0
	cp "$SCRATCH/mbr.img" d.img
	# A byte-range lock where qemu takes its own (offset 100).
	python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "rb+")
fcntl.lockf(f, fcntl.LOCK_SH, 1, 100)
print("locked", flush=True)
time.sleep(120)' d.img >lk &
	pid=$!
	trap 'kill $pid 2>/dev/null || :' EXIT
	for i in $(seq 100); do grep -q locked lk && break; sleep 0.1; done
	sum=$(sha256sum <d.img)
	expect_code 4 dt d.img put $SW "$SCRATCH/soft" 2>err
	expect_grep 'in use by a running virtual machine' err
	expect_code 4 dt -r d.img roots 2>err
	if command -v qemu-nbd >/dev/null 2>&1; then
		expect_code 4 dt -n -r d.img roots 2>err
		expect_grep 'in use by a running virtual machine' err
	fi
	kill $pid
	[ "$(sha256sum <d.img)" = "$sum" ]
}
t "an image in use by a virtual machine is refused, nothing written" in_use

supported() {
	"$TEST_TOOL" direct-supported "$SCRATCH/mbr.img" >out
	expect_grep '^yes$' out
	"$TEST_TOOL" direct-supported "$SCRATCH/gpt.img" >out
	expect_grep '^yes$' out
	cp "$SCRATCH/mbr.img" lvm.img
	printf 'label: dos\nstart=2048, size=100000, type=7\nstart=102048, size=20000, type=8e\n' |
		sfdisk -q lvm.img 2>/dev/null
	"$TEST_TOOL" direct-supported lvm.img >out
	expect_grep '^no: partition 2 is LVM$' out
	cp "$SCRATCH/gpt.img" ss.img
	printf 'label: gpt\nstart=2048, size=100000, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\nstart=102400, size=20000, type=E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D\n' |
		sfdisk -q ss.img 2>/dev/null
	"$TEST_TOOL" direct-supported ss.img >out
	expect_grep '^no: partition 2 is Storage Spaces$' out
	cp "$SCRATCH/mbr.img" bl.img
	printf -- '-FVE-FS-' | dd of=bl.img bs=1 seek=$((1048576 + 3)) \
		conv=notrunc status=none
	"$TEST_TOOL" direct-supported -k bl.img >out
	expect_grep '^no: partition 1 is BitLocker' out
	"$TEST_TOOL" direct-supported bl.img >out
	expect_grep '^no: no Windows' out
}
t "automatic choice: why the appliance is needed, on one line" supported

if command -v qemu-nbd >/dev/null 2>&1 && command -v qemu-img >/dev/null 2>&1; then
	qcow2() {
		qemu-img convert -O qcow2 "$SCRATCH/mbr.img" d.qcow2
		dt -r d.qcow2 roots >out
		expect_grep '^table dos$' out
		dt d.qcow2 set $SW "$SPP" KeyManagementServiceName kms.nbd
		dt -s -r d.qcow2 read $SW new
		"$KMSPREP" hive show new >show
		expect_grep '"kms.nbd"' show
		# Raw through qemu-nbd too.
		dt -n -r "$SCRATCH/gpt.img" read $SW raw
		expect_same "$SCRATCH/soft" raw
	}
	t "qcow2 and raw through qemu-nbd" qcow2

	overlay() {
		cp "$SCRATCH/mbr.img" base.img
		sum=$(sha256sum <base.img)
		dt -o ov.qcow2 base.img set $SW "$SPP" KeyManagementServiceName \
			kms.overlay
		[ "$(sha256sum <base.img)" = "$sum" ]
		# The overlay names its base: read only when that is accepted.
		expect_code 3 dt -r ov.qcow2 read $SW new
		dt -b -r ov.qcow2 read $SW new
		"$KMSPREP" hive show new >show
		expect_grep '"kms.overlay"' show
		# A failed run removes the overlay it made.
		expect_code 1 dt -o ov2.qcow2 base.img rm Windows
		[ ! -e ov2.qcow2 ]
	}
	t "overlay: the base image is untouched" overlay
fi

# A journaled hive commit inside the image (dr_journal, issue 15): only the
# changed pages of a 10 MB SOFTWARE hive and its log are written to the
# image, and the hive read back is byte for byte what 'kmsprep hive set'
# makes of a local copy; a second change, through the sandboxed worker,
# goes to LOG2.
journal_in_place() {
	local n=0 host written sb
	"$TEST_TOOL" mkhive big 60 500 2 40 >/dev/null
	[ "$(stat -c %s big)" -ge 8000000 ]
	"$MK" big.img mbr big 96
	cp big ref
	export SOURCE_DATE_EPOCH=1700000000
	for host in kms1.example.com kms2.example.com; do
		n=$((n + 1))
		sb=
		[ $n = 2 ] && sb=-s
		"$KMSPREP" hive set ref --kms-host $host >/dev/null
		dt $sb big.img journal $SW "$SPP" KeyManagementServiceName \
			$host local >out
		expect_grep "^log $n$" out
		written=$(sed -n 's/^written //p' out)
		echo "change $n: $written bytes written to the image"
		[ "$written" -gt 0 ] && [ "$written" -le 1048576 ]
		dt -r big.img read $SW got read $SW.LOG$n gotlog \
			sd $SW s1 sd $SW.LOG$n s2 >attr
		expect_same ref got
		expect_same ref.LOG$n gotlog
		# The log has the hive's descriptor; hidden, system, archive.
		expect_same s1 s2
		expect_grep '^attrib 0x00000026$' attr
	done
	unset SOURCE_DATE_EPOCH
	"$KMSPREP" hive show got >show
	expect_grep 'state: clean' show
	expect_grep 'kms2.example.com' show
	if command -v ntfscat >/dev/null 2>&1; then
		dd if=big.img of=p.img bs=1M skip=1 status=none
		ntfscat p.img /$SW >cat
		expect_same ref cat
	fi
}
t "journaled commit in the image: under 1 MiB written, the same hive" journal_in_place

#
# The same safety rules through the real CLI, kmsprep image ... --backend
# direct, as t2000 checks them through the appliance.
#
KP_SPP='/Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform'

# reg_value IMAGE NAME: a SPP value of IMAGE's SOFTWARE hive, read back by
# an independent reader (reglookup) from the hive the direct tool extracts.
reg_value() {
	dt -r "$1" read $SW "$1.sw"
	reglookup -H -p "$KP_SPP/$2" "$1.sw" | cut -d, -f3
}

cli_set() {
	command -v reglookup >/dev/null || skip "no reglookup"
	cp "$SCRATCH/mbr.img" a.img
	cp "$SCRATCH/gpt.img" b.img
	# Hidden, system, archive, as the descriptor: kept by the replace.
	dt a.img attrib $SW 26 sd $SW before.sd >a1
	expect_grep '^attrib 0x00000026$' a1
	kp image set --backend direct a.img b.img \
		--kms-host kms.example.com:1700 >out 2>err
	expect_grep '^a.img: written and verified' out
	expect_grep '^b.img: written and verified' out
	[ "$(reg_value a.img KeyManagementServiceName)" = kms.example.com ]
	[ "$(reg_value a.img KeyManagementServicePort)" = 1700 ]
	[ "$(reg_value b.img KeyManagementServiceName)" = kms.example.com ]
	# The replaced hive kept its own descriptor (SYSTEM and
	# Administrators only), not the one new files get.
	dt -r a.img sd $SW after.sd ls Windows/System32/config >ls.out
	grep -v "^attrib" ls.out >ls
	expect_same before.sd after.sd
	dt -r a.img sd $SW after.sd >a2
	expect_same a1 a2
	[ "$(hexof after.sd)" != "$NEW_SD" ]
	expect_no_grep -i 'kmsprep\|tmp' ls
	kp image show --backend direct a.img >show
	expect_grep '^image: a.img (raw, backend direct)' show
	expect_grep '^  hives: parsed in a sandboxed hive server' show
	kp image show --json a.img >j
	python3 -c 'import json,sys; j=json.load(open("j")); assert j["images"][0]["backend"] == "direct", j'
	# Fenced by Landlock exactly when the kernel has it (test tool),
	# else by chroot when run as root.
	fenced=$("$TEST_TOOL" landlock-abi | awk -v root=$(id -u) \
		'{ print ($1 > 0) ? "landlock" : root == 0 ? "chroot" : "unfenced" }')
	python3 -c 'import json,sys; j=json.load(open("j")); assert j["images"][0]["hive_sandbox"] == sys.argv[1], j' "$fenced"
	# Set again: nothing to do, and not one byte changes.
	sum=$(sha256sum <a.img)
	kp image set -q --backend direct a.img --kms-host kms.example.com:1700 >out
	expect_grep '^a.img: no change$' out
	[ "$(sha256sum <a.img)" = "$sum" ]
}
t "CLI, direct: image set writes, read back by reglookup; descriptor kept; no change is byte-identical" cli_set

cli_dry_run() {
	cp "$SCRATCH/mbr.img" a.img
	sum=$(sha256sum <a.img)
	kp image set -q --backend direct --dry-run a.img --kms-host kms.dry >out
	expect_grep 'KeyManagementServiceName: (absent) -> "kms.dry"' out
	expect_grep '^dry run: 1 change, nothing written' out
	kp image generalize -q --backend direct --dry-run a.img >out
	kp image show -q --backend direct a.img >/dev/null
	[ "$(sha256sum <a.img)" = "$sum" ]
	kp image set -q --backend direct --dry-run a.img --overlay ov.qcow2 \
		--kms-host kms.dry >/dev/null
	[ ! -e ov.qcow2 ]
}
t "CLI, direct: --dry-run and show write nothing" cli_dry_run

# refused_batch IMAGE WHY: IMAGE beside a good one: exit 4, nothing
# written to either.
refused_batch() {
	cp "$SCRATCH/mbr.img" good.img
	sha256sum good.img "$1" >sums
	expect_code 4 kp image set -q --backend direct good.img "$1" \
		--kms-host kms.example.com 2>err
	expect_grep "$2" err
	sha256sum -c --quiet sums
}

cli_refusals() {
	cp "$SCRATCH/mbr.img" hib.img
	{ printf HIBR; head -c 8188 /dev/zero; } >hib
	dt hib.img put hiberfil.sys hib
	refused_batch hib.img "'hib.img': /dev/sdb1: Windows is hibernated"
	expect_grep 'no image was changed' err
	cp "$SCRATCH/mbr.img" unclean.img
	"$TEST_TOOL" direct-dirty unclean.img 1
	refused_batch unclean.img "'unclean.img': /dev/sdb1: the volume was not shut down cleanly"
	cp "$SCRATCH/mbr.img" bl.img
	printf -- '-FVE-FS-' | dd of=bl.img bs=1 seek=$((1048576 + 3)) \
		conv=notrunc status=none
	refused_batch bl.img "'bl.img': /dev/sdb1: BitLocker volume"
	expect_grep 'locked (give --bitlocker-key-file with its recovery password)' err
	# A dirty hive: refused by the batch, both images unchanged.
	cp "$SCRATCH/soft" dsoft
	"$TEST_TOOL" dirty dsoft
	cp "$SCRATCH/mbr.img" dirty.img
	dt dirty.img put $SW dsoft
	refused_batch dirty.img "'dirty.img': /dev/sdb1: .*hive is dirty"
	# A dry run of a refused image says so and ends refused too.
	sum=$(sha256sum <hib.img)
	expect_code 4 kp image set -q --backend direct --dry-run hib.img \
		--kms-host kms 2>err
	expect_grep 'a real run would be refused' err
	[ "$(sha256sum <hib.img)" = "$sum" ]
}
t "CLI, direct: hibernated, unclean, BitLocker, dirty refused in a batch; nothing written" cli_refusals

cli_failures() {
	local as=""
	cp "$SCRATCH/mbr.img" good.img
	sha256sum good.img >sums
	# No Windows, or no image at all: exit 3, the good one unchanged.
	truncate -s 8M blank.img
	expect_code 3 kp image set -q --backend direct good.img blank.img \
		--kms-host kms 2>err
	expect_code 3 kp image set -q --backend direct good.img missing.img \
		--kms-host kms 2>err
	sha256sum -c --quiet sums
	expect_code 2 kp image set -q --backend bogus good.img --kms-host k \
		2>err
	expect_grep "expected direct, appliance, wim or auto" err
	# An image the user cannot write (root can write anything: as
	# nobody): exit 4, naming the overlay as the way, for a dry run too.
	chmod a-w good.img
	if [ "$(id -u)" -eq 0 ]; then
		chmod a+x "$SCRATCH" .
		as="setpriv --reuid=65534 --regid=65534 --clear-groups"
	fi
	for dry in "" --dry-run; do
		# shellcheck disable=SC2086
		expect_code 4 ${as:-} env TMPDIR=/tmp "$KMSPREP" image set -q \
			--backend direct $dry good.img --kms-host kms 2>err
		expect_grep "cannot be written: .*; give --overlay OUT.qcow2" err
		expect_no_grep 'dry-run' err
	done
	chmod u+w good.img
	sha256sum -c --quiet sums
}
t "CLI, direct: a failing image in a batch leaves all unchanged; bad options" cli_failures

cli_generalize() {
	cp "$SCRATCH/mbr.img" a.img
	kp image generalize -q --backend direct a.img >out
	expect_grep 'create' out
	f=$(dt -r a.img ls Windows/System32/sysprep | head -1)
	[ -n "$f" ]
	dt -r a.img read "Windows/System32/sysprep/$f" ua sd "Windows/System32/sysprep/$f" ua.sd >/dev/null
	grep -qi 'SkipRearm' ua
	[ "$(hexof ua.sd)" = "$NEW_SD" ]
}
t "CLI, direct: generalize writes the answer file with the new-file descriptor" cli_generalize

cli_overlay() {
	command -v qemu-nbd >/dev/null 2>&1 || skip "no qemu-nbd"
	cp "$SCRATCH/mbr.img" base.img
	sum=$(sha256sum <base.img)
	kp image set -q --backend direct base.img --overlay ov.qcow2 \
		--kms-host kms.ov >out
	[ "$(sha256sum <base.img)" = "$sum" ]
	expect_code 3 kp image show --backend direct ov.qcow2
	kp image show --backend direct --allow-backing-file ov.qcow2 >show
	expect_grep '"kms.ov"' show
}
t "CLI, direct: --overlay leaves the image unchanged" cli_overlay

cli_auto() {
	cp "$SCRATCH/mbr.img" a.img
	kp image show a.img >out 2>err
	expect_grep '^image: a.img (raw, backend direct)' out
	# Not plain NTFS: auto says why and takes the appliance (here one
	# that cannot start: exit 5, nothing written).
	cp "$SCRATCH/mbr.img" lvm.img
	printf 'label: dos\nstart=2048, size=100000, type=7\nstart=102048, size=20000, type=8e\n' |
		sfdisk -q lvm.img 2>/dev/null
	sum=$(sha256sum <lvm.img)
	LIBGUESTFS_HV=/bin/false expect_code 5 kp image set --backend auto \
		lvm.img --kms-host kms 2>err
	expect_grep "using the appliance: .lvm.img.: partition 2 is LVM" err
	[ "$(sha256sum <lvm.img)" = "$sum" ]
}
t "CLI: auto picks direct for plain NTFS, else the appliance and says why" cli_auto

cli_kit_apply() {
	"$KMSPREP" hive new ssoft >/dev/null
	"$KMSPREP" hive import ssoft "$SRC_DIR/tests/data/software-server.reg" \
		>/dev/null
	"$MK" srv.img mbr ssoft
	# A made-up key in the right form, as t3100 uses.
	printf '%s\n' QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN >key.txt
	"$KMSPREP" kms kit build -q -o kit.tar.gz --host-name kms1.corp.example \
		--key-file key.txt --listen-port 1700 >/dev/null
	kp kms kit apply -q --backend direct kit.tar.gz srv.img \
		--allow-unsigned >out
	expect_grep '^srv.img: written and verified' out
	expect_grep 'create %WINDIR%\\kmsprep\\kit\\kms-host-key.txt' out
	dt -r srv.img sd Windows/kmsprep/kit/kms-host-key.txt k.sd \
		read Windows/kmsprep/kit/kms-host-key.txt k >/dev/null
	[ "$(tr -d '\r' <k)" = "$(cat key.txt)" ]
	# The key: SYSTEM and Administrators only, no Users entry.
	[ "$(hexof k.sd)" != "$NEW_SD" ]
	sd=$(hexof k.sd)
	[ "${sd#*01020000000000052000000021020000}" = "$sd" ]
	sum=$(sha256sum <srv.img)
	kp kms kit apply -q --backend direct kit.tar.gz srv.img \
		--allow-unsigned >again
	expect_grep '^srv.img: no change$' again
	[ "$(sha256sum <srv.img)" = "$sum" ]
}
t "CLI, direct: kms kit apply; the key for SYSTEM and Administrators only; twice changes nothing" cli_kit_apply

# The kit's firewall: Windows Server's own "Key Management Service
# (TCP-In)" rule, scoped to sppsvc, where the image has it for the port;
# a rule of kmsprep's for another port.
cli_kit_firewall() {
	command -v reglookup >/dev/null || skip "no reglookup"
	local fw=/ControlSet001/Services/SharedAccess/Parameters/FirewallPolicy/FirewallRules
	printf '%s\n' QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN >key.txt
	kp kms kit build -q -o k1688.tar.gz --host-name kms1.corp.example \
		--key-file key.txt >/dev/null
	kp kms kit build -q -o k1700.tar.gz --host-name kms1.corp.example \
		--key-file key.txt --listen-port 1700 >/dev/null
	cp "$SCRATCH/srv.img" a.img
	cp "$SCRATCH/srv.img" b.img
	kp kms kit apply -q --backend direct --allow-unsigned k1688.tar.gz \
		a.img >out
	expect_grep "firewall: Windows' own inbound rule .* (SPPSVC-In-TCP) enabled" out
	kp kms kit apply -q --backend direct --allow-unsigned k1700.tar.gz \
		b.img >/dev/null
	dt -r a.img read Windows/System32/config/SYSTEM a.sys >/dev/null
	dt -r b.img read Windows/System32/config/SYSTEM b.sys >/dev/null
	reglookup -H -p "$fw" a.sys >a.fw
	reglookup -H -p "$fw" b.sys >b.fw
	grep 'SPPSVC-In-TCP,SZ,' a.fw | grep -q '|Active=TRUE|'
	expect_no_grep 'kmsprep-KMS-In-TCP' a.fw
	grep 'SPPSVC-In-TCP,SZ,' b.fw | grep -q '|Active=FALSE|'
	expect_grep 'kmsprep-KMS-In-TCP,SZ,.*LPort=1700' b.fw
}
t "CLI, direct: a kit enables Windows' own KMS firewall rule where it can" \
	cli_kit_firewall

# An answer file kmsprep writes names the image's own architecture
# (PROCESSOR_ARCHITECTURE of the SYSTEM hive), not always amd64.
cli_answer_arch() {
	local arch want
	for arch in ARM64 x86; do
		cp "$SCRATCH/sys" s.$arch
		printf 'Windows Registry Editor Version 5.00\n\n[\\ControlSet001\\Control\\Session Manager\\Environment]\n"PROCESSOR_ARCHITECTURE"="%s"\n' \
			$arch >a.reg
		kp hive import s.$arch a.reg >/dev/null
		MKIMAGE_SYSTEM=$PWD/s.$arch "$MK" $arch.img mbr "$SCRATCH/soft"
		kp image generalize -q --backend direct $arch.img >/dev/null
		dt -r $arch.img read Windows/System32/Sysprep/unattend.xml u.xml \
			>/dev/null
		want=$(echo $arch | tr A-Z a-z)
		expect_grep "processorArchitecture=\"$want\"" u.xml
		expect_no_grep 'amd64' u.xml
	done
}
t "CLI, direct: answer files name the image's architecture" cli_answer_arch

cli_jobs() {
	command -v reglookup >/dev/null || skip "no reglookup"
	for n in 1 2 3; do cp "$SCRATCH/mbr.img" i$n.img; done
	cp "$SCRATCH/gpt.img" i4.img
	kp image set --backend direct -j 2 i1.img i2.img i3.img i4.img \
		--kms-host kms.jobs.example >out 2>err
	# Reported in the order given, whichever finished first.
	[ "$(grep -o '^i[0-9].img: written' out | tr '\n' ' ')" = \
		"i1.img: written i2.img: written i3.img: written i4.img: written " ]
	# Said once, on standard output, not again on standard error.
	[ "$(grep -c 'written and verified' out)" -eq 4 ]
	expect_no_grep 'written' err
	for n in 1 2 3 4; do
		[ "$(reg_value i$n.img KeyManagementServiceName)" = kms.jobs.example ]
	done
	expect_code 2 kp image set --backend direct -j 0 i1.img --kms-host k \
		2>err
}
t "CLI, direct: -j 2 writes several images at once, reported in order" cli_jobs

# A hive is copied out once: by its worker straight into the scratch
# copy, not through the socket and kmsprep's own memory; and the scratch
# copy, removed at exit, gets no fsync and no rename.  KMSPREP_TIMING
# says where the time went.
cli_copy_out_once() {
	local size main got
	command -v strace >/dev/null || skip "no strace"
	"$TEST_TOOL" mkhive big 60 100 2 40 >/dev/null
	"$KMSPREP" hive import big "$SRC_DIR/tests/data/software-client.reg" \
		>/dev/null
	size=$(stat -c %s big)
	[ "$size" -gt $((1 << 20)) ]
	"$MK" big.img mbr big || return 1
	# LeakSanitizer stops the world with ptrace, which strace holds
	# already: leaks are the other runs' to find.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	KMSPREP_TIMING=1 strace -f -qq -y -o tr -e trace=read,recvfrom,recvmsg,fsync,fdatasync,rename,renameat,renameat2 \
		"$KMSPREP" image set --backend direct big.img \
		--kms-host kms.once.example >out 2>err || { cat err; false; }
	expect_grep '^big.img: written and verified' out
	# The first process traced is kmsprep itself: what it read from its
	# workers' sockets is far less than the hive.
	main=$(head -n 1 tr | cut -d ' ' -f 1)
	got=$(awk -v p="$main" '$1 == p && /socket:/ && / = [0-9]+$/ {
		n += $NF } END { print n + 0 }' tr)
	[ "$got" -lt $((size / 4)) ] || {
		echo "kmsprep read $got bytes of a $size-byte hive:" >&2
		awk -v p="$main" '$1 == p && /socket:/ && $NF > 10000' tr |
			cut -c 1-160 >&2
		return 1
	}
	# (kmsprep-XXXXXX: the scratch directory, not this test's)
	expect_no_grep 'sync([0-9]*<[^>]*/kmsprep-[A-Za-z0-9]\{6\}/' tr
	expect_no_grep 'rename.*/kmsprep-[A-Za-z0-9]\{6\}/' tr
	# Each step, for all images and for this one, in seconds.
	expect_grep '^kmsprep: image set: timing: all images: open=[0-9.]* mount=[0-9.]* verify=[0-9.]*$' err
	expect_grep '^kmsprep: image set: timing: big.img: copy-out=[0-9.]* check=[0-9.]* plan=[0-9.]* write-back=[0-9.]*$' err
	# Not asked for, not said.
	cp big.img b2.img
	kp image set --backend direct b2.img --kms-host kms.once.example \
		>out 2>err
	expect_no_grep 'timing' err
}
t "CLI, direct: the hive copied out once, no sync of scratch copies" cli_copy_out_once

# One answer file too large to read (over 4 MiB) is reported as such; the
# rest of the installation is still shown, and a write is refused, saying
# which file, since sysprep could not be checked against it.
cli_big_answer_file() {
	cp "$SCRATCH/mbr.img" a.img
	head -c $((5 << 20)) /dev/zero | tr '\0' ' ' >big.xml
	dt -p 1 a.img mkdir Windows/Panther put Windows/Panther/Unattend.xml big.xml \
		>/dev/null
	kp image show --backend direct a.img >out 2>err
	expect_grep 'Windows 10 Enterprise' out
	expect_grep 'Panther.Unattend.xml.*larger than 4194304 bytes' out
	kp image show --json --backend direct a.img >j
	python3 -c 'import json,sys; d=json.load(open("j")); assert d["images"][0]["windows"], d' 
	expect_code 3 kp image generalize --backend direct a.img 2>err
	expect_grep 'larger than' err
}
t "CLI, direct: an answer file too large to read is one note, not a failure" \
	cli_big_answer_file

# --cloud: the cloud's documented KMS host and the edition's setup key;
# image show names the target; an edition the cloud's KMS does not
# activate is refused before anything is written; a plan takes "cloud".
cli_cloud() {
	cp "$SCRATCH/srv.img" s.img
	kp image set -q --backend direct --cloud azure s.img >out
	expect_grep 'KeyManagementServiceName: (absent) -> "azkms.core.windows.net"' out
	expect_grep 'firstboot-key.cmd' out
	kp image show --backend direct s.img >show
	expect_grep 'kms target: Microsoft Azure (--cloud azure)' show
	kp image show --json --backend direct s.img >j
	expect_grep '"cloud": "azure"' j
	cp "$SCRATCH/mbr.img" c.img
	sha256sum c.img >sum
	expect_code 3 kp image set --backend direct --cloud aws c.img 2>err
	expect_grep "Amazon EC2's KMS activates Windows Server only" err
	sha256sum -c --quiet sum
	expect_code 2 kp image set --cloud gcp --kms-host k.example c.img 2>err
	expect_code 2 kp image set --cloud ibm c.img 2>err
	expect_grep 'azure, aws, gcp' err
	cp "$SCRATCH/srv.img" p.img
	printf '{"images": [{"image": "p.img", "cloud": "gcp"}]}' >plan.json
	kp image batch -q --backend direct plan.json >out
	expect_grep '"kms.windows.googlecloud.com"' out
}
t "CLI, direct: --cloud points an image at its cloud's KMS host" cli_cloud

# A dry run fails where the real run would, for what is known before
# writing: an image that cannot be written (immutable here, as root), a
# stream-optimized VMDK (t2500), a read-only NBD export (t2250).
cli_dry_run_probes() {
	command -v chattr >/dev/null || skip "no chattr"
	cp "$SCRATCH/mbr.img" i.img
	chattr +i i.img 2>/dev/null || skip "this filesystem has no immutable files"
	trap 'chattr -i i.img' RETURN
	expect_code 4 kp image set -n --backend direct --kms-host k.example \
		i.img 2>err
	expect_grep 'cannot be written' err
	expect_code 4 kp image set --backend direct --kms-host k.example \
		i.img 2>err2
	expect_same err err2
}
t "CLI, direct: a dry run is refused where the real run would be" \
	cli_dry_run_probes

# --gvlk KEY must be the key of the image's edition and build: another
# listed edition's key is refused (exit 2, naming the right key); for an
# edition the table does not list, only --gvlk-unlisted installs it.
cli_gvlk_edition() {
	cp "$SCRATCH/mbr.img" c.img
	sha256sum c.img >sum
	expect_code 2 kp image set --backend direct \
		--gvlk WX4NM-KYWYW-QJJR4-XV3QB-6VM33 c.img 2>err
	expect_grep 'is the key of Windows Server 2022 Datacenter' err
	expect_grep 'whose key is NPPR9-FWDCX-D2C8J-H872K-2YT43' err
	expect_code 2 kp image generalize --backend direct \
		--gvlk WX4NM-KYWYW-QJJR4-XV3QB-6VM33 c.img 2>err
	sha256sum -c --quiet sum
	cp "$SCRATCH/soft" odd
	printf 'Windows Registry Editor Version 5.00\n\n[\\Microsoft\\Windows NT\\CurrentVersion]\n"EditionID"="Unlisted"\n' >e.reg
	kp hive import odd e.reg >/dev/null
	MKIMAGE_SYSTEM=$SCRATCH/sys "$MK" u.img mbr odd
	expect_code 2 kp image set --backend direct \
		--gvlk NPPR9-FWDCX-D2C8J-H872K-2YT43 u.img 2>err
	expect_grep 'not in Microsoft.s table' err
	expect_grep 'gvlk-unlisted installs it anyway' err
	kp image set -q --backend direct --gvlk-unlisted \
		--gvlk NPPR9-FWDCX-D2C8J-H872K-2YT43 u.img >out
	expect_grep 'firstboot-key.cmd' out
}
t "CLI, direct: --gvlk KEY of another edition is refused" cli_gvlk_edition

# image show audits every first-boot path: a kit applied to a sealed
# image runs from SetupComplete.cmd, and its key file is in the image.
cli_audit_sealed_kit() {
	cp "$SCRATCH/srv.img" s.img
	"$TEST_TOOL" direct s.img set Windows/System32/config/SOFTWARE \
		'Microsoft\Windows\CurrentVersion\Setup\State' ImageState \
		IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE >/dev/null
	printf '%s\n' QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN >key.txt
	kp kms kit build -q -o kit.tar.gz --host-name kms1.corp.example \
		--key-file key.txt >/dev/null
	kp kms kit apply -q --allow-unsigned --backend direct kit.tar.gz \
		s.img >/dev/null
	kp image show --backend direct s.img >show
	expect_grep "first boot after Setup: .*SetupComplete.cmd, which runs kmsprep's: call" show
	expect_grep 'host kit: staged .*product key file is still there' show
	expect_no_grep 'nothing staged' show
	kp image show --json --backend direct s.img >j
	python3 - <<'PY'
import json
g = json.load(open("j"))["images"][0]["windows"][0]["generalization"]
assert g["setup_complete"]["kmsprep"], g
assert g["host_kit"]["key_file"] is True, g
assert g["first_boot_staged"] is True, g
PY
}
t "CLI, direct: image show audits a kit staged on a sealed image" \
	cli_audit_sealed_kit

# sysprep /oobe (not generalized): SYSTEM\Setup runs Setup's windeploy
# until OOBE ends; clone mode runs from SetupComplete.cmd instead, says
# so, and its script does not restart Windows from there.
cli_clone_oobe() {
	cp "$SCRATCH/mbr.img" o.img
	"$TEST_TOOL" direct o.img set Windows/System32/config/SOFTWARE \
		'Microsoft\Windows\CurrentVersion\Setup\State' ImageState \
		IMAGE_STATE_SPECIALIZE_RESEAL_TO_OOBE \
		set Windows/System32/config/SYSTEM Setup CmdLine \
		'oobe\windeploy.exe' >/dev/null
	kp image generalize --backend direct --mode clone o.img >out 2>err
	expect_grep 'Windows Setup is pending (sysprep /oobe)' out
	expect_grep 'create %WINDIR%\\Setup\\Scripts\\SetupComplete.cmd' out
	"$TEST_TOOL" direct -r o.img read Windows/Setup/Scripts/SetupComplete.cmd sc \
		read Windows/kmsprep/firstboot.cmd fb >/dev/null
	expect_grep 'KMSPREP_SETUPCOMPLETE=1.*firstboot.cmd' sc
	expect_grep 'if not defined KMSPREP_SETUPCOMPLETE goto restart' fb
	kp image show --backend direct o.img >show
	expect_grep 'runs at the next boot .*windeploy' show
}
t "CLI, direct: clone mode on a sysprep /oobe image uses SetupComplete.cmd" \
	cli_clone_oobe

# As a user without privileges, as the container, Kubernetes and Tekton
# recipes in contrib/ run it: the workers and qemu-nbd are confined all
# the same (Landlock needs no new privileges set first, then).
cli_unprivileged() {
	local as="" f
	if [ "$(id -u)" -eq 0 ]; then
		as="setpriv --reuid=65534 --regid=65534 --clear-groups"
	fi
	mkdir u
	cp "$SCRATCH/mbr.img" u/w.img
	qemu-img convert -O qcow2 u/w.img u/w.qcow2
	if [ -n "$as" ]; then
		chown -R 65534:65534 u
		chmod a+x "$SCRATCH" .
	fi
	cd u
	for f in w.img w.qcow2; do
		# shellcheck disable=SC2086
		expect_code 0 $as env TMPDIR="$PWD" "$KMSPREP" image set \
			--backend direct --kms-host kms.contoso.com $f >out 2>err ||
			{ cat err; return 1; }
		expect_grep 'written and verified' out
		# shellcheck disable=SC2086
		$as env TMPDIR="$PWD" "$KMSPREP" image show --backend direct \
			$f >out
		expect_grep 'kms.contoso.com' out
	done
	cd ..
}
t "CLI, direct: an unprivileged user sets raw and qcow2 images" \
	cli_unprivileged

done_testing

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The direct image backend (prep/direct.h, prep/drworker.h) through
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

# One sample image for the whole script; each test copies it.
sample_hive "$SCRATCH/soft" client || exit 1
"$MK" "$SCRATCH/mbr.img" mbr "$SCRATCH/soft" || exit 1
"$MK" "$SCRATCH/gpt.img" gpt "$SCRATCH/soft" || exit 1

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
	[ "$(cat ls)" = SOFTWARE ]
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
		dt -r ov.qcow2 read $SW new
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

done_testing

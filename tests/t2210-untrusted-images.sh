#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Untrusted image files reach nothing outside themselves (image/disk.h):
# an image that names another file (a VMDK extent, a qcow2 backing file
# or data file, a VMDK parent) is refused on every backend before qemu
# sees it, and --allow-backing-file follows only a chain it can check;
# qemu-nbd runs confined; an overlay never follows a link; one image given
# twice, or a --root that names nothing, is refused; a signal removes the
# scratch copies of the hives.
. "$(dirname "$0")/lib.sh"

PATH=$PATH:/sbin:/usr/sbin
for tool in sfdisk mkntfs qemu-img qemu-nbd; do
	command -v $tool >/dev/null 2>&1 || skip_all "no $tool"
done
MK=$SRC_DIR/tests/helper/mkimage-direct

sample_hive "$SCRATCH/soft" client || exit 1
"$KMSPREP" hive new "$SCRATCH/sys" >/dev/null &&
	"$KMSPREP" hive import "$SCRATCH/sys" "$SRC_DIR/tests/data/system.reg" \
		>/dev/null || exit 1
MKIMAGE_SYSTEM=$SCRATCH/sys "$MK" "$SCRATCH/win.img" mbr "$SCRATCH/soft" ||
	exit 1

# victim: a Windows image another file will name; its checksum.
victim() {
	cp "$SCRATCH/win.img" victim.img
	sha256sum victim.img >victim.sum
}

untouched() {
	sha256sum -c --quiet victim.sum
}

# The 200-byte attack: a VMDK descriptor whose flat extent is another
# image.  Refused on each backend, before anything is opened or written.
vmdk_extent() {
	victim
	printf '%s\n' '# Disk DescriptorFile' version=1 CID=fffffffe \
		parentCID=ffffffff 'createType="monolithicFlat"' \
		'RW 131072 FLAT "victim.img" 0' >evil.vmdk
	for backend in direct appliance auto; do
		expect_code 3 kp image set --backend $backend evil.vmdk \
			--kms-host kms.evil.example 2>err
		expect_grep "'evil.vmdk': it names another file, its extent 'victim.img'" err
		expect_grep 'allow-backing-file' err
		expect_no_grep 'using the appliance' err
	done
	expect_code 3 kp image show evil.vmdk
	expect_code 3 kp image set --dry-run evil.vmdk --kms-host k 2>err
	untouched
	# An extent hidden over several lines (qemu's scanner allows it),
	# or in an RDONLY line, or behind a sparse header with no capacity.
	printf '# Disk DescriptorFile\nversion=1\nRW\n131072\nFLAT\n"victim.img"\n0\n' \
		>split.vmdk
	expect_code 3 kp image show split.vmdk 2>err
	expect_grep "its extent 'victim.img'" err
	untouched
}
t "a VMDK descriptor naming another image: refused on every backend, nothing written" vmdk_extent

qcow2_refs() {
	victim
	qemu-img create -q -f qcow2 -b victim.img -F raw child.qcow2
	expect_code 3 kp image show child.qcow2 2>err
	expect_grep "its backing file 'victim.img'" err
	expect_code 3 kp image set --backend direct child.qcow2 \
		--kms-host k 2>err
	# An external data file is another file too.
	qemu-img create -q -f qcow2 -o data_file=data.raw,data_file_raw=on \
		df.qcow2 64M
	expect_code 3 kp image show df.qcow2 2>err
	expect_grep "its external data file 'data.raw'" err
	# A VMDK child names its parent in the descriptor qemu reads.
	qemu-img convert -O vmdk victim.img base.vmdk
	qemu-img create -q -f vmdk -b base.vmdk -F vmdk child.vmdk
	expect_code 3 kp image show child.vmdk 2>err
	expect_grep "its backing file 'base.vmdk'" err
	untouched
}
t "qcow2 backing and data files, VMDK parents: refused without the option" qcow2_refs

# A differencing VHD or VHDX names its parent where qemu 7.2 never looks:
# no option follows it, so the refusal (exit 3, with or without
# --allow-backing-file) says how to make a disk of its own instead.
differencing() {
	qemu-img create -q -f vpc -o subformat=dynamic d.vhd 64M
	qemu-img create -q -f vhdx d.vhdx 64M
	python3 - <<'PY'
import struct, uuid

def csum(b, at):
    b[at:at + 4] = b'\0' * 4
    b[at:at + 4] = struct.pack('>I', ~sum(b) & 0xffffffff)

# VHD: disk type 4 in both footers; the parent's name in the dynamic header.
v = bytearray(open('d.vhd', 'rb').read())
dyn = struct.unpack('>Q', v[16:24])[0]
for at in (0, len(v) - 512):
    v[at + 60:at + 64] = struct.pack('>I', 4)
    f = v[at:at + 512]
    csum(f, 64)
    v[at:at + 512] = f
h = v[dyn:dyn + 1024]
h[64:64 + 24] = 'parent.vhd'.encode('utf-16-be') + b'\0\0' * 2
csum(h, 36)
v[dyn:dyn + 1024] = h
open('d.vhd', 'wb').write(v)

# VHDX: HasParent in the file parameters' flags.
x = bytearray(open('d.vhdx', 'rb').read())
meta = uuid.UUID('8B7CA206-4790-4B9A-B8FE-575F050F886E').bytes_le
params = uuid.UUID('CAA16737-FA36-4D43-B3B6-33F0AA44E76B').bytes_le
rt = 192 * 1024
n = struct.unpack('<I', x[rt + 8:rt + 12])[0]
for i in range(n):
    e = rt + 16 + 32 * i
    if x[e:e + 16] == meta:
        m = struct.unpack('<Q', x[e + 16:e + 24])[0]
count = struct.unpack('<H', x[m + 10:m + 12])[0]
for i in range(count):
    e = m + 32 + 32 * i
    if x[e:e + 16] == params:
        off = m + struct.unpack('<I', x[e + 16:e + 20])[0]
        x[off + 4] |= 2
open('d.vhdx', 'wb').write(x)
PY
	for f in d.vhd d.vhdx; do
		for allow in "" --allow-backing-file; do
			expect_code 3 kp image show $allow $f 2>err
			expect_grep "'$f': a differencing disk" err
			expect_grep 'Convert-VHD' err
			expect_no_grep 'allow-backing-file' err
		done
	done
	kp image show d.vhd 2>err || :
	expect_grep "its parent: 'parent.vhd'" err
}
t "differencing VHD and VHDX: refused with or without the option, saying what to do" differencing

allowed_chain() {
	victim
	qemu-img create -q -f qcow2 -b victim.img -F raw child.qcow2
	kp image set -q --backend direct --allow-backing-file child.qcow2 \
		--kms-host kms.child.example >out
	expect_grep 'written and verified' out
	# The write went into the qcow2; the file it names is untouched.
	untouched
	kp image show --backend direct --allow-backing-file child.qcow2 >show
	expect_grep '"kms.child.example"' show
	kp image show --backend direct --allow-backing-file victim.img >show
	expect_no_grep 'kms.child.example' show
	# Even accepted, a link that is not a local regular file is not
	# followed: a json: or protocol name, a device, a loop, a chain
	# deeper than 16.
	qemu-img create -q -f qcow2 -u -b 'json:{"driver":"raw","file":{"driver":"file","filename":"victim.img"}}' \
		-F raw j.qcow2 64M
	expect_code 3 kp image show --allow-backing-file j.qcow2 2>err
	expect_grep 'a protocol or json: name' err
	qemu-img create -q -f qcow2 -u -b nbd:127.0.0.1:1 -F raw n.qcow2 64M
	expect_code 3 kp image show --allow-backing-file n.qcow2 2>err
	expect_grep 'a protocol or json: name' err
	qemu-img create -q -f qcow2 -u -b /dev/zero -F raw dev.qcow2 64M
	expect_code 3 kp image show --allow-backing-file dev.qcow2 2>err
	expect_grep 'not a regular file' err
	qemu-img create -q -f qcow2 b.qcow2 64M
	qemu-img create -q -f qcow2 -u -b b.qcow2 -F qcow2 a.qcow2 64M
	qemu-img create -q -f qcow2 -u -b a.qcow2 -F qcow2 b.qcow2 64M
	expect_code 3 kp image show --allow-backing-file a.qcow2 2>err
	expect_grep 'a loop' err
	prev=victim.img fmt=raw
	for i in $(seq 1 18); do
		qemu-img create -q -f qcow2 -u -b "$prev" -F $fmt "c$i.qcow2" 64M
		prev=c$i.qcow2 fmt=qcow2
	done
	expect_code 3 kp image show --allow-backing-file c18.qcow2 2>err
	expect_grep 'a chain of more than 16' err
	untouched
}
t "--allow-backing-file: a checked chain is served, writes land in the top file; bad links refused" allowed_chain

# qemu-nbd runs confined: a stand-in named qemu-nbd first on PATH
# becomes a sleep, whose confinement is read from outside.
qemu_nbd_confined() {
	victim
	qemu-img convert -O qcow2 victim.img v.qcow2
	mkdir bin
	# Not exec: the shell keeps the arguments kmsprep gave qemu-nbd.
	printf '#!/bin/sh\nsleep 29.5\n' >bin/qemu-nbd
	chmod +x bin/qemu-nbd
	PATH=$PWD/bin:$PATH "$KMSPREP" image show --backend direct v.qcow2 \
		>/dev/null 2>&1 &
	kmsprep=$!
	for i in $(seq 100); do
		pid=$(pgrep -f -x 'sleep 29.5' || true)
		[ -n "$pid" ] && break
		sleep 0.1
	done
	[ -n "$pid" ]
	grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' \
		/proc/$pid/status >st
	tr '\0' '\n' </proc/"$(ps -o ppid= -p "$pid" | tr -d ' ')"/cmdline >args
	kill -9 $kmsprep $pid 2>/dev/null || true
	wait $kmsprep 2>/dev/null || true
	expect_grep '^CapEff:.0000000000000000$' st
	expect_grep '^CapBnd:.0000000000000000$' st
	expect_grep '^NoNewPrivs:.1$' st
	expect_grep '^Seccomp:.2$' st
	# Every driver named by kmsprep, none left to the image: the format,
	# the file under it, and no backing file (qemu would open the one
	# the header names).
	expect_grep '^json:{"driver":"qcow2","file":{"driver":"file","filename":"[^"]*v.qcow2"},"backing":null}$' args
	[ "$(readlink /proc/self/ns/net)" != "$(readlink /proc/$pid/ns/net 2>/dev/null || echo gone)" ] ||
		[ ! -e /proc/$pid ]
}
t "qemu-nbd runs with no capability, no new privileges, under seccomp" qemu_nbd_confined

# A link that is a FIFO (or a device) is refused without being opened:
# an open can act (here it would let a waiting writer go).
fifo_link() {
	local w
	mkfifo f
	qemu-img create -q -f qcow2 -u -b "$PWD/f" -F raw x.qcow2 8M
	(exec 3>f; echo opened >let-go) &
	w=$!
	expect_code 3 "$KMSPREP" image show --backend direct \
		--allow-backing-file x.qcow2 >out 2>err
	expect_grep 'not a regular file' err
	sleep 0.3
	kill -9 $w 2>/dev/null || true
	wait $w 2>/dev/null || true
	[ ! -e let-go ]
}
t "a FIFO in a chain is refused unopened" fifo_link

# Without Landlock (a kernel before 5.13, or none in lsm=) nothing would
# fence qemu from files an image names: kmsprep does not run it, and says
# what to do (exit 5).  A raw image needs no qemu and still works.
no_landlock_no_qemu() {
	victim
	qemu-img convert -O qcow2 victim.img v.qcow2
	expect_code 5 env KMSPREP_SANDBOX_SELFTEST=1 \
		KMSPREP_SANDBOX_NO_LANDLOCK=1 "$KMSPREP" image show \
		--backend direct v.qcow2 >out 2>err
	expect_grep "runs only where Landlock fences it" err
	expect_grep "qemu-img convert -O raw" err
	expect_code 0 env KMSPREP_SANDBOX_SELFTEST=1 \
		KMSPREP_SANDBOX_NO_LANDLOCK=1 "$KMSPREP" image show \
		--backend direct victim.img >out
	expect_grep 'windows: /dev/sda1' out
}
t "without Landlock qemu is not run: exit 5, saying what to do" \
	no_landlock_no_qemu

overlay_link() {
	victim
	ln -s "$PWD/nowhere.qcow2" ov.qcow2
	for backend in direct appliance; do
		expect_code 4 kp image set --backend $backend victim.img \
			--overlay ov.qcow2 --kms-host k 2>err
		expect_grep "'ov.qcow2': cannot create the overlay" err
		[ ! -e nowhere.qcow2 ]
	done
	# A file already there: the same refusal, saying what to do, also
	# for a dry run; the file is left alone.
	echo mine >old.qcow2
	for backend in direct appliance; do
		for dry in "" --dry-run; do
			# shellcheck disable=SC2086
			expect_code 4 kp image set --backend $backend $dry \
				victim.img --overlay old.qcow2 --kms-host k 2>err
			expect_grep "name a new file, or remove it" err
		done
	done
	[ "$(cat old.qcow2)" = mine ]
	untouched
}
t "--overlay never follows a link or replaces a file (exit 4)" overlay_link

same_twice() {
	victim
	ln -s victim.img sym.img
	ln victim.img hard.img
	for other in sym.img hard.img "$PWD/victim.img" ./victim.img; do
		expect_code 2 kp image set victim.img "$other" --kms-host k 2>err
		expect_grep 'are the same image twice' err
	done
	cat >plan.json <<-'J'
	{"images": [{"image": "victim.img", "kms-host": "a"},
	            {"image": "sym.img", "kms-host": "b"}]}
	J
	expect_code 2 kp image batch plan.json 2>err
	expect_grep 'are the same image twice' err
	untouched
	# One NBD export reached under two names.
	trap 'kill $(cat "$PWD/n.pid") 2>/dev/null || true' EXIT
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		qemu-nbd --fork --persistent --pid-file "$PWD/n.pid" -f raw \
			-b 127.0.0.1 -p $port victim.img 2>/dev/null && break
		port=
	done
	[ -n "$port" ] || skip "no free port for qemu-nbd"
	expect_code 2 kp image set --backend direct \
		"nbd://127.0.0.1:$port/" "nbd://localhost:$port/" --kms-host k \
		2>err
	expect_grep 'are the same image twice (one export of one server)' err
	untouched
}
t "one image twice (link, hard link, paths, NBD names): refused, nothing written" same_twice

root_nothing() {
	victim
	expect_code 2 kp image set --backend direct victim.img \
		--root /dev/sdb1 --kms-host k 2>err
	expect_grep "'/dev/sdb1' names no Windows installation" err
	echo '{"images": [{"image": "victim.img", "root": "/dev/sda7", "kms-host": "k"}]}' >p.json
	expect_code 2 kp image batch --backend direct p.json 2>err
	expect_grep "'/dev/sda7' is none of its Windows installations (/dev/sda1)" err
	untouched
}
t "a --root or plan root naming no installation is refused" root_nothing

signal_cleans() {
	victim
	mkdir tmp
	TMPDIR=$PWD/tmp "$KMSPREP" image set --backend appliance victim.img \
		--kms-host k >/dev/null 2>&1 &
	pid=$!
	# Once the hives' scratch directory is there, stop it.  (libguestfs
	# keeps its own directories there too.)
	for i in $(seq 200); do
		ls tmp | grep -q '^kmsprep-' && break
		sleep 0.1
	done
	ls tmp | grep -q '^kmsprep-'
	kill -TERM $pid
	wait $pid || true
	ls tmp >left
	expect_no_grep '^kmsprep-' left
	untouched
}
t "SIGTERM removes the scratch directories" signal_cleans

# The direct backend, held in its hive server's open (a self-test hook)
# once the hive's scratch copy is there: SIGINT and SIGHUP clean up too,
# and end kmsprep at once with the signal's status.  kmsprep starts with
# SIGINT at its default, as from a terminal: bash starts a background job
# with SIGINT ignored, and a SIGINT kmsprep did not catch would then do
# nothing at all.
alive() {
	grep -qs '^State:[[:space:]]*[^Z[:space:]]' /proc/$1/status
}
SIGINT_DFL='import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])'
signal_cleans_direct() {
	local sig want pid i rc
	victim
	for sig in INT HUP; do
		rm -rf tmp
		mkdir tmp
		KMSPREP_SANDBOX_SELFTEST=1 KMSPREP_HIVE_SERVER_LOOP_ON_OPEN=1 \
			TMPDIR=$PWD/tmp python3 -c "$SIGINT_DFL" "$KMSPREP" image set \
			--backend direct victim.img --kms-host k >/dev/null 2>&1 &
		pid=$!
		for i in $(seq 200); do
			find tmp -name '*SOFTWARE*' | grep -q . && break
			sleep 0.1
		done
		find tmp -name '*SOFTWARE*' | grep -q .
		kill -$sig $pid
		# Gone within 2 s: reaped by bash, or a zombie.
		for i in $(seq 20); do
			alive $pid || break
			sleep 0.1
		done
		if alive $pid; then
			kill -KILL $pid
			wait $pid || true
			echo "kmsprep still running 2 s after SIG$sig" >&2
			return 1
		fi
		rc=0
		wait $pid || rc=$?
		want=$((128 + $(kill -l $sig)))
		[ $rc -eq $want ] ||
			{ echo "SIG$sig: exit $rc, not $want" >&2; return 1; }
		find tmp -mindepth 1 >left
		[ ! -s left ] || { cat left; return 1; }
	done
	untouched
}
t "SIGINT and SIGHUP remove the scratch copies (direct backend)" signal_cleans_direct

done_testing

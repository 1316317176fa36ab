#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Faults, as job engines meet them over NBD and on damaged volumes: every
# wait is bounded (a stalled server is exit 5, a volume that makes the
# worker loop exit 3, each within the request deadline), a refused
# connection is exit 5 at once, and an image set interrupted at any of its
# writes (an I/O error, a dropped connection, a write acknowledged and
# thrown away) leaves an image that the next run finishes, the result read
# back by independent readers (ntfs-3g's ntfsfix and ntfscat, reglookup).
# The NBD server is nbdkit with tests/helper/faultnbd.py.
. "$(dirname "$0")/lib.sh"

PATH=$PATH:/sbin:/usr/sbin
for tool in sfdisk mkntfs nbdkit ntfscat ntfsfix reglookup; do
	command -v $tool >/dev/null 2>&1 || skip_all "no $tool"
done
nbdkit python --dump-plugin >/dev/null 2>&1 ||
	skip_all "nbdkit has no python plugin (nbdkit-plugin-python)"
MK=$SRC_DIR/tests/helper/mkimage-direct
FAULT=$SRC_DIR/tests/helper/faultnbd.py
SPP='Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform'

sample_hive "$SCRATCH/soft" client || exit 1
"$KMSPREP" hive new "$SCRATCH/sys" >/dev/null &&
	"$KMSPREP" hive import "$SCRATCH/sys" "$SRC_DIR/tests/data/system.reg" \
		>/dev/null || exit 1
MKIMAGE_SYSTEM=$SCRATCH/sys "$MK" "$SCRATCH/win.img" mbr "$SCRATCH/soft" ||
	exit 1

# serve IMAGE [PARAM=VALUE...]: an nbdkit on ./sock serving IMAGE with
# faultnbd.py's faults; URI is how kmsprep names it.
serve() {
	local img=$1 i
	shift
	rm -f sock
	nbdkit -U "$PWD/sock" -P "$PWD/nbdkit.pid" python "$FAULT" \
		file="$PWD/$img" "$@"
	# A test that ends (or fails) with its server up stops it.
	trap unserve EXIT
	for i in $(seq 100); do
		[ -S sock ] && break
		sleep 0.05
	done
	URI="nbd+unix:///?socket=$PWD/sock"
}

# stop_pid FILE: the nbdkit whose pid FILE holds, killed outright if it
# does not end at once (a stalled plugin keeps it from ending).
stop_pid() {
	local pid i
	[ -e "$1" ] || return 0
	pid=$(cat "$1")
	kill "$pid" 2>/dev/null || true
	for i in $(seq 10); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$1"
}

unserve() {
	stop_pid nbdkit.pid
}
# Every test's server is gone when the script ends, before lib.sh's own
# cleanup (which this trap replaces) removes the scratch directory.
trap 'for p in "$SCRATCH"/*/nbdkit.pid; do stop_pid "$p"; done
	cd /; rm -rf "$SCRATCH"' EXIT

# check_host IMAGE: what independent readers find in IMAGE's volume: a
# sound $MFTMirr (ntfsfix -n), and the KMS host in SOFTWARE (ntfscat,
# reglookup).
check_host() {
	dd if="$1" of=part bs=1M skip=1 status=none
	ntfsfix -n part >fix 2>&1 || { cat fix; return 1; }
	expect_no_grep 'FAILED\|corrupt' fix
	ntfscat part Windows/System32/config/SOFTWARE >hive
	reglookup -H -p "/$SPP/KeyManagementServiceName" hive >val
	expect_grep 'kms.contoso.com' val
	rm -f part hive
}
# elapsed CMD...: run CMD, its exit code in RC and its seconds in SECS.
elapsed() {
	local t0 t1
	t0=$(date +%s%N)
	RC=0
	"$@" || RC=$?
	t1=$(date +%s%N)
	SECS=$(( (t1 - t0) / 1000000000 ))
}

# A server that stops answering a read: exit 5 once each request's
# deadline passes (half of --request-timeout), not a hang.
stalled_read() {
	cp "$SCRATCH/win.img" w.img
	serve w.img stall_read=20
	elapsed timeout 120 "$KMSPREP" image show --request-timeout 4 "$URI" \
		>out 2>err
	unserve
	[ "$RC" -eq 5 ] || { cat err; return 1; }
	[ "$SECS" -lt 30 ]
	expect_grep 'the NBD server stopped answering' err
}
t "a stalled NBD read: exit 5 within the deadline" stalled_read

# One that stops answering a write: exit 5, the message says what the
# image holds, and a retry on a working server finishes.
stalled_write() {
	cp "$SCRATCH/win.img" w.img
	serve w.img fail=12 mode=stall
	elapsed timeout 120 "$KMSPREP" image set --request-timeout 4 \
		--kms-host kms.contoso.com "$URI" >out 2>err
	unserve
	[ "$RC" -eq 5 ] || { cat err; return 1; }
	[ "$SECS" -lt 30 ]
	expect_no_grep 'no image was changed' err
	serve w.img
	kp image set -q --kms-host kms.contoso.com "$URI" >out
	unserve
	check_host w.img
}

t "a stalled NBD write: exit 5 within the deadline; a retry finishes" \
	stalled_write

# A refused connection: exit 5 at once, and auto does not start the
# appliance for it.
refused() {
	elapsed timeout 60 "$KMSPREP" image show nbd://127.0.0.1:1/ >out 2>err
	[ "$RC" -eq 5 ] || { cat err; return 1; }
	[ "$SECS" -lt 10 ]
	expect_grep 'cannot connect' err
	expect_no_grep 'appliance' err
	# The appliance says what failed (libguestfs's own message only
	# points at messages it did not show), also exit 5.
	if command -v guestfish >/dev/null; then
		expect_code 5 kp image show --backend appliance \
			nbd://127.0.0.1:1/ 2>err
		expect_grep 'Connection refused' err
		expect_no_grep 'see debug messages\|see earlier error' err
	fi
}
t "a refused NBD connection: exit 5 at once, no appliance" refused

# A directory index whose B+ tree points back at itself (one changed
# entry): ntfs-3g's lookup of hiberfil.sys at a read-write mount loops.
# The worker is stopped at the deadline: exit 3, nothing written.
make_loop_image() {
	local args="" i
	cp "$SCRATCH/win.img" loop.img
	printf x >small
	# Enough names in the root that its index has blocks to damage.
	for i in $(seq -w 0 299); do
		args="$args put f$i small"
	done
	# shellcheck disable=SC2086
	"$TEST_TOOL" direct -p 1 loop.img $args
	python3 "$SRC_DIR/tests/helper/ntfsloop.py" loop.img 1048576 \
		hiberfil.sys >/dev/null
	sha256sum loop.img >sum
}
looping_index() {
	make_loop_image
	elapsed timeout 120 "$KMSPREP" image set --backend direct \
		--request-timeout 5 --kms-host kms.contoso.com loop.img >out 2>err
	[ "$RC" -eq 3 ] || { cat err; return 1; }
	[ "$SECS" -lt 40 ]
	expect_grep 'did not answer within 5 s' err
	expect_grep 'kept computing' err
	sha256sum -c --quiet sum
}
t "a looping NTFS index: exit 3 within the deadline, image unchanged" \
	looping_index

# The same in the appliance, whose ntfs-3g loops the same way: libguestfs
# has no deadline of its own, and waited for ever.  qemu is stopped once
# one call has run past --request-timeout.
looping_index_appliance() {
	command -v guestfish >/dev/null || skip "no libguestfs appliance"
	make_loop_image
	elapsed timeout 300 env LIBGUESTFS_BACKEND_SETTINGS=force_tcg \
		"$KMSPREP" image set --backend appliance --request-timeout 10 \
		--kms-host kms.contoso.com loop.img >out 2>err
	[ "$RC" -eq 3 ] || { cat err; return 1; }
	# The launch (10-60 s under load) and the deadline.
	[ "$SECS" -lt 150 ]
	expect_grep 'appliance did not answer within 10 s' err
	expect_grep 'kept computing' err
	sha256sum -c --quiet sum
}
t "the appliance on a looping NTFS index: exit 3, image unchanged" \
	looping_index_appliance

# The appliance's deadline runs while one of its calls does, not while
# kmsprep does its own work between them: here each request to the hive
# server computes 2.2 s (a self-test hook), three in a row outlast the
# 6 s deadline, and no call of the appliance's is slow.
appliance_idle_untimed() {
	command -v guestfish >/dev/null || skip "no libguestfs appliance"
	cp "$SCRATCH/win.img" slow.img
	expect_code 0 env KMSPREP_SANDBOX_SELFTEST=1 \
		KMSPREP_HIVE_SERVER_SLOW_MS=2200 \
		LIBGUESTFS_BACKEND_SETTINGS=force_tcg \
		"$KMSPREP" image set --backend appliance --request-timeout 6 \
		--kms-host kms.contoso.com slow.img >out 2>err ||
		{ cat err; return 1; }
	expect_grep 'written and verified' out
	check_host slow.img
}
t "the appliance: kmsprep's own work between its calls is not timed" \
	appliance_idle_untimed

# Every write of a real image set fails in turn, in each way a storage
# fails; then the same command runs again.  The first run must not claim
# success it does not have, and the second must finish: the setting
# written and verified, read back by independent readers.
interrupted() {
	local mode=$1 n total runs=0 repairs=0
	cp "$SCRATCH/win.img" w.img
	serve w.img log="$PWD/count"
	kp image set -q --kms-host kms.contoso.com "$URI" >out
	unserve
	total=$(sed -n 's/^writes //p' count | sort -n | tail -n 1)
	[ "$total" -gt 10 ]
	for n in $(seq "$total"); do
		cp "$SCRATCH/win.img" w.img
		serve w.img fail="$n" mode="$mode"
		RC=0
		timeout 120 "$KMSPREP" image set --request-timeout 10 \
			--kms-host kms.contoso.com "$URI" >out 2>err || RC=$?
		case $mode in
		eio | disconnect)
			[ "$RC" -ne 0 ] || { echo "write $n: no failure"; return 1; } ;;
		esac
		# A run that says it wrote has written: it is read back from
		# the storage, not from its own cache.
		if [ "$RC" -eq 0 ]; then
			unserve
			check_host w.img || { echo "write $n: claimed"; return 1; }
			continue
		fi
		[ "$RC" -eq 1 ] || [ "$RC" -eq 5 ] ||
			{ echo "write $n: exit $RC"; cat err; return 1; }
		[ "$mode" != disconnect ] || { unserve; serve w.img; }
		# Before the retry the image opens, and says what the retry
		# will repair, in text and in JSON.
		kp image show "$URI" >show
		kp image show --json "$URI" >show.json
		if grep -q '^    repair: ' show; then
			repairs=$((repairs + 1))
			grep -A1 '"repair": \[' show.json |
				grep -q '"mftmirr"\|"log-entry"' ||
				{ echo "write $n: repair not in the JSON"; return 1; }
		fi
		kp image set -q --kms-host kms.contoso.com "$URI" >out 2>err ||
			{ echo "write $n: the retry failed"; cat err; return 1; }
		unserve
		check_host w.img || { echo "write $n: after the retry"; return 1; }
		runs=$((runs + 1))
	done
	echo "$mode: $total writes, $runs interrupted and finished by a retry," \
		"$repairs shown as needing a repair first" >&2
	# A dropped connection leaves $MFTMirr behind at some writes (3 of
	# 25 on this image), which image show reports before the retry.
	[ "$mode" != disconnect ] || [ "$repairs" -gt 0 ]
}
t "each write fails with EIO in turn; the retry finishes" interrupted eio
t "the connection drops at each write in turn; the retry finishes" \
	interrupted disconnect
t "each write is acknowledged and dropped in turn; none is claimed" \
	interrupted drop

done_testing

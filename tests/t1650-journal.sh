#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Journaled in-place commits (hive/journal.c): only the changed pages are
# written, first to a new-format log entry, then in place; a crash at any
# moment leaves the old hive or, once its log is replayed, the new one.
# Logs are found in any letter case.
. "$(dirname "$0")/lib.sh"

command -v reglookup >/dev/null || skip_all "reglookup not installed"
N=${CRASH_ITERATIONS:-30}
SET="--kms-host kms-new.example.com:1700 --activation-interval 45"

# content FILE: every key and value, without key timestamps.
content() {
	reglookup "$1" 2>/dev/null | cut -d, -f1-3 | sort
}

# entry_pages LOG: the 4 KiB pages (file offsets / 4096) the first HvLE
# entry of LOG holds, one a line, after checking its layout and sizes.
entry_pages() {
	python3 - "$1" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:4] == b"regf" and struct.unpack_from("<I", d, 0x1c)[0] == 6
e = d[512:]
assert e[:4] == b"HvLE"
size, flags, seq, hbins, n = struct.unpack_from("<5I", e, 4)
assert size % 512 == 0 and (512 + size) % 4096 == 0 and 512 + size == len(d)
assert struct.unpack_from("<I", d, 4)[0] == seq
total = 0
for i in range(n):
    off, ln = struct.unpack_from("<2I", e, 40 + 8 * i)
    assert off % 4096 == 0 and ln % 4096 == 0 and off + ln <= hbins
    total += ln
    for p in range(off, off + ln, 4096):
        print(0x1000 // 4096 + p // 4096)
assert 40 + 8 * n + total <= size
EOF
}

# outside_same OLD NEW PAGES: every 4 KiB page of OLD other than the base
# block and PAGES is byte-identical in NEW.
outside_same() {
	python3 - "$1" "$2" "$3" <<'EOF'
import sys
a = open(sys.argv[1], "rb").read()
b = open(sys.argv[2], "rb").read()
logged = {int(x) for x in open(sys.argv[3])}
assert len(b) >= len(a)
bad = [p for p in range(1, len(a) // 4096)
       if p not in logged and a[p * 4096:(p + 1) * 4096] != b[p * 4096:(p + 1) * 4096]]
assert not bad, "pages changed outside the log entry: %s" % bad[:10]
changed = [p for p in range(1, len(b) // 4096)
           if a[p * 4096:(p + 1) * 4096] != b[p * 4096:(p + 1) * 4096]]
print("%d pages of %d changed, %d logged" % (len(changed), len(b) // 4096, len(logged)))
EOF
}

in_place() {
	"$TEST_TOOL" mkhive base.hive 100 200 4 32 >/dev/null
	cp base.hive h
	ino=$(stat -c %i h)
	kp hive set h $SET >out
	expect_grep "wrote 'h' (3 changes" out
	# The same file, not a replacement; a log beside it; nothing else.
	[ "$(stat -c %i h)" = "$ino" ]
	[ "$(ls)" = "$(printf 'base.hive\nh\nh.LOG1\nout')" ]
	entry_pages h.LOG1 >pages
	[ "$(wc -l <pages)" -le 8 ]
	outside_same base.hive h pages
	"$TEST_TOOL" regf-check h >/dev/null
	kp hive show h >show
	expect_grep 'state: clean' show
	# Value for value what the whole-file rewrite gives, by two readers
	# that are not kmsprep.
	cp base.hive r
	kp hive set r --rewrite $SET >/dev/null
	[ ! -e r.LOG1 ]
	content h >a
	content r >b
	expect_same a b
	expect_grep 'KeyManagementServiceName,SZ,kms-new.example.com' a
	hivexregedit --export h '\' >a.reg
	hivexregedit --export r '\' >b.reg
	expect_same a.reg b.reg
	# The next commit goes to the other log, and is as small.
	cp h h1
	kp hive set h --kms-host kms-next.example.com >/dev/null
	[ -s h.LOG2 ]
	entry_pages h.LOG2 >pages2
	outside_same h1 h pages2
	content h >a
	expect_grep 'KeyManagementServiceName,SZ,kms-next.example.com' a
}
t "only the changed pages are written, through the log; readers agree" in_place

# Killed by the test hook at each step: before step 2 the hive is the old
# one, clean; from step 2 it is dirty and replaying the log gives the new.
hook_steps() {
	local p want
	"$TEST_TOOL" mkhive base.hive 30 50 4 32 >/dev/null
	content base.hive >old.txt
	cp base.hive ref
	kp hive set ref $SET >/dev/null
	content ref >new.txt
	fails cmp -s old.txt new.txt
	for p in 1h 1 2 3h 3 4; do
		rm -f h h.LOG1 h.LOG2 r
		cp base.hive h
		expect_code 137 env KMSPREP_TEST_CRASH_AT=$p "$KMSPREP" hive set h $SET
		kp hive show --json h >show.json
		case $p in
		1h | 1)
			want=old.txt
			expect_same base.hive h
			grep -q '"dirty": false' show.json ;;
		4)
			want=new.txt
			grep -q '"dirty": false' show.json ;;
		*)
			want=new.txt
			grep -q '"dirty": true' show.json ;;
		esac
		# kmsprep's own replay of the entry it wrote.
		kp hive recover h -o r >/dev/null
		content r >got.txt
		expect_same $want got.txt
		"$TEST_TOOL" regf-check r >/dev/null
		# And a later write replays it first.
		kp hive set h --kms-host again.example.com >/dev/null
		content h | grep -q 'again.example.com'
		content h | grep -v 'KeyManagementService' >after.txt
		grep -v 'KeyManagementService' $want >want2.txt
		expect_same want2.txt after.txt
	done
}
t "killed between the steps (test hook): the old hive, or the new once replayed" hook_steps

kills() {
	local i delay start end span old=0 new=0 dirty=0 pid
	"$TEST_TOOL" mkhive base.hive 100 200 4 32 >/dev/null
	content base.hive >old.txt
	cp base.hive ref
	start=$(date +%s%N)
	kp hive set ref $SET >/dev/null
	end=$(date +%s%N)
	content ref >new.txt
	# Half the kills from 0 to 1.3 times one run; half in its last 20 %,
	# where the four steps are.
	span=$(((end - start) * 13 / 10))
	for i in $(seq 0 $((N - 1))); do
		rm -f h h.LOG1 h.LOG2 r
		cp base.hive h
		if [ $i -lt $((N / 2)) ]; then
			delay=$((span * 2 * i / N))
		else
			delay=$(((end - start) * (80 + 25 * (i - N / 2) / (N - N / 2)) / 100))
		fi
		delay=$(printf '%d.%09d' $((delay / 1000000000)) \
			$((delay % 1000000000)))
		kp hive set h $SET >/dev/null 2>&1 &
		pid=$!
		sleep "$delay"
		kill -9 $pid 2>/dev/null || true
		wait $pid 2>/dev/null || true
		if cmp -s h base.hive; then
			old=$((old + 1))
			continue
		fi
		# Replayed if dirty, as is if clean: reglookup reads the result.
		kp hive recover h -o r >out
		grep -q 'nothing to replay' out || dirty=$((dirty + 1))
		content r >got.txt
		if cmp -s got.txt old.txt; then
			old=$((old + 1))
		elif cmp -s got.txt new.txt; then
			new=$((new + 1))
		else
			echo "kill $i after ${delay}s: neither old nor new" >&2
			diff new.txt got.txt | head >&2
			return 1
		fi
	done
	echo "$N kills over $((span / 1000000)) ms: $old old, $new new ($dirty left dirty, replayed)"
	[ "$old" -gt 0 ] && [ "$new" -gt 0 ]
}
t "SIGKILL at $N moments: old, or new once the log is replayed" kills

# A dirty hive whose log is NTUSER.DAT's, named in lower case.
nocase() {
	"$TEST_TOOL" mkhive base.hive 20 20 2 >/dev/null
	content base.hive >old.txt
	cp base.hive NTUSER.DAT
	expect_code 137 env KMSPREP_TEST_CRASH_AT=3 "$KMSPREP" hive set NTUSER.DAT $SET
	mv NTUSER.DAT.LOG1 ntuser.dat.log1
	kp hive show NTUSER.DAT >show 2>err
	expect_grep 'log1: new format' show
	expect_grep 'replayed 1 transaction log entries' err
	kp hive recover NTUSER.DAT -o r >/dev/null
	content r | grep -q 'kms-new.example.com'
	# Written through: the dirty hive is replayed first, then rewritten.
	kp hive set NTUSER.DAT --kms-host other.example.com >/dev/null
	content NTUSER.DAT >got
	expect_grep 'VLActivationInterval,DWORD,0x0000002D' got
	# Clean now, with ntuser.dat.log1 holding the latest entry: the next
	# journaled write goes to LOG2, the one after into ntuser.dat.log1,
	# never to a second LOG1 in upper case.
	kp hive set NTUSER.DAT --kms-host third.example.com >/dev/null
	kp hive set NTUSER.DAT --kms-host fourth.example.com >/dev/null
	kp hive set NTUSER.DAT --kms-host fifth.example.com >/dev/null
	[ "$(ls -1 | grep -ic 'ntuser.dat.log')" -eq 2 ]
	[ ! -e NTUSER.DAT.LOG1 ]
	[ -s ntuser.dat.log1 ] && [ -s NTUSER.DAT.LOG2 ]
	content NTUSER.DAT | grep -q 'fifth.example.com'
}
t "logs in another letter case are found, read and written" nocase

nocase_real() {
	testdata win10-1709-dirty-SYSTEM
	testdata win10-1709-dirty-SYSTEM.LOG1
	testdata win10-1709-dirty-SYSTEM.LOG2
	kp hive recover win10-1709-dirty-SYSTEM -o want >/dev/null
	mv win10-1709-dirty-SYSTEM SYSTEM
	mv win10-1709-dirty-SYSTEM.LOG1 system.log1
	mv win10-1709-dirty-SYSTEM.LOG2 System.Log2
	kp hive recover SYSTEM -o got >out
	expect_grep 'new-format log' out
	content want >a
	content got >b
	expect_same a b
}
t "a real dirty hive with logs named in lower case is recovered" nocase_real

# Where the whole-file rewrite stays: old hive versions, old-format logs,
# --backup, --rewrite.  No log is written there.
fallbacks() {
	"$TEST_TOOL" mkhive base.hive 20 20 2 >/dev/null
	# A version 1.3 hive (Windows XP era).
	python3 - base.hive v13 <<'EOF'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
struct.pack_into("<I", d, 0x18, 3)
c = 0
for i in range(0, 508, 4):
    c ^= struct.unpack_from("<I", d, i)[0]
c = 1 if c == 0 else 0xfffffffe if c == 0xffffffff else c
struct.pack_into("<I", d, 508, c)
open(sys.argv[2], "wb").write(d)
# An old-format (Vista to 8.0) log of the same hive: type 1, "DIRT".
log = bytearray(d[:512])
struct.pack_into("<I", log, 0x18, 5)
struct.pack_into("<I", log, 0x1c, 1)
c = 0
for i in range(0, 508, 4):
    c ^= struct.unpack_from("<I", log, i)[0]
c = 1 if c == 0 else 0xfffffffe if c == 0xffffffff else c
struct.pack_into("<I", log, 508, c)
hb = struct.unpack_from("<I", d, 0x28)[0]
open("old.LOG1", "wb").write(bytes(log) + b"DIRT" + bytes(hb // 4096) + bytes(512))
EOF
	ino=$(stat -c %i v13)
	kp hive set v13 --force $SET >/dev/null
	[ ! -e v13.LOG1 ] && [ "$(stat -c %i v13)" != "$ino" ]
	cp base.hive old
	cp old.LOG1 keep.LOG1
	kp hive set old $SET >/dev/null
	[ ! -e old.LOG2 ]
	expect_same keep.LOG1 old.LOG1
	cp base.hive b
	kp hive set b --backup $SET >/dev/null
	[ ! -e b.LOG1 ] && [ -f b.bak ]
	content b | grep -q 'kms-new.example.com'
	# Through a link: the real file is written in place, its mode kept,
	# its log beside it.
	mkdir real
	cp base.hive real/s
	chmod 0640 real/s
	ln -s real/s link
	kp hive set link $SET >/dev/null
	[ -L link ] && [ -s real/s.LOG1 ] && [ ! -e link.LOG1 ]
	[ "$(stat -c %a real/s)" = 640 ] && [ "$(stat -c %a real/s.LOG1)" = 640 ]
}
t "old versions, old-format logs, --backup: the atomic rewrite; links" fallbacks

# A journaled commit writes in place under LOCK_EX: readers take LOCK_SH
# and so never read it half-written; --rewrite holds LOCK_EX from its check
# to its rename.  flock(1) stands in for the other kmsprep.
locks() {
	"$TEST_TOOL" mkhive base.hive 20 20 2 >/dev/null
	cp base.hive h
	expect_code 4 flock -x h "$KMSPREP" hive show h >out 2>err
	expect_grep "cannot read it: process [0-9]* (flock) holds a write lock on it" err
	expect_code 4 flock -x h "$KMSPREP" hive export h >out 2>err
	expect_grep "holds a write lock" err
	# Readers together are fine.
	flock -s h "$KMSPREP" hive show h >out
	expect_grep 'state: clean' out
	# No writer while a reader reads, journaled or whole-file.
	expect_code 4 flock -s h "$KMSPREP" hive set h $SET >out 2>err
	expect_grep "cannot write it: process [0-9]* (flock) holds a read lock" err
	expect_same base.hive h
	[ ! -e h.LOG1 ]
	expect_code 4 flock -s h "$KMSPREP" hive set h --rewrite $SET \
		>out 2>err
	expect_grep "cannot replace it: process [0-9]* (flock) holds a read lock" err
	expect_same base.hive h
	kp hive set h --rewrite $SET >/dev/null
	content h | grep -q 'kms-new.example.com'
}
t "readers take a shared lock; writers and --rewrite an exclusive one" locks

# A hive whose log is there but is not a valid new-format log may be
# Windows 7's (its hives are version 1.5 too): no HvLE log is written for
# it, the whole file is rewritten, and the output says so.
bad_logs() {
	"$TEST_TOOL" mkhive base.hive 20 20 2 >/dev/null
	for kind in garbage oldbad; do
		rm -f x x.LOG1 x.LOG2
		cp base.hive x
		if [ $kind = garbage ]; then
			head -c 8192 /dev/urandom >x.LOG1
		else
			# An old-format log header (type 1), no "DIRT" vector.
			python3 -c '
import struct, sys
log = bytearray(open(sys.argv[1], "rb").read()[:512])
struct.pack_into("<I", log, 0x1c, 1)
c = 0
for i in range(0, 508, 4):
    c ^= struct.unpack_from("<I", log, i)[0]
c = 1 if c == 0 else 0xfffffffe if c == 0xffffffff else c
struct.pack_into("<I", log, 508, c)
open(sys.argv[1] + ".LOG1", "wb").write(bytes(log) + bytes(4096))
' x
		fi
		cp x.LOG1 keep.LOG1
		ino=$(stat -c %i x)
		kp hive set x $SET >out
		expect_grep "rewrote the whole file: a log beside it is not a valid new-format log" out
		[ "$(stat -c %i x)" != "$ino" ] && [ ! -e x.LOG2 ]
		expect_same keep.LOG1 x.LOG1
		content x | grep -q 'kms-new.example.com'
	done
	# An empty log says nothing against Windows 8.1: journaled.
	rm -f x x.LOG1
	cp base.hive x
	: >x.LOG1
	kp hive set x $SET >out
	fails grep -q 'rewrote' out
	[ -s x.LOG1 ] || [ -s x.LOG2 ]
}
t "a log that is not a valid new-format one: the whole-file rewrite" bad_logs

done_testing

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Transaction-log recovery on the real dirty Windows 10 SYSTEM hive.
. "$(dirname "$0")/lib.sh"
[ -d "$TESTDATA" ] || skip_all "no reference hives in $TESTDATA (../shared)"

dirty() {
	testdata win10-1709-dirty-SYSTEM
	testdata win10-1709-dirty-SYSTEM.LOG1
	testdata win10-1709-dirty-SYSTEM.LOG2
}

recover_real() {
	dirty
	cp win10-1709-dirty-SYSTEM orig
	kp hive recover win10-1709-dirty-SYSTEM -o rec >out
	expect_grep "new-format log, 24 entries applied (sequence 2107 to 2130)" out
	expect_same orig win10-1709-dirty-SYSTEM
	# Clean, with a sequence number above every one in the logs.
	od -An -tu4 -j4 -N8 rec | awk '{ exit !($1 == $2 && $1 > 2130) }'
	"$TEST_TOOL" regf-check rec >/dev/null
	hivexregedit --export rec '\Select' >/dev/null
	# Keys and values the primary alone does not have.
	reglookup win10-1709-dirty-SYSTEM 2>/dev/null | sort >a
	reglookup rec 2>/dev/null | sort >b
	comm -13 a b >new
	wc -l <new | awk '{ exit !($1 > 1000) }'
	head -n 5 new
	expect_grep '^/ControlSet001/Control/Class/{4d36e967-e325-11ce-bfc1-08002be10318}/0003/DriverDesc,SZ,Disk drive,' new
}
t "recover applies both logs in sequence; the result has what the primary lacks" recover_real

show_dirty() {
	dirty
	kp hive export win10-1709-dirty-SYSTEM 'Select' >/dev/null 2>err
	expect_grep 'was dirty: replayed 24 transaction log entries' err
	mkdir nologs && cp win10-1709-dirty-SYSTEM nologs/
	expect_code 3 kp hive show nologs/win10-1709-dirty-SYSTEM 2>err
	expect_grep 'not a SOFTWARE hive.*--force shows its state' err
	kp hive show --force nologs/win10-1709-dirty-SYSTEM >out
	expect_grep 'logs not usable: no transaction logs found' out
	kp hive show --force --json win10-1709-dirty-SYSTEM >out
	expect_grep '"log_entries_applied": 24' out
	expect_code 3 kp hive recover nologs/win10-1709-dirty-SYSTEM -o x 2>err
	expect_grep 'cannot recover: no transaction logs found' err
	[ ! -e x ]
}
t "logs found beside the hive are replayed; no logs, no recovery" show_dirty

through_a_link() {
	dirty
	mkdir l
	ln -s ../win10-1709-dirty-SYSTEM l/SYSTEM
	kp hive export l/SYSTEM 'Select' >/dev/null 2>err
	expect_grep 'was dirty: replayed 24' err
}
t "the logs of a linked hive are found beside the real file" through_a_link

set_then_reread() {
	dirty
	kp hive recover win10-1709-dirty-SYSTEM -o rec >/dev/null
	# Editing the dirty hive in place replays its logs first.
	kp hive set --force win10-1709-dirty-SYSTEM --kms-host kms.contoso.com >out 2>err
	expect_grep 'was dirty: replayed 24' err
	expect_no_grep 'cannot be replayed' err
	reglookup rec 2>/dev/null | sort >a
	reglookup win10-1709-dirty-SYSTEM 2>/dev/null | sort >b
	comm -23 a b | grep -v ',KEY,' >lost || true
	[ ! -s lost ] || { head lost; return 1; }
	comm -13 a b | grep -v ',KEY,' >added
	[ "$(wc -l <added)" -eq 1 ]
	expect_grep 'KeyManagementServiceName,SZ,kms.contoso.com' added
	# Sequence above every log entry: Windows will not replay them.
	od -An -tu4 -j4 -N8 win10-1709-dirty-SYSTEM | awk '{ exit !($1 == $2 && $1 > 2130) }'
	kp hive show --force win10-1709-dirty-SYSTEM >out
	expect_grep '^state: clean' out
}
t "set on a dirty hive keeps every recovered key and value" set_then_reread

damaged_logs() {
	dirty
	cp win10-1709-dirty-SYSTEM orig
	# A flipped byte in the first entry's page data: its hash fails.
	cp win10-1709-dirty-SYSTEM.LOG1 l1
	printf '\x55' | dd of=l1 bs=1 seek=$((0x1000)) conv=notrunc 2>/dev/null
	cp win10-1709-dirty-SYSTEM.LOG2 l2
	printf '\x55' | dd of=l2 bs=1 seek=$((0x1000)) conv=notrunc 2>/dev/null
	expect_code 3 kp hive recover win10-1709-dirty-SYSTEM --log1 l1 --log2 l2 -o x 2>err
	expect_grep 'hash mismatch' err
	[ ! -e x ]
	# Truncated logs.
	head -c 700 win10-1709-dirty-SYSTEM.LOG1 >t1
	head -c 300 win10-1709-dirty-SYSTEM.LOG2 >t2
	expect_code 3 kp hive recover win10-1709-dirty-SYSTEM --log1 t1 --log2 t2 -o x 2>err
	expect_grep 'cannot recover' err
	# Wrong signature.
	cp win10-1709-dirty-SYSTEM.LOG1 s1
	printf 'xxxx' | dd of=s1 bs=1 seek=0 conv=notrunc 2>/dev/null
	: >empty
	expect_code 3 kp hive recover win10-1709-dirty-SYSTEM --log1 s1 --log2 empty -o x 2>err
	expect_grep "no 'regf' base block" err
	# A log that is not a file at all is refused before anything else.
	expect_code 3 kp hive recover win10-1709-dirty-SYSTEM --log1 s1 --log2 /dev/null -o x 2>err
	expect_grep "transaction log 2: '/dev/null': not a regular file" err
	# A hive given as a log.
	testdata win7sp1-SYSTEM
	expect_code 3 kp hive recover win10-1709-dirty-SYSTEM --log1 win7sp1-SYSTEM --log2 t2 -o x 2>err
	expect_grep 'this is a hive, not a log' err
	[ ! -e x ]
	# The real logs offered to another hive: the same file with the
	# Windows 7 hive's GUIDs (0x70-0xa8) and a fixed checksum.
	python3 - <<'EOF'
import struct
d = bytearray(open("win10-1709-dirty-SYSTEM", "rb").read())
d[0x70:0xa8] = open("win7sp1-SYSTEM", "rb").read()[0x70:0xa8]
x = 0
for i in range(0, 0x1fc, 4):
    x ^= struct.unpack_from("<I", d, i)[0]
struct.pack_into("<I", d, 0x1fc, {0: 1, 0xffffffff: 0xfffffffe}.get(x, x))
open("other", "wb").write(d)
EOF
	expect_code 3 kp hive recover other --log1 win10-1709-dirty-SYSTEM.LOG1 --log2 win10-1709-dirty-SYSTEM.LOG2 -o x 2>err
	expect_grep 'LOG1: belongs to another hive' err
	[ ! -e x ]
	expect_same orig win10-1709-dirty-SYSTEM
	# Writing with unusable logs is refused (4), unless --force-dirty.
	expect_code 4 kp hive set --force --log1 l1 --log2 l2 win10-1709-dirty-SYSTEM --kms-host k 2>err
	expect_grep 'none can be replayed' err
	expect_same orig win10-1709-dirty-SYSTEM
}
t "damaged logs are refused with a reason, nothing written" damaged_logs

damaged_midway() {
	dirty
	cp win10-1709-dirty-SYSTEM orig
	# Entry 2113 in LOG2, with later entries after it.
	cp win10-1709-dirty-SYSTEM.LOG2 l2
	printf '\x55' | dd of=l2 bs=1 seek=353160 conv=notrunc 2>/dev/null
	expect_code 3 kp hive recover win10-1709-dirty-SYSTEM --log2 l2 -o x 2>err
	expect_grep 'damaged transaction log (LOG2: entry at 0x55000 (sequence 2113): hash mismatch)' err
	[ ! -e x ]
	expect_code 3 kp hive set --force --log2 l2 win10-1709-dirty-SYSTEM --kms-host k 2>err
	expect_grep 'damaged transaction log' err
	expect_same orig win10-1709-dirty-SYSTEM
	# LOG1 cut inside its second entry.
	head -c 20000 win10-1709-dirty-SYSTEM.LOG1 >l1
	expect_code 3 kp hive recover win10-1709-dirty-SYSTEM --log1 l1 -o x 2>err
	expect_grep 'past the end of the log (truncated)' err
	[ ! -e x ]
	# --force-dirty replays what is intact, as Windows would, and says so.
	kp hive recover --force-dirty win10-1709-dirty-SYSTEM --log2 l2 -o x >out
	expect_grep '6 entries applied (sequence 2107 to 2112)' out
	expect_grep '^warning: damaged log' out
	expect_same orig win10-1709-dirty-SYSTEM
	kp hive recover --dry-run --json --force-dirty win10-1709-dirty-SYSTEM --log2 l2 -o y >j
	python3 -c 'import json; j=json.load(open("j")); assert j["dry_run"] and j["damage"].startswith("LOG2: entry at 0x55000"), j'
	[ ! -e y ]
	# A torn last entry (a crash while it was written) is what Windows
	# drops too: nothing newer exists, so it is no damage.
	python3 - <<'EOF'
import struct
d = bytearray(open("win10-1709-dirty-SYSTEM.LOG2", "rb").read())
off, last = 0x200, None
while d[off:off + 4] == b"HvLE":
    size, seq = struct.unpack_from("<I", d, off + 4)[0], struct.unpack_from("<I", d, off + 12)[0]
    if seq == 2130:
        last = off
    off += size
d[last + 0x300] ^= 0x55
open("torn2", "wb").write(d)
EOF
	kp hive recover win10-1709-dirty-SYSTEM --log2 torn2 -o t >out
	expect_grep '23 entries applied (sequence 2107 to 2129)' out
	expect_no_grep 'warning' out
}
t "a log damaged part way is refused: later changes would be lost" damaged_midway

outputs() {
	dirty
	: >exists
	expect_code 4 kp hive recover win10-1709-dirty-SYSTEM -o exists 2>err
	expect_grep "'exists' exists: --force replaces it" err
	[ ! -s exists ]
	expect_code 4 kp hive new exists 2>err
	expect_code 4 kp hive export win10-1709-dirty-SYSTEM Select -o exists 2>err
	[ ! -s exists ]
	kp hive recover --dry-run win10-1709-dirty-SYSTEM -o rec >out
	expect_grep 'would recover .* 24 entries; dry run, nothing written' out
	kp hive new --dry-run h >out
	kp hive export --dry-run win10-1709-dirty-SYSTEM Select -o e.reg >out 2>/dev/null
	expect_grep 'dry run, nothing written' out
	[ ! -e rec ] && [ ! -e h ] && [ ! -e e.reg ]
	kp hive export --force win10-1709-dirty-SYSTEM Select -o exists 2>/dev/null
	expect_grep '^\[HKEY_LOCAL_MACHINE\\SYSTEM\\Select\]' exists
}
t "existing outputs are refused (4) unless --force; --dry-run writes nothing" outputs

force_dirty() {
	dirty
	mkdir n && cp win10-1709-dirty-SYSTEM n/
	kp hive set --force --force-dirty n/win10-1709-dirty-SYSTEM --kms-host k >out 2>err
	expect_grep 'writing anyway' err
	od -An -tu4 -j4 -N8 n/win10-1709-dirty-SYSTEM | awk '{ exit !($1 == $2) }'
}
t "--force-dirty writes and says what may be lost" force_dirty

# The primary's base block torn (zeroed) or its signature lost: Windows
# takes the base block from the log (only the log with the latest entries
# is used then), and so does kmsprep.  The hive bins match a recovery from
# the intact primary byte for byte (after the first bin's timestamp).
torn_base_block() {
	dirty
	kp hive recover win10-1709-dirty-SYSTEM -o ref >/dev/null
	for how in zero sig; do
		cp win10-1709-dirty-SYSTEM t
		cp win10-1709-dirty-SYSTEM.LOG1 t.LOG1
		cp win10-1709-dirty-SYSTEM.LOG2 t.LOG2
		if [ $how = zero ]; then
			dd if=/dev/zero of=t bs=512 count=1 conv=notrunc 2>/dev/null
		else
			printf 'XXXX' | dd of=t bs=1 conv=notrunc 2>/dev/null
		fi
		kp hive recover t -o out.$how >out
		expect_grep "recovered 't' -> 'out.$how': new-format log" out
		"$TEST_TOOL" regf-check out.$how >/dev/null
		cmp -i 4128 ref out.$how
	done
	rm t.LOG1 t.LOG2
	expect_code 3 kp hive recover t -o none 2>err
	expect_grep "corrupt base block (no 'regf' signature) and no usable transaction log" err
}
t "a torn primary base block is taken from the log" torn_base_block

done_testing

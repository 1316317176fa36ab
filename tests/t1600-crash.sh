#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Crash consistency: `hive set --rewrite` on a large hive is killed with
# SIGKILL at many moments, from its start to after its end.  After every kill the
# hive must open and hold either exactly the old content or exactly the
# new one (read by reglookup, an independent parser), nothing else.
. "$(dirname "$0")/lib.sh"

command -v reglookup >/dev/null || skip_all "reglookup not installed"
N=${CRASH_ITERATIONS:-60}
# The whole-file rewrite; journaled writes are killed in t1650-journal.sh.
SET="--force --rewrite --kms-host kms-new.example.com:1700 --activation-interval 45"

# content FILE: every key and value, without key timestamps.
content() {
	reglookup "$1" 2>/dev/null | cut -d, -f1-3 | sort
}

now_ns() {
	date +%s%N
}

kills() {
	local i delay start end span old=0 new=0 left=0 pid
	"$TEST_TOOL" mkhive base.hive 200 200 8 32 >/dev/null
	content base.hive >old.txt
	cp base.hive ref.hive
	start=$(now_ns)
	kp hive set ref.hive $SET >/dev/null
	end=$(now_ns)
	content ref.hive >new.txt
	fails cmp -s old.txt new.txt
	# Kill points from 0 to 1.3 times one run's duration.
	span=$(((end - start) * 13 / 10))
	for i in $(seq 0 $((N - 1))); do
		cp base.hive h
		delay=$((span * i / N))
		# Seconds too: a run takes more than one on a busy machine.
		delay=$(printf '%d.%09d' $((delay / 1000000000)) \
			$((delay % 1000000000)))
		kp hive set h $SET >/dev/null 2>&1 &
		pid=$!
		sleep "$delay"
		kill -9 $pid 2>/dev/null || true
		wait $pid 2>/dev/null || true
		if cmp -s h base.hive; then
			old=$((old + 1))
		else
			"$TEST_TOOL" regf-check h >/dev/null
			content h >got.txt
			cmp -s got.txt new.txt || {
				echo "kill $i after ${delay}s: neither old nor new" >&2
				diff new.txt got.txt | head >&2
				return 1
			}
			new=$((new + 1))
		fi
		# A kill can leave the temporary file behind; never the hive.
		for f in .h.kmsprep-*; do
			[ -e "$f" ] && left=$((left + 1)) && rm -f "$f"
		done
	done
	echo "$N kills over $((span / 1000000)) ms: $old old, $new new, $left temporary files left"
	[ $((old + new)) -eq "$N" ] && [ "$old" -gt 0 ] && [ "$new" -gt 0 ]
}

t "SIGKILL at $N moments: the hive is always the old or the new one" kills
done_testing

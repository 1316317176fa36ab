#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark: set one value in a large SOFTWARE-like hive.
#
#   bench/hive-set.sh [RUNS]
#
# Generates a hive of about 180 MB with 501,006 keys (1000 groups x 500 keys,
# two REG_SZ values each), then times, RUNS times each (median reported):
#   cp                 copy of the file: the I/O floor of a whole-file rewrite
#   cp + fsync         the same, made durable
#   hivexregedit       hivexregedit --merge of the same one-value .reg change
#                      (in place, no fsync, no verification)
#   kmsprep hive set   journaled (the default): the values edited cell by
#                      cell in place (hive/pageedit.c; hivex's whole new
#                      hive only for key edits), the changed pages through
#                      a .LOG1/.LOG2 entry, then in place, each step
#                      fsynced; the edited values read back before, the
#                      pages read back after
#   kmsprep --rewrite  atomic (temporary file, fsync, rename), validated
#                      before and verified after
# and prints ratios and peak memory (maximum resident set size), and the
# bytes the journaled run changed in the hive and wrote to its log.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KMSPREP:=build/kmsprep}"
: "${TEST_TOOL:=build/kmsprep-test-tool}"
runs=${1:-5}
dir=$(mktemp -d "${TMPDIR:-/tmp}/kmsprep-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT

"$TEST_TOOL" mkhive "$dir/base.hive" 1000 500 2 40
size=$(stat -c %s "$dir/base.hive")
printf 'Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\SoftwareProtectionPlatform]\n"KeyManagementServiceName"="kms.contoso.com"\n' >"$dir/change.reg"

# run NAME CMD...: time one run after a fresh copy has settled on disk;
# appends "seconds kilobytes" to $dir/NAME.
run() {
	local name=$1 t0 t1
	shift
	cp "$dir/base.hive" "$dir/work.hive"
	rm -f "$dir/copy.hive" "$dir"/work.hive.LOG*
	sync
	t0=$(date +%s%N)
	/usr/bin/time -f %M -o "$dir/rss" "$@" >/dev/null
	t1=$(date +%s%N)
	echo "$(( (t1 - t0) / 1000000 )) $(cat "$dir/rss")" >>"$dir/$name"
}

for _ in $(seq "$runs"); do
	run cp cp "$dir/base.hive" "$dir/copy.hive"
	run cp-fsync sh -c 'cp "$1" "$2" && sync "$2"' - \
		"$dir/base.hive" "$dir/copy.hive"
	run hivexregedit hivexregedit --merge "$dir/work.hive" \
		--prefix 'HKEY_LOCAL_MACHINE\SOFTWARE' "$dir/change.reg"
	run kmsprep "$KMSPREP" hive set "$dir/work.hive" \
		--kms-host kms.contoso.com
	# Pages that differ, and pages appended past the old end.
	changed=$({ cmp -l "$dir/base.hive" "$dir/work.hive" 2>/dev/null ||
		true; } | awk '{ print int(($1 - 1) / 4096) }' | uniq | wc -l)
	changed=$((changed + ($(stat -c %s "$dir/work.hive") - size) / 4096))
	logged=$(stat -c %s "$dir/work.hive.LOG1")
	run rewrite "$KMSPREP" hive set --rewrite "$dir/work.hive" \
		--kms-host kms.contoso.com
done

median() { sort -n "$dir/$1" | awk '{ a[NR] = $'"$2"' } END { print a[int((NR + 1) / 2)] }'; }
printf '\nhive: %d bytes (%.0f MB), 501006 keys; %s runs each, median\n\n' \
	"$size" "$(echo "$size / 1048576" | bc -l)" "$runs"
printf '%-18s %9s %12s\n' command seconds "peak RSS MB"
for n in cp cp-fsync hivexregedit kmsprep rewrite; do
	printf '%-18s %9.3f %12.0f\n' "$n" "$(echo "$(median $n 1) / 1000" | bc -l)" \
		"$(echo "$(median $n 2) / 1024" | bc -l)"
done
k=$(median kmsprep 1)
echo
printf 'kmsprep / cp            %.2f\n' "$(echo "$k / $(median cp 1)" | bc -l)"
printf 'kmsprep / (cp + fsync)  %.2f\n' "$(echo "$k / $(median cp-fsync 1)" | bc -l)"
printf 'kmsprep / hivexregedit  %.2f\n' "$(echo "$k / $(median hivexregedit 1)" | bc -l)"
printf 'kmsprep peak RSS / hive size  %.2f\n' \
	"$(echo "$(median kmsprep 2) * 1024 / $size" | bc -l)"
r=$(median rewrite 1)
printf 'rewrite / cp            %.2f\n' "$(echo "$r / $(median cp 1)" | bc -l)"
printf 'rewrite peak RSS / hive size  %.2f\n' \
	"$(echo "$(median rewrite 2) * 1024 / $size" | bc -l)"
printf 'journaled: %d pages of the hive changed (base block included), log %d bytes\n' \
	"$changed" "$logged"

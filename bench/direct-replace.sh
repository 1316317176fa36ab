#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark: set one value in an 80 MB SOFTWARE hive inside a disk image
# with the direct backend (image/ntfsvol.h), no appliance.
#
#   bench/direct-replace.sh [RUNS]      (VWR=1: also virt-win-reg --merge)
#
# Makes a raw MBR image (512 MB, tests/helper/mkimage-direct) whose SOFTWARE
# hive is a generated one of about 80 MB (kmsprep-test-tool mkhive), then
# times, RUNS times each on a fresh copy (median reported), the whole
# read + hive edit + replace + verify of kmsprep-test-tool direct ... set:
#   raw, in process
#   raw, sandboxed worker (-s)
#   qcow2 through qemu-nbd, sandboxed (-s)
# with wall and CPU time and the peak resident memory of each.  With VWR=1,
# also virt-win-reg --merge of the same one-value change on the same image
# (given a SYSTEM hive so that libguestfs recognises Windows; under TCG).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KMSPREP:=build/kmsprep}"
: "${TEST_TOOL:=$PWD/build/kmsprep-test-tool}"
export TEST_TOOL
runs=${1:-3}
dir=$(mktemp -d "${TMPDIR:-/tmp}/kmsprep-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
SW=Windows/System32/config/SOFTWARE
SPP='Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform'

"$TEST_TOOL" mkhive "$dir/soft" 50 100 16 400 >/dev/null
tests/helper/mkimage-direct "$dir/base.img" mbr "$dir/soft" 512
qemu-img convert -O qcow2 "$dir/base.img" "$dir/base.qcow2"
hive_mb=$(echo "scale=1; $(stat -c %s "$dir/soft") / 1048576" | bc)

# run NAME IMAGE FLAGS...: one timed run on a fresh copy; appends
# "seconds cpu-seconds kilobytes" to $dir/NAME (CPU: user + system of the
# tool and its children, the figure that load on a shared machine does not
# inflate).
run() {
	local name=$1 img=$2 ext t0 t1 kb
	shift 2
	ext=${img##*.}
	cp "$img" "$dir/work.$ext"
	sync
	t0=$(date +%s%N)
	/usr/bin/time -f '%U %S %M' -o "$dir/rss" "$TEST_TOOL" direct "$@" \
		"$dir/work.$ext" set "$SW" "$SPP" KeyManagementServiceName \
		kms.contoso.com
	t1=$(date +%s%N)
	set -- $(tail -n 1 "$dir/rss")
	echo "$(echo "scale=2; ($t1 - $t0) / 1000000000" | bc)" \
		"$(echo "$1 + $2" | bc)" "$3" >>"$dir/$name"
	# The change is there.
	"$TEST_TOOL" direct -r "$dir/work.$ext" read "$SW" "$dir/check"
	"$KMSPREP" hive show "$dir/check" | grep -q '"kms.contoso.com"'
}

median() { sort -n "$dir/$1" | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }

for i in $(seq "$runs"); do
	run raw "$dir/base.img"
	run raw-sandbox "$dir/base.img" -s
	run qcow2-sandbox "$dir/base.qcow2" -s
done

printf '\nSOFTWARE hive: %s MB; %s runs each, median\n\n' "$hive_mb" "$runs"
printf '%-30s %8s %8s %14s\n' "" seconds "CPU s" "peak RSS (MB)"
for n in raw raw-sandbox qcow2-sandbox; do
	set -- $(median $n)
	printf '%-30s %8s %8s %14s\n' "direct set, $n" "$1" "$2" "$(( $3 / 1024 ))"
done
printf '(peak RSS: the largest process; load average now: %s)\n' \
	"$(cut -d' ' -f1-3 /proc/loadavg)"

if [ "${VWR:-0}" = 1 ]; then
	# The same image with a SYSTEM hive, which libguestfs' inspection
	# needs to recognise Windows.
	export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}"
	"$KMSPREP" hive new "$dir/system" >/dev/null
	"$KMSPREP" hive import "$dir/system" tests/data/system.reg >/dev/null
	cp "$dir/base.img" "$dir/v.img"
	"$TEST_TOOL" direct "$dir/v.img" secret Windows/System32/config/SYSTEM \
		"$dir/system"
	printf 'Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\%s]\n"KeyManagementServiceName"="kms.contoso.com"\n' "$SPP" >"$dir/change.reg"
	t0=$(date +%s%N)
	/usr/bin/time -f '%U %S' -o "$dir/vrss" \
		virt-win-reg --merge "$dir/v.img" "$dir/change.reg"
	t1=$(date +%s%N)
	"$TEST_TOOL" direct -r "$dir/v.img" read "$SW" "$dir/check"
	"$KMSPREP" hive show "$dir/check" | grep -q '"kms.contoso.com"'
	set -- $(tail -n 1 "$dir/vrss")
	v=$(echo "scale=2; ($t1 - $t0) / 1000000000" | bc)
	printf '%-30s %8s %8s\n' "virt-win-reg --merge (TCG)" "$v" \
		"$(echo "$1 + $2" | bc)"
	set -- $(median raw)
	printf '\nvirt-win-reg / direct (raw, wall): %.1fx\n' \
		"$(echo "$v / $1" | bc -l)"
fi

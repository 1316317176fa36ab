#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark: set the KMS host in every index of a multi-index WIM.
#
#   bench/wim-set.sh [INDEXES] [HIVE_MB] [FILLER_MB]   (defaults 4 60 256)
#
# Makes an NTFS volume holding a generated SOFTWARE hive of about HIVE_MB
# (kmsprep-test-tool mkhive) and FILLER_MB of other files (half random,
# half text-like: what LZX compresses and what it does not), captures it
# as a WIM of INDEXES indexes (LZX), each index's hive made different, then
# times on fresh copies:
#   kmsprep   kmsprep image set W --kms-host ... (every index, in place)
#   update    for each index: wimextract the hive, kmsprep hive set on it,
#             wimlib-imagex update W N --command "add ..." (one write per
#             index; the file loses its security descriptor)
#   recapture for each index: wimapply to an NTFS volume, kmsprep hive set
#             on the hive there, wimcapture/wimappend into a new WIM (what
#             keeps the metadata without kmsprep: a whole recompression)
# and prints wall seconds, CPU seconds, and the WIM's growth.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH=$PATH:/sbin:/usr/sbin
: "${KMSPREP:=$PWD/build/kmsprep}"
: "${TEST_TOOL:=$PWD/build/kmsprep-test-tool}"
export TEST_TOOL
n=${1:-4} hive_mb=${2:-60} filler_mb=${3:-256}
dir=$(mktemp -d "${TMPDIR:-/tmp}/kmsprep-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
SW=Windows/System32/config/SOFTWARE
SPP='Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform'

"$TEST_TOOL" mkhive "$dir/soft" 1000 $((hive_mb * 230 / 83)) 2 40 >/dev/null
"$KMSPREP" hive import "$dir/soft" tests/data/software-client.reg >/dev/null
"$KMSPREP" hive new "$dir/sys" >/dev/null
"$KMSPREP" hive import "$dir/sys" tests/data/system.reg >/dev/null
"$TEST_TOOL" mkpe "$dir/pe" amd64
vol_mb=$((hive_mb * 2 + filler_mb + 128))
truncate -s ${vol_mb}M "$dir/vol"
mkntfs -q -F -Q "$dir/vol" >/dev/null 2>&1
mkdir "$dir/fill"
half=$((filler_mb / 2))
for i in $(seq 1 $((half / 16))); do
	head -c 16M /dev/urandom >"$dir/fill/r$i.bin"
	head -c 12M /dev/urandom | base64 -w 76 >"$dir/fill/t$i.txt"
done
ops=()
for f in "$dir"/fill/*; do
	ops+=(put "Program Files/Filler/${f##*/}" "$f")
done
"$TEST_TOOL" direct -p 0 "$dir/vol" mkdir Windows/System32/config \
	mkdir "Program Files/Filler" secret $SW "$dir/soft" \
	secret Windows/System32/config/SYSTEM "$dir/sys" \
	put Windows/System32/cmd.exe "$dir/pe" "${ops[@]}" >/dev/null
rm -rf "$dir/fill"
for i in $(seq 1 "$n"); do
	# Each index a hive of its own (as each edition has).
	"$KMSPREP" hive set "$dir/soft" --lookup-domain "ed$i.example" \
		>/dev/null
	"$TEST_TOOL" direct -p 0 "$dir/vol" secret $SW "$dir/soft" >/dev/null
	if [ "$i" = 1 ]; then
		wimcapture "$dir/vol" "$dir/base.wim" "Index $i" >/dev/null 2>&1
	else
		wimappend "$dir/vol" "$dir/base.wim" "Index $i" >/dev/null 2>&1
	fi
done
base=$(stat -c %s "$dir/base.wim")

# timed NAME CMD...: wall and CPU seconds of CMD (and its children).
timed() {
	local name=$1
	shift
	/usr/bin/time -f "%e %U %S" -o "$dir/t" "$@" >/dev/null 2>"$dir/err.$name" || { echo "$name failed:"; tail -5 "$dir/err.$name"; }
	read -r wall user sys <"$dir/t"
	printf '%-10s %8.2f s wall %8.2f s CPU' "$name" "$wall" \
		"$(echo "$user + $sys" | bc)"
}

cp "$dir/base.wim" "$dir/k.wim"
timed kmsprep "$KMSPREP" image set "$dir/k.wim" --kms-host kms.bench.example -q
echo "  +$(( ($(stat -c %s "$dir/k.wim") - base) / 1024 )) KiB"

update_all() {
	local w=$1 i
	for i in $(seq 1 "$n"); do
		rm -rf "$dir/x" && mkdir "$dir/x"
		wimextract "$w" "$i" /$SW --dest-dir="$dir/x" >/dev/null || return
		"$KMSPREP" hive set "$dir/x/SOFTWARE" --kms-host kms.bench.example \
			>/dev/null || return
		wimlib-imagex update "$w" "$i" \
			--command="add $dir/x/SOFTWARE /$SW" >/dev/null || return
	done
}
cp "$dir/base.wim" "$dir/u.wim"
export -f update_all
export n dir SW KMSPREP TEST_TOOL vol_mb
timed update bash -c 'update_all "$0"' "$dir/u.wim"
echo "  +$(( ($(stat -c %s "$dir/u.wim") - base) / 1024 )) KiB"

recapture_all() {
	local w=$1 i
	for i in $(seq 1 "$n"); do
		rm -f "$dir/v2"
		truncate -s ${vol_mb}M "$dir/v2"
		mkntfs -q -F -Q "$dir/v2" >/dev/null 2>&1 || return
		wimapply "$dir/base.wim" "$i" "$dir/v2" >/dev/null || return
		rm -f "$dir/h"
		"$TEST_TOOL" direct -p 0 "$dir/v2" read $SW "$dir/h" >/dev/null ||
			return
		"$KMSPREP" hive set "$dir/h" --kms-host kms.bench.example \
			>/dev/null || return
		"$TEST_TOOL" direct -p 0 "$dir/v2" secret $SW "$dir/h" \
			>/dev/null || return
		if [ "$i" = 1 ]; then
			wimcapture "$dir/v2" "$w" "Index $i" >/dev/null || return
		else
			wimappend "$dir/v2" "$w" "Index $i" >/dev/null || return
		fi
	done
}
export -f recapture_all
timed recapture bash -c 'recapture_all "$0"' "$dir/r.wim"
echo "  (new WIM: $(( $(stat -c %s "$dir/r.wim") / 1048576 )) MiB)"
echo "WIM: $n indexes, $(( base / 1048576 )) MiB, SOFTWARE $hive_mb MB," \
	"filler $filler_mb MB; $(nproc) CPUs"

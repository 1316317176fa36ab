#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark: kmsprep image batch on a plan of N (32) images whose SOFTWARE
# hive is a real-sized one (about 80 MB), direct backend, one worker and
# two at once.
#
#   bench/plan.sh [N]        (JOBS="1 2" by default)
#
# Makes one raw MBR image (tests/helper/mkimage-direct, 256 MB sparse) with
# an 81 MB SOFTWARE-like hive (kmsprep-test-tool mkhive 450 500 2 40, the
# sample client values imported into it) and the sample SYSTEM hive, copies
# it N times, writes a plan giving each image a KMS host of its own, and
# times `kmsprep image batch --backend direct -j J PLAN` for each J in JOBS
# on fresh copies, then as 2 shards run at once (--shard 0/2 and 1/2, as
# two pods of an Indexed Job would), then a rerun (every image "no
# change").  Prints total
# seconds and images per minute.  CPU-heavy: on a shared machine, run it
# with nice and expect the figures to move with the load.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KMSPREP:=$PWD/build/kmsprep}"
: "${TEST_TOOL:=$PWD/build/kmsprep-test-tool}"
export TEST_TOOL
n=${1:-32}
dir=$(mktemp -d "${TMPDIR:-/tmp}/kmsprep-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT

"$TEST_TOOL" mkhive "$dir/soft" 450 500 2 40 >/dev/null
"$KMSPREP" hive import "$dir/soft" tests/data/software-client.reg >/dev/null
"$KMSPREP" hive new "$dir/sys" >/dev/null
"$KMSPREP" hive import "$dir/sys" tests/data/system.reg >/dev/null
MKIMAGE_SYSTEM=$dir/sys tests/helper/mkimage-direct "$dir/base.img" mbr \
	"$dir/soft" 256
echo "SOFTWARE hive: $(stat -c %s "$dir/soft") bytes; $n images"

python3 - "$n" "$dir" >"$dir/plan.json" <<'PY'
import json, sys
n, d = int(sys.argv[1]), sys.argv[2]
print(json.dumps({"defaults": {"activation-interval": 60},
                  "images": [{"image": "%s/i%d.img" % (d, k),
                              "kms-host": "kms-%d.contoso.com" % k}
                             for k in range(n)]}))
PY

copies() {
	local k
	for ((k = 0; k < n; k++)); do
		cp --sparse=always "$dir/base.img" "$dir/i$k.img"
	done
}

# timed J: seconds of one image batch run with -j J (events kept).
timed() {
	local t0 t1
	t0=$(date +%s%N)
	"$KMSPREP" image batch -q --backend direct -j "$1" --events jsonl \
		"$dir/plan.json" >"$dir/ev.$1"
	t1=$(date +%s%N)
	echo "scale=2; ($t1 - $t0) / 1000000000" | bc
}

printf '\n%-28s %10s %12s\n' "" seconds images/min
for j in ${JOBS:-1 2}; do
	copies
	s=$(timed "$j")
	grep -q '"event":"done".*"written":'"$n" "$dir/ev.$j"
	printf '%-28s %10s %12.1f\n' "image batch -j $j" "$s" \
		"$(echo "$n * 60 / $s" | bc -l)"
done
copies
t0=$(date +%s%N)
for sh in 0 1; do
	"$KMSPREP" image batch -q --backend direct -j 1 --shard $sh/2 \
		--events jsonl "$dir/plan.json" >"$dir/ev.s$sh" &
done
wait
t1=$(date +%s%N)
s=$(echo "scale=2; ($t1 - $t0) / 1000000000" | bc)
cat "$dir"/ev.s? | grep -c '"event":"written"' | grep -qx "$n"
printf '%-28s %10s %12.1f\n' "2 shards at once, -j 1 each" "$s" \
	"$(echo "$n * 60 / $s" | bc -l)"
s=$(timed 2)
grep -q '"unchanged":'"$n" "$dir/ev.2"
printf '%-28s %10s %12.1f\n' "rerun, no change, -j 2" "$s" \
	"$(echo "$n * 60 / $s" | bc -l)"

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The fuzz targets, built with the normal compiler (and, in the sanitizer
# build, under ASan and UBSan), run on every kept input: the seeds and
# every input that once crashed (tests/fuzz/corpus/NAME), the project's
# fixtures and the reference hives.  A crash or sanitizer report fails.
. "$(dirname "$0")/lib.sh"

: "${UNIT_DIR:=$SRC_DIR/build/tests}"
CORPUS=$SRC_DIR/tests/fuzz/corpus
ls "$UNIT_DIR"/replay-* >/dev/null 2>&1 || skip_all "replay binaries not built"

# replay NAME FILE...: the target NAME on each file.
replay() {
	local name=$1
	shift
	"$UNIT_DIR/replay-$name" "$@" >out
	expect_grep "^$# inputs$" out
}

kept() {
	local d name
	for d in "$CORPUS"/*/; do
		name=$(basename "$d")
		replay "$name" "$d"*
	done
}

fixtures() {
	replay regtext "$SRC_DIR"/tests/data/*.reg
	"$KMSPREP" hive new new.hive >/dev/null
	sample_hive sample.hive client
	for k in truncated bad-header-checksum bad-hbin-signature \
		bad-subkey-list subkey-list-loop zeroed-pages trailing-garbage \
		not-a-hive; do
		python3 "$SRC_DIR/tests/helper/malform.py" $k sample.hive $k.hive
	done
	replay hive ./*.hive
}

# The reference hives, real and damaged, and the dirty hive with its logs
# as the logrec target reads them.
reference() {
	have_testdata win10-1709-dirty-SYSTEM ||
		skip "the reference hives in ../shared/testdata are not beside this clone"
	for f in "$TESTDATA"/malformed/*.xz "$TESTDATA"/real/*.xz; do
		xz -dc "$f" >"$(basename "$f" .xz)"
	done
	replay hive ./*SOFTWARE ./*SYSTEM ./bad-* ./not-a-hive \
		./subkey-list-loop ./trailing-garbage ./truncated
	python3 - <<'EOF'
import struct
p, l1, l2 = (open(n, "rb").read() for n in (
    "win10-1709-dirty-SYSTEM", "win10-1709-dirty-SYSTEM.LOG1",
    "win10-1709-dirty-SYSTEM.LOG2"))
open("logrec-input", "wb").write(struct.pack("<II", len(p), len(l1)) + p + l1 + l2)
EOF
	replay logrec logrec-input
}

t "every kept fuzz input (seeds and past crashes)" kept
t "fixtures and hives damaged here through the fuzz targets" fixtures
t "reference hives through the fuzz targets" reference
done_testing

# SPDX-License-Identifier: LGPL-2.1-or-later
# Shell test library, sourced by each tests/tNNNN-*.sh script.
#
#   t "what it checks" function   run FUNCTION in a subshell under set -e
#   expect_code N cmd...          run cmd, require exit status N
#   expect_grep PATTERN FILE      require a line matching PATTERN
#   expect_no_grep PATTERN FILE   require no such line
#   fails cmd...                  require cmd to fail
#   skip_all "reason"             skip the whole script (exit 77; a failure
#                                 under TESTS_STRICT=1)
#   skip "reason"                 inside a test: skip that test (exit 77)
#
# Each test runs in a fresh directory of its own, removed at the end.
# $KMSPREP is the binary under test, $TEST_TOOL the test helper, $SHARED
# the ../shared directory with the reference test data.

set -u
TESTS_DIR=$(cd "$(dirname "$0")" && pwd)
SRC_DIR=$(cd "$TESTS_DIR/.." && pwd)
: "${KMSPREP:=$SRC_DIR/build/kmsprep}"
: "${TEST_TOOL:=$SRC_DIR/build/kmsprep-test-tool}"
: "${SHARED:=$(cd "$SRC_DIR/.." && pwd)/shared}"
TESTDATA=$SHARED/testdata/hives
export KMSPREP TEST_TOOL SHARED
# Tests never wait on a KVM that cannot start (see README).
export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}"

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/kmsprep-test.XXXXXX")
trap 'cd /; rm -rf "$SCRATCH"' EXIT
# Kit trust comes from the tests, not the machine's or user's keys.
export KMSPREP_SYSCONFDIR="$SCRATCH/.etc" XDG_CONFIG_HOME="$SCRATCH/.config"
cd "$SCRATCH" || exit 1

_n=0
_failed=0

t() {
	local title=$1
	shift
	_n=$((_n + 1))
	mkdir "$SCRATCH/$_n"
	# Not inside "if": bash would then ignore set -e in the test body.
	(
		cd "$SCRATCH/$_n" || exit 1
		set -eE
		trap 'echo "failed: $BASH_COMMAND (line $LINENO)" >&2' ERR
		"$@"
	) >"$SCRATCH/.out" 2>&1
	local rc=$?
	if [ $rc -eq 0 ]; then
		echo "ok $_n - $title"
	elif [ $rc -eq 77 ]; then
		echo "ok $_n - $title # SKIP $(sed -n 's/^# SKIP //p' "$SCRATCH/.out" | head -n 1)"
	else
		echo "not ok $_n - $title"
		sed 's/^/#   /' "$SCRATCH/.out" | tail -n 40
		_failed=$((_failed + 1))
	fi
}

# kp ARGS...: run kmsprep (under $VG, e.g. "valgrind -q", if set).
kp() {
	${VG:-} "$KMSPREP" "$@"
}

expect_code() {
	local want=$1 got=0
	shift
	# "||" keeps set -e and the ERR trap out of an expected failure.
	"$@" || got=$?
	if [ "$got" -ne "$want" ]; then
		echo "expected exit $want, got $got: $*" >&2
		return 1
	fi
}

expect_grep() {
	if ! grep -q -e "$1" "$2"; then
		echo "no line matching '$1' in $2:" >&2
		sed 's/^/  | /' "$2" >&2
		return 1
	fi
}

# fails CMD...: CMD must fail.  (A "! CMD" line does not stop a test that
# runs under set -e: bash exempts it.)
fails() {
	if "$@"; then
		echo "expected a failure: $*" >&2
		return 1
	fi
}

expect_no_grep() {
	if grep -q -e "$1" "$2"; then
		echo "unexpected line matching '$1' in $2:" >&2
		grep -e "$1" "$2" | sed 's/^/  | /' >&2
		return 1
	fi
}

expect_same() {
	if ! cmp -s "$1" "$2"; then
		echo "files differ: $1 $2" >&2
		diff -u "$1" "$2" | head -40 >&2
		return 1
	fi
}

# With TESTS_STRICT=1 (CI, where scripts/install-deps put everything in
# place) a whole script that cannot run is a failure, not a skip.
skip_all() {
	if [ "${TESTS_STRICT:-0}" = 1 ]; then
		echo "not ok - cannot run (TESTS_STRICT=1): $1"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 77
}

skip() {
	echo "# SKIP $1"
	exit 77
}

# have_testdata NAME: whether the reference file NAME is there.  A clone
# has no ../shared beside it; the tests that need one skip there.
have_testdata() {
	[ -n "$(find "$TESTDATA" -name "$1.xz" 2>/dev/null | head -n 1)" ]
}

# testdata NAME: decompress a reference hive into the current directory;
# inside a test, skip the test when the reference data is not there.
testdata() {
	have_testdata "$1" ||
		skip "no $1: the reference hives in ../shared/testdata are not beside this clone"
	xz -dc "$(find "$TESTDATA" -name "$1.xz" | head -n 1)" >"$1"
}

# sample_hive FILE client|server: a SOFTWARE hive built from tests/data.
sample_hive() {
	"$KMSPREP" hive new "$1" >/dev/null &&
		"$KMSPREP" hive import "$1" "$SRC_DIR/tests/data/software-$2.reg" \
			>/dev/null
}

done_testing() {
	echo "1..$_n"
	[ "$_failed" -eq 0 ]
}

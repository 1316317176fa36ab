#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The command line: help, version, dispatch, usage errors and exit codes.
. "$(dirname "$0")/lib.sh"

help_everywhere() {
	kp --help >out
	expect_grep '^usage: kmsprep' out
	expect_grep 'Exit codes' out
	expect_grep '4  refused to protect data' out
	for c in "hive show" "hive set" "hive new" "hive export" \
		 "hive import" "hive recover"; do
		# shellcheck disable=SC2086
		kp $c --help >out
		expect_grep "^usage: kmsprep $c" out
		# shellcheck disable=SC2086
		kp help $c >out2
		expect_same out out2
	done
	kp hive set --help >out
	expect_grep '--kms-host NAME\[:PORT\]' out
	expect_grep '--publish-domain' out
	expect_grep 'Exit codes: 0 success' out
}
t "--help answers for every command" help_everywhere

version() {
	kp --version >out
	expect_grep '^kmsprep [0-9]' out
}
t "--version" version

usage_errors() {
	expect_code 2 kp 2>err
	expect_grep '^usage:' err
	expect_code 2 kp frobnicate 2>err
	expect_grep "'frobnicate' is not a command" err
	expect_code 2 kp hive 2>err
	expect_code 2 kp hive frob 2>err
	expect_grep "'hive frob' is not a command" err
	expect_code 2 kp hive show 2>err
	expect_grep '^kmsprep: hive show: expected one FILE' err
	expect_code 2 kp hive show --bogus x 2>err
	expect_grep "kmsprep: hive show: unknown option '--bogus'" err
	expect_code 2 kp hive set f --kms-host 2>err
	expect_grep "missing argument" err
	expect_code 2 kp hive set f 2>err
	expect_grep 'no setting given' err
	expect_code 2 kp hive set f --kms-host 'a b' 2>err
	expect_grep "kmsprep: hive set: --kms-host: 'a b': not a valid host name" err
	# One line per error, nothing on stdout.
	expect_code 2 kp hive set f --renewal-interval 5 >out 2>err
	[ ! -s out ]
	expect_grep "out of range (15 to 43200)" err
}
t "usage errors exit 2 with one clear line" usage_errors

no_abbreviations() {
	# getopt would take a unique prefix: --force as --force-dirty (which
	# drops log data), --js as --json.  Every long option must be exact.
	sample_hive s.hive server
	cp s.hive s.orig
	expect_code 2 kp image set x.img --force --kms-host h.example 2>err
	expect_grep "kmsprep: image set: unknown option '--force'" err
	expect_code 2 kp hive show s.hive --js 2>err
	expect_grep "unknown option '--js'" err
	expect_code 2 kp hive set s.hive --kms-h=h.example 2>err
	expect_grep "unknown option '--kms-h=h.example'" err
	cmp s.hive s.orig
	# An option's value may look like an option; it is not one.
	expect_code 0 kp hive export s.hive --prefix --x >/dev/null
	expect_code 0 kp hive show s.hive --json >/dev/null
}
t "long options are never abbreviated" no_abbreviations

readme_settings() {
	# README's settings paragraph names every setting of the table
	# (hive/spp.c), and nothing else.
	sed -n '/^Settings, shared by/,/per-product values\./p' \
		"$SRC_DIR/README.md" | grep -o -e '--[a-z][a-z-]*' |
		grep -v -x -e '--help' | sort -u >readme
	kp hive set --help | sed -n '/^Settings/,/^$/p' |
		grep -o -e '^  --[a-z][a-z-]*' | sed 's/^  //' | sort -u >table
	[ -s table ]
	expect_same readme table
}
t "README lists the settings the table holds" readme_settings

stdout_errors() {
	sample_hive s.hive server
	[ -w /dev/full ] || return 0
	expect_code 1 kp hive show s.hive >/dev/full 2>err
	expect_grep 'cannot write to standard output' err
}
t "a full standard output is an error" stdout_errors

# getopt_long would take --force for --force-dirty (the only option it
# starts) and --jso for --json: a write that drops log data, asked for as
# an overwrite.  Only whole names are options.
no_abbreviations() {
	sample_hive sw.hive client
	cp sw.hive orig
	expect_code 2 kp image set missing.img --force --kms-host kms 2>err
	expect_grep "unknown option '--force' (did you mean '--force-dirty'?)" err
	expect_code 2 kp hive show sw.hive --jso 2>err
	expect_grep "unknown option '--jso'" err
	expect_code 2 kp hive set sw.hive --kms-h kms.example.com 2>err
	expect_same orig sw.hive
	kp hive set sw.hive --kms-host=kms.example.com --dry-run >out
	expect_grep '^dry run: 1 change' out
	kp hive set --dry-run sw.hive --kms-host kms.example.com >out
	expect_grep '^dry run: 1 change' out
}
t "long options are never abbreviated" no_abbreviations

# With --json a failure is JSON on standard output too, so a script that
# parses it gets the error, not an empty string; one that printed its
# document, or no --json, prints nothing more.
json_failures() {
	local code
	for args in "hive show missing.hive --json" \
		"hive show --json --bogus" \
		"image show --backend direct --json missing.img" \
		"kms records --format json --bogus" \
		"kms records -f json --bogus" \
		"hive show --json bad$(printf '\377').hive"; do
		code=0
		# shellcheck disable=SC2086
		kp $args >out 2>err || code=$?
		[ "$code" -ne 0 ]
		python3 - "$code" "$(sed -n 1p err)" <<'PY' || { cat out; return 1; }
import json, sys
e = json.load(open("out"))["error"]
code, said = int(sys.argv[1]), sys.argv[2]
assert e["exit"] == code, e
# Bytes past ASCII that are not UTF-8 are spelt \xNN in JSON.
assert said.endswith(e["message"]) or "\\xff" in e["message"], (said, e)
PY
	done
	expect_code 3 kp hive show missing.hive >out 2>err
	[ ! -s out ]
}
t "--json failures are JSON on standard output" json_failures

done_testing

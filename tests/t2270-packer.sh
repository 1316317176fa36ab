#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# contrib/packer/kmsprep.pkr.hcl: Packer accepts it, offline, and every
# kmsprep command in it (code or comment) is a real command with options
# its --help lists, so that the example cannot drift from the binary.
. "$(dirname "$0")/lib.sh"

TEMPLATE=$SRC_DIR/contrib/packer/kmsprep.pkr.hcl

# validate FILE: packer validate, as a build would be given the template,
# with no network (unshare, where the machine allows it) and no state of
# the user's.  Full validation of the qemu builder and shell-local needs
# neither network nor plugins (-syntax-only is not needed): the ISO is
# only fetched by packer build.  It does check that floppy_files exist.
validate() {
	local net=""
	: >Autounattend.xml
	unshare -rn true 2>/dev/null && net="unshare -rn"
	HOME=$PWD CHECKPOINT_DISABLE=1 $net packer validate \
		-var iso_url=https://example.invalid/windows.iso \
		-var iso_checksum=sha256:"$(printf '%064d' 0)" \
		-var autounattend=Autounattend.xml \
		-var kms_host=kms.example.com "$1"
}

test_packer_validate() {
	if ! command -v packer >/dev/null; then
		# CI installs it (scripts/install-deps): there, missing is a failure.
		[ "${TESTS_STRICT:-0}" != 1 ] || { echo "no packer" >&2; return 1; }
		skip "packer not installed"
	fi
	validate "$TEMPLATE" >out 2>&1 || { cat out >&2; return 1; }
	# An attribute the qemu builder does not have is caught.
	sed 's/shutdown_timeout/shutdown_timout/' "$TEMPLATE" >bad.pkr.hcl
	fails validate bad.pkr.hcl >out 2>&1
	expect_grep 'shutdown_timout' out
}

# balanced FILE: braces, brackets and parentheses pair up and every string
# ends on its line, outside comments; a check of the syntax that needs no
# Packer.  Prints where it is not.
balanced() {
	awk '
	{
		q = 0
		for (i = 1; i <= length($0); i++) {
			c = substr($0, i, 1)
			if (q) {
				if (c == "\\") i++
				else if (c == "\"") q = 0
				continue
			}
			if (c == "#") break
			if (c == "\"") q = 1
			else if (c == "{" || c == "[" || c == "(") st[++n] = c
			else if (c == "}" || c == "]" || c == ")") {
				if (n == 0 || st[n] != (c == "}" ? "{" : c == "]" ? "[" : "(")) {
					printf "line %d: unmatched %s\n", NR, c; bad = 1; exit
				}
				n--
			}
		}
		if (q) { printf "line %d: unterminated string\n", NR; bad = 1; exit }
	}
	END {
		if (!bad && n) { printf "end of file: %d unclosed\n", n; bad = 1 }
		exit bad
	}' "$1"
}

test_syntax() {
	balanced "$TEMPLATE" >out || { cat out >&2; return 1; }
	# A brace, a bracket or a quote left out is caught.
	sed '$d' "$TEMPLATE" >broken.hcl
	fails balanced broken.hcl >out
	expect_grep 'end of file: 1 unclosed' out
	sed '/^  sources = /s/"]/"/' "$TEMPLATE" >broken.hcl
	fails balanced broken.hcl >out
	expect_grep 'unmatched }' out
	sed 's/"MODE=\(.*\)",/"MODE=\1,/' "$TEMPLATE" >broken.hcl
	fails balanced broken.hcl >out
	expect_grep 'unterminated string' out
}

# uses FILE: "GROUP COMMAND --option" for each option of each kmsprep
# command line of FILE ("kms kit build" has three words), and "GROUP
# COMMAND" alone for one without options.
uses() {
	grep -o -E 'kmsprep (hive|image|kms) [a-z]+( [a-z]+)?.*' "$1" |
		awk '{
			cmd = $2 " " $3; i = 4
			if ($2 == "kms" && $3 == "kit") { cmd = cmd " " $4; i = 5 }
			print cmd
			for (; i <= NF; i++)
				if (match($i, /^--[a-z0-9][a-z0-9-]*/))
					print cmd, substr($i, 1, RLENGTH)
		}' | sort -u
}

# check FILE: prints each command or option of FILE that kmsprep does not
# have; fails if there is one.
check() {
	local cmd opt bad=0
	uses "$1" >used
	[ -s used ] || { echo "no kmsprep command in $1"; return 1; }
	while read -r line; do
		opt=${line##* }
		case $opt in --*) cmd=${line% *} ;; *) cmd=$line opt="" ;; esac
		# shellcheck disable=SC2086
		"$KMSPREP" $cmd --help >help 2>/dev/null ||
			{ echo "kmsprep $cmd: no such command"; bad=1; continue; }
		[ -z "$opt" ] || grep -q -E -e "^  (-[a-zA-Z], )?$opt( |\$)" help ||
			{ echo "kmsprep $cmd: no option $opt"; bad=1; }
	done <used
	return $bad
}

test_options_in_help() {
	local mode
	check "$TEMPLATE" >out || { cat out >&2; return 1; }
	uses "$TEMPLATE" >u
	expect_grep '^image set --kms-host$' u
	expect_grep '^image generalize --mode$' u
	# The default of generalize_mode is a value --mode takes.
	mode=$(sed -n '/^variable "generalize_mode"/,/^}/s/.*default *= *"\(.*\)"/\1/p' \
		"$TEMPLATE")
	[ -n "$mode" ]
	"$KMSPREP" image generalize --help >help
	grep -q "^  --mode [a-z|]*\\b$mode\\b" help ||
		{ echo "generalize_mode: --mode takes no '$mode'" >&2; return 1; }
}

test_check_catches_drift() {
	# Lines as the template writes them, each with one thing wrong.
	printf '%s\n' '"kmsprep image set --kms-hots \"$KMS_HOST\" \"$DISK\"",' >t1
	fails check t1 >out
	expect_grep 'kmsprep image set: no option --kms-hots' out
	echo '# then kmsprep image generalise --mode clone' >t2
	fails check t2 >out
	expect_grep 'kmsprep image generalise: no such command' out
	# An option of another command is not taken: --activate is generalize's.
	echo 'kmsprep image set --activate --kms-host kms.example.com' >t3
	fails check t3 >out
	expect_grep 'kmsprep image set: no option --activate' out
	# A three-word command, and a file with no command at all.
	echo 'kmsprep kms kit build --no-such-option' >t4
	fails check t4 >out
	expect_grep 'kmsprep kms kit build: no option --no-such-option' out
	echo 'packer build' >t5
	fails check t5 >out
	expect_grep 'no kmsprep command in t5' out
}

t "packer validate accepts the template, offline" test_packer_validate
t "the template's brackets and strings balance" test_syntax
t "every kmsprep command and option in the template is in its --help" test_options_in_help
t "the option check catches a misspelled option or command" test_check_catches_drift
done_testing

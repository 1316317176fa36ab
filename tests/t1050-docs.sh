#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The man page, bash completion, --version and make install: checked
# against the binary's own --help so that they cannot drift from it.
. "$(dirname "$0")/lib.sh"

PAGE=$SRC_DIR/docs/man/kmsprep.1.in
COMPLETION=$SRC_DIR/contrib/completion/kmsprep.bash

# commands: every command "kmsprep --help" lists ("hive set", "kms kit
# build"), one a line.
commands() {
	"$KMSPREP" --help |
		sed -n 's/^  \([a-z][a-z]*\( [a-z][a-z]*\)\{1,2\}\)  .*/\1/p'
}

# All --help texts, once: "=== COMMAND" then its help; "=== " the top one.
HELPS=$SCRATCH/helps
{
	echo "=== "
	"$KMSPREP" --help
	commands | while read -r cmd; do
		echo "=== $cmd"
		# shellcheck disable=SC2086
		"$KMSPREP" $cmd --help
	done
} >"$HELPS"

# help_opts CMD [own|settings]: the long options of CMD's --help, as
# "--long" or "-s, --long", one a line; own: before its "Settings" part,
# settings: in it.  --help itself is left out (the page says it once).
help_opts() {
	awk -v cmd="$1" -v part="${2:-own}" '
		/^=== / { on = (substr($0, 5) == cmd); in_set = 0; next }
		!on { next }
		/^Settings/ { in_set = 1 }
		/^  -/ && (part == "settings") == (in_set == 1) {
			if (match($0, /^  (-[a-zA-Z], )?--[a-z0-9-]+/))
				print substr($0, 3, RLENGTH - 2)
		}' "$HELPS" | grep -v -e '--help$' || true
}

# check_page PAGE: prints each way PAGE and the --help texts differ; fails
# if there is one.  Read the page with \- as -, so that options read as
# typed.  A command is a section ".SS "kmsprep hive set""; its options are
# the tag lines of its .TP/.TQ items, with the short option where --help
# has one ("-n, --dry-run"); the settings are items of ".SH SETTINGS".
# One awk for everything: under load every process counts.
check_page() {
	awk '
	function opts(line, arr, key,    o, l) {
		while (match(line, /(-[a-zA-Z], )?--[a-z0-9][a-z0-9-]*/)) {
			o = substr(line, RSTART, RLENGTH)
			line = substr(line, RSTART + RLENGTH)
			l = o; sub(/^-[a-zA-Z], /, "", l)
			arr[key SUBSEP o] = 1
			arr[key SUBSEP l] = 1
		}
	}
	FNR == NR {
		if (/^=== /) {
			cmd = substr($0, 5); in_set = 0
			if (cmd != "") { cmds[++n] = cmd; iscmd[cmd] = 1 }
			next
		}
		opts($0, known, "")
		if (/^Settings/) in_set = 1
		if (cmd != "" && match($0, /^  (-[a-zA-Z], )?--[a-z0-9-]+/)) {
			o = substr($0, 3, RLENGTH - 2)
			l = o; sub(/^-[a-zA-Z], /, "", l)
			if (l == "--help") next
			if (in_set) { setting[cmd SUBSEP o] = 1; anyset[l] = 1 }
			else { own[cmd SUBSEP o] = 1; ownlong[cmd SUBSEP l] = 1 }
		}
		next
	}
	{ gsub(/\\-/, "-") }
	/^\.\\"/ { next }
	/^\.S[SH] / {
		sec = ""; tag = 0
		if ($0 ~ /^\.SS "kmsprep .*"$/) {
			sec = substr($0, 14, length($0) - 14)
			if (!(sec in iscmd)) {
				print "section for '\''" sec "'\'', not a command"; bad = 1
			}
			hassec[sec] = 1
		} else if ($0 == ".SH SETTINGS")
			sec = "SETTINGS"
		next
	}
	{ opts($0, pageopt, "") }
	tag && sec != "" {
		opts($0, tagopt, sec)
		line = $0
		while (match(line, /--[a-z0-9][a-z0-9-]*/)) {
			l = substr(line, RSTART, RLENGTH)
			line = substr(line, RSTART + RLENGTH)
			if (sec == "SETTINGS" ? !(l in anyset) : !((sec SUBSEP l) in ownlong)) {
				print sec ": item '\''" l "'\'' is not in its --help"; bad = 1
			}
		}
	}
	{ tag = ($0 ~ /^\.T[PQ]$/) }
	END {
		for (i = 1; i <= n; i++) {
			c = cmds[i]
			if (!(c in hassec)) {
				print "no section .SS \"kmsprep " c "\""; bad = 1
			}
		}
		for (k in own) {
			split(k, p, SUBSEP)
			if (!(k in tagopt)) {
				print p[1] ": '\''" p[2] "'\'' is not an item of its section"; bad = 1
			}
		}
		for (k in setting) {
			split(k, p, SUBSEP)
			if (!(("SETTINGS" SUBSEP p[2]) in tagopt)) {
				print p[1] ": setting '\''" p[2] "'\'' is not in SETTINGS"; bad = 1
			}
		}
		for (k in pageopt) {
			split(k, p, SUBSEP)
			if (p[2] ~ /^--/ && !(k in known)) {
				print "the page names '\''" p[2] "'\'', which no --help knows"; bad = 1
			}
		}
		exit bad
	}' "$HELPS" "$1"
}

test_page_matches_help() {
	[ "$(commands | wc -l)" -ge 15 ]
	check_page "$PAGE" >problems || { cat problems >&2; return 1; }
}

test_check_catches_drift() {
	# An option dropped from the page, a short option dropped from its
	# item, an option that does not exist: each is caught.
	sed '/^\.BI \\-\\-renewal\\-interval/d' "$PAGE" >dropped
	! check_page dropped >out
	expect_grep "setting '--renewal-interval' is not in SETTINGS" out
	awk '/^\.SS "kmsprep image show"/ { s = 1 }
	     s && /^\.B \\-q, \\-\\-quiet$/ { print ".B \\-\\-quiet"; s = 0; next }
	     { print }' "$PAGE" >short
	! check_page short >out
	expect_grep "image show: '-q, --quiet' is not an item" out
	printf '.TP\n.B \\-\\-no\\-such\\-option\nNothing.\n' >>dropped
	! check_page dropped >out
	expect_grep "the page names '--no-such-option'" out
	sed 's/^\.SS "kmsprep hive new"$/.SS "kmsprep hive old"/' "$PAGE" >renamed
	! check_page renamed >out
	expect_grep 'no section .SS "kmsprep hive new"' out
	expect_grep "section for 'hive old', not a command" out
}

test_page_renders() {
	local w
	# groff's own width, and man's at 72 and 80 columns.
	groff -man -Tutf8 -ww -z "$PAGE" 2>err
	! [ -s err ] || { cat err >&2; return 1; }
	for w in 72 80; do
		groff -man -Tutf8 -ww -z -rLL=${w}n "$PAGE" 2>err
		! [ -s err ] || { cat err >&2; return 1; }
	done
	groff -man -Tutf8 -rLL=80n "$PAGE" 2>/dev/null | col -b >text
	expect_grep '^SETTINGS' text
	expect_grep '^EXIT STATUS' text
	# A page with a broken macro does warn: the check can fail.
	printf '.TH X 1\n.SH A\n.BOGUS x\n' >bad.1
	groff -man -Tutf8 -ww -z bad.1 2>err || true
	[ -s err ]
}

test_version() {
	local v
	v=$(sed -n 's/^VERSION := //p' "$SRC_DIR/GNUmakefile")
	[ -n "$v" ]
	kp --version >out
	echo "kmsprep $v" >want
	expect_same want out
	kp version >out
	expect_same want out
}

# complete WORDS...: what the completion offers for the last word.
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_kmsprep
	printf '%s\n' "${COMPREPLY[@]}"
}

test_completion() {
	mkdir bin
	ln -s "$KMSPREP" bin/kmsprep
	PATH=$PWD/bin:$PATH
	# shellcheck source=/dev/null
	. "$COMPLETION"
	[ "$(complete_words kmsprep hi)" = hive ]
	[ "$(complete_words kmsprep kms '' | sort | tr '\n' ' ')" = "discover gvlk kit publish records " ]
	[ "$(complete_words kmsprep kms kit b)" = build ]
	[ "$(complete_words kmsprep help image g)" = generalize ]
	complete_words kmsprep hive set SOFTWARE --kms >out
	expect_grep '^--kms-host$' out
	complete_words kmsprep image set a.qcow2 --dns- >out
	expect_grep '^--dns-publishing$' out
	expect_grep '^--dns-search-list$' out
	[ "$(complete_words kmsprep hive set S --dns-publishing '' | tr '\n' ' ')" = "on off " ]
	[ "$(complete_words kmsprep hive set S --activation-type '' | tr '\n' ' ')" = "all ad kms token " ]
	[ "$(complete_words kmsprep hive set S --application '' | tr '\n' ' ')" = "windows office " ]
	[ "$(complete_words kmsprep image generalize a --mode '' | tr '\n' ' ')" = "sysprep clone " ]
	[ "$(complete_words kmsprep kms records -f n)" = nsupdate ]
	# Files for hives and images, nothing for a domain name.
	: >SOFTWARE.hiv
	[ "$(complete_words kmsprep hive show SOFT)" = SOFTWARE.hiv ]
	[ "$(complete_words kmsprep hive set SOFTWARE.hiv --json SOFT)" = SOFTWARE.hiv ]
	[ -z "$(complete_words kmsprep kms discover SOFT)" ]
	[ -z "$(complete_words kmsprep kms records --domain SOFT)" ]
	# An option's one literal value; editions, not files, for kms gvlk.
	[ "$(complete_words kmsprep image set a --events '')" = jsonl ]
	[ "$(complete_words kmsprep kms gvlk --image SOFT)" = SOFTWARE.hiv ]
	[ "$(complete_words kmsprep kms gvlk Enterprise | tr '\n' ' ')" = \
		"Enterprise EnterpriseE EnterpriseG EnterpriseGN EnterpriseN EnterpriseS EnterpriseSN " ]
	[ -z "$(complete_words kmsprep kms gvlk SOFT)" ]
	# Every option of every command completes.
	commands >cmds
	while read -r cmd; do
		# shellcheck disable=SC2086
		complete_words kmsprep $cmd -- | sort >got
		{ help_opts "$cmd" own; help_opts "$cmd" settings; } |
			sed 's/.*--/--/' | sort -u >want
		echo --help >>want
		sort -u -o want want
		expect_same want got
	done <cmds
}

test_install() {
	local root=$PWD/root o=$PWD/o v
	command -v make >/dev/null || { echo "no make" >&2; return 1; }
	v=$(sed -n 's/^VERSION := //p' "$SRC_DIR/GNUmakefile")
	# The binary under test, not a rebuilt one: make -o keeps it as it is.
	# A make that runs this test (make check) must not pass its flags on.
	unset MAKEFLAGS MFLAGS MAKELEVEL
	mkdir "$o"
	ln -s "$KMSPREP" "$o/kmsprep"
	make -s -C "$SRC_DIR" --no-print-directory O="$o" -o "$o/kmsprep" \
		install DESTDIR="$root" PREFIX=/usr >log 2>&1 ||
		{ cat log >&2; return 1; }
	"$root/usr/bin/kmsprep" --version >out
	echo "kmsprep $v" >want
	expect_same want out
	expect_grep "^\.TH KMSPREP 1 .* \"kmsprep $v\"" \
		"$root/usr/share/man/man1/kmsprep.1"
	expect_no_grep '@VERSION@' "$root/usr/share/man/man1/kmsprep.1"
	expect_same "$COMPLETION" \
		"$root/usr/share/bash-completion/completions/kmsprep"
	[ "$(find "$root" -type f | wc -l)" -eq 3 ]
	make -s -C "$SRC_DIR" --no-print-directory O="$o" -o "$o/kmsprep" \
		uninstall DESTDIR="$root" PREFIX=/usr >log 2>&1
	[ "$(find "$root" -type f | wc -l)" -eq 0 ]
}

# flag_strings FILE...: string literals in C sources that name a
# command-line option ("--force-dirty"), as FILE:LINE: TEXT.  Arguments
# handed to other programs (argv of qemu-nbd), the provenance line of
# generated scripts and lines of generated documents marked README are
# not messages.
flag_strings() {
	perl -0ne '
		while (/"((?:[^"\\\n]|\\.)*)"/g) {
			my ($s, $p) = ($1, pos);
			next unless $s =~ /(?<![\w-])--[a-z][a-z0-9-]+/;
			my $l = (substr($_, 0, $p) =~ tr/\n//) + 1;
			my $line = (split /\n/, $_)[$l - 1];
			next if $line =~ m{\(char \*\)"--|Written by kmsprep|/\* README \*/};
			print "$ARGV:$l: $s\n";
		}' "$@"
}

# The library names no option: it returns a status and a remedy, and the
# CLI, which owns the options, says which one helps (cli/opts.c).
test_library_names_no_option() {
	(cd "$SRC_DIR" && flag_strings lib/*.c hive/*.c image/*.c prep/*.c kms/*.c) \
		>found
	if [ -s found ]; then
		cat found >&2
		return 1
	fi
	printf 'int f(void) { return kp_fail(e, 1, "give --force"); }\n' >t.c
	flag_strings t.c >found
	expect_grep 'give --force' found
}

# Every --help says the exit codes once: a command that gives them a
# meaning of its own says so under the common line, not in a second one.
test_help_exit_codes_once() {
	awk '/^=== / { cmd = substr($0, 5); next }
		/Exit codes/ { n[cmd]++ }
		END { for (c in n) if (n[c] > 1) { print "twice: " c; bad = 1 }
			exit bad }' "$HELPS"
	# each command's help (not the top one) has the common line
	[ "$(grep -c '^Exit codes: 0 success' "$HELPS")" -eq "$(commands | wc -l)" ]
}

# The README's Wine section names every stub t2300 puts before Wine's own
# programs.
test_readme_wine_stubs() {
	local stubs
	stubs=$(sed -n 's/^for n in \(.*\); do$/\1/p' \
		"$SRC_DIR/tests/t2300-firstboot-wine.sh")
	[ -n "$stubs" ]
	sed -n '/^### First-boot scripts under Wine/,/^## /p' \
		"$SRC_DIR/README.md" >wine
	for n in $stubs powershell; do
		grep -q "\`$n.exe\`" wine ||
			{ echo "README's Wine section lacks $n.exe" >&2; return 1; }
	done
}

t "the man page has every option of every --help, and no other" test_page_matches_help
t "every --help says the exit codes once" test_help_exit_codes_once
t "the README names every Wine stub the tests use" test_readme_wine_stubs
t "the page check catches a dropped, wrong or unknown option" test_check_catches_drift
if command -v groff >/dev/null && command -v col >/dev/null; then
	t "the man page renders without warnings" test_page_renders
else
	_n=$((_n + 1))
	echo "ok $_n - the man page renders # SKIP groff not installed"
fi
t "--version and version print the GNUmakefile's version" test_version
t "bash completion: commands, options, values, files" test_completion
t "make install: binary, man page, completion under DESTDIR" test_install
t "library messages name no command-line option" test_library_names_no_option

# debian/control's Build-Depends name the package of every library the
# GNUmakefile builds with (the package that holds its .pc file), and the
# README names every one.
test_build_depends() {
	command -v dpkg >/dev/null || skip "no dpkg"
	# PKGS spans lines joined by backslashes; awk follows them.
	pkgs=$(awk '/^PKGS :=/ { on = 1; sub(/^PKGS :=/, "") }
		on { c = sub(/\\$/, ""); print; if (!c) exit }' \
		"$SRC_DIR/GNUmakefile" | tr -s ' \t' '\n' | grep .)
	[ -n "$pkgs" ]
	for p in $pkgs; do
		pc="$(pkg-config --variable=pcfiledir "$p")/$p.pc"
		deb=$(dpkg -S "$pc" 2>/dev/null | sed 's/:.*//' | head -n 1)
		[ -n "$deb" ] || { echo "no package holds $pc" >&2; return 1; }
		grep -q "^ *$deb[, ]*\$\|[ ,]$deb[, ]*\$" "$SRC_DIR/debian/control" ||
			{ echo "debian/control: Build-Depends lacks $deb ($p)" >&2;
			  return 1; }
	done
	# Libraries linked by name (HDR_LIBS, "header:library"): the
	# package that holds the header.
	hdrs=$(sed -n 's/^HDR_LIBS := //p' "$SRC_DIR/GNUmakefile" |
		tr -s ' \t' '\n' | sed 's/:.*//' | grep .)
	[ -n "$hdrs" ]
	for h in $hdrs; do
		deb=$(dpkg -S "/usr/include/$h" 2>/dev/null | sed 's/:.*//' |
			head -n 1)
		[ -n "$deb" ] || { echo "no package holds $h" >&2; return 1; }
		grep -q "^ *$deb[, ]*\$\|[ ,]$deb[, ]*\$" "$SRC_DIR/debian/control" ||
			{ echo "debian/control: Build-Depends lacks $deb ($h)" >&2;
			  return 1; }
	done
	# README's list: every library by a name of its own.
	for name in hivex libguestfs libarchive OpenSSL libxml2 jansson ldns \
		libntfs-3g libnbd libseccomp libblkid wimlib; do
		grep -q "$name" "$SRC_DIR/README.md" ||
			{ echo "README.md names no $name" >&2; return 1; }
	done
	[ "$(echo "$pkgs" | wc -l)" -eq 11 ]
	[ "$(echo "$hdrs" | wc -l)" -eq 1 ]
}
t "debian/control and README name every library of the build" test_build_depends
# What the help, the man page and messages point users at is installed by
# the package; the man page's ENVIRONMENT names every variable the code
# reads of its own.
test_docs_shipped() {
	local d v
	for d in $(grep -oh 'docs/[a-z-]*\.md' "$SRC_DIR"/cli/*.c \
		"$SRC_DIR"/cli/*.h "$SRC_DIR"/docs/man/kmsprep.1.in \
		"$SRC_DIR"/README.md "$SRC_DIR"/prep/*.c | sort -u); do
		[ -e "$SRC_DIR/$d" ] || continue
		grep -qx "$d" "$SRC_DIR/debian/docs" ||
			{ echo "debian/docs lacks $d" >&2; return 1; }
	done
	for v in $(grep -oh 'getenv("[A-Z_]*")' "$SRC_DIR"/cli/*.c \
		"$SRC_DIR"/hive/*.c "$SRC_DIR"/kms/*.c "$SRC_DIR"/image/*.c \
		"$SRC_DIR"/prep/*.c | sed 's/getenv("\(.*\)")/\1/' | sort -u); do
		case $v in
		# Self-test hooks (honoured only under a self-test switch).
		KMSPREP_SANDBOX_*|KMSPREP_TEST*|KMSPREP_HIVE_SERVER_*|\
		KMSPREP_WORKER_*) continue ;;
		KMSPREP_*|SOURCE_DATE_EPOCH|JOB_COMPLETION_INDEX) ;;
		*) continue ;;
		esac
		grep -q "^\.B $v\$" "$SRC_DIR/docs/man/kmsprep.1.in" ||
			{ echo "the man page's ENVIRONMENT lacks $v" >&2; return 1; }
	done
}
t "the package ships the docs pointed at; the page names the variables" \
	test_docs_shipped
done_testing

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Progress of the slow steps: the appliance's launch and search (kmsprep),
# scripts/make-sample-image, tests/run.  On a terminal a line says what
# runs, rewritten in place and erased when it is over; anywhere else (a
# log, a pipe, these tests' captured output) nothing of it appears.
# script(1) gives a command a pseudo-terminal.  The line byte for byte is
# tests/unit/test-progress.c's; here, what a terminal shows once a command
# is done.  One test starts the real appliance (about 20 s under TCG); the
# others use a qemu or a guestfish that only takes its time.
# Last, make demo's build uses every core.
. "$(dirname "$0")/lib.sh"

command -v script >/dev/null || skip_all "no script(1) (util-linux)"

# on_tty CMD...: CMD with a pseudo-terminal as its standard input, output
# and error; what the terminal got, on standard output.
on_tty() {
	local cmd
	printf -v cmd '%q ' "$@"
	SHELL=/bin/bash script -qec "$cmd" /dev/null </dev/null
}

# screen FILE: the lines a terminal shows once FILE was written to it
# ("\r" goes back to the first column, what follows overwrites), without
# trailing blanks.
screen() {
	awk '{
		n = split($0, seg, "\r"); line = ""
		for (i = 1; i <= n; i++)
			line = length(seg[i]) >= length(line) ? seg[i] : \
				seg[i] substr(line, length(seg[i]) + 1)
		sub(/ +$/, "", line)
		print line
	}' "$1"
}

# progress_in FILE: is there a "\r" other than a terminal's "\r\n"?
progress_in() {
	sed 's/\r$//' "$1" | grep -q $'\r'
}

# A qemu that takes 1.5 s to fail: the launch is counted, cheaply.
slow_qemu() {
	printf '#!/bin/sh\nsleep 1.5\nexit 1\n' >slow-qemu
	chmod +x slow-qemu
	truncate -s 8M a.img
}

# What is left on the screen: the notice, then the error on a line of its
# own (the progress line was erased, and left no blank line behind).
expect_launch_failed() {
	printf '%s\n' "kmsprep: image show: starting the appliance for 1 image" \
		"kmsprep: image show: the libguestfs appliance did not start: $PWD/slow-qemu exited with error status 1" \
		>want
	# What libguestfs says after that is its own.
	sed 's/\(exited with error status 1\).*/\1/' "$1" >got
	expect_same want got
}

appliance_counted() {
	slow_qemu
	LIBGUESTFS_HV=$PWD/slow-qemu expect_code 5 on_tty \
		"$KMSPREP" image show --backend appliance a.img >term
	grep -q $'\rkmsprep: starting the appliance (TCG) 0 s\r' term
	grep -q $'\rkmsprep: starting the appliance (TCG) 1 s\r' term
	screen term >shown
	expect_launch_failed shown
}
t "image: a terminal sees the launch's seconds, then the line erased" \
	appliance_counted

appliance_not_tty() {
	slow_qemu
	# Standard output a terminal, standard error a file: it is standard
	# error's that counts.
	LIBGUESTFS_HV=$PWD/slow-qemu expect_code 5 on_tty bash -c \
		'"$KMSPREP" image show --backend appliance a.img 2>err' >term
	fails progress_in err
	expect_launch_failed err
	LIBGUESTFS_HV=$PWD/slow-qemu expect_code 5 "$KMSPREP" image show \
		--backend appliance a.img >out 2>err
	expect_launch_failed err
	[ ! -s out ]
}
t "image: no progress when standard error is not a terminal" \
	appliance_not_tty

appliance_quiet() {
	slow_qemu
	LIBGUESTFS_HV=$PWD/slow-qemu expect_code 5 on_tty \
		"$KMSPREP" image show -q --backend appliance a.img >term
	fails progress_in term
	expect_no_grep 'starting the appliance' term
}
t "image: --quiet has no progress on a terminal either" appliance_quiet

appliance_real() {
	command -v guestfish >/dev/null || skip "libguestfs tools not installed"
	ls /boot/vmlinuz-* >/dev/null 2>&1 ||
		skip "no kernel in /boot for the libguestfs appliance"
	# A disk without a filesystem: one volume to look at, no Windows.
	truncate -s 8M a.img
	on_tty "$KMSPREP" image show --backend appliance a.img >term || true
	grep -q $'\rkmsprep: starting the appliance (TCG) 1 s\r' term
	grep -q $'\rkmsprep: looking for Windows 0/1\r' term
	screen term >shown
	expect_grep '^kmsprep: image show: starting the appliance for 1 image$' \
		shown
	expect_no_grep 'TCG\|looking for Windows\|^$' shown
}
t "image: the real appliance, counted on a terminal" appliance_real

# A guestfish that takes its time to start and prints what the real one
# does: the output of "debug sh" (empty here: a blank line), local
# commands' (!CMD), and with FAIL set an error, on standard error.
fake_guestfish() {
	mkdir bin
	cat >bin/guestfish <<'EOF'
#!/bin/bash
while IFS= read -r cmd; do
	case $cmd in
	run) sleep 2.5
	     [ -z "${FAIL:-}" ] || { echo "libguestfs: error: simulated" >&2; exit 1; } ;;
	'!'*) bash -c "${cmd#!}" ;;
	debug*) echo ;;
	esac
done
EOF
	chmod +x bin/guestfish
}

sample_not_tty() {
	fake_guestfish
	PATH=$PWD/bin:$PATH "$SRC_DIR/scripts/make-sample-image" \
		a.img client b.img dual >out 2>err
	[ ! -s out ] || { cat -A out >&2; false; }
	[ ! -s err ]
	[ -s a.img ] && [ -s b.img ]
}
t "make-sample-image: prints nothing when not on a terminal" sample_not_tty

sample_tty() {
	fake_guestfish
	PATH=$PWD/bin:$PATH on_tty "$SRC_DIR/scripts/make-sample-image" \
		a.img client b.img dual >term
	grep -q $'\rmake-sample-image: starting the appliance 1 s' term
	grep -q $'\rmake-sample-image: image 1/2: a.img' term
	grep -q $'\rmake-sample-image: image 2/2: b.img' term
	# Nothing left on the screen.
	screen term >shown
	fails grep . shown
	# An error stands on a line of its own.
	FAIL=1 PATH=$PWD/bin:$PATH expect_code 1 on_tty \
		"$SRC_DIR/scripts/make-sample-image" c.img client >term
	screen term >shown
	printf 'libguestfs: error: simulated\n' >want
	expect_same want shown
}
t "make-sample-image: image N/M on a terminal, erased at the end" sample_tty

# A copy of tests/run with two scripts of its own, one slow; the choice of
# the run that runs this script is not its own.
fake_tests() {
	unset TESTS TESTS_SKIP
	mkdir -p tests unit
	cp "$SRC_DIR/tests/run" tests/
	printf 'sleep 2.5\necho "ok 1 - slow"\n' >tests/t0001-slow.sh
	printf 'echo "ok 1 - quick"\necho "ok 2 - quick"\n' \
		>tests/t0002-quick.sh
	printf '%-44s ok   %3ds %s tests\n' t0001-slow 0 1 t0002-quick 0 2 \
		>want
	echo "2 passed, 0 failed, 0 skipped" >>want
}

# The seconds column, which depends on the machine's speed.
seconds_out() {
	sed -E 's/^(.{44} ok   ) *[0-9]+s /\1  0s /' "$1"
}

run_not_tty() {
	fake_tests
	UNIT_DIR=$PWD/unit tests/run >out 2>&1
	fails progress_in out
	seconds_out out >got
	expect_same want got
}
t "tests/run: result lines only when not on a terminal" run_not_tty

run_tty() {
	fake_tests
	UNIT_DIR=$PWD/unit on_tty tests/run >term
	grep -q $'\rt0001-slow  *\\.\\.\\.  *1s' term
	screen term >shown
	seconds_out shown >got
	expect_same want got
}
t "tests/run: the script running and its seconds on a terminal" run_tty

# make demo builds with every core, or with the -j make was given.
demo_jobs() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -n -C "$SRC_DIR" \
		demo >out 2>&1
	expect_grep "make.* -j$(nproc) demo-run\$" out
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -j3 -n -C "$SRC_DIR" \
		demo >out 2>&1
	expect_grep "make.*--no-print-directory  *demo-run\$" out
}
t "make demo: the build uses the cores" demo_jobs
done_testing

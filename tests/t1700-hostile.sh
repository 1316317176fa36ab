#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Hostile input: every option and file argument of every command with
# values meant to break it (tests/helper/hostile.py has the table), and a
# disk that fills up.  Always a clear message, a documented exit code, and
# nothing written.
. "$(dirname "$0")/lib.sh"

# Fixtures the table's commands use.
fixtures() {
	sample_hive sw.hive client
	printf 'Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Lab]\n"A"="b"\n' >sw.reg
	printf 'QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN\n' >key.txt
	kp kms kit build -q -o kit.tar.gz --host-name kms.example.test >/dev/null
	mkdir dir locked
	mkfifo fifo
	ln -s no-such-target dangling
	cp sw.hive locked/secret
	chmod 600 locked/secret
	chmod 755 . locked
}

table() {
	# The unreadable cases run as nobody, who must reach this directory.
	chmod 711 "$SCRATCH"
	chmod 755 .
	mkdir w
	(cd w && fixtures)
	python3 "$SRC_DIR/tests/helper/hostile.py" "$KMSPREP" w >result
	cat result
	expect_grep ' hostile inputs tried, 0 failed$' result
}

# A disk that fills up: a 4 MiB tmpfs with a hive and little room left.
full_disk() {
	local d=full sum
	mkdir $d
	mount -t tmpfs -o size=4m tmpfs $d 2>/dev/null || {
		echo "cannot mount a tmpfs here: skipped"
		return 0
	}
	trap "umount $PWD/$d 2>/dev/null" EXIT
	sample_hive $d/sw.hive server
	dd if=/dev/zero of=$d/filler bs=64k 2>/dev/null || true
	sum=$(sha256sum <$d/sw.hive)
	expect_code 1 kp hive set $d/sw.hive --kms-host kms.example.com 2>err
	expect_grep 'No space left on device' err
	[ "$(wc -l <err)" -eq 1 ]
	[ "$(sha256sum <$d/sw.hive)" = "$sum" ]
	expect_code 1 kp hive new $d/new.hive 2>err
	expect_code 1 kp kms kit build -o $d/kit.tar.gz \
		--host-name kms.example.test 2>err
	expect_grep 'No space left on device' err
	# Nothing half-written is left: the hive, the log its import wrote,
	# the filler.
	[ "$(ls -A $d | tr '\n' ' ')" = "filler sw.hive sw.hive.LOG1 " ]
}

t "every option and file argument with hostile values" table
t "a full disk: a clear error, the file as it was, nothing left" full_disk
done_testing

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# kms discover and publish against a misbehaving DNS server on 127.0.0.1
# (tests/helper/fake-dns.py): answers that do not match the query are
# ignored, --timeout bounds a whole exchange even when the server sends a
# byte at a time, discovery as a whole is bounded, and a target name that
# does not fit is reported, not leaked.  Limits are checked by the command
# ending at all (under timeout(1)), not by how fast.
. "$(dirname "$0")/lib.sh"

FAKE="python3 $SRC_DIR/tests/helper/fake-dns.py"
SECRET=qFXFtnOa0pgBlGXsjVU+0J1v23u11JKDZf7LJCQ9aw0=
printf 'key "t" { algorithm hmac-sha256; secret "%s"; };\n' "$SECRET" \
	>"$SCRATCH/t.key"

# fake MODE: start the server; sets PORT and FAKE_PID.
fake() {
	rm -f port
	$FAKE port "$1" </dev/null >/dev/null 2>&1 &
	FAKE_PID=$!
	for _ in $(seq 100); do
		[ -e port ] && break
		sleep 0.2
	done
	PORT=$(cat port)
	trap 'kill $FAKE_PID 2>/dev/null || :' EXIT
}

# unfake: stop the server started last.
unfake() {
	kill $FAKE_PID 2>/dev/null || :
	wait $FAKE_PID 2>/dev/null || :
}

answered() {
	fake good
	kp kms discover fake.test --server 127.0.0.1:$PORT --timeout 2000 >out
	expect_grep '^a client would use kms.fake.test. port' out
}

not_matching() {
	local mode
	for mode in wrong-id qr0 other-question other-port; do
		fake $mode
		expect_code 5 timeout 60 "$KMSPREP" kms discover fake.test \
			--server 127.0.0.1:$PORT --timeout 1000 >out 2>err
		expect_no_grep 'a client would use' out
		expect_grep 'did not match the query were ignored' err
		unfake
	done
}

dribble() {
	fake dribble
	# The old per-read limit never expired: one byte every 0.5 s.
	expect_code 5 timeout 10 "$KMSPREP" kms discover fake.test \
		--server 127.0.0.1:$PORT --timeout 2000 2>err
	expect_grep 'no answer from DNS server .* within 2000 ms' err
	expect_code 5 timeout 10 "$KMSPREP" kms publish --server \
		127.0.0.1:$PORT --tsig-key "$SCRATCH/t.key" -d fake.test \
		-H kms.fake.test --timeout 2000 2>err
	expect_grep 'within 2000 ms' err
}

many_hosts() {
	# 500 hosts whose addresses never come: 10 x --timeout in all, not
	# 2 x 500 x --timeout.
	fake many
	expect_code 5 timeout 30 "$KMSPREP" kms discover fake.test \
		--server 127.0.0.1:$PORT --timeout 100 >out 2>err
	expect_grep '^_vlmcs._tcp.fake.test: 500 records' out
	expect_grep "500\. .*not-tried: discovery's time ran out" out
	# Every host has a reason.
	expect_no_grep ': $' out
}

long_target() {
	fake long-target
	expect_code 5 kp kms discover fake.test --server 127.0.0.1:$PORT \
		--timeout 2000 >out 2>err
	expect_grep 'failed: the target name is too long to use$' out
}

t "a matching answer is used" answered
t "answers with another ID, QR=0, question or port are ignored" not_matching
t "--timeout bounds a whole exchange, not each read" dribble
t "discovery as a whole is bounded" many_hosts
t "a target name too long to use has a reason (and no leak)" long_target
done_testing

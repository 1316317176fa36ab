#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The malformed hives: every command gives one clear line and exit 3, never
# a crash, a hang or a write.  Each kind twice: made here from a sample hive
# (tests/helper/malform.py), and the real damaged hive of that kind from
# ../shared/testdata when it is there.
. "$(dirname "$0")/lib.sh"

declare -A want=(
	[bad-hbin-signature]="hive bin at offset 0x2000: bad signature"
	[bad-header-checksum]="corrupt base block \\(checksum mismatch\\)"
	[bad-subkey-list]="not an allocated cell"
	[not-a-hive]="not a registry hive"
	[subkey-list-loop]="twice (.*loop or (shared subkey|a shared record))"
	[trailing-garbage]="corrupt base block \\(checksum mismatch\\)"
	[truncated]="truncated hive"
	[zeroed-pages-SYSTEM]="hive bin at offset 0x1a000: bad signature"
	[made-truncated]="truncated hive"
	[made-bad-header-checksum]="corrupt base block \\(checksum mismatch\\)"
	[made-bad-hbin-signature]="hive bin at offset 0x2000: bad signature"
	[made-bad-subkey-list]="subkey list at offset 0x1010: not an allocated cell"
	[made-subkey-list-loop]="subkey list at offset 0x[0-9a-f]*: referenced twice \\(a loop or a shared record\\)"
	[made-zeroed-pages]="hive bin at offset 0x2000: bad signature"
	[made-trailing-garbage]="corrupt base block \\(checksum mismatch\\)"
	[made-not-a-hive]="not a registry hive"
)

malformed() {
	local f=$1
	case $f in
	made-*)
		sample_hive good client
		python3 "$SRC_DIR/tests/helper/malform.py" "${f#made-}" good "$f"
		rm good ;;
	*) testdata "$f" ;;
	esac
	cp "$f" orig
	printf 'Windows Registry Editor Version 5.00\n[\\K]\n"v"="x"\n' >k.reg
	for cmd in "hive show" "hive set --force --kms-host kms" \
		   "hive export" "hive import" "hive recover -o out"; do
		# shellcheck disable=SC2086
		set -- $cmd
		if [ "$2" = import ]; then
			expect_code 3 timeout 120 ${VG:-} "$KMSPREP" "$@" "$f" k.reg 2>err
		else
			expect_code 3 timeout 120 ${VG:-} "$KMSPREP" "$@" "$f" 2>err
		fi
		[ "$(wc -l <err)" -eq 1 ] || { cat err; return 1; }
		grep -Eq "^kmsprep: $1 $2: '$f': .*${want[$f]}" err || { cat err; return 1; }
		expect_same orig "$f"
		[ ! -e out ]
	done
	[ -z "$(ls -A | grep kmsprep)" ]
}

for f in $(printf '%s\n' "${!want[@]}" | sort); do
	t "$f: exit 3, one line, file unchanged" malformed "$f"
done

done_testing

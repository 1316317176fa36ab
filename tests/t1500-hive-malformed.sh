#!/usr/bin/env bash
# The malformed hives: every command gives one clear line and exit 3, never
# a crash, a hang or a write.
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
)

malformed() {
	local f=$1
	testdata "$f"
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

for f in "${!want[@]}"; do
	t "$f: exit 3, one line, file unchanged" malformed "$f"
done

done_testing

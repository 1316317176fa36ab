#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The examples of README.md, the man page (EXAMPLES) and docs/scale.md (the
# plan) run as written, on sample images and hives given the names they
# use, with the output README shows.  Every example found must be run here
# or listed with the reason it cannot run (a DNS server of its own): a new
# example fails this script until it is.
. "$(dirname "$0")/lib.sh"

PATH=$PATH:/sbin:/usr/sbin
for tool in sfdisk mkntfs qemu-img qemu-nbd openssl; do
	command -v $tool >/dev/null 2>&1 || skip_all "no $tool"
done
MK=$SRC_DIR/tests/helper/mkimage-direct

sample_hive "$SCRATCH/client" client || exit 1
sample_hive "$SCRATCH/server" server || exit 1
"$KMSPREP" hive new "$SCRATCH/sys" >/dev/null &&
	"$KMSPREP" hive import "$SCRATCH/sys" "$SRC_DIR/tests/data/system.reg" \
		>/dev/null || exit 1
MKIMAGE_SYSTEM=$SCRATCH/sys "$MK" "$SCRATCH/client.img" mbr \
	"$SCRATCH/client" || exit 1
MKIMAGE_SYSTEM=$SCRATCH/sys "$MK" "$SCRATCH/server.img" gpt \
	"$SCRATCH/server" || exit 1

# The examples, one command a line (continuations joined), as written.
readme_examples() {
	sed -n 's/^    \$ \(kmsprep .*\)/\1/p' "$SRC_DIR/README.md"
	# The kit section: a shell block without prompts.
	sed -n '/^## Lab KMS host kits/,/^A kit/p' "$SRC_DIR/README.md" |
		sed -n 's/^    //p' | sed -e :a -e '/\\$/N; s/\\\n *//; ta'
}

man_examples() {
	sed -n '/^\.SH EXAMPLES/,/^\.SH "SEE ALSO"/p' \
		"$SRC_DIR/docs/man/kmsprep.1.in" |
		sed -n '/^\.EX/,/^\.EE/p' | grep -v '^\.E[XE]' |
		sed -e 's/\\-/-/g' -e 's/\\e$/\\/' |
		sed -e :a -e '/\\$/N; s/\\\n *//; ta'
}

# What cannot run here, and why (the rest must).
not_here() {
	case $1 in
	"kmsprep kms discover "* | "kmsprep kms publish "*)
		echo "needs the domain's DNS servers (t3000 runs these against BIND)" ;;
	esac
}

# Run EXAMPLE (a shell command line) in a directory where the names it
# uses are sample files: SOFTWARE, win10-*.qcow2, server2022.qcow2,
# kms-host-key.txt.
run_example() {
	local dir=$1 ex=$2
	(cd "$dir" && PATH=$(dirname "$KMSPREP"):$PATH eval "$ex") >ex.out 2>ex.err
}

fixtures() {
	local d=$1
	mkdir -p "$d"
	cp "$SCRATCH/client" "$d/SOFTWARE"
	qemu-img convert -O qcow2 "$SCRATCH/client.img" "$d/win10-a.qcow2"
	qemu-img convert -O qcow2 "$SCRATCH/client.img" "$d/win10-b.qcow2"
	qemu-img convert -O qcow2 "$SCRATCH/server.img" "$d/server2022.qcow2"
	printf 'QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN\n' >"$d/kms-host-key.txt"
}

examples() {
	local src=$1 ex why n=0 ran=0
	fixtures ex
	while IFS= read -r ex; do
		[ -n "$ex" ] || continue
		n=$((n + 1))
		why=$(not_here "$ex")
		if [ -n "$why" ]; then
			echo "not run: $ex: $why" >&2
			continue
		fi
		run_example ex "$ex" || {
			echo "$src example failed: $ex"; cat ex.err; return 1; }
		ran=$((ran + 1))
		case $ex in
		"kmsprep hive set SOFTWARE --kms-host kms.contoso.com:1688 --dry-run")
			# README shows its output: it must be this.
			sed -n '/^    \$ kmsprep hive set SOFTWARE/,/^$/p' \
				"$SRC_DIR/README.md" | sed -n '2,$s/^    //p' |
				grep . >want
			expect_same want ex.out ;;
		"kmsprep kms records "*" --priority 10")
			grep -F "$(sed -n '/--priority 10$/{n;s/^    //p}' "$SRC_DIR/README.md")" \
				ex.out >/dev/null ;;
		"kmsprep image set win10-"*)
			grep -q 'written and verified' ex.out ;;
		"kmsprep kms kit apply "*)
			grep -q 'written and verified' ex.out ;;
		esac
	done
	[ "$n" -gt 0 ]
	echo "$src: $n examples, $ran run" >&2
}

readme() { readme_examples | examples README.md; }
t "README's examples run as written, with the output it shows" readme

man_page() { man_examples | examples kmsprep.1; }
t "the man page's EXAMPLES run as written" man_page

# docs/scale.md's plan, with its paths made local: the checks pass, a dry
# run plans every image, and the real run writes them.
scale_plan() {
	mkdir -p images run/nbd
	cp "$SCRATCH/client.img" w10.img
	qemu-img convert -O qcow2 w10.img images/win10-a.qcow2
	qemu-img convert -O qcow2 w10.img images/win10-b.qcow2
	cp "$SCRATCH/server.img" images/srv2022.img
	# The NBD entry names /dev/sda3: a UEFI disk (EFI, MSR, Windows).
	TEST_TOOL=$TEST_TOOL "$SRC_DIR/tests/helper/mklayout" w11.img gpt-uefi \
		"$SCRATCH/client" "$SCRATCH/sys" >/dev/null
	qemu-nbd -f raw -k "$PWD/run/nbd/w11.sock" -t w11.img &
	echo $! >nbd.pid
	trap 'kill $(cat nbd.pid) 2>/dev/null || true' RETURN
	for _ in $(seq 50); do [ -S run/nbd/w11.sock ] && break; sleep 0.1; done
	sed -n '/^## Plans/,/^`PLAN`/p' "$SRC_DIR/docs/scale.md" |
		sed -n '/^```json/,/^```$/p' | grep -v '^```' |
		sed -e "s|/images/|$PWD/images/|" -e "s|/run/nbd/|$PWD/run/nbd/|" \
		>plan.json
	[ -s plan.json ]
	kp image batch --dry-run plan.json >out 2>err ||
		{ cat err; return 1; }
	expect_grep 'dry run' out
	kp image batch -q plan.json >out 2>err || { cat err; return 1; }
	[ "$(grep -c 'written and verified' out)" -eq 4 ] || { cat out; return 1; }
}
t "docs/scale.md's plan runs as written (paths made local)" scale_plan

done_testing

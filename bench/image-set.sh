#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark: set the KMS host in 1 and in 8 Windows images.
#
#   bench/image-set.sh            (IMAGES=1: the 1-image runs only)
#
# Makes 8 sample client images (raw) whose SOFTWARE hive is HIVE_MB (80)
# MB, then times, in one run:
#   ntfscat of the hive out of the image (the floor: one read of it)
#   kmsprep image show --backend direct on 1 image
#   virt-win-reg --merge of the same one-value .reg change, once per image
#   kmsprep image set --backend appliance on 1 image, and on all 8 images
#     (one appliance)
#   kmsprep image set --backend direct on 1 image, and on all 8 (one
#     sandboxed worker per image, no appliance)
# and prints the ratios, the peak memory of each run and, from
# KMSPREP_TIMING, where each kmsprep run's time went.  Needs root (losetup).  The appliance runs under TCG
# (LIBGUESTFS_BACKEND_SETTINGS=force_tcg), as KVM does not start here.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KMSPREP:=build/kmsprep}"
export KMSPREP LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/kmsprep-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# SOFTWARE hives of a real size (HIVE_MB, default 80; 0 for the 16 KiB
# sample hive), in a disk large enough to hold them.
hive_mb=${HIVE_MB:-80}
if [ "$hive_mb" -gt 0 ]; then
	SAMPLE_SOFTWARE_MB=$hive_mb SAMPLE_DISK_MB=$((hive_mb * 3 + 64)) \
		scripts/make-sample-image "$dir/t.img" client
else
	scripts/make-sample-image "$dir/t.img" client
fi
echo "SOFTWARE hive: $(guestfish --ro -a "$dir/t.img" -i \
	filesize /Windows/System32/config/SOFTWARE) bytes"
images=${IMAGES:-8}
for i in $(seq "$images"); do
	cp "$dir/t.img" "$dir/k$i.img"
	cp "$dir/t.img" "$dir/v$i.img"
	cp "$dir/t.img" "$dir/d$i.img"
done
printf 'Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\SoftwareProtectionPlatform]\n"KeyManagementServiceName"="kms.contoso.com"\n' >"$dir/change.reg"

# One timed run: its wall seconds and its peak memory (MiB, the largest
# process: for the appliance that is qemu) into the variables $1 and $2;
# its standard error, which holds KMSPREP_TIMING's breakdown, into $dir/$1.err.
run() {
	local _f="$dir/$1" _s _kb
	/usr/bin/time -f '%e %M' -o "$_f.time" "${@:3}" >/dev/null 2>"$_f.err"
	read -r _s _kb <"$_f.time"
	printf -v "$1" '%s' "$_s"
	printf -v "$2" '%d' "$((_kb / 1024))"
}

# The floor: the hive read out of the image once, by ntfs-3g's ntfscat,
# into a file as kmsprep's copy-out does (into /dev/null it takes a third
# of that: nothing is written).
start=$(partx -g -o START -n 1 "$dir/t.img")
loop=$(losetup -f --show -r -o $((start * 512)) "$dir/t.img")
trap 'losetup -d "$loop"; rm -rf "$dir"' EXIT
# Read once first, as kmsprep's runs find the image in the page cache.
ntfscat "$loop" /Windows/System32/config/SOFTWARE >/dev/null
run floor floor_mb sh -c 'exec ntfscat "$1" /Windows/System32/config/SOFTWARE >"$2"' \
	- "$loop" "$dir/floor.hive"
export KMSPREP_TIMING=1
run show show_mb "$KMSPREP" image show --backend direct "$dir/d1.img"
run v1 v1_mb virt-win-reg --merge "$dir/v1.img" "$dir/change.reg"
run k1 k1_mb "$KMSPREP" image set -q --backend appliance "$dir/k1.img" \
	--kms-host kms.contoso.com
run d1 d1_mb "$KMSPREP" image set -q --backend direct "$dir/d1.img" \
	--kms-host kms.contoso.com
# The direct run did write: the value is there.
"$KMSPREP" image show --backend direct "$dir/d1.img" | grep -q kms.contoso.com

row() { printf '%-44s %8s %8s\n' "$@"; }
printf '\n'
row "" seconds "peak MiB"
row "ntfscat of the hive (the floor)" "$floor" "$floor_mb"
row "kmsprep image show direct, 1 image" "$show" "$show_mb"
row "virt-win-reg --merge, 1 image" "$v1" "$v1_mb"
row "kmsprep image set appliance, 1 image" "$k1" "$k1_mb"
row "kmsprep image set direct, 1 image" "$d1" "$d1_mb"
if [ "$images" -ge 8 ]; then
	v8=$v1
	for i in $(seq 2 8); do
		run t t_mb virt-win-reg --merge "$dir/v$i.img" "$dir/change.reg"
		v8=$(echo "$v8 + $t" | bc)
	done
	run k8 k8_mb "$KMSPREP" image set -q --backend appliance \
		"$dir"/k[1-8].img --kms-host kms2.contoso.com
	run d8 d8_mb "$KMSPREP" image set -q --backend direct \
		"$dir"/d[1-8].img --kms-host kms2.contoso.com
	row "virt-win-reg --merge, 8 images" "$v8" ""
	row "kmsprep image set appliance, 8 images" "$k8" "$k8_mb"
	row "kmsprep image set direct, 8 images" "$d8" "$d8_mb"
fi
# bc prints no leading zero; a floor of 0.01 s keeps a ratio finite.
ratio() { echo "$1 / (($2 < 0.01) * 0.01 + ($2 >= 0.01) * $2)" | bc -l; }
printf '\n1 image:  image show is %.1fx ntfscat\n' "$(ratio "$show" "$floor")"
printf '1 image:  direct image set is %.1fx ntfscat\n' "$(ratio "$d1" "$floor")"
printf '1 image:  appliance / virt-win-reg = %.2f\n' "$(ratio "$k1" "$v1")"
printf '1 image:  direct is %.1fx faster than virt-win-reg\n' "$(ratio "$v1" "$d1")"
if [ "$images" -ge 8 ]; then
	printf '8 images: direct took %.1fx one image\n' "$(ratio "$d8" "$d1")"
	printf '8 images: appliance is %.1fx faster than virt-win-reg\n' "$(ratio "$v8" "$k8")"
	printf '8 images: direct is %.1fx faster than virt-win-reg\n' "$(ratio "$v8" "$d8")"
fi
# Where the time went (KMSPREP_TIMING, seconds per phase).
for r in d1 k1 d8 k8; do
	[ -s "$dir/$r.err" ] || continue
	printf '\nphases of %s:\n' "$r"
	sed -n 's/^kmsprep: image set: timing: /  /p' "$dir/$r.err"
done

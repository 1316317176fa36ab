#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark: set the KMS host in 1 and in 8 Windows images.
#
#   bench/image-set.sh            (IMAGES=1: the 1-image runs only)
#
# Makes 8 sample client images (raw) whose SOFTWARE hive is HIVE_MB (80)
# MB, then times, in one run:
#   virt-win-reg --merge of the same one-value .reg change, once per image
#   kmsprep image set --backend appliance on 1 image, and on all 8 images
#     (one appliance)
#   kmsprep image set --backend direct on 1 image, and on all 8 (one
#     sandboxed worker per image, no appliance)
# and prints the ratios.  The appliance runs under TCG
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

secs() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo "scale=1; ($t1 - $t0) / 1000000000" | bc; }

v1=$(secs virt-win-reg --merge "$dir/v1.img" "$dir/change.reg")
k1=$(secs "$KMSPREP" image set -q --backend appliance "$dir/k1.img" \
	--kms-host kms.contoso.com)
d1=$(secs "$KMSPREP" image set -q --backend direct "$dir/d1.img" \
	--kms-host kms.contoso.com)
# The direct run did write: the value is there.
"$KMSPREP" image show --backend direct "$dir/d1.img" | grep -q kms.contoso.com

printf '\n%-40s %8s\n' "" seconds
printf '%-40s %8s\n' "virt-win-reg --merge, 1 image" "$v1"
printf '%-40s %8s\n' "kmsprep image set appliance, 1 image" "$k1"
printf '%-40s %8s\n' "kmsprep image set direct, 1 image" "$d1"
if [ "$images" -ge 8 ]; then
	v8=$v1
	for i in $(seq 2 8); do
		t=$(secs virt-win-reg --merge "$dir/v$i.img" "$dir/change.reg")
		v8=$(echo "$v8 + $t" | bc)
	done
	k8=$(secs "$KMSPREP" image set -q --backend appliance "$dir"/k[1-8].img \
		--kms-host kms2.contoso.com)
	d8=$(secs "$KMSPREP" image set -q --backend direct "$dir"/d[1-8].img \
		--kms-host kms2.contoso.com)
	printf '%-40s %8s\n' "virt-win-reg --merge, 8 images" "$v8"
	printf '%-40s %8s\n' "kmsprep image set appliance, 8 images" "$k8"
	printf '%-40s %8s\n' "kmsprep image set direct, 8 images" "$d8"
fi
# bc prints no leading zero; a floor of 0.01 s keeps a ratio finite.
ratio() { echo "$1 / (($2 < 0.01) * 0.01 + ($2 >= 0.01) * $2)" | bc -l; }
printf '\n1 image:  appliance / virt-win-reg = %.2f\n' "$(ratio "$k1" "$v1")"
printf '1 image:  direct is %.1fx faster than virt-win-reg\n' "$(ratio "$v1" "$d1")"
if [ "$images" -ge 8 ]; then
	printf '8 images: appliance is %.1fx faster than virt-win-reg\n' "$(ratio "$v8" "$k8")"
	printf '8 images: direct is %.1fx faster than virt-win-reg\n' "$(ratio "$v8" "$d8")"
fi

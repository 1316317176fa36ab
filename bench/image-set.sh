#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark: set the KMS host in 1 and in 8 Windows images.
#
#   bench/image-set.sh
#
# Makes 8 sample client images (raw) whose SOFTWARE hive is HIVE_MB (80)
# MB, then times, in one run:
#   virt-win-reg --merge of the same one-value .reg change, once per image
#   kmsprep image set on 1 image, and on all 8 images (one appliance)
# and prints the ratios.  Both tools run under TCG
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
for i in $(seq 8); do cp "$dir/t.img" "$dir/k$i.img"; cp "$dir/t.img" "$dir/v$i.img"; done
printf 'Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\SoftwareProtectionPlatform]\n"KeyManagementServiceName"="kms.contoso.com"\n' >"$dir/change.reg"

secs() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo "scale=1; ($t1 - $t0) / 1000000000" | bc; }

v1=$(secs virt-win-reg --merge "$dir/v1.img" "$dir/change.reg")
k1=$(secs "$KMSPREP" image set -q "$dir/k1.img" --kms-host kms.contoso.com)
v8=$v1
for i in $(seq 2 8); do
	t=$(secs virt-win-reg --merge "$dir/v$i.img" "$dir/change.reg")
	v8=$(echo "$v8 + $t" | bc)
done
k8=$(secs "$KMSPREP" image set -q "$dir"/k[1-8].img --kms-host kms2.contoso.com)

printf '\n%-34s %8s\n' "" seconds
printf '%-34s %8s\n' "virt-win-reg --merge, 1 image" "$v1"
printf '%-34s %8s\n' "kmsprep image set, 1 image" "$k1"
printf '%-34s %8s\n' "virt-win-reg --merge, 8 images" "$v8"
printf '%-34s %8s\n' "kmsprep image set, 8 images" "$k8"
printf '\n1 image:  kmsprep / virt-win-reg = %.2f\n' "$(echo "$k1 / $v1" | bc -l)"
printf '8 images: virt-win-reg / kmsprep = %.1fx faster\n' "$(echo "$v8 / $k8" | bc -l)"

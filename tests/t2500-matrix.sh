#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The conformance matrix: every image format x every disk layout x each
# operation, on the direct backend (all of it) and on the appliance (by
# default a diagonal that meets each format, layout and operation once;
# MATRIX_APPLIANCE=full, as `make check-matrix` runs it: all of it;
# MATRIX_APPLIANCE=none: nothing).  What lands in each image is read back
# as a fingerprint (registry values through reglookup, every staged file
# with its SHA-256, NTFS security descriptor and attributes) and must be
# what the operation writes; where both backends ran, byte for byte the
# same.  Refusals must be the same refusal, with the image unchanged.
# docs/formats.md is the table this proves.  WIM files (the wim backend:
# no layout, no appliance) are rows of their own: each kind of WIM x each
# operation, captured from the whole-disk layout's volume, fingerprinted
# with wimlib's own tools; every kind that is written must give the same
# fingerprint.  MATRIX_ROWS=disk or wim runs only those rows (default:
# both).
. "$(dirname "$0")/lib.sh"

PATH=$PATH:/sbin:/usr/sbin
for tool in sfdisk mkntfs mkfs.vfat qemu-img reglookup; do
	command -v $tool >/dev/null 2>&1 || skip_all "no $tool"
done
: "${MATRIX_APPLIANCE:=diagonal}"
: "${MATRIX_ROWS:=all}"
APPLIANCE_OK=yes
if [ "$MATRIX_APPLIANCE" != none ]; then
	command -v guestfish >/dev/null && ls /boot/vmlinuz-* >/dev/null 2>&1 ||
		APPLIANCE_OK=no
fi
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}

FORMATS="raw qcow2-v2 qcow2-v3 qcow2-compressed vmdk-sparse vmdk-stream vhdx vhdx-fixed vhdx-4k vpc-fixed vpc-dynamic"
LAYOUTS="mbr-sysres gpt-uefi gpt-recovery gpt-4kn whole-disk ntfs-64k data-volume"
OPS="show dry-run set overlay gen-sysprep gen-clone kit"
SPP='Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform'

# The sample server hives (a kit needs a server), each layout once.
sample_hive "$SCRATCH/soft" server || exit 1
"$KMSPREP" hive new "$SCRATCH/sys" >/dev/null &&
	"$KMSPREP" hive import "$SCRATCH/sys" "$SRC_DIR/tests/data/system.reg" \
		>/dev/null || exit 1
mkdir -p "$SCRATCH/layouts"
for l in $LAYOUTS; do
	"$SRC_DIR/tests/helper/mklayout" "$SCRATCH/layouts/$l.img" "$l" \
		"$SCRATCH/soft" "$SCRATCH/sys" >"$SCRATCH/layouts/$l.dev" ||
		skip_all "cannot make layout $l"
done
printf 'QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN\n' >"$SCRATCH/key"
"$KMSPREP" kms kit build -q -o "$SCRATCH/kit.tar.gz" \
	--host-name kms.matrix.test --key-file "$SCRATCH/key" >/dev/null 2>&1 ||
	exit 1

# make IMAGE LAYOUT FORMAT: the layout's disk in FORMAT.
make_image() {
	local out=$1 in=$SCRATCH/layouts/$2.img
	case $3 in
	raw) cp --sparse=always "$in" "$out" ;;
	qcow2-v2) qemu-img convert -O qcow2 -o compat=0.10 "$in" "$out" ;;
	qcow2-v3) qemu-img convert -O qcow2 -o compat=1.1 "$in" "$out" ;;
	qcow2-compressed) qemu-img convert -c -O qcow2 "$in" "$out" ;;
	vmdk-sparse) qemu-img convert -O vmdk -o subformat=monolithicSparse "$in" "$out" ;;
	vmdk-stream) qemu-img convert -O vmdk -o subformat=streamOptimized "$in" "$out" ;;
	vhdx) qemu-img convert -O vhdx "$in" "$out" ;;
	vhdx-fixed) qemu-img convert -O vhdx -o subformat=fixed "$in" "$out" ;;
	vhdx-4k)
		qemu-img convert -O vhdx "$in" "$out"
		python3 "$SRC_DIR/tests/helper/vhdx4k.py" "$out" ;;
	vpc-fixed) qemu-img convert -O vpc -o subformat=fixed,force_size=on "$in" "$out" ;;
	vpc-dynamic) qemu-img convert -O vpc -o force_size=on "$in" "$out" ;;
	esac
}

# The format name qemu and kmsprep give FORMAT.
qfmt() {
	case $1 in
	qcow2*) echo qcow2 ;; vmdk*) echo vmdk ;; vhdx*) echo vhdx ;;
	vpc*) echo vpc ;; *) echo raw ;;
	esac
}

# What OP on FORMAT in LAYOUT must end with: ok, or an exit code and the
# reason (the same on both backends, before anything is written).
expect() {
	local op=$1 fmt=$2 layout=$3
	case $fmt in
	vhdx-4k) echo "3 4096-byte logical sectors"; return ;;
	esac
	case $fmt,$op in
	vmdk-stream,show | vmdk-stream,overlay) echo ok ;;
	vmdk-stream,*) echo "4 stream-optimized VMDK" ;;
	*) echo ok ;;
	esac
}

# run BACKEND OP IMAGE: the operation, its exit code in RC.
run() {
	local b=$1 op=$2 img=$3
	RC=0
	case $op in
	show) kp image show --backend "$b" "$img" >out 2>err || RC=$? ;;
	dry-run) kp image set -q -n --backend "$b" --kms-host kms.matrix.test \
		"$img" >out 2>err || RC=$? ;;
	set) kp image set -q --backend "$b" --kms-host kms.matrix.test \
		--activation-interval 90 "$img" >out 2>err || RC=$? ;;
	overlay) kp image set -q --backend "$b" --kms-host kms.matrix.test \
		--overlay ov.qcow2 "$img" >out 2>err || RC=$? ;;
	gen-sysprep) kp image generalize -q --backend "$b" "$img" >out \
		2>err || RC=$? ;;
	gen-clone) kp image generalize -q --backend "$b" --mode clone \
		"$img" >out 2>err || RC=$? ;;
	kit) kp kms kit apply -q --allow-unsigned --backend "$b" \
		"$SCRATCH/kit.tar.gz" "$img" >out 2>err || RC=$? ;;
	esac
}

# fingerprint IMAGE FORMAT PART [-b]: what an operation can change in the
# Windows volume, as text: the SPP and Setup values, and every file kmsprep
# stages with its digest, security descriptor and attributes.
fingerprint() {
	local img=$1 fmt=$2 part=$3 b=${4:-} d f
	local dt=("$TEST_TOOL" direct -r $b -f "$fmt" -p "$part" "$img")
	"${dt[@]}" read Windows/System32/config/SOFTWARE fp.sw \
		read Windows/System32/config/SYSTEM fp.sy >/dev/null
	reglookup -H -p "/$SPP" fp.sw | cut -d, -f1-3 | sort
	reglookup -H -p /Setup fp.sy | cut -d, -f1-3 | sort
	for d in Windows/kmsprep Windows/kmsprep/kit Windows/System32/Sysprep \
		Windows/Setup/Scripts; do
		"${dt[@]}" ls "$d" 2>/dev/null | sort | while read -r f; do
			"${dt[@]}" read "$d/$f" fp.f sd "$d/$f" fp.sd \
				>fp.attr 2>/dev/null || continue
			echo "$d/$f $(sha256sum <fp.f | cut -c1-16) $(od -An -tx1 -v fp.sd | tr -d ' \n') $(cat fp.attr)"
		done
	done
	rm -f fp.sw fp.sy fp.f fp.sd fp.attr
}

# cell BACKEND FORMAT LAYOUT OP: one cell of the matrix; its fingerprint
# in FP.
cell() {
	local b=$1 fmt=$2 layout=$3 op=$4 dev part want sum img size
	dev=$(cat "$SCRATCH/layouts/$layout.dev")
	part=${dev#/dev/sda}
	part=${part:-0}
	img=img.$fmt
	rm -f "$img" ov.qcow2
	make_image "$img" "$layout" "$fmt"
	sum=$(sha256sum <"$img")
	size=$(stat -c %s "$img")
	want=$(expect "$op" "$fmt" "$layout")
	run "$b" "$op" "$img"
	if [ "$want" != ok ]; then
		[ "$RC" -eq "${want%% *}" ] || {
			echo "$b $fmt $layout $op: exit $RC, not ${want%% *}"
			cat err; return 1; }
		grep -q "${want#* }" err || {
			echo "$b $fmt $layout $op: not '${want#* }'"; cat err
			return 1; }
		[ "$(sha256sum <"$img")" = "$sum" ] ||
			{ echo "$b $fmt $layout $op: changed by a refusal"; return 1; }
		FP="refused ${want%% *}"
		return 0
	fi
	[ "$RC" -eq 0 ] || { echo "$b $fmt $layout $op: exit $RC"; cat err;
			     return 1; }
	case $op in
	show)
		grep -q "windows: $dev /Windows" out ||
			{ echo "$b $fmt $layout: no $dev"; cat out; return 1; } ;;
	dry-run)
		[ "$(sha256sum <"$img")" = "$sum" ] ||
			{ echo "$b $fmt $layout: a dry run wrote"; return 1; } ;;
	overlay)
		[ "$(sha256sum <"$img")" = "$sum" ] ||
			{ echo "$b $fmt $layout: the overlay's base changed"; return 1; }
		FP=$(fingerprint ov.qcow2 qcow2 "$part" -b)
		grep -q 'KeyManagementServiceName,SZ,kms.matrix.test' <<<"$FP" ||
			{ echo "$b $fmt $layout overlay: no host"; return 1; }
		return 0 ;;
	esac
	case $(qfmt "$fmt") in
	raw) ;;
	vpc)	# No qemu-img check: the footer as Azure reads it, and a
		# fixed disk's size, unchanged.
		python3 "$SRC_DIR/tests/helper/vhdcheck.py" "$img" ||
			{ echo "$b $fmt $layout $op: VHD footer"; return 1; }
		[ "$fmt" != vpc-fixed ] || [ "$(stat -c %s "$img")" = "$size" ] ||
			{ echo "$b $fmt $layout $op: size changed"; return 1; } ;;
	*)	qemu-img check -q -f "$(qfmt "$fmt")" "$img" ||
			{ echo "$b $fmt $layout $op: qemu-img check"; return 1; } ;;
	esac
	FP=$(fingerprint "$img" "$(qfmt "$fmt")" "$part")
	case $op in
	set) grep -q 'KeyManagementServiceName,SZ,kms.matrix.test' <<<"$FP" &&
		grep -q 'VLActivationInterval,DWORD,0x0000005A' <<<"$FP" ;;
	gen-sysprep) grep -qi '^Windows/System32/Sysprep/Unattend.xml ' <<<"$FP" ;;
	gen-clone) grep -qi '^Windows/kmsprep/firstboot' <<<"$FP" ;;
	kit) grep -qi '^Windows/kmsprep/kit/kms-host-key.txt ' <<<"$FP" ;;
	esac || { echo "$b $fmt $layout $op: not in the image:"; echo "$FP";
		  return 1; }
}

# Is FORMAT x LAYOUT a cell?  A 4Kn disk is raw only: its sector size is
# in no other format's header, and qemu is told it for a raw file.
applies() {
	[ "$2" != gpt-4kn ] || [ "$1" = raw ]
}

# Every cell on the direct backend; FPS/KEY holds each fingerprint.
direct_all() {
	local fmt layout op n=0
	mkdir -p "$SCRATCH/fp"
	for layout in $LAYOUTS; do
		for fmt in $FORMATS; do
			applies "$fmt" "$layout" || continue
			for op in $OPS; do
				FP=
				cell direct "$fmt" "$layout" "$op"
				printf '%s\n' "$FP" >"$SCRATCH/fp/$fmt.$layout.$op"
				n=$((n + 1))
			done
		done
	done
	echo "$n cells on the direct backend" >&2
}
if [ "$MATRIX_ROWS" != wim ]; then
t "the matrix on the direct backend: every format, layout and operation" \
	direct_all
fi

# WIM kinds, captured from VOLUME into OUT.
WIMS="wim-lzx wim-xpress wim-none wim-integrity esd pipable"
make_wim() {
	local out=$1 vol=$2
	case $3 in
	wim-lzx) wimcapture "$vol" "$out" W ;;
	wim-xpress) wimcapture "$vol" "$out" W --compress=XPRESS ;;
	wim-none) wimcapture "$vol" "$out" W --compress=none ;;
	wim-integrity) wimcapture "$vol" "$out" W --check ;;
	esd) wimcapture "$vol" "$out" W --solid ;;
	pipable) wimcapture "$vol" "$out" W --pipable ;;
	esac >/dev/null 2>&1
}

# What OP on a WIM of KIND must end with (see expect).
expect_wim() {
	case $2,$1 in
	esd,show | pipable,show) echo ok ;;
	esd,*) echo "4 ESD" ;;
	pipable,*) echo "4 pipable WIM" ;;
	*) echo ok ;;
	esac
}

# fingerprint_wim WIM: as fingerprint, by wimlib's tools: the SPP and
# Setup values (wimextract, reglookup) and every staged file with its
# digest, security descriptor and attributes (wimdir --detailed).
fingerprint_wim() {
	local w=$1 d
	rm -rf fpx && mkdir fpx
	wimextract "$w" 1 /Windows/System32/config/SOFTWARE \
		/Windows/System32/config/SYSTEM --dest-dir=fpx >/dev/null 2>&1
	reglookup -H -p "/$SPP" fpx/SOFTWARE | cut -d, -f1-3 | sort
	reglookup -H -p /Setup fpx/SYSTEM | cut -d, -f1-3 | sort
	for d in /Windows/kmsprep /Windows/System32/Sysprep \
		/Windows/Setup/Scripts; do
		WIMLIB_IMAGEX_IGNORE_CASE=1 wimdir "$w" 1 --detailed \
			--path="$d" 2>/dev/null | awk '
			/^Full Path/ { p = $0; sub(/^Full Path *= "/, "", p);
				       sub(/"$/, "", p) }
			/^Attributes/ { a = $3 }
			/^Security Descriptor/ { sd = $4 }
			/^Hash/ && p != "" && !seen[p]++ {
				print tolower(p), $3, sd, a }'
	done | sort
	rm -rf fpx
}

# wim_cell KIND OP: one WIM cell; its fingerprint in FP.
wim_cell() {
	local kind=$1 op=$2 w=img.$1.wim want sum
	rm -f "$w" ov.wim
	make_wim "$w" "$SCRATCH/wimvol" "$kind"
	sum=$(sha256sum <"$w")
	want=$(expect_wim "$op" "$kind")
	RC=0
	case $op in
	overlay) kp image set -q --backend wim --kms-host kms.matrix.test \
		--overlay ov.wim "$w" >out 2>err || RC=$? ;;
	*) run wim "$op" "$w" ;;
	esac
	if [ "$want" != ok ]; then
		[ "$RC" -eq "${want%% *}" ] && grep -q "${want#* }" err || {
			echo "wim $kind $op: exit $RC, not '$want'"; cat err
			return 1; }
		[ "$(sha256sum <"$w")" = "$sum" ] ||
			{ echo "wim $kind $op: changed by a refusal"; return 1; }
		FP="refused ${want%% *}"
		return 0
	fi
	[ "$RC" -eq 0 ] || { echo "wim $kind $op: exit $RC"; cat err
			     return 1; }
	case $op in
	show)
		grep -q "windows: index 1 /Windows" out ||
			{ echo "wim $kind: no index 1"; cat out; return 1; }
		return 0 ;;
	dry-run)
		[ "$(sha256sum <"$w")" = "$sum" ] ||
			{ echo "wim $kind: a dry run wrote"; return 1; }
		return 0 ;;
	overlay)
		[ "$(sha256sum <"$w")" = "$sum" ] ||
			{ echo "wim $kind: the original changed"; return 1; }
		w=ov.wim ;;
	esac
	wimverify "$w" >/dev/null 2>&1 ||
		{ echo "wim $kind $op: wimlib cannot read it"; return 1; }
	FP=$(fingerprint_wim "$w")
	case $op in
	set | overlay)
		grep -q 'KeyManagementServiceName,SZ,kms.matrix.test' <<<"$FP" ;;
	gen-sysprep) grep -qi '^/windows/system32/sysprep/unattend.xml ' <<<"$FP" ;;
	gen-clone) grep -qi '^/windows/kmsprep/firstboot' <<<"$FP" ;;
	kit) grep -qi '^/windows/kmsprep/kit/kms-host-key.txt ' <<<"$FP" ;;
	esac || { echo "wim $kind $op: not in the WIM:"; echo "$FP"
		  return 1; }
}

# Every WIM cell; each operation's fingerprint the same for every kind
# that is written.
wim_all() {
	local kind op n=0
	for tool in wimcapture wimextract wimdir wimverify; do
		command -v $tool >/dev/null 2>&1 || skip "no $tool (wimtools)"
	done
	# The whole-disk layout is an NTFS volume: captured as it is.
	cp --sparse=always "$SCRATCH/layouts/whole-disk.img" "$SCRATCH/wimvol"
	mkdir -p "$SCRATCH/fpw"
	for op in $OPS; do
		for kind in $WIMS; do
			FP=
			wim_cell "$kind" "$op"
			n=$((n + 1))
			case $FP in refused*) continue ;; esac
			[ "$op" != show ] && [ "$op" != dry-run ] || continue
			if [ -e "$SCRATCH/fpw/$op" ]; then
				printf '%s\n' "$FP" >fp.w
				diff -u "$SCRATCH/fpw/$op" fp.w || {
					echo "wim $kind $op: not as the others"
					return 1; }
			else
				printf '%s\n' "$FP" >"$SCRATCH/fpw/$op"
			fi
		done
	done
	echo "$n WIM cells" >&2
}
if [ "$MATRIX_ROWS" != disk ]; then
t "WIM rows: every kind of WIM and operation (wim backend)" wim_all
fi

# The appliance on the same cells: the same outcome, the same fingerprint.
appliance_cells() {
	local fmt layout op
	while read -r fmt layout op; do
		FP=
		cell appliance "$fmt" "$layout" "$op"
		if [ -e "$SCRATCH/fp/$fmt.$layout.$op" ]; then
			printf '%s\n' "$FP" >fp.a
			diff -u "$SCRATCH/fp/$fmt.$layout.$op" fp.a || {
				echo "$fmt $layout $op: the backends differ"
				return 1; }
		fi
	done
}

# Each format, layout and operation at least once.
diagonal() {
	local f=($FORMATS) l=($LAYOUTS) o=($OPS) k n
	n=${#f[@]}
	for ((k = 0; k < n; k++)); do
		local fmt=${f[k]} layout=${l[k % ${#l[@]}]} op=${o[k % ${#o[@]}]}
		applies "$fmt" "$layout" || layout=gpt-uefi
		echo "$fmt $layout $op"
	done
	# The 4Kn disk, which the loop gave a format it does not take.
	echo "raw gpt-4kn set"
}

everything() {
	local fmt layout op
	for layout in $LAYOUTS; do
		for fmt in $FORMATS; do
			applies "$fmt" "$layout" || continue
			for op in $OPS; do
				echo "$fmt $layout $op"
			done
		done
	done
}

appliance_matrix() {
	[ "$APPLIANCE_OK" = yes ] || skip "no libguestfs appliance here"
	case $MATRIX_APPLIANCE in
	full) everything | appliance_cells ;;
	*) diagonal | appliance_cells ;;
	esac
}
if [ "$MATRIX_APPLIANCE" != none ] && [ "$MATRIX_ROWS" != wim ]; then
	t "the matrix on the appliance ($MATRIX_APPLIANCE): as the direct backend" \
		appliance_matrix
fi

done_testing

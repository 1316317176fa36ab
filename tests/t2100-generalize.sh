#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# image generalize on sample images: sysprep mode (answer files found in
# Windows' search order, edited with everything else kept, or created) and
# clone mode (first-boot scripts); idempotence and dry runs.  The editing
# runs through the appliance; the dry run, the refusals and image show,
# which are the same code above either backend, run through the direct
# one (t2200 runs the rest there too), each appliance launch costing
# 15-40 s under TCG.
. "$(dirname "$0")/lib.sh"

command -v guestfish >/dev/null || skip_all "libguestfs tools not installed"

IMG=$SCRATCH/images
mkdir -p "$IMG"
"$SRC_DIR/scripts/make-sample-image" "$IMG/plain.img" client \
	"$IMG/panther.img" client "$IMG/pointer.img" client \
	"$IMG/clone.img" server "$IMG/sealed.img" client \
	"$IMG/blocked.img" client >/dev/null 2>&1 ||
	skip_all "cannot make sample images (libguestfs appliance broken?)"

# An answer file as Windows SIM writes it: CRLF, a comment, SkipRearm 1 and
# another pass that must survive.
cat >"$SCRATCH/lab.xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <!-- lab answer file -->
  <settings pass="generalize">
    <component name="Microsoft-Windows-Security-SPP" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      <SkipRearm>1</SkipRearm>
    </component>
  </settings>
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <TimeZone>UTC</TimeZone>
    </component>
  </settings>
</unattend>
EOF
sed -i 's/$/\r/' "$SCRATCH/lab.xml"
# The pointer image: SYSTEM\Setup\UnattendFile names C:\custom\my.xml (with
# a generalize pass) and Sysprep\unattend.xml has none: the pointer wins.
sed 's/lab answer file/the answer file SYSTEM points at/' "$SCRATCH/lab.xml" \
	>"$SCRATCH/my.xml"
printf '<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="specialize"/></unattend>\r\n' \
	>"$SCRATCH/sysprep.xml"
# The sealed image: generalized, Windows' own OOBE staged.
printf 'Windows Registry Editor Version 5.00\n[HKEY_LOCAL_MACHINE\\SYSTEM\\Setup]\n"UnattendFile"="C:\\\\custom\\\\my.xml"\n' >"$SCRATCH/ptr.reg"
# The plain image was resealed to audit mode without /generalize: it is
# not generalized, and sysprep mode must still stage the rearm.
printf 'Windows Registry Editor Version 5.00\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Setup\\State]\n"ImageState"="IMAGE_STATE_SPECIALIZE_RESEAL_TO_AUDIT"\n' >"$SCRATCH/audit.reg"
guestfish --rw -a "$IMG/panther.img" -a "$IMG/pointer.img" \
	-a "$IMG/plain.img" >/dev/null 2>&1 <<EOF
run
mount /dev/sda1 /
upload $SCRATCH/lab.xml /Windows/Panther/unattend.xml
umount /
mount /dev/sdb1 /
mkdir /custom
upload $SCRATCH/my.xml /custom/my.xml
upload $SCRATCH/sysprep.xml /Windows/System32/Sysprep/unattend.xml
download /Windows/System32/config/SYSTEM $SCRATCH/SYSTEM
! "$KMSPREP" hive import $SCRATCH/SYSTEM $SCRATCH/ptr.reg
upload $SCRATCH/SYSTEM /Windows/System32/config/SYSTEM
umount /
mount /dev/sdc1 /
download /Windows/System32/config/SOFTWARE $SCRATCH/PSW
! "$KMSPREP" hive import $SCRATCH/PSW $SCRATCH/audit.reg
upload $SCRATCH/PSW /Windows/System32/config/SOFTWARE
umount /
EOF
printf 'Windows Registry Editor Version 5.00\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Setup\\State]\n"ImageState"="IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"\n' >"$SCRATCH/sealed.reg"
printf 'Windows Registry Editor Version 5.00\n[HKEY_LOCAL_MACHINE\\SYSTEM\\Setup]\n"CmdLine"="oobe\\\\windeploy.exe"\n"SetupType"=dword:00000002\n' >"$SCRATCH/oobe.reg"
guestfish --rw -a "$IMG/sealed.img" -a "$IMG/blocked.img" >/dev/null 2>&1 <<EOF
run
mount /dev/sdb1 /
write /Windows/kmsprep "a file where kmsprep wants its directory"
mkdir-p /Windows/Panther
write /Windows/Panther/unattend.xml "<unattend><settings"
umount /
mount /dev/sda1 /
download /Windows/System32/config/SOFTWARE $SCRATCH/SW
download /Windows/System32/config/SYSTEM $SCRATCH/SY
! "$KMSPREP" hive import $SCRATCH/SW $SCRATCH/sealed.reg
! "$KMSPREP" hive import $SCRATCH/SY $SCRATCH/oobe.reg
upload $SCRATCH/SW /Windows/System32/config/SOFTWARE
upload $SCRATCH/SY /Windows/System32/config/SYSTEM
umount /
EOF

dry_run() {
	cp "$IMG/plain.img" "$IMG/panther.img" .
	sha256sum ./*.img >sums
	kp image generalize --backend direct -q --dry-run plain.img panther.img >out
	expect_grep '^plain.img: create %WINDIR%\\System32\\Sysprep\\Unattend.xml' out
	expect_grep '^panther.img: update %WINDIR%\\Panther\\Unattend.xml' out
	expect_grep '^dry run:' out
	sha256sum -c --quiet sums
}
t "--dry-run writes nothing" dry_run

sysprep_mode() {
	cp "$IMG/plain.img" "$IMG/panther.img" "$IMG/pointer.img" .
	kp image generalize --backend appliance -q plain.img panther.img pointer.img >out
	expect_grep '^plain.img: create %WINDIR%\\System32\\Sysprep\\Unattend.xml' out
	expect_grep '^panther.img: note: %WINDIR%\\Panther\\Unattend.xml had SkipRearm 1 in its generalize pass: sysprep /generalize would have kept the licensing state, so every clone would share one client machine ID' out
	expect_grep '^panther.img: update %WINDIR%\\Panther\\Unattend.xml' out
	expect_grep '^pointer.img: update SYSTEM\\Setup\\UnattendFile' out
	expect_no_grep '^pointer.img: .*Sysprep' out
	# A second run changes nothing, not a byte of the images.
	sha256sum ./*.img >sums
	kp image generalize --backend appliance -q plain.img panther.img pointer.img >out
	[ "$(grep -c ': no change$' out)" -eq 3 ] || { cat out; return 1; }
	sha256sum -c --quiet sums
	LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --ro -a plain.img \
		-a panther.img -a pointer.img >/dev/null <<'EOF'
run
mount-ro /dev/sda1 /
download /Windows/System32/Sysprep/unattend.xml plain.xml
download /Windows/System32/config/SOFTWARE plain.sw
umount /
mount-ro /dev/sdb1 /
download /Windows/Panther/unattend.xml panther.xml
umount /
mount-ro /dev/sdc1 /
download /custom/my.xml pointer.xml
download /Windows/System32/Sysprep/unattend.xml sysprep.xml
EOF
	for f in plain.xml panther.xml pointer.xml; do
		xmllint --noout "$f"
		[ "$(xmllint --xpath "string(//*[local-name()='settings'][@pass='generalize']/*[local-name()='component'][@name='Microsoft-Windows-Security-SPP']/*[local-name()='SkipRearm'])" "$f")" = 0 ]
	done
	# Everything else in the edited file is kept, with its CRLF.
	expect_grep '<!-- lab answer file -->' panther.xml
	expect_grep '<TimeZone>UTC</TimeZone>' panther.xml
	[ "$(grep -c $'\r$' panther.xml)" -eq "$(wc -l <panther.xml)" ]
	# The lower-precedence file without a generalize pass is untouched.
	cmp sysprep.xml "$SCRATCH/sysprep.xml"
	reglookup -p '/Microsoft/Windows NT/CurrentVersion/SoftwareProtectionPlatform/SkipRearm' plain.sw >rl
	expect_grep 'SkipRearm,DWORD,0x00000000' rl
	reglookup -p /Microsoft/Windows/CurrentVersion/Setup/State plain.sw >rl
	expect_grep 'ImageState,SZ,IMAGE_STATE_SPECIALIZE_RESEAL_TO_AUDIT' rl
}
t "sysprep mode: the answer file Windows uses says SkipRearm 0" sysprep_mode

clone_mode() {
	cp "$IMG/clone.img" "$IMG/sealed.img" .
	kp image generalize --backend appliance -q --mode clone --activate clone.img >out
	expect_grep '^clone.img: Setup\\CmdLine: "" REG_SZ -> "cmd.exe /c \\"%SystemRoot%\\\\kmsprep\\\\firstboot.cmd\\"" REG_SZ' out
	expect_grep '^clone.img: Setup\\SetupType: 0 (0x0) REG_DWORD -> 2 (0x2) REG_DWORD' out
	expect_grep '^clone.img: create %WINDIR%\\kmsprep\\firstboot.cmd' out
	expect_grep '^clone.img: create %WINDIR%\\kmsprep\\licensing.ps1' out
	expect_grep '^clone.img: create %WINDIR%\\kmsprep\\firstboot-activate.cmd' out
	sha256sum clone.img >sums
	kp image generalize --backend appliance -q --mode clone --activate clone.img >out
	expect_grep '^clone.img: no change$' out
	sha256sum -c --quiet sums
	# A generalized image gets a new ID from Windows Setup itself; its
	# CmdLine (oobe\windeploy.exe) must not be replaced.
	cp sealed.img sealed.orig
	expect_code 4 kp image generalize --backend appliance -q --mode clone sealed.img 2>err
	expect_grep 'the image is generalized already (IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE)' err
	cmp sealed.img sealed.orig
	# A later image set changes the values the first boot puts back.
	kp image set --backend appliance -q clone.img --kms-host kms9.example.com >out
	expect_grep '^clone.img: update %WINDIR%\\kmsprep\\firstboot.cmd' out
	LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --ro -a clone.img -m /dev/sda1 >gf <<'EOF'
download /Windows/kmsprep/firstboot.cmd fb.cmd
download /Windows/kmsprep/firstboot-activate.cmd fb2.cmd
download /Windows/System32/config/SYSTEM sy
debug sh "getfattr -h -e hex -n system.ntfs_acl /sysroot/Windows/kmsprep /sysroot/Windows/kmsprep/firstboot.cmd"
EOF
	expect_grep 'KeyManagementServiceName" /t REG_SZ /d "kms9.example.com"' fb.cmd
	# What kmsprep creates is not writable by everyone (ntfs-3g's
	# default): SYSTEM and Administrators full control, Users read.
	[ "$(grep -c '=0x01000490.*a9001200010200000000000520000000210200' gf)" -eq 2 ]
	expect_no_grep '010100000000000100000000' gf
	for f in fb.cmd fb2.cmd; do
		# CRLF on every line, and the hook cleared before anything else.
		[ "$(grep -c $'\r$' "$f")" -eq "$(wc -l <"$f")" ]
		[ "$(grep -n 'SetupType /t REG_DWORD /d 0' "$f" | cut -d: -f1)" -lt \
		  "$(grep -n 'call :sl' "$f" | head -n 1 | cut -d: -f1)" ]
	done
	expect_grep '^call :sl rearm' fb.cmd
	expect_grep 'shutdown /r' fb.cmd
	expect_grep '^call :sl ato' fb2.cmd
	expect_grep 'VLActivationInterval" /t REG_DWORD /d 120' fb.cmd
	expect_no_grep 'FAKE0' fb.cmd
	reglookup -p /Setup sy >rl
	expect_grep 'SetupType,DWORD,0x00000002' rl
	# Without --activate now: the activation script goes, or a later
	# image set would bring activation back.
	kp image generalize --backend appliance -q --mode clone clone.img >out
	expect_grep '^clone.img: remove %WINDIR%\\kmsprep\\firstboot-activate.cmd$' out
	expect_grep '^clone.img: update %WINDIR%\\kmsprep\\firstboot.cmd$' out
	# --gvlk auto: the key of the image's edition and build, installed
	# before the rearm; a later image set keeps it in the script.
	kp image generalize --backend appliance -q --mode clone --gvlk auto clone.img >out
	expect_grep '^clone.img: note: the first boot installs the KMS client setup key of Windows Server 2022 Datacenter (WX4NM-KYWYW-QJJR4-XV3QB-6VM33)$' out
	kp image set --backend appliance -q clone.img --kms-host kms8.example.com >out
	expect_grep '^clone.img: update %WINDIR%\\kmsprep\\firstboot.cmd$' out
	LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --ro -a clone.img -m /dev/sda1 \
		download /Windows/kmsprep/firstboot.cmd fb3.cmd
	expect_grep '^set "KMSPREP_GVLK=WX4NM-KYWYW-QJJR4-XV3QB-6VM33"' fb3.cmd
	expect_grep 'kms8.example.com' fb3.cmd
	[ "$(grep -n '^call :sl ipk' fb3.cmd | cut -d: -f1)" -lt \
	  "$(grep -n '^call :sl rearm' fb3.cmd | cut -d: -f1)" ]
	# Only a key of Microsoft's table goes into a script.
	expect_code 2 kp image generalize --backend appliance -q --mode clone \
		--gvlk QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN clone.img 2>err
	expect_grep 'not a KMS client setup key' err
	expect_no_grep 'QXR7B' err
}
t "clone mode: first-boot scripts and hook; a generalized image refused" clone_mode

# libguestfs' firstboot service (as virt-customize or virt-v2v leave it):
# kmsprep's scripts go into its folder, and no hook of kmsprep's is staged.
guestfs_service() {
	cp "$IMG/clone.img" gfs.img
	printf 'Windows Registry Editor Version 5.00\n[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\firstboot]\n"Start"=dword:00000002\n[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet002\\Services\\firstboot]\n"Start"=dword:00000002\n' >svc.reg
	guestfish --rw -a gfs.img -m /dev/sda1 >/dev/null <<EOF
mkdir-p "/Program Files/Guestfs/Firstboot/scripts"
download /Windows/System32/config/SYSTEM sys.hiv
! "$KMSPREP" hive import sys.hiv svc.reg
upload sys.hiv /Windows/System32/config/SYSTEM
EOF
	kp image generalize --backend appliance -q --mode clone --activate gfs.img >out
	expect_grep '^gfs.img: create C:\\Program Files\\Guestfs\\Firstboot\\scripts\\9900-0001-kmsprep-rearm.bat$' out
	expect_grep '^gfs.img: create C:\\Program Files\\Guestfs\\Firstboot\\scripts\\9900-0002-kmsprep-activate.bat$' out
	expect_grep "^gfs.img: note: libguestfs' firstboot service is installed" out
	expect_no_grep 'CmdLine' out
	expect_no_grep 'firstboot.cmd' out
	kp image show --backend appliance gfs.img >show
	expect_grep '^    libguestfs firstboot service: installed, runs .*; kmsprep.s scripts there: 9900-0001-kmsprep-rearm.bat, 9900-0002-kmsprep-activate.bat$' show
	# Its scripts are what runs at the next boot: not "nothing staged".
	expect_no_grep '^    first boot: nothing staged$' show
	# The outcome, read back after a boot: each step, the error decoded.
	printf '%s\r\n' "Sun 11/29/2026 21:00:01.50 kmsprep first boot" \
		"rearm: exit code 0" "restart: exit code 0" \
		"Sun 11/29/2026 21:01:10.00 kmsprep after the restart: activate" \
		"activate: exit code -1073418124" "license state: exit code 0" >fb.log
	guestfish --rw -a gfs.img -m /dev/sda1 \
		upload fb.log /Windows/kmsprep/firstboot.log
	kp image show --backend appliance gfs.img >show
	expect_grep '^    first-boot log (%WINDIR%\\kmsprep\\firstboot.log): 2 runs, the last started ' show
	expect_grep '^      activate: failed, 0xC004F074 (no KMS host could be contacted)$' show
	expect_grep '^      client machine ID: reset (the rearm succeeded)$' show
	kp image show --backend appliance --json gfs.img >j
	python3 -c 'import json; j=json.load(open("j")); s=json.dumps(j); assert "0xC004F074" in s and "kmsprep_scripts" in s, s'
}
t "libguestfs firstboot service; the outcome read back from the log" guestfs_service

# cloudbase-init's licensing plugin: reported, and made to agree.
cloudbase() {
	local conf="/Program Files/Cloudbase Solutions/Cloudbase-Init/conf/cloudbase-init.conf"
	cp "$IMG/clone.img" cb.img
	printf '%s\r\n' '# written by the installer' '[DEFAULT]' \
		'username=Admin' 'activate_windows=true' \
		'kms_host=old.example.com' '' '[openstack]' 'x=1' >cb.conf
	guestfish --rw -a cb.img -m /dev/sda1 >/dev/null <<EOF
mkdir-p "/Program Files/Cloudbase Solutions/Cloudbase-Init/conf"
upload cb.conf "$conf"
EOF
	kp image show --backend appliance cb.img >show
	expect_grep '^    cloudbase-init (cloudbase-init.conf): licensing plugin runs; activate_windows on, set_kms_product_key not set (off), set_avma_product_key not set (off), kms_host old.example.com$' show
	expect_grep '^    note: cloudbase-init sets KMS host old.example.com at every boot, over the registry' show
	kp image set --backend appliance -q cb.img --kms-host kms7.example.com --cloudbase-init off >out
	expect_grep '^cb.img: update C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\conf\\cloudbase-init.conf$' out
	guestfish --ro -a cb.img -m /dev/sda1 download "$conf" new.conf
	# Only the lines it must: the rest of the file byte for byte.
	printf '%s\r\n' '# written by the installer' '[DEFAULT]' \
		'username=Admin' 'activate_windows=false' \
		'kms_host=kms7.example.com' '' 'set_kms_product_key=false' \
		'[openstack]' 'x=1' >want.conf
	expect_same want.conf new.conf
	kp image show --backend appliance --json cb.img >j
	python3 -c 'import json; j=json.load(open("j")); s=json.dumps(j); assert "\"conflicts_with_registry\": false" in s, s'
	# kms gvlk reads the edition and build from the image itself.
	kp kms gvlk --image "$IMG/clone.img" >o 2>/dev/null
	expect_grep '^WX4NM-KYWYW-QJJR4-XV3QB-6VM33	Windows Server 2022 Datacenter$' o
	# Without cloudbase-init: refused, nothing written.
	cp "$IMG/clone.img" plain.img
	sha256sum plain.img >sums
	expect_code 4 kp image set --backend appliance -q plain.img --kms-host k.example.com \
		--cloudbase-init host 2>err
	expect_grep 'cloudbase-init is not installed' err
	sha256sum -c --quiet sums
}
t "cloudbase-init: licensing options reported; kms_host written, the rest kept" cloudbase

refusals() {
	cp "$IMG/sealed.img" "$IMG/blocked.img" .
	sha256sum ./*.img >sums
	# Sysprep has run on a generalized image: nothing to stage.
	expect_code 4 kp image generalize --backend direct -q sealed.img 2>err
	expect_grep 'generalized already' err
	# A file where the script directory goes: found before any write,
	# so the hook never points at a script that is not there.
	expect_code 1 kp image generalize --backend direct -q --mode clone blocked.img 2>err
	expect_grep "blocked.img.*/Windows/kmsprep is not a directory" err
	sha256sum -c --quiet sums
}
t "generalized image and blocked directory refused, nothing written" refusals

show_state() {
	cp "$IMG/panther.img" "$IMG/sealed.img" "$IMG/blocked.img" .
	kp image show --backend direct -q panther.img sealed.img blocked.img >out
	# A broken answer file is a note; the rest is still shown.
	sed -n '/^image: blocked.img/,$p' out >b
	expect_grep "note: sysprep would fail on it too: '%WINDIR%\\\\Panther\\\\Unattend.xml': not a valid answer file: line 1: Premature end of data in tag unattend line 1$" b
	expect_grep 'windows: Windows 10' b
	expect_grep 'answer file %WINDIR%\\Panther\\Unattend.xml: generalize pass, SkipRearm 1' out
	expect_grep 'image state: IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE' out
	expect_grep 'first boot: runs at the next boot (SetupType 2): oobe\\windeploy.exe' out
	kp image show --backend direct -q --json sealed.img >j
	python3 -c 'import json,sys; g=json.load(open("j"))["images"][0]["windows"][0]["generalization"]; assert g["first_boot"]["cmdline"]=="oobe\\windeploy.exe" and not g["first_boot"]["kmsprep"], g'
}
t "image show reports the generalization state" show_state

done_testing

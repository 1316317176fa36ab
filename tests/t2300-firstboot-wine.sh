#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The first-boot scripts kmsprep generates (clone mode's firstboot.cmd and
# firstboot-activate.cmd, also with Office's own rearm; sysprep mode's
# Office rearm from SetupComplete.cmd; a host kit's wrapper
# and provision.cmd, also with an Office KMS host), run under Wine's cmd.exe
# with its real reg.exe and registry, and with stub powershell.exe,
# cscript.exe, shutdown.exe, net.exe, ping.exe (activation's wait between
# attempts), OSPPREARM.EXE and a stub Volume License Pack
# (tests/helper/wine/stub.c) that record their arguments and return
# scripted exit codes.
# A "boot" runs what HKLM\SYSTEM\Setup holds, as Winlogon would.  What this
# proves and what it cannot: README, "First-boot scripts under Wine".
. "$(dirname "$0")/lib.sh"

command -v wine >/dev/null 2>&1 ||
	skip_all "wine is not installed (scripts/install-deps installs it)"
MINGW=x86_64-w64-mingw32-gcc
command -v $MINGW >/dev/null 2>&1 ||
	skip_all "$MINGW is not installed (scripts/install-deps installs it)"

# One fresh prefix for this script's tests; no Mono or Gecko prompts.
export WINEPREFIX=$SCRATCH/pfx WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
# The prefix goes with the scratch directory, once Wine has let go of it.
trap 'wineserver -k >/dev/null 2>&1; cd /; rm -rf "$SCRATCH"' EXIT
timeout 300 wineboot -i >/dev/null 2>&1 ||
	skip_all "Wine cannot start here (wineboot -i failed)"
# One wineserver for the whole script: by default it exits 3 s after its
# last client, and a wine command that comes as it exits fails (seen in
# CI under load: a "wine reg add" that failed, a boot that ran nothing).
wineserver -p
SYS=$WINEPREFIX/drive_c/windows
PSEXE=$SYS/system32/WindowsPowerShell/v1.0/powershell.exe
[ -f "$PSEXE" ] || skip_all "this Wine has no powershell.exe to stand in for"

STUBS=$SCRATCH/stubs
mkdir "$STUBS"
$MINGW -O2 -Wall -Wextra -Werror -o "$STUBS/stub.exe" \
	"$SRC_DIR/tests/helper/wine/stub.c"
for n in cscript shutdown net ping; do
	cp "$STUBS/stub.exe" "$STUBS/$n.exe"
done
"$TEST_TOOL" scripts "$SCRATCH/gen" || {
	echo "not ok - kmsprep-test-tool scripts failed"
	exit 1
}

# winpath UNIXPATH: the same file for a Windows program under Wine.
winpath() {
	printf 'Z:%s' "$1" | tr / '\\'
}
export STUB_DIR STUB_ENV=KMSPREP_KEYFILE
STUB_DIR=$(winpath "$STUBS")
KEY=QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN	# a made-up key in the right form
OKEY=M4PWT-Y6D2V-CF8GN-QXR7B-9HJ3K	# and an Office one
PS1='C:\windows\kmsprep\licensing.ps1'
PSARGS="powershell|-NoProfile|-NonInteractive|-ExecutionPolicy|Bypass|-File|$PS1"
SLMGR='cscript|//nologo|C:\windows\System32\slmgr.vbs'
SPP='HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform'
# The scripts' own bound on activation's retries, unless a test sets one.
unset KMSPREP_ACTIVATION_WAIT
# ATO, PING: what the stubs record for an activation and for a wait of N s
# (ping -n N+1 127.0.0.1: a second between echoes).
ATO="$PSARGS|ato|KMSPREP_KEYFILE="
ping_n() {
	echo "ping|-n|$(($1 + 1))|127.0.0.1|${2:-KMSPREP_KEYFILE=}|rc=0"
}

# image clone|clone-office|clone-gvlk|clone-guestfs|key|kit|kit-office with|without-powershell [RC-LINES...]: a fresh image in
# the prefix: the scripts, the hook staged, the stubs' exit codes.
image() {
	local kind=$1 ps=$2 hook
	shift 2
	rm -rf "$SYS/kmsprep" "$STUBS/calls.log" "$STUBS/rc.txt" "$GFS"
	mkdir -p "$SYS/kmsprep"
	cp "$SCRATCH/gen/clone/licensing.ps1" "$SYS/kmsprep/"
	if [ "$kind" = clone-guestfs ]; then
		mkdir -p "$GFS/scripts"
		cp "$SCRATCH/gen/$kind/"*.bat "$GFS/scripts/"
		hook=""
	elif [ "$kind" = key ]; then
		cp "$SCRATCH/gen/key/firstboot-key.cmd" "$SYS/kmsprep/"
		hook=firstboot-key.cmd
	elif [ "$kind" != kit ] && [ "$kind" != kit-office ]; then
		cp "$SCRATCH/gen/$kind/"*.cmd "$SYS/kmsprep/"
		hook=firstboot.cmd
	else
		mkdir "$SYS/kmsprep/kit"
		cp "$SCRATCH/gen/$kind/provision.cmd" "$SYS/kmsprep/kit/"
		cp "$SCRATCH/gen/kit/kit-firstboot.cmd" "$SYS/kmsprep/"
		printf '%s\r\n' "$KEY" >"$SYS/kmsprep/kit/kms-host-key.txt"
		if [ "$kind" = kit-office ]; then
			# What kit apply writes: the pack (a stub here) and
			# the Office key beside the script.
			cp "$STUBS/stub.exe" "$SYS/kmsprep/kit/office-vl-pack.exe"
			printf '%s\r\n' "$OKEY" \
				>"$SYS/kmsprep/kit/office-host-key.txt"
		fi
		hook=kit-firstboot.cmd
	fi
	if [ "$ps" = with-powershell ]; then
		cp "$STUBS/stub.exe" "$PSEXE"
	else
		rm -f "$PSEXE"
	fi
	: >"$STUBS/calls.log"
	[ $# -eq 0 ] || printf '%s\n' "$@" >"$STUBS/rc.txt"
	wine reg delete "$SPP" /v KeyManagementServiceName /f >/dev/null 2>&1 ||
		true
	if [ -z "$hook" ]; then
		wine reg add 'HKLM\SYSTEM\Setup' /v CmdLine /t REG_SZ /d "" \
			/f >/dev/null
		wine reg add 'HKLM\SYSTEM\Setup' /v SetupType /t REG_DWORD \
			/d 0 /f >/dev/null
		return 0
	fi
	wine reg add 'HKLM\SYSTEM\Setup' /v CmdLine /t REG_SZ /d \
		"cmd.exe /c \"%SystemRoot%\\kmsprep\\$hook\"" /f >/dev/null
	wine reg add 'HKLM\SYSTEM\Setup' /v SetupType /t REG_DWORD /d 2 \
		/f >/dev/null
}

# boot_guestfs: what libguestfs' firstboot service does at a boot (as its
# firstboot.bat is documented to): the first .bat of its scripts folder in
# name order, run from there; exit code 249 keeps it for the next boot,
# any other moves it to scripts-done; then a restart.
GFS="$WINEPREFIX/drive_c/Program Files/Guestfs/Firstboot"
boot_guestfs() {
	local next rc=0
	next=$(cd "$GFS/scripts" && LC_ALL=C ls | grep -i '\.bat$' | head -n 1)
	if [ -z "$next" ]; then
		echo "nothing to run" >>boots
		return 0
	fi
	echo "service runs $next" >>boots
	(cd "$GFS/scripts" && WINEPATH=$STUB_DIR wine cmd.exe /c \
		"C:\\Program Files\\Guestfs\\Firstboot\\scripts\\$next") \
		>>boots 2>&1 || rc=$?
	echo "exit $rc" >>boots
	if [ $rc -ne 249 ]; then
		mkdir -p "$GFS/scripts-done"
		mv "$GFS/scripts/$next" "$GFS/scripts-done/"
	fi
}

# setup NAME: a value of HKLM\SYSTEM\Setup as reg.exe shows it.
setup() {
	wine reg query 'HKLM\SYSTEM\Setup' /v "$1" 2>/dev/null | tr -d '\r' |
		sed -n "s/^ *$1 *REG_[A-Z_]* *//p"
}

# boot: what Winlogon does with SYSTEM\Setup: with SetupType 2, run
# CmdLine (cmd.exe /c "SCRIPT") as it is, from a directory of stubs.
boot() {
	local cmd
	if [ "$(setup SetupType)" != 0x2 ]; then
		echo "nothing to run" >>boots
		return 0
	fi
	cmd=$(setup CmdLine)
	case $cmd in
	'cmd.exe /c "'*'"') ;;
	*) echo "boot: unexpected CmdLine: $cmd" >&2; return 1 ;;
	esac
	cmd=${cmd#cmd.exe /c \"}
	echo "run ${cmd%\"}" >>boots
	(cd "$STUBS" && WINEPATH=$STUB_DIR wine cmd.exe /c "${cmd%\"}") \
		>>boots 2>&1 || echo "script exit $?" >>boots
}

# log FILE: a first-boot log, without CRs and dates.
log() {
	tr -d '\r' <"$1" | sed 's/^.* kmsprep /kmsprep /'
}

# expect_lines FILE LINE...: FILE is exactly LINES.
expect_lines() {
	local f=$1
	shift
	printf '%s\n' "$@" >want
	tr -d '\r' <"$f" >got
	expect_same want got
}

hook_cleared() {
	[ "$(setup SetupType)" = 0x0 ] && [ -z "$(setup CmdLine)" ]
}

clone_ok() {
	image clone with-powershell
	boot
	log "$SYS/kmsprep/firstboot.log" >l1
	expect_lines l1 "kmsprep first boot" \
		"stub powershell -NoProfile -NonInteractive -ExecutionPolicy Bypass -File $PS1 rearm" \
		"rearm: exit code 0" \
		"reg: The operation completed successfully" \
		"KeyManagementServiceName: exit code 0" \
		"reg: The operation completed successfully" \
		"KeyManagementServicePort: exit code 0" \
		"restarting once" \
		"stub shutdown /r /t 5 /c kmsprep: restarting after the rearm" \
		"restart: exit code 0"
	# reg.exe put the values back for real; the next hook is staged.
	wine reg query "$SPP" /v KeyManagementServiceName | tr -d '\r' >v
	expect_grep 'REG_SZ *kms.example.com$' v
	[ "$(setup SetupType)" = 0x2 ]
	[ "$(setup CmdLine)" = \
	  'cmd.exe /c "%SystemRoot%\kmsprep\firstboot-activate.cmd"' ]
	boot
	hook_cleared
	boot
	expect_lines "$STUBS/calls.log" \
		"$PSARGS|rearm|KMSPREP_KEYFILE=|rc=0" \
		"shutdown|/r|/t|5|/c|kmsprep: restarting after the rearm|KMSPREP_KEYFILE=|rc=0" \
		"$PSARGS|ato|KMSPREP_KEYFILE=|rc=0" \
		"$PSARGS|dlv|KMSPREP_KEYFILE=|rc=0"
	log "$SYS/kmsprep/firstboot.log" >l2
	expect_grep '^kmsprep after the restart: activate$' l2
	expect_grep '^activate: exit code 0$' l2
	expect_grep '^license state: exit code 0$' l2
	# The third boot ran nothing.
	[ "$(tail -n 1 boots)" = "nothing to run" ]
}

clone_failures() {
	image clone with-powershell "powershell rearm 1" \
		"powershell ato 0xC004F074" "powershell dlv 2"
	boot
	log "$SYS/kmsprep/firstboot.log" >l1
	expect_grep '^rearm: exit code 1$' l1
	# The settings go back all the same; no restart without a rearm.
	expect_grep '^KeyManagementServicePort: exit code 0$' l1
	expect_grep "^the rearm failed: this copy keeps the image's machine ID; no restart, activation at the next boot$" l1
	expect_no_grep 'shutdown' l1
	expect_grep '^script exit 1$' boots
	setup CmdLine
	[ "$(setup CmdLine)" = \
	  'cmd.exe /c "%SystemRoot%\kmsprep\firstboot-activate.cmd"' ]
	boot
	log "$SYS/kmsprep/firstboot.log" >l2
	# 0xC004F074 (no KMS host could be contacted), as cmd shows it.
	expect_grep '^activate: exit code -1073418124$' l2
	expect_grep '^license state: exit code 2$' l2
	hook_cleared
	boot
	# No KMS host ever answers: attempts after waits of 15, 30, 60, then
	# 120 s, the last cut to the scripts' bound of 600 s; nine in all,
	# each logged, then the code stays and the record follows.
	local w want=("$PSARGS|rearm|KMSPREP_KEYFILE=|rc=1")
	for w in 15 30 60 120 120 120 120 15; do
		want+=("$ATO|rc=-1073418124" "$(ping_n $w)")
	done
	want+=("$ATO|rc=-1073418124" "$PSARGS|dlv|KMSPREP_KEYFILE=|rc=2")
	expect_lines "$STUBS/calls.log" "${want[@]}"
	[ "$(grep -c '^ato: attempt' l2)" -eq 9 ]
	expect_grep '^ato: attempt 1: no KMS host could be contacted; next attempt in 15 s$' l2
	expect_grep '^ato: attempt 8: no KMS host could be contacted; next attempt in 15 s$' l2
	expect_grep '^ato: attempt 9: no KMS host could be contacted; no more attempts after 600 s, Windows keeps trying by itself$' l2
}

# The network is not up yet at the first attempts (DHCP, DNS): activation
# is tried again after 15, 30 and 60 s, and the fourth attempt's success is
# what the log and the exit code say.  slmgr.vbs's path does the same.
clone_retry() {
	image clone with-powershell "powershell ato 0xC004F074 3"
	boot
	boot
	hook_cleared
	expect_lines "$STUBS/calls.log" \
		"$PSARGS|rearm|KMSPREP_KEYFILE=|rc=0" \
		"shutdown|/r|/t|5|/c|kmsprep: restarting after the rearm|KMSPREP_KEYFILE=|rc=0" \
		"$ATO|rc=-1073418124" "$(ping_n 15)" \
		"$ATO|rc=-1073418124" "$(ping_n 30)" \
		"$ATO|rc=-1073418124" "$(ping_n 60)" \
		"$ATO|rc=0" \
		"$PSARGS|dlv|KMSPREP_KEYFILE=|rc=0"
	log "$SYS/kmsprep/firstboot.log" | sed -n '/after the restart/,$p' |
		grep -v '^stub ' >l
	expect_lines l "kmsprep after the restart: activate" \
		"ato: attempt 1: no KMS host could be contacted; next attempt in 15 s" \
		"ato: attempt 2: no KMS host could be contacted; next attempt in 30 s" \
		"ato: attempt 3: no KMS host could be contacted; next attempt in 60 s" \
		"ato: attempt 4 after 105 s of waiting: code 0" \
		"activate: exit code 0" \
		"license state: exit code 0"
	image clone without-powershell "cscript /ato 0xC004F074 2"
	boot
	boot
	expect_lines "$STUBS/calls.log" \
		"$SLMGR|/rearm|KMSPREP_KEYFILE=|rc=0" \
		"shutdown|/r|/t|5|/c|kmsprep: restarting after the rearm|KMSPREP_KEYFILE=|rc=0" \
		"$SLMGR|/ato|KMSPREP_KEYFILE=|rc=-1073418124" "$(ping_n 15)" \
		"$SLMGR|/ato|KMSPREP_KEYFILE=|rc=-1073418124" "$(ping_n 30)" \
		"$SLMGR|/ato|KMSPREP_KEYFILE=|rc=0" \
		"$SLMGR|/dlv|KMSPREP_KEYFILE=|rc=0"
	log "$SYS/kmsprep/firstboot.log" >l
	expect_grep '^activate: exit code 0$' l
}

clone_without_powershell() {
	image clone without-powershell "cscript /rearm 0" "cscript /ato 1"
	boot
	boot
	boot
	expect_lines "$STUBS/calls.log" \
		"$SLMGR|/rearm|KMSPREP_KEYFILE=|rc=0" \
		"shutdown|/r|/t|5|/c|kmsprep: restarting after the rearm|KMSPREP_KEYFILE=|rc=0" \
		"$SLMGR|/ato|KMSPREP_KEYFILE=|rc=1" \
		"$SLMGR|/dlv|KMSPREP_KEYFILE=|rc=0"
	log "$SYS/kmsprep/firstboot.log" >l
	expect_grep '^rearm: Windows PowerShell is absent, slmgr.vbs instead$' l
	expect_grep '^activate: exit code 1$' l
	hook_cleared
	[ "$(tail -n 1 boots)" = "nothing to run" ]
}

kit_ok() {
	local keyfile='C:\windows\kmsprep\kit\kms-host-key.txt'
	image kit with-powershell "net stop 2"
	boot
	[ ! -e "$SYS/kmsprep/kit/kms-host-key.txt" ]
	hook_cleared
	boot
	[ "$(tail -n 1 boots)" = "nothing to run" ]
	# The key went to PowerShell in a file named by the environment, and
	# was deleted after; it is on no command line, nor in the log.
	expect_lines "$STUBS/calls.log" \
		"$PSARGS|ipk|KMSPREP_KEYFILE=$keyfile(file)|rc=0" \
		"$PSARGS|ato|KMSPREP_KEYFILE=$keyfile|rc=0" \
		"net|stop|sppsvc|KMSPREP_KEYFILE=$keyfile|rc=2" \
		"net|start|sppsvc|KMSPREP_KEYFILE=$keyfile|rc=0" \
		"$PSARGS|dlv|KMSPREP_KEYFILE=$keyfile|rc=0"
	log "$SYS/kmsprep/kit/provision.log" >l
	expect_lines l "kmsprep kit: provisioning kms.example.com" \
		"stub powershell -NoProfile -NonInteractive -ExecutionPolicy Bypass -File $PS1 ipk" \
		"install key: exit code 0" \
		"stub powershell -NoProfile -NonInteractive -ExecutionPolicy Bypass -File $PS1 ato" \
		"activate: exit code 0" \
		"stub net stop sppsvc" \
		"stub net start sppsvc" \
		"restart sppsvc: exit code 0" \
		"stub powershell -NoProfile -NonInteractive -ExecutionPolicy Bypass -File $PS1 dlv" \
		"license state: exit code 0"
	! grep -r -q -F "$KEY" "$STUBS/calls.log" "$SYS/kmsprep" boots
}

kit_ipk_fails() {
	image kit with-powershell "powershell ipk 0xC004F050"
	boot
	# The key file goes all the same; activation is still tried.
	[ ! -e "$SYS/kmsprep/kit/kms-host-key.txt" ]
	log "$SYS/kmsprep/kit/provision.log" >l
	expect_grep '^install key: exit code -1073418160$' l
	expect_grep '^activate: exit code 0$' l
	hook_cleared
}

kit_without_powershell() {
	image kit without-powershell
	boot
	# slmgr.vbs would need the key on its command line: it stays, said.
	[ -e "$SYS/kmsprep/kit/kms-host-key.txt" ]
	log "$SYS/kmsprep/kit/provision.log" >l
	expect_grep '^Windows PowerShell is absent: the key is not installed' l
	expect_lines "$STUBS/calls.log" \
		"net|stop|sppsvc|KMSPREP_KEYFILE=C:\\windows\\kmsprep\\kit\\kms-host-key.txt(file)|rc=0" \
		"net|start|sppsvc|KMSPREP_KEYFILE=C:\\windows\\kmsprep\\kit\\kms-host-key.txt(file)|rc=0" \
		"$SLMGR|/dlv|KMSPREP_KEYFILE=C:\\windows\\kmsprep\\kit\\kms-host-key.txt(file)|rc=0"
	hook_cleared
}

t "clone: rearm, settings back, restart, activate, then nothing" clone_ok
t "clone: a failed rearm, activation and record are logged with their codes" clone_failures
t "clone: activation tried again while no KMS host answers, then succeeds" clone_retry
t "clone: slmgr.vbs where Windows PowerShell is absent" clone_without_powershell
clone_gvlk() {
	local gvlk=NPPR9-FWDCX-D2C8J-H872K-2YT43
	export STUB_ENV=KMSPREP_GVLK
	image clone-gvlk with-powershell "powershell ipk 0xC004F050"
	boot
	boot
	# The key reaches PowerShell in the environment, before the rearm;
	# its failure is logged and the rearm still runs.
	expect_lines "$STUBS/calls.log" \
		"$PSARGS|ipk|KMSPREP_GVLK=$gvlk|rc=-1073418160" \
		"$PSARGS|rearm|KMSPREP_GVLK=$gvlk|rc=0" \
		"shutdown|/r|/t|5|/c|kmsprep: restarting after the rearm|KMSPREP_GVLK=$gvlk|rc=0"
	log "$SYS/kmsprep/firstboot.log" >l
	expect_grep '^install KMS client setup key: exit code -1073418160$' l
	expect_grep '^rearm: exit code 0$' l
	hook_cleared
	[ "$(tail -n 1 boots)" = "nothing to run" ]
	# slmgr.vbs gets the key (public) on its command line, whole.
	image clone-gvlk without-powershell
	boot
	expect_lines "$STUBS/calls.log" \
		"$SLMGR|/ipk|$gvlk|KMSPREP_GVLK=$gvlk|rc=0" \
		"$SLMGR|/rearm|KMSPREP_GVLK=$gvlk|rc=0" \
		"shutdown|/r|/t|5|/c|kmsprep: restarting after the rearm|KMSPREP_GVLK=$gvlk|rc=0"
}

t "clone --gvlk: the key installed before the rearm, by WMI or slmgr.vbs" clone_gvlk
key_only() {
	local gvlk=NPPR9-FWDCX-D2C8J-H872K-2YT43
	export STUB_ENV=KMSPREP_GVLK
	# The machine's own bound on activation's retries (20 s) replaces
	# the scripts'.
	export KMSPREP_ACTIVATION_WAIT=20
	image key with-powershell "powershell ato 0xC004F074"
	boot
	hook_cleared
	boot
	# The key, then activation with the registry's settings (tried
	# again after 15 s, then after the 5 s left), then the record; no
	# rearm, no restart, and the second boot runs nothing.
	expect_lines "$STUBS/calls.log" \
		"$PSARGS|ipk|KMSPREP_GVLK=$gvlk|rc=0" \
		"$PSARGS|ato|KMSPREP_GVLK=$gvlk|rc=-1073418124" \
		"$(ping_n 15 KMSPREP_GVLK=$gvlk)" \
		"$PSARGS|ato|KMSPREP_GVLK=$gvlk|rc=-1073418124" \
		"$(ping_n 5 KMSPREP_GVLK=$gvlk)" \
		"$PSARGS|ato|KMSPREP_GVLK=$gvlk|rc=-1073418124" \
		"$PSARGS|dlv|KMSPREP_GVLK=$gvlk|rc=0"
	log "$SYS/kmsprep/firstboot.log" >l
	expect_grep '^kmsprep first boot: KMS client setup key$' l
	expect_grep '^install KMS client setup key: exit code 0$' l
	expect_grep '^ato: attempt 3: no KMS host could be contacted; no more attempts after 20 s, Windows keeps trying by itself$' l
	expect_grep '^activate: exit code -1073418124$' l
	expect_grep '^license state: exit code 0$' l
	expect_no_grep 'rearm' l
	[ "$(tail -n 1 boots)" = "nothing to run" ]
	image key without-powershell
	boot
	# What the boot printed, should it have called nothing (seen once
	# in CI under load, never here).
	[ -s "$STUBS/calls.log" ] || { tail -n 20 boots; false; }
	expect_lines "$STUBS/calls.log" \
		"$SLMGR|/ipk|$gvlk|KMSPREP_GVLK=$gvlk|rc=0" \
		"$SLMGR|/ato|KMSPREP_GVLK=$gvlk|rc=0" \
		"$SLMGR|/dlv|KMSPREP_GVLK=$gvlk|rc=0"
	hook_cleared
}

t "image set --gvlk: the key installed, then activation; no rearm" key_only
clone_guestfs() {
	# One attempt only: 0 turns activation's retries off.
	export KMSPREP_ACTIVATION_WAIT=0
	image clone-guestfs with-powershell "powershell ato 0xC004F074"
	boot_guestfs
	boot_guestfs
	boot_guestfs
	# One script per boot, the restarts are the service's; kmsprep's
	# hook is never used.
	expect_lines "$STUBS/calls.log" \
		"$PSARGS|rearm|KMSPREP_KEYFILE=|rc=0" \
		"$PSARGS|ato|KMSPREP_KEYFILE=|rc=-1073418124" \
		"$PSARGS|dlv|KMSPREP_KEYFILE=|rc=0"
	expect_lines boots "service runs 9900-0001-kmsprep-rearm.bat" \
		"exit 0" "service runs 9900-0002-kmsprep-activate.bat" \
		"exit 0" "nothing to run"
	[ "$(setup SetupType)" = 0x0 ] && [ -z "$(setup CmdLine)" ]
	log "$SYS/kmsprep/firstboot.log" >l
	expect_grep '^the firstboot service restarts Windows now$' l
	expect_grep '^activate: exit code -1073418124$' l
	# A failed rearm is 1, not 249 (which would run it at every boot).
	image clone-guestfs with-powershell "powershell rearm 0xC004D307"
	boot_guestfs
	expect_grep '^exit 1$' boots
	[ -e "$GFS/scripts-done/9900-0001-kmsprep-rearm.bat" ]
}

t "libguestfs firstboot service: rearm, then activate at the next boot" clone_guestfs
# Clone mode with an MSI Office 2013 on OSPP: Office's own rearm
# (OSPPREARM.EXE, found in the Office15 folder) after Windows', then the
# OSPP KMS host put back, then the restart.
clone_office() {
	local dir="$WINEPREFIX/drive_c/Program Files/Microsoft Office/Office15"
	mkdir -p "$dir"
	cp "$STUBS/stub.exe" "$dir/OSPPREARM.EXE"
	image clone-office with-powershell "ospprearm * 0xC004D307"
	wine reg delete 'HKLM\SOFTWARE\Microsoft\OfficeSoftwareProtectionPlatform' \
		/v KeyManagementServiceName /f >/dev/null 2>&1 || true
	boot
	boot
	boot
	expect_lines "$STUBS/calls.log" \
		"$PSARGS|rearm|KMSPREP_KEYFILE=|rc=0" \
		"ospprearm|KMSPREP_KEYFILE=|rc=-1073425657" \
		"shutdown|/r|/t|5|/c|kmsprep: restarting after the rearm|KMSPREP_KEYFILE=|rc=0" \
		"$PSARGS|ato|KMSPREP_KEYFILE=|rc=0" \
		"$PSARGS|dlv|KMSPREP_KEYFILE=|rc=0"
	log "$SYS/kmsprep/firstboot.log" >l
	# Its failure is logged; Windows' restart still follows.
	expect_grep '^rearm: exit code 0$' l
	expect_grep '^office rearm: exit code -1073425657$' l
	expect_grep '^restarting once$' l
	wine reg query 'HKLM\SOFTWARE\Microsoft\OfficeSoftwareProtectionPlatform' \
		/v KeyManagementServiceName | tr -d '\r' >v
	expect_grep 'REG_SZ *kms.example.com$' v
	hook_cleared
	# Without OSPPREARM.EXE it says so and goes on.
	rm -rf "$dir"
	image clone-office with-powershell
	boot
	log "$SYS/kmsprep/firstboot.log" >l
	expect_grep '^office rearm: no OSPPREARM.EXE found for Office 2013$' l
	expect_grep '^restarting once$' l
}

# Sysprep mode with an MSI Office 2013 on OSPP: SetupComplete.cmd (as
# image generalize --mode sysprep leaves it, tests/t2400) calls
# office-rearm.cmd first, which runs OSPPREARM.EXE and puts the OSPP KMS
# host back; the script's own line still runs after it.
sysprep_office() {
	local dir="$WINEPREFIX/drive_c/Program Files/Microsoft Office/Office15"
	mkdir -p "$dir" "$SYS/Setup/Scripts"
	cp "$STUBS/stub.exe" "$dir/OSPPREARM.EXE"
	rm -rf "$SYS/kmsprep" "$STUBS/rc.txt"
	mkdir -p "$SYS/kmsprep"
	cp "$SCRATCH/gen/sysprep-office/office-rearm.cmd" "$SYS/kmsprep/"
	printf '@echo off\r\nrem Added by kmsprep: Office'"'"'s own rearm (sysprep mode).\r\ncall "%%SystemRoot%%\\kmsprep\\office-rearm.cmd"\r\necho own>"%%SystemRoot%%\\kmsprep\\own.txt"\r\n' \
		>"$SYS/Setup/Scripts/SetupComplete.cmd"
	: >"$STUBS/calls.log"
	wine reg delete 'HKLM\SOFTWARE\Microsoft\OfficeSoftwareProtectionPlatform' \
		/v KeyManagementServiceName /f >/dev/null 2>&1 || true
	(cd "$STUBS" && WINEPATH=$STUB_DIR wine cmd.exe /c \
		'C:\windows\Setup\Scripts\SetupComplete.cmd') >>boots 2>&1
	expect_lines "$STUBS/calls.log" "ospprearm|KMSPREP_KEYFILE=|rc=0"
	log "$SYS/kmsprep/firstboot.log" >l
	expect_grep '^kmsprep setup complete: Office rearm$' l
	expect_grep '^office rearm: exit code 0$' l
	wine reg query 'HKLM\SOFTWARE\Microsoft\OfficeSoftwareProtectionPlatform' \
		/v KeyManagementServiceName | tr -d '\r' >v
	expect_grep 'REG_SZ *kms.example.com$' v
	[ -f "$SYS/kmsprep/own.txt" ]
	rm -rf "$dir" "$SYS/Setup/Scripts/SetupComplete.cmd"
}

# A kit with an Office 2016 KMS host: after the Windows key, the pack
# silently, the Office key (by WMI from its file, deleted after), then
# activation of the Office KMS host product by its Activation ID.
kit_office() {
	local keyfile='C:\windows\kmsprep\kit\kms-host-key.txt'
	local okeyfile='C:\windows\kmsprep\kit\office-host-key.txt'
	local id=98ebfe73-2084-4c97-932c-c0cd1643bea7
	export STUB_ENV=KMSPREP_KEYFILE,KMSPREP_ACTID
	# A KMS host activates online: its script tries once, whatever the
	# code (no KMSPREP_ACTIVATION_WAIT there).
	image kit-office with-powershell "powershell ato 0xC004F074"
	boot
	[ ! -e "$SYS/kmsprep/kit/kms-host-key.txt" ]
	[ ! -e "$SYS/kmsprep/kit/office-host-key.txt" ]
	hook_cleared
	expect_lines "$STUBS/calls.log" \
		"$PSARGS|ipk|KMSPREP_KEYFILE=$keyfile(file)|KMSPREP_ACTID=|rc=0" \
		"$PSARGS|ato|KMSPREP_KEYFILE=$keyfile|KMSPREP_ACTID=|rc=-1073418124" \
		"office-vl-pack|/quiet|KMSPREP_KEYFILE=$okeyfile(file)|KMSPREP_ACTID=$id|rc=0" \
		"$PSARGS|ipk|KMSPREP_KEYFILE=$okeyfile(file)|KMSPREP_ACTID=$id|rc=0" \
		"$PSARGS|ato|KMSPREP_KEYFILE=$okeyfile|KMSPREP_ACTID=$id|rc=-1073418124" \
		"net|stop|sppsvc|KMSPREP_KEYFILE=$okeyfile|KMSPREP_ACTID=|rc=0" \
		"net|start|sppsvc|KMSPREP_KEYFILE=$okeyfile|KMSPREP_ACTID=|rc=0" \
		"$PSARGS|dlv|KMSPREP_KEYFILE=$okeyfile|KMSPREP_ACTID=|rc=0"
	log "$SYS/kmsprep/kit/provision.log" >l
	expect_grep "^Office 2016 KMS host: Activation ID $id$" l
	expect_grep '^office volume license pack: exit code 0$' l
	expect_grep '^office install key: exit code 0$' l
	expect_grep '^office activate: exit code -1073418124$' l
	! grep -r -q -F -e "$KEY" -e "$OKEY" "$STUBS/calls.log" "$SYS/kmsprep" boots
	# Without PowerShell: the pack still goes in; slmgr.vbs would need
	# the key on its command line, so the key stays and the log says so.
	image kit-office without-powershell
	boot
	[ -e "$SYS/kmsprep/kit/office-host-key.txt" ]
	expect_lines "$STUBS/calls.log" \
		"office-vl-pack|/quiet|KMSPREP_KEYFILE=$okeyfile(file)|KMSPREP_ACTID=$id|rc=0" \
		"net|stop|sppsvc|KMSPREP_KEYFILE=$okeyfile(file)|KMSPREP_ACTID=|rc=0" \
		"net|start|sppsvc|KMSPREP_KEYFILE=$okeyfile(file)|KMSPREP_ACTID=|rc=0" \
		"$SLMGR|/dlv|KMSPREP_KEYFILE=$okeyfile(file)|KMSPREP_ACTID=|rc=0"
	log "$SYS/kmsprep/kit/provision.log" >l
	expect_grep '^Windows PowerShell is absent: the Office key is not installed' l
	expect_grep "slmgr.vbs /ipk and /ato $id" l
}

t "clone: Office's own rearm after Windows', OSPP settings back" clone_office
t "sysprep: SetupComplete.cmd runs Office's own rearm, then its own lines" sysprep_office
t "kit: key installed from its file, file deleted, hook cleared" kit_ok
t "kit: a failed key install is logged, the key file still goes" kit_ipk_fails
t "kit: no PowerShell, the key is kept and not put on a command line" kit_without_powershell
t "kit with Office: pack, Office key, activation by its Activation ID" kit_office
done_testing

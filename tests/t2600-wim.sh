#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# WIM files (issue 30) through the wim backend (image/wim.c,
# image/wimworker.c): show, set and generalize in every index, with
# metadata kept and checked by wimlib's own tools (wiminfo, wimdir,
# wimextract), --index, overlays, refusals (split, pipable, ESD), writes
# killed at random moments, and hostile WIMs.  Test WIMs are captured here
# from an NTFS volume file (wimcapture keeps its descriptors).
. "$(dirname "$0")/lib.sh"

PATH=$PATH:/sbin:/usr/sbin
for tool in wiminfo wimcapture wimappend wimdir wimextract wimexport \
	    wimsplit wimverify mkntfs ntfscp hivexregedit; do
	command -v $tool >/dev/null 2>&1 ||
		skip_all "no $tool (wimtools, ntfs-3g, libhivex-bin)"
done
SW=Windows/System32/config/SOFTWARE
SPP='\Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform'

# One NTFS volume with a sample Windows, captured as two indexes.
sample_hive "$SCRATCH/soft" client || exit 1
"$KMSPREP" hive new "$SCRATCH/sys" >/dev/null &&
	"$KMSPREP" hive import "$SCRATCH/sys" "$SRC_DIR/tests/data/system.reg" \
		>/dev/null || exit 1
"$TEST_TOOL" mkpe "$SCRATCH/pe" amd64 || exit 1
truncate -s 32M "$SCRATCH/vol"
mkntfs -q -F -Q "$SCRATCH/vol" >/dev/null 2>&1 || exit 1
"$TEST_TOOL" direct -p 0 "$SCRATCH/vol" mkdir Windows/System32/config \
	secret $SW "$SCRATCH/soft" put Windows/System32/cmd.exe "$SCRATCH/pe" \
	secret Windows/System32/config/SYSTEM "$SCRATCH/sys" >/dev/null || exit 1
# A named stream on the hive, as a download leaves one: it must stay.
printf '[ZoneTransfer]\r\nZoneId=3\r\n' >"$SCRATCH/zone"
ntfscp -f -N Zone.Identifier "$SCRATCH/vol" "$SCRATCH/zone" /$SW \
	>/dev/null 2>&1 || exit 1
wimcapture "$SCRATCH/vol" "$SCRATCH/two.wim" "Windows 10 Pro" \
	--flags=Professional >/dev/null 2>&1 &&
	wimappend "$SCRATCH/vol" "$SCRATCH/two.wim" "Windows 10 Enterprise" \
		--flags=Enterprise >/dev/null 2>&1 || exit 1

# The value of the KMS host in index N of WIM W, by wimlib and hivex alone.
kms_host() {
	rm -rf x && mkdir x
	wimextract "$1" "$2" /$SW --dest-dir=x >/dev/null 2>&1
	hivexregedit --export x/SOFTWARE "$SPP" 2>/dev/null |
		sed -n 's/^"KeyManagementServiceName"=//p'
}
HEX_KMS=$(printf 'kms.example.com\0' | iconv -t UTF-16LE | od -An -tx1 |
	  tr -s ' \n' ',' | sed 's/^,//; s/,$//')

# wimdir --detailed of index N without what a new content changes of file F
# (its stream's hash, sizes, place and reference count).
detailed_but() {
	wimdir "$1" "$2" --detailed | awk -v f="/$3" '
		/^Full Path/ { cur = $0; sub(/^Full Path *= "/, "", cur);
			       sub(/"$/, "", cur) }
		cur == f && /^(Hash|Uncompressed size|Compressed size|Offset in WIM|Reference Count|Flags) / { next }
		{ print }'
}

xml_lastmod() {
	wiminfo "$1" "$2" --xml | iconv -f UTF-16LE -t UTF-8 |
		sed 's/.*<LASTMODIFICATIONTIME>\(.*\)<\/LASTMODIFICATIONTIME>.*/\1/'
}

test_show() {
	kp image show "$SCRATCH/two.wim" >out
	expect_grep '^image: .*two.wim (index 1) (wim, backend wim)' out
	expect_grep 'windows: index 1 /Windows' out
	expect_grep 'windows: index 2 /Windows' out
	expect_grep 'name: Windows 10 Pro' out
	expect_grep 'name: Windows 10 Enterprise' out
	expect_grep 'wim edition: Enterprise' out
	expect_grep 'VLActivationInterval' out
	kp image show --json "$SCRATCH/two.wim" >j
	python3 - j <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
w = [x for i in d["images"] for x in i["windows"]]
assert [x["index"] for x in w] == [1, 2], w
assert w[0]["name"] == "Windows 10 Pro" and w[1]["name"] == "Windows 10 Enterprise"
assert all(i["backend"] == "wim" and i["format"] == "wim" for i in d["images"])
assert [i["index"] for i in d["images"]] == [1, 2]
assert all(i["image"].endswith("two.wim") for i in d["images"])
assert all("settings" in json.dumps(x["software"]) for x in w)
EOF
	kp image show --index 2 "$SCRATCH/two.wim" >out2
	expect_grep 'index 2' out2
	expect_no_grep 'index 1' out2
	expect_code 2 kp image show --index 0 "$SCRATCH/two.wim"
	expect_code 2 kp image show --index 3 "$SCRATCH/two.wim"
	expect_code 2 kp image show --index 1 "$SCRATCH/vol" 2>err
	expect_grep "not one" err
}
t "image show lists every index with its name, edition and settings" test_show

# Without Landlock the worker would be fenced by a chroot, in which wimlib
# cannot open the WIM by its /proc/self/fd name: refused up front, the
# environment's fault (5), saying what is needed.
test_no_landlock() {
	cp "$SCRATCH/two.wim" w.wim
	sum=$(sha256sum <w.wim)
	KMSPREP_SANDBOX_SELFTEST=1 KMSPREP_SANDBOX_NO_LANDLOCK=1 \
		expect_code 5 "$KMSPREP" image set w.wim --kms-host k 2>err
	expect_grep 'WIM files are opened only where Landlock fences their worker' err
	[ "$(sha256sum <w.wim)" = "$sum" ]
}
t "no Landlock: WIM files refused (exit 5), nothing written" test_no_landlock

# A write that fails half-way changes nothing in a WIM, whose writes
# reach it only at close, and the run does not claim any was made.
test_failed_write() {
	cp "$SCRATCH/two.wim" f.wim
	mkdir -p src/x
	wimupdate f.wim 1 --command="add src/x /Windows/kmsprep/firstboot-activate.cmd" \
		>/dev/null
	sum=$(sha256sum <f.wim)
	RC=0
	kp image generalize --mode clone f.wim >out 2>err || RC=$?
	[ "$RC" -ne 0 ] || { cat out err; false; }
	expect_no_grep 'already written' err
	expect_grep 'no image was changed' err
	[ "$(sha256sum <f.wim)" = "$sum" ]
}
t "a write that fails half-way: the WIM unchanged, and said so" test_failed_write

test_set_every() {
	cp "$SCRATCH/two.wim" w.wim
	for i in 1 2; do
		detailed_but w.wim $i $SW >before$i
		xml_lastmod w.wim $i >lm$i
	done
	wimdir w.wim 1 --detailed --path=/$SW |
		grep -A1 'Named data stream "Zone.Identifier"' >zone-before
	grep -q Hash zone-before
	wiminfo w.wim | grep -E '^(Compression|Chunk Size|Image Count|GUID)' >hdr
	sleep 1
	kp image set w.wim --kms-host kms.example.com >out
	expect_grep 'written and verified' out
	for i in 1 2; do
		[ "$(kms_host w.wim $i)" = "hex(1):$HEX_KMS" ] ||
			{ echo "index $i: $(kms_host w.wim $i)"; false; }
		detailed_but w.wim $i $SW >after$i
		expect_same before$i after$i
		xml_lastmod w.wim $i >now$i
		fails cmp -s lm$i now$i
	done
	wiminfo w.wim | grep -E '^(Compression|Chunk Size|Image Count|GUID)' >hdr2
	expect_same hdr hdr2
	wimdir w.wim 1 --detailed --path=/$SW |
		grep -A1 'Named data stream "Zone.Identifier"' >zone-after
	expect_same zone-before zone-after
	kp image show w.wim >show
	[ "$(grep -c 'KeyManagementServiceName.*kms.example.com' show)" = 2 ]
}
t "image set: every index; descriptor, attributes, times, streams kept" \
	test_set_every

test_set_index() {
	cp "$SCRATCH/two.wim" w.wim
	# The hives' blobs were shared by both indexes: only that count
	# changes there.
	wimdir w.wim 2 --detailed | grep -v '^Reference Count' >before2
	xml_lastmod w.wim 2 >lm2
	kp image set w.wim --index 1 --kms-host kms.example.com >/dev/null
	[ "$(kms_host w.wim 1)" = "hex(1):$HEX_KMS" ]
	[ -z "$(kms_host w.wim 2)" ]
	wimdir w.wim 2 --detailed | grep -v '^Reference Count' >after2
	expect_same before2 after2
	xml_lastmod w.wim 2 >now2
	expect_same lm2 now2
}
t "--index 1: index 2 and its XML data untouched" test_set_index

test_integrity() {
	wimcapture "$SCRATCH/vol" c.wim W --check >/dev/null 2>&1
	kp image set c.wim --kms-host kms.example.com >/dev/null
	wiminfo c.wim | grep -q 'Integrity info'
	wimverify c.wim >/dev/null
	kp image set c.wim --kms-host kms2.example.com --overlay co.wim \
		>/dev/null
	wiminfo co.wim | grep -q 'Integrity info'
	wimverify co.wim >/dev/null
	wimcapture "$SCRATCH/vol" x.wim W --compress=XPRESS --chunk-size=16K \
		>/dev/null 2>&1
	kp image set x.wim --kms-host kms.example.com >/dev/null
	wiminfo x.wim | grep -q 'Compression: *XPRESS'
	wiminfo x.wim | grep -q 'Chunk Size: *16384'
}
t "integrity table, compression type and chunk size kept" test_integrity

test_overlay() {
	cp "$SCRATCH/two.wim" w.wim
	cp w.wim orig.wim
	kp image set w.wim --kms-host kms.example.com --overlay new.wim >/dev/null
	expect_same orig.wim w.wim
	[ "$(kms_host new.wim 2)" = "hex(1):$HEX_KMS" ]
	[ "$(wiminfo new.wim | grep GUID)" = "$(wiminfo w.wim | grep GUID)" ]
	expect_code 4 kp image set w.wim --kms-host x --overlay new.wim 2>err
	expect_grep "name a new file, or remove it" err
	# A read-only WIM: the remedy is a new WIM, not a qcow2 overlay.
	chmod 0444 w.wim
	expect_code 4 kp image set w.wim --kms-host x 2>err
	expect_grep "cannot be written: .*give --overlay NEW.wim" err
	chmod 0644 w.wim
	# What is written is a WIM: a disk image's name for it is refused
	# (2), by a dry run too, and nothing is made.
	for out in new.qcow2 new.img new.vhdx new.vmdk new.raw new; do
		expect_code 2 kp image set w.wim --kms-host x --overlay $out \
			2>err
		expect_grep "name it .wim" err
		expect_code 2 kp image set w.wim --kms-host x --overlay $out \
			--dry-run 2>err
		[ ! -e $out ]
	done
	expect_code 2 kp image generalize w.wim --overlay g.qcow2 2>err
	expect_grep "name it .wim" err
	expect_same orig.wim w.wim
	kp image set w.wim --kms-host kms.example.com --overlay NEW2.WIM \
		>/dev/null
	[ "$(kms_host NEW2.WIM 1)" = "hex(1):$HEX_KMS" ]
}
t "--overlay writes a new WIM, the original untouched" test_overlay

test_refusals() {
	# A split WIM: a file too big for one part.
	head -c 3000000 /dev/urandom >big
	cp "$SCRATCH/vol" v2
	"$TEST_TOOL" direct -p 0 v2 put big.bin big >/dev/null 2>&1 ||
		ntfscp -f v2 big big.bin >/dev/null 2>&1
	wimcapture v2 s.wim W --compress=none >/dev/null 2>&1
	wimsplit s.wim p.swm 1 >/dev/null 2>&1
	[ -e p2.swm ]
	cp p.swm p0.swm
	expect_code 4 kp image set p.swm --kms-host x 2>err
	expect_grep 'split WIM.*wimlib-imagex join' err
	expect_same p0.swm p.swm
	wimexport "$SCRATCH/two.wim" all pipe.wim --pipable >/dev/null 2>&1
	cp pipe.wim pipe0.wim
	expect_code 4 kp image set pipe.wim --kms-host x 2>err
	expect_grep 'pipable WIM.*wimlib-imagex export' err
	expect_same pipe0.wim pipe.wim
	wimexport "$SCRATCH/two.wim" all e.esd --solid >/dev/null 2>&1
	cp e.esd e0.esd
	expect_code 4 kp image set e.esd --kms-host x 2>err
	expect_grep 'ESD.*shows but does not write' err
	expect_code 4 kp image generalize e.esd 2>err
	expect_same e0.esd e.esd
	kp image show e.esd >out
	expect_grep 'index 2' out
}
t "split, pipable and ESD WIMs refused for writing, saying what to do" \
	test_refusals

test_generalize() {
	cp "$SCRATCH/two.wim" g.wim
	wimdir g.wim 1 --detailed >before
	kp image generalize g.wim >out
	expect_grep 'Unattend.xml' out
	wimdir g.wim 1 --detailed >after
	# Every entry there before is there unchanged; new ones are added.
	diff before after | grep -v '^>' | grep -v '^[0-9]*a[0-9,]*$' >changed || :
	[ ! -s changed ] || { cat changed; false; }
	# The new file gets kmsprep's descriptor for new files, and its
	# folder the name Windows gives it.
	wimdir g.wim 1 --path=/Windows/System32 >sys32
	expect_grep '^/Windows/System32/Sysprep$' sys32
	wimdir g.wim 1 --detailed --path=/Windows/System32/Sysprep/unattend.xml \
		>new
	expect_grep 'Security Descriptor = 0100049014000000240000000000000030' new
	# Clone mode with --activate, then without: its script goes again,
	# from every index.
	kp image generalize g.wim --mode clone --activate >/dev/null
	WIMLIB_IMAGEX_IGNORE_CASE=1 wimdir g.wim 2 --path=/Windows/kmsprep >ls1
	expect_grep 'firstboot-activate.cmd' ls1
	kp image generalize g.wim --mode clone >out
	expect_grep 'remove .*firstboot-activate.cmd' out
	for i in 1 2; do
		WIMLIB_IMAGEX_IGNORE_CASE=1 wimdir g.wim $i \
			--path=/Windows/kmsprep >ls2
		expect_grep 'firstboot.cmd' ls2
		expect_no_grep 'firstboot-activate.cmd' ls2
	done
}
t "image generalize: new files with their descriptor, nothing else changed" \
	test_generalize

test_kit() {
	"$KMSPREP" hive new ssoft >/dev/null
	"$KMSPREP" hive import ssoft "$SRC_DIR/tests/data/software-server.reg" \
		>/dev/null
	cp "$SCRATCH/vol" vs
	"$TEST_TOOL" direct -p 0 vs secret $SW ssoft >/dev/null
	wimcapture vs srv.wim Server >/dev/null 2>&1
	detailed_but srv.wim 1 Windows/System32/config/SYSTEM >before
	kp kms kit build -q -o kit.tar.gz --host-name kms2.corp.example \
		>/dev/null
	kp kms kit apply kit.tar.gz srv.wim --allow-unsigned >out 2>&1
	expect_grep 'written and verified' out
	detailed_but srv.wim 1 Windows/System32/config/SYSTEM >after
	# The kit's files are added; nothing there before changed.
	diff before after | grep -v '^>' | grep -v '^[0-9]*a[0-9,]*$' \
		>changed || :
	[ ! -s changed ] || { cat changed; false; }
	expect_grep 'Full Path *= "/Windows/kmsprep/kit-firstboot.cmd"' after
	kp image show srv.wim >show
	expect_grep 'kit' show
	# A kit's key over a file that let Users read it: SYSTEM and
	# Administrators only afterwards (the Users SID, S-1-5-32-545, gone).
	cp vs vk
	"$TEST_TOOL" direct -p 0 vk mkdir Windows/kmsprep/kit \
		put Windows/kmsprep/kit/kms-host-key.txt \
		"$SCRATCH/zone" >/dev/null
	wimcapture vk key.wim Server >/dev/null 2>&1
	users=01020000000000052000000021020000
	wimdir key.wim 1 --detailed \
		--path=/Windows/kmsprep/kit/kms-host-key.txt >k0
	expect_grep "Security Descriptor = .*$users" k0
	printf 'QXR7B-9HJ3K-M4PWT-Y6D2V-CF8GN\n' >key
	kp kms kit build -q -o kk.tar.gz --host-name kms2.corp.example \
		--key-file key --allow-unsigned >/dev/null 2>&1 ||
		kp kms kit build -q -o kk.tar.gz --host-name kms2.corp.example \
			--key-file key >/dev/null
	kp kms kit apply kk.tar.gz key.wim --allow-unsigned >out 2>&1
	wimdir key.wim 1 --detailed \
		--path=/Windows/kmsprep/kit/kms-host-key.txt >k1
	expect_grep 'Security Descriptor = ' k1
	expect_no_grep "Security Descriptor = .*$users" k1
}
t "kms kit apply on a WIM: kit files added, nothing else changed" test_kit

test_plan() {
	cp "$SCRATCH/two.wim" p.wim
	cat >plan.json <<'EOF2'
{"images": [{"image": "p.wim", "index": 2, "kms-host": "two.example.com"},
	    {"image": "p.wim", "index": 1, "kms-host": "one.example.com"}]}
EOF2
	kp image batch plan.json >out
	expect_grep '^p.wim (index 2): written and verified' out
	cp "$SCRATCH/two.wim" p.wim
	kp image batch plan.json --json >j
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))["images"]
assert [(i["image"], i["index"]) for i in d] == [("p.wim", 2), ("p.wim", 1)], d' j
	kp image show p.wim >show
	expect_grep 'KeyManagementServiceName.*"one.example.com"' show
	expect_grep 'KeyManagementServiceName.*"two.example.com"' show
	cat >dup.json <<'EOF2'
{"images": [{"image": "p.wim", "kms-host": "a.example.com"},
	    {"image": "p.wim", "index": 1, "kms-host": "b.example.com"}]}
EOF2
	expect_code 2 kp image batch dup.json 2>err
	expect_grep 'the same as' err
	cat >bad.json <<'EOF2'
{"images": [{"image": "p.wim", "index": 3, "kms-host": "a.example.com"}]}
EOF2
	expect_code 2 kp image batch bad.json 2>err
	expect_grep 'no image 3' err
}
t "image batch: the plan's \"index\" chooses an image of a WIM" test_plan

# --events with WIM files (docs/scale.md): "plan" counts the plan's
# images (a WIM once, whatever the shard), "index" is the place among the
# plan's images or the IMAGE arguments, "image" the path as given, and
# "wim_index" tells one WIM's images apart.
test_events_wim() {
	wimcapture "$SCRATCH/vol" one.wim W >/dev/null 2>&1
	cp "$SCRATCH/two.wim" two.wim
	cat >plan.json <<'EOF2'
{"images": [{"image": "one.wim", "kms-host": "kms.example.com"},
	    {"image": "two.wim", "kms-host": "kms.example.com"}]}
EOF2
	kp image batch plan.json --events jsonl >ev
	kp image batch plan.json --events jsonl --shard 1/2 >ev1
	kp image set one.wim two.wim --kms-host kms2.example.com \
		--events jsonl >ev2
	python3 - ev ev1 ev2 <<'EOF2'
import json, sys
def lines(f):
	return [json.loads(l) for l in open(f)]
def who(ev, name):
	return [(e["index"], e["image"], e.get("wim_index"))
		for e in ev if e["event"] == name]
full, shard, set_ = map(lines, sys.argv[1:])
for ev, sel in ((full, 2), (shard, 1), (set_, 2)):
	p = ev[0]
	assert p["event"] == "plan" and p["images"] == 2, p
	assert p["selected"] == sel, p
want = [(0, "one.wim", 1), (1, "two.wim", 1), (1, "two.wim", 2)]
for ev in (full, set_):
	assert who(ev, "started") == want, who(ev, "started")
	assert sorted(who(ev, "finished")) == want, who(ev, "finished")
assert who(shard, "started") == want[1:], who(shard, "started")
EOF2
}
t "--events with WIM files: plan counts, index, image and wim_index" \
	test_events_wim

# An index without Windows (a data image appended): passed over with a
# note naming it when no index was named; an error (3) naming the index
# when one was, or naming the file when no index holds Windows.
test_no_windows_index() {
	mkdir -p data/Data
	echo hello >data/Data/readme.txt
	cp "$SCRATCH/two.wim" mixed.wim
	wimappend data mixed.wim "Just data" >/dev/null 2>&1
	wimcapture data none.wim D1 >/dev/null 2>&1
	wimappend data none.wim D2 >/dev/null 2>&1
	cp mixed.wim m.wim
	kp image set m.wim --kms-host kms.example.com >out
	expect_grep '^m.wim (index 3, Just data): no Windows in this image; passed over$' out
	expect_grep '^m.wim (index 2): written and verified' out
	[ "$(kms_host m.wim 1)" = "hex(1):$HEX_KMS" ]
	cp mixed.wim m.wim
	kp image set m.wim --kms-host kms.example.com --json >j
	python3 - j <<'EOF2'
import json, sys
d = json.load(open(sys.argv[1]))["images"]
assert [(i["index"], i["passed_over"], i["written"]) for i in d] == \
	[(1, False, True), (2, False, True), (3, True, False)], d
assert "Just data" in d[2]["notes"][0], d[2]
EOF2
	cp mixed.wim m.wim
	kp image set m.wim --kms-host kms.example.com --events jsonl >ev
	python3 - ev <<'EOF2'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
p = [e for e in ev if e["event"] == "passed"]
assert len(p) == 1 and "index 3" in p[0]["reason"], p
f = [e["result"] for e in ev if e["event"] == "finished"]
assert sorted(f) == ["passed over", "written", "written"], f
assert ev[-1]["event"] == "done" and ev[-1]["passed_over"] == 1, ev[-1]
EOF2
	cp mixed.wim m.wim
	kp image generalize m.wim >out
	expect_grep 'index 3, Just data): no Windows in this image; passed over' out
	cp mixed.wim m.wim
	cat >plan.json <<'EOF2'
{"images": [{"image": "m.wim", "kms-host": "kms.example.com"}]}
EOF2
	kp image batch plan.json >out
	expect_grep 'index 3, Just data): no Windows in this image; passed over' out
	kp image show m.wim >show
	expect_grep '^  no Windows in this image; passed over$' show
	expect_grep '^  name: Just data$' show
	kp image show --json m.wim >j
	python3 - j <<'EOF2'
import json, sys
d = json.load(open(sys.argv[1]))["images"]
assert [(i["index"], i.get("passed_over", False), len(i["windows"]))
	for i in d] == [(1, False, 1), (2, False, 1), (3, True, 0)], d
assert d[2]["name"] == "Just data", d[2]
EOF2
	# Named: an error, naming the index; nothing written.
	cp mixed.wim m.wim
	expect_code 3 kp image set m.wim --index 3 --kms-host x 2>err
	expect_grep "'m.wim': index 3 (Just data): no Windows in this image" err
	expect_same mixed.wim m.wim
	expect_code 3 kp image show m.wim --index 3 >/dev/null 2>err
	expect_grep "'m.wim': index 3: no Windows in this image" err
	cat >plan3.json <<'EOF2'
{"images": [{"image": "m.wim", "index": 3, "kms-host": "kms.example.com"}]}
EOF2
	expect_code 3 kp image batch plan3.json 2>err
	expect_grep "index 3 (Just data): no Windows in this image" err
	# No index with Windows: an error naming the file.
	cp none.wim n.wim
	expect_code 3 kp image set n.wim --kms-host x 2>err
	expect_grep "'n.wim': no Windows in any of its images" err
	expect_same none.wim n.wim
	expect_code 3 kp image show n.wim >/dev/null 2>err
	expect_grep "'n.wim': no Windows in any of its images" err
}
t "an index without Windows: passed over unless named; none at all: 3" \
	test_no_windows_index

# Kill kmsprep and its workers at random moments of the write: the WIM
# must still open and show the old value or the new one.
test_kills() {
	local i delay v ok=0
	# About 8 MB of filler keys (as make-sample-image's
	# SAMPLE_SOFTWARE_MB), so that the write takes a while.
	"$TEST_TOOL" mkhive big-soft 1000 22 2 40 >/dev/null
	"$KMSPREP" hive import big-soft "$SRC_DIR/tests/data/software-client.reg" \
		>/dev/null
	cp "$SCRATCH/vol" v3
	"$TEST_TOOL" direct -p 0 v3 secret $SW big-soft >/dev/null
	wimcapture v3 base.wim W >/dev/null 2>&1
	wimappend v3 base.wim W2 >/dev/null 2>&1
	for i in 1 2 3 4 5 6 7 8; do
		cp base.wim k.wim
		delay=$(awk -v s=$i 'BEGIN { srand(s * 7919); printf "%.2f", 0.2 + rand() }')
		# Its scratch directory in here: SIGKILL leaves it behind.
		TMPDIR=$PWD setsid "$KMSPREP" image set k.wim \
			--kms-host kms.example.com >/dev/null 2>&1 &
		sleep "$delay"
		kill -9 -- -$! 2>/dev/null || :
		wait $! 2>/dev/null || :
		wiminfo k.wim >/dev/null
		wimdir k.wim 1 >/dev/null
		v=$(kms_host k.wim 1)
		case $v in
		"") ;;
		"hex(1):$HEX_KMS") ok=$((ok + 1)) ;;
		*) echo "index 1 holds '$v'"; false ;;
		esac
	done
	echo "# $ok of 8 finished before the kill"
	# What a killed write left is written over by the next one.
	kp image set k.wim --kms-host kms.example.com >/dev/null
	[ "$(kms_host k.wim 2)" = "hex(1):$HEX_KMS" ]
}
t "a write killed at random moments leaves the old WIM or the new" test_kills

# A disk that fills up during the append: the write fails, and wimlib
# cuts the WIM back (its worker may truncate what it writes): the file
# byte for byte as it was.
test_full() {
	[ "$(id -u)" -eq 0 ] || skip "not root: cannot mount a tmpfs"
	"$TEST_TOOL" mkhive big-soft 1000 22 2 40 >/dev/null
	"$KMSPREP" hive import big-soft "$SRC_DIR/tests/data/software-client.reg" \
		>/dev/null
	cp "$SCRATCH/vol" v4
	"$TEST_TOOL" direct -p 0 v4 secret $SW big-soft >/dev/null
	wimcapture v4 f.wim W >/dev/null 2>&1
	mkdir full
	mount -t tmpfs -o size=$(( ($(stat -c %s f.wim) / 4096 + 16) * 4 ))k \
		tmpfs full || skip "cannot mount a tmpfs here"
	cp f.wim full/f.wim
	rc=0
	kp image set full/f.wim --kms-host kms.example.com >/dev/null 2>err ||
		rc=$?
	cmp -s f.wim full/f.wim || { umount full; echo "the WIM changed"
				      false; }
	umount full
	[ $rc -eq 1 ] || { echo "exit $rc"; cat err; false; }
	expect_grep 'Failed to write' err
}
t "a full disk during the write: the WIM byte for byte as it was" test_full

# Hostile WIMs: nothing written, a clean error (exit 3): bad offsets,
# huge sizes, a truncated file, garbage, sizes that lie, a loop in the
# directory tree.
test_hostile() {
	cp "$SCRATCH/two.wim" h.wim
	sz=$(stat -c %s h.wim)
	# The lookup table's offset past the end.
	cp h.wim bad1.wim
	printf '\xff\xff\xff\x7f' | dd of=bad1.wim bs=1 seek=56 conv=notrunc status=none
	# Huge XML data.
	cp h.wim bad2.wim
	printf '\xff\xff\xff\xff\xff\x00\x00' | dd of=bad2.wim bs=1 seek=72 conv=notrunc status=none
	# 100000 images.
	cp h.wim bad3.wim
	printf '\xa0\x86\x01\x00' | dd of=bad3.wim bs=1 seek=44 conv=notrunc status=none
	# Truncated.
	head -c $((sz / 2)) h.wim >bad4.wim
	# A corrupted metadata resource (garbage inside the file's body).
	cp h.wim bad5.wim
	head -c 2000 /dev/urandom | dd of=bad5.wim bs=1 seek=300 conv=notrunc status=none
	for f in bad1 bad2 bad3 bad4; do
		cp $f.wim $f.orig
		expect_code 3 kp image set $f.wim --kms-host x 2>err
		expect_grep 'not a valid wim image' err
		expect_same $f.orig $f.wim
	done
	# The lookup table lies: a metadata resource of 1 TiB, a hive of
	# 128 GiB (a compression bomb, as far as the sizes go).
	python3 - h.wim <<'EOF2'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
size = struct.unpack("<Q", d[48:56])[0] & (2**56 - 1)
off = struct.unpack("<Q", d[56:64])[0]
meta = big = False
for i in range(size // 50):
    e = off + i * 50
    orig = struct.unpack("<Q", d[e + 16:e + 24])[0]
    if d[e + 7] & 2 and not meta:
        m = bytearray(d)
        m[e + 16:e + 24] = struct.pack("<Q", 1 << 40)
        open("bad6.wim", "wb").write(m)
        meta = True
    elif orig == 16384 and not big:
        m = bytearray(d)
        m[e + 16:e + 24] = struct.pack("<Q", 1 << 37)
        open("bad7.wim", "wb").write(m)
        big = True
assert meta and big
EOF2
	# Under AddressSanitizer the worker has no address-space limit
	# (lib/sandbox.h, SB_ASAN): a huge allocation must fail there as it
	# fails under the limit, not end the run as a report.
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1
	for f in bad6 bad7; do
		cp $f.wim $f.orig
		expect_code 3 kp image set $f.wim --kms-host x 2>err
		expect_no_grep 'forbidden system call\|killed\|signal' err
		expect_same $f.orig $f.wim
	done
	# A loop in the metadata: a directory whose children are the root's
	# (an uncompressed WIM, the metadata's SHA-1 made to match).
	wimcapture "$SCRATCH/vol" u.wim W --compress=none >/dev/null 2>&1
	python3 - u.wim bad8.wim <<'EOF2'
import hashlib, struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
size = struct.unpack("<Q", d[48:56])[0] & (2**56 - 1)
off = struct.unpack("<Q", d[56:64])[0]
for i in range(size // 50):
    e = off + i * 50
    if d[e + 7] & 2:
        break
msz = struct.unpack("<Q", d[e:e + 8])[0] & (2**56 - 1)
m = struct.unpack("<Q", d[e + 8:e + 16])[0]
root = m + ((struct.unpack("<I", d[m:m + 4])[0] + 7) & ~7)
sub = struct.unpack("<Q", d[root + 16:root + 24])[0]
assert struct.unpack("<I", d[m + sub + 8:m + sub + 12])[0] & 0x10
d[m + sub + 16:m + sub + 24] = struct.pack("<Q", sub)
d[e + 30:e + 50] = hashlib.sha1(bytes(d[m:m + msz])).digest()
open(sys.argv[2], "wb").write(d)
EOF2
	cp bad8.wim bad8.orig
	expect_code 3 kp image set bad8.wim --kms-host x 2>err
	expect_grep 'metadata resource is invalid' err
	expect_same bad8.orig bad8.wim
	cp bad5.wim bad5.orig
	rc=0
	kp image set bad5.wim --kms-host x >/dev/null 2>err || rc=$?
	[ $rc -ne 0 ] || { cat err; false; }
	expect_no_grep 'forbidden system call' err
	expect_same bad5.orig bad5.wim
}
t "hostile WIMs fail cleanly, nothing written" test_hostile

done_testing

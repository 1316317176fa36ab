#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# image batch PLAN (docs/scale.md) on the direct backend, with small sample
# images made without the appliance (tests/helper/mkimage-direct): plans
# validated whole, one bad image refusing all, shards that do each image
# exactly once, reruns with no change, and the JSON lines of --events.
. "$(dirname "$0")/lib.sh"

PATH=$PATH:/sbin:/usr/sbin
for tool in sfdisk mkntfs python3; do
	command -v $tool >/dev/null 2>&1 || skip_all "no $tool"
done
MK=$SRC_DIR/tests/helper/mkimage-direct
SW=Windows/System32/config/SOFTWARE

sample_hive "$SCRATCH/soft" client || exit 1
"$KMSPREP" hive new "$SCRATCH/sys" >/dev/null &&
	"$KMSPREP" hive import "$SCRATCH/sys" "$SRC_DIR/tests/data/system.reg" \
		>/dev/null || exit 1
MKIMAGE_SYSTEM=$SCRATCH/sys "$MK" "$SCRATCH/mbr.img" mbr "$SCRATCH/soft" 16 ||
	exit 1

# images N: N copies of the sample, i0.img ... i(N-1).img.
images() {
	local k
	for ((k = 0; k < $1; k++)); do
		cp --sparse=always "$SCRATCH/mbr.img" i$k.img
	done
}

# plan12: 12 images, each with a KMS host of its own (kms-K.example), one
# with a DNS search list too.
plan12() {
	python3 - <<'PY' >plan.json
import json
imgs = [{"image": "i%d.img" % k, "kms-host": "kms-%d.example" % k}
        for k in range(12)]
imgs[5]["dns-search-list"] = ["a.example", "b.example"]
print(json.dumps({"defaults": {"activation-interval": 60},
                  "images": imgs}))
PY
}

shards() {
	images 12
	plan12
	sha256sum i*.img >before
	# -j 4: images prepared at once, each with its own entry's plan.
	for s in 0 1 2; do
		kp image batch -q --backend direct -j 4 --shard $s/3 \
			plan.json >out$s
	done
	# Each image written exactly once, by the shard its index names.
	cat out0 out1 out2 | grep -c 'written and verified' >n
	[ "$(cat n)" = 12 ]
	for k in $(seq 0 11); do
		[ "$(grep -l "^i$k.img: written and verified" out0 out1 out2)" = \
			"out$((k % 3))" ]
	done
	# Read back independently: image K holds kms-K.example.
	"$TEST_TOOL" direct -r i5.img read $SW sw5
	kp hive show --json sw5 >h5
	expect_grep '"kms-5.example"' h5
	for k in $(seq 0 11); do
		"$TEST_TOOL" direct -r i$k.img read $SW sw
		kp hive show sw >h
		expect_grep "kms-$k.example" h
	done
	# Rerun every shard: no change, not one byte written.
	sha256sum i*.img >after
	for s in 0 1 2; do
		kp image batch -q --backend direct --shard $s/3 plan.json \
			>again$s
		expect_no_grep 'written' again$s
		[ "$(grep -c ': no change$' again$s)" = 4 ]
	done
	sha256sum -c --quiet after
	! cmp -s before after
}
t "a 12-image plan as 3 shards: each image done once, reruns change nothing" shards

indexed_job() {
	images 12
	plan12
	for s in 0 1 2 3; do
		JOB_COMPLETION_INDEX=$s kp image batch -q --backend direct \
			--shards-from-env 4 plan.json >out$s
	done
	[ "$(cat out? | grep -c 'written and verified')" = 12 ]
	grep '^i3.img: written' out3
	grep '^i7.img: written' out3
	# A shard with no image (more shards than images) is no error.
	kp image batch -q --backend direct --shard 20/40 plan.json >none
	[ ! -s none ]
}
t "--shards-from-env: JOB_COMPLETION_INDEX picks the shard" indexed_job

bad_image_refuses_all() {
	images 4
	{ printf HIBR; head -c 8188 /dev/zero; } >hib
	"$TEST_TOOL" direct i2.img put hiberfil.sys hib
	cat >plan.json <<-'J'
	{"defaults": {"kms-host": "kms.example.com"},
	 "images": [{"image": "i0.img"}, {"image": "i1.img"},
	            {"image": "i2.img"}, {"image": "i3.img",
	             "kms-host": "other.example"}]}
	J
	sha256sum i*.img >sums
	expect_code 4 kp image batch -q --backend direct plan.json 2>err
	expect_grep "'i2.img': /dev/sdc1: Windows is hibernated" err
	expect_grep 'no image was changed' err
	sha256sum -c --quiet sums
	# With --events: refused, and the others skipped, nothing written.
	expect_code 4 kp image batch -q --backend direct --events jsonl \
		plan.json >ev 2>/dev/null
	python3 - <<'PY'
import json
ev = [json.loads(l) for l in open("ev")]
assert all(e["v"] == 1 for e in ev), ev
fin = {e["index"]: e["result"] for e in ev if e["event"] == "finished"}
assert fin[2] == "refused", fin
assert sorted(fin) == [0, 1, 2, 3], fin
assert not any(e["event"] in ("wrote", "written") for e in ev), ev
assert ev[-1]["event"] == "done" and ev[-1]["exit"] == 4, ev[-1]
PY
	sha256sum -c --quiet sums
}
t "one hibernated image in a plan refuses all; nothing written" bad_image_refuses_all

# A lookup domain beside a KMS host has no effect in Windows: image set
# and each plan entry warn, naming the host Windows asks (hive set's
# warning is t1200's).
lookup_with_host() {
	images 2
	kp image set -q --backend direct i0.img --kms-host kms.a.example \
		--lookup-domain corp.example >out 2>err
	expect_grep "lookup domain 'corp.example' .* has no effect while a KMS host is set: Windows asks 'kms.a.example' only" err
	printf '%s\n' '{"images": [{"image": "i1.img", "kms-host": "kms.b.example",' \
		'"lookup-domain": "corp.example"}]}' >plan.json
	kp image batch -q --backend direct plan.json >out 2>err
	expect_grep "has no effect while a KMS host is set: Windows asks 'kms.b.example' only" err
}
t "a lookup domain with a KMS host: image set and plans warn" lookup_with_host

bad_plans() {
	images 2
	sha256sum i*.img >sums
	# Each refused before any image is opened, naming the JSON path.
	printf '%s\n' '{"images": [{"image": "i0.img", "kms-host": "k"},' \
		'{"image": "i1.img", "kms-host": "bad host!"}]}' >p1
	expect_code 2 kp image batch --backend direct p1 2>err
	expect_grep "images\[1\]\.kms-host: 'bad host!': not a valid host name" err
	echo '{"images": [{"image": "i0.img", "kms_host": "k"}]}' >p2
	expect_code 2 kp image batch p2 2>err
	expect_grep "images\[0\]: 'kms_host': unknown key (did you mean 'kms-host'?)" err
	echo '{"defaults": {"kms-host": 5}, "images": [{"image": "i0.img"}]}' >p3
	expect_code 2 kp image batch p3 2>err
	expect_grep "defaults.kms-host" err
	echo '{"images": [{"image": "i0.img", "kms-host": "k"}, {"image": "i0.img", "kms-host": "j"}]}' >p4
	expect_code 2 kp image batch p4 2>err
	expect_grep "images\[1\].image: the same as images\[0\]" err
	echo '{"images": [{"image": "i0.img"}]}' >p5
	expect_code 2 kp image batch p5 2>err
	expect_grep "images\[0\]: no setting given" err
	echo '{"images": [{"image": "i0.img", "generalize": {"mode": "clone"}, "kms-host": "k"}]}' >p6
	expect_code 2 kp image batch p6 2>err
	expect_grep "images\[0\]: generalize goes in a plan of its own" err
	echo '{"images": [' >p7
	expect_code 3 kp image batch p7 2>err
	expect_grep "plan 'p7': line" err
	echo '{"images": [], "extra": 1}' >p8
	expect_code 2 kp image batch p8 2>err
	# Shards and --events: bad values are usage errors.
	echo '{"images": [{"image": "i0.img", "kms-host": "k"}]}' >ok
	expect_code 2 kp image batch --shard 3/3 ok 2>err
	expect_code 2 kp image batch --shard 1 ok 2>err
	expect_code 2 kp image batch --shard 0/0 ok 2>err
	expect_code 2 kp image batch --shard 0/2 --shards-from-env 2 ok 2>err
	expect_code 2 env -u JOB_COMPLETION_INDEX "$KMSPREP" image batch \
		--shards-from-env 2 ok 2>err
	expect_grep 'JOB_COMPLETION_INDEX is not set' err
	JOB_COMPLETION_INDEX=2 expect_code 2 kp image batch \
		--shards-from-env 2 ok 2>err
	expect_code 2 kp image batch --events xml ok 2>err
	expect_code 2 kp image batch --events jsonl --json ok 2>err
	sha256sum -c --quiet sums
}
t "bad plans and shard values: refused before any image is opened" bad_plans

events_and_per_image() {
	images 3
	cat >plan.json <<-'J'
	{"defaults": {"kms-host": "kms.example.com"},
	 "images": [{"image": "i0.img"},
	            {"image": "i1.img", "kms-host": "kms2.example.com:1700"},
	            {"image": "i2.img", "kms-host": null,
	             "generalize": {"mode": "clone"}}]}
	J
	kp image batch -q --backend direct --events jsonl -j1 plan.json >ev
	python3 - <<'PY'
import json
ev = [json.loads(l) for l in open("ev")]
names = [e["event"] for e in ev]
assert names[0] == "plan" and ev[0]["images"] == 3, ev[0]
assert names[1] == "backend" and ev[1]["backend"] == "direct", ev[1]
assert names[-1] == "done" and ev[-1]["exit"] == 0 and ev[-1]["written"] == 3
for i in range(3):
    mine = [e["event"] for e in ev if e.get("index") == i]
    for want in ("started", "chosen", "change", "wrote", "written",
                 "finished"):
        assert want in mine, (i, want, mine)
    assert mine.index("started") < mine.index("change") < \
        mine.index("written") < mine.index("finished"), mine
ch = [e for e in ev if e["event"] == "change" and e["index"] == 1]
assert any(c.get("name") == "KeyManagementServicePort" and
           c["after"]["value"] == "1700" for c in ch), ch
fin = [e for e in ev if e["event"] == "finished"]
assert all(e["result"] == "written" and e["seconds"] >= 0 for e in fin)
PY
	# Rerun: every image "no change", nothing written.
	sha256sum i*.img >sums
	kp image batch -q --backend direct --events jsonl plan.json >ev2
	python3 - <<'PY'
import json
ev = [json.loads(l) for l in open("ev2")]
fin = [e["result"] for e in ev if e["event"] == "finished"]
assert fin == ["no change"] * 3, fin
assert ev[-1]["unchanged"] == 3 and ev[-1]["written"] == 0, ev[-1]
PY
	sha256sum -c --quiet sums
	# A plan from standard input, as text.
	kp image batch -q --backend direct - <plan.json >out
	[ "$(grep -c ': no change$' out)" = 3 ]
	kp image show -q --backend direct i2.img >show
	expect_grep 'first boot: kmsprep script staged' show
	# image set speaks the same lines; the index is the argument's.
	kp image set -q --backend direct --events jsonl i1.img i0.img \
		--kms-host kms3.example.com >ev3
	python3 - <<'PY'
import json
ev = [json.loads(l) for l in open("ev3")]
fin = {e["image"]: (e["index"], e["result"]) for e in ev
       if e["event"] == "finished"}
assert fin == {"i1.img": (0, "written"), "i0.img": (1, "written")}, fin
assert ev[0]["event"] == "plan" and ev[0]["shard"] is None, ev[0]
PY
	expect_code 2 kp image set --events jsonl --json i0.img --kms-host k \
		2>err
	# An image that cannot be opened: the reason is a line too, and a
	# name that is not UTF-8 does not drop it.
	expect_code 3 kp image set --backend direct --events jsonl i0.img \
		$'gone\xff.img' --kms-host k >ev4 2>err
	python3 - <<'PY'
import json
ev = [json.loads(l) for l in open("ev4")]
err = [e for e in ev if e["event"] == "error"]
assert len(err) == 1 and "gone\\xff.img': cannot open" in err[0]["reason"], ev
assert ev[-1]["event"] == "done" and ev[-1]["exit"] == 3, ev[-1]
PY
}
t "--events jsonl: each image's events in order; per-image settings; rerun no change" events_and_per_image

kit_entries() {
	images 2
	kp kms kit build -q -o kit.tar.gz --host-name kms1.corp.example
	cat >plan.json <<-'J'
	{"images": [{"image": "i0.img", "kit": "kit.tar.gz"},
	            {"image": "i1.img", "kms-host": "kms1.corp.example"}]}
	J
	# An unsigned kit is taken only knowingly, and nothing is written.
	sha256sum i*.img >sums
	expect_code 4 kp image batch -q --backend direct plan.json 2>err
	expect_grep 'not signed.*--allow-unsigned' err
	sha256sum -c --quiet sums
	kp image batch -q --backend direct --allow-unsigned plan.json >out
	expect_grep '^i0.img: create %WINDIR%\\kmsprep\\kit\\provision.cmd' out
	expect_grep '^i0.img: written and verified' out
	expect_grep '^i1.img: written and verified' out
	sha256sum i*.img >sums
	kp image batch -q --backend direct --allow-unsigned plan.json >again
	[ "$(grep -c ': no change$' again)" = 2 ]
	sha256sum -c --quiet sums
	# A missing kit, or a kit beside settings: refused before opening.
	echo '{"images": [{"image": "i0.img", "kit": "none.tar.gz"}]}' >p1
	expect_code 3 kp image batch --backend direct p1 2>err
	expect_grep "images\[0\].kit: 'none.tar.gz'" err
	echo '{"images": [{"image": "i0.img", "kit": "kit.tar.gz", "kms-host": "k"}]}' >p2
	expect_code 2 kp image batch --backend direct p2 2>err
	expect_grep "images\[0\]: kit goes in a plan of its own" err
}
t "kit entries: a host kit applied by a plan, rerun no change" kit_entries

# serve PIDFILE QEMU-NBD-ARGS...: a qemu-nbd of this test in the
# background (--fork returns once it listens), stopped when the test ends.
serve() {
	local pidfile=$1
	shift
	qemu-nbd --fork --persistent --pid-file "$PWD/$pidfile" "$@"
}

stop_servers() {
	local f
	for f in "$PWD"/*.pid; do
		[ -e "$f" ] || continue
		kill "$(cat "$f")" 2>/dev/null || true
		rm -f "$f"
	done
	sleep 0.2
	return 0
}

nbd_unix() {
	command -v qemu-nbd >/dev/null || skip "no qemu-nbd"
	images 2
	trap stop_servers EXIT
	serve u.pid -f raw -k "$PWD/s.sock" i0.img
	uri="nbd+unix:///?socket=$PWD/s.sock"
	kp image show -q --backend direct "$uri" >show
	expect_grep "^image: $uri (raw, backend direct)" show
	# A plan with a remote drive beside a local file.
	printf '{"images": [{"image": "%s", "kms-host": "kms.nbd.example"},
	  {"image": "i1.img", "kms-host": "kms.file.example"}]}\n' "$uri" >plan
	kp image batch -q --backend direct plan >out
	expect_grep "^$uri: written and verified" out
	kp image batch -q --backend auto plan >again
	expect_grep "^$uri: no change" again
	stop_servers
	# Read back from the file the server served, without it.
	"$TEST_TOOL" direct -r i0.img read $SW sw
	kp hive show sw >h
	expect_grep 'kms.nbd.example' h
	# A read-only export: shown, but not written.
	serve r.pid -r -f raw -k "$PWD/r.sock" i1.img
	uri="nbd+unix:///?socket=$PWD/r.sock"
	kp image show -q --backend direct "$uri" >/dev/null
	expect_code 3 kp image set -q --backend direct "$uri" --kms-host k \
		2>err
	expect_grep 'read-only' err
	# Nor planned: a dry run is refused as the write would be, and
	# neither refusal offers one.
	expect_code 3 kp image set -q --backend direct --dry-run "$uri" \
		--kms-host k 2>err2
	expect_grep 'serve it writable' err2
	expect_no_grep 'dry-run' err
	expect_no_grep 'dry-run' err2
	expect_code 2 kp image set -q --backend direct --format qcow2 "$uri" \
		--kms-host k 2>err
	expect_grep 'no image format but raw, and no overlay' err
}
t "nbd+unix:// drives: a plan writes through qemu-nbd, read back; read-only export refused" nbd_unix

nbd_tcp() {
	command -v qemu-nbd >/dev/null || skip "no qemu-nbd"
	command -v qemu-img >/dev/null || skip "no qemu-img"
	qemu-img convert -O qcow2 "$SCRATCH/mbr.img" d.qcow2
	trap stop_servers EXIT
	# A free high port: a few tries, as another test may hold one.
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		serve t.pid -f qcow2 -b 127.0.0.1 -p $port d.qcow2 2>/dev/null &&
			break
		port=
	done
	[ -n "$port" ] || skip "no free port for qemu-nbd"
	kp image set -q --backend direct "nbd://127.0.0.1:$port" \
		--kms-host kms.tcp.example >out
	expect_grep 'written and verified' out
	kp image show -q --json --backend direct "nbd://127.0.0.1:$port" >j
	expect_grep '"kms.tcp.example"' j
	stop_servers
	# The qcow2 file holds it: qemu-nbd wrote through its format.
	"$TEST_TOOL" direct -r d.qcow2 read $SW sw
	kp hive show sw >h
	expect_grep 'kms.tcp.example' h
	# The server gone: the environment's fault, worth a retry.
	expect_code 5 kp image show -q --backend direct \
		"nbd://127.0.0.1:$port" 2>err
	expect_grep 'cannot connect' err
}
t "nbd:// over TCP on 127.0.0.1: a qcow2 served by qemu-nbd, written and read back" nbd_tcp

done_testing

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# kms records, publish and discover against a real BIND 9 on 127.0.0.1: a
# zone that takes updates only with a TSIG key, TCP listeners opened here.
. "$(dirname "$0")/lib.sh"

command -v named >/dev/null || skip_all "BIND 9 (named) not installed"
command -v dig >/dev/null || skip_all "dig not installed"

# free_port: a TCP and UDP port on 127.0.0.1 nobody uses right now.
free_port() {
	python3 - <<'EOF'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p); break
EOF
}

NS=$SCRATCH/named
mkdir -p "$NS"
tsig-keygen -a hmac-sha256 kmsprep-test >"$NS/good.key"
# Same name, another secret: the server must answer BADSIG.
tsig-keygen -a hmac-sha256 kmsprep-test >"$NS/wrong.key"
tsig-keygen -a hmac-sha256 stranger >"$NS/stranger.key"
SECRET=$(sed -n 's/.*secret "\(.*\)";/\1/p' "$NS/good.key")
PORT=$(free_port)
SRV=127.0.0.1:$PORT
Q="dig @127.0.0.1 -p $PORT +short +norecurse"

cat >"$NS/example.test.zone" <<'EOF'
$TTL 300
@	IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300
@	IN NS ns.example.test.
ns	IN A 127.0.0.1
kms1	IN A 127.0.0.1
kms2	IN A 127.0.0.1
kms3	IN A 127.0.0.1
kms4	IN A 127.0.0.1
noaddr	IN TXT "a name without an address"
EOF
# A hidden primary: it answers only signed queries.
cat >"$NS/hidden.test.zone" <<'EOF'
$TTL 300
@	IN SOA ns.hidden.test. admin.hidden.test. 1 3600 600 86400 300
@	IN NS ns.hidden.test.
ns	IN A 127.0.0.1
EOF
cat >"$NS/named.conf" <<EOF
include "$NS/good.key";
options {
	directory "$NS";
	pid-file "$NS/named.pid";
	listen-on port $PORT { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
};
controls { };
zone "example.test" {
	type primary;
	file "$NS/example.test.zone";
	allow-update { key "kmsprep-test"; };
};
zone "hidden.test" {
	type primary;
	file "$NS/hidden.test.zone";
	allow-query { key "kmsprep-test"; };
	allow-update { key "kmsprep-test"; };
};
EOF
named -c "$NS/named.conf" -g -n 1 >"$NS/named.log" 2>&1 &
NAMED=$!
LISTENERS=""
trap 'kill $NAMED $LISTENERS 2>/dev/null; wait 2>/dev/null; cd /; rm -rf "$SCRATCH"' EXIT
for _ in $(seq 100); do
	[ -n "$($Q ns.example.test A 2>/dev/null)" ] && break
	kill -0 $NAMED 2>/dev/null || break
	sleep 0.1
done
if [ -z "$($Q ns.example.test A 2>/dev/null)" ]; then
	sed 's/^/# /' "$NS/named.log"
	skip_all "named did not start"
fi

srv_now() {
	$Q _vlmcs._tcp."$1" SRV | sort
}
serial() {
	$Q example.test SOA | awk '{print $3}'
}

# listen PORT: accept TCP connections on 127.0.0.1:PORT until the end.
listen() {
	python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.close()
' "$1" >"$SCRATCH/listen.$1" &
	LISTENERS="$LISTENERS $!"
	for _ in $(seq 50); do
		grep -q ready "$SCRATCH/listen.$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

KEY="--server $SRV --tsig-key $NS/good.key"

test_records() {
	kp kms records -d example.test -d lab.example.test -H kms1.example.test \
		-H kms2.example.test --priority 5 --weight 10 >out
	[ "$(wc -l <out)" -eq 4 ]
	expect_grep '^_vlmcs._tcp.lab.example.test. 3600 IN SRV 5 10 1688 kms2.example.test.$' out
	kp kms records -d example.test -H kms1.example.test --port 1700 \
		--ttl 60 -f nsupdate >ns
	printf 'update add _vlmcs._tcp.example.test. 60 IN SRV 0 0 1700 kms1.example.test.\nsend\n' >want
	expect_same want ns
	kp kms records -d example.test -H kms1.example.test --json |
		python3 -c 'import json,sys; r=json.load(sys.stdin)[0]; assert r["name"]=="_vlmcs._tcp.example.test." and r["port"]==1688 and r["target"]=="kms1.example.test.", r'
	expect_code 2 kp kms records -H kms1.example.test
	expect_code 2 kp kms records -d example.test
	expect_code 2 kp kms records -d 'bad name' -H kms1.example.test
	expect_code 2 kp kms records -d example.test -H 'a"b'
	expect_code 2 kp kms records -d example.test -H x.test --port 0
	expect_code 2 kp kms records -d example.test -H x.test --weight 70000
	expect_code 2 kp kms records -d example.test -H x.test -f yaml
}

test_records_from_hive() {
	sample_hive SOFTWARE server
	kp hive set SOFTWARE --publish-domain corp.example,10,50 \
		--publish-domain lab.example \
		--listen-port 1700 >/dev/null
	kp kms records --from-hive SOFTWARE -H kms1.corp.example >out
	expect_grep '^_vlmcs._tcp.corp.example. 3600 IN SRV 10 50 1700 kms1.corp.example.$' out
	expect_grep '^_vlmcs._tcp.lab.example. 3600 IN SRV 0 0 1700 kms1.corp.example.$' out
	sample_hive EMPTY server
	expect_code 3 kp kms records --from-hive EMPTY -H kms1.corp.example 2>err
	expect_grep 'no DnsDomainPublishList' err
	expect_code 3 kp kms records --from-hive /nonexistent -H kms1.corp.example
}

test_publish() {
	local s1
	kp kms publish $KEY -d example.test -H kms1.example.test \
		-H kms2.example.test --priority 0 --weight 10 >out 2>err
	expect_grep '^+ _vlmcs._tcp.example.test.	3600	IN	SRV	0 10 1688 kms1.example.test.$' out
	expect_grep 'updated zone .example.test.* 2 changes, read back' out
	srv_now example.test >got
	printf '0 10 1688 kms1.example.test.\n0 10 1688 kms2.example.test.\n' >want
	expect_same want got
	s1=$(serial)
	# Again: nothing is sent, the serial stays.
	kp kms publish $KEY -d example.test -H kms2.example.test \
		-H kms1.example.test --priority 0 --weight 10 >out
	expect_grep '^no change' out
	[ "$(serial)" = "$s1" ]
	# Only the TTL differs: published again, with the new TTL.
	kp kms publish $KEY -d example.test -H kms1.example.test \
		-H kms2.example.test --priority 0 --weight 10 --ttl 120 >out
	expect_grep 'updated zone .example.test.* 2 changes, read back' out
	[ "$(dig @127.0.0.1 -p $PORT +norecurse +noall +answer \
		_vlmcs._tcp.example.test SRV | awk '{ print $2 }' | sort -u)" = 120 ]
	kp kms publish $KEY -d example.test -H kms1.example.test \
		-H kms2.example.test --priority 0 --weight 10 --ttl 120 >out
	expect_grep '^no change' out
	# Without --ttl the TTL the zone has is left alone.
	kp kms publish $KEY -d example.test -H kms1.example.test \
		-H kms2.example.test --priority 0 --weight 10 >out
	expect_grep '^no change' out
	# Adding keeps what is there; --replace leaves exactly the set.
	kp kms publish $KEY -d example.test -H kms3.example.test --priority 5 >out
	[ "$(srv_now example.test | wc -l)" -eq 3 ]
	kp kms publish $KEY -d example.test -H kms3.example.test --priority 5 \
		--replace >out
	expect_grep '^- _vlmcs._tcp.example.test.*kms1.example.test.$' out
	expect_grep '^- _vlmcs._tcp.example.test.*kms2.example.test.$' out
	printf '5 0 1688 kms3.example.test.\n' >want
	srv_now example.test >got
	expect_same want got
	# --delete removes those records; --delete --all whatever is left.
	kp kms publish $KEY -d example.test -H kms3.example.test --priority 5 \
		--delete >out
	[ -z "$(srv_now example.test)" ]
	kp kms publish $KEY -d example.test -d lab.example.test \
		-H kms1.example.test --json >out
	python3 -c 'import json,sys; j=json.load(open("out")); assert j["sent"] and len(j["changes"])==2 and j["zone"]=="example.test", j'
	kp kms publish $KEY -d example.test -d lab.example.test --delete --all >out
	[ -z "$(srv_now example.test)$(srv_now lab.example.test)" ]
	kp kms publish $KEY -d example.test --delete --all >out
	expect_grep '^no change' out
	! grep -F -e "$SECRET" out err
}

test_publish_refused() {
	local s1
	kp kms publish $KEY -d example.test -H kms1.example.test >/dev/null
	srv_now example.test >before
	s1=$(serial)
	expect_code 1 kp kms publish --server $SRV --tsig-key $NS/wrong.key \
		-d example.test -H kms4.example.test 2>err
	expect_grep 'refused the signed query for _vlmcs._tcp.example.test.: NOTAUTH (TSIG error BADSIG)' err
	expect_code 1 kp kms publish --server $SRV --tsig-key $NS/stranger.key \
		-d example.test -H kms4.example.test 2>err
	expect_grep 'refused the signed query for _vlmcs._tcp.example.test.: NOTAUTH (TSIG error BADKEY)' err
	expect_code 1 kp kms publish --server $SRV -d example.test \
		-H kms4.example.test 2>err
	expect_grep 'refused the update: REFUSED: it takes no unsigned updates for zone example.test' err
	expect_grep "give --tsig-key\|--tsig-key FILE" err
	# A domain below the zone, with no zone named: the server says
	# NOTAUTH for the zone the update names; kmsprep says what to give.
	expect_code 1 kp kms publish $KEY -d sub.example.test \
		-H kms4.example.test 2>err
	expect_grep 'NOTAUTH: it holds no zone sub.example.test' err
	expect_grep 'give --zone with the zone that holds them' err
	expect_code 2 kp kms publish $KEY --replace -d example.test \
		-H kms4.example.test --zone other.test 2>err
	expect_grep "domain 'example.test' is not in zone 'other.test'" err
	srv_now example.test >after
	expect_same before after
	[ "$(serial)" = "$s1" ]
	# A dry run says what it would send, and sends nothing.
	kp kms publish $KEY -d example.test -H kms4.example.test -n >out
	expect_grep '^+ .*kms4.example.test.$' out
	expect_grep '^dry run: 1 change, nothing sent' out
	[ "$(serial)" = "$s1" ]
}

test_publish_errors() {
	# Nothing listens on this port: exit 5.
	expect_code 5 kp kms publish --server 127.0.0.1:$(free_port) \
		--timeout 500 -d example.test -H kms1.example.test 2>err
	expect_grep 'kmsprep: kms publish: ' err
	printf 'key "k" {\n\talgorithm hmac-md5;\n\tsecret "c2VjcmV0c2VjcmV0c2VjcmV0";\n};\n' >md5.key
	expect_code 3 kp kms publish --server $SRV --tsig-key md5.key \
		-d example.test -H kms1.example.test 2>err
	expect_grep 'hmac-md5. is not accepted' err
	expect_no_grep 'c2VjcmV0' err
	echo 'not a key' >junk.key
	expect_code 3 kp kms publish --server $SRV --tsig-key junk.key \
		-d example.test -H kms1.example.test
	expect_code 3 kp kms publish --server $SRV --tsig-key /nonexistent \
		-d example.test -H kms1.example.test
	expect_code 2 kp kms publish -d example.test -H kms1.example.test
	expect_code 2 kp kms publish --server $SRV -d example.test \
		-H kms1.example.test --replace --delete
	expect_code 2 kp kms publish --server $SRV -d example.test --all
	expect_code 2 kp kms publish --server $SRV -d a.example -d b.example \
		-H kms1.example.test 2>err
	expect_grep 'give --zone' err
	expect_code 2 kp kms publish --server 'x:99999' -d example.test \
		-H kms1.example.test
}

test_publish_hidden() {
	local H="-d hidden.test --zone hidden.test"
	Qk="$Q -k $NS/good.key"
	kp kms publish $KEY $H -H kms1.hidden.test -H kms2.hidden.test >out
	expect_grep 'updated zone .hidden.test.* 2 changes, read back' out
	kp kms publish $KEY $H -H kms1.hidden.test -H kms2.hidden.test >out
	expect_grep '^no change' out
	# --replace: the RRset is replaced in one update.
	kp kms publish $KEY $H -H kms3.hidden.test --replace >out
	[ "$($Qk _vlmcs._tcp.hidden.test SRV)" = "0 0 1688 kms3.hidden.test." ]
	[ "$(grep -c '^- ' out)" -eq 2 ] && [ "$(grep -c '^+ ' out)" -eq 1 ]
	# Unsigned, the server will not say what it holds: no guessing.
	expect_code 1 kp kms publish --server $SRV $H -H kms1.hidden.test \
		--delete --all 2>err
	expect_grep 'will not tell what _vlmcs._tcp.hidden.test. holds: REFUSED (if it answers signed queries only, give --tsig-key)' err
	kp kms publish $KEY $H --delete --all >out
	expect_grep '^- .*kms3.hidden.test.$' out
	[ -z "$($Qk _vlmcs._tcp.hidden.test SRV)" ]
}

test_publish_zone_only() {
	# --zone without --domain: the zone is the domain.
	kp kms publish $KEY -d example.test --delete --all >/dev/null
	kp kms publish $KEY --zone example.test -H kms4.example.test >out
	expect_grep "^+ _vlmcs._tcp.example.test.	3600	IN	SRV	0 0 1688 kms4.example.test.$" out
	expect_grep "updated zone 'example.test' .* 1 change, read back" out
	[ "$(srv_now example.test)" = "0 0 1688 kms4.example.test." ]
	kp kms publish $KEY -z example.test --delete --all >out
	[ -z "$(srv_now example.test)" ]
	# With --domain the zone stays only the zone.
	kp kms publish $KEY -z example.test -d lab.example.test \
		-H kms4.example.test >out
	[ -z "$(srv_now example.test)" ]
	[ -n "$(srv_now lab.example.test)" ]
	kp kms publish $KEY -z example.test -d lab.example.test --delete --all >out
	expect_code 2 kp kms publish $KEY -H kms4.example.test 2>err
	expect_grep 'no --domain or --from-hive given' err
}

# set_srv LINE...: make the SRV set of _vlmcs._tcp.d.example.test exactly
# "PRIORITY WEIGHT PORT TARGET" for each LINE (with nsupdate, independently).
set_srv() {
	{
		echo "server 127.0.0.1 $PORT"
		echo "update delete _vlmcs._tcp.d.example.test SRV"
		for l in "$@"; do
			echo "update add _vlmcs._tcp.d.example.test 60 SRV $l"
		done
		echo send
	} | nsupdate -k "$NS/good.key"
}

test_discover_priority() {
	local up down
	up=$(free_port)
	down=$(free_port)
	listen "$up"
	set_srv "0 0 $down kms1.example.test." "10 0 $up kms2.example.test." \
		"20 0 $up kms3.example.test."
	kp kms discover d.example.test --server $SRV --seed 7 >out
	expect_grep "^  1. kms1.example.test. port $down, priority 0, weight 0: failed: 127.0.0.1 port $down: Connection refused" out
	expect_grep "^  2. kms2.example.test. port $up, priority 10, weight 0: used: 127.0.0.1 port $up" out
	expect_grep "^  3. kms3.example.test. port $up, priority 20, weight 0: not-tried" out
	expect_grep "^a client would use kms2.example.test. port $up" out
	kp kms discover d.example.test --server $SRV --json >j
	python3 -c 'import json; j=json.load(open("j")); assert j["outcome"]=="found" and j["used"]["target"]=="kms2.example.test." and [h["state"] for h in j["hosts"]]==["failed","used","not-tried"], j'
}

test_discover_weights() {
	local up s first heavy=0 light=0
	up=$(free_port)
	listen "$up"
	set_srv "0 90 $up kms1.example.test." "0 10 $up kms2.example.test." \
		"5 0 $up kms3.example.test."
	# The same seed gives the same order.
	kp kms discover d.example.test --server $SRV --seed 42 >a
	kp kms discover d.example.test --server $SRV --seed 42 >b
	expect_same a b
	expect_grep '^_vlmcs._tcp.d.example.test: 3 records (seed 42)' a
	# Over many seeds the 90-weight host comes first about 9 times in 10,
	# the other one sometimes, and kms3 (priority 5) never.
	for s in $(seq 1 60); do
		first=$(kp kms discover d.example.test --server $SRV --seed $s |
			sed -n 's/^  1\. \([^ ]*\) .*/\1/p')
		case $first in
		kms1.example.test.) heavy=$((heavy + 1)) ;;
		kms2.example.test.) light=$((light + 1)) ;;
		*) echo "first: $first" >&2; return 1 ;;
		esac
	done
	echo "heavy $heavy light $light"
	[ "$heavy" -ge 45 ] && [ "$light" -ge 1 ]
}

test_discover_failures() {
	local down
	down=$(free_port)
	expect_code 3 kp kms discover nosuch.example.test --server $SRV 2>err
	expect_grep 'no such domain' err
	expect_code 1 kp kms discover ns.example.test --server $SRV 2>err
	expect_grep 'no KMS records' err
	# A server that refuses is its answer, not an outage.
	expect_code 1 kp kms discover hidden.test --server $SRV 2>err
	expect_grep 'the DNS server answered REFUSED for _vlmcs._tcp.hidden.test' err
	set_srv "0 0 $down kms1.example.test." "0 0 $down noaddr.example.test." \
		"1 0 $down ."
	expect_code 5 kp kms discover d.example.test --server $SRV --json \
		>j 2>err
	expect_grep 'no KMS host reachable: none of the 3 hosts' err
	python3 -c 'import json; j=json.load(open("j")); assert j["outcome"]=="none-reachable" and j["used"] is None, j'
	expect_grep '"detail": "no address for the host name"' j
	expect_grep "target '.'" j
	# No DNS server at all: the environment, not the domain.
	expect_code 5 kp kms discover d.example.test \
		--server 127.0.0.1:$(free_port) --timeout 300 2>err
	expect_grep 'no answer from' err
	expect_code 2 kp kms discover
	expect_code 2 kp kms discover 'bad domain'
	expect_code 2 kp kms discover d.example.test --seed x
}

t "records: zone, nsupdate and JSON, checked options" test_records
t "records --from-hive: DnsDomainPublishList and listening port" test_records_from_hive
t "publish: signed update, idempotent, --replace, --delete" test_publish
t "publish: wrong or no key is refused, nothing changes" test_publish_refused
t "publish: unreachable server, bad keys, usage errors" test_publish_errors
t "publish: a primary that answers signed queries only" test_publish_hidden
t "publish: --zone without --domain publishes in the zone" test_publish_zone_only
t "discover: priority order and the TCP probe" test_discover_priority
t "discover: weighted choice, repeatable with --seed" test_discover_weights
t "discover: no domain, no records, none reachable" test_discover_failures
done_testing

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Kit trust without an image: an unsigned kit only with --allow-unsigned
# (a stripped signature is refused, with or without trusted keys), and a
# signed kit checked against the trusted keys without --pubkey, every
# trusted key file read and checked each time.
. "$(dirname "$0")/lib.sh"

TAMPER="python3 $SRC_DIR/tests/helper/kit-tamper.py"
openssl genpkey -algorithm ed25519 -out "$SCRATCH/priv.pem" 2>/dev/null
openssl pkey -in "$SCRATCH/priv.pem" -pubout -out "$SCRATCH/pub.pem"
openssl genpkey -algorithm ed25519 -out "$SCRATCH/other.pem" 2>/dev/null
openssl pkey -in "$SCRATCH/other.pem" -pubout -out "$SCRATCH/other.pub"
# Neither the machine's /etc nor the user's ~/.config take part.
export KMSPREP_SYSCONFDIR="$SCRATCH/etc" XDG_CONFIG_HOME="$SCRATCH/config"
"$KMSPREP" kms kit build -q -o "$SCRATCH/signed.tar.gz" \
	--host-name kms1.corp.example --sign "$SCRATCH/priv.pem" >/dev/null
"$KMSPREP" kms kit build -q -o "$SCRATCH/plain.tar.gz" \
	--host-name kms1.corp.example >/dev/null
# The attack: provision.cmd changed, digests recomputed, signature gone.
$TAMPER "$SCRATCH/signed.tar.gz" "$SCRATCH/stripped.tar.gz" strip \
	provision.cmd $'net user evil /add\r\n'

trust() {	# trust DIR KEY...: install KEYs as trusted in DIR
	local d=$1/kmsprep/trusted-keys
	shift
	mkdir -p "$d"
	cp "$@" "$d/"
}

no_trusted_keys() {
	# Without trusted keys too, an unsigned kit (its provision.cmd runs
	# as SYSTEM) is refused unless accepted knowingly; a signed one needs
	# --pubkey.
	expect_code 4 kp kms kit verify "$SCRATCH/stripped.tar.gz" 2>err
	expect_grep 'not signed.*--allow-unsigned accepts it' err
	: >image.qcow2
	expect_code 4 kp kms kit apply "$SCRATCH/stripped.tar.gz" image.qcow2
	[ ! -s image.qcow2 ]
	kp kms kit verify --allow-unsigned "$SCRATCH/stripped.tar.gz" >out
	expect_grep '^signature: none' out
	expect_code 4 kp kms kit verify "$SCRATCH/signed.tar.gz" 2>err
	# An empty directory, or one with other files, trusts nobody.
	mkdir -p "$XDG_CONFIG_HOME/kmsprep/trusted-keys"
	echo notes >"$XDG_CONFIG_HOME/kmsprep/trusted-keys/README"
	expect_code 4 kp kms kit verify "$SCRATCH/plain.tar.gz"
	kp kms kit verify --allow-unsigned "$SCRATCH/plain.tar.gz" >out
}

user_keys() {
	export XDG_CONFIG_HOME=$PWD/cfg
	trust "$XDG_CONFIG_HOME" "$SCRATCH/pub.pem"
	# The downgrade is refused, without any flag to remember.
	expect_code 4 kp kms kit verify "$SCRATCH/stripped.tar.gz" 2>err
	expect_grep 'not signed' err
	expect_code 4 kp kms kit verify "$SCRATCH/plain.tar.gz" 2>err
	# kit apply refuses it before any image is touched.
	: >image.qcow2
	expect_code 4 kp kms kit apply "$SCRATCH/stripped.tar.gz" image.qcow2 \
		2>err
	expect_grep 'not signed' err
	[ ! -s image.qcow2 ]
	# The signed kit is checked against the trusted key, no --pubkey.
	kp kms kit verify "$SCRATCH/signed.tar.gz" >out
	expect_grep "signature: Ed25519, verified with '.*cfg/kmsprep/trusted-keys/pub.pem'" out
	kp kms kit verify --json "$SCRATCH/signed.tar.gz" >j
	python3 -c 'import json; j=json.load(open("j")); assert j["signature_verified"] and j["signer"].endswith("trusted-keys/pub.pem"), j'
	# Knowingly accepting an unsigned kit.
	kp kms kit verify --allow-unsigned "$SCRATCH/plain.tar.gz" >out
	expect_grep '^signature: none' out
	# --allow-unsigned does not excuse a bad signature.
	$TAMPER "$SCRATCH/signed.tar.gz" flipped.tar.gz edit-manifest \
		1688 1689
	expect_code 3 kp kms kit verify --allow-unsigned flipped.tar.gz 2>err
	expect_grep 'signature does not match' err
}

home_default() {
	# XDG_CONFIG_HOME unset: ~/.config.
	unset XDG_CONFIG_HOME
	export HOME=$PWD/home
	trust "$HOME/.config" "$SCRATCH/pub.pem"
	expect_code 4 kp kms kit verify "$SCRATCH/stripped.tar.gz"
	kp kms kit verify "$SCRATCH/signed.tar.gz" >out
	expect_grep 'verified with' out
}

system_keys() {
	trust "$KMSPREP_SYSCONFDIR" "$SCRATCH/other.pub" "$SCRATCH/pub.pem"
	expect_code 4 kp kms kit verify "$SCRATCH/stripped.tar.gz"
	# Any trusted key may have signed it.
	kp kms kit verify "$SCRATCH/signed.tar.gz" >out
	expect_grep 'etc/kmsprep/trusted-keys/pub.pem' out
	# A kit signed by a key nobody trusts is refused.
	rm "$KMSPREP_SYSCONFDIR/kmsprep/trusted-keys/pub.pem"
	expect_code 3 kp kms kit verify "$SCRATCH/signed.tar.gz" 2>err
	expect_grep 'signature does not match' err
	# --pubkey still names exactly the signer.
	kp kms kit verify "$SCRATCH/signed.tar.gz" --pubkey "$SCRATCH/pub.pem" >out
	# A broken trusted key is an error, not silently skipped, even when
	# a good key is read first and matches.
	cp "$SCRATCH/pub.pem" "$KMSPREP_SYSCONFDIR/kmsprep/trusted-keys/a.pem"
	for broken in junk rsa device; do
		f=$KMSPREP_SYSCONFDIR/kmsprep/trusted-keys/z-$broken.pem
		case $broken in
		junk) echo junk >"$f" ;;
		rsa) openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 \
			2>/dev/null | openssl pkey -pubout -out "$f" ;;
		device) ln -s /dev/zero "$f" ;;
		esac
		expect_code 3 kp kms kit verify "$SCRATCH/signed.tar.gz" 2>err
		expect_grep "z-$broken.pem'" err
		rm "$f"
	done
	kp kms kit verify "$SCRATCH/signed.tar.gz" >out
}

t "no trusted keys: unsigned kits need --allow-unsigned, signed --pubkey" no_trusted_keys
t "trusted keys in XDG_CONFIG_HOME refuse a stripped signature" user_keys
t "trusted keys in ~/.config by default" home_default
t "trusted keys in the system directory" system_keys
done_testing

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Outputs are never written through a symbolic link: a link planted where
# an output goes (say in a sticky /tmp, where root passes
# fs.protected_symlinks) is refused and its target left as it was.
. "$(dirname "$0")/lib.sh"

# planted NAME: NAME is a link to victim, a file that must not change.
planted() {
	echo "precious" >victim
	chmod 600 victim
	ln -s victim "$1"
}

untouched() {
	[ "$(cat victim)" = precious ]
	[ "$(stat -c %a victim)" = 600 ]
	[ -L "$1" ]
	# No temporary file left behind.
	[ -z "$(find . -name '.*kmsprep-*')" ]
}

export_link() {
	sample_hive s.hive client
	planted out.reg
	expect_code 4 kp hive export s.hive -o out.reg --force 2>err
	expect_grep "'out.reg' is a symbolic link; kmsprep does not write through a link" err
	untouched out.reg
	# Also a dangling one (it would have created the target).
	ln -s made-by-kmsprep dangling.reg
	expect_code 4 kp hive export s.hive -o dangling.reg 2>err
	[ ! -e made-by-kmsprep ]
}

new_link() {
	planted new.hive
	expect_code 4 kp hive new --force new.hive 2>err
	expect_grep 'is a symbolic link' err
	untouched new.hive
}

kit_link() {
	planted kit.tar.gz
	expect_code 4 kp kms kit build -q -o kit.tar.gz --force \
		--host-name kms1.corp.example 2>err
	expect_grep 'is a symbolic link' err
	untouched kit.tar.gz
}

in_place_edit() {
	# Editing a hive named through a link still edits the file it names
	# (that is the file read), and keeps the link.
	sample_hive s.hive client
	ln -s s.hive l.hive
	kp hive set l.hive --kms-host kms >/dev/null
	[ -L l.hive ]
	kp hive show s.hive >out
	expect_grep 'KeyManagementServiceName' out
}

t "hive export -o refuses a planted link" export_link
t "hive new --force refuses a planted link" new_link
t "kms kit build -o --force refuses a planted link" kit_link
t "an in-place edit through a link edits the file it names" in_place_edit
done_testing

#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Make a malformed hive from a good one, the ways real hives break:

    malform.py KIND GOOD OUT

KIND: truncated (the first 12 KiB, the header still claiming the full
size), bad-header-checksum (one bit of the base block checksum flipped),
bad-hbin-signature (the second hive bin signed "gbin"), bad-subkey-list
(the root's subkey list pointing into a hive bin header), subkey-list-loop
(the root's first subkey given the root's own subkey list, so the root's
subkeys are reached twice), zeroed-pages (the second 4 KiB hive bin page
zeroed), trailing-garbage (7 bytes appended, checksum not updated to
match the damage: the header is rewritten with a bad checksum) or
not-a-hive (the good file's bytes behind a PE header).

The real damaged hives in ../shared/testdata are the same kinds, made by
Windows or by other parsers' authors; these let a clone without them test
the same refusals.  Offsets follow the regf format:
https://github.com/msuhanov/regf/blob/master/Windows%20registry%20file%20format%20specification.md
"""
import struct
import sys

BASE = 4096  # the base block; cell offsets count from its end


def cell(d, off):
    """The data of the allocated cell at hive offset OFF."""
    at = BASE + off
    size = -struct.unpack_from("<i", d, at)[0]
    assert size > 0, "not an allocated cell"
    return at + 4


def first_subkey(d, nk):
    """(subkey list offset, first subkey's nk offset) of the key at NK."""
    at = cell(d, nk)
    assert d[at:at + 2] == b"nk"
    count, = struct.unpack_from("<I", d, at + 20)
    lst, = struct.unpack_from("<I", d, at + 28)
    assert count > 0
    la = cell(d, lst)
    assert d[la:la + 2] in (b"lf", b"lh", b"li"), d[la:la + 2]
    return lst, struct.unpack_from("<I", d, la + 4)[0]


def main():
    kind, good, out = sys.argv[1:4]
    d = bytearray(open(good, "rb").read())
    root, = struct.unpack_from("<I", d, 0x24)
    if kind == "truncated":
        d = d[:12288]
    elif kind == "bad-header-checksum":
        d[0x1FC] ^= 1
    elif kind == "bad-hbin-signature":
        second = BASE + struct.unpack_from("<I", d, BASE + 8)[0]
        d[second:second + 4] = b"gbin"
    elif kind == "subkey-list-loop":
        lst, child = first_subkey(d, root)
        at = cell(d, child)
        struct.pack_into("<II", d, at + 20, 1, 0)
        struct.pack_into("<I", d, at + 28, lst)
    elif kind == "bad-subkey-list":
        struct.pack_into("<I", d, BASE + root + 4 + 28, 0x10)
    elif kind == "zeroed-pages":
        d[BASE + 4096:BASE + 8192] = bytes(4096)
    elif kind == "trailing-garbage":
        d[0x1FC] ^= 0x80
        d += b"garbage"
    elif kind == "not-a-hive":
        d = bytearray(b"MZ" + bytes(0x3A) + struct.pack("<I", 0x40)
                      + b"PE\0\0") + d[64:]
    else:
        sys.exit(f"malform.py: unknown kind {kind}")
    open(out, "wb").write(d)


main()

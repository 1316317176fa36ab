# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check a VHD's footer as Azure does before it takes the disk: the
"conectix" cookie, the checksum (one's complement of the byte sum with
the checksum field zero), and for a fixed disk a current size equal to
the file's size less the footer, on a 1 MiB boundary.  Exit 1 if not.

    python3 tests/helper/vhdcheck.py IMAGE.vhd"""
import os
import struct
import sys

path = sys.argv[1]
size = os.path.getsize(path)
with open(path, "rb") as f:
    f.seek(size - 512)
    foot = f.read(512)
if foot[:8] != b"conectix":
    sys.exit("no footer cookie")
stored = struct.unpack_from(">I", foot, 64)[0]
calc = (~sum(foot[:64] + b"\0\0\0\0" + foot[68:])) & 0xFFFFFFFF
if stored != calc:
    sys.exit("footer checksum 0x%08x, not 0x%08x" % (stored, calc))
current = struct.unpack_from(">Q", foot, 48)[0]
disk_type = struct.unpack_from(">I", foot, 60)[0]
if disk_type == 2 and (current != size - 512 or current % (1 << 20)):
    sys.exit("fixed VHD: size %d for a %d-byte file" % (current, size))

# SPDX-License-Identifier: LGPL-2.1-or-later
"""Make a VHDX say its logical sectors are 4096 bytes, as Hyper-V can make
them and qemu-img 7.2 cannot: its metadata item "Logical Sector Size"
([MS-VHDX] 2.6.2.4) is set to 4096 in place.

    python3 tests/helper/vhdx4k.py IMAGE.vhdx"""
import struct
import sys
import uuid

REGION_TABLE = 192 * 1024       # the first region table ([MS-VHDX] 2.2.3)
METADATA = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
LOGICAL = uuid.UUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F").bytes_le

with open(sys.argv[1], "r+b") as f:
    f.seek(REGION_TABLE)
    rt = f.read(64 * 1024)
    if rt[:4] != b"regi":
        raise SystemExit("no region table")
    count = struct.unpack_from("<I", rt, 8)[0]
    meta = None
    for i in range(count):
        guid, off, length, _ = struct.unpack_from("<16sQII", rt, 16 + 32 * i)
        if guid == METADATA:
            meta = off
    if meta is None:
        raise SystemExit("no metadata region")
    f.seek(meta)
    table = f.read(64 * 1024)
    if table[:8] != b"metadata":
        raise SystemExit("no metadata table")
    n = struct.unpack_from("<H", table, 10)[0]
    for i in range(n):
        guid, off, length = struct.unpack_from("<16sII", table, 32 + 32 * i)
        if guid == LOGICAL:
            f.seek(meta + off)
            f.write(struct.pack("<I", 4096))
            break
    else:
        raise SystemExit("no logical sector size item")

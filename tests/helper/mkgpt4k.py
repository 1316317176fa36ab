# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write a GPT for a disk of 4096-byte logical sectors (a 4Kn disk) into
an image file, which sfdisk cannot do for a regular file (it counts 512).

    python3 tests/helper/mkgpt4k.py IMAGE TYPE-GUID:START:SIZE...

START and SIZE are in 4096-byte sectors; an empty SIZE runs to the last
usable sector.  The layout is the UEFI specification's (chapter 5): a
protective MBR, the header at LBA 1, 128 entries of 128 bytes from LBA 2,
and their backups at the end of the disk."""
import os
import struct
import sys
import uuid
import zlib

SS = 4096
ENTRIES, ESIZE = 128, 128


def guid(s):
    return uuid.UUID(s).bytes_le


def header(lba, alt, entries_lba, last, disk_guid, crc_entries):
    h = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0,
                    lba, alt, 2 + ENTRIES * ESIZE // SS, last, disk_guid,
                    entries_lba, ENTRIES, ESIZE, crc_entries)
    crc = zlib.crc32(h)
    h = h[:16] + struct.pack("<I", crc) + h[20:]
    return h + bytes(SS - len(h))


def main():
    path = sys.argv[1]
    sectors = os.path.getsize(path) // SS
    table = ENTRIES * ESIZE // SS
    last = sectors - 2 - table
    ents = b""
    for i, spec in enumerate(sys.argv[2:]):
        t, start, size = spec.split(":")
        start = int(start)
        end = last if size == "" else start + int(size) - 1
        name = ("part%d" % (i + 1)).encode("utf-16-le")
        ents += struct.pack("<16s16sQQQ72s", guid(t), uuid.uuid4().bytes_le,
                            start, end, 0, name)
    ents += bytes(ENTRIES * ESIZE - len(ents))
    crc = zlib.crc32(ents)
    disk = uuid.uuid4().bytes_le
    mbr = bytearray(SS)
    n = min(sectors - 1, 0xFFFFFFFF)
    mbr[446:462] = struct.pack("<BBBBBBBBII", 0, 0, 2, 0, 0xEE, 0xFF, 0xFF,
                               0xFF, 1, n)
    mbr[510:512] = b"\x55\xaa"
    with open(path, "r+b") as f:
        f.write(mbr)
        f.write(header(1, sectors - 1, 2, last, disk, crc))
        f.write(ents)
        f.seek((sectors - 1 - table) * SS)
        f.write(ents)
        f.write(header(sectors - 1, 1, sectors - 1 - table, last, disk, crc))


main()

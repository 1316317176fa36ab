# SPDX-License-Identifier: LGPL-2.1-or-later
"""Damage an NTFS directory index so that looking NAME up loops: the index
entry where the lookup of NAME stops in the root directory's B+ tree is
made to point at its own index block, as one changed entry of a damaged or
hostile volume can.  For t2220 (faults).

    python3 tests/helper/ntfsloop.py IMAGE PART_OFFSET NAME

The volume must have its root directory in index blocks (enough entries
that $INDEX_ROOT points at $INDEX_ALLOCATION).  Prints the VCN changed."""
import struct
import sys

SECTOR = 512  # the stride of NTFS's update sequence (multi-sector) fixups


def unfix(buf):
    """Undo the update sequence fixups of a record read from disk."""
    usa_ofs, usa_count = struct.unpack_from("<HH", buf, 4)
    usn = buf[usa_ofs:usa_ofs + 2]
    for i in range(1, usa_count):
        end = i * SECTOR - 2
        if buf[end:end + 2] != usn:
            raise SystemExit("torn record (fixup mismatch)")
        buf[end:end + 2] = buf[usa_ofs + 2 * i:usa_ofs + 2 * i + 2]
    return buf


def refix(buf):
    """Apply the fixups again before the record goes back to disk."""
    usa_ofs, usa_count = struct.unpack_from("<HH", buf, 4)
    usn = buf[usa_ofs:usa_ofs + 2]
    for i in range(1, usa_count):
        end = i * SECTOR - 2
        buf[usa_ofs + 2 * i:usa_ofs + 2 * i + 2] = buf[end:end + 2]
        buf[end:end + 2] = usn
    return buf


def runs(mapping):
    """Decode a runlist into [(vcn, lcn, length)]."""
    out, vcn, lcn, p = [], 0, 0, 0
    while mapping[p]:
        h = mapping[p]
        nl, no = h & 0xF, h >> 4
        length = int.from_bytes(mapping[p + 1:p + 1 + nl], "little")
        delta = int.from_bytes(mapping[p + 1 + nl:p + 1 + nl + no], "little",
                               signed=True)
        lcn += delta
        out.append((vcn, lcn, length))
        vcn += length
        p += 1 + nl + no
    return out


def entries(buf, hdr):
    """The index entries after the index header at HDR:
    [(offset, length, flags, upper-case name)]."""
    first, used = struct.unpack_from("<II", buf, hdr)
    p, end, out = hdr + first, hdr + used, []
    while p < end:
        length, _, flags = struct.unpack_from("<HHI", buf, p + 8)
        name = None
        if not flags & 2:
            n = buf[p + 16 + 0x40]
            name = buf[p + 16 + 0x42:p + 16 + 0x42 + 2 * n].decode(
                "utf-16-le").upper()
        out.append((p, length, flags, name))
        if flags & 2:
            break
        p += length
    return out


def stop(ents, want):
    """Where a lookup of WANT stops: the first entry after it, or END."""
    for e in ents:
        if e[3] is None or want < e[3]:
            return e
        if want == e[3]:
            raise SystemExit("NAME is in the index: its lookup ends there")
    raise SystemExit("no END entry")


def main():
    path, part, want = sys.argv[1], int(sys.argv[2]), sys.argv[3].upper()
    f = open(path, "r+b")
    f.seek(part)
    boot = f.read(512)
    bps, spc = struct.unpack_from("<HB", boot, 0x0B)
    cluster = bps * spc
    mft_lcn = struct.unpack_from("<q", boot, 0x30)[0]
    cpr, cpi = struct.unpack_from("<b", boot, 0x40)[0], \
        struct.unpack_from("<b", boot, 0x44)[0]
    rec = 1 << -cpr if cpr < 0 else cpr * cluster
    iblk = 1 << -cpi if cpi < 0 else cpi * cluster
    f.seek(part + mft_lcn * cluster + 5 * rec)  # record 5: the root
    mrec = unfix(bytearray(f.read(rec)))
    p = struct.unpack_from("<H", mrec, 0x14)[0]
    root = alloc = None
    while True:
        atype, alen = struct.unpack_from("<II", mrec, p)
        if atype == 0xFFFFFFFF:
            break
        if atype == 0x90:
            root = p + struct.unpack_from("<H", mrec, p + 0x14)[0]
        if atype == 0xA0:
            mp = struct.unpack_from("<H", mrec, p + 0x20)[0]
            alloc = runs(mrec[p + mp:p + alen])
        p += alen
    if root is None or alloc is None:
        raise SystemExit("the root directory has no index blocks")
    src, e = mrec, stop(entries(mrec, root + 16), want)
    unit = cluster if iblk >= cluster else SECTOR
    if not e[2] & 1:
        raise SystemExit("the lookup ends in the index root")
    while True:
        vcn = struct.unpack_from("<q", src, e[0] + e[1] - 8)[0]
        byte = vcn * unit
        for rv, rl, rn in alloc:
            if rv * cluster <= byte < (rv + rn) * cluster:
                off = part + rl * cluster + byte - rv * cluster
                break
        else:
            raise SystemExit("VCN %d is not allocated" % vcn)
        f.seek(off)
        src = blk = unfix(bytearray(f.read(iblk)))
        e = stop(entries(blk, 0x18), want)
        if not e[2] & 1:
            break  # a leaf: the lookup ends at E
    # E gets a child pointer to its own block: the entry grows by 8 bytes
    # and what follows it moves down.
    first, used, allocated = struct.unpack_from("<III", blk, 0x18)
    if used + 8 > allocated:
        raise SystemExit("no room in the index block")
    at = e[0] + e[1]
    end = 0x18 + used
    blk[at + 8:end + 8] = blk[at:end]
    blk[at:at + 8] = struct.pack("<q", vcn)
    struct.pack_into("<H", blk, e[0] + 8, e[1] + 8)
    struct.pack_into("<I", blk, e[0] + 12, e[2] | 1)
    struct.pack_into("<I", blk, 0x1C, used + 8)
    blk[0x24] |= 1  # the block now has children
    f.seek(off)
    f.write(refix(blk))
    f.close()
    print(vcn)


main()

#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Make damaged and hostile variants of a kmsprep kit, for the tests.

usage: kit-tamper.py IN OUT OP [ARG...]
  flip NAME          change one byte of member NAME
  add NAME           add a member NAME that the manifest does not list
  remove NAME        leave member NAME out
  rename OLD NEW     store member OLD as NEW
  edit-manifest A B  replace text A by B in manifest.json
  strip NAME TEXT    append TEXT to member NAME, recompute the manifest's
                     digests and leave the signature out (a downgrade)
  hostile KIND       add a hostile member: abs, dotdot, symlink, hardlink,
                     device, fifo, dir, huge, dup
"""
import hashlib
import io
import json
import sys
import tarfile


def members(path):
    with tarfile.open(path, "r:gz") as t:
        for m in t.getmembers():
            yield m, t.extractfile(m).read()


def add(out, name, data, mode=0o644, **kw):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    for k, v in kw.items():
        setattr(info, k, v)
    out.addfile(info, io.BytesIO(data) if info.isreg() else None)


def strip(src, dst, name, text):
    files = dict((m.name, (m, data)) for m, data in members(src))
    files.pop("manifest.sig", None)
    m, data = files[name]
    files[name] = (m, data + text.encode())
    man = json.loads(files["manifest.json"][1])
    for f in man["files"]:
        d = files[f["name"]][1]
        f["size"] = len(d)
        f["sha256"] = hashlib.sha256(d).hexdigest()
    files["manifest.json"] = (files["manifest.json"][0],
                              json.dumps(man, indent=2).encode())
    with tarfile.open(dst, "w:gz", format=tarfile.PAX_FORMAT) as out:
        for n, (m, d) in files.items():
            add(out, n, d, m.mode)


def main():
    src, dst, op, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if op == "strip":
        return strip(src, dst, args[0], args[1])
    with tarfile.open(dst, "w:gz", format=tarfile.PAX_FORMAT) as out:
        for m, data in members(src):
            name = m.name
            if op == "flip" and name == args[0]:
                data = bytes([data[0] ^ 1]) + data[1:]
            elif op == "remove" and name == args[0]:
                continue
            elif op == "rename" and name == args[0]:
                name = args[1]
            elif op == "edit-manifest" and name == "manifest.json":
                new = data.replace(args[0].encode(), args[1].encode())
                assert new != data, "nothing to edit"
                data = new
            add(out, name, data, m.mode)
        if op == "add":
            add(out, args[0], b"extra\r\n")
        elif op == "hostile":
            kind = args[0]
            if kind == "abs":
                add(out, "/tmp/kmsprep-kit-evil", b"evil")
            elif kind == "dotdot":
                add(out, "../kmsprep-kit-evil", b"evil")
            elif kind == "symlink":
                add(out, "link", b"", type=tarfile.SYMTYPE,
                    linkname="/etc/passwd")
            elif kind == "hardlink":
                add(out, "hard", b"", type=tarfile.LNKTYPE,
                    linkname="provision.cmd")
            elif kind == "device":
                add(out, "dev", b"", type=tarfile.CHRTYPE, devmajor=1,
                    devminor=3)
            elif kind == "fifo":
                add(out, "fifo", b"", type=tarfile.FIFOTYPE)
            elif kind == "dir":
                add(out, "sub", b"", type=tarfile.DIRTYPE)
            elif kind == "huge":
                add(out, "huge.bin", b"\0" * (3 << 20))
            elif kind == "dup":
                add(out, "provision.cmd", b"@echo off\r\n")
            else:
                sys.exit("unknown kind " + kind)


if __name__ == "__main__":
    main()

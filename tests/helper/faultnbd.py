# SPDX-License-Identifier: LGPL-2.1-or-later
# An nbdkit python plugin serving FILE with one fault, for the fault tests
# (t2220):
#
#   nbdkit -U SOCK python tests/helper/faultnbd.py file=IMG \
#       [fail=N] [mode=eio|disconnect|drop|stall] [stall_read=N] [log=F]
#
# fail=N: the Nth write request (1-based) this server gets fails as MODE
# says: eio (the client gets EIO), disconnect (the server dies
# mid-request), drop (the write is acknowledged and thrown away), stall
# (no answer, ever).  Later writes, and later clients, are served: a retry
# may use the same server.
# stall_read=N: the Nth read request is never answered.
# log=F: each write request's offset and length appended to F, then
# "writes N" when the client goes, so a test knows how many there were.
import builtins
import os
import time

import nbdkit

API_VERSION = 2
cfg = {"file": None, "fail": 0, "mode": "eio", "stall_read": 0, "log": None}
state = {"writes": 0, "reads": 0}


def config(key, value):
    if key not in cfg:
        raise RuntimeError("unknown parameter " + key)
    cfg[key] = value if key in ("file", "mode", "log") else int(value)


def config_complete():
    if cfg["file"] is None:
        raise RuntimeError("file= is required")


def thread_model():
    return nbdkit.THREAD_MODEL_SERIALIZE_ALL_REQUESTS


def open(readonly):
    return os.open(cfg["file"], os.O_RDONLY if readonly else os.O_RDWR)


def close(fd):
    note("writes %d" % state["writes"])
    os.close(fd)


def get_size(fd):
    return os.fstat(fd).st_size


def can_flush(fd):
    return True


def can_fua(fd):
    return nbdkit.FUA_EMULATE


def note(line):
    if cfg["log"]:
        with builtins.open(cfg["log"], "a") as f:
            f.write(line + "\n")


def stall():
    while True:
        time.sleep(3600)


def pread(fd, buf, offset, flags):
    state["reads"] += 1
    if state["reads"] == cfg["stall_read"]:
        stall()
    n = os.preadv(fd, [buf], offset)
    if n != len(buf):
        raise OSError(5, "short read")


def pwrite(fd, buf, offset, flags):
    state["writes"] += 1
    note("write %d %d %d" % (state["writes"], offset, len(buf)))
    if state["writes"] == cfg["fail"]:
        mode = cfg["mode"]
        if mode == "eio":
            raise OSError(5, "injected write error")
        if mode == "disconnect":
            os._exit(1)
        if mode == "drop":
            return
        stall()
    os.pwrite(fd, buf, offset)


def flush(fd, flags):
    os.fsync(fd)

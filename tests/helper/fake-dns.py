#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A misbehaving DNS server on 127.0.0.1, for the tests.

usage: fake-dns.py PORTFILE MODE
Listens on one UDP and TCP port (written to PORTFILE) and answers every
query for an SRV record with one record whose target is kms.fake.test at
that same port (which accepts TCP), with its A record 127.0.0.1:
  good            correctly
  wrong-id        with another message ID
  qr0             with the QR bit clear
  other-question  for another name than the one asked
  other-port      from another UDP port
  dribble         UDP: truncated (TC), so the client comes over TCP; TCP:
                  a length of 65535, then one byte every 0.5 s, forever
  long-target     correctly, but the target's text form (\\DDD escapes) is
                  longer than 255 characters
  many            500 SRV records (TC over UDP, in full over TCP), and no
                  answer at all to the A and AAAA queries that follow
"""
import socket
import struct
import sys
import threading
import time

MODE = sys.argv[2]


def name(n):
    out = b""
    for label in n:
        out += bytes([len(label)]) + label
    return out + b"\0"


def parse(q):
    qid, flags = struct.unpack("!HH", q[:4])
    i = 12
    while q[i]:
        i += q[i] + 1
    qname_end = i + 1
    qtype, = struct.unpack("!H", q[qname_end:qname_end + 2])
    return qid, flags, q[12:qname_end + 4], qtype


def answer(q, port, tcp):
    qid, flags, question, qtype = parse(q)
    if qtype != 33:		# A, AAAA, SOA: no answer
        return None
    rd = flags & 0x0100
    hflags = 0x8000 | 0x0400 | rd
    if MODE == "qr0":
        hflags &= ~0x8000
    if MODE == "wrong-id":
        qid ^= 0x5a5a
    if MODE == "other-question":
        question = name([b"_vlmcs", b"_tcp", b"evil", b"test"]) + \
            question[-4:]
    if MODE == "long-target":
        target = name([b"\1" * 63, b"\1" * 63, b"test"])
    else:
        target = name([b"kms", b"fake", b"test"])
    n = 500 if MODE == "many" else 1
    if (MODE in ("many", "dribble")) and not tcp:
        return struct.pack("!HHHHHH", qid, hflags | 0x0200, 1, 0, 0, 0) + \
            question
    ans = b""
    for k in range(n):
        t = target if n == 1 else name([b"h%d" % k, b"many", b"test"])
        rdata = struct.pack("!HHH", 0, 0, port) + t
        ans += b"\xc0\x0c" + struct.pack("!HHIH", 33, 1, 60, len(rdata)) + \
            rdata
    add = b""
    if n == 1:
        add = target + struct.pack("!HHIH", 1, 1, 60, 4) + \
            bytes([127, 0, 0, 1])
    return struct.pack("!HHHHHH", qid, hflags, 1, n, 0,
                       1 if add else 0) + question + ans + add


def serve_tcp(t, port):
    while True:
        c, _ = t.accept()
        threading.Thread(target=tcp_client, args=(c, port),
                         daemon=True).start()


def tcp_client(c, port):
    try:
        hdr = c.recv(2)
        if len(hdr) < 2:
            return c.close()
        ln, = struct.unpack("!H", hdr)
        q = b""
        while len(q) < ln:
            part = c.recv(ln - len(q))
            if not part:
                return c.close()
            q += part
        if MODE == "dribble":
            c.sendall(b"\xff\xff")
            while True:
                time.sleep(0.5)
                c.sendall(b"\0")
        a = answer(q, port, True)
        if a is not None:
            c.sendall(struct.pack("!H", len(a)) + a)
        time.sleep(1)
    except OSError:
        pass
    c.close()


def main():
    while True:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket()
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            t.bind(("127.0.0.1", port))
        except OSError:
            u.close()
            t.close()
            continue
        break
    t.listen(64)
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    threading.Thread(target=serve_tcp, args=(t, port), daemon=True).start()
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d\n" % port)
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    while True:
        q, src = u.recvfrom(65535)
        try:
            a = answer(q, port, False)
        except (IndexError, struct.error):
            continue
        if a is not None:
            (other if MODE == "other-port" else u).sendto(a, src)


if __name__ == "__main__":
    main()

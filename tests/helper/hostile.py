#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hostile input table: every option of every command (read from its
--help) with an empty, a 64 KiB, a non-UTF-8 and a shell-metacharacter
value, and every file argument as /dev/null, a directory, a FIFO, a
dangling link, a missing file and a file the caller may not read.

Each run must end with exit 1-5, or 0 where the value is harmless; every
line on stderr a "kmsprep: " message (or the pointer to --help), short;
no crash, no hang; and no file in the working directory created, changed
or replaced, except a new file that an output argument names.

usage: hostile.py KMSPREP WORKDIR   (WORKDIR holds the fixtures named below)
Prints one line per failure and a summary; exit 1 if anything failed.
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys

KP, WORK = sys.argv[1], os.path.abspath(sys.argv[2])

# Each command with arguments that would work, so that the hostile value
# is the only thing wrong.  Files are fixtures in WORK.
BASE = {
    "hive show": ["sw.hive"],
    "hive set": ["sw.hive", "--kms-host", "ok.example.com"],
    "hive new": ["fresh.hive"],
    "hive export": ["sw.hive"],
    "hive import": ["sw.hive", "sw.reg"],
    "hive recover": ["sw.hive", "-o", "recovered.hive"],
    "image show": ["missing.img"],
    "image set": ["missing.img", "--kms-host", "ok.example.com"],
    "image generalize": ["missing.img"],
    "kms records": ["-d", "example.test", "-H", "kms.example.test"],
    "kms publish": ["--server", "127.0.0.1:9", "--timeout", "300", "-d",
                    "example.test", "-H", "kms.example.test"],
    "kms discover": ["example.test", "--server", "127.0.0.1:9",
                     "--timeout", "300"],
    "kms kit build": ["-o", "new-kit.tar.gz", "--host-name",
                      "kms.example.test"],
    "kms kit verify": ["kit.tar.gz"],
    "kms kit apply": ["kit.tar.gz", "missing.img"],
}
# Positional file arguments, by index in BASE.
FILES = {
    "hive show": [0], "hive set": [0], "hive new": [0], "hive export": [0],
    "hive import": [0, 1], "hive recover": [0], "image show": [0],
    "image set": [0], "image generalize": [0], "kms kit verify": [0],
    "kms kit apply": [0, 1],
}

VALUES = {
    "empty": b"",
    "64KiB": b"A" * 65536,
    "non-UTF-8": b"\xff\xfe\xc3(",
    "metachars": b"a'\";|&$(id)`<>%^!\\\n*?~",
}
FILE_VALUES = {
    "/dev/null": b"/dev/null",
    "directory": b"dir",
    "FIFO": b"fifo",
    "dangling link": b"dangling",
    "missing": b"no/such/file",
    "unreadable": b"locked/secret",
}

# Where a successful run may create a file: outputs.
OUTPUTS = {("hive new", "file 1"), ("hive export", "--output"),
           ("hive recover", "--output"), ("kms kit build", "--output")}

OPT_RE = re.compile(r"^\s+(?:-\w, )?--([a-z0-9-]+) (\S+)")
FILEISH = re.compile(r"FILE|KIT|PEM|SOFTWARE|OUT|\.")


def options(cmd):
    out = subprocess.run([KP] + cmd.split() + ["--help"], capture_output=True,
                         text=True, check=True).stdout
    opts = []
    for line in out.splitlines():
        m = OPT_RE.match(line)
        if m:
            opts.append((m.group(1), m.group(2)))
    return opts


def snapshot():
    state = {}
    for root, dirs, files in os.walk(WORK):
        for f in files + dirs:
            p = os.path.join(root, f)
            if os.path.islink(p) or not os.path.isfile(p):
                state[p] = "x"
                continue
            try:
                with open(p, "rb") as fh:
                    state[p] = hashlib.sha256(fh.read()).hexdigest()
            except OSError:
                state[p] = "unreadable"
    return state


def argv_with(cmd, opt, value):
    args = [a.encode() for a in BASE[cmd]]
    flag = b"--" + opt.encode()
    short = {"-o": b"--output", "-d": b"--domain", "-H": b"--host"}
    for i, a in enumerate(args):
        if a == flag or short.get(a.decode()) == flag:
            args[i + 1] = value
            return args
    return args + [flag, value]


failures = []
tried = 0


def restore():
    shutil.rmtree(WORK)
    subprocess.run(["cp", "-a", PRISTINE, WORK], check=True)


def check(cmd, what, argv, user=None):
    global tried
    tried += 1
    before = snapshot()
    pre = []
    if user:
        pre = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    try:
        p = subprocess.run(pre + [KP.encode()] + [c.encode() for c in
                                                   cmd.split()] + argv,
                           cwd=WORK, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        failures.append(f"{cmd} {what}: hung")
        return
    err = p.stderr.decode("utf-8", "replace").splitlines()
    after = snapshot()
    created = set(after) - set(before)
    changed = [f for f in before if after.get(f) != before[f]]
    output = (cmd, " ".join(what.split()[:2]) if what.startswith("file")
              else what.split()[0]) in OUTPUTS
    why = None
    if p.returncode < 0 or p.returncode > 5:
        why = f"exit {p.returncode}"
    elif p.returncode and not err:
        why = "no message"
    elif any(not (line.startswith("kmsprep: ") or
                  line.startswith("(see 'kmsprep")) or len(line) > 600
             for line in err):
        why = f"stderr not kmsprep's short messages: {err[:2]}"
    elif changed:
        why = f"changed {changed}"
    elif created and not (output and p.returncode == 0):
        why = f"created {sorted(created)}"
    if why:
        failures.append(f"{cmd} {what}: {why}")
    if created or changed:
        restore()


PRISTINE = WORK + ".pristine"
shutil.rmtree(PRISTINE, ignore_errors=True)
subprocess.run(["cp", "-a", WORK, PRISTINE], check=True)
for cmd in BASE:
    for opt, arg in options(cmd):
        for name, value in VALUES.items():
            check(cmd, f"--{opt} {name}", argv_with(cmd, opt, value))
        if FILEISH.search(arg):
            for name, value in FILE_VALUES.items():
                check(cmd, f"--{opt} {name}", argv_with(cmd, opt, value),
                      user=name == "unreadable")
    for idx in FILES.get(cmd, []):
        for name, value in list(FILE_VALUES.items()) + list(VALUES.items()):
            args = [a.encode() for a in BASE[cmd]]
            args[idx] = value
            check(cmd, f"file {idx + 1} {name}", args,
                  user=name == "unreadable")

shutil.rmtree(PRISTINE)
for f in failures:
    print("FAIL", f)
print(f"{tried} hostile inputs tried, {len(failures)} failed")
sys.exit(1 if failures else 0)

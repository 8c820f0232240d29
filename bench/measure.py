#!/usr/bin/env python3
"""measure.py: run one shell command once; print its wall time and peak memory.

usage: measure.py [--ok CODES] COMMAND

Runs `bash -c COMMAND` (stdin and stdout on /dev/null, stderr inherited) and
prints `SECONDS MAXRSS_KIB`: the wall-clock time from spawn to exit, and the
ru_maxrss of the process tree that ran COMMAND (KiB on Linux). Exits 2 if
COMMAND's exit status is not in CODES (comma-separated, default 0).

Why not simply getrusage(RUSAGE_CHILDREN) after subprocess.call: Linux carries
the peak RSS of the old address space across execve, and a child of Python
starts as a (v)fork of Python's address space, so every direct child reports
at least this interpreter's ~14 MiB -- more than the tools being measured.
So a small sh forks the command and exits at once; the command, forked
from sh, starts with its few pages; this process, a child subreaper,
inherits it and takes its rusage from wait4.
"""
import argparse
import ctypes
import os
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
LAUNCH = 'bash -c "$1" >/dev/null & echo $!'


def fail(msg):
    print("measure.py: " + msg, file=sys.stderr)
    sys.exit(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ok", default="0", help="accepted exit statuses, e.g. 0,1")
    ap.add_argument("command")
    a = ap.parse_args()
    ok = {int(c) for c in a.ok.split(",")}
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        fail("prctl: " + os.strerror(ctypes.get_errno()))
    start = time.perf_counter()
    launcher = subprocess.Popen(["sh", "-c", LAUNCH, "measure.py", a.command],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    pid = int(launcher.stdout.read())
    launcher.wait()
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        fail("exit status %d from: %s" % (code, a.command))
    print("%.6f %d" % (wall, usage.ru_maxrss))


if __name__ == "__main__":
    main()

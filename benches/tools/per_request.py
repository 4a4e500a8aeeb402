#!/usr/bin/env python3
"""CPU time and context switches per request of running `artgen serve` processes.

Run it beside the image-regime bench (docs/performance.md): it watches every process whose
command line has `artgen` and `serve` and whose executable path contains PATTERN (default:
any), sums the CPU time (user + system) and the context switches (voluntary + involuntary) of
its threads every half second, counting a thread from the first time it is seen, and counts
the server's requests as the access-log lines in the file its standard output goes to (the
bench sends each server's output to a file). When every watched server has exited, or after
--secs, it prints one line per server:

    pid 4242 /path/to/artgen: 14,530 ms CPU, 103,880 switches, 33,493 requests:
        0.434 ms CPU and 3.1 switches per request

Usage: per_request.py [--secs N] [PATTERN]
"""

import glob
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def thread_counters(pid):
    """{thread id: (cpu ticks, context switches)} of `pid`'s live threads."""
    counters = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            with open(f"{task}/stat") as stat:
                text = stat.read()
            fields = text[text.rindex(")") + 2 :].split()
            cpu = int(fields[11]) + int(fields[12])  # utime, stime
            switches = 0
            with open(f"{task}/status") as status:
                for line in status:
                    if "ctxt_switches" in line:
                        switches += int(line.split()[1])
            counters[task] = (cpu, switches)
        except (OSError, ValueError, IndexError):
            pass  # the thread ended while being read
    return counters


def servers(pattern):
    """[(pid, executable)] of the `artgen serve` processes matching `pattern`."""
    found = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except OSError:
            continue
        exe = argv[0].decode(errors="replace")
        if b"serve" in argv[1:] and "artgen" in os.path.basename(exe) and pattern in exe:
            found.append((int(path.split("/")[2]), exe))
    return found


class Server:
    """What has been counted of one server so far."""

    def __init__(self, exe):
        self.exe = exe
        self.threads = {}
        self.cpu = 0
        self.switches = 0
        self.requests = 0
        self.log = None
        self.log_offset = 0

    def sample(self, pid):
        now = thread_counters(pid)
        for task, (cpu, switches) in now.items():
            if task in self.threads:
                before_cpu, before_switches = self.threads[task]
                self.cpu += cpu - before_cpu
                self.switches += switches - before_switches
        self.threads = now
        try:
            log = os.readlink(f"/proc/{pid}/fd/1")
        except OSError:
            return
        if log != self.log:
            self.log, self.log_offset, self.requests = log, 0, 0
        try:
            with open(log, "rb") as out:
                out.seek(self.log_offset)
                for line in out:
                    if line.endswith(b"\n"):
                        self.log_offset += len(line)
                        if b'"latency_ms"' in line:
                            self.requests += 1
        except OSError:
            pass  # not a file (a pipe or a terminal): requests stay unknown


def main():
    args = sys.argv[1:]
    secs = 3600.0
    if "--secs" in args:
        at = args.index("--secs")
        secs = float(args[at + 1])
        del args[at : at + 2]
    pattern = args[0] if args else ""
    watched = {}
    start = time.time()
    while time.time() - start < secs:
        live = servers(pattern)
        for pid, exe in live:
            watched.setdefault(pid, Server(exe)).sample(pid)
        if watched and not live:
            break
        time.sleep(0.5)
    for pid, server in watched.items():
        cpu_ms = server.cpu * 1000 / TICK
        per = max(server.requests, 1)
        print(
            f"pid {pid} {server.exe}: {cpu_ms:,.0f} ms CPU, {server.switches:,} switches, "
            f"{server.requests:,} requests: {cpu_ms / per:.3f} ms CPU and "
            f"{server.switches / per:.1f} switches per request"
        )


if __name__ == "__main__":
    main()

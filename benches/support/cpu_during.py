#!/usr/bin/env python3
"""CPU used per command while a benchmark runs, from /proc.

Which process took the two cores during a pipeline drain: the harness
prints only the four services' CPU, not PostgreSQL's backends, the
broker's or its own loader's. Start this when the harness prints
"services ready", stop it by creating the stop file when it prints its
result:

    python3 benches/support/cpu_during.py /tmp/cpu.stop > cpu.txt &
    ...; touch /tmp/cpu.stop; wait

Every 250 ms it reads utime + stime of every process (keyed by pid and
start time, so a reused pid is a new process; a process that exits
between samples loses at most its last 250 ms). It prints the machine's
busy and idle core-seconds over the window and the CPU per command name.
"""

import collections
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def processes():
    """(pid, start time) -> (command, CPU seconds) of every process now."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        close = stat.rfind(")")
        name = stat[stat.find("(") + 1 : close]
        fields = stat[close + 2 :].split()
        out[(pid, fields[19])] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    return out


def machine():
    """(all, idle) core-seconds since boot."""
    values = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    return sum(values) / TICK, (values[3] + values[4]) / TICK


def main(stop):
    first = processes()
    total0, idle0 = machine()
    last = dict(first)
    while not os.path.exists(stop):
        time.sleep(0.25)
        last.update(processes())
    total1, idle1 = machine()
    used = collections.Counter()
    for key, (name, cpu) in last.items():
        used[name] += cpu - first.get(key, (name, 0.0))[1]
    cores = os.cpu_count()
    idle = idle1 - idle0
    print(f"window {(total1 - total0) / cores:.1f} s: busy {total1 - total0 - idle:.1f} "
          f"core-s, idle {idle:.1f} core-s")
    for name, cpu in used.most_common(10):
        if cpu >= 0.05:
            print(f"  {name:20s} {cpu:6.1f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/cpu_during.stop")

#!/usr/bin/env python3
"""Peak memory of a process and its direct children (used by the bench/*.sh scripts).

  procmem.py PID STOPFILE [--interval S] [--socket SOCK --expect N]
      Samples /proc every S seconds (0.02) until STOPFILE exists: VmRSS of PID, and the sum of VmRSS
      over its direct children (the daemon's workers and helper workers). Every 10th sample also sums
      Pss (/proc/PID/smaps_rollup) over all of them, and, with --socket, asks the API how many
      certificates are MONITORING, so that "in flight" = N - MONITORING. Prints one JSON line:
      {"samples", "main_rss_kb_peak", "children_rss_kb_peak", "children_at_peak",
       "total_rss_kb_peak", "in_flight_at_peak", "in_flight_max", "total_pss_kb_peak",
       "main_hwm_kb"}  (the peaks of main and children are each the highest sample; total is the
       highest sum of one sample).
"""
import argparse, json, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ckload import count  # noqa: E402


def field(pid, name):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    out = []
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("pid", type=int)
    p.add_argument("stopfile")
    p.add_argument("--interval", type=float, default=0.02)
    p.add_argument("--socket")
    p.add_argument("--expect", type=int, default=0)
    a = p.parse_args()
    peak = {"samples": 0, "main_rss_kb_peak": 0, "children_rss_kb_peak": 0, "children_at_peak": 0,
            "total_rss_kb_peak": 0, "in_flight_at_peak": None, "in_flight_max": None,
            "total_pss_kb_peak": 0, "main_hwm_kb": 0}
    in_flight = None
    i = 0
    while not os.path.exists(a.stopfile):
        kids = children(a.pid)
        m = field(a.pid, "VmRSS")
        c = sum(field(k, "VmRSS") for k in kids)
        if i % 10 == 0:
            peak["total_pss_kb_peak"] = max(peak["total_pss_kb_peak"], pss(a.pid) + sum(pss(k) for k in kids))
            if a.socket:
                try:
                    in_flight = a.expect - count(a.socket, "MONITORING")
                    peak["in_flight_max"] = max(peak["in_flight_max"] or 0, in_flight)
                except Exception:
                    pass
        peak["main_rss_kb_peak"] = max(peak["main_rss_kb_peak"], m)
        if c > peak["children_rss_kb_peak"]:
            peak["children_rss_kb_peak"], peak["children_at_peak"] = c, len(kids)
        if m + c > peak["total_rss_kb_peak"]:
            peak["total_rss_kb_peak"], peak["in_flight_at_peak"] = m + c, in_flight
        i += 1
        time.sleep(a.interval)
    peak["samples"] = i
    peak["main_hwm_kb"] = field(a.pid, "VmHWM")
    print(json.dumps(peak))


if __name__ == "__main__":
    main()

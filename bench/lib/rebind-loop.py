#!/usr/bin/env python3
"""Rebind latency for bench/rebind.sh: N renewals of one request, one after another.

  rebind-loop.py SOCKET NICK N

For each: POST /api/v1/certificates/NICK/resubmit, then GET /api/v1/events?cert=NICK every 5 ms
until a newer 1001 "replaced" and then a newer 1103 "rebound" event are listed (1104 stops the
run). Prints one JSON line: {"replaced_ms": [...], "rebound_ms": [...]}, each measured from just
before the POST.
"""
import json, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ckload import UnixHTTPConnection, request  # noqa: E402

sock, nick, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
conn = UnixHTTPConnection(sock)


def newest(name):
    status, data = request(conn, "GET", "/api/v1/events?cert=%s&id=%s&limit=1" % (nick, name))
    if status != 200:
        raise SystemExit("GET events: HTTP %d %s" % (status, data[:200]))
    items = json.loads(data)["items"]
    return items[0]["id"] if items else 0


replaced_ms, rebound_ms = [], []
for i in range(n):
    last_rep, last_reb, last_fail = newest("replaced"), newest("rebound"), newest("rebind-failed")
    t0 = time.monotonic()
    status, data = request(conn, "POST", "/api/v1/certificates/%s/resubmit" % nick, {})
    if status >= 300:
        raise SystemExit("resubmit: HTTP %d %s" % (status, data[:200]))
    rep = None
    while True:
        now = time.monotonic()
        if rep is None and newest("replaced") > last_rep:
            rep = now
        if newest("rebound") > last_reb:
            break
        if newest("rebind-failed") > last_fail:
            raise SystemExit("renewal %d: rebind-failed" % i)
        if now - t0 > 60:
            raise SystemExit("renewal %d: no rebound within 60 s" % i)
        time.sleep(0.005)
    end = time.monotonic()
    replaced_ms.append(round(((rep or end) - t0) * 1000, 1))
    rebound_ms.append(round((end - t0) * 1000, 1))
print(json.dumps({"replaced_ms": replaced_ms, "rebound_ms": rebound_ms}))

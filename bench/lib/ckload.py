#!/usr/bin/env python3
"""Load generator for certkeeperd's API on its Unix socket (used by the bench/*.sh scripts).

  ckload.py issue SOCKET N [--concurrency C] [--prefix P] [--dir DIR] [--ca NAME] [--dns FMT] [--timeout S]
      POSTs N requests (EC P-256, from CA NAME, default local) with C connections in flight (keep-alive, one thread
      each; with --dns, request i (1..N) asks for the DNS name FMT % i, e.g. c%d.example.test), then
      polls GET /api/v1/certificates?state=MONITORING&limit=1 until "total" reaches the number of
      MONITORING certificates before the run plus N.  Prints one JSON line:
      {"n", "post_s", "all_monitoring_s", "certs_per_s", "posts_per_s", "errors"}
      Times are measured from the first POST.
  ckload.py count SOCKET STATE   prints the "total" of ?state=STATE&limit=1
"""
import http.client, json, socket, sys, threading, time, argparse


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def request(conn, method, path, body=None):
    headers = {}
    if body is not None:
        body = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def count(sock, state):
    c = UnixHTTPConnection(sock)
    st, data = request(c, "GET", "/api/v1/certificates?state=%s&limit=1" % state)
    c.close()
    if st != 200:
        raise SystemExit("count: HTTP %d %s" % (st, data[:200]))
    return json.loads(data)["total"]


def issue(a):
    base = count(a.socket, "MONITORING")
    next_i = [0]
    lock = threading.Lock()
    errors = []

    def worker():
        conn = UnixHTTPConnection(a.socket)
        while True:
            with lock:
                i = next_i[0]
                if i >= a.n:
                    break
                next_i[0] += 1
            body = {"nickname": "%s%06d" % (a.prefix, i), "key_type": "EC", "key_bits": 256,
                    "ca": a.ca}
            if a.dns:
                body["dns"] = [a.dns % (i + 1)]
            if a.dir:
                body["cert_path"] = "%s/%s%06d.crt" % (a.dir, a.prefix, i)
                body["key_path"] = "%s/%s%06d.key" % (a.dir, a.prefix, i)
            for attempt in range(3):
                try:
                    st, data = request(conn, "POST", "/api/v1/certificates", body)
                    break
                except (ConnectionError, http.client.HTTPException, OSError) as e:
                    conn.close()
                    conn = UnixHTTPConnection(a.socket)
                    st, data = 0, str(e).encode()
            if st != 201:
                with lock:
                    errors.append("%s: %d %s" % (body["nickname"], st, data[:200]))
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_post = time.monotonic() - t0
    want = base + a.n - len(errors)
    conn = UnixHTTPConnection(a.socket)
    deadline = t0 + a.timeout
    done = 0
    while True:
        st, data = request(conn, "GET", "/api/v1/certificates?state=MONITORING&limit=1")
        done = json.loads(data)["total"] - base
        if done >= a.n - len(errors):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(a.poll)
    t_all = time.monotonic() - t0
    conn.close()
    out = {"n": a.n, "done": done, "concurrency": a.concurrency, "post_s": round(t_post, 3),
           "all_monitoring_s": round(t_all, 3), "certs_per_s": round(done / t_all, 1),
           "posts_per_s": round(a.n / t_post, 1), "errors": len(errors)}
    print(json.dumps(out))
    for e in errors[:5]:
        print("error: " + e, file=sys.stderr)
    return 0 if not errors and done >= a.n else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    pi = sub.add_parser("issue")
    pi.add_argument("socket")
    pi.add_argument("n", type=int)
    pi.add_argument("--concurrency", type=int, default=8)
    pi.add_argument("--prefix", default="b")
    pi.add_argument("--dir", default=None)
    pi.add_argument("--ca", default="local")
    pi.add_argument("--dns", default=None)
    pi.add_argument("--timeout", type=float, default=600)
    pi.add_argument("--poll", type=float, default=0.02)
    pc = sub.add_parser("count")
    pc.add_argument("socket")
    pc.add_argument("state")
    a = p.parse_args()
    if a.cmd == "issue":
        sys.exit(issue(a))
    print(count(a.socket, a.state))


if __name__ == "__main__":
    main()

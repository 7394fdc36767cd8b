#!/usr/bin/env python3
"""Load generator for certkeeperd's API on its Unix socket (used by the bench/*.sh scripts).

  ckload.py issue SOCKET N [--concurrency C] [--prefix P] [--dir DIR] [--ca NAME] [--dns FMT] [--timeout S] [--cpu]
      POSTs N requests (EC P-256, from CA NAME, default local; with --dns, request i (1..N) asks for the
      DNS name FMT % i, e.g. c%d.example.test) with C connections in flight (keep-alive, all driven
      by one thread), then polls GET /api/v1/certificates?state=MONITORING&limit=1 until "total" reaches the
      number of MONITORING certificates before the run plus N.  Prints one JSON line:
      {"n", "post_s", "all_monitoring_s", "certs_per_s", "posts_per_s", "errors"}
      Times are measured from the first POST.  With --dir, each request names its files there
      (DIR/P000000.key, DIR/P000000.crt).  --cpu adds "client_cpu_s", this process's own CPU time
      during the run (to see that the load generator is not the bottleneck).
  ckload.py count SOCKET STATE   prints the "total" of ?state=STATE&limit=1
"""
import http.client, json, os, selectors, socket, sys, time, argparse


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


class Conn:
    """One keep-alive HTTP/1.1 connection driven by the event loop in post_all()."""

    def __init__(self, path):
        self.path = path
        self.sock = None
        self.i = None        # the request in flight
        self.attempt = 0
        self.buf = b""

    def open(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)
        self.sock.setblocking(False)

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None
        self.buf = b""

    def response(self):
        """(status, body, keep_alive) once a whole response is buffered, else None."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buf[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        fields = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
        length = int(fields.get("content-length", "0"))
        if len(self.buf) < end + 4 + length:
            return None
        body = self.buf[end + 4:end + 4 + length]
        self.buf = self.buf[end + 4 + length:]
        return status, body, fields.get("connection", "").lower() != "close"


def post_all(a, errors):
    """POSTs a.n requests with a.concurrency connections in flight, from one thread: raw HTTP/1.1
    over non-blocking sockets and a selector, so that the load generator spends little CPU (an
    http.client thread per connection costs several times as much)."""
    sel = selectors.DefaultSelector()
    next_i = 0

    def body_of(i):
        body = {"nickname": "%s%06d" % (a.prefix, i), "key_type": "EC", "key_bits": 256, "ca": a.ca}
        if a.dns:
            body["dns"] = [a.dns % (i + 1)]
        if a.dir:
            body["cert_path"] = "%s/%s%06d.crt" % (a.dir, a.prefix, i)
            body["key_path"] = "%s/%s%06d.key" % (a.dir, a.prefix, i)
        data = json.dumps(body).encode()
        return (b"POST /api/v1/certificates HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data)) + data

    def send(c):
        if c.sock is None:
            c.open()
            sel.register(c.sock, selectors.EVENT_READ, c)
        c.sock.sendall(body_of(c.i))  # small: fits the socket buffer

    def start_next(c):
        nonlocal next_i
        if next_i >= a.n:
            sel.unregister(c.sock)
            c.close()
            return
        c.i, c.attempt = next_i, 0
        next_i += 1
        send(c)

    def failed(c, why):
        if c.sock is not None:
            sel.unregister(c.sock)
            c.close()
        c.attempt += 1
        if c.attempt < 3:
            send(c)
            return
        errors.append("%s%06d: %s" % (a.prefix, c.i, why))
        c.open()
        sel.register(c.sock, selectors.EVENT_READ, c)
        start_next(c)

    conns = [Conn(a.socket) for _ in range(min(a.concurrency, a.n))]
    for c in conns:
        c.open()
        sel.register(c.sock, selectors.EVENT_READ, c)
        start_next(c)
    while sel.get_map():
        for key, _ in sel.select(timeout=a.timeout):
            c = key.data
            try:
                data = c.sock.recv(65536)
            except OSError as e:
                failed(c, str(e))
                continue
            if not data:
                failed(c, "connection closed")
                continue
            c.buf += data
            r = c.response()
            if r is None:
                continue
            status, body, keep_alive = r
            if status != 201:
                errors.append("%s%06d: %d %s" % (a.prefix, c.i, status, body[:200]))
            if not keep_alive:
                sel.unregister(c.sock)
                c.close()
                c.open()
                sel.register(c.sock, selectors.EVENT_READ, c)
            start_next(c)


def issue(a):
    base = count(a.socket, "MONITORING")
    errors = []

    cpu0 = os.times()
    t0 = time.monotonic()
    post_all(a, errors)
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
    cpu1 = os.times()
    conn.close()
    out = {"n": a.n, "done": done, "concurrency": a.concurrency, "post_s": round(t_post, 3),
           "all_monitoring_s": round(t_all, 3), "certs_per_s": round(done / t_all, 1),
           "posts_per_s": round(a.n / t_post, 1), "errors": len(errors)}
    if a.cpu:
        out["client_cpu_s"] = round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 3)
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
    pi.add_argument("--cpu", action="store_true")
    pc = sub.add_parser("count")
    pc.add_argument("socket")
    pc.add_argument("state")
    a = p.parse_args()
    if a.cmd == "issue":
        sys.exit(issue(a))
    print(count(a.socket, a.state))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A webhook receiver for test-subscriptions.sh, on 127.0.0.1 at a port the kernel chooses.

Usage: webhook-receiver.py SECRET_FILE PORT_FILE LOG FAIL_FIRST
Checks X-Certkeeper-Signature (sha256=HEX(HMAC-SHA256(secret, timestamp + "." + body))) and
answers 401 when it is wrong. Answers 500 to the first FAIL_FIRST good requests, to every request
to /fail, and to every request while the file LOG.down exists. Each accepted event is one line
of LOG: "ROW EVENT_ID NICKNAME"."""
import hashlib
import hmac
import http.server
import json
import os
import sys

secret = open(sys.argv[1], "rb").read().split(b"\n")[0]
port_file, log, fail_first = sys.argv[2], sys.argv[3], int(sys.argv[4])
seen = {"good": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ts = self.headers.get("X-Certkeeper-Timestamp", "")
        sig = self.headers.get("X-Certkeeper-Signature", "")
        want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, want) or self.headers.get("Content-Type") != "application/json":
            with open(log + ".bad", "a") as f:
                f.write("bad signature %s\n" % sig)
            return self.answer(401)
        if self.path == "/fail" or os.path.exists(log + ".down"):
            return self.answer(500)
        seen["good"] += 1
        if seen["good"] <= fail_first:
            with open(log + ".refused", "a") as f:
                f.write("refused\n")
            return self.answer(500)
        e = json.loads(body)
        with open(log, "a") as f:
            f.write("%d %d %s\n" % (e["row"], e["event_id"], e.get("nickname") or "-"))
        self.answer(204)


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()

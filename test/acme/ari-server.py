#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A test server for ACME Renewal Information (RFC 9773), and only that.

Debian's Pebble (2.4.0) has no ARI: its directory lists no renewalInfo. This server stands in for a
CA that has it, on plain HTTP on 127.0.0.1 (the ACME client accepts http:// on loopback for tests):

  GET  /dir                  a directory with renewalInfo, newNonce, newAccount and newOrder here
  GET  /renewalInfo/<certID> the window in the control file (JSON: start, end as RFC 3339 or unix
                             seconds, explanation_url, retry_after), with Retry-After if given;
                             each certID asked for is appended to the log file
  HEAD /nonce                a fresh Replay-Nonce
  POST /account              any account request: 200 with a Location (no signature is checked)
  POST /order                logs the JWS payload (to see "replaces"), then refuses the order with
                             a rejectedIdentifier problem: this server never issues

It is not a CA: issuance is Pebble's part of the tests. Usage:
  ari-server.py CONTROL_FILE LOG_FILE PORT_FILE   (the kernel chooses the port; written to PORT_FILE)
"""
import base64
import datetime
import http.server
import json
import os
import secrets
import sys

CONTROL, LOG, PORT_FILE = sys.argv[1:4]


def log(line):
    with open(LOG, "a") as f:
        f.write(line + "\n")


def rfc3339(v):
    if isinstance(v, str):
        return v
    return datetime.datetime.fromtimestamp(v, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Handler(http.server.BaseHTTPRequestHandler):
    def base(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def send(self, status, body=None, headers=(), ctype="application/json"):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Replay-Nonce", secrets.token_urlsafe(16))
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self):
        self.send(200 if self.path == "/nonce" else 404)

    def do_GET(self):
        b = self.base()
        if self.path == "/dir":
            self.send(200, {"newNonce": b + "/nonce", "newAccount": b + "/account", "newOrder": b + "/order",
                            "renewalInfo": b + "/renewalInfo", "meta": {"termsOfService": b + "/tos"}})
        elif self.path.startswith("/renewalInfo/"):
            cert_id = self.path[len("/renewalInfo/"):]
            log("renewalInfo " + cert_id)
            with open(CONTROL) as f:
                c = json.load(f)
            body = {"suggestedWindow": {"start": rfc3339(c["start"]), "end": rfc3339(c["end"])}}
            if c.get("explanation_url"):
                body["explanationURL"] = c["explanation_url"]
            headers = [("Retry-After", str(c["retry_after"]))] if c.get("retry_after") else []
            self.send(200, body, headers)
        elif self.path == "/nonce":
            self.send(204)
        else:
            self.send(404, {"type": "urn:ietf:params:acme:error:malformed", "detail": "not here"},
                      ctype="application/problem+json")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        jws = json.loads(self.rfile.read(min(n, 1 << 20)) or b"{}")
        p = jws.get("payload", "")
        payload = base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode() if p else ""
        if self.path == "/account":
            self.send(200, {"status": "valid"}, [("Location", self.base() + "/account/1")])
        elif self.path == "/order":
            log("newOrder " + payload)
            self.send(400, {"type": "urn:ietf:params:acme:error:rejectedIdentifier",
                            "detail": "this test server issues nothing"}, ctype="application/problem+json")
        else:
            self.send(404, {"type": "urn:ietf:params:acme:error:malformed", "detail": "not here"},
                      ctype="application/problem+json")

    def log_message(self, fmt, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()

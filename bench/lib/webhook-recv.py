#!/usr/bin/env python3
"""A webhook subscriber for bench/fanout.sh: counts the events POSTed to it and checks each one.

  webhook-recv.py PORT SECRET_FILE OUT_JSON EXPECT

Listens on 127.0.0.1:PORT (HTTP/1.1, keep-alive), answers 204 to each POST whose
X-Certkeeper-Signature is sha256=HMAC-SHA256(secret, timestamp + "." + body) (docs/EVENTS.md), 401
otherwise. Counts distinct event rows (a duplicate is an event delivered again, allowed: at least
once), bad signatures and bodies. When EXPECT distinct rows have arrived, or on SIGTERM, writes
OUT_JSON: {"distinct", "posts", "duplicates", "bad_signature", "bad_body", "first_at", "last_at",
"min_row", "max_row"} (times: unix seconds, float) and exits. With HOLD_FILE set in the
environment, answers 503 (counted as "held") while that file exists: the events pile up, to time
their delivery alone once it is removed.
"""
import hashlib, hmac, http.server, json, os, signal, sys, threading, time

port, secret_file, out_path, expect = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(secret_file, "rb") as f:
    secret = f.readline().rstrip(b"\r\n")

hold = os.environ.get("HOLD_FILE")
state = {"rows": set(), "held": 0, "posts": 0, "duplicates": 0, "bad_signature": 0, "bad_body": 0,
         "first_at": None, "last_at": None}
done = threading.Event()


def finish():
    rows = state["rows"]
    out = {k: v for k, v in state.items() if k != "rows"}
    out.update(distinct=len(rows), min_row=min(rows) if rows else None, max_row=max(rows) if rows else None)
    with open(out_path + ".tmp", "w") as f:
        json.dump(out, f)
    os.rename(out_path + ".tmp", out_path)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if hold and os.path.exists(hold):
            state["held"] += 1
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        ts = self.headers.get("X-Certkeeper-Timestamp", "")
        want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(self.headers.get("X-Certkeeper-Signature", ""), want)
        state["posts"] += 1
        if not ok:
            state["bad_signature"] += 1
        else:
            try:
                row = int(json.loads(body)["row"])
            except (ValueError, KeyError, TypeError):
                state["bad_body"] += 1
                row = None
            if row is not None:
                if row in state["rows"]:
                    state["duplicates"] += 1
                state["rows"].add(row)
                now = time.time()
                state["first_at"] = state["first_at"] or now
                state["last_at"] = now
        self.send_response(204 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if len(state["rows"]) >= expect:
            done.set()


srv = http.server.HTTPServer(("127.0.0.1", port), Handler)
signal.signal(signal.SIGTERM, lambda *a: done.set())
threading.Thread(target=srv.serve_forever, daemon=True).start()
done.wait()
finish()
srv.shutdown()

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A plain-http proxy in front of Azurite that misbehaves on purpose.

    throttle-proxy.py PORTFILE UPSTREAM_PORT CA_FILE COUNTS_FILE [copy-pending]

Forwards each request unchanged (method, path and query, headers, body) to
https://127.0.0.1:UPSTREAM_PORT, except that the first tries of many
requests fail: of the distinct requests (method and URL), every 2nd is
answered 503 ServerBusy (throttling) the first time; every 3rd of those
then has its connection dropped without an answer, or (every 5th) gets a
500 InternalError, on the second try.  The third try always goes through,
so a client that retries a few times always succeeds.  Writes the port it
listens on to PORTFILE and the counts to COUNTS_FILE as it goes.

With copy-pending, nothing fails; instead a Copy Blob that Azurite finished
at once is answered x-ms-copy-status: pending, and so are the next two
HEADs of its destination, as a service copying in the background would.
"""
import http.client
import http.server
import socketserver
import ssl
import sys
import threading

portfile, upstream_port, ca_file, counts_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
copy_pending = len(sys.argv) > 5 and sys.argv[5] == "copy-pending"
ctx = ssl.create_default_context(cafile=ca_file)
lock = threading.Lock()
counts = {"requests": 0, "503": 0, "500": 0, "dropped": 0, "forwarded": 0, "pending": 0}
pending_heads = {}   # copy destination path -> HEADs still to answer "pending"
tries = {}      # (method, path) -> requests seen
distinct = [0]


def note(what):
    counts[what] += 1
    with open(counts_file, "w") as f:
        f.write(" ".join(f"{k}={v}" for k, v in counts.items()) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, code):
        self.send_response(status)
        self.send_header("x-ms-error-code", code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            counts["requests"] += 1
            key = (self.command, self.path)
            k = tries[key] = tries.get(key, 0) + 1
            if k == 1:
                distinct[0] += 1
            n = distinct[0] if k == 1 else tries.setdefault(("n",) + key, 0)
            if k == 1:
                tries[("n",) + key] = n
            action = "forward"
            if copy_pending:
                pass
            elif n % 2 == 0 and k == 1:
                action = "503"
            elif n % 6 == 0 and k == 2:
                action = "drop"
            elif n % 10 == 0 and k == 2:
                action = "500"
            note({"forward": "forwarded", "drop": "dropped"}.get(action, action))
        if action == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if action == "503":
            return self.answer(503, "ServerBusy")
        if action == "500":
            return self.answer(500, "InternalError")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn = http.client.HTTPSConnection("127.0.0.1", upstream_port, context=ctx, timeout=60)
        conn.request(self.command, self.path, body=body if self.command != "GET" or body else None,
                     headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        pending = False
        if copy_pending and resp.getheader("x-ms-copy-status") == "success":
            with lock:
                if self.command == "PUT" and self.headers.get("x-ms-copy-source"):
                    pending_heads[self.path] = 2
                    pending = True
                elif self.command == "HEAD" and pending_heads.get(self.path):
                    pending_heads[self.path] -= 1
                    pending = True
                if pending:
                    note("pending")
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if pending and k.lower() == "x-ms-copy-status":
                v = "pending"
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_DELETE = do_HEAD = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(f"{srv.server_address[1]}\n")
import os  # noqa: E402
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()

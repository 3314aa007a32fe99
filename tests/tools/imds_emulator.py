#!/usr/bin/env python3
"""A local IMDSv2 emulator for tests. Never bind it to anything but a test address
(127.0.0.1 inside a test's own namespace, or 169.254.169.254 inside one).

Serves a dump-metadata capture (format ec2-netcfg-metadata/1) under /latest/. The
capture file is re-read whenever it changes, so a test changes what "IMDS" says by
rewriting it (write a temp file and rename it over).

IMDSv2 as EC2 does it:
  PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds 1..21600, else 400;
  a PUT with X-Forwarded-For, or to a dated path, 403;
  GET without a valid token: 401 (unless --allow-v1);
  listings one entry per line, sub-directories end in '/', no trailing newline;
  missing paths: 404 with an HTML body.

Every answer waits --latency-ms first (default 0; answers on different connections wait
side by side, as a real service's latency), for benchmarks.

Faults, for failure tests (--faults FILE, JSON, re-read on change), e.g.:
  {"status": {"meta-data/mac": [503, 503]}}   answer these statuses first, then normally
  {"token_status": [503]}                     same for the token PUT
  {"delay_ms": 500}                           slow every response (on top of --latency-ms)
  {"drop": 2}                                 close the next 2 connections without an answer
  {"drop_requests": 2}                        close the connection at the next 2 requests (also
                                              on a kept-alive connection) without an answer
  {"disabled": true}                          403 on the token PUT (IMDS turned off)
  {"invalidate_tokens": true}                 every token issued so far becomes invalid
Counts requests and connections into --log FILE (one JSON line per request; "connection" is
the number of the TCP connection the request came on, 1 for the first one accepted; "t" when
its handling began, in seconds since the epoch).
"""
import argparse
import http
import http.server
import json
import os
import queue
import socket
import socketserver
import sys
import threading
import time
import uuid

HTML_404 = ("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<!DOCTYPE html>\n<html><head>"
            "<title>404 - Not Found</title></head><body><h1>404 - Not Found</h1></body></html>\n")


REASONS = {code.value: code.phrase for code in http.HTTPStatus}


class Headers(dict):
    """Request headers by lower-cased name; looked up in any case."""

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name):
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name):
        return dict.__contains__(self, name.lower())


class State:
    def __init__(self, capture, faults, log):
        self.capture_path, self.faults_path, self.log_path = capture, faults, log
        self.lock = threading.Lock()
        self.paths, self.capture_mtime = {}, None
        self.faults, self.faults_mtime = {}, None
        self.tokens = {}
        self.connections = 0
        self.status_used = {}
        self.log_fd = None

    def reload(self):
        try:
            st = os.stat(self.capture_path)
            key = (st.st_mtime_ns, st.st_ino, st.st_size)
            if key != self.capture_mtime:
                with open(self.capture_path) as f:
                    self.paths = json.load(f)["paths"]
                self.capture_mtime = key
        except (OSError, ValueError):
            pass  # keep serving the last good capture while a test rewrites it
        if self.faults_path:
            try:
                st = os.stat(self.faults_path)
                key = (st.st_mtime_ns, st.st_ino, st.st_size)
                if key != self.faults_mtime:
                    with open(self.faults_path) as f:
                        self.faults = json.load(f)
                    self.faults_mtime = key
                    self.status_used = {}
                    if self.faults.get("invalidate_tokens"):
                        self.tokens.clear()
            except FileNotFoundError:
                self.faults, self.faults_mtime = {}, None
            except (OSError, ValueError):
                pass

    def log(self, **entry):
        # "t" first (boot timelines): readers take everything from "connection" on as the
        # connection's key.
        if "t" not in entry:
            entry = dict(t=round(time.time(), 6), **entry)
        # One write(2) per line on an O_APPEND descriptor: lines from concurrent
        # connections never interleave, and a reader sees each line whole.
        if self.log_path:
            if self.log_fd is None:
                self.log_fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            os.write(self.log_fd, (json.dumps(entry) + "\n").encode())


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "EC2ws"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every request on a kept-alive connection.
        if self.request.family in (socket.AF_INET, socket.AF_INET6):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        st = self.server.state
        with st.lock:
            st.connections += 1
            self.conn_id = st.connections
            st.reload()
            drop = st.faults.get("drop", 0)
            if drop:
                st.faults["drop"] = drop - 1
        self.dropped = bool(drop)
        if drop:
            self.request.shutdown(socket.SHUT_RDWR)

    def handle(self):
        # A request the client sent before the shutdown may still be buffered: a
        # dropped connection must not answer (nor log) it.
        if not self.dropped:
            super().handle()

    def handle_one_request(self):
        """BaseHTTPRequestHandler's, lean: a client sends bursts of requests over several
        connections at once, and the standard library's header parser (email.parser)
        costs more than everything else a request does. Same outcome for what clients
        send here: request line, headers, keep-alive unless HTTP/1.0 or "Connection:
        close", 400 for a malformed request, 501 for another method."""
        try:
            line = self.rfile.readline(65537)
            if not line:
                self.close_connection = True
                return
            self.raw_requestline = line
            words = line.decode("iso-8859-1").rstrip("\r\n").split()
            self.request_version = "HTTP/1.1"
            headers = Headers()
            for _ in range(100):
                h = self.rfile.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.decode("iso-8859-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            self.headers = headers
            if len(line) > 65536 or len(words) != 3 or not words[2].startswith("HTTP/1."):
                self.close_connection = True
                return self.reply(400, "")
            self.command, self.path, self.request_version = words
            conn = headers.get("Connection", "").lower()
            self.close_connection = conn == "close" or (self.request_version == "HTTP/1.0" and conn != "keep-alive")
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                return self.reply(501, "")
            method()
        except (TimeoutError, socket.timeout):
            self.close_connection = True

    def reply(self, code, body, ctype="text/plain", extra=None):
        """The whole response in one write."""
        data = body.encode()
        head = ["%s %d %s" % (self.protocol_version, code, REASONS.get(code, "")),
                "Server: " + self.server_version, "Date: " + self.date_time_string(),
                "Content-Type: " + ctype, "Content-Length: %d" % len(data)]
        for k, v in (extra or {}).items():
            head.append("%s: %s" % (k, v))
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("iso-8859-1") + data)

    def drop_request(self):
        """Consumes one "drop_requests" fault: closes the connection, no answer."""
        st = self.server.state
        with st.lock:
            st.reload()
            n = st.faults.get("drop_requests", 0)
            if n:
                st.faults["drop_requests"] = n - 1
        if not n:
            return False
        self.close_connection = True
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return True

    def forced_status(self, key):
        st = self.server.state
        seq = st.faults.get("status", {}).get(key) if key != "token" else st.faults.get("token_status")
        if not seq:
            return None
        used = st.status_used.get(key, 0)
        if used < len(seq):
            st.status_used[key] = used + 1
            return seq[used]
        return None

    def do_PUT(self):
        st = self.server.state
        t0 = time.time()
        if self.drop_request():
            return
        with st.lock:
            st.reload()
            delay = st.faults.get("delay_ms", 0) + self.server.latency_ms
            forced = self.forced_status("token")
            disabled = st.faults.get("disabled")
        if delay:
            time.sleep(delay / 1000.0)
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        st.log(method="PUT", path=self.path, t=round(t0, 6), connection=self.conn_id)
        if self.headers.get("Content-Length"):
            self.rfile.read(int(self.headers["Content-Length"]))
        if forced:
            return self.reply(forced, "")
        if disabled or self.headers.get("X-Forwarded-For") or self.path != "/latest/api/token":
            return self.reply(403, "")
        try:
            ttl = int(ttl)
        except (TypeError, ValueError):
            return self.reply(400, "")
        if not 1 <= ttl <= 21600:
            return self.reply(400, "")
        token = uuid.uuid4().hex + uuid.uuid4().hex
        with st.lock:
            st.tokens[token] = time.monotonic() + ttl
        self.reply(200, token, extra={"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})

    def do_GET(self):
        st = self.server.state
        t0 = time.time()
        if self.drop_request():
            return
        path = self.path
        with st.lock:
            st.reload()
            delay = st.faults.get("delay_ms", 0) + self.server.latency_ms
            rel = path[len("/latest/"):] if path.startswith("/latest/") else None
            forced = self.forced_status(rel) if rel is not None else None
            token = self.headers.get("X-aws-ec2-metadata-token")
            valid = token in st.tokens and st.tokens[token] > time.monotonic()
            body = st.paths.get(rel) if rel is not None else None
            if body is None and rel is not None and not rel.endswith("/") and (rel + "/") in st.paths:
                body = st.paths.get(rel + "/")
        if delay:
            time.sleep(delay / 1000.0)
        st.log(method="GET", path=path, t=round(t0, 6), connection=self.conn_id)
        if forced:
            return self.reply(forced, "")
        if not valid and not self.server.allow_v1:
            return self.reply(401, "")
        if body is None:
            return self.reply(404, HTML_404, "text/html")
        self.reply(200, body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Clients that open several connections at once (ec2-netcfg does) must not overflow
    # the listen backlog: a dropped SYN is retried only after a second.
    request_queue_size = 128
    # Connections go to worker threads started beforehand and kept for the next one:
    # starting a thread costs more than answering a request, and a client that opens
    # several connections at once would see them accepted one by one.
    prestarted_workers = 16

    def start_workers(self):
        self.idle = []
        self.idle_lock = threading.Lock()
        for _ in range(self.prestarted_workers):
            q = queue.SimpleQueue()
            threading.Thread(target=self.worker, args=(q,), daemon=True).start()
            self.idle.append(q)

    def worker(self, q):
        while True:
            request, client_address = q.get()
            self.process_request_thread(request, client_address)
            with self.idle_lock:
                self.idle.append(q)

    def process_request(self, request, client_address):
        with self.idle_lock:
            q = self.idle.pop() if self.idle else None
        if q is None:
            return super().process_request(request, client_address)  # a thread of its own
        q.put((request, client_address))

    def handle_error(self, request, client_address):
        # A client that gave up (timeout) or a dropped connection is expected here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def in_test_netns():
    """True inside a network namespace made with `ip netns add` (bound under /run/netns),
    never in PID 1's. /proc/1/ns/net may be unreadable in a container, so the positive
    check is what decides."""
    try:
        me = os.stat("/proc/self/ns/net")
    except OSError:
        return False
    try:
        if os.readlink("/proc/1/ns/net") == os.readlink("/proc/self/ns/net"):
            return False
    except OSError:
        pass
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return False
    for name in names:
        try:
            st = os.stat(os.path.join("/run/netns", name))
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (me.st_dev, me.st_ino):
            return True
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--capture", required=True)
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", help="write the chosen port here once listening")
    ap.add_argument("--faults")
    ap.add_argument("--log")
    ap.add_argument("--allow-v1", action="store_true")
    ap.add_argument("--latency-ms", type=float, default=0, help="every answer waits this long first")
    ap.add_argument("--max-seconds", type=float, default=900, help="stop by itself after this long")
    a = ap.parse_args()
    if a.address not in ("127.0.0.1", "::1", "169.254.169.254", "fd00:ec2::254"):
        sys.exit("refusing to bind %s: tests serve IMDS on loopback or inside their own namespace" % a.address)
    if a.address in ("169.254.169.254", "fd00:ec2::254") and not in_test_netns():
        sys.exit("refusing to serve %s outside a test network namespace (ip netns exec NS ...)" % a.address)
    # Connections are served by threads: one that wants the interpreter lock waits at most
    # this long for another to let go of it (Python's default, 5 ms, would be what a
    # client with requests on several connections measures).
    sys.setswitchinterval(0.0002)
    Server.address_family = socket.AF_INET6 if ":" in a.address else socket.AF_INET
    srv = Server((a.address, a.port), Handler)
    srv.start_workers()
    srv.state = State(a.capture, a.faults, a.log)
    srv.allow_v1 = a.allow_v1
    srv.latency_ms = max(0.0, a.latency_ms)
    srv.state.reload()
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(srv.server_address[1]))
        os.rename(tmp, a.port_file)
    threading.Timer(a.max_seconds, srv.shutdown).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A test-bed backend: a small HTTP server that says which backend it is.

Listens on [::]:PORT with IPV6_V6ONLY off, so one socket answers IPv4 and
IPv6. Speaks HTTP/1.0 and closes every connection after one answer, so each
request a client makes is one new TCP connection through the splitter.

  GET /id                      -> "NAME\n"
  GET /stream?bytes=N&rate=R   -> N bytes, paced at R bytes/s by the server
                                  itself (so packets keep flowing for N/R
                                  seconds whatever the socket buffers hold);
                                  the body is the line "NAME\n" repeated and
                                  cut at N bytes, so a reader can tell from
                                  the body alone which backend sent it.
                                  SIGUSR1 lets every stream open at that
                                  moment finish at full speed, so a test
                                  can ask for a long stream and end it once
                                  it has checked what it wanted meanwhile.
  GET /anything-else           -> that file under --root (e.g. /big)
  POST|PUT /anything           -> "NAME BYTES\n": the body read and counted

The same port also answers UDP: every datagram gets "NAME\n" back; one
that starts with "seq " gets "NAME\n" followed by the datagram itself, so a
client can tell which of its datagrams an answer is for.

Fault modes, switched at run time without a restart: with --fault-file
PATH, every HTTP request first looks at PATH (one stat; the file is read
again only when its mtime or size changed) and behaves as it says:

  missing, empty or "normal"   -> answer as above
  "503"                        -> every request gets "HTTP/1.0 503 Service
                                  Unavailable" with the body "NAME\n"
  "delay MS"                   -> wait MS milliseconds before the status
                                  line, then answer as above
  "503 delay MS"               -> both
  "503 P%"                     -> each request gets the 503 with probability
                                  P percent (e.g. "503 5%", "503 0.5%"),
                                  the others are answered as above

Write the file atomically (a temporary file renamed over it) so a request
never reads half of it. "Stopped" is no mode: kill the process and the port
refuses connections (tests/bed/testbed.sh: tb_backend_stop / tb_backend_start).
"""
import argparse
import random
import signal
import socket
import sys
import threading
import time
import functools
import os
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


# Bumped by SIGUSR1; a stream started under an older generation stops pacing.
release_generation = 0


def release_streams(signum, frame):
    global release_generation
    release_generation += 1


class DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    request_queue_size = 1024

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class FaultMode:
    """What --fault-file says, re-read only when the file changes."""

    def __init__(self, path):
        self.path = path
        self.stamp = None
        self.status = 200
        self.delay_s = 0.0
        self.prob = 1.0
        self.lock = threading.Lock()
        self.rng = random.Random()

    @staticmethod
    def parse(text):
        status, delay_s, prob = 200, 0.0, 1.0
        words = text.split()
        i = 0
        while i < len(words):
            w = words[i]
            if w == "503":
                status = 503
            elif w.endswith("%") and status == 503:
                prob = float(w[:-1]) / 100.0
                if not 0.0 <= prob <= 1.0:
                    raise ValueError("probability %r out of 0..100%%" % w)
            elif w == "delay" and i + 1 < len(words):
                delay_s = max(0.0, float(words[i + 1]) / 1000.0)
                i += 1
            elif w != "normal":
                raise ValueError("unknown fault word %r" % w)
            i += 1
        return status, delay_s, prob

    def current(self):
        """(status, delay in seconds) for the request being answered now."""
        if not self.path:
            return 200, 0.0
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        with self.lock:
            if stamp != self.stamp:
                text = ""
                if stamp is not None:
                    try:
                        with open(self.path) as f:
                            text = f.read()
                    except FileNotFoundError:
                        pass
                try:
                    self.status, self.delay_s, self.prob = self.parse(text)
                except ValueError as e:
                    print("httpd: %s: %s (kept the previous mode)" % (self.path, e),
                          file=sys.stderr)
                self.stamp = stamp
            status = self.status
            if status == 503 and self.prob < 1.0 and self.rng.random() >= self.prob:
                status = 200
            return status, self.delay_s


def make_handler(name, fault):
    line = (name + "\n").encode()

    class Handler(SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.0"
        server_version = "graysplit-testbed"

        def log_message(self, fmt, *args):
            pass

        def send_body(self, size, rate):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(size))
            self.send_header("X-Backend", name)
            self.end_headers()
            chunk = line * (65536 // len(line) + 2)
            sent = 0
            generation = release_generation
            start = time.monotonic()
            step = 4096 if rate else 65536
            while sent < size:
                n = min(step, size - sent)
                self.wfile.write(chunk[sent % len(line):][:n])
                sent += n
                while rate and release_generation == generation:
                    ahead = sent / rate - (time.monotonic() - start)
                    if ahead <= 0:
                        break
                    time.sleep(min(ahead, 0.05))

        def send_unavailable(self):
            self.send_response(503, "Service Unavailable")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(line)))
            self.send_header("X-Backend", name)
            self.end_headers()
            self.wfile.write(line)

        def do_GET(self):
            url = urlparse(self.path)
            q = parse_qs(url.query)
            status, delay_s = fault.current()
            try:
                if delay_s:
                    time.sleep(delay_s)
                if status == 503:
                    self.send_unavailable()
                elif url.path == "/id":
                    self.send_body(len(line), 0)
                elif url.path == "/stream":
                    size = int(q.get("bytes", ["1048576"])[0])
                    rate = int(q.get("rate", ["0"])[0])
                    self.send_body(size, rate)
                else:
                    super().do_GET()
            except (BrokenPipeError, ConnectionResetError):
                pass
        def do_POST(self):
            # /upload: read the body (Content-Length) and answer with how
            # many bytes arrived and which backend took them.
            try:
                want = int(self.headers.get("Content-Length", "0"))
                got = 0
                while got < want:
                    data = self.rfile.read(min(65536, want - got))
                    if not data:
                        break
                    got += len(data)
                body = ("%s %d\n" % (name, got)).encode()
                self.send_response(200 if got == want else 400)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Backend", name)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_PUT = do_POST

    return Handler


def serve_udp(name, port):
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port))
    answer = (name + "\n").encode()
    while True:
        data, peer = sock.recvfrom(2048)
        sock.sendto(answer + data if data.startswith(b"seq ") else answer, peer)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--root", default=".", help="directory for other paths")
    ap.add_argument("--fault-file", default=None,
                    help="file naming the fault mode, checked on every request")
    args = ap.parse_args()
    fault = FaultMode(args.fault_file)
    handler = functools.partial(make_handler(args.name, fault), directory=args.root)
    signal.signal(signal.SIGUSR1, release_streams)
    threading.Thread(target=serve_udp, args=(args.name, args.port), daemon=True).start()
    srv = DualStackServer(("::", args.port), handler)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Hold many TCP connections open and idle, then use every one of them.

Opens N connections to HOST:PORT (non-blocking, a few hundred at a time),
keeps them idle until SIGUSR1 or SIGTERM (or --hold seconds), then sends
"GET PATH" on each and reads the whole answer. A connection that the
network path broke while it sat idle (its packets now reach a backend that
never saw it, which answers with a reset) shows up as not answered. One
JSON summary on stdout:

  opened       connections asked for
  established  handshakes that completed
  answered     connections that carried a whole 2xx answer after the wait
  by_backend   answers per backend name (first line of the body)
  broken       established - answered
  errors       {"reset": n, "closed": n, "timeout": n, ...} of those not answered

A line "ready N" goes to stderr once the connections are established, for
a test to wait on.

With --batch B only B requests are in flight at once: a flow table smaller
than the connections in flight thrashes (a reply finds its reverse entry
evicted by the requests sent after it), which is another test than that of
eviction itself.

Usage: hold.py HOST --count N [--port 80] [--path /id] [--hold S] [--batch B]
               [--source ADDR]
"""
import argparse
import errno
import json
import resource
import selectors
import signal
import socket
import sys
import time


def connect_all(args):
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    pending, established, failed = {}, [], {}
    sel = selectors.DefaultSelector()
    todo = args.count
    deadline = time.monotonic() + args.connect_timeout + args.count / 500.0
    while (todo or pending) and time.monotonic() < deadline:
        while todo and len(pending) < 256:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setblocking(False)
            if args.source:
                s.bind((args.source, 0))
            rc = s.connect_ex((args.host, args.port))
            todo -= 1
            if rc not in (0, errno.EINPROGRESS):
                failed[errno.errorcode.get(rc, str(rc))] = failed.get(errno.errorcode.get(rc, str(rc)), 0) + 1
                s.close()
                continue
            pending[s.fileno()] = s
            sel.register(s, selectors.EVENT_WRITE)
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            sel.unregister(s)
            del pending[s.fileno()]
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                name = errno.errorcode.get(err, str(err))
                failed[name] = failed.get(name, 0) + 1
                s.close()
            else:
                established.append(s)
    for s in pending.values():
        failed["timeout"] = failed.get("timeout", 0) + 1
        s.close()
    return established, failed


def use_all(args, conns):
    """(answered, by_backend, errors) of a request on each connection, at
    most --batch of them in flight at once."""
    answered, by_backend, errors = 0, {}, {}
    step = args.batch if args.batch > 0 else len(conns) or 1
    for i in range(0, len(conns), step):
        a, b, e = use_batch(args, conns[i:i + step])
        answered += a
        for k, v in b.items():
            by_backend[k] = by_backend.get(k, 0) + v
        for k, v in e.items():
            errors[k] = errors.get(k, 0) + v
    return answered, by_backend, errors


def use_batch(args, conns):
    sel = selectors.DefaultSelector()
    bufs, by_backend, errors = {}, {}, {}
    answered = 0
    req = ("GET %s HTTP/1.0\r\nConnection: close\r\n\r\n" % args.path).encode()
    for s in conns:
        try:
            s.send(req)
        except OSError as e:
            name = "reset" if isinstance(e, ConnectionResetError) else "send_" + type(e).__name__
            errors[name] = errors.get(name, 0) + 1
            s.close()
            continue
        bufs[s.fileno()] = bytearray()
        sel.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + args.answer_timeout
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except ConnectionResetError:
                data = None
            if data:
                bufs[s.fileno()] += data
                continue
            buf = bufs.pop(s.fileno())
            sel.unregister(s)
            s.close()
            if data is None:
                errors["reset"] = errors.get("reset", 0) + 1
                continue
            head, _, body = bytes(buf).partition(b"\r\n\r\n")
            status = head.split(b" ", 2)[1:2]
            if status and status[0].startswith(b"2"):
                answered += 1
                name = body.split(b"\n", 1)[0].decode(errors="replace").strip() or "-"
                by_backend[name] = by_backend.get(name, 0) + 1
            else:
                errors["closed" if not head else "http"] = errors.get("closed" if not head else "http", 0) + 1
    for key in list(sel.get_map().values()):
        errors["timeout"] = errors.get("timeout", 0) + 1
        key.fileobj.close()
    return answered, by_backend, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("host")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--path", default="/id")
    ap.add_argument("--hold", type=float, default=0.0, help="seconds (0: until SIGUSR1/SIGTERM)")
    ap.add_argument("--source", default=None)
    ap.add_argument("--connect-timeout", type=float, default=5.0)
    ap.add_argument("--answer-timeout", type=float, default=10.0,
                    help="seconds for the answers of one batch")
    ap.add_argument("--batch", type=int, default=0,
                    help="requests in flight at once after the wait (0: all)")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    go = {"now": False}

    def release(*_):
        go["now"] = True

    signal.signal(signal.SIGUSR1, release)
    signal.signal(signal.SIGTERM, release)
    conns, failed = connect_all(args)
    print("ready %d" % len(conns), file=sys.stderr, flush=True)
    end = time.monotonic() + args.hold if args.hold > 0 else float("inf")
    while not go["now"] and time.monotonic() < end:
        time.sleep(0.05)
    answered, by_backend, errors = use_all(args, conns)
    for k, v in failed.items():
        errors["connect_" + k] = v
    json.dump({"opened": args.count, "established": len(conns), "answered": answered,
               "by_backend": dict(sorted(by_backend.items())),
               "broken": len(conns) - answered, "errors": dict(sorted(errors.items()))},
              sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

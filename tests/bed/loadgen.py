#!/usr/bin/env python3
"""A steady stream of new TCP connections, one HTTP GET each, logged one line
per request, so a test can tell who answered what, when.

Every 1/RATE seconds (on a fixed schedule, not "as fast as answers come
back") the scheduler hands request number SEQ to a pool of worker threads;
a worker opens a new connection with http.client, sends GET PATH, reads the
answer and closes (the test bed's servers speak HTTP/1.0 and close anyway).
A slow or dead backend only ties up workers, never the schedule: with the
default 256 workers, RATE 200 keeps its pace through answers that take a
second. It runs for --duration seconds, or until SIGTERM / SIGINT, then
waits for the requests in flight and writes a summary (JSON) to stderr.

One line per finished request to --out, space separated, in the order they
finished:

  SEQ T_SCHED T_SENT T_DONE RESULT BACKEND STATUS

  T_*      wall-clock (CLOCK_REALTIME) seconds with microseconds: when the
           request was due, when connect() was called, when the answer was
           read whole or the request failed. Wall clock, so they compare with
           the agent's JSON "time" on the same machine.
  RESULT   ok        2xx answer
           http      any other HTTP status (see STATUS)
           refused   the connection was refused (RST to the SYN)
           timeout   no connection within --connect-timeout
           stalled   connected, but no whole answer within --timeout
           reset     connection reset after it was established
           closed    the server closed before a whole answer
           error     anything else (the line's BACKEND says what)
  BACKEND  the first line of the body (the test bed's backends name
           themselves, also in their 503 answers), else the X-Backend
           header, else "-"
  STATUS   the HTTP status code, "-" when there was no answer

Lines beginning with "#" are comments (the header).

With --dns NAME each request is instead one DNS query for NAME's TXT record
(dnspython), over UDP (or TCP with --dns-tcp), from a new socket each time:
a new flow through the VIP. RESULT is then ok (NOERROR; BACKEND: the TXT
string, the test bed's backends name themselves), dns (another RCODE, in
STATUS: SERVFAIL, REFUSED, ...), timeout (no answer within --timeout),
refused (ICMP port unreachable seen by the socket) or error.

Usage: loadgen.py HOST [--port 80] [--path /id] [--rate 200] [--duration S]
                  [--out FILE] [--source ADDR] [--workers N]
                  [--dns NAME [--dns-tcp]]
"""
import argparse
import http.client
import json
import queue
import signal
import socket
import sys
import threading
import time


def now():
    return time.time_ns() / 1e9


class Log:
    def __init__(self, path):
        self.f = open(path, "w", buffering=1) if path != "-" else sys.stdout
        self.lock = threading.Lock()
        self.counts = {}
        self.max_lag = 0.0
        self.done = 0
        self.f.write("# seq t_sched t_sent t_done result backend status\n")

    def write(self, seq, t_sched, t_sent, t_done, result, backend, status):
        line = "%d %.6f %.6f %.6f %s %s %s\n" % (seq, t_sched, t_sent, t_done, result,
                                                backend, status)
        with self.lock:
            self.f.write(line)
            key = result if result != "ok" else "ok " + backend
            self.counts[key] = self.counts.get(key, 0) + 1
            self.max_lag = max(self.max_lag, t_sent - t_sched)
            self.done += 1

    def close(self):
        if self.f is not sys.stdout:
            self.f.close()


def one_request(args, host):
    """(t_sent, t_done, result, backend, status) of one GET on a new connection."""
    conn = http.client.HTTPConnection(host, args.port, timeout=args.connect_timeout,
                                      source_address=args.source_address)
    t_sent = now()
    try:
        try:
            conn.connect()
        except ConnectionRefusedError:
            return t_sent, now(), "refused", "-", "-"
        except (socket.timeout, TimeoutError):
            return t_sent, now(), "timeout", "-", "-"
        except OSError as e:
            return t_sent, now(), "error", "connect:" + (e.strerror or type(e).__name__).replace(" ", "_"), "-"
        conn.sock.settimeout(args.timeout)
        try:
            conn.request("GET", args.path, headers={"Connection": "close"})
            resp = conn.getresponse()
            body = resp.read()
        except (socket.timeout, TimeoutError):
            return t_sent, now(), "stalled", "-", "-"
        except ConnectionResetError:
            return t_sent, now(), "reset", "-", "-"
        except (http.client.RemoteDisconnected, http.client.IncompleteRead, BrokenPipeError):
            return t_sent, now(), "closed", "-", "-"
        except (OSError, http.client.HTTPException) as e:
            return t_sent, now(), "error", type(e).__name__, "-"
        t_done = now()
        first = body.split(b"\n", 1)[0].decode(errors="replace").strip()
        backend = first if first and " " not in first and len(first) < 64 else \
            resp.getheader("X-Backend", "-")
        result = "ok" if 200 <= resp.status < 300 else "http"
        return t_sent, t_done, result, backend or "-", str(resp.status)
    finally:
        conn.close()


def one_query(args, host):
    """(t_sent, t_done, result, backend, status) of one DNS query, new socket."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    q = dns.message.make_query(args.dns, dns.rdatatype.TXT)
    t_sent = now()
    try:
        if args.dns_tcp:
            r = dns.query.tcp(q, host, port=args.port, timeout=args.timeout,
                              source=args.source)
        else:
            r = dns.query.udp(q, host, port=args.port, timeout=args.timeout,
                              source=args.source)
    except dns.exception.Timeout:
        return t_sent, now(), "timeout", "-", "-"
    except ConnectionRefusedError:
        return t_sent, now(), "refused", "-", "-"
    except ConnectionResetError:
        return t_sent, now(), "reset", "-", "-"
    except (OSError, dns.exception.DNSException) as e:
        return t_sent, now(), "error", type(e).__name__, "-"
    t_done = now()
    rcode = dns.rcode.to_text(r.rcode())
    if r.rcode() != dns.rcode.NOERROR:
        return t_sent, t_done, "dns", "-", rcode
    backend = "-"
    for rrset in r.answer:
        for rd in rrset:
            if rd.rdtype == dns.rdatatype.TXT and rd.strings:
                backend = rd.strings[0].decode(errors="replace")
    return t_sent, t_done, "ok", backend, rcode


def worker(args, host, jobs, log):
    while True:
        job = jobs.get()
        if job is None:
            return
        seq, t_sched = job
        if args.dns:
            t_sent, t_done, result, backend, status = one_query(args, host)
        else:
            t_sent, t_done, result, backend, status = one_request(args, host)
        log.write(seq, t_sched, t_sent, t_done, result, backend, status)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("host", help="address to connect to (IPv4 or IPv6, no brackets)")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--path", default="/id")
    ap.add_argument("--rate", type=float, default=200.0, help="new connections per second")
    ap.add_argument("--duration", type=float, default=0.0,
                    help="seconds to run (0: until SIGTERM or SIGINT)")
    ap.add_argument("--out", default="-", help="the per-request log (default stdout)")
    ap.add_argument("--source", default=None, help="local address to bind")
    ap.add_argument("--workers", type=int, default=256)
    ap.add_argument("--connect-timeout", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=5.0,
                    help="seconds for the answer once connected")
    ap.add_argument("--dns", default=None, metavar="NAME",
                    help="DNS queries for NAME's TXT record instead of HTTP GETs")
    ap.add_argument("--dns-tcp", action="store_true", help="the DNS queries over TCP")
    args = ap.parse_args()
    if args.rate <= 0:
        ap.error("--rate must be positive")
    args.source_address = (args.source, 0) if args.source else None
    # With the port given apart, http.client takes an IPv6 literal bare.
    host = args.host

    # The handlers only set a flag. Event.set() from a handler can
    # deadlock: the handler runs in the main thread, which may be inside
    # Event.wait() holding the event's lock (a test saw loadgen hang on
    # SIGTERM that way, in a futex, for good).
    stop = {"now": False}

    def on_signal(*_):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    log = Log(args.out)
    jobs = queue.SimpleQueue()
    threads = [threading.Thread(target=worker, args=(args, host, jobs, log), daemon=True)
               for _ in range(args.workers)]
    for t in threads:
        t.start()

    period = 1.0 / args.rate
    t0 = now() + 0.05
    end = t0 + args.duration if args.duration > 0 else float("inf")
    seq = 0
    while not stop["now"]:
        t_sched = t0 + seq * period
        if t_sched >= end:
            break
        # Short sleeps, so a signal is acted on within 50 ms.
        wait = t_sched - now()
        while wait > 0 and not stop["now"]:
            time.sleep(min(wait, 0.05))
            wait = t_sched - now()
        if stop["now"]:
            break
        jobs.put((seq, t_sched))
        seq += 1
    t_stop = now()
    for _ in threads:
        jobs.put(None)
    deadline = time.monotonic() + args.connect_timeout + args.timeout + 1
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    with log.lock:
        summary = {
            "scheduled": seq,
            "finished": log.done,
            "seconds": round(t_stop - t0, 3),
            "rate": round(seq / max(t_stop - t0, 1e-9), 1),
            "max_start_lag_ms": round(log.max_lag * 1000, 1),
            "results": dict(sorted(log.counts.items())),
        }
    log.close()
    print(json.dumps(summary), file=sys.stderr)
    return 0 if log.done == seq else 1


if __name__ == "__main__":
    sys.exit(main())

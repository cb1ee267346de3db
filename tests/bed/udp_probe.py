#!/usr/bin/env python3
"""Send one datagram from each of N fresh UDP sockets to HOST PORT and print
each answer, one line per flow, in order. Every socket stays open to the
end, so no source port is used twice: N sockets are N flows. "-" stands
for no answer within the timeout, and for every flow after a batch of 64
that got no answer at all (a dead path costs one timeout, not N/64). The
sockets are connected, so the kernel only delivers an answer whose source
is exactly HOST:PORT: a reply the splitter did not rewrite back to the VIP
counts as missing.

usage: udp_probe.py HOST PORT N [TIMEOUT_S]
"""
import resource
import selectors
import socket
import sys
import time


def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n + 64, hard), hard))
    sel = selectors.DefaultSelector()
    kept = []
    answers = {}
    batch = 64
    for first in range(0, n, batch):
        socks = []
        for i in range(first, min(first + batch, n)):
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.connect((host, port))
            s.send(b"which backend?")
            sel.register(s, selectors.EVENT_READ, i)
            socks.append(s)
        deadline = time.monotonic() + timeout
        while sel.get_map() and time.monotonic() < deadline:
            for key, _ in sel.select(deadline - time.monotonic()):
                try:
                    answers[key.data] = key.fileobj.recv(2048).decode().strip()
                except OSError:  # e.g. ICMP port unreachable
                    answers[key.data] = "-"
                sel.unregister(key.fileobj)
        for s in socks:
            if s in sel.get_map():
                sel.unregister(s)
        kept.extend(socks)
        if not any(i in answers for i in range(first, first + len(socks))):
            break  # a whole batch unanswered: the path is down, stop early
    for i in range(n):
        print(answers.get(i, "-"))
    for s in kept:
        s.close()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""One UDP flow, kept open: from a single connected socket (one 5-tuple), a
datagram every INTERVAL_MS for SECONDS, each waiting up to INTERVAL_MS for
its answer before the next is sent. Prints one line per datagram as it
goes (flushed, so a test can read which backend answers meanwhile):
"SENT ANSWER", SENT its CLOCK_MONOTONIC send time in seconds (the same
clock in every network namespace), ANSWER the first line of the reply or
"-" for none in time. An answer that comes late is dropped before the next
datagram goes, so it is never taken for the next one's.

usage: udp_steady.py HOST PORT SECONDS [INTERVAL_MS]
"""
import select
import socket
import sys
import time


def main():
    host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    interval = (float(sys.argv[4]) if len(sys.argv) > 4 else 20.0) / 1000.0
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.connect((host, port))
    s.setblocking(False)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        # Whatever arrived after its datagram's wait belongs to no one.
        while select.select([s], [], [], 0)[0]:
            try:
                s.recv(2048)
            except OSError:
                break
        sent = time.monotonic()
        answer = "-"
        try:
            s.send(b"steady")
        except OSError:
            pass
        else:
            deadline = sent + interval
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([s], [], [], left)[0]:
                    break
                try:
                    data = s.recv(2048)
                except OSError:
                    # ICMP errors surface here: keep waiting for an answer.
                    continue
                answer = data.decode(errors="replace").split("\n")[0] or "-"
                break
        sys.stdout.write("%.6f %s\n" % (sent, answer))
        sys.stdout.flush()
        pause = sent + interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)


if __name__ == "__main__":
    main()

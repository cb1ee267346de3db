#!/usr/bin/env python3
"""One UDP flow, kept open: from a single connected socket (one 5-tuple), a
datagram every INTERVAL_MS for SECONDS. Each datagram carries its number
and try ("seq N T"; the test bed's backends echo it after their name, see
httpd.py): it is sent again every INTERVAL_MS until an answer to one of
its tries arrives, at most TRIES times, and an answer is then awaited for
WAIT_MS more. So an answer that is merely late (a busy machine) still
counts, and is never taken for another datagram's. Prints one line per
datagram as it goes (flushed, so a test can read which backend answers
meanwhile): "SENT ANSWER TRY", SENT the CLOCK_MONOTONIC time of its first
try in seconds (the same clock in every network namespace), ANSWER the
first line of the reply or "-" for none, TRY the try whose answer came
first (0 for none).

usage: udp_steady.py HOST PORT SECONDS [INTERVAL_MS [TRIES [WAIT_MS]]]
"""
import select
import socket
import sys
import time


def main():
    host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    interval = (float(sys.argv[4]) if len(sys.argv) > 4 else 20.0) / 1000.0
    tries = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    wait = (float(sys.argv[6]) if len(sys.argv) > 6 else 1000.0) / 1000.0
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.connect((host, port))
    s.setblocking(False)
    end = time.monotonic() + seconds
    seq = 0
    while time.monotonic() < end:
        seq += 1
        first = None
        answer, answered_try, sent_tries = "-", 0, 0
        deadline = 0.0
        while answer == "-":
            now = time.monotonic()
            if sent_tries < tries and (first is None or now >= first + sent_tries * interval):
                sent_tries += 1
                if first is None:
                    first = now
                try:
                    s.send(b"seq %d %d" % (seq, sent_tries))
                except OSError:
                    pass
                deadline = first + (sent_tries * interval if sent_tries < tries
                                    else (tries - 1) * interval + wait)
            left = deadline - time.monotonic()
            if left <= 0:
                if sent_tries >= tries:
                    break
                continue
            if not select.select([s], [], [], left)[0]:
                continue
            try:
                data = s.recv(2048)
            except OSError:
                # ICMP errors surface here: keep waiting for an answer.
                continue
            lines = data.decode(errors="replace").split("\n")
            echo = lines[1].split() if len(lines) > 1 else []
            # An answer to an earlier datagram is late, not this one's.
            if len(echo) == 3 and echo[0] == "seq" and echo[1] == str(seq):
                answer, answered_try = lines[0] or "-", int(echo[2])
        sys.stdout.write("%.6f %s %d\n" % (first, answer, answered_try))
        sys.stdout.flush()
        pause = first + interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)


if __name__ == "__main__":
    main()

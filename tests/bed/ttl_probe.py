#!/usr/bin/env python3
"""Send one UDP datagram to HOST PORT with the TTL (hop limit) TTL, from a
socket connected to HOST:PORT with IP_RECVERR (IPV6_RECVERR) on, and print
what came back, one line:

  answer TEXT          the service answered (the answer's first line)
  icmp TYPE CODE FROM  the kernel gave the socket an ICMP(v6) error (from
                       its error queue); FROM sent it (the offender)
  none                 nothing within TIMEOUT seconds (default 2)

The kernel hands a connected socket an ICMP error only if the packet the
error quotes is the socket's own, from its address and port to HOST:PORT.
An error about a datagram a load balancer rewrote (DNAT to a backend)
therefore reaches it only if the quote says HOST:PORT again. With TTL 1, 2,
... this is traceroute through a VIP, one hop at a time.

usage: ttl_probe.py HOST PORT TTL [TIMEOUT_S]; exits 77 where the kernel
or Python lacks the socket options (the caller skips), 2 on bad arguments.
"""
import select
import socket
import struct
import sys
import time

# Linux's values (Python 3.11 does not name the RECVERR options).
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
SOL_IPV6 = getattr(socket, "SOL_IPV6", 41)
# struct sock_extended_err: errno, origin, type, code, pad, info, data;
# the offender's sockaddr follows it.
EE = struct.Struct("=IBBBBII")


def offender(raw):
    """The sender's address from the sockaddr after the extended error."""
    if len(raw) < 2:
        return "?"
    family = struct.unpack("=H", raw[:2])[0]
    if family == socket.AF_INET and len(raw) >= 8:
        return socket.inet_ntop(socket.AF_INET, raw[4:8])
    if family == socket.AF_INET6 and len(raw) >= 24:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24])
    return "?"


def main():
    if len(sys.argv) not in (4, 5):
        print("usage: ttl_probe.py HOST PORT TTL [TIMEOUT_S]", file=sys.stderr)
        return 2
    host, port, ttl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
    v6 = ":" in host
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if v6:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
        else:
            s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    except OSError as e:
        print("ttl_probe: cannot set the socket options: %s" % e, file=sys.stderr)
        return 77
    s.connect((host, port))
    s.send(b"ttl probe")
    poll = select.poll()
    poll.register(s, select.POLLIN | select.POLLERR)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print("none")
            return 0
        for _, events in poll.poll(left * 1000):
            if events & select.POLLERR:
                _, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE)
                for level, kind, data in anc:
                    if (level, kind) in ((socket.SOL_IP, IP_RECVERR), (SOL_IPV6, IPV6_RECVERR)):
                        _, _, etype, code, _, _, _ = EE.unpack(data[:EE.size])
                        print("icmp %d %d %s" % (etype, code, offender(data[EE.size:])))
                        return 0
            elif events & select.POLLIN:
                answer = s.recv(2048).decode(errors="replace").split("\n")[0]
                print("answer %s" % answer)
                return 0


if __name__ == "__main__":
    sys.exit(main())

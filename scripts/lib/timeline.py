#!/usr/bin/env python3
"""The demo's story as a table, one row per time bin, for gnuplot.

  timeline.py LOADLOG SHARES --t0 T [--bin 1.0] [--canary b3] > timeline.dat

LOADLOG is a loadgen.py log (one line per request). SHARES has one line per
sample of the service's state, "UNIX_TIME PERCENT PHASE STEP", as the demo
reads it from `graysplit status --json` a few times a second. T is the
wall-clock time that becomes 0 on the x axis.

Columns (whitespace separated, '#' header):

  t            start of the bin, seconds since T
  requests     requests sent in the bin
  set_pct      canary share set in the maps (last sample before the bin's end)
  seen_pct     share of the bin's requests that reached the canary
  canary_err   % of the canary's requests that failed (non-2xx or no answer)
  stable_err   % of the stable backends' requests that failed

A request that got no answer at all (refused, timed out, reset) counts as
the canary's: in the demo only the canary is ever broken.
"""
import argparse
import bisect
import math


def load_requests(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            p = line.split()
            if len(p) != 7:
                continue
            rows.append((float(p[2]), p[4], p[5], p[6]))
    return rows


def load_shares(path):
    samples = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 2:
                try:
                    samples.append((float(p[0]), float(p[1])))
                except ValueError:
                    continue
    samples.sort()
    return samples


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("loadlog")
    ap.add_argument("shares")
    ap.add_argument("--t0", type=float, required=True)
    ap.add_argument("--bin", type=float, default=1.0)
    ap.add_argument("--canary", default="b3")
    args = ap.parse_args()

    reqs = load_requests(args.loadlog)
    shares = load_shares(args.shares)
    share_t = [s[0] for s in shares]
    if not reqs:
        return
    last = max(r[0] for r in reqs)
    nbins = int(math.ceil((last - args.t0) / args.bin)) + 1
    bins = [[0, 0, 0, 0, 0] for _ in range(nbins)]  # requests, canary, c_bad, stable, s_bad
    for sent, result, backend, status in reqs:
        i = int((sent - args.t0) // args.bin)
        if i < 0 or i >= nbins:
            continue
        b = bins[i]
        b[0] += 1
        bad = result != "ok"
        if backend == args.canary or status == "-":
            b[1] += 1
            b[2] += bad
        else:
            b[3] += 1
            b[4] += bad
    print("# t requests set_pct seen_pct canary_err stable_err")
    for i, (n, c, cb, s, sb) in enumerate(bins):
        t = i * args.bin
        j = bisect.bisect_right(share_t, args.t0 + t + args.bin) - 1
        set_pct = shares[j][1] if j >= 0 else 0.0
        seen = 100.0 * c / n if n else float("nan")
        cerr = 100.0 * cb / c if c else float("nan")
        serr = 100.0 * sb / s if s else float("nan")
        print(f"{t:.2f} {n} {set_pct:.2f} {seen:.2f} {cerr:.2f} {serr:.2f}")


if __name__ == "__main__":
    main()

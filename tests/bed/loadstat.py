#!/usr/bin/env python3
"""Figures from a loadgen.py log (one line per request), as one JSON object.

  loadstat.py LOG [--canary b3] [--since T] [--until T] [--decision T]
                  [--slow-ms MS] [--failed-is-canary]

Only requests sent (T_SENT) in [--since, --until) count; times are wall-clock
seconds, as loadgen writes them.

  requests           how many were sent in the range
  results            {"ok": n, "http": n, "refused": n, ...}
  by_backend         answers per backend name (2xx and other statuses alike)
  failed             requests whose result is not "ok"
  canary             requests that reached the canary: answered by it (any
                     status), or, with --failed-is-canary, not answered at
                     all (refused, reset, timed out: in a bed where only the
                     canary is ever broken, such a request was the canary's;
                     a client cannot tell who refused it)
  canary_share       canary / requests
  first_bad_done     when the client saw the first bad answer: a result that
                     is not "ok", or with --slow-ms a canary answer that took
                     at least MS milliseconds (null: none)
  last_canary_sent   when the last request that reached the canary was sent
  failback_s         last_canary_sent - first_bad_done (the benchmark's
                     fail-back time; null without both)
  max_latency_ms     slowest answered request
With --decision T (the agent's decision time):
  after_decision     {"requests", "canary", "failed", "by_backend"} of the
                     requests sent after T
  canary_after_decision  up to 5 such lines that reached the canary
"""
import argparse
import json
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            p = line.split()
            if len(p) != 7:
                continue
            rows.append({"seq": int(p[0]), "sched": float(p[1]), "sent": float(p[2]),
                         "done": float(p[3]), "result": p[4], "backend": p[5],
                         "status": p[6], "line": line.rstrip("\n")})
    rows.sort(key=lambda r: r["sent"])
    return rows


def reached_canary(r, args):
    if r["backend"] == args.canary and r["status"] != "-":
        return True
    return args.failed_is_canary and r["status"] == "-"


def is_bad(r, args):
    if r["result"] != "ok":
        return True
    if args.slow_ms is not None and r["backend"] == args.canary:
        return (r["done"] - r["sent"]) * 1000 >= args.slow_ms
    return False


def group(rows, args):
    results, by_backend = {}, {}
    canary = failed = 0
    for r in rows:
        results[r["result"]] = results.get(r["result"], 0) + 1
        if r["status"] != "-":
            by_backend[r["backend"]] = by_backend.get(r["backend"], 0) + 1
        if r["result"] != "ok":
            failed += 1
        if reached_canary(r, args):
            canary += 1
    return {"requests": len(rows), "results": dict(sorted(results.items())),
            "by_backend": dict(sorted(by_backend.items())), "failed": failed,
            "canary": canary}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("--canary", default="b3")
    ap.add_argument("--since", type=float, default=float("-inf"))
    ap.add_argument("--until", type=float, default=float("inf"))
    ap.add_argument("--decision", type=float, default=None)
    ap.add_argument("--slow-ms", type=float, default=None)
    ap.add_argument("--failed-is-canary", action="store_true")
    args = ap.parse_args()

    rows = [r for r in load(args.log) if args.since <= r["sent"] < args.until]
    out = group(rows, args)
    out["canary_share"] = round(out["canary"] / len(rows), 4) if rows else None
    bad = [r["done"] for r in rows if is_bad(r, args)]
    out["first_bad_done"] = min(bad) if bad else None
    sent_canary = [r["sent"] for r in rows if reached_canary(r, args)]
    out["last_canary_sent"] = max(sent_canary) if sent_canary else None
    out["failback_s"] = (round(out["last_canary_sent"] - out["first_bad_done"], 4)
                         if bad and sent_canary else None)
    answered = [r["done"] - r["sent"] for r in rows if r["status"] != "-"]
    out["max_latency_ms"] = round(max(answered) * 1000, 1) if answered else None
    if args.decision is not None:
        after = [r for r in rows if r["sent"] > args.decision]
        g = group(after, args)
        out["after_decision"] = {k: g[k] for k in ("requests", "canary", "failed", "by_backend")}
        out["canary_after_decision"] = [r["line"] for r in after if reached_canary(r, args)][:5]
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

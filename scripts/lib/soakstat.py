#!/usr/bin/env python3
"""The figures of a soak run (scripts/soak.sh) as one JSON object.

  soakstat.py LOAD_LOG TIMELINE [--until T] [--canary b3] [--backends b1,b2,b3]
              [--agent-log FILE]

LOAD_LOG is loadgen.py's per-request log. TIMELINE has one event per line,
"T KIND ARG", T in wall-clock seconds like the log's:

  T splitting PERCENT the CLI was asked to set the canary share (before it ran)
  T split PERCENT     ... and had set it (after it returned)
  T expect5xx on|off  a canary 503 fault began / the canary was healed
  T drain NAME        backend NAME was drained (no new connection may reach it)
  T undrain NAME      ... and is about to be added back (before the CLI ran)

Only requests sent before --until count (default: all). Every request is
one of:

  ok            a 2xx answer from a backend of the bed, allowed to answer it
  expected_5xx  a 5xx answer from the canary while a canary fault was on
                (answered after it began, sent before the heal): the fault
                the agent must fail back
  wrong         a 2xx answer from a backend that must not have got the
                connection: the canary while the share was 0, a drained
                backend after it was drained, or a name not of the bed
  failed        anything else: refused, reset, timed out, stalled, closed, any
                other non-2xx answer

A request's T_SENT is taken before its connect(): a request sent after a
change was written cannot have been routed by the rules before it. So the
canary may not answer a request sent after a "split 0" until the next
"splitting", nor a drained backend one sent after its "drain" until its
"undrain". With --agent-log (the agent's decision lines), each fail-back
the agent made (share cut to 0) counts as a "split 0" of its own, from its
line's time + 1 ms (the time is taken after the cut, truncated to the
millisecond) until the next "splitting".

Per split value: the requests sent while it held, not cut by the agent and
away from canary faults, and the canary's share of them. agent_failbacks:
the agent's fail-backs, those within a canary fault apart from the others
(by signal).
"""
import argparse
import datetime
import json
import sys


def load_timeline(path):
    ev = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 3:
                ev.append((float(p[0]), p[1], p[2]))
    ev.sort()
    return ev


def agent_cuts(path):
    """Times (epoch seconds) and signals of the agent's fail-backs."""
    cuts = []
    with open(path) as f:
        for line in f:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("action") and d.get("verdict") in ("fail", "hard_fail"):
                t = datetime.datetime.strptime(d["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
                t = t.replace(tzinfo=datetime.timezone.utc).timestamp() + 0.001
                cuts.append((t, d.get("signal") or "unknown"))
    return sorted(cuts)


def intervals(ev, kind, on, off, until):
    """[(start, end)] of the spans between an `on` and the next `off` event."""
    spans, start = [], None
    for t, k, a in ev:
        if k != kind:
            continue
        if a == on and start is None:
            start = t
        elif a == off and start is not None:
            spans.append((start, t))
            start = None
    if start is not None:
        spans.append((start, until))
    return spans


def drains(ev, until):
    spans, open_ = {}, {}
    for t, k, a in ev:
        if k == "drain":
            open_[a] = t
        elif k == "undrain" and a in open_:
            spans.setdefault(a, []).append((open_.pop(a), t))
    for a, t in open_.items():
        spans.setdefault(a, []).append((t, until))
    return spans


def inside(t, spans, before=0.0, after=0.0):
    return any(s - before <= t < e + after for s, e in spans)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("timeline")
    ap.add_argument("--until", type=float, default=float("inf"))
    ap.add_argument("--canary", default="b3")
    ap.add_argument("--backends", default="b1,b2,b3")
    ap.add_argument("--agent-log", default=None)
    args = ap.parse_args()
    names = set(args.backends.split(","))

    ev = load_timeline(args.timeline)
    end = args.until
    faults = intervals(ev, "expect5xx", "on", "off", end)
    drained = drains(ev, end)
    cuts = [c for c in agent_cuts(args.agent_log) if c[0] < end] if args.agent_log else []
    splits = [(t, float(a)) for t, k, a in ev if k == "split"]
    marks = sorted([(t, k, float(a)) for t, k, a in ev if k in ("split", "splitting")] +
                   [(t, "split", 0.0) for t, _ in cuts])
    zero, start = [], None
    for t, k, a in marks:
        if k == "split" and a == 0 and start is None:
            start = t
        elif k == "splitting" and start is not None:
            zero.append((start, t))
            start = None
    if start is not None:
        zero.append((start, end))
    # Cut by the agent: from a cut to the next "splitting".
    cut_spans = []
    for t, _ in cuts:
        nxt = [m for m, k, _ in marks if k == "splitting" and m > t]
        cut_spans.append((t, nxt[0] if nxt else end))

    def share_at(t):
        cur = None
        for ts, p in splits:
            if ts <= t:
                cur = p
        return cur

    out = {"requests": 0, "ok": 0, "expected_5xx": 0, "wrong": 0, "failed": 0,
           "by_backend": {b: 0 for b in names}, "failed_by_result": {}, "wrong_examples": [],
           "failed_examples": []}
    per_split = {}
    with open(args.log) as f:
        for line in f:
            if line.startswith("#"):
                continue
            p = line.split()
            if len(p) != 7:
                continue
            sent, done = float(p[2]), float(p[3])
            if sent >= end:
                continue
            result, backend, status = p[4], p[5], p[6]
            out["requests"] += 1
            if status != "-":
                out["by_backend"][backend] = out["by_backend"].get(backend, 0) + 1
            kind = "failed"
            if result == "ok":
                kind = "ok"
                if backend not in names:
                    kind = "wrong"
                elif backend == args.canary and inside(sent, zero):
                    kind = "wrong"
                elif inside(sent, drained.get(backend, [])):
                    kind = "wrong"
            elif (result == "http" and backend == args.canary and status.startswith("5") and
                  any(done >= s and sent < e for s, e in faults)):
                kind = "expected_5xx"
            out[kind] += 1
            if kind == "failed":
                out["failed_by_result"][result] = out["failed_by_result"].get(result, 0) + 1
            if kind in ("failed", "wrong") and len(out[kind + "_examples"]) < 5:
                out[kind + "_examples"].append(line.rstrip("\n"))
            # The share per split value, outside the canary faults (the
            # agent sets the share to 0 there).
            pct = share_at(sent)
            if (pct is not None and status != "-" and not inside(sent, faults, 1.0, 1.0) and
                    not inside(sent, cut_spans)):
                s = per_split.setdefault("%g" % pct, {"requests": 0, "canary": 0})
                s["requests"] += 1
                s["canary"] += backend == args.canary
    for s in per_split.values():
        s["canary_share"] = round(s["canary"] / s["requests"], 4) if s["requests"] else None
    out["by_backend"] = dict(sorted(out["by_backend"].items()))
    out["per_split"] = dict(sorted(per_split.items(), key=lambda kv: float(kv[0])))
    out["split_changes"] = sum(1 for t, _ in splits if t < end)
    out["canary_faults"] = len([s for s in faults if s[0] < end])
    in_fault = [c for c in cuts if inside(c[0], faults)]
    others = {}
    for t, sig in cuts:
        if not inside(t, faults):
            others[sig] = others.get(sig, 0) + 1
    out["agent_failbacks"] = {"total": len(cuts), "in_canary_faults": len(in_fault),
                              "others_by_signal": dict(sorted(others.items()))}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

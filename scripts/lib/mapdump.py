#!/usr/bin/env python3
"""The maps a graysplit command writes, as one canonical JSON document, so two
states compare with cmp (tests/bats/crash.bats).

  mapdump.py PIN_DIR [--by-address]

services, split, backends, overrides, rollouts, rollout_state, svc_status as
bpftool reads them (entries sorted), and the Maglev tables: the outer map
holds inner map ids, new with every publish, so each slot is written as a
digest of the table it points to.

--by-address: the same state reached by another history (another order of
commands) gives the same document: backends keyed by address and port
instead of slot id, tables as digests of the addresses they list, and a
rollout's generation and applied time left out.
"""
import hashlib
import json
import subprocess
import sys

MAPS = ["services", "split", "backends", "overrides", "rollouts", "rollout_state", "svc_status"]


def bpftool(*args):
    out = subprocess.run(["bpftool", "-j", "map", "dump", *args], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def raw_int(v):
    """A raw bpftool byte list (hex strings), little-endian."""
    return int.from_bytes(bytes(int(b, 16) for b in v), "little")


def entry(e):
    return e["formatted"] if "formatted" in e else {"key": e["key"], "value": e["value"]}


def main():
    pin, by_addr = sys.argv[1], "--by-address" in sys.argv[2:]
    doc = {}
    for m in MAPS:
        doc[m] = sorted((entry(e) for e in bpftool("pinned", f"{pin}/{m}")),
                        key=lambda x: json.dumps(x["key"], sort_keys=True))
    names = {}
    for b in doc["backends"]:
        v = b["value"]
        names[b["key"]] = json.dumps([v["addr"], v["port"]])
    if by_addr:
        doc["backends"] = sorted((b["value"] for b in doc["backends"] if b["value"]["state"]),
                                 key=lambda v: json.dumps([v["addr"], v["port"]]))
        for r in doc["rollouts"]:
            r["value"]["generation"] = 0
            r["value"]["applied_unix_ns"] = 0
    tables = {}
    for e in bpftool("pinned", f"{pin}/maglev"):
        if "formatted" in e:
            slot, inner = e["formatted"]["key"], e["formatted"]["value"]
        else:
            slot, inner = raw_int(e["key"]), raw_int(e["value"])
        ids = [entry(x)["value"] for x in bpftool("id", str(inner))]
        ids = [raw_int(i) if isinstance(i, list) else i for i in ids]
        content = [names.get(i, str(i)) for i in ids] if by_addr else ids
        tables[str(slot)] = hashlib.sha256(json.dumps(content).encode()).hexdigest()[:16]
    doc["maglev"] = tables
    json.dump(doc, sys.stdout, sort_keys=True, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The maps a graysplit command writes, as one canonical JSON document, so two
states compare with cmp (tests/bats/crash.bats).

  mapdump.py PIN_DIR OUT [OUT_BY_ADDRESS]

services, split, backends, overrides, rollouts, rollout_state, svc_status as
bpftool reads them (entries sorted), and the Maglev tables: the outer map
holds inner map ids, new with every publish, so each slot is written as a
digest of the table it points to.

OUT_BY_ADDRESS (written from the same reading): the same state reached by another history (another order of
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


def canonical(pin, dumps, inner, by_addr):
    doc = {m: json.loads(json.dumps(dumps[m])) for m in MAPS}
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
    for slot, ids in inner.items():
        content = [names.get(i, str(i)) for i in ids] if by_addr else ids
        tables[str(slot)] = hashlib.sha256(json.dumps(content).encode()).hexdigest()[:16]
    doc["maglev"] = tables
    return doc


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, sort_keys=True, indent=1)
        f.write("\n")


def main():
    pin, outs = sys.argv[1], sys.argv[2:4]
    dumps = {}
    for m in MAPS:
        dumps[m] = sorted((entry(e) for e in bpftool("pinned", f"{pin}/{m}")),
                          key=lambda x: json.dumps(x["key"], sort_keys=True))
    inner = {}
    for e in bpftool("pinned", f"{pin}/maglev"):
        if "formatted" in e:
            slot, map_id = e["formatted"]["key"], e["formatted"]["value"]
        else:
            slot, map_id = raw_int(e["key"]), raw_int(e["value"])
        ids = [entry(x)["value"] for x in bpftool("id", str(map_id))]
        inner[slot] = [raw_int(i) if isinstance(i, list) else i for i in ids]
    for k, path in enumerate(outs):
        write(path, canonical(pin, dumps, inner, k == 1))


if __name__ == "__main__":
    main()

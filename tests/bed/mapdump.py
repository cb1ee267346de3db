#!/usr/bin/env python3
"""The maps a graysplit command writes, as one canonical JSON document, so two
states compare with cmp (tests/bats/crash.bats).

  mapdump.py PIN_DIR OUT [OUT_BY_ADDRESS]

services, split, backends, backend_addrs, overrides, rollouts, rollout_state,
svc_status as bpftool reads them (entries sorted), and the Maglev tables: the outer map
holds inner map ids, new with every publish, so each slot is written as a
digest of the table it points to.

OUT_BY_ADDRESS (written from the same reading): the same state reached by another history (another order of
commands) gives the same document: backends keyed by address and port
instead of slot id, tables as digests of the addresses they list, the
services of a backend address (listed in slot id order) sorted and their
backend ids as the addresses they name, and a
rollout's generation and applied time left out.
"""
import ctypes
import hashlib
import json
import os
import struct
import subprocess
import sys

MAPS = ["services", "split", "backends", "backend_addrs", "overrides", "rollouts", "rollout_state",
        "svc_status"]


def bpftool(*args):
    out = subprocess.run(["bpftool", "-j", "map", "dump", *args], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


_libc = ctypes.CDLL(None, use_errno=True)
_SYS_BPF = 321  # x86_64
_BPF_MAP_GET_FD_BY_ID = 14
_BPF_MAP_LOOKUP_BATCH = 24


def _bpf(cmd, attr, ok_errno=0):
    """bpf(2); returns its result and the attr as the kernel left it."""
    buf = ctypes.create_string_buffer(attr, 128)
    r = _libc.syscall(_SYS_BPF, cmd, buf, 128)
    if r < 0 and ctypes.get_errno() != ok_errno:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r, buf.raw


def table_ids(map_id, n):
    """An inner Maglev table: n u32 backend ids, in one batch lookup (the
    bpftool JSON of 65537 entries takes a second to write and to parse)."""
    fd, _ = _bpf(_BPF_MAP_GET_FD_BY_ID, struct.pack("=III", map_id, 0, 0))
    try:
        keys = ctypes.create_string_buffer(4 * n)
        values = ctypes.create_string_buffer(4 * n)
        out_batch = ctypes.create_string_buffer(4)
        attr = struct.pack("=QQQQIIQQ", 0, ctypes.addressof(out_batch), ctypes.addressof(keys),
                           ctypes.addressof(values), n, fd, 0, 0)
        # ENOENT: the end of the map came within this one batch.
        _, raw = _bpf(_BPF_MAP_LOOKUP_BATCH, attr, ok_errno=2)
        count = struct.unpack_from("=I", raw, 32)[0]
        if count != n:
            raise RuntimeError(f"map id {map_id}: {count} of {n} entries read")
        return list(struct.unpack(f"<{n}I", values.raw))
    finally:
        os.close(fd)


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
        for a in doc["backend_addrs"]:
            v = a["value"]
            if isinstance(v, dict) and "svc" in v:
                n = v["count"]
                # The backend's slot, by the address it names.
                for svc in v["svc"][:n]:
                    if "backend_id" in svc:
                        svc["backend_id"] = names.get(svc["backend_id"], str(svc["backend_id"]))
                v["svc"] = sorted(v["svc"][:n], key=json.dumps) + v["svc"][n:]
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
        info = json.loads(subprocess.run(["bpftool", "-j", "map", "show", "id", str(map_id)],
                                         check=True, capture_output=True, text=True).stdout)
        inner[slot] = table_ids(map_id, info["max_entries"])
    for k, path in enumerate(outs):
        write(path, canonical(pin, dumps, inner, k == 1))


if __name__ == "__main__":
    main()

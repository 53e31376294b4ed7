#!/usr/bin/env python3
"""Interop check: a weft bundle must read as a CAR v1 file with independent IPLD code.

Loads the bundle with `ipld-car` (header roots and blocks), then checks:
  - every block's CID is CIDv1, dag-cbor, BLAKE3-256 (`multiformats`);
  - BLAKE3 of the block bytes equals the CID's digest (`blake3`);
  - every block decodes with `dag-cbor` as a weft change, and re-encodes to the same bytes
    (canonical DAG-CBOR);
  - no change comes before one of its parents;
  - every root is among the blocks (true of a full bundle; an incremental bundle may name roots
    the receiver already has);
  - re-encoding roots and blocks with `ipld-car` gives the file back byte for byte (so the
    header is canonical DAG-CBOR and the framing is plain CAR v1, with nothing after it).

Prints one summary line; exits 1 on any failure, 2 on bad usage.

Usage: car_interop.py BUNDLE.car
"""
import sys

import blake3
import dag_cbor
import ipld_car
from multiformats import CID


def main():
    if len(sys.argv) != 2:
        print("usage: car_interop.py BUNDLE.car", file=sys.stderr)
        return 2
    path = sys.argv[1]
    with open(path, "rb") as f:
        data = f.read()

    failures = []
    try:
        roots, blocks = ipld_car.decode(data)
    except Exception as e:  # the library raises several types on malformed input
        print(f"car interop: {path}: ipld_car cannot read it: {e!r}")
        return 1

    in_file = {bytes(c) for c, _ in blocks}
    seen = set()
    for cid, raw in blocks:
        raw = bytes(raw)
        text = cid.encode("base32")
        if cid.version != 1 or cid.codec.name != "dag-cbor" or cid.hashfun.name != "blake3":
            failures.append(f"{text}: not CIDv1/dag-cbor/blake3 ({cid.version}, "
                            f"{cid.codec.name}, {cid.hashfun.name})")
            continue
        if len(cid.raw_digest) != 32 or blake3.blake3(raw).digest() != cid.raw_digest:
            failures.append(f"{text}: BLAKE3 of the block does not match the CID")
            continue
        try:
            change = dag_cbor.decode(raw)
        except Exception as e:
            failures.append(f"{text}: not DAG-CBOR: {e!r}")
            continue
        if dag_cbor.encode(change) != raw:
            failures.append(f"{text}: not canonical DAG-CBOR")
        if not isinstance(change, dict) or change.get("version") != 1:
            failures.append(f"{text}: not a weft change (no version 1)")
            continue
        if len(change.get("sig", b"")) != 64 or len(change.get("author", b"")) != 32:
            failures.append(f"{text}: not a weft change (sig/author)")
        later = [p for p in change.get("parents", [])
                 if bytes(p) in in_file and bytes(p) not in seen]
        if later:
            failures.append(f"{text}: comes before its parent {later[0].encode('base32')}")
        seen.add(bytes(cid))

    for root in roots:
        if bytes(root) not in seen:
            failures.append(f"root {root.encode('base32')} is not among the blocks")

    if bytes(ipld_car.encode(roots, [(c, bytes(b)) for c, b in blocks])) != data:
        failures.append("re-encoding with ipld_car does not give the file back byte for byte")

    for failure in failures:
        print(f"car interop: {path}: {failure}", file=sys.stderr)
    print(f"car interop: {len(blocks)} blocks, {len(roots)} roots, {len(data)} bytes, "
          f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

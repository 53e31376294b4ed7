#!/usr/bin/env python3
"""Interop check: blocks exported by `weft block get` must decode with independent IPLD code.

For every change in a fresh repo (covering every value type and op kind) this script:
  - parses the CID with `multiformats` and checks it is CIDv1, dag-cbor, BLAKE3-256;
  - checks that the BLAKE3 digest of the exported bytes equals the CID's digest (`blake3`);
  - decodes the bytes with `dag-cbor` and checks the change fields;
  - re-encodes with `dag-cbor` and checks the bytes are identical (canonical form).

Usage: interop.py PATH_TO_WEFT
"""
import json
import subprocess
import sys
import tempfile

import blake3
import dag_cbor
from multiformats import CID

WEFT = sys.argv[1]


def b32(cid):
    return cid.encode("base32")


def weft(repo, *args, binary=False):
    out = subprocess.run([WEFT, "-C", repo, *args], check=True, capture_output=True)
    return out.stdout if binary else out.stdout.decode()


def main():
    with tempfile.TemporaryDirectory() as repo:
        weft(repo, "init", "-q")
        link = weft(repo, "heads").strip()
        weft(repo, "set", "todo/1", '{"title":"milk","done":false,"n":3,"f":1.5,"tags":["a",null]}')
        weft(repo, "set", "bytes", '{"/":{"bytes":"AAEC/w"}}')
        weft(repo, "set", "link", json.dumps({"/": link}))
        weft(repo, "set", "neg", "-42")
        weft(repo, "set", "todo/1", "plain text")
        weft(repo, "rm", "neg")
        weft(repo, "incr", "visits", "-3")
        weft(repo, "sadd", "tags", "x", "y", "7")
        weft(repo, "srem", "tags", "x")
        first = weft(repo, "list", "push", "todo", '{"title":"milk"}').strip()
        weft(repo, "list", "push", "todo", "eggs", "--before", first)
        weft(repo, "list", "move", "todo", first, "--to", "done")
        weft(repo, "list", "set", "done", first, "true")
        weft(repo, "text", "insert", "notes", "0", "héllo wörld")
        weft(repo, "text", "delete", "notes", "1", "3")
        weft(repo, "list", "rm", "done", first)
        changes = [json.loads(line) for line in weft(repo, "log", "--json").splitlines()]
        assert len(changes) == 17, len(changes)
        for ch in changes:
            text = ch["cid"]
            cid = CID.decode(text)
            assert cid.version == 1, text
            assert cid.codec.name == "dag-cbor", cid.codec.name
            assert cid.hashfun.name == "blake3", cid.hashfun.name
            assert b32(cid) == text, (b32(cid), text)
            data = weft(repo, "block", "get", text, binary=True)
            assert blake3.blake3(data).digest() == cid.raw_digest, f"{text}: digest mismatch"
            decoded = dag_cbor.decode(data)
            assert dag_cbor.encode(decoded) == data, f"{text}: not canonical DAG-CBOR"
            assert decoded["version"] == 1
            assert decoded["height"] == ch["height"]
            assert len(decoded["sig"]) == 64 and len(decoded["author"]) == 32
            assert [b32(p) for p in decoded["parents"]] == ch["parents"]
            assert [op["op"] for op in decoded["ops"]] == [op["op"] for op in ch["ops"]]
            if "doc" in decoded:
                assert b32(decoded["doc"]) == ch["doc"]
        # Links inside values decode as CIDs too.
        setlink = [c for c in changes if c["ops"][0].get("key") == "link"][0]
        op = dag_cbor.decode(weft(repo, "block", "get", setlink["cid"], binary=True))["ops"][0]
        assert isinstance(op["value"], CID) and b32(op["value"]) == link
        # List and text ops name items as [link, index, offset] (or [index, offset] within their
        # change), the start and the end as null.
        seen = set()
        for ch in changes:
            for op in dag_cbor.decode(weft(repo, "block", "get", ch["cid"], binary=True))["ops"]:
                seen.add(op["op"])
                for side in ("left", "right"):
                    if side in op and op[side] is not None:
                        item = op[side]
                        assert isinstance(item, list) and len(item) in (2, 3), item
                        assert len(item) == 2 or isinstance(item[0], CID), item
                if "elem" in op:
                    assert isinstance(op["elem"][0], CID) and len(op["elem"]) == 2, op["elem"]
                if op["op"] == "tdel":
                    for span in op["spans"]:
                        assert isinstance(span[0], CID) and len(span) == 4, span
        assert {"lins", "lmov", "lset", "ldel", "tins", "tdel"} <= seen, seen
        print(f"interop: {len(changes)} passed, 0 failed")


if __name__ == "__main__":
    main()

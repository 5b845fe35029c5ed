#!/usr/bin/env python3
"""Damages a copy of a trident checkpoint the way a bad disk, a bad run or a bad hand would, and keeps
its CRC-32s consistent so that only the damage itself can be what trident reports.

  edit_checkpoint.py DIR set POINTER JSON         trainer.json: set the field at POINTER (RFC 6901)
  edit_checkpoint.py DIR remove POINTER           trainer.json: remove the field
  edit_checkpoint.py DIR poison TENSOR INDEX      a tensor's element INDEX (flat) becomes NaN
  edit_checkpoint.py DIR header TENSOR KEY JSON   a tensor's safetensors header entry: KEY = JSON
  edit_checkpoint.py DIR rename TENSOR NEW        a tensor's name in its file's header
"""
import json
import math
import os
import struct
import sys
import zlib


def manifest_path(d):
    return os.path.join(d, "trainer.json")


def load_manifest(d):
    with open(manifest_path(d)) as f:
        return json.load(f)


def save_manifest(d, m):
    with open(manifest_path(d), "w") as f:
        json.dump(m, f, indent=2)


def refresh_file_record(d, name):
    """Records a file's new size and CRC-32 in trainer.json (zlib.crc32 is CRC-32/IEEE, as boost's)."""
    m = load_manifest(d)
    path = os.path.join(d, name)
    with open(path, "rb") as f:
        data = f.read()
    m["files"][name] = {"bytes": len(data), "crc32": zlib.crc32(data) & 0xFFFFFFFF}
    save_manifest(d, m)


def split_pointer(pointer):
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def read_header(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    return raw, n, json.loads(raw[8:8 + n])


def write_header(path, raw, n, header):
    text = json.dumps(header, separators=(",", ":")).encode()
    if len(text) > n:
        sys.exit(f"edit_checkpoint: the new header of {path} does not fit in its {n} bytes")
    with open(path, "wb") as f:
        f.write(raw[:8] + text + b" " * (n - len(text)) + raw[8 + n:])


def file_holding(d, tensor):
    for name in sorted(os.listdir(d)):
        if name.endswith(".safetensors") and tensor in read_header(os.path.join(d, name))[2]:
            return name
    sys.exit(f"edit_checkpoint: no file of {d} holds tensor {tensor}")


def main():
    d, op, *args = sys.argv[1:]
    if op in ("set", "remove"):
        m = load_manifest(d)
        *parents, last = split_pointer(args[0])
        node = m
        for t in parents:
            node = node[t]
        if op == "set":
            node[last] = json.loads(args[1])
        else:
            del node[last]
        save_manifest(d, m)
        return
    tensor = args[0]
    name = file_holding(d, tensor)
    path = os.path.join(d, name)
    raw, n, header = read_header(path)
    if op == "poison":
        begin = header[tensor]["data_offsets"][0] + 8 + n + 4 * int(args[1])
        data = bytearray(raw)
        data[begin:begin + 4] = struct.pack("<f", math.nan)
        with open(path, "wb") as f:
            f.write(bytes(data))
    elif op == "header":
        header[tensor][args[1]] = json.loads(args[2])
        write_header(path, raw, n, header)
    elif op == "rename":
        header[args[1]] = header.pop(tensor)
        write_header(path, raw, n, header)
    else:
        sys.exit(f"edit_checkpoint: unknown operation {op}")
    refresh_file_record(d, name)


if __name__ == "__main__":
    main()

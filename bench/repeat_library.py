#!/usr/bin/env python3
"""Repeats a paperbot JSONL export to N papers with distinct titles and ids
("<title> (copy k)"), for library-scale runs:

    paperbot export -o base.jsonl && python3 bench/repeat_library.py base.jsonl 50000 > big.jsonl
"""
import json
import sys

base = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
for i in range(n):
    p = dict(base[i % len(base)])
    copy = i // len(base)
    if copy:
        p["title"] = f'{p["title"]} (copy {copy})'
        p["id"] = f"{2100 + i // 90000:04d}.{i % 90000 + 10000:05d}"
        p["url"] = None
    sys.stdout.write(json.dumps(p) + "\n")

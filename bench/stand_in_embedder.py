#!/usr/bin/env python3
"""A stand-in OpenAI-compatible embedding server on 127.0.0.1, for runs at
library scale where only paperbot's own costs should count (ingest, store,
lookup), not MiniLM's: `POST /v1/embeddings` returns, for each input, a
deterministic 384-d unit vector made by feature hashing of its words (texts
that share words get similar vectors, so "related" still means something).

    python3 bench/stand_in_embedder.py 8099 [LATENCY_MS] &
    PAPERBOT_EMBED__BACKEND=openai \
    PAPERBOT_EMBED__OPENAI_BASE_URL=http://127.0.0.1:8099/v1 \
    PAPERBOT_EMBED__OPENAI_MODEL=stand-in paperbot ingest papers.jsonl

Standard library only. Not for quality measurements: use the real model.
"""
import hashlib
import json
import math
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIM = 384
WORD = re.compile(r"[a-z0-9]+")


def embed(text: str) -> list:
    v = [0.0] * DIM
    for w in WORD.findall(text.lower()):
        h = hashlib.blake2b(w.encode(), digest_size=8).digest()
        i = int.from_bytes(h[:4], "little") % DIM
        v[i] += 1.0 if h[4] & 1 else -1.0
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if not self.path.endswith("/embeddings"):
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        if LATENCY:
            time.sleep(LATENCY)
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        data = [{"object": "embedding", "index": i, "embedding": embed(t)} for i, t in enumerate(inputs)]
        out = json.dumps({"object": "list", "data": data, "model": body.get("model", "stand-in"),
                          "usage": {"prompt_tokens": 0, "total_tokens": 0}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


LATENCY = 0.0

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8099
    # Optional: seconds each request takes, as a GPU server's batch would.
    LATENCY = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()

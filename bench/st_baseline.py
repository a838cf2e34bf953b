"""Baseline for `paperbot bench embed`: the same measurements with the
reference implementation (sentence-transformers on PyTorch), printed as JSON.

Run by paperbot itself (`paperbot bench embed --python VENV/bin/python`) so
both sides are measured in the same run on the same machine. Needs
`pip install sentence-transformers` in that environment; the model is read
from the same directory paperbot uses (no hub access).
"""
import json
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402


def main():
    model_dir, texts_file, queries_file, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    torch.set_num_threads(threads)
    texts = json.load(open(texts_file))
    queries = json.load(open(queries_file))
    model = SentenceTransformer(model_dir, device="cpu")
    model.max_seq_length = 256
    model.encode(texts[:8], batch_size=8)  # warm-up
    lat = []
    for q in queries:
        t = time.perf_counter()
        model.encode([q], batch_size=1)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    out = {"query_p50_ms": statistics.median(lat), "query_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))], "throughput": {}}
    for b in (1, 4, 8, 16, 32):
        t = time.perf_counter()
        model.encode(texts, batch_size=b, normalize_embeddings=True)
        out["throughput"][str(b)] = len(texts) / (time.perf_counter() - t)
    out["library"] = f"torch {torch.__version__}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()

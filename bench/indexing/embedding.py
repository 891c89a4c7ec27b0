"""Embedding throughput of the bundled model on each backend, and how close its vectors stay.

Backends: torch (SentenceTransformer.encode, what qa runs by default), onnx (the same weights
exported to ONNX, float32) and onnx-int8 (dynamic int8 quantisation of the matrix products), see
src/qa/index/onnx_embed.py. For each: chunks/second over realistic chunk texts at several batch sizes
and thread counts (best of --rounds, since the cores are shared), single-question latency, and
cosine similarity to the torch vectors on the development set (its questions and the chunks of
the shipped sources), plus whether each question's nearest chunk stays the same.

    .venv/bin/python -m bench.indexing.embedding
    .venv/bin/python -m bench.indexing.embedding --device cuda --backends torch --batch-sizes 64,256
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import numpy as np

from bench.datasets import synthetic
from bench.paths import OUT


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="torch,onnx,onnx-int8", help="default torch,onnx,onnx-int8")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (onnx backends run on CPU only)")
    parser.add_argument("--chunks", type=int, default=256, help="chunk texts embedded per measurement (default 256)")
    parser.add_argument("--batch-sizes", default="16,64", help="default 16,64 (qa's default is 64)")
    parser.add_argument("--threads", default="1,2", help="CPU threads tried (default 1,2)")
    parser.add_argument("--rounds", type=int, default=2, help="repeats; the best is reported (default 2)")
    return parser.parse_args(argv)


def set_threads(model, backend: str, threads: int) -> None:
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    else:
        import onnxruntime as ort

        from qa.index.dense import model_path
        from qa.index.onnx_embed import exported_model

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model._session = ort.InferenceSession(str(exported_model(model_path("all-MiniLM-L6-v2"), model.quantized)),
                                              options, providers=["CPUExecutionProvider"])


def main(argv=None) -> int:
    args = parse_args(argv)
    from qa.config import DEFAULTS
    from qa.ingest.chunking import chunk_document
    from qa.index.dense import embed, load_model

    texts = [c.text for d in synthetic.synthetic_documents(args.chunks // 20 + 1) for c in chunk_document(d)]
    texts = texts[:args.chunks]
    dev_chunks = [c.text for d in synthetic.shipped_documents() for c in chunk_document(d)]
    questions = synthetic.dev_questions()
    rows, reference = [], None
    for backend in args.backends.split(","):
        began = time.perf_counter()
        model = load_model(DEFAULTS.model, args.device, backend)
        load_s = time.perf_counter() - began
        embed(model, texts[:16], DEFAULTS.batch_size)
        chunk_vectors = embed(model, dev_chunks, DEFAULTS.batch_size)
        question_vectors = embed(model, questions, DEFAULTS.batch_size)
        if reference is None:
            reference = (chunk_vectors, question_vectors)
        cos = np.concatenate([(chunk_vectors * reference[0]).sum(1), (question_vectors * reference[1]).sum(1)])
        same_top = float(np.mean((question_vectors @ chunk_vectors.T).argmax(1)
                                 == (reference[1] @ reference[0].T).argmax(1)))
        for threads in [int(t) for t in args.threads.split(",")] if args.device == "cpu" else [0]:
            if threads:
                set_threads(model, backend, threads)
            latencies = []
            for question in questions * 2:
                t = time.perf_counter()
                embed(model, [question], batch_size=1)
                latencies.append((time.perf_counter() - t) * 1000)
            for batch in [int(b) for b in args.batch_sizes.split(",")]:
                if backend != "torch":
                    model.BATCH_LIMIT = batch  # measure the batch size asked for, not the cap
                best = 0.0
                for _ in range(args.rounds):
                    t = time.perf_counter()
                    embed(model, texts, batch)
                    best = max(best, len(texts) / (time.perf_counter() - t))
                row = {"backend": backend, "device": args.device, "threads": threads, "batch": batch,
                       "chunks_per_s": best, "query_ms_p50": float(np.median(latencies)), "load_s": load_s,
                       "cos_min": float(cos.min()), "cos_mean": float(cos.mean()), "same_top1": same_top,
                       "load_average": os.getloadavg()[0]}
                rows.append(row)
                print(json.dumps(row), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "embedding.json").write_text(json.dumps(rows, indent=1))
    base = max(r["chunks_per_s"] for r in rows if r["backend"] == "torch" and r["batch"] == 64
               and r["threads"] in (0, os.cpu_count())) if any(r["backend"] == "torch" for r in rows) else None
    print(f"\nchunks of ~{int(np.mean([len(t) for t in texts]))} characters; best of {args.rounds}; "
          f"speed-up against torch, batch 64, default threads")
    print("| backend | device | threads | batch | chunks/s | speed-up | query ms p50 | cos to torch min / mean "
          "| same top chunk |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        speedup = f"{r['chunks_per_s'] / base:.2f}×" if base else "–"
        print(f"| {r['backend']} | {r['device']} | {r['threads'] or 'default'} | {r['batch']} | "
              f"{r['chunks_per_s']:.0f} | {speedup} | {r['query_ms_p50']:.1f} | "
              f"{r['cos_min']:.4f} / {r['cos_mean']:.4f} | {r['same_top1']:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

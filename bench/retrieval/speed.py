"""Retrieval speed, memory and index size at 10k, 100k (and, asked for, 1M) chunks.

For each size this builds a real qa index (qa.index.store, the same code `qa index` runs) of synthetic
chunks (see bench/datasets/synthetic.py: Zipfian text; a few thousand chunks embedded with the real model,
the rest perturbed copies of those vectors), then, in a separate process that only opens the index
and loads the model, times real questions (the development set) in each mode, query embedding
included, and records that process's peak memory. Beside it, in the same run: rank-bm25
(BM25Okapi) over the same chunk tokens and a flat FAISS index over the same vectors, and, when the
index is HNSW, its recall@10 against exact search.

    .venv/bin/python -m bench.retrieval.speed                     # 10k and 100k chunks
    .venv/bin/python -m bench.retrieval.speed --sizes 1000000 --skip-rank-bm25
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.datasets import synthetic
from bench.paths import OUT, ROOT

MODES = ("bm25", "dense", "hybrid")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__ + "\nPrints a table; writes JSON (and, with --keep, the indexes) under bench/out/.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Figures: build = chunking + BM25 + vector index + writing (embedding excluded: the "
               "vectors are precomputed; see bench/indexing/embedding.py for embedding throughput). Latency = "
               "Retriever.search(question, mode, k=5) in a process with the model and index loaded, "
               "query embedding included. Peak RSS = that process's maximum resident memory.")
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated chunk counts (default 10000,100000; add 1000000 for 1M)")
    parser.add_argument("--real", type=int, default=3000,
                        help="chunks embedded with the real model; the rest are perturbed copies (default 3000)")
    parser.add_argument("--noise", type=float, default=0.03,
                        help="per-dimension std of the noise added to copied vectors (default 0.03)")
    parser.add_argument("--backends", default="torch,onnx-int8",
                        help="embedding backends timed for query embedding, one process each "
                             "(torch, onnx, onnx-int8; default torch,onnx-int8)")
    parser.add_argument("--backend", default="torch", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the questions (default 5)")
    parser.add_argument("--rank-bm25-queries", type=int, default=3,
                        help="questions timed with rank-bm25, which is slow at scale (default 3)")
    parser.add_argument("--skip-rank-bm25", action="store_true", help="no rank-bm25 baseline (it needs RAM at 1M)")
    parser.add_argument("--ann-threshold", type=int, help="override Settings.ann_threshold (e.g. 0 forces HNSW)")
    parser.add_argument("--codes", help="the HNSW graph's code type, a faiss.ScalarQuantizer name "
                                        "(default: qa.index.dense.CODES, QT_6bit), e.g. QT_8bit or QT_4bit to compare")
    parser.add_argument("--ef-search", default="64,128,256",
                        help="efSearch values whose recall@10 is measured for an HNSW index")
    parser.add_argument("--keep", action="store_true", help="keep the built indexes under bench/out/")
    parser.add_argument("--serve", metavar="INDEX_DIR", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def serve(index_dir: Path, backend: str, rounds: int) -> dict:
    """Child process: open the index, load the model, time questions; print what it measured."""
    began = time.perf_counter()
    from qa.config import Settings
    from qa.index.dense import load_model
    from qa.retrieve import Retriever
    from qa.index.store import Index
    imported = time.perf_counter()
    settings = Settings(index_dir=index_dir, embed_backend=backend)
    model = load_model(settings.model, "cpu", backend)
    loaded = time.perf_counter()
    index = Index.open(index_dir)  # queries embedded by either backend against one index
    opened = time.perf_counter()
    retriever = Retriever(index, model, settings)
    questions = synthetic.dev_questions()
    first = retriever.search(questions[0], "hybrid", 5)
    answered = time.perf_counter()
    latencies = {mode: [] for mode in MODES}
    for _ in range(rounds):
        for question in questions:
            for mode in MODES:
                t = time.perf_counter()
                retriever.search(question, mode, 5)
                latencies[mode].append((time.perf_counter() - t) * 1000)
    return {"imports_s": imported - began, "model_s": loaded - imported, "open_s": opened - loaded,
            "first_answer_s": answered - opened, "first_hit": first[0].chunk.source if first else None,
            "latency_ms": {m: {"p50": _pct(v, 50), "p95": _pct(v, 95), "n": len(v)} for m, v in latencies.items()},
            "peak_rss_mib": synthetic.peak_rss_mib(), "index_kind": index.segments[0].dense.kind, "chunks": index.size,
            "torch_imported": "torch" in sys.modules}


def _pct(values, q) -> float:
    return float(np.percentile(values, q))


def build(size: int, real: dict, args) -> tuple[Path, dict]:
    from qa.config import Settings
    from qa.index import store

    began = time.perf_counter()
    documents = synthetic.shipped_documents() + synthetic.synthetic_documents(size)
    generated = time.perf_counter() - began
    index_dir = OUT / f"index-{size}"
    settings = Settings(index_dir=index_dir).with_(ann_threshold=args.ann_threshold)
    from qa.ingest.chunking import chunk_document

    shipped = {c.text for d in synthetic.shipped_documents() for c in chunk_document(d)}
    encoder = synthetic.PrecomputedEncoder(real, exact=shipped, noise=args.noise)
    began = time.perf_counter()
    report = store.update(settings, encoder, documents, rebuild=True, progress=False)
    seconds = time.perf_counter() - began
    del documents
    gc.collect()
    generation = index_dir / (index_dir / "CURRENT").read_text().strip()
    # A fresh build is one segment (qa.index.store): its files are the index's.
    [segment] = json.loads((generation / "manifest.json").read_text())["segments"]
    segment = index_dir / "segments" / segment
    files = {p.name: p.stat().st_size / 2**20 for p in segment.iterdir() if p.is_file()}
    files["terms/"] = synthetic.folder_mib(segment / "terms")
    return generation, {"chunks": report.chunks, "build_s": seconds, "generate_s": generated,
                        "disk_mib": synthetic.folder_mib(index_dir), "files_mib": files,
                        "build_peak_rss_mib": synthetic.peak_rss_mib()}


def baselines(generation: Path, model, args) -> dict:
    """rank-bm25 and flat FAISS over the same chunks and vectors; HNSW recall@10 if HNSW is used."""
    import faiss

    from qa.config import DEFAULTS
    from qa.index.dense import embed
    from qa.index.store import Index

    questions = synthetic.dev_questions()
    result = {}
    index = Index(generation, searchable=False)
    [segment] = index.segments  # a fresh build: one segment
    vectors = segment.vectors()
    query_vectors = embed(model, questions, DEFAULTS.batch_size)

    began = time.perf_counter()
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors))
    result["flat_build_s"] = time.perf_counter() - began
    times = []
    for v in query_vectors:
        t = time.perf_counter()
        flat.search(v.reshape(1, -1), 50)
        times.append((time.perf_counter() - t) * 1000)
    result["flat_search_ms"] = {"p50": _pct(times, 50), "p95": _pct(times, 95)}

    dense = segment.dense  # as the product searches it: a graph's candidates rescored exactly
    if dense.kind == "hnsw":
        # Query-like probes: the real questions plus 300 chunk vectors moved off their chunk.
        rng = np.random.default_rng(1)
        probes = vectors[rng.choice(len(vectors), 300, replace=False)] + rng.normal(0, 0.05, (300, vectors.shape[1]))
        probes = np.vstack([query_vectors, probes / np.linalg.norm(probes, axis=1, keepdims=True)]).astype(np.float32)
        _, exact = flat.search(probes, 10)
        hnsw = dense._index
        result["hnsw"] = {"M": hnsw.hnsw.nb_neighbors(1), "ef_construction": hnsw.hnsw.efConstruction,
                          "ef_search_saved": hnsw.hnsw.efSearch, "codes": type(hnsw).__name__,
                          "vectors": int(hnsw.ntotal), "sweep": []}
        for ef in [int(x) for x in args.ef_search.split(",")]:
            hnsw.hnsw.efSearch = ef
            times, found = [], []
            for row, probe in enumerate(probes):
                t = time.perf_counter()
                ids = [i for i, _ in dense.search(probe, 10)]
                times.append((time.perf_counter() - t) * 1000)
                found.append(len(set(ids) & set(exact[row])) / 10)
            result["hnsw"]["sweep"].append({"ef_search": ef, "recall_at_10": float(np.mean(found)),
                                            "search_ms_p50": _pct(times, 50)})
    del flat
    gc.collect()

    if not args.skip_rank_bm25:
        from rank_bm25 import BM25Okapi

        from qa.index.lexical import tokenize

        began = time.perf_counter()
        corpus = [tokenize(index.chunk(i).text) or ["\x00"] for i in range(index.size)]
        tokenized = time.perf_counter() - began
        began = time.perf_counter()
        bm25 = BM25Okapi(corpus)
        result["rank_bm25_build_s"] = time.perf_counter() - began
        result["tokenize_s"] = tokenized
        times = []
        for question in questions[:args.rank_bm25_queries]:
            t = time.perf_counter()
            scores = bm25.get_scores(tokenize(question))
            np.argpartition(-scores, 50)[:50]
            times.append((time.perf_counter() - t) * 1000)
        result["rank_bm25_query_ms"] = {"p50": _pct(times, 50), "max": max(times), "n": len(times)}
        del bm25, corpus
        gc.collect()
    index.close()
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.serve:
        print(json.dumps(serve(Path(args.serve), args.backend, args.rounds)))
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    import qa.index.dense
    from qa.config import DEFAULTS
    from qa.index.dense import load_model

    if args.codes:
        qa.index.dense.CODES = args.codes

    model = load_model(DEFAULTS.model, "cpu", "torch")
    documents = synthetic.shipped_documents() + synthetic.synthetic_documents(args.real)
    real = synthetic.real_vectors(model, documents, args.real, OUT)
    print(f"vectors: {len(real)} chunks embedded with the real model (all-MiniLM-L6-v2); the shipped "
          f"chunks keep theirs, every other chunk gets one of them plus N(0, {args.noise}²) noise per "
          f"dimension, renormalised (cosine ~0.86 to the real vector)")
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        print(f"\n== {size:,} chunks: building", flush=True)
        generation, built = build(size, real, args)
        print(f"   built {built['chunks']:,} chunks in {built['build_s']:.1f} s; {built['disk_mib']:.0f} MiB on disk",
              flush=True)
        base = baselines(generation, model, args)
        print(f"   baselines: {json.dumps(base)}", flush=True)
        for backend in args.backends.split(","):
            child = subprocess.run([sys.executable, "-m", __spec__.name, "--serve", str(generation.parent),
                                    "--backend", backend, "--rounds", str(args.rounds)], cwd=ROOT,
                                   capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
            if child.returncode:
                sys.exit(child.stderr)
            served = json.loads(child.stdout.strip().splitlines()[-1]) | {"backend": backend,
                                                                          "load_average": os.getloadavg()[0]}
            print(f"   served: {json.dumps(served)}", flush=True)
            rows.append({"size": size, "built": built, "served": served, "baselines": base})
        (OUT / f"retrieval-{args.sizes.replace(',', '-')}.json").write_text(json.dumps(rows, indent=1))
        if not args.keep:
            import shutil

            shutil.rmtree(generation.parent, ignore_errors=True)
    print_table(rows, args)
    return 0


def print_table(rows, args) -> None:
    print(f"\nlatency over {args.rounds} passes of the {len(synthetic.dev_questions())} development "
          f"questions, k=5, candidates=50, on {os.cpu_count()} shared CPU cores "
          f"(load average during each run in the JSON)")
    print("| chunks | query embedding | index | build s | disk MiB | open s | peak RSS MiB | bm25 p50/p95 ms | dense p50/p95 ms "
          "| hybrid p50/p95 ms | flat FAISS search p50 ms | rank-bm25 query ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s, b, base = r["served"], r["built"], r["baselines"]
        lat = s["latency_ms"]
        rb = base.get("rank_bm25_query_ms")
        rank_bm25 = f"{rb['p50']:.0f} (n={rb['n']})" if rb else "skipped"
        print(f"| {r['built']['chunks']:,} | {s['backend']} | {s['index_kind']} | {b['build_s']:.1f} | {b['disk_mib']:.0f} "
              f"| {s['open_s']:.2f} | {s['peak_rss_mib']:.0f} "
              + " ".join(f"| {lat[m]['p50']:.1f} / {lat[m]['p95']:.1f}" for m in MODES)
              + f" | {base['flat_search_ms']['p50']:.1f} | {rank_bm25} |")
    for r in {r["size"]: r for r in rows}.values():
        if "hnsw" in r["baselines"]:
            h = r["baselines"]["hnsw"]
            sweep = ", ".join(f"ef {x['ef_search']}: recall@10 {x['recall_at_10']:.3f} ({x['search_ms_p50']:.2f} ms)"
                              for x in h["sweep"])
            print(f"HNSW at {r['built']['chunks']:,} (M={h['M']}, efConstruction={h['ef_construction']}, "
                  f"saved efSearch={h['ef_search_saved']}): {sweep}")


if __name__ == "__main__":
    sys.exit(main())

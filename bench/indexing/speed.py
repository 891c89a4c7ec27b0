"""Indexing throughput, incremental re-indexing, and cold start, with the real model.

1. Full build of a corpus of --documents synthetic documents (bench/datasets/synthetic.py text) through
   qa.index.store.update, embedding every chunk: chunks/second, and the embedding's share.
2. One document changed (a paragraph appended), then the same update again: only that
   document is chunked and embedded; the BM25 and vector indexes are rebuilt from stored vectors.
   A run with nothing changed is timed too.
3. Cold start: `qa index` of the shipped sources/ into a temporary folder, then
   `.venv/bin/qa ask "..."` timed end to end (process start to printed answer), and, in a fresh
   process, the steps: imports, model load, index open, first answer. With --baseline SRC (the
   src/ folder of another checkout, e.g. a `git worktree` of an earlier commit), each run of this
   code alternates with one of that code, and the paired differences are reported: this machine's
   speed drifts by a third within minutes, more than the runs of one code apart would show.

    .venv/bin/python -m bench.indexing.speed
    .venv/bin/python -m bench.indexing.speed --backend onnx-int8 --documents 1000
    git worktree add /tmp/qa-base HEAD~1 && .venv/bin/python -m bench.indexing.speed --skip-build \
        --cold-runs 12 --baseline /tmp/qa-base/src

With --scale CHUNKS (e.g. 100000 or 1000000), instead: a big index of synthetic chunks (vectors
precomputed as in bench/retrieval/speed.py: see synthetic.PrecomputedEncoder), each step in its own
process so that each peak memory (VmHWM) is that step's alone:
   build    store.update of the whole corpus: seconds and peak RSS
   change   one document changed (a paragraph appended, embedded with the real model), then a
            second one, then one removed: seconds each, store.update alone (reading and hashing
            the source files, which `qa index` does first, is not included)
   serve    open the index, load the model, time the development questions: hybrid, bm25 and
            dense p50/p95 with the query embedded afresh for every search; peak RSS

    nice -n 15 .venv/bin/python -m bench.indexing.speed --scale 100000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.datasets import synthetic
from bench.paths import OUT, ROOT
from qa.config import EMBED_BACKENDS, Settings

QUESTION = "How many North Korean troops are estimated to be in training?"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=1000, help="documents in the corpus (default 1000)")
    parser.add_argument("--paragraphs", type=int, default=2,
                        help="paragraphs (≈ chunks) per document (default 2: 2,000 chunks, minutes on 2 cores)")
    parser.add_argument("--backend", default=Settings().embed_backend, choices=EMBED_BACKENDS,
                        help=f"embedding backend (default {Settings().embed_backend})")
    parser.add_argument("--cold-runs", type=int, default=3, help="end-to-end `qa ask` runs (default 3)")
    parser.add_argument("--skip-build", action="store_true", help="only the cold-start measurements")
    parser.add_argument("--baseline", metavar="SRC", type=Path,
                        help="another checkout's src/ folder: its `qa ask` runs alternate with this code's, "
                             "and the paired differences are reported")
    parser.add_argument("--breakdown", metavar="INDEX_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=int, metavar="CHUNKS",
                        help="instead: build, change one document in, and query a synthetic index of this many chunks")
    parser.add_argument("--real", type=int, default=3000,
                        help="with --scale: chunks embedded with the real model, the rest noisy copies (default 3000)")
    parser.add_argument("--rounds", type=int, default=3, help="with --scale: passes over the questions (default 3)")
    parser.add_argument("--ann-threshold", type=int, default=Settings().ann_threshold,
                        help="with --scale: override Settings.ann_threshold (above CHUNKS: a flat vector "
                             "index, whose build takes seconds where HNSW's takes long on few cores)")
    parser.add_argument("--bm25-compare", type=int, metavar="CHUNKS",
                        help="instead: qa.index.lexical against bm25s on this many synthetic chunks (search, top 50)")
    parser.add_argument("--step", choices=("vectors", "build", "change", "serve"), help=argparse.SUPPRESS)
    parser.add_argument("--index-dir", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def corpus(documents: int, paragraphs: int):
    synthetic.PARAGRAPHS_PER_DOCUMENT = paragraphs
    return synthetic.synthetic_documents(documents * paragraphs)


def indexing(args, folder: Path) -> dict:
    from qa.config import Settings
    from qa.index.dense import load_model
    from qa.ingest.documents import document_from_text
    from qa.index import store

    settings = Settings(index_dir=folder / "index", embed_backend=args.backend)
    model = load_model(settings.model, "cpu", args.backend)
    documents = corpus(args.documents, args.paragraphs)
    began = time.perf_counter()
    full = store.update(settings, model, documents, progress=False)
    full_s = time.perf_counter() - began

    changed = documents[len(documents) // 2]
    documents[len(documents) // 2] = document_from_text(
        changed.source, changed.text + "\n\nA paragraph added later to this document, about the river "
                                       "crossing and the bridge that was rebuilt in the spring.",
        title=changed.title)
    began = time.perf_counter()
    incremental = store.update(settings, model, documents, progress=False)
    incremental_s = time.perf_counter() - began
    began = time.perf_counter()
    store.update(settings, model, documents, progress=False)
    unchanged_s = time.perf_counter() - began
    return {"backend": args.backend, "documents": len(documents), "chunks": full.chunks,
            "full_build_s": full_s, "chunks_per_s": full.chunks / full_s,
            "incremental_s": incremental_s, "incremental_embedded": incremental.embedded,
            "incremental_changed": incremental.changed, "unchanged_update_s": unchanged_s,
            "load_average": os.getloadavg()[0]}


def breakdown(index_dir: Path, backend: str) -> dict:
    """In a fresh process: how long each step to the first answer takes."""
    began = time.perf_counter()
    from qa.read.answer import answer_question
    from qa.config import Settings
    from qa.index.dense import load_model
    from qa.retrieve import Retriever
    from qa.index.store import Index
    imported = time.perf_counter()
    settings = Settings(index_dir=index_dir, embed_backend=backend)
    model = load_model(settings.model, settings.device, backend)
    loaded = time.perf_counter()
    index = Index.open(index_dir)  # either backend's queries on one index: only the timings matter here
    opened = time.perf_counter()
    answer = answer_question(Retriever(index, model, settings), QUESTION)
    answered = time.perf_counter()
    return {"backend": backend, "imports_s": imported - began, "model_load_s": loaded - imported,
            "index_open_s": opened - loaded, "first_answer_s": answered - opened,
            "total_s": answered - began, "answer": answer.text[:80]}


def cold_start(args, folder: Path) -> dict:
    qa = ROOT / ".venv" / "bin" / "qa"
    index_dir = folder / "shipped-index"
    subprocess.run([str(qa), "index", str(ROOT / "sources"), "--index", str(index_dir), "-q",
                    "--embed-backend", args.backend],
                   check=True, capture_output=True)
    env = os.environ | {"HF_HUB_OFFLINE": "1"}

    def ask(code: Path | None) -> float:
        began = time.perf_counter()  # PYTHONPATH comes before the editable install's path
        done = subprocess.run([str(qa), "ask", QUESTION, "--index", str(index_dir),
                               "--embed-backend", args.backend],
                              capture_output=True, text=True, env=env | ({"PYTHONPATH": str(code)} if code else {}))
        if done.returncode:
            sys.exit(done.stderr)
        return time.perf_counter() - began

    runs, baseline = [], []
    for _ in range(args.cold_runs):
        if args.baseline:
            baseline.append(ask(args.baseline.resolve()))
        runs.append(ask(None))
    paired = {}
    if baseline:
        differences = [new - old for new, old in zip(runs, baseline)]
        paired = {"baseline": str(args.baseline), "baseline_qa_ask_s": baseline,
                  "baseline_qa_ask_median_s": statistics.median(baseline),
                  "paired_difference_median_s": statistics.median(differences),
                  "faster_than_baseline": sum(d < 0 for d in differences)}
    steps = []
    for backend in ("torch", "onnx-int8"):
        child = subprocess.run([sys.executable, "-m", __spec__.name, "--breakdown", str(index_dir),
                                "--backend", backend], cwd=ROOT, capture_output=True, text=True, env=env)
        if child.returncode:
            sys.exit(child.stderr)
        steps.append(json.loads(child.stdout.strip().splitlines()[-1]))
    return {"qa_ask_s": runs, "qa_ask_median_s": statistics.median(runs), **paired, "steps": steps,
            "load_average": os.getloadavg()[0]}


def scale_vectors(args, index_dir: Path) -> dict:
    from qa.config import Settings
    from qa.index.dense import load_model

    model = load_model(Settings().model, "cpu", args.backend)
    documents = synthetic.shipped_documents() + synthetic.synthetic_documents(args.real)
    return {"real_vectors": len(synthetic.real_vectors(model, documents, args.real, OUT))}


def scale_build(args, index_dir: Path) -> dict:
    from qa.index import store
    from qa.ingest.chunking import chunk_document
    from qa.config import Settings

    documents = synthetic.shipped_documents() + synthetic.synthetic_documents(args.real)
    real = synthetic.real_vectors(None, documents, args.real, OUT)  # cached by the "vectors" step
    del documents
    shipped = {c.text for d in synthetic.shipped_documents() for c in chunk_document(d)}
    encoder = synthetic.PrecomputedEncoder(real, exact=shipped)
    began = time.perf_counter()
    documents = synthetic.shipped_documents() + synthetic.synthetic_documents(args.scale)
    generated = time.perf_counter() - began
    before = synthetic.peak_rss_mib()
    began = time.perf_counter()
    settings = Settings(index_dir=index_dir, ann_threshold=args.ann_threshold)
    report = store.update(settings, encoder, documents, rebuild=True, progress=False)
    return {"chunks": report.chunks, "documents": len(documents), "generate_s": generated,
            "build_s": time.perf_counter() - began, "peak_rss_before_build_mib": before,
            "build_peak_rss_mib": synthetic.peak_rss_mib(), "disk_mib": synthetic.folder_mib(index_dir)}


def scale_change(args, index_dir: Path) -> dict:
    from qa.index import store
    from qa.ingest.chunking import chunk_document
    from qa.config import Settings
    from qa.index.dense import embed, load_model
    from qa.ingest.documents import document_from_text

    settings = Settings(index_dir=index_dir, embed_backend=args.backend, ann_threshold=args.ann_threshold)
    model = load_model(settings.model, "cpu", args.backend)
    index = store.Index.open(index_dir, searchable=False)
    documents = [index.document(n) for n in range(len(index.manifest["documents"]))]
    index.close()
    result = {}
    for step, number in (("change_1", len(documents) // 2), ("change_2", len(documents) // 3)):
        changed = documents[number]
        documents[number] = document_from_text(
            changed.source, changed.text + "\n\nA paragraph added later to this document, about the river "
                                           "crossing and the bridge that was rebuilt in the spring.",
            title=changed.title)
        began = time.perf_counter()
        report = store.update(settings, model, documents, progress=False)
        result[f"{step}_s"] = time.perf_counter() - began
        result[f"{step}_embedded"] = report.embedded
        # The embedding's share, timed alone on the same chunks (on a shared CPU it dominates).
        texts = [c.text for c in chunk_document(documents[number], settings)]
        began = time.perf_counter()
        embed(model, texts, settings.batch_size)
        result[f"{step}_embedding_alone_s"] = time.perf_counter() - began
    del documents[len(documents) // 4]
    began = time.perf_counter()
    store.update(settings, model, documents, progress=False)
    result["remove_s"] = time.perf_counter() - began
    index = store.Index.open(index_dir, searchable=False)
    result |= {"segments": len(index.segments), "masked_rows": index.masked, "chunks": index.size,
               "peak_rss_mib": synthetic.peak_rss_mib()}
    index.close()
    return result


def scale_serve(args, index_dir: Path) -> dict:
    from qa.config import Settings
    from qa.index.dense import load_model
    from qa.retrieve import Retriever
    from qa.index.store import Index

    settings = Settings(index_dir=index_dir, embed_backend=args.backend)
    began = time.perf_counter()
    index = Index.open(index_dir)
    opened = time.perf_counter() - began
    model = load_model(settings.model, "cpu", args.backend)
    retriever = Retriever(index, model, settings)
    questions = synthetic.dev_questions()
    retriever.search(questions[0], "hybrid", 5)
    latencies = {mode: [] for mode in ("hybrid", "bm25", "dense")}
    for _ in range(args.rounds):
        for question in questions:
            for mode in latencies:
                retriever._last_query = None  # the query embedded afresh for every search
                t = time.perf_counter()
                retriever.search(question, mode, 5)
                latencies[mode].append((time.perf_counter() - t) * 1000)
    return {"open_s": opened, "segments": len(index.segments), "chunks": index.size,
            "vector_indexes": [s.dense.kind for s in index.segments],
            "latency_ms": {m: {"p50": statistics.median(v), "p95": sorted(v)[int(0.95 * len(v))], "n": len(v)}
                           for m, v in latencies.items()},
            "peak_rss_mib": synthetic.peak_rss_mib()}


def bm25_compare(chunks: int) -> int:
    """qa.index.lexical (per-segment term counts, statistics over all segments) against bm25s, which it
    replaced: the same chunk tokens, the development questions × 3, best 50, in one process."""
    import gc

    import bm25s
    import numpy as np

    from qa.ingest.chunking import chunk_document
    from qa.index.lexical import LexicalIndex, tokenize

    tokens = [tokenize(c.text) for d in synthetic.synthetic_documents(chunks) for c in chunk_document(d)]
    ours = LexicalIndex.build(tokens)
    reference = bm25s.BM25(method="lucene")
    reference.index([t or ["\x00"] for t in tokens], show_progress=False)
    del tokens
    gc.collect()

    def theirs(question):
        known = [t for t in tokenize(question) if t in reference.vocab_dict]
        if known:
            scores = reference.get_scores(known)
            top = np.argpartition(-scores, 49)[:50]
            top[np.argsort(-scores[top])]

    questions = synthetic.dev_questions()
    for name, search in (("qa.index.lexical", lambda q: ours.search(q, 50)), ("bm25s", theirs)) * 2:
        times = []
        for _ in range(3):
            for question in questions:
                began = time.perf_counter()
                search(question)
                times.append((time.perf_counter() - began) * 1000)
        print(f"{name}: {chunks:,} chunks, p50 {statistics.median(times):.2f} ms, "
              f"p95 {sorted(times)[int(0.95 * len(times))]:.2f} ms", flush=True)
    return 0


def scale(args) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    result = {"chunks_asked": args.scale, "backend": args.backend}
    with tempfile.TemporaryDirectory(prefix="qa-bench-scale-") as tmp:
        for step in ("vectors", "build", "change", "serve"):
            child = subprocess.run([sys.executable, "-m", __spec__.name, "--scale", str(args.scale), "--step", step,
                                    "--index-dir", str(Path(tmp) / "index"), "--backend", args.backend,
                                    "--real", str(args.real), "--rounds", str(args.rounds),
                                    "--ann-threshold", str(args.ann_threshold)],
                                   cwd=ROOT, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
            if child.returncode:
                sys.exit(child.stderr)
            result[step] = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"{step}: {json.dumps(result[step])}", flush=True)
    result["load_average"] = os.getloadavg()[0]
    (OUT / f"indexing-scale-{args.scale}.json").write_text(json.dumps(result, indent=1))
    b, c, s = result["build"], result["change"], result["serve"]
    lat = s["latency_ms"]
    print(f"\n| {b['chunks']:,} chunks | figure |\n|---|---|")
    print(f"| full build (vectors precomputed) | {b['build_s']:.0f} s, peak RSS {b['build_peak_rss_mib']:,.0f} MiB "
          f"({b['peak_rss_before_build_mib']:,.0f} MiB before the build: corpus and encoder) |")
    for n, which in ((1, "one document"), (2, "a second one")):
        print(f"| {which} changed ({c[f'change_{n}_embedded']} chunks embedded) | {c[f'change_{n}_s']:.2f} s "
              f"(embedding them alone: {c[f'change_{n}_embedding_alone_s']:.2f} s) |")
    print(f"| one document removed | {c['remove_s']:.2f} s |")
    print(f"| after them: segments, masked rows | {c['segments']}, {c['masked_rows']} |")
    print(f"| open + answer ({args.backend} queries): peak RSS | {s['peak_rss_mib']:,.0f} MiB (open {s['open_s']:.2f} s) |")
    for mode in ("hybrid", "bm25", "dense"):
        print(f"| {mode} p50 / p95, query embedding included | {lat[mode]['p50']:.1f} / {lat[mode]['p95']:.1f} ms |")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.step:
        step = {"vectors": scale_vectors, "build": scale_build, "change": scale_change,
                "serve": scale_serve}[args.step]
        print(json.dumps(step(args, Path(args.index_dir))))
        return 0
    if args.bm25_compare:
        return bm25_compare(args.bm25_compare)
    if args.scale:
        return scale(args)
    if args.breakdown:
        print(json.dumps(breakdown(Path(args.breakdown), args.backend)))
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    result = {}
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        if not args.skip_build:
            result["indexing"] = indexing(args, Path(tmp))
            print(json.dumps(result["indexing"]), flush=True)
        result["cold_start"] = cold_start(args, Path(tmp))
        print(json.dumps(result["cold_start"]), flush=True)
    (OUT / f"indexing-{args.backend}.json").write_text(json.dumps(result, indent=1))

    if "indexing" in result:
        i = result["indexing"]
        print(f"\n| step ({i['backend']}) | figure |\n|---|---|")
        print(f"| full build, {i['documents']:,} documents / {i['chunks']:,} chunks | {i['full_build_s']:.1f} s "
              f"({i['chunks_per_s']:.1f} chunks/s) |")
        print(f"| one document changed ({i['incremental_embedded']} chunks embedded) | {i['incremental_s']:.2f} s |")
        print(f"| nothing changed | {i['unchanged_update_s']:.2f} s |")
    c = result["cold_start"]
    print(f"\n`qa ask` end to end (shipped sources, {args.backend}): median {c['qa_ask_median_s']:.2f} s "
          f"of {', '.join(f'{s:.2f}' for s in c['qa_ask_s'])}")
    if "baseline" in c:
        print(f"baseline {c['baseline']}, its runs alternating with these: median {c['baseline_qa_ask_median_s']:.2f} s; "
              f"paired difference (this code minus baseline) median {c['paired_difference_median_s']:+.2f} s, "
              f"this code faster in {c['faster_than_baseline']} of {len(c['qa_ask_s'])}")
    print("| backend | imports s | model load s | index open s | first answer s | total s |\n|---|---|---|---|---|---|")
    for s in c["steps"]:
        print(f"| {s['backend']} | {s['imports_s']:.2f} | {s['model_load_s']:.2f} | {s['index_open_s']:.2f} "
              f"| {s['first_answer_s']:.2f} | {s['total_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Indexing throughput, incremental re-indexing, and cold start, with the real model.

1. Full build of a corpus of --documents synthetic documents (bench/synthetic.py text) through
   qa.store.update, embedding every chunk: chunks/second, and the embedding's share.
2. One document changed (a paragraph appended), then the same update again: only that
   document is chunked and embedded; the BM25 and vector indexes are rebuilt from stored vectors.
   A run with nothing changed is timed too.
3. Cold start: `qa index` of the shipped sources/ into a temporary folder, then
   `.venv/bin/qa ask "..."` timed end to end (process start to printed answer), and, in a fresh
   process, the steps: imports, model load, index open, first answer.

    .venv/bin/python bench/bench_indexing.py
    .venv/bin/python bench/bench_indexing.py --backend onnx-int8 --documents 1000
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic  # noqa: E402
from qa.config import EMBED_BACKENDS, Settings  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
ROOT = synthetic.ROOT
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
    parser.add_argument("--breakdown", metavar="INDEX_DIR", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def corpus(documents: int, paragraphs: int):
    synthetic.PARAGRAPHS_PER_DOCUMENT = paragraphs
    return synthetic.synthetic_documents(documents * paragraphs)


def indexing(args, folder: Path) -> dict:
    from qa.config import Settings
    from qa.dense import load_model
    from qa.documents import document_from_text
    from qa import store

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
    from qa.answer import answer_question
    from qa.config import Settings
    from qa.dense import load_model
    from qa.retrieve import Retriever
    from qa.store import Index
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
    runs = []
    for _ in range(args.cold_runs):
        began = time.perf_counter()
        done = subprocess.run([str(qa), "ask", QUESTION, "--index", str(index_dir),
                               "--embed-backend", args.backend],
                              capture_output=True, text=True, env=env)
        runs.append(time.perf_counter() - began)
        if done.returncode:
            sys.exit(done.stderr)
    steps = []
    for backend in ("torch", "onnx-int8"):
        child = subprocess.run([sys.executable, __file__, "--breakdown", str(index_dir), "--backend", backend],
                               capture_output=True, text=True, env=env)
        if child.returncode:
            sys.exit(child.stderr)
        steps.append(json.loads(child.stdout.strip().splitlines()[-1]))
    return {"qa_ask_s": runs, "qa_ask_median_s": statistics.median(runs), "steps": steps,
            "load_average": os.getloadavg()[0]}


def main(argv=None) -> int:
    args = parse_args(argv)
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
    print("| backend | imports s | model load s | index open s | first answer s | total s |\n|---|---|---|---|---|---|")
    for s in c["steps"]:
        print(f"| {s['backend']} | {s['imports_s']:.2f} | {s['model_load_s']:.2f} | {s['index_open_s']:.2f} "
              f"| {s['first_answer_s']:.2f} | {s['total_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Milvus beside the embedded index: index and query times at 10k chunks, and answer parity on the
development set, for milvus-lite's file mode and, when asked, a Milvus server.

    .venv/bin/python -m bench.retrieval.milvus [--chunks 10000] [--rounds 3] [--server | --uri URI]

--server starts milvus-lite's own gRPC server (`python -m milvus_lite server`) in bench/out/ for
the run; --uri measures a Milvus you run (its qa collections are dropped and rewritten).

Both backends index the same synthetic documents (bench/datasets/synthetic.py) with the same vectors
source: `--real` chunks embedded for real once (cached in bench/out/), the rest real vectors plus
noise, so index times measure storage, not the model. Query times are `Retriever.search` (query
embedding included) and each backend's search alone, over the development questions.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from bench.datasets import synthetic
from bench.paths import DEV_SET, OUT
from qa.config import Settings
from qa.evaluation.evaluate import evaluate_question_set, load_question_set
from qa.ingest.documents import document_from_text
from qa.pipeline import backend_module, model_for, open_backend, update
from qa.retrieve import Retriever

OUT = OUT / "milvus"
MODES = ("bm25", "dense", "hybrid")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000, help="synthetic chunks to index")
    parser.add_argument("--real", type=int, default=2_000, help="chunks embedded with the real model")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the dev questions")
    server = parser.add_mutually_exclusive_group()
    server.add_argument("--server", action="store_true",
                        help="also measure milvus-lite's gRPC server, started for the run")
    server.add_argument("--uri", help="also measure the Milvus server at URI (its qa collections are rewritten)")
    return parser.parse_args(argv)


# A target is where an index lives: (backend, Milvus URI or None for milvus-lite in its folder).
Target = tuple[str, "str | None"]


def settings_for(target: Target, folder: Path) -> Settings:
    backend, uri = target
    return Settings(index_dir=folder / "index", backend=backend, uri=uri or str(folder / "milvus.db"))


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@contextmanager
def milvus_lite_server(folder: Path):
    """milvus-lite's gRPC server on a free port in `folder`, for the duration; yields its URI."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(folder / "data"),
                                "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


def build(target: Target, documents, encoder, folder: Path) -> dict:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    settings = settings_for(target, folder)
    began = time.perf_counter()
    # rebuild: a server keeps what an earlier run left in it.
    report = backend_module(settings).update(settings, encoder, documents, rebuild=True, progress=False)
    seconds = time.perf_counter() - began
    # One document changed: what an everyday update costs.
    changed = list(documents)
    changed[0] = document_from_text(changed[0].source, changed[0].text + " One more sentence.",
                                    title=changed[0].title)
    began = time.perf_counter()
    backend_module(settings).update(settings, encoder, changed, progress=False)
    return {"chunks": report.chunks, "index_s": seconds, "update_one_s": time.perf_counter() - began}


def query_times(target: Target, folder: Path, model, questions: list[str], rounds: int) -> dict:
    settings = settings_for(target, folder)
    began = time.perf_counter()
    index = open_backend(settings)
    opened = time.perf_counter() - began
    retriever = Retriever(index, model, settings)
    vectors = {q: retriever.embed_query(q) for q in questions}
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        for question in questions:
            for name, call in [
                    *((f"search {m}", lambda m=m: retriever.search(question, m, 5)) for m in MODES),
                    ("backend bm25", lambda: index.lexical_search(question, settings.candidates)),
                    ("backend dense", lambda: index.dense_search(vectors[question], settings.candidates))]:
                began = time.perf_counter()
                call()
                times.setdefault(name, []).append((time.perf_counter() - began) * 1000)
    result = {"open_s": opened}
    result.update({f"{name} p50 ms": statistics.median(values) for name, values in times.items()})
    return result


def parity(model, targets: dict[str, Target]) -> dict:
    """hit@1 and hit@3 per mode on the development set, on each target (the `qa eval` scorer)."""
    questions = load_question_set(DEV_SET)
    rates = {}
    for name, target in targets.items():
        folder = OUT / f"parity-{slug(name)}"
        shutil.rmtree(folder, ignore_errors=True)
        settings = settings_for(target, folder)
        update(settings, model, synthetic.SOURCES, rebuild=True, progress=False)
        metrics = evaluate_question_set(Retriever(open_backend(settings), model, settings), questions).metrics
        rates[name] = {mode: {k: metrics[mode][k] for k in ("hit@1", "hit@3")} for mode in MODES}
    return rates


def figure(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def measure(args, targets: dict[str, Target]) -> None:
    model = model_for(Settings(device="cpu"))
    documents = synthetic.shipped_documents() + synthetic.synthetic_documents(args.chunks)
    encoder = synthetic.PrecomputedEncoder(synthetic.real_vectors(model, documents, args.real, OUT))
    questions = synthetic.dev_questions()
    rows = {}
    for name, target in targets.items():
        folder = OUT / f"index-{slug(name)}"
        rows[name] = build(target, documents, encoder, folder)
        rows[name].update(query_times(target, folder, model, questions, args.rounds))
        print(f"{name}: {json.dumps(rows[name])}", flush=True)

    print(f"\n{'':24}" + "".join(f" {name:>22}" for name in targets))
    for metric in rows["local (FAISS + bm25s)"]:
        print(f"{metric:24}" + "".join(f" {figure(rows[name][metric]):>22}" for name in targets))

    rates = parity(model, targets)
    print(f"\nDevelopment set ({DEV_SET.name}), answerable questions, hit@1 / hit@3:")
    print(f"{'mode':8}" + "".join(f" {name:>22}" for name in rates))
    for mode in MODES:
        print(f"{mode:8}" + "".join(f" {r[mode]['hit@1']:>14.3f} / {r[mode]['hit@3']:.3f}" for r in rates.values()))


def main(argv=None) -> int:
    args = parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    targets: dict[str, Target] = {"local (FAISS + bm25s)": ("local", None), "milvus-lite (file)": ("milvus", None)}
    if args.uri:
        measure(args, {**targets, f"milvus at {args.uri}": ("milvus", args.uri)})
    elif args.server:
        with milvus_lite_server(OUT / "server") as uri:
            measure(args, {**targets, "milvus-lite server": ("milvus", uri)})
    else:
        measure(args, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())

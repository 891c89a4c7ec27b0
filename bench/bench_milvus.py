"""Milvus (on milvus-lite) beside the embedded index: index and query times at 10k chunks, and
answer parity on the development set.

    .venv/bin/python bench/bench_milvus.py [--chunks 10000] [--rounds 3]

Both backends index the same synthetic documents (bench/synthetic.py) with the same vectors
source: `--real` chunks embedded for real once (cached in bench/out/), the rest real vectors plus
noise, so index times measure storage, not the model. Query times are `Retriever.search` (query
embedding included) and each backend's search alone, over the development questions.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic  # noqa: E402

from qa.config import Settings  # noqa: E402
from qa.evaluate import evaluate_question_set, load_question_set  # noqa: E402
from qa.documents import document_from_text  # noqa: E402
from qa.pipeline import backend_module, model_for, open_backend, update  # noqa: E402
from qa.retrieve import Retriever  # noqa: E402

OUT = synthetic.ROOT / "bench" / "out" / "milvus"
MODES = ("bm25", "dense", "hybrid")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000, help="synthetic chunks to index")
    parser.add_argument("--real", type=int, default=2_000, help="chunks embedded with the real model")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the dev questions")
    return parser.parse_args(argv)


def settings_for(backend: str, folder: Path) -> Settings:
    return Settings(index_dir=folder / "index", backend=backend, uri=str(folder / "milvus.db"))


def build(backend: str, documents, encoder, folder: Path) -> dict:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    settings = settings_for(backend, folder)
    began = time.perf_counter()
    report = backend_module(settings).update(settings, encoder, documents, progress=False)
    seconds = time.perf_counter() - began
    # One document changed: what an everyday update costs.
    changed = list(documents)
    changed[0] = document_from_text(changed[0].source, changed[0].text + " One more sentence.",
                                    title=changed[0].title)
    began = time.perf_counter()
    backend_module(settings).update(settings, encoder, changed, progress=False)
    return {"chunks": report.chunks, "index_s": seconds, "update_one_s": time.perf_counter() - began}


def query_times(backend: str, folder: Path, model, questions: list[str], rounds: int) -> dict:
    settings = settings_for(backend, folder)
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


def parity(model) -> dict:
    """hit@1 and hit@3 per mode on the development set, on each backend (the `qa eval` scorer)."""
    questions = load_question_set(synthetic.DEV_SET)
    rates = {}
    for backend in ("local", "milvus"):
        folder = OUT / f"parity-{backend}"
        shutil.rmtree(folder, ignore_errors=True)
        settings = settings_for(backend, folder)
        update(settings, model, synthetic.SOURCES, progress=False)
        metrics = evaluate_question_set(Retriever(open_backend(settings), model, settings), questions).metrics
        rates[backend] = {mode: {k: metrics[mode][k] for k in ("hit@1", "hit@3")} for mode in MODES}
    return rates


def main(argv=None) -> int:
    args = parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    model = model_for(Settings(device="cpu"))
    documents = synthetic.shipped_documents() + synthetic.synthetic_documents(args.chunks)
    encoder = synthetic.PrecomputedEncoder(synthetic.real_vectors(model, documents, args.real, OUT))
    questions = synthetic.dev_questions()
    rows = {}
    for backend in ("local", "milvus"):
        folder = OUT / f"index-{backend}"
        rows[backend] = build(backend, documents, encoder, folder)
        rows[backend].update(query_times(backend, folder, model, questions, args.rounds))
        print(f"{backend}: {json.dumps(rows[backend])}", flush=True)

    names = list(rows["local"])
    print(f"\n{'':24} {'local (FAISS + bm25s)':>22} {'milvus-lite':>14}")
    for name in names:
        print(f"{name:24} {rows['local'][name]:>22.4g} {rows['milvus'][name]:>14.4g}")

    rates = parity(model)
    print(f"\nDevelopment set ({synthetic.DEV_SET.name}), answerable questions:")
    print(f"{'mode':8} {'local hit@1':>12} {'milvus hit@1':>13} {'local hit@3':>12} {'milvus hit@3':>13}")
    for mode in MODES:
        local, milvus = rates["local"][mode], rates["milvus"][mode]
        print(f"{mode:8} {local['hit@1']:>12.3f} {milvus['hit@1']:>13.3f} "
              f"{local['hit@3']:>12.3f} {milvus['hit@3']:>13.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

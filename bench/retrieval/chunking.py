"""How chunks are made, measured: chunk size (Settings.chunk_chars) and chunk context
(Settings.chunk_context), each index built every way asked for; retrieval on BEIR collections and
passages on question sets, by mode.

    .venv/bin/python -m bench.datasets.beir_from_squad /tmp/squad-beir --articles 30 --queries 1000
    .venv/bin/python -m bench.retrieval.chunking --beir tests/data/beir-sample /tmp/squad-beir \\
        --questions ../shared/eval/seed-dev.jsonl tests/data/extra-questions.jsonl      # context off / on
    .venv/bin/python -m bench.retrieval.chunking --chunk-chars 300 600 1000 1500 --context off \\
        --beir tests/data/beir-sample /tmp/squad-beir --out bench/out/chunk-size           # chunk sizes

Prints a Markdown table (nDCG@10 for BEIR; hit@1 / hit@3 of passages holding an answer for question
sets, over --sources, no reader) and writes it with the raw metrics and the index sizes to
OUT.json and OUT.md (default bench/out/chunk-context).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.paths import OUT, SOURCES
from qa.config import Settings
from qa.evaluation.evaluate import evaluate_beir, evaluate_question_set, load_question_set
from qa.pipeline import model_for, open_backend, update
from qa.retrieve import Retriever
ORDER = ("bm25", "dense", "hybrid")
CONTEXT = {"off": False, "on": True}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", nargs="*", default=[], type=Path, help="BEIR dataset folders")
    parser.add_argument("--questions", nargs="*", default=[], type=Path, help="question sets (JSONL)")
    parser.add_argument("--sources", type=Path, default=SOURCES, help="what the question sets ask about")
    parser.add_argument("--chunk-chars", nargs="+", type=int, default=[Settings().chunk_chars],
                        help="chunk sizes to build (default: %(default)s)")
    parser.add_argument("--context", nargs="+", choices=list(CONTEXT), default=list(CONTEXT),
                        help="chunk context off and/or on (default: both)")
    parser.add_argument("--out", type=Path, default=OUT / "chunk-context",
                        help="where OUT.json and OUT.md go (default: %(default)s)")
    args = parser.parse_args(argv)
    if any(size < 50 for size in args.chunk_chars):
        parser.error("--chunk-chars: each size must be at least 50")

    model = model_for(Settings(device="cpu"))
    shapes = [(size, CONTEXT[name]) for size in args.chunk_chars for name in args.context]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for size, context in shapes:
            shape = f"{size} chars, context {'on' if context else 'off'}"
            settings = Settings(device="cpu", chunk_chars=size, chunk_context=context)
            for folder in args.beir:
                began = time.perf_counter()
                index_dir = Path(scratch) / f"{folder.name}-{size}-{context}"
                report = evaluate_beir(folder, settings, model, modes=ORDER, show_build=False, index_dir=index_dir)
                chunks = open_backend(settings.with_(index_dir=index_dir)).size
                entry = results.setdefault(folder.name, {"kind": "beir", "about": report.about})
                entry[shape] = {"chunks": chunks, "seconds": round(time.perf_counter() - began, 1),
                                **{m: report.metrics[m] for m in ORDER}}
                print(folder.name, shape, chunks, "chunks",
                      {m: round(report.metrics[m]["ndcg@10"], 3) for m in ORDER}, flush=True)
            if args.questions:
                indexed = settings.with_(index_dir=Path(scratch) / f"sources-{size}-{context}")
                update(indexed, model, args.sources, progress=False)
                retriever = Retriever(open_backend(indexed), model, indexed)
                for path in args.questions:
                    report = evaluate_question_set(retriever, load_question_set(path), ORDER, k=10, name=path.name)
                    results.setdefault(path.name, {"kind": "questions"})[shape] = {
                        "chunks": retriever.backend.size, **{m: report.metrics[m] for m in ORDER}}
                    print(path.name, shape, {m: (report.metrics[m]["hit@1"], report.metrics[m]["hit@3"])
                                             for m in ORDER}, flush=True)
    table = ["| set | metric | chunks | chunk size, context | " + " | ".join(ORDER) + " |",
             "|---|---|---:|---|" + "---:|" * len(ORDER)]
    for name, result in results.items():
        beir = result["kind"] == "beir"
        for size, context in shapes:
            shape = f"{size} chars, context {'on' if context else 'off'}"
            row = result[shape]
            cells = [f"{row[m]['ndcg@10']:.3f}" if beir else f"{row[m]['hit@1']:.3f} / {row[m]['hit@3']:.3f}"
                     for m in ORDER]
            table.append(f"| {name} | {'nDCG@10' if beir else 'hit@1 / hit@3'} | {row['chunks']} | {shape} | "
                         + " | ".join(cells) + " |")
    print("\n".join(table))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(table) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps({"table": table, "results": results}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Chunk context off and on (Settings.chunk_context): retrieval on BEIR collections and answers on
question sets, by mode, each index built both ways.

    .venv/bin/python bench/beir_from_squad.py /tmp/squad-beir --articles 30 --queries 1000
    .venv/bin/python bench/bench_chunk_context.py --beir tests/data/beir-sample /tmp/squad-beir \\
        --questions ../shared/eval/seed-dev.jsonl tests/data/extra-questions.jsonl

Prints a Markdown table (nDCG@10 for BEIR; hit@1 / hit@3 for question sets, over the shipped
sources) and writes it with the raw metrics to bench/out/chunk-context.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from qa.config import Settings
from qa.evaluate import evaluate_beir, evaluate_question_set, load_question_set
from qa.pipeline import model_for, open_backend, update
from qa.retrieve import Retriever

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"
ORDER = ("bm25", "dense", "hybrid")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", nargs="*", default=[], type=Path, help="BEIR dataset folders")
    parser.add_argument("--questions", nargs="*", default=[], type=Path, help="question sets (JSONL)")
    parser.add_argument("--sources", type=Path, default=ROOT / "sources", help="what the question sets ask about")
    args = parser.parse_args(argv)

    model = model_for(Settings(device="cpu"))
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for context in (False, True):
            settings = Settings(device="cpu", chunk_context=context)
            for folder in args.beir:
                report = evaluate_beir(folder, settings, model, modes=ORDER, show_build=False,
                                       index_dir=Path(scratch) / f"{folder.name}-{context}")
                results.setdefault(folder.name, {"kind": "beir", "about": report.about})[context] = {
                    m: report.metrics[m] for m in ORDER}
                print(folder.name, context, {m: round(report.metrics[m]["ndcg@10"], 3) for m in ORDER}, flush=True)
            if args.questions:
                indexed = settings.with_(index_dir=Path(scratch) / f"sources-{context}")
                update(indexed, model, args.sources, progress=False)
                retriever = Retriever(open_backend(indexed), model, indexed)
                for path in args.questions:
                    report = evaluate_question_set(retriever, load_question_set(path), ORDER, k=10, name=path.name)
                    results.setdefault(path.name, {"kind": "questions"})[context] = {
                        m: report.metrics[m] for m in ORDER}
                    print(path.name, context, {m: (report.metrics[m]["hit@1"], report.metrics[m]["hit@3"])
                                               for m in ORDER}, flush=True)
    table = ["| set | metric | context | " + " | ".join(ORDER) + " |", "|---|---|---|---|---|---|"]
    for name, result in results.items():
        beir = result["kind"] == "beir"
        for context in (False, True):
            cells = [f"{result[context][m]['ndcg@10']:.3f}" if beir else
                     f"{result[context][m]['hit@1']:.3f} / {result[context][m]['hit@3']:.3f}" for m in ORDER]
            table.append(f"| {name} | {'nDCG@10' if beir else 'hit@1 / hit@3'} | {'on' if context else 'off'} | "
                         + " | ".join(cells) + " |")
    print("\n".join(table))
    OUT.mkdir(exist_ok=True)
    (OUT / "chunk-context.json").write_text(json.dumps(
        {"table": table, "results": {n: {str(k): v for k, v in r.items()} for n, r in results.items()}},
        indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A baseline for qa's dense mode: whole-document embedding with the same model.

Each document of a BEIR folder is embedded once, as "title. text" (the model reads its first
256 word pieces, as sentence-transformers would), each query is embedded the same way, and the
documents are ranked by cosine. The ranking is written as a TREC run, so that qa puts it beside
its own modes, with ranx's paired t-test:

    .venv/bin/python -m bench.retrieval.whole_document_run tests/data/beir-sample bench/out/whole-document.run
    .venv/bin/qa eval --beir tests/data/beir-sample --compare bench/out/whole-document.run

It answers the question of issue 14: does chunking cost the dense retriever against embedding
the whole document?
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def whole_document_run(folder: Path, out: Path, depth: int = 100, backend: str | None = None) -> int:
    from qa.config import Settings
    from qa.index.dense import embed, load_model
    from qa.evaluation.evaluate import load_beir

    dataset = load_beir(folder)
    settings = Settings()
    model = load_model(settings.model, "cpu", backend or settings.embed_backend)
    ids = list(dataset.corpus)
    texts = [f"{title}. {text}" if title else text for title, text in dataset.corpus.values()]
    documents = embed(model, texts, settings.batch_size, progress=True)
    query_ids = list(dataset.queries)
    queries = embed(model, [dataset.queries[q] for q in query_ids], settings.batch_size, progress=True)
    scores = queries @ documents.T  # embed() returns unit vectors: cosine
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as run:
        for row, query in zip(scores, query_ids):
            top = np.argsort(-row, kind="stable")[:depth]
            for rank, column in enumerate(top, start=1):
                run.write(f"{query} Q0 {ids[column]} {rank} {row[column]:.6f} whole-document\n")
    print(f"{out}: {len(query_ids)} queries, {len(ids)} documents embedded whole", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("beir", type=Path, help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)")
    parser.add_argument("out", type=Path, help="the TREC run file to write")
    parser.add_argument("--depth", type=int, default=100, help="documents ranked per query (default 100)")
    parser.add_argument("--backend", help="embedding backend (default: qa's)")
    args = parser.parse_args(argv)
    return whole_document_run(args.beir, args.out, args.depth, args.backend)


if __name__ == "__main__":
    sys.exit(main())

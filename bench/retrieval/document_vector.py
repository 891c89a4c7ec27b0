"""Would a whole-document vector help dense search beside dense windows? A simulation from runs.

Issue 14 found chunked dense retrieval below whole-document embedding on a collection of short
abstracts. With dense windows qa's dense mode beats whole-document embedding on every collection
measured here, but a short document's "title. text" vector might still add something. This script
simulates giving each chunk of every document up to `--max-chars` characters that vector as one
more of its vectors: per query, a document's dense score becomes the larger of its score in qa's
dense run (its best chunk at its best vector) and its cosine in the whole-document run; it prints
nDCG@10 (ranx) of qa's dense run, the whole-document run and the combination at each limit.

    .venv/bin/qa eval --beir bench/out/covid-beir --run-out RUNS          # RUNS/dense.run
    .venv/bin/python -m bench.retrieval.whole_document_run bench/out/covid-beir WHOLE.run
    .venv/bin/python -m bench.retrieval.document_vector bench/out/covid-beir RUNS/dense.run WHOLE.run
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qa.evaluation.evaluate import load_beir


def combined(dense: dict, whole: dict, lengths: dict[str, int], max_chars: int) -> dict:
    """`dense` with each document of at most `max_chars` characters at the better of its two scores."""
    runs = {}
    for query, docs in dense.items():
        scores = dict(docs)
        for doc, score in whole.get(query, {}).items():
            if lengths.get(doc, max_chars + 1) <= max_chars:
                scores[doc] = max(scores.get(doc, -1.0), score)
        runs[query] = scores
    return runs


def main(argv=None) -> int:
    from ranx import Qrels, Run, evaluate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("beir", type=Path, help="the BEIR dataset folder")
    parser.add_argument("dense_run", type=Path, help="qa's dense run (qa eval --beir … --run-out DIR: DIR/dense.run)")
    parser.add_argument("whole_run", type=Path, help="the whole-document run (bench/retrieval/whole_document_run.py)")
    parser.add_argument("--max-chars", type=int, nargs="+", default=[800, 1000, 1500, 10**9],
                        help="documents up to this long get the whole-document vector (default: 800 1000 1500 all)")
    args = parser.parse_args(argv)
    dataset = load_beir(args.beir)
    lengths = {doc_id: len(text) for doc_id, (_, text) in dataset.corpus.items()}
    qrels = Qrels(dataset.qrels)
    dense = Run.from_file(str(args.dense_run), kind="trec").to_dict()
    whole = Run.from_file(str(args.whole_run), kind="trec").to_dict()
    print(f"| {args.beir.name} | nDCG@10 |\n|---|---:|")
    print(f"| qa dense | {evaluate(qrels, Run(dense), 'ndcg@10'):.3f} |")
    print(f"| whole-document | {evaluate(qrels, Run(whole), 'ndcg@10'):.3f} |")
    for limit in args.max_chars:
        shown = "all documents" if limit >= 10**9 else f"documents ≤ {limit:,} characters"
        score = evaluate(qrels, Run(combined(dense, whole, lengths, limit)), "ndcg@10")
        print(f"| qa dense + whole-document vector, {shown} | {score:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""HNSW graph codes on real vectors and real questions: recall@10 of each code size, rescored as qa does.

qa's graphs hold 6-bit codes and rescore twice k candidates from the float32 vectors (qa.index.dense).
bench/retrieval/speed.py --codes measures that on synthetic chunks (noisy copies of a few thousand
real vectors, a hard case); this measures it on the real chunk and window vectors of the
evaluation collections' indexes, probed with their real questions embedded, against exact search.
Build the indexes first (README, "Answer quality"):

    .venv/bin/python -m bench.datasets.squad_set bench/out/squad44 --articles 44 --questions 1000
    .venv/bin/python -m bench.datasets.out_of_domain_set covid bench/out/covid-qa   # and selqa
    .venv/bin/qa index bench/out/squad44/sources --index bench/out/squad44/index     # and the others
    .venv/bin/python -m bench.retrieval.graph_codes bench/out/squad44 bench/out/covid-qa bench/out/selqa-qa
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", type=Path, help="folders with index/ and questions.jsonl")
    parser.add_argument("--questions", type=int, default=300, help="questions a set (default 300)")
    parser.add_argument("--ef-search", type=int, default=256)
    args = parser.parse_args(argv)

    import faiss

    from qa.config import Settings
    from qa.index.dense import RESCORED, SAMPLE_VECTORS, embed
    from qa.pipeline import model_for

    vectors, questions = [], []
    for folder in args.sets:
        for segment in sorted((folder / "index" / "segments").iterdir()):
            if (segment / "segment.json").exists():
                width = json.loads((segment / "segment.json").read_text())["dimension"]
                vectors.append(np.fromfile(segment / "vectors.f32", dtype=np.float32).reshape(-1, width))
        lines = (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        questions += [json.loads(line)["question"] for line in lines[:args.questions]]
    v = np.vstack(vectors)
    q = embed(model_for(Settings(device="cpu")), questions, Settings().batch_size)
    exact = faiss.IndexFlatIP(v.shape[1])
    exact.add(v)
    _, truth = exact.search(q, 10)
    print(f"{len(v):,} vectors, {len(q)} questions; HNSW M=32, efConstruction 80, efSearch {args.ef_search}, "
          f"{RESCORED * 10} candidates rescored from float32")
    for name in ("float32", "QT_8bit", "QT_6bit", "QT_4bit"):
        if name == "float32":
            graph = faiss.IndexHNSWFlat(v.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        else:
            graph = faiss.IndexHNSWSQ(v.shape[1], getattr(faiss.ScalarQuantizer, name), 32, faiss.METRIC_INNER_PRODUCT)
            graph.train(v[np.linspace(0, len(v) - 1, min(len(v), SAMPLE_VECTORS)).astype(int)])
        graph.hnsw.efConstruction = 80
        graph.add(v)
        graph.hnsw.efSearch = args.ef_search
        _, ids = graph.search(q, RESCORED * 10)
        recall = []
        for row, found in enumerate(ids):
            found = found[found >= 0]
            best = found[np.argsort(-(v[found] @ q[row]))[:10]]
            recall.append(len(set(best) & set(truth[row])) / 10)
        print(f"{name:<8} recall@10 {np.mean(recall):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

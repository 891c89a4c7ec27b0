"""A BEIR-format collection from SQuAD 1.1 articles the reader never saw in training.

Corpus: every paragraph of the first N held-out articles (the validation split of
training/train_reader.py), titled by its article; queries: a seeded sample of their questions;
qrels: each question judges its own paragraph relevant (1). Neighbouring paragraphs of one
article share words and title, so the set is harder than its size suggests. Used by
tests/test_beir.py (small) and bench/retrieval/sweep_fusion.py (larger); data are read from
../shared/train/ at run time, never copied into the repository.

    .venv/bin/python -m bench.datasets.beir_from_squad bench/out/squad-beir --articles 35 --queries 500
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path

from bench.paths import shared_file
from training.train_reader import SEED, split_articles  # the held-out articles, defined once


def squad_path() -> Path | None:
    """SQuAD 1.1 train in the shared data, or None when it is not there."""
    return shared_file("train", "squad-v1.1-train.json.gz")


def write_squad_beir(folder: Path, squad: Path, articles: int, queries: int, seed: int = SEED,
                     skip: int = 0) -> Path:
    """Write corpus.jsonl, queries.jsonl and qrels/test.tsv into `folder` for `articles` held-out
    articles (in index order, after the first `skip`) and `queries` of their questions; returns `folder`."""
    data = json.load(gzip.open(squad, "rt", encoding="utf-8"))["data"]
    _, held = split_articles(len(data), SEED)
    chosen = sorted(held)[skip:skip + articles]
    corpus, questions = [], []
    for a in chosen:
        title = data[a]["title"].replace("_", " ")
        for p, paragraph in enumerate(data[a]["paragraphs"]):
            doc_id = f"a{a}-p{p}"
            corpus.append({"_id": doc_id, "title": title, "text": paragraph["context"]})
            questions += [(qa["id"], qa["question"], doc_id) for qa in paragraph["qas"]]
    sample = random.Random(seed).sample(questions, min(queries, len(questions)))
    return write_beir(folder, corpus, sample)


def write_beir(folder: Path, corpus: list[dict], queries: list[tuple[str, str, str]]) -> Path:
    """corpus.jsonl (rows with _id, title, text), queries.jsonl and qrels/test.tsv (each query
    judging one document relevant) in `folder`, from (query id, text, relevant document id)
    triples; returns `folder`."""
    folder = Path(folder)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in corpus),
                                         encoding="utf-8")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": text}, ensure_ascii=False) + "\n" for q, text, _ in queries),
        encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{doc}\t1\n" for q, _, doc in queries), encoding="utf-8")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="where to write the collection")
    parser.add_argument("--articles", type=int, default=35, help="held-out articles (default 35, of 44)")
    parser.add_argument("--queries", type=int, default=500, help="questions sampled (default 500)")
    parser.add_argument("--skip", type=int, default=0,
                        help="leave out the first N held-out articles (--skip 35: the 9 that bench/retrieval/sweep_fusion.py never read)")
    args = parser.parse_args()
    squad = squad_path()
    if squad is None:
        sys.exit("beir_from_squad: no ../shared/train/squad-v1.1-train.json.gz beside the checkout")
    folder = write_squad_beir(args.folder, squad, args.articles, args.queries, skip=args.skip)
    print(f"wrote {folder}: {sum(1 for _ in open(folder / 'corpus.jsonl'))} paragraphs, "
          f"{sum(1 for _ in open(folder / 'queries.jsonl'))} queries")
    return 0


if __name__ == "__main__":
    sys.exit(main())

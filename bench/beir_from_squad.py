"""A realistic BEIR-format collection from SQuAD articles the reader was not trained on.

    .venv/bin/python bench/beir_from_squad.py OUT_DIR [--articles 30] [--max-queries 1000]

corpus.jsonl: every paragraph of the first `--articles` held-out SQuAD 1.1 articles (the split of
training/train_reader.py: seed 13, 10% of articles), titled with its article's title;
queries.jsonl: their questions (a seeded sample of at most `--max-queries`); qrels/test.tsv: each
question → the paragraph it was asked of. Many paragraphs share an article, and so a title, and
say "it" for the article's subject: the case chunk context is for.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "train" / "squad-v1.1-train.json.gz"
SEED, HELD_OUT_SHARE = 13, 0.1  # as training/train_reader.py splits articles


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--articles", type=int, default=30)
    parser.add_argument("--max-queries", type=int, default=1000)
    parser.add_argument("--squad", type=Path, default=SQUAD)
    args = parser.parse_args(argv)

    data = json.load(gzip.open(args.squad, "rt", encoding="utf-8"))["data"]
    order = list(range(len(data)))
    random.Random(SEED).shuffle(order)
    held_out = order[:max(1, int(len(data) * HELD_OUT_SHARE))][:args.articles]
    corpus, queries = [], []
    for a in held_out:
        article = data[a]
        title = article["title"].replace("_", " ")
        for p, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"a{a}p{p}"
            corpus.append({"_id": doc_id, "title": title, "text": paragraph["context"]})
            queries.extend((qa["id"], qa["question"], doc_id) for qa in paragraph["qas"])
    queries = sorted(random.Random(SEED).sample(queries, min(args.max_queries, len(queries))))
    (args.out / "qrels").mkdir(parents=True, exist_ok=True)
    (args.out / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (args.out / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t, _ in queries))
    (args.out / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, _, d in queries))
    print(f"{args.out}: {len(corpus)} paragraphs of {len(held_out)} articles, {len(queries)} questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

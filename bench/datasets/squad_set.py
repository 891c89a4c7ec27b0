"""A question set in qa's own format from SQuAD articles the reader never trained on, to measure
whole answers (retrieval + reader + citations) on text nobody here tuned to.

    .venv/bin/python -m bench.datasets.squad_set bench/out/squad            # 20 held-out articles
    .venv/bin/python -m bench.datasets.squad_set bench/out/squad-other --other 200   # + 200 about other articles
    .venv/bin/qa index bench/out/squad/sources --index bench/out/squad/index
    .venv/bin/qa eval bench/out/squad/questions.jsonl --index bench/out/squad/index --modes hybrid

Writes DIR/sources/NNN.txt (the article's title, then its paragraphs separated by blank lines)
and DIR/questions.jsonl (id, question, answers, sources); with --other, the other articles' text in
DIR/other-articles/ (not to index), each of their questions naming it ("about"). The articles are the reader's held-out
articles (`training/train_reader.py`'s split, same seed); the questions skip the first 1,000 of
its shuffled held-out pool, which `validate` and `calibrate` read, so none of them fitted anything.
The data is read from ../shared/train/ and written only under DIR (never commit it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
from pathlib import Path

from bench.paths import SHARED

SQUAD = SHARED / "train" / "squad-v1.1-train.json.gz"
WHY = re.compile(r"\bwhy\b", re.IGNORECASE)
USED_BY_TRAINING_SCRIPT = 1000  # validate (500) and calibrate (400) read the pool's first questions


def article_text(article: dict) -> str:
    """A SQuAD article as a document: its title, then its paragraphs separated by blank lines."""
    return "\n\n".join([article["title"].replace("_", " ")] + [p["context"].strip() for p in article["paragraphs"]])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write sources/ and questions.jsonl to")
    parser.add_argument("--articles", type=int, default=20, help="held-out articles to use (default 20)")
    parser.add_argument("--questions", type=int, default=300, help="questions at most (default 300)")
    parser.add_argument("--squad", type=Path, default=SQUAD, help=f"SQuAD 1.1 train (default {SQUAD})")
    parser.add_argument("--why", action="store_true",
                        help="only the questions that ask why (kind \"why\"), to compare with the natural sets' why-questions")
    parser.add_argument("--other", type=int, default=0, metavar="N",
                        help="also N questions of other held-out articles, not written as sources (no answers, "
                             "kind \"other-article\"): questions about something else, which qa should abstain on")
    args = parser.parse_args(argv)
    if not args.squad.exists():
        parser.error(f"no SQuAD file at {args.squad}; put ../shared beside the project or pass --squad")

    from training import train_reader

    _, held, pool = train_reader.held_out(argparse.Namespace(data=args.squad.parent, seed=train_reader.SEED))
    used = {(q.article, q.text) for q in pool[:USED_BY_TRAINING_SCRIPT]}
    data = json.load(gzip.open(args.squad, "rt", encoding="utf-8"))["data"]
    chosen = sorted(held)[-args.articles:]

    sources = args.out / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    rows = []
    for a in chosen:
        article = data[a]
        name = f"{a:03d}.txt"
        text = article_text(article)
        (sources / name).write_text(text + "\n", encoding="utf-8")
        for paragraph in article["paragraphs"]:
            for q in paragraph["qas"]:
                if (a, q["question"]) not in used and (not args.why or WHY.search(q["question"])):
                    answers = sorted({answer["text"].strip() for answer in q["answers"]})
                    rows.append({"id": q["id"], "question": q["question"].strip(), "answers": answers,
                                 "sources": [name]} | ({"kind": "why"} if args.why else {}))
    random.Random(train_reader.SEED).shuffle(rows)
    rows = rows[:args.questions]
    others = [{"id": q["id"], "question": q["question"].strip(), "answers": [], "sources": [], "kind": "other-article",
               "about": f"{a:03d}.txt"}
              for a in sorted(held) if a not in chosen
              for paragraph in data[a]["paragraphs"] for q in paragraph["qas"] if (a, q["question"]) not in used]
    random.Random(train_reader.SEED).shuffle(others)
    rows += others[:args.other]
    # The other articles' text goes beside the sources, never among them: lead_questions.py reads
    # a question's lead from the article it is "about".
    about = sorted({row["about"] for row in rows if "about" in row})
    if about:
        (args.out / "other-articles").mkdir(exist_ok=True)
    for name in about:
        text = article_text(data[int(name.removesuffix(".txt"))])
        (args.out / "other-articles" / name).write_text(text + "\n", encoding="utf-8")
    with open(args.out / "questions.jsonl", "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(chosen)} held-out articles in {sources}, {len(rows)} questions in {args.out / 'questions.jsonl'}"
          + (f" ({min(args.other, len(others))} of them about other articles)" if args.other else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A question set whose questions come after a lead, the way news quizzes ask ("A bipartisan group
of senators announced … Which measure did lawmakers leave out?"): each question of a set folder
is prefixed with the first sentences of its own source document, up to --lead-words words (a
question about an article that is not indexed, by that article's: `squad_set.py --other`).

    .venv/bin/python -m bench.datasets.lead_questions bench/out/squad bench/out/squad-lead [--lead-words 45]
    .venv/bin/python -m bench.answers.natural_questions bench/out/squad-lead

Writes OUT/questions.jsonl and links OUT/sources to the set's sources (nothing is copied).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qa.ingest.chunking import sentence_spans
from qa.ingest.documents import read_document


def lead(text: str, words: int) -> str:
    """The first whole sentences of `text` (its title line skipped) up to `words` words."""
    body = text.split("\n", 1)[-1]
    chosen = []
    for start, end in sentence_spans(body):
        sentence = " ".join(body[start:end].split())
        if chosen and len(" ".join(chosen + [sentence]).split()) > words:
            break
        chosen.append(sentence)
    return " ".join(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("set", type=Path, help="a set folder: sources/ and questions.jsonl")
    parser.add_argument("out", type=Path, help="the folder to write the led set to")
    parser.add_argument("--lead-words", type=int, default=45, help="words of lead at most (default 45)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not (args.out / "sources").exists():
        (args.out / "sources").symlink_to((args.set / "sources").resolve())
    leads = {}
    with (args.out / "questions.jsonl").open("w") as out:
        for line in (args.set / "questions.jsonl").open():
            question = json.loads(line)
            # a question about an article that is not indexed (squad_set.py --other) is led by that article
            source = question["sources"][0] if question["sources"] else Path("..") / "other-articles" / question["about"]
            if source not in leads:
                leads[source] = lead(read_document(args.set / "sources" / source).text, args.lead_words)
            question["question"] = f"{leads[source]} {question['question']}"
            out.write(json.dumps(question, ensure_ascii=False) + "\n")
    print(f"wrote {args.out / 'questions.jsonl'}")


if __name__ == "__main__":
    main()

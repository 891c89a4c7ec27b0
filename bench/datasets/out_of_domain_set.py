"""Question sets in qa's own format from COVID-QA and SelQA, to measure whole answers (retrieval,
reader, citations) on text unlike the SQuAD the reader trained on.

    .venv/bin/python -m bench.datasets.out_of_domain_set covid bench/out/covid-qa
    .venv/bin/qa index bench/out/covid-qa/sources --index bench/out/covid-qa/index
    .venv/bin/qa eval bench/out/covid-qa/questions.jsonl --index bench/out/covid-qa/index --modes hybrid

covid: DIR/sources/NNN.txt is each of the 98 papers as COVID-QA gives it (title, address,
authors, abstract, text); a question's answers are its expert answer, often a whole sentence or
two. selqa: DIR/sources/NNN.txt is each Wikipedia article of SelQA's dev set (its title, then
each section asked about: the section's name, then its sentences); a question's answers are the
sentences marked as answering it, so quote@1 is end-to-end answer-sentence selection. Both
write DIR/questions.jsonl (id, question, answers, sources): a seeded sample (--questions, default
300). Neither set fitted anything here: `training/train_reader.py validate` only measures on them.
The data are read from ../shared/train/ and written only under DIR (never commit them).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path

from bench.datasets.beir_out_of_domain import FILES, shared_file

SEED = 13


def covid_set(path: Path) -> tuple[dict[str, str], list[dict]]:
    """(file name -> text, questions) for COVID-QA: one file a paper."""
    sources, questions = {}, []
    for p, paper in enumerate(json.load(gzip.open(path, "rt", encoding="utf-8"))["data"]):
        name = f"{p:03d}.txt"
        for paragraph in paper["paragraphs"]:
            sources[name] = paragraph["context"]
            for qa in paragraph["qas"]:
                answers = list(dict.fromkeys(a["text"].strip() for a in qa["answers"] if a["text"].strip()))
                if answers:
                    questions.append({"id": f"covid-{qa['id']}", "question": qa["question"].strip(),
                                      "answers": answers, "sources": [name]})
    return sources, questions


def selqa_set(path: Path) -> tuple[dict[str, str], list[dict]]:
    """(file name -> text, questions) for SelQA dev: one file an article, its sections in order."""
    rows = json.load(gzip.open(path, "rt", encoding="utf-8"))
    articles: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        articles.setdefault(row["article"], {}).setdefault(row["section"], [c.strip() for c in row["candidates"]])
    names = {article: f"{n:03d}.txt" for n, article in enumerate(articles)}
    sources = {names[article]: f"{article}\n\n" + "\n\n".join(f"{section}\n\n" + " ".join(sentences)
                                                             for section, sentences in sections.items())
               for article, sections in articles.items()}
    questions = [{"id": f"selqa-{n}", "question": row["question"].strip(),
                  "answers": [row["candidates"][i].strip() for i in row["answers"]],
                  "sources": [names[row["article"]]]}
                 for n, row in enumerate(rows) if row["answers"]]
    return sources, questions


def write_set(name: str, folder: Path, count: int, path: Path | None = None) -> tuple[int, int]:
    """Write DIR/sources/ and DIR/questions.jsonl; (sources written, questions written)."""
    path = path or shared_file(name)
    if path is None:
        raise FileNotFoundError(f"no ../shared/train/{FILES[name]} beside the checkout")
    sources, questions = (covid_set if name == "covid" else selqa_set)(path)
    sample = random.Random(SEED).sample(questions, min(count, len(questions)))
    (folder / "sources").mkdir(parents=True, exist_ok=True)
    for file_name, text in sources.items():
        (folder / "sources" / file_name).write_text(text, encoding="utf-8")
    with (folder / "questions.jsonl").open("w", encoding="utf-8") as out:
        for row in sample:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(sources), len(sample)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("collection", choices=sorted(FILES), help="covid (COVID-QA) or selqa (SelQA dev)")
    parser.add_argument("folder", type=Path, help="where to write sources/ and questions.jsonl")
    parser.add_argument("--questions", type=int, default=300, help="questions sampled (default 300)")
    args = parser.parse_args(argv)
    try:
        documents, questions = write_set(args.collection, args.folder, args.questions)
    except FileNotFoundError as error:
        sys.exit(f"question_set_out_of_domain: {error}")
    print(f"wrote {args.folder}: {documents} documents in sources/, {questions} questions in questions.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Two more BEIR-format collections from the shared training data, unlike SQuAD's Wikipedia paragraphs.

covid: COVID-QA's 98 biomedical papers cut at their blank lines into passages of abstract length
(about 740 characters on average), each titled by its paper, as a collection of scientific
abstracts is; the 1,380 expert questions are the queries, each judging relevant the passage where
its answer starts. Everything is on one subject, so titles and words are shared across the corpus.
The metadata before a paper's abstract (address, authors, DOI) and passages under 100
characters (section headings, page numbers) are left out, with the questions answered there.

selqa: SelQA's dev questions (785), many paraphrased so that they share few words with their
answer; the corpus is the Wikipedia sections they were asked about (680), titled by article; each
question judges its own section relevant.

Neither set was trained on (the reader trains on SQuAD only). The data are read from
../shared/train/ at run time and written where asked, never into the repository:

    python -m bench.datasets.beir_out_of_domain covid bench/out/covid-beir
    python -m bench.datasets.beir_out_of_domain selqa bench/out/selqa-beir
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

from bench.datasets.beir_from_squad import write_beir
from bench.paths import shared_dir

FILES = {"covid": "covid-qa.json.gz", "selqa": "selqa-ass-dev.json.gz"}
MIN_PASSAGE = 100  # characters: shorter blocks are headings, page numbers, affiliations
METADATA = ("http", "SHA:", "Authors:", "DOI:", "doi:")


def shared_file(name: str) -> Path | None:
    """One of the shared training files, or None when the shared data are not beside the checkout."""
    shared = shared_dir()
    path = shared / "train" / FILES[name] if shared else None
    return path if path and path.is_file() else None


def paper_passages(context: str) -> list[tuple[int, int]]:
    """(start, end) of the passages of one COVID-QA paper: its blank-line blocks from the abstract
    (or the main text) on, without metadata lines or blocks under MIN_PASSAGE characters."""
    blocks, start = [], 0
    for block in context.split("\n\n"):
        blocks.append((start, start + len(block)))
        start += len(block) + 2
    first = next((n for n, (s, e) in enumerate(blocks) if context[s:e].startswith(("Abstract", "Text:"))), 1)
    return [(s, e) for s, e in blocks[first:]
            if len(context[s:e].strip()) >= MIN_PASSAGE and not context[s:e].lstrip().startswith(METADATA)]


def covid_collection(path: Path, papers: int | None = None) -> tuple[list[dict], list[tuple[str, str, str]], int]:
    """(corpus rows, (query id, question, relevant document) triples, questions left out), from the
    first `papers` papers (all when None)."""
    corpus, queries, left_out = [], [], 0
    for p, paper in enumerate(json.load(gzip.open(path, "rt", encoding="utf-8"))["data"][:papers]):
        for paragraph in paper["paragraphs"]:
            context = paragraph["context"]
            title = next(line.strip() for line in context.splitlines() if line.strip())
            passages = paper_passages(context)
            for n, (s, e) in enumerate(passages):
                corpus.append({"_id": f"p{p}-{n}", "title": title, "text": context[s:e].strip()})
            for qa in paragraph["qas"]:
                at = qa["answers"][0]["answer_start"] if qa["answers"] else -1
                n = next((n for n, (s, e) in enumerate(passages) if s <= at < e), None)
                if n is None:
                    left_out += 1
                else:
                    queries.append((f"q{qa['id']}", qa["question"], f"p{p}-{n}"))
    return corpus, queries, left_out


def selqa_collection(path: Path) -> tuple[list[dict], list[tuple[str, str, str]], int]:
    """(corpus rows, (query id, question, relevant document) triples, questions left out)."""
    corpus, queries, sections, left_out = [], [], {}, 0
    for n, row in enumerate(json.load(gzip.open(path, "rt", encoding="utf-8"))):
        key = (row["article"], row["section"])
        if key not in sections:
            sections[key] = f"s{len(sections)}"
            corpus.append({"_id": sections[key], "title": row["article"],
                           "text": f"{row['section']}\n\n" + " ".join(c.strip() for c in row["candidates"])})
        if row["answers"]:
            queries.append((f"q{n}", row["question"], sections[key]))
        else:
            left_out += 1
    return corpus, queries, left_out


def write_collection(name: str, folder: Path, path: Path | None = None,
                     papers: int | None = None) -> tuple[Path, int, int, int]:
    """Write the named collection (covid: of its first `papers` papers, all when None);
    (folder, documents, queries, questions left out)."""
    path = path or shared_file(name)
    if path is None:
        raise FileNotFoundError(f"no ../shared/train/{FILES[name]} beside the checkout")
    corpus, queries, left_out = covid_collection(path, papers) if name == "covid" else selqa_collection(path)
    return write_beir(folder, corpus, queries), len(corpus), len(queries), left_out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="covid: COVID-QA passages; selqa: SelQA dev sections")
    parser.add_argument("collection", choices=sorted(FILES), help="which collection to build")
    parser.add_argument("folder", type=Path, help="where to write it (corpus.jsonl, queries.jsonl, qrels/)")
    parser.add_argument("--papers", type=int, metavar="N", help="covid: only the first N papers (default: all 98)")
    args = parser.parse_args(argv)
    try:
        folder, documents, queries, left_out = write_collection(args.collection, args.folder, papers=args.papers)
    except FileNotFoundError as error:
        sys.exit(f"beir_out_of_domain: {error}")
    print(f"wrote {folder}: {documents} documents, {queries} queries"
          + (f" ({left_out} questions left out: answered outside the passages kept)" if left_out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

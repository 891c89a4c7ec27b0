"""Whole answers on natural-question sets: each set's sources indexed, every question asked, and
what a user meets counted, overall and by kind of question (why, how, near miss…).

    .venv/bin/python -m bench.answers.natural_questions tests/data/natural/dev [more set folders]
        [--out bench/out/natural.json] [--label NAME]
    .venv/bin/python -m bench.answers.natural_questions tests/data/near-miss-questions.jsonl [--sources sources]

A set folder holds sources/ and questions.jsonl (the format of ../shared/eval, plus "kind").
Compare code versions by running it from each checkout (PYTHONPATH=OTHER/src) with --label.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


def evaluate(folder: Path, work: Path, sources: Path | None = None) -> list[dict]:
    """Index the set's sources into `work` and answer its questions; the per-question results.
    `folder` is a set folder, or a questions file whose documents are `sources`."""
    questions = folder if folder.suffix == ".jsonl" else folder / "questions.jsonl"
    sources = sources if folder.suffix == ".jsonl" else folder / "sources"
    qa = [sys.executable, "-m", "qa"]
    subprocess.run(qa + ["index", str(sources), "--index", str(work / "index"), "-q"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(qa + ["eval", str(questions), "--index", str(work / "index"),
                         "--modes", "hybrid", "--out", str(work / "eval")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kinds = {q["id"]: q.get("kind", "") for q in map(json.loads, questions.open())}
    results = json.loads((work / "eval" / "report.json").read_text())["results"]
    return [{**r, "kind": kinds.get(r["id"], "")} for r in results]


def tally(results: list[dict]) -> dict:
    """hit@1, quote@1, hit@3 and hit@10 over answerable questions, their abstention rate, the share of
    unanswerable ones (near misses, off topic) abstained, and of the answers given, the share shown
    as unsure and how often those and the others are wrong."""
    answerable = [r for r in results if r["answers"]]
    unanswerable = [r for r in results if not r["answers"]]
    answered = [r for r in results if not r["abstained"]]
    share = lambda rows, test: round(sum(map(test, rows)) / len(rows), 3) if rows else None  # noqa: E731
    return {
        "questions": len(results),
        "hit@1": share(answerable, lambda r: not r["abstained"] and r["rank"] == 1),
        "quote@1": share(answerable, lambda r: not r["abstained"] and r["quote_holds_answer"]),
        "hit@3": share(answerable, lambda r: r["rank"] is not None and r["rank"] <= 3),
        "hit@10": share(answerable, lambda r: r["rank"] is not None),  # among the k=10 citations
        "answerable_abstained": share(answerable, lambda r: r["abstained"]),
        "unanswerable_abstained": share(unanswerable, lambda r: r["abstained"]),
        "quote_sentences": share(answerable, lambda r: _sentences(r)),
        # answers shown as unsure (qa.read.answer.unsure_threshold), and how often each kind is wrong:
        # a quote without the answer, or any answer to an unanswerable question
        "answered": len(answered),
        "answered_unsure": share(answered, lambda r: _unsure(r)),
        "wrong_when_unsure": share([r for r in answered if _unsure(r)], _wrong),
        "wrong_when_sure": share([r for r in answered if not _unsure(r)], _wrong),
    }


def _unsure(result: dict) -> bool:
    return bool(result["answer"].get("unsure"))


def _wrong(result: dict) -> bool:
    return not result["answers"] or not result["quote_holds_answer"]


def _sentences(result: dict) -> float:
    from qa.ingest.chunking import sentence_spans

    quotes = result["answer"]["answer"]
    return len(sentence_spans(quotes[0]["quote"])) if quotes else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="+", type=Path,
                        help="set folders (sources/ and questions.jsonl), or questions files (.jsonl) over --sources")
    parser.add_argument("--sources", type=Path, default=Path("sources"),
                        help="the documents of the questions files given (default: the shipped sources/)")
    parser.add_argument("--out", type=Path, help="write the tallies and per-question results as JSON")
    parser.add_argument("--label", default="", help="a name for this run in the output")
    args = parser.parse_args()
    everything, pooled = {}, []
    for folder in args.sets:
        with tempfile.TemporaryDirectory() as work:
            results = evaluate(folder, Path(work), args.sources)
        by_kind = defaultdict(list)
        for r in results:
            by_kind[r["kind"]].append(r)
        summary = {"all": tally(results), **{kind: tally(rows) for kind, rows in sorted(by_kind.items())}}
        everything[str(folder)] = {"summary": summary, "results": results}
        pooled += results
        _show(f"{args.label} {folder}", summary)
    # Several small sets read together: one tally over all their questions.
    together = {"all": tally(pooled)} if len(args.sets) > 1 else None
    if together:
        _show(f"{args.label} all {len(args.sets)} sets", together)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"label": args.label, "sets": everything, "pooled": together}, indent=1))


def _show(title: str, summary: dict) -> None:
    print(title)
    for name, row in summary.items():
        print(f"  {name:<14} " + "  ".join(f"{k} {v}" for k, v in row.items() if v is not None))


if __name__ == "__main__":
    main()

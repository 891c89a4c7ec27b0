"""The natural-question sets under tests/data/natural/ (issue 31) are consistent with their documents.

Every answer string occurs in the text of its source as qa reads it (compared the way the eval
README says: case-insensitively, with runs of white space folded to one space), and in a line of
that text that is not a heading, the title line or a question; every source exists; ids are unique;
near misses and off-topic questions have no answers and no sources. The same holds for the natural
questions about the shipped news articles (tests/data/natural-news-questions.jsonl, over sources/)
and for the questions after a short personal lead over dev3's documents (dev3-leads.jsonl).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa.ingest.documents import read_document

NATURAL = Path(__file__).resolve().parent / "data" / "natural"
SETS = ("dev", "dev2", "dev3", "heldout", "heldout2", "heldout3", "heldout4")
NEWS = NATURAL.parent / "natural-news-questions.jsonl"  # natural questions about the shipped sources/
SHIPPED = NATURAL.parents[2] / "sources"
# Question files over another set's documents: name -> (file, documents, fewest questions)
FILES = {"news": (NEWS, SHIPPED, 20),
         "dev3-leads": (NATURAL / "dev3-leads.jsonl", NATURAL / "dev3" / "sources", 15),
         "dev4": (NATURAL / "dev4" / "questions.jsonl", NATURAL / "dev4" / "sources", 15)}
# Sets in the same format written to calibrate thresholds on (train_reader.py calibrate --natural)
CALIBRATION = NATURAL.parents[2] / "training" / "calibration"
FILES |= {f"calibration-{p.name}": (p / "questions.jsonl", p / "sources", 45)
          for p in sorted(CALIBRATION.glob("*/")) if (p / "questions.jsonl").exists()}
KINDS = {"why", "how", "meaning", "what-happened", "yes-no", "action", "factoid", "near-miss", "off-topic"}
UNANSWERABLE = {"near-miss", "off-topic"}


def fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def questions(name: str) -> list[dict]:
    path = FILES[name][0] if name in FILES else NATURAL / name / "questions.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def answer_lines(path: Path) -> list[str]:
    """The document's lines that may hold an answer: not a heading, not the title line, not a question."""
    document = read_document(path)
    heading_lines = {fold(document.text[start:end]) for start, end in document.headings}
    lines = [fold(line) for line in document.text.split("\n") if line.strip()]
    title = lines[0] if lines else ""
    return [line for line in lines
            if line not in heading_lines and line != title and not line.endswith("?")]


@pytest.mark.parametrize("name", (*SETS, *FILES))
def test_questions_are_well_formed(name):
    rows = questions(name)
    assert len(rows) >= (FILES[name][2] if name in FILES else 30)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), "ids must be unique"
    for row in rows:
        assert set(row) == {"id", "question", "answers", "sources", "kind"}, row["id"]
        assert row["question"].strip(), row["id"]
        assert row["kind"] in KINDS, row["id"]
        if row["kind"] in UNANSWERABLE:
            assert row["answers"] == [] and row["sources"] == [], row["id"]
        else:
            assert row["answers"] and row["sources"], row["id"]


@pytest.mark.parametrize("name", (*SETS, *FILES))
def test_answers_occur_in_their_sources(name):
    folder = FILES[name][1] if name in FILES else NATURAL / name / "sources"
    lines = {}
    for row in questions(name):
        for source in row["sources"]:
            path = folder / source
            assert path.is_file(), f"{row['id']}: no source {source}"
            if source not in lines:
                lines[source] = answer_lines(path)
        for answer in row["answers"]:
            wanted = fold(answer)
            assert any(wanted in line for source in row["sources"] for line in lines[source]), \
                f"{row['id']}: {answer!r} not found in the body text of {row['sources']}"


TRAINING = NATURAL.parents[2] / "training" / "natural"  # sets written for training the reader


@pytest.mark.parametrize("name", sorted(p.name for p in TRAINING.iterdir() if p.is_dir()))
def test_training_sets_answers_occur_in_their_sources_and_near_misses_name_theirs(name):
    rows = [json.loads(line) for line in (TRAINING / name / "questions.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    assert len(rows) >= 30 and len({row["id"] for row in rows}) == len(rows)
    lines = {}
    for row in rows:
        assert row["kind"] in KINDS and row["sources"], row["id"]
        assert bool(row["answers"]) == (row["kind"] not in UNANSWERABLE), row["id"]
        for source in row["sources"]:
            if source not in lines:
                lines[source] = answer_lines(TRAINING / name / "sources" / source)
        for answer in row["answers"]:
            assert any(fold(answer) in line for source in row["sources"] for line in lines[source]), \
                f"{row['id']}: {answer!r} not found in the body text of {row['sources']}"
    # written apart from the evaluation sets: no document shared
    evaluated = {p.name for s in SETS for p in (NATURAL / s / "sources").iterdir()}
    assert not evaluated & set(lines)


@pytest.mark.parametrize("name", sorted(p.name for p in CALIBRATION.glob("*/")))
def test_calibration_sets_share_no_document_with_evaluation_or_training_sets(name):
    ours = {p.name for p in (CALIBRATION / name / "sources").iterdir()}
    others = {p.name for s in SETS for p in (NATURAL / s / "sources").iterdir()}
    others |= {p.name for p in TRAINING.glob("*/sources/*")}
    others |= {p.name for p in CALIBRATION.glob("*/sources/*") if p.parent.parent.name != name}
    assert len(ours) == 3 and not ours & others


@pytest.mark.parametrize("name", SETS)
def test_each_set_has_three_documents_of_600_to_1000_words(name):
    names = sorted(path.name for path in (NATURAL / name / "sources").iterdir())
    assert len(names) == 3
    for path in (NATURAL / name / "sources").iterdir():
        words = len(read_document(path).text.split())
        assert 600 <= words <= 1000, f"{path.name}: {words} words"


def test_the_squad_why_set_holds_only_why_questions_answered_in_their_articles(tmp_path):
    """bench/datasets/squad_set.py --why: the held-out articles' questions that ask why, each
    answerable from its own article (the set that compares why-questions on encyclopedic text)."""
    from bench.datasets.squad_set import SQUAD, main

    if not SQUAD.exists():
        pytest.skip("needs ../shared/train/squad-v1.1-train.json.gz")
    assert main([str(tmp_path), "--articles", "3", "--questions", "100000", "--why"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "questions.jsonl").read_text().splitlines()]
    assert rows and all(re.search(r"\bwhy\b", r["question"], re.I) and r["kind"] == "why" for r in rows)
    for row in rows:
        text = (tmp_path / "sources" / row["sources"][0]).read_text(encoding="utf-8")
        assert any(answer in text for answer in row["answers"]), row["id"]


def test_questions_about_other_articles_are_unanswerable_and_from_articles_not_written(tmp_path):
    """bench/datasets/squad_set.py --other: questions about held-out articles that are not among
    the sources, without answers: what qa should abstain on (a news quiz's "other news")."""
    from bench.datasets.squad_set import SQUAD, main

    if not SQUAD.exists():
        pytest.skip("needs ../shared/train/squad-v1.1-train.json.gz")
    assert main([str(tmp_path), "--articles", "3", "--questions", "20", "--other", "15"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "questions.jsonl").read_text().splitlines()]
    answerable, other = rows[:20], rows[20:]
    assert len(answerable) == 20 and all(r["answers"] and r["sources"] for r in answerable)
    assert len(other) == 15 and all(r["kind"] == "other-article" and not r["answers"] for r in other)
    written = [p.read_text(encoding="utf-8") for p in (tmp_path / "sources").iterdir()]
    titles = {text.splitlines()[0].replace(" ", "_") for text in written}
    assert not any(r["id"].rsplit("-", 2)[0] in titles for r in other), "an 'other' question's article was written"
    # each names its article, kept apart for leads (lead_questions.py), never among the sources
    assert all((tmp_path / "other-articles" / r["about"]).exists() for r in other)
    assert not {r["about"] for r in other} & {p.name for p in (tmp_path / "sources").iterdir()}

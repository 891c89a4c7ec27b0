"""Answers people can take away: Markdown and JSON exports, and `qa verify`, which reads the
sources again and says of each quote whether it is still exact, moved, gone or its source missing."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from conftest import SHIPPED_SOURCES
from qa.app.cli import main
from qa.ingest.documents import read_document
from qa.app.export import (FORMAT, VERSION, ExportError, QuoteCheck, nearest_occurrence, read_export,
                       to_json, to_markdown, verify)
from qa.retrieve import text_sha256

QUESTION = "How many soldiers does Russia recruit each month?"
HOSTILE = "The <script>alert(1)</script> festival *is* held in [March](x) on the_river | bank."


def citation_in(document, quote: str, n: int = 1, **changes) -> dict:
    """A citation of `quote` in `document` as an answer carries it (Citation, as JSON)."""
    start = document.text.index(quote)
    c = {"n": n, "source": document.source, "title": document.title, "paragraph": document.paragraph_at(start),
         "page": None, "start": start, "end": start + len(quote), "quote": quote, "passage": quote,
         "passage_start": start, "passage_end": start + len(quote), "score": 0.9,
         "answer_start": start, "answer_end": start + len(quote), "text_sha256": text_sha256(document)}
    return {**c, **changes}


def answer_of(question: str, *citations: dict, quoted=(1,), abstained=False) -> dict:
    return {"question": question, "abstained": abstained, "mode": "hybrid", "message": None, "error": None,
            "answer": [] if abstained else [{"quote": citations[n - 1]["quote"], "citation": n} for n in quoted],
            "citations": list(citations)}


@pytest.fixture
def festival(tmp_path):
    """A sources folder with one document of three sentences, and a citation of each."""
    sources = tmp_path / "sources"
    sources.mkdir()
    path = sources / "festival.txt"
    path.write_text("Festival notes\n\nThe festival is held every March.\n\nLanterns are lit at night. "
                    "Visitors come from far away.\n", encoding="utf-8")
    document = read_document(path)
    quotes = ("The festival is held every March.", "Lanterns are lit at night.", "Visitors come from far away.")
    return sources, [citation_in(document, quote, n) for n, quote in enumerate(quotes, start=1)]


# --- Markdown ---------------------------------------------------------------------------------------

def test_markdown_has_the_question_as_heading_each_quote_footnoted_and_markup_escaped(festival):
    _, (first, second, third) = festival
    hostile = {**first, "quote": HOSTILE, "end": first["start"] + len(HOSTILE), "answer_start": first["start"] + 30,
               "answer_end": first["start"] + 38, "page": 3}
    markdown = to_markdown([answer_of("When is the <b>festival</b>?", hostile, second, third)])
    assert "## When is the \\<b\\>festival\\</b\\>?" in markdown
    # Citation [1] quoted, its answer words in bold; the others listed, each with its footnote.
    assert ("> “The \\<script\\>alert(1)\\</script\\> **festival** \\*is\\* held in \\[March\\](x) on "
            "the\\_river \\| bank.” [^1]") in markdown
    assert "- “**Lanterns are lit at night.**” [^2]" in markdown
    assert "- “**Visitors come from far away.**” [^3]" in markdown
    assert (f"[^1]: *Festival notes* — `festival.txt`, ¶2, page 3, characters {first['start']}–{hostile['end']} "
            f"(text SHA-256 {first['text_sha256'][:16]}…)") in markdown
    assert f"[^3]: *Festival notes* — `festival.txt`, ¶3, characters {third['start']}–{third['end']}" in markdown
    assert "<script>" not in markdown and "<b>" not in markdown


def test_markdown_says_when_an_answer_is_unsure(festival):
    _, (first, *_) = festival
    assert "*Not sure this answers the question: check the citation.*" in to_markdown(
        [{**answer_of("When is it?", first), "unsure": True}])
    assert "Not sure" not in to_markdown([answer_of("When is it?", first)])


def test_markdown_says_when_the_sources_do_not_answer_and_labels_each_answer_of_a_conversation(festival):
    _, (first, second, _) = festival
    abstained = {**answer_of("Who won the 2018 World Cup?", first, abstained=True),
                 "message": "The sources do not answer this question."}
    error = {**answer_of("", abstained=True), "message": "The question is empty.", "error": "The question is empty."}
    markdown = to_markdown([answer_of("When?", first, second, quoted=(1, 2)), abstained, error],
                           exported_at="2026-11-25T16:00:00+00:00")
    assert "Exported 2026-11-25T16:00:00+00:00." in markdown
    assert "> “**The festival is held every March.**” [^1.1]" in markdown
    assert "> “**Lanterns are lit at night.**” [^1.2]" in markdown and "Also cited" not in markdown
    assert "## Who won the 2018 World Cup?\n\n**The sources do not answer this question.**" in markdown
    assert "Nearest passages (not an answer):\n\n- “The festival is held every March.” [^2.1]" in markdown
    assert "[^2.1]: *Festival notes*" in markdown
    assert "## (empty question)\n\n*Not searched: The question is empty.*" in markdown


# --- JSON and reading it back -------------------------------------------------------------------------

def test_json_export_names_its_format_and_carries_source_offsets_and_text_hash(festival):
    _, citations = festival
    exported = to_json([answer_of("When?", *citations)], exported_at="2026-11-25T16:00:00+00:00")
    assert exported["format"] == FORMAT == "qa-export" and exported["version"] == VERSION == 1
    assert exported["exported_at"] == "2026-11-25T16:00:00+00:00" and "qa verify" in exported["about"]
    c = exported["answers"][0]["citations"][1]
    assert {k: c[k] for k in ("n", "source", "start", "end", "quote")} == \
        {k: citations[1][k] for k in ("n", "source", "start", "end", "quote")}
    assert c["text_sha256"] == citations[1]["text_sha256"] and len(c["text_sha256"]) == 64
    assert "passage" not in c  # the offsets locate it; the quote is what is verified
    assert read_export(json.loads(json.dumps(exported)))[0]["question"] == "When?"


@pytest.mark.parametrize("data, says", [
    ([1, 2], "not a qa export: expected a JSON object, found a list"),
    ({"format": "other-tool", "answers": []}, "its format is 'other-tool', not 'qa-export'"),
    ({"format": "qa-export", "version": 9, "answers": []}, "version 9; this qa reads version 1: update qa"),
    ({"format": "qa-export", "version": 1}, "without its list of answers"),
    ({"hello": "world"}, "not a `qa ask --json` answer"),
    ({"format": "qa-export", "version": 1, "answers": [{"citations": [{"n": 1, "source": "a.txt", "start": "9",
                                                                       "end": 12, "quote": "abc"}]}]},
     "answer 1, citation 1: 'start' must be a whole number ≥ 0, not '9'"),
    ({"question": "q", "citations": [{"n": 1, "source": "", "start": 0, "end": 1, "quote": "a"}]},
     "answer 1, citation 1: 'source' must be non-empty text"),
])
def test_foreign_or_broken_exports_are_refused_in_one_line(data, says):
    with pytest.raises(ExportError) as refused:
        read_export(data)
    assert says in str(refused.value) and "\n" not in str(refused.value)


# --- Verification ----------------------------------------------------------------------------------

def test_verify_reports_exact_moved_gone_and_missing(festival):
    sources, citations = festival
    exported = to_json([answer_of("When?", *citations)])
    assert [c.status for c in verify(exported, sources)] == ["exact", "exact", "exact"]

    # A new first paragraph moves every quote; deleting a sentence makes it gone.
    path = sources / "festival.txt"
    path.write_text("Festival notes\n\nA new first paragraph.\n\nThe festival is held every March.\n\n"
                    "Visitors come from far away.\n", encoding="utf-8")
    text = read_document(path).text
    first, second, third = verify(exported, sources)
    assert first.status == "moved" and first.text_changed
    assert text[first.new_start:first.new_end] == citations[0]["quote"]
    assert first.new_start == citations[0]["start"] + len("A new first paragraph.\n\n")
    assert second.status == "gone" and second.new_start is None
    assert third.status == "moved" and text[third.new_start:third.new_end] == citations[2]["quote"]
    assert "→" in first.line() and "no longer in the document" in second.line()

    path.unlink()
    assert {c.status for c in verify(exported, sources)} == {"missing"}
    assert "source missing: no such file in" in verify(exported, sources)[0].line()


def test_verify_says_exact_but_notes_a_document_changed_elsewhere(festival):
    sources, citations = festival
    with (sources / "festival.txt").open("a", encoding="utf-8") as file:
        file.write("\nA closing line.\n")
    check = verify(to_json([answer_of("When?", *citations)]), sources)[0]
    assert check.status == "exact" and check.text_changed
    assert check.line().endswith("(the document changed elsewhere)")


def test_verify_never_reads_outside_the_sources_folder(festival, tmp_path):
    sources, (first, *_) = festival
    (tmp_path / "secret.txt").write_text("The festival is held every March.\n")
    for name in ("../secret.txt", str(tmp_path / "secret.txt")):
        check = verify({"question": "q", "citations": [{**first, "source": name}]}, sources)[0]
        assert check.status == "missing" and "not a file name inside the sources folder" in check.reason


def test_nearest_occurrence_picks_the_one_closest_to_the_old_offset():
    text = "ab ab ab ab"
    assert nearest_occurrence(text, "ab", 0) == 0
    assert nearest_occurrence(text, "ab", 5) == 6
    assert nearest_occurrence(text, "ab", 100) == 9
    assert nearest_occurrence(text, "zz", 3) is None


def test_a_quote_check_line_shows_where_and_how_it_begins():
    check = QuoteCheck(answer=2, n=3, source="a.txt", start=10, end=90, quote="x " * 40, status="moved",
                       new_start=20, new_end=100)
    assert check.line() == "moved   Q2 [3] a.txt chars 10-90 → 20-100 “" + ("x " * 30)[:59] + "…”"


# --- The command line, end to end --------------------------------------------------------------------

def test_cli_ask_exports_and_verify_follows_the_sources(local_index, settings, tmp_path, capsys):
    index = str(settings.index_dir)
    assert main(["ask", QUESTION, "-k", "3", "--index", index, "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.count("## How many soldiers does Russia recruit each month?") == 1
    # The quote, with the answer words in bold inside it
    assert re.search(r"> “US officials estimated that Russia recruits [^\n]*\*\*[^*\n]*25,000 to 30,000[^*\n]*\*\*", markdown)
    assert "[^1]: *North Korean Troops Join Russian Forces" in markdown and "`003_5763b751aeba3d4f.txt`, ¶4" \
        in markdown and "[^3]: " in markdown

    assert main(["ask", QUESTION, "-k", "3", "--index", index, "--format", "json"]) == 0
    printed = capsys.readouterr().out
    assert main(["ask", QUESTION, "-k", "3", "--index", index, "--json"]) == 0  # --json still works
    assert capsys.readouterr().out == printed
    answer = json.loads(printed)
    export = tmp_path / "answer.json"
    export.write_text(printed, encoding="utf-8")

    sources = tmp_path / "sources"
    shutil.copytree(SHIPPED_SOURCES, sources)
    assert main(["verify", str(export), "--sources", str(sources)]) == 0
    out = capsys.readouterr().out
    assert out.count("exact   Q1 ") == 3 and out.endswith("3 quotes: 3 exact, 0 moved, 0 gone, 0 missing\n")

    # Citation 1's file gains a first line (its quote moves); citation 2's sentence is deleted.
    first, second, third = answer["citations"]
    # Citation 3 moves too: it lies in citation 1's file, or after citation 2's quote in its own.
    assert first["source"] != second["source"]
    assert third["source"] == first["source"] or third["source"] == second["source"] \
        and third["start"] > second["end"]
    moved = sources / first["source"]
    moved.write_text("An editor's note.\n" + moved.read_text(encoding="utf-8"), encoding="utf-8")
    cut = sources / second["source"]
    cut.write_text(cut.read_text(encoding="utf-8").replace(second["quote"], ""), encoding="utf-8")
    assert main(["verify", str(export), "--sources", str(sources)]) == 1
    lines = capsys.readouterr().out.splitlines()
    shift = len("An editor's note.\n")
    assert lines[0].startswith(f"moved   Q1 [1] {first['source']} chars {first['start']}-{first['end']} → "
                               f"{first['start'] + shift}-{first['end'] + shift} “US officials")
    assert lines[1].startswith(f"gone    Q1 [2] {second['source']} chars {second['start']}-{second['end']}")
    assert lines[2].startswith(f"moved   Q1 [3] {third['source']}")  # after the cut, earlier
    assert lines[3] == "3 quotes: 0 exact, 2 moved, 1 gone, 0 missing"

    moved.unlink()
    assert main(["verify", str(export), "--sources", str(sources)]) == 1
    assert "source missing: no such file in" in capsys.readouterr().out


@pytest.mark.parametrize("content, says", [
    ("{not json", "is not JSON (Expecting property name enclosed in double quotes at line 1, column 2)"),
    ('{"format": "someone-else"}', "its format is 'someone-else', not 'qa-export'"),
    ("[]", "not a qa export: expected a JSON object, found a list"),
    (b"\xff\xfe\x00", "is not UTF-8 text"),
])
def test_cli_verify_refuses_what_is_not_an_export_in_one_line(content, says, tmp_path, capsys):
    path = tmp_path / "export.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["verify", str(path), "--sources", str(SHIPPED_SOURCES)]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert main(["verify", str(tmp_path / "absent.json"), "--sources", str(SHIPPED_SOURCES)]) == 2
    assert "no file" in capsys.readouterr().err


def test_cli_help_documents_verify_and_its_exit_status(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "exact" in text and "moved" in text and "gone" in text
    assert "0 when every quote is exact, 1 when any moved, is gone or missing" in text
    with pytest.raises(SystemExit):
        main(["ask", "--help"])
    assert "--format {text,markdown,json}" in capsys.readouterr().out


def test_cli_ask_refuses_json_with_another_format(capsys):
    assert main(["ask", QUESTION, "--json", "--format", "markdown"]) == 2
    assert "--json is --format json; give --json or --format markdown, not both" in capsys.readouterr().err

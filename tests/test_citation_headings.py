"""Section headings on citations, end to end: Markdown, HTML and Word documents indexed for real,
asked for real; the heading shows in `qa ask`, its JSON and the web chat's citation label."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from docx import Document as WordDocument

from qa.app import web
from qa.read.answer import answer_question
from qa.app.cli import main
from qa.config import Settings
from qa.pipeline import open_backend, update
from qa.retrieve import Retriever
from qa.index.store import Index

MARKDOWN = """# The Quenby lantern festival

The lantern festival of Quenby began in 1871, when the mill society lit the first paper lanterns.

## What difference could the new bridge make?

The new bridge could bring twice as many visitors, the mill society says, because coaches could then
cross the river at Quenby instead of stopping at Harrow.
"""

HTML = """<html><head><title>Harrow ferry</title></head><body>
<h1>The Harrow ferry</h1><p>The ferry at Harrow has carried passengers since 1790.</p>
<h2>Who runs the ferry today?</h2><p>The ferry is run today by the Dunmore family, who bought it in 1954.</p>
</body></html>"""


def write_sources(folder: Path) -> Path:
    folder.mkdir()
    (folder / "festival.md").write_text(MARKDOWN, encoding="utf-8")
    (folder / "ferry.html").write_text(HTML, encoding="utf-8")
    word = WordDocument()
    word.add_heading("Mill pond survey", 0)
    word.add_paragraph("The survey of the Quenby mill pond was made in the spring.")
    word.add_heading("Which fish live in the pond?", 1)
    word.add_paragraph("Carp and tench live in the mill pond; the survey counted 212 carp.")
    table = word.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "fish", "count"
    table.cell(1, 0).text, table.cell(1, 1).text = "tench", "57"
    word.save(folder / "survey.docx")
    return folder


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, model):
    root = tmp_path_factory.mktemp("headings")
    sources = write_sources(root / "sources")
    settings = Settings(index_dir=root / "index", chunk_context=True)  # headings in what is indexed, too
    report = update(settings, model, sources, progress=False)
    assert not report.skipped and len(report.added) == 3
    return settings, Retriever(open_backend(settings), model, settings), sources


@pytest.mark.parametrize("question, source, paragraph, heading", [
    ("How many more visitors could the new bridge bring?", "festival.md", 4,
     "What difference could the new bridge make?"),
    ("Which family bought the Harrow ferry in 1954?", "ferry.html", 4, "Who runs the ferry today?"),
    ("How many carp did the survey count?", "survey.docx", 4, "Which fish live in the pond?"),
])
def test_citations_carry_the_section_heading(indexed, question, source, paragraph, heading):
    settings, retriever, _ = indexed
    answer = answer_question(retriever, question, "hybrid", 3)
    first = answer.citations[0]
    assert (first.source, first.paragraph, first.heading) == (source, paragraph, heading)
    assert not answer.abstained
    label = web.citation_label(asdict(first), answer.abstained)
    assert label.endswith(f"{source}, ¶{paragraph} · {heading}")
    assert f"¶{paragraph} · {heading}" in web.answer_html(answer.as_dict())
    assert answer.as_dict()["citations"][0]["heading"] == heading


def test_qa_ask_prints_and_returns_the_heading(indexed, capsys):
    settings, _, _ = indexed
    assert main(["ask", "How many carp did the survey count?", "--index", str(settings.index_dir), "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "survey.docx, ¶4 · Which fish live in the pond?, chars" in out
    assert main(["ask", "Who runs the Harrow ferry today?", "--index", str(settings.index_dir), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["citations"][0]
    assert first["heading"] == "Who runs the ferry today?" and first["source"] == "ferry.html"


def test_a_document_without_headings_has_no_heading(indexed, local_index, model, settings):
    retriever = Retriever(local_index, model, settings)
    answer = answer_question(retriever, "How many North Korean troops are estimated to be in training?")
    assert answer.citations and all(c.heading == "" for c in answer.citations)
    assert " · " not in web.citation_label(asdict(answer.citations[0]), answer.abstained)


def test_milvus_keeps_the_headings(indexed, model):
    settings, retriever, sources = indexed
    on_milvus = settings.with_(backend="milvus", uri=str(settings.index_dir.parent / "milvus.db"))
    update(on_milvus, model, sources, progress=False)
    backend = open_backend(on_milvus)
    try:
        for source in ("festival.md", "ferry.html", "survey.docx"):
            assert backend.document_by_source(source).headings == \
                retriever.backend.document_by_source(source).headings != ()
        answer = answer_question(Retriever(backend, model, on_milvus), "How many carp did the survey count?")
        assert answer.citations[0].heading == "Which fish live in the pond?"
    finally:
        backend.close()


def test_chunk_context_is_recorded_and_an_older_index_still_opens(tmp_path, model, capsys):
    sources = write_sources(tmp_path / "sources")
    index_dir = tmp_path / "index"
    assert main(["index", str(sources), "--index", str(index_dir), "-q"]) == 0
    capsys.readouterr()
    manifest_path = Index.open(index_dir).folder / "manifest.json"
    assert json.loads(manifest_path.read_text())["settings"]["chunk_context"] is False
    # What an older qa wrote: no chunk_context in the manifest. It was built without context, and
    # is read and updated as such.
    manifest = json.loads(manifest_path.read_text())
    del manifest["settings"]["chunk_context"]
    manifest_path.write_text(json.dumps(manifest))
    assert main(["ask", "How many carp did the survey count?", "--index", str(index_dir), "-k", "1"]) == 0
    assert "Which fish live in the pond?" in capsys.readouterr().out
    assert main(["index", str(sources), "--index", str(index_dir), "-q"]) == 0
    out = capsys.readouterr().out
    assert "3 unchanged" in out and "rebuild" not in out
    # Asking for context rebuilds, says why, and is kept by the next plain update.
    assert main(["index", str(sources), "--index", str(index_dir), "-q", "--chunk-context"]) == 0
    assert "full rebuild: previous index built with chunk_context=False, not True" in capsys.readouterr().out
    assert main(["index", str(sources), "--index", str(index_dir), "-q"]) == 0
    assert "3 unchanged" in capsys.readouterr().out
    assert Index.open(index_dir).manifest["settings"]["chunk_context"] is True


@pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")
def test_the_web_app_takes_a_word_upload_and_labels_its_citations(model, tmp_path):
    from gradio_client import Client, handle_file

    from test_web_api import start_app

    write_sources(tmp_path / "uploads")
    broken = tmp_path / "uploads" / "broken.docx"
    broken.write_bytes(b"PK\x03\x04 cut short")
    app, demo = start_app(model, tmp_path / "app")
    try:
        client = Client(app.url, verbose=False)
        _, status, _, _ = client.predict([handle_file(tmp_path / "uploads" / "survey.docx"), handle_file(broken)],
                                         api_name="/add_documents")
        assert "added survey.docx" in status
        assert "broken.docx: not a readable Word document (BadZipFile" in status and "(not added)" in status
        assert not (app.sources / "broken.docx").exists()
        answer = client.predict("How many carp did the survey count?", "hybrid", 2, api_name="/ask")
        first = answer["citations"][0]
        assert (first["source"], first["heading"]) == ("survey.docx", "Which fish live in the pond?")
        assert web.citation_label(first, answer["abstained"]).endswith("survey.docx, ¶4 · Which fish live in the pond?")
    finally:
        demo.close()

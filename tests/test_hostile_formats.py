"""Small files written to freeze the app: YAML that expands or nests without end in Markdown front
matter, HTML shapes that once took minutes to read, and a Word zip that lies about its sizes.
Each is read or refused within seconds where it once took minutes (issue 34; memory in
bench/ingest/hostile_files.py)."""

from __future__ import annotations

import tracemalloc

import pytest

from qa.ingest.documents import UnreadableFile, read_document, read_folder
from hostile_files import HTML_SHAPES, MEGABYTE, alias_bomb, lying_docx
from test_hostile_documents import at_most


@pytest.mark.parametrize("field", ["title", "tags", "author"])
def test_yaml_alias_bomb_in_any_front_matter_field_is_read_quickly(tmp_path, field):
    path = tmp_path / "bomb.md"
    path.write_text(alias_bomb(field))
    assert path.stat().st_size < 600
    with at_most(2):
        document = read_document(path)
    assert document.title == "Real heading"
    assert "lol" not in document.text and "The mill opened in 1891." in document.text


@pytest.mark.parametrize("front_matter", [
    "title: " + "[" * 50_000 + "]" * 50_000,  # flow nesting: 100 KB
    "title:\n" + "".join(" " * (level + 1) + "-\n" for level in range(400)),  # block nesting
    "title: {" + "a: {" * 20_000 + "}" * 20_001,
])
def test_deep_front_matter_is_read_without_a_recursion_error(tmp_path, front_matter):
    (tmp_path / "deep.md").write_text(f"---\n{front_matter}\n---\nThe mill opened in 1891.\n")
    (tmp_path / "plain.md").write_text("# Plain\n\nAn ordinary note.\n")
    with at_most(2):
        documents, skipped = read_folder(tmp_path)
    assert skipped == []
    deep = next(d for d in documents if d.source == "deep.md")
    assert deep.text.strip() == "The mill opened in 1891."  # the front matter is still blanked
    assert deep.title == "The mill opened in 1891."


def test_ordinary_front_matter_with_lists_still_gives_its_title(tmp_path):
    (tmp_path / "a.md").write_text("---\ntitle: [Garden, notes]\nmeta: {a: {b: [1, 2]}}\n---\nBody.\n")
    assert read_document(tmp_path / "a.md").title == "['Garden', 'notes']"


@pytest.mark.parametrize("shape", HTML_SHAPES)
def test_a_megabyte_of_pathological_html_is_read_in_seconds(tmp_path, shape):
    piece = HTML_SHAPES[shape]
    path = tmp_path / "page.html"
    path.write_text("<p>Before the storm.</p>" + piece * (MEGABYTE // len(piece)) + " After the storm.")
    # The slowest shape takes about a second alone; two test workers on a 2-core runner have
    # doubled that, and what froze took minutes.
    with at_most(4):
        try:
            document = read_document(path)
        except UnreadableFile as error:  # no text at all is a fine outcome; a hang is not
            assert "no text" in str(error)
            return
    assert "Before the storm." in document.text


def test_text_past_libxml2s_nesting_limit_is_still_read(tmp_path):
    path = tmp_path / "deep.html"
    path.write_text("<p>Before.</p>" + "<div>" * 5_000 + "<p>Deep inside, the mill opened in 1891.</p>")
    with at_most(2):
        document = read_document(path)
    assert "Deep inside, the mill opened in 1891." in document.text


def test_docx_whose_zip_lies_about_a_size_is_refused_without_inflating_it(tmp_path):
    path = tmp_path / "liar.docx"
    lying_docx(path, inflated=300 * 2**20)
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with at_most(2), pytest.raises(UnreadableFile, match=r"word/document.xml unpacks to more than the 1,000 bytes its zip directory declares"):
            read_document(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"{peak / 2**20:.0f} MiB allocated to refuse it"


def test_an_unchanged_file_is_not_parsed_again_by_an_update(tmp_path, model, monkeypatch):
    from qa.ingest import markup
    from qa.config import Settings
    from qa.pipeline import update

    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "page.html").write_text("<p>The mill opened in 1891.</p>" + "<br>" * 20_000)
    settings = Settings(index_dir=tmp_path / "index", sources_dir=sources)
    update(settings, model, progress=False)
    parsed = []
    real = markup.html_text
    monkeypatch.setattr(markup, "html_text", lambda raw: parsed.append(1) or real(raw))
    (sources / "note.txt").write_text("A new note about the mill.")
    report = update(settings, model, progress=False)
    assert report.unchanged == ["page.html"] and report.added == ["note.txt"]
    assert parsed == []  # the page was recognised by its bytes' hash, not read again
    (sources / "page.html").write_text("<p>The mill opened in 1892.</p>")
    assert update(settings, model, progress=False).changed == ["page.html"] and parsed == [1]
    assert update(settings, model, progress=False, rebuild=True).added and parsed == [1, 1]


import pytest

from qa.ingest.documents import UnreadableFile, paragraph_spans, read_document, read_folder


def test_shipped_sources_are_read_with_titles(tmp_path):
    from conftest import SHIPPED_SOURCES

    documents, skipped = read_folder(SHIPPED_SOURCES)
    assert skipped == []
    assert [d.source for d in documents] == ["000_98eda58b59ac3056.txt", "003_5763b751aeba3d4f.txt"]
    assert documents[0].title.startswith("Why North Korea is sending troops to Russia")
    assert documents[1].title == "North Korean Troops Join Russian Forces: What Does This Mean for the United States?"


def test_unreadable_files_are_skipped_with_a_reason(tmp_path):
    (tmp_path / "good.txt").write_text("A real sentence about apples.\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.md").write_text("   \n\n\t\n")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    documents, skipped = read_folder(tmp_path)
    assert [d.source for d in documents] == ["good.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert set(reasons) == {"empty.txt", "blank.md", "binary.txt", "latin1.txt", "broken.pdf", "image.png"}
    assert "empty" in reasons["empty.txt"] and "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"] and "PDF" in reasons["broken.pdf"]
    assert "unsupported" in reasons["image.png"]


def test_markdown_title_and_crlf_line_endings(tmp_path):
    path = tmp_path / "notes.md"
    path.write_bytes(b"# Garden notes\r\n\r\nTomatoes need sun.\r\nWater them daily.\r\n")
    document = read_document(path)
    assert document.title == "Garden notes"
    assert "\r" not in document.text
    assert [document.text[s:e] for s, e in document.paragraphs] == [
        "# Garden notes", "Tomatoes need sun.\nWater them daily."]


def test_html_keeps_visible_text_only(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("<html><head><title>Bees &amp; honey</title><style>p{color:red}</style></head>"
                    "<body><h1>Bees</h1><p>Bees make <b>honey</b>.</p><script>alert(1)</script>"
                    "<p>They live in hives.</p></body></html>")
    document = read_document(path)
    assert document.title == "Bees & honey"
    assert "alert" not in document.text and "color" not in document.text
    assert [document.text[s:e] for s, e in document.paragraphs] == [
        "Bees", "Bees make honey.", "They live in hives."]


def test_html_table_cells_are_split_as_word_tables_are(tmp_path):
    """A row per paragraph, its cells split by " | ": run together, "(3 m by 3 m)£22 a day£34 a
    day" reads as one garbled phrase, and the row is not known for a table row."""
    path = tmp_path / "fees.html"
    path.write_text("<html><body><p>Fees for a pitch.</p><table><tr><th>Pitch</th><th>Weekday</th></tr>"
                    "<tr><td>Casual pitch (3 m by 3 m)</td><td>£22 a day</td></tr></table></body></html>")
    document = read_document(path)
    assert [document.text[s:e] for s, e in document.paragraphs] == [
        "Fees for a pitch.", "Pitch | Weekday", "Casual pitch (3 m by 3 m) | £22 a day"]


def test_pdf_text_keeps_page_numbers(tmp_path):
    from matplotlib.backends.backend_pdf import PdfPages
    import matplotlib.pyplot as plt

    path = tmp_path / "report.pdf"
    with PdfPages(path) as pdf:
        for text in ("Quarterly report on apples.", "Pears sold twice as well as plums."):
            figure = plt.figure()
            figure.text(0.1, 0.5, text)
            pdf.savefig(figure)
            plt.close(figure)
    document = read_document(path)
    pears = document.text.index("Pears")
    assert document.page_at(0) == 1 and document.page_at(pears) == 2


def test_paragraphs_split_on_lines_when_there_are_no_blank_lines():
    text = "Title line\nFirst paragraph here.\nSecond one."
    assert [text[s:e] for s, e in paragraph_spans(text)] == ["Title line", "First paragraph here.", "Second one."]


def test_unsupported_file_raises_a_clear_error(tmp_path):
    path = tmp_path / "slides.key"
    path.write_bytes(b"PK")
    with pytest.raises(UnreadableFile, match="unsupported file type .key"):
        read_document(path)


def test_markdown_headings_are_the_text_after_the_hashes(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("---\ntitle: Field notes\n---\n# Troops\n\nThey arrived in October.\n\n"
                    "## What difference could North Korean forces make? ##\n\nLittle, at first.\n\n"
                    "```python\n# not a heading: code\n```\n\n#hashtag is not a heading either\n\n"
                    "   ### Indented a little  \n\nStill a heading.\n", encoding="utf-8")
    document = read_document(path)
    assert document.title == "Field notes"
    # The text keeps what the file says (the #'s included); the spans hold the heading words only.
    assert [document.text[s:e] for s, e in document.headings] == [
        "Troops", "What difference could North Korean forces make?", "Indented a little"]
    assert document.heading_at(0) == ""
    assert document.heading_at(document.text.index("arrived")) == "Troops"
    assert document.heading_at(document.text.index("Little")) == "What difference could North Korean forces make?"
    assert document.heading_at(document.text.index("hashtag")) == "What difference could North Korean forces make?"
    assert document.heading_at(len(document.text) - 1) == "Indented a little"


def test_html_headings_are_h1_to_h3(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("<html><head><title>The page</title></head><body><h1>  Troops\n in  Russia</h1>"
                    "<p>Troops in Russia is also a phrase in this paragraph.</p><h2>What <em>difference</em> "
                    "could they make?</h2><p>Little.</p><h4>Small print</h4><p>Fine.</p>"
                    "<template><h2>Hidden</h2></template><h3>Sources</h3><p>Reuters.</p></body></html>",
                    encoding="utf-8")
    document = read_document(path)
    # The page's own line break inside <h1> stays in the text; labels fold it.
    assert [document.text[s:e] for s, e in document.headings] == [
        "Troops\nin Russia", "What difference could they make?", "Sources"]
    assert document.heading_at(document.text.index("is also a phrase")) == "Troops in Russia"
    assert document.heading_at(document.text.index("Fine.")) == "What difference could they make?"
    assert document.heading_at(document.text.index("Reuters")) == "Sources"
    assert read_document(tmp_path / "page.html").headings == document.headings
    plain = tmp_path / "plain.txt"
    plain.write_text("# Not Markdown\n\nA text file has no headings.\n")
    assert read_document(plain).headings == ()


def test_heading_markup_that_could_take_long_is_read_quickly(tmp_path):
    import time

    markdown = tmp_path / "spaces.md"
    markdown.write_text("# a" + " " * 200_000 + "b\n\n## C# ##\n\n### ###\n", encoding="utf-8")
    html = tmp_path / "headings.html"
    html.write_text("<div>" + "x<h2>inline before</h2>" * 3_000 + "</div><h2>Last</h2><p>End.</p>",
                    encoding="utf-8")
    began = time.perf_counter()
    document = read_document(markdown)
    page = read_document(html)
    assert time.perf_counter() - began < 5
    assert [document.text[s:e] for s, e in document.headings] == ["a" + " " * 200_000 + "b", "C#"]
    assert page.text.endswith("Last\n\nEnd.")


def test_is_heading_is_true_for_a_heading_and_nothing_more(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# Who pays for the lanterns?\n\nThe mill society pays for the lanterns.\n")
    document = read_document(path)
    heading = document.text.index("# Who")
    body = document.text.index("The mill")
    assert document.is_heading(heading, heading + len("# Who pays for the lanterns?"))
    assert document.is_heading(heading + 2, heading + len("# Who pays for the lanterns?"))
    assert not document.is_heading(body, body + len("The mill society pays for the lanterns."))
    assert not document.is_heading(heading, body + 8)  # a heading and more

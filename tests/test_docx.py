"""Word documents: real .docx files written with python-docx, read back as qa reads them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from docx import Document as WordDocument
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

from qa.app import web
from qa.ingest.documents import UnreadableFile, read_document, read_folder


def write_report(path: Path) -> Path:
    word = WordDocument()
    word.add_heading("Quenby lantern report", 0)  # style "Title"
    word.add_paragraph("The festival is held every March. It began in 1871.")
    word.add_heading("Who organises it?", 1)
    word.add_paragraph("The mill society organises it.\nVolunteers carry the lanterns.")
    table = word.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "year", (0, 1): "visitors", (1, 0): "2023", (1, 1): "4,100"}.items():
        table.cell(row, col).text = text
    word.add_heading("Where is it held?", 2)
    word.add_paragraph("Beside the old mill pond.")
    word.save(path)
    return path


def test_paragraphs_headings_and_tables_in_order(tmp_path):
    document = read_document(write_report(tmp_path / "report.docx"))
    assert document.text == ("Quenby lantern report\n\n"
                             "The festival is held every March. It began in 1871.\n\n"
                             "Who organises it?\n\n"
                             "The mill society organises it.\nVolunteers carry the lanterns.\n\n"
                             "year | visitors\n2023 | 4,100\n\n"
                             "Where is it held?\n\n"
                             "Beside the old mill pond.")
    assert document.title == "Quenby lantern report"
    assert [document.text[s:e] for s, e in document.headings] == [
        "Quenby lantern report", "Who organises it?", "Where is it held?"]
    # One paragraph number per Word paragraph, and one for the table.
    paragraphs = [document.text[s:e] for s, e in document.paragraphs]
    assert len(paragraphs) == 7 and paragraphs[4] == "year | visitors\n2023 | 4,100"
    assert document.paragraph_at(document.text.index("4,100")) == 5
    assert document.heading_at(document.text.index("4,100")) == "Who organises it?"
    assert document.heading_at(document.text.index("mill pond")) == "Where is it held?"
    assert document.heading_at(document.text.index("1871")) == "Quenby lantern report"


def test_core_title_wins_and_docx_is_found_in_a_folder(tmp_path):
    word = WordDocument()
    word.core_properties.title = "Minutes of the mill society"
    word.add_paragraph("The meeting opened at seven.")
    word.save(tmp_path / "minutes.docx")
    documents, skipped = read_folder(tmp_path)
    assert [(d.source, d.title, d.headings) for d in documents] == [
        ("minutes.docx", "Minutes of the mill society", ())]
    assert skipped == []


def test_script_in_text_and_in_a_field_is_only_text(tmp_path):
    word = WordDocument()
    word.add_paragraph("<script>alert('text')</script> stays words.")
    paragraph = word.add_paragraph("Click ")
    # A complex field: its code (a javascript: link) is never text; its shown result is a script tag.
    field = ('<w:r %s><w:fldChar w:fldCharType="begin"/></w:r>'
             '<w:r %s><w:instrText xml:space="preserve"> HYPERLINK "javascript:alert(1)" </w:instrText></w:r>'
             '<w:r %s><w:fldChar w:fldCharType="separate"/></w:r>'
             '<w:r %s><w:t>&lt;script&gt;alert("field")&lt;/script&gt;</w:t></w:r>'
             '<w:r %s><w:fldChar w:fldCharType="end"/></w:r>') % ((nsdecls("w"),) * 5)
    for run in parse_xml(f'<w:p {nsdecls("w")}>{field}</w:p>'):
        paragraph._p.append(run)
    word.save(tmp_path / "fields.docx")
    document = read_document(tmp_path / "fields.docx")
    assert "<script>alert('text')</script> stays words." in document.text
    assert 'Click <script>alert("field")</script>' in document.text
    assert "javascript:" not in document.text
    # Shown in the chat, it is escaped: a citation of it is text, never markup.
    citation = {"n": 1, "title": document.title, "source": "fields.docx", "paragraph": 2, "page": None,
                "heading": "<script>alert('heading')</script>", "quote": document.text,
                "start": 0, "end": len(document.text), "answer_start": 0, "answer_end": 0}
    html = web.answer_html({"abstained": True, "message": "none", "citations": [citation], "answer": []})
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_broken_and_encrypted_files_are_skipped_with_a_reason(tmp_path):
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 this zip was cut short")
    with zipfile.ZipFile(tmp_path / "not-word.docx", "w") as archive:
        archive.writestr("hello.txt", "a zip, but not a Word document")
    # What Word writes for a password-protected document: an OLE compound file, whatever its name.
    (tmp_path / "secret.docx").write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 504)
    write_report(tmp_path / "good.docx")
    documents, skipped = read_folder(tmp_path)
    assert [d.source for d in documents] == ["good.docx"]
    reasons = {s.path: s.reason for s in skipped}
    assert reasons["broken.docx"].startswith("not a readable Word document (BadZipFile")
    assert reasons["not-word.docx"].startswith("not a readable Word document")
    assert reasons["secret.docx"].startswith("is encrypted (password-protected)")


def test_zip_bomb_and_overlong_text_respect_the_limits(tmp_path):
    bomb = tmp_path / "bomb.docx"
    write_report(bomb)
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/padding.bin", b"\0" * 30_000_000)  # 30 MB, about 30 KB packed
    assert bomb.stat().st_size < 200_000
    with pytest.raises(UnreadableFile, match=r"unpacks to 30,[\d,]+ bytes, more than .* 1,000,000 characters"):
        read_document(bomb, max_chars=1_000_000)

    long = WordDocument()
    for _ in range(200):
        long.add_paragraph("The lanterns are lit at dusk beside the mill pond. " * 10)
    long.save(tmp_path / "long.docx")
    with pytest.raises(UnreadableFile, match="over the limit of 50,000; raise it with `qa index --max-document-chars`"):
        read_document(tmp_path / "long.docx", max_chars=50_000)
    assert len(read_document(tmp_path / "long.docx").text) > 50_000


def test_web_upload_accepts_docx(tmp_path):
    report = write_report(tmp_path / "report.docx")
    sources = tmp_path / "sources"
    sources.mkdir()
    assert web.safe_upload_name("Report.DOCX") == "Report.DOCX"
    assert web.save_upload(str(report), sources, max_bytes=2**20) == "report.docx"
    assert read_document(sources / "report.docx").title == "Quenby lantern report"


def test_a_merged_cell_is_read_once(tmp_path):
    word = WordDocument()
    table = word.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 2)).text = "Visitors by year"
    for col, text in enumerate(("2022", "2023", "2024")):
        table.cell(1, col).text = text
    word.save(tmp_path / "merged.docx")
    assert read_document(tmp_path / "merged.docx").text == "Visitors by year\n2022 | 2023 | 2024"

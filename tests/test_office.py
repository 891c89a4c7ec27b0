"""PowerPoint and Excel files: real .pptx and .xlsx written with python-pptx and openpyxl, read back
as qa reads them, indexed and quoted with exact offsets; damaged ones are skipped with a reason."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from pptx import Presentation
from pptx.util import Inches

from qa.app.cli import main
from qa.config import Settings
from qa.ingest.documents import UnreadableFile, read_document, read_folder
from qa.pipeline import update


def write_slides(path: Path) -> Path:
    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[5])  # "Title Only"
    first.shapes.title.text = "Quenby lantern festival"
    # Added lower on the slide first: it is read after the box above it.
    lower = first.shapes.add_textbox(Inches(1), Inches(4), Inches(6), Inches(1)).text_frame
    lower.text = "It began in 1871."
    upper = first.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1)).text_frame
    upper.text = "The festival is held every March."
    upper.add_paragraph().text = "Lanterns line the mill pond."
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Who organises it?"
    box = second.shapes.add_textbox(Inches(1), Inches(1.5), Inches(6), Inches(1)).text_frame
    box.text = "The mill society organises the festival."
    table = second.shapes.add_table(2, 2, Inches(1), Inches(3), Inches(6), Inches(1)).table
    for (row, col), text in {(0, 0): "year", (0, 1): "visitors", (1, 0): "2023", (1, 1): "4,100"}.items():
        table.cell(row, col).text = text
    second.notes_slide.notes_text_frame.text = "Thank the volunteers who carry the lanterns."
    deck.save(path)
    return path


def write_workbook(path: Path) -> Path:
    book = Workbook()
    costs = book.active
    costs.title = "Costs"
    costs.append(["item", "cost"])
    costs.append(["candles", 120])
    costs.append(["paper", 45.0])
    keepers = book.create_sheet("Keepers")
    keepers.append(["lock", "keeper", "since"])
    keepers.append([])
    keepers.append(["Upper lock", "Ada Pennock", 1902])
    keepers["A5"] = "Lower lock"
    keepers["B5"] = "Tom Rudd"
    book.save(path)
    return path


def test_slides_in_order_with_titles_tables_and_notes_and_slide_numbers_as_pages(tmp_path):
    document = read_document(write_slides(tmp_path / "festival.pptx"))
    assert document.text == ("Quenby lantern festival\n\n"
                             "The festival is held every March.\n\n"
                             "Lanterns line the mill pond.\n\n"
                             "It began in 1871.\n\n"
                             "Who organises it?\n\n"
                             "The mill society organises the festival.\n\n"
                             "year | visitors\n2023 | 4,100\n\n"
                             "Notes: Thank the volunteers who carry the lanterns.")
    assert document.title == "Quenby lantern festival"
    assert [document.text[s:e] for s, e in document.headings] == ["Quenby lantern festival", "Who organises it?"]
    assert len(document.paragraphs) == 8
    assert document.page_at(document.text.index("1871")) == 1
    assert document.page_at(document.text.index("Who organises")) == 2
    assert document.page_at(document.text.index("volunteers")) == 2
    assert document.heading_at(document.text.index("4,100")) == "Who organises it?"


def test_sheets_as_pages_headed_by_their_names_a_row_a_paragraph(tmp_path):
    document = read_document(write_workbook(tmp_path / "accounts.xlsx"))
    assert document.text == ("Costs\n\n"
                             "Row 1: item | cost\n\nRow 2: candles | 120\n\nRow 3: paper | 45\n\n"
                             "Keepers\n\n"
                             "Row 1: lock | keeper | since\n\nRow 3: Upper lock | Ada Pennock | 1902\n\n"
                             "Row 5: Lower lock | Tom Rudd")
    assert [document.text[s:e] for s, e in document.headings] == ["Costs", "Keepers"]
    assert document.title == "Costs"  # no title in its properties: the first line
    assert document.page_at(document.text.index("Tom Rudd")) == 2
    assert document.heading_at(document.text.index("Tom Rudd")) == "Keepers"
    assert len(document.paragraphs) == 8


def test_core_title_when_the_first_slide_has_none(tmp_path):
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])  # "Blank"
    slide.shapes.add_textbox(0, 0, Inches(4), Inches(1)).text_frame.text = "Minutes of the mill society."
    deck.core_properties.title = "Mill minutes"
    deck.save(tmp_path / "minutes.pptx")
    assert read_document(tmp_path / "minutes.pptx").title == "Mill minutes"


def damaged(tmp_path: Path) -> None:
    whole = write_slides(tmp_path / "whole.pptx").read_bytes()
    (tmp_path / "cut.pptx").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "cut.xlsx").write_bytes(write_workbook(tmp_path / "book.xlsx").read_bytes()[:900])
    (tmp_path / "book.xlsx").unlink()
    (tmp_path / "whole.pptx").unlink()
    (tmp_path / "plain.pptx").write_text("Not a presentation at all.")
    (tmp_path / "plain.xlsx").write_text("a,b\n1,2\n")
    (tmp_path / "notes.txt").write_text("The ferry crossed the river twice a day.")


def test_damaged_files_are_skipped_with_a_reason_and_the_rest_is_read(tmp_path):
    damaged(tmp_path)
    documents, skipped = read_folder(tmp_path)
    assert [d.source for d in documents] == ["notes.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert sorted(reasons) == ["cut.pptx", "cut.xlsx", "plain.pptx", "plain.xlsx"]
    assert reasons["plain.pptx"].startswith("not a readable PowerPoint file")
    assert reasons["cut.xlsx"].startswith("not a readable Excel workbook")


def test_a_zip_bomb_and_too_many_cells_are_refused(tmp_path):
    book = Workbook()
    book.active["A1"] = "near"
    book.active["Z4000"] = "far"
    book.save(tmp_path / "sparse.xlsx")
    with pytest.raises(UnreadableFile, match="more than 1,000 cells"):
        read_document(tmp_path / "sparse.xlsx", max_chars=1_000)
    with zipfile.ZipFile(tmp_path / "bomb.pptx", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ppt/padding.xml", b" " * 50_000_000)
    with pytest.raises(UnreadableFile, match="zip bomb"):
        read_document(tmp_path / "bomb.pptx", max_chars=1_000)


@pytest.fixture
def collection(tmp_path, model, monkeypatch):
    sources = tmp_path / "sources"
    sources.mkdir()
    write_slides(sources / "festival.pptx")
    write_workbook(sources / "accounts.xlsx")
    damaged(sources)
    settings = Settings(index_dir=tmp_path / "index", sources_dir=sources, device="cpu")
    update(settings, model, sources, progress=False)
    monkeypatch.chdir(tmp_path)
    return settings


def cited(capsys, question: str, source: str) -> dict:
    assert main(["ask", question, "--json", "--index", "index"]) == 0
    answer = json.loads(capsys.readouterr().out)
    return next(c for c in answer["citations"] if c["source"] == source)


@pytest.mark.parametrize("question, source, words, page", [
    ("How many visitors came in 2023?", "festival.pptx", "4,100", 2),
    ("Who keeps the upper lock?", "accounts.xlsx", "Ada Pennock", 2),
])
def test_quotes_from_slides_and_sheets_are_verbatim_with_their_page(collection, capsys, question, source,
                                                                    words, page):
    citation = cited(capsys, question, source)
    document = read_document(collection.sources_dir / source)
    assert document.text[citation["start"]:citation["end"]] == citation["quote"]
    assert words in citation["quote"]
    assert citation["page"] == page

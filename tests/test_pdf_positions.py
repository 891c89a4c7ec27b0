"""qa.ingest.pdf: a PDF's text with each character's box, the rectangles over a quote, and the page
drawn with them highlighted. The PDFs are drawn from known text (tests/pdf_files.py)."""

from __future__ import annotations

import functools
import io
import re

import numpy as np
import pypdfium2 as pdfium
import pytest
from hypothesis import given, settings, strategies as st

from pdf_files import (LEADING, MARGIN, column, draw_pdf, drawn_by_a_form, encrypted, one_column, pages, turned,
                       two_columns)
from qa.ingest.extract import UnreadableFile
from qa.ingest.pdf import read_pdf
from qa.ingest.pdf_quotes import ANSWER_COLOUR, QUOTE_COLOUR, quote_boxes, quote_regions, render_page

LIMIT = 1_000_000

ORCHARD = ("The orchard keeper planted forty pear trees along the northern wall in 1891. "
           "Each spring the blossoms drew bees from three villages away. "
           "By autumn the branches bent so low that children picked fruit without ladders. "
           "The keeper wrote every harvest into a green ledger kept beside the stove.")
RIVER = ("The ferry crossed the river twice a day until the bridge opened. "
         "Its captain, Ines Moreau, kept a log of every passenger and every cargo. "
         "Floods in the spring of 1903 carried the landing stage two miles downstream.")
MILL = ("The mill ground wheat for the whole valley. Its wheel turned on water from a "
        "channel dug by hand. When the channel silted up the miller hired twelve men to clear it.")


def span(text: str, words: str) -> tuple[int, int]:
    """Where `words` stand in `text`, whatever white space (line breaks) sits between them."""
    match = re.search(r"\s+".join(map(re.escape, words.split())), text)
    assert match, f"{words!r} not in {text!r}"
    return match.span()


def bare(text: str) -> str:
    return "".join(text.split())


def read_inside(pdf_text, page: int, rectangles) -> str:
    """The characters of `page` whose boxes' centres lie inside any of the rectangles, in order."""
    on_page = pdf_text.char_pages() == page
    boxes = pdf_text.boxes
    x, y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    inside = np.zeros(len(pdf_text.text), bool)
    for x0, y0, x1, y1 in rectangles:
        inside |= (x > x0) & (x < x1) & (y > y0) & (y < y1)
    return "".join(ch for ch, keep in zip(pdf_text.text, inside & on_page) if keep)


def read_back(data: bytes, page: int, rectangles) -> str:
    """What PDFium itself reads from the page inside each rectangle (its own text, not ours; it
    marks a hyphen that ends a line as "\\x02"), for a page neither turned nor cropped."""
    pdf = pdfium.PdfDocument(data)
    try:
        drawn = pdf[page - 1]
        textpage = drawn.get_textpage()
        height = drawn.get_height()
        read = "".join(textpage.get_text_bounded(x0, height - y1, x1, height - y0) for x0, y0, x1, y1 in rectangles)
        return read.replace("\x02", "-")
    finally:
        pdf.close()


def assert_covers(data: bytes, pdf_text, start: int, end: int, page: int) -> None:
    got_page, rectangles = quote_boxes(pdf_text, start, end)
    assert got_page == page
    quote = pdf_text.text[start:end]
    assert bare(read_inside(pdf_text, page, rectangles)) == bare(quote)
    assert bare(read_back(data, page, rectangles)) == bare(quote)


def drawn_lines(pdf_text, start, end) -> int:
    """How many lines of the page the drawn characters of text[start:end] sit on."""
    boxes = pdf_text.boxes[start:end]
    return len({round(float(y0)) for y0 in boxes[~np.isnan(boxes[:, 1]), 1]})


# --- Text ------------------------------------------------------------------------------------------

def test_text_holds_the_sentences_with_a_box_for_each_drawn_character():
    data = one_column(ORCHARD, title="Orchard notes")
    pdf_text = read_pdf(data, LIMIT, "auto")
    assert pdf_text.title == "Orchard notes"
    assert " ".join(pdf_text.text.split()) == ORCHARD
    # One paragraph: the lines it wraps over are joined by spaces, which are drawn nowhere.
    assert "\n" not in pdf_text.text and pdf_text.text.startswith(column(ORCHARD)[0][2] + " ")
    assert pdf_text.boxes.shape == (len(pdf_text.text), 4) and pdf_text.boxes.dtype == np.float32
    drawn = np.array([not ch.isspace() for ch in pdf_text.text])
    assert not np.isnan(pdf_text.boxes[drawn]).any()
    assert np.isnan(pdf_text.boxes[np.array([ch == "\n" for ch in pdf_text.text])]).all()
    # The first character sits at the left margin, on the first line, from the top-left corner.
    x0, y0, x1, y1 = pdf_text.boxes[0]
    assert x0 == pytest.approx(MARGIN, abs=1) and y0 < MARGIN < y1
    assert pdf_text.page_sizes == ((pytest.approx(595.28, abs=0.01), pytest.approx(841.89, abs=0.01)),)


def test_pages_are_joined_by_a_blank_line_that_has_no_box():
    data = pages(ORCHARD, RIVER, MILL)
    pdf_text = read_pdf(data, LIMIT, "auto")
    starts = pdf_text.pages
    assert len(starts) == 3 and starts[0] == 0
    assert pdf_text.text[starts[1] - 2:starts[1]] == "\n\n"
    assert np.isnan(pdf_text.boxes[starts[1] - 2:starts[1]]).all()
    assert " ".join(pdf_text.text[starts[1]:starts[2]].split()) == RIVER
    assert pdf_text.page_at(span(pdf_text.text, "Ines Moreau")[0]) == 2
    assert list(pdf_text.char_pages()[[0, starts[1] - 1, starts[1], starts[2]]]) == [1, 1, 2, 3]


def test_a_word_hyphenated_at_a_line_end_reads_as_drawn():
    data = draw_pdf([[(MARGIN, MARGIN, "The harvest was extraordi-"),
                      (MARGIN, MARGIN + LEADING, "narily large that year.")]])
    pdf_text = read_pdf(data, LIMIT, "auto")
    assert pdf_text.text == "The harvest was extraordi-narily large that year."
    start, end = span(pdf_text.text, "extraordi-narily large")
    page, rectangles = quote_boxes(pdf_text, start, end)
    assert len(rectangles) == 2
    assert_covers(data, pdf_text, start, end, 1)


def test_characters_outside_the_basic_plane_and_accents_keep_their_offsets():
    # PDFium counts a character beyond U+FFFF as two; qa's text has it once, with one box.
    from matplotlib.backends.backend_pdf import PdfPages
    import matplotlib.pyplot as plt

    text = "Math 𝐀𝐁 sits before café and the rest."
    out = io.BytesIO()
    with PdfPages(out) as pdf:
        figure = plt.figure()
        figure.text(0.1, 0.5, text, fontfamily="STIXGeneral")
        pdf.savefig(figure)
        plt.close(figure)
    data = out.getvalue()
    pdf_text = read_pdf(data, LIMIT, "auto")
    assert pdf_text.text == text
    assert len(pdf_text.boxes) == len(text)
    assert_covers(data, pdf_text, *span(text, "café and the"), 1)
    start = text.index("𝐀")
    page, [(x0, _, x1, _)] = quote_boxes(pdf_text, start, start + 2)
    assert x1 - x0 > 10  # two wide letters, not half of one
    assert bare(read_back(data, page, [(x0 + 1, 0, x1 - 1, 1000)])) == "𝐀𝐁"


# --- Quote rectangles ----------------------------------------------------------------------------

@pytest.mark.parametrize("words", [
    "forty pear trees",  # inside a line
    "Each spring the blossoms drew bees from three villages away.",  # across a line break
    ORCHARD,  # the whole text
])
def test_quote_rectangles_take_in_exactly_the_quote(words):
    data = one_column(ORCHARD)
    pdf_text = read_pdf(data, LIMIT, "auto")
    start, end = span(pdf_text.text, words)
    page, rectangles = quote_boxes(pdf_text, start, end)
    assert len(rectangles) == drawn_lines(pdf_text, start, end)  # one per line
    assert_covers(data, pdf_text, start, end, 1)


def test_quotes_in_two_columns_stay_in_their_column():
    data = two_columns(ORCHARD, RIVER)
    pdf_text = read_pdf(data, LIMIT, "auto")
    assert " ".join(pdf_text.text.split()) == ORCHARD + " " + RIVER  # the left column first
    for words, (left, right) in (("Each spring the blossoms drew bees from three", (0, MARGIN + 240)),
                                 ("Its captain, Ines Moreau, kept a log of every", (MARGIN + 240, 600))):
        start, end = span(pdf_text.text, words)
        _, rectangles = quote_boxes(pdf_text, start, end)
        assert len(rectangles) > 1
        assert all(left <= x0 and x1 <= right for x0, _, x1, _ in rectangles)
        assert_covers(data, pdf_text, start, end, 1)


def test_a_quote_across_two_pages_is_highlighted_on_its_first_page():
    data = pages(ORCHARD, RIVER)
    pdf_text = read_pdf(data, LIMIT, "auto")
    start, _ = span(pdf_text.text, "green ledger")
    _, end = span(pdf_text.text, "The ferry crossed")
    (first, on_first), (second, on_second) = quote_regions(pdf_text, start, end)
    assert (first, second) == (1, 2)
    assert quote_boxes(pdf_text, start, end) == (1, on_first)
    assert bare(read_inside(pdf_text, 1, on_first)) == bare("green ledger kept beside the stove.")
    assert bare(read_back(data, 1, on_first)) == bare("green ledger kept beside the stove.")
    assert bare(read_inside(pdf_text, 2, on_second)) == bare("The ferry crossed")
    assert bare(read_back(data, 2, on_second)) == bare("The ferry crossed")
    assert_covers(data, pdf_text, *span(pdf_text.text, "Ines Moreau"), 2)


def test_a_quote_of_white_space_has_its_page_and_no_rectangles():
    pdf_text = read_pdf(pages(ORCHARD, RIVER), LIMIT, "auto")
    separator = pdf_text.pages[1] - 2
    assert quote_boxes(pdf_text, separator, separator + 2) == (1, ())


def test_a_rectangle_never_takes_in_text_drawn_between_the_quotes_words():
    # "MIDDLE" sits a little below the line, between its words: PDFium reads it after the line, so
    # the quote "left right" needs two rectangles to leave it out.
    data = draw_pdf([[(MARGIN, MARGIN, "left"), (MARGIN + 100, MARGIN, "right"),
                      (MARGIN + 40, MARGIN + 5, "MIDDLE")]])
    pdf_text = read_pdf(data, LIMIT, "auto")
    assert pdf_text.text == "left right MIDDLE"
    start, end = span(pdf_text.text, "left right")
    page, rectangles = quote_boxes(pdf_text, start, end)
    assert len(rectangles) == 2
    assert bare(read_inside(pdf_text, page, rectangles)) == "leftright"
    assert bare(read_back(data, page, rectangles)) == "leftright"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_quote_reads_back_from_its_rectangles(data):
    pdf_text = _two_columns_and_pages()
    start = data.draw(st.integers(0, len(pdf_text.text) - 1))
    end = data.draw(st.integers(start + 1, min(len(pdf_text.text), start + 400)))
    for page, rectangles in quote_regions(pdf_text, start, end):
        first = pdf_text.pages[page - 1]
        last = pdf_text.pages[page] if page < len(pdf_text.pages) else len(pdf_text.text)
        assert bare(read_inside(pdf_text, page, rectangles)) == bare(pdf_text.text[max(start, first):min(end, last)])


@functools.cache
def _two_columns_and_pages():
    return read_pdf(draw_pdf([column(ORCHARD, 30) + column(RIVER, 30, x=MARGIN + 240), column(MILL)]), LIMIT,
                    "auto")


# --- The page, highlighted -----------------------------------------------------------------------

def coloured(image, colour) -> np.ndarray:
    return np.all(np.asarray(image) == colour, axis=2)


def in_rectangles(shape, rectangles, scale: float, slack: int = 1) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in rectangles:
        mask[max(0, int(y0 * scale) - slack):int(np.ceil(y1 * scale)) + slack,
             max(0, int(x0 * scale) - slack):int(np.ceil(x1 * scale)) + slack] = True
    return mask


def test_the_page_is_drawn_at_150_dpi_with_the_quote_yellow_and_the_answer_orange():
    data = pages(ORCHARD, RIVER)
    pdf_text = read_pdf(data, LIMIT, "auto")
    page, quote = quote_boxes(pdf_text, *span(pdf_text.text, "Its captain, Ines Moreau, kept a log of every passenger"))
    _, answer = quote_boxes(pdf_text, *span(pdf_text.text, "Ines Moreau"))
    image = render_page(data, page, quote, answer)
    scale = 150 / 72
    width, height = pdf_text.page_sizes[page - 1]
    assert image.mode == "RGB" and image.info["dpi"] == (150, 150)
    assert image.size == pytest.approx((width * scale, height * scale), abs=1)
    shape = (image.height, image.width)
    yellow, orange = coloured(image, QUOTE_COLOUR), coloured(image, ANSWER_COLOUR)
    assert yellow.sum() > 1000 and orange.sum() > 100
    assert not (yellow & ~in_rectangles(shape, quote, scale)).any()
    assert not (orange & ~in_rectangles(shape, answer, scale)).any()
    # Highlighted like a marker: the quote's words still show dark on the yellow.
    inside = in_rectangles(shape, quote, scale, slack=0) & ~in_rectangles(shape, answer, scale)
    assert (np.asarray(image)[inside].sum(axis=1) < 200).sum() > 200
    plain = render_page(data, page)
    assert not coloured(plain, QUOTE_COLOUR).any()


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_boxes_follow_a_turned_and_cropped_page(rotate):
    # One line on the page: all the ink drawn must fall inside the quote's rectangle.
    line = "Turned pages still point at the right words."
    data = turned(draw_pdf([[(MARGIN + 30, 200, line)]]), rotate, crop=(40, 300, 500, 800))
    pdf_text = read_pdf(data, LIMIT, "auto")
    assert pdf_text.text == line
    width, height = pdf_text.page_sizes[0]
    assert (width, height) == ((460, 500) if rotate in (0, 180) else (500, 460))
    page, rectangles = quote_boxes(pdf_text, 0, len(line))
    image = np.asarray(render_page(data, page, dpi=72))
    ink = image.sum(axis=2) < 600
    assert ink.sum() > 100
    assert not (ink & ~in_rectangles(ink.shape, rectangles, 1.0)).any()


# --- Files that cannot be read --------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"not a pdf at all", one_column(ORCHARD)[:400]])
def test_a_damaged_pdf_is_refused_with_a_reason(data):
    with pytest.raises(UnreadableFile, match=r"not a readable PDF \(PdfiumError: Failed to load document"):
        read_pdf(data, LIMIT, "auto")


def test_a_pdf_that_needs_a_password_is_reported_as_encrypted():
    with pytest.raises(UnreadableFile, match=r"is encrypted \(it needs a password\)"):
        read_pdf(encrypted(one_column(ORCHARD), "secret"), LIMIT, "auto")
    with pytest.raises(UnreadableFile, match=r"is encrypted"):
        render_page(encrypted(one_column(ORCHARD), "secret"), 1)
    # Encrypted with an empty user password (only copying restricted): it opens and is read.
    assert " ".join(read_pdf(encrypted(one_column(ORCHARD), ""), LIMIT, "auto").text.split()) == ORCHARD


def test_a_pdf_without_a_text_layer_needs_ocr():
    with pytest.raises(UnreadableFile, match=r"has no text layer \(scanned\?\).*\(2 pages without text\)"):
        read_pdf(draw_pdf([[], []]), LIMIT, "auto")


def test_text_over_the_limit_is_refused_with_the_figures():
    # The page's own instructions only name the form that draws the text: a few bytes.
    data = drawn_by_a_form(MILL, times=3)
    length = len(read_pdf(data, LIMIT, "auto").text)
    assert length > 3 * len(MILL)
    assert read_pdf(data, length, "auto").text
    # (the figure counts the text as PDFium gives it, before its lines are joined into paragraphs)
    with pytest.raises(UnreadableFile, match=r"extracted text is [\d,]+ characters, over the limit of 300; "
                                             r"raise it with `qa index --max-document-chars`"):
        read_pdf(data, 300, "auto")
    with pytest.raises(UnreadableFile, match=r"extracted text is at least [\d,]+ characters, over the limit of 300"):
        read_pdf(drawn_by_a_form(MILL, times=3, pages=2), 300, "auto")


def test_a_page_that_draws_more_than_the_limit_is_refused_before_it_is_read():
    data = pages(ORCHARD, RIVER)
    with pytest.raises(UnreadableFile, match=r"page 2 holds [\d,]+ bytes of drawing instructions, enough for more "
                                             r"text than the limit of 600 characters \(\d+ read before it\)"):
        read_pdf(data, 600, "auto")


def test_render_page_names_a_page_that_is_not_there():
    with pytest.raises(ValueError, match="page 3 is not in this PDF of 2 pages"):
        render_page(pages(ORCHARD, RIVER), 3)

"""Where a PDF quote is drawn, and the page drawn with it highlighted: the rectangles that cover
a span of a `PdfText` (one a line), a cited PDF read again as it was indexed (its pages read by OCR
read again only where a quote needs them), and pages rendered with the quote in yellow and the
answer words in orange. Positions as in `qa.ingest.pdf`.
"""

from __future__ import annotations

import hashlib
import math
import threading
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.ingest import ocr as ocr_engine
from qa.ingest.extract import UnreadableFile
from qa.ingest.pdf import (_PAGE_SEPARATOR, _PDFIUM, INSTALL_OCR, Box, PdfText, _joined, _nearly_empty, _open,
                           _text_layer, ocr_pages)

QUOTE_COLOUR = (255, 235, 59)  # highlighter yellow


ANSWER_COLOUR = (255, 152, 0)  # orange


def quote_regions(pdf_text: PdfText, start: int, end: int) -> list[tuple[int, tuple[Box, ...]]]:
    """For each page that text[start:end] is drawn on, in order: (page, rectangles), one rectangle
    per line (more where other text sits between the quote's characters). The characters whose
    boxes lie inside a page's rectangles, read in order, are the quote's characters on that page,
    white space aside."""
    regions = []
    for page in range(pdf_text.page_at(start), pdf_text.page_at(max(start, end - 1)) + 1):
        first = pdf_text.pages[page - 1]
        last = pdf_text.pages[page] if page < len(pdf_text.pages) else len(pdf_text.text)
        lo, hi = max(start, first), min(end, last)
        drawn = [i for i in range(lo, hi)
                 if not pdf_text.text[i].isspace() and not math.isnan(pdf_text.boxes[i, 0])]
        if not drawn:
            continue
        # Other characters on the page: a rectangle may not take in one of their centres.
        others = np.concatenate([pdf_text.boxes[first:lo], pdf_text.boxes[hi:last]])
        others = others[~np.isnan(others[:, 0])]
        centres = np.stack([(others[:, 0] + others[:, 2]) / 2, (others[:, 1] + others[:, 3]) / 2], axis=1)
        rectangles = []
        for line in _lines(pdf_text, drawn):
            rectangles.extend(_cover(pdf_text.boxes[line], centres))
        regions.append((page, tuple(rectangles)))
    return regions


def quote_boxes(pdf_text: PdfText, start: int, end: int) -> tuple[int, tuple[Box, ...]]:
    """(page, rectangles) of the first page text[start:end] is drawn on: a quote that runs onto the
    next page is highlighted on its first page only (`quote_regions` has every page). A quote of
    nothing drawn (only white space) gives the page of `start` and no rectangles."""
    regions = quote_regions(pdf_text, start, end)
    return regions[0] if regions else (pdf_text.page_at(start), ())


@dataclass(frozen=True)
class PageRegion:
    """Where a quote is drawn on one page: its rectangles, and those of its answer words there."""

    page: int  # 1-based
    boxes: tuple[Box, ...]
    answer_boxes: tuple[Box, ...] = ()


def citation_regions(pdf_text: PdfText, start: int, end: int,
                     answer: tuple[int, int] | None = None) -> tuple[PageRegion, ...]:
    """`quote_regions` of text[start:end], each page with the rectangles of the `answer` span
    (inside the quote) drawn on it; empty for a quote of white space only. Rectangles are rounded
    outwards to 1/100 point, for JSON: they still take in no other character's centre."""
    answer_rectangles = dict(quote_regions(pdf_text, *answer)) if answer and answer[1] > answer[0] else {}
    return tuple(PageRegion(page, _rounded(rectangles), _rounded(answer_rectangles.get(page, ())))
                 for page, rectangles in quote_regions(pdf_text, start, end))


def _rounded(rectangles: tuple[Box, ...]) -> tuple[Box, ...]:
    return tuple((math.floor(x0 * 100) / 100, math.floor(y0 * 100) / 100,
                  math.ceil(x1 * 100) / 100, math.ceil(y1 * 100) / 100) for x0, y0, x1, y1 in rectangles)


class NotAsIndexed(Exception):
    """The PDF a citation points at cannot show where its quote is drawn; the message says why."""


# PDFs read again for their positions, by (path, SHA-256 of the bytes): an answer's citations and
# the web checker's pages come mostly from the same few files. Their text layer is kept; pages
# that were read by OCR are read again one by one, as citations need them, and kept apart.
_READ_AGAIN: OrderedDict[tuple[str, str], PdfText] = OrderedDict()
_READ_AGAIN_SIZE = 4
_OCR_AGAIN: OrderedDict[tuple[str, str, int], tuple[str, np.ndarray]] = OrderedDict()
_OCR_AGAIN_SIZE = 32
_READ_AGAIN_LOCK = threading.Lock()


def indexed_pdf(path: Path, sha256: str, text: str, max_chars: int, pages: tuple[int, ...],
                within: tuple[int, int] | None, ocr: str) -> tuple[bytes, PdfText]:
    """The PDF at `path` read again as it was indexed: its bytes and `PdfText`, when the bytes still
    hash to `sha256` and their text is `text` (the indexed document's, which citation offsets
    count; `pages`: its pages' start offsets). Else NotAsIndexed: the file is gone, changed, or was
    indexed from another reader's text (indexes built before qa read PDFs with PDFium hold pypdf's
    text, which these positions do not match; an update keeps it while the file is unchanged).

    A page whose indexed text is not its text layer's was read by OCR (as the index's `ocr`
    setting chose): it is read by OCR again (the same image and engine give the same words) only
    where `within`, a span of `text`, lies (every such page when None); others keep their text,
    drawn nowhere (NaN boxes)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise NotAsIndexed(f"{Path(path).name} cannot be read from the sources folder "
                           f"({error.strerror or error})") from error
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise NotAsIndexed(f"{Path(path).name} changed since it was indexed; run `qa index` to read it again")
    key = (str(Path(path).resolve()), found)
    with _READ_AGAIN_LOCK:
        layer = _READ_AGAIN.get(key)
        if layer is not None:
            _READ_AGAIN.move_to_end(key)
    if layer is None:
        try:
            layer = _joined(*_text_layer(data, max_chars)[:4])
        except UnreadableFile as error:
            raise NotAsIndexed(f"{Path(path).name} cannot be read again: {error}") from error
        with _READ_AGAIN_LOCK:
            _READ_AGAIN[key] = layer
            while len(_READ_AGAIN) > _READ_AGAIN_SIZE:
                _READ_AGAIN.popitem(last=False)
    if layer.text == text:
        return data, layer
    return data, _with_ocr_pages(key, data, layer, text, pages, within, ocr, Path(path).name)


def _with_ocr_pages(key: tuple[str, str], data: bytes, layer: PdfText, text: str, pages: tuple[int, ...],
                    within: tuple[int, int] | None, ocr: str, name: str) -> PdfText:
    """The indexed `text` with boxes, its pages that differ from the text layer read by OCR again
    where `within` needs them (see `indexed_pdf`), or NotAsIndexed."""
    other_reader = NotAsIndexed(f"{name} was indexed from text another PDF reader extracted, which "
                                f"the page positions do not match; run `qa index --rebuild` to read it again")
    if len(pages) != len(layer.pages):
        raise other_reader
    indexed, drawn = _page_texts(text, pages), _page_texts(layer.text, layer.pages)
    by_ocr = [number for number, (a, b) in enumerate(zip(indexed, drawn), 1) if a != b]
    layer_boxes = [layer.boxes[start:start + len(page)] for page, start in zip(drawn, layer.pages)]
    if any(ocr == "off" or ocr == "auto" and not _nearly_empty(drawn[n - 1], layer_boxes[n - 1]) for n in by_ocr):
        raise other_reader  # a page that `ocr` would not have read by OCR
    if within is not None:
        first, last = bisect_right(pages, within[0]), bisect_right(pages, max(within[0], within[1] - 1))
        needed = [number for number in by_ocr if first <= number <= last]
    else:
        needed = by_ocr
    read = _ocr_again(key, data, needed, name)
    for number in needed:
        if read[number][0] != indexed[number - 1]:
            raise NotAsIndexed(f"page {number} of {name} was read by OCR, which reads it differently "
                               f"now (another OCR engine or version, or another PDF reader's text); run "
                               f"`qa index --rebuild` to read it again")
    boxes = [read[number][1] if number in read
             else np.full((len(page_text), 4), np.nan, np.float32) if number in by_ocr
             else layer_boxes[number - 1]
             for number, page_text in enumerate(indexed, 1)]
    pdf_text = _joined(indexed, boxes, layer.page_sizes, layer.title, ocr_pages=tuple(by_ocr))
    if pdf_text.text != text:  # `pages` are not this text's
        raise other_reader
    return pdf_text


def _page_texts(text: str, starts: tuple[int, ...]) -> list[str]:
    ends = [start - len(_PAGE_SEPARATOR) for start in starts[1:]] + [len(text)]
    return [text[start:end] for start, end in zip(starts, ends)]


def _ocr_again(key: tuple[str, str], data: bytes, numbers: list[int], name: str) -> dict[int, tuple[str, np.ndarray]]:
    """Pages `numbers` of the PDF read by OCR (`ocr_pages`), each kept for the next citation."""
    with _READ_AGAIN_LOCK:
        read = {n: _OCR_AGAIN[(*key, n)] for n in numbers if (*key, n) in _OCR_AGAIN}
        for n in read:
            _OCR_AGAIN.move_to_end((*key, n))
    missing = [n for n in numbers if n not in read]
    if missing and ocr_engine.available() is None:
        raise NotAsIndexed(f"page {missing[0]} of {name} was read by OCR, and no OCR engine is installed here "
                           f"to find its words on the page ({INSTALL_OCR})")
    if missing:
        fresh = ocr_pages(data, missing)
        read.update(fresh)
        with _READ_AGAIN_LOCK:
            for n, page in fresh.items():
                _OCR_AGAIN[(*key, n)] = page
            while len(_OCR_AGAIN) > _OCR_AGAIN_SIZE:
                _OCR_AGAIN.popitem(last=False)
    return read


def render_page(data: bytes, page: int, boxes: tuple[Box, ...] = (), answer_boxes: tuple[Box, ...] = (),
                dpi: int = 150):
    """The 1-based `page` drawn at `dpi` as an RGB PIL image (its info["dpi"] set), with `boxes`
    highlighted yellow and `answer_boxes` orange, like a highlighter: the text stays readable."""
    from PIL import Image, ImageChops, ImageDraw

    with _PDFIUM:
        pdf = _open(data)
        try:
            if not 1 <= page <= len(pdf):
                raise ValueError(f"page {page} is not in this PDF of {len(pdf)} pages")
            drawn = pdf[page - 1]
            try:
                image = drawn.render(scale=dpi / 72).to_pil().convert("RGB")
            finally:
                drawn.close()
        finally:
            pdf.close()
    paint = Image.new("RGB", image.size, "white")
    draw = ImageDraw.Draw(paint)
    scale = dpi / 72
    for colour, rectangles in ((QUOTE_COLOUR, boxes), (ANSWER_COLOUR, answer_boxes)):
        for x0, y0, x1, y1 in rectangles:
            draw.rectangle((math.floor(x0 * scale), math.floor(y0 * scale),
                            math.ceil(x1 * scale) - 1, math.ceil(y1 * scale) - 1), fill=colour)
    image = ImageChops.multiply(image, paint)
    image.info["dpi"] = (dpi, dpi)
    return image


def highlighted_page(data: bytes, pdf_text: PdfText, start: int, end: int,
                     answer: tuple[int, int] | None = None, dpi: int = 150):
    """(page, image): the page that text[start:end] starts on, drawn by `render_page` with the
    quote yellow and the `answer` words orange; a quote that runs onto the next page is
    highlighted on this page only (`citation_regions` has the others)."""
    page = pdf_text.page_at(start)
    region = next((r for r in citation_regions(pdf_text, start, end, answer) if r.page == page),
                  PageRegion(page, ()))
    return page, render_page(data, page, region.boxes, region.answer_boxes, dpi)


def _lines(pdf_text: PdfText, drawn: list[int]) -> list[list[int]]:
    """The drawn characters of a quote in runs that sit on one line, in reading order."""
    boxes = pdf_text.boxes
    lines = [[drawn[0]]]
    top, bottom = boxes[drawn[0], 1], boxes[drawn[0], 3]
    for before, at in zip(drawn, drawn[1:]):
        middle = (boxes[at, 1] + boxes[at, 3]) / 2
        if "\n" in pdf_text.text[before + 1:at] or not top < middle < bottom or boxes[at, 0] < boxes[before, 0]:
            lines.append([])
            top, bottom = boxes[at, 1], boxes[at, 3]
        lines[-1].append(at)
        top, bottom = min(top, boxes[at, 1]), max(bottom, boxes[at, 3])
    return lines


def _cover(boxes: np.ndarray, centres: np.ndarray) -> list[Box]:
    """Rectangles over `boxes` (one line's characters, in order): their union, or where it would
    take in one of the `centres` of other characters, a new rectangle from the character that would."""

    def takes_in(x0, y0, x1, y1):
        return bool(np.any((centres[:, 0] > x0) & (centres[:, 0] < x1) & (centres[:, 1] > y0) & (centres[:, 1] < y1)))

    whole = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
    if not takes_in(*whole):
        return [tuple(float(v) for v in whole)]
    rectangles, current = [], tuple(boxes[0])
    for box in boxes[1:]:
        grown = (min(current[0], box[0]), min(current[1], box[1]), max(current[2], box[2]), max(current[3], box[3]))
        if takes_in(*grown):
            rectangles.append(current)
            current = tuple(box)
        else:
            current = grown
    rectangles.append(current)
    return [tuple(float(v) for v in rectangle) for rectangle in rectangles]

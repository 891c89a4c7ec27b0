"""PDFs drawn from known text for the tests of qa.ingest.pdf: reportlab puts each line where we say,
so a test knows which words sit on which line, column and page."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import matplotlib
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
LEADING = 14  # points between baselines, for 11-point type
MARGIN = 72

Line = tuple[float, float, str]  # x, baseline y from the page's top, text


def draw_pdf(pages: list[list[Line]], font: str = "Helvetica", size: float = 11, title: str | None = None,
             page_size: tuple[float, float] = A4) -> bytes:
    """A PDF whose pages draw the given lines, in order (the order PDFium reads them in)."""
    if font not in pdfmetrics.getRegisteredFontNames() and font in ("DejaVuSans", "STIXGeneral"):
        pdfmetrics.registerFont(TTFont(font, str(FONTS / f"{font}.ttf")))
    out = io.BytesIO()
    drawing = canvas.Canvas(out, pagesize=page_size, invariant=True)
    if title:
        drawing.setTitle(title)
    for lines in pages:
        drawing.setFont(font, size)
        for x, y, text in lines:
            drawing.drawString(x, page_size[1] - y, text)
        drawing.showPage()
    drawing.save()
    return out.getvalue()


def column(text: str, width: int = 60, x: float = MARGIN, top: float = MARGIN) -> list[Line]:
    """`text` wrapped at `width` characters into lines down from `top`; blank lines in `text`
    start paragraphs."""
    lines, y = [], top
    for paragraph in text.split("\n\n"):
        for line in textwrap.wrap(paragraph, width, break_on_hyphens=False):
            lines.append((x, y, line))
            y += LEADING
        y += LEADING
    return lines


def one_column(text: str, **options) -> bytes:
    return draw_pdf([column(text)], **options)


def two_columns(left: str, right: str) -> bytes:
    """One page, two columns of 30 characters; the left one drawn first."""
    return draw_pdf([column(left, 30) + column(right, 30, x=MARGIN + 240)])


def pages(*texts: str, **options) -> bytes:
    return draw_pdf([column(text) for text in texts], **options)


def drawn_by_a_form(text: str, times: int, pages: int = 1) -> bytes:
    """Pages that show `text` `times` times from a form (a drawing kept apart from the page's own
    instructions, which only name it): a few bytes of the page draw much text."""
    out = io.BytesIO()
    drawing = canvas.Canvas(out, pagesize=A4, invariant=True)
    drawing.beginForm("text")
    drawing.setFont("Helvetica", 11)
    for x, y, line in column(text):
        drawing.drawString(x, A4[1] - y, line)
    drawing.endForm()
    for _ in range(pages):
        for shown in range(times):
            drawing.saveState()
            drawing.translate(0, -LEADING * 8 * shown)
            drawing.doForm("text")
            drawing.restoreState()
        drawing.showPage()
    drawing.save()
    return out.getvalue()


def turned(data: bytes, rotate: int = 0, crop: tuple[float, float, float, float] | None = None) -> bytes:
    """The PDF with each page's /Rotate set to `rotate` and its crop box set to `crop`
    (left, bottom, right, top, in points upwards from the media box's origin)."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import RectangleObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for page in writer.pages:
        if rotate:
            page.rotate(rotate)
        if crop:
            page.cropbox = RectangleObject(crop)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted(data: bytes, password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()

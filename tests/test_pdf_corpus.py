"""Issue 32: on a corpus of 20 PDFs (two real ones from this machine's documentation when present,
the rest generated: reports, two columns, slides, tables, turned and cropped pages, footnotes, a
letter, a matplotlib figure, accents and a scanned letter read by OCR) every quote's rectangles
hold exactly its text, read back by PDFium from the page (by the OCR words' boxes on a scanned
page), and the drawn highlight stays inside them."""

from __future__ import annotations

import ctypes
import io
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from reportlab.lib.pagesizes import A4, landscape

from pdf_files import FONTS, LEADING, MARGIN, column, draw_pdf, pages, turned, two_columns
from qa.ingest import ocr as ocr_engine
from qa.ingest.chunking import sentence_spans
from qa.ingest.pdf import read_pdf
from qa.ingest.pdf_quotes import QUOTE_COLOUR, quote_regions, render_page

LIMIT = 10_000_000
QUOTES_PER_PDF = 8
REAL = (Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"),
        Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"))

HARVEST = ("The cooperative harvested 412 tonnes of apples in the last season, up from 380 the year before. "
           "Most of the increase came from the new orchards on the eastern slope. "
           "Storage losses fell to four percent after the cold rooms were rebuilt. "
           "The board proposes to replace the grading line before the next harvest.")
WATER = ("Rainfall in the valley was below average for the third year running. "
         "The irrigation reservoir held sixty percent of its capacity at the start of summer. "
         "Members agreed to water at night to reduce evaporation.")
STAFF = ("Seasonal staff numbered ninety at the peak of picking. "
         "Each worker was trained on the new ladders and the safety rules. "
         "No accidents were reported during the season.")
METHODS = ("We measured the growth of forty seedlings under three light regimes. "
           "Each plant was weighed every week for twelve weeks. "
           "The plants under blue light grew fastest in the first month. "
           "Red light produced heavier plants by the end of the trial.")
RESULTS = ("Growth differed between the regimes from the fourth week onwards. "
           "The mean dry mass under red light was 14.2 grams. "
           "Under white light the seedlings were taller but lighter. "
           "These results agree with earlier work on lettuce.")
LETTER = ("Thank you for your letter of the fourth of March about the boundary wall. "
          "We have asked a surveyor to visit the site next Tuesday. "
          "Please let us know if the gate will be locked that morning. "
          "We expect to send you the survey within two weeks.")


# --- The corpus ----------------------------------------------------------------------------------

def report() -> bytes:
    body = [HARVEST, WATER, STAFF, HARVEST.replace("apples", "pears"), WATER.replace("valley", "basin")]
    drawn, heading = [], ("1. Harvest", "2. Water", "3. Staff", "4. Pears", "5. Basin")
    for number, (title, text) in enumerate(zip(heading, body)):
        if number % 2 == 0:
            drawn.append([])
        top = MARGIN if number % 2 == 0 else MARGIN + 300
        drawn[-1].append((MARGIN, top, title))
        drawn[-1].extend(column(text, top=top + 2 * LEADING))
    return draw_pdf(drawn, title="Annual report")


def slides() -> bytes:
    out = io.BytesIO()
    from reportlab.pdfgen import canvas

    size = landscape(A4)
    drawing = canvas.Canvas(out, pagesize=size, invariant=True)
    for title, bullets in (("Quarterly results", ["Revenue grew by twelve percent.", "Costs stayed flat.",
                                                  "Two new customers signed in March."]),
                           ("Next steps", ["Hire three engineers for the platform team.",
                                           "Open the Lyon office in the autumn."])):
        drawing.setFont("Helvetica-Bold", 36)
        drawing.drawString(60, size[1] - 90, title)
        drawing.setFont("Helvetica", 22)
        for n, bullet in enumerate(bullets):
            drawing.drawString(80, size[1] - 170 - 50 * n, "\u2022 " + bullet)
        drawing.showPage()
    drawing.save()
    return out.getvalue()


def table() -> bytes:
    rows = [("Region", "Tonnes", "Growers"), ("North valley", "120.5", "14"), ("East slope", "98.0", "9"),
            ("River plain", "143.2", "21"), ("High farms", "50.3", "6")]
    lines = [(MARGIN, MARGIN, "Table 1. Harvest by region in the last season.")]
    for n, row in enumerate(rows):
        for x, cell in zip((MARGIN, MARGIN + 160, MARGIN + 260), row):
            lines.append((x, MARGIN + 30 + 18 * n, cell))
    lines += column("The river plain produced the most fruit. The high farms produced the least.",
                    top=MARGIN + 150)
    return draw_pdf([lines])


def mixed_fonts() -> bytes:
    out = io.BytesIO()
    from reportlab.pdfgen import canvas

    drawing = canvas.Canvas(out, pagesize=A4, invariant=True)
    y = A4[1] - MARGIN
    for font, size, text in (("Helvetica-Bold", 20, "Mixed type on one page."),
                             ("Times-Roman", 12, "A serif sentence sits under the title."),
                             ("Courier", 10, "Monospaced code: value = 42."),
                             ("Helvetica-Oblique", 14, "An oblique line follows the code."),
                             ("Times-Bold", 9, "Small bold print closes the page.")):
        drawing.setFont(font, size)
        drawing.drawString(MARGIN, y, text)
        y -= size * 1.6
    drawing.showPage()
    drawing.save()
    return out.getvalue()


def footnotes() -> bytes:
    out = io.BytesIO()
    from reportlab.pdfgen import canvas

    drawing = canvas.Canvas(out, pagesize=A4, invariant=True)
    drawing.setFont("Helvetica", 11)
    for x, y, line in column(METHODS):
        drawing.drawString(x, A4[1] - y, line)
    drawing.setFont("Helvetica", 7)
    for n, note in enumerate(("1 The seedlings came from one seed batch.",
                              "2 Light levels were checked daily with a meter.")):
        drawing.drawString(MARGIN, 80 - 10 * n, note)
    drawing.showPage()
    drawing.save()
    return out.getvalue()


def hyphenated() -> bytes:
    return draw_pdf([[(MARGIN, MARGIN, "The committee considered the extraordi-"),
                      (MARGIN, MARGIN + LEADING, "narily long list of applications. Each appli-"),
                      (MARGIN, MARGIN + 2 * LEADING, "cation was read by two members. The deci-"),
                      (MARGIN, MARGIN + 3 * LEADING, "sions were announced in June.")]])


def letter() -> bytes:
    lines = [(MARGIN, 50, "NORTHFIELD SURVEYORS LTD"), (MARGIN, 64, "12 Mill Lane, Dorchester DT1 2AB"),
             (380, 120, "Mrs A. Whitfield"), (380, 134, "3 Orchard Row"), (380, 148, "Bridport DT6 4QR"),
             (MARGIN, 190, "14 March 2024"), (MARGIN, 220, "Dear Mrs Whitfield,")]
    lines += column(LETTER, top=250)
    lines += [(MARGIN, 400, "Yours sincerely,"), (MARGIN, 440, "John Carver, Senior Surveyor")]
    return draw_pdf([lines])


def figure() -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    out = io.BytesIO()
    with PdfPages(out) as pdf:
        fig, axes = plt.subplots()
        fig.subplots_adjust(bottom=0.2)
        axes.plot([1, 2, 3, 4], [3, 1, 4, 2])
        axes.set_title("Monthly rainfall at the weather station")
        axes.set_xlabel("Month of the year")
        axes.set_ylabel("Rainfall in millimetres")
        fig.text(0.1, 0.01, "Figure 2. Rainfall fell sharply in the second month.")
        pdf.savefig(fig)
        plt.close(fig)
    return out.getvalue()


def accents() -> bytes:
    text = ("Le café de la gare ouvre à sept heures. Les élèves y prennent un chocolat très chaud. "
            "Über den Fluss führt eine schmale Brücke. Señora Núñez vende pan en la plaza.")
    return draw_pdf([column(text)], font="DejaVuSans")


def scanned_letter() -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    dpi = 300
    image = Image.new("L", (int(8.27 * dpi), int(11.69 * dpi)), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONTS / "DejaVuSans.ttf"), 42)  # about 10 points
    y = 300
    for x, line in [(300, "Dear Mr Holloway,"), *[(300, text) for _, _, text in column(LETTER, 70)],
                    (300, ""), (300, "Yours faithfully, Margaret Lane")]:
        draw.text((x, y), line, font=font, fill=0)
        y += 70
    out = io.BytesIO()
    image.save(out, "PDF", resolution=dpi)
    return out.getvalue()


def generated() -> dict[str, bytes]:
    return {
        "report (3 pages, headings)": report(),
        "report pages": pages(HARVEST, WATER, STAFF, title="Board minutes"),
        "two-column paper": two_columns(METHODS, RESULTS),
        "two-column paper, 2 pages": draw_pdf([column(METHODS, 30) + column(RESULTS, 30, x=MARGIN + 240),
                                               column(RESULTS, 30) + column(METHODS, 30, x=MARGIN + 240)]),
        "slides (landscape)": slides(),
        "table": table(),
        "rotated 90": turned(pages(HARVEST, WATER), rotate=90),
        "cropped": turned(pages(METHODS), crop=(40, 300, 500, 800)),
        "rotated 270 and cropped": turned(pages(RESULTS), rotate=270, crop=(40, 300, 500, 800)),
        "mixed fonts": mixed_fonts(),
        "footnotes": footnotes(),
        "hyphenated": hyphenated(),
        "letter": letter(),
        "matplotlib figure": figure(),
        "accents": accents(),
        "times roman, long": pages(" ".join([HARVEST, WATER, STAFF, METHODS, RESULTS]), font="Times-Roman"),
        "scanned letter (OCR)": scanned_letter(),
    }


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> list[tuple[str, bytes]]:
    folder = tmp_path_factory.mktemp("corpus")
    found = [(path.name, path.read_bytes()) for path in REAL if path.exists()]
    made = list(generated().items())
    # Fill up to twenty with more generated variants when the real PDFs are missing.
    extra = [("two-column paper, swapped", two_columns(RESULTS, METHODS)),
             ("letter, rotated 180", turned(letter(), rotate=180)),
             ("accents, cropped", turned(accents(), crop=(20, 500, 560, 800)))]
    documents = (found + made + extra)[:20]
    for n, (name, data) in enumerate(documents):
        (folder / f"{n:02d}.pdf").write_bytes(data)
    return documents


# --- Reading back --------------------------------------------------------------------------------

def bare(text: str) -> str:
    return "".join(text.split()).replace("\x02", "-").replace("\ufffe", "-").replace("\u00ad", "-")


def page_range(pdf_text, page: int) -> tuple[int, int]:
    first = pdf_text.pages[page - 1]
    return first, pdf_text.pages[page] if page < len(pdf_text.pages) else len(pdf_text.text)


def read_back(data: bytes, page: int, rectangles, size) -> str:
    """The characters of PDFium's own text of the page (not qa's) whose tight boxes' centres lie
    inside the rectangles, in PDFium's order. The rectangles are given as shown (top-left origin,
    turned and cropped like the page) and taken back to the page's own coordinates first.
    (`get_text_bounded` takes any character its rectangle touches: on close lines, or vertical
    text covered a rectangle a character, it also reads pieces of the neighbours.)"""
    pdf = pdfium.PdfDocument(data)
    try:
        drawn = pdf[page - 1]
        width, height = round(size[0] * 1000), round(size[1] * 1000)
        x, y = ctypes.c_double(), ctypes.c_double()

        def to_page(px: float, py: float) -> tuple[float, float]:
            pdfium_c.FPDF_DeviceToPage(drawn, 0, 0, width, height, 0, round(px * 1000), round(py * 1000),
                                       ctypes.byref(x), ctypes.byref(y))
            return x.value, y.value

        on_page = []
        for x0, y0, x1, y1 in rectangles:
            corners = [to_page(x0, y0), to_page(x1, y1)]
            xs, ys = sorted(c[0] for c in corners), sorted(c[1] for c in corners)
            on_page.append((xs[0], ys[0], xs[1], ys[1]))
        textpage = drawn.get_textpage()
        read = []
        for index in range(textpage.count_chars()):
            left, bottom, right, top = textpage.get_charbox(index)
            cx, cy = (left + right) / 2, (bottom + top) / 2
            if any(a < cx < c and b < cy < d for a, b, c, d in on_page):
                read.append(textpage.get_text_range(index, 1))
        return "".join(read)
    finally:
        pdf.close()


def centres(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2


def inside_any(x, y, rectangles) -> np.ndarray:
    inside = np.zeros(len(x), bool)
    for x0, y0, x1, y1 in rectangles:
        inside |= (x > x0) & (x < x1) & (y > y0) & (y < y1)
    return inside


def quotes(text: str) -> list[tuple[int, int]]:
    """Up to QUOTES_PER_PDF sentences spread over the text, each 10 to 400 characters."""
    spans = [(s, e) for s, e in sentence_spans(text) if 10 <= e - s <= 400 and any(c.isalpha() for c in text[s:e])]
    if len(spans) <= QUOTES_PER_PDF:
        return spans
    step = len(spans) / QUOTES_PER_PDF
    return [spans[int(n * step)] for n in range(QUOTES_PER_PDF)]


def check_quote(data: bytes, pdf_text, start: int, end: int) -> list[str]:
    problems = []
    quote = pdf_text.text[start:end]
    regions = quote_regions(pdf_text, start, end)
    if bare(quote) and not regions:
        problems.append(f"no rectangles for {quote!r}")
    for page, rectangles in regions:
        first, last = page_range(pdf_text, page)
        part = pdf_text.text[max(start, first):min(end, last)]
        if page in pdf_text.ocr_pages:
            # PDFium has no text on a scanned page: the OCR words' boxes stand for it.
            on_page = np.arange(first, last)
            boxes = pdf_text.boxes[first:last]
            drawn = ~np.isnan(boxes[:, 0])
            x, y = centres(boxes)
            inside = inside_any(x, y, rectangles) & drawn
            ours = (on_page >= start) & (on_page < end) & drawn
            if not (inside == ours).all():
                problems.append(f"p{page}: OCR characters inside the rectangles are "
                                f"{''.join(pdf_text.text[i] for i in on_page[inside])!r}, not {part!r}")
            for x0, y0, x1, y1 in boxes[ours]:
                if not any(a - 0.5 <= x0 and x1 <= c + 0.5 and b - 0.5 <= y0 and y1 <= d + 0.5
                           for a, b, c, d in rectangles):
                    problems.append(f"p{page}: a box of {part!r} sticks out of the rectangles")
                    break
        else:
            got = read_back(data, page, rectangles, pdf_text.page_sizes[page - 1])
            if bare(got) != bare(part):
                problems.append(f"p{page}: PDFium reads {got!r} inside the rectangles of {part!r}")
    return problems


def test_every_quote_reads_back_from_its_rectangles_and_the_highlight_stays_inside(corpus):
    if not ocr_engine.available():
        pytest.skip("no OCR engine for the scanned letter")
    problems, checked, ocr_checked = [], 0, 0
    for name, data in corpus:
        pdf_text = read_pdf(data, LIMIT, "auto")
        chosen = quotes(pdf_text.text)
        assert chosen, f"{name}: no quotes"
        for start, end in chosen:
            problems += [f"{name}: {p}" for p in check_quote(data, pdf_text, start, end)]
            checked += 1
            ocr_checked += pdf_text.page_at(start) in pdf_text.ocr_pages
        # The highlight of the first quote, drawn at 72 dpi, stays within its rectangles.
        page, rectangles = quote_regions(pdf_text, *chosen[0])[0]
        image = np.asarray(render_page(data, page, rectangles, dpi=72))
        yellow = np.all(image == QUOTE_COLOUR, axis=2)
        mask = np.zeros(yellow.shape, bool)
        for x0, y0, x1, y1 in rectangles:
            mask[max(0, int(y0) - 1):int(np.ceil(y1)) + 1, max(0, int(x0) - 1):int(np.ceil(x1)) + 1] = True
        if not yellow.any():
            problems.append(f"{name}: no yellow drawn for {pdf_text.text[slice(*chosen[0])]!r}")
        if (yellow & ~mask).any():
            problems.append(f"{name}: {(yellow & ~mask).sum()} yellow pixels outside the rectangles")
    print(f"\ncorpus: {len(corpus)} PDFs, {checked} quotes checked ({ocr_checked} on OCR pages), "
          f"{len(problems)} problems")
    assert len(corpus) == 20
    assert ocr_checked
    assert not problems, "\n".join(problems)

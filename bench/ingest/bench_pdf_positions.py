"""Reading PDFs with character boxes (qa.ingest.pdf, PDFium) against reading their text only with
pypdf, as qa did before (issue 32's target: with positions, at most 1.5 times pypdf's time).

Each PDF is read --repeat times by each reader and the best time is printed:
  pypdf          the text as qa.ingest.documents read it before PDFium (the drawing-size check and
                 page.extract_text on every page, folded, stripped and joined by a blank line)
  read_pdf       qa.ingest.pdf.read_pdf: text, page offsets and every character's box
  ratio          read_pdf / pypdf
  pdfium text    PDFium's text alone, no boxes: what the boxes cost on top
  pdfminer       pdfminer.six's layout with every character's box (when it is installed; not a
                 dependency of qa, timed as the other permissive library that gives boxes)
and how many of pypdf's lines read_pdf reads differently (PDFium orders a line's words by where
they sit, pypdf by the order they are drawn in).

The PDFs: three drawn here from the shipped sources' text (one column of DejaVu Sans with reportlab,
two columns, and matplotlib figures with Type 3 fonts), and any PDF files named on the command line.

    .venv/bin/python -m bench.ingest.bench_pdf_positions [--repeat 5] [--pages 40] [FILE.pdf ...]
"""

from __future__ import annotations

import argparse
import difflib
import io
import statistics
import textwrap
import time
from pathlib import Path

from qa.ingest.pdf import read_pdf
from tests.pdf_files import draw_pdf

SOURCES = Path(__file__).resolve().parents[2] / "sources"
LIMIT = 50_000_000


def pypdf_text(data: bytes) -> str:
    """What qa.ingest.documents read from a PDF before PDFium, done the same way."""
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = PdfReader(io.BytesIO(data))
    texts, drawing = [], 0
    for page in reader.pages:
        contents = page.get_contents()  # read for the check on the size of the drawing
        drawing += len(contents.get_data()) if contents is not None else 0
        texts.append((page.extract_text() or "").replace("\r\n", "\n").replace("\r", "\n").strip())
    return "\n\n".join(texts)


def pdfium_text(data: bytes) -> str:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    try:
        return "\n\n".join(page.get_textpage().get_text_range().strip() for page in pdf)
    finally:
        pdf.close()


def pdfminer_boxes(data: bytes) -> int:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTChar

    def chars(item):
        if isinstance(item, LTChar):
            yield item.bbox
        for child in getattr(item, "_objs", ()):
            yield from chars(child)

    return sum(1 for page in extract_pages(io.BytesIO(data)) for _ in chars(page))


def drawn_pdfs(pages: int) -> dict[str, bytes]:
    text = "\n\n".join(path.read_text() for path in sorted(SOURCES.glob("*.txt")))
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    per_page = 50

    def lines(width: int) -> list[str]:
        wrapped = [line for p in paragraphs for line in textwrap.wrap(p, width) + [""]]
        return (wrapped * (pages * per_page // len(wrapped) + 1))[:pages * per_page]

    def laid_out(*columns: tuple[float, list[str]]) -> list[list]:
        return [[(x, 60 + 14 * row, line) for x, text in columns
                 for row, line in enumerate(text[start:start + per_page]) if line]
                for start in range(0, pages * per_page, per_page)]

    return {
        f"one column, {pages} pages": draw_pdf(laid_out((72, lines(90))), font="DejaVuSans", size=9),
        f"two columns, {pages} pages": draw_pdf(laid_out((72, lines(42)), (320, lines(42))), font="DejaVuSans", size=9),
        f"matplotlib figures, {pages // 2} pages": _figures(paragraphs, pages // 2),
    }


def _figures(paragraphs: list[str], pages: int) -> bytes:
    from matplotlib.backends.backend_pdf import PdfPages
    import matplotlib.pyplot as plt

    out = io.BytesIO()
    lines = [p[i:i + 80] for p in paragraphs for i in range(0, len(p), 80)]
    with PdfPages(out) as pdf:
        for page in range(pages):
            figure = plt.figure(figsize=(8.27, 11.69))
            for row in range(40):
                figure.text(0.05, 0.95 - row * 0.022, lines[(page * 40 + row) % len(lines)], fontsize=8)
            pdf.savefig(figure)
            plt.close(figure)
    return out.getvalue()


def best(call, data: bytes, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call(data)
        times.append(time.perf_counter() - began)
    return min(times)


def lines_read_differently(before: str, after: str) -> tuple[int, int]:
    old = before.split("\n")
    changed = sum(1 for line in difflib.ndiff(old, after.split("\n")) if line.startswith("- "))
    return changed, len(old)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, help="more PDF files to time")
    parser.add_argument("--repeat", type=int, default=5, help="reads per reader and file; the best is printed")
    parser.add_argument("--pages", type=int, default=40, help="pages of each PDF drawn here")
    args = parser.parse_args(argv)
    try:
        import pdfminer  # noqa: F401
        miner = True
    except ImportError:
        miner = False
    pdfs = drawn_pdfs(args.pages) | {path.name: path.read_bytes() for path in args.files}
    print(f"{'PDF':<36} {'chars':>8} {'pypdf s':>8} {'read_pdf s':>10} {'ratio':>6} {'pdfium text s':>13} "
          f"{'pdfminer s':>10}  lines read differently")
    ratios = []
    for name, data in pdfs.items():
        read = read_pdf(data, LIMIT, "auto")
        old = pypdf_text(data)
        before = best(pypdf_text, data, args.repeat)
        after = best(lambda d: read_pdf(d, LIMIT, "auto"), data, args.repeat)
        text_only = best(pdfium_text, data, args.repeat)
        mined = f"{best(pdfminer_boxes, data, max(1, args.repeat // 2)):10.3f}" if miner else f"{'-':>10}"
        changed, lines = lines_read_differently(old, read.text)
        ratios.append(after / before)
        print(f"{name[:36]:<36} {len(read.text):>8,} {before:8.3f} {after:10.3f} {after / before:6.2f} "
              f"{text_only:13.3f} {mined}  {changed:,} of {lines:,}")
    print(f"median ratio read_pdf / pypdf: {statistics.median(ratios):.2f} (target: at most 1.5)")
    if not miner:
        print("pdfminer.six is not installed: its column is empty")


if __name__ == "__main__":
    main()

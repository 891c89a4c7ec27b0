"""Hostile files: how long qa takes to read and split them (no model needed).

1. Sentence splitting of 64 KB of dots, and of 1 MB of each kind of adversarial text.
2. Reading PDFs that are small on disk but draw millions of characters: three pages sharing
   one 3.2 MB drawing (6 million characters), and five pages sharing one 16 MB drawing
   (50 million characters).

    .venv/bin/python bench/bench_hostile.py [--skip-large-pdf]

Run it against an older checkout (PYTHONPATH=old/src) to compare; only public calls are used.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from qa.chunking import sentence_spans
from qa.documents import UnreadableFile, read_document


def pdf_drawing(text: str, times: int, pages: int) -> bytes:
    """A PDF whose `pages` all draw one shared stream that shows `text` `times` times."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject as N

    writer = PdfWriter()
    stream = DecodedStreamObject()
    stream.set_data(("BT /F1 12 Tf 72 720 Td " + f"({text}) Tj " * times + "ET").encode("latin-1"))
    shared = writer._add_object(stream.flate_encode())
    font = DictionaryObject({N("/Type"): N("/Font"), N("/Subtype"): N("/Type1"), N("/BaseFont"): N("/Helvetica")})
    for _ in range(pages):
        page = writer.add_blank_page(612, 792)
        page[N("/Contents")] = shared
        page[N("/Resources")] = DictionaryObject({N("/Font"): DictionaryObject({N("/F1"): font})})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def timed(what: str, call) -> None:
    began = time.perf_counter()
    try:
        outcome = call()
    except UnreadableFile as error:
        outcome = f"skipped: {error}"
    print(f"{what}: {time.perf_counter() - began:.2f} s; {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-large-pdf", action="store_true", help="skip the 50-million-character PDF")
    args = parser.parse_args()

    timed("split 64 KB of dots", lambda: f"{len(sentence_spans('.' * 65_536))} sentence")
    for name, text in [("dots", "."), ("'?!' without spaces", "?!"), ("'a.' repeated", "a."),
                       ("mixed scripts, no spaces", "ж漢ﺏक😀.…"), ("one 1 MB token", "x")]:
        text = (text * 1_048_576)[:1_048_576]
        timed(f"split 1 MB of {name}", lambda: f"{len(sentence_spans(text))} sentences")

    cases = [("3 pages sharing a 3.2 MB drawing", "Bomb text ", 200_000, 3)]
    if not args.skip_large_pdf:
        cases.append(("5 pages sharing a 16 MB drawing", "Bomb text ", 1_000_000, 5))
    with tempfile.TemporaryDirectory() as folder:
        for name, text, times, pages in cases:
            path = Path(folder) / "bomb.pdf"
            path.write_bytes(pdf_drawing(text, times, pages))
            timed(f"read a {path.stat().st_size / 1024:.0f} KB PDF, {name}",
                  lambda: f"read, {len(read_document(path).text):,} characters")


if __name__ == "__main__":
    main()

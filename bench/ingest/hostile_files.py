"""Hostile files: how long qa takes to read and split them (no model needed).

1. Sentence splitting of 64 KB of dots, and of 1 MB of each kind of adversarial text.
2. Reading PDFs that are small on disk but draw millions of characters: three pages sharing
   one 3.2 MB drawing (6 million characters), and five pages sharing one 16 MB drawing
   (50 million characters).
3. Small files that once froze the app (issue 34): YAML alias bombs and deep nesting in Markdown
   front matter, 1 MB of each pathological HTML shape, a .docx whose zip lies about a part's size;
   each read in a fresh process, with its time and the peak memory it added.

    .venv/bin/python -m bench.ingest.hostile_files [--skip-large-pdf]

Run it against an older checkout (PYTHONPATH=old/src) to compare; only public calls are used.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

from qa.ingest.chunking import sentence_spans
from qa.ingest.documents import UnreadableFile, read_document
from tests.hostile_files import HTML_SHAPES, MEGABYTE, alias_bomb, lying_docx


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


def _resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _read_in_child(path: Path, answer) -> None:
    before = _resident_mib()
    began = time.perf_counter()
    try:
        outcome = f"read, {len(read_document(path).text):,} characters"
    except UnreadableFile as error:
        outcome = f"skipped: {str(error)[:90]}"
    seconds = time.perf_counter() - began
    answer.send((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before, outcome))


def measured(what: str, path: Path) -> None:
    """Read `path` in a fresh process: seconds, and peak memory above what the process held before."""
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_read_in_child, args=(path, send))
    child.start()
    seconds, added, outcome = receive.recv()
    child.join()
    print(f"{what} ({path.stat().st_size:,} bytes): {seconds:.2f} s, +{added:.0f} MiB; {outcome}")


def hostile_files(folder: Path) -> None:
    for depth in (7, 10):
        (folder / "bomb.md").write_text(alias_bomb("title", depth))
        measured(f"YAML alias bomb, depth {depth}, in front matter", folder / "bomb.md")
    deep = {"flow, 50,000 deep": "title: " + "[" * 50_000 + "]" * 50_000,
            "block, 400 deep": "title:\n" + "".join(" " * (level + 1) + "-\n" for level in range(400))}
    for name, front_matter in deep.items():
        (folder / "deep.md").write_text(f"---\n{front_matter}\n---\nBody.\n")
        measured(f"front matter nested {name}", folder / "deep.md")
    for name, piece in HTML_SHAPES.items():
        (folder / "page.html").write_text("<p>Before.</p>" + piece * (MEGABYTE // len(piece)))
        measured(f"1 MB of HTML {name}", folder / "page.html")
    lying_docx(folder / "liar.docx", inflated=2_000 * 2**20)
    measured("a .docx declaring 1,000 bytes for a 2 GB part", folder / "liar.docx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-large-pdf", action="store_true", help="skip the 50-million-character PDF")
    parser.add_argument("--only-files", action="store_true", help="only part 3: the small hostile files")
    args = parser.parse_args()
    if args.only_files:
        with tempfile.TemporaryDirectory() as folder:
            hostile_files(Path(folder))
        return

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
        hostile_files(Path(folder))


if __name__ == "__main__":
    main()

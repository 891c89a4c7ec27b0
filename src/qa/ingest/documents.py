"""Reading a folder of files into `Document`s: text with paragraph (and page) spans.

Offsets everywhere in qa count characters of `Document.text`, which is the file's text with
line endings folded to "\\n" (and, for HTML, PDF and Word, the visible text the parser extracts;
for Markdown, with any YAML front matter blanked to spaces). Here: the folder walk, plain text,
PDF and the dispatch by suffix; HTML and Markdown are read in `qa.ingest.markup`, Word in
`qa.ingest.word`, PowerPoint and Excel in `qa.ingest.office`.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

from qa.config import DEFAULTS, Settings
from qa.errors import UserError
from qa.ingest import markup, office, word
from qa.ingest.extract import UnreadableFile, fold_newlines, too_long

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".pptx", ".xlsx")
# Pages of a PDF that were not read (no text layer, and OCR off or not installed) while its other
# pages were: the file is indexed, so this is a warning, not a `Skipped` (the CLI prints it).
PARTLY_READ = logging.getLogger("qa.ingest.partly_read")


@dataclass(frozen=True)
class Document:
    source: str  # path relative to the sources folder, with "/" separators
    title: str
    text: str
    sha256: str  # of the file's bytes: what incremental indexing compares
    paragraphs: tuple[tuple[int, int], ...]  # (start, end) of each paragraph, in order
    pages: tuple[int, ...] = ()  # start offset of each page (PDF), slide (.pptx) or sheet (.xlsx)
    # (start, end) of each heading's text, in order: Markdown "#" lines, HTML h1-h3, Word heading styles
    headings: tuple[tuple[int, int], ...] = ()
    # 1-based pages of a PDF whose text OCR read (Settings.ocr). Known when the file is read; an
    # index does not keep it: a citation finds it again (qa.ingest.pdf_quotes.indexed_pdf).
    ocr_pages: tuple[int, ...] = ()

    # Kept once a document is asked about: answering looks positions up for every candidate
    # sentence, and rebuilding these lists each time took most of an answer in a 4 MB document.
    @cached_property
    def _paragraph_starts(self) -> list[int]:
        return [start for start, _ in self.paragraphs]

    @cached_property
    def _heading_starts(self) -> list[int]:
        return [start for start, _ in self.headings]

    def paragraph_at(self, offset: int) -> int:
        """1-based number of the paragraph that holds `offset`."""
        return max(1, bisect_right(self._paragraph_starts, offset))

    def page_at(self, offset: int) -> int | None:
        """1-based page number that holds `offset`, or None for documents without pages."""
        if not self.pages:
            return None
        return max(1, bisect_right(self.pages, offset))

    def is_heading(self, start: int, end: int) -> bool:
        """Whether text[start:end] is a heading and nothing more (a Markdown heading's #'s aside)."""
        number = bisect_right(self._heading_starts, end - 1)
        if not number:
            return False
        s, e = self.headings[number - 1]
        outside = self.text[start:s] + self.text[e:end] if s < end and e > start else "x"
        return not any(ch.isalnum() for ch in outside)

    def heading_at(self, offset: int) -> str:
        """The text of the nearest heading that starts at or before `offset`, its white space
        folded to single spaces (for labels); "" when none does."""
        number = bisect_right(self._heading_starts, offset)
        if not number:
            return ""
        start, end = self.headings[number - 1]
        return " ".join(self.text[start:end].split())


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


class NothingToIndex(UserError):
    """A sources folder without one readable document; indexes built before are kept."""


# What a file's bytes were read as before, when they are the same (source, SHA-256 of the bytes):
# an update takes an unchanged file's document from the index instead of parsing it again.
Known = Callable[[str, str], "Document | None"]


def read_sources(folder: Path, max_bytes: int | None = None, progress: bool = False, max_chars: int | None = None,
                 known: Known | None = None, ocr: str | None = None, *,
                 settings: Settings = DEFAULTS) -> tuple[list[Document], list[Skipped]]:
    """`read_folder` for indexing: NothingToIndex, naming each skipped file, when nothing is readable."""
    documents, skipped = read_folder(folder, max_bytes, progress, max_chars, known, ocr, settings=settings)
    if not documents:
        reasons = "".join(f"\n  {s}" for s in skipped)
        raise NothingToIndex(f"no readable document in {folder}: add .txt, .md, .html, .pdf, .docx, .pptx "
                             f"or .xlsx files there{reasons}")
    return documents, skipped


def read_folder(folder: Path, max_bytes: int | None = None, progress: bool = False, max_chars: int | None = None,
                known: Known | None = None, ocr: str | None = None, *,
                settings: Settings = DEFAULTS) -> tuple[list[Document], list[Skipped]]:
    """Every readable document under `folder` (hidden entries ignored, linked folders followed
    once), and the files and folders skipped; `known` gives back documents read before. The
    limits and OCR mode are as in `read_document`."""
    from tqdm.auto import tqdm

    max_bytes, max_chars, ocr = _reading(settings, max_bytes, max_chars, ocr)
    folder = Path(folder)
    documents, skipped = [], []
    paths = sorted(_walk(folder, skipped))
    for path in tqdm(paths, desc="reading documents", unit="file", disable=not progress):
        source = path.relative_to(folder).as_posix()
        try:
            documents.append(read_document(path, source, max_bytes, max_chars, known, ocr))
        except UnreadableFile as error:
            skipped.append(Skipped(source, str(error)))
    return documents, skipped


def read_document(path: Path, source: str | None = None, max_bytes: int | None = None,
                  max_chars: int | None = None, known: Known | None = None, ocr: str | None = None, *,
                  settings: Settings = DEFAULTS) -> Document:
    """Read one file; raises UnreadableFile with the reason when it cannot be used. When `known`
    has the document its bytes were read as before, that document, without parsing again. A PDF's
    pages that `ocr` chooses are read by OCR (qa.ingest.pdf.read_pdf); pages left unread while
    others were read are named in a warning on the PARTLY_READ logger. The limits and OCR mode not
    given are `settings`' (max_file_mb, max_document_chars, ocr)."""
    max_bytes, max_chars, ocr = _reading(settings, max_bytes, max_chars, ocr)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise UnreadableFile(f"unsupported file type {suffix or '(none)'}; qa reads {', '.join(SUPPORTED)}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnreadableFile(f"{size / 2**20:.0f} MB, over the {max_bytes / 2**20:.0f} MB limit "
                                 f"(raise it with `qa index --max-file-mb`)")
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableFile(f"cannot be opened ({error.strerror or error})") from error
    sha256 = hashlib.sha256(data).hexdigest()
    if known is not None and (found := known(source or path.name, sha256)) is not None:
        return found
    pages, headings, ocr_pages = (), (), ()
    if suffix == ".pdf":
        text, pages, title, ocr_pages = _pdf_text(data, max_chars, ocr, source or path.name)
    elif suffix == ".docx":
        text, title, headings = word.docx_text(data, max_chars)
    elif suffix == ".pptx":
        text, title, headings, pages = office.pptx_text(data, max_chars)
    elif suffix == ".xlsx":
        text, title, headings, pages = office.xlsx_text(data, max_chars)
    else:
        text, title = _decoded(data), None
        if suffix in (".html", ".htm"):
            text, title, headings = markup.html_text(text)
        elif suffix in (".md", ".markdown"):
            text, title = markup.without_front_matter(text)
            headings = markup.markdown_headings(text)
    if not text.strip():
        raise UnreadableFile("no text in it (empty or only white space)")
    if len(text) > max_chars:
        raise UnreadableFile(too_long(len(text), max_chars))
    return Document(
        source=source or path.name,
        title=title or _first_line(text, markdown=suffix in (".md", ".markdown")),
        text=text,
        sha256=sha256,
        paragraphs=paragraph_spans(text),
        pages=pages,
        headings=headings,
        ocr_pages=ocr_pages,
    )


def _reading(settings: Settings, max_bytes: int | None, max_chars: int | None,
             ocr: str | None) -> tuple[int, int, str]:
    """The largest file (bytes), the longest text and the OCR mode: those given, else `settings`'."""
    return (settings.max_file_mb * 2**20 if max_bytes is None else max_bytes,
            settings.max_document_chars if max_chars is None else max_chars,
            settings.ocr if ocr is None else ocr)


def document_from_text(source: str, text: str, title: str | None = None) -> Document:
    """A document made from text in memory (BEIR corpora, tests)."""
    text = fold_newlines(text)
    return Document(source=source, title=title or _first_line(text), text=text,
                    sha256=hashlib.sha256(text.encode()).hexdigest(),
                    paragraphs=paragraph_spans(text))


def paragraph_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Paragraphs are separated by blank lines; a text without blank lines has one per line."""
    separator = r"\n[ \t]*\n\s*" if re.search(r"\n[ \t]*\n", text) else r"\n\s*"
    spans, start = [], 0
    for match in re.finditer(separator, text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    spans = [strip_span(text, s, e) for s, e in spans]
    return tuple((s, e) for s, e in spans if e > s) or ((0, len(text)),)


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) moved inwards past white space at either end."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _walk(folder: Path, skipped: list[Skipped]):
    # Linked folders are followed, but each folder is read once (under the first name met, real
    # folders before links), so a link that loops back is reported instead of trapping the scan.
    seen = {_identity(folder)}

    def report(error: OSError) -> None:
        name = Path(error.filename).relative_to(folder).as_posix()
        skipped.append(Skipped(name, f"folder cannot be opened ({error.strerror or error})"))

    for root, dirs, files in os.walk(folder, followlinks=True, onerror=report):
        visible = sorted((d for d in dirs if not d.startswith(".")),
                         key=lambda d: (os.path.islink(os.path.join(root, d)), d))
        dirs[:] = []
        for name in visible:
            path = Path(root) / name
            identity = _identity(path)
            if identity in seen:
                skipped.append(Skipped(path.relative_to(folder).as_posix(),
                                       f"a link to the folder {os.path.realpath(path)}, which is read "
                                       f"already; each folder is read once"))
            else:
                seen.add(identity)
                dirs.append(name)
        for name in files:
            if not name.startswith("."):
                yield Path(root) / name


def _identity(path) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_dev, status.st_ino


_UNICODE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                 (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _decoded(data: bytes) -> str:
    # UTF-16 and UTF-32 are full of zero bytes, so they are recognised by their byte order mark
    # (Windows Notepad writes one); any other zero byte, anywhere, means the file is not text.
    codec = next((codec for bom, codec in _UNICODE_BOMS if data.startswith(bom)), "utf-8-sig")
    if codec == "utf-8-sig" and b"\x00" in data:
        raise UnreadableFile("binary data, not text")
    try:
        raw = data.decode(codec)
    except UnicodeDecodeError as error:
        name = "UTF-8" if codec == "utf-8-sig" else codec.upper()
        raise UnreadableFile(f"not valid {name} text (bad byte at position {error.start})") from error
    if "\x00" in raw:
        raise UnreadableFile("binary data, not text")
    return fold_newlines(raw)


def _pdf_text(data: bytes, max_chars: int, ocr: str,
              source: str) -> tuple[str, tuple[int, ...], str | None, tuple[int, ...]]:
    # PDFium (qa.ingest.pdf), imported here: only a folder with PDFs loads it. It also keeps where
    # each character is drawn, which citations re-read from the file (qa.ingest.pdf_quotes.indexed_pdf).
    from qa.ingest.pdf import read_pdf, why_not_read

    try:
        pdf = read_pdf(data, max_chars, ocr)
    except UnreadableFile:
        raise
    except Exception as error:  # a damaged file can fail in the bindings as well as in PDFium
        raise UnreadableFile(f"not a readable PDF ({type(error).__name__}: {error})") from error
    if pdf.unread_pages and pdf.text.strip():
        numbers = pdf.unread_pages
        PARTLY_READ.warning(f"{source}: page{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))} "
                            f"of {len(pdf.pages)} not read: little or no text layer (scanned?), and {why_not_read(ocr)}; "
                            f"the other pages are indexed")
    return pdf.text, pdf.pages, pdf.title, pdf.ocr_pages


def _first_line(text: str, markdown: bool = False) -> str:
    for line in text.split("\n"):
        line = line.strip()
        if markdown:
            line = line.lstrip("#").strip()
        if line:
            return line[:200]
    return ""

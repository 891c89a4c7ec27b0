"""Reading a folder of files into `Document`s: text with paragraph (and page) spans.

Offsets everywhere in qa count characters of `Document.text`, which is the file's text with
line endings folded to "\\n" (and, for HTML and PDF, the visible text the parser extracts).
"""

from __future__ import annotations

import hashlib
import os
import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
MAX_FILE_BYTES = 20 * 1024 * 1024  # embedding 20 MB of text takes minutes on a CPU


@dataclass(frozen=True)
class Document:
    source: str  # path relative to the sources folder, with "/" separators
    title: str
    text: str
    sha256: str  # of the file's bytes: what incremental indexing compares
    paragraphs: tuple[tuple[int, int], ...]  # (start, end) of each paragraph, in order
    pages: tuple[int, ...] = ()  # start offset of each page (PDF only)

    def paragraph_at(self, offset: int) -> int:
        """1-based number of the paragraph that holds `offset`."""
        starts = [start for start, _ in self.paragraphs]
        return max(1, bisect_right(starts, offset))

    def page_at(self, offset: int) -> int | None:
        """1-based page number that holds `offset`, or None for documents without pages."""
        if not self.pages:
            return None
        return max(1, bisect_right(self.pages, offset))


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


class UnreadableFile(Exception):
    """A file that cannot become a document; the message says why, in a user's words."""


class NothingToIndex(Exception):
    """A sources folder without one readable document; indexes built before are kept."""


def read_sources(folder: Path, max_bytes: int = MAX_FILE_BYTES,
                 progress: bool = False) -> tuple[list[Document], list[Skipped]]:
    """`read_folder` for indexing: NothingToIndex, naming each skipped file, when nothing is readable."""
    documents, skipped = read_folder(folder, max_bytes, progress)
    if not documents:
        reasons = "".join(f"\n  {s}" for s in skipped)
        raise NothingToIndex(f"no readable document in {folder}: add .txt, .md, .html or .pdf "
                             f"files there{reasons}")
    return documents, skipped


def read_folder(folder: Path, max_bytes: int = MAX_FILE_BYTES,
                progress: bool = False) -> tuple[list[Document], list[Skipped]]:
    """Every readable document under `folder` (hidden entries ignored), and the files skipped."""
    from tqdm.auto import tqdm

    folder = Path(folder)
    documents, skipped = [], []
    paths = sorted(_walk(folder))
    for path in tqdm(paths, desc="reading documents", unit="file", disable=not progress):
        source = path.relative_to(folder).as_posix()
        try:
            documents.append(read_document(path, source, max_bytes))
        except UnreadableFile as error:
            skipped.append(Skipped(source, str(error)))
    return documents, skipped


def read_document(path: Path, source: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Read one file; raises UnreadableFile with the reason when it cannot be used."""
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
    if suffix == ".pdf":
        text, pages, title = _pdf_text(data)
    else:
        text, pages, title = _decoded(data), (), None
        if suffix in (".html", ".htm"):
            text, title = _html_text(text)
    if not text.strip():
        raise UnreadableFile("no text in it (empty or only white space)")
    return Document(
        source=source or path.name,
        title=title or _first_line(text, markdown=suffix in (".md", ".markdown")),
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
        paragraphs=paragraph_spans(text),
        pages=pages,
    )


def document_from_text(source: str, text: str, title: str | None = None) -> Document:
    """A document made from text in memory (BEIR corpora, tests)."""
    text = _fold_newlines(text)
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
    spans = [_strip_span(text, s, e) for s, e in spans]
    return tuple((s, e) for s, e in spans if e > s) or ((0, len(text)),)


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _walk(folder: Path):
    # os.walk does not follow directory symlinks, so a looping link cannot trap the scan.
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith("."):
                yield Path(root) / name


def _decoded(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise UnreadableFile("binary data, not text")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"not valid UTF-8 text (bad byte at position {error.start})") from error
    return _fold_newlines(raw)


def _fold_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_BLOCKS = ["p", "div", "section", "article", "header", "footer", "aside", "main", "nav",
           "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "blockquote", "pre", "table",
           "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "form"]


def _html_text(raw: str) -> tuple[str, str | None]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    title = " ".join(soup.title.get_text().split()) or None if soup.title else None
    for hidden in soup(["script", "style", "noscript", "template", "head", "svg", "iframe"]):
        hidden.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_BLOCKS):
        block.insert_after("\n\n")
    text = soup.get_text()
    lines = (re.sub(r"[ \t\f\v\xa0]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip(), title


def _pdf_text(data: bytes) -> tuple[str, tuple[int, ...], str | None]:
    import io
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        page_texts = [_fold_newlines(page.extract_text() or "").strip() for page in reader.pages]
        title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except Exception as error:  # pypdf raises many types for broken files
        raise UnreadableFile(f"not a readable PDF ({type(error).__name__}: {error})") from error
    starts, parts, offset = [], [], 0
    for page_text in page_texts:
        starts.append(offset)
        parts.append(page_text)
        offset += len(page_text) + 2
    return "\n\n".join(parts), tuple(starts), (str(title).strip() or None) if title else None


def _first_line(text: str, markdown: bool = False) -> str:
    for line in text.split("\n"):
        line = line.strip()
        if markdown:
            line = line.lstrip("#").strip()
        if line:
            return line[:200]
    return ""

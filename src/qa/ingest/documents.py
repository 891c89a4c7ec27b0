"""Reading a folder of files into `Document`s: text with paragraph (and page) spans.

Offsets everywhere in qa count characters of `Document.text`, which is the file's text with
line endings folded to "\\n" (and, for HTML, PDF and Word, the visible text the parser extracts;
for Markdown, with any YAML front matter blanked to spaces).
"""

from __future__ import annotations

import codecs
import hashlib
import html
import os
import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from qa.config import DEFAULTS
from qa.errors import UserError

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
# The limits (Settings.max_file_mb and max_document_chars: see there why).
MAX_FILE_BYTES = DEFAULTS.max_file_mb * 2**20
MAX_DOCUMENT_CHARS = DEFAULTS.max_document_chars
# A .docx is a zip of XML (and images), all unpacked into memory when opened: its parts may
# together take this many bytes per character of the text limit (Word's XML runs 5-20 bytes a
# character), 100 MB by default; a zip bomb declares far more and is refused before it is unpacked.
DOCX_UNPACKED_BYTES_PER_CHAR = 20


@dataclass(frozen=True)
class Document:
    source: str  # path relative to the sources folder, with "/" separators
    title: str
    text: str
    sha256: str  # of the file's bytes: what incremental indexing compares
    paragraphs: tuple[tuple[int, int], ...]  # (start, end) of each paragraph, in order
    pages: tuple[int, ...] = ()  # start offset of each page (PDF only)
    # (start, end) of each heading's text, in order: Markdown "#" lines, HTML h1-h3, Word heading styles
    headings: tuple[tuple[int, int], ...] = ()

    def paragraph_at(self, offset: int) -> int:
        """1-based number of the paragraph that holds `offset`."""
        starts = [start for start, _ in self.paragraphs]
        return max(1, bisect_right(starts, offset))

    def page_at(self, offset: int) -> int | None:
        """1-based page number that holds `offset`, or None for documents without pages."""
        if not self.pages:
            return None
        return max(1, bisect_right(self.pages, offset))

    def is_heading(self, start: int, end: int) -> bool:
        """Whether text[start:end] is a heading and nothing more (a Markdown heading's #'s aside)."""
        number = bisect_right([s for s, _ in self.headings], end - 1)
        if not number:
            return False
        s, e = self.headings[number - 1]
        outside = self.text[start:s] + self.text[e:end] if s < end and e > start else "x"
        return not any(ch.isalnum() for ch in outside)

    def heading_at(self, offset: int) -> str:
        """The text of the nearest heading that starts at or before `offset`, its white space
        folded to single spaces (for labels); "" when none does."""
        number = bisect_right([start for start, _ in self.headings], offset)
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


class UnreadableFile(UserError):
    """A file that cannot become a document; the message says why, in a user's words."""


class NothingToIndex(UserError):
    """A sources folder without one readable document; indexes built before are kept."""


# What a file's bytes were read as before, when they are the same (source, SHA-256 of the bytes):
# an update takes an unchanged file's document from the index instead of parsing it again.
Known = Callable[[str, str], "Document | None"]


def read_sources(folder: Path, max_bytes: int = MAX_FILE_BYTES, progress: bool = False,
                 max_chars: int = MAX_DOCUMENT_CHARS, known: Known | None = None) -> tuple[list[Document], list[Skipped]]:
    """`read_folder` for indexing: NothingToIndex, naming each skipped file, when nothing is readable."""
    documents, skipped = read_folder(folder, max_bytes, progress, max_chars, known)
    if not documents:
        reasons = "".join(f"\n  {s}" for s in skipped)
        raise NothingToIndex(f"no readable document in {folder}: add .txt, .md, .html, .pdf or .docx "
                             f"files there{reasons}")
    return documents, skipped


def read_folder(folder: Path, max_bytes: int = MAX_FILE_BYTES, progress: bool = False,
                max_chars: int = MAX_DOCUMENT_CHARS, known: Known | None = None) -> tuple[list[Document], list[Skipped]]:
    """Every readable document under `folder` (hidden entries ignored, linked folders followed
    once), and the files and folders skipped; `known` gives back documents read before."""
    from tqdm.auto import tqdm

    folder = Path(folder)
    documents, skipped = [], []
    paths = sorted(_walk(folder, skipped))
    for path in tqdm(paths, desc="reading documents", unit="file", disable=not progress):
        source = path.relative_to(folder).as_posix()
        try:
            documents.append(read_document(path, source, max_bytes, max_chars, known))
        except UnreadableFile as error:
            skipped.append(Skipped(source, str(error)))
    return documents, skipped


def read_document(path: Path, source: str | None = None, max_bytes: int = MAX_FILE_BYTES,
                  max_chars: int = MAX_DOCUMENT_CHARS, known: Known | None = None) -> Document:
    """Read one file; raises UnreadableFile with the reason when it cannot be used. When `known`
    has the document its bytes were read as before, that document, without parsing again."""
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
    pages, headings = (), ()
    if suffix == ".pdf":
        text, pages, title = _pdf_text(data, max_chars)
    elif suffix == ".docx":
        text, title, headings = _docx_text(data, max_chars)
    else:
        text, title = _decoded(data), None
        if suffix in (".html", ".htm"):
            text, title, headings = _html_text(text)
        elif suffix in (".md", ".markdown"):
            text, title = _without_front_matter(text)
            headings = markdown_headings(text)
    if not text.strip():
        raise UnreadableFile("no text in it (empty or only white space)")
    if len(text) > max_chars:
        raise UnreadableFile(_too_long(len(text), max_chars))
    return Document(
        source=source or path.name,
        title=title or _first_line(text, markdown=suffix in (".md", ".markdown")),
        text=text,
        sha256=sha256,
        paragraphs=paragraph_spans(text),
        pages=pages,
        headings=headings,
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
    return _fold_newlines(raw)


def _too_long(chars: int, limit: int, at_least: bool = False) -> str:
    return (f"extracted text is {'at least ' if at_least else ''}{chars:,} characters, over the limit of "
            f"{limit:,}; raise it with `qa index --max-document-chars` to index this file")


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


def _without_front_matter(text: str) -> tuple[str, str | None]:
    """Markdown with its YAML front matter blanked to spaces (so offsets still match the file),
    and the front matter's title, or else the first heading's."""
    title, match = None, _FRONT_MATTER.match(text)
    if match:
        fields = front_matter_fields(match.group(1) or "")
        if fields is None or isinstance(fields, dict):
            value = (fields or {}).get("title")
            title = " ".join(str(value).split())[:200] or None if value is not None else None
            text = " " * match.end() + text[match.end():]
    if title is None:
        headings = (re.match(r"#{1,6}\s+(\S.*)", line.strip()) for line in text.split("\n"))
        title = next((h.group(1).rstrip("# \t")[:200] for h in headings if h), None)
    return text, title


# Front matter is a few fields; YAML can also make a few hundred bytes into gigabytes (aliases of
# aliases), and nesting costs its parser quadratic time and its composer a recursion per level.
FRONT_MATTER_CHARS = 65_536
FRONT_MATTER_DEPTH = 32
_NOT_FRONT_MATTER = "not front matter"
_KEY_LINE = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\n)*[\w\-\"']+[^\n]*:")


def front_matter_fields(block: str) -> dict | None | str:
    """The YAML front matter's fields (None when empty), or "not front matter" when it is not a
    mapping (a horizontal rule "---" followed by text, for instance). A block that YAML would
    expand (aliases) or that nests deeper than FRONT_MATTER_DEPTH is front matter whose fields are
    not read: {} when it starts like a mapping."""
    import yaml

    if len(block) > FRONT_MATTER_CHARS or _bracket_depth(block) > FRONT_MATTER_DEPTH:
        return {} if _KEY_LINE.match(block) else _NOT_FRONT_MATTER
    depth = 0
    try:
        for event in yaml.parse(block, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or depth > FRONT_MATTER_DEPTH:
                return {} if _KEY_LINE.match(block) else _NOT_FRONT_MATTER
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
        return yaml.safe_load(block)
    except yaml.YAMLError:
        return _NOT_FRONT_MATTER


def _bracket_depth(block: str) -> int:
    """How deep "[" and "{" nest, quotes ignored (so at most an overestimate), in linear time."""
    depth = deepest = 0
    for match in re.finditer(r"[\[\]{}]", block):
        depth = depth + 1 if match.group() in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
    return deepest


_ATX_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+([^\n]*)", re.MULTILINE)
_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)


def markdown_headings(text: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of the text of each "#" heading line (without its #'s), outside code fences."""
    fences = [m.start() for m in _FENCE.finditer(text)]
    spans = []
    for match in _ATX_HEADING.finditer(text):
        # A "# comment" inside a fenced code block is code, not a heading.
        if bisect_right(fences, match.start()) % 2:
            continue
        # Closing #'s ("## Title ##") are not part of the title; trimmed here, not by the regex,
        # whose backtracking over a long run of spaces would take quadratic time.
        words = match.group(1).rstrip(" \t")
        closed = words.rstrip("#")
        if closed != words and (not closed or closed[-1] in " \t"):
            words = closed.rstrip(" \t")
        if words:
            spans.append((match.start(1), match.start(1) + len(words)))
    return tuple(spans)


def _fold_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


HTML_HEADING_MISSES = 20
_BLOCKS = frozenset(["p", "div", "section", "article", "header", "footer", "aside", "main", "nav",
                     "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "blockquote", "pre", "table",
                     "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "form"])
_HIDDEN = frozenset(["script", "style", "noscript", "template", "head", "svg", "iframe"])
_HEADINGS = frozenset(["h1", "h2", "h3"])
_TAG = re.compile(r"<[^<>]*>")  # never crosses another "<", so stripping is linear even when tags never close


def _html_text(raw: str) -> tuple[str, str | None, tuple[tuple[int, int], ...]]:
    """The visible text of a page, its <title>, and the spans of its h1-h3 headings.

    libxml2 (through lxml) parses in C in time linear in the page, with no recursion; the tree is
    walked once, as a stream of start and end events, so no step looks back over what came before.
    """
    from lxml import etree

    parser = etree.HTMLParser(encoding="utf-8", recover=True, no_network=True, huge_tree=True,
                              remove_comments=True, remove_pis=True)
    root = etree.fromstring(raw.encode("utf-8", "surrogatepass"), parser)
    if any(error.level_name == "FATAL" for error in parser.error_log):
        # libxml2 stops at 2,048 nested elements (or worse); what it read is not the whole page.
        return _visible_lines(html.unescape(_TAG.sub(" ", raw))), None, ()
    if root is None:
        return "", None, ()
    title = root.find(".//title")
    title = " ".join("".join(title.itertext()).split()) or None if title is not None else None
    pieces: list[str] = []
    breaks: list[int] = []  # pieces that are line breaks still waiting for the text after them
    heading_texts, heading_start = [], None

    def emit(piece: str | None) -> None:
        if not piece:
            return
        # A line break, except inside a word: "Mar<br>ianne" (a letter, then a lower-case letter,
        # no white space) is one word broken for layout, and reads as "Marianne".
        for at in breaks:
            before = pieces[at - 1][-1:] if at else ""
            pieces[at] = "" if before.isalpha() and piece[:1].islower() else "\n"
        breaks.clear()
        pieces.append(piece)

    walk = etree.iterwalk(root, events=("start", "end"))
    for event, element in walk:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _HIDDEN:
                walk.skip_subtree()  # its end event still comes, and with it the text after it
            elif tag == "br":
                breaks.append(len(pieces))
                pieces.append("\n")
            else:
                if tag in _HEADINGS and heading_start is None:
                    heading_start = (tag, len(pieces))
                emit(element.text)
            continue
        if tag in _BLOCKS:
            if heading_start is not None and heading_start[0] == tag:
                heading_texts.append("".join(pieces[heading_start[1]:]))
                heading_start = None
            emit("\n\n")
        emit(element.tail)
    text = _visible_lines("".join(pieces))
    # Each heading is a block of its own, so its text, folded the same way, is a run of whole lines
    # of the page's text; found in order, each after the one before.
    # One that is not (inline text just before it shares its line) costs a search to the end, so
    # after HTML_HEADING_MISSES of them the rest are left out: reading stays linear in the page.
    spans, cursor, misses = [], 0, 0
    for heading in heading_texts:
        words = _visible_lines(heading)
        found = re.compile(rf"^{re.escape(words)}$", re.MULTILINE).search(text, cursor) if words else None
        if found:
            spans.append(found.span())
            cursor = found.end()
        elif words:
            misses += 1
            if misses > HTML_HEADING_MISSES:
                break
    return text, title, tuple(spans)


def _visible_lines(text: str) -> str:
    lines = (re.sub(r"[ \t\f\v\xa0]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _docx_text(data: bytes, max_chars: int = MAX_DOCUMENT_CHARS) -> tuple[str, str | None, tuple[tuple[int, int], ...]]:
    """A Word document's paragraphs and tables in order (a table row per line, cells split by
    " | "), paragraphs separated by blank lines, its title, and the spans of its headings."""
    import io

    from docx import Document as WordDocument
    from docx.table import Table

    if data.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE compound file: what Word writes when encrypting
        raise UnreadableFile("is encrypted (password-protected), or an old-format Word file saved as "
                             ".docx; save an unprotected .docx copy to index it")
    try:
        check_zip(data, DOCX_UNPACKED_BYTES_PER_CHAR * max_chars,
                  f"more than a Word document within the text limit of {max_chars:,} characters needs "
                  f"(a zip bomb?); raise it with `qa index --max-document-chars` to index this file")
        word = WordDocument(io.BytesIO(data))
        blocks, total = [], 0
        for block in word.iter_inner_content():
            if isinstance(block, Table):
                text = "\n".join(" | ".join(_cells(row)) for row in block.rows)
                heading = False
            else:
                text = block.text
                style = block.style.name if block.style is not None else ""
                heading = style.startswith("Heading") or style == "Title"
            # A paragraph's own line breaks stay, but never as a blank line: that would split it in two.
            text = re.sub(r"\n\s*\n", "\n", _fold_newlines(text).replace("\t", " ")).strip()
            if not text:
                continue
            blocks.append((text, heading))
            total += len(text) + 2
            if total > max_chars:
                raise UnreadableFile(_too_long(total, max_chars, at_least=True))
        title = (word.core_properties.title or "").strip() or None
    except UnreadableFile:
        raise
    except Exception as error:  # zipfile, lxml and python-docx raise many types for broken files
        raise UnreadableFile(f"not a readable Word document ({type(error).__name__}: {error})") from error
    parts, spans, offset = [], [], 0
    for text, heading in blocks:
        if heading:
            spans.append((offset, offset + len(text)))
        parts.append(text)
        offset += len(text) + 2
    title = title or next((text for text, heading in blocks if heading), None)
    return "\n\n".join(parts), " ".join(title.split())[:200] if title else None, tuple(spans)


ZIP_STEP = 1 << 20


def check_zip(data: bytes, limit: int, why: str) -> None:
    """Refuse a zip (Word, and any zip-based format) that unpacks to over `limit` bytes, or any of
    whose parts unpacks to more than its directory declares, before a library unpacks it whole.

    Python's zipfile trusts the declared size and inflates up to 2 GB in one step to reach it;
    here each part is inflated a step at a time, and a part still going past its declared size
    (a small size declared over a huge stream) is refused at the first step past it.
    """
    import io
    import struct
    import zipfile
    import zlib

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = archive.infolist()
    declared = sum(info.file_size for info in parts)
    if declared > limit:
        raise UnreadableFile(f"unpacks to {declared:,} bytes, {why}")
    view = memoryview(data)
    for info in parts:
        # The part's bytes follow its local header: 30 bytes, then its name and extra field.
        names, extra = struct.unpack_from("<HH", data, info.header_offset + 26)
        start = info.header_offset + 30 + names + extra
        packed = view[start:start + info.compress_size]
        if info.compress_type == zipfile.ZIP_STORED:
            unpacked = len(packed)
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            inflate, unpacked = zlib.decompressobj(-zlib.MAX_WBITS), 0
            while packed and unpacked <= info.file_size:
                unpacked += len(inflate.decompress(packed, ZIP_STEP))
                packed = inflate.unconsumed_tail
        else:
            raise UnreadableFile(f"{info.filename} is packed with zip method {info.compress_type}, which "
                                 f"Word documents never use")
        if unpacked > info.file_size:
            raise UnreadableFile(f"{info.filename} unpacks to more than the {info.file_size:,} bytes its zip "
                                 f"directory declares (a zip bomb?)")


def _cells(row) -> list[str]:
    # A merged cell is listed once for each grid column it spans; it is read once.
    cells, seen = [], {}
    for cell in row.cells:
        if id(cell._tc) not in seen:
            seen[id(cell._tc)] = cell._tc  # kept, so that no other element takes its id
            cells.append(" ".join(cell.text.split()))
    return cells


def _pdf_text(data: bytes, max_chars: int = MAX_DOCUMENT_CHARS) -> tuple[str, tuple[int, ...], str | None]:
    import io
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):  # many PDFs are encrypted with no password
            raise UnreadableFile("is encrypted (it needs a password); save a copy without one to index it")
        page_texts, total = [], 0
        for number, page in enumerate(reader.pages, 1):
            # Extracting takes seconds per million characters, and a page draws at most about one
            # character per byte of its instructions (pages may share them: a 7 KB file drew 6
            # million), so a page that could pass the limit is refused before it is extracted.
            contents = page.get_contents()
            drawing = len(contents.get_data()) if contents is not None else 0
            if drawing > max_chars - total:
                raise UnreadableFile(f"page {number} holds {drawing:,} bytes of drawing instructions, enough for "
                                     f"more text than the limit of {max_chars:,} characters ({total:,} read "
                                     f"before it); raise it with `qa index --max-document-chars` to index this file")
            page_texts.append(_fold_newlines(page.extract_text() or "").strip())
            total += len(page_texts[-1])
            if total > max_chars:
                raise UnreadableFile(_too_long(total, max_chars, at_least=number < len(reader.pages)))
        title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except UnreadableFile:
        raise
    except Exception as error:  # pypdf raises many types for broken files
        raise UnreadableFile(f"not a readable PDF ({type(error).__name__}: {error})") from error
    if page_texts and not any(page_texts):
        raise UnreadableFile(f"has no text layer (scanned?); it needs OCR to be read "
                             f"({len(page_texts)} page{'s' if len(page_texts) > 1 else ''} without text)")
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
